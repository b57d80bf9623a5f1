//! No stranded value: a message whose invocation failed (RETRIABLE) is retried by anyone, failed by its
//! destination owner, and then recalled on its source chain with a Merkle proof of the failure signal,
//! refunding its value to its source owner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use common::{Chain, Core, Outcome, Remote, Tx, account, deploy_core, ether, trie::prove};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    Checkpoint, HopProof, Message,
    bindings::{bridge::Bridge, signal_service::SignalService, test_receiver::TestMessageReceiver},
    signal_slot,
    slots::bridge::message_status_key,
};

const L1: u64 = 3151908;
const L2: u64 = 763374;

// Status values of IBridge.Status.
const RETRIABLE: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;
const RECALLED: u8 = 4;

/// Both chains, their cores deployed by the same owner (so at the same addresses on both), the other
/// chain registered in each resolver, a test receiver on L1, and each chain's syncer.
struct World {
    l1: Chain,
    l1_core: Core,
    l2: Chain,
    l2_core: Core,
    l1_syncer: Address,
    l2_syncer: Address,
    receiver: Address,
}

fn world() -> World {
    let (owner, l1_syncer, l2_syncer) = (account(1), account(2), account(3));
    // deploy_core creates resolver, signal service and bridge with the owner's nonces 0, 1, 2.
    let remote = |chain_id| Remote { chain_id, bridge: owner.create(2), signal_service: owner.create(1) };
    let mut l1 = Chain::new(L1, SpecId::CANCUN);
    let l1_core = deploy_core(&mut l1, owner, l1_syncer, remote(L2));
    let mut l2 = Chain::new(L2, SpecId::SHANGHAI);
    let l2_core = deploy_core(&mut l2, owner, l2_syncer, remote(L1));
    assert_eq!((l1_core.bridge, l2_core.bridge), (owner.create(2), owner.create(2)));
    let receiver = l1.deploy_raw(owner, "test/TestMessageReceiver", &[]);
    l1.set_balance(l1_core.bridge, ether(100));
    for who in [user(), dest_owner(), relayer()] {
        l1.set_balance(who, ether(10));
        l2.set_balance(who, ether(10));
    }
    World { l1, l1_core, l2, l2_core, l1_syncer, l2_syncer, receiver }
}

fn user() -> Address {
    account(10)
}
fn dest_owner() -> Address {
    account(11)
}
fn relayer() -> Address {
    account(12)
}

/// Sends 1 ether from `user()` on L2 to the L1 receiver with `command` (see TestMessageReceiver) and
/// makes it available on L1 through the fast path; returns the message as sent.
fn send_to_l1(w: &mut World, gas_limit: u32, command: &'static [u8]) -> Message {
    let data = TestMessageReceiver::onMessageInvocationCall { data: Bytes::from_static(command) }.abi_encode();
    let m = Message {
        id: 0,
        fee: 0,
        gasLimit: gas_limit,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: user(),
        destChainId: L1,
        destOwner: dest_owner(),
        to: w.receiver,
        value: ether(1),
        data: data.into(),
    };
    let call = Bridge::sendMessageCall { message: m };
    let sent = w.l2.exec(Tx::sol(user(), w.l2_core.bridge, call).value(ether(1))).expect_ok();
    let m = sent.decode::<Bridge::sendMessageCall>().sent;
    let slot = m.signal_slot(w.l2_core.bridge);
    let mark = SignalService::setSignalsReceivedCall { slots: vec![slot] };
    w.l1.exec(Tx::sol(w.l1_syncer, w.l1_core.signal_service, mark)).expect_ok();
    m
}

fn process_on_l1(w: &mut World, from: Address, m: &Message) -> Outcome {
    let call = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() };
    w.l1.exec(Tx::sol(from, w.l1_core.bridge, call).gas(5_000_000))
}

fn status(chain: &Chain, bridge: Address, m: &Message) -> u8 {
    chain.storage(bridge, U256::from_be_bytes(message_status_key(m.hash()).0)).to::<u8>()
}

