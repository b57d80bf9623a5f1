//! User ops end to end on `--dev`: the README's deposit (cast only) credited by a relay in the first block of
//! its proposal while a second user sends at two pending nonces and RPC load runs; every refusal with its
//! reason and nothing queued; an op and a swap in one proposal or two; ops queued when the node is killed
//! run once after the restart, and ids keep growing; a hundred ops through the typed client settle in order.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, Bytes, U256};
use serde_json::{Value, json};
use surge_test_utils::{
    cast, rpc_result,
    user_ops::{
        DEV_FACTORY, DEV_L1_BRIDGE, DEV_L1_CHAIN_ID, DEV_PROPOSER, L1_GAS_PAYMENT, RELAY_FEE, batch, call, deposit,
        dev_deposit, fund, now, pay, send_user_op, sent_id, settled, user_op_status, wallet_of,
    },
};

use super::{
    KEY1,
    common::{DevNode, number, run_readme_script},
    statuses::{load, send_swap},
};

/// The dev network's relayer (the dev mnemonic's account 10).
const RELAYER: &str = "0xbcd4042de499d14e55001ccbb24a551f3b954096";
const ETHER: u128 = 1_000_000_000_000_000_000;

/// A new owner with a funded wallet (not deployed yet) on the L1 at `l1`, the node at `l2` having seen it.
fn new_owner(l1: &str, l2: &str) -> (PrivateKeySigner, Address) {
    let owner = PrivateKeySigner::random();
    let wallet = wallet_of(l1, DEV_FACTORY, owner.address());
    fund(l1, l2, KEY1, wallet, "5ether");
    (owner, wallet)
}

fn balance(rpc: &str, who: Address) -> U256 {
    cast(&["balance", &who.to_string(), "--rpc-url", rpc]).trim().parse().unwrap()
}

/// A deposit of `value` from `wallet` to a fresh L2 account, signed by `owner` at `nonce`: the calldata and
/// the account.
fn fresh_deposit(owner: &PrivateKeySigner, wallet: Address, nonce: u64, value: U256) -> (Bytes, Address) {
    let to = PrivateKeySigner::random().address();
    (batch(owner, wallet, DEV_L1_CHAIN_ID, &dev_deposit(wallet, to, value), nonce, now() + 600), to)
}

