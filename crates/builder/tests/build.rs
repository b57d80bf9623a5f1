//! The surge builder on the embedded host with the dev genesis: deterministic blocks that the host's
//! import path accepts, injected slots received, processMessage working only with its slot, round trips
//! settled in one block, stage-then-commit, and the golden-touch and anchor protections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::{
    consensus::{Transaction, TxEnvelope, transaction::Recovered},
    eips::Encodable2718,
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use common::*;
use surge_builder::{AnchorInput, build_anchor};
use surge_host::execute::{BlockInput, ExecuteError, execute_block};
use surge_l2_rules::L2BlockError;
use surge_primitives::{
    GOLDEN_TOUCH_ADDRESS, GOLDEN_TOUCH_PRIVATE_KEY, Message,
    bindings::{anchor::Anchor, bridge::Bridge},
    slots::bridge::message_status_key,
};

fn process_message(l2: &mut DevL2, from: u32, message: &Message) -> Recovered<TxEnvelope> {
    let call = Bridge::processMessageCall { message: message.clone(), proof: Bytes::new() };
    let bridge = l2.predeploys().bridge;
    l2.tx(from, TxKind::Call(bridge), call.abi_encode(), 600_000)
}

fn transfer(l2: &mut DevL2, from: u32) -> Recovered<TxEnvelope> {
    l2.tx(from, TxKind::Call(Address::repeat_byte(0x5a)), b"hello".to_vec(), 50_000)
}

/// The host's import input for a block the builder made (what another node re-executes).
fn import_input(header: &alloy::consensus::Header) -> BlockInput {
    BlockInput {
        timestamp: header.timestamp,
        fee_recipient: header.beneficiary,
        extra_data: Some(header.extra_data.clone()),
        ..Default::default()
    }
}

#[test]
fn a_block_rebuilt_from_the_same_inputs_is_byte_identical_and_imports_elsewhere() {
    let mut a = DevL2::new();
    let b = DevL2::new();
    let importer = DevL2::new();
    for block in 0..3u32 {
        let user = dev_key(4).address();
        let m = reply(user, a.spec.chain_id, u64::from(block));
        let slot = m.signal_slot(l1_bridge());
        let txs = vec![transfer(&mut a, 2), process_message(&mut a, 4, &m), transfer(&mut a, 3), transfer(&mut a, 2)];
        a.queue.push_user_op(slot, None);
        b.queue.push_user_op(slot, None);

        let first = a.build(txs.clone());
        let again = a.build(txs.clone());
        assert_eq!(first.header, again.header, "block {block}: same header before sealing");
        let encode = |p: &surge_builder::BuiltPayload| -> Vec<Vec<u8>> {
            p.body.transactions.iter().map(|t| t.encoded_2718()).collect()
        };
        assert_eq!(encode(&first), encode(&again));
        assert_eq!(first.receipts, again.receipts);
        assert_eq!(first.changes, again.changes);
        assert_eq!(first.body.transactions.len(), 5, "anchor + 4");
        assert!(first.receipts.iter().all(|r| r.status()), "{:?}", first.receipts);

        // Another node re-executes the body through the import path (full L2 validation).
        let parent = importer.store.head().unwrap();
        let senders: Vec<Address> = first.senders.clone();
        let body: Vec<Recovered<TxEnvelope>> =
            first.body.transactions.iter().zip(senders).map(|(t, s)| Recovered::new_unchecked(t.clone(), s)).collect();
        let input = import_input(&first.header);
        let imported =
            execute_block(&importer.spec, importer.store.latest_state().unwrap(), &parent, &input, body).unwrap();
        let imported = importer.store.commit_block(imported).unwrap();

        let sealed_a = a.commit(first);
        let (_, sealed_b) = b.build_and_commit(txs);
        assert_eq!(sealed_a.hash, sealed_b.hash, "block {block}: same inputs, same block hash");
        assert_eq!(sealed_a.hash, imported.hash, "block {block}: the import path agrees to the hash");
        assert!(a.signal_received(slot));
    }
}