fn set_flaky(w: &mut World, failing: bool) {
    let call = TestMessageReceiver::setFailingCall { _failing: failing };
    w.l1.exec(Tx::sol(account(1), w.receiver, call)).expect_ok();
}

fn retry(w: &mut World, from: Address, m: &Message, last: bool) -> Outcome {
    let call = Bridge::retryMessageCall { message: m.clone(), isLastAttempt: last };
    w.l1.exec(Tx::sol(from, w.l1_core.bridge, call))
}

fn failed_signal(m: &Message) -> B256 {
    m.hash() ^ B256::from(U256::from(FAILED))
}

#[test]
fn anyone_retries_a_retriable_message_until_it_succeeds() {
    let mut w = world();
    set_flaky(&mut w, true);
    let m = send_to_l1(&mut w, 2_000_000, b"flaky");
    process_on_l1(&mut w, relayer(), &m).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), RETRIABLE);
    assert_eq!(w.l1.balance(w.receiver), U256::ZERO, "the value stays in the bridge");

    // A retry that fails again changes nothing: the message stays RETRIABLE.
    retry(&mut w, relayer(), &m, false).expect_revert::<Bridge::B_RETRY_FAILED>();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), RETRIABLE);
    // Only the destination owner may make the last attempt.
    retry(&mut w, relayer(), &m, true).expect_revert::<Bridge::B_PERMISSION_DENIED>();

    set_flaky(&mut w, false);
    let calls_before = w.l1.read(w.receiver, TestMessageReceiver::callsCall {});
    let out = retry(&mut w, relayer(), &m, false).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), DONE);
    assert_eq!(w.l1.balance(w.receiver), ether(1), "the retry delivered the value");
    assert_eq!(w.l1.read(w.receiver, TestMessageReceiver::callsCall {}), calls_before + U256::from(1));
    // The invocation saw the message's context, as in processMessage.
    assert_eq!(w.l1.read(w.receiver, TestMessageReceiver::seenHashCall {}), m.hash());
    assert_eq!(w.l1.read(w.receiver, TestMessageReceiver::seenFromCall {}), m.from);
    let status_changes: Vec<_> =
        out.logs().into_iter().filter_map(|l| Bridge::MessageStatusChanged::decode_log_data(&l.data).ok()).collect();
    assert_eq!(status_changes.len(), 1);
    assert_eq!((status_changes[0].msgHash, status_changes[0].status), (m.hash(), DONE));

    // Done is final.
    retry(&mut w, relayer(), &m, false).expect_revert::<Bridge::B_STATUS_MISMATCH>();
    let fail = Bridge::failMessageCall { message: m.clone() };
    w.l1.exec(Tx::sol(dest_owner(), w.l1_core.bridge, fail)).expect_revert::<Bridge::B_STATUS_MISMATCH>();
}

#[test]
fn a_message_without_gas_limit_is_retried_by_its_destination_owner_only() {
    let mut w = world();
    set_flaky(&mut w, true);
    let m = send_to_l1(&mut w, 0, b"flaky");
    process_on_l1(&mut w, dest_owner(), &m).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), RETRIABLE);
    set_flaky(&mut w, false);
    retry(&mut w, relayer(), &m, false).expect_revert::<Bridge::B_PERMISSION_DENIED>();
    retry(&mut w, dest_owner(), &m, false).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), DONE);
}

#[test]
fn a_failed_last_attempt_marks_the_message_failed_and_signals_it() {
    let mut w = world();
    let m = send_to_l1(&mut w, 2_000_000, b"revert");
    process_on_l1(&mut w, relayer(), &m).expect_ok();
    retry(&mut w, dest_owner(), &m, true).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), FAILED);
    let sent = SignalService::isSignalSent_0Call { app: w.l1_core.bridge, signal: failed_signal(&m) };
    assert!(w.l1.read(w.l1_core.signal_service, sent));
    let signal_for = Bridge::signalForFailedMessageCall { msgHash: m.hash() };
    assert_eq!(w.l1.read(w.l1_core.bridge, signal_for), failed_signal(&m), "msgHash ^ 3, as upstream");
}

