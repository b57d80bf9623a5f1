//! The L1 client in the node: block production never waits for the L1 (an endpoint that stalls for 10 s
//! leaves the L2 producing, and the checkpoint moves on once it answers again), and the startup checks refuse
//! an L1 the L2 cannot settle on, naming the setting: an inbox whose base-fee sharing differs from the L2
//! genesis, and a configured contract that is not there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use alloy_sol_types::SolCall;
use common::{DevNode, metric, number};
use serde_json::{Value, json};
use surge_primitives::bindings::anchor::Anchor;
use surge_test_utils::{Anvil, rpc_result, workspace_root};

/// A TCP proxy to `upstream` that, while `stalled`, accepts and reads but forwards nothing (the requests
/// hang, as with an L1 node that stopped answering).
fn stalling_proxy(upstream: String, stalled: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let (stalled, upstream) = (stalled.clone(), upstream.clone());
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(&upstream) else { return };
                let (mut from_client, mut to_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut from_server, mut to_client) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                });
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match from_client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    while stalled.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    format!("http://{addr}")
}

fn anchored_l1_block(l2: &str) -> u64 {
    let block = rpc_result(l2, "eth_getBlockByNumber", json!(["latest", true]));
    let input: Bytes = block["transactions"][0]["input"].as_str().unwrap().parse().unwrap();
    Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap().l1Checkpoint.blockNumber.to::<u64>()
}

#[test]
fn a_stalled_l1_does_not_stop_l2_blocks_and_the_checkpoint_moves_on_after() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", surge_genesis::DEV_L1_CHAIN_ID, &["--gas-limit", "60000000"]);
    rpc_result(&anvil.url, "evm_mine", json!([]));
    let stalled = Arc::new(AtomicBool::new(false));
    let proxy = stalling_proxy(anvil.url.trim_start_matches("http://").to_string(), stalled.clone());
    let dir = tempfile::tempdir().unwrap();
    let [flag, config] = common::anchor_every_block(dir.path());
    let node = DevNode::start_with(dir.path(), &["--l1.rpc-url", &proxy, &flag, &config]);
    let l2 = node.l2.clone();
    let head = || number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let deadline = Instant::now() + Duration::from_secs(20);
    while head() < 2 {
        assert!(Instant::now() < deadline, "no L2 blocks");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The L1 stops answering for 10 s (and moves on meanwhile, unseen).
    stalled.store(true, Ordering::SeqCst);
    rpc_result(&anvil.url, "evm_mine", json!([]));
    let before = head();
    std::thread::sleep(Duration::from_secs(10));
    let produced = head() - before;
    assert!(produced >= 7, "one-second blocks went on while the L1 stalled: {produced} in 10 s");
    assert!(metric(&node.metrics, "surge_l1_head_errors_total") >= 1.0, "the stall is counted");

    // The L1 answers again: the checkpoint reaches its new head.
    stalled.store(false, Ordering::SeqCst);
    rpc_result(&anvil.url, "evm_mine", json!([]));
    let l1_head = number(&rpc_result(&anvil.url, "eth_blockNumber", json!([])));
    let deadline = Instant::now() + Duration::from_secs(60);
    while anchored_l1_block(&l2) != l1_head {
        assert!(Instant::now() < deadline, "the checkpoint did not reach L1 block {l1_head}");
        std::thread::sleep(Duration::from_millis(200));
    }
    node.stop();
}

/// A node run with `--chain` against anvil started from the dev L1 genesis, with the dev addresses and
/// `extra` arguments; its exit code and error output.
fn refused(l2_genesis: &Value, extra: &[&str], anvil: &Anvil) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l2-genesis.json");
    std::fs::write(&path, serde_json::to_string(l2_genesis).unwrap()).unwrap();
    let addresses: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/addresses.json")).unwrap())
            .unwrap();
    let p = &addresses["protocol"]["l1"];
    let mut args: Vec<String> = vec![
        "--chain".into(),
        path.display().to_string(),
        "--l1.rpc-url".into(),
        anvil.url.clone(),
        "--fee-recipient".into(),
        "0x00000000000000000000000000000000000000fe".into(),
        "--http.port".into(),
        surge_test_utils::free_port().to_string(),
        "--datadir".into(),
        dir.path().join("data").display().to_string(),
    ];
    for (flag, key) in [
        ("--l1.bridge", "bridge"),
        ("--l1.signal-service", "signal_service"),
        ("--l1.inbox", "inbox"),
        ("--l1.multicall", "multicall"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag.to_string(), p[key].as_str().unwrap().to_string()]);
        }
    }
    let config = dir.path().join("c.toml");
    let resolver = p["resolver"].as_str().unwrap();
    let verifier = p["proof_verifier"].as_str().unwrap();
    std::fs::write(&config, format!("[protocol]\nl1_resolver = \"{resolver}\"\nl1_proof_verifier = \"{verifier}\"\n"))
        .unwrap();
    args.extend(["--config".to_string(), config.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_surge-node")).args(&args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

#[test]
fn startup_checks_refuse_a_different_fee_share_and_a_missing_contract() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", surge_genesis::DEV_L1_CHAIN_ID, &[]);
    let dev_l2: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/l2-genesis.json")).unwrap())
            .unwrap();
    let pctg = dev_l2["config"]["surge"]["l2"]["basefeeSharingPctg"].as_u64().unwrap();

    let mut other = dev_l2.clone();
    other["config"]["surge"]["l2"]["basefeeSharingPctg"] = json!(pctg + 10);
    let (code, stderr) = refused(&other, &[], &anvil);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("chain:"), "the setting is named: {stderr}");
    assert!(stderr.contains(&format!("{}%", pctg + 10)) && stderr.contains(&format!("{pctg}%")), "{stderr}");

    let nowhere = "0x00000000000000000000000000000000000dead1";
    let (code, stderr) = refused(&dev_l2, &["--l1.inbox", nowhere], &anvil);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("l1_inbox") && stderr.contains("no contract at"), "{stderr}");
}