#[test]
fn injected_slots_are_received_and_process_message_needs_them() {
    let mut l2 = DevL2::new();
    let user = dev_key(4).address();
    let m = reply(user, l2.spec.chain_id, 42);
    let slot = m.signal_slot(l1_bridge());
    let tx = process_message(&mut l2, 4, &m);

    // The same transaction in a block without the slot is left out: it would revert.
    let without = l2.build(vec![tx.clone()]);
    assert_eq!(without.body.transactions.len(), 1, "the anchor alone");
    assert_eq!(without.stats.held, 1, "held for its answer");

    l2.queue.push_user_op(slot, None);
    let (with, _) = l2.build_and_commit(vec![tx]);
    assert!(with.receipts[1].status(), "processMessage with its signal injected succeeds");
    assert!(l2.signal_received(slot), "the anchor marked the slot received");
    let status = l2.storage(l2.predeploys().bridge, message_status_key(m.hash()));
    assert_eq!(status, U256::from(2), "the message is DONE");
    assert_eq!(with.inputs.user_op_slots, vec![slot]);
    assert!(l2.queue.pending().is_empty(), "committed inputs are consumed");
}

/// Revert protection: a transaction that consumes an answer its block did not receive is never mined. It
/// is held (its sender's later transactions wait behind it), then rejected with the planner's reason,
/// while another sender's transactions go on; the same transaction goes in once its answer is received.
#[test]
fn an_unanswered_transaction_is_held_then_rejected_with_the_planner_s_reason() {
    let mut l2 = DevL2::new();
    let user = dev_key(4).address();
    let m = reply(user, l2.spec.chain_id, 42);
    let waiting = process_message(&mut l2, 4, &m);
    let behind = transfer(&mut l2, 4);
    let other = transfer(&mut l2, 5);
    let run = |l2: &DevL2, txs: Vec<Recovered<TxEnvelope>>| {
        let mut list = surge_builder::ListTransactions::new(txs);
        let payload = l2.builder.build(&l2.store, &l2.head(), &l2.attributes(), &mut list).unwrap();
        (payload, list.marked().to_vec())
    };
    let txs = vec![waiting.clone(), behind.clone(), other.clone()];

    let (held, marked) = run(&l2, txs.clone());
    let hashes: Vec<_> = held.body.transactions.iter().map(|t| *t.tx_hash()).collect();
    assert_eq!(hashes[1..], [*other.tx_hash()], "the other sender's transfer goes in, sender 4 waits");
    assert_eq!(held.stats.held, 1);
    assert!(matches!(&marked[..], [(h, surge_interfaces::InvalidKind::NotThisBlock(_))] if h == waiting.tx_hash()));

    // The planner says no answer will come: rejected with its reason (the pool keeps the later nonce).
    l2.queue.refuse(*waiting.tx_hash(), "answer already taken".into());
    let (rejected, marked) = run(&l2, txs.clone());
    assert_eq!(rejected.body.transactions.len(), 2);
    let [(hash, surge_interfaces::InvalidKind::Rejected(why))] = &marked[..] else { panic!("{marked:?}") };
    assert_eq!(hash, waiting.tx_hash());
    assert!(why.contains(&format!("id {}", m.id)) && why.ends_with("answer already taken"), "{why}");

    // With its answer received, the same transaction settles, and the one behind it follows.
    l2.queue.push_user_op(m.signal_slot(l1_bridge()), None);
    let (settled, marked) = run(&l2, txs);
    assert!(marked.is_empty(), "{marked:?}");
    assert_eq!(settled.body.transactions.len(), 4);
    assert!(settled.receipts.iter().all(|r| r.status()));
}

