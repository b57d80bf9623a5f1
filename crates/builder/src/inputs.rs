//! [`InputQueue`]: an in-memory [`BlockInputs`] planner for embedders — items are queued by whoever plans
//! them, leave only when the embedder reports a committed block's [`InputsReport`]
//! ([`InputQueue::committed`]), and come back when that block is unwound ([`InputQueue::reverted`]).

use std::{
    collections::{BTreeMap, HashSet},
    sync::Mutex,
};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::B256;
use surge_interfaces::{
    BlockInputs, CommittedBlock, InputsReport, ReturnSlot, SealedHeader, StagedInputs, SyncTx, UserOp,
};

/// Committed blocks whose consumed items are remembered, so an unwind can offer them again.
const HISTORY: usize = 1024;

#[derive(Debug, Default)]
struct Queue {
    pending: StagedInputs,
    /// What each recent committed block consumed.
    consumed: BTreeMap<u64, StagedInputs>,
    /// Transactions no answer will come for, with the reason.
    refused: std::collections::HashMap<B256, String>,
}

/// An in-memory [`BlockInputs`].
#[derive(Debug, Default)]
pub struct InputQueue {
    items: Mutex<Queue>,
}

impl InputQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn items(&self) -> std::sync::MutexGuard<'_, Queue> {
        // The queue is plain data; a panic elsewhere cannot leave it half-updated.
        self.items.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an L1→L2 user operation: its slot and the transaction that consumes it (if any).
    pub fn push_user_op(&self, slot: B256, relay_tx: Option<Recovered<TxEnvelope>>) {
        self.items().pending.user_ops.push(UserOp { slot, relay_tx });
    }

    /// Queues a return slot.
    pub fn push_return_slot(&self, slot: ReturnSlot) {
        self.items().pending.return_slots.push(slot);
    }

    /// Queues a planned transaction (it goes in right after the anchor, in queue order) with its return
    /// slots; it leaves the queue once a committed block reports it in, or its plan failed.
    pub fn push_sync_tx(&self, tx: SyncTx, slots: Vec<ReturnSlot>) {
        let mut q = self.items();
        q.pending.sync_txs.push(tx);
        q.pending.return_slots.extend(slots);
    }

    /// Forgets the return slots that depend on `tx_hash` (the transaction left the pool unmined).
    pub fn remove_dependents_of(&self, tx_hash: B256) {
        self.items().pending.return_slots.retain(|r| r.depends_on.tx_hash != tx_hash);
    }

    /// What is still waiting for a committed block.
    pub fn pending(&self) -> StagedInputs {
        self.items().pending.clone()
    }

    /// No answer will come for pool transaction `tx`: the builder rejects it with `reason` when it finds
    /// it consuming one.
    pub fn refuse(&self, tx: B256, reason: String) {
        self.items().refused.insert(tx, reason);
    }
}

impl BlockInputs for InputQueue {
    fn stage(&self, _parent: &SealedHeader, _timestamp: u64) -> StagedInputs {
        self.pending()
    }

    fn refusal(&self, tx: &B256) -> Option<String> {
        self.items().refused.get(tx).cloned()
    }
}

impl InputQueue {
    /// Block `number`, built with `report`, is committed: what it included leaves the queue, and what it
    /// rejected for good will not be offered again.
    pub fn committed(&self, number: u64, report: &InputsReport) {
        // A slot whose transaction simply did not make it into this block waits for a later one.
        let retired = report.rejected_return_slots.iter().filter(|r| !r.problem.retry_later()).map(|r| &r.slot);
        let included: HashSet<B256> = report.user_op_slots.iter().chain(&report.return_slots).copied().collect();
        let gone: HashSet<B256> = included.iter().chain(retired).copied().collect();
        let mut q = self.items();
        let (ops, kept_ops): (Vec<UserOp>, Vec<UserOp>) =
            q.pending.user_ops.drain(..).partition(|op| gone.contains(&op.slot));
        let (slots, kept_slots): (Vec<ReturnSlot>, Vec<ReturnSlot>) =
            q.pending.return_slots.drain(..).partition(|r| gone.contains(&r.slot));
        let done: HashSet<&B256> =
            report.sync_txs.iter().chain(report.failed_sync_txs.iter().map(|(h, _)| h)).collect();
        let sync_txs = std::mem::take(&mut q.pending.sync_txs);
        let kept_sync = sync_txs.into_iter().filter(|s| !done.contains(s.tx.tx_hash())).collect();
        q.pending =
            StagedInputs { user_ops: kept_ops, return_slots: kept_slots, sync_txs: kept_sync, ..Default::default() };
        let consumed = StagedInputs {
            user_ops: ops.into_iter().filter(|op| included.contains(&op.slot)).collect(),
            return_slots: slots.into_iter().filter(|r| included.contains(&r.slot)).collect(),
            ..Default::default()
        };
        if !consumed.is_empty() {
            q.consumed.insert(number, consumed);
            while q.consumed.len() > HISTORY {
                q.consumed.pop_first();
            }
        }
    }

