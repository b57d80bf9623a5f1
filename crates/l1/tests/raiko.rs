//! The Raiko client against a local HTTP double of Raiko's realtime batch API
//! (`POST /v3/proof/batch/realtime`): a proof after polling, an error, `ZKAnyNotDrawn`, a task Raiko lost,
//! malformed JSON, a 500 and a timeout, each ending as documented; and the request body checked field by
//! field against a fixture of Catalyst's request type.
//!
//! The fixture follows `RaikoProofRequest` in Catalyst's `realtime/src/raiko/mod.rs`
//! (NethermindEth/Catalyst @ 3391e36f, snake_case fields, `sources` in the inbox's camelCase, numbers as
//! JSON numbers), with `l2_block_hashes` and the poll that sends empty `sources`/`blobs` (re-sending the
//! full body on "proof not found") as on its `surge-real-time-poc` branch (@ 51f09221).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use alloy_primitives::{B256, Bytes};
use alloy_sol_types::SolValue;
use serde_json::json;
use surge_l1::{
    ProofRequest, Prover, ProverError,
    raiko::{RaikoConfig, RaikoProofType, RaikoProver, RealtimeRequest},
};
use surge_primitives::{Checkpoint, ProofFlag, SubProof, blob::BYTES_PER_BLOB, proposal_tx::expected_proposal};
use surge_test_utils::raiko::{RaikoDouble, error, ok, proof, waiting};

/// A proposal of L2 blocks 7 and 8 with two signal slots and one blob.
fn request() -> ProofRequest {
    let slots = vec![B256::repeat_byte(0x51), B256::repeat_byte(0x52)];
    let blob_hashes = vec![B256::left_padding_from(&[0x01, 0xaa])];
    let proposal = expected_proposal(40, B256::repeat_byte(0x40), 75, &blob_hashes, &slots);
    let mut blob = Box::new([0u8; BYTES_PER_BLOB]);
    blob[..3].copy_from_slice(&[0xde, 0xad, 0x01]);
    ProofRequest {
        l2_blocks: vec![7, 8],
        l2_block_hashes: vec![B256::repeat_byte(7), B256::repeat_byte(8)],
        proposal,
        signal_slots: slots,
        last_finalized_block_hash: B256::repeat_byte(6),
        checkpoint: Checkpoint {
            blockNumber: alloy_primitives::aliases::U48::from(8),
            blockHash: B256::repeat_byte(8),
            stateRoot: B256::repeat_byte(0x88),
        },
        blobs: Arc::new(vec![blob]),
    }
}

fn config(double: &RaikoDouble) -> RaikoConfig {
    RaikoConfig {
        api_key: Some("secret".into()),
        poll_interval: Duration::from_millis(10),
        max_retries: 5,
        timeout: Duration::from_millis(500),
        ..RaikoConfig::new(&double.url, RaikoProofType::Sp1)
    }
}

async fn prove(config: RaikoConfig) -> Result<Bytes, ProverError> {
    RaikoProver::new(config).unwrap().prove(&request()).await
}

#[test]
fn the_body_is_catalyst_s_request_field_by_field() {
    let body = serde_json::to_value(RealtimeRequest::new(&request(), RaikoProofType::Zisk)).unwrap();
    let h = |b: u8| format!("0x{}", format!("{b:02x}").repeat(32));
    let blob = format!("0xdead01{}", "00".repeat(BYTES_PER_BLOB - 3));
    let blob_hash = format!("0x{}01aa", "00".repeat(30));
    let expected = json!({
        "l2_block_numbers": [7, 8],
        "l2_block_hashes": [h(7), h(8)],
        "proof_type": "zisk",
        "max_anchor_block_number": 40,
        "last_finalized_block_hash": h(6),
        "basefee_sharing_pctg": 75,
        "signal_slots": [h(0x51), h(0x52)],
        "sources": [{"isForcedInclusion": false, "blobSlice": {"blobHashes": [blob_hash], "offset": 0, "timestamp": 0}}],
        "blobs": [blob],
        "checkpoint": {"block_number": 8, "block_hash": h(8), "state_root": h(0x88)},
        "blob_proof_type": "proof_of_equivalence",
    });
    assert_eq!(body, expected);
    // The poll: the same, without sources and blobs.
    let poll = serde_json::to_value(RealtimeRequest::new(&request(), RaikoProofType::Zisk).poll()).unwrap();
    let mut expected_poll = expected.clone();
    expected_poll["sources"] = json!([]);
    expected_poll["blobs"] = json!([]);
    assert_eq!(poll, expected_poll);
}

