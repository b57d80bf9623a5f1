//! What the pool tests share: keys, transactions signed by them, and account state the tests control.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::{collections::HashMap, sync::Mutex};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use surge_txpool::PoolConfig;

/// The chain the transactions are signed for.
pub const CHAIN: u64 = 763374;
/// 10^9 wei.
pub const GWEI: u128 = 1_000_000_000;

/// Test key `i`.
pub fn key(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(i + 1)).unwrap()
}

/// An L2-like config: types 0–2, key 9 denied.
pub fn config() -> PoolConfig {
    let mut c = PoolConfig::ethereum(CHAIN, 30_000_000);
    c.allowed_types = vec![0, 1, 2];
    c.denied_senders = vec![key(9).address()];
    c
}

/// A transfer from key `from`.
pub fn tx1559(from: u8, nonce: u64, max_fee: u128, tip: u128) -> TxEip1559 {
    TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0x42 + from)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    }
}

/// `tx` signed by key `from`, encoded.
pub fn sign(from: u8, tx: TxEip1559) -> Vec<u8> {
    let sig = key(from).sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()
}

/// A signed transfer, encoded.
pub fn raw(from: u8, nonce: u64, max_fee: u128, tip: u128) -> Vec<u8> {
    sign(from, tx1559(from, nonce, max_fee, tip))
}

/// Account state the tests control.
#[derive(Default)]
pub struct State(Mutex<HashMap<Address, (u64, U256)>>);

impl State {
    /// Keys 0–9 at nonce 0 with 100 ETH.
    pub fn funded() -> Self {
        let s = Self::default();
        for i in 0..10 {
            s.set(i, 0, U256::from(10u128.pow(20)));
        }
        s
    }
    /// Sets key `i`'s nonce and balance.
    pub fn set(&self, i: u8, nonce: u64, balance: U256) {
        self.0.lock().unwrap().insert(key(i).address(), (nonce, balance));
    }
    /// The state as the pool reads it.
    pub fn view(&self) -> impl Fn(&Address) -> (u64, U256) + '_ {
        move |a: &Address| self.0.lock().unwrap().get(a).copied().unwrap_or_default()
    }
}
