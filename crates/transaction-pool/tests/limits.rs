//! geth's per-sender limits and reth's byte caps: 16 executable and 64 queued transactions per sender, a
//! balance that must cover all of a sender's transactions, a lifetime for queued transactions, and the
//! pending and queued sub-pools' byte caps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use alloy_primitives::U256;
use common::{GWEI, State, config, key, raw, sign, tx1559};
use surge_txpool::{PoolError, PoolEvent, SubPool, TxPool};

#[test]
fn a_sender_with_200_queued_gets_64_and_other_senders_are_unaffected() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let view = state.view();
    // Nonces 1..=200 with nonce 0 missing: all wait queued, and the 65th is one too many.
    let mut refused = vec![];
    for nonce in 1..=200 {
        match pool.add(&raw(0, nonce, 2 * GWEI, GWEI), &view) {
            Ok((_, sub)) => assert_eq!(sub, SubPool::Queued, "nonce {nonce}"),
            Err(e) => refused.push((nonce, e)),
        }
    }
    assert_eq!(refused.len(), 200 - 64);
    let (first, err) = &refused[0];
    assert_eq!(*first, 65);
    assert_eq!(*err, PoolError::AccountQueueFull { sender: key(0).address(), max: 64 });
    assert!(err.to_string().starts_with("account limit exceeded"), "{err}");
    assert_eq!(pool.queued().len(), 64);
    // Another sender still gets in, pending and queued.
    assert_eq!(pool.add(&raw(1, 0, 2 * GWEI, GWEI), &view).unwrap().1, SubPool::Pending);
    assert_eq!(pool.add(&raw(1, 5, 2 * GWEI, GWEI), &view).unwrap().1, SubPool::Queued);
    // Filling the gap is always taken: 16 become executable, the rest of the queue shrinks.
    assert_eq!(pool.add(&raw(0, 0, 2 * GWEI, GWEI), &view).unwrap().1, SubPool::Pending);
    let pending_of_0 = pool.pending().iter().filter(|t| t.sender == key(0).address()).count();
    assert_eq!(pending_of_0, 16);
    assert_eq!(pool.sender_transactions(&key(0).address()).len(), 65);
}

#[test]
fn the_17th_in_order_transaction_waits_queued_until_earlier_ones_are_mined() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let view = state.view();
    let hashes: Vec<_> = (0..20).map(|n| pool.add(&raw(0, n, 2 * GWEI, GWEI), &view).unwrap()).collect();
    assert!(hashes[..16].iter().all(|(_, sub)| *sub == SubPool::Pending));
    assert!(hashes[16..].iter().all(|(_, sub)| *sub == SubPool::Queued), "kept, not dropped");
    assert_eq!(pool.best_transactions().count(), 16, "a block takes the executable ones");
    events.try_iter().count();
    // Ten are mined: the four waiting ones become executable.
    state.set(0, 10, U256::from(10u128.pow(20)));
    let mined: Vec<_> = hashes[..10].iter().map(|(h, _)| *h).collect();
    pool.on_new_head(1, GWEI as u64, &mined, &view).unwrap();
    let promoted: Vec<_> =
        events.try_iter().filter_map(|e| if let PoolEvent::Pending(h) = e { Some(h) } else { None }).collect();
    assert_eq!(promoted, hashes[16..].iter().map(|(h, _)| *h).collect::<Vec<_>>());
    assert_eq!(pool.pending().len(), 10);
}

#[test]
fn a_balance_must_cover_all_of_a_senders_transactions_and_a_replacement_counts_once() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let view = state.view();
    let cost = |fee: u128| U256::from(21_000 * fee + 1);
    // Enough for three transactions at 10 gwei and a 20% bump of one of them.
    let balance = cost(10 * GWEI) * U256::from(3) + U256::from(21_000 * 2 * GWEI);
    state.set(0, 0, balance);
    for nonce in 0..3 {
        assert_eq!(pool.add(&raw(0, nonce, 10 * GWEI, GWEI), &view).unwrap().1, SubPool::Pending);
    }
    // Each is affordable alone; the fourth is not on top of the three before it.
    let err = pool.add(&raw(0, 3, 10 * GWEI, GWEI), &view).unwrap_err();
    assert_eq!(
        err,
        PoolError::InsufficientFunds { balance, cost: cost(10 * GWEI), pooled: cost(10 * GWEI) * U256::from(3) }
    );
    assert!(err.to_string().starts_with("insufficient funds for gas * price + value"), "{err}");
    // A queued one beyond a gap counts the pooled ones before it too.
    assert!(matches!(pool.add(&raw(0, 7, 10 * GWEI, GWEI), &view), Err(PoolError::InsufficientFunds { .. })));
    // Replacing the last one with a 20% bump: its predecessor's cost is not counted twice.
    pool.add(&raw(0, 2, 12 * GWEI, 2 * GWEI), &view).unwrap();
    // Doubling it does not fit.
    let err = pool.add(&raw(0, 2, 24 * GWEI, 4 * GWEI), &view).unwrap_err();
    assert!(matches!(err, PoolError::InsufficientFunds { .. }), "{err}");
    // Another sender is judged on its own balance.
    assert_eq!(pool.add(&raw(1, 0, 10 * GWEI, GWEI), &view).unwrap().1, SubPool::Pending);
    assert_eq!(pool.len(), 4);
}

