//! Bridge behaviour the node depends on: assigned fields and event order, the fast-signal path, the
//! invocation context as raw slots, and the relayer-mode gas rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use common::{Chain, Core, Outcome, Remote, Tx, account, deploy_core, ether};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    BridgeContext, Message,
    bindings::{bridge::Bridge, signal_service::SignalService, test_receiver::TestMessageReceiver},
    min_gas_limit, signal_slot,
    slots::bridge::{
        CTX_FROM_CHAIN_SLOT, CTX_MSG_HASH_SLOT, NEXT_MESSAGE_ID_SLOT, decode_next_message_id, message_status_key,
    },
};

const L1: u64 = 3151908;
const L2: u64 = 763374;
const REMOTE_BRIDGE: Address = Address::new([0x1b; 20]);

struct Setup {
    chain: Chain,
    core: Core,
    syncer: Address,
    receiver: Address,
}

/// An L2 whose bridge talks to an L1 bridge at REMOTE_BRIDGE; a test receiver app is deployed.
fn setup() -> Setup {
    let (owner, syncer) = (account(1), account(2));
    let mut chain = Chain::new(L2, SpecId::SHANGHAI);
    chain.set_balance(account(3), ether(1000));
    let remote = Remote { chain_id: L1, bridge: REMOTE_BRIDGE, signal_service: Address::repeat_byte(0x55) };
    let core = deploy_core(&mut chain, owner, syncer, remote);
    let receiver = chain.deploy_raw(owner, "test/TestMessageReceiver", &[]);
    chain.set_balance(core.bridge, ether(100));
    Setup { chain, core, syncer, receiver }
}

fn outbound(to: Address, gas_limit: u32, data: &'static [u8]) -> Message {
    Message {
        id: 0,
        fee: 0,
        gasLimit: gas_limit,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: account(9),
        destChainId: L1,
        destOwner: account(9),
        to,
        value: ether(1),
        data: Bytes::from_static(data),
    }
}

/// A message from L1 to the receiver on this L2, as the L1 bridge would have recorded it. `command`
/// tells the test receiver what to do (see TestMessageReceiver); `raw` data is sent as it is.
fn inbound(s: &Setup, id: u64, gas_limit: u32, fee: u64, command: &'static [u8]) -> Message {
    let data = TestMessageReceiver::onMessageInvocationCall { data: Bytes::from_static(command) }.abi_encode();
    inbound_raw(s, id, gas_limit, fee, data.into())
}

fn inbound_raw(s: &Setup, id: u64, gas_limit: u32, fee: u64, data: Bytes) -> Message {
    Message {
        id,
        fee,
        gasLimit: gas_limit,
        from: account(7),
        srcChainId: L1,
        srcOwner: account(7),
        destChainId: L2,
        destOwner: account(8),
        to: s.receiver,
        value: U256::from(12345),
        data,
    }
}

fn receive_fast(s: &mut Setup, m: &Message) {
    let slot = m.signal_slot(REMOTE_BRIDGE);
    s.chain
        .exec(Tx::sol(s.syncer, s.core.signal_service, SignalService::setSignalsReceivedCall { slots: vec![slot] }))
        .expect_ok();
}

fn process(s: &mut Setup, caller: Address, m: &Message, proof: Bytes, gas: u64) -> Outcome {
    let call = Bridge::processMessageCall { message: m.clone(), proof };
    s.chain.exec(Tx::sol(caller, s.core.bridge, call).gas(gas))
}

fn status(s: &Setup, m: &Message) -> u8 {
    s.chain.storage(s.core.bridge, U256::from_be_bytes(message_status_key(m.hash()).0)).to::<u8>()
}

fn context_slots(s: &Setup) -> BridgeContext {
    BridgeContext::from_slots(
        s.chain.storage(s.core.bridge, CTX_MSG_HASH_SLOT),
        s.chain.storage(s.core.bridge, CTX_FROM_CHAIN_SLOT),
    )
}

