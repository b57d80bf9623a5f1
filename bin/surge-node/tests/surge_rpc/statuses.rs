//! Statuses end to end on `--dev`: a swap through every state to `Executed` while a WebSocket subscriber
//! (alloy's transport, unchanged) sees each transition in order; a second user's transfers at two pending
//! nonces and a refused swap alongside, under concurrent RPC load; `surge_syncStatus`; every status kept
//! through a SIGKILL, one of them mid-way. And 10,000 requests of random params to every `surge_*` method.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::providers::{Provider, ProviderBuilder, WsConnect};
use serde_json::{Value, json};
use surge_test_utils::{cast, rpc_result};

use super::{
    KEY1, L2_VAULT, MESSAGE, USER,
    common::{DevNode, metric, number},
    placeholder, simulate, tuple,
};

/// A dev account's address and key.
fn account(i: u32) -> (String, String) {
    let key = surge_test_utils::dev_key(i);
    (key.address().to_string(), format!("0x{}", alloy_primitives::hex::encode(key.to_bytes())))
}

/// The README's swap of 1 ether, with the answer the node simulates now, sent without waiting; its hash.
pub(super) fn send_swap(l2: &str) -> String {
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);
    let request = json!({"from": USER, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"});
    let answer = simulate(l2, &request, false).unwrap();
    let message = tuple(&answer["message"]);
    let gas = cast(&["estimate", "--from", USER, L2_VAULT, &swap, "0", &message, "--value", "1ether", "--rpc-url", l2]);
    let send = ["send", L2_VAULT, &swap, "0", &message, "--value", "1ether", "--gas-limit", &gas];
    cast(&[&send[..], &["--private-key", KEY1, "--rpc-url", l2, "--async"]].concat())
}

/// `surge_txStatus` of `tx`, with cast.
fn status(l2: &str, tx: &str) -> Value {
    serde_json::from_str(&cast(&["rpc", "surge_txStatus", &json!({ "txHash": tx }).to_string(), "--rpc-url", l2]))
        .unwrap()
}

/// Every item `eth_subscribe ["surgeTxStatus", tx]` pushes on `ws`, until a final state (each within a
/// minute).
async fn transitions(ws: &impl Provider, tx: &str) -> Vec<Value> {
    let mut feed = ws.subscribe::<_, Value>(("surgeTxStatus", tx.to_string())).await.unwrap();
    let mut items = vec![];
    loop {
        let item = tokio::time::timeout(Duration::from_secs(60), feed.recv()).await;
        let item = item.unwrap_or_else(|_| panic!("no final status for {tx} within a minute: {items:?}")).unwrap();
        let done = ["Executed", "Rejected"].contains(&item["status"].as_str().unwrap());
        items.push(item);
        if done {
            return items;
        }
    }
}

fn names(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["status"].as_str().unwrap()).collect()
}

/// Whether `items` never go back in the lifecycle and have times that never go back.
fn in_order(items: &[Value]) -> bool {
    let rank = |s: &str| ["Pending", "ProvingBlock", "Processing", "Executed"].iter().position(|n| *n == s);
    let ranks: Vec<_> = names(items).into_iter().map(rank).collect();
    let times: Vec<u64> = items.iter().map(|i| i["at"].as_u64().unwrap()).collect();
    ranks.windows(2).all(|w| w[0] <= w[1]) && times.windows(2).all(|w| w[0] <= w[1])
}

