//! The test vectors of PROTOCOL.md §10, computed in Rust and by the compiled contracts in revm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, address, b256};
use common::{Chain, Tx, account, b32};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, inbox::RealTimeInbox, resolver::Resolver, signal_service::SignalService},
    hash_signal_slots, received_signal_key, signal_slot,
    slots::bridge::message_status_key,
};

const L1: u64 = 3151908;
const L2: u64 = 763374;
const MSG_HASH: B256 = b256!("0xd900a46c58f80c1ac5064a6897394d827d61a006eafca8797661712374401759");
const SLOT: B256 = b256!("0x085926b117f5bcfd5802effb383a11695319e09da21ed8b7ee50425c19096169");
const RECEIVED_KEY: B256 = b256!("0x09cdcf91236a4e7c20e1a41ad02c0503a613702f38e102541afa013baf0c341d");
const STATUS_KEY: B256 = b256!("0xd6b1089592c53cb85c39f6d42f0b96dcb200f546ffed32cc9bcf4d086b2f9efc");
const SLOTS_HASH: B256 = b256!("0xcc9f708b9b00144c7fc69925ae42052248da2be35906f3e7775cbd644a47f08f");
const APP: Address = address!("3333333333333333333333333333333333333333");

fn vector_message() -> Message {
    Message {
        id: 7,
        fee: 0,
        gasLimit: 2_000_000,
        from: Address::repeat_byte(0x11),
        srcChainId: L1,
        srcOwner: Address::repeat_byte(0x11),
        destChainId: L2,
        destOwner: Address::repeat_byte(0x22),
        to: Address::repeat_byte(0x22),
        value: U256::ZERO,
        data: Bytes::from_static(&[0x7f, 0x07, 0xc9, 0x47]),
    }
}

#[test]
fn vectors_in_rust() {
    let m = vector_message();
    assert_eq!(m.hash(), MSG_HASH);
    assert_eq!(signal_slot(L1, APP, MSG_HASH), SLOT);
    assert_eq!(received_signal_key(SLOT), RECEIVED_KEY);
    assert_eq!(message_status_key(MSG_HASH), STATUS_KEY);
    assert_eq!(hash_signal_slots(&[SLOT]), SLOTS_HASH);
}

#[test]
fn vectors_in_the_contracts() {
    // An L2 whose bridge receives the vector message from L1; the L1 bridge sits at APP so that the
    // message's signal slot is the vector's slot.
    let owner = account(1);
    let syncer = account(2);
    let mut l2 = Chain::new(L2, SpecId::SHANGHAI);
    let resolver = l2.deploy(owner, "Resolver", Resolver::constructorCall { initialOwner: owner });
    let ss = l2.deploy(
        owner,
        "SignalService",
        SignalService::constructorCall { _authorizedSyncer: syncer, _resolver: resolver },
    );
    let bridge = l2.deploy(owner, "Bridge", Bridge::constructorCall { _signalService: ss, _resolver: resolver });
    l2.exec(Tx::sol(
        owner,
        resolver,
        Resolver::setAddressCall { chainId: U256::from(L1), name: b32("bridge"), newAddress: APP },
    ))
    .expect_ok();

    let m = vector_message();
    assert_eq!(l2.read(bridge, Bridge::hashMessageCall { message: m.clone() }), MSG_HASH);
    assert_eq!(l2.read(ss, SignalService::getSignalSlotCall { chainId: L1, app: APP, signal: MSG_HASH }), SLOT);

    // The contract writes `_receivedSignals[slot]` exactly at the vector key...
    l2.exec(Tx::sol(syncer, ss, SignalService::setSignalsReceivedCall { slots: vec![SLOT] })).expect_ok();
    assert_eq!(l2.storage(ss, U256::from_be_bytes(RECEIVED_KEY.0)), U256::from(1));
    // ...and `messageStatus[hash]` (DONE = 2) at the vector key once the destination owner processes it.
    // (`to` is an account without code, so the invocation succeeds.)
    l2.exec(Tx::sol(
        Address::repeat_byte(0x22),
        bridge,
        Bridge::processMessageCall { message: m, proof: Bytes::new() },
    ))
    .expect_ok();
    assert_eq!(l2.storage(bridge, U256::from_be_bytes(STATUS_KEY.0)), U256::from(2));

    let mut l1 = Chain::new(L1, SpecId::CANCUN);
    let inbox = l1.deploy(
        owner,
        "RealTimeInbox",
        RealTimeInbox::constructorCall {
            _owner: owner,
            verifier: Address::repeat_byte(1),
            signalService: Address::repeat_byte(2),
            basefeeSharingPctg: 50,
            proposer: Address::repeat_byte(3),
            openPropose: false,
        },
    );
    assert_eq!(l1.read(inbox, RealTimeInbox::hashSignalSlotsCall { slots: vec![SLOT] }), SLOTS_HASH);
    assert_eq!(l1.read(inbox, RealTimeInbox::hashSignalSlotsCall { slots: vec![] }), B256::ZERO);
}
