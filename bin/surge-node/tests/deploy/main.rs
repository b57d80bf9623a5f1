//! `surge-node deploy` against a real anvil, then `surge-node --chain … --config …` running the L2 on it:
//! blocks anchor to anvil's blocks and transactions go through.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod once;
mod outage;
mod proxy;
mod raiko;
mod reorg;
mod user_ops;

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use common::{Kill, healthy, number, send};
use serde_json::json;
use surge_primitives::{
    Message,
    bindings::{
        anchor::Anchor,
        bridge::Bridge,
        examples::{constant_product_pool::ConstantProductPool, swap_vault_l1::SwapVaultL1},
        inbox::RealTimeInbox,
        test_message_sender::MessageSender,
        test_receiver::TestMessageReceiver,
    },
};
use surge_test_utils::{anvil_bin, call_trace, cast, free_port, json_rpc, rpc_result, runs_in_order};

fn hex_key(i: u32) -> String {
    format!("0x{}", alloy_primitives::hex::encode(surge_test_utils::dev_key(i).to_bytes()))
}

/// An anvil with `args`, answering; its endpoint.
fn anvil(args: &[&str]) -> (Kill, String) {
    let port = free_port();
    let anvil = Kill(
        Command::new(anvil_bin()).args(["--port", &port.to_string()]).args(args).stdout(Stdio::null()).spawn().unwrap(),
    );
    let l1 = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while surge_test_utils::try_post_raw(&l1, r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
        .is_none()
    {
        assert!(Instant::now() < deadline, "anvil did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (anvil, l1)
}

/// On a real chain a message must pay its leg's L1 cost: the old swap, whose message offers no fee, is
/// answered with the fee it needs and, sent anyway, is refused with the reason.
fn fee_below_l1_cost_gets_no_plan(l2: &str, vault: &str) {
    use alloy::eips::Encodable2718;
    use surge_primitives::bindings::examples::swap_vault_l2::SwapVaultL2;
    let key = surge_test_utils::dev_key(3);
    let vault: alloy_primitives::Address = vault.parse().unwrap();
    let chain_id = number(&rpc_result(l2, "eth_chainId", json!([])));
    let l1_chain_id = 31337;
    let swap = |back: Message| SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: back.into() };
    let placeholder = Message { srcChainId: l1_chain_id, destChainId: chain_id, ..Default::default() };
    let data = Bytes::from(swap(placeholder).abi_encode());
    let request = json!([{ "from": key.address(), "to": vault, "data": data, "value": "0xde0b6b3a7640000" }]);
    let answer = rpc_result(l2, "surge_simulateReturnMessage", request);
    assert!(answer["minFee"].as_u64().is_some_and(|fee| fee > 0), "a fee for L1's cost: {answer}");
    let back: surge_rpc_ext::MessageJson = serde_json::from_value(answer["message"].clone()).unwrap();
    let tx = surge_test_utils::eip1559_call(
        chain_id,
        0,
        vault,
        swap(back.into()).abi_encode().into(),
        U256::from(10u64).pow(U256::from(18)),
        3_000_000,
    );
    let signed = surge_test_utils::sign_eip1559(&key, tx);
    let raw = format!("0x{}", alloy_primitives::hex::encode(signed.encoded_2718()));
    let hash = rpc_result(l2, "eth_sendRawTransaction", json!([raw]));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = rpc_result(l2, "surge_txStatus", json!({ "txHash": hash }));
        if status["status"] == "Rejected" {
            assert!(status["reason"].as_str().unwrap().contains("fee below L1 cost"), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "not refused: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `surge-node --chain` on what `deploy` wrote to `out`, its data and log (`node.log`) in `dir`, answering;
/// the process and its endpoint.
fn run_l2(out: &std::path::Path, dir: &std::path::Path) -> (Kill, String) {
    let (node, l2) = spawn_l2(out, dir, &[], &[], "node.log");
    wait_healthy(&l2, &dir.join("node.log"));
    (node, l2)
}

/// `surge-node --chain` on what `deploy` wrote to `out` with `args` and `env` added, its data in `dir` and
/// its log in `dir`/`log`, not waited for; the process and its endpoint.
fn spawn_l2(
    out: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    log: &str,
) -> (Kill, String) {
    let l2_port = free_port();
    let node = Kill(
        Command::new(env!("CARGO_BIN_EXE_surge-node"))
            .arg("--chain")
            .arg(out.join("l2-genesis.json"))
            .arg("--config")
            .arg(out.join("surge-node.toml"))
            .arg("--datadir")
            .arg(dir.join("data"))
            .args(["--http.port", &l2_port.to_string()])
            .args(args)
            // The deployer (dev account 0) owns the proposer Multicall; dev account 1 signs mock proofs.
            .env("SURGE_PROPOSER_KEY", hex_key(0))
            .env("SURGE_MOCK_PROVER_KEY", hex_key(1))
            .env("SURGE_RELAYER_KEY", hex_key(surge_genesis::DEV_RELAYER_INDEX))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .unwrap(),
    );
    (node, format!("http://127.0.0.1:{l2_port}"))
}

/// Waits until the L2 at `l2` answers (its log, at `log`, in the failure).
fn wait_healthy(l2: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !healthy(l2) {
        assert!(Instant::now() < deadline, "the L2 did not start: {}", std::fs::read_to_string(log).unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn deploy_then_run_an_l2_on_anvil() {
    // A plain anvil: its own chain id, its default (test mnemonic) accounts, a block a second; finality two
    // blocks behind the head (an epoch of one slot), not 64.
    let (_anvil, l1) = anvil(&["--chain-id", "31337", "--block-time", "1", "--slots-in-an-epoch", "1"]);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deployed");
    // A bad amount is refused naming the flag, before anything is sent.
    let refused = Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["deploy", "--l1.rpc-url", &l1, "--bridge-funding", "lots"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--bridge-funding"));

    let deployed = Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["deploy", "--l1.rpc-url", &l1, "--bridge-funding", "7.5", "--app-liquidity", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&deployed.stdout);
    assert!(deployed.status.success(), "{stdout}{}", String::from_utf8_lossy(&deployed.stderr));
    let config = std::fs::read_to_string(out.join("surge-node.toml")).unwrap();
    let inbox = config.lines().find(|l| l.starts_with("l1_inbox")).unwrap().split('"').nth(1).unwrap().to_string();
    assert!(rpc_result(&l1, "eth_getCode", json!([inbox, "latest"])).as_str().unwrap().len() > 2, "inbox deployed");

    // The example apps' L1 halves hold their liquidity, and the bridge its funding.
    let addresses: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("addresses.json")).unwrap()).unwrap();
    let apps = &addresses["apps"];
    let app = |app: &str, role: &str| apps[app][role].as_str().unwrap().to_string();
    let bridge = addresses["protocol"]["l1"]["bridge"].as_str().unwrap();
    assert_eq!(cast(&["balance", bridge, "--rpc-url", &l1]), "7500000000000000000");
    let reserve = cast(&["call", &app("crossChainSwap", "l1Pool"), "reserveToken()(uint256)", "--rpc-url", &l1]);
    assert!(reserve.starts_with("4000000000000000000000 "), "2 ETH of liquidity at 2000 tokens per ETH: {reserve}");
    assert_eq!(cast(&["balance", &app("crossChainSwap", "l1Pool"), "--rpc-url", &l1]), "2000000000000000000");
    assert_eq!(cast(&["balance", &app("flashLoan", "l1LendingPool"), "--rpc-url", &l1]), "2000000000000000000");

    // The L2 on it.
    let (_node, l2) = run_l2(&out, dir.path());
    // The node checked the L1 leg's fast-signal path on anvil through the remote view.
    let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    assert!(log.contains("the L1 fast-signal path checks out"), "{log}");
    // The inbox was activated with this L2's genesis.
    let genesis = rpc_result(&l2, "eth_getBlockByNumber", json!(["0x0", false]));
    assert!(stdout.contains(genesis["hash"].as_str().unwrap()), "deploy printed the genesis it activated: {stdout}");

    // The apps' L2 halves are in its genesis, pointing at their L1 peers.
    for (l2_app, l1_app) in [
        (("crossChainSwap", "l2Vault"), ("crossChainSwap", "l1Vault")),
        (("flashLoan", "l2Executor"), ("flashLoan", "l1Executor")),
    ] {
        let peer = cast(&["call", &app(l2_app.0, l2_app.1), "l1Peer()(address)", "--rpc-url", &l2]);
        assert_eq!(peer.to_lowercase(), app(l1_app.0, l1_app.1).to_lowercase());
    }

    send(&l2, &["0x000000000000000000000000000000000000dEaD", "--value", "1ether"]);
    assert_eq!(
        cast(&["balance", "0x000000000000000000000000000000000000dEaD", "--rpc-url", &l2]),
        "1000000000000000000"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while number(&rpc_result(&l2, "eth_blockNumber", json!([]))) < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    let block = rpc_result(&l2, "eth_getBlockByNumber", json!(["latest", true]));
    // The fees go to the configured recipient (deploy wrote the deployer's address), and dev-only methods
    // are not served.
    let fee_recipient = config.lines().find(|l| l.starts_with("fee_recipient")).unwrap().split('"').nth(1).unwrap();
    assert_eq!(block["miner"].as_str().unwrap().to_lowercase(), fee_recipient.to_lowercase());
    assert_eq!(json_rpc(&l2, "evm_mine", json!([]))["error"]["code"], -32601);
    let input: Bytes = block["transactions"][0]["input"].as_str().unwrap().parse().unwrap();
    let cp = Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap().l1Checkpoint;
    let n = cp.blockNumber.to::<u64>();
    let anvil_block = rpc_result(&l1, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]));
    assert_eq!(anvil_block["hash"].as_str().unwrap().parse::<B256>().unwrap(), cp.blockHash, "anchored to anvil");

    // The README's manual withdrawal, against anvil: the proposer proves the L2 blocks there.
    let l1_bridge = addresses["protocol"]["l1"]["bridge"].as_str().unwrap().to_string();
    let out = common::run_readme_script(
        "## Withdrawing ETH from L2 to L1 by hand",
        &[
            ("http://127.0.0.1:8545", l1.as_str()),
            ("http://127.0.0.1:8547", l2.as_str()),
            ("L1_CHAIN=3151908", "L1_CHAIN=31337"),
            ("0x3151908000000000000000000000000000000001", l1_bridge.as_str()),
        ],
    );
    assert!(out.contains("status               1 (success)"), "{out}");

    // The README's swap, against anvil: its proposal settles there in the deferred shape.
    let heading = "## Your first synchronous L2→L1→L2 transaction";
    let out = common::run_readme_script(heading, &[("http://127.0.0.1:8547", l2.as_str()), (",3151908,", ",31337,")]);
    assert!(out.contains("status               1 (success)"), "{out}");
    let swapped = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    let deadline = Instant::now() + Duration::from_secs(90);
    while number(&rpc_result(&l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]) < swapped {
        assert!(Instant::now() < deadline, "the L2 did not finalize past the swap");
        std::thread::sleep(Duration::from_millis(500));
    }
    fee_below_l1_cost_gets_no_plan(&l2, &app("crossChainSwap", "l2Vault"));

    // A user op and the README's swap: the op first (one proposal, or the op's first), then the swap first
    // (the op in a later proposal); each settles.
    let ops = user_ops::Ops::new(&l1, &l2, &addresses);
    let op = ops.deposit();
    let swapped =
        || common::run_readme_script(heading, &[("http://127.0.0.1:8547", l2.as_str()), (",3151908,", ",31337,")]);
    assert!(swapped().contains("status               1 (success)"));
    let first = ops.executed(op);
    assert!(first <= number(&rpc_result(&l2, "eth_blockNumber", json!([]))));
    let swap_block = {
        assert!(swapped().contains("status               1 (success)"));
        number(&rpc_result(&l2, "eth_blockNumber", json!([])))
    };
    let op = ops.deposit();
    assert!(ops.executed(op) > swap_block.saturating_sub(1), "the op after the swap");
    let logs = cast(&["logs", "--from-block", "0", "--address", &inbox, "--rpc-url", &l1, "--json"]);
    let logs: serde_json::Value = serde_json::from_str(&logs).unwrap();
    let addr = |a: String| a.parse::<alloy_primitives::Address>().unwrap();
    let steps = [
        (addr(inbox.clone()), RealTimeInbox::tentativeProposeCall::SELECTOR),
        (addr(bridge.to_string()), Bridge::processMessageCall::SELECTOR),
        (addr(app("crossChainSwap", "l1Vault")), SwapVaultL1::onMessageInvocationCall::SELECTOR),
        (addr(app("crossChainSwap", "l1Pool")), ConstantProductPool::swapETHForTokenCall::SELECTOR),
        (addr(bridge.to_string()), Bridge::sendMessageCall::SELECTOR),
        (addr(inbox.clone()), RealTimeInbox::finalizeProposeCall::SELECTOR),
    ];
    let settled = logs.as_array().unwrap().iter().any(|log| {
        let trace = call_trace(&l1, log["transactionHash"].as_str().unwrap());
        runs_in_order(&trace, &steps)
    });
    assert!(settled, "no proposal on anvil ran the swap's L1 leg between tentativePropose and finalizePropose");

    // Pre-flight on anvil: the proposer cannot pay for a while (its account emptied), the README's swap
    // goes into an L2 block, then someone swaps on the L1 pool directly so that the swap's answer is not
    // what L1 would send. The check at each L1 head finds its leg answering another message (or, once the
    // proposer can pay again, its pre-flight on anvil's head fails at finalizePropose): nothing of it is
    // sent, the blocks from the swap's on are rebuilt without it, and the L2 finalizes past them.
    let proposer = surge_test_utils::dev_key(0).address().to_string();
    cast(&["rpc", "anvil_setBalance", &proposer, "0x0", "--rpc-url", &l1]);
    let out = common::run_readme_script(heading, &[("http://127.0.0.1:8547", l2.as_str()), (",3151908,", ",31337,")]);
    let swap_tx = out.lines().find(|l| l.starts_with("transactionHash")).unwrap().split_whitespace().nth(1).unwrap();
    let swap_block = number(&rpc_result(&l2, "eth_getTransactionReceipt", json!([swap_tx]))["blockNumber"]);
    // Planned all the same (nobody's message is at fault); `/ready` says why nothing goes to L1, and stays 200.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = common::ready(&l2);
        let reasons = body["reasons"].as_array().unwrap();
        if reasons.iter().any(|r| r.as_str().unwrap().starts_with("proposer balance low: 0 wei")) {
            assert_eq!((status, body["ready"].as_bool()), (200, Some(true)), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "/ready does not name the proposer's balance: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pool = app("crossChainSwap", "l1Pool");
    let key5 = hex_key(5);
    let to = surge_test_utils::dev_key(5).address().to_string();
    let args = ["send", &pool, "swapETHForToken(uint256,address)", "0", &to, "--value", "3ether"];
    cast(&[&args[..], &["--private-key", &key5, "--rpc-url", &l1]].concat());
    let past = number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    cast(&["rpc", "anvil_setBalance", &proposer, "0x21e19e0c9bab2400000", "--rpc-url", &l1]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while number(&rpc_result(&l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]) < past {
        assert!(Instant::now() < deadline, "the L2 did not finalize past the rebuilt blocks");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(rpc_result(&l2, "eth_getTransactionByHash", json!([swap_tx])).is_null(), "the swap is gone");
    let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
    let failed =
        log.lines().find(|l| l.contains("pre-flight failed")).unwrap_or_else(|| panic!("no pre-flight failure"));
    // Found by the check at an L1 head while the proposer could not pay, or by the pre-flight once it could.
    let early = failed.contains("its legs no longer give the planned answers");
    assert!(early || failed.contains("call 2 failed: RequiredSignalNotSent"), "{failed}");
    assert!(log.contains(&format!("from={swap_block}")), "unwound from the swap's block {swap_block}");
}

#[test]
fn deploy_keeps_the_public_dev_keys_off_a_real_chain_and_reads_keys_from_files() {
    // An L1 that is not a dev chain (Goerli's chain id), mining on demand.
    let (_anvil, l1) = anvil(&["--chain-id", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let deploy = |out: &str, args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_surge-node"))
            .args(["deploy", "--l1.rpc-url", &l1, "--no-example-apps", "--bridge-funding", "0", "--out"])
            .arg(dir.path().join(out))
            .args(args)
            .env_remove("DEPLOYER_PRIVATE_KEY")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.code(), text)
    };
    let dev = |i: u32| surge_test_utils::dev_key(i).address();
    let no_key_in = |text: &str| {
        for i in 0..2 {
            assert!(!text.contains(&hex_key(i)[2..]), "a key was printed: {text}");
        }
    };

    // The defaults (dev account 0 deploys, dev account 1 signs proofs) are refused before anything is sent.
    let (code, text) = deploy("a", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--allow-dev-keys") && text.contains(&dev(0).to_string()), "{text}");
    no_key_in(&text);
    assert_eq!(rpc_result(&l1, "eth_getTransactionCount", json!([dev(0), "latest"])), "0x0", "nothing sent");

    // An own deployer key from a file, funded on the L1; the default proof signer is still refused.
    let mine = alloy::signers::local::PrivateKeySigner::random();
    cast(&["rpc", "anvil_setBalance", &mine.address().to_string(), "0x56bc75e2d63100000", "--rpc-url", &l1]);
    let key_file = dir.path().join("deployer.key");
    std::fs::write(&key_file, format!("  0x{}\n", alloy_primitives::hex::encode(mine.to_bytes()))).unwrap();
    let key_file = key_file.to_str().unwrap();
    let (code, text) = deploy("b", &["--deployer-key-file", key_file]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--prover-signer") && text.contains(&dev(1).to_string()), "{text}");

    // With an own signer it deploys, owned by the file's key, and the L2 genesis funds no dev account.
    let signer = alloy_primitives::Address::repeat_byte(0x5e).to_string();
    let (code, text) = deploy("c", &["--deployer-key-file", key_file, "--prover-signer", &signer]);
    assert_eq!(code, Some(0), "{text}");
    let config = std::fs::read_to_string(dir.path().join("c/surge-node.toml")).unwrap();
    assert!(config.contains(&format!("fee_recipient = \"{}\"", mine.address())), "{config}");
    let genesis = std::fs::read_to_string(dir.path().join("c/l2-genesis.json")).unwrap().to_lowercase();
    for i in 0..10 {
        let account = format!("{:x}", dev(i));
        assert!(!genesis.contains(&account[2..]), "dev account {i} funded on a real chain's L2");
    }

    // --allow-dev-keys lets the dev keys through, at the user's risk; the dev accounts still get nothing.
    let (code, text) = deploy("d", &["--allow-dev-keys"]);
    assert_eq!(code, Some(0), "{text}");
    let genesis = std::fs::read_to_string(dir.path().join("d/l2-genesis.json")).unwrap().to_lowercase();
    assert!(!genesis.contains(&format!("{:x}", dev(5))[2..]), "dev account 5 funded on a real chain's L2");

    // Key files that cannot be used name the flag and the path, never their content.
    let (code, text) = deploy("e", &["--deployer-key-file", "/nonexistent/deployer.key"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--deployer-key-file") && text.contains("/nonexistent/deployer.key"), "{text}");
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "0xsecret-but-not-hex").unwrap();
    let (code, text) = deploy("e", &["--deployer-key-file", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("--deployer-key-file") && text.contains("bad.key"), "{text}");
    assert!(!text.contains("secret-but-not-hex"), "{text}");

    // --help with the key in the environment names the variable, not the key.
    let help = Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["deploy", "--help"])
        .env("DEPLOYER_PRIVATE_KEY", hex_key(0))
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("DEPLOYER_PRIVATE_KEY") && help.contains("--deployer-key-file"), "{help}");
    no_key_in(&help);
}

/// Signs and sends a transaction from dev account `who` at `rpc` (its next nonce, `tip` wei of priority fee);
/// its hash.
fn send_signed(rpc: &str, who: u32, to: alloy_primitives::TxKind, data: Vec<u8>, value: U256, tip: u128) -> String {
    send_priced(rpc, who, (to, data), value, 3_000_000, (2 * tip + 100_000_000_000, tip))
}

/// Signs and sends a call or creation (`to`, with its calldata) with `value` from dev account `who` at
/// `rpc`, with `gas` and fees (cap, tip); its hash.
fn send_priced(
    rpc: &str,
    who: u32,
    (to, data): (alloy_primitives::TxKind, Vec<u8>),
    value: U256,
    gas: u64,
    (cap, tip): (u128, u128),
) -> String {
    use alloy::eips::Encodable2718;
    let key = surge_test_utils::dev_key(who);
    let nonce = number(&rpc_result(rpc, "eth_getTransactionCount", json!([key.address(), "pending"])));
    let tx = alloy::consensus::TxEip1559 {
        chain_id: number(&rpc_result(rpc, "eth_chainId", json!([]))),
        nonce,
        gas_limit: gas,
        max_fee_per_gas: cap,
        max_priority_fee_per_gas: tip,
        to,
        value,
        access_list: Default::default(),
        input: data.into(),
    };
    let raw = surge_test_utils::sign_eip1559(&key, tx).encoded_2718();
    rpc_result(rpc, "eth_sendRawTransaction", json!([format!("0x{}", alloy_primitives::hex::encode(raw))]))
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until `done` holds (checked every 100 ms, for 90 s at most), or fails saying `what`.
fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the receipt of `tx` at `rpc`.
fn receipt(rpc: &str, tx: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = rpc_result(rpc, "eth_getTransactionReceipt", json!([tx]));
        if !r.is_null() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt for {tx}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The transactions of `from` waiting in anvil's pool (`txpool_content`).
fn pending_of(l1: &str, from: alloy_primitives::Address) -> Vec<serde_json::Value> {
    let content = rpc_result(l1, "txpool_content", json!([]));
    let by_sender = content["pending"].as_object().cloned().unwrap_or_default();
    by_sender
        .iter()
        .filter(|(sender, _)| sender.parse::<alloy_primitives::Address>() == Ok(from))
        .flat_map(|(_, txs)| txs.as_object().cloned().unwrap_or_default().into_values())
        .collect()
}

/// The proposer's pending transactions on anvil: hash and input of each.
fn proposer_pending(l1: &str) -> Vec<(String, String)> {
    let pending = pending_of(l1, surge_test_utils::dev_key(0).address()).into_iter();
    pending.map(|tx| (tx["hash"].as_str().unwrap().to_string(), tx["input"].as_str().unwrap().to_string())).collect()
}

/// `surge-node deploy` to the anvil at `l1` without the example apps, `funding` ETH to the bridge, into
/// `deployed/` of a fresh directory; the directory and `addresses.json`.
fn deploy_to(l1: &str, funding: &str) -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deployed");
    let deployed = Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["deploy", "--l1.rpc-url", l1, "--bridge-funding", funding, "--no-example-apps", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    let addresses = serde_json::from_str(&std::fs::read_to_string(out.join("addresses.json")).unwrap()).unwrap();
    (dir, addresses)
}

/// An L2 on anvil (`deploy`, then `--chain`) with an L1 responder (`TestMessageReceiver`) and an L2 app
/// that consumes its answer in the same transaction (`MessageSender.sendAndConsume`).
struct Responding {
    _anvil: Kill,
    /// The node's way to anvil, when it goes through a proxy.
    proxy: Option<proxy::Proxy>,
    l1: String,
    dir: tempfile::TempDir,
    _node: Kill,
    l2: String,
    l1_bridge: alloy_primitives::Address,
    responder: alloy_primitives::Address,
    app: alloy_primitives::Address,
}

impl Responding {
    fn start() -> Self {
        Self::start_with(&[], "", false)
    }

    /// [`Self::start`] with the node's `args`, `config` added to the configuration `deploy` wrote, and the
    /// node's L1 through a [`proxy::Proxy`] when `proxied`.
    fn start_with(args: &[&str], config: &str, proxied: bool) -> Self {
        let (anvil, l1) = anvil(&["--chain-id", "31337", "--block-time", "1", "--slots-in-an-epoch", "1"]);
        let (dir, addresses) = deploy_to(&l1, "5");
        let out = dir.path().join("deployed");
        let written = std::fs::read_to_string(out.join("surge-node.toml")).unwrap();
        std::fs::write(out.join("surge-node.toml"), written + config).unwrap();
        let l2_bridge = addresses["protocol"]["l2"]["bridge"].as_str().unwrap().parse().unwrap();
        let l1_bridge = addresses["protocol"]["l1"]["bridge"].as_str().unwrap().parse().unwrap();
        let proxy = proxied.then(|| proxy::Proxy::to(l1.trim_start_matches("http://")));
        let mut args = args.to_vec();
        if let Some(p) = &proxy {
            args.extend(["--l1.rpc-url", p.url.as_str()]);
        }
        let (node, l2) = spawn_l2(&out, dir.path(), &args, &[], "node.log");
        wait_healthy(&l2, &dir.path().join("node.log"));
        let created = |rpc: &str, code: Vec<u8>| -> alloy_primitives::Address {
            let tx = send_signed(rpc, 6, alloy_primitives::TxKind::Create, code, U256::ZERO, 1_000_000_000);
            receipt(rpc, &tx)["contractAddress"].as_str().unwrap().parse().unwrap()
        };
        let responder = created(&l1, TestMessageReceiver::BYTECODE.to_vec());
        let app = created(
            &l2,
            [MessageSender::BYTECODE.to_vec(), MessageSender::constructorCall { _bridge: l2_bridge }.abi_encode()]
                .concat(),
        );
        Self { _anvil: anvil, proxy, l1, dir, _node: node, l2, l1_bridge, responder, app }
    }

    /// The calldata of `who`'s round trip asking the responder for `mode`, offering `fee`, embedding `back`.
    fn data(&self, who: u32, mode: &'static [u8], fee: u64, back: Message) -> Vec<u8> {
        let me = surge_test_utils::dev_key(who).address();
        let out = Message {
            fee,
            gasLimit: 1_000_000,
            srcOwner: me,
            destChainId: 31337,
            destOwner: me,
            to: self.responder,
            data: TestMessageReceiver::onMessageInvocationCall { data: Bytes::from_static(mode) }.abi_encode().into(),
            ..Default::default()
        };
        MessageSender::sendAndConsumeCall { out: out.into(), back: back.into() }.abi_encode()
    }

    /// What `surge_simulateReturnMessage` answers for `who`'s round trip offering `fee`.
    fn simulate(&self, who: u32, mode: &'static [u8], fee: u64) -> serde_json::Value {
        let l2_chain = number(&rpc_result(&self.l2, "eth_chainId", json!([])));
        let placeholder = Message { srcChainId: 31337, destChainId: l2_chain, ..Default::default() };
        let data = Bytes::from(self.data(who, mode, fee, placeholder));
        let from = surge_test_utils::dev_key(who).address();
        let request = json!([{ "from": from, "to": self.app, "data": data, "value": format!("0x{fee:x}") }]);
        json_rpc(&self.l2, "surge_simulateReturnMessage", request)
    }

    /// Sends `who`'s round trip with the answer L1 gives and twice the fee it asks; its hash.
    fn send(&self, who: u32, mode: &'static [u8]) -> String {
        let first = self.simulate(who, mode, 0);
        let fee = 2 * first["result"]["minFee"].as_u64().unwrap_or_else(|| {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            panic!("simulating: {first}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        });
        let answer = self.simulate(who, mode, fee);
        let back: surge_rpc_ext::MessageJson = serde_json::from_value(answer["result"]["message"].clone()).unwrap();
        let data = self.data(who, mode, fee, back.into());
        send_signed(&self.l2, who, alloy_primitives::TxKind::Call(self.app), data, U256::from(fee), 1_000_000_000)
    }

    /// With anvil mining only when told, sends `who`'s round trip, lets the proposals before its own land one
    /// by one, then once its own is pending puts `ahead` (sent by `ahead_from` with a higher tip) in front of
    /// it in the next block; the round trip, its L2 block and the bundle's L1 transaction.
    fn race(
        &self,
        who: u32,
        mode: &'static [u8],
        ahead_from: u32,
        ahead: (alloy_primitives::Address, Vec<u8>),
    ) -> (String, u64, String) {
        rpc_result(&self.l1, "evm_setIntervalMining", json!([0]));
        let trip = self.send(who, mode);
        let block = number(&receipt(&self.l2, &trip)["blockNumber"]);
        let deferred = alloy_primitives::hex::encode(RealTimeInbox::tentativeProposeCall::SELECTOR);
        let deadline = Instant::now() + Duration::from_secs(90);
        let bundle = loop {
            let pending = proposer_pending(&self.l1);
            if let Some((hash, _)) = pending.iter().find(|(_, input)| input.contains(&deferred)) {
                break hash.clone();
            }
            if !pending.is_empty() {
                rpc_result(&self.l1, "evm_mine", json!([]));
            }
            assert!(Instant::now() < deadline, "the round trip's proposal was not sent");
            std::thread::sleep(Duration::from_millis(100));
        };
        send_signed(
            &self.l1,
            ahead_from,
            alloy_primitives::TxKind::Call(ahead.0),
            ahead.1,
            U256::ZERO,
            100_000_000_000,
        );
        rpc_result(&self.l1, "evm_mine", json!([]));
        rpc_result(&self.l1, "evm_setIntervalMining", json!([1]));
        assert_eq!(receipt(&self.l1, &bundle)["status"], "0x0", "anvil reverted the bundle");
        (trip, block, bundle)
    }

    fn rpc_l1(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        rpc_result(&self.l1, method, params)
    }

    /// Waits until `tx` is rejected; its reason.
    fn rejected(&self, tx: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = rpc_result(&self.l2, "surge_txStatus", json!({ "txHash": tx }));
            if status["status"] == "Rejected" {
                return status["reason"].as_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "{tx} was not rejected: {status}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the L2 finalizes its current head.
    fn finalized_past_now(&self) {
        let past = number(&rpc_result(&self.l2, "eth_blockNumber", json!([])));
        let deadline = Instant::now() + Duration::from_secs(90);
        while number(&rpc_result(&self.l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]) < past {
            assert!(Instant::now() < deadline, "the L2 did not finalize past block {past}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap()
    }

    /// How many of the proposer's transactions anvil reverted.
    fn proposer_reverts(&self) -> usize {
        let head = number(&rpc_result(&self.l1, "eth_blockNumber", json!([])));
        let proposer = surge_test_utils::dev_key(0).address();
        let mut reverts = 0;
        for n in 0..=head {
            let block = rpc_result(&self.l1, "eth_getBlockByNumber", json!([format!("0x{n:x}"), true]));
            for tx in block["transactions"].as_array().unwrap() {
                let from: alloy_primitives::Address = tx["from"].as_str().unwrap().parse().unwrap();
                if from == proposer && receipt(&self.l1, tx["hash"].as_str().unwrap())["status"] == "0x0" {
                    reverts += 1;
                }
            }
        }
        reverts
    }
}

#[test]
fn on_anvil_a_callback_that_tells_simulation_apart_a_bundle_anvil_refuses_and_a_message_ahead_are_survived() {
    let net = Responding::start();

    // A callback that answers only at gas price 0 gets no answer at L1's price: nothing to plan.
    let free = net.simulate(7, b"free-reply", 0);
    assert_eq!(free["error"]["code"], -32000, "{free}");
    assert!(free["error"]["data"].as_str().unwrap_or_default().contains("answers only for free"), "{free}");

    // An L1 bridge message lands just ahead of an honest round trip's bundle: nobody is to blame, the range
    // is rebuilt without the plan and proposed again.
    let me = surge_test_utils::dev_key(9).address();
    let l2_chain = number(&rpc_result(&net.l2, "eth_chainId", json!([])));
    let message = Message { srcOwner: me, destChainId: l2_chain, destOwner: me, to: me, ..Default::default() };
    let send = Bridge::sendMessageCall { message }.abi_encode();
    let (honest, _, _) = net.race(8, b"reply", 9, (net.l1_bridge, send));
    assert_eq!(net.rejected(&honest), "L1 reverted, culprit unknown");
    net.finalized_past_now();

    // The attacker's callback answers while its round trip is planned; once its bundle is sent, it turns
    // the callback off on L1. The replay names it: it leaves with the L1 reason and cools down.
    let off = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    let (attack, attack_block, _) = net.race(7, b"flaky-reply", 7, (net.responder, off));
    let reason = net.rejected(&attack);
    assert!(reason.contains("L1 reverted") && reason.contains("failing for now"), "{reason}");
    let log = net.log();
    assert!(log.contains("culprit found"), "{log}");
    assert!(log.contains(&format!("from={attack_block}")), "unwound from the attacker's block {attack_block}");
    net.finalized_past_now();

    // The honest sender was not cooled down: its next round trip settles.
    let again = net.send(8, b"reply");
    assert_eq!(receipt(&net.l2, &again)["status"], "0x1");
    net.finalized_past_now();
    assert_eq!(net.proposer_reverts(), 2, "the proposer paid for one reverted bundle per race");
}
