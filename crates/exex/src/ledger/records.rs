//! What the ledger's store keeps besides proposals and statuses: the culprits' cool-downs and the
//! proposer's L1 transactions, each written durably as it happens.

use alloy_primitives::Bytes;
use tracing::warn;

use super::Ledger;
use crate::{
    cooldown::{CoolDownConfig, CoolDownSnapshot, CoolDowns},
    store::{Batch, L1TxRecord, LedgerStoreError},
};

impl Ledger {
    /// Records the cool-downs, durably (a restart must not forgive a culprit).
    pub fn record_cooldowns(&self, cooldowns: CoolDownSnapshot) -> Result<(), LedgerStoreError> {
        self.store.write(Batch { cooldowns: Some(cooldowns), ..Default::default() })
    }

    /// Cool-downs growing by `config`, as last recorded (a restart forgives no culprit).
    pub fn cooldowns(&self, config: CoolDownConfig) -> CoolDowns {
        let cooldowns = CoolDowns::new(config);
        match self.store.cooldowns() {
            Ok(recorded) => recorded.into_iter().for_each(|c| cooldowns.restore(c)),
            Err(e) => warn!("reading the recorded cool-downs: {e}"),
        }
        cooldowns
    }

    /// The proposer's L1 transactions not settled yet, by nonce.
    pub fn l1_txs(&self) -> Vec<L1TxRecord> {
        self.state().l1_txs.values().cloned().collect()
    }

    /// The record of proposal `id`'s L1 transaction, if one was signed.
    pub fn l1_tx_of(&self, id: u64) -> Option<L1TxRecord> {
        self.state().l1_txs.values().find(|r| r.proposal == id).cloned()
    }

    /// Records `record`, with `raw`, the encoding of its last transaction, durably: a transaction is sent
    /// only once this returned. Its proposal's transactions are `Processing` in its last version that
    /// carries the proposal.
    pub fn record_l1_tx(&self, record: L1TxRecord, raw: Bytes) -> Result<(), LedgerStoreError> {
        let _order = self.ordered();
        let mut batch = Batch { l1_txs: vec![(record.clone(), Some(raw))], ..Default::default() };
        let mut st = self.state();
        let before = (st.statuses.clone(), st.exits.clone());
        if let Some(hash) = super::statuses::carrying(&record) {
            st.processing(record.proposal, hash, None, &mut batch);
        }
        drop(st);
        self.commit(batch, before)?;
        self.state().l1_txs.insert(record.nonce, record);
        Ok(())
    }

    /// Forgets the record of L1 nonce `nonce`: it is settled (included, or never to be used by it).
    pub fn forget_l1_tx(&self, nonce: u64) -> Result<(), LedgerStoreError> {
        self.store.write(Batch { delete_l1_txs: vec![nonce], ..Default::default() })?;
        self.state().l1_txs.remove(&nonce);
        Ok(())
    }

    /// The encoding of the last transaction recorded for L1 nonce `nonce`.
    pub fn l1_raw(&self, nonce: u64) -> Result<Option<Bytes>, LedgerStoreError> {
        self.store.l1_raw(nonce)
    }
}