/// Two transactions embedding the same answer: the first to run takes it, and the second, which would only
/// revert (the message is processed already), is held out of the block, in this block and the next.
#[test]
fn a_second_transaction_consuming_a_taken_answer_is_held() {
    let mut l2 = DevL2::new();
    let user = dev_key(4).address();
    let m = Message { gasLimit: 1_000_000, ..reply(user, l2.spec.chain_id, 9) };
    let (first, second) = (process_message(&mut l2, 4, &m), process_message(&mut l2, 5, &m));
    l2.queue.push_user_op(m.signal_slot(l1_bridge()), None);
    let (block, _) = l2.build_and_commit(vec![first.clone(), second.clone()]);
    let hashes: Vec<_> = block.body.transactions.iter().map(|t| *t.tx_hash()).collect();
    assert_eq!(hashes[1..], [*first.tx_hash()], "the second is not mined to revert");
    assert!(block.receipts[1].status());
    assert_eq!(block.stats.held, 1);
    let (later, _) = l2.build_and_commit(vec![second]);
    assert_eq!((later.body.transactions.len(), later.stats.held), (1, 1), "held in a later block too");
}

#[test]
fn a_round_trip_settles_in_one_block_with_its_return_slot() {
    let mut l2 = DevL2::new();
    let app = deploy_app(&mut l2);
    let RoundTrip { tx, slot } = planned_round_trip(&mut l2, app, 5, 1);
    l2.queue.push_return_slot(slot.clone());

    // Staged, not consumed: a build that is thrown away leaves the slot queued.
    let discarded = l2.build(vec![tx.clone()]);
    assert_eq!(discarded.inputs.return_slots, vec![slot.slot]);
    assert_eq!(l2.queue.pending().return_slots.len(), 1, "staging consumes nothing");

    let (payload, _) = l2.build_and_commit(vec![tx]);
    assert_eq!(payload.stats.passes, 1);
    assert!(payload.receipts[1].status(), "the round trip succeeds in one transaction");
    assert_eq!(payload.inputs.return_slots, vec![slot.slot]);
    assert!(payload.inputs.rejected_return_slots.is_empty());
    assert!(l2.signal_received(slot.slot));
    assert!(l2.queue.pending().return_slots.is_empty(), "consumed once committed");
}

#[test]
fn golden_touch_transactions_are_refused_by_the_pool_and_skipped_by_the_builder() {
    let mut l2 = DevL2::new();
    let key = alloy::signers::local::PrivateKeySigner::from_bytes(&GOLDEN_TOUCH_PRIVATE_KEY).unwrap();
    assert_eq!(key.address(), GOLDEN_TOUCH_ADDRESS);
    let mut nonces = Default::default();
    let stolen = sign(&key, &mut nonces, l2.spec.chain_id, TxKind::Call(Address::repeat_byte(1)), vec![], 21_000);

    let config = surge_host::seams::pool_config(&l2.spec, l2.head().gas_limit);
    let mut pool = surge_txpool::TxPool::new(config, 25_000_000);
    let err = pool.add(&stolen.inner().encoded_2718(), &l2.store.latest_state().unwrap()).unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("golden")
            || err.to_string().contains(&GOLDEN_TOUCH_ADDRESS.to_string()),
        "{err}"
    );

    // Forced into the candidates, together with a second anchor carrying a slot of its own.
    let base_fee = l2.build(vec![]).header.base_fee_per_gas.unwrap();
    let evil_slot = alloy_primitives::keccak256("forged");
    let second_anchor = build_anchor(&AnchorInput {
        chain_id: l2.spec.chain_id,
        nonce: 1,
        base_fee,
        l1_checkpoint: checkpoint(99),
        signal_slots: vec![evil_slot],
    })
    .unwrap();
    let user = transfer(&mut l2, 3);
    let (payload, _) = l2.build_and_commit(vec![stolen, second_anchor.clone(), user.clone()]);
    let hashes: Vec<_> = payload.body.transactions.iter().map(|t| *t.tx_hash()).collect();
    assert_eq!(hashes.len(), 2, "anchor and the user transfer only");
    assert_eq!(hashes[1], *user.tx_hash());
    // The first is skipped and its sender marked invalid, which drops the second without executing it.
    assert_eq!(payload.stats.skipped, 1);
    assert!(!l2.signal_received(evil_slot));

    // A block carrying a second golden-touch anchor is not even importable.
    let parent = l2.store.head().unwrap();
    let next = l2.build(vec![]);
    let mut txs: Vec<Recovered<TxEnvelope>> = next
        .body
        .transactions
        .iter()
        .zip(&next.senders)
        .map(|(t, s)| Recovered::new_unchecked(t.clone(), *s))
        .collect();
    txs.push(
        build_anchor(&AnchorInput { nonce: 2, ..anchor_input(&l2, next.header.base_fee_per_gas.unwrap()) }).unwrap(),
    );
    let err = execute_block(&l2.spec, l2.store.latest_state().unwrap(), &parent, &import_input(&next.header), txs)
        .unwrap_err();
    assert!(matches!(err, ExecuteError::L2 { source: L2BlockError::GoldenTouchAfterAnchor(1..), .. }), "{err}");
}

