//! The txpool watcher on the in-process dev network: swaps planned with the answers the watcher simulates
//! (and L1 agrees), plan order, no plan with its reason for a transfer, for a transaction that fails with
//! its answer and for an answer already taken, the pool refusing to replace a plan another sender stands on
//! (and a replacement with nothing behind planned again), two outbound messages in one transaction, and
//! L1's pool price moving: the plan dropped with `answer changed on L1`, and the one behind it, tried again,
//! dropped for the same reason.

use std::sync::Arc;

use alloy::{consensus::TxEip1559, eips::Encodable2718};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use surge_interfaces::{ChainControl, TransactionOrigin, TransactionPool};
use surge_l1::{BundleSimulator, EmbeddedSource, L1Protocol, L1StateSource, SimConfig};
use surge_primitives::{
    Message,
    bindings::{
        examples::{constant_product_pool::ConstantProductPool, swap_vault_l2::SwapVaultL2},
        test_message_sender::MessageSender,
    },
};
use surge_sync::NoPlan;
use surge_test_utils::{dev_key, sign_eip1559};

use crate::net::{GWEI, signed, start, until};

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_plans_sync_transactions_as_they_arrive() {
    let net = start().await;

    // A contract sending two messages in one transaction, deployed before production pauses.
    let sender = MessageSender::constructorCall { _bridge: net.protocol.l2.bridge }.abi_encode();
    let mut code = MessageSender::BYTECODE.to_vec();
    code.extend(sender);
    let deploy = TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        nonce: 0,
        gas_limit: 3_000_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code.into(),
    };
    let deployment = sign_eip1559(&dev_key(2), deploy);
    net.submit(&deployment.encoded_2718()).unwrap();
    assert_eq!(net.refused(*deployment.tx_hash()).await, NoPlan::NoOutboundMessage);
    let two_sender = dev_key(2).address().create(0);
    let store = net.l2.store.clone();
    until("the deployment mined", || (store.head().ok()?.header.number >= 1).then_some(())).await;
    // From here on the L2 builds no block: plans stay plans.
    net.l2.control.pause_production();

    // A swap with the answer the watcher simulated: planned, and L1 itself sends that answer.
    let answer_a = net.answer_for(3, 0).await;
    let (raw, a) = net.swap(3, 0, Some(&answer_a), 0);
    net.submit(&raw).unwrap();
    let plan_a = net.planned(a.hash).await;
    assert_eq!(plan_a.messages[0].answers[0].message, answer_a);
    let head = net.l1.store.head().unwrap();
    let view = Arc::new(EmbeddedSource::new(net.l1.store.clone()).open(head.header.number, head.hash).await.unwrap());
    let mut l1 = BundleSimulator::new(view, L1Protocol::from_config(&net.protocol), SimConfig::default(), &[]).unwrap();
    assert_eq!(l1.message(&plan_a.messages[0].message).unwrap().sent[0].message, answer_a, "L1 agrees");

    // Another sender's swap: its answer comes after the first's.
    let answer_b = net.answer_for(5, 0).await;
    let (raw, b) = net.swap(5, 0, Some(&answer_b), 0);
    net.submit(&raw).unwrap();
    let plan_b = net.planned(b.hash).await;
    assert_eq!(plan_b.messages[0].answers[0].message.id, answer_a.id + 1);

    // No plan, with the reason: a transfer; a swap whose answer another plan took; a swap that runs out of
    // gas with its answer in place.
    let (raw, transfer) = net.l2_tx(4, 0, Address::repeat_byte(0xde), Bytes::new(), U256::from(1), 21_000);
    net.submit(&raw).unwrap();
    assert_eq!(net.refused(transfer.hash).await, NoPlan::NoOutboundMessage);
    let (raw, stale) = net.swap(6, 0, Some(&answer_a), 0);
    net.submit(&raw).unwrap();
    assert_eq!(net.refused(stale.hash).await, NoPlan::AnswerTaken);
    let answer_c = net.answer_for(7, 0).await;
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer_c.into() };
    let one = U256::from(10).pow(U256::from(18));
    let (raw, starved) = net.l2_tx(7, 0, net.apps.cross_chain_swap.l2_vault, call.abi_encode().into(), one, 200_000);
    net.submit(&raw).unwrap();
    assert!(matches!(net.refused(starved.hash).await, NoPlan::Reverts(_)));

    // Two outbound messages in one transaction (to L1 accounts, nothing to answer): planned with both.
    let to_l1 = |id: u8| Message {
        gasLimit: 1_000_000,
        srcOwner: dev_key(8).address(),
        destChainId: net.protocol.l1_chain_id,
        destOwner: dev_key(8).address(),
        to: Address::repeat_byte(id),
        ..Default::default()
    };
    let call = MessageSender::sendTwoCall { a: to_l1(0xa1).into(), b: to_l1(0xb2).into() };
    let (raw, two) = net.l2_tx(8, 0, two_sender, call.abi_encode().into(), U256::ZERO, 3_000_000);
    net.submit(&raw).unwrap();
    let plan_two = net.planned(two.hash).await;
    assert_eq!(plan_two.messages.len(), 2);
    assert_eq!(
        plan_two.messages.iter().map(|m| m.message.to).collect::<Vec<_>>(),
        [Address::repeat_byte(0xa1), Address::repeat_byte(0xb2)]
    );

    // Sender 3's plan has others behind it: the pool refuses its replacement, saying how many stand on it.
    let (raw, _) = net.swap(3, 0, Some(&answer_a), 2);
    let refused = net.submit(&raw).unwrap_err();
    assert!(refused.starts_with("replacement refused") && refused.contains("(2 later plans stand on it)"), "{refused}");
    // The last plan (the two messages) has nothing behind it, but is planned for the next block: refused too.
    let call = MessageSender::sendTwoCall { a: to_l1(0xa1).into(), b: to_l1(0xb2).into() };
    let tx = TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        nonce: 0,
        gas_limit: 3_000_000,
        max_fee_per_gas: 20 * GWEI,
        max_priority_fee_per_gas: 2 * GWEI,
        to: TxKind::Call(two_sender),
        value: U256::ZERO,
        access_list: Default::default(),
        input: call.abi_encode().into(),
    };
    let replacement = sign_eip1559(&dev_key(8), tx);
    let refused = net.submit(&replacement.encoded_2718()).unwrap_err();
    assert!(refused.contains("(0 later plans stand on it); it can be replaced once its block is built"), "{refused}");
    assert!(net.published().plan(&two.hash).is_some(), "the planned one stays");

    // L1's pool price moves (a swap on L1 itself): the first plan's answer changed, the one behind it
    // was re-simulated and dropped too.
    let swap_on_l1 = ConstantProductPool::swapETHForTokenCall { minOut: U256::ZERO, to: dev_key(9).address() };
    let (raw, _) = signed(
        net.protocol.l1_chain_id,
        9,
        0,
        net.apps.cross_chain_swap.l1_pool,
        swap_on_l1.abi_encode().into(),
        one * U256::from(50),
        300_000,
    );
    net.l1.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
    assert_eq!(net.refused(a.hash).await, NoPlan::AnswerChanged);
    // The one behind it lost its plan with it and, tried again in its turn, finds its answer changed too.
    assert_eq!(net.refused(b.hash).await, NoPlan::AnswerChanged);
}