#[test]
fn send_message_assigns_fields_and_emits_message_sent_then_signal_sent() {
    let mut s = setup();
    let user = account(3);
    for expected_id in 0..3u64 {
        let m = outbound(Address::repeat_byte(0x44), 0, b"");
        let out = s
            .chain
            .exec(Tx::sol(user, s.core.bridge, Bridge::sendMessageCall { message: m.clone() }).value(ether(1)))
            .expect_ok();
        let ret = out.decode::<Bridge::sendMessageCall>();
        let expected = m.with_bridge_assigned(expected_id, user, L2);
        assert_eq!(ret.sent, expected);
        assert_eq!(ret.msgHash, expected.hash());

        let logs = out.logs();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].address, s.core.bridge);
        let sent = Bridge::MessageSent::decode_log_data(&logs[0].data).unwrap();
        assert_eq!((sent.msgHash, sent.message), (expected.hash(), expected.clone()));
        assert_eq!(logs[1].address, s.core.signal_service);
        let signal = SignalService::SignalSent::decode_log_data(&logs[1].data).unwrap();
        let slot = signal_slot(L2, s.core.bridge, expected.hash());
        assert_eq!((signal.app, signal.signal, signal.slot), (s.core.bridge, expected.hash(), slot));
        // The signal sits at the raw slot, and nextMessageId moved on at slot 251 offset 8.
        assert_eq!(
            s.chain.storage(s.core.signal_service, U256::from_be_bytes(slot.0)),
            U256::from_be_bytes(expected.hash().0)
        );
        assert_eq!(decode_next_message_id(s.chain.storage(s.core.bridge, NEXT_MESSAGE_ID_SLOT)), expected_id + 1);
    }
    assert_eq!(s.chain.read(s.core.bridge, Bridge::nextMessageIdCall {}), 3);
}

#[test]
fn send_message_rejects_bad_messages() {
    let mut s = setup();
    let user = account(3);
    let send = |s: &mut Setup, m: Message, value: U256| {
        s.chain.exec(Tx::sol(user, s.core.bridge, Bridge::sendMessageCall { message: m }).value(value))
    };

    send(&mut s, outbound(Address::repeat_byte(4), 0, b""), ether(2)).expect_revert::<Bridge::B_INVALID_VALUE>();
    let mut m = outbound(Address::repeat_byte(4), 0, b"");
    m.fee = 1;
    send(&mut s, m, ether(1) + U256::from(1)).expect_revert::<Bridge::B_INVALID_FEE>();
    let min = min_gas_limit(4) as u32;
    send(&mut s, outbound(Address::repeat_byte(4), min, b"abcd"), ether(1))
        .expect_revert::<Bridge::B_INSUFFICIENT_GAS>();
    send(&mut s, outbound(Address::repeat_byte(4), min + 1, b"abcd"), ether(1)).expect_ok();
    let mut m = outbound(Address::repeat_byte(4), 0, b"");
    m.destChainId = 1; // no bridge registered for chain 1
    send(&mut s, m, ether(1)).expect_revert::<Bridge::B_INVALID_CHAINID>();
    let mut m = outbound(Address::repeat_byte(4), 0, b"");
    m.destChainId = L2;
    send(&mut s, m, ether(1)).expect_revert::<Bridge::B_INVALID_CHAINID>();
    let mut m = outbound(Address::repeat_byte(4), 0, b"");
    m.srcOwner = Address::ZERO;
    send(&mut s, m, ether(1)).expect_revert::<Bridge::B_INVALID_USER>();
    send(&mut s, outbound(Address::ZERO, 0, b""), ether(1)).expect_revert::<Bridge::B_INVALID_TO>();
}

