//! Chain notifications: commits, a reorg that replaces two blocks with a different branch, a revert, a
//! late subscriber catching up, and finished heights.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, TxKind, U256};
use std::collections::BTreeMap;

use common::{TestChain, key, signed_1559};
use surge_host::{
    ChainSpec, ExecutedBlock, Store, StoreError,
    execute::{BlockInput, execute_block},
    notifications::{Chain, ChainNotification},
};

fn build(
    store: &Store,
    spec: &ChainSpec,
    txs: Vec<Recovered<TxEnvelope>>,
    salt: u8,
) -> Result<ExecutedBlock, StoreError> {
    let parent = store.head()?;
    // The coinbase tells the branches apart.
    let input = BlockInput { beneficiary: Address::repeat_byte(salt), ..common::next_input(&parent) };
    Ok(execute_block(spec, store.latest_state()?, &parent, &input, txs).unwrap())
}

fn transfers(nonces: &mut BTreeMap<Address, u64>, n: u64, to: u8) -> Vec<Recovered<TxEnvelope>> {
    (0..n)
        .map(|_| signed_1559(nonces, &key(0), TxKind::Call(Address::repeat_byte(to)), U256::from(1), vec![]))
        .collect()
}

#[test]
fn commit_reorg_revert_and_catch_up() {
    let TestChain { dir: _dir, spec, store, mut nonces } = TestChain::new();
    let mut chain = Chain::new(store);
    let sub = chain.subscribe();

    let mut first_branch = vec![];
    for i in 0..4 {
        let txs = transfers(&mut nonces, i + 1, 0x10);
        let block = build(chain.store(), &spec, txs, 1).unwrap();
        first_branch.push(chain.commit(block).unwrap());
    }
    for (i, n) in sub.receiver.try_iter().enumerate() {
        let ChainNotification::Committed { new } = n else { panic!("expected Committed, got {n:?}") };
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].header, first_branch[i]);
        assert_eq!(new[0].receipts.len(), i + 1);
        assert_eq!(new[0].senders, vec![key(0).address(); i + 1]);
        assert!(new[0].changes.accounts.iter().any(|(a, _)| *a == key(0).address()), "state changes carried");
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
    let n = sub.receiver.try_recv().unwrap();
    let ChainNotification::Reorged { old, new } = n else { panic!("expected Reorged, got {n:?}") };
    assert_eq!(old.iter().map(|b| b.header.clone()).collect::<Vec<_>>(), first_branch[2..].to_vec());
    assert_eq!(new.len(), 2);
    assert_eq!(new[0].header.header.number, 3);
    assert_ne!(new[0].header.hash, first_branch[2].hash);
    assert_eq!(chain.store().head().unwrap(), new[1].header);

    // A late subscriber catches up from height 1: blocks 2..=4 of the new branch.
    let late = chain.subscribe_from(1).unwrap();
    let ChainNotification::Committed { new: caught } = late.receiver.try_recv().unwrap() else { panic!() };
    assert_eq!(caught.iter().map(|b| b.header.header.number).collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(caught[1].header, new[0].header);

    // Revert the head.
    chain.revert_to(3).unwrap();
    for rx in [&sub.receiver, &late.receiver] {
        let ChainNotification::Reverted { old } = rx.try_recv().unwrap() else { panic!() };
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].header, new[1].header);
    }

    // Finished heights: known only once every consumer reported.
    assert_eq!(chain.min_finished_height(), None);
    chain.finished_height(sub.id, 3);
    assert_eq!(chain.min_finished_height(), None);
    chain.finished_height(late.id, 2);
    assert_eq!(chain.min_finished_height(), Some(2));
    drop(late);
    nonces.insert(key(0).address(), 5); // the reverted block held nonce 5
    chain.commit(build(chain.store(), &spec, transfers(&mut nonces, 1, 0x30), 3).unwrap()).unwrap();
    assert_eq!(chain.min_finished_height(), Some(3), "a dropped consumer no longer holds pruning back");
}
