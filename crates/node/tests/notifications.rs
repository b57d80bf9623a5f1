//! Chain notifications: commits with their state changes, a reorg that replaces two blocks with a different
//! branch, a revert, a subscriber catching up from a finished height, finished heights, and a subscriber
//! slower than the chain that misses nothing while its buffer stays bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, TxKind, U256};
use std::collections::BTreeMap;

use common::{TestChain, key, signed_1559};
use surge_host::{
    ChainSpec, ExecutedBlock, Store, StoreError,
    execute::{BlockInput, execute_block},
    notifications::Chain,
};
use surge_interfaces::{ChainNotification, ChainNotifications, FinishedHeight, SubscribeError};

fn build(
    store: &Store,
    spec: &ChainSpec,
    txs: Vec<Recovered<TxEnvelope>>,
    salt: u8,
) -> Result<ExecutedBlock, StoreError> {
    let parent = store.head()?;
    // The coinbase tells the branches apart.
    let input = BlockInput { fee_recipient: Address::repeat_byte(salt), ..common::next_input(&parent) };
    Ok(execute_block(spec, store.latest_state()?, &parent, &input, txs).unwrap())
}

fn transfers(nonces: &mut BTreeMap<Address, u64>, n: u64, to: u8) -> Vec<Recovered<TxEnvelope>> {
    (0..n)
        .map(|_| signed_1559(nonces, &key(0), TxKind::Call(Address::repeat_byte(to)), U256::from(1), vec![]))
        .collect()
}

async fn next(sub: &mut ChainNotifications) -> ChainNotification {
    tokio::time::timeout(std::time::Duration::from_secs(10), sub.next()).await.unwrap().unwrap().unwrap()
}

#[tokio::test]
async fn commit_reorg_revert_and_catch_up() {
    let TestChain { dir: _dir, spec, store, mut nonces } = TestChain::new();
    let mut chain = Chain::new(store, 64).unwrap();
    let hub = chain.hub();
    let mut sub = hub.subscribe(None).unwrap();

    let mut first_branch = vec![];
    for i in 0..4 {
        let txs = transfers(&mut nonces, i + 1, 0x10);
        let block = build(chain.store(), &spec, txs, 1).unwrap();
        first_branch.push(chain.commit(block).unwrap());
    }
    for (i, header) in first_branch.iter().enumerate() {
        let ChainNotification::Committed { new } = next(&mut sub).await else { panic!("expected Committed") };
        assert_eq!(new.len(), 1);
        assert_eq!(&new[0].header, header);
        assert_eq!(new[0].receipts.len(), i + 1);
        assert_eq!(new[0].senders, vec![key(0).address(); i + 1]);
        let sender = new[0].changes.accounts.iter().find(|a| a.address == key(0).address()).unwrap();
        let (before, after) = (sender.before.unwrap(), sender.after.unwrap());
        assert_eq!(after.nonce, before.nonce + i as u64 + 1, "state changes carry the values before and after");
    }

    // Unwind two blocks and commit a different branch of two.
    nonces.insert(key(0).address(), 3); // blocks 1 and 2 used nonces 0..3
    let branch: Vec<Vec<_>> = vec![transfers(&mut nonces, 2, 0x20), transfers(&mut nonces, 1, 0x21)];
    let spec2 = spec.clone();
    let builders = branch.into_iter().map(|txs| {
        let spec = spec2.clone();
        move |store: &Store| build(store, &spec, txs, 2)
    });
    chain.reorg(2, builders).unwrap();
    let ChainNotification::Reorged { old, new } = next(&mut sub).await else { panic!("expected Reorged") };
    assert_eq!(old.iter().map(|b| b.header.clone()).collect::<Vec<_>>(), first_branch[2..].to_vec());
    assert_eq!(new.len(), 2);
    assert_eq!(new[0].header.header.number, 3);
    assert_ne!(new[0].header.hash, first_branch[2].hash);
    assert_eq!(chain.store().head().unwrap(), new[1].header);

    // A consumer that had finished block 1 catches up: blocks 2..=4 of the new branch.
    let one = FinishedHeight { number: 1, hash: first_branch[0].hash };
    let mut late = hub.subscribe(Some(one)).unwrap();
    let ChainNotification::Committed { new: caught } = next(&mut late).await else { panic!() };
    assert_eq!(caught.iter().map(|b| b.header.header.number).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(caught[1].header, new[0].header);
    // A finished block that was reorged away is refused, naming the canonical one.
    let gone = FinishedHeight { number: 3, hash: first_branch[2].hash };
    assert!(matches!(hub.subscribe(Some(gone)), Err(SubscribeError::NotCanonical { number: 3, .. })));

    // Revert the head.
    chain.revert_to(3).unwrap();
    for rx in [&mut sub, &mut late] {
        let ChainNotification::Reverted { old } = next(rx).await else { panic!() };
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].header, new[1].header);
    }

    // Finished heights: known only once every consumer reported (one that resumed from a finished height
    // has reported that one).
    assert_eq!(hub.min_finished_height(), None);
    sub.finished(FinishedHeight { number: 3, hash: new[0].header.hash });
    assert_eq!(hub.min_finished_height(), Some(1));
    late.finished(FinishedHeight { number: 2, hash: caught[0].header.hash });
    assert_eq!(hub.min_finished_height(), Some(2));
    drop(late);
    nonces.insert(key(0).address(), 5); // the reverted block held nonce 5
    chain.commit(build(chain.store(), &spec, transfers(&mut nonces, 1, 0x30), 3).unwrap()).unwrap();
    assert_eq!(hub.min_finished_height(), Some(3), "a dropped consumer no longer holds pruning back");
}

