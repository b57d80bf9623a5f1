//! The statuses of sync transactions and user ops (kept under [`crate::user_ops::status_key`]), moved on by
//! the ledger's own changes, in the same writes: a plan recorded or an op submitted starts one (`Pending`);
//! its block accounted for makes it `ProvingBlock`; its proposal's L1 transaction signed makes it
//! `Processing` (a replacement or an inclusion elsewhere names the new one);
//! `safe` reaching its block, or the inbox holding its proposal, makes it `Executed`. Taken back — its block
//! unwound, or its proposal's L1 transaction reorged out — it goes back, the roll-back recorded with why.
//! Leaving the pool unmined makes it `Rejected`. Statuses that are not final live in memory and in the
//! store; final ones in the store alone, until their retention ends. An `Executed` one moves back only when
//! an L1 reorg deeper than the confirmations takes its proposal's L1 transaction.

use std::collections::HashMap;

use alloy_primitives::B256;
use surge_sync::TxStatus;

use super::{Ledger, State};
use crate::{
    proposal::ProposalRecord,
    status_record::{BlockOnL1, Exit, PoolExit, StatusRecord, now_ms},
    store::{Batch, LedgerStoreError},
};

impl State {
    /// Moves the kept status of `tx` to `status`, `edit`ing where it is; starts one when `start` and none is
    /// kept. A changed record goes into `batch`; a final one leaves memory.
    pub(super) fn enter(
        &mut self,
        tx: B256,
        (status, rolled_back): (TxStatus, Option<String>),
        start: bool,
        batch: &mut Batch,
        edit: impl FnOnce(&mut StatusRecord),
    ) {
        let at = now_ms();
        let mut record = match self.statuses.remove(&tx) {
            Some(record) => record,
            None if start => StatusRecord::new(tx, TxStatus::Pending, at),
            None => return,
        };
        let before = record.clone();
        edit(&mut record);
        record.enter(status, at, rolled_back);
        if record != before || start {
            batch.statuses.push(record.clone());
        }
        if record.status().is_final() {
            // Answered from here until the batch is written to the store.
            self.finalizing.insert(tx, record);
        } else {
            self.statuses.insert(tx, record);
        }
    }

    /// The transactions whose kept status names proposal `id`.
    pub(super) fn statuses_of(&self, id: u64) -> Vec<B256> {
        self.statuses.values().filter(|r| r.view.details.proposal_id == Some(id)).map(|r| r.tx).collect()
    }

    /// Moves the transactions of proposal `id` to `Processing` in L1 transaction `l1_tx` (in L1 block
    /// `l1_block`, once it landed).
    pub(super) fn processing(&mut self, id: u64, l1_tx: B256, l1_block: Option<u64>, batch: &mut Batch) {
        for tx in self.statuses_of(id) {
            let moving = TxStatus::Processing { tx_hash: l1_tx };
            self.enter(tx, (moving, None), false, batch, |r| {
                r.details().l1_tx_hash = Some(l1_tx);
                r.details().l1_block_number = l1_block;
            });
        }
    }

    /// Moves the transactions of proposal `id` to `Executed`.
    pub(super) fn executed(&mut self, id: u64, batch: &mut Batch) {
        for tx in self.statuses_of(id) {
            self.enter(tx, (TxStatus::Executed, None), false, batch, |_| {});
        }
        self.ops_done(batch);
    }

    /// Publishes the number of kept statuses by state.
    fn count_statuses(&self) {
        let mut counts = [("Pending", 0usize), ("ProvingBlock", 0), ("Processing", 0)];
        for record in self.statuses.values() {
            if let Some((_, n)) = counts.iter_mut().find(|(state, _)| *state == record.status().name()) {
                *n += 1;
            }
        }
        for (state, n) in counts {
            metrics::gauge!("surge_tx_statuses", "state" => state).set(n as f64);
        }
    }
}

impl Ledger {
    /// The kept status of `tx`: a sync transaction's, or any refused one's (within the retention).
    pub fn tx_status(&self, tx: &B256) -> Result<Option<StatusRecord>, LedgerStoreError> {
        let kept = {
            let st = self.state();
            st.statuses.get(tx).or_else(|| st.finalizing.get(tx)).cloned()
        };
        if let Some(record) = kept {
            return Ok(Some(record));
        }
        self.store.final_status(tx)
    }

