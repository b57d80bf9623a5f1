//! The proposer's L1 transactions exactly once, on anvil: a SIGKILL at every step of sending a proposal, a
//! fee spike that makes anvil drop the pending proposal, and a proposal stuck behind better-paying
//! transactions. Each time every L2 block lands in the inbox once, no proposer transaction reverts, and no
//! nonce is left waiting.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use alloy_primitives::{
    Address, B256,
    TxKind::{Call, Create},
    U256,
};
use alloy_sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};
use surge_l1::GWEI;
use surge_primitives::bindings::inbox::RealTimeInbox;
use surge_test_utils::rpc_result;

use super::{Responding, anvil, common::number, deploy_to, pending_of, receipt, send_priced, spawn_l2, wait_healthy};

/// The steps of sending a proposal, in order, each with a failpoint.
const STEPS: [&str; 7] = ["assembled", "proved", "signed", "recorded", "sent", "included", "landed"];

/// An anvil with a deployed protocol: its endpoint, the deployment's directory, the inbox and the
/// proposer Multicall.
struct Deployed {
    _anvil: super::common::Kill,
    l1: String,
    dir: tempfile::TempDir,
    inbox: Address,
    multicall: Address,
}

impl Deployed {
    fn new() -> Self {
        let (anvil, l1) = anvil(&["--chain-id", "31337", "--block-time", "1", "--slots-in-an-epoch", "1"]);
        let (dir, addresses) = deploy_to(&l1, "1");
        let address = |key: &str| addresses["protocol"]["l1"][key].as_str().unwrap().parse().unwrap();
        Self { _anvil: anvil, inbox: address("inbox"), multicall: address("multicall"), l1, dir }
    }

    fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("deployed")
    }

    /// The node, answering, with `args`; its process and endpoint.
    fn run(&self, args: &[&str], log: &str) -> (super::common::Kill, String) {
        let (node, l2) = spawn_l2(&self.out(), self.dir.path(), args, &[("MAX_BLOCKS_PER_BATCH", "2")], log);
        wait_healthy(&l2, &self.dir.path().join(log));
        (node, l2)
    }

    fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(log)).unwrap_or_default()
    }

    fn rpc(&self, method: &str, params: Value) -> Value {
        rpc_result(&self.l1, method, params)
    }

    /// The proposer's (dev account 0) transaction count at `tag`.
    fn nonce(&self, tag: &str) -> u64 {
        number(&self.rpc("eth_getTransactionCount", json!([surge_test_utils::dev_key(0).address(), tag])))
    }

    /// The proposer's transactions waiting in anvil's pool.
    fn pending(&self) -> Vec<Value> {
        pending_of(&self.l1, surge_test_utils::dev_key(0).address())
    }

    /// Waits for a pending proposal (anvil mining only when told: a block a second while none waits, for
    /// the confirmations of the one before it) and returns it.
    fn pending_proposal(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        for round in 1.. {
            if let Some(tx) = self.pending().into_iter().next() {
                return tx;
            }
            assert!(Instant::now() < deadline, "no proposal was sent");
            if round % 10 == 0 {
                self.rpc("evm_mine", json!([]));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unreachable!()
    }

    /// The proposer's transactions to the inbox or its Multicall in anvil's blocks, in order (the deployer's
    /// `activate`, from the same account, left out).
    fn proposals_on_l1(&self) -> Vec<Value> {
        self.proposals_up_to(number(&self.rpc("eth_blockNumber", json!([]))))
    }

    /// [`Self::proposals_on_l1`] in blocks up to `head`.
    fn proposals_up_to(&self, head: u64) -> Vec<Value> {
        let proposer = surge_test_utils::dev_key(0).address();
        let mut found = vec![];
        for n in 0..=head {
            let block = self.rpc("eth_getBlockByNumber", json!([format!("0x{n:x}"), true]));
            for tx in block["transactions"].as_array().unwrap() {
                let field = |k: &str| tx[k].as_str().and_then(|v| v.parse::<Address>().ok());
                let activate = alloy_primitives::hex::encode(RealTimeInbox::activateCall::SELECTOR);
                let to_protocol = field("to").is_some_and(|to| to == self.inbox || to == self.multicall);
                if field("from") == Some(proposer) && to_protocol && !tx["input"].as_str().unwrap().contains(&activate)
                {
                    found.push(tx.clone());
                }
            }
        }
        found
    }

    /// Checks what L1 holds against the L2 at `l2`, once it finalized past its head of now: the inbox's
    /// proposals chain from the L2's genesis through its blocks, each block once; every proposer
    /// transaction landed one of them (none reverted, none doubled); no nonce is skipped.
    fn holds_every_block_once(&self, l2: &str) {
        let past = number(&rpc_result(l2, "eth_blockNumber", json!([])));
        let deadline = Instant::now() + Duration::from_secs(120);
        while number(&rpc_result(l2, "eth_getBlockByNumber", json!(["finalized", false]))["number"]) < past {
            assert!(Instant::now() < deadline, "the L2 did not finalize past block {past}");
            std::thread::sleep(Duration::from_millis(500));
        }
        let topic = RealTimeInbox::ProposedAndProved::SIGNATURE_HASH;
        // One range of L1 blocks for both counts (the node goes on proposing meanwhile).
        let l1_head = number(&self.rpc("eth_blockNumber", json!([])));
        let range = json!({ "fromBlock": "0x0", "toBlock": format!("0x{l1_head:x}"), "address": self.inbox, "topics": [topic] });
        let logs = self.rpc("eth_getLogs", json!([range]));
        let hash_at = |n: u64| -> B256 {
            let block = rpc_result(l2, "eth_getBlockByNumber", json!([format!("0x{n:x}"), false]));
            block["hash"].as_str().unwrap().parse().unwrap()
        };
        let (mut parent, mut last) = (hash_at(0), 0u64);
        for log in logs.as_array().unwrap() {
            let topics: Vec<B256> =
                log["topics"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().parse().unwrap()).collect();
            let data: alloy_primitives::Bytes = log["data"].as_str().unwrap().parse().unwrap();
            let event = RealTimeInbox::ProposedAndProved::decode_raw_log(topics, &data).unwrap();
            assert_eq!(event.lastFinalizedBlockHash, parent, "each proposal builds on the one before it");
            let number = event.checkpoint.blockNumber.to::<u64>();
            assert!(number > last, "L2 blocks {}..={number} proposed again", last + 1);
            assert_eq!(event.checkpoint.blockHash, hash_at(number), "the inbox holds the L2's block {number}");
            (parent, last) = (event.checkpoint.blockHash, number);
        }
        assert!(last >= past, "the inbox holds blocks up to {last}, the L2 finalized {past}");
        let sent = self.proposals_up_to(l1_head);
        for tx in &sent {
            let hash = tx["hash"].as_str().unwrap();
            assert_eq!(receipt(&self.l1, hash)["status"], "0x1", "proposer transaction {hash} reverted");
        }
        assert_eq!(sent.len(), logs.as_array().unwrap().len(), "one proposer transaction per proposal");
        // At most the next proposal waits, at the next nonce; nothing behind a gap.
        assert!(self.nonce("pending") <= self.nonce("latest") + 1, "proposer transactions wait: {:?}", self.pending());
        let queued = self.rpc("txpool_content", json!([]))["queued"].clone();
        let from = format!("{:?}", surge_test_utils::dev_key(0).address()).to_lowercase();
        let queued = queued.as_object().unwrap().keys().any(|k| k.to_lowercase() == from);
        assert!(!queued, "a proposer transaction waits behind a nonce gap");
    }
}

#[test]
fn a_sigkill_at_every_step_of_sending_a_proposal_loses_no_proposal_and_sends_none_twice() {
    let l1 = Deployed::new();
    for step in STEPS {
        let log = format!("node-{step}.log");
        let failpoint = format!("proposer.{step}:sigkill");
        let env = [("MAX_BLOCKS_PER_BATCH", "2"), ("SURGE_FAILPOINT", failpoint.as_str())];
        let (mut node, _) = spawn_l2(&l1.out(), l1.dir.path(), &[], &env, &log);
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = node.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "failpoint {step} was not reached: {}", l1.log(&log));
            std::thread::sleep(Duration::from_millis(100));
        };
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed at {step}: {}", l1.log(&log));
        assert!(l1.log(&log).contains(&format!("failpoint proposer.{step} reached")), "{}", l1.log(&log));
    }
    let (_node, l2) = l1.run(&[], "node.log");
    // Meanwhile: one sender with three transactions in flight, a second sender, and an L1 that stops
    // answering for a while.
    let to = (Call(surge_test_utils::dev_key(9).address()), vec![]);
    let sent: Vec<String> = [3, 3, 3, 4]
        .into_iter()
        .map(|who| send_priced(&l2, who, to.clone(), U256::ZERO, 21_000, (10 * GWEI, GWEI)))
        .collect();
    let anvil = l1._anvil.0.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &anvil]).status().unwrap().success());
    std::thread::sleep(Duration::from_secs(4));
    assert!(Command::new("kill").args(["-CONT", &anvil]).status().unwrap().success());
    for tx in &sent {
        assert_eq!(receipt(&l2, tx)["status"], "0x1");
    }
    l1.holds_every_block_once(&l2);
    for tx in &sent {
        let status = rpc_result(&l2, "surge_txStatus", json!({ "txHash": tx }));
        assert_eq!(status["status"], "Executed", "{tx}: {status}");
    }
    // Each restart took up where the one before it stopped: the recorded transaction that was never sent
    // went at its nonce; the one sent was found on L1 (or in its pool); the included one was on L1.
    let after = |step: &str| l1.log(&format!("node-{step}.log"));
    assert!(after("sent").contains("nowhere on L1; sending it at its nonce"), "{}", after("sent"));
    let found = ["already on L1", "its transaction is out already"];
    assert!(found.iter().any(|f| after("included").contains(f)), "{}", after("included"));
    assert!(after("landed").contains("already on L1"), "{}", after("landed"));
    // The README's check, as printed: at most one proposer transaction waits.
    let nonces = super::common::run_readme_cast("## The proposer's L1 transactions: each nonce once", &l1.l1, &l2);
    let nonces: Vec<u64> = nonces.iter().map(|n| n.trim().parse().unwrap()).collect();
    assert!(nonces.len() == 2 && nonces[1] <= nonces[0] + 1 && nonces[0] > 0, "{nonces:?}");
    let all: String = STEPS.iter().map(|s| after(s)).chain([l1.log("node.log")]).collect();
    assert!(!all.contains("was taken by a transaction") && !all.contains("giving its nonce up"), "{all}");
}

