//! The L1 leg as the proposer's bundle runs it: every call goes through the proposer Multicall from its
//! owner, in the environment of the next L1 block, after the bundles of closed proposals not yet included;
//! an outbound L2→L1 message runs as `processMessage(M, "")` with the fast-signal override standing in for
//! the proof, so the bridge itself runs it in relayer mode with exactly the gas it forwards.
//!
//! Each call is one transaction on top of the previous ones' committed state, so appending a message
//! costs one message. The calls of a real bundle share one transaction; the differences are the per-call
//! intrinsic gas (subtracted in the bundle's gas count) and warm storage between calls (the simulation
//! is the colder, so it never counts less gas than the bundle uses).

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use revm::{
    DatabaseCommit, DatabaseRef,
    context::{BlockEnv, result::ExecutionResult},
    primitives::hardfork::SpecId,
};
use revm_inspectors::tracing::{CallTraceArena, types::CallTraceNode};
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, inbox::RealTimeInbox, multicall::Multicall},
    signal_slot,
    slots::{
        bridge::{NEXT_MESSAGE_ID_SLOT, decode_next_message_id},
        signal_service::received_signal_key,
    },
};
use tracing::debug_span;

use super::{Executed, L1Protocol, SimDb, describe_revert, execute, next_block_env, view_call};
use crate::view::{L1View, ViewError};

/// Limits a bundle keeps; a message beyond them is refused with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLimits {
    /// The L1's per-transaction gas cap (2^24 since Osaka, EIP-7825).
    pub tx_gas_cap: u64,
    /// Gas kept for the proposal itself (`tentativePropose`, its proof check, `finalizePropose`). A deferred
    /// proposal with a mock proof and two signals measures 212,000 with its Multicall
    /// (`crates/primitives/tests/inbox.rs`); the default leaves room for a ZK verifier.
    pub proposal_gas: u64,
    /// Gas kept per message for the Merkle proof the real `processMessage(M, proof)` verifies: 58,450 per
    /// proof node measured (`proof_verification_gas_per_node` in `crates/primitives/tests/signal_proof.rs`),
    /// so the default covers a 16-node proof (a large state's account and storage paths).
    pub proof_gas_per_message: u64,
    /// The largest `gasLimit` a message may ask for.
    pub max_message_gas_limit: u64,
    /// The smallest `fee` a message must offer (the proposer pays the L1 gas of every leg).
    pub min_message_fee: u64,
}

impl Default for BundleLimits {
    fn default() -> Self {
        Self {
            tx_gas_cap: 1 << 24,
            proposal_gas: 1_000_000,
            proof_gas_per_message: 1_000_000,
            max_message_gas_limit: 4_000_000,
            min_message_fee: 0,
        }
    }
}

/// How the L1 runs the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// The L1's rules.
    pub spec: SpecId,
    /// Seconds between L1 blocks.
    pub slot_time: u64,
    /// The bundle's limits.
    pub limits: BundleLimits,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { spec: SpecId::OSAKA, slot_time: 12, limits: BundleLimits::default() }
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
    /// Whether it is now part of the simulated bundle (only a `Done` leg is).
    pub applied: bool,
}

/// A bundle being simulated: the in-flight bundles applied, then the open one, call by call.
#[derive(Debug, Clone)]
pub struct BundleSimulator {
    protocol: L1Protocol,
    config: SimConfig,
    db: SimDb,
    block: BlockEnv,
    owner: Address,
    /// The open bundle's gas so far: one intrinsic 21,000, the proposal, its calls and proof allowances.
    gas: u64,
}

/// The intrinsic gas of a transaction, paid once by the bundle and once by each simulated call.
const TX_BASE_GAS: u64 = 21_000;

impl BundleSimulator {
    /// A bundle for the block after `view`'s, after the `in_flight` bundles that L1 has not included yet
    /// (those up to the one ending at the inbox's last finalized block are on L1 already and are skipped).
    pub fn new(
        view: Arc<L1View>,
        protocol: L1Protocol,
        config: SimConfig,
        in_flight: &[InFlightBundle],
    ) -> Result<Self, SimError> {
        let block = next_block_env(view.header(), config.spec, config.slot_time);
        let mut db = SimDb::new(view);
        let owner = view_call(
            &mut db,
            config.spec,
            protocol.l1_chain_id,
            &block,
            protocol.multicall,
            &Multicall::ownerCall {},
        )?
        .map_err(|reason| SimError::Protocol { what: "the proposer Multicall's owner", reason })?;
        let finalized = view_call(
            &mut db,
            config.spec,
            protocol.l1_chain_id,
            &block,
            protocol.inbox,
            &RealTimeInbox::lastFinalizedBlockHashCall {},
        )?
        .map_err(|reason| SimError::Protocol { what: "the inbox's last finalized block hash", reason })?;
        let gas = TX_BASE_GAS + config.limits.proposal_gas;
        let mut sim = Self { protocol, config, db, block, owner, gas };

        let landed = in_flight.iter().position(|b| b.last_block_hash == finalized).map_or(0, |i| i + 1);
        for (i, bundle) in in_flight.iter().enumerate().skip(landed) {
            let fail =
                |reason: String| SimError::InFlight { bundle: i, last_block_hash: bundle.last_block_hash, reason };
            for call in &bundle.user_ops {
                if let Some(e) = sim.user_op(call)?.error {
                    return Err(fail(format!("user op to {} fails: {e}", call.target)));
                }
            }
            for m in &bundle.messages {
                let leg = sim.run_message(m, u64::MAX)?;
                if !leg.applied {
                    return Err(fail(format!("message {}: {:?}", leg.hash, leg.result)));
                }
            }
        }
        // The open bundle starts here.
        sim.gas = TX_BASE_GAS + config.limits.proposal_gas;
        Ok(sim)
    }

