//! What a bundle simulation is configured with and what it reports.

use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{Message, bindings::multicall::Multicall};

use crate::view::ViewError;

/// Limits a bundle keeps; a message beyond them is refused with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// The L1's per-transaction gas cap (2^24 since Osaka, EIP-7825).
    pub tx_gas_cap: u64,
    /// Gas kept for the proposal itself (`tentativePropose`, its proof check, `finalizePropose`). A deferred
    /// proposal with a mock proof and two signals measures 212,000 with its Multicall
    /// (`crates/primitives/tests/inbox.rs`); the default leaves room for a ZK verifier.
    pub proposal_gas: u64,
    /// Gas kept per message for the Merkle proof the real `processMessage(M, proof)` verifies. Measured by
    /// `proof_verification_gas_per_node` (`crates/primitives/tests/signal_proof.rs`): about 58,000 gas per
    /// proof node of 318 bytes on average, plus calldata and copying for bigger nodes; the default covers 16
    /// full 532-byte nodes (a large state's account and storage paths).
    pub proof_gas_per_message: u64,
    /// The largest `gasLimit` a message may ask for.
    pub max_message_gas_limit: u64,
    /// The smallest `fee` a message must offer (the proposer pays the L1 gas of every leg).
    pub min_message_fee: u64,
    /// Whether a message's `fee` must also cover its leg's L1 cost: the gas it adds to the bundle (its call
    /// and its proof allowance) at the bundle's gas price.
    pub fee_covers_l1: bool,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            tx_gas_cap: 1 << 24,
            proposal_gas: 1_000_000,
            proof_gas_per_message: 1_200_000,
            max_message_gas_limit: 4_000_000,
            min_message_fee: 0,
            fee_covers_l1: false,
        }
    }
}

/// How the L1 runs the bundle, and how much one simulated call may cost the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// The L1's rules.
    pub spec: SpecId,
    /// Seconds between L1 blocks.
    pub slot_time: u64,
    /// The bundle's limits.
    pub limits: BundleLimits,
    /// Accounts and slots one call may read from the view (each may be a request to a remote L1).
    pub max_state_reads: u64,
    /// How long one call may take, reads included.
    pub call_timeout: Duration,
    /// The priority fee the proposer's transactions pay (wei per gas): legs run at the next block's base fee
    /// plus this, the gas price L1 will show them.
    pub priority_fee: u128,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            spec: SpecId::OSAKA,
            slot_time: 12,
            limits: BundleLimits::default(),
            max_state_reads: 5_000,
            call_timeout: Duration::from_secs(2),
            priority_fee: 1_000_000_000,
        }
    }
}

/// A closed proposal's bundle that L1 has not included yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightBundle {
    /// The hash of the proposal's last L2 block: once the inbox's last finalized block hash is this, the
    /// bundle is on L1 and leaves the sequence.
    pub last_block_hash: B256,
    /// Its user ops, in order.
    pub user_ops: Vec<Multicall::Call>,
    /// Its outbound L2→L1 messages, in order.
    pub messages: Vec<Message>,
}

