//! `--dev --l1.rpc-url`: the L2 anchors to an external L1 (anvil started from the dev L1 genesis), and an
//! endpoint that is not that L1 is refused at startup with the field named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes};
use alloy_sol_types::SolCall;
use common::{DevNode, number};
use serde_json::json;
use surge_primitives::bindings::anchor::Anchor;
use surge_test_utils::{Anvil, rpc_result, workspace_root};

#[test]
fn the_l2_anchors_to_an_external_l1() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", surge_genesis::DEV_L1_CHAIN_ID, &["--gas-limit", "60000000"]);
    for _ in 0..3 {
        rpc_result(&anvil.url, "evm_mine", json!([]));
    }
    let dir = tempfile::tempdir().unwrap();
    let [flag, config] = common::anchor_every_block(dir.path());
    let node = DevNode::start_with(dir.path(), &["--l1.rpc-url", &anvil.url, &flag, &config]);
    let l2 = node.l2.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while number(&rpc_result(&l2, "eth_blockNumber", json!([]))) < 2 {
        assert!(Instant::now() < deadline, "L2 blocks did not come");
        std::thread::sleep(Duration::from_millis(200));
    }
    rpc_result(&anvil.url, "evm_mine", json!([]));
    let l1_head = number(&rpc_result(&anvil.url, "eth_blockNumber", json!([])));
    // Wait for an L2 block anchored to the new L1 head.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let block = rpc_result(&l2, "eth_getBlockByNumber", json!(["latest", true]));
        let input: Bytes = block["transactions"][0]["input"].as_str().unwrap().parse().unwrap();
        let cp = Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap().l1Checkpoint;
        let n = cp.blockNumber.to::<u64>();
        let l1_block = rpc_result(&anvil.url, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]));
        assert_eq!(l1_block["hash"].as_str().unwrap().parse::<B256>().unwrap(), cp.blockHash, "anvil's block {n}");
        if n == l1_head {
            break;
        }
        assert!(Instant::now() < deadline, "no L2 block anchored to L1 block {l1_head} (last {n})");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!common::healthy(&node.l1), "no embedded L1 when an external one is used");
    node.stop();
}

#[test]
fn an_endpoint_that_is_not_the_dev_l1_is_refused() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let wrong_chain = Anvil::start(&genesis, "osaka", 1337, &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["--dev", "--l1.rpc-url", &wrong_chain.url, "--datadir"])
        .arg(dir.path())
        .args(["--http.port", &surge_test_utils::free_port().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("l1.rpc_url") && stderr.contains("chain id"), "{stderr}");
}
