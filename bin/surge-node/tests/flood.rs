//! Bad input and load: malformed JSON, batches, oversized requests, and 50 concurrent clients flooding
//! `eth_call` for 30 s. Every request gets an answer or its error, blocks keep coming, and the node's peak
//! RSS stays under 1 GiB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use common::{DevNode, number, send, storage_logs_bytecode};
use serde_json::json;
use surge_test_utils::{cast, post_raw, rpc_result};

const CLIENTS: usize = 50;
const FLOOD: Duration = Duration::from_secs(30);

/// Peak resident set size of process `pid`, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_node_answers_everything_under_load_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let app = send(&l2, &["--create", &storage_logs_bytecode()])["contractAddress"].as_str().unwrap().to_string();
    send(&l2, &[&app, "store(uint256,uint256)", "7", "9"]);
    let call = json!({ "to": app, "data": cast(&["calldata", "values(uint256)", "7"]) });

    // Batches answer per element; a bad element does not spoil the others.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"] },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": [] },
        { "jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": [] },
    ]);
    let (_, answers) = post_raw(&l2, &batch.to_string());
    let answers = answers.as_array().unwrap().clone();
    assert_eq!(answers.len(), 3);
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(by_id(1)["result"], format!("0x{:064x}", 9));
    assert_eq!(by_id(2)["error"]["code"], -32601);
    assert!(by_id(3)["result"].is_string());

    // An oversized request is refused without harm.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{{"data":"0x{}"}}]}}"#,
        "00".repeat(16 << 20)
    );
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    match agent.post(&l2).header("content-type", "application/json").send(&huge) {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413, "oversized request"),
        // The server may answer 413 and close before the body is all sent.
        Err(e) => assert!(matches!(e, ureq::Error::Io(_)), "oversized request: {e}"),
    }
    assert!(common::healthy(&l2), "still serving after an oversized request");
    // Malformed JSON and a request that is not an object.
    assert_eq!(post_raw(&l2, "{\"jsonrpc\":").1["error"]["code"], -32700);
    assert_eq!(post_raw(&l2, "42").1["error"]["code"], -32700);

    // The flood.
    let start_block = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed, errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"] }).to_string();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, answered, failed, errors, url, body) =
                (stop.clone(), answered.clone(), failed.clone(), errors.clone(), l2.clone(), body.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                while !stop.load(Ordering::Relaxed) {
                    let reply = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body)
                        .and_then(|mut r| r.body_mut().read_json::<serde_json::Value>());
                    match reply {
                        Ok(v) if v.get("result").is_some() => answered.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => errors.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let began = Instant::now();
    std::thread::sleep(FLOOD);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let (ok, err, lost) =
        (answered.load(Ordering::Relaxed), errors.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let rss_mib = peak_rss_kib(node.child.id()) / 1024;
    println!(
        "flood: {ok} answered, {err} errors, {lost} unanswered in {elapsed:.1} s ({:.0}/s); peak RSS {rss_mib} MiB",
        ok as f64 / elapsed
    );
    assert_eq!(lost, 0, "every request gets an answer");
    assert!(ok > 0);
    assert!(rss_mib < 1024, "peak RSS {rss_mib} MiB");

    // Still serving, still producing.
    let end_block = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    assert!(end_block > start_block, "blocks kept coming: {start_block} → {end_block}");
    send(&l2, &[&app, "store(uint256,uint256)", "8", "1"]);
    node.stop();
}
