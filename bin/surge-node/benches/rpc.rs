//! surge-node's dev L1 next to anvil on the same genesis, in one run: `eth_call` and
//! `eth_sendRawTransaction` throughput with p50/p99 latency from 8 client threads (4,000 transfers from 100
//! senders funded first), and the time to produce a block of 500 transfers (`evm_mine` with 500
//! transactions waiting).
//!
//! Run: `cargo bench -p surge-node --bench rpc` (release build; prints a table, asserts only that both
//! nodes answer and mine every transaction).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{consensus::TxEip1559, eips::Encodable2718, signers::local::PrivateKeySigner};
use alloy_primitives::{Address, Bytes, U256};
use serde_json::{Value, json};
use surge_test_utils::{Anvil, dev_key, eip1559_call, free_port, json_rpc, sign_eip1559, workspace_root};

const THREADS: usize = 8;
const CALL_SECONDS: u64 = 5;
const BLOCK_TXS: usize = 500;
const SENDERS: u32 = 10;
/// Fresh senders for the admission throughput (the pool keeps at most 64 transactions per sender).
const SEND_SENDERS: usize = 100;
const SEND_TXS: usize = 4_000;
/// Blocks of `BLOCK_TXS` mined per node (the median is reported); `SURGE_BENCH_BLOCKS` overrides.
const BLOCK_ROUNDS: usize = 5;

