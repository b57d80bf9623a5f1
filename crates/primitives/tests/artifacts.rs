//! The compiled artifacts agree with PROTOCOL.md: storage slots the node reads and overrides, and every
//! selector, error and event topic it lists. A contract change that moves any of them fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::json_abi::JsonAbi;
use alloy_primitives::{FixedBytes, hex};
use common::artifact;

fn abi(name: &str) -> JsonAbi {
    serde_json::from_value(artifact(name)["abi"].clone()).unwrap()
}

/// (label, slot, offset) of every storage variable of an artifact.
fn layout(name: &str) -> Vec<(String, String, u64)> {
    artifact(name)["storageLayout"]["storage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["label"].as_str().unwrap().to_string(),
                v["slot"].as_str().unwrap().to_string(),
                v["offset"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn slot_of(name: &str, label: &str) -> (String, u64) {
    let l = layout(name);
    let (_, slot, offset) = l.iter().find(|(n, _, _)| n == label).unwrap_or_else(|| panic!("{name} has no {label}"));
    (slot.clone(), *offset)
}

/// The layout type entry of a storage variable (type keys carry AST ids, so go through the variable).
fn type_entry(name: &str, label: &str) -> serde_json::Value {
    let a = artifact(name);
    let entry = a["storageLayout"]["storage"].as_array().unwrap().iter().find(|v| v["label"] == label).unwrap().clone();
    let ty = entry["type"].as_str().unwrap();
    a["storageLayout"]["types"][ty].clone()
}

fn type_of(name: &str, label: &str) -> String {
    type_entry(name, label)["label"].as_str().unwrap().to_string()
}

#[test]
fn bridge_storage_layout() {
    assert_eq!(slot_of("Bridge", "nextMessageId"), ("251".into(), 8));
    assert_eq!(type_of("Bridge", "nextMessageId"), "uint64");
    assert_eq!(slot_of("Bridge", "messageStatus"), ("252".into(), 0));
    assert_eq!(type_of("Bridge", "messageStatus"), "mapping(bytes32 => enum IBridge.Status)");
    assert_eq!(slot_of("Bridge", "__ctx"), ("253".into(), 0));
    // The context struct: msgHash fills slot 253, `from` and `srcChainId` pack into slot 254.
    let members = type_entry("Bridge", "__ctx")["members"].as_array().unwrap().clone();
    let members: Vec<_> = members
        .iter()
        .map(|m| (m["label"].as_str().unwrap(), m["slot"].as_str().unwrap(), m["offset"].as_u64().unwrap()))
        .collect();
    assert_eq!(members, vec![("msgHash", "0", 0), ("from", "1", 0), ("srcChainId", "1", 20)]);
}

#[test]
fn signal_service_storage_layout() {
    assert_eq!(slot_of("SignalService", "_receivedSignals"), ("253".into(), 0));
    assert_eq!(type_of("SignalService", "_receivedSignals"), "mapping(bytes32 => bool)");
    assert_eq!(slot_of("SignalService", "_checkpoints"), ("254".into(), 0));
    let mapping = type_entry("SignalService", "_checkpoints");
    let value_type = mapping["value"].as_str().unwrap();
    let members =
        artifact("SignalService")["storageLayout"]["types"][value_type]["members"].as_array().unwrap().clone();
    let labels: Vec<_> = members.iter().map(|m| m["label"].as_str().unwrap()).collect();
    assert_eq!(labels, vec!["blockHash", "stateRoot"]);
}

fn assert_function(contract: &str, signature_prefix: &str, selector: &str) {
    let abi = abi(contract);
    let f = abi
        .functions()
        .find(|f| f.signature().starts_with(signature_prefix) && hex::encode(f.selector()) == selector)
        .unwrap_or_else(|| panic!("{contract}: no function {signature_prefix} with selector 0x{selector}"));
    assert_eq!(hex::encode(f.selector()), selector, "{}", f.signature());
}

#[test]
fn selectors_match_protocol() {
    let cases = [
        ("Bridge", "sendMessage(", "1bdb0037"),
        ("Bridge", "processMessage(", "2035065e"),
        ("Bridge", "context(", "d0496d6a"),
        ("Bridge", "hashMessage(", "c012fa77"),
        ("Bridge", "nextMessageId(", "eefbf17e"),
        ("Bridge", "messageStatus(", "3c6cf473"),
        ("test/TestMessageReceiver", "onMessageInvocation(", "7f07c947"),
        ("SignalService", "getSignalSlot(", "91f3f74b"),
        ("SignalService", "sendSignal(", "66ca2bc0"),
        ("SignalService", "isSignalSent(bytes32)", "8e899f80"),
        ("SignalService", "setSignalsReceived(", "2a3158e1"),
        ("SignalService", "saveCheckpoint(", "c9a0b8c8"),
        ("SignalService", "proveSignalReceived(", "910af6ed"),
        ("Anchor", "anchorV4WithSignalSlots(", "cc07826e"),
        ("RealTimeInbox", "propose(", "44732c62"),
        ("RealTimeInbox", "tentativePropose(", "9efa59a5"),
        ("RealTimeInbox", "finalizePropose(", "dd93438b"),
        ("Multicall", "multicall(", "1749e1e3"),
    ];
    for (contract, sig, selector) in cases {
        assert_function(contract, sig, selector);
    }
    // The Message tuple is exactly the 11 fields of PROTOCOL.md §1, in order.
    let send = abi("Bridge").functions().find(|f| f.name == "sendMessage").unwrap().clone();
    assert_eq!(
        send.signature(),
        "sendMessage((uint64,uint64,uint32,address,uint64,address,uint64,address,address,uint256,bytes))"
    );
    let context = abi("Bridge").functions().find(|f| f.name == "context").unwrap().clone();
    assert_eq!(context.outputs[0].selector_type(), "(bytes32,address,uint64)");
}

#[test]
fn errors_match_protocol() {
    let cases = [
        ("Bridge", "B_SIGNAL_NOT_RECEIVED", "a2826398"),
        ("RealTimeInbox", "RequiredSignalNotSent", "92350664"),
        ("RealTimeInbox", "SignalSlotNotSent", "5353f567"),
    ];
    for (contract, name, selector) in cases {
        let abi = abi(contract);
        let e = abi.errors().find(|e| e.name == name).unwrap_or_else(|| panic!("{contract} lacks {name}"));
        assert_eq!(hex::encode(e.selector()), selector, "{}", e.signature());
    }
    assert!(abi("RealTimeInbox").errors().any(|e| e.name == "RequiredSignalsMismatch" && e.inputs.is_empty()));
}

#[test]
fn event_topics_match_protocol() {
    let cases = [
        ("Bridge", "MessageSent", "e33fd33b4f45b95b1c196242240c5b5233129d724b578f95b66ce8d8aae93517"),
        ("SignalService", "SignalSent", "0ad2d108660a211f47bf7fb43a0443cae181624995d3d42b88ee6879d200e973"),
    ];
    for (contract, name, topic) in cases {
        let abi = abi(contract);
        let e = abi.events().find(|e| e.name == name).unwrap();
        assert_eq!(hex::encode(e.selector()), topic, "{}", e.signature());
    }
    // msgHash is the only indexed field of MessageSent: nodes filter on it.
    let sent = abi("Bridge").events().find(|e| e.name == "MessageSent").unwrap().clone();
    assert_eq!(sent.inputs.iter().map(|i| i.indexed).collect::<Vec<_>>(), vec![true, false]);
}

#[test]
fn bindings_agree_with_artifacts() {
    use alloy_sol_types::SolCall;
    use surge_primitives::bindings::{anchor::Anchor, bridge::Bridge};
    let sel = |c: &str, n: &str| -> FixedBytes<4> { abi(c).functions().find(|f| f.name == n).unwrap().selector() };
    assert_eq!(Bridge::sendMessageCall::SELECTOR, sel("Bridge", "sendMessage").0);
    assert_eq!(Anchor::anchorV4WithSignalSlotsCall::SELECTOR, sel("Anchor", "anchorV4WithSignalSlots").0);
}

#[test]
fn l2_contracts_target_shanghai_and_l1_contracts_cancun() {
    for name in ["Bridge", "SignalService", "Resolver", "Anchor"] {
        assert_eq!(artifact(name)["compiler"]["evmVersion"], "shanghai", "{name}");
        let code = artifact(name)["deployedBytecode"]["object"].as_str().unwrap().to_string();
        let code = hex::decode(code).unwrap();
        for (op, what) in
            [(0x5c, "TLOAD"), (0x5d, "TSTORE"), (0x5e, "MCOPY"), (0x49, "BLOBHASH"), (0x4a, "BLOBBASEFEE")]
        {
            assert!(!opcodes(&code).contains(&op), "{name} uses {what}, which the L2 (Shanghai) lacks");
        }
    }
    for name in ["RealTimeInbox", "SurgeVerifier", "MockECDSAVerifier", "Multicall"] {
        assert_eq!(artifact(name)["compiler"]["evmVersion"], "cancun", "{name}");
    }
}

/// The opcodes of `code`, skipping PUSH data.
fn opcodes(code: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    let mut i = 0;
    while i < code.len() {
        let op = code[i];
        out.push(op);
        i += 1;
        if (0x60..=0x7f).contains(&op) {
            i += (op - 0x5f) as usize;
        }
    }
    out
}