fn anchor_input(l2: &DevL2, base_fee: u64) -> AnchorInput {
    AnchorInput {
        chain_id: l2.spec.chain_id,
        nonce: 0,
        base_fee,
        l1_checkpoint: checkpoint(1),
        signal_slots: vec![alloy_primitives::keccak256("second")],
    }
}

#[test]
fn a_second_anchor_call_from_a_user_reverts() {
    let mut l2 = DevL2::new();
    let slot = alloy_primitives::keccak256("not yours");
    let call = Anchor::anchorV4WithSignalSlotsCall { l1Checkpoint: checkpoint(50).into(), signalSlots: vec![slot] };
    let anchor = l2.predeploys().anchor;
    let tx = l2.tx(3, TxKind::Call(anchor), call.abi_encode(), 500_000);
    let (payload, _) = l2.build_and_commit(vec![tx]);
    assert!(payload.receipts[0].status(), "the block's own anchor");
    assert_eq!(payload.body.transactions.len(), 2);
    assert!(!payload.receipts[1].status(), "a second anchor call reverts");
    assert!(!l2.signal_received(slot));
}

#[test]
fn user_transactions_get_the_gas_limit_minus_the_anchor_and_the_relay_reserve() {
    let mut l2 = DevL2::new();
    let limit = l2.head().gas_limit;
    // Fits only if the anchor's million is not counted against user transactions.
    let big = l2.tx(2, TxKind::Call(Address::repeat_byte(9)), vec![], limit - 1_000_000);
    let too_big = l2.tx(3, TxKind::Call(Address::repeat_byte(9)), vec![], limit - 999_999);
    let payload = l2.build(vec![too_big, big.clone()]);
    let included: Vec<_> = payload.body.transactions.iter().skip(1).map(|t| *t.tx_hash()).collect();
    assert_eq!(included, vec![*big.tx_hash()]);
    assert_eq!(payload.stats.skipped, 1);
    assert!(payload.body.transactions[1].gas_limit() + 1_000_000 <= limit);

    // A relay transaction's gas is reserved before user transactions are taken.
    let relay = l2.tx(4, TxKind::Call(Address::repeat_byte(8)), vec![], 100_000);
    l2.queue.push_user_op(alloy_primitives::keccak256("op"), Some(relay.clone()));
    let payload = l2.build(vec![big.clone()]);
    let included: Vec<_> = payload.body.transactions.iter().skip(1).map(|t| *t.tx_hash()).collect();
    assert_eq!(included, vec![*relay.tx_hash()], "the big user transaction no longer fits; the relay does");
    assert_eq!(payload.inputs.relay_txs, vec![*relay.tx_hash()]);
}

#[test]
fn a_build_that_fails_consumes_nothing() {
    let l2 = DevL2::new();
    let slot = alloy_primitives::keccak256("op");
    l2.queue.push_user_op(slot, None);
    let mut attributes = l2.attributes();
    attributes.timestamp = l2.head().timestamp; // not after the parent
    let err = l2
        .builder
        .build(&l2.store, &l2.head(), &attributes, &mut surge_builder::ListTransactions::new(vec![]))
        .unwrap_err();
    assert!(err.to_string().contains("timestamp"), "{err}");
    assert_eq!(l2.queue.pending().user_ops[0].slot, slot);
}

