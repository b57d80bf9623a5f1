//! Cool-downs after a bundle reverted on L1 (or would have): the culprit's sender is not planned again for a
//! while, longer with each repeat, so that one user cannot make the proposer roll back over and over. An L1
//! target (the contract a leg calls) cools down only once culprits from several distinct senders went
//! through it: one attacker must not lock a shared app for everyone.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::Duration,
};

use alloy_primitives::Address;

/// How cool-downs grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolDownConfig {
    /// The first cool-down; each repeat doubles it.
    pub base: Duration,
    /// The longest cool-down.
    pub max: Duration,
    /// Distinct culprit senders through one L1 target before the target cools down.
    pub target_senders: usize,
}

impl Default for CoolDownConfig {
    fn default() -> Self {
        Self { base: Duration::from_secs(3600), max: Duration::from_secs(7 * 24 * 3600), target_senders: 3 }
    }
}

/// One cooled account: how often it was blamed and until when it waits (unix seconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Cooling {
    strikes: u32,
    until: u64,
}

impl Cooling {
    /// One more strike at `now`: the cool-down doubles with each.
    fn strike(&mut self, now: u64, config: &CoolDownConfig) -> u64 {
        self.strikes = self.strikes.saturating_add(1);
        let factor = 1u32.checked_shl(self.strikes - 1).unwrap_or(u32::MAX);
        let span = config.base.saturating_mul(factor).min(config.max);
        self.until = now.saturating_add(span.as_secs());
        self.until
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Inner {
    senders: HashMap<Address, Cooling>,
    targets: HashMap<Address, Cooling>,
    /// Culprit senders seen through each target since it last cooled down.
    target_culprits: HashMap<Address, HashSet<Address>>,
}

/// The cool-downs as they are kept on disk (a restart must not forgive a culprit).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CoolDownSnapshot(Inner);

/// What a blame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blamed {
    /// The sender waits until then (unix seconds).
    pub sender_until: u64,
    /// The target too, when this culprit was the last one it took.
    pub target_until: Option<u64>,
}

/// The active cool-downs, shared by the proposer (which blames) and the txpool watcher (which refuses).
#[derive(Debug, Default)]
pub struct CoolDowns {
    config: CoolDownConfig,
    inner: Mutex<Inner>,
}

impl CoolDowns {
    /// No cool-downs yet, growing by `config`.
    pub fn new(config: CoolDownConfig) -> Self {
        Self { config, inner: Mutex::default() }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `sender`'s transaction made a bundle revert through L1 contract `target` at `now` (unix seconds).
    pub fn blame(&self, sender: Address, target: Address, now: u64) -> Blamed {
        let config = self.config;
        let mut guard = self.inner();
        let inner = &mut *guard;
        let sender_until = inner.senders.entry(sender).or_default().strike(now, &config);
        let culprits = inner.target_culprits.entry(target).or_default();
        culprits.insert(sender);
        let target_until = (culprits.len() >= config.target_senders).then(|| {
            culprits.clear();
            inner.targets.entry(target).or_default().strike(now, &config)
        });
        metrics::counter!("surge_culprits_total").increment(1);
        drop(guard);
        self.report(now);
        Blamed { sender_until, target_until }
    }

    /// Why a transaction of `sender` whose legs call `targets` gets no plan at `now`, if it cools down.
    pub fn refusal(&self, sender: Address, targets: impl IntoIterator<Item = Address>, now: u64) -> Option<String> {
        let inner = self.inner();
        if let Some(c) = inner.senders.get(&sender).filter(|c| c.until > now) {
            return Some(format!(
                "its sender {sender} cools down for {}s: a transaction of it made a proposal revert on L1",
                c.until - now
            ));
        }
        targets.into_iter().find_map(|target| {
            inner.targets.get(&target).filter(|c| c.until > now).map(|c| {
                format!(
                    "L1 contract {target} cools down for {}s: transactions of several senders calling it made \
                     proposals revert on L1",
                    c.until - now
                )
            })
        })
    }

    /// Everything to keep across a restart.
    pub fn snapshot(&self) -> CoolDownSnapshot {
        CoolDownSnapshot(self.inner().clone())
    }

    /// Takes over `snapshot` (kept before a restart).
    pub fn restore(&self, snapshot: CoolDownSnapshot) {
        *self.inner() = snapshot.0;
    }

    /// The senders and targets cooling down at `now`.
    pub fn list(&self, now: u64) -> Vec<surge_sync::CoolDownStatus> {
        let inner = self.inner();
        let of = |kind: &str, m: &HashMap<Address, Cooling>| -> Vec<surge_sync::CoolDownStatus> {
            let active = m.iter().filter(|(_, c)| c.until > now);
            let status = |(a, c): (&Address, &Cooling)| surge_sync::CoolDownStatus {
                kind: kind.into(),
                address: *a,
                until: c.until,
                strikes: c.strikes,
            };
            active.map(status).collect()
        };
        let mut all = of("sender", &inner.senders);
        all.extend(of("target", &inner.targets));
        all.sort_by_key(|c| (c.until, c.address));
        all
    }

    /// How many senders and targets cool down at `now`.
    pub fn active(&self, now: u64) -> (usize, usize) {
        let inner = self.inner();
        let count = |m: &HashMap<Address, Cooling>| m.values().filter(|c| c.until > now).count();
        (count(&inner.senders), count(&inner.targets))
    }

    /// Sets the gauges of active cool-downs.
    fn report(&self, now: u64) {
        let (senders, targets) = self.active(now);
        metrics::gauge!("surge_cooldowns_active", "kind" => "sender").set(senders as f64);
        metrics::gauge!("surge_cooldowns_active", "kind" => "target").set(targets as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_cools_down_longer_each_time_and_a_target_only_after_three_distinct_senders() {
        let cool = CoolDowns::new(CoolDownConfig { base: Duration::from_secs(100), ..Default::default() });
        let (a, b, c, app) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3), Address::ZERO);
        let now = 1_000;
        assert_eq!(cool.blame(a, app, now), Blamed { sender_until: 1_100, target_until: None });
        assert!(cool.refusal(a, [app], now + 99).is_some_and(|r| r.contains("cools down for 1s")));
        assert_eq!(cool.refusal(a, [app], now + 100), None, "over after the cool-down");
        assert_eq!(cool.blame(a, app, now).sender_until, 1_200, "doubled");
        assert_eq!(cool.blame(a, app, now).sender_until, 1_400);
        // One attacker, however often, leaves the app open to others.
        assert_eq!(cool.refusal(b, [app], now), None);
        assert_eq!(cool.blame(b, app, now).target_until, None);
        assert_eq!(cool.blame(c, app, now).target_until, Some(1_100), "the third distinct sender");
        let refused = cool.refusal(Address::repeat_byte(9), [Address::repeat_byte(7), app], now).unwrap();
        assert!(refused.contains(&app.to_string()), "{refused}");
        assert_eq!(cool.active(now), (3, 1));
        assert_eq!(cool.active(now + 10_000), (0, 0));
    }

    #[test]
    fn a_snapshot_restores_the_strikes_and_the_culprits_seen() {
        let cool =
            CoolDowns::new(CoolDownConfig { base: Duration::from_secs(100), target_senders: 2, ..Default::default() });
        cool.blame(Address::repeat_byte(1), Address::ZERO, 0);
        let json = serde_json::to_string(&cool.snapshot()).unwrap();
        let again =
            CoolDowns::new(CoolDownConfig { base: Duration::from_secs(100), target_senders: 2, ..Default::default() });
        again.restore(serde_json::from_str(&json).unwrap());
        assert_eq!(again.blame(Address::repeat_byte(1), Address::ZERO, 0).sender_until, 200, "the second strike");
        assert_eq!(again.blame(Address::repeat_byte(2), Address::ZERO, 0).target_until, Some(100), "two senders");
    }

    #[test]
    fn cool_downs_stop_growing_at_the_maximum() {
        let config =
            CoolDownConfig { base: Duration::from_secs(3600), max: Duration::from_secs(7200), target_senders: 3 };
        let cool = CoolDowns::new(config);
        for _ in 0..40 {
            cool.blame(Address::ZERO, Address::ZERO, 0);
        }
        assert_eq!(cool.blame(Address::ZERO, Address::ZERO, 0).sender_until, 7200);
    }
}
