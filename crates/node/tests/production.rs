//! Block production from the pool: contents and order across senders and tips, pool follow-up, and
//! instant mode producing a block as soon as a transaction arrives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, Transaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::SignerSync,
};
use alloy_primitives::{Address, TxKind, U256};
use common::{TestChain, key};
use surge_host::{
    notifications::Chain,
    producer::{EthereumPayloadBuilder, Producer, ProductionMode},
    seams::PoolHandle,
};
use surge_txpool::{PoolConfig, PoolEvent, TxPool};

const GWEI: u128 = 1_000_000_000;

fn raw(from: u8, nonce: u64, tip: u128) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: common::CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 50 * GWEI,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Default::default(),
    };
    let sig = key(from).sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()
}

fn producer() -> (Producer, PoolHandle, Arc<Mutex<Chain>>, Option<tempfile::TempDir>) {
    let TestChain { dir, spec, store, .. } = TestChain::new();
    let spec = Arc::new(spec);
    let base_fee = store.head().unwrap().header.next_block_base_fee(spec.base_fee_params).unwrap();
    let store = Arc::new(store);
    let pool = PoolHandle::new(TxPool::new(PoolConfig::ethereum(spec.chain_id, 30_000_000), base_fee), store.clone());
    let chain = Arc::new(Mutex::new(Chain::new(store, 64).unwrap()));
    let producer = Producer {
        name: "L1",
        chain: chain.clone(),
        pool: pool.clone(),
        builder: Arc::new(EthereumPayloadBuilder { spec: spec.clone(), pool: pool.clone() }),
        spec,
        fee_recipient: Address::repeat_byte(0xfe),
        build_time: Duration::from_millis(500),
        paused: Default::default(),
    };
    (producer, pool, chain, dir)
}

fn submit(pool: &PoolHandle, chain: &Arc<Mutex<Chain>>, raw: &[u8]) {
    let state = chain.lock().unwrap().store().latest_state().unwrap();
    pool.pool().add(raw, &state).unwrap();
}

#[test]
fn blocks_take_the_best_transactions_in_order() {
    let (producer, pool, chain, _dir) = producer();
    let mut events = pool.pool().subscribe_events(1000);
    // Sender 0 pays 1 gwei then 6; sender 1 pays 5 then 2; sender 2 pays 3; sender 3's nonce 1 waits
    // for a nonce 0 that never comes.
    for (from, nonce, tip) in [(0, 0, 1), (0, 1, 6), (1, 0, 5), (1, 1, 2), (2, 0, 3), (3, 1, 9)] {
        submit(&pool, &chain, &raw(from, nonce, tip * GWEI));
    }
    let sealed = producer.produce_one().unwrap();
    let body = chain.lock().unwrap().store().body(sealed.header.number).unwrap().unwrap();
    let order: Vec<(Address, u64, u128)> = body
        .transactions
        .iter()
        .map(|t| {
            use alloy::consensus::transaction::SignerRecoverable;
            (t.recover_signer().unwrap(), t.nonce(), t.max_priority_fee_per_gas().unwrap() / GWEI)
        })
        .collect();
    let k = |i: u8| key(i).address();
    assert_eq!(order, vec![(k(1), 0, 5), (k(2), 0, 3), (k(1), 1, 2), (k(0), 0, 1), (k(0), 1, 6)]);
    // The pool followed the head: the included ones are mined, the gapped one is still queued.
    let mined = events.try_iter().filter(|e| matches!(e, PoolEvent::Mined { .. })).count();
    assert_eq!(mined, 5);
    assert_eq!(pool.pool().len(), 1);
    assert_eq!(pool.pool().queued().len(), 1);
    // Every receipt succeeded and the coinbase earned the tips.
    let receipts = chain.lock().unwrap().store().receipts(1).unwrap().unwrap();
    assert!(receipts.iter().all(|r| r.status()));
}

#[test]
fn instant_mode_produces_a_block_when_a_transaction_arrives() {
    let (producer, pool, chain, _dir) = producer();
    // A long tick: a block that appears well within it was triggered by the arrival, not by the timer.
    let tick = Duration::from_secs(3);
    let handle = Arc::new(producer).spawn(ProductionMode::Instant { tick });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(chain.lock().unwrap().store().head().unwrap().header.number, 0, "no transaction, no block");

    let sent = Instant::now();
    submit(&pool, &chain, &raw(0, 0, GWEI));
    let deadline = sent + tick;
    loop {
        let number = chain.lock().unwrap().store().head().unwrap().header.number;
        if number == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "no block within one production tick ({tick:?}) of the arrival");
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("block after {:?}", sent.elapsed());
    let body = chain.lock().unwrap().store().body(1).unwrap().unwrap();
    assert_eq!(body.transactions.len(), 1);
    handle.stop();
}
