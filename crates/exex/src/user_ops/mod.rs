//! L1→L2 user ops: a batch of L1 calls a user signed for their wallet (`UserOpsSubmitter`), run first in a
//! proposal's L1 bundle, whose L1→L2 messages the same proposal's first L2 block receives (their slots in
//! its anchor) and relays (`processMessage(message, "")` signed by the node's relayer key).
//!
//! An op is checked when it is submitted ([`service`]), kept durably by the ledger from then on (a
//! persistent id, a status), placed in the open bundle by the watcher when no plan is there before it
//! ([`check::place`], again on every new base), and goes into the block the plans of that bundle are made
//! for. A rolled-back proposal's ops are placed again; one whose call fails on L1 is dropped, with why.

pub mod check;
mod relay;
pub mod service;

pub use relay::{Relayer, relay_calldata, relay_gas_limit};

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use surge_primitives::{
    bindings::multicall::Multicall,
    user_op::{UserOpError, create_wallet_call},
};
use surge_sync::Answer;

pub use surge_sync::user_op_key as status_key;

/// A user op as submitted: what it is, who submitted it, and whose wallet its bundle deploys first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOpRecord {
    /// Its id (increasing, never reused).
    pub id: u64,
    /// The wallet whose `executeBatch` it calls.
    pub submitter: Address,
    /// The `executeBatch` calldata.
    pub calldata: Bytes,
    /// The owner whose wallet the bundle deploys before the batch (a new owner's first op).
    pub creates_for: Option<Address>,
    /// The wallet nonce the batch is signed for.
    pub batch_nonce: U256,
    /// When it was submitted (unix milliseconds).
    pub submitted_at: u64,
}

impl UserOpRecord {
    /// The key its status is kept under.
    pub fn key(&self) -> B256 {
        status_key(self.id)
    }

    /// Its Multicall calls: the factory's `createWallet` for a new owner, then the batch.
    pub fn calls(&self, factory: Address) -> Vec<Multicall::Call> {
        let create = self.creates_for.map(|owner| Multicall::Call {
            target: factory,
            value: U256::ZERO,
            data: create_wallet_call(owner),
        });
        let batch = Multicall::Call { target: self.submitter, value: U256::ZERO, data: self.calldata.clone() };
        create.into_iter().chain([batch]).collect()
    }
}

/// A user op placed in a bundle: its calls and the L1→L2 messages they send there, with their slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedOp {
    /// The op.
    pub id: u64,
    /// Its Multicall calls, in order.
    pub calls: Vec<Multicall::Call>,
    /// Its L1→L2 messages as the L1 bridge records them there, each with its slot.
    pub messages: Vec<Answer>,
    /// The gas its calls add to the bundle.
    pub l1_gas: u64,
}

impl PlacedOp {
    /// The slots the block's anchor marks received for it, in order.
    pub fn slots(&self) -> impl Iterator<Item = B256> + '_ {
        self.messages.iter().map(|m| m.slot)
    }
}

/// Where the watcher placed an op: the block it was placed for, its position among that block's ops, and
/// how it runs there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The block.
    pub made_for: u64,
    /// Its position among the ops placed for the block (the order they run in).
    pub position: u32,
    /// How it runs there.
    pub op: PlacedOp,
}

/// A user op as the ledger keeps it until its proposal is final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOpEntry {
    /// The op.
    pub op: UserOpRecord,
    /// Where the watcher last placed it.
    pub placed: Option<Placement>,
    /// The proposal whose first block took it.
    pub proposal: Option<u64>,
}

/// What the node asks of user ops, and with what it relays their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOpTerms {
    /// The wallets' factory (zero: user ops are off).
    pub factory: Address,
    /// The L1 chain id (the wallets' EIP-712 domain).
    pub l1_chain_id: u64,
    /// The L2 chain id (where the messages go).
    pub l2_chain_id: u64,
    /// The L2 bridge (the relay transactions' target).
    pub l2_bridge: Address,
    /// The account that signs relay transactions, if the node has one.
    pub relayer: Option<Address>,
    /// The least time (seconds) between the L1 time and a batch's deadline: an op must not expire before
    /// its proposal lands.
    pub deadline_margin: u64,
    /// User ops waiting at most.
    pub max_queued: usize,
}

