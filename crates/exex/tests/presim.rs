//! Pre-simulation on the dev network's genesis state (the L2 and the embedded L1 stores, through the seams):
//! a swap gets a plan whose answer is what the L1 leg really sends; a plain transfer and a transaction
//! without its answer get none, with the reason; two swaps get answers in plan order; a swap signed against
//! the same state as an earlier planned one finds its answer taken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolEvent};
use common::{Dev, dev, factory, first_answer, placeholder};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext, context::TxEnv, database::CacheDB, primitives::hardfork::SpecId,
};
use surge_interfaces::StateProviderFactory;
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, examples::swap_vault_l2::SwapVaultL2, multicall::Multicall},
    signal_slot,
    slots::signal_service::received_signal_key,
};
use surge_sync::NoPlan;
use surge_test_utils::dev_key;

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_with_the_simulated_answer_gets_a_plan_l1_agrees_with() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();

    // Without its answer the swap reverts, but its outbound attempt is found and L1 answers it.
    let blind = d.swap(3, 0, &placeholder(&d));
    let (asked, _) = pending.answers(&f, &bundle, &blind).unwrap();
    assert_eq!(asked.messages.len(), 1);
    assert_eq!(asked.messages[0].message.to, d.apps.cross_chain_swap.l1_vault);
    let answer = first_answer(&asked);
    assert_eq!(
        pending.presimulate(&f, &bundle, &blind, &[]).unwrap_err(),
        NoPlan::AnswerChanged,
        "same id, other content"
    );

    // Sent with that answer, it gets a plan.
    let swap = d.swap(3, 0, &answer);
    let (plan, _) = pending.presimulate(&f, &bundle, &swap, &[]).unwrap();
    assert_eq!((plan.tx_hash, plan.sender, plan.nonce), (swap.hash, swap.sender, 0));
    assert_eq!(first_answer(&plan), answer);
    assert_eq!(plan.l1_block, (0, d.l1.genesis_hash()));
    assert_eq!(
        plan.slots().collect::<Vec<_>>(),
        [signal_slot(d.protocol.l1_chain_id, d.protocol.l1.bridge, answer.hash())]
    );

    // Executing the leg on the embedded L1's state, outside the simulator, sends that very answer.
    let sent = execute_leg_directly(&d, &plan.messages[0].message);
    assert_eq!(sent, vec![answer]);
}

/// `processMessage(m, "")` through the Multicall from its owner on the L1 genesis state with `m`'s fast
/// signal set: the messages the L1 bridge emits.
fn execute_leg_directly(d: &Dev, m: &Message) -> Vec<Message> {
    let mut db = CacheDB::new(revm::database_interface::WrapDatabaseRef(d.l1.latest().unwrap()));
    let slot = signal_slot(d.protocol.l2_chain_id, d.protocol.l2.bridge, m.hash());
    db.insert_account_storage(
        d.protocol.l1.signal_service,
        U256::from_be_bytes(received_signal_key(slot).0),
        U256::from(1),
    )
    .unwrap();
    let process = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() }.abi_encode();
    let call = Multicall::Call { target: d.protocol.l1.bridge, value: U256::ZERO, data: process.into() };
    let mut evm = Context::mainnet()
        .with_db(&mut db)
        .modify_cfg_chained(|c| {
            c.chain_id = d.protocol.l1_chain_id;
            c.set_spec_and_mainnet_gas_params(SpecId::OSAKA);
        })
        .build_mainnet();
    let tx = TxEnv {
        caller: dev_key(0).address(),
        kind: TxKind::Call(d.protocol.l1.multicall),
        data: Multicall::multicallCall { calls: vec![call] }.abi_encode().into(),
        gas_limit: 10_000_000,
        chain_id: Some(d.protocol.l1_chain_id),
        ..Default::default()
    };
    let out = evm.transact(tx).unwrap().result;
    assert!(out.is_success(), "{out:?}");
    out.into_logs()
        .iter()
        .filter(|l| l.address == d.protocol.l1.bridge)
        .filter_map(|l| Bridge::MessageSent::decode_log_data(&l.data).ok())
        .map(|e| e.message)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_and_failing_transactions_get_no_plan_with_the_reason() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();
    let transfer = d.candidate(4, 0, Address::repeat_byte(0xde), Bytes::new(), U256::from(1));
    assert_eq!(pending.presimulate(&f, &bundle, &transfer, &[]).unwrap_err(), NoPlan::NoOutboundMessage);

    // A swap whose L1 leg cannot succeed: it asks for more than the pool can give.
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::MAX, returnMessage: placeholder(&d).into() };
    let greedy = d.candidate(
        4,
        0,
        d.apps.cross_chain_swap.l2_vault,
        call.abi_encode().into(),
        U256::from(10).pow(U256::from(18)),
    );
    let e = pending.presimulate(&f, &bundle, &greedy, &[]).unwrap_err();
    assert!(matches!(&e, NoPlan::L1LegFailed(r) if r.contains("POOL_SLIPPAGE")), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_swaps_answer_in_plan_order_and_a_stale_answer_is_taken() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();
    let (first_ask, _) = pending.answers(&f, &bundle, &d.swap(3, 0, &placeholder(&d))).unwrap();
    let answer = first_answer(&first_ask);
    // Two senders sign against the same state: both embed the same answer id.
    let first = d.swap(3, 0, &answer);
    let (plan, bundle) = pending.presimulate(&f, &bundle, &first, &[]).unwrap();
    pending.apply(&f, &first.tx, &plan.slots().collect::<Vec<_>>()).unwrap();

    let stale = d.swap(5, 0, &Message { srcOwner: answer.srcOwner, ..answer.clone() });
    assert_eq!(pending.presimulate(&f, &bundle, &stale, &[answer.hash()]).unwrap_err(), NoPlan::AnswerTaken);

    // Asked again on the pending state, the second sender's answer comes after the first's.
    let (second_ask, _) = pending.answers(&f, &bundle, &d.swap(5, 0, &placeholder(&d))).unwrap();
    let second_answer = first_answer(&second_ask);
    assert_eq!(second_answer.id, answer.id + 1);
    let (second, _) = pending.presimulate(&f, &bundle, &d.swap(5, 0, &second_answer), &[]).unwrap();
    assert_eq!(first_answer(&second), second_answer);
}