/// A consumer with room for 4 notifications while 40 blocks, a revert of blocks it had seen and 10 more
/// blocks go by: it reads every block once, in order, sees the revert of what it had seen, and its buffer
/// never holds more than 4.
#[tokio::test]
async fn a_lagging_subscriber_misses_nothing_and_stays_bounded() {
    let TestChain { dir: _dir, spec, store, mut nonces } = TestChain::new();
    let mut chain = Chain::new(store, 4).unwrap();
    let mut slow = chain.hub().subscribe(None).unwrap();
    let mut max_depth = 0;
    let mut hashes = vec![];
    for _ in 0..40 {
        let txs = transfers(&mut nonces, 1, 0x40);
        hashes.push(chain.commit(build(chain.store(), &spec, txs, 4).unwrap()).unwrap().hash);
        max_depth = max_depth.max(slow.depth());
    }
    // It reads the first two notifications, then blocks 39 and 40 are reverted and 10 others committed.
    let mut seen: Vec<(u64, alloy_primitives::B256)> = vec![];
    for _ in 0..2 {
        for b in next(&mut slow).await.committed().unwrap().iter() {
            seen.push((b.number(), b.header.hash));
        }
    }
    chain.revert_to(38).unwrap();
    nonces.insert(key(0).address(), 38);
    hashes.truncate(38);
    for _ in 0..10 {
        let txs = transfers(&mut nonces, 1, 0x41);
        hashes.push(chain.commit(build(chain.store(), &spec, txs, 5).unwrap()).unwrap().hash);
        max_depth = max_depth.max(slow.depth());
    }
    let mut reverted = vec![];
    while seen.last().map(|s| s.1) != hashes.last().copied() {
        match next(&mut slow).await {
            ChainNotification::Committed { new } => seen.extend(new.iter().map(|b| (b.number(), b.header.hash))),
            ChainNotification::Reverted { old } => {
                let gone: Vec<u64> = old.iter().map(|b| b.number()).collect();
                seen.retain(|(n, _)| !gone.contains(n));
                reverted.extend(gone);
            }
            n => panic!("unexpected {n:?}"),
        }
        max_depth = max_depth.max(slow.depth());
    }
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), hashes, "every canonical block once, in order");
    assert!(reverted.iter().all(|n| *n > 38), "only blocks above the unwind target are reported reverted");
    assert!(max_depth <= 4, "the buffer stayed within its capacity ({max_depth})");
}

/// Every change a notification carries is the state before and after its block (contract creation,
/// storage writes and clears, self-destruct included).
#[test]
fn state_changes_are_the_values_before_and_after_each_block() {
    use revm::DatabaseRef;
    let mut t = TestChain::new();
    let w = common::workload(&mut t);
    for txs in w.blocks {
        t.block(txs);
    }
    let head = t.store.head().unwrap().header.number;
    let blocks = surge_host::notifications::load_blocks(&t.store, 1..=head).unwrap();
    assert_eq!(blocks.len() as u64, head);
    let mut slots = 0;
    for b in &blocks {
        let (pre, post) = (t.store.state_at(b.number() - 1).unwrap(), t.store.state_at(b.number()).unwrap());
        let values = |a: Option<surge_host::storage::tables::StoredAccount>| {
            a.map(|a| surge_interfaces::AccountValues { nonce: a.nonce, balance: a.balance, code_hash: a.code_hash })
        };
        for a in &b.changes.accounts {
            assert_eq!(values(pre.account(&a.address).unwrap()), a.before, "block {} {}", b.number(), a.address);
            assert_eq!(values(post.account(&a.address).unwrap()), a.after, "block {} {}", b.number(), a.address);
        }
        for s in &b.changes.storage {
            let key = U256::from_be_bytes(s.slot.0);
            assert_eq!(pre.storage_ref(s.address, key).unwrap(), s.before);
            assert_eq!(post.storage_ref(s.address, key).unwrap(), s.after);
            slots += 1;
        }
    }
    assert!(slots > 0);
}