/// A hop proof of L1's signal service at `slot` against L1's current state, saved on L2 as the checkpoint
/// of L1 block `block`.
fn l1_proof_saved_on_l2(w: &mut World, block: u64, slot: B256) -> Bytes {
    let p = prove(&w.l1.db, w.l1_core.signal_service, slot);
    let checkpoint = Checkpoint {
        blockNumber: alloy_primitives::aliases::U48::from(block),
        blockHash: keccak256(p.state_root),
        stateRoot: p.state_root,
    };
    let save = SignalService::saveCheckpointCall { checkpoint: checkpoint.into() };
    w.l2.exec(Tx::sol(w.l2_syncer, w.l2_core.signal_service, save)).expect_ok();
    let hop = HopProof {
        chainId: L1,
        blockId: block,
        rootHash: p.state_root,
        cacheOption: 0,
        accountProof: p.account_proof,
        storageProof: p.storage_proof,
    };
    vec![hop].abi_encode().into()
}

fn recall(w: &mut World, from: Address, m: &Message, proof: Bytes) -> Outcome {
    let call = Bridge::recallMessageCall { message: m.clone(), proof };
    w.l2.exec(Tx::sol(from, w.l2_core.bridge, call))
}

#[test]
fn a_failed_message_is_recalled_with_a_proof_and_refunds_its_source_owner() {
    let mut w = world();
    let m = send_to_l1(&mut w, 2_000_000, b"revert");
    process_on_l1(&mut w, relayer(), &m).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), RETRIABLE);
    let failed_slot = signal_slot(L1, w.l1_core.bridge, failed_signal(&m));

    // Before it failed on L1, a proof (of absence) of the failure signal does not recall it.
    let proof = l1_proof_saved_on_l2(&mut w, 10, failed_slot);
    recall(&mut w, relayer(), &m, proof).expect_revert::<Bridge::B_SIGNAL_NOT_RECEIVED>();

    // Only the destination owner marks it failed.
    let fail = Bridge::failMessageCall { message: m.clone() };
    w.l1.exec(Tx::sol(relayer(), w.l1_core.bridge, fail.clone())).expect_revert::<Bridge::B_PERMISSION_DENIED>();
    w.l1.exec(Tx::sol(dest_owner(), w.l1_core.bridge, fail)).expect_ok();
    assert_eq!(status(&w.l1, w.l1_core.bridge, &m), FAILED);

    // Anyone recalls it on L2 with a proof of the failure signal; the source owner gets the value back.
    let proof = l1_proof_saved_on_l2(&mut w, 11, failed_slot);
    let (owner_before, bridge_before) = (w.l2.balance(user()), w.l2.balance(w.l2_core.bridge));
    recall(&mut w, relayer(), &m, proof.clone()).expect_ok();
    assert_eq!(status(&w.l2, w.l2_core.bridge, &m), RECALLED);
    assert_eq!(w.l2.balance(user()), owner_before + ether(1));
    assert_eq!(w.l2.balance(w.l2_core.bridge), bridge_before - ether(1));

    // Once.
    recall(&mut w, relayer(), &m, proof.clone()).expect_revert::<Bridge::B_STATUS_MISMATCH>();
    // A message this bridge never sent (same proof, another id) is refused before any proof is checked.
    let mut forged = m.clone();
    forged.id += 1;
    recall(&mut w, relayer(), &forged, proof).expect_revert::<Bridge::B_MESSAGE_NOT_SENT>();
}

#[test]
fn the_bridge_accepts_funding() {
    let mut w = world();
    let before = w.l1.balance(w.l1_core.bridge);
    w.l1.exec(Tx::call(user(), w.l1_core.bridge, Bytes::new()).value(ether(2)).gas(30_000)).expect_ok();
    assert_eq!(w.l1.balance(w.l1_core.bridge), before + ether(2));
}
