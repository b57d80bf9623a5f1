//! Pool benchmark: insert throughput (validated transactions per second, signature recovery included)
//! and the cost of draining the best-transactions iterator, for 10k pending transactions from 1k senders.
//!
//! Run: `cargo bench -p surge-txpool --bench pool`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, TxKind, U256, keccak256};
use surge_txpool::{PoolConfig, TxPool};

fn main() {
    let senders = 1_000u64;
    let per_sender = 10u64;
    let keys: Vec<PrivateKeySigner> =
        (0..senders).map(|i| PrivateKeySigner::from_bytes(&keccak256(i.to_be_bytes())).unwrap()).collect();
    let start = Instant::now();
    let mut raws = vec![];
    for nonce in 0..per_sender {
        for (i, key) in keys.iter().enumerate() {
            let tip = ((i as u128 * 7919 + u128::from(nonce) * 104_729) % 50 + 1) * 1_000_000_000;
            let tx = TxEip1559 {
                chain_id: 1,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 200_000_000_000,
                max_priority_fee_per_gas: tip,
                to: TxKind::Call(Address::repeat_byte(1)),
                value: U256::from(1),
                access_list: Default::default(),
                input: Default::default(),
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
            raws.push(TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718());
        }
    }
    println!("signed {} transactions in {:.0} ms (setup)", raws.len(), start.elapsed().as_secs_f64() * 1e3);

    let mut config = PoolConfig::ethereum(1, 30_000_000);
    config.max_transactions = 20_000;
    let rich = |_: &Address| (0u64, U256::from(10u128.pow(24)));
    for round in 0..3 {
        let mut pool = TxPool::new(config.clone(), 1_000_000_000);
        let t = Instant::now();
        for raw in &raws {
            pool.add(raw, &rich).unwrap();
        }
        let insert = t.elapsed();
        assert_eq!(pool.pending().len(), raws.len());
        let t = Instant::now();
        let drained: Vec<B256> = pool.best_transactions().map(|tx| tx.hash).collect();
        let iterate = t.elapsed();
        assert_eq!(drained.len(), raws.len());
        let t = Instant::now();
        let first_block: usize = pool.best_transactions().take(1_428).count(); // a 30M-gas block of transfers
        let block = t.elapsed();
        println!(
            "round {round}: insert {:>8.0} tx/s ({:.1} µs each) | drain best {:>6.2} ms for {} txs ({:.2} µs each) | one block's worth ({first_block}) {:.2} ms",
            raws.len() as f64 / insert.as_secs_f64(),
            insert.as_secs_f64() * 1e6 / raws.len() as f64,
            iterate.as_secs_f64() * 1e3,
            drained.len(),
            iterate.as_secs_f64() * 1e6 / drained.len() as f64,
            block.as_secs_f64() * 1e3,
        );
    }
}
