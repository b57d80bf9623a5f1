//! What a block needs besides pool transactions — signal slots to inject and relay transactions — as the
//! builder reads them from whoever plans them.
//!
//! The seam is read-only: the builder asks what the child of a parent should carry
//! ([`BlockInputs::stage`]) and never reports back what went in. The planner learns that from the block
//! itself once it is committed (its anchor's slots, the planned transactions in it), so a build that fails
//! or a block that is never committed changes nothing, and nothing is kept twice.

use std::{fmt, sync::Arc};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::B256;
use surge_primitives::{Checkpoint, Message};

use crate::state::SealedHeader;

/// The outbound message a return slot exists for: the L1 simulation of `message`, sent by transaction
/// `tx_hash`, produced the return slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundDependency {
    /// The L2 transaction expected to send the message.
    pub tx_hash: B256,
    /// The message exactly as the bridge should record it (id, from, srcChainId included).
    pub message: Message,
}

/// A return slot: an L1→L2 signal produced by simulating an outbound message's L1 side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnSlot {
    /// The signal slot to mark received in the anchor.
    pub slot: B256,
    /// The message it belongs to.
    pub depends_on: OutboundDependency,
}

/// An L1→L2 user operation: its signal slot and the transaction that consumes it, which go into the same
/// block or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOp {
    /// The signal slot to mark received in the anchor.
    pub slot: B256,
    /// The transaction that processes the message (appended after the pool's), if the node relays it.
    pub relay_tx: Option<Recovered<TxEnvelope>>,
}

/// A planned (synchronous) transaction: it goes into the block right after the anchor, in plan order, and
/// must send exactly `messages` (the L1 calls of its proposal are simulated with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTx {
    /// The transaction.
    pub tx: Recovered<TxEnvelope>,
    /// The outbound messages it must send, in order, fields as the bridge records them.
    pub messages: Vec<Message>,
}

/// The items offered for one block, in the order they should go in.
#[derive(Debug, Clone, Default)]
pub struct StagedInputs {
    /// The anchor's L1 checkpoint (the open proposal's anchor block); `None` leaves it to the builder's
    /// own checkpoint source.
    pub checkpoint: Option<Checkpoint>,
    /// L1→L2 user operations; their slots go first in the anchor.
    pub user_ops: Vec<UserOp>,
    /// Return slots; they follow the user-op slots, and each must be matched by its outbound message.
    pub return_slots: Vec<ReturnSlot>,
    /// Planned transactions, in plan order, right after the anchor and before the pool's. One that cannot
    /// go in as planned takes every later one out of the block with it (their answers' ids follow its).
    pub sync_txs: Vec<SyncTx>,
    /// Transactions the block must not take from the pool (planned for a later proposal).
    pub held: Vec<B256>,
    /// The block's timestamp as the planner fixed it for the parent's child (the environment its plans
    /// were made in); `None`, or one not after the parent's, leaves it to the attributes.
    pub timestamp: Option<u64>,
}

impl StagedInputs {
    /// Whether there is nothing to inject or relay.
    pub fn is_empty(&self) -> bool {
        self.user_ops.is_empty() && self.return_slots.is_empty() && self.sync_txs.is_empty()
    }
}

/// What a built block did with the staged items (the builder's account of one build, for its caller and
/// metrics; the planner reads the committed block instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputsReport {
    /// User-op slots in the anchor (user ops that did not fit wait for the next block).
    pub user_op_slots: Vec<B256>,
    /// Return slots in the anchor (each matched by its outbound message in the block).
    pub return_slots: Vec<B256>,
    /// Return slots left out, with the reason (those that may still be good later are offered again, see
    /// [`SlotProblem::retry_later`]).
    pub rejected_return_slots: Vec<InconsistentSlot>,
    /// Relay transactions in the block.
    pub relay_txs: Vec<B256>,
    /// Relay transactions that could not execute (left out; their user op is consumed all the same, its
    /// slot being in the block).
    pub rejected_relay_txs: Vec<B256>,
    /// Planned transactions in the block as planned (with their slots), in order.
    pub sync_txs: Vec<B256>,
    /// Planned transactions whose plan failed in the block (they did not execute, reverted or sent other
    /// messages), with the reason: their plans are void. The planned transactions staged after one of
    /// these (or after one with no room) are in neither list: they wait for the next proposal.
    pub failed_sync_txs: Vec<(B256, String)>,
    /// The L1 checkpoint the anchor took (a fallback when the one offered was refused).
    pub checkpoint: Option<Checkpoint>,
    /// The block's transactions, EIP-2718 encoded, in bytes (what its proposal's blobs carry).
    pub tx_bytes: u64,
}

