//! Pool rules: every refusal has its own error and nothing panics on bad input; pending/queued,
//! replacement, eviction, ordering, mark_invalid, new heads and unwinds; a property test of invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use alloy::{
    consensus::{SignableTransaction, TxEip4844, TxEip4844Variant, TxEnvelope, TxLegacy},
    eips::Encodable2718,
    signers::SignerSync,
};
use alloy_primitives::{Address, B256, TxKind, U256};
use common::{CHAIN, GWEI, State, config, key, raw, sign, tx1559};
use proptest::prelude::*;
use surge_txpool::{PoolError, PoolEvent, SubPool, TxPool};

#[test]
fn every_bad_input_gets_its_own_error() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let view = state.view();
    let err = |pool: &mut TxPool, raw: &[u8]| pool.add(raw, &view).unwrap_err();

    assert!(matches!(err(&mut pool, &[0x02, 0xf8, 0x01]), PoolError::Malformed(_)));
    assert!(matches!(err(&mut pool, &[]), PoolError::Malformed(_)));
    assert!(matches!(err(&mut pool, &[0xff; 40]), PoolError::Malformed(_)));
    let mut t = tx1559(0, 0, 2 * GWEI, GWEI);
    t.chain_id = 1;
    assert_eq!(err(&mut pool, &sign(0, t)), PoolError::WrongChainId { expected: CHAIN, got: Some(1) });
    assert_eq!(err(&mut pool, &raw(0, 0, 0, 0)), PoolError::FeeTooLow { max_fee: 0, floor: 1 });
    assert_eq!(err(&mut pool, &raw(0, 0, GWEI, 2 * GWEI)), PoolError::TipAboveFeeCap { tip: 2 * GWEI, max_fee: GWEI });
    let mut t = tx1559(0, 0, 2 * GWEI, GWEI);
    t.input = vec![1u8; 200 * 1024].into();
    t.gas_limit = 10_000_000;
    assert!(matches!(err(&mut pool, &sign(0, t)), PoolError::Oversized { .. }));
    let mut t = tx1559(0, 0, 2 * GWEI, GWEI);
    t.gas_limit = 20_000;
    assert_eq!(err(&mut pool, &sign(0, t)), PoolError::IntrinsicGasTooLow { gas_limit: 20_000, intrinsic: 21_000 });
    let mut t = tx1559(0, 0, 2 * GWEI, GWEI);
    t.gas_limit = 30_000_001;
    assert!(matches!(err(&mut pool, &sign(0, t)), PoolError::GasLimitTooHigh { .. }));
    assert_eq!(err(&mut pool, &raw(9, 0, 2 * GWEI, GWEI)), PoolError::DeniedSender(key(9).address()));
    let blob = TxEip4844 {
        chain_id: CHAIN,
        gas_limit: 21_000,
        max_fee_per_gas: GWEI,
        blob_versioned_hashes: vec![B256::with_last_byte(1)],
        max_fee_per_blob_gas: 1,
        ..Default::default()
    };
    let sig = key(0).sign_hash_sync(&blob.signature_hash()).unwrap();
    let blob = TxEnvelope::Eip4844(TxEip4844Variant::TxEip4844(blob).into_signed(sig)).encoded_2718();
    assert_eq!(err(&mut pool, &blob), PoolError::TypeNotAllowed(3));
    // An unprotected legacy transaction carries no chain id.
    let legacy = TxLegacy {
        chain_id: None,
        gas_limit: 21_000,
        gas_price: 2 * GWEI,
        to: TxKind::Call(Address::ZERO),
        ..Default::default()
    };
    let sig = key(0).sign_hash_sync(&legacy.signature_hash()).unwrap();
    assert_eq!(
        err(&mut pool, &TxEnvelope::Legacy(legacy.into_signed(sig)).encoded_2718()),
        PoolError::WrongChainId { expected: CHAIN, got: None }
    );

    state.set(1, 5, U256::from(10u128.pow(20)));
    assert_eq!(err(&mut pool, &raw(1, 4, 2 * GWEI, GWEI)), PoolError::NonceTooLow { nonce: 4, state_nonce: 5 });
    state.set(2, 0, U256::from(1000));
    assert!(matches!(err(&mut pool, &raw(2, 0, 2 * GWEI, GWEI)), PoolError::InsufficientFunds { .. }));

    let ok = raw(0, 0, 2 * GWEI, GWEI);
    pool.add(&ok, &view).unwrap();
    assert!(matches!(err(&mut pool, &ok), PoolError::AlreadyKnown(_)));
    assert_eq!(
        err(&mut pool, &raw(0, 0, 2 * GWEI + 1, GWEI + 1)),
        PoolError::ReplacementUnderpriced { bump_percent: 10 }
    );
    assert_eq!(pool.len(), 1, "refusals changed nothing");
}

