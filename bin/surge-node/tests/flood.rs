//! Bad input and load: malformed JSON, batches, oversized requests, a trace that would need hundreds of
//! gigabytes, and 50 concurrent clients flooding cheap and heavy `eth_call`s and traces for 30 s. Every
//! request gets an answer or its error, transactions sent meanwhile are proposed and finalized on L1, and
//! the node's peak RSS stays bounded. Then a public endpoint's limits: namespaces per transport, hosts,
//! page origins, filter ids, calls in flight per connection and the EVM deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::eips::Encodable2718;
use alloy_primitives::{Address, U256, hex};
use common::{DevNode, number, send, storage_logs_bytecode};
use serde_json::{Value, json};
use surge_test_utils::{cast, dev_key, eip1559_call, json_rpc, post_raw, rpc_result, sign_eip1559};

const CLIENTS: usize = 50;
const FLOOD: Duration = Duration::from_secs(30);

/// Initcode that pushes `words` words, then loops until its gas runs out: as a call it runs for all the gas
/// there is; traced by the struct logger, each of its steps copies the whole stack.
fn deep_loop(words: usize) -> String {
    let mut code = "6001".repeat(words);
    code.push_str(&format!("5b61{:04x}56", words * 2));
    format!("0x{code}")
}

/// A transfer from dev account 9 with `nonce`, as raw bytes (sending it needs no EVM slot of the RPC).
fn raw_transfer(nonce: u64) -> String {
    let tx = eip1559_call(
        surge_genesis::DEV_L2_CHAIN_ID,
        nonce,
        Address::repeat_byte(0x99),
        Default::default(),
        U256::from(1),
        21_000,
    );
    format!("0x{}", hex::encode(sign_eip1559(&dev_key(9), tx).encoded_2718()))
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let began = Instant::now();
    while !done() {
        assert!(began.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    began.elapsed()
}

/// Peak resident set size of process `pid`, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_node_answers_everything_under_load_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start_with(dir.path(), &["--rpc.eth-proof-window", "2"]);
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

    // One trace that would copy a thousand-word stack at each of millions of steps is refused at its byte
    // budget, within the deadline, and the node's memory stays small.
    let began = Instant::now();
    let trace = json_rpc(&l2, "debug_traceCall", json!([{ "data": deep_loop(1000) }, "latest"]));
    let message = trace["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("--rpc.max-trace-bytes") || message.contains("execution aborted"), "{trace}");
    let rss_mib = peak_rss_kib(node.child.id()) / 1024;
    println!("deep-stack trace refused in {:?} ({message}); peak RSS {rss_mib} MiB", began.elapsed());
    assert!(rss_mib < 500, "peak RSS {rss_mib} MiB after the trace");
    // The same for what other tracers and options record: the storage the struct logger copies at each
    // SLOAD of a loop over ever new slots, and the input the call tracer copies for each of a loop of
    // calls with a megabyte of calldata.
    let new_slots = "0x60005b805450600101600256";
    let big_calls = "0x6001620fffe0525b6000600062100000600060006112345af150600756";
    for (code, tracer) in [(new_slots, json!({ "disableStack": true })), (big_calls, json!({ "tracer": "callTracer" }))]
    {
        let trace = json_rpc(&l2, "debug_traceCall", json!([{ "data": code }, "latest", tracer]));
        let message = trace["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(
            message.contains("--rpc.max-trace-bytes") || message.contains("execution aborted"),
            "{tracer}: {trace}"
        );
    }
    let rss_mib = peak_rss_kib(node.child.id()) / 1024;
    assert!(rss_mib < 500, "peak RSS {rss_mib} MiB after the traces");

    // The flood: cheap calls, calls that run for all their gas, and traces of them, from 50 clients.
    let start_block = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed, errors) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let heavy = json!({ "data": deep_loop(10) });
    let bodies = [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"] }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [heavy, "latest"] }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_estimateGas", "params": [heavy] }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "debug_traceCall", "params": [heavy, "latest", { "tracer": "callTracer" }] }),
        json!({ "jsonrpc": "2.0", "id": 1, "method": "debug_traceCall", "params": [{ "data": deep_loop(1000) }, "latest"] }),
    ];
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let body = bodies[i % bodies.len()].to_string();
            let (stop, answered, failed, errors, url) =
                (stop.clone(), answered.clone(), failed.clone(), errors.clone(), l2.clone());
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
    // Meanwhile a user's transactions are mined, proposed and finalized on L1, one after the other.
    let began = Instant::now();
    let mut finalized_in = vec![];
    let mut nonce = 0;
    while began.elapsed() < FLOOD {
        let hash = rpc_result(&l2, "eth_sendRawTransaction", json!([raw_transfer(nonce)]));
        nonce += 1;
        let mut included = 0;
        let took = wait_for("a transfer finalized during the flood", Duration::from_secs(60), || {
            if included == 0 {
                let receipt = rpc_result(&l2, "eth_getTransactionReceipt", json!([hash]));
                included = if receipt.is_null() { 0 } else { number(&receipt["blockNumber"]) };
            }
            let finalized = number(&rpc_result(&l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]);
            included > 0 && finalized >= included
        });
        finalized_in.push(took.as_secs_f64());
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let (ok, err, lost) =
        (answered.load(Ordering::Relaxed), errors.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let rss_mib = peak_rss_kib(node.child.id()) / 1024;
    println!(
        "flood: {ok} answered, {err} errors, {lost} unanswered in {elapsed:.1} s ({:.0}/s); peak RSS {rss_mib} MiB; \
         {} transfers finalized, in {finalized_in:.1?} s",
        ok as f64 / elapsed,
        finalized_in.len()
    );
    assert!(finalized_in.len() >= 3, "proposals kept landing: {finalized_in:?}");
    assert_eq!(lost, 0, "every request gets an answer");
    assert!(ok > 0);
    assert!(rss_mib < 1024, "peak RSS {rss_mib} MiB");

    // Still serving, still producing.
    let end_block = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    assert!(end_block > start_block, "blocks kept coming: {start_block} → {end_block}");
    send(&l2, &[&app, "store(uint256,uint256)", "8", "1"]);

    // eth_getProof answers within its window and at every block from `finalized` up; below both, it
    // refuses at once, without re-deriving the state changes since.
    let head = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let finalized = number(&rpc_result(&l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]);
    assert!(finalized > 2 && head > 3, "finalized {finalized}, head {head}");
    let proof = |n: u64| json_rpc(&l2, "eth_getProof", json!([app, [], format!("{n:#x}")]));
    for n in [finalized, head - 1, head] {
        assert!(proof(n)["result"]["accountProof"].is_array(), "block {n}: {}", proof(n));
    }
    let refused = proof(1);
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("distance to target block exceeds maximum proof window"), "{refused}");
    node.stop();
}