#[tokio::test]
async fn a_proof_after_polling_carries_its_proof_type_s_flag_or_the_mock_flag_in_mock_mode() {
    for mock_mode in [false, true] {
        let double = RaikoDouble::start(vec![waiting("registered"), waiting("work_in_progress"), proof("0xc0ffee")]);
        let proved = prove(RaikoConfig { mock_mode, ..config(&double) }).await.unwrap();
        let sub_proofs = Vec::<SubProof>::abi_decode(&proved).unwrap();
        let flag = if mock_mode { ProofFlag::MOCK_ECDSA } else { ProofFlag::SP1 };
        assert_eq!(sub_proofs.len(), 1);
        assert_eq!((sub_proofs[0].proofBitFlag, sub_proofs[0].data.to_vec()), (flag.bits(), vec![0xc0, 0xff, 0xee]));
        let received = double.received();
        assert_eq!(received.len(), 3, "the full request, then two polls");
        let full = serde_json::to_value(RealtimeRequest::new(&request(), RaikoProofType::Sp1)).unwrap();
        assert_eq!(received[0].body, full);
        for poll in &received[1..] {
            assert_eq!(poll.body["sources"], json!([]));
            assert_eq!(poll.body["blobs"], json!([]));
            assert_eq!(poll.body["l2_block_numbers"], json!([7, 8]));
        }
        assert!(received.iter().all(|r| r.headers.contains(&("x-api-key".into(), "secret".into()))));
    }
}

#[tokio::test]
async fn a_task_raiko_lost_gets_the_full_body_again() {
    let lost = error("proof not found: expired or never submitted");
    let double = RaikoDouble::start(vec![waiting("registered"), lost, waiting("registered"), proof("0x01")]);
    prove(config(&double)).await.unwrap();
    let sent_blobs: Vec<usize> = double.received().iter().map(|r| r.body["blobs"].as_array().unwrap().len()).collect();
    assert_eq!(sent_blobs, [1, 0, 1, 0], "full, poll, full again after \"proof not found\", poll");
}

#[tokio::test]
async fn an_error_a_failed_task_and_zk_any_not_drawn_refuse_at_once() {
    let cases = [
        (error("invalid request: no such block"), "no such block"),
        (ok(json!({"anyhow_error": "prover crashed"})), "prover crashed"),
        (waiting("zk_any_not_drawn"), "ZKAnyNotDrawn"),
        (waiting("cancelled"), "cancelled"),
    ];
    for (answer, said) in cases {
        let double = RaikoDouble::start(vec![answer]);
        match prove(config(&double)).await {
            Err(ProverError::Refused { reason, blocks, .. }) => {
                assert!(reason.contains(said), "{reason}");
                assert_eq!(blocks, [7, 8]);
            }
            other => panic!("{said}: {other:?}"),
        }
        assert_eq!(double.received().len(), 1, "{said}: not asked again");
    }
}

#[tokio::test]
async fn malformed_json_a_500_and_a_timeout_are_tried_again_up_to_the_limit() {
    let slow = (200, proof("0x01").1, Duration::from_millis(800));
    let cases = [
        ((200, "{not json".to_string(), Duration::ZERO), "not a Raiko answer"),
        ((500, "internal error".to_string(), Duration::ZERO), "HTTP 500"),
        (slow, "request failed"),
    ];
    for (answer, said) in cases {
        let double = RaikoDouble::start(vec![answer]);
        match prove(config(&double)).await {
            Err(ProverError::Unavailable { reason, .. }) => {
                assert!(reason.contains("no proof after 5 requests") && reason.contains(said), "{reason}");
            }
            other => panic!("{said}: {other:?}"),
        }
        // The double reads a request the client gave up on only once it is done with the one before.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while double.received().len() < 5 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(double.received().len(), 5, "{said}: the retry limit");
    }
    // A 500 once, then a proof: the proof.
    let double = RaikoDouble::start(vec![(500, String::new(), Duration::ZERO), proof("0x02")]);
    assert!(prove(config(&double)).await.is_ok());
}
