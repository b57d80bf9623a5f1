//! Proofs from Raiko, on anvil. A local double of Raiko's realtime API registers each request, then answers
//! the poll with a proof: the mock verifier's signature over the proposal's commitment, rebuilt from the
//! request body alone (and the anchor's hash from anvil), since in mock mode Raiko's proofs go to the inbox
//! under the mock verifier's flag, as Catalyst does. Round trips settle; a proposal Raiko will not prove
//! (`ZKAnyNotDrawn`) is given up, its blocks rebuilt and proved again.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use alloy_primitives::Address;
use serde_json::json;
use surge_primitives::MockProver;
use surge_test_utils::{dev_key, rpc_result};

use super::{
    Responding,
    common::{Proving, number, proving_raiko},
    receipt, wait,
};

#[test]
fn with_raiko_s_proofs_round_trips_settle_and_a_proposal_raiko_will_not_prove_is_rebuilt() {
    let (proving, refuse): (Proving, _) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let raiko = proving_raiko(proving.clone(), refuse.clone());
    let args = ["--raiko.url", raiko.url.as_str(), "--raiko.poll-interval", "100", "--raiko.proof-type", "sp1"];
    let net = Responding::start_with(&args, "", false);
    let config = std::fs::read_to_string(net.dir.path().join("deployed/surge-node.toml")).unwrap();
    let verifier: Address = config.split("mock_verifier = \"").nth(1).unwrap()[..42].parse().unwrap();
    let l2_chain_id = number(&rpc_result(&net.l2, "eth_chainId", json!([])));
    *proving.lock().unwrap() = Some((net.l1.clone(), MockProver::new(dev_key(1), l2_chain_id, verifier)));
    assert!(net.log().contains("proofs from Raiko"), "{}", net.log());

    // A round trip settles with a proof Raiko gave after a poll.
    let trip = net.send(8, b"reply");
    assert_eq!(receipt(&net.l2, &trip)["status"], "0x1");
    net.finalized_past_now();
    let received = raiko.received();
    assert!(received.iter().any(|r| r.body["blobs"].as_array().unwrap().len() == 1), "a full request");
    assert!(received.iter().any(|r| r.body["blobs"] == json!([])), "a poll");

    // Raiko will not prove the next proposal: it is given up, its blocks rebuilt and proved again.
    refuse.store(true, Ordering::SeqCst);
    let second = net.send(7, b"reply");
    wait("the refusal", || net.log().contains("the prover refused its proof"));
    net.finalized_past_now();
    assert_eq!(receipt(&net.l2, &second)["status"], "0x1", "rebuilt and settled");
    let log = net.log();
    assert!(log.contains("ZKAnyNotDrawn") && log.contains("unwound the unproposed blocks"), "{log}");
    assert_eq!(net.proposer_reverts(), 0, "the proposer paid for no revert");
}
