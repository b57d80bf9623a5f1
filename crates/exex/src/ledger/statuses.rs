//! The statuses of sync transactions, moved on by the ledger's own changes, in the same writes: a plan
//! recorded starts one (`Pending`); its block accounted for makes it `ProvingBlock`; its proposal's L1
//! transaction signed makes it `Processing` (a replacement or an inclusion elsewhere names the new one);
//! `safe` reaching its block, or the inbox holding its proposal, makes it `Executed`. Taken back — its block
//! unwound, or its proposal's L1 transaction reorged out — it goes back, the roll-back recorded with why.
//! Leaving the pool unmined makes it `Rejected`. Statuses that are not final live in memory and in the
//! store; final ones in the store alone, until their retention ends.

use alloy_primitives::B256;
use surge_sync::TxStatus;

use super::{Ledger, State};
use crate::{
    proposal::ProposalRecord,
    status_record::{BlockOnL1, PoolExit, StatusRecord, now_ms},
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
        if !record.status().is_final() {
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
    }

    /// Publishes the number of kept statuses by state.
    pub(super) fn count_statuses(&self) {
        for state in ["Pending", "ProvingBlock", "Processing"] {
            let count = self.statuses.values().filter(|r| r.status().name() == state).count();
            metrics::gauge!("surge_tx_statuses", "state" => state).set(count as f64);
        }
    }
}

impl Ledger {
    /// The kept status of `tx`: a sync transaction's, or any refused one's (within the retention).
    pub fn tx_status(&self, tx: &B256) -> Result<Option<StatusRecord>, LedgerStoreError> {
        if let Some(record) = self.state().statuses.get(tx) {
            return Ok(Some(record.clone()));
        }
        self.store.final_status(tx)
    }

    /// Changes whenever a status may have changed (see [`surge_sync::TxStatusSource::changes`]).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(super) fn changed(&self) {
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

    /// The next unwind happens because of `reason` (the roll-back its transactions record).
    pub fn note_rollback(&self, reason: String) {
        self.state().rollback = Some(reason);
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
        st.count_statuses();
        drop(st);
        self.write(batch, format_args!("statuses up to safe block {safe}"));
        self.changed();
    }

    /// Records what became of transactions that left the pool unmined (one durable write).
    pub fn record_pool_exits(&self, exits: Vec<PoolExit>) -> Result<(), LedgerStoreError> {
        let _order = self.ordered();
        let mut st = self.state();
        let mut batch = Batch::default();
        for exit in exits {
            let (tx, reason, any) = match exit {
                PoolExit::Invalid { tx, reason } => (tx, reason, true),
                PoolExit::Left { tx, reason } => (tx, reason, false),
            };
            let rejected = TxStatus::Rejected { reason: reason.clone() };
            match st.statuses.get(&tx).map(|r| r.status().clone()) {
                // Mined (or on its way to L1): the chain says what became of it, not the pool.
                Some(TxStatus::ProvingBlock { .. } | TxStatus::Processing { .. }) => {}
                Some(_) => st.enter(tx, (rejected, None), false, &mut batch, |_| {}),
                None if any => batch.statuses.push(StatusRecord::rejected(tx, reason, now_ms())),
                None => {}
            }
        }
        st.count_statuses();
        drop(st);
        self.store.write(batch)?;
        self.changed();
        Ok(())
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

/// Moves the kept statuses of `proposals`' transactions (final ones read from the store) back to
/// `ProvingBlock`, with `why`: an L1 reorg took their L1 transaction.
pub(super) fn back_to_proving(
    ledger: &Ledger,
    st: &mut State,
    proposals: &[ProposalRecord],
    batch: &mut Batch,
) -> Result<(), LedgerStoreError> {
    for p in proposals {
        let why = format!("an L1 reorg took proposal {}'s L1 transaction off L1", p.id);
        let mut txs = st.statuses_of(p.id);
        for plan in &p.plans {
            if txs.contains(&plan.tx_hash) || st.statuses.contains_key(&plan.tx_hash) {
                continue;
            }
            // Executed already (a reorg deeper than the confirmations): kept again until final once more.
            if let Some(record) = ledger.store.final_status(&plan.tx_hash)?
                && record.view.details.proposal_id == Some(p.id)
            {
                st.statuses.insert(plan.tx_hash, record);
                txs.push(plan.tx_hash);
            }
        }
        for tx in txs {
            let Some(block) = st.statuses.get(&tx).and_then(|r| r.view.details.l2_block_number) else { continue };
            let back = TxStatus::ProvingBlock { block_id: block };
            st.enter(tx, (back, Some(why.clone())), false, batch, |r| {
                r.details().l1_tx_hash = None;
                r.details().l1_block_number = None;
            });
        }
    }
    Ok(())
}
