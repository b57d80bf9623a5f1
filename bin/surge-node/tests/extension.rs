//! An extension that knows the node only through `surge-interfaces` (crates/test-extension), installed on
//! a real L2 chain launched in-process: it catches up from genesis after a restart, sees pool lifecycle
//! events (admitted, replaced, discarded, mined), adds and removes transactions, unwinds the chain through
//! chain control (user transactions back in the pool, the planner's slot offered again, a `Reverted`
//! notification), and serves its RPC methods — and a replaced standard method — on the node's endpoint,
//! reached with `cast rpc` over HTTP and WebSocket. A second test reads `cargo metadata`: no extension crate
//! depends on the host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::SignerSync,
};
use alloy_primitives::{Address, B256, TxKind, U256, aliases::U48, hex, keccak256};
use serde_json::Value;
use surge_builder::{BuilderConfig, InputQueue, SurgeNodeBuilder};
use surge_host::{ChainSpec, producer::ProductionMode, seams::HostEvmConfig};
use surge_interfaces::ChainTags;
use surge_node::launch::{ExtensionInstaller, OpenChain, RunningChain, StartOptions};
use surge_primitives::Checkpoint;
use surge_rpc::RpcServerConfig;
use surge_test_utils::{cast, dev_key};

fn l2_spec() -> ChainSpec {
    ChainSpec::from_genesis_file(&surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json")).unwrap()
}

async fn start(dir: &std::path::Path, queue: Arc<InputQueue>, extensions: Vec<ExtensionInstaller>) -> RunningChain {
    // A restart waits for the stopped chain's tasks to let go of the store.
    let deadline = Instant::now() + Duration::from_secs(10);
    let l2 = loop {
        match OpenChain::open("L2", l2_spec(), dir) {
            Ok(l2) => break l2,
            Err(e) if Instant::now() < deadline && format!("{e:?}").contains("in use") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    let checkpoint =
        Checkpoint { blockNumber: U48::from(5), blockHash: keccak256("l1 5"), stateRoot: keccak256("r 5") };
    let config = BuilderConfig::new(l2.spec.chain_id, l2.spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder =
        SurgeNodeBuilder::new(HostEvmConfig(l2.spec.clone()), config, l2.pool.clone(), queue, Arc::new(checkpoint))
            .unwrap();
    l2.start(StartOptions {
        builder: Arc::new(builder),
        mode: ProductionMode::Instant { tick: Duration::from_millis(20) },
        rpc: RpcServerConfig { addr: "127.0.0.1:0".parse().unwrap(), ..Default::default() }.all_apis(),
        limits: Default::default(),
        exec: Default::default(),
        tags: Arc::new(ChainTags::new(0)),
        fee_recipient: Address::repeat_byte(0xfe),
        dev: false,
        extensions,
        supervisor: Default::default(),
    })
    .await
    .unwrap()
}

fn raw_transfer(from: u32, nonce: u64, tip_gwei: u128) -> (String, B256) {
    let tx = TxEip1559 {
        chain_id: l2_spec().chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: (50 + 50 * tip_gwei) * 1_000_000_000,
        max_priority_fee_per_gas: tip_gwei * 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Default::default(),
    };
    let signed =
        TxEnvelope::Eip1559(tx.clone().into_signed(dev_key(from).sign_hash_sync(&tx.signature_hash()).unwrap()));
    (format!("0x{}", hex::encode(signed.encoded_2718())), *signed.hash())
}

fn rpc(url: &str, method: &str, params: &[&str]) -> Value {
    let mut args = vec!["rpc", "--rpc-url", url, method];
    args.extend_from_slice(params);
    serde_json::from_str(&cast(&args)).unwrap()
}

/// Polls `testext_status` until `done` holds (each poll is a real request; no fixed sleeps).
fn status_until(url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = rpc(url, "testext_status", &[]);
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out; last status {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `done` holds (the queue follows the chain on a task of its own).
fn until(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The extension that has `queue` follow the chain, as an embedder's planner does.
fn follower(queue: Arc<InputQueue>) -> ExtensionInstaller {
    Box::new(move |ctx| {
        use surge_interfaces::{NodeComponents, TransactionPool};
        let (mut notifications, pool) = (ctx.notifications, ctx.components.pool().clone());
        ctx.tasks.spawn_critical(
            "input queue",
            Box::pin(async move {
                while let Some(n) = notifications.next().await {
                    if let Ok(n) = n {
                        queue.on_notification(&n, |h| pool.get(h).is_some());
                    }
                }
            }),
        );
        Ok(())
    })
}

fn has_event(status: &Value, key: &str, hash: B256) -> bool {
    status["events"].as_array().unwrap().iter().any(|e| e[key] == serde_json::json!(hash))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_extension_on_the_seams_only_follows_controls_and_serves_the_chain() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let key3 = format!("0x{}", hex::encode(dev_key(3).to_bytes()));

    // Before the extension exists: one block.
    let chain = start(dir.path(), Arc::new(InputQueue::new()), vec![]).await;
    let url = format!("http://{}", chain.rpc_addr);
    let url2 = url.clone();
    let key = key3.clone();
    tokio::task::spawn_blocking(move || {
        cast(&[
            "send",
            "--private-key",
            &key,
            "--rpc-url",
            &url2,
            &Address::repeat_byte(0x55).to_string(),
            "--value",
            "1",
        ])
    })
    .await
    .unwrap();
    chain.stop().await;

    // Restart with the extension and a planner holding one L1→L2 user-op slot.
    let queue = Arc::new(InputQueue::new());
    let slot = keccak256("user op");
    queue.push_user_op(slot, None);
    let seen = Arc::new(Mutex::new(None));
    let keep = seen.clone();
    let installer: ExtensionInstaller = Box::new(move |ctx| {
        *keep.lock().unwrap() = Some(surge_test_extension::install(ctx).map_err(|e| eyre::eyre!(e))?);
        Ok(())
    });
    let chain = start(dir.path(), queue.clone(), vec![installer, follower(queue.clone())]).await;
    let (http, ws) = (format!("http://{}", chain.rpc_addr), format!("ws://{}", chain.rpc_addr));
    let q = queue.clone();
    let unwound = tokio::task::spawn_blocking(move || {
        // Catch-up: block 1 was committed before the extension was installed.
        status_until(&http, |s| s["committed"].as_array().unwrap().first() == Some(&serde_json::json!(1)));

        // With production paused: add B, replace it with B', add C and remove it.
        assert_eq!(rpc(&http, "testext_pause", &[]), Value::Bool(true));
        let (b, b_hash) = raw_transfer(4, 0, 1);
        let (b2, b2_hash) = raw_transfer(4, 0, 2);
        let (c, c_hash) = raw_transfer(5, 0, 1);
        assert_eq!(rpc(&http, "testext_addTransaction", &[&b]), serde_json::json!(b_hash));
        cast(&["publish", "--async", "--rpc-url", &http, &b2]);
        assert_eq!(rpc(&ws, "testext_addTransaction", &[&c]), serde_json::json!(c_hash));
        assert_eq!(rpc(&http, "testext_remove", &[&c_hash.to_string()]), serde_json::json!([c_hash]));
        let s = status_until(&http, |s| has_event(s, "discarded", c_hash));
        assert!(has_event(&s, "pending", b_hash), "{s}");
        assert!(has_event(&s, "replaced", b_hash), "{s}");
        let admitted: Vec<B256> = serde_json::from_value(s["admitted"].clone()).unwrap();
        assert_eq!(admitted, vec![b_hash, b2_hash, c_hash], "every origin reaches the listener");

        // Resumed: the next block carries B' and the planner's slot.
        assert_eq!(rpc(&http, "testext_resume", &[]), Value::Bool(true));
        let receipt: Value = serde_json::from_str(&cast(&[
            "send",
            "--private-key",
            &key3,
            "--rpc-url",
            &http,
            "--json",
            &Address::repeat_byte(0x55).to_string(),
        ]))
        .unwrap();
        let block = u64::from_str_radix(receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        let s = status_until(&http, |s| has_event(s, "mined", b2_hash));
        let mined = s["events"].as_array().unwrap().iter().find(|e| e["mined"] == serde_json::json!(b2_hash)).unwrap();
        // Owed since it arrived during the pause: mined on resume, at the latest with the new transaction.
        assert!(mined["block"].as_u64().is_some_and(|b| b <= block), "{s}");
        until(|| q.pending().is_empty(), "the slot went into a committed block");

        // Unwind to block 1 through chain control, over WebSocket, with production paused.
        assert_eq!(rpc(&ws, "testext_pause", &[]), Value::Bool(true));
        let unwound = rpc(&ws, "testext_unwind", &["1"]);
        status_until(&http, |s| s["reverted"].as_array().unwrap().contains(&serde_json::json!(block)));
        until(|| !q.pending().user_ops.is_empty(), "the queue read the unwind");
        let pending = q.pending();
        assert_eq!(pending.user_ops.len(), 1, "the planner read the unwind: its slot is offered again");
        assert_eq!(pending.user_ops[0].slot, slot);
        // B' is back in the pool: the extension saw it admitted a second time (reinjected).
        let s = status_until(&http, |s| {
            s["admitted"].as_array().unwrap().iter().filter(|h| **h == serde_json::json!(b2_hash)).count() == 2
        });
        assert!(has_event(&s, "pending", b2_hash), "{s}");
        // Resumed: the returned transactions are mined again.
        assert_eq!(rpc(&ws, "testext_resume", &[]), Value::Bool(true));
        let key6 = format!("0x{}", hex::encode(dev_key(6).to_bytes()));
        cast(&["send", "--private-key", &key6, "--rpc-url", &http, &Address::repeat_byte(0x56).to_string()]);
        status_until(&http, |s| {
            s["events"].as_array().unwrap().iter().filter(|e| e["mined"] == serde_json::json!(b2_hash)).count() == 2
        });
        // The replaced standard method.
        assert_eq!(rpc(&http, "web3_clientVersion", &[]), serde_json::json!("surge-test-extension"));
        (unwound, b2_hash, receipt["transactionHash"].clone())
    })
    .await
    .unwrap();
    let (unwound, b2_hash, a2_hash) = unwound;
    assert_eq!(unwound["refused"], serde_json::json!([]), "{unwound}");
    let reinjected: Vec<Value> = unwound["reinjected"].as_array().unwrap().clone();
    assert!(reinjected.contains(&serde_json::json!(b2_hash)) && reinjected.contains(&a2_hash), "{unwound}");
    assert!(!unwound.to_string().contains("golden"), "no anchor returns to the pool");
    assert!(queue.pending().is_empty(), "the slot went in again");
    let seen = seen.lock().unwrap().clone().unwrap();
    let committed = seen.lock().unwrap().committed.clone();
    assert_eq!(&committed[..2], &[1, 2], "catch-up, then live blocks, in order: {committed:?}");
    chain.stop().await;
}

#[test]
fn no_extension_crate_depends_on_the_host() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(surge_test_utils::workspace_root())
        .output()
        .unwrap();
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let deps = |name: &str| -> Vec<String> {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| {
                p["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["kind"].is_null()) // normal dependencies
                    .map(|d| d["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Every workspace crate a given crate reaches through normal dependencies.
    let reach = |root: &str| {
        let mut seen = vec![root.to_string()];
        let mut i = 0;
        while i < seen.len() {
            for d in deps(&seen[i]) {
                if d.starts_with("surge-") && !seen.contains(&d) {
                    seen.push(d);
                }
            }
            i += 1;
        }
        seen
    };
    let extensions = ["surge-sync", "surge-builder", "surge-l1", "surge-exex", "surge-rpc-ext", "surge-test-extension"];
    let present: Vec<&str> = extensions.iter().copied().filter(|e| packages.iter().any(|p| p["name"] == *e)).collect();
    assert!(present.contains(&"surge-builder") && present.contains(&"surge-test-extension"));
    for ext in present {
        let reached = reach(ext);
        assert!(!reached.iter().any(|d| d == "surge-host"), "{ext} reaches surge-host: {reached:?}");
    }
    // The seams stand on the primitives only (their `BuiltBlock` carries the primitives' `BlockChanges`).
    assert!(deps("surge-interfaces").iter().all(|d| !d.starts_with("surge-") || d == "surge-primitives"));
    assert!(!reach("surge-host").iter().any(|d| d == "surge-builder"), "the host must not know the builder");
    // The node talks to L1 through alloy (crates/l1): no blocking HTTP client among what it runs on.
    for c in reach("surge-node") {
        assert!(!deps(&c).iter().any(|d| d == "ureq"), "{c} depends on ureq");
    }
}
