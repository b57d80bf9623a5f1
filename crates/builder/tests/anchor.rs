//! The anchor is deterministic, passes the L2 body rules and executes on the dev genesis, marking its
//! slots received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::eips::Encodable2718;
use alloy_primitives::{B256, aliases::U48, keccak256};
use surge_builder::{AnchorInput, build_anchor};
use surge_host::{
    ChainSpec, Store,
    execute::{BlockInput, execute_block},
};
use surge_l2_rules::{encode_extra_data, expected_base_fee, validate_body};
use surge_primitives::{Checkpoint, GOLDEN_TOUCH_ADDRESS, L2Predeploys, received_signal_key};

fn input(nonce: u64, base_fee: u64, slots: Vec<B256>) -> AnchorInput {
    AnchorInput {
        chain_id: 763374,
        nonce,
        base_fee,
        l1_checkpoint: Checkpoint {
            blockNumber: U48::from(7),
            blockHash: keccak256("l1 block 7"),
            stateRoot: keccak256("l1 root 7"),
        },
        signal_slots: slots,
    }
}

#[test]
fn the_same_input_gives_the_same_anchor_bytes() {
    let slots = vec![keccak256("a"), keccak256("b")];
    let a = build_anchor(&input(3, 25_000_000, slots.clone())).unwrap();
    let b = build_anchor(&input(3, 25_000_000, slots.clone())).unwrap();
    assert_eq!(a.inner().encoded_2718(), b.inner().encoded_2718());
    assert_ne!(
        a.inner().encoded_2718(),
        build_anchor(&input(3, 25_000_000, vec![slots[1], slots[0]])).unwrap().inner().encoded_2718(),
        "slot order is part of the anchor"
    );
    validate_body(&[a.inner().clone()], &[GOLDEN_TOUCH_ADDRESS], L2Predeploys::for_chain(763374).anchor, 25_000_000)
        .unwrap();
}

#[test]
fn the_anchor_opens_a_dev_l2_block_and_marks_its_slots_received() {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        ChainSpec::from_genesis_file(&surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json")).unwrap();
    let store = Store::open(dir.path(), &spec).unwrap();
    let parent = store.head().unwrap();
    let base_fee = expected_base_fee(spec.chain_id, &parent.header, parent.header.timestamp);
    let slots = vec![keccak256("return slot")];
    let anchor = build_anchor(&input(0, base_fee, slots.clone())).unwrap();
    let block_input = BlockInput {
        timestamp: parent.header.timestamp + 1,
        extra_data: Some(encode_extra_data(50, 0).unwrap()),
        ..Default::default()
    };
    let executed = execute_block(&spec, store.latest_state().unwrap(), &parent, &block_input, vec![anchor]).unwrap();
    assert!(executed.receipts[0].status());
    store.commit_block(executed).unwrap();
    let ss = L2Predeploys::for_chain(spec.chain_id).signal_service;
    let key = received_signal_key(slots[0]);
    let proof = store.proof(1, ss, &[key]).unwrap();
    assert_eq!(proof.storage_proof[0].value, alloy_primitives::U256::from(1), "the slot is marked received");
}
