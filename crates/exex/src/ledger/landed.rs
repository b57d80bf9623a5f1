//! Proposals on L1: those whose L1 block is not final yet wait here, with their plans and the records of
//! their L1 transactions, until L1 finalizes that block; an L1 reorg that takes one off sends it, and every
//! later one, back to the front of the queue, to be proposed again at the nonces recorded for them. One
//! the inbox holds for good leaves at once.

use alloy_primitives::B256;

use super::{Ledger, State};
use crate::{
    proposal::{L1Inclusion, ProposalRecord},
    store::Batch,
};

impl Ledger {
    /// Proposal `id` is on L1 for good (the inbox holds it where L1 is final, or held it before a restart):
    /// it leaves the ledger with its plans (their L1 calls are in the L1 state now) and the record of its
    /// L1 transaction, in one write.
    pub fn proposed(&self, id: u64) {
        let _order = self.ordered();
        let mut st = self.state();
        if let Some(at) = st.closed.iter().position(|p| p.id == id) {
            st.closed.remove(at);
        } else if let Some(at) = st.landed.iter().position(|p| p.id == id) {
            st.landed.remove(at);
        } else {
            return;
        }
        let mut batch = Batch::default();
        st.executed(id, &mut batch);
        st.forget_proposal(id, &mut batch);
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        drop(st);
        self.write(batch, format_args!("proposal {id} on L1"));
    }

    /// Proposal `id` (closed, or on L1 already and now included elsewhere) is on L1 `at`.
    pub fn landed(&self, id: u64, at: L1Inclusion) {
        let _order = self.ordered();
        let mut st = self.state();
        let record = if let Some(i) = st.closed.iter().position(|p| p.id == id) {
            let mut p = st.closed.remove(i);
            p.landed = Some(at);
            st.landed.push(p.clone());
            st.landed.sort_by_key(|p| p.id);
            p
        } else if let Some(p) = st.landed.iter_mut().find(|p| p.id == id) {
            p.landed = Some(at);
            p.clone()
        } else {
            return;
        };
        let mut batch = Batch { proposals: vec![record], ..Default::default() };
        st.processing(id, at.tx, Some(at.block), &mut batch);
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        metrics::gauge!("surge_proposals_landed_not_final").set(st.landed.len() as f64);
        drop(st);
        self.write(batch, format_args!("proposal {id} on L1"));
    }

    /// The proposals on L1 whose L1 block is not final yet, in order.
    pub fn landed_proposals(&self) -> Vec<ProposalRecord> {
        self.state().landed.clone()
    }

    /// L1 no longer holds the landed proposals from `id` on (an L1 reorg): they go back to the front of the
    /// queue, in order, with their plans and transaction records. Their ids.
    pub fn reorged(&self, id: u64) -> Vec<u64> {
        let _order = self.ordered();
        // Their transactions already `Executed` (a reorg deeper than the confirmations), read from the store
        // before the state is taken.
        let executed: Vec<(u64, B256)> = {
            let st = self.state();
            let Some(at) = st.landed.iter().position(|p| p.id == id) else { return vec![] };
            let plans = st.landed[at..].iter().flat_map(|p| p.plans.iter().map(move |plan| (p.id, plan.tx_hash)));
            plans.filter(|(_, tx)| !st.statuses.contains_key(tx)).collect()
        };
        let reopened: Vec<_> = executed
            .into_iter()
            .filter_map(|(proposal, tx)| match self.store.final_status(&tx) {
                Ok(found) => found.filter(|r| r.view.details.proposal_id == Some(proposal)),
                Err(e) => {
                    tracing::warn!(%tx, "ledger: reading the status of a transaction an L1 reorg reopens: {e}");
                    None
                }
            })
            .collect();
        let mut st = self.state();
        let Some(at) = st.landed.iter().position(|p| p.id == id) else { return vec![] };
        let mut back: Vec<ProposalRecord> = st.landed.split_off(at);
        for p in &mut back {
            p.landed = None;
        }
        let ids = back.iter().map(|p| p.id).collect();
        let mut batch = Batch { proposals: back.clone(), ..Default::default() };
        st.back_to_proving(&back, reopened, &mut batch);
        back.append(&mut st.closed);
        st.closed = back;
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        metrics::gauge!("surge_proposals_landed_not_final").set(st.landed.len() as f64);
        drop(st);
        self.write(batch, format_args!("proposals from {id} off L1"));
        self.closed.notify_one();
        ids
    }

    /// L1 finalized its blocks up to `number`: the landed proposals in them leave the ledger for good. The
    /// last L2 block they carry, if any left.
    pub fn final_on_l1(&self, number: u64) -> Option<u64> {
        let _order = self.ordered();
        let mut st = self.state();
        let count = st.landed.iter().take_while(|p| p.landed.is_some_and(|at| at.block <= number)).count();
        if count == 0 {
            return None;
        }
        let finals: Vec<ProposalRecord> = st.landed.drain(..count).collect();
        let mut batch = Batch::default();
        for p in &finals {
            st.executed(p.id, &mut batch);
            st.forget_proposal(p.id, &mut batch);
        }
        metrics::gauge!("surge_proposals_landed_not_final").set(st.landed.len() as f64);
        drop(st);
        self.write(batch, format_args!("proposals final on L1 up to block {number}"));
        finals.iter().rev().find_map(|p| p.blocks.last().map(|b| b.number))
    }
}

impl State {
    /// Deletes proposal `id` with its plans and the records of its L1 transactions, into `batch`.
    fn forget_proposal(&mut self, id: u64, batch: &mut Batch) {
        batch.delete_proposals.push(id);
        let nonces: Vec<u64> = self.l1_txs.values().filter(|r| r.proposal == id).map(|r| r.nonce).collect();
        for nonce in nonces {
            self.l1_txs.remove(&nonce);
            batch.delete_l1_txs.push(nonce);
        }
        let keys: Vec<B256> = self.records.iter().filter(|(_, r)| r.proposal == Some(id)).map(|(k, _)| *k).collect();
        for key in keys {
            self.remove(&key);
            batch.delete_plans.push(key);
        }
    }
}
