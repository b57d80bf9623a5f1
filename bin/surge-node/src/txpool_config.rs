//! The L2 pool's limits: geth's per-sender slots, queue and lifetime (`--txpool.accountslots`,
//! `--txpool.accountqueue`, `--txpool.lifetime`) and reth's sub-pool byte caps (`--txpool.pending-max-size`,
//! `--txpool.queued-max-size`, in MB), each also a key of `[txpool]` in the file.

use std::time::Duration;

use serde::Deserialize;

use crate::{config::ConfigError, rpc_config::at_least_one};

/// `[txpool]`: geth's per-sender limits and lifetime, reth's sub-pool byte caps (in MB, as reth's flags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxPoolSection {
    account_slots: Option<u64>,
    account_queue: Option<u64>,
    lifetime_secs: Option<u64>,
    pending_max_size: Option<u64>,
    queued_max_size: Option<u64>,
}

/// The `--txpool.*` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxPoolFlags {
    /// `--txpool.accountslots`.
    pub account_slots: Option<u64>,
    /// `--txpool.accountqueue`.
    pub account_queue: Option<u64>,
    /// `--txpool.lifetime` (seconds).
    pub lifetime: Option<u64>,
    /// `--txpool.pending-max-size` (MB).
    pub pending_max_size: Option<u64>,
    /// `--txpool.queued-max-size` (MB).
    pub queued_max_size: Option<u64>,
}

/// The L2 pool's limits, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxPoolLimits {
    /// Executable transactions per sender.
    pub account_slots: usize,
    /// Queued transactions per sender.
    pub account_queue: usize,
    /// How long a sender may send nothing before its queued transactions are evicted.
    pub lifetime: Duration,
    /// Bytes of pending transactions.
    pub pending_max_bytes: usize,
    /// Bytes of queued transactions.
    pub queued_max_bytes: usize,
}

impl TxPoolLimits {
    /// Sets these limits in a pool's rules.
    pub fn apply(&self, config: &mut surge_txpool::PoolConfig) {
        config.account_slots = self.account_slots;
        config.account_queue = self.account_queue;
        config.lifetime = self.lifetime;
        config.pending_max_bytes = self.pending_max_bytes;
        config.queued_max_bytes = self.queued_max_bytes;
    }
}

impl TxPoolSection {
    /// `flags` over the file, geth's and reth's defaults where unset; a zero names its flag or key.
    pub fn resolve(&self, flags: &TxPoolFlags) -> Result<TxPoolLimits, ConfigError> {
        let pick =
            |flag: (&str, Option<u64>), key: (&str, Option<u64>), default: u64| at_least_one([flag, key], default);
        let count = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        let megabytes = |v: u64| count(v.saturating_mul(1024 * 1024));
        let default_mb = (surge_txpool::DEFAULT_SUBPOOL_MAX_BYTES / (1024 * 1024)) as u64;
        let slots = pick(
            ("--txpool.accountslots", flags.account_slots),
            ("txpool.account_slots", self.account_slots),
            surge_txpool::DEFAULT_ACCOUNT_SLOTS as u64,
        )?;
        let queue = pick(
            ("--txpool.accountqueue", flags.account_queue),
            ("txpool.account_queue", self.account_queue),
            surge_txpool::DEFAULT_ACCOUNT_QUEUE as u64,
        )?;
        let lifetime = pick(
            ("--txpool.lifetime", flags.lifetime),
            ("txpool.lifetime_secs", self.lifetime_secs),
            surge_txpool::DEFAULT_LIFETIME.as_secs(),
        )?;
        let pending = pick(
            ("--txpool.pending-max-size", flags.pending_max_size),
            ("txpool.pending_max_size", self.pending_max_size),
            default_mb,
        )?;
        let queued = pick(
            ("--txpool.queued-max-size", flags.queued_max_size),
            ("txpool.queued_max_size", self.queued_max_size),
            default_mb,
        )?;
        Ok(TxPoolLimits {
            account_slots: count(slots),
            account_queue: count(queue),
            lifetime: Duration::from_secs(lifetime),
            pending_max_bytes: megabytes(pending),
            queued_max_bytes: megabytes(queued),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FlagValues, Settings};

    #[test]
    fn txpool_limits_default_to_geths_and_reths_and_flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let d = Settings::resolve(&FlagValues::default(), &|_| None).unwrap().txpool;
        let mb = 1024 * 1024;
        assert_eq!((d.account_slots, d.account_queue, d.lifetime.as_secs()), (16, 64, 3 * 3600));
        assert_eq!((d.pending_max_bytes, d.queued_max_bytes), (20 * mb, 20 * mb));
        std::fs::write(&file, "[txpool]\naccount_queue = 8\nlifetime_secs = 60\nqueued_max_size = 2\n").unwrap();
        let mut flags = FlagValues { config: Some(file.clone()), ..Default::default() };
        let t = Settings::resolve(&flags, &|_| None).unwrap().txpool;
        assert_eq!((t.account_queue, t.lifetime.as_secs(), t.queued_max_bytes), (8, 60, 2 * mb));
        flags.txpool = TxPoolFlags { account_queue: Some(4), pending_max_size: Some(1), ..Default::default() };
        let t = Settings::resolve(&flags, &|_| None).unwrap().txpool;
        assert_eq!((t.account_queue, t.pending_max_bytes, t.account_slots), (4, mb, 16), "flag beats file");
        let mut pool = surge_txpool::PoolConfig::ethereum(1, 30_000_000);
        t.apply(&mut pool);
        assert_eq!((pool.account_queue, pool.lifetime.as_secs(), pool.queued_max_bytes), (4, 60, 2 * mb));
        flags.txpool.account_slots = Some(0);
        assert_eq!(Settings::resolve(&flags, &|_| None).unwrap_err().field, "--txpool.accountslots");
        std::fs::write(&file, "[txpool]\nlifetime_secs = 0\n").unwrap();
        let e = Settings::resolve(&FlagValues { config: Some(file), ..Default::default() }, &|_| None).unwrap_err();
        assert_eq!(e.field, "txpool.lifetime_secs");
    }
}
