//! The ledger's user ops: submitted (an id from a counter kept in the store, never reused, and a `Pending`
//! status, in one write), placed by the watcher for a block (recorded before a block may take them, like
//! plans), taken by a proposal's first block, given back when that block is unwound, dropped with a reason
//! when L1 refuses one, and forgotten once `Executed` (the status stays for its retention).

use alloy_primitives::B256;
use surge_sync::TxStatus;
use tracing::info;

use super::{Ledger, State};
use crate::{
    status_record::{StatusRecord, now_ms},
    store::Batch,
    user_ops::{PlacedOp, Placement, Submission, UserOpEntry, UserOpRecord, UserOpRefusal},
};

impl State {
    /// Whether `key` is a user op's status key (kept while its op is).
    pub(super) fn is_op_key(&self, key: &B256) -> bool {
        self.op_keys.contains_key(key)
    }

    fn insert_op(&mut self, entry: UserOpEntry) {
        self.op_keys.insert(entry.op.key(), entry.op.id);
        self.ops.insert(entry.op.id, entry);
    }

    fn remove_op(&mut self, id: u64) -> Option<UserOpEntry> {
        let entry = self.ops.remove(&id)?;
        self.op_keys.remove(&entry.op.key());
        Some(entry)
    }

    /// The ops placed for block `number` and in no proposal yet, in the order they were placed.
    pub(super) fn ops_placed_for(&self, number: u64) -> Vec<PlacedOp> {
        let mut placed: Vec<&Placement> = self
            .ops
            .values()
            .filter(|e| e.proposal.is_none())
            .filter_map(|e| e.placed.as_ref().filter(|p| p.made_for == number))
            .collect();
        placed.sort_by_key(|p| p.position);
        placed.into_iter().map(|p| p.op.clone()).collect()
    }

    /// Block `number` of proposal `proposal` took `ops`: they are in it, and `ProvingBlock`.
    pub(super) fn ops_included(&mut self, ops: &[PlacedOp], proposal: u64, block: (u64, B256), batch: &mut Batch) {
        for (position, op) in ops.iter().enumerate() {
            let Some(entry) = self.ops.get_mut(&op.id) else { continue };
            entry.proposal = Some(proposal);
            entry.placed = Some(Placement { made_for: block.0, position: position as u32, op: op.clone() });
            batch.user_ops.push(entry.clone());
            let key = entry.op.key();
            self.enter(key, (TxStatus::ProvingBlock { block_id: block.0 }, None), true, batch, |r| {
                let details = r.details();
                (details.l2_block_number, details.l2_block_hash) = (Some(block.0), Some(block.1));
                details.proposal_id = Some(proposal);
            });
        }
        if !ops.is_empty() {
            info!(proposal, block = block.0, ops = ops.len(), "user ops included");
        }
    }

    /// Proposals `gone` were unwound: their ops wait to be placed again.
    pub(super) fn ops_unwound(&mut self, gone: &[u64], batch: &mut Batch) {
        for entry in self.ops.values_mut().filter(|e| e.proposal.is_some_and(|p| gone.contains(&p))) {
            entry.proposal = None;
            entry.placed = None;
            batch.user_ops.push(entry.clone());
        }
    }

    /// Forgets the ops whose status is final (`Executed`): their entries go, their statuses stay.
    pub(super) fn ops_done(&mut self, batch: &mut Batch) {
        let done: Vec<u64> =
            self.op_keys.iter().filter(|(key, _)| !self.statuses.contains_key(*key)).map(|(_, id)| *id).collect();
        for id in done {
            self.remove_op(id);
            batch.delete_user_ops.push(id);
        }
    }
}