#[test]
fn queued_transactions_expire_after_the_lifetime_and_pending_ones_stay() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let view = state.view();
    let added = Instant::now();
    let (pending, _) = pool.add(&raw(0, 0, 2 * GWEI, GWEI), &view).unwrap();
    let (gapped, sub) = pool.add(&raw(0, 2, 2 * GWEI, GWEI), &view).unwrap();
    assert_eq!(sub, SubPool::Queued);
    let (other, _) = pool.add(&raw(1, 4, 2 * GWEI, GWEI), &view).unwrap();
    events.try_iter().count();
    let lifetime = Duration::from_secs(3 * 60 * 60);
    assert_eq!(config().lifetime, lifetime, "geth's default");
    assert!(pool.evict_expired(added + lifetime - Duration::from_secs(60)).is_empty(), "not yet");
    let mut evicted = pool.evict_expired(Instant::now() + lifetime + Duration::from_secs(1));
    evicted.sort();
    let mut expected = vec![gapped, other];
    expected.sort();
    assert_eq!(evicted, expected);
    let got: Vec<_> = events.try_iter().collect();
    assert!(got.contains(&PoolEvent::Discarded(gapped)) && got.contains(&PoolEvent::Discarded(other)), "{got:?}");
    assert!(pool.get(&pending).is_some(), "pending transactions do not expire");
    assert_eq!(pool.len(), 1);
}

#[test]
fn a_sender_still_sending_keeps_its_queue_and_an_idle_one_loses_it_whole() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let view = state.view();
    let lifetime = config().lifetime;
    let first = Instant::now();
    let (two, _) = pool.add(&raw(3, 2, 2 * GWEI, GWEI), &view).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let last = Instant::now();
    let (three, _) = pool.add(&raw(3, 3, 2 * GWEI, GWEI), &view).unwrap();
    // Nonce 2 is a lifetime old, but its sender sent nonce 3 since: neither goes (nonce 3 alone would
    // wait behind a gap forever).
    assert!(pool.evict_expired(first + lifetime + Duration::from_millis(10)).is_empty());
    let mut evicted = pool.evict_expired(last + lifetime + Duration::from_millis(1));
    evicted.sort();
    let mut both = vec![two, three];
    both.sort();
    assert_eq!(evicted, both, "once the sender is idle for a lifetime, its whole queue goes");
}

#[test]
fn a_replacement_that_would_be_the_first_evicted_is_refused_and_the_original_stays() {
    let state = State::funded();
    let small = raw(0, 0, 10 * GWEI, 2 * GWEI);
    let other = raw(1, 0, 10 * GWEI, 5 * GWEI);
    let mut cfg = config();
    cfg.pending_max_bytes = small.len() + other.len() + 10;
    let mut pool = TxPool::new(cfg, GWEI as u64);
    let view = state.view();
    let (original, _) = pool.add(&small, &view).unwrap();
    let (kept, _) = pool.add(&other, &view).unwrap();
    // The same replacement with 200 bytes of calldata: over the cap, and the cheapest there.
    let mut bigger = tx1559(0, 0, 12 * GWEI, 3 * GWEI);
    bigger.input = vec![1u8; 200].into();
    bigger.gas_limit = 40_000;
    assert_eq!(pool.add(&sign(0, bigger), &view).unwrap_err(), PoolError::PoolFull);
    assert!(pool.get(&original).is_some() && pool.get(&kept).is_some(), "nothing left the pool");
    // One of the same size replaces it as always.
    let (replaced, _) = pool.add(&raw(0, 0, 12 * GWEI, 3 * GWEI), &view).unwrap();
    assert!(pool.get(&original).is_none() && pool.get(&replaced).is_some());
}

