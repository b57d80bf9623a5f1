//! The consistency pass: a return slot stays in a block only if its transaction really sent the planned
//! message in that block. Transactions whose plan no longer holds lose their slot (and leave the block if
//! they fail without it), in a bounded number of passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, Bytes};
use common::*;
use surge_builder::{InconsistentSlot, SlotProblem};
use surge_primitives::Message;

/// A dev L2 with the round-trip app deployed in block 1.
fn with_app(max_passes: usize) -> (DevL2, Address) {
    let mut l2 = DevL2::with_passes(max_passes);
    let app = deploy_app(&mut l2);
    (l2, app)
}

fn names(rejected: &[InconsistentSlot]) -> String {
    rejected.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")
}

#[test]
fn inconsistent_return_slots_leave_the_block_with_the_transactions_that_fail_without_them() {
    let (mut l2, app) = with_app(3);
    let (chain_id, first_id) = (l2.spec.chain_id, l2.next_message_id());
    let planned = |m: &Message, id: u64| m.clone().with_bridge_assigned(id, app, chain_id);

    // C keeps its plan.
    let out_c = outbound(dev_key(5).address(), 1);
    let c = round_trip(&mut l2, app, 5, out_c.clone(), planned(&out_c, first_id), 100);
    // A's plan promised a message, but its sendMessage now reverts (a destination the bridge refuses).
    let out_a = outbound(dev_key(6).address(), 2);
    let broken = Message { destChainId: chain_id, ..out_a.clone() };
    let a = round_trip(&mut l2, app, 6, broken, planned(&out_a, first_id + 1), 101);
    // B sends a message with other data than planned.
    let out_b = outbound(dev_key(7).address(), 3);
    let changed = Message { data: Bytes::from_static(b"changed"), ..out_b.clone() };
    let b = round_trip(&mut l2, app, 7, changed, planned(&out_b, first_id + 1), 102);
    for t in [&c, &a, &b] {
        l2.queue.push_return_slot(t.slot.clone());
    }

    let (payload, _) = l2.build_and_commit(vec![c.tx.clone(), a.tx.clone(), b.tx.clone()]);
    assert_eq!(payload.stats.passes, 2, "one rebuild without the two bad slots");

    // No orphan slot: only C's slot is in the committed state, and C's round trip went through.
    assert!(l2.signal_received(c.slot.slot));
    assert!(!l2.signal_received(a.slot.slot), "A's slot is an orphan");
    assert!(!l2.signal_received(b.slot.slot), "B's slot is an orphan");
    assert_eq!(payload.inputs.return_slots, vec![c.slot.slot]);
    let txs: Vec<_> = payload.body.transactions.iter().skip(1).map(|t| *t.tx_hash()).collect();
    assert_eq!(txs, vec![*c.tx.tx_hash()], "A and B fail without their slots and are left out");
    assert_eq!(payload.excluded_txs, vec![*a.tx.tx_hash(), *b.tx.tx_hash()]);
    assert!(payload.receipts.iter().all(|r| r.status()));

    // The report names both transactions and says what each did.
    let rejected = &payload.inputs.rejected_return_slots;
    let text = names(rejected);
    assert!(text.contains(&a.tx.tx_hash().to_string()) && text.contains(&b.tx.tx_hash().to_string()), "{text}");
    assert_eq!(rejected.len(), 2, "{text}");
    assert_eq!(rejected[0].tx_hash, *a.tx.tx_hash());
    assert_eq!(rejected[0].problem, SlotProblem::NothingSent { attempted: true }, "{text}");
    assert_eq!(rejected[1].tx_hash, *b.tx.tx_hash());
    match &rejected[1].problem {
        SlotProblem::FieldsDiffer { expected, sent } => {
            assert_eq!(expected.data, out_b.data);
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].data, Bytes::from_static(b"changed"));
            assert_eq!(sent[0].id, first_id + 1, "the id the bridge really assigned");
        }
        other => panic!("B: {other:?}"),
    }
    assert!(l2.queue.pending().return_slots.is_empty(), "C consumed, A and B retired");
}

#[test]
fn a_slot_whose_transaction_is_not_in_the_block_waits_for_a_later_block() {
    let (mut l2, app) = with_app(3);
    let t = planned_round_trip(&mut l2, app, 5, 7);
    l2.queue.push_return_slot(t.slot.clone());

    let (payload, _) = l2.build_and_commit(vec![]);
    assert_eq!(payload.inputs.rejected_return_slots[0].problem, SlotProblem::TxNotInBlock);
    assert!(!l2.signal_received(t.slot.slot));
    assert_eq!(l2.queue.pending().return_slots, vec![t.slot.clone()], "offered again");

    let (payload, _) = l2.build_and_commit(vec![t.tx.clone()]);
    assert_eq!(payload.inputs.return_slots, vec![t.slot.slot]);
    assert!(payload.receipts[1].status());
    assert!(l2.signal_received(t.slot.slot));
}