/// Why a user op is refused (no id, nothing queued), or dropped after it was taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserOpRefusal {
    /// The node has no user-op factory configured.
    #[error("user ops are off on this node: no user-op wallet factory is configured")]
    Off,
    /// The calldata or signature cannot be a batch of the submitter's owner.
    #[error(transparent)]
    Batch(#[from] UserOpError),
    /// A new owner's first op names another wallet than the factory gives the signer.
    #[error(
        "wallet {submitter} does not exist yet and is not the factory's wallet of the signer {owner} (that is \
         {expected})"
    )]
    WrongWallet {
        /// The wallet named.
        submitter: Address,
        /// Who signed.
        owner: Address,
        /// The signer's wallet.
        expected: Address,
    },
    /// Its deadline is past, or too close to run in time.
    #[error("expired: its deadline {deadline} is less than {margin} s after the L1 time {now}")]
    Expired {
        /// The deadline.
        deadline: U256,
        /// The L1 time.
        now: u64,
        /// The least margin.
        margin: u64,
    },
    /// An op of the same wallet with the same nonce is queued.
    #[error("nonce {nonce} of wallet {submitter} is already taken by user op {other}")]
    NonceTaken {
        /// The wallet.
        submitter: Address,
        /// The nonce.
        nonce: U256,
        /// The queued op that has it.
        other: u64,
    },
    /// Its batch fails on L1.
    #[error("its batch reverts {0}")]
    Reverts(String),
    /// It does not pay the proposer for its L1 gas.
    #[error(
        "it pays the proposer {proposer} {paid} wei for its L1 gas; it needs at least {needed} wei ({gas} gas at \
         {price} wei)"
    )]
    Unpaid {
        /// The proposer.
        proposer: Address,
        /// What it pays.
        paid: U256,
        /// What its gas costs.
        needed: U256,
        /// Its gas.
        gas: u64,
        /// The bundle's gas price.
        price: u128,
    },
    /// An L1→L2 message without a gas limit: only its destination owner may process it.
    #[error(
        "its L1→L2 message {0} has gasLimit 0: only its destination owner may process it, the node cannot relay it"
    )]
    NoGasLimit(B256),
    /// An L1→L2 message whose fee does not cover its relay.
    #[error(
        "its L1→L2 message {hash} offers a fee of {fee} wei; relaying it costs {needed} wei ({gas} L2 gas at {price} wei)"
    )]
    RelayFee {
        /// The message.
        hash: B256,
        /// Its fee.
        fee: u64,
        /// What the relay costs.
        needed: U256,
        /// The relay's gas limit.
        gas: u64,
        /// The L2 base fee.
        price: u64,
    },
    /// It sends an L1→L2 message and the node has no relayer.
    #[error("it sends an L1→L2 message and this node has no relayer key to relay it")]
    NoRelayer,
    /// More messages than one anchor carries.
    #[error("it sends {count} L1→L2 messages; one block's anchor carries at most {max}")]
    TooManyMessages {
        /// Its messages.
        count: usize,
        /// The most an anchor carries.
        max: usize,
    },
    /// The bundle cannot take it (no room, or the L1 view could not be read).
    #[error("the L1 bundle cannot take it: {0}")]
    Bundle(String),
    /// Too many ops wait.
    #[error("the user-op queue is full ({0} waiting); try again later")]
    QueueFull(usize),
    /// The node cannot check ops now.
    #[error("the node cannot take user ops now: {0}")]
    Unavailable(String),
}

/// What the book asks of user ops.
#[derive(Debug, Clone, Copy)]
pub struct OpRules {
    /// The terms.
    pub terms: UserOpTerms,
    /// Slots one anchor carries at most (an op's messages and every op's together must fit).
    pub max_slots: usize,
}

/// A user op that left the book without going into a block: placed again later, or refused for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpDropped {
    /// The op.
    pub id: u64,
    /// Why.
    pub why: UserOpRefusal,
}

impl OpDropped {
    /// Whether it can never run: its batch reverts, is refused by its wallet or the bridge, or expired.
    /// A bundle without room, fees that rose, or an L1 that cannot be read only make it wait (its
    /// deadline ends the wait).
    pub fn is_final(&self) -> bool {
        !matches!(
            self.why,
            UserOpRefusal::Bundle(_)
                | UserOpRefusal::Unavailable(_)
                | UserOpRefusal::Unpaid { .. }
                | UserOpRefusal::RelayFee { .. }
                | UserOpRefusal::TooManyMessages { .. }
        )
    }
}

/// A user op to submit: who, what, and whose wallet its bundle deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The wallet.
    pub submitter: Address,
    /// The `executeBatch` calldata.
    pub calldata: Bytes,
    /// The owner whose wallet is deployed first (a new owner).
    pub creates_for: Option<Address>,
    /// The batch's wallet nonce.
    pub batch_nonce: U256,
}
