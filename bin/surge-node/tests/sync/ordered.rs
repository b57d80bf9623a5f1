//! A sender's back-to-back transactions and revert protection on the in-process dev network: a transfer
//! then a swap at the next nonce, and an approval then a synchronous call spending it, settle with their
//! answers (the plain transaction carried ahead of the plan); a swap the watcher's full queue turned away
//! is held, not mined without its answer, and settles once the watcher catches up; ten senders with five
//! swaps each, racing for the same answers, re-simulate and re-send what `surge_txStatus` reports rejected
//! until all fifty settle, none mined without its answer.

use alloy::{consensus::TxEip1559, eips::Encodable2718};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use serde_json::{Value, json};
use surge_exex::{Candidate, WatcherConfig};
use surge_interfaces::{TransactionOrigin, TransactionPool};
use surge_primitives::{
    Message,
    bindings::{
        test_approved_token::ApprovedToken, test_message_sender::MessageSender, test_receiver::TestMessageReceiver,
    },
};
use surge_test_utils::{dev_key, json_rpc, sign_eip1559};

use crate::{
    net::{GWEI, Net, start, start_with_watcher},
    proposals::{anchor, call, l2_rpc, mined, succeeded},
};

/// Deploys `code` from dev account `who` (nonce `nonce`) on the L1 (`l1`) or the L2; its address once
/// mined.
pub(crate) async fn deploy(net: &Net, l1: bool, who: u32, nonce: u64, code: Vec<u8>) -> Address {
    let chain_id = if l1 { net.protocol.l1_chain_id } else { net.protocol.l2_chain_id };
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 3_000_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code.into(),
    };
    let signed = sign_eip1559(&dev_key(who), tx);
    let pool = if l1 { &net.l1.pool } else { &net.l2.pool };
    pool.add_transaction(TransactionOrigin::External, &signed.encoded_2718()).unwrap();
    let store = if l1 { net.l1.store.clone() } else { net.l2.store.clone() };
    let hash = *signed.tx_hash();
    crate::net::until("the deployment mined", || store.transaction_location(hash).ok().flatten()).await;
    dev_key(who).address().create(nonce)
}

/// `surge_txStatus` of `tx` over the L2's RPC: the whole JSON-RPC answer. The request blocks, and the
/// node serves it on this runtime: off its workers.
pub(crate) async fn status(net: &Net, tx: B256) -> Value {
    let url = l2_rpc(net);
    tokio::task::spawn_blocking(move || json_rpc(&url, "surge_txStatus", json!({ "txHash": tx }))).await.unwrap()
}

/// Whether `tx` is mined, succeeded, and its block's anchor carries `answer`'s slot.
fn settled_with(net: &Net, tx: B256, answer: &Message, block: u64) -> bool {
    succeeded(net, tx) && anchor(net, block).1.contains(&answer.signal_slot(net.protocol.l1.bridge))
}