#[test]
fn fast_path_needs_the_signal_marked_received() {
    let mut s = setup();
    let m = inbound(&s, 4, 0, 0, b"");
    let dest_owner = m.destOwner;
    assert_eq!(context_slots(&s), BridgeContext { msg_hash: B256::ZERO, from: Address::ZERO, src_chain_id: 0 });

    process(&mut s, dest_owner, &m, Bytes::new(), 3_000_000).expect_revert::<Bridge::B_SIGNAL_NOT_RECEIVED>();
    assert_eq!(status(&s, &m), 0, "still NEW");

    // Only the authorized syncer may mark signals received.
    let slot = m.signal_slot(REMOTE_BRIDGE);
    s.chain
        .exec(Tx::sol(account(3), s.core.signal_service, SignalService::setSignalsReceivedCall { slots: vec![slot] }))
        .expect_revert::<SignalService::SS_UNAUTHORIZED>();
    receive_fast(&mut s, &m);

    process(&mut s, dest_owner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 2, "DONE");
    // Inside the invocation, context() told the app exactly (hash, from, srcChainId).
    let r = s.receiver;
    assert_eq!(s.chain.read(r, TestMessageReceiver::seenHashCall {}), m.hash());
    assert_eq!(s.chain.read(r, TestMessageReceiver::seenFromCall {}), m.from);
    assert_eq!(s.chain.read(r, TestMessageReceiver::seenSrcChainIdCall {}), L1);
    assert_eq!(s.chain.read(r, TestMessageReceiver::seenValueCall {}), m.value);
    // Afterwards the slots hold the placeholders.
    assert!(context_slots(&s).is_idle());
    assert_eq!(s.chain.storage(s.core.bridge, CTX_MSG_HASH_SLOT), U256::MAX);
    assert_eq!(s.chain.storage(s.core.bridge, CTX_FROM_CHAIN_SLOT), U256::MAX >> 32);
    // A message is processed once.
    process(&mut s, dest_owner, &m, Bytes::new(), 3_000_000).expect_revert::<Bridge::B_STATUS_MISMATCH>();
}

#[test]
fn context_reads_the_raw_slots() {
    let mut s = setup();
    let ctx = BridgeContext { msg_hash: B256::repeat_byte(0x5a), from: account(6), src_chain_id: 424242 };
    let (a, b) = ctx.to_slots();
    s.chain.set_storage(s.core.bridge, CTX_MSG_HASH_SLOT, a);
    s.chain.set_storage(s.core.bridge, CTX_FROM_CHAIN_SLOT, b);
    let got = s.chain.read(s.core.bridge, Bridge::contextCall {});
    assert_eq!((got.msgHash, got.from, got.srcChainId), (ctx.msg_hash, ctx.from, ctx.src_chain_id));

    for idle in [BridgeContext::IDLE, BridgeContext { msg_hash: B256::ZERO, from: Address::ZERO, src_chain_id: 0 }] {
        let (a, b) = idle.to_slots();
        s.chain.set_storage(s.core.bridge, CTX_MSG_HASH_SLOT, a);
        s.chain.set_storage(s.core.bridge, CTX_FROM_CHAIN_SLOT, b);
        s.chain
            .view(Tx::sol(account(3), s.core.bridge, Bridge::contextCall {}))
            .expect_revert::<Bridge::B_INVALID_CONTEXT>();
    }
}

#[test]
fn only_the_destination_owner_processes_a_message_without_gas_limit() {
    let mut s = setup();
    let m = inbound(&s, 1, 0, 0, b"");
    receive_fast(&mut s, &m);
    process(&mut s, account(3), &m, Bytes::new(), 3_000_000).expect_revert::<Bridge::B_PERMISSION_DENIED>();
    process(&mut s, m.destOwner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 2);
}

