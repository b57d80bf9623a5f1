//! What the ledger's store keeps besides proposals: the block producer's rejections, the culprits'
//! cool-downs and the proposer's L1 transactions, each written durably as it happens.

use alloy_primitives::{B256, Bytes};
use tracing::warn;

use super::{Ledger, now};
use crate::{
    cooldown::{CoolDownConfig, CoolDownSnapshot, CoolDowns},
    store::{Batch, L1TxRecord, LedgerStoreError, Rejection},
};

impl Ledger {
    /// Records transactions the block producer rejected, with their reasons (one durable write).
    pub fn record_rejections(&self, rejected: Vec<(B256, String)>) -> Result<(), LedgerStoreError> {
        let at = now();
        let rejections = rejected.into_iter().map(|(tx, reason)| (tx, Rejection { reason, at })).collect();
        self.store.write(Batch { rejections, ..Default::default() })
    }

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
    /// only once this returned.
    pub fn record_l1_tx(&self, record: L1TxRecord, raw: Bytes) -> Result<(), LedgerStoreError> {
        self.store.write(Batch { l1_txs: vec![(record.clone(), Some(raw))], ..Default::default() })?;
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

    /// The recorded rejection of transaction `tx`.
    pub fn rejection(&self, tx: &B256) -> Result<Option<Rejection>, LedgerStoreError> {
        self.store.rejection(tx)
    }
}
