//! `surge_simulateReturnMessage` on the real binary in dev mode, driven with cast: the swap and the flash
//! loan — simulate with a placeholder answer, estimate and send with the answer the node returned, the
//! block's anchor carries its slot, the receipt succeeds, the balances moved as the formulas say — and bad
//! input answered with the documented errors while the node keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "surge_rpc/statuses.rs"]
mod statuses;
#[path = "surge_rpc/user_ops.rs"]
mod user_ops;

use std::process::Command;

use alloy_primitives::{B256, Bytes};
use alloy_sol_types::SolCall;
use common::{DevNode, KEY1, healthy, metric, number};
use serde_json::{Value, json};
use surge_primitives::bindings::anchor::Anchor;
use surge_test_utils::{cast, cast_bin, json_rpc, rpc_result};

const USER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const L2_VAULT: &str = "0x7633740000000000000000000000000000002001";
const L2_TOKEN: &str = "0x7633740000000000000000000000000000002002";
const L1_POOL: &str = "0x3151908000000000000000000000000000002002";
const L2_EXECUTOR: &str = "0x7633740000000000000000000000000000003001";
const MESSAGE: &str = "(uint64,uint64,uint32,address,uint64,address,uint64,address,address,uint256,bytes)";
const ZERO: &str = "0x0000000000000000000000000000000000000000";
const ZERO_DEAD: &str = "0x000000000000000000000000000000000000dEaD";