#[test]
fn nonce_gaps_queue_and_filling_them_promotes() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let mut new_txs = pool.subscribe_new_transactions(1000);
    let view = state.view();
    let (h2, sub) = pool.add(&raw(0, 2, 2 * GWEI, GWEI), &view).unwrap();
    assert_eq!(sub, SubPool::Queued);
    let (h1, sub) = pool.add(&raw(0, 1, 2 * GWEI, GWEI), &view).unwrap();
    assert_eq!(sub, SubPool::Queued);
    let (h0, sub) = pool.add(&raw(0, 0, 2 * GWEI, GWEI), &view).unwrap();
    assert_eq!(sub, SubPool::Pending);
    assert_eq!(pool.pending().len(), 3);
    let got: Vec<_> = events.try_iter().collect();
    assert_eq!(
        got,
        vec![
            PoolEvent::Queued(h2),
            PoolEvent::Queued(h1),
            PoolEvent::Pending(h0),
            PoolEvent::Pending(h1),
            PoolEvent::Pending(h2)
        ]
    );
    assert_eq!(new_txs.try_iter().count(), 3, "the listener sees every admitted transaction");

    // Replacement with a 10% bump.
    let (h0b, _) = pool.add(&raw(0, 0, 22 * GWEI / 10, 11 * GWEI / 10), &view).unwrap();
    let got: Vec<_> = events.try_iter().collect();
    assert_eq!(got, vec![PoolEvent::Replaced { old: h0, new: h0b }, PoolEvent::Pending(h0b)]);
    assert!(pool.get(&h0).is_none());
}

#[test]
fn best_transactions_order_by_tip_then_nonce_and_mark_invalid_drops_the_sender() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let view = state.view();
    // Sender 0: tips 1 then 5 gwei; sender 1: tip 3; sender 2: tip 2, then 4.
    let a0 = pool.add(&raw(0, 0, 10 * GWEI, GWEI), &view).unwrap().0;
    let a1 = pool.add(&raw(0, 1, 10 * GWEI, 5 * GWEI), &view).unwrap().0;
    let b0 = pool.add(&raw(1, 0, 10 * GWEI, 3 * GWEI), &view).unwrap().0;
    let c0 = pool.add(&raw(2, 0, 10 * GWEI, 2 * GWEI), &view).unwrap().0;
    let c1 = pool.add(&raw(2, 1, 10 * GWEI, 4 * GWEI), &view).unwrap().0;
    let order: Vec<_> = pool.best_transactions().map(|t| t.hash).collect();
    assert_eq!(order, vec![b0, c0, c1, a0, a1]);

    let mut best = pool.best_transactions();
    let first = best.next().unwrap();
    assert_eq!(first.hash, b0);
    let second = best.next().unwrap();
    best.skip_sender(&second); // sender 2 fails: its next nonce must not come out
    let rest: Vec<_> = best.map(|t| t.hash).collect();
    assert_eq!(rest, vec![a0, a1]);

    // A fee cap under the base fee keeps a transaction (and the sender's later ones) out of blocks.
    let mut pool = TxPool::new(config(), 5 * GWEI as u64);
    pool.add(&raw(3, 0, 4 * GWEI, GWEI), &view).unwrap();
    pool.add(&raw(3, 1, 10 * GWEI, GWEI), &view).unwrap();
    assert_eq!(pool.best_transactions().count(), 0);
}

