//! The same scripted JSON-RPC session against surge-node's dev L1 and against anvil on the same genesis:
//! every response has the same shape and the same error class; values must match except in the fields
//! listed in `EXPECTED_DIFFERENCES`, each with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use alloy::{consensus::TxEip1559, eips::Encodable2718};
use alloy_primitives::{Address, Bytes, U256};
use common::DevNode;
use serde_json::{Value, json};
use surge_test_utils::{Anvil, dev_key, eip1559_call, json_rpc, sign_eip1559, workspace_root};

/// Fields whose values legitimately differ between the two nodes, and why.
const EXPECTED_DIFFERENCES: &[(&str, &str)] = &[
    ("timestamp", "anvil's block times count from the genesis timestamp (0 here); surge-node uses the wall clock"),
    ("hash", "block hashes cover the timestamp and the state root"),
    ("parentHash", "the parent's hash covers its timestamp"),
    ("blockHash", "the including block's hash covers its timestamp"),
    ("mixHash", "anvil draws prevRandao at random; surge-node derives it from the parent hash"),
    (
        "stateRoot",
        "anvil reports the empty-trie root for its genesis (it does not compute one); after that the \
         EIP-4788 beacon-root contract stores each block's timestamp",
    ),
    ("size", "the block's RLP length follows the values that differ (timestamp, base fee)"),
    ("baseFeePerGas", "anvil starts EIP-1559 from its own genesis base fee and empty blocks"),
    ("effectiveGasPrice", "follows the base fee"),
    ("gasPrice", "follows the base fee"),
    ("blockTimestamp", "anvil reports 0 as a mined transaction's blockTimestamp; surge-node its block's timestamp"),
];

/// Fields only one side serves, and why.
const EXPECTED_ONLY_ONE_SIDE: &[(&str, &str)] = &[
    ("blobGasPrice", "anvil puts the blob base fee on every receipt; geth and reth only on blob transactions"),
    ("blockTimestamp", "anvil adds blockTimestamp to receipts, which the execution-apis receipt does not have"),
];

fn signed_transfer(chain_id: u64, nonce: u64, to: Address) -> String {
    let call = eip1559_call(chain_id, nonce, to, Bytes::new(), U256::from(12345), 21_000);
    let tx = TxEip1559 { max_fee_per_gas: 100_000_000_000, ..call };
    format!("0x{}", alloy_primitives::hex::encode(sign_eip1559(&dev_key(1), tx).encoded_2718()))
}

/// Same JSON shape: same kind of value at every path; object keys must match except `ignored_keys`.
fn shape_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let explained = |k: &str| EXPECTED_ONLY_ONE_SIDE.iter().any(|(f, _)| *f == k);
            for k in x.keys().filter(|k| !y.contains_key(*k) && !explained(k)) {
                out.push(format!("{path}.{k}: only surge-node has it"));
            }
            for k in y.keys().filter(|k| !x.contains_key(*k) && !explained(k)) {
                out.push(format!("{path}.{k}: only anvil has it"));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    shape_diff(&format!("{path}.{k}"), v, w, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} elements vs {}", x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                shape_diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (x, y) if std::mem::discriminant(x) != std::mem::discriminant(y) => {
            out.push(format!("{path}: {x} vs {y} (different kinds)"));
        }
        (x, y) if x != y => {
            let field = path.rsplit(['.', '[']).next().unwrap_or(path).trim_end_matches(']');
            let field = if field.chars().all(|c| c.is_ascii_digit()) {
                path.rsplit('.').next().unwrap_or(path).split('[').next().unwrap_or(path)
            } else {
                field
            };
            match EXPECTED_DIFFERENCES.iter().find(|(f, _)| *f == field) {
                Some((_, why)) => println!("differs as expected: {path}: {x} vs {y} — {why}"),
                None => out.push(format!("{path}: {x} vs {y}")),
            }
        }
        _ => {}
    }
}

fn error_class(v: &Value) -> Option<i64> {
    v.get("error").map(|e| e["code"].as_i64().unwrap_or(0))
}