#[test]
fn slots_beyond_what_the_anchor_carries_wait_for_the_next_block() {
    let mut l2 = DevL2::new();
    let max = surge_builder::builder::DEFAULT_MAX_SIGNAL_SLOTS;
    let ops: Vec<_> = (0..max + 5).map(|i| alloy_primitives::keccak256(i.to_be_bytes())).collect();
    // The first user op's relay transaction goes with it; the last one's has to wait with its slot.
    let first_relay = transfer(&mut l2, 2);
    let last_relay = transfer(&mut l2, 3);
    for (i, slot) in ops.iter().enumerate() {
        let relay = match i {
            0 => Some(first_relay.clone()),
            i if i == ops.len() - 1 => Some(last_relay.clone()),
            _ => None,
        };
        l2.queue.push_user_op(*slot, relay);
    }
    let out = outbound(dev_key(5).address(), 1);
    let planned = out.clone().with_bridge_assigned(l2.next_message_id(), dev_key(5).address(), l2.spec.chain_id);
    let send =
        l2.tx(5, TxKind::Call(l2.predeploys().bridge), Bridge::sendMessageCall { message: out }.abi_encode(), 300_000);
    let back = reply(dev_key(5).address(), l2.spec.chain_id, 0);
    let slot = return_slot(&send, planned, &back);
    l2.queue.push_return_slot(slot.clone());

    let (payload, _) = l2.build_and_commit(vec![send.clone()]);
    assert!(payload.receipts[0].status(), "the anchor never runs out of gas");
    assert_eq!(payload.inputs.user_op_slots, ops[..max].to_vec());
    assert_eq!(payload.inputs.relay_txs, vec![*first_relay.tx_hash()]);
    // The sender did not need the reply to succeed, so it went in without its slot: that slot is dead.
    assert!(payload.receipts[1].status());
    assert_eq!(payload.inputs.rejected_return_slots[0].problem, surge_builder::SlotProblem::MinedWithoutSlot);
    assert!(ops[..max].iter().all(|s| l2.signal_received(*s)));
    assert!(!l2.signal_received(ops[max]));
    let pending = l2.queue.pending();
    assert_eq!(pending.user_ops.len(), 5);
    assert!(pending.return_slots.is_empty());

    // The next block takes the rest.
    let (payload, _) = l2.build_and_commit(vec![]);
    assert_eq!(payload.inputs.user_op_slots, ops[max..].to_vec());
    assert_eq!(payload.inputs.relay_txs, vec![*last_relay.tx_hash()]);
    assert!(ops.iter().all(|s| l2.signal_received(*s)));
}

#[test]
fn a_round_trip_whose_slot_has_no_room_waits_with_its_slot() {
    let mut l2 = DevL2::new();
    let app = deploy_app(&mut l2);
    let max = surge_builder::builder::DEFAULT_MAX_SIGNAL_SLOTS;
    for i in 0..max {
        l2.queue.push_user_op(alloy_primitives::keccak256(i.to_be_bytes()), None);
    }
    let RoundTrip { tx, slot } = planned_round_trip(&mut l2, app, 5, 1);
    l2.queue.push_return_slot(slot.clone());
    let (payload, _) = l2.build_and_commit(vec![tx.clone()]);
    assert_eq!(payload.excluded_txs, vec![*tx.tx_hash()], "it needs its reply, so it waits");
    assert_eq!(payload.inputs.rejected_return_slots[0].problem, surge_builder::SlotProblem::NoRoom);
    assert_eq!(l2.queue.pending().return_slots, vec![slot.clone()]);

    let (payload, _) = l2.build_and_commit(vec![tx.clone()]);
    assert_eq!(payload.inputs.return_slots, vec![slot.slot]);
    assert!(payload.receipts[1].status());
    assert!(l2.queue.pending().is_empty());
}