/// Why a message is not simulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Relayer mode reverts a message without gas limit, and with it the whole bundle.
    #[error("message {0} has no gas limit: relayed from the proposer's bundle it would revert the bundle")]
    NoGasLimit(B256),
    /// Its `gasLimit` is above the configured maximum.
    #[error("message {hash} asks for {gas_limit} gas, above the maximum of {max}")]
    GasLimitAboveMax {
        /// The message.
        hash: B256,
        /// Its gas limit.
        gas_limit: u64,
        /// The maximum.
        max: u64,
    },
    /// Its fee is below the configured minimum.
    #[error("message {hash} offers a fee of {fee} wei, below the minimum of {min}")]
    FeeBelowMin {
        /// The message.
        hash: B256,
        /// Its fee.
        fee: u64,
        /// The minimum.
        min: u64,
    },
    /// It is not for this L1 or not from this L2.
    #[error("message {hash} goes from chain {src} to chain {dest}, not from the L2 to this L1")]
    WrongChains {
        /// The message.
        hash: B256,
        /// Its source chain.
        src: u64,
        /// Its destination chain.
        dest: u64,
    },
    /// The bundle's transaction has no room left for it.
    #[error("message {hash} needs {needed} gas, the bundle has {left} left under the transaction cap")]
    BundleFull {
        /// The message.
        hash: B256,
        /// The gas it needs (its limit or its use, plus the proof allowance).
        needed: u64,
        /// What is left.
        left: u64,
    },
    /// A user op runs before every message of the bundle; once a message is in, the bundle must be
    /// simulated again with the user op first (it would shift the messages' answers).
    #[error("a user op cannot follow the bundle's messages: simulate the bundle again with it first")]
    UserOpAfterMessages,
    /// The bundle's transaction has no room left for a user op.
    #[error("a user op to {target} needs {needed} gas, the bundle has {left} left under the transaction cap")]
    UserOpTooBig {
        /// Its target.
        target: Address,
        /// The gas it used.
        needed: u64,
        /// What is left.
        left: u64,
    },
}

/// A simulation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The message was refused by a limit.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The view could not be read.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A protocol contract did not answer as expected.
    #[error("reading {what} on L1: {reason}")]
    Protocol {
        /// The read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// L1 would not even run the call (the configuration asks for more gas than the L1's cap, say).
    #[error("the simulated L1 transaction is invalid: {0}")]
    Invalid(String),
    /// The call was stopped before its end: cancelled, or its trace too large.
    #[error("the simulation stopped: {0}")]
    Stopped(surge_sync::Stopped),
    /// The proposer cannot pay for its bundle: nobody's message is at fault.
    #[error("proposer balance low: {balance} wei, the bundle needs {needed} wei")]
    ProposerBalanceLow {
        /// What the proposer holds after the in-flight bundles.
        balance: alloy_primitives::U256,
        /// What the next call needs at most.
        needed: alloy_primitives::U256,
    },
    /// A bundle that is already on its way fails in simulation (its proposal will fail on L1).
    #[error("in-flight bundle {bundle} (last L2 block {last_block_hash}): {reason}")]
    InFlight {
        /// Its position among the in-flight bundles.
        bundle: usize,
        /// Its last L2 block.
        last_block_hash: B256,
        /// What failed.
        reason: String,
    },
}

/// An L1 `sendMessage` a call caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message, ids and fields as the execution assigned them.
    pub message: Message,
    /// Its hash.
    pub hash: B256,
    /// Its signal slot on L1 (what L2's anchor marks received for it).
    pub slot: B256,
}

/// What a user op did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// `None` when it succeeded, else the revert reason (the bundle would revert: nothing is applied).
    pub error: Option<String>,
    /// The L1 messages it sent.
    pub sent: Vec<SentMessage>,
    /// Gas its call adds to the bundle.
    pub gas_used: u64,
    /// The ETH it sent the proposer (what pays for its gas), in wei.
    pub paid: U256,
}

/// How a message's `processMessage` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegResult {
    /// The callback succeeded: the bridge marked the message DONE.
    Done,
    /// The callback failed (the bridge marked it RETRIABLE; no return message); the reason is the
    /// callback's revert.
    Retriable(String),
    /// `processMessage` itself reverted, which would revert the whole bundle.
    Reverted(String),
}

/// One message's L1 leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegOutcome {
    /// The message's hash.
    pub hash: B256,
    /// How it ended.
    pub result: LegResult,
    /// The L1 messages its callback sent (the return messages), in order.
    pub sent: Vec<SentMessage>,
    /// Gas its call adds to the bundle (the proof allowance not included).
    pub gas_used: u64,
    /// Whether it is now part of the simulated bundle.
    pub applied: bool,
}
