//! Answers that wallets and client libraries classify, over HTTP and WebSocket: subscription ids are hex
//! strings; transaction rejections are `-32000` in geth's words; parameter mistakes are `-32602` with a
//! message a person understands. The endpoints printed at start are URLs clients take as they are (cast
//! drives both chains through exactly those strings), logs to a file carry no colour codes and name the
//! chain of every block, and `/metrics` serves every metric it served before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEip7702, TxEnvelope},
    eips::Encodable2718,
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, TxKind, U256, hex};
use common::{DevNode, number};
use serde_json::{Value, json};
use surge_test_utils::{cast, dev_key, free_port, json_rpc, rpc_result};

const GWEI: u128 = 1_000_000_000;

/// One call over WebSocket: the result, or the error's code and message.
fn ws_call(runtime: &tokio::runtime::Runtime, url: &str, method: &str, params: &Value) -> Result<Value, (i64, String)> {
    use jsonrpsee::core::{client::ClientT, params::ArrayParams};
    runtime.block_on(async {
        let client = jsonrpsee::ws_client::WsClientBuilder::default().build(url).await.unwrap();
        let mut array = ArrayParams::new();
        for p in params.as_array().unwrap() {
            array.insert(p).unwrap();
        }
        match client.request::<Value, _>(method, array).await {
            Ok(v) => Ok(v),
            Err(jsonrpsee::core::ClientError::Call(e)) => Err((i64::from(e.code()), e.message().to_string())),
            Err(e) => panic!("{method}: {e}"),
        }
    })
}

/// The same call over HTTP and over WebSocket must fail with `code` and a message containing `words`.
fn refused(node: &DevNode, rt: &tokio::runtime::Runtime, method: &str, params: Value, code: i64, words: &str) {
    let http = json_rpc(&node.l2, method, params.clone());
    assert_eq!(http["error"]["code"], code, "HTTP {method}({params}) -> {http}");
    let message = http["error"]["message"].as_str().unwrap();
    assert!(message.contains(words), "HTTP {method}({params}): {message:?} lacks {words:?}");
    assert!(!message.contains("untagged enum"), "{message}");
    let (ws_code, ws_message) = ws_call(rt, &node.l2_ws, method, &params).expect_err(method);
    assert_eq!(ws_code, code, "WS {method}({params}): {ws_message}");
    assert!(ws_message.contains(words), "WS {method}({params}): {ws_message:?} lacks {words:?}");
}

