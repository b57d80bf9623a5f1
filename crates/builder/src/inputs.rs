//! What a block needs besides pool transactions — signal slots to inject and relay transactions — and the
//! stage-then-commit hand-over with whoever plans them.
//!
//! The planner (the txpool watcher) keeps its items until a block that carries them is committed: the
//! builder only *stages* them ([`BlockInputs::stage`]); after the host commits the block, it reports what
//! went in ([`BlockInputs::commit`]). A build that fails or a block that is never committed consumes
//! nothing, so the next build is offered the same items again.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::B256;
use surge_primitives::{Checkpoint, Message};

use crate::consistency::InconsistentSlot;

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

/// The items offered for one block, in the order they should go in.
#[derive(Debug, Clone, Default)]
pub struct StagedInputs {
    /// L1→L2 user operations; their slots go first in the anchor.
    pub user_ops: Vec<UserOp>,
    /// Return slots; they follow the user-op slots, and each must be matched by its outbound message.
    pub return_slots: Vec<ReturnSlot>,
}

impl StagedInputs {
    /// Whether there is nothing to inject or relay.
    pub fn is_empty(&self) -> bool {
        self.user_ops.is_empty() && self.return_slots.is_empty()
    }
}

/// What a built block did with the staged items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputsReport {
    /// User-op slots in the anchor (user ops that did not fit wait for the next block).
    pub user_op_slots: Vec<B256>,
    /// Return slots in the anchor (each matched by its outbound message in the block).
    pub return_slots: Vec<B256>,
    /// Return slots left out, with the reason (those that may still be good later are offered again, see
    /// [`crate::SlotProblem::retry_later`]).
    pub rejected_return_slots: Vec<InconsistentSlot>,
    /// Relay transactions in the block.
    pub relay_txs: Vec<B256>,
    /// Relay transactions that could not execute (left out; their user op is consumed all the same, its
    /// slot being in the block).
    pub rejected_relay_txs: Vec<B256>,
}

/// The planner's side of the hand-over.
pub trait BlockInputs: Send + Sync {
    /// The items for block `number`. Nothing is consumed by staging.
    fn stage(&self, number: u64) -> StagedInputs;
    /// Block `number`, built with `report`, is committed: what it included is consumed, and what it
    /// rejected will not be offered again.
    fn commit(&self, number: u64, report: &InputsReport);
}

impl<T: BlockInputs + ?Sized> BlockInputs for Arc<T> {
    fn stage(&self, number: u64) -> StagedInputs {
        (**self).stage(number)
    }

    fn commit(&self, number: u64, report: &InputsReport) {
        (**self).commit(number, report)
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
    fn stage(&self, _number: u64) -> StagedInputs {
        StagedInputs::default()
    }

    fn commit(&self, _number: u64, _report: &InputsReport) {}
}

/// An in-memory [`BlockInputs`]: items are queued by whoever plans them and leave only when a committed
/// block reports them included or rejected.
#[derive(Debug, Default)]
pub struct InputQueue {
    items: Mutex<StagedInputs>,
}

impl InputQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn items(&self) -> std::sync::MutexGuard<'_, StagedInputs> {
        // The queue is plain data; a panic elsewhere cannot leave it half-updated.
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an L1→L2 user operation: its slot and the transaction that consumes it (if any).
    pub fn push_user_op(&self, slot: B256, relay_tx: Option<Recovered<TxEnvelope>>) {
        self.items().user_ops.push(UserOp { slot, relay_tx });
    }

    /// Queues a return slot.
    pub fn push_return_slot(&self, slot: ReturnSlot) {
        self.items().return_slots.push(slot);
    }

    /// Forgets the return slots that depend on `tx_hash` (the transaction left the pool unmined).
    pub fn remove_dependents_of(&self, tx_hash: B256) {
        self.items().return_slots.retain(|r| r.depends_on.tx_hash != tx_hash);
    }

    /// What is still waiting for a committed block.
    pub fn pending(&self) -> StagedInputs {
        self.items().clone()
    }
}

impl BlockInputs for InputQueue {
    fn stage(&self, _number: u64) -> StagedInputs {
        self.pending()
    }

    fn commit(&self, _number: u64, report: &InputsReport) {
        // A slot whose transaction simply did not make it into this block waits for a later one.
        let retired = report.rejected_return_slots.iter().filter(|r| !r.problem.retry_later()).map(|r| &r.slot);
        let slots: HashSet<B256> =
            report.user_op_slots.iter().chain(&report.return_slots).chain(retired).copied().collect();
        let mut items = self.items();
        items.user_ops.retain(|op| !slots.contains(&op.slot));
        items.return_slots.retain(|r| !slots.contains(&r.slot));
    }
}