#[test]
fn the_readme_deposit_is_relayed_in_the_first_block_of_its_proposal_while_others_send_and_ask() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let l2 = node.l2.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let hammering = load(&l2, stop.clone());
    // A second user's transfers at two pending nonces, alongside.
    let other = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    let transfers: Vec<String> = ["0", "1"]
        .map(|nonce| {
            let send = ["send", "0x000000000000000000000000000000000000dEaD", "--value", "1gwei", "--nonce", nonce];
            cast(&[&send[..], &["--private-key", other, "--rpc-url", &l2, "--async"]].concat())
        })
        .into();

    let out = run_readme_script(
        "## An L1 call that lands on L2 in the same proposal",
        &[("http://127.0.0.1:8545", &node.l1), ("http://127.0.0.1:8547", &l2)],
    );
    let lines: Vec<&str> = out.lines().collect();
    let status: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(status["status"], "Executed", "{out}");
    // The owner (dev account 9) had 10,000 ether on L2: one more now.
    assert_eq!(lines[lines.len() - 1], "10001000000000000000000", "{out}");

    // Its block: the slot in the anchor (the proposal's first block), and the relay after it.
    let block_number = status["l2_block_number"].as_u64().unwrap();
    let block = rpc_result(&l2, "eth_getBlockByNumber", json!([format!("{block_number:#x}"), true]));
    let txs = block["transactions"].as_array().unwrap();
    let anchor = txs[0]["input"].as_str().unwrap();
    assert!(anchor.starts_with("0xcc07826e"), "the anchor first: {block}");
    let relay = txs.last().unwrap();
    assert_eq!(relay["from"].as_str().unwrap().to_lowercase(), RELAYER, "{block}");
    assert!(relay["input"].as_str().unwrap().starts_with("0x2035065e"), "processMessage: {relay}");
    let receipt = rpc_result(&l2, "eth_getTransactionReceipt", json!([relay["hash"]]));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let slots = cast(&["calldata-decode", "anchorV4WithSignalSlots((uint48,bytes32,bytes32),bytes32[])", anchor]);
    assert!(slots.lines().nth(1).is_some_and(|l| l.len() > 4), "a slot in the anchor: {slots}");
    // The proposal landed on L1 with it; both status methods agree.
    let l1_receipt = rpc_result(&node.l1, "eth_getTransactionReceipt", json!([status["l1_tx_hash"]]));
    assert_eq!(l1_receipt["status"], "0x1");
    // A fresh node: the README's op is op 1.
    let id = 1;
    let by_tx_status = rpc_result(&l2, "surge_txStatus", json!({ "userOpId": id }));
    assert_eq!(by_tx_status, rpc_result(&l2, "surge_userOpStatus", json!([id])));
    for tx in &transfers {
        let receipt = rpc_result(&l2, "eth_getTransactionReceipt", json!([tx]));
        assert_eq!(receipt["status"], "0x1", "the other user's transfers went in: {receipt}");
    }
    stop.store(true, Ordering::Relaxed);
    let (answered, failed) = hammering.join().unwrap();
    assert!(answered > 50 && failed == 0, "load: {answered} answered, {failed} not");
    assert!(super::common::metric(&node.metrics, "surge_user_ops_submitted_total{outcome=\"queued\"}") >= 1.0);
}

#[test]
fn every_bad_user_op_is_refused_with_its_reason_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let (l1, l2) = (node.l1.as_str(), node.l2.as_str());
    let (owner, wallet) = new_owner(l1, l2);
    let to = Address::repeat_byte(0x42);
    let deadline = now() + 600;
    let refused = |calldata: &Bytes, submitter: Address, expect: &str| {
        let response = send_user_op(l2, submitter, calldata);
        let error = sent_id(&response).unwrap_err();
        assert!(error.starts_with("-32000: user op refused: ") && error.contains(expect), "{expect}: {error}");
    };

    // Malformed requests: invalid params, by name or as one-element array.
    for bad in [json!({"submitter": "0x12", "calldata": "0x"}), json!({"calldata": "0x"}), json!([]), json!(7)] {
        let response = surge_test_utils::json_rpc(l2, "surge_sendUserOp", bad.clone());
        assert_eq!(response["error"]["code"], -32602, "{bad}: {response}");
    }
    refused(&Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]), wallet, "calldata is not executeBatch");
    // Signed by another key: not this owner's wallet.
    let stranger = PrivateKeySigner::random();
    let ops = dev_deposit(wallet, to, U256::from(ETHER));
    refused(&batch(&stranger, wallet, DEV_L1_CHAIN_ID, &ops, 0, deadline), wallet, "is not the factory's wallet");
    // Expired, or about to.
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &ops, 0, now() - 10), wallet, "expired");
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &ops, 0, now() + 5), wallet, "expired");
    // A call that reverts: the bridge wants value + fee.
    let short = vec![call(DEV_L1_BRIDGE, U256::from(1), deposit_data(wallet, to)), ops[1].clone()];
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &short, 0, deadline), wallet, "reverts on L1");
    // Not paying the proposer for its L1 gas.
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &ops[..1], 0, deadline), wallet, "it pays the proposer");
    let too_little = vec![ops[0].clone(), pay(DEV_PROPOSER, U256::from(1))];
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &too_little, 0, deadline), wallet, "it pays the proposer");
    // A message the node cannot relay (gasLimit 0), or whose fee does not pay the relay.
    let no_gas = vec![deposit(DEV_L1_BRIDGE, wallet, to, U256::from(ETHER), 0, 0), ops[1].clone()];
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &no_gas, 0, deadline), wallet, "has gasLimit 0");
    let cheap = vec![deposit(DEV_L1_BRIDGE, wallet, to, U256::from(ETHER), 1, 1_000_000), ops[1].clone()];
    refused(&batch(&owner, wallet, DEV_L1_CHAIN_ID, &cheap, 0, deadline), wallet, "offers a fee of 1 wei");

    // Nothing was queued: the first good op is op 1; the same batch again while it waits is refused.
    let good = batch(&owner, wallet, DEV_L1_CHAIN_ID, &ops, 0, deadline);
    assert_eq!(sent_id(&send_user_op(l2, wallet, &good)), Ok(1));
    refused(&good, wallet, "");
    assert_eq!(settled(l2, 1)["status"], "Executed");
    assert_eq!(balance(l2, to), U256::from(ETHER));
    // Replayed once it ran: the wallet's nonce moved on.
    refused(&good, wallet, "WrongNonce");
    assert_eq!(user_op_status(l2, 2)["error"]["code"], -32001, "no op 2");
    // The next nonce is taken, and is op 2.
    let next = batch(&owner, wallet, DEV_L1_CHAIN_ID, &dev_deposit(wallet, to, U256::from(ETHER)), 1, deadline);
    assert_eq!(sent_id(&send_user_op(l2, wallet, &next)), Ok(2));
    assert_eq!(settled(l2, 2)["status"], "Executed");
    assert_eq!(balance(l2, to), U256::from(2 * ETHER));
    // An op that sends no L1→L2 message runs on L1 only.
    let l1_only = [pay(to, U256::from(ETHER)), pay(DEV_PROPOSER, U256::from(L1_GAS_PAYMENT))];
    let l1_only = batch(&owner, wallet, DEV_L1_CHAIN_ID, &l1_only, 2, deadline);
    assert_eq!(sent_id(&send_user_op(l2, wallet, &l1_only)), Ok(3));
    assert_eq!(settled(l2, 3)["status"], "Executed");
    assert_eq!(balance(l1, to), U256::from(ETHER), "paid on L1");
    assert_eq!(balance(l2, to), U256::from(2 * ETHER), "nothing more on L2");
}