fn wait_receipt(url: &str, hash: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = json_rpc(url, "eth_getTransactionReceipt", json!([hash]));
        if !r["result"].is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {hash} on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_scripted_session_matches_anvil_in_shape_and_error_class() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    // anvil ignores the genesis gas limit unless told.
    let anvil = Anvil::start(&genesis, "osaka", surge_genesis::DEV_L1_CHAIN_ID, &["--gas-limit", "60000000"]);
    json_rpc(&anvil.url, "evm_setAutomine", json!([true]));
    let chain_id = surge_genesis::DEV_L1_CHAIN_ID;
    let bridge = "0x3151908000000000000000000000000000000001";
    let dev0 = dev_key(0).address();
    let dev1 = dev_key(1).address();
    let sink = Address::repeat_byte(0x5e);

    let mut script: Vec<(&str, Value)> = vec![
        ("eth_chainId", json!([])),
        ("net_version", json!([])),
        ("web3_sha3", json!(["0x68656c6c6f"])),
        ("eth_getBalance", json!([dev0, "latest"])),
        ("eth_getTransactionCount", json!([dev1, "latest"])),
        ("eth_getCode", json!([bridge, "latest"])),
        ("eth_getStorageAt", json!([bridge, "0x0", "latest"])),
        ("eth_getBlockByNumber", json!(["0x0", false])),
        ("eth_call", json!([{ "to": bridge, "data": "0x" }, "latest"])),
        ("eth_estimateGas", json!([{ "from": dev1, "to": sink, "value": "0x1" }])),
        ("eth_getBlockByNumber", json!(["0xffffff", false])),
        ("eth_getTransactionReceipt", json!(["0x0000000000000000000000000000000000000000000000000000000000000001"])),
        ("eth_nosuchmethod", json!([])),
        ("eth_getBalance", json!(["0x12", "latest"])),
        ("eth_getProof", json!([dev1, [], "latest"])),
    ];
    let mut failures = vec![];
    let run = |method: &str, params: &Value, failures: &mut Vec<String>| {
        let ours = json_rpc(&node.l1, method, params.clone());
        let theirs = json_rpc(&anvil.url, method, params.clone());
        let (a, b) = (error_class(&ours), error_class(&theirs));
        if a.is_some() != b.is_some() || a.zip(b).is_some_and(|(x, y)| (x == 3) != (y == 3) || (x / 100) != (y / 100)) {
            failures.push(format!("{method}: error class {a:?} vs {b:?}: {ours} / {theirs}"));
        } else if a.is_none() {
            shape_diff(method, &ours["result"], &theirs["result"], failures);
        }
        (ours, theirs)
    };
    for (method, params) in &script {
        run(method, params, &mut failures);
    }

    // A transaction on both, then everything about it.
    let raw = signed_transfer(chain_id, 0, sink);
    let (ours, theirs) = run("eth_sendRawTransaction", &json!([raw]), &mut failures);
    let hash = ours["result"].as_str().unwrap().to_string();
    assert_eq!(ours["result"], theirs["result"], "the same transaction hash");
    let mut ours_receipt = wait_receipt(&node.l1, &hash);
    let mut theirs_receipt = wait_receipt(&anvil.url, &hash);
    shape_diff("receipt", &ours_receipt["result"].take(), &theirs_receipt["result"].take(), &mut failures);
    script = vec![
        ("eth_getTransactionByHash", json!([hash])),
        ("eth_getBlockByNumber", json!(["latest", true])),
        ("eth_getTransactionCount", json!([dev1, "latest"])),
        ("eth_getBalance", json!([sink, "latest"])),
        ("eth_getLogs", json!([{ "fromBlock": "0x0", "toBlock": "latest" }])),
        ("eth_feeHistory", json!(["0x2", "latest", [25, 75]])),
        ("eth_maxPriorityFeePerGas", json!([])),
        ("eth_sendRawTransaction", json!([raw])),
    ];
    for (method, params) in &script {
        run(method, params, &mut failures);
    }
    assert!(failures.is_empty(), "differences not explained by EXPECTED_DIFFERENCES:\n{}", failures.join("\n"));
    node.stop();
}