/// A message in cast's tuple syntax, from the JSON the node returns.
fn tuple(m: &Value) -> String {
    let f = |k: &str| match &m[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let fields =
        ["id", "fee", "gasLimit", "from", "srcChainId", "srcOwner", "destChainId", "destOwner", "to", "value", "data"];
    format!("({})", fields.map(f).join(","))
}

fn placeholder() -> String {
    format!("(0,0,0,{ZERO},3151908,{ZERO},763374,{ZERO},{ZERO},0,0x)")
}

/// `surge_simulateReturnMessage` with cast, `request` as its one parameter (Catalyst's form) or, `raw`, as
/// the parameters themselves (by name); the result, or cast's error text.
fn simulate(l2: &str, request: &Value, raw: bool) -> Result<Value, String> {
    let mut args = vec!["rpc", "surge_simulateReturnMessage"];
    if raw {
        args.push("--raw");
    }
    let request = request.to_string();
    args.extend([request.as_str(), "--rpc-url", l2]);
    let out = Command::new(cast_bin()).args(&args).output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The signal slots of the anchor of `block`.
fn anchor_slots(l2: &str, block: u64) -> Vec<B256> {
    let block = rpc_result(l2, "eth_getBlockByNumber", json!([format!("0x{block:x}"), true]));
    let input: Bytes = block["transactions"][0]["input"].as_str().unwrap().parse().unwrap();
    Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap().signalSlots
}

/// Estimates `signature(args)` to `to` from the user with `value` (the node marks the answer's slot for
/// the estimate), then sends it with that gas; the receipt.
fn send(l2: &str, to: &str, signature: &str, args: &[&str], value: &str) -> Value {
    send_as(l2, (USER, KEY1), to, signature, args, value)
}

/// [`send`] from `(address, key)`.
fn send_as(l2: &str, from: (&str, &str), to: &str, signature: &str, args: &[&str], value: &str) -> Value {
    send_with(l2, from, (to, signature, args, value), &[])
}

/// [`send_as`] with `extra` arguments to `cast send` (an explicit `--nonce`).
fn send_with(
    l2: &str,
    (from, key): (&str, &str),
    (to, signature, args, value): (&str, &str, &[&str], &str),
    extra: &[&str],
) -> Value {
    let mut estimate = vec!["estimate", "--from", from, to, signature];
    estimate.extend_from_slice(args);
    estimate.extend_from_slice(&["--value", value, "--rpc-url", l2]);
    let gas = cast(&estimate);
    assert!(gas.parse::<u64>().unwrap() > 100_000, "{gas}");
    let mut all = vec!["send", to, signature];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--value", value, "--gas-limit", &gas, "--private-key", key, "--rpc-url", l2, "--json"]);
    all.extend_from_slice(extra);
    serde_json::from_str(&cast(&all)).unwrap()
}

#[test]
fn a_swap_and_a_flash_loan_with_the_answers_the_node_simulates() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let (l1, l2) = (node.l1.clone(), node.l2.clone());

    // The swap: calldata with a placeholder answer, the node's answer, then the real transaction.
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);
    let request = json!({"from": USER, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"});
    let answer = simulate(&l2, &request, false).unwrap();
    assert_eq!(simulate(&l2, &request, true).unwrap(), answer, "the by-name form answers the same");
    // Rust apps: the typed client.
    let typed = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use surge_rpc_ext::SurgeApiClient;
        let client = jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws).await.unwrap();
        client.simulate_return_message(serde_json::from_value(request.clone()).unwrap()).await.unwrap()
    });
    assert_eq!(serde_json::to_value(&typed).unwrap(), answer, "the typed client reads the same answer");
    assert_eq!(answer["message"]["srcChainId"], json!(3151908));
    assert_eq!(answer["messages"].as_array().unwrap().len(), 1);
    let tokens = cast(&["call", L1_POOL, "getAmountOut(uint256)(uint256)", "1ether", "--rpc-url", &l1]);
    let tokens = tokens.split_whitespace().next().unwrap().to_string();
    // eth_call runs it as its block will (the answer's slot marked): the tokens it returns.
    let returns = format!("{swap}(uint256)");
    let call = ["call", "--from", USER, L2_VAULT, &returns, "0", &tuple(&answer["message"])];
    let quoted = cast(&[&call[..], &["--value", "1ether", "--rpc-url", &l2]].concat());
    assert_eq!(quoted.split_whitespace().next().unwrap(), tokens, "eth_call of the sync transaction");
    let receipt = send(&l2, L2_VAULT, &swap, &["0", &tuple(&answer["message"])], "1ether");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let slot: B256 = answer["signalSlot"].as_str().unwrap().parse().unwrap();
    assert_eq!(anchor_slots(&l2, number(&receipt["blockNumber"])), vec![slot], "the anchor carries its slot");
    let balance = cast(&["call", L2_TOKEN, "balanceOf(address)(uint256)", USER, "--rpc-url", &l2]);
    assert_eq!(balance.split_whitespace().next().unwrap(), tokens, "the L1 pool's formula");

    // The flash loan of 100 ether, its 1 ether fee sent along.
    let loan = format!("flashLoanViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &loan, "100000000000000000000", &placeholder()]);
    let request = json!({"from": USER, "to": L2_EXECUTOR, "data": data, "value": "0xde0b6b3a7640000"});
    let answer = simulate(&l2, &request, false).unwrap();
    let receipt = send(&l2, L2_EXECUTOR, &loan, &["100000000000000000000", &tuple(&answer["message"])], "1ether");
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let slot: B256 = answer["signalSlot"].as_str().unwrap().parse().unwrap();
    assert_eq!(anchor_slots(&l2, number(&receipt["blockNumber"])), vec![slot]);
    let request_hash = answer["messages"][0]["hash"].as_str().unwrap();
    let recorded =
        cast(&["call", L2_EXECUTOR, "loans(bytes32)(address,uint256,uint256)", request_hash, "--rpc-url", &l2]);
    let recorded: Vec<&str> = recorded.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(recorded, [USER, "100000000000000000000", "1000000000000000000"], "the loan recorded");
    drop(node);
}