#[test]
fn a_dropped_proposal_goes_again_at_its_nonce_and_a_stuck_one_is_replaced_there() {
    let l1 = Deployed::new();
    let (_node, l2) = l1.run(&["--proposer.replace-after", "2", "--proposer.confirmations", "2"], "node.log");
    let fee = |tx: &Value, k: &str| u128::from_str_radix(tx[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();

    // A fee spike: anvil drops the pending proposal when the base fee passes its cap, and the proposer sends
    // it again at the same nonce with a cap over the new base fee.
    l1.rpc("evm_setIntervalMining", json!([0]));
    let pending = l1.pending_proposal();
    let (nonce, cap) = (number(&pending["nonce"]), fee(&pending, "maxFeePerGas"));
    let first = pending["hash"].as_str().unwrap().to_string();
    l1.rpc("anvil_setNextBlockBaseFeePerGas", json!([format!("0x{:x}", cap * 2)]));
    l1.rpc("evm_mine", json!([]));
    assert!(rpc_result(&l1.l1, "eth_getTransactionReceipt", json!([first])).is_null(), "priced out");
    l1.rpc("evm_setIntervalMining", json!([1]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while l1.nonce("latest") <= nonce {
        assert!(Instant::now() < deadline, "nonce {nonce} was not used again: {}", l1.log("node.log"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let landed = l1.proposals_on_l1().into_iter().find(|tx| number(&tx["nonce"]) == nonce).unwrap();
    assert_ne!(landed["hash"].as_str().unwrap(), first);
    assert!(fee(&landed, "maxFeePerGas") > cap * 2, "a cap over the spiked base fee: {landed}");
    eprintln!(
        "dropped at nonce {nonce}: cap {cap} wei, spiked base fee {}, sent again with cap {}",
        cap * 2,
        fee(&landed, "maxFeePerGas")
    );

    // Stuck: every block goes to a competitor paying a wei more and burning all the gas the proposal would
    // leave itself; after two of them the proposal is replaced at its nonce with raised fees and wins. No
    // other proposal goes meanwhile.
    l1.rpc("evm_setIntervalMining", json!([0]));
    let stuck = l1.pending_proposal();
    let (nonce, gas) = (number(&stuck["nonce"]), number(&stuck["gas"]));
    let (cap, tip) = (fee(&stuck, "maxFeePerGas"), fee(&stuck, "maxPriorityFeePerGas"));
    let first = stuck["hash"].as_str().unwrap().to_string();
    let block_gas = number(&l1.rpc("eth_getBlockByNumber", json!(["latest", false]))["gasLimit"]);
    let competitor = surge_test_utils::dev_key(5).address();
    let mut mined = 0;
    while l1.nonce("latest") <= nonce {
        assert!(l1.pending().len() <= 1, "a second proposer transaction while nonce {nonce} waits");
        let waiting = l1.rpc("txpool_content", json!([]))["pending"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.parse::<Address>().is_ok_and(|a| a == competitor));
        if !waiting {
            // An endless loop: it uses its whole gas limit.
            let burner = (Create, vec![0x5b, 0x60, 0x00, 0x56]);
            send_priced(&l1.l1, 5, burner, U256::ZERO, block_gas - gas + 1, (cap + 1, tip + 1));
        }
        l1.rpc("evm_mine", json!([]));
        mined += 1;
        assert!(mined < 30, "nonce {nonce} still waits after {mined} blocks: {}", l1.log("node.log"));
        std::thread::sleep(Duration::from_millis(300));
    }
    let landed = l1.proposals_on_l1().into_iter().find(|tx| number(&tx["nonce"]) == nonce).unwrap();
    assert_ne!(landed["hash"].as_str().unwrap(), first, "the replacement landed");
    let minimum = if landed["type"] == "0x3" { 2 * tip } else { tip * 11 / 10 };
    assert!(fee(&landed, "maxPriorityFeePerGas") >= minimum, "raised by the pools' minimum: {landed}");
    // Replaced after two blocks (`--proposer.replace-after 2`), counted from the head it was sent on, and
    // included in the next: one of them may have passed before interval mining stopped and the test saw it.
    assert!(mined >= 2, "replaced after two blocks, not before: {mined} mined here");
    eprintln!(
        "stuck at nonce {nonce}: tip {tip} wei, replaced with tip {} after {mined} blocks",
        fee(&landed, "maxPriorityFeePerGas")
    );
    // Two confirmations: its blocks are `safe` only once another L1 block is on top of it.
    let proposed = l1.rpc("eth_getTransactionReceipt", json!([landed["hash"]]))["logs"].as_array().unwrap().clone();
    let topic = format!("{:?}", RealTimeInbox::ProposedAndProved::SIGNATURE_HASH);
    let event = proposed.iter().find(|log| log["topics"][0].as_str() == Some(topic.as_str())).unwrap();
    let data: alloy_primitives::Bytes = event["data"].as_str().unwrap().parse().unwrap();
    let last = RealTimeInbox::ProposedAndProved::decode_raw_log([topic.parse::<B256>().unwrap(), B256::ZERO], &data);
    let last = last.unwrap().checkpoint.blockNumber.to::<u64>();
    let safe = || number(&rpc_result(&l2, "eth_getBlockByNumber", json!(["safe", false]))["number"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(safe() < last, "safe at block {} with one confirmation of the proposal up to {last}", safe());
    l1.rpc("evm_mine", json!([]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while safe() < last {
        assert!(Instant::now() < deadline, "safe did not reach {last} at two confirmations");
        std::thread::sleep(Duration::from_millis(100));
    }
    l1.rpc("evm_setIntervalMining", json!([1]));
    l1.holds_every_block_once(&l2);
    let log = l1.log("node.log");
    assert!(log.contains("why=\"dropped\"") && log.contains("why=\"stuck\""), "{log}");
}

#[test]
fn a_pending_proposal_that_would_now_revert_gives_its_nonce_up_to_a_self_transfer() {
    use surge_primitives::bindings::test_receiver::TestMessageReceiver;
    let net = Responding::start();
    let proposer = surge_test_utils::dev_key(0).address();
    // The attacker's round trip goes out in a deferred bundle; anvil mines only when told, and the proposals
    // before it land one by one.
    net.rpc_l1("evm_setIntervalMining", json!([0]));
    let trip = net.send(7, b"flaky-reply");
    let deferred = alloy_primitives::hex::encode(RealTimeInbox::tentativeProposeCall::SELECTOR);
    let deadline = Instant::now() + Duration::from_secs(90);
    let bundle = loop {
        let pending = pending_of(&net.l1, proposer);
        if let Some(tx) = pending.iter().find(|tx| tx["input"].as_str().unwrap().contains(&deferred)) {
            break tx.clone();
        }
        if !pending.is_empty() {
            net.rpc_l1("evm_mine", json!([]));
        }
        assert!(Instant::now() < deadline, "the round trip's bundle was not sent");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Its callback turns off, and a transaction that burns its whole gas limit (an endless loop) leaves the
    // block no room for the bundle.
    let off = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    let turned_off = send_priced(&net.l1, 7, (Call(net.responder), off), U256::ZERO, 100_000, (20 * GWEI, 10 * GWEI));
    let block_gas = number(&net.rpc_l1("eth_getBlockByNumber", json!(["latest", false]))["gasLimit"]);
    let burn = block_gas - number(&bundle["gas"]) + 1;
    send_priced(&net.l1, 8, (Create, vec![0x5b, 0x60, 0x00, 0x56]), U256::ZERO, burn, (10 * GWEI, 5 * GWEI));
    net.rpc_l1("evm_mine", json!([]));
    assert_eq!(receipt(&net.l1, &turned_off)["status"], "0x1", "the callback is off");
    let hash = bundle["hash"].as_str().unwrap();
    assert!(rpc_result(&net.l1, "eth_getTransactionReceipt", json!([hash])).is_null(), "the bundle waits");

    // The proposer gives the bundle's nonce up: a self-transfer replaces it, and lands.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cancel = loop {
        let pending = pending_of(&net.l1, proposer);
        if let Some(tx) = pending.iter().find(|tx| tx["to"].as_str().is_some_and(|to| to.parse() == Ok(proposer))) {
            break tx.clone();
        }
        let log: Vec<String> = net
            .log()
            .lines()
            .filter(|l| l.contains("proposer") || l.contains("doomed") || l.contains("would fail"))
            .map(String::from)
            .collect();
        assert!(Instant::now() < deadline, "no self-transfer replaced the doomed bundle: {}", log.join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(cancel["nonce"], bundle["nonce"], "at the bundle's nonce");
    net.rpc_l1("evm_mine", json!([]));
    assert_eq!(receipt(&net.l1, cancel["hash"].as_str().unwrap())["status"], "0x1");
    net.rpc_l1("evm_setIntervalMining", json!([1]));

    // The attacker is blamed with L1's reason, the rest is proposed again, and the proposer paid for no revert.
    let reason = net.rejected(&trip);
    assert!(reason.contains("failing for now"), "{reason}");
    net.finalized_past_now();
    assert_eq!(net.proposer_reverts(), 0, "no bundle reverted");
    assert!(rpc_result(&net.l1, "eth_getTransactionReceipt", json!([hash])).is_null(), "the bundle never landed");
}
