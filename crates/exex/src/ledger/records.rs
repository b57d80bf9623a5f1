//! What the ledger's store keeps besides proposals: the block producer's rejections and the culprits'
//! cool-downs, each written durably as it happens.

use alloy_primitives::B256;
use tracing::warn;

use super::{Ledger, now};
use crate::{
    cooldown::{CoolDownConfig, CoolDownSnapshot, CoolDowns},
    store::{Batch, LedgerStoreError, Rejection},
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

    /// The recorded rejection of transaction `tx`.
    pub fn rejection(&self, tx: &B256) -> Result<Option<Rejection>, LedgerStoreError> {
        self.store.rejection(tx)
    }
}