/// The bridge's `sendMessage` of a deposit to `to` (1 ether, the dev relay fee and gas).
fn deposit_data(wallet: Address, to: Address) -> Bytes {
    deposit(DEV_L1_BRIDGE, wallet, to, U256::from(ETHER), RELAY_FEE, 1_000_000).data
}

#[test]
fn an_op_and_a_swap_settle_in_one_proposal_when_the_op_comes_first_and_in_two_when_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let (l1, l2) = (node.l1.as_str(), node.l2.as_str());
    let (owner, wallet) = new_owner(l1, l2);
    let receipt_block = |tx: &str| number(&rpc_result(l2, "eth_getTransactionReceipt", json!([tx]))["blockNumber"]);
    let mined = |tx: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while rpc_result(l2, "eth_getTransactionReceipt", json!([tx])).is_null() {
            assert!(Instant::now() < deadline, "{tx} not mined");
            std::thread::sleep(Duration::from_millis(100));
        }
        receipt_block(tx)
    };

    // The op first, then the swap: planned after it, in its bundle.
    let (first, _) = fresh_deposit(&owner, wallet, 0, U256::from(ETHER));
    let op = sent_id(&send_user_op(l2, wallet, &first)).unwrap();
    let swap = send_swap(l2);
    let swap_block = mined(&swap);
    let op_status = settled(l2, op);
    assert_eq!(op_status["status"], "Executed", "{op_status}");
    assert!(op_status["l2_block_number"].as_u64().unwrap() <= swap_block, "{op_status} / swap in {swap_block}");

    // The swap first, then the op: the op waits for the proposal after the swap's.
    let swap = send_swap(l2);
    let (second, _) = fresh_deposit(&owner, wallet, 1, U256::from(ETHER));
    let op = sent_id(&send_user_op(l2, wallet, &second)).unwrap();
    let swap_block = mined(&swap);
    let op_status = settled(l2, op);
    assert_eq!(op_status["status"], "Executed", "{op_status}");
    assert!(op_status["l2_block_number"].as_u64().unwrap() > swap_block, "{op_status} / swap in {swap_block}");
    assert_ne!(op_status["proposal_id"], json!(null));
    let deadline = Instant::now() + Duration::from_secs(60);
    while rpc_result(l2, "surge_txStatus", json!({ "txHash": swap }))["status"] != "Executed" {
        assert!(Instant::now() < deadline, "the second swap settles");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ops_queued_when_the_node_is_killed_run_once_after_the_restart_and_ids_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = DevNode::start(dir.path());
    let l1 = node.l1.clone();
    let owners: Vec<(PrivateKeySigner, Address)> = (0..3).map(|_| new_owner(&l1, &node.l2)).collect();
    let mut sent = vec![];
    for (owner, wallet) in &owners {
        for nonce in 0..2 {
            let (calldata, to) = fresh_deposit(owner, *wallet, nonce, U256::from(ETHER));
            let id = sent_id(&send_user_op(&node.l2, *wallet, &calldata)).unwrap();
            sent.push((id, to));
        }
    }
    let ids: Vec<u64> = sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<_>>(), "ids in order");
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    drop(node);

    let node = DevNode::start(dir.path());
    for (id, to) in &sent {
        assert_eq!(settled(&node.l2, *id)["status"], "Executed", "op {id}");
        assert_eq!(balance(&node.l2, *to), U256::from(ETHER), "op {id} credited once");
    }
    // Each wallet ran each of its batches once.
    for (_, wallet) in &owners {
        let nonce = cast(&["call", &wallet.to_string(), "nonce()(uint256)", "--rpc-url", &node.l1]);
        assert_eq!(nonce.trim(), "2", "{wallet}");
    }
    let (owner, wallet) = &owners[0];
    let (calldata, _) = fresh_deposit(owner, *wallet, 2, U256::from(ETHER));
    assert_eq!(sent_id(&send_user_op(&node.l2, *wallet, &calldata)), Ok(7), "ids go on after the restart");
}

