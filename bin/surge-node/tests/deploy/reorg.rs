//! L1 reorgs on anvil: a proposal L1 held and then dropped (`anvil_reorg`) is proposed again and lands,
//! `safe` moving back and forward with it, and every L1 call its L2 transactions made is done on L1.

use alloy_primitives::B256;
use alloy_sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};
use surge_primitives::bindings::{bridge::Bridge, inbox::RealTimeInbox};
use surge_test_utils::rpc_result;

use super::{Responding, common::number, receipt, wait};

/// The L2's block number at `tag`.
fn tag(l2: &str, tag: &str) -> u64 {
    number(&rpc_result(l2, "eth_getBlockByNumber", json!([tag, false]))["number"])
}

/// The first L1 block at or after `from` holding a proposer transaction that proposes L2 block `block`:
/// its number and the transaction's hash.
fn proposing(net: &Responding, from: u64, block: u64) -> Option<(u64, String)> {
    let head = number(&net.rpc_l1("eth_blockNumber", json!([])));
    let topic = format!("{:?}", RealTimeInbox::ProposedAndProved::SIGNATURE_HASH);
    for n in from..=head {
        let logs = net.rpc_l1(
            "eth_getLogs",
            json!([{ "fromBlock": format!("0x{n:x}"), "toBlock": format!("0x{n:x}"), "topics": [topic] }]),
        );
        for log in logs.as_array().unwrap() {
            let data: alloy_primitives::Bytes = log["data"].as_str().unwrap().parse().unwrap();
            let event =
                RealTimeInbox::ProposedAndProved::decode_raw_log([topic.parse::<B256>().unwrap(), B256::ZERO], &data);
            if event.unwrap().checkpoint.blockNumber.to::<u64>() >= block {
                return Some((n, log["transactionHash"].as_str().unwrap().to_string()));
            }
        }
    }
    None
}