/// The planner as the builder reads it.
pub trait BlockInputs: Send + Sync {
    /// The items for the child of `parent`, to be built at `timestamp` unless the planner fixed another
    /// ([`StagedInputs::timestamp`]). Reading them changes nothing.
    fn stage(&self, parent: &SealedHeader, timestamp: u64) -> StagedInputs;
    /// Why the planner will never give pool transaction `tx` the answers it consumes, if it knows (the
    /// builder holds such a transaction out of blocks; with a reason it leaves the pool with it).
    fn refusal(&self, _tx: &B256) -> Option<String> {
        None
    }
    /// Planned transaction `tx` could not go in as planned (`reason`): its plan is void. The planner stops
    /// offering it; nothing else changes.
    fn plan_failed(&self, _tx: &B256, _reason: &str) {}
    /// The account that signs the planner's relay transactions, if it has one: its transactions in a
    /// block are the builder's own (rebuilt, never handed back to the pool when the block is unwound).
    fn relayer(&self) -> Option<alloy_primitives::Address> {
        None
    }
}

impl<T: BlockInputs + ?Sized> BlockInputs for Arc<T> {
    fn stage(&self, parent: &SealedHeader, timestamp: u64) -> StagedInputs {
        (**self).stage(parent, timestamp)
    }

    fn refusal(&self, tx: &B256) -> Option<String> {
        (**self).refusal(tx)
    }

    fn plan_failed(&self, tx: &B256, reason: &str) {
        (**self).plan_failed(tx, reason)
    }

    fn relayer(&self) -> Option<alloy_primitives::Address> {
        (**self).relayer()
    }
}

/// Where the anchor's L1 checkpoint comes from: the L1 block the block's proposal builds on (the L1 head
/// the return slots were simulated against).
pub trait CheckpointSource: Send + Sync {
    /// The checkpoint for the next block.
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>>;
}

/// A fixed checkpoint (a node without an L1 connection yet, tests).
impl CheckpointSource for Checkpoint {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.clone())
    }
}

/// No slots and no relay transactions (a builder without the synchronous-composability planner).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInputs;

impl BlockInputs for NoInputs {
    fn stage(&self, _parent: &SealedHeader, _timestamp: u64) -> StagedInputs {
        StagedInputs::default()
    }
}

/// Why a return slot cannot stay in the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotProblem {
    /// Its transaction is not in the block (out of gas or time, or not in the pool).
    TxNotInBlock,
    /// The transaction ran but sent no message: it reverted, or the `sendMessage` call (or a frame
    /// around it) did.
    NothingSent {
        /// Whether a `sendMessage` call was made and reverted.
        attempted: bool,
    },
    /// The anchor had no room left for it (too many slots for one block); it is offered again.
    NoRoom,
    /// Its transaction went into the block without it (the slot had no room, or the passes ran out, and
    /// the transaction did not need it to succeed): the message was sent in this block, so the slot can
    /// never be injected later.
    MinedWithoutSlot,
    /// The builder ran out of passes before the block settled with this slot; it is offered again.
    Unsettled,
    /// Its transaction is not in the block and has left the pool: the slot can never be used.
    TxGone,
    /// A planned transaction ahead of it (in plan order) could not go in as planned: its answers' ids
    /// would shift, so it waits for the next proposal.
    EarlierTxFailed,
    /// The transaction sent messages, none with the planned fields.
    FieldsDiffer {
        /// The planned message.
        expected: Box<Message>,
        /// What it sent instead.
        sent: Vec<Message>,
    },
}

impl SlotProblem {
    /// Whether the slot may still be good in a later block (its transaction has not run yet).
    pub fn retry_later(&self) -> bool {
        matches!(self, Self::TxNotInBlock | Self::NoRoom | Self::Unsettled | Self::EarlierTxFailed)
    }
}

/// A return slot that failed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InconsistentSlot {
    /// The slot.
    pub slot: B256,
    /// The transaction that should have sent its message.
    pub tx_hash: B256,
    /// What went wrong.
    pub problem: SlotProblem,
}

impl fmt::Display for InconsistentSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "return slot {} of transaction {}: ", self.slot, self.tx_hash)?;
        match &self.problem {
            SlotProblem::TxNotInBlock => write!(f, "the transaction is not in the block"),
            SlotProblem::TxGone => write!(f, "the transaction left the pool without being mined"),
            SlotProblem::MinedWithoutSlot => write!(f, "the transaction went into the block without it"),
            SlotProblem::NoRoom => write!(f, "no room left in the anchor, deferred to a later block"),
            SlotProblem::Unsettled => write!(f, "the block did not settle with it in the passes allowed"),
            SlotProblem::EarlierTxFailed => {
                write!(f, "a planned transaction ahead of it failed, it waits for the next proposal")
            }
            SlotProblem::NothingSent { attempted: true } => write!(f, "its sendMessage call reverted"),
            SlotProblem::NothingSent { attempted: false } => write!(f, "it sent no message"),
            SlotProblem::FieldsDiffer { expected, sent } => {
                let ids: Vec<u64> = sent.iter().map(|m| m.id).collect();
                write!(
                    f,
                    "it sent {} message(s) (ids {ids:?}), none with the planned fields (planned id {}, hash {})",
                    sent.len(),
                    expected.id,
                    expected.hash()
                )
            }
        }
    }
}