/// Asks `surge_txStatus`, `surge_syncStatus` and `eth_blockNumber` of `l2` from four threads until `stop`;
/// how many were answered, and how many were not.
pub(super) fn load(l2: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(usize, usize)> {
    let l2 = l2.to_string();
    std::thread::spawn(move || {
        let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (l2, stop, answered, failed) = (l2.clone(), stop.clone(), answered.clone(), failed.clone());
                std::thread::spawn(move || {
                    let calls = [
                        ("surge_txStatus", json!([{ "txHash": format!("0x{}", "77".repeat(32)) }])),
                        ("surge_syncStatus", json!([])),
                        ("eth_blockNumber", json!([])),
                    ];
                    while !stop.load(Ordering::Relaxed) {
                        let (method, params) = &calls[i % calls.len()];
                        let reply = surge_test_utils::json_rpc(&l2, method, params.clone());
                        let counter = if reply.get("result").is_some() || reply.get("error").is_some() {
                            &answered
                        } else {
                            &failed
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        (answered.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
    })
}

#[test]
fn a_swap_goes_through_every_state_a_subscriber_sees_each_and_every_status_outlives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ws = rt.block_on(ProviderBuilder::new().connect_ws(WsConnect::new(node.l2_ws.clone()))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hammering = load(&l2, stop.clone());

    // The swap, then a second user's two transfers at two pending nonces, then a swap with a made-up answer.
    let swap = send_swap(&l2);
    let (_, other_key) = account(2);
    let transfers: Vec<String> = ["0", "1"]
        .map(|nonce| {
            let to = format!("0x{}", "ee".repeat(20));
            let send = ["send", &to, "--value", "1gwei", "--nonce", nonce, "--private-key", &other_key];
            cast(&[&send[..], &["--rpc-url", &l2, "--async"]].concat())
        })
        .into();
    let made_up = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let zero = "0x0000000000000000000000000000000000000000";
    let fake = format!("(9,0,0,{zero},3151908,{zero},763374,{L2_VAULT},{L2_VAULT},0,0x)");
    let (_, third_key) = account(3);
    let send = ["send", L2_VAULT, &made_up, "0", &fake, "--value", "1ether", "--gas-limit", "3000000"];
    let refused = cast(&[&send[..], &["--private-key", &third_key, "--rpc-url", &l2, "--async"]].concat());

    // Followed in this order: the swap live, the others from what they passed (then live).
    let (swap_feed, transfer_feeds, refused_feed) = rt.block_on(async {
        let swap_feed = transitions(&ws, &swap).await;
        let mut transfer_feeds = vec![];
        for tx in &transfers {
            transfer_feeds.push(transitions(&ws, tx).await);
        }
        (swap_feed, transfer_feeds, transitions(&ws, &refused).await)
    });
    assert_eq!(names(&swap_feed), ["Pending", "ProvingBlock", "Processing", "Executed"], "{swap_feed:?}");
    assert!(in_order(&swap_feed), "{swap_feed:?}");
    for feed in &transfer_feeds {
        assert_eq!(names(feed).last(), Some(&"Executed"), "{feed:?}");
        assert!(in_order(feed), "{feed:?}");
    }
    assert_eq!(names(&refused_feed), ["Rejected"], "{refused_feed:?}");
    let reason = refused_feed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("no answer for message") && reason.contains("(id 9)"), "{reason}");

    // The answer, in Catalyst's shape with a UI's fields alongside.
    let receipt = rpc_result(&l2, "eth_getTransactionReceipt", json!([swap]));
    let done = status(&l2, &swap);
    assert_eq!(done["status"], "Executed", "{done}");
    assert_eq!(done["l2_block_number"].as_u64(), Some(number(&receipt["blockNumber"])), "{done}");
    assert_eq!(done["l2_block_hash"], receipt["blockHash"], "{done}");
    let history = done["history"].as_array().unwrap();
    assert_eq!(history[1]["block_id"], done["l2_block_number"], "ProvingBlock{{block_id}}: {done}");
    assert_eq!(history[2]["tx_hash"], done["l1_tx_hash"], "Processing{{tx_hash}} names the L1 transaction: {done}");
    let l1_receipt = rpc_result(&node.l1, "eth_getTransactionReceipt", json!([done["l1_tx_hash"]]));
    assert_eq!(l1_receipt["status"], "0x1");
    assert_eq!(done["l1_block_number"].as_u64(), Some(number(&l1_receipt["blockNumber"])), "{done}");
    assert!(done["proposal_id"].as_u64().is_some(), "{done}");
    let catalyst: surge_sync::TxStatus = serde_json::from_value(done.clone()).unwrap();
    assert_eq!(catalyst, surge_sync::TxStatus::Executed, "a Catalyst client reads it");
    assert_eq!(status(&l2, &transfers[1])["status"], "Executed", "a plain transaction, from the chain");

    // Where the node is against L1.
    let sync: Value = serde_json::from_str(&cast(&["rpc", "surge_syncStatus", "--rpc-url", &l2])).unwrap();
    assert!(sync["finalizedBlock"].as_u64().unwrap() >= number(&receipt["blockNumber"]), "{sync}");
    assert!(sync["l1"]["headNumber"].as_u64().unwrap() >= number(&l1_receipt["blockNumber"]), "{sync}");
    let proposer = &sync["proposer"];
    assert_eq!(proposer["address"].as_str().unwrap().to_lowercase(), account(0).0.to_lowercase(), "{sync}");
    assert!(proposer["pendingNonce"].as_u64().unwrap() >= 1 && proposer["balance"].is_string(), "{sync}");
    assert_eq!(sync["coolDowns"], json!([]), "{sync}");
    // Metrics an operator graphs.
    assert!(metric(&node.metrics, "surge_tx_status_transitions_total{to=\"Executed\"}") >= 1.0);
    assert!(metric(&node.metrics, "surge_tx_submitted_to_executed_seconds_count") >= 1.0);
    assert!(metric(&node.metrics, "surge_tx_status_stage_seconds_count{stage=\"ProvingBlock\"}") >= 1.0);

    stop.store(true, Ordering::Relaxed);
    let (answered, failed) = hammering.join().unwrap();
    assert!(answered > 100 && failed == 0, "load: {answered} answered, {failed} not");

    // A second swap, killed (SIGKILL) once it is mined: after the restart its status is where it was and
    // goes on to `Executed`; every other status is as it was.
    let second = send_swap(&l2);
    rt.block_on(async {
        let mut feed = ws.subscribe::<_, Value>(("surgeTxStatus", second.clone())).await.unwrap();
        while feed.recv().await.unwrap()["status"] != "ProvingBlock" {}
    });
    let before: Vec<Value> = [&swap, &refused, &transfers[0], &transfers[1]].map(|tx| status(&l2, tx)).into();
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    drop(node);
    let node = DevNode::start(dir.path());
    let after: Vec<Value> = [&swap, &refused, &transfers[0], &transfers[1]].map(|tx| status(&node.l2, tx)).into();
    assert_eq!(after, before, "every status as it was");
    let ws = rt.block_on(ProviderBuilder::new().connect_ws(WsConnect::new(node.l2_ws.clone()))).unwrap();
    let resumed = rt.block_on(transitions(&ws, &second));
    assert_eq!(names(&resumed[..2]), ["Pending", "ProvingBlock"], "what it passed, first: {resumed:?}");
    assert_eq!(names(&resumed).last(), Some(&"Executed"), "{resumed:?}");
    assert!(in_order(&resumed), "{resumed:?}");
    node.stop();
}

/// A small deterministic generator (xorshift), so that a failure is reproducible.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random JSON value, nested `depth` deep at most, leaning towards what the methods expect.
    fn value(&mut self, depth: u32) -> Value {
        let keys = ["from", "to", "data", "input", "value", "gas", "txHash", "userOpId", "x", ""];
        let hex = |r: &mut Self, bytes: u64| {
            let s: String = (0..bytes).map(|_| format!("{:02x}", r.below(256))).collect();
            format!("0x{s}")
        };
        match self.below(if depth == 0 { 8 } else { 10 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 1),
            2 => json!(self.next() as i64),
            3 => json!(self.next() as f64 / 7.0),
            4 => json!(hex(self, 20)),
            5 => json!(hex(self, 32)),
            6 => {
                let bytes = self.below(80);
                json!(hex(self, bytes))
            }
            7 => {
                let len = self.below(12);
                json!((0..len).map(|_| char::from_u32(self.below(0x2fff) as u32).unwrap_or('?')).collect::<String>())
            }
            8 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let fields = (0..self.below(5))
                    .map(|_| (keys[self.below(keys.len() as u64) as usize].to_string(), self.value(depth - 1)));
                Value::Object(fields.collect())
            }
        }
    }
}

#[test]
fn ten_thousand_requests_of_random_params_to_every_surge_method_are_each_answered() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let methods = ["surge_simulateReturnMessage", "surge_txStatus", "surge_syncStatus"];
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let l2 = node.l2.clone();
            std::thread::spawn(move || {
                let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                for i in 0..2_400u64 {
                    let method = methods[random.below(methods.len() as u64) as usize];
                    // Params as an array (positional), an object (by name), or anything at all.
                    let params = match random.below(3) {
                        0 => Value::Array((0..random.below(3)).map(|_| random.value(3)).collect()),
                        1 => random.value(3),
                        _ => json!([random.value(3)]),
                    };
                    let id = t * 1_000_000 + i;
                    let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
                    let reply = surge_test_utils::post_raw(&l2, &body.to_string()).1;
                    assert_eq!(reply["id"], json!(id), "{method} {params}: {reply}");
                    let answered = reply.get("result").is_some() || reply["error"]["code"].is_i64();
                    assert!(answered, "{method} {params}: {reply}");
                }
            })
        })
        .collect();
    // And the subscription kind's params, over WebSocket.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ws = jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws).await.unwrap();
        let mut random = Random(7);
        for _ in 0..400 {
            let params = jsonrpsee::rpc_params!["surgeTxStatus", random.value(2)];
            use jsonrpsee::core::client::SubscriptionClientT;
            let sub = ws.subscribe::<Value, _>("eth_subscribe", params, "eth_unsubscribe").await;
            if let Err(e) = sub {
                assert!(!e.to_string().is_empty());
            }
        }
    });
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(surge_test_utils::rpc_result(&node.l2, "eth_blockNumber", json!([])).is_string(), "still serving");
    let log = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(!log.contains("panicked"), "{log}");
    node.stop();
}
