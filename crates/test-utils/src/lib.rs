//! Test support: a real anvil (from the npm package `@foundry-rs/anvil-linux-amd64`, installed by
//! `scripts/install-tools`) on a free loopback port, killed when dropped, and a tiny JSON-RPC client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

mod http;
mod proxy;
pub mod raiko;
pub mod user_ops;

pub use proxy::CountingProxy;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The anvil binary installed from npm.
pub fn anvil_bin() -> PathBuf {
    let p = workspace_root().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(p.exists(), "anvil not installed at {}: run scripts/install-tools", p.display());
    p
}

/// A running anvil.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    /// Its HTTP endpoint.
    pub url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil with `--init genesis` and the quirk-pinning flags (no dev accounts, no create2
    /// deployer, no automine, FIFO order) plus `extra` arguments, and waits until it answers.
    pub fn start(genesis: &Path, hardfork: &str, chain_id: u64, extra: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(anvil_bin())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--accounts", "0", "--disable-default-create2-deployer", "--no-mining", "--order", "fifo"])
            .args(["--hardfork", hardfork, "--chain-id", &chain_id.to_string()])
            .args(extra)
            .arg("--init")
            .arg(genesis)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let anvil = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if anvil.try_rpc("eth_chainId", json!([])).is_some() {
                return anvil;
            }
            assert!(Instant::now() < deadline, "anvil did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The full JSON-RPC response, or `None` when the request failed.
    pub fn try_rpc(&self, method: &str, params: Value) -> Option<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        try_post_raw(&self.url, &body.to_string()).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The result of a call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        let v = self.try_rpc(method, params.clone()).unwrap_or_else(|| panic!("{method} failed"));
        assert!(v.get("error").is_none(), "{method}({params}) -> {v}");
        v["result"].clone()
    }
}

/// Gas used by each transaction, from a block's cumulative receipt gas.
pub fn gas_per_tx<R: alloy::consensus::TxReceipt>(receipts: &[R]) -> Vec<u64> {
    let mut prev = 0;
    receipts
        .iter()
        .map(|r| {
            let g = r.cumulative_gas_used() - prev;
            prev = r.cumulative_gas_used();
            g
        })
        .collect()
}

/// What L2RULES.md says user transactions pay, computed independently of the node: for each
/// `(tip, gas used, value)` the sender's cost, and in total what the coinbase (tips plus `pctg` percent of
/// the base fee, truncated per transaction) and the treasury (the rest of the base fee) receive.
pub fn expected_l2_fees(
    base_fee: u64,
    pctg: u8,
    txs: &[(u128, u64, u64)],
) -> (Vec<alloy_primitives::U256>, alloy_primitives::U256, alloy_primitives::U256) {
    use alloy_primitives::U256;
    let (mut coinbase, mut treasury, mut costs) = (U256::ZERO, U256::ZERO, vec![]);
    for (tip, gas, value) in txs {
        let g = U256::from(*gas);
        let base = U256::from(base_fee) * g;
        let share = base * U256::from(pctg) / U256::from(100);
        coinbase += U256::from(*tip) * g + share;
        treasury += base - share;
        costs.push(U256::from(u128::from(base_fee) + tip) * g + U256::from(*value));
    }
    (costs, coinbase, treasury)
}

/// Dev account `i` of the dev mnemonic ("test test … junk"), funded in the dev genesis files.
pub fn dev_key(i: u32) -> alloy::signers::local::PrivateKeySigner {
    use alloy::signers::local::{MnemonicBuilder, coins_bip39::English};
    MnemonicBuilder::<English>::default()
        .phrase("test test test test test test test test test test test junk")
        .index(i)
        .and_then(|b| b.build())
        .unwrap_or_else(|e| panic!("dev key {i}: {e}"))
}

/// `tx` signed by `key`.
pub fn sign_eip1559(
    key: &alloy::signers::local::PrivateKeySigner,
    tx: alloy::consensus::TxEip1559,
) -> alloy::consensus::TxEnvelope {
    use alloy::{consensus::SignableTransaction, signers::SignerSync};
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    alloy::consensus::TxEnvelope::Eip1559(tx.into_signed(sig))
}

/// A call of `to` with `input` and `value`, at 10 gwei a gas at most with a 1 gwei tip: what the tests and
/// benchmarks send.
pub fn eip1559_call(
    chain_id: u64,
    nonce: u64,
    to: alloy_primitives::Address,
    input: alloy_primitives::Bytes,
    value: alloy_primitives::U256,
    gas_limit: u64,
) -> alloy::consensus::TxEip1559 {
    const GWEI: u128 = 1_000_000_000;
    alloy::consensus::TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: alloy_primitives::TxKind::Call(to),
        value,
        access_list: Default::default(),
        input,
    }
}

/// The cast binary installed from npm (`@foundry-rs/cast-linux-amd64`).
pub fn cast_bin() -> PathBuf {
    let p = workspace_root().join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(p.exists(), "cast not installed at {}: run scripts/install-tools", p.display());
    p
}

/// Runs cast with `args`; its trimmed standard output (panics with its error output on failure).
pub fn cast(args: &[&str]) -> String {
    let out = Command::new(cast_bin()).args(args).output().unwrap();
    assert!(out.status.success(), "cast {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The calls of transaction `tx`'s call trace on `rpc` (geth's `callTracer`), in execution order: each
/// call's target and selector (calls without one left out).
pub fn call_trace(rpc: &str, tx: &str) -> Vec<(alloy_primitives::Address, [u8; 4])> {
    fn walk(frame: &Value, out: &mut Vec<(alloy_primitives::Address, [u8; 4])>) {
        let to = frame["to"].as_str().and_then(|t| t.parse().ok());
        let input: Option<alloy_primitives::Bytes> = frame["input"].as_str().and_then(|i| i.parse().ok());
        if let (Some(to), Some(input)) = (to, input)
            && let Some(selector) = input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok())
        {
            out.push((to, selector));
        }
        for child in frame["calls"].as_array().into_iter().flatten() {
            walk(child, out);
        }
    }
    let json = cast(&["rpc", "debug_traceTransaction", tx, r#"{"tracer":"callTracer"}"#, "--rpc-url", rpc]);
    let mut out = vec![];
    walk(&serde_json::from_str(&json).unwrap(), &mut out);
    out
}

/// Whether `steps` occur in `trace` in this order (others may come between).
pub fn runs_in_order(
    trace: &[(alloy_primitives::Address, [u8; 4])],
    steps: &[(alloy_primitives::Address, [u8; 4])],
) -> bool {
    let mut at = trace.iter();
    steps.iter().all(|step| at.any(|c| c == step))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Posts `body` as is; the HTTP status and the parsed JSON answer (`Value::Null` when not JSON), or
/// `None` when the server cannot be reached.
pub fn try_post_raw(url: &str, body: &str) -> Option<(u16, Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.post(url).header("content-type", "application/json").send(body).ok()?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// [`try_post_raw`] to a server that must answer.
pub fn post_raw(url: &str, body: &str) -> (u16, Value) {
    try_post_raw(url, body).unwrap_or_else(|| panic!("{url} did not answer"))
}

/// One JSON-RPC call; the whole response object.
pub fn json_rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post_raw(url, &body.to_string()).1
}

/// One JSON-RPC call that must succeed; its result.
pub fn rpc_result(url: &str, method: &str, params: Value) -> Value {
    let v = json_rpc(url, method, params.clone());
    assert!(v.get("error").is_none() && v.get("result").is_some(), "{method}({params}) -> {v}");
    v["result"].clone()
}