#[test]
fn a_proposal_an_l1_reorg_drops_is_proposed_again_and_its_l1_calls_are_done() {
    let net = Responding::start_with(&["--proposer.confirmations", "1"], "", false);
    let l2 = net.l2.clone();
    // A round trip lands on L1 (anvil mining only when told), and `safe` reaches its block.
    net.rpc_l1("evm_setIntervalMining", json!([0]));
    let trip = net.send(8, b"reply");
    let trip_receipt = receipt(&l2, &trip);
    let block = number(&trip_receipt["blockNumber"]);
    let from = number(&net.rpc_l1("eth_blockNumber", json!([])));
    // Blocks are mined only while the proposer has a transaction waiting, and no more once the round trip's
    // proposal is in one: the reorg below takes just that block.
    let mut found = None;
    wait("the round trip's proposal did not land", || {
        found = proposing(&net, from, block);
        if found.is_none() && !super::proposer_pending(&net.l1).is_empty() {
            net.rpc_l1("evm_mine", json!([]));
        }
        found.is_some()
    });
    let (held_in, bundle) = found.unwrap();
    wait("safe did not reach the round trip's block", || tag(&l2, "safe") >= block);
    let head = number(&net.rpc_l1("eth_blockNumber", json!([])));
    assert!(head - held_in < 2, "a reorg of depth 2 at most takes it: head {head}, held in {held_in}");

    // L1 reorgs its block away (anvil drops the transaction) and moves on.
    net.rpc_l1("anvil_reorg", json!([head - held_in + 1, []]));
    assert!(rpc_result(&net.l1, "eth_getTransactionReceipt", json!([bundle])).is_null(), "reorged away");
    net.rpc_l1("evm_mine", json!([]));
    let log = || net.log().lines().filter(|l| l.contains("propos")).collect::<Vec<_>>().join("\n");
    wait(&format!("safe did not move back from {}: {}", tag(&l2, "safe"), log()), || tag(&l2, "safe") < block);

    // It is proposed again and lands; safe moves forward past it.
    net.rpc_l1("evm_setIntervalMining", json!([1]));
    wait("safe did not move forward again", || tag(&l2, "safe") >= block);
    net.finalized_past_now();
    let again = proposing(&net, held_in, block).expect("proposed again");
    assert_ne!(again.1, bundle, "a new transaction");
    // Every message the round trip sent to L1 was processed there.
    let sent = Bridge::MessageSent::SIGNATURE_HASH;
    let logs: Vec<Value> = trip_receipt["logs"].as_array().unwrap().clone();
    let messages: Vec<B256> = logs
        .iter()
        .filter(|log| log["topics"][0].as_str().and_then(|t| t.parse::<B256>().ok()) == Some(sent))
        .map(|log| log["topics"][1].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(!messages.is_empty());
    for hash in messages {
        let call = Bridge::messageStatusCall { msgHash: hash }.abi_encode();
        let to = net.l1_bridge;
        let status = rpc_result(
            &net.l1,
            "eth_call",
            json!([{ "to": to, "data": alloy_primitives::Bytes::from(call) }, "latest"]),
        );
        assert_eq!(number(&status), 2, "message {hash} is DONE on L1");
    }
    assert_eq!(net.proposer_reverts(), 0, "the proposer paid for no revert");
    let log = net.log();
    assert!(log.contains("an L1 reorg took proposals off L1"), "{log}");
    assert!(log.contains("L1 reorg: heads seen before are gone"), "the head tracker counted it: {log}");
}

/// The L1 block L2 block `number` anchors to: its number and hash.
fn anchor_of(l2: &str, number: u64) -> (u64, B256) {
    use surge_primitives::bindings::anchor::Anchor;
    let block = rpc_result(l2, "eth_getBlockByNumber", json!([format!("0x{number:x}"), true]));
    let input: alloy_primitives::Bytes = block["transactions"][0]["input"].as_str().unwrap().parse().unwrap();
    let checkpoint = Anchor::anchorV4WithSignalSlotsCall::abi_decode(&input).unwrap().l1Checkpoint;
    (checkpoint.blockNumber.to::<u64>(), checkpoint.blockHash)
}

#[test]
fn a_queued_proposal_whose_anchor_an_l1_reorg_takes_is_rebuilt_on_a_fresh_anchor_and_lands() {
    // Every L2 block anchors to the L1 head itself, so a reorg of depth 1 takes an anchor.
    let net = Responding::start_with(&["--proposer.confirmations", "1"], "\n[proposals]\nanchor_distance = 0\n", false);
    let l2 = net.l2.clone();
    net.rpc_l1("evm_setIntervalMining", json!([0]));
    net.rpc_l1("evm_mine", json!([]));
    // A transfer on L2 goes into a block anchored to the L1 head; nothing of it reaches L1 yet.
    let to = (alloy_primitives::TxKind::Call(surge_test_utils::dev_key(9).address()), vec![]);
    let tx = super::send_priced(&l2, 3, to, alloy_primitives::U256::from(1), 21_000, (10_000_000_000, 1_000_000_000));
    let block = number(&receipt(&l2, &tx)["blockNumber"]);
    let (anchor, anchor_hash) = anchor_of(&l2, block);
    let head = number(&net.rpc_l1("eth_blockNumber", json!([])));
    assert!(head - anchor < 2, "a reorg of depth 2 at most takes the anchor: head {head}, anchor {anchor}");

    net.rpc_l1("anvil_reorg", json!([head - anchor + 1, []]));
    let now = net.rpc_l1("eth_getBlockByNumber", json!([format!("0x{anchor:x}"), false]));
    assert_ne!(now["hash"].as_str().unwrap().parse::<B256>().unwrap(), anchor_hash, "the anchor is gone");
    net.rpc_l1("evm_setIntervalMining", json!([1]));

    // Its blocks are rebuilt on an anchor L1 has, the transfer goes in again, and it all lands.
    net.finalized_past_now();
    let again = receipt(&l2, &tx);
    assert_eq!(again["status"], "0x1");
    let (anchor, hash) = anchor_of(&l2, number(&again["blockNumber"]));
    let canonical = net.rpc_l1("eth_getBlockByNumber", json!([format!("0x{anchor:x}"), false]));
    assert_eq!(canonical["hash"].as_str().unwrap().parse::<B256>().unwrap(), hash, "anchored to L1's block {anchor}");
    assert_eq!(rpc_result(&l2, "surge_txStatus", json!({ "txHash": tx }))["status"], "Executed");
    assert_eq!(net.proposer_reverts(), 0, "the proposer paid for no revert");
    let log = net.log();
    assert!(log.contains("is no longer the L1's"), "{log}");
}