impl Ledger {
    /// Takes a checked user op: the next id, its entry and a `Pending` status in one durable write. Refused
    /// when `max_queued` ops wait, or an op of the same wallet waits with the same nonce.
    pub fn submit_op(&self, op: Submission, max_queued: usize) -> Result<u64, UserOpRefusal> {
        let _order = self.ordered();
        let id = {
            let st = self.state();
            let waiting = st.ops.values().filter(|e| e.proposal.is_none()).count();
            if waiting >= max_queued {
                return Err(UserOpRefusal::QueueFull(waiting));
            }
            let same = |e: &&UserOpEntry| e.op.submitter == op.submitter && e.op.batch_nonce == op.batch_nonce;
            if let Some(other) = st.ops.values().find(same) {
                let (submitter, nonce, other) = (op.submitter, op.batch_nonce, other.op.id);
                return Err(UserOpRefusal::NonceTaken { submitter, nonce, other });
            }
            st.next_op.max(1)
        };
        let record = UserOpRecord {
            id,
            submitter: op.submitter,
            calldata: op.calldata,
            creates_for: op.creates_for,
            batch_nonce: op.batch_nonce,
            submitted_at: now_ms(),
        };
        let entry = UserOpEntry { op: record, placed: None, proposal: None };
        let status = StatusRecord::new(entry.op.key(), TxStatus::Pending, entry.op.submitted_at);
        let batch = Batch {
            user_ops: vec![entry.clone()],
            next_user_op: Some(id + 1),
            statuses: vec![status.clone()],
            ..Default::default()
        };
        // Written before memory knows it (the write order keeps other writers out meanwhile).
        self.store.write(batch).map_err(|e| UserOpRefusal::Unavailable(e.to_string()))?;
        let mut st = self.state();
        st.next_op = id + 1;
        st.insert_op(entry);
        st.statuses.insert(status.tx, status);
        drop(st);
        self.changed();
        self.wake();
        info!(id, "user op queued");
        Ok(id)
    }

    /// The ops in no proposal, in id order (what the watcher places).
    pub fn waiting_ops(&self) -> Vec<UserOpRecord> {
        self.state().ops.values().filter(|e| e.proposal.is_none()).map(|e| e.op.clone()).collect()
    }

    /// Records `ops` (in bundle order) as placed for block `made_for`, durably, before any block may take
    /// them; a waiting op not among them is placed nowhere any more.
    pub fn record_op_placements(&self, made_for: u64, ops: &[PlacedOp]) -> Result<(), crate::LedgerStoreError> {
        let _order = self.ordered();
        let changed: Vec<UserOpEntry> = {
            let st = self.state();
            let placement = |id: u64| {
                let (position, op) = ops.iter().enumerate().find(|(_, op)| op.id == id)?;
                Some(Placement { made_for, position: position as u32, op: op.clone() })
            };
            st.ops
                .values()
                .filter(|e| e.proposal.is_none())
                .filter_map(|e| {
                    let placed = placement(e.op.id);
                    (e.placed != placed).then(|| UserOpEntry { placed, ..e.clone() })
                })
                .collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        self.store.write(Batch { user_ops: changed.clone(), ..Default::default() })?;
        let mut st = self.state();
        for entry in changed {
            st.ops.insert(entry.op.id, entry);
        }
        Ok(())
    }

    /// Whether `op` is recorded as placed for block `made_for` (and in no proposal).
    pub fn is_op_recorded(&self, op: &PlacedOp, made_for: u64) -> bool {
        let st = self.state();
        let recorded = |p: &Placement| p.made_for == made_for && p.op == *op;
        st.ops.get(&op.id).is_some_and(|e| e.proposal.is_none() && e.placed.as_ref().is_some_and(recorded))
    }

    /// Drops waiting op `id` for `reason` (it no longer runs where it would be placed): it ends `Rejected`.
    /// One a proposal holds meanwhile is left to that proposal.
    pub fn reject_waiting_op(&self, id: u64, reason: String) {
        if self.state().ops.get(&id).is_some_and(|e| e.proposal.is_none()) {
            self.reject_op(id, reason);
        }
    }

    /// Drops op `id` for `reason` (L1 refused it, or it no longer runs where it is placed): it ends
    /// `Rejected` and is never placed again.
    pub fn reject_op(&self, id: u64, reason: String) {
        let _order = self.ordered();
        let mut st = self.state();
        let Some(entry) = st.remove_op(id) else { return };
        let mut batch = Batch { delete_user_ops: vec![id], ..Default::default() };
        info!(id, %reason, "user op dropped");
        st.enter(entry.op.key(), (TxStatus::Rejected { reason }, None), true, &mut batch, |_| {});
        drop(st);
        self.write(batch, format_args!("dropped user op {id}"));
        self.wake();
    }

    /// The op whose status is kept under `key`, if it is kept.
    pub fn op_by_key(&self, key: &B256) -> Option<u64> {
        self.state().op_keys.get(key).copied()
    }
}