/// With no checkpoint accepted before (the first block), there is nothing to fall back to.
#[test]
fn an_anchor_that_would_revert_fails_the_build_with_the_reason() {
    let l2 = DevL2::new();
    l2.queue.push_user_op(alloy_primitives::keccak256("op"), None);
    let mut attributes = l2.attributes();
    attributes.l1_checkpoint.as_mut().unwrap().stateRoot = alloy_primitives::B256::ZERO; // the signal service refuses it
    let err = l2
        .builder
        .build(&l2.store, &l2.head(), &attributes, &mut surge_builder::ListTransactions::new(vec![]))
        .unwrap_err();
    assert!(matches!(err, surge_builder::BuildError::Anchor(_)), "{err}");
    assert!(err.to_string().contains("SS_INVALID_CHECKPOINT"), "{err}");
    assert_eq!(l2.queue.pending().user_ops.len(), 1, "nothing consumed");
    assert_eq!(l2.store.head().unwrap().header.number, 0);
}

#[test]
fn a_refused_checkpoint_falls_back_to_the_last_one_an_anchor_took() {
    let l2 = DevL2::new();
    // Block 1 anchors a good checkpoint.
    l2.build_and_commit(vec![]);
    let accepted = checkpoint(10);
    // Then the checkpoint source hands out one the signal service refuses, with a user op waiting.
    let op = alloy_primitives::keccak256("op");
    l2.queue.push_user_op(op, None);
    let mut attributes = l2.attributes();
    attributes.l1_checkpoint.as_mut().unwrap().stateRoot = alloy_primitives::B256::ZERO;
    let payload = l2
        .builder
        .build(&l2.store, &l2.head(), &attributes, &mut surge_builder::ListTransactions::new(vec![]))
        .expect("production goes on");
    let anchor = Anchor::anchorV4WithSignalSlotsCall::abi_decode(payload.body.transactions[0].input()).unwrap();
    assert_eq!(anchor.l1Checkpoint.blockNumber, accepted.blockNumber, "the last accepted checkpoint");
    assert_eq!(anchor.l1Checkpoint.stateRoot, accepted.stateRoot);
    assert!(anchor.signalSlots.is_empty(), "the slot waits for a good anchor");
    let reason = payload.stats.anchor_fallback.clone().expect("the fallback is reported");
    assert!(reason.contains("SS_INVALID_CHECKPOINT"), "{reason}");
    assert!(payload.inputs.user_op_slots.is_empty());
    l2.commit(payload);
    assert_eq!(l2.queue.pending().user_ops.len(), 1, "the user op is still waiting");
    // With a good checkpoint again, the slot goes in.
    let (next, _) = l2.build_and_commit(vec![]);
    assert_eq!(next.inputs.user_op_slots, vec![op]);
    assert_eq!(next.stats.anchor_fallback, None);
}

#[test]
fn the_anchor_carries_user_op_slots_then_return_slots() {
    let mut l2 = DevL2::new();
    let app = deploy_app(&mut l2);
    let RoundTrip { tx, slot } = planned_round_trip(&mut l2, app, 5, 1);
    l2.queue.push_return_slot(slot.clone());
    let ops = [alloy_primitives::keccak256("op 1"), alloy_primitives::keccak256("op 2")];
    for op in ops {
        l2.queue.push_user_op(op, None);
    }
    let payload = l2.build(vec![tx]);
    let anchor = Anchor::anchorV4WithSignalSlotsCall::abi_decode(payload.body.transactions[0].input()).unwrap();
    assert_eq!(anchor.signalSlots, vec![ops[0], ops[1], slot.slot]);
}

#[test]
fn past_the_deadline_the_block_is_sealed_with_what_it_has() {
    let mut l2 = DevL2::new();
    let relay = transfer(&mut l2, 2);
    l2.queue.push_user_op(alloy_primitives::keccak256("op"), Some(relay.clone()));
    let user = transfer(&mut l2, 3);
    let mut attributes = l2.attributes();
    attributes.deadline = Some(std::time::Instant::now());
    let payload = l2
        .builder
        .build(&l2.store, &l2.head(), &attributes, &mut surge_builder::ListTransactions::new(vec![user]))
        .unwrap();
    let hashes: Vec<_> = payload.body.transactions.iter().skip(1).map(|t| *t.tx_hash()).collect();
    assert_eq!(hashes, vec![*relay.tx_hash()], "no user transaction after the deadline; the relay still goes in");
}