#[test]
fn new_heads_remove_mined_and_unwinds_requeue() {
    let state = State::funded();
    let mut pool = TxPool::new(config(), GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let view = state.view();
    let h0 = pool.add(&raw(0, 0, 2 * GWEI, GWEI), &view).unwrap().0;
    let h1 = pool.add(&raw(0, 1, 2 * GWEI, GWEI), &view).unwrap().0;
    let h2 = pool.add(&raw(0, 2, 2 * GWEI, GWEI), &view).unwrap().0;
    events.try_iter().count();
    // Block mines nonce 0; the sender's balance drops so only one more transaction is affordable.
    let cost = U256::from(21_000u64 * 2 * GWEI as u64 + 1);
    state.set(0, 1, cost);
    pool.on_new_head(1, GWEI as u64, &[h0], &view).unwrap();
    let got: Vec<_> = events.try_iter().collect();
    assert_eq!(got, vec![PoolEvent::Mined { hash: h0, block: 1 }, PoolEvent::Queued(h2)]);
    assert_eq!(pool.pending().iter().map(|t| t.hash).collect::<Vec<_>>(), vec![h1]);
    // Funds return: promoted again.
    state.set(0, 1, U256::from(10u128.pow(20)));
    pool.on_new_head(1, GWEI as u64, &[], &view).unwrap();
    assert_eq!(events.try_iter().collect::<Vec<_>>(), vec![PoolEvent::Pending(h2)]);
    // An unwind back to nonce 0: the mined transaction is gone from the pool, so the rest wait.
    state.set(0, 0, U256::from(10u128.pow(20)));
    pool.on_new_head(1, GWEI as u64, &[], &view).unwrap();
    assert_eq!(events.try_iter().collect::<Vec<_>>(), vec![PoolEvent::Queued(h1), PoolEvent::Queued(h2)]);
    assert_eq!(pool.pending().len(), 0);
    assert_eq!(pool.queued().len(), 2);
}

#[test]
fn full_pool_evicts_the_cheapest_tail_and_sender_limits_hold() {
    let state = State::funded();
    let mut cfg = config();
    cfg.max_transactions = 3;
    cfg.account_slots = 1;
    cfg.account_queue = 1;
    let mut pool = TxPool::new(cfg, GWEI as u64);
    let mut events = pool.subscribe_events(1000);
    let view = state.view();
    pool.add(&raw(0, 0, 10 * GWEI, 3 * GWEI), &view).unwrap();
    let cheap = pool.add(&raw(0, 1, 10 * GWEI, GWEI), &view).unwrap().0;
    assert_eq!(
        pool.add(&raw(0, 2, 10 * GWEI, 9 * GWEI), &view).unwrap_err(),
        PoolError::AccountQueueFull { sender: key(0).address(), max: 1 }
    );
    pool.add(&raw(1, 0, 10 * GWEI, 2 * GWEI), &view).unwrap();
    let full = pool.add(&raw(2, 0, 10 * GWEI, GWEI), &view).unwrap_err();
    assert_eq!(full, PoolError::PoolFull);
    assert_eq!(full.to_string(), "txpool is full", "geth's words, which clients match");
    events.try_iter().count();
    pool.add(&raw(2, 0, 10 * GWEI, 4 * GWEI), &view).unwrap();
    assert!(events.try_iter().any(|e| e == PoolEvent::Discarded(cheap)));
    assert_eq!(pool.len(), 3);
}

#[derive(Debug, Clone)]
enum Op {
    Add { sender: u8, nonce_offset: u64, tip: u8 },
    Mine { sender: u8, count: u64 },
    Unwind { sender: u8, count: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u64..6, 1u8..20).prop_map(|(sender, nonce_offset, tip)| Op::Add { sender, nonce_offset, tip }),
        1 => (0u8..4, 1u64..3).prop_map(|(sender, count)| Op::Mine { sender, count }),
        1 => (0u8..4, 1u64..3).prop_map(|(sender, count)| Op::Unwind { sender, count }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_insert_mine_unwind_keep_the_invariants(ops in prop::collection::vec(op(), 1..40)) {
        let state = State::funded();
        let mut pool = TxPool::new(config(), GWEI as u64);
        let view = state.view();
        for op in ops {
            match op {
                Op::Add { sender, nonce_offset, tip } => {
                    let nonce = view(&key(sender).address()).0 + nonce_offset;
                    let _ = pool.add(&raw(sender, nonce, 100 * GWEI, u128::from(tip) * GWEI), &view);
                }
                Op::Mine { sender, count } => {
                    let (n, b) = view(&key(sender).address());
                    state.set(sender, n + count, b);
                    pool.on_new_head(1, GWEI as u64, &[], &view).unwrap();
                }
                Op::Unwind { sender, count } => {
                    let (n, b) = view(&key(sender).address());
                    state.set(sender, n.saturating_sub(count), b);
                    pool.on_new_head(1, GWEI as u64, &[], &view).unwrap();
                }
            }
            // No duplicates: pending and queued partition the pool.
            let pending = pool.pending();
            let queued = pool.queued();
            prop_assert_eq!(pending.len() + queued.len(), pool.len());
            let mut hashes: Vec<_> = pending.iter().chain(&queued).map(|t| t.hash).collect();
            hashes.sort();
            hashes.dedup();
            prop_assert_eq!(hashes.len(), pool.len());
            // Pending has no nonce gaps and starts at each sender's nonce.
            let mut by_sender: HashMap<Address, Vec<u64>> = HashMap::new();
            for t in &pending {
                by_sender.entry(t.sender).or_default().push(t.nonce);
            }
            for (sender, mut nonces) in by_sender {
                nonces.sort();
                let start = view(&sender).0;
                prop_assert_eq!(nonces, (start..start + nonces_len(&pending, sender)).collect::<Vec<_>>());
            }
            // Nothing below a sender's nonce stays pooled.
            for t in pending.iter().chain(&queued) {
                prop_assert!(t.nonce >= view(&t.sender).0);
            }
        }
    }
}

fn nonces_len(pending: &[std::sync::Arc<surge_txpool::PooledTx>], sender: Address) -> u64 {
    pending.iter().filter(|t| t.sender == sender).count() as u64
}

mod blobs {
    use alloy::{
        consensus::{SignableTransaction, TxEip4844, TxEip4844Variant, TxEip4844WithSidecar},
        eips::{
            Encodable2718,
            eip4844::{
                BlobTransactionSidecar,
                builder::{SidecarBuilder, SimpleCoder},
            },
            eip7594::BlobTransactionSidecarVariant,
        },
        signers::SignerSync,
    };
    use alloy_primitives::{Address, U256};
    use surge_txpool::{PoolConfig, PoolError, TxPool, without_sidecar};

    use super::{CHAIN, GWEI, State, key};

    fn blob_tx(sidecar: Option<BlobTransactionSidecar>, hashes_from: &BlobTransactionSidecar) -> Vec<u8> {
        blob_tx_with(sidecar.map(BlobTransactionSidecarVariant::Eip4844), hashes_from)
    }

    fn blob_tx_with(sidecar: Option<BlobTransactionSidecarVariant>, hashes_from: &BlobTransactionSidecar) -> Vec<u8> {
        let tx = TxEip4844 {
            chain_id: CHAIN,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 10 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to: Address::repeat_byte(0x33),
            value: U256::ZERO,
            access_list: Default::default(),
            blob_versioned_hashes: hashes_from.versioned_hashes().collect(),
            max_fee_per_blob_gas: 1,
            input: Default::default(),
        };
        let sig = key(0).sign_hash_sync(&tx.signature_hash()).unwrap();
        let variant = match sidecar {
            Some(sidecar) => TxEip4844Variant::TxEip4844WithSidecar(TxEip4844WithSidecar { tx, sidecar }),
            None => TxEip4844Variant::TxEip4844(tx),
        };
        alloy::consensus::TxEnvelope::Eip4844(variant.into_signed(sig)).encoded_2718()
    }

    #[test]
    fn blob_sidecars_are_checked_with_kzg() {
        let state = State::funded();
        let view = state.view();
        let before_osaka = PoolConfig { osaka: false, ..PoolConfig::ethereum(CHAIN, 30_000_000) };
        let mut pool = TxPool::new(before_osaka, GWEI as u64);
        let sidecar: BlobTransactionSidecar =
            SidecarBuilder::<SimpleCoder>::from_slice(b"surge blob data").build().unwrap();

        assert_eq!(pool.add(&blob_tx(None, &sidecar), &view).unwrap_err(), PoolError::BlobSidecarMissing);
        let mut bad = sidecar.clone();
        bad.proofs[0].0[5] ^= 1;
        let e = pool.add(&blob_tx(Some(bad), &sidecar), &view).unwrap_err();
        assert!(matches!(e, PoolError::InvalidBlob(_)), "{e:?}");
        let other: BlobTransactionSidecar = SidecarBuilder::<SimpleCoder>::from_slice(b"other data").build().unwrap();
        assert!(
            matches!(pool.add(&blob_tx(Some(other), &sidecar), &view).unwrap_err(), PoolError::InvalidBlob(_)),
            "hashes of another blob"
        );

        let (hash, _) = pool.add(&blob_tx(Some(sidecar.clone()), &sidecar), &view).unwrap();
        let pooled = pool.get(&hash).unwrap();
        // Blocks carry the transaction without its sidecar, under the same hash.
        let stripped = without_sidecar(&pooled.tx);
        assert_eq!(*stripped.hash(), hash);
        assert!(stripped.encoded_2718().len() < pooled.tx.encoded_2718().len() / 10);
    }

    #[test]
    fn from_osaka_on_a_blob_transaction_carries_cell_proofs() {
        let state = State::funded();
        let view = state.view();
        let sidecar: BlobTransactionSidecar =
            SidecarBuilder::<SimpleCoder>::from_slice(b"surge blob data").build().unwrap();
        let cells = BlobTransactionSidecarVariant::Eip4844(sidecar.clone()).try_convert_into_eip7594().unwrap();

        let mut osaka = TxPool::new(PoolConfig::ethereum(CHAIN, 30_000_000), GWEI as u64);
        let e = osaka.add(&blob_tx(Some(sidecar.clone()), &sidecar), &view).unwrap_err();
        assert!(matches!(e, PoolError::SidecarVersion(_)), "blob proofs after Osaka: {e:?}");
        let mut bad = cells.clone();
        if let BlobTransactionSidecarVariant::Eip7594(s) = &mut bad {
            s.cell_proofs[3].0[7] ^= 1;
        }
        let e = osaka.add(&blob_tx_with(Some(bad), &sidecar), &view).unwrap_err();
        assert!(matches!(e, PoolError::InvalidBlob(_)), "a broken cell proof: {e:?}");
        let (hash, _) = osaka.add(&blob_tx_with(Some(cells.clone()), &sidecar), &view).unwrap();
        assert_eq!(*without_sidecar(&osaka.get(&hash).unwrap().tx).hash(), hash);

        let before_osaka = PoolConfig { osaka: false, ..PoolConfig::ethereum(CHAIN, 30_000_000) };
        let e = TxPool::new(before_osaka, GWEI as u64).add(&blob_tx_with(Some(cells), &sidecar), &view).unwrap_err();
        assert!(matches!(e, PoolError::SidecarVersion(_)), "cell proofs before Osaka: {e:?}");
    }
}