    /// The proposer (the Multicall's owner), who sends the bundle.
    pub fn owner(&self) -> Address {
        self.owner
    }

    /// The environment the bundle runs in.
    pub fn block(&self) -> &BlockEnv {
        &self.block
    }

    /// The open bundle's gas so far, with the proposal and the proof allowances.
    pub fn gas(&self) -> u64 {
        self.gas
    }

    /// Accounts and storage slots read or written so far: a cold remote view fetched each at most once.
    pub fn touched(&self) -> usize {
        self.db.cache.accounts.values().map(|a| 1 + a.storage.len()).sum()
    }

    /// The L1 bridge's `nextMessageId` now.
    pub fn next_message_id(&self) -> Result<u64, SimError> {
        Ok(decode_next_message_id(self.db.storage_ref(self.protocol.bridge, NEXT_MESSAGE_ID_SLOT)?))
    }

    /// Appends a user op (a Multicall call of the open bundle). It is applied when it succeeds; a failing
    /// one would revert the bundle and is reported instead.
    pub fn user_op(&mut self, call: &Multicall::Call) -> Result<CallOutcome, SimError> {
        let _span = debug_span!("l1 user op", target = %call.target).entered();
        let next_id = self.next_message_id()?;
        let executed = self.run_calls(vec![call.clone()], self.config.limits.tx_gas_cap)?;
        let gas_used = executed.result.tx_gas_used().saturating_sub(TX_BASE_GAS);
        let error = match &executed.result {
            ExecutionResult::Success { .. } => None,
            ExecutionResult::Revert { output, .. } => Some(describe_revert(output)),
            ExecutionResult::Halt { reason, .. } => Some(format!("halted: {reason:?}")),
        };
        let sent = if error.is_none() { self.sent_messages(&executed.trace, next_id) } else { vec![] };
        if error.is_none() {
            self.db.commit(executed.state);
            self.gas += gas_used;
        }
        Ok(CallOutcome { error, sent, gas_used })
    }

    /// Appends `processMessage(message, "")` for an outbound L2→L1 message, refused when a limit says no.
    /// A leg that ends DONE is applied; any other is reported and leaves the bundle as it was.
    pub fn message(&mut self, message: &Message) -> Result<LegOutcome, SimError> {
        let hash = message.hash();
        let limits = self.config.limits;
        let gas_limit = u64::from(message.gasLimit);
        if message.srcChainId != self.protocol.l2_chain_id || message.destChainId != self.protocol.l1_chain_id {
            let (src, dest) = (message.srcChainId, message.destChainId);
            return Err(Refusal::WrongChains { hash, src, dest }.into());
        }
        if gas_limit == 0 {
            return Err(Refusal::NoGasLimit(hash).into());
        }
        if gas_limit > limits.max_message_gas_limit {
            return Err(Refusal::GasLimitAboveMax { hash, gas_limit, max: limits.max_message_gas_limit }.into());
        }
        if message.fee < limits.min_message_fee {
            return Err(Refusal::FeeBelowMin { hash, fee: message.fee, min: limits.min_message_fee }.into());
        }
        let left = self.gas_left();
        if gas_limit + limits.proof_gas_per_message > left {
            return Err(Refusal::BundleFull { hash, needed: gas_limit + limits.proof_gas_per_message, left }.into());
        }
        let leg = self.run_message(message, left)?;
        if leg.applied && leg.gas_used + limits.proof_gas_per_message > left {
            // It ran, but used more than the room left (its gas limit bounds only the callback).
            return Err(Refusal::BundleFull { hash, needed: leg.gas_used + limits.proof_gas_per_message, left }.into());
        }
        Ok(leg)
    }

    /// Gas left for calls and proofs under the transaction cap.
    pub fn gas_left(&self) -> u64 {
        self.config.limits.tx_gas_cap.saturating_sub(self.gas)
    }