/// Sends `request` as it is to the server of `url`; the status line of the answer.
fn raw_http(url: &str, request: &str) -> String {
    use std::io::{BufRead, Write};
    let authority = url.split_once("://").map_or(url, |(_, a)| a);
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut status = String::new();
    std::io::BufReader::new(stream).read_line(&mut status).unwrap();
    status.trim().to_string()
}

fn ws_handshake(url: &str, origin: Option<&str>) -> String {
    ws_handshake_as(url, origin, "websocket")
}

/// A WebSocket handshake whose `Upgrade` header is `upgrade`.
fn ws_handshake_as(url: &str, origin: Option<&str>, upgrade: &str) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    raw_http(
        url,
        &format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: {upgrade}\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        ),
    )
}

fn post_with_host(url: &str, host: &str) -> String {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;
    raw_http(
        url,
        &format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn a_public_endpoint_serves_what_it_is_told_to_whom_it_is_told_within_its_limits() {
    use jsonrpsee::core::client::ClientT;
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start_with(
        dir.path(),
        &["--http.api", "eth,net,web3,surge,txpool", "--ws.origins", "http://app.example", "--rpc.evmtimeout", "200ms"],
    );
    let (l2, ws) = (node.l2.clone(), node.l2_ws.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ws_client = |url: String| rt.block_on(jsonrpsee::ws_client::WsClientBuilder::default().build(url)).unwrap();
    let ws_a = ws_client(ws.clone());
    let code_of = |v: &Value| v["error"]["code"].as_i64();

    // Namespaces: txpool over HTTP only (as asked), debug nowhere, the defaults over WebSocket.
    assert_eq!(code_of(&json_rpc(&l2, "debug_traceCall", json!([{}, "latest"]))), Some(-32601));
    assert!(rpc_result(&l2, "txpool_status", json!([])).is_object());
    let over_ws = rt.block_on(ws_a.request::<Value, _>("txpool_status", jsonrpsee::rpc_params![]));
    assert!(matches!(over_ws, Err(jsonrpsee::core::ClientError::Call(ref e)) if e.code() == -32601), "{over_ws:?}");
    assert!(rt.block_on(ws_a.request::<Value, _>("eth_blockNumber", jsonrpsee::rpc_params![])).is_ok());

    // Hosts (DNS rebinding) and page origins.
    assert!(post_with_host(&l2, "evil.example").contains(" 403"), "a foreign Host is refused");
    assert!(post_with_host(&l2, "localhost:8547").contains(" 200"));
    assert!(ws_handshake(&l2, Some("https://evil.example")).contains(" 403"), "a foreign page cannot open a WebSocket");
    assert!(ws_handshake(&l2, Some("http://app.example")).contains(" 101"));
    assert!(ws_handshake(&l2, None).contains(" 101"), "clients outside a browser send no origin");
    let listed = ws_handshake_as(&l2, Some("https://evil.example"), "h2c, websocket");
    assert!(listed.contains(" 403"), "an Upgrade list is a WebSocket too: {listed}");

    // Namespaces hold inside a batch too.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "debug_traceCall", "params": [{}, "latest"] },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": [] },
    ]);
    let answers = post_raw(&l2, &batch.to_string()).1;
    let by_id = |id: u64| answers.as_array().unwrap().iter().find(|a| a["id"] == id).unwrap().clone();
    assert_eq!(by_id(1)["error"]["code"], -32601, "{answers}");
    assert!(by_id(2)["result"].is_string(), "{answers}");

    // A filter installed on one connection cannot be found from another by guessing its id.
    let id: String = rt.block_on(ws_a.request("eth_newBlockFilter", jsonrpsee::rpc_params![])).unwrap();
    assert!(id.starts_with("0x") && id.len() == 34, "{id}");
    let n = u128::from_str_radix(&id[2..], 16).unwrap();
    for guess in [n.wrapping_add(1), n.wrapping_sub(1), 1, 2] {
        let answer = json_rpc(&l2, "eth_getFilterChanges", json!([format!("0x{guess:032x}")]));
        assert_eq!(answer["error"]["message"], "filter not found", "{guess:x}: {answer}");
        assert_eq!(json_rpc(&l2, "eth_uninstallFilter", json!([format!("0x{guess:032x}")]))["result"], false);
    }
    let own = rt.block_on(ws_a.request::<Value, _>("eth_getFilterChanges", jsonrpsee::rpc_params![id.clone()]));
    assert!(own.unwrap().is_array(), "its own connection polls it");

    // The deadline stops a call that would run for all its gas.
    let looping = json!({ "data": deep_loop(10) });
    let aborted = json_rpc(&l2, "eth_call", json!([looping, "latest"]));
    assert_eq!(aborted["error"]["message"], "execution aborted (timeout = 200ms)", "{aborted}");

    // One WebSocket connection cannot have more than 32 calls in flight; the others are refused at once.
    let ws_b = std::sync::Arc::new(ws_client(ws.clone()));
    let outcomes: Vec<Result<Value, (i32, String)>> = rt.block_on(async {
        let calls: Vec<_> = (0..200)
            .map(|_| {
                let (client, looping) = (ws_b.clone(), looping.clone());
                tokio::spawn(async move {
                    client.request::<Value, _>("eth_call", jsonrpsee::rpc_params![looping, "latest"]).await.map_err(
                        |e| match e {
                            jsonrpsee::core::ClientError::Call(e) => (e.code(), e.message().to_string()),
                            other => (0, other.to_string()),
                        },
                    )
                })
            })
            .collect();
        let mut out = vec![];
        for c in calls {
            out.push(c.await.unwrap());
        }
        out
    });
    let refused = outcomes.iter().filter(|o| matches!(o, Err((-32005, m)) if m.contains("in flight"))).count();
    let ran = outcomes.iter().filter(|o| matches!(o, Err((_, m)) if m.contains("execution aborted"))).count();
    let waited = outcomes.iter().filter(|o| matches!(o, Err((_, m)) if m.contains("server busy"))).count();
    // Every call lasts its 200 ms (running to the deadline, or waiting that long for one of the two call
    // slots), and all 200 are sent within that: 32 are taken, the rest refused.
    assert_eq!(refused + ran + waited, 200, "only those three answers: {outcomes:?}");
    assert!(ran > 0 && ran + waited >= 32 && refused >= 100, "{ran} ran, {waited} waited, {refused} refused");
    assert!(
        rt.block_on(ws_b.request::<Value, _>("eth_blockNumber", jsonrpsee::rpc_params![])).is_ok(),
        "the connection lives"
    );

    // The README's commands, as printed.
    let heading = "## A public endpoint: what it serves and its limits";
    let out = common::run_readme_script(heading, &[("http://127.0.0.1:8547", l2.as_str())]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "403", "{out}");
    assert_eq!(serde_json::from_str::<Value>(lines[1]).unwrap()["error"]["code"], -32601, "{out}");
    let percentiles: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(percentiles["error"]["message"], "invalid params: invalid reward percentile: #0:25 >= #1:25", "{out}");
    node.stop();

    // A namespace no module serves is a startup error that names the flag.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["--dev", "--datadir"])
        .arg(dir.path().join("other"))
        .args(["--http.port", &surge_test_utils::free_port().to_string()])
        .args(["--l1.http.port", &surge_test_utils::free_port().to_string(), "--ws.api", "eth,admin"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--ws.api") && stderr.contains("\"admin\""), "{stderr}");
}
