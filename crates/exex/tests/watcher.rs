//! The watcher's reactions on the dev network's genesis state: a sender's later transaction waits for its
//! earlier one; a planned transaction that is replaced loses its plan with the reason; other extensions
//! read plans and reasons through the `Planner` trait.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{dev, factory, first_answer, placeholder, pooled};
use surge_exex::{PlanBook, PlannerHandle, WatcherCore};
use surge_interfaces::PoolEvent;
use surge_sync::{NoPlan, Planner};

#[tokio::test(flavor = "multi_thread")]
async fn a_later_nonce_waits_for_the_earlier_and_a_replaced_plan_is_dropped() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    // The answer the first swap needs, asked as an app would.
    let mut asking = PlanBook::new(bundle.clone(), d.pending());
    let answer = first_answer(&asking.answers(&f, &d.swap(3, 0, &placeholder(&d))).unwrap());

    let handle = Arc::new(PlannerHandle::default());
    let mut watcher = WatcherCore::new(factory(&d), bundle, d.pending(), handle.clone());
    // Nonce 1 arrives first: it waits, nothing is decided for it.
    let second = pooled(&d, 3, &d.swap(3, 1, &placeholder(&d)));
    watcher.on_transaction(&second);
    assert!(handle.plans().is_empty());
    assert_eq!(handle.no_plan_reason(&second.hash), None, "waiting, not refused");

    // Nonce 0 with its answer: planned; then nonce 1's turn comes (its placeholder answer is wrong).
    let first = pooled(&d, 3, &d.swap(3, 0, &answer));
    watcher.on_transaction(&first);
    let plan = handle.plan(&first.hash).expect("planned");
    assert_eq!(first_answer(&plan), answer);
    // (It embeds answer id 0, which the first took.)
    assert_eq!(handle.no_plan_reason(&second.hash), Some(NoPlan::AnswerTaken), "considered after the first");

    // A transfer: no outbound message.
    let transfer = pooled(
        &d,
        4,
        &d.candidate(
            4,
            0,
            alloy_primitives::Address::repeat_byte(1),
            Default::default(),
            alloy_primitives::U256::from(1),
        ),
    );
    watcher.on_transaction(&transfer);
    assert_eq!(handle.no_plan_reason(&transfer.hash), Some(NoPlan::NoOutboundMessage));

    // The planned transaction is replaced: its plan goes, with the reason.
    let event = PoolEvent::Replaced { old: first.hash, new: alloy_primitives::B256::repeat_byte(1) };
    watcher.on_pool_event(&event, || Some(d.pending()));
    assert!(handle.plans().is_empty());
    assert_eq!(handle.no_plan_reason(&first.hash), Some(NoPlan::Replaced));
}