#[test]
fn relayer_invocation_gets_gas_limit_minus_the_minimum() {
    let mut s = setup();
    let relayer = account(3);
    let m = inbound(&s, 2, 1_500_000, 777, b"");
    let min = min_gas_limit(m.data.len());
    receive_fast(&mut s, &m);
    let forwarded = m.relayed_invocation_gas().unwrap();
    assert_eq!(forwarded, 1_500_000 - min);

    let before = s.chain.balance(relayer);
    process(&mut s, relayer, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 2);
    let seen = s.chain.read(s.receiver, TestMessageReceiver::seenGasCall {}).to::<u64>();
    // A call carrying value adds the 2300 stipend; the callee's first gasleft() is a few hundred below that.
    let expected = forwarded + 2300;
    assert!(seen <= expected && seen + 1000 > expected, "callee saw {seen} gas, bridge should forward {forwarded}");
    assert_eq!(s.chain.balance(relayer) - before, U256::from(777), "the relayer earns the fee");
}

#[test]
fn relayer_cannot_starve_the_invocation() {
    let mut s = setup();
    let relayer = account(3);
    let m = inbound(&s, 3, 1_500_000, 0, b"burn");
    receive_fast(&mut s, &m);
    // Too little gas to forward the full invocation gas: the bridge aborts instead of marking RETRIABLE.
    let out = process(&mut s, relayer, &m, Bytes::new(), 650_000);
    assert!(!out.is_success());
    assert_eq!(status(&s, &m), 0, "still NEW, can be relayed again");
    // With enough gas the invocation runs out of its own gas and the message becomes RETRIABLE.
    process(&mut s, relayer, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 1);
}

#[test]
fn relayer_proof_size_is_capped() {
    let mut s = setup();
    let m = inbound(&s, 5, 1_500_000, 0, b"");
    let big = Bytes::from(vec![0u8; 200_001]);
    process(&mut s, account(3), &m, big, 29_000_000).expect_revert::<Bridge::B_PROOF_TOO_LARGE>();
}

#[test]
fn failed_or_foreign_invocations_are_retriable() {
    let mut s = setup();
    let m = inbound(&s, 6, 0, 0, b"revert");
    receive_fast(&mut s, &m);
    process(&mut s, m.destOwner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 1, "RETRIABLE: the invocation reverted, the transaction did not");
    assert!(context_slots(&s).is_idle());

    // Data that is not onMessageInvocation is never dispatched.
    // Data that is not onMessageInvocation is never dispatched: sent to an account without code, the call
    // would succeed (DONE) if it were made.
    let mut m = inbound_raw(&s, 7, 0, 0, Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]));
    m.to = account(40);
    receive_fast(&mut s, &m);
    process(&mut s, m.destOwner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 1);
    assert_eq!(s.chain.balance(account(40)), U256::ZERO, "no value was delivered");
    // Shorter than a selector is dispatched as a plain call.
    let mut m = inbound_raw(&s, 8, 0, 0, Bytes::from_static(&[0xde]));
    m.to = account(41);
    receive_fast(&mut s, &m);
    process(&mut s, m.destOwner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 2);
    assert_eq!(s.chain.balance(account(41)), m.value);
}

#[test]
fn invocation_can_send_the_reply() {
    let mut s = setup();
    let m = inbound(&s, 8, 0, 0, b"reply");
    receive_fast(&mut s, &m);
    let out = process(&mut s, m.destOwner, &m, Bytes::new(), 3_000_000).expect_ok();
    assert_eq!(status(&s, &m), 2, "the reply was sent from inside processMessage");
    let reply_hash = s.chain.read(s.receiver, TestMessageReceiver::replyHashCall {});
    let sent = out
        .logs()
        .iter()
        .find_map(|l| Bridge::MessageSent::decode_log_data(&l.data).ok())
        .expect("MessageSent for the reply");
    assert_eq!(sent.msgHash, reply_hash);
    assert_eq!(sent.message.destChainId, L1);
    assert_eq!(sent.message.from, s.receiver);
    assert_eq!(sent.message.id, 0);
}

#[test]
fn message_abi_round_trips() {
    let s = setup();
    let m = inbound(&s, 9, 1, 2, b"xyz");
    assert_eq!(Message::abi_decode(&m.abi_encoded()).unwrap(), m);
}
