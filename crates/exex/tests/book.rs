//! The plan book on the dev network's genesis state: plans keep bundle order; L1 moving drops the plan
//! whose answer changed and re-simulates the ones behind it, and runs only the legs when no answer changed; an L2 block that leaves the plans true runs each at most once (not at all when nothing it read changed); dropping the last plan leaves the others;
//! a bundle that is full refuses the rest with `bundle gas budget`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::B256;
use common::{Dev, dev, dev_with, factory, first_answer, placeholder};
use surge_exex::{Moved, PlanBook};
use surge_l1::{BundleLimits, InFlightBundle, SimConfig};
use surge_sync::{NoPlan, Plan};

/// Plans a 1-ether swap from dev account `who`, with the answer the book gives it first.
fn plan_swap<S>(d: &Dev, book: &mut PlanBook<S>, who: u32) -> Result<Plan, NoPlan>
where
    S: revm::DatabaseRef + std::fmt::Debug,
    S::Error: revm::database_interface::DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    let f = factory(d);
    let asked = book.answers(&f, &[], &d.swap(who, 0, &placeholder(d)))?;
    book.consider(&f, &[], d.swap(who, 0, &first_answer(&asked)))
}

#[tokio::test(flavor = "multi_thread")]
async fn l1_moving_drops_the_changed_plan_and_re_simulates_the_one_behind() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut book = PlanBook::new(bundle, d.pending());
    let a = plan_swap(&d, &mut book, 3).unwrap();
    let b = plan_swap(&d, &mut book, 5).unwrap();
    assert_eq!(first_answer(&b).id, first_answer(&a).id + 1, "plan order");
    assert_eq!(book.plans().count(), 2);

    // Nothing moved: a rebase on the same L1 keeps both plans as they are.
    let same = d.bundle(SimConfig::default(), &[]).await;
    assert_eq!(book.rebase(&f, same, d.pending(), Moved::L1), vec![]);
    assert_eq!(book.plans().cloned().collect::<Vec<_>>(), vec![a.clone(), b.clone()]);

    // A proposal now in flight swaps on the same pool first: the price moved and its answer took the id.
    let mover = common::swap_request(&d, 42);
    let in_flight = InFlightBundle { last_block_hash: B256::repeat_byte(9), user_ops: vec![], messages: vec![mover] };
    let moved = d.bundle(SimConfig::default(), &[in_flight]).await;
    let dropped = book.rebase(&f, moved, d.pending(), Moved::L1);
    assert_eq!(dropped, vec![(a.tx_hash, NoPlan::AnswerChanged), (b.tx_hash, NoPlan::EarlierPlanDropped)]);
    assert_eq!(book.plans().count(), 0);
    assert_eq!(book.reason(&a.tx_hash), Some(&NoPlan::AnswerChanged));
    assert_eq!(book.reason(&b.tx_hash), Some(&NoPlan::EarlierPlanDropped));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l1_move_that_changes_no_answer_runs_only_the_legs_and_one_that_does_replays_all() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut book = PlanBook::new(bundle, d.pending());
    let a = plan_swap(&d, &mut book, 3).unwrap();
    let b = plan_swap(&d, &mut book, 5).unwrap();
    let (version, revision, replays) = (book.version(), book.revision(), book.full_replays());

    // A new base whose legs answer as before: the plans stand, nothing runs again on L2.
    let same = d.bundle(SimConfig::default(), &[]).await;
    assert_eq!(book.on_l1_move(&f, same, d.pending()), vec![]);
    assert_eq!(book.plans().cloned().collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
    assert_eq!((book.version(), book.full_replays()), (version, replays), "the pending state stands");
    assert_ne!(book.revision(), revision, "what other threads answer on moved with the bundle");

    // An in-flight swap ahead moves the price: the first leg answers otherwise, and every plan is replayed.
    let mover = common::swap_request(&d, 42);
    let in_flight = InFlightBundle { last_block_hash: B256::repeat_byte(9), user_ops: vec![], messages: vec![mover] };
    let moved = d.bundle(SimConfig::default(), &[in_flight]).await;
    let dropped = book.on_l1_move(&f, moved, d.pending());
    assert_eq!(dropped, vec![(a.tx_hash, NoPlan::AnswerChanged), (b.tx_hash, NoPlan::EarlierPlanDropped)]);
    assert_eq!(book.full_replays(), replays + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l2_move_that_leaves_the_plans_true_reruns_only_what_changed_and_keeps_their_legs() {
    use alloy_primitives::{Address, Bytes, U256};
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut book = PlanBook::new(bundle, d.pending());
    let a = plan_swap(&d, &mut book, 3).unwrap();
    let b = plan_swap(&d, &mut book, 5).unwrap();
    let (version, replays) = (book.version(), book.full_replays());

    // A block that took none of them: each runs once (what it reads is recorded), the plans stand.
    assert!(book.on_l2_move(&f, || Some(d.pending())));
    assert_eq!(book.plans().cloned().collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
    assert_eq!(book.version(), version + 1, "the new pending state");
    assert_eq!((book.full_replays(), book.reused_runs()), (replays, 0));
    // Another that changed nothing they read: neither runs, what they left is committed again.
    assert!(book.on_l2_move(&f, || Some(d.pending())));
    assert_eq!(book.reused_runs(), 2);
    assert_eq!(book.plans().cloned().collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
    let version = version + 1;

    // A block in which sender 3 spent its nonce on a transfer: its plan no longer holds, nothing changes,
    // and the caller replays every plan.
    let mut moved = d.pending();
    moved.carry(&f, &d.candidate(3, 0, Address::repeat_byte(1), Bytes::new(), U256::from(1)).tx).unwrap();
    assert!(!book.on_l2_move(&f, || Some(moved)));
    assert_eq!(book.version(), version + 1);
    assert_eq!(book.plans().count(), 2);
    assert_eq!(book.reused_runs(), 2, "a read that changed is not reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_plan_replays_the_ones_behind_it() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut book = PlanBook::new(bundle, d.pending());
    let a = plan_swap(&d, &mut book, 3).unwrap();
    let b = plan_swap(&d, &mut book, 5).unwrap();

    // The last plan leaves (replaced): the one ahead stands.
    assert_eq!(book.drop_plan(&f, &b.tx_hash, NoPlan::Replaced, d.pending()), vec![(b.tx_hash, NoPlan::Replaced)]);
    assert_eq!(book.plans().cloned().collect::<Vec<_>>(), vec![a.clone()]);

    // Planned again, then the first leaves: the second's answer id shifts, so it is dropped too.
    let b = plan_swap(&d, &mut book, 5).unwrap();
    let dropped = book.drop_plan(&f, &a.tx_hash, NoPlan::Discarded, d.pending());
    assert_eq!(dropped, vec![(a.tx_hash, NoPlan::Discarded), (b.tx_hash, NoPlan::EarlierPlanDropped)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_bundle_defers_the_rest_to_the_next_proposal() {
    // Eight swaps whose legs need 3,000,000 gas each (the swap's gas limit, 1,309,216, and a proof allowance
    // of 1,690,784) in a 10M-gas L1 transaction: room for the proposal and a few of them.
    let limits = BundleLimits { tx_gas_cap: 10_000_000, proof_gas_per_message: 1_690_784, ..Default::default() };
    let (d, bundle) = dev_with(SimConfig { limits, ..Default::default() }).await;
    let f = factory(&d);
    let mut book = PlanBook::new(bundle, d.pending());
    let results: Vec<Result<Plan, NoPlan>> = (2..10).map(|who| plan_swap(&d, &mut book, who)).collect();
    let planned = results.iter().take_while(|r| r.is_ok()).count();
    assert!((1..8).contains(&planned), "{results:?}");
    let first = results[0].as_ref().unwrap();
    assert_eq!(u64::from(first.messages[0].message.gasLimit) + 1_690_784, 3_000_000);
    for r in &results[planned..] {
        assert_eq!(r.as_ref().unwrap_err(), &NoPlan::BundleGasBudget);
    }
    assert!(book.bundle().gas() <= 10_000_000);
    // Ids in plan order, the deferred ones continuing after them (their answers are the next proposal's).
    let ids: Vec<u64> = book.plans().chain(book.deferred()).map(|p| first_answer(p).id).collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());

    // The next proposal opens (the closed one's transactions are on the L2 head): the deferred swaps are
    // planned there, with the answers they embedded.
    let closed: Vec<B256> = book.plans().map(|p| p.tx_hash).collect();
    assert_eq!(closed.len(), planned);
    let base = book.bundle().next_bundle();
    book.land(&f, &closed, base, Some(d.pending_with(&closed_txs(&book))), false);
    let now: Vec<u64> = book.plans().map(|p| first_answer(p).id).collect();
    assert_eq!(now, (planned as u64..8).collect::<Vec<_>>());
    assert_eq!(book.deferred().count(), 0);
}

/// The planned transactions with their slots, as the closed proposal's blocks hold them.
fn closed_txs<S>(book: &PlanBook<S>) -> Vec<(revm::context::TxEnv, Vec<B256>)>
where
    S: revm::DatabaseRef + std::fmt::Debug,
    S::Error: revm::database_interface::DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    book.entries().map(|(p, c)| (c.tx.clone(), p.slots().collect())).collect()
}