#[test]
fn bad_input_gets_the_documented_errors_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let compat = format!("127.0.0.1:{}", surge_test_utils::free_port());
    let node = DevNode::start_with(dir.path(), &["--surge.compat-addr", &compat]);
    let l2 = node.l2.clone();

    // Catalyst's address serves the surge_* methods, and only those.
    let compat = format!("http://{compat}");
    let answered = json_rpc(&compat, "surge_simulateReturnMessage", json!([{"from": USER, "to": L2_VAULT}]));
    assert_eq!(answered["error"]["code"], json!(-32001), "{answered}");
    assert_eq!(json_rpc(&compat, "eth_blockNumber", json!([]))["error"]["code"], json!(-32601));

    let code = |params: Value| json_rpc(&l2, "surge_simulateReturnMessage", params)["error"]["code"].clone();

    // No outbound message: -32001.
    assert_eq!(code(json!([{"from": USER, "to": L2_VAULT, "data": "0x"}])), json!(-32001));
    // Wrong types, nothing: invalid params.
    assert_eq!(code(json!([{"from": "me", "to": L2_VAULT}])), json!(-32602));
    assert_eq!(code(json!([])), json!(-32602));
    assert_eq!(code(json!([{"from": USER, "to": L2_VAULT, "value": "lots"}])), json!(-32602));
    // Fields a transaction request carries besides are ignored, as Catalyst does.
    assert_eq!(code(json!([{"from": USER, "to": L2_VAULT, "nonce": "0x7", "gasPrice": "0x1"}])), json!(-32001));
    // A swap whose L1 leg reverts (a minimum the L1 pool cannot give): the callback's failure.
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let greedy = cast(&["calldata", &swap, "1000000000000000000000000000000", &placeholder()]);
    let request = json!({"from": USER, "to": L2_VAULT, "data": greedy, "value": "0xde0b6b3a7640000"});
    let failed = json_rpc(&l2, "surge_simulateReturnMessage", json!([request]));
    assert_eq!(failed["error"]["code"], json!(-32000), "{failed}");
    assert_eq!(failed["error"]["message"], json!("L1 callback simulation failed"), "{failed}");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);
    // 1 MB of calldata: answered.
    let big = format!("0x{}", "ab".repeat(1 << 20));
    let answered = json_rpc(&l2, "surge_simulateReturnMessage", json!([{"from": USER, "to": L2_VAULT, "data": big}]));
    assert_eq!(answered["error"]["code"], json!(-32001), "{answered}");

    // 100 at once: each answered, with the answer or as too many.
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (l2, data) = (l2.clone(), data.clone());
            std::thread::spawn(move || {
                let request = json!([{"from": USER, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"}]);
                json_rpc(&l2, "surge_simulateReturnMessage", request)
            })
        })
        .collect();
    let answers: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = answers.iter().filter(|a| a.get("result").is_some()).count();
    let limited = answers.iter().filter(|a| a["error"]["code"] == json!(-32005)).count();
    assert_eq!(
        ok + limited,
        100,
        "{:?}",
        answers.iter().find(|a| a.get("result").is_none() && a["error"]["code"] != json!(-32005))
    );
    assert!(ok >= 1);
    assert!(healthy(&l2));
    assert!(rpc_result(&l2, "eth_blockNumber", json!([])).is_string(), "the node keeps serving");
}

