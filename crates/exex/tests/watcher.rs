//! The watcher's reactions on the dev network's genesis state: a sender's later transaction waits for its
//! earlier one; a planned transaction that is replaced loses its plan with the reason; other extensions
//! read plans and reasons through the `Planner` trait.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{dev, factory, first_answer, placeholder, pooled};
use surge_exex::{PlanBook, PublishedPlans, WatcherCore};
use surge_interfaces::PoolEvent;
use surge_sync::NoPlan;

#[tokio::test(flavor = "multi_thread")]
async fn a_later_nonce_waits_for_the_earlier_and_a_dropped_plan_takes_the_one_behind() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    // The answers both of sender 3's swaps need, asked as an app would (the second after the first).
    let mut asking = PlanBook::new(bundle.clone(), d.pending());
    let answer = first_answer(&asking.answers(&f, &[], &d.swap(3, 0, &placeholder(&d))).unwrap());
    asking.consider(&f, &[], d.swap(3, 0, &answer)).unwrap();
    let answer_1 = first_answer(&asking.answers(&f, &[], &d.swap(3, 1, &placeholder(&d))).unwrap());

    let handle = Arc::new(PublishedPlans::default());
    let mut watcher = WatcherCore::new(factory(&d), bundle, d.pending(), handle.clone());
    // Nonce 1 arrives first: it waits, nothing is decided for it.
    let second = pooled(&d, 3, &d.swap(3, 1, &answer_1));
    watcher.on_transaction(&second);
    assert!(handle.plans().is_empty());
    assert_eq!(handle.no_plan_reason(&second.hash), None, "waiting, not refused");

    // Nonce 0 with its answer: planned, and then nonce 1's turn comes: planned behind it.
    let first = pooled(&d, 3, &d.swap(3, 0, &answer));
    watcher.on_transaction(&first);
    let plans = handle.plans();
    assert_eq!(plans.iter().map(|p| p.tx_hash).collect::<Vec<_>>(), [first.hash, second.hash]);
    assert_eq!(first_answer(&plans[0]), answer);
    assert_eq!(first_answer(&plans[1]), answer_1);

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

    // The first transaction is discarded: its plan goes, with the reason, and the second (its nonce now
    // ahead of the sender's) loses its plan and waits again.
    watcher.on_pool_event(&PoolEvent::Discarded(first.hash), || Some(d.pending()));
    assert!(handle.plans().is_empty());
    assert_eq!(handle.no_plan_reason(&first.hash), Some(NoPlan::Discarded));
    assert_eq!(handle.no_plan_reason(&second.hash), Some(NoPlan::EarlierPlanDropped));
    // The sender sends nonce 0 again: both are planned again, in order.
    let again = pooled(&d, 3, &d.swap(3, 0, &answer));
    let again = surge_interfaces::PooledTx { hash: alloy_primitives::B256::repeat_byte(0xa9), ..again };
    watcher.on_transaction(&again);
    assert_eq!(handle.plans().iter().map(|p| p.tx_hash).collect::<Vec<_>>(), [again.hash, second.hash]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_keeps_planned_transactions_until_a_block_leaves_them_out() {
    use alloy::eips::Encodable2718;
    let (d, bundle) = dev().await;
    let handle = Arc::new(PublishedPlans::default());
    let mut watcher = WatcherCore::new(factory(&d), bundle, d.pending(), handle.clone());
    let mut pool = surge_txpool::TxPool::new(surge_host::seams::pool_config(&d.l2_spec(), 30_000_000), 0);
    pool.add_replacement_guard(handle.clone());
    let state = |_: &alloy_primitives::Address| {
        (0u64, alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(22)))
    };

    // Two plans: sender 3's swap, then sender 5's behind it.
    for who in [3, 5] {
        let answer = first_answer(&watcher.answers(&d.swap(who, 0, &placeholder(&d))).unwrap());
        let tx = pooled(&d, who, &d.swap(who, 0, &answer));
        pool.add(&tx.tx.encoded_2718(), &state).unwrap();
        watcher.on_transaction(&tx);
        assert!(handle.plan(&tx.hash).is_some(), "sender {who} planned");
    }
    let plans = handle.plans();
    let bumped = |who: u32, plan: &surge_sync::Plan| {
        let mut bumped = d.swap(who, 0, &first_answer(plan));
        bumped.tx.gas_price *= 2;
        pooled(&d, who, &bumped).tx.encoded_2718()
    };

    // Sender 3 bumps its fee: refused, saying a plan stands on it.
    let e = pool.add(&bumped(3, &plans[0]), &state).unwrap_err();
    assert!(e.to_string().starts_with("replacement refused"), "{e}");
    assert!(e.to_string().contains("(1 later plan stands on it)"), "{e}");
    // Sender 5's plan has nothing behind it, but it is planned for the next block: refused too.
    let e = pool.add(&bumped(5, &plans[1]), &state).unwrap_err();
    assert!(e.to_string().contains("(0 later plans stand on it)"), "{e}");
    // A block left it out (its plan voided): free at once, an ordinary replacement.
    handle.void(plans[1].tx_hash, "left out of its block".into());
    pool.add(&bumped(5, &plans[1]), &state).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_s_plain_transactions_are_carried_ahead_of_its_next_plan() {
    use alloy_primitives::{Address, Bytes, U256};
    let (d, bundle) = dev().await;
    let handle = Arc::new(PublishedPlans::default());
    let mut watcher = WatcherCore::new(factory(&d), bundle, d.pending(), handle.clone());
    // Two transfers: plain, no plan, nothing in the book.
    let transfers: Vec<_> = (0..2)
        .map(|n| pooled(&d, 3, &d.candidate(3, n, Address::repeat_byte(1), Bytes::new(), U256::from(1))))
        .collect();
    for t in &transfers {
        watcher.on_transaction(t);
        assert_eq!(handle.no_plan_reason(&t.hash), Some(NoPlan::NoOutboundMessage));
    }
    assert!(handle.plans().is_empty(), "alone they need no plan");
    // A swap at the next nonce, its answer asked after them: planned, with both carried ahead of it.
    let answer = first_answer(&watcher.answers(&d.swap(3, 2, &placeholder(&d))).unwrap());
    let swap = pooled(&d, 3, &d.swap(3, 2, &answer));
    watcher.on_transaction(&swap);
    let plans = handle.plans();
    assert_eq!(plans.iter().map(|p| p.tx_hash).collect::<Vec<_>>(), [transfers[0].hash, transfers[1].hash, swap.hash]);
    assert!(plans[..2].iter().all(|p| p.messages.is_empty()), "carried without messages");
    assert_eq!(first_answer(&plans[2]), answer);
    // The first transfer is replaced by the sender: the plans on it go, and the rest waits for the gap.
    watcher.on_pool_event(&PoolEvent::Replaced { old: transfers[0].hash, new: alloy_primitives::B256::ZERO }, || {
        Some(d.pending())
    });
    assert!(handle.plans().is_empty(), "{:?}", handle.plans());
    assert_eq!(handle.no_plan_reason(&swap.hash), Some(NoPlan::EarlierPlanDropped));
}