#[tokio::test(flavor = "multi_thread")]
async fn back_to_back_transactions_of_one_sender_settle_with_their_answers() {
    let net = start().await;

    // A transfer and, without waiting, a swap at the next nonce, its answer asked after the transfer.
    let (raw, transfer) = net.l2_tx(3, 0, Address::repeat_byte(0xde), Bytes::new(), U256::from(1), 21_000);
    net.submit(&raw).unwrap();
    let answer = net.answer_for(3, 1).await;
    let (raw, swap) = net.swap(3, 1, Some(&answer), 0);
    net.submit(&raw).unwrap();
    let block = mined(&net, swap.hash).await;
    assert!(settled_with(&net, swap.hash, &answer, block), "the swap settles with its answer");
    assert!(mined(&net, transfer.hash).await <= block);
    // What a Catalyst client reads of it (the fields for a UI come alongside).
    let st: surge_sync::TxStatus = serde_json::from_value(status(&net, swap.hash).await["result"].clone()).unwrap();
    assert_eq!(st, surge_sync::TxStatus::ProvingBlock { block_id: block });

    // An L1 app answering a "reply" with a message back, and on L2 a token and an app spending allowances.
    let responder = deploy(&net, true, 6, 0, TestMessageReceiver::BYTECODE.to_vec()).await;
    let supply = U256::from(1_000_000u64);
    let token_code =
        [ApprovedToken::BYTECODE.to_vec(), ApprovedToken::constructorCall { supply }.abi_encode()].concat();
    let token = deploy(&net, false, 6, 0, token_code).await;
    let app_code = [
        MessageSender::BYTECODE.to_vec(),
        MessageSender::constructorCall { _bridge: net.protocol.l2.bridge }.abi_encode(),
    ]
    .concat();
    let app = deploy(&net, false, 6, 1, app_code).await;

    // The approval and, at once, the call that spends it: its answer asked (and planned) after the
    // approval, which is not mined yet.
    let approve = ApprovedToken::approveCall { spender: app, amount: U256::from(100) };
    let (raw, approval) = net.l2_tx(6, 2, token, approve.abi_encode().into(), U256::ZERO, 100_000);
    net.submit(&raw).unwrap();
    let me = dev_key(6).address();
    let out = Message {
        gasLimit: 1_000_000,
        srcOwner: me,
        destChainId: net.protocol.l1_chain_id,
        destOwner: me,
        to: responder,
        data: TestMessageReceiver::onMessageInvocationCall { data: Bytes::from_static(b"reply") }.abi_encode().into(),
        ..Default::default()
    };
    let spend = |back: Message| {
        let call = MessageSender::spendAndConsumeCall {
            token,
            amount: U256::from(100),
            out: out.clone().into(),
            back: back.into(),
        };
        net.l2_tx(6, 3, app, call.abi_encode().into(), U256::ZERO, 3_000_000)
    };
    let placeholder =
        Message { srcChainId: net.protocol.l1_chain_id, destChainId: net.protocol.l2_chain_id, ..Default::default() };
    let (_, blind) = spend(placeholder);
    let asked = net.watcher.answers(blind).await.expect("the call spends the approval made just before");
    let answer = asked.messages[0].answers[0].message.clone();
    assert_eq!((answer.srcOwner, answer.destOwner), (responder, app), "the L1 app's reply to the app");
    let (raw, spent) = spend(answer.clone());
    net.submit(&raw).unwrap();
    let block = mined(&net, spent.hash).await;
    assert!(settled_with(&net, spent.hash, &answer, block), "the spending call settles with its answer");
    assert!(mined(&net, approval.hash).await <= block);
    let held = call(&l2_rpc(&net), token, "balanceOf(address)(uint256)", &[&app.to_string()]);
    assert_eq!(held, "100", "the app took what was approved");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_the_watcher_s_full_queue_turned_away_is_held_then_settles() {
    // No queue: every transaction finds it full, and the watcher takes it in from the pool later.
    let net = start_with_watcher(WatcherConfig { queue: 0, ..Default::default() }).await;
    let answer = net.answer_for(3, 0).await;
    let (raw, swap) = net.swap(3, 0, Some(&answer), 0);
    net.submit(&raw).unwrap();
    let block = mined(&net, swap.hash).await;
    assert!(settled_with(&net, swap.hash, &answer, block), "not mined without its answer");
    // A transfer behind it goes its way too.
    let (raw, transfer) = net.l2_tx(3, 1, Address::repeat_byte(0xde), Bytes::new(), U256::from(1), 21_000);
    net.submit(&raw).unwrap();
    assert!(mined(&net, transfer.hash).await > block);
}

/// One sender's swap at `nonce` with the answer the node gives now (after the sender's pooled ones).
async fn fresh_swap(net: &Net, who: u32, nonce: u64) -> (Vec<u8>, Candidate, Message) {
    let answer = net.answer_for(who, nonce).await;
    let (raw, swap) = net.swap(who, nonce, Some(&answer), 0);
    (raw, swap, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_senders_with_five_swaps_each_all_settle_with_their_answers() {
    let net = std::sync::Arc::new(start().await);
    let senders: Vec<u32> = (0..10).collect();
    let mut tasks = vec![];
    for who in senders {
        let net = net.clone();
        tasks.push(tokio::spawn(async move {
            // (nonce, current transaction, its answer, tries)
            let mut mine = vec![];
            for nonce in 0..5 {
                let (raw, swap, answer) = fresh_swap(&net, who, nonce).await;
                net.submit(&raw).unwrap();
                mine.push((nonce, swap.hash, answer, 1u32));
            }
            let mut reasons = vec![];
            let mut done = vec![None; mine.len()];
            while done.iter().any(Option::is_none) {
                for (i, (nonce, tx, answer, tries)) in mine.iter_mut().enumerate() {
                    if done[i].is_some() {
                        continue;
                    }
                    let answered = status(&net, *tx).await;
                    match answered["result"]["status"].as_str() {
                        Some("Executed" | "ProvingBlock") => {
                            let block = mined(&net, *tx).await;
                            done[i] = Some((*tx, answer.clone(), block, *tries));
                        }
                        Some("Rejected") => {
                            reasons.push(answered["result"]["reason"].as_str().unwrap().to_string());
                            assert!(*tries < 50, "sender {who} nonce {nonce}: {reasons:?}");
                            let (raw, swap, fresh) = fresh_swap(&net, who, *nonce).await;
                            // Its earlier nonce may still be rejected and re-sent: then it waits queued.
                            net.submit(&raw).unwrap();
                            (*tx, *answer, *tries) = (swap.hash, fresh, *tries + 1);
                        }
                        Some("Pending") => {}
                        _ => panic!("sender {who} nonce {nonce}: {answered}"),
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            (who, done.into_iter().map(Option::unwrap).collect::<Vec<_>>(), reasons)
        }));
    }
    let mut all_tries = vec![];
    for task in tasks {
        let (who, done, reasons) = task.await.unwrap();
        for reason in &reasons {
            assert!(
                ["answer already taken", "answer changed on L1", "earlier plan dropped"]
                    .iter()
                    .any(|r| reason.contains(r)),
                "sender {who}: a rejection for another reason: {reason}"
            );
        }
        for (tx, answer, block, tries) in done {
            assert!(
                settled_with(&net, tx, &answer, block),
                "sender {who}: {tx} settled with its answer (succeeded: {}, its block {block}'s anchor slots {:?}, \
                 its answer's slot {}, received {}, status {}, tries {tries}, reasons {reasons:?}, answer {answer:?})",
                succeeded(&net, tx),
                anchor(&net, block).1,
                answer.signal_slot(net.protocol.l1.bridge),
                {
                    use revm::DatabaseRef;
                    let key = surge_primitives::slots::signal_service::received_signal_key(
                        answer.signal_slot(net.protocol.l1.bridge),
                    );
                    net.l2
                        .store
                        .latest_state()
                        .unwrap()
                        .storage_ref(net.protocol.l2.signal_service, key.into())
                        .unwrap()
                },
                crate::proposals::message_status(&net, answer.hash()),
            );
            all_tries.push(tries);
        }
    }
    println!("tries per transaction: {all_tries:?}");
    assert_eq!(all_tries.len(), 50);
}