fn signed(key: &PrivateKeySigner, nonce: u64, gas_limit: u64, max_fee: u128, tip: u128, value: u64) -> String {
    let tx = TxEip1559 {
        chain_id: surge_genesis::DEV_L2_CHAIN_ID,
        nonce,
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(value),
        access_list: Default::default(),
        input: Default::default(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    format!("0x{}", hex::encode(TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()))
}

#[test]
fn rejections_and_parameter_mistakes_answer_like_geth_over_http_and_ws() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = dev_key(5);
    let from = key.address().to_string();

    // Subscription ids are hex strings, and events arrive.
    rt.block_on(async {
        use jsonrpsee::core::client::{SubscriptionClientT, SubscriptionKind};
        let client = jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws).await.unwrap();
        let mut sub = client
            .subscribe::<Value, _>("eth_subscribe", jsonrpsee::rpc_params!["newHeads"], "eth_unsubscribe")
            .await
            .unwrap();
        let SubscriptionKind::Subscription(id) = sub.kind() else { panic!("not a subscription") };
        let id = serde_json::to_value(id).unwrap();
        let id = id.as_str().expect("a string id");
        assert!(id.starts_with("0x") && id.len() == 34 && hex::decode(&id[2..]).is_ok(), "{id}");
        tokio::time::timeout(Duration::from_secs(10), sub.next()).await.unwrap().unwrap().unwrap();
    });

    // A transaction mined with nonce 0, then every rejection.
    let first = signed(&key, 0, 21_000, 10 * GWEI, GWEI, 1);
    let hash = rpc_result(&node.l2, "eth_sendRawTransaction", json!([first]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while rpc_result(&node.l2, "eth_getTransactionReceipt", json!([hash])).is_null() {
        assert!(Instant::now() < deadline, "not mined");
        std::thread::sleep(Duration::from_millis(100));
    }
    let send = |raw: String| json!([raw]);
    refused(&node, &rt, "eth_sendRawTransaction", send(first.clone()), -32000, "nonce too low");
    let queued = signed(&key, 5, 21_000, 10 * GWEI, GWEI, 1); // a gap: waits in the pool
    rpc_result(&node.l2, "eth_sendRawTransaction", send(queued.clone()));
    refused(&node, &rt, "eth_sendRawTransaction", send(queued), -32000, "already known");
    let cheaper = signed(&key, 5, 21_000, 10 * GWEI, GWEI, 2);
    refused(&node, &rt, "eth_sendRawTransaction", send(cheaper), -32000, "replacement transaction underpriced");
    let broke = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).unwrap();
    let unfunded = signed(&broke, 0, 21_000, 10 * GWEI, GWEI, 1);
    refused(&node, &rt, "eth_sendRawTransaction", send(unfunded), -32000, "insufficient funds for gas * price + value");
    let short = signed(&key, 1, 20_000, 10 * GWEI, GWEI, 1);
    refused(&node, &rt, "eth_sendRawTransaction", send(short), -32000, "intrinsic gas too low");
    let huge = signed(&key, 1, 100_000_000, 10 * GWEI, GWEI, 1);
    refused(&node, &rt, "eth_sendRawTransaction", send(huge), -32000, "exceeds block gas limit");
    let delegation = TxEip7702 {
        chain_id: surge_genesis::DEV_L2_CHAIN_ID,
        nonce: 1,
        gas_limit: 50_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: Address::repeat_byte(0x77),
        ..Default::default()
    };
    let sig = key.sign_hash_sync(&delegation.signature_hash()).unwrap();
    let type4 = format!("0x{}", hex::encode(TxEnvelope::Eip7702(delegation.into_signed(sig)).encoded_2718()));
    refused(&node, &rt, "eth_sendRawTransaction", send(type4), -32000, "transaction type not supported");

    // The same checks before eth_call and eth_estimateGas with explicit nonce or fees.
    let broke_addr = broke.address().to_string();
    let pay = json!({"from": broke_addr, "to": from, "value": "0xde0b6b3a7640000", "gasPrice": "0x3b9aca00"});
    refused(&node, &rt, "eth_call", json!([pay, "latest"]), -32000, "insufficient funds for gas * price + value");
    refused(&node, &rt, "eth_estimateGas", json!([pay]), -32000, "insufficient funds for gas * price + value");
    let stale = json!({"from": from, "to": from, "nonce": "0x0", "maxFeePerGas": "0x2540be400"});
    refused(&node, &rt, "eth_call", json!([stale, "latest"]), -32000, "nonce too low");
    // A nonce ahead of the head is how wallets estimate a second pending transaction: accepted.
    let ahead = json!({"from": from, "to": from, "nonce": "0x9", "maxFeePerGas": "0x2540be400"});
    assert!(rpc_result(&node.l2, "eth_estimateGas", json!([ahead])).is_string());
    // 200 queued transactions from one sender (its nonce 0 missing): the pool keeps 64 (geth's
    // --txpool.accountqueue) and refuses the rest; another sender still gets in and is mined.
    let spammer = dev_key(6);
    for nonce in 1..=64 {
        rpc_result(&node.l2, "eth_sendRawTransaction", send(signed(&spammer, nonce, 21_000, 10 * GWEI, GWEI, 1)));
    }
    let over = signed(&spammer, 65, 21_000, 10 * GWEI, GWEI, 1);
    refused(&node, &rt, "eth_sendRawTransaction", send(over), -32000, "account limit exceeded");
    for nonce in 66..=200 {
        let answer =
            json_rpc(&node.l2, "eth_sendRawTransaction", send(signed(&spammer, nonce, 21_000, 10 * GWEI, GWEI, 1)));
        assert_eq!(answer["error"]["code"], -32000, "nonce {nonce}: {answer}");
    }
    let other = signed(&dev_key(7), 0, 21_000, 10 * GWEI, GWEI, 1);
    let other = rpc_result(&node.l2, "eth_sendRawTransaction", send(other));
    let deadline = Instant::now() + Duration::from_secs(20);
    while rpc_result(&node.l2, "eth_getTransactionReceipt", json!([other])).is_null() {
        assert!(Instant::now() < deadline, "the other sender's transaction was not mined");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cheap = json!({"from": from, "to": from, "maxFeePerGas": "0x1"});
    refused(&node, &rt, "eth_call", json!([cheap, "latest"]), -32000, "max fee per gas less than block base fee");

    // Parameter mistakes.
    refused(&node, &rt, "eth_getBalance", json!([from, "latests"]), -32602, "latest, earliest, pending");
    refused(&node, &rt, "eth_getBalance", json!([from, "12"]), -32602, "0x prefix");
    refused(&node, &rt, "eth_getBlockByNumber", json!(["12", false]), -32602, "0x prefix");
    let far = format!("0x{:x}", number(&rpc_result(&node.l2, "eth_blockNumber", json!([]))) + 1000);
    refused(
        &node,
        &rt,
        "eth_getLogs",
        json!([{"fromBlock": "0x2", "toBlock": "0x1"}]),
        -32602,
        "invalid block range params",
    );
    refused(
        &node,
        &rt,
        "eth_getLogs",
        json!([{"fromBlock": "0x1", "toBlock": far}]),
        -32602,
        "invalid block range params",
    );
    let both = json!([{"blockHash": format!("0x{}", "11".repeat(32)), "fromBlock": "0x1"}]);
    refused(&node, &rt, "eth_getLogs", both, -32602, "either blockHash or fromBlock/toBlock");
    let long_key = format!("0x{}", "01".repeat(33));
    refused(&node, &rt, "eth_getStorageAt", json!([from, long_key, "latest"]), -32602, "longer than 32 bytes");
    let unknown = format!("0x{}", "22".repeat(32));
    refused(&node, &rt, "debug_traceTransaction", json!([unknown]), -32000, "not found");

    // Requests that would cost the node more than any dapp needs, refused as geth refuses them.
    let percentiles: Vec<f64> = (0..=100).map(f64::from).collect(); // 101 of them
    let history = |p: Value| json!(["0x4", "latest", p]);
    refused(&node, &rt, "eth_feeHistory", history(json!(percentiles)), -32602, "over the query limit 100");
    refused(&node, &rt, "eth_feeHistory", history(json!([25.0, 25.0])), -32602, "invalid reward percentile");
    refused(&node, &rt, "eth_feeHistory", history(json!([50.0, 10.0])), -32602, "invalid reward percentile");
    assert_eq!(
        rpc_result(&node.l2, "eth_feeHistory", history(json!([10.0, 50.0])))["reward"][0].as_array().unwrap().len(),
        2
    );
    let addresses: Vec<String> = (0..1001u32).map(|i| format!("0x{i:040x}")).collect();
    for method in ["eth_getLogs", "eth_newFilter"] {
        let filter = json!([{"address": addresses}]);
        refused(&node, &rt, method, filter, -32602, "exceed max addresses or topics per search position");
    }
    let topics: Vec<String> = (0..1001u32).map(|i| format!("0x{i:064x}")).collect();
    refused(&node, &rt, "eth_getLogs", json!([{"topics": [null, topics]}]), -32602, "exceed max addresses");
    assert!(rpc_result(&node.l2, "eth_getLogs", json!([{"address": addresses[..1000]}])).is_array());
    assert!(rpc_result(&node.l2, "eth_getBlockReceipts", json!([far])).is_null(), "a future block has no receipts");
    assert!(ws_call(&rt, &node.l2_ws, "eth_getBlockReceipts", &json!([far])).unwrap().is_null());
    node.stop();
}

#[test]
fn printed_endpoints_work_as_printed_logs_are_plain_and_metrics_are_all_there() {
    let dir = tempfile::tempdir().unwrap();
    let (l1_port, l2_port, metrics_port) = (free_port(), free_port(), free_port());
    let log = dir.path().join("node.log");
    let mut child = common::Kill(
        Command::new(env!("CARGO_BIN_EXE_surge-node"))
            .args(["--dev", "--block-time", "0", "--datadir"])
            .arg(dir.path().join("data"))
            .args(["--http.port", &l2_port.to_string(), "--l1.http.port", &l1_port.to_string()])
            .args(["--metrics", &format!("127.0.0.1:{metrics_port}")])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut urls: Vec<(String, String)> = vec![]; // (chain line, URL)
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("dev accounts") {
            break;
        }
        for word in line.split_whitespace() {
            if word.starts_with("http://") || word.starts_with("ws://") {
                urls.push((line.split_whitespace().next().unwrap().to_string(), word.to_string()));
            }
        }
    }
    let chain_ids: Vec<(&str, &str)> = vec![("L1", "3151908"), ("L2", "763374")];
    for (chain, id) in chain_ids {
        let mine: Vec<&String> = urls.iter().filter(|(c, _)| c == chain).map(|(_, u)| u).collect();
        assert_eq!(mine.len(), 2, "{chain}: an http:// and a ws:// URL printed: {urls:?}");
        for url in mine {
            assert_eq!(cast(&["chain-id", "--rpc-url", url]), id, "{url}");
            cast(&["block-number", "--rpc-url", url]);
        }
    }
    // A transaction on each chain through the printed WebSocket URLs.
    for chain in ["L1", "L2"] {
        let ws = &urls.iter().find(|(c, u)| c == chain && u.starts_with("ws://")).unwrap().1;
        cast(&["send", "--private-key", common::KEY1, "--rpc-url", ws, &Address::repeat_byte(0xde).to_string()]);
    }
    let l2 = urls.iter().find(|(c, u)| c == "L2" && u.starts_with("http")).unwrap().1.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while number(&rpc_result(&l2, "eth_blockNumber", json!([]))) < 2 {
        assert!(Instant::now() < deadline, "no L2 blocks");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Every metric served before the one registry, by name and labels.
    let body = ureq::get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    for series in [
        "surge_block_height{chain=\"l1\"}",
        "surge_block_height{chain=\"l2\"}",
        "surge_pool_transactions{chain=\"l2\",pool=\"pending\"}",
        "surge_pool_transactions{chain=\"l2\",pool=\"queued\"}",
        "surge_pool_transactions{chain=\"l1\",pool=\"pending\"}",
        "surge_blocks_built_total{chain=\"l2\"}",
        "surge_block_build_seconds{chain=\"l2\"}",
        "surge_block_build_seconds_total{chain=\"l2\"}",
        "surge_rpc_request_duration_seconds_bucket{chain=\"l2\",le=\"0.001\"}",
        "surge_rpc_request_duration_seconds_bucket{chain=\"l2\",le=\"+Inf\"}",
        "surge_rpc_request_duration_seconds_sum{chain=\"l2\"}",
        "surge_rpc_request_duration_seconds_count{chain=\"l1\"}",
        "surge_builder_blocks_total",
        "surge_builder_rebuilt_blocks_total",
        "surge_builder_injected_slots_total",
        "surge_builder_rejected_return_slots_total",
        "surge_builder_consistency_seconds_total",
        "surge_state_cache_misses_total{chain=\"l1\"}",
        "surge_state_cache_entries{chain=\"l2\"}",
    ] {
        assert!(body.contains(series), "{series} in:\n{body}");
    }
    // Blocks read what the blocks before them wrote from the state cache.
    let hits = body
        .lines()
        .find_map(|l| l.strip_prefix("surge_state_cache_hits_total{chain=\"l2\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(hits.is_some_and(|h| h > 0.0), "state cache hits on L2: {hits:?}");
    drop(child);

    // A log written to a file: no colour codes, and every block line names its chain.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains('\u{1b}'), "colour codes in a log file");
    let blocks: Vec<&str> = text.lines().filter(|l| l.contains("block committed")).collect();
    for chain in ["L1", "L2"] {
        assert!(blocks.iter().any(|l| l.contains(&format!("chain=\"{chain}\""))), "no {chain} block line: {text}");
    }
    assert!(blocks.iter().all(|l| l.contains("chain=")), "{blocks:?}");
}
