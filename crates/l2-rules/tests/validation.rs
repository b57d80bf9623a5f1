//! Each L2 header/body rule broken on its own is rejected with its own error; a valid block passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::{
    consensus::{
        EMPTY_OMMER_ROOT_HASH, Header, SignableTransaction, TxEip1559, TxEip4844, TxEip4844Variant, TxEnvelope,
    },
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B64, B256, Bytes, TxKind, U256, b256};
use alloy_sol_types::SolCall;
use surge_l2_rules::{
    ANCHOR_GAS_LIMIT, L2BlockError, encode_extra_data, expected_base_fee, l2_mix_hash, validate_body, validate_header,
};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, L2Predeploys, bindings::anchor::Anchor, golden_touch::sign_anchor};

const CHAIN: u64 = 763374;
const EMPTY_ROOT: B256 = b256!("0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

fn parent() -> Header {
    Header {
        number: 5,
        timestamp: 1000,
        gas_limit: 31_000_000,
        gas_used: 9_000_000,
        base_fee_per_gas: Some(30_000_000),
        ..Default::default()
    }
}

fn valid_header() -> Header {
    let p = parent();
    Header {
        parent_hash: p.hash_slow(),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        number: 6,
        timestamp: 1001,
        gas_limit: p.gas_limit,
        extra_data: encode_extra_data(50, 0).unwrap(),
        mix_hash: l2_mix_hash(6),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(expected_base_fee(CHAIN, &p, 999)),
        withdrawals_root: Some(EMPTY_ROOT),
        ..Default::default()
    }
}

fn anchor_tx(base_fee: u64) -> TxEip1559 {
    let call = Anchor::anchorV4WithSignalSlotsCall { l1Checkpoint: Default::default(), signalSlots: vec![] };
    TxEip1559 {
        chain_id: CHAIN,
        nonce: 5,
        gas_limit: ANCHOR_GAS_LIMIT,
        max_fee_per_gas: base_fee.into(),
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(L2Predeploys::for_chain(CHAIN).anchor),
        value: U256::ZERO,
        access_list: Default::default(),
        input: call.abi_encode().into(),
    }
}

fn user_tx() -> (TxEnvelope, Address) {
    let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).unwrap();
    let tx = TxEip1559 {
        chain_id: CHAIN,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000,
        to: TxKind::Call(Address::ZERO),
        ..Default::default()
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    (TxEnvelope::Eip1559(tx.into_signed(sig)), key.address())
}

fn body(anchor: TxEip1559) -> (Vec<TxEnvelope>, Vec<Address>) {
    let (user, sender) = user_tx();
    (vec![TxEnvelope::Eip1559(sign_anchor(anchor).unwrap()), user], vec![GOLDEN_TOUCH_ADDRESS, sender])
}

fn check_body(txs: &[TxEnvelope], senders: &[Address]) -> Result<(), L2BlockError> {
    let base_fee = valid_header().base_fee_per_gas.unwrap();
    validate_body(txs, senders, L2Predeploys::for_chain(CHAIN).anchor, base_fee)
}

#[test]
fn a_valid_block_passes() {
    validate_header(CHAIN, &valid_header(), &parent(), 999).unwrap();
    let (txs, senders) = body(anchor_tx(valid_header().base_fee_per_gas.unwrap()));
    check_body(&txs, &senders).unwrap();
}

#[test]
fn each_header_rule_broken_alone_is_rejected() {
    let check = |h: Header| validate_header(CHAIN, &h, &parent(), 999).unwrap_err();
    let mut h = valid_header();
    h.extra_data = Bytes::from_static(&[50, 0, 0, 0, 0, 0]);
    assert_eq!(check(h), L2BlockError::ExtraDataLength(6));
    let mut h = valid_header();
    h.extra_data = Bytes::from_static(&[101, 0, 0, 0, 0, 0, 0]);
    assert_eq!(check(h), L2BlockError::SharingPctg(101));
    let mut h = valid_header();
    h.extra_data = encode_extra_data(50, 9).unwrap();
    assert_eq!(check(h), L2BlockError::ProposalId(9));
    let mut h = valid_header();
    h.timestamp = parent().timestamp;
    assert_eq!(check(h), L2BlockError::Timestamp { parent: 1000, got: 1000 });
    let mut h = valid_header();
    let expected = h.base_fee_per_gas.unwrap();
    h.base_fee_per_gas = Some(expected + 1);
    assert_eq!(check(h), L2BlockError::BaseFee { expected, got: Some(expected + 1) });
    let mut h = valid_header();
    h.parent_beacon_block_root = Some(B256::ZERO);
    assert_eq!(check(h), L2BlockError::Present("parentBeaconBlockRoot"));
    let mut h = valid_header();
    h.blob_gas_used = Some(0);
    assert_eq!(check(h), L2BlockError::Present("blobGasUsed"));
    let mut h = valid_header();
    h.requests_hash = Some(B256::ZERO);
    assert_eq!(check(h), L2BlockError::Present("requestsHash"));
    let mut h = valid_header();
    h.mix_hash = B256::ZERO;
    assert!(matches!(check(h), L2BlockError::MixHash { .. }));
    let mut h = valid_header();
    h.gas_limit += 1;
    assert!(matches!(check(h), L2BlockError::GasLimit { .. }));
    let mut h = valid_header();
    h.withdrawals_root = None;
    assert_eq!(check(h), L2BlockError::WithdrawalsRoot);
    let mut h = valid_header();
    h.difficulty = U256::from(1);
    assert_eq!(check(h), L2BlockError::NotZero("difficulty"));
    // The encoder refuses to build a percentage above 100 at all.
    assert_eq!(encode_extra_data(101, 0).unwrap_err(), L2BlockError::SharingPctg(101));
}

#[test]
fn each_body_rule_broken_alone_is_rejected() {
    let base_fee = valid_header().base_fee_per_gas.unwrap();
    let bad_anchor = |f: fn(&mut TxEip1559)| {
        let mut a = anchor_tx(base_fee);
        f(&mut a);
        let (txs, senders) = body(a);
        check_body(&txs, &senders).unwrap_err()
    };
    assert_eq!(bad_anchor(|a| a.gas_limit = 999_999), L2BlockError::BadAnchor("gas limit is not 1,000,000"));
    assert_eq!(bad_anchor(|a| a.max_fee_per_gas += 1), L2BlockError::BadAnchor("maxFeePerGas is not the base fee"));
    assert_eq!(bad_anchor(|a| a.max_priority_fee_per_gas = 1), L2BlockError::BadAnchor("priority fee is not zero"));
    assert_eq!(
        bad_anchor(|a| a.input = Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])),
        L2BlockError::BadAnchor("selector is not anchorV4WithSignalSlots")
    );
    assert_eq!(
        bad_anchor(|a| a.to = TxKind::Call(Address::ZERO)),
        L2BlockError::BadAnchor("recipient is not the Anchor")
    );

    // The right anchor, but not from the golden touch.
    let (txs, mut senders) = body(anchor_tx(base_fee));
    senders[0] = Address::repeat_byte(1);
    assert_eq!(check_body(&txs, &senders).unwrap_err(), L2BlockError::BadAnchor("sender is not the golden touch"));

    // Anchor not first: a user transaction, then the anchor.
    let (mut txs, mut senders) = body(anchor_tx(base_fee));
    txs.swap(0, 1);
    senders.swap(0, 1);
    assert_eq!(check_body(&txs, &senders).unwrap_err(), L2BlockError::GoldenTouchAfterAnchor(1));

    // A blob transaction in the body.
    let (mut txs, mut senders) = body(anchor_tx(base_fee));
    let blob =
        TxEip4844 { chain_id: CHAIN, blob_versioned_hashes: vec![B256::with_last_byte(1)], ..Default::default() };
    let sig = PrivateKeySigner::random().sign_hash_sync(&blob.signature_hash()).unwrap();
    txs.push(TxEnvelope::Eip4844(TxEip4844Variant::TxEip4844(blob).into_signed(sig)));
    senders.push(Address::repeat_byte(2));
    assert_eq!(check_body(&txs, &senders).unwrap_err(), L2BlockError::TxType { index: 2, tx_type: 3 });

    assert_eq!(check_body(&[], &[]).unwrap_err(), L2BlockError::NoAnchor);
}
