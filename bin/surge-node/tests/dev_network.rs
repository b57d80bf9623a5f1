//! The real binary in dev mode, driven with cast and raw JSON-RPC: transfers, a contract deployed and
//! called, logs through `eth_getLogs` and through a filter, receipts, a `newHeads` subscription over WS,
//! anchors opening every L2 block with checkpoints of the embedded L1, an `eth_getProof` checked against
//! the state root, JSON-RPC error codes for bad input, and both chains continuing after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use alloy::consensus::TrieAccount;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::SolCall;
use common::{DevNode, number, ready, run_readme_cast, send, storage_logs_bytecode};
use serde_json::{Value, json};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, bindings::anchor::Anchor};
use surge_test_utils::{cast, json_rpc, post_raw, rpc_result};

#[test]
fn dev_network_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let (l1, l2) = (node.l1.clone(), node.l2.clone());

    // ETH on both chains.
    let dead = "0x000000000000000000000000000000000000dEaD";
    send(&l2, &[dead, "--value", "1ether"]);
    assert_eq!(cast(&["balance", dead, "--rpc-url", &l2]), "1000000000000000000");
    send(&l1, &[dead, "--value", "2ether"]);
    assert_eq!(cast(&["balance", dead, "--rpc-url", &l1]), "2000000000000000000");

    // A contract: deploy, call, logs by eth_getLogs and by a filter, receipts.
    let deployed = send(&l2, &["--create", &storage_logs_bytecode()]);
    let app = deployed["contractAddress"].as_str().unwrap().to_string();
    let filter = rpc_result(&l2, "eth_newFilter", json!([{ "address": app }]));
    let stored = send(&l2, &[&app, "store(uint256,uint256)", "7", "9"]);
    assert_eq!(cast(&["call", &app, "values(uint256)(uint256)", "7", "--rpc-url", &l2]), "9");
    let logs: Value =
        serde_json::from_str(&cast(&["logs", "--address", &app, "--from-block", "0", "--rpc-url", &l2, "--json"]))
            .unwrap();
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs[0]["transactionHash"], stored["transactionHash"]);
    let changes = rpc_result(&l2, "eth_getFilterChanges", json!([filter]));
    assert_eq!(changes.as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(changes[0]["topics"][1], format!("0x{:064x}", 7));
    assert_eq!(rpc_result(&l2, "eth_getFilterChanges", json!([filter])), json!([]), "nothing new since");
    let hash = stored["transactionHash"].as_str().unwrap();
    let receipt: Value = serde_json::from_str(&cast(&["receipt", hash, "--rpc-url", &l2, "--json"])).unwrap();
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["logs"][0]["address"].as_str().unwrap().to_lowercase(), app.to_lowercase());
    let block_receipts = rpc_result(&l2, "eth_getBlockReceipts", json!([receipt["blockNumber"]]));
    assert_eq!(block_receipts[1]["transactionHash"], stored["transactionHash"], "after the anchor");

    // Traces: callTracer with logs, and the prestate the call read.
    let trace = rpc_result(
        &l2,
        "debug_traceTransaction",
        json!([hash, { "tracer": "callTracer", "tracerConfig": { "withLog": true } }]),
    );
    assert_eq!(trace["type"], "CALL");
    assert_eq!(trace["to"].as_str().unwrap().to_lowercase(), app.to_lowercase());
    assert_eq!(trace["logs"].as_array().map(Vec::len), Some(1), "{trace}");
    let prestate = rpc_result(&l2, "debug_traceTransaction", json!([hash, { "tracer": "prestateTracer" }]));
    assert!(prestate[app.to_lowercase()].is_object(), "the app's pre-state: {prestate}");
    let block_traces =
        rpc_result(&l2, "debug_traceBlockByNumber", json!([receipt["blockNumber"], { "tracer": "callTracer" }]));
    let traces = block_traces.as_array().unwrap();
    assert_eq!(traces.len(), 2, "the anchor and the store call: {block_traces}");
    assert_eq!(traces[1]["txHash"], stored["transactionHash"]);
    assert_eq!(traces[1]["result"]["to"].as_str().unwrap().to_lowercase(), app.to_lowercase());
    let call_trace = rpc_result(
        &l2,
        "debug_traceCall",
        json!([{ "to": app, "data": cast(&["calldata", "store(uint256,uint256)", "1", "2"]) }, "latest", { "tracer": "callTracer" }]),
    );
    assert_eq!(call_trace["type"], "CALL", "{call_trace}");

    // A blob transaction on the L1.
    let blob_file = dir.path().join("blob.txt");
    std::fs::write(&blob_file, b"hello from a blob").unwrap();
    let blob = send(&l1, &["--blob", "--path", blob_file.to_str().unwrap(), dead]);
    assert_eq!(blob["type"], "0x3");
    assert_eq!(blob["blobGasUsed"], "0x20000", "{blob}");

    // newHeads over WebSocket.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let head: Value = runtime.block_on(async {
        use jsonrpsee::core::client::SubscriptionClientT;
        let client = jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws).await.unwrap();
        let mut sub = client
            .subscribe::<Value, _>("eth_subscribe", jsonrpsee::rpc_params!["newHeads"], "eth_unsubscribe")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap().unwrap().unwrap()
    });
    assert!(number(&head["number"]) > 0 && head["hash"].is_string(), "{head}");

    // Logs (filtered by address) and pending transactions over WebSocket.
    let (log, pending) = runtime.block_on(async {
        use jsonrpsee::core::client::SubscriptionClientT;
        let client = jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws).await.unwrap();
        let filter = json!({ "address": app });
        let mut logs = client
            .subscribe::<Value, _>("eth_subscribe", jsonrpsee::rpc_params!["logs", filter], "eth_unsubscribe")
            .await
            .unwrap();
        let mut pending = client
            .subscribe::<Value, _>("eth_subscribe", jsonrpsee::rpc_params!["newPendingTransactions"], "eth_unsubscribe")
            .await
            .unwrap();
        let receipt = tokio::task::spawn_blocking({
            let (l2, app) = (l2.clone(), app.clone());
            move || send(&l2, &[&app, "store(uint256,uint256)", "5", "6"])
        })
        .await
        .unwrap();
        let wait = Duration::from_secs(10);
        let log = tokio::time::timeout(wait, logs.next()).await.unwrap().unwrap().unwrap();
        let hash = tokio::time::timeout(wait, pending.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(log["transactionHash"], receipt["transactionHash"]);
        (log, hash)
    });
    assert_eq!(log["topics"][1], format!("0x{:064x}", 5), "{log}");
    assert!(pending.as_str().is_some_and(|h| h.len() == 66), "{pending}");

    // Every L2 block opens with the anchor, checkpointing a real block of the embedded L1.
    let l2_head = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let l1_head = number(&rpc_result(&l1, "eth_blockNumber", json!([])));
    for n in 1..=l2_head {
        let block = rpc_result(&l2, "eth_getBlockByNumber", json!([format!("0x{n:x}"), true]));
        let anchor = &block["transactions"][0];
        assert_eq!(anchor["from"].as_str().unwrap().parse::<Address>().unwrap(), GOLDEN_TOUCH_ADDRESS, "block {n}");
        let input: Bytes = anchor["input"].as_str().unwrap().parse().unwrap();
        let call = Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap();
        let cp = call.l1Checkpoint;
        let l1_number = cp.blockNumber.to::<u64>();
        assert!(l1_number <= l1_head, "block {n} anchors to L1 block {l1_number}, beyond the L1 head {l1_head}");
        let l1_block = rpc_result(&l1, "eth_getBlockByNumber", json!([format!("0x{l1_number:x}"), false]));
        assert_eq!(l1_block["hash"].as_str().unwrap().parse::<B256>().unwrap(), cp.blockHash, "block {n}");
        assert_eq!(l1_block["stateRoot"].as_str().unwrap().parse::<B256>().unwrap(), cp.stateRoot);
    }

    // eth_getProof against the block's state root.
    let account: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".parse().unwrap();
    let latest = rpc_result(&l2, "eth_getBlockByNumber", json!(["latest", false]));
    let proof = rpc_result(&l2, "eth_getProof", json!([account, [], latest["number"]]));
    let root: B256 = latest["stateRoot"].as_str().unwrap().parse().unwrap();
    let nodes: Vec<Bytes> = serde_json::from_value(proof["accountProof"].clone()).unwrap();
    let value = alloy_rlp::encode(TrieAccount {
        nonce: number(&proof["nonce"]),
        balance: proof["balance"].as_str().unwrap().parse::<U256>().unwrap(),
        storage_root: proof["storageHash"].as_str().unwrap().parse().unwrap(),
        code_hash: proof["codeHash"].as_str().unwrap().parse().unwrap(),
    });
    let key = alloy_trie::Nibbles::unpack(keccak256(account));
    alloy_trie::proof::verify_proof(root, key, Some(value), &nodes).unwrap();

    // Bad input gets its JSON-RPC error code and the node keeps serving.
    let (_, parse) = post_raw(&l2, "{not json");
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    assert_eq!(json_rpc(&l2, "eth_noSuchMethod", json!([]))["error"]["code"], -32601);
    assert_eq!(json_rpc(&l2, "eth_getBalance", json!(["not an address"]))["error"]["code"], -32602);
    let fail = cast(&["calldata", "fail(uint256)", "1"]);
    let revert = json_rpc(&l2, "eth_call", json!([{ "to": app, "data": fail }, "latest"]));
    assert_eq!(revert["error"]["code"], 3, "a revert is code 3: {revert}");
    assert!(revert["error"]["message"].as_str().unwrap().contains("asked to fail"), "{revert}");
    assert!(revert["error"]["data"].as_str().unwrap().starts_with("0x08c379a0"), "Error(string) data: {revert}");

    // Block tags: the L2's safe and finalized blocks are those L1 holds proved (genesis until the first
    // proposal, sent when its oldest block is 12 s old, lands: a slow run gets there before this line),
    // never ahead of each other or of the head; the dev L1 is final at once.
    let l2_tag = |tag: &str| number(&rpc_result(&l2, "eth_getBlockByNumber", json!([tag, false]))["number"]);
    let finalized = l2_tag("finalized");
    let (safe, head) = (l2_tag("safe"), l2_tag("latest"));
    assert!(finalized <= safe && safe <= head, "finalized {finalized}, safe {safe}, latest {head}");
    let l1_tag = |tag: &str| number(&rpc_result(&l1, "eth_getBlockByNumber", json!([tag, false]))["number"]);
    for tag in ["safe", "finalized"] {
        // The proposer may add an L1 block between two calls.
        let before = l1_tag("latest");
        let at = l1_tag(tag);
        assert!(before <= at && at <= l1_tag("latest"), "L1 {tag} {at}, latest from {before}");
    }
    // A pending nonce counts the pool (the L2 mines once a second).
    let key2 = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    let from2 = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
    let latest_nonce = number(&rpc_result(&l2, "eth_getTransactionCount", json!([from2, "latest"])));
    cast(&["send", "--async", "--private-key", key2, "--rpc-url", &l2, dead, "--value", "1"]);
    let pending_nonce = number(&rpc_result(&l2, "eth_getTransactionCount", json!([from2, "pending"])));
    let mined_meanwhile = number(&rpc_result(&l2, "eth_getTransactionCount", json!([from2, "latest"])));
    assert_eq!(pending_nonce, latest_nonce + 1, "pending counts the pooled transaction (mined: {mined_meanwhile})");

    // CORS for the configured origin only.
    let preflight = |origin: &str| {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let resp = agent
            .options(&l2)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .call()
            .unwrap();
        resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string())
    };
    assert_eq!(preflight("http://localhost:3000").as_deref(), Some("http://localhost:3000"));
    assert_eq!(preflight("http://evil.example"), None);

    // Prometheus metrics: heights, pool sizes, build times and RPC latency for both chains.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let text = agent.get(&node.metrics).call().unwrap().body_mut().read_to_string().unwrap();
    for series in [
        "surge_block_height{chain=\"l2\"}",
        "surge_block_height{chain=\"l1\"}",
        "surge_pool_transactions{chain=\"l2\",pool=\"pending\"}",
        "surge_block_build_seconds{chain=\"l2\"}",
        "surge_rpc_request_duration_seconds_count{chain=\"l2\"}",
        "surge_builder_blocks_total",
        "surge_builder_rejected_return_slots_total 0",
        // The txpool watcher saw the transfers: no outbound message.
        "surge_plans_dropped_total{reason=\"no outbound message\"}",
        "surge_watcher_plans 0",
    ] {
        assert!(text.contains(series), "{series} in:\n{text}");
    }
    let rpc_count = text
        .lines()
        .find(|l| l.starts_with("surge_rpc_request_duration_seconds_count{chain=\"l2\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap();
    assert!(rpc_count > 10, "RPC requests were counted: {rpc_count}");

    // At start the node checked the L1 leg's fast-signal path on the embedded L1.
    let port = l2.rsplit(':').next().unwrap();
    let log = std::fs::read_to_string(dir.path().join(format!("node-{port}.log"))).unwrap();
    assert!(log.contains("the L1 fast-signal path checks out"), "{log}");

    // The example apps answer the README's commands with the constant-product and 1% formulas.
    let outputs = run_readme_cast("## Example apps", &l1, &l2);
    let first = |s: &str| s.split_whitespace().next().unwrap().parse::<U256>().unwrap();
    let (eth, reserve_eth, reserve_token) =
        (U256::from(10u64).pow(U256::from(18)), U256::from(1_000u64), U256::from(2_000_000u64));
    let in_with_fee = eth * U256::from(9_970);
    let expected = in_with_fee * reserve_token * eth / (reserve_eth * eth * U256::from(10_000) + in_with_fee);
    assert_eq!(outputs.len(), 2);
    assert_eq!(first(&outputs[0]), expected, "{outputs:?}");
    assert_eq!(first(&outputs[1]), eth, "1% of 100 ether: {outputs:?}");

    // A restart continues both chains.
    let heads = |l1: &str, l2: &str| {
        (number(&rpc_result(l1, "eth_blockNumber", json!([]))), number(&rpc_result(l2, "eth_blockNumber", json!([]))))
    };
    let (h1, h2) = heads(&l1, &l2);
    let l2_hash = rpc_result(&l2, "eth_getBlockByNumber", json!([format!("0x{h2:x}"), false]))["hash"].clone();
    node.stop();
    let node = DevNode::start(dir.path());
    let (r1, r2) = heads(&node.l1, &node.l2);
    assert!(r1 >= h1 && r2 >= h2, "L1 {h1} → {r1}, L2 {h2} → {r2}");
    let again = rpc_result(&node.l2, "eth_getBlockByNumber", json!([format!("0x{h2:x}"), false]))["hash"].clone();
    assert_eq!(again, l2_hash, "the same chain");
    assert_eq!(cast(&["balance", dead, "--rpc-url", &node.l2]), "1000000000000000000");
    send(&node.l2, &[dead, "--value", "1ether"]);
    node.stop();
}

/// A transaction whose message the proposal relays to L1 (the README's) is planned and goes into the first
/// block of a proposal; the node is SIGKILLed right after (before or after its proposal reached L1), and
/// again after a restart: the transaction is in its block once, the proposer carried on and L1 finalized
/// it, a restart finds the `finalized` tag where the inbox is, and the planner's store holds only what is
/// not on L1, every block in one proposal.
#[test]
fn a_planned_transaction_and_its_proposal_survive_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    // The README's planned transaction.
    let outputs = run_readme_cast("## Proposals", &node.l1, &node.l2);
    let receipt: Value = serde_json::from_str(&outputs[0]).unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let block = number(&receipt["blockNumber"]);
    let tx: B256 = receipt["transactionHash"].as_str().unwrap().parse().unwrap();
    drop(node);

    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let finalized = |l2: &str| number(&rpc_result(l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while finalized(&l2) < block {
        assert!(std::time::Instant::now() < deadline, "L1 did not finalize the block after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    let again = rpc_result(&l2, "eth_getTransactionReceipt", json!([tx]));
    assert_eq!(number(&again["blockNumber"]), block, "in its block, once");
    let before = finalized(&l2);
    drop(node);

    let node = DevNode::start(dir.path());
    assert!(finalized(&node.l2) >= before, "the finalized tag restored from the inbox at start");
    drop(node);

    let store = surge_exex::LedgerStore::open(&dir.path().join("l2/planner.redb")).unwrap();
    let surge_exex::store::Loaded { proposals, plans, .. } = store.load().unwrap();
    assert!(proposals.iter().all(|p| p.plans.iter().all(|p| p.tx_hash != tx)), "its proposal is on L1");
    assert!(plans.iter().all(|(_, r)| r.plan.tx_hash != tx), "its plan left with its proposal");
    let mut blocks: Vec<u64> = proposals.iter().flat_map(|p| p.blocks.iter().map(|b| b.number)).collect();
    blocks.sort();
    let first = blocks.first().copied().unwrap_or(before + 1);
    assert!(first > before, "what the store keeps is after what L1 finalized");
    assert_eq!(
        blocks,
        (first..first + blocks.len() as u64).collect::<Vec<_>>(),
        "every block in one proposal, none twice"
    );
}

/// The ledger reads each block after the chain committed it: a SIGKILL between a planned block's commit and
/// the ledger's write (a failpoint) loses nothing. After the restart the ledger reads the block again, with
/// its plan, and the block's proposal makes the plan's L1 call: the message is processed on L1 (it would
/// stay new had the plan been lost), and L1 finalizes the block.
#[test]
fn a_sigkill_between_a_blocks_commit_and_the_ledgers_write_loses_no_plan() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let failpoint = [("SURGE_FAILPOINT", "ledger.planned_block:sigkill")];
    let mut node = DevNode::start_env(dir.path(), &[], &failpoint);
    // The README's planned transaction (a message an L1 call relays), sent without waiting for a receipt.
    let (me, key) = (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    );
    let message = format!("(0,0,1000000,{me},0,{me},3151908,{me},{me},0,0x)");
    let sig = "sendMessage((uint64,uint64,uint32,address,uint64,address,uint64,address,address,uint256,bytes))";
    let l2_bridge = "0x7633740000000000000000000000000000000001";
    let tx = cast(&["send", l2_bridge, sig, &message, "--private-key", key, "--rpc-url", &node.l2, "--async"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the failpoint did not stop the node");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.signal(), Some(9), "killed at the failpoint: {status:?}");
    drop(node);

    let node = DevNode::start(dir.path());
    let receipt: Value = serde_json::from_str(&cast(&["receipt", &tx, "--json", "--rpc-url", &node.l2])).unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let block = number(&receipt["blockNumber"]);
    let sent = receipt["logs"].as_array().unwrap().iter().find(|l| l["address"].as_str() == Some(l2_bridge));
    let msg_hash = sent.unwrap()["topics"][1].as_str().unwrap().to_string();
    let finalized = || number(&rpc_result(&node.l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while finalized() < block {
        assert!(std::time::Instant::now() < deadline, "L1 did not finalize block {block} after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    let l1_bridge = "0x3151908000000000000000000000000000000001";
    let status = cast(&["call", l1_bridge, "messageStatus(bytes32)(uint8)", &msg_hash, "--rpc-url", &node.l1]);
    assert_eq!(status, "2", "the proposal made the plan's L1 call: the message is done on L1");
    let port = node.l2.rsplit(':').next().unwrap();
    let log = std::fs::read_to_string(dir.path().join(format!("node-{port}.log"))).unwrap();
    let line = log.lines().find(|l| l.contains("accounting for a block committed before the restart"));
    assert!(line.is_some_and(|l| l.contains(&format!("number={block}")) && l.contains("plans=1")), "{log}");
    node.stop();
}

#[test]
fn a_failed_critical_task_stops_the_node_or_with_keep_serving_shows_in_ready() {
    let dir = tempfile::tempdir().unwrap();
    let failpoint = [("SURGE_FAILPOINT", "proposer:panic")];

    // Kept serving: RPC answers, /health says the process is alive, /ready names the proposer.
    let node = DevNode::start_env(dir.path(), &["--keep-serving"], &failpoint);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = ready(&node.l2);
        if status != 200 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(reason.starts_with("proposer panicked") && reason.contains("failpoint proposer"), "{body}");
    assert!(rpc_result(&node.l2, "eth_blockNumber", json!([])).is_string(), "RPC keeps answering");
    assert!(common::healthy(&node.l2));
    assert_eq!(ready(&node.l1).0, 503, "the L1's endpoint says the same node is not ready");
    let out =
        common::run_readme_script("## Liveness, readiness and failed tasks", &[("http://127.0.0.1:8547", &node.l2)]);
    assert!(out.contains(r#""ready":false"#) && out.contains("proposer panicked"), "{out}");
    node.stop();

    // Without it the node stops with exit code 2, its stores closed: a restart replays nothing.
    let (l1_port, l2_port) = (surge_test_utils::free_port(), surge_test_utils::free_port());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["--dev", "--block-time", "0", "--datadir"])
        .arg(dir.path())
        .args(["--http.port", &l2_port.to_string(), "--l1.http.port", &l1_port.to_string()])
        .envs(failpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("critical task failed: proposer panicked"), "{stderr}");
    let node = DevNode::start(dir.path());
    assert_eq!(ready(&node.l2), (200, json!({ "ready": true, "reasons": [] })));
    // The README's check for a proposer out of funds, on a funded one.
    let out = common::run_readme_script("## When a proposal reverts on L1", &[("http://127.0.0.1:8547", &node.l2)]);
    assert_eq!(out.trim(), r#"{"ready":true,"reasons":[]}"#);
    node.stop();
    let logs: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(!logs.contains("replayed the blocks logged"), "the stores were closed cleanly:\n{logs}");
}