    /// Block `number` with transactions `txs` is committed (an embedder following the chain rather than
    /// its builder's reports): the slots its anchor carries and the planned transactions in it leave the
    /// queue, and so do the return slots that can never be used — their transaction went in without them,
    /// or is neither in the block nor in the pool (`pool_has` says).
    pub fn block_committed(&self, number: u64, txs: &[TxEnvelope], pool_has: impl Fn(&B256) -> bool) {
        use surge_interfaces::{InconsistentSlot, SlotProblem};
        let slots = txs.first().and_then(crate::anchor::read_anchor).map(|call| call.signalSlots).unwrap_or_default();
        let in_block: HashSet<B256> = txs.iter().map(|t| *t.tx_hash()).collect();
        let pending = self.pending();
        let rejected_return_slots = pending
            .return_slots
            .iter()
            .filter(|r| !slots.contains(&r.slot))
            .filter_map(|r| {
                let tx = r.depends_on.tx_hash;
                let problem = if in_block.contains(&tx) {
                    SlotProblem::MinedWithoutSlot
                } else if !pool_has(&tx) {
                    SlotProblem::TxGone
                } else {
                    return None;
                };
                Some(InconsistentSlot { slot: r.slot, tx_hash: tx, problem })
            })
            .collect();
        let report = InputsReport {
            user_op_slots: pending.user_ops.iter().map(|op| op.slot).filter(|s| slots.contains(s)).collect(),
            return_slots: pending.return_slots.iter().map(|r| r.slot).filter(|s| slots.contains(s)).collect(),
            rejected_return_slots,
            sync_txs: pending.sync_txs.iter().map(|s| *s.tx.tx_hash()).filter(|h| in_block.contains(h)).collect(),
            ..Default::default()
        };
        self.committed(number, &report);
    }

    /// Follows the chain (an embedder hands it each notification of its node): removed blocks give back
    /// what they consumed, committed ones consume what they carry ([`Self::block_committed`]).
    pub fn on_notification(&self, n: &surge_interfaces::ChainNotification, pool_has: impl Fn(&B256) -> bool) {
        if let Some(old) = n.reverted() {
            self.reverted(old);
        }
        for block in n.committed().map(|b| b.iter()).into_iter().flatten() {
            self.block_committed(block.number(), &block.body.transactions, &pool_has);
        }
    }

    /// `blocks` were unwound (lowest first): what they consumed is offered again. Returns the hashes of the
    /// relay transactions in them, which do not return to the pool.
    pub fn reverted(&self, blocks: &[CommittedBlock]) -> Vec<B256> {
        let mut q = self.items();
        let mut back = StagedInputs::default();
        for block in blocks {
            if let Some(items) = q.consumed.remove(&block.number()) {
                back.user_ops.extend(items.user_ops);
                back.return_slots.extend(items.return_slots);
            }
        }
        let relay: Vec<B256> =
            back.user_ops.iter().filter_map(|op| op.relay_tx.as_ref()).map(|t| *t.tx_hash()).collect();
        // Items of the unwound blocks were planned first: they go ahead of what is still waiting.
        back.user_ops.append(&mut q.pending.user_ops);
        back.return_slots.append(&mut q.pending.return_slots);
        q.pending = back;
        relay
    }
}