/// `surge_simulateReturnMessage` calls at once on a node whose RPC simulation workers are all parked (a
/// failpoint): the first `count` each wait for a worker; their answers arrive on the returned channel.
fn parked_requests(node: &DevNode, count: usize, data: &str) -> std::sync::mpsc::Receiver<Value> {
    let (answers, received) = std::sync::mpsc::channel();
    for _ in 0..count {
        let (l2, answers) = (node.l2.clone(), answers.clone());
        let request = json!([{"from": USER, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"}]);
        std::thread::spawn(move || answers.send(json_rpc(&l2, "surge_simulateReturnMessage", request)));
    }
    received
}

/// Waits until the node reports `count` simulations queued for its workers.
fn queued(node: &DevNode, count: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while metric(&node.metrics, "surge_rpc_simulations_queued") != count as f64 {
        assert!(std::time::Instant::now() < deadline, "{count} simulations never queued");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The next `count` answers of `received`, each within the test's patience.
fn answers(received: &std::sync::mpsc::Receiver<Value>, count: usize) -> Vec<Value> {
    let patience = std::time::Duration::from_secs(30);
    (0..count).map(|_| received.recv_timeout(patience).expect("an answer within 30 s")).collect()
}

#[test]
fn with_the_workers_parked_the_cap_the_timeout_and_the_queue_bound_each_answer() {
    let dir = tempfile::tempdir().unwrap();
    let queue = ["--rpc.simulation-queue-bytes", "8388608"];
    let node = DevNode::start_env(dir.path(), &queue, &[("SURGE_FAILPOINT", "rpc.simulation:park")]);
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);

    // The concurrency cap: sixteen wait for a worker, the seventeenth is refused at once.
    let waiting = parked_requests(&node, 16, &data);
    queued(&node, 16);
    let refused = answers(&parked_requests(&node, 1, &data), 1).remove(0);
    assert_eq!(refused["error"]["code"], json!(-32005), "{refused}");
    assert_eq!(refused["error"]["message"], json!("too many simulations at once (at most 16)"), "{refused}");

    // The timeout: each waiting one gets its error, and leaves the queue.
    for answer in answers(&waiting, 16) {
        assert_eq!(answer["error"]["code"], json!(-32000), "{answer}");
        assert_eq!(answer["error"]["message"], json!("simulation timed out after 5000 ms"), "{answer}");
    }
    queued(&node, 0);

    // The queue's bytes (8 MiB, as the flag says): five simulations of 1.5 MiB of calldata fit, the sixth does
    // not.
    let big = format!("0x{}", "ab".repeat(3 << 19));
    let received = answers(&parked_requests(&node, 6, &big), 6);
    let full = received.iter().filter(|a| a["error"]["message"] == json!("simulation queue full: try again later"));
    assert_eq!(full.count(), 1, "{:?}", received.iter().map(|a| &a["error"]["message"]).collect::<Vec<_>>());
    assert!(rpc_result(&node.l2, "eth_blockNumber", json!([])).is_string(), "the node keeps serving");
}

/// The README's walkthrough, run as printed (bash, from the repository root, the L2 URL pointed at this
/// node): the swap settles and the user holds the tokens.
#[test]
fn the_readme_walkthrough_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let heading = "## Your first synchronous L2→L1→L2 transaction";
    let stdout = common::run_readme_script(heading, &[("http://127.0.0.1:8547", node.l2.as_str())]);
    assert!(stdout.contains("status               1 (success)"), "{stdout}");
    let balance = stdout.lines().last().unwrap().split_whitespace().next().unwrap();
    assert!(balance.parse::<u128>().unwrap() > 1_000_000_000_000_000_000_000, "{stdout}");
}

/// The README's manual withdrawal, run as printed against the dev node: 1 ETH sent to L1 on L2, claimed on
/// L1 with a proof at the finalized block once the proposer has it proved there.
#[test]
fn the_readme_withdrawal_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let me = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let balance = |rpc: &str| cast(&["balance", me, "--rpc-url", rpc]).parse::<u128>().unwrap();
    let before = balance(&node.l1);
    let out = common::run_readme_script(
        "## Withdrawing ETH from L2 to L1 by hand",
        &[("http://127.0.0.1:8545", node.l1.as_str()), ("http://127.0.0.1:8547", node.l2.as_str())],
    );
    assert!(out.contains("status               1 (success)"), "{out}");
    let gained = balance(&node.l1) - before;
    // 1 ETH less the claim's gas.
    assert!(gained > 999 * 10u128.pow(15) && gained < 10u128.pow(18), "gained {gained} wei: {out}");
}

/// Two users simulate before either sends: the same answer. The first to send settles; the second's
/// transaction is never mined without its answer: the node rejects it, `surge_txStatus` names the reason
/// (after a SIGKILL and a restart too), a wallet sees it gone as geth shows a dropped transaction; it
/// simulates again, gets the next id, and settles at the same nonce.
#[test]
fn of_two_users_with_the_same_answer_the_second_is_rejected_and_simulates_again() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let user = |i: u32| {
        let key = surge_test_utils::dev_key(i);
        (key.address().to_string(), format!("0x{}", alloy_primitives::hex::encode(key.to_bytes())))
    };
    let ((a, key_a), (b, key_b)) = (user(4), user(5));
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);
    let ask = |l2: &str, from: &str| {
        let request = json!({"from": from, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"});
        simulate(l2, &request, false).unwrap()
    };
    let (answer_a, answer_b) = (ask(&l2, &a), ask(&l2, &b));
    assert_eq!(answer_a["message"]["id"], answer_b["message"]["id"], "the same answer id for both");

    let settled = send_as(&l2, (&a, &key_a), L2_VAULT, &swap, &["0", &tuple(&answer_a["message"])], "1ether");
    assert_eq!(settled["status"], "0x1", "{settled}");
    // B sends the answer A took (its own gas limit: no estimate succeeds for it), without waiting.
    let taken = cast(&[
        "send",
        L2_VAULT,
        &swap,
        "0",
        &tuple(&answer_b["message"]),
        "--value",
        "1ether",
        "--gas-limit",
        "3000000",
        "--private-key",
        &key_b,
        "--rpc-url",
        &l2,
        "--async",
    ]);
    let status = |l2: &str| json_rpc(l2, "surge_txStatus", json!({"txHash": taken}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let rejected = loop {
        let answer = status(&l2);
        if answer["result"]["status"] == "Rejected" {
            break answer["result"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "not rejected: {answer}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let reason = rejected["reason"].as_str().unwrap();
    assert!(reason.ends_with("answer already taken"), "{rejected}");
    assert_eq!(rpc_result(&l2, "eth_getTransactionByHash", json!([taken])), Value::Null, "gone, as geth shows it");
    let metrics = ureq::get(&node.metrics).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("surge_plans_dropped_total{reason=\"answer already taken\"}")),
        "{metrics}"
    );

    // Killed and started again on the same data: the reason is still there.
    let mut node = node;
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    drop(node);
    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let kept = status(&l2)["result"].clone();
    assert_eq!(
        (&kept["status"], &kept["reason"]),
        (&rejected["status"], &rejected["reason"]),
        "after a SIGKILL and a restart"
    );

    // B simulates again and sends at the same nonce: the next id, settled.
    let again = ask(&l2, &b);
    assert_eq!(again["message"]["id"].as_u64(), answer_a["message"]["id"].as_u64().map(|id| id + 1), "the next id");
    let settled = send_as(&l2, (&b, &key_b), L2_VAULT, &swap, &["0", &tuple(&again["message"])], "1ether");
    assert_eq!(settled["status"], "0x1", "{settled}");
    let nonce = rpc_result(&l2, "eth_getTransactionByHash", json!([settled["transactionHash"]]))["nonce"].clone();
    assert_eq!(nonce, json!("0x0"), "the nonce the rejected one had");
}

/// A sender's transfer and, without waiting for it, a swap at the next nonce (its answer simulated after
/// the pending transfer; cast takes the latest nonce, so the swap names its own): the swap settles with
/// its answer.
#[test]
fn a_transfer_then_at_once_a_swap_at_the_next_nonce_settles() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let hash = cast(&["send", "--async", "--private-key", KEY1, "--rpc-url", &l2, ZERO_DEAD, "--value", "1gwei"]);
    let swap = format!("swapETHForTokenViaL1(uint256,{MESSAGE})");
    let data = cast(&["calldata", &swap, "0", &placeholder()]);
    let request = json!({"from": USER, "to": L2_VAULT, "data": data, "value": "0xde0b6b3a7640000"});
    let answer = simulate(&l2, &request, false).unwrap();
    let embedded = tuple(&answer["message"]);
    let call = (L2_VAULT, swap.as_str(), &["0", embedded.as_str()][..], "1ether");
    let receipt = send_with(&l2, (USER, KEY1), call, &["--nonce", "1"]);
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let slot: B256 = answer["signalSlot"].as_str().unwrap().parse().unwrap();
    assert_eq!(anchor_slots(&l2, number(&receipt["blockNumber"])), vec![slot]);
    let transfer = rpc_result(&l2, "eth_getTransactionReceipt", json!([hash]));
    assert!(number(&transfer["blockNumber"]) <= number(&receipt["blockNumber"]));
    let sent = rpc_result(&l2, "eth_getTransactionByHash", json!([receipt["transactionHash"]]));
    assert_eq!(sent["nonce"], json!("0x1"), "right behind the transfer");
}

/// The README's revert-protection walkthrough, run as printed: a transfer's status once mined, and a swap
/// with a made-up answer rejected with the reason, gone from the node as geth shows a dropped transaction.
#[test]
fn the_readme_status_walkthrough_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let heading = "## Revert protection: a sync transaction is mined with its answer or not at all";
    let out = common::run_readme_script(heading, &[("http://127.0.0.1:8547", node.l2.as_str())]);
    let lines: Vec<&str> = out.lines().collect();
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(["ProvingBlock", "Processing", "Executed"].contains(&first["status"].as_str().unwrap()), "{out}");
    let rejected: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(rejected["status"], "Rejected", "{out}");
    let reason = rejected["reason"].as_str().unwrap();
    assert!(reason.starts_with("no answer for message") && reason.contains("(id 9)"), "{reason}");
    assert_eq!(lines[lines.len() - 1], "null", "{out}");
}

/// The README's status subscription, run as printed: a transfer's states pushed in order to `Executed`, its
/// status with the UI's fields, and the sync status.
#[test]
fn the_readme_status_subscription_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let heading = "## Following a transaction to the end: statuses, pushed updates, sync status";
    let replace = [("http://127.0.0.1:8547", node.l2.as_str()), ("ws://127.0.0.1:8547", node.l2_ws.as_str())];
    let out = common::run_readme_script(heading, &replace);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let (sync, status, pushed) = (&lines[lines.len() - 1], &lines[lines.len() - 2], &lines[..lines.len() - 2]);
    let states: Vec<&str> = pushed.iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(states.last(), Some(&"Executed"), "{out}");
    let rank = |s: &&str| ["Pending", "ProvingBlock", "Processing", "Executed"].iter().position(|n| n == s).unwrap();
    assert!(states.windows(2).all(|w| rank(&w[0]) < rank(&w[1])), "each state once, in order: {out}");
    assert_eq!(status["status"], "Executed", "{out}");
    assert!(status["l2_block_number"].is_u64() && status["l2_block_hash"].is_string(), "{out}");
    assert!(sync["l1"]["headNumber"].is_u64() && sync["proposer"]["address"].is_string(), "{out}");
    node.stop();
}

/// The README's Raiko command, run as printed (the port pointed at a local Raiko double that proves with
/// mock proofs after a poll): a transfer's block is proven by it and finalized.
#[test]
fn the_readme_raiko_command_runs_as_printed() {
    let proving = common::Proving::default();
    let raiko = common::proving_raiko(proving.clone(), Default::default());
    let readme = std::fs::read_to_string(surge_test_utils::workspace_root().join("README.md")).unwrap();
    let section = readme.split("\n## Real proofs from Raiko\n").nth(1).unwrap();
    let command = section.split("```sh\n").nth(1).unwrap().lines().next().unwrap();
    let args: Vec<String> = command
        .split(" -- ")
        .nth(1)
        .unwrap()
        .replace("http://127.0.0.1:8080", &raiko.url)
        .split_whitespace()
        .filter(|a| *a != "--dev")
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start_with(dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let dev: Value = serde_json::from_str(include_str!("../../../etc/dev/addresses.json")).unwrap();
    let verifier = dev["mockVerifier"].as_str().unwrap().parse().unwrap();
    let chain_id = number(&rpc_result(&node.l2, "eth_chainId", json!([])));
    let signer = surge_test_utils::dev_key(1);
    *proving.lock().unwrap() = Some((node.l1.clone(), surge_primitives::MockProver::new(signer, chain_id, verifier)));
    let sent = cast(&["send", ZERO_DEAD, "--value", "1gwei", "--private-key", KEY1, "--rpc-url", &node.l2, "--json"]);
    let block = number(&serde_json::from_str::<Value>(&sent).unwrap()["blockNumber"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while number(&rpc_result(&node.l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]) < block {
        assert!(std::time::Instant::now() < deadline, "not finalized with Raiko's proofs");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let received = raiko.received();
    assert!(received.iter().any(|r| r.body["proof_type"] == "sp1" && r.body["blobs"] != json!([])), "a full request");
    assert!(received.iter().any(|r| r.body["blobs"] == json!([])), "a poll");
    node.stop();
}