    /// Runs one message's leg (the fast-signal override set for it) and applies it when DONE and within
    /// `room` gas.
    fn run_message(&mut self, message: &Message, room: u64) -> Result<LegOutcome, SimError> {
        let hash = message.hash();
        let _span = debug_span!("l1 leg", message = %hash).entered();
        let slot = signal_slot(self.protocol.l2_chain_id, self.protocol.l2_bridge, hash);
        let key = U256::from_be_bytes(received_signal_key(slot).0);
        let previous = self.db.storage_ref(self.protocol.signal_service, key)?;
        self.set_storage(self.protocol.signal_service, key, U256::from(1))?;

        let next_id = self.next_message_id()?;
        let call = Bridge::processMessageCall { message: message.clone(), proof: Bytes::new() };
        let step = Multicall::Call { target: self.protocol.bridge, value: U256::ZERO, data: call.abi_encode().into() };
        let executed = self.run_calls(vec![step], self.config.limits.tx_gas_cap)?;
        let gas_used = executed.result.tx_gas_used().saturating_sub(TX_BASE_GAS);
        let result = match &executed.result {
            ExecutionResult::Success { .. } => self.leg_result(&executed.trace, message),
            ExecutionResult::Revert { output, .. } => LegResult::Reverted(describe_revert(output)),
            ExecutionResult::Halt { reason, .. } => LegResult::Reverted(format!("halted: {reason:?}")),
        };
        let applied = result == LegResult::Done && gas_used + self.config.limits.proof_gas_per_message <= room;
        let sent = if applied { self.sent_messages(&executed.trace, next_id) } else { vec![] };
        if applied {
            self.db.commit(executed.state);
            self.gas += gas_used + self.config.limits.proof_gas_per_message;
        } else {
            self.set_storage(self.protocol.signal_service, key, previous)?;
        }
        Ok(LegOutcome { hash, result, sent, gas_used, applied })
    }

    /// Sends `calls` through the Multicall from its owner.
    fn run_calls(&mut self, calls: Vec<Multicall::Call>, gas_limit: u64) -> Result<Executed, SimError> {
        let data = Multicall::multicallCall { calls }.abi_encode().into();
        let (spec, chain_id) = (self.config.spec, self.protocol.l1_chain_id);
        Ok(execute(&mut self.db, spec, chain_id, &self.block, (self.owner, self.protocol.multicall, data, gas_limit))?)
    }

    fn set_storage(&mut self, address: Address, key: U256, value: U256) -> Result<(), SimError> {
        self.db.insert_account_storage(address, key, value).map_err(SimError::View)
    }

    /// The status the bridge returned for `message`, with the callback's failure when it is not DONE.
    fn leg_result(&self, trace: &CallTraceArena, message: &Message) -> LegResult {
        let nodes = trace.nodes();
        let processed =
            nodes.iter().find(|n| n.trace.address == self.protocol.bridge && n.trace.caller == self.protocol.multicall);
        let status = processed.and_then(|n| Bridge::processMessageCall::abi_decode_returns(&n.trace.output).ok());
        // IBridge.Status.DONE
        if status == Some(2) {
            return LegResult::Done;
        }
        let callback = processed.and_then(|p| {
            p.children.iter().copied().find(|&i| nodes[i].trace.address == message.to && !nodes[i].trace.success)
        });
        LegResult::Retriable(match callback {
            Some(i) => failure_reason(nodes, i),
            None => "the bridge did not invoke the callback (data is not onMessageInvocation)".into(),
        })
    }

    /// The L1 bridge messages that took effect in `trace`.
    fn sent_messages(&self, trace: &CallTraceArena, next_id: u64) -> Vec<SentMessage> {
        let p = &self.protocol;
        surge_sync::find_outbound_messages(trace, p.bridge, p.l1_chain_id, next_id)
            .into_iter()
            .filter(|m| !m.reverted)
            .map(|m| SentMessage {
                slot: signal_slot(p.l1_chain_id, p.bridge, m.hash),
                hash: m.hash,
                message: m.message,
            })
            .collect()
    }
}

/// Why call `i` failed: its own halt (out of gas, invalid opcode), its revert data, or, when it reverted
/// without data (Solidity passing on a failed call), the failure of the sub-call that started it.
fn failure_reason(nodes: &[CallTraceNode], i: usize) -> String {
    let trace = &nodes[i].trace;
    if let Some(status) = trace.status.filter(|s| s.is_halt()) {
        return format!("{status:?} in {}", trace.address);
    }
    if !trace.output.is_empty() {
        return describe_revert(&trace.output);
    }
    match nodes[i].children.iter().copied().find(|&c| !nodes[c].trace.success) {
        Some(c) => failure_reason(nodes, c),
        None => "reverted without a reason".into(),
    }
}
