//! The real binary in dev mode, for end-to-end tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use surge_test_utils::{cast, free_port};

pub const KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

pub struct DevNode {
    pub child: Child,
    pub l1: String,
    pub l2: String,
    pub l2_ws: String,
    pub metrics: String,
}

impl DevNode {
    pub fn start(datadir: &Path) -> Self {
        Self::start_with(datadir, &[])
    }

    /// Starts with extra arguments; with `--l1.rpc-url`, only the L2 is served.
    pub fn start_with(datadir: &Path, extra: &[&str]) -> Self {
        Self::start_env(datadir, extra, &[])
    }

    /// [`Self::start_with`] with environment variables set.
    pub fn start_env(datadir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let (l1_port, l2_port, metrics_port) = (free_port(), free_port(), free_port());
        let log = std::fs::File::create(datadir.join(format!("node-{l2_port}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_surge-node"))
            .args(["--dev", "--block-time", "0", "--datadir"])
            .arg(datadir)
            .args(["--http.port", &l2_port.to_string(), "--l1.http.port", &l1_port.to_string()])
            .args(["--metrics", &format!("127.0.0.1:{metrics_port}"), "--http.corsdomain", "http://localhost:3000"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let node = Self {
            child,
            l1: format!("http://127.0.0.1:{l1_port}"),
            l2: format!("http://127.0.0.1:{l2_port}"),
            l2_ws: format!("ws://127.0.0.1:{l2_port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let external_l1 = extra.contains(&"--l1.rpc-url");
        while !((external_l1 || healthy(&node.l1)) && healthy(&node.l2)) {
            assert!(Instant::now() < deadline, "the dev node did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    /// SIGTERM, then the exit status must be success.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "clean shutdown: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file in `dir` under which every L2 block opens a proposal anchored to the L1 head itself (so
/// the anchor follows the L1 head block by block); the arguments that use it.
pub fn anchor_every_block(dir: &Path) -> [String; 2] {
    let path = dir.join("anchor-every-block.toml");
    std::fs::write(&path, "[proposals]\nanchor_distance = 0\nmax_blocks = 1\n").unwrap();
    ["--config".into(), path.display().to_string()]
}

/// A child process killed when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn healthy(url: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent.get(&format!("{url}/health")).call().is_ok_and(|r| r.status() == 200)
}

/// `GET /ready` on `url`: its status and body.
pub fn ready(url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(&format!("{url}/ready")).call().unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap())
}

pub fn number(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

pub fn send(rpc: &str, args: &[&str]) -> Value {
    let mut all = vec!["send", "--private-key", KEY1, "--rpc-url", rpc, "--json"];
    all.extend_from_slice(args);
    let receipt: Value = serde_json::from_str(&cast(&all)).unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    receipt
}

pub fn storage_logs_bytecode() -> String {
    let path = surge_test_utils::workspace_root().join("contracts/out/test/StorageLogs.json");
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    artifact["bytecode"]["object"].as_str().unwrap().to_string()
}

/// Runs the `npx cast …` lines of the first `sh` block under README heading `heading` as printed, with the
/// dev network's default endpoints pointed at `l1` and `l2`; returns each command's output.
pub fn run_readme_cast(heading: &str, l1: &str, l2: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(surge_test_utils::workspace_root().join("README.md")).unwrap();
    let section = readme.split(&format!("\n{heading}\n")).nth(1).unwrap_or_else(|| panic!("no {heading}"));
    let block = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let mut outputs = vec![];
    for line in block.lines().filter(|l| l.starts_with("npx cast ")) {
        // A trailing comment is for the reader (bash would ignore it too).
        let line = line.split(" # ").next().unwrap_or_default();
        let line = line.replace("http://127.0.0.1:8545", l1).replace("http://127.0.0.1:8547", l2);
        // Words, with double-quoted ones kept whole (the README quotes signatures).
        let args: Vec<String> = line["npx cast ".len()..]
            .split('"')
            .enumerate()
            .flat_map(|(i, part)| {
                if i % 2 == 1 { vec![part.to_string()] } else { part.split_whitespace().map(String::from).collect() }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        outputs.push(surge_test_utils::cast(&args));
    }
    outputs
}

/// Runs the first `sh` block under README heading `heading` as printed (bash, from the repository root),
/// with each `(from, to)` of `replace` substituted; its standard output (panics with both outputs on failure).
pub fn run_readme_script(heading: &str, replace: &[(&str, &str)]) -> String {
    let root = surge_test_utils::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme.split(&format!("\n{heading}\n")).nth(1).unwrap_or_else(|| panic!("no {heading}"));
    let mut script = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap().to_string();
    for (from, to) in replace {
        script = script.replace(from, to);
    }
    let out = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).current_dir(&root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The value of metric `name` (its first series) on the Prometheus endpoint `url`; 0 when absent.
pub fn metric(url: &str, name: &str) -> f64 {
    let body = ureq::get(url).call().unwrap().body_mut().read_to_string().unwrap();
    body.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(' ').next_back()?.parse().ok()).unwrap_or(0.0)
}

/// Where a proving Raiko double finds the L1 and the mock verifier's signer, once they are known.
pub type Proving = std::sync::Arc<std::sync::Mutex<Option<(String, surge_primitives::MockProver)>>>;

fn hash(v: &Value) -> alloy_primitives::B256 {
    v.as_str().unwrap().parse().unwrap()
}

/// The mock proof (the mock verifier's signature over the commitment) of the proposal `full`, a full
/// Raiko request body, asks for; the anchor's hash comes from the L1 at `l1`.
pub fn mock_proof(l1: &str, prover: &surge_primitives::MockProver, full: &Value) -> String {
    use surge_primitives::{Checkpoint, bindings::inbox::RealTimeInbox::Commitment, proposal_tx::expected_proposal};
    let anchor = full["max_anchor_block_number"].as_u64().unwrap();
    let block =
        surge_test_utils::rpc_result(l1, "eth_getBlockByNumber", serde_json::json!([format!("0x{anchor:x}"), false]));
    let blob_hashes: Vec<_> =
        full["sources"][0]["blobSlice"]["blobHashes"].as_array().unwrap().iter().map(hash).collect();
    let slots: Vec<_> = full["signal_slots"].as_array().unwrap().iter().map(hash).collect();
    let pctg = full["basefee_sharing_pctg"].as_u64().unwrap() as u8;
    let proposal = expected_proposal(anchor, hash(&block["hash"]), pctg, &blob_hashes, &slots);
    let c = &full["checkpoint"];
    let commitment = Commitment {
        proposalHash: surge_primitives::hash_proposal(&proposal),
        lastFinalizedBlockHash: hash(&full["last_finalized_block_hash"]),
        checkpoint: Checkpoint {
            blockNumber: alloy_primitives::aliases::U48::from(c["block_number"].as_u64().unwrap()),
            blockHash: hash(&c["block_hash"]),
            stateRoot: hash(&c["state_root"]),
        },
    };
    alloy_primitives::hex::encode_prefixed(prover.sign(surge_primitives::hash_commitment(&commitment)).unwrap())
}

/// A Raiko double that registers full requests and proves on the poll, with mock proofs (what the mock
/// verifier accepts, as MOCK_MODE routes Raiko's proofs to it); while `refuse` is set, it answers one poll
/// `ZKAnyNotDrawn`.
pub fn proving_raiko(
    proving: Proving,
    refuse: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> surge_test_utils::raiko::RaikoDouble {
    use surge_test_utils::raiko::{RaikoDouble, error, proof, waiting};
    let full: std::sync::Mutex<std::collections::HashMap<String, Value>> = Default::default();
    RaikoDouble::answering(move |_, body| {
        let key = body["l2_block_numbers"].to_string();
        if !body["sources"].as_array().is_some_and(Vec::is_empty) {
            full.lock().unwrap().insert(key, body.clone());
            return waiting("registered");
        }
        if refuse.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return waiting("zk_any_not_drawn");
        }
        let Some(request) = full.lock().unwrap().get(&key).cloned() else {
            return error("proof not found: expired or never submitted");
        };
        match proving.lock().unwrap().as_ref() {
            Some((l1, prover)) => proof(&mock_proof(l1, prover, &request)),
            // The test has not told it where the L1 is yet.
            None => waiting("work_in_progress"),
        }
    })
}