    /// Changes whenever a status may have changed (see [`surge_sync::TxStatusSource::changes`]).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// After a write: subscriptions look again, and the gauge of kept statuses follows. Never called under
    /// `state`.
    pub(super) fn changed(&self) {
        self.state().count_statuses();
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Where the proposal holding L2 block `number` is, while the ledger holds it.
    pub fn proposal_of_block(&self, number: u64) -> Option<BlockOnL1> {
        let st = self.state();
        let all = st.landed.iter().chain(&st.closed).chain(st.open.as_ref());
        let p = all.into_iter().find(|p| p.blocks.iter().any(|b| b.number == number))?;
        let l1_tx = st.l1_txs.values().filter(|r| r.proposal == p.id).find_map(carrying);
        let l1_tx = p.landed.map(|at| at.tx).or(l1_tx);
        Some(BlockOnL1 { proposal: p.id, l1_tx, l1_block: p.landed.map(|at| at.block) })
    }

    /// The unwind of the blocks from `from` on, about to happen, happens because of `reason` (the roll-back
    /// its transactions record; an unwind from elsewhere does not take it).
    pub fn note_rollback(&self, from: u64, reason: String) {
        self.state().rollback = Some((from, reason));
    }

    /// `safe` moved to L2 block `safe`: the kept statuses of transactions in blocks up to it are `Executed`.
    pub fn safe_moved(&self, safe: u64) {
        let _order = self.ordered();
        let mut st = self.state();
        let mut batch = Batch::default();
        let due: Vec<B256> = st
            .statuses
            .values()
            .filter(|r| r.view.details.l2_block_number.is_some_and(|n| n <= safe))
            .map(|r| r.tx)
            .collect();
        for tx in due {
            st.enter(tx, (TxStatus::Executed, None), false, &mut batch, |_| {});
        }
        st.ops_done(&mut batch);
        drop(st);
        self.write(batch, format_args!("statuses up to safe block {safe}"));
    }

    /// Records what became of transactions that left the pool unmined while the chain's head was `head`
    /// (one durable write). A refusal is final at once, or remembered for an unwind when the transaction is
    /// mined; a replacement or a drop is final only once the block being built then is accounted for
    /// without it ([`Self::settle_unpooled`]): that block may still carry it.
    pub fn record_pool_exits(&self, exits: Vec<PoolExit>, head: u64) -> Result<(), LedgerStoreError> {
        let _order = self.ordered();
        let mut st = self.state();
        let before = (st.statuses.clone(), st.exits.clone());
        let mut batch = Batch::default();
        for exit in exits {
            let (tx, reason, refused) = match exit {
                PoolExit::Invalid { tx, reason } => (tx, reason, true),
                PoolExit::Left { tx, reason } => (tx, reason, false),
            };
            let mined = st.statuses.get(&tx).map(|r| !matches!(r.status(), TxStatus::Pending));
            match (mined, refused) {
                // Mined: the chain says what became of it; a refusal counts if an unwind returns it.
                (Some(true), true) => drop(st.exits.insert(tx, Exit { reason, after: 0 })),
                (Some(true), false) => {}
                (Some(false), true) => st.enter(tx, (TxStatus::Rejected { reason }, None), false, &mut batch, |_| {}),
                (Some(false), false) => drop(st.exits.insert(tx, Exit { reason, after: head + 1 })),
                (None, true) => batch.statuses.push(StatusRecord::rejected(tx, reason, now_ms())),
                (None, false) => {}
            }
        }
        drop(st);
        self.commit(batch, before)
    }

    /// Ends the kept `Pending` statuses of transactions neither in the pool (`in_pool`) nor mined: `Rejected`
    /// with how they left (a replacement or a drop once the block then being built is accounted for), or as
    /// having left unmined (refused back into the pool after an unwind, or gone unseen).
    pub fn settle_unpooled(&self, in_pool: impl Fn(&B256) -> bool) {
        let _order = self.ordered();
        let mut st = self.state();
        let tip = st.tip.map_or(0, |(n, _)| n);
        let gone: Vec<(B256, String)> = st
            .statuses
            .values()
            .filter(|r| *r.status() == TxStatus::Pending && !st.is_op_key(&r.tx) && !in_pool(&r.tx))
            .filter_map(|r| match st.exits.get(&r.tx) {
                Some(exit) if exit.after > tip => None,
                Some(exit) => Some((r.tx, exit.reason.clone())),
                None => Some((r.tx, "left the pool without being mined".into())),
            })
            .collect();
        let mut batch = Batch::default();
        for (tx, reason) in gone {
            st.enter(tx, (TxStatus::Rejected { reason }, None), false, &mut batch, |_| {});
        }
        let State { exits, statuses, .. } = &mut *st;
        exits.retain(|tx, _| statuses.contains_key(tx));
        if batch.is_empty() {
            return;
        }
        drop(st);
        self.write(batch, format_args!("statuses of transactions gone from the pool"));
    }

    /// Writes `batch`; when the write fails, the statuses and remembered exits go back to `before`.
    pub(super) fn commit(
        &self,
        batch: Batch,
        before: (HashMap<B256, StatusRecord>, HashMap<B256, Exit>),
    ) -> Result<(), LedgerStoreError> {
        let finals = super::finals(&batch);
        let written = self.store.write(batch);
        if written.is_err() {
            let mut st = self.state();
            (st.statuses, st.exits) = before;
        }
        self.written(&finals);
        self.changed();
        written
    }

    /// Deletes the statuses that became final at `cutoff` (unix milliseconds) or before; how many.
    pub fn prune_statuses(&self, cutoff: u64) -> Result<usize, LedgerStoreError> {
        self.store.prune_statuses(cutoff)
    }
}

/// The hash of the last version of an L1 transaction record that carries its proposal.
pub(super) fn carrying(record: &crate::store::L1TxRecord) -> Option<B256> {
    record.versions.iter().rev().find(|v| !v.cancels).map(|v| v.hash)
}

impl State {
    /// Moves the kept statuses of `proposals`' transactions back to `ProvingBlock`, with why: an L1 reorg took
    /// their L1 transaction. `reopened` are final ones of theirs read from the store (`Executed` already: a
    /// reorg deeper than the confirmations), kept again until final once more.
    pub(super) fn back_to_proving(
        &mut self,
        proposals: &[ProposalRecord],
        reopened: Vec<StatusRecord>,
        batch: &mut Batch,
    ) {
        for record in reopened {
            self.statuses.insert(record.tx, record);
        }
        for p in proposals {
            let why = format!("an L1 reorg took proposal {}'s L1 transaction off L1", p.id);
            for tx in self.statuses_of(p.id) {
                let Some(block) = self.statuses.get(&tx).and_then(|r| r.view.details.l2_block_number) else {
                    continue;
                };
                let back = TxStatus::ProvingBlock { block_id: block };
                self.enter(tx, (back, Some(why.clone())), false, batch, |r| {
                    r.details().l1_tx_hash = None;
                    r.details().l1_block_number = None;
                });
            }
        }
    }
}