#[test]
fn passes_are_bounded_and_the_last_one_settles_without_return_slots() {
    // B's plan is wrong; C's plan counted on B's message id, so C breaks once B is left out.
    let run = |max_passes: usize| {
        let (mut l2, app) = with_app(max_passes);
        let (chain_id, first_id) = (l2.spec.chain_id, l2.next_message_id());
        let out_b = outbound(dev_key(6).address(), 2);
        let changed = Message { data: Bytes::from_static(b"changed"), ..out_b.clone() };
        let b = round_trip(&mut l2, app, 6, changed, out_b.clone().with_bridge_assigned(first_id, app, chain_id), 1);
        let out_c = outbound(dev_key(7).address(), 3);
        let planned_c = out_c.clone().with_bridge_assigned(first_id + 1, app, chain_id);
        let c = round_trip(&mut l2, app, 7, out_c, planned_c, 2);
        l2.queue.push_return_slot(b.slot.clone());
        l2.queue.push_return_slot(c.slot.clone());
        let (payload, _) = l2.build_and_commit(vec![b.tx.clone(), c.tx.clone()]);
        assert!(!l2.signal_received(b.slot.slot) && !l2.signal_received(c.slot.slot), "no orphan slot");
        assert_eq!(payload.body.transactions.len(), 1, "both fail without their slots: only the anchor");
        assert_eq!(payload.stats.passes, max_passes);
        (payload, l2, c)
    };

    // Two passes: the second is the last, so C's slot is set aside unjudged and offered again.
    let (payload, l2, c) = run(2);
    let problems: Vec<_> = payload.inputs.rejected_return_slots.iter().map(|r| r.problem.clone()).collect();
    assert!(matches!(problems[0], SlotProblem::FieldsDiffer { .. }));
    assert_eq!(problems[1], SlotProblem::Unsettled, "{}", names(&payload.inputs.rejected_return_slots));
    assert_eq!(l2.queue.pending().return_slots, vec![c.slot], "an unsettled slot stays queued");

    // Three passes: the second finds C's message now gets B's id; the third runs without return slots.
    let (payload, l2, _) = run(3);
    let rejected = &payload.inputs.rejected_return_slots;
    match &rejected[1].problem {
        SlotProblem::FieldsDiffer { expected, sent } => assert_eq!(sent[0].id + 1, expected.id, "{}", names(rejected)),
        other => panic!("C: {other:?}"),
    }
    assert!(l2.queue.pending().return_slots.is_empty());
}

#[test]
fn planned_transactions_go_first_in_plan_order_and_one_that_fails_takes_the_later_ones_out() {
    use surge_builder::SyncTx;
    let (mut l2, app) = with_app(3);
    let (chain_id, first_id) = (l2.spec.chain_id, l2.next_message_id());
    let planned = |m: &Message, id: u64| m.clone().with_bridge_assigned(id, app, chain_id);
    let sync = |t: &RoundTrip, messages: Vec<Message>| SyncTx { tx: t.tx.clone(), messages };

    // C is planned right; A's message now differs from its plan; B comes after A.
    let out_c = outbound(dev_key(5).address(), 1);
    let c = round_trip(&mut l2, app, 5, out_c.clone(), planned(&out_c, first_id), 100);
    let out_a = outbound(dev_key(6).address(), 2);
    let changed = Message { data: Bytes::from_static(b"changed"), ..out_a.clone() };
    let a = round_trip(&mut l2, app, 6, changed, planned(&out_a, first_id + 1), 101);
    let out_b = outbound(dev_key(7).address(), 3);
    let b = round_trip(&mut l2, app, 7, out_b.clone(), planned(&out_b, first_id + 2), 102);
    l2.queue.push_sync_tx(sync(&c, vec![planned(&out_c, first_id)]), vec![c.slot.clone()]);
    l2.queue.push_sync_tx(sync(&a, vec![planned(&out_a, first_id + 1)]), vec![a.slot.clone()]);
    l2.queue.push_sync_tx(sync(&b, vec![planned(&out_b, first_id + 2)]), vec![b.slot.clone()]);
    // A pool transaction (offered to the builder as the pool would, B among them).
    let transfer = l2.tx(8, alloy_primitives::TxKind::Call(Address::repeat_byte(9)), vec![], 21_000);

    let (payload, _) = l2.build_and_commit(vec![b.tx.clone(), transfer.clone()]);
    let txs: Vec<_> = payload.body.transactions.iter().skip(1).map(|t| *t.tx_hash()).collect();
    assert_eq!(txs, vec![*c.tx.tx_hash(), *transfer.tx_hash()], "C first, A failed, B waits, the pool's after");
    assert_eq!(payload.inputs.return_slots, vec![c.slot.slot]);
    assert_eq!(payload.inputs.sync_txs, vec![*c.tx.tx_hash()]);
    let failed = &payload.inputs.failed_sync_txs;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, *a.tx.tx_hash());
    let b_slot = payload.inputs.rejected_return_slots.iter().find(|r| r.tx_hash == *b.tx.tx_hash()).unwrap();
    assert_eq!(b_slot.problem, SlotProblem::EarlierTxFailed);
    assert!(payload.receipts.iter().all(|r| r.status()));
    assert!(l2.signal_received(c.slot.slot) && !l2.signal_received(b.slot.slot));

    // The next block: B is offered again, but without A ahead of it its message gets A's id; a planner
    // would have re-simulated it — this one did not, so B's plan fails there and nothing is injected.
    let (next, _) = l2.build_and_commit(vec![]);
    assert!(next.inputs.sync_txs.is_empty() && next.inputs.return_slots.is_empty());
    let failed = &next.inputs.failed_sync_txs;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, *b.tx.tx_hash());
    assert!(failed[0].1.contains("other messages than planned"), "{}", failed[0].1);
    assert_eq!(l2.queue.pending().sync_txs.len(), 0, "both void plans left the queue");
}
