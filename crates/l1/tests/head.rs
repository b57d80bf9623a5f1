//! The head tracker against a real anvil, over HTTP (polling) and over WebSocket (new-head subscription):
//! every mined L1 block reaches the watch channel, and the checkpoint read from it names that block.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use surge_interfaces::CheckpointSource;
use surge_l1::{HeadTracker, L1Client, L1Heads};
use surge_test_utils::{Anvil, rpc_result, workspace_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracker_follows_anvil_over_http_and_websocket() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", surge_genesis_chain_id(), &[]);
    for url in [anvil.url.clone(), anvil.url.replace("http://", "ws://")] {
        let client = L1Client::connect(&url, Duration::from_secs(5)).await.unwrap();
        assert_eq!(client.is_ws(), url.starts_with("ws://"));
        let (tracker, watch) = HeadTracker::new(client, Duration::from_millis(50), L1Heads::default());
        let stats = tracker.stats();
        let task = tokio::spawn(tracker.run());
        let mut rx = watch.0.clone();
        for _ in 0..3 {
            let mined = tokio::task::spawn_blocking({
                let url = anvil.url.clone();
                move || {
                    rpc_result(&url, "evm_mine", json!([]));
                    let head = rpc_result(&url, "eth_getBlockByNumber", json!(["latest", false]));
                    (u64::from_str_radix(head["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap(), head)
                }
            })
            .await
            .unwrap();
            let seen = tokio::time::timeout(
                Duration::from_secs(10),
                rx.wait_for(|h| h.latest.is_some_and(|l| l.number == mined.0)),
            )
            .await
            .unwrap_or_else(|_| panic!("{url}: block {} not seen", mined.0))
            .unwrap()
            .latest
            .unwrap();
            assert_eq!(format!("{:?}", seen.hash), mined.1["hash"].as_str().unwrap(), "{url}");
            let checkpoint = watch.checkpoint().unwrap();
            assert_eq!(checkpoint.blockHash, seen.hash);
            assert_eq!(checkpoint.stateRoot, seen.state_root);
        }
        assert_eq!(stats.errors.load(std::sync::atomic::Ordering::Relaxed), 0, "{url}");
        task.abort();
    }
}

fn surge_genesis_chain_id() -> u64 {
    let genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/l1-genesis.json")).unwrap())
            .unwrap();
    genesis["config"]["chainId"].as_u64().unwrap()
}