fn block_rounds() -> usize {
    std::env::var("SURGE_BENCH_BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(BLOCK_ROUNDS)
}

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Measured {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

/// Sends the bodies from `THREADS` threads (each thread takes the next unsent body, or repeats `repeat`
/// until the time is up); every answer must be a result.
fn hammer(url: &str, bodies: Vec<String>, duration: Option<Duration>) -> Measured {
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let repeat = duration.is_some();
    let first = queue.lock().unwrap().clone().next();
    let latencies = Arc::new(Mutex::new(vec![]));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (queue, latencies, url, first) = (queue.clone(), latencies.clone(), url.to_string(), first.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
                let mut mine = vec![];
                loop {
                    let body = if repeat {
                        if started.elapsed() >= duration.unwrap() {
                            break;
                        }
                        first.clone().unwrap()
                    } else {
                        match queue.lock().unwrap().next() {
                            Some(b) => b,
                            None => break,
                        }
                    };
                    let t = Instant::now();
                    let v: Value = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(&body)
                        .unwrap()
                        .body_mut()
                        .read_json()
                        .unwrap();
                    mine.push(t.elapsed());
                    assert!(v.get("result").is_some(), "{v}");
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    Measured {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    }
}

/// `eth_sendRawTransaction` of a signed transfer of `value` wei to `to`.
fn send_body(key: &PrivateKeySigner, chain_id: u64, nonce: u64, to: Address, value: U256) -> String {
    // A fee cap well above any base fee the benchmark's blocks reach.
    let tx = TxEip1559 {
        max_fee_per_gas: 100_000_000_000,
        ..eip1559_call(chain_id, nonce, to, Bytes::new(), value, 21_000)
    };
    let raw = alloy_primitives::hex::encode(sign_eip1559(key, tx).encoded_2718());
    json!({ "jsonrpc": "2.0", "id": nonce, "method": "eth_sendRawTransaction", "params": [format!("0x{raw}")] })
        .to_string()
}

/// `BLOCK_TXS` transfers from the dev accounts, their nonces from `first_nonce`.
fn transfers(chain_id: u64, first_nonce: u64) -> Vec<String> {
    (0..BLOCK_TXS)
        .map(|i| {
            let key = dev_key(i as u32 % SENDERS);
            let nonce = first_nonce + (i as u64 / u64::from(SENDERS));
            send_body(&key, chain_id, nonce, Address::with_last_byte((i % 250) as u8 + 1), U256::from(1))
        })
        .collect()
}

fn senders() -> Vec<PrivateKeySigner> {
    (0..SEND_SENDERS)
        .map(|i| PrivateKeySigner::from_bytes(&alloy_primitives::keccak256(format!("rpc bench sender {i}"))).unwrap())
        .collect()
}

/// One transfer funding each fresh sender, from the dev accounts (their nonces from 0).
fn funding(chain_id: u64) -> Vec<String> {
    let ether = U256::from(10).pow(U256::from(18));
    senders()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let nonce = (i / SENDERS as usize) as u64;
            send_body(&dev_key(i as u32 % SENDERS), chain_id, nonce, s.address(), ether)
        })
        .collect()
}

/// `SEND_TXS` transfers from the fresh senders, in nonce order (as wallets send them).
fn throughput_transfers(chain_id: u64) -> Vec<String> {
    let senders = senders();
    (0..SEND_TXS)
        .map(|i| {
            let nonce = (i / SEND_SENDERS) as u64;
            let to = Address::with_last_byte((i % 250) as u8 + 1);
            send_body(&senders[i % SEND_SENDERS], chain_id, nonce, to, U256::from(1))
        })
        .collect()
}

/// Mines until `count` more transactions are in blocks.
fn mine_all(url: &str, count: usize) {
    let mut mined = 0;
    for _ in 0..20 {
        assert!(json_rpc(url, "evm_mine", json!([])).get("result").is_some());
        mined += block_tx_count(url);
        if mined >= count {
            assert_eq!(mined, count, "{url} mined exactly what was sent");
            return;
        }
    }
    panic!("{url} mined {mined} of {count} transactions");
}

fn block_tx_count(url: &str) -> usize {
    let block = json_rpc(url, "eth_getBlockByNumber", json!(["latest", false]));
    block["result"]["transactions"].as_array().map_or(0, Vec::len)
}

struct SurgeNode(Child);

impl Drop for SurgeNode {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let chain_id = surge_genesis::DEV_L1_CHAIN_ID;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("node.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let (l1_port, l2_port) = (free_port(), free_port());
    // Blocks only on evm_mine: an hour between blocks.
    let _node = SurgeNode(
        Command::new(env!("CARGO_BIN_EXE_surge-node"))
            .args(["--dev", "--block-time", "3600", "--log", "info", "--datadir"])
            .arg(dir.path().join("data"))
            .args(["--http.port", &l2_port.to_string(), "--l1.http.port", &l1_port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let ours = format!("http://127.0.0.1:{l1_port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [] }).to_string();
    while surge_test_utils::try_post_raw(&ours, &probe).is_none() {
        assert!(Instant::now() < deadline, "surge-node did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", chain_id, &["--gas-limit", "60000000"]);
    let nodes = [("surge-node", ours.as_str()), ("anvil", anvil.url.as_str())];

    let data =
        alloy_sol_types::SolCall::abi_encode(&surge_primitives::bindings::bridge::Bridge::getMessageMinGasLimitCall {
            dataLength: U256::from(64),
        });
    let bridge = "0x3151908000000000000000000000000000000001";
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [
        { "to": bridge, "data": format!("0x{}", alloy_primitives::hex::encode(data)) },
        "latest"
    ]})
    .to_string();
    println!("== {THREADS} client threads; surge-node's dev L1 (release) vs anvil 1.7.1, same genesis");
    println!("{:<28} {:>12} {:>12} {:>10} {:>10} {:>8}", "", "node", "req/s", "p50 ms", "p99 ms", "ratio");
    let mut rows: Vec<(&str, Vec<Measured>)> = vec![];
    let calls: Vec<Measured> =
        nodes.iter().map(|(_, url)| hammer(url, vec![call.clone()], Some(Duration::from_secs(CALL_SECONDS)))).collect();
    rows.push(("eth_call", calls));
    let mut mine_times = vec![];
    let sends: Vec<Measured> = nodes
        .iter()
        .map(|(_, url)| {
            let funding = funding(chain_id);
            let funded = funding.len();
            hammer(url, funding, None);
            mine_all(url, funded);
            let m = hammer(url, throughput_transfers(chain_id), None);
            mine_all(url, SEND_TXS);
            let mut first_nonce = (SEND_SENDERS / SENDERS as usize) as u64;
            let mut times = vec![];
            for _ in 0..block_rounds() {
                hammer(url, transfers(chain_id, first_nonce), None);
                first_nonce += (BLOCK_TXS / SENDERS as usize) as u64;
                let started = Instant::now();
                assert!(json_rpc(url, "evm_mine", json!([])).get("result").is_some());
                times.push(started.elapsed());
                assert_eq!(block_tx_count(url), BLOCK_TXS, "{url} mined every transfer");
            }
            mine_times.push(median(times));
            m
        })
        .collect();
    rows.push(("eth_sendRawTransaction", sends));
    for (label, m) in &rows {
        for (i, (name, _)) in nodes.iter().enumerate() {
            let ratio = m[i].per_second / m[0].per_second;
            println!(
                "{:<28} {:>12} {:>12.0} {:>10.3} {:>10.3} {:>8.2}",
                if i == 0 { *label } else { "" },
                name,
                m[i].per_second,
                m[i].p50.as_secs_f64() * 1e3,
                m[i].p99.as_secs_f64() * 1e3,
                ratio
            );
        }
    }
    println!();
    println!(
        "== a block of {BLOCK_TXS} transfers: evm_mine round trip (build, commit, answer), median of {} blocks",
        block_rounds()
    );
    for (i, (name, _)) in nodes.iter().enumerate() {
        let ratio = mine_times[i].as_secs_f64() / mine_times[0].as_secs_f64();
        println!("{:<12} {:>10.2} ms {:>8.2}", name, mine_times[i].as_secs_f64() * 1e3, ratio);
    }
    // The node's own split of those blocks (its log lines), median per phase.
    let logged = std::fs::read_to_string(&log_path).unwrap_or_default();
    let ours = format!("txs={BLOCK_TXS} ");
    let lines: Vec<&str> = logged.lines().filter(|l| l.contains("block committed") && l.contains(&ours)).collect();
    if !lines.is_empty() {
        let field = |name: &str| {
            let key = format!("{name}=");
            median(
                lines
                    .iter()
                    .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix(&key))?.parse::<f64>().ok())
                    .collect(),
            )
        };
        println!(
            "  surge-node's split (median of {} blocks): build {:.2} ms, state root and writes {:.2} ms, commit {:.2} ms (durable every 64 blocks)",
            lines.len(),
            field("build_ms"),
            field("root_ms"),
            field("commit_ms")
        );
    }
}
