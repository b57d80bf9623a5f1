//! Transaction lookups by hash stay exact while the index holds the latest blocks in memory and writes
//! them in batches: across batch writes, unwinds (below and above what the table holds) and reopening the
//! store (as after a crash, which loses the memory), every included transaction is found where it is and
//! every unwound one is not found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use alloy_primitives::{B256, TxKind, U256};
use common::{TestChain, key};
use proptest::prelude::*;
use surge_host::storage::TxLocation;

#[derive(Debug, Clone)]
enum Op {
    Block(usize),
    Unwind(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..4usize).prop_map(Op::Block),
        2 => (1..4u64).prop_map(Op::Unwind),
        1 => Just(Op::Reopen),
    ]
}

/// A batch small enough that a few blocks fill it.
const BATCH: usize = 5;

fn check(chain: &TestChain, included: &HashMap<B256, TxLocation>, unwound: &[B256]) {
    assert_eq!(chain.store.transaction_location(B256::repeat_byte(0xee)).unwrap(), None, "never sent");
    for (hash, at) in included {
        assert_eq!(chain.store.transaction_location(*hash).unwrap(), Some(*at), "{hash}");
    }
    for hash in unwound.iter().filter(|h| !included.contains_key(*h)) {
        assert_eq!(chain.store.transaction_location(*hash).unwrap(), None, "unwound {hash}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn lookups_survive_batches_unwinds_and_reopening(ops in prop::collection::vec(op(), 1..24)) {
        let mut chain = TestChain::new();
        chain.store.set_tx_index_batch(BATCH);
        let sender = key(0);
        let mut included: HashMap<B256, TxLocation> = HashMap::new();
        let mut unwound = vec![];
        for op in &ops {
            match op {
                Op::Block(n) => {
                    let txs: Vec<_> =
                        (0..*n).map(|_| chain.tx(&sender, TxKind::Call(key(1).address()), U256::from(1), vec![])).collect();
                    let hashes: Vec<B256> = txs.iter().map(|t| *t.hash()).collect();
                    let number = chain.block(txs).header.number;
                    for (index, hash) in hashes.into_iter().enumerate() {
                        included.insert(hash, TxLocation { block: number, index: index as u32 });
                    }
                }
                Op::Unwind(depth) => {
                    let head = chain.store.head().unwrap().header.number;
                    let target = head.saturating_sub(*depth);
                    chain.store.unwind_to(target).unwrap();
                    let gone: Vec<B256> = included.iter().filter(|(_, at)| at.block > target).map(|(h, _)| *h).collect();
                    for hash in gone {
                        included.remove(&hash);
                        unwound.push(hash);
                    }
                    chain.nonces.insert(sender.address(), included.len() as u64);
                }
                Op::Reopen => {
                    chain = chain.reopen();
                    chain.store.set_tx_index_batch(BATCH);
                }
            }
            check(&chain, &included, &unwound);
        }
    }
}