#[test]
fn a_hundred_ops_through_the_typed_client_settle_in_order_across_proposals() {
    use surge_rpc_ext::{SurgeApiClient, UserOpRequest};
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(dir.path());
    let l1 = node.l1.clone();
    let owners: Vec<(PrivateKeySigner, Address)> = (0..10).map(|_| new_owner(&l1, &node.l2)).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(jsonrpsee::ws_client::WsClientBuilder::default().build(&node.l2_ws)).unwrap();
    let mut sent = vec![];
    for nonce in 0..10 {
        for (owner, wallet) in &owners {
            let (calldata, to) = fresh_deposit(owner, *wallet, nonce, U256::from(1_000_000u64));
            let id = rt.block_on(client.send_user_op(UserOpRequest { submitter: *wallet, calldata })).unwrap();
            sent.push((id, to));
        }
    }
    let ids: Vec<u64> = sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
    let mut blocks = vec![];
    for (id, to) in &sent {
        let status = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(180);
            loop {
                let status = client.user_op_status(*id).await.unwrap();
                if status.status.is_final() {
                    return status;
                }
                assert!(Instant::now() < deadline, "op {id}: {status:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        assert_eq!(status.status, surge_sync::TxStatus::Executed, "op {id}");
        blocks.push(status.details.l2_block_number.unwrap());
        assert_eq!(balance(&node.l2, *to), U256::from(1_000_000u64), "op {id}");
    }
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]), "in order: {blocks:?}");
    let distinct: std::collections::BTreeSet<u64> = blocks.iter().copied().collect();
    assert!(distinct.len() > 1, "across proposals: {blocks:?}");
}
