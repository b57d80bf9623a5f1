//! Planning under load on the in-process dev network: RPC simulations run on workers of their own, so with
//! every one of them held, the watcher still plans twenty senders' swaps and they settle, while one more
//! heavy `eth_call` is refused as busy; a planned swap with plans behind it cannot be replaced until its
//! block is built.

use alloy_primitives::{B256, Bytes, U256};
use serde_json::{Value, json};
use surge_exex::{RpcSimConfig, WatcherConfig};
use surge_test_utils::{dev_key, json_rpc};

use crate::{
    net::{Net, rules, start_proposing, start_proposing_with_watcher, until},
    proposals::{anchor, l2_rpc, mined, succeeded},
};

const ETHER: u64 = 1_000_000_000_000_000_000;

/// Dev keys past the ten the genesis funds, each sent `ether` from dev account 2; once mined.
async fn fund(net: &Net, who: std::ops::Range<u32>, ether: u64) {
    let mut last = B256::ZERO;
    for (nonce, i) in who.enumerate() {
        let to = dev_key(i).address();
        let value = U256::from(ether) * U256::from(ETHER);
        let (raw, tx) = net.l2_tx(2, nonce as u64, to, Bytes::new(), value, 21_000);
        net.submit(&raw).unwrap();
        last = tx.hash;
    }
    mined(net, last).await;
}

/// Waits until `tx` is planned (into the open bundle or deferred to the next proposal's) or already mined:
/// with blocks every 200 ms a plan may land before a poll sees it.
async fn taken(net: &Net, tx: B256) {
    let published = net.published();
    let store = net.l2.store.clone();
    let seen = || {
        published.plan(&tx).is_some()
            || published.deferred().contains(&tx)
            || store.transaction_location(tx).ok().flatten().is_some()
    };
    until("the swap planned", || seen().then_some(())).await;
}

/// Waits until each of `swaps` is mined, succeeded with its answer's slot in its block's anchor, and the
/// `finalized` tag is past them all.
async fn settle(net: &Net, swaps: &[(B256, surge_primitives::Message)]) {
    let mut last = 0;
    for (tx, answer) in swaps {
        let block = mined(net, *tx).await;
        assert!(succeeded(net, *tx), "{tx}");
        assert!(anchor(net, block).1.contains(&answer.signal_slot(net.protocol.l1.bridge)), "{tx} with its answer");
        last = last.max(block);
    }
    until("the swaps finalized", || (crate::proposer::l2_tag(net, "finalized") >= last).then_some(())).await;
}

/// A JSON-RPC request to the L2 off the runtime's workers (the node serves it on this runtime).
fn request(net: &Net, method: &'static str, params: Value) -> std::thread::JoinHandle<Value> {
    let url = l2_rpc(net);
    std::thread::spawn(move || json_rpc(&url, method, params))
}

#[tokio::test(flavor = "multi_thread")]
async fn with_every_rpc_worker_held_twenty_senders_swaps_settle_and_one_more_heavy_call_is_busy() {
    let rpc = RpcSimConfig { queue: 4, ..Default::default() };
    let net = start_proposing_with_watcher(WatcherConfig { rpc, ..Default::default() }).await;
    fund(&net, 20..40, 3).await;
    let sims = net.watcher.rpc_simulations();
    sims.hold(true);

    // Dapps' simulations fill the workers' queue and wait there.
    let vault = net.apps.cross_chain_swap.l2_vault;
    let (_, blind) = net.swap(3, 0, None, 0);
    let asking =
        json!({"from": dev_key(3).address(), "to": vault, "data": blind.tx.data, "value": "0xde0b6b3a7640000"});
    let waiting: Vec<_> = (0..4).map(|_| request(&net, "surge_simulateReturnMessage", json!([asking]))).collect();
    until("four simulations queued", || (sims.queued().0 == 4).then_some(())).await;
    // One more heavy call: a swap without its answer reverts on the node's state alone, and what it would
    // need cannot be worked out now. Busy, at once, rather than a revert that may not stand.
    let busy = tokio::task::spawn_blocking({
        let url = l2_rpc(&net);
        move || json_rpc(&url, "eth_call", json!([asking, "latest"]))
    })
    .await
    .unwrap();
    assert_eq!(busy["error"]["code"], json!(-32005), "{busy}");
    assert!(busy["error"]["message"].as_str().unwrap().contains("simulation queue full"), "{busy}");

    // Meanwhile twenty senders swap, each with the answer worked out in process (not on the RPC workers),
    // one after another (each answer's id follows the plans before it).
    let mut swaps = vec![];
    for who in 20..40 {
        let answer = net.answer_for(who, 0).await;
        let (raw, swap) = net.swap(who, 0, Some(&answer), 0);
        net.submit(&raw).unwrap();
        taken(&net, swap.hash).await;
        swaps.push((swap.hash, answer));
    }
    settle(&net, &swaps).await;

    // The held simulations timed out for their callers and left the queue; the workers go on.
    for answer in waiting {
        let answer = answer.join().unwrap();
        assert_eq!(answer["error"]["message"], json!("simulation timed out after 5000 ms"), "{answer}");
    }
    assert_eq!(sims.queued(), (0, 0), "timed-out simulations leave the queue");
    sims.hold(false);
    let (_, blind) = net.swap(4, 0, None, 0);
    let asking =
        json!({"from": dev_key(4).address(), "to": vault, "data": blind.tx.data, "value": "0xde0b6b3a7640000"});
    let answered = request(&net, "surge_simulateReturnMessage", json!([asking])).join().unwrap();
    assert!(answered["result"]["signalSlot"].is_string(), "answered once the workers go on: {answered}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_planned_swap_with_three_plans_behind_it_cannot_be_replaced_and_all_four_settle() {
    use surge_interfaces::ChainControl;
    let net = start_proposing(rules()).await;
    net.l2.control.pause_production();
    let mut swaps = vec![];
    for who in [3, 4, 5, 6] {
        let answer = net.answer_for(who, 0).await;
        let (raw, swap) = net.swap(who, 0, Some(&answer), 0);
        net.submit(&raw).unwrap();
        net.planned(swap.hash).await;
        swaps.push((swap.hash, answer));
    }
    // The first sender bids more for the same nonce: refused, over RPC, with the reason.
    let (raw, _) = net.swap(3, 0, Some(&swaps[0].1), 3);
    let sent = request(&net, "eth_sendRawTransaction", json!([format!("0x{}", alloy_primitives::hex::encode(&raw))]));
    let refused = sent.join().unwrap();
    assert_eq!(refused["error"]["code"], json!(-32000), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("replacement refused"), "{message}");
    assert!(message.contains("3 later plans stand on it"), "{message}");

    net.l2.control.resume_production();
    settle(&net, &swaps).await;
}