#[test]
fn byte_caps_evict_the_cheapest_and_refuse_a_cheaper_newcomer() {
    let state = State::funded();
    let queued: Vec<Vec<u8>> = (2..5).map(|tip| raw(tip as u8, 1, 10 * GWEI, tip * GWEI)).collect();
    let size = queued[0].len();
    let mut cfg = config();
    cfg.queued_max_bytes = queued.iter().map(Vec::len).sum::<usize>() + size / 2;
    cfg.pending_max_bytes = 2 * size + size / 2;
    let mut pool = TxPool::new(cfg.clone(), GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let view = state.view();
    let hashes: Vec<_> = queued.iter().map(|r| pool.add(r, &view).unwrap().0).collect();
    // A better-paying queued transaction pushes out the cheapest (tip 2).
    pool.add(&raw(5, 1, 10 * GWEI, 5 * GWEI), &view).unwrap();
    assert!(events.try_iter().any(|e| e == PoolEvent::Discarded(hashes[0])));
    assert!(pool.get(&hashes[0]).is_none());
    assert!(pool.queued_bytes() <= cfg.queued_max_bytes);
    // One paying less than everything queued is refused, and nothing else leaves.
    let cheap = raw(6, 1, 10 * GWEI, GWEI);
    assert_eq!(pool.add(&cheap, &view).unwrap_err(), PoolError::PoolFull);
    assert_eq!(pool.queued().len(), 3);

    // The pending cap the same way; the queued ones are untouched.
    let p7 = pool.add(&raw(7, 0, 10 * GWEI, 3 * GWEI), &view).unwrap().0;
    pool.add(&raw(8, 0, 10 * GWEI, 4 * GWEI), &view).unwrap();
    pool.add(&raw(1, 0, 10 * GWEI, 6 * GWEI), &view).unwrap();
    assert!(pool.get(&p7).is_none(), "the cheapest pending left");
    assert_eq!(pool.pending().len(), 2);
    assert!(pool.pending_bytes() <= cfg.pending_max_bytes);
    assert_eq!(pool.add(&raw(0, 0, 10 * GWEI, GWEI), &view).unwrap_err(), PoolError::PoolFull);
    assert_eq!(pool.queued().len(), 3);
}

/// A guard keeping the transactions it names (as the txpool watcher keeps planned ones).
#[derive(Debug)]
struct Keeps(std::collections::HashSet<alloy_primitives::B256>);

impl surge_interfaces::ReplacementGuard for Keeps {
    fn may_replace(&self, old: &surge_interfaces::PooledTx) -> Result<(), String> {
        if self.0.contains(&old.hash) { Err(format!("{} is kept", old.hash)) } else { Ok(()) }
    }

    fn may_evict(&self, tx: &surge_interfaces::PooledTx) -> bool {
        !self.0.contains(&tx.hash)
    }
}

#[test]
fn a_full_pool_evicts_around_guarded_transactions_and_refuses_when_only_they_are_left() {
    let state = State::funded();
    let view = state.view();
    let mut cfg = config();
    cfg.max_transactions = 3;
    let mut pool = TxPool::new(cfg, GWEI as u64);
    // Three cheap ones; the guard keeps the two cheapest.
    let cheap: Vec<_> =
        (0..3).map(|i| pool.add(&raw(i, 0, 2 * GWEI, GWEI + u128::from(i)), &view).unwrap().0).collect();
    pool.add_replacement_guard(std::sync::Arc::new(Keeps(cheap[..2].iter().copied().collect())));
    // A better-paying newcomer evicts the cheapest the guard does not keep.
    let (richer, _) = pool.add(&raw(3, 0, 10 * GWEI, 5 * GWEI), &view).unwrap();
    assert!(pool.get(&cheap[0]).is_some() && pool.get(&cheap[1]).is_some(), "the kept ones stay");
    assert!(pool.get(&cheap[2]).is_none(), "the unkept one made room");
    // Replacing a kept one is refused with the guard's reason, whatever it pays.
    let err = pool.add(&raw(0, 0, 20 * GWEI, 10 * GWEI), &view).unwrap_err();
    assert!(err.to_string().contains("is kept"), "{err}");
    // Only kept ones and a better payer are left: a newcomer paying less than that one is refused...
    assert_eq!(pool.add(&raw(4, 0, 3 * GWEI, 2 * GWEI), &view).unwrap_err(), PoolError::PoolFull);
    // ...and one paying more evicts it, never the kept ones.
    pool.add(&raw(5, 0, 30 * GWEI, 20 * GWEI), &view).unwrap();
    assert!(pool.get(&richer).is_none());
    assert!(pool.get(&cheap[0]).is_some() && pool.get(&cheap[1]).is_some());
}

#[test]
fn a_byte_cap_never_evicts_a_guarded_transaction_and_refuses_the_newcomer_instead() {
    let state = State::funded();
    let view = state.view();
    let size = raw(0, 0, 2 * GWEI, GWEI).len();
    let mut cfg = config();
    cfg.pending_max_bytes = 2 * size + size / 2;
    let mut pool = TxPool::new(cfg.clone(), GWEI as u64);
    let kept: Vec<_> = (0..2).map(|i| pool.add(&raw(i, 0, 2 * GWEI, GWEI), &view).unwrap().0).collect();
    pool.add_replacement_guard(std::sync::Arc::new(Keeps(kept.iter().copied().collect())));
    // Better paying, but the pending bytes are spent on kept transactions: the newcomer is the one out.
    assert_eq!(pool.add(&raw(2, 0, 50 * GWEI, 40 * GWEI), &view).unwrap_err(), PoolError::PoolFull);
    assert!(kept.iter().all(|h| pool.get(h).is_some()));
    assert!(pool.pending_bytes() <= cfg.pending_max_bytes);
    // Kept transactions alone over the pending cap (it shrank): a newcomer that waits queued is not refused
    // for the pending sub-pool's bytes.
    pool.config_mut().pending_max_bytes = size;
    let (_, sub) = pool.add(&raw(3, 1, 2 * GWEI, GWEI), &view).unwrap();
    assert_eq!(sub, SubPool::Queued);
    assert!(kept.iter().all(|h| pool.get(h).is_some()));
}
