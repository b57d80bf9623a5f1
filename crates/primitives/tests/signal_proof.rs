//! Storage proofs of the remote signal service, verified by the Solidity RLP/MPT code: a deep state trie
//! built from a real L1 execution, tampered proofs, and tries with embedded (< 32 byte) nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_sol_types::SolValue;
use alloy_trie::{Nibbles, nodes::TrieNode, proof::verify_proof};
use common::{
    Chain, Core, Remote, Tx, account, deploy_core, ether,
    trie::{Proof, prove, rlp_value, trie_with_proofs},
};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    Checkpoint, HopProof, Message,
    bindings::{bridge::Bridge, signal_service::SignalService, test_mpt::TestMPT},
    signal_slot,
    slots::bridge::message_status_key,
};

const L1: u64 = 3151908;
const L2: u64 = 763374;
const L2_BRIDGE: Address = Address::new([0x2b; 20]);
const L2_SS: Address = Address::new([0x25; 20]);

struct World {
    l1: Chain,
    l1_core: Core,
    l2: Chain,
    l2_core: Core,
    syncer: Address,
    message: Message,
    slot: B256,
    proof: Proof,
}

/// An L1 with hundreds of accounts and hundreds of signals, one message sent from L1 to L2, its
/// signal proven against the L1 state root, and an L2 that holds that root as a checkpoint.
fn world() -> World {
    let owner = account(1);
    let mut l1 = Chain::new(L1, SpecId::CANCUN);
    let l1_core = deploy_core(
        &mut l1,
        owner,
        Address::repeat_byte(0x1c),
        Remote { chain_id: L2, bridge: L2_BRIDGE, signal_service: L2_SS },
    );
    for i in 0..400u64 {
        let a = Address::from_word(keccak256(i.to_be_bytes()));
        l1.set_balance(a, U256::from(i + 1) * U256::from(1_000_000_007u64));
    }
    for i in 0..300u64 {
        let app = Address::from_word(keccak256((i + 10_000).to_be_bytes()));
        l1.set_balance(app, ether(1));
        let call = SignalService::sendSignalCall { signal: keccak256(i.to_le_bytes()) };
        l1.exec(Tx::sol(app, l1_core.signal_service, call)).expect_ok();
    }
    let user = account(3);
    l1.set_balance(user, ether(10));
    let m = Message {
        id: 0,
        fee: 0,
        gasLimit: 0,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: user,
        destChainId: L2,
        destOwner: user,
        to: account(44),
        value: ether(1),
        data: Bytes::new(),
    };
    let out =
        l1.exec(Tx::sol(user, l1_core.bridge, Bridge::sendMessageCall { message: m }).value(ether(1))).expect_ok();
    let message = out.decode::<Bridge::sendMessageCall>().sent;
    let slot = signal_slot(L1, l1_core.bridge, message.hash());
    let proof = prove(&l1.db, l1_core.signal_service, slot);

    let syncer = account(2);
    let mut l2 = Chain::new(L2, SpecId::SHANGHAI);
    let l2_core = deploy_core(
        &mut l2,
        owner,
        syncer,
        Remote { chain_id: L1, bridge: l1_core.bridge, signal_service: l1_core.signal_service },
    );
    l2.set_balance(l2_core.bridge, ether(100));
    let mut w = World { l1, l1_core, l2, l2_core, syncer, message, slot, proof };
    let root = w.proof.state_root;
    save_checkpoint(&mut w, 100, root);
    w
}

fn save_checkpoint(w: &mut World, block: u64, state_root: B256) {
    let c = Checkpoint {
        blockNumber: alloy_primitives::aliases::U48::from(block),
        blockHash: keccak256(state_root),
        stateRoot: state_root,
    };
    let call = SignalService::saveCheckpointCall { checkpoint: c.into() };
    w.l2.exec(Tx::sol(w.syncer, w.l2_core.signal_service, call)).expect_ok();
}

fn hop(block: u64, root: B256, account_proof: Vec<Bytes>, storage_proof: Vec<Bytes>) -> Bytes {
    let h = HopProof {
        chainId: L1,
        blockId: block,
        rootHash: root,
        cacheOption: 0,
        accountProof: account_proof,
        storageProof: storage_proof,
    };
    vec![h].abi_encode().into()
}

use SignalService as SS;

/// Errors a rejected proof may end in: the path led elsewhere (hash mismatch), or to another value.
const REJECTED: &[[u8; 4]] = &[
    <SS::MPT_BAD_NODE_HASH as alloy_sol_types::SolError>::SELECTOR,
    <SS::SS_SIGNAL_NOT_RECEIVED as alloy_sol_types::SolError>::SELECTOR,
];

fn good_proof(w: &World) -> Bytes {
    hop(100, w.proof.state_root, w.proof.account_proof.clone(), w.proof.storage_proof.clone())
}

fn prove_call(w: &mut World, signal: B256, proof: Bytes) -> common::Outcome {
    let call = SignalService::proveSignalReceivedCall { chainId: L1, app: w.l1_core.bridge, signal, proof };
    w.l2.view(Tx::sol(account(3), w.l2_core.signal_service, call))
}

#[test]
fn deep_trie_proof_verifies_in_rust_and_solidity() {
    let mut w = world();
    // The proofs are deep: hundreds of accounts and slots put the leaves at least three levels down.
    assert!(w.proof.account_proof.len() >= 3, "account proof depth {}", w.proof.account_proof.len());
    assert!(w.proof.storage_proof.len() >= 3, "storage proof depth {}", w.proof.storage_proof.len());
    // alloy-trie agrees the proofs are valid (so the Solidity side is checked against a reference).
    let account_key = Nibbles::unpack(keccak256(w.l1_core.signal_service));
    let acc = w.l1.db.cache.accounts[&w.l1_core.signal_service].info.clone();
    let trie_account = alloy_trie::TrieAccount {
        nonce: acc.nonce,
        balance: acc.balance,
        storage_root: w.proof.storage_root,
        code_hash: acc.code_hash,
    };
    verify_proof(w.proof.state_root, account_key, Some(alloy_rlp::encode(trie_account)), &w.proof.account_proof)
        .unwrap();
    let value = rlp_value(U256::from_be_bytes(w.message.hash().0));
    verify_proof(w.proof.storage_root, Nibbles::unpack(keccak256(w.slot)), Some(value), &w.proof.storage_proof)
        .unwrap();

    // The ABI helper and the Rust encoding agree.
    let h = HopProof {
        chainId: L1,
        blockId: 100,
        rootHash: w.proof.state_root,
        cacheOption: 0,
        accountProof: w.proof.account_proof.clone(),
        storageProof: w.proof.storage_proof.clone(),
    };
    let helper = w.l2.read(w.l2_core.signal_service, SignalService::encodeHopProofsCall { hops: vec![h] });
    assert_eq!(helper, good_proof(&w));

    let (signal, proof) = (w.message.hash(), good_proof(&w));
    prove_call(&mut w, signal, proof).expect_ok();

    // And the bridge accepts the message through the proof path.
    let (m, proof) = (w.message.clone(), good_proof(&w));
    w.l2.exec(Tx::sol(m.destOwner, w.l2_core.bridge, Bridge::processMessageCall { message: m.clone(), proof }))
        .expect_ok();
    assert_eq!(w.l2.storage(w.l2_core.bridge, U256::from_be_bytes(message_status_key(m.hash()).0)), U256::from(2));
    assert_eq!(w.l2.balance(account(44)), ether(1));
}

#[test]
fn tampered_proofs_fail() {
    let mut w = world();
    let p = w.proof.clone();
    let signal = w.message.hash();

    // 1. Wrong value: the leaf claims another value (its hash no longer matches its parent).
    let mut storage = p.storage_proof.clone();
    let mut leaf = storage.last().unwrap().to_vec();
    let n = leaf.len();
    leaf[n - 1] ^= 0x01;
    *storage.last_mut().unwrap() = leaf.into();
    prove_call(&mut w, signal, hop(100, p.state_root, p.account_proof.clone(), storage))
        .expect_revert::<SS::MPT_BAD_NODE_HASH>();
    // ...or the right proof is offered for a signal that was never sent.
    let proof = good_proof(&w);
    prove_call(&mut w, keccak256("never sent"), proof).expect_revert_among(REJECTED);

    // 2. Wrong slot: a valid proof of another slot of the same signal service.
    let other_signal = keccak256(5u64.to_le_bytes());
    let other_app = Address::from_word(keccak256(10_005u64.to_be_bytes()));
    let other = prove(&w.l1.db, w.l1_core.signal_service, signal_slot(L1, other_app, other_signal));
    assert!(!other.storage_proof.is_empty());
    prove_call(&mut w, signal, hop(100, p.state_root, p.account_proof.clone(), other.storage_proof))
        .expect_revert_among(REJECTED);

    // 3. Truncated proofs.
    let mut short = p.storage_proof.clone();
    short.pop();
    prove_call(&mut w, signal, hop(100, p.state_root, p.account_proof.clone(), short))
        .expect_revert::<SS::MPT_PROOF_TOO_SHORT>();
    let mut short = p.account_proof.clone();
    short.pop();
    prove_call(&mut w, signal, hop(100, p.state_root, short, p.storage_proof.clone()))
        .expect_revert::<SS::MPT_PROOF_TOO_SHORT>();

    // 4. A proof against another state root: the L1 moved on, its new root is checkpointed at block 101,
    // and the old proof is submitted against it.
    w.l1.set_balance(account(77), ether(5));
    let newer = prove(&w.l1.db, w.l1_core.signal_service, w.slot);
    assert_ne!(newer.state_root, p.state_root);
    save_checkpoint(&mut w, 101, newer.state_root);
    prove_call(&mut w, signal, hop(101, newer.state_root, p.account_proof.clone(), p.storage_proof.clone()))
        .expect_revert::<SS::MPT_BAD_NODE_HASH>();
    // The new proof against the new root is fine.
    prove_call(&mut w, signal, hop(101, newer.state_root, newer.account_proof, newer.storage_proof)).expect_ok();

    // 5. A root that is not the checkpoint's, an unknown block and an empty proof all fail.
    prove_call(&mut w, signal, hop(100, newer.state_root, p.account_proof.clone(), p.storage_proof.clone()))
        .expect_revert::<SignalService::SS_INVALID_PROOF>();
    prove_call(&mut w, signal, hop(555, p.state_root, p.account_proof.clone(), p.storage_proof.clone()))
        .expect_revert::<SignalService::SS_CHECKPOINT_NOT_FOUND>();
    prove_call(&mut w, signal, Bytes::new()).expect_revert::<SignalService::SS_SIGNAL_NOT_RECEIVED>();

    // 6. The proof of another account's storage (the L1 bridge's) does not count.
    let bridge_proof = prove(&w.l1.db, w.l1_core.bridge, B256::with_last_byte(0));
    prove_call(&mut w, signal, hop(100, p.state_root, bridge_proof.account_proof, p.storage_proof.clone()))
        .expect_revert_among(REJECTED);

    // The bridge turns any of these into B_SIGNAL_NOT_RECEIVED and leaves the message NEW.
    let m = w.message.clone();
    let bad = hop(100, p.state_root, p.account_proof.clone(), vec![]);
    w.l2.exec(Tx::sol(m.destOwner, w.l2_core.bridge, Bridge::processMessageCall { message: m.clone(), proof: bad }))
        .expect_revert::<Bridge::B_SIGNAL_NOT_RECEIVED>();
    assert_eq!(w.l2.storage(w.l2_core.bridge, U256::from_be_bytes(message_status_key(m.hash()).0)), U256::ZERO);
}

/// Whether any node of `proof` refers to a child by embedding it (an RLP node shorter than 32 bytes).
fn has_embedded_child(proof: &[Bytes]) -> bool {
    proof.iter().any(|node| match TrieNode::decode(&mut &node[..]).unwrap() {
        TrieNode::Branch(b) => b.stack.iter().any(|c| !c.is_hash()),
        TrieNode::Extension(e) => !e.child.is_hash(),
        _ => false,
    })
}

#[test]
fn embedded_nodes_are_followed() {
    // Short keys with shared prefixes and one-byte values: most leaves (and some branches) are embedded
    // in their parent instead of being hashed.
    let mut leaves = BTreeMap::new();
    for i in 0..200u16 {
        let key = vec![0x12, (i / 16) as u8, (i % 16) as u8 * 17];
        leaves.insert(key, vec![(i % 120) as u8 + 1]);
    }
    leaves.insert(vec![0x80, 0x00, 0x01], vec![0x42; 40]); // a long value: its leaf is hashed
    let keys: Vec<Vec<u8>> = leaves.keys().cloned().collect();
    let absent = [vec![0x12, 0x00, 0x05], vec![0x13, 0x00, 0x00], vec![0x80, 0x00, 0x02]];
    let targets: Vec<Vec<u8>> = keys.iter().chain(absent.iter()).cloned().collect();
    let (root, proofs) = trie_with_proofs(&leaves, &targets);

    let mut l2 = Chain::new(L2, SpecId::SHANGHAI);
    let mpt = l2.deploy_raw(account(1), "test/TestMPT", &[]);
    let mut embedded = 0;
    let mut listed_separately = 0;
    for (key, proof) in targets.iter().zip(&proofs) {
        embedded += usize::from(has_embedded_child(proof));
        // alloy-trie's retainer also lists embedded nodes as proof elements of their own; geth's
        // eth_getProof leaves them out. The verifier must accept both shapes.
        let geth_style: Vec<Bytes> = proof.iter().filter(|n| n.len() >= 32).cloned().collect();
        listed_separately += usize::from(geth_style.len() != proof.len());
        let want = leaves.get(key).cloned().unwrap_or_default();
        for p in [proof.clone(), geth_style.clone()] {
            let got = l2.read(mpt, TestMPT::getCall { key: key.clone().into(), proof: p, root });
            assert_eq!(got.to_vec(), want, "key {key:?}");
        }
        verify_proof(root, Nibbles::unpack(key), leaves.get(key).cloned(), &geth_style).unwrap();
    }
    assert!(listed_separately > 0, "no proof listed an embedded node separately");
    assert!(embedded > 100, "the trie must exercise embedded nodes ({embedded} proofs had one)");

    // Tampering with an embedded leaf changes its parent's hash.
    let key = &targets[3];
    let mut proof = proofs[3].clone();
    let last = proof.last().unwrap().to_vec();
    let pos = last.iter().rposition(|&b| b == leaves[key][0]).unwrap();
    let mut forged = last.clone();
    forged[pos] ^= 0x7f;
    *proof.last_mut().unwrap() = forged.into();
    let out = l2.view(Tx::sol(account(3), mpt, TestMPT::getCall { key: key.clone().into(), proof, root }));
    assert!(!out.is_success(), "forged embedded leaf accepted");

    // Garbage instead of RLP fails cleanly.
    let junk = vec![Bytes::from_static(&[0xff, 0xff, 0xff])];
    let out = l2.view(Tx::sol(
        account(3),
        mpt,
        TestMPT::getCall { key: key.clone().into(), proof: junk, root: keccak256([0xff, 0xff, 0xff]) },
    ));
    assert!(!out.is_success());
}

/// The gas a Merkle proof adds to `processMessage` over the fast path, per proof node, for the node's
/// proof allowance: measured here on this world's proof, printed, and bounded.
#[test]
fn proof_verification_gas_per_node() {
    let mut w = world();
    let m = w.message.clone();
    let nodes = w.proof.account_proof.len() + w.proof.storage_proof.len();
    let bytes: usize = w.proof.account_proof.iter().chain(&w.proof.storage_proof).map(|n| n.len()).sum();
    let proof = good_proof(&w);
    let call = Bridge::processMessageCall { message: m.clone(), proof };
    let proved = w.l2.view(Tx::sol(m.destOwner, w.l2_core.bridge, call)).expect_ok().gas_used();

    let slot = w.slot;
    let mark = SignalService::setSignalsReceivedCall { slots: vec![slot] };
    w.l2.exec(Tx::sol(w.syncer, w.l2_core.signal_service, mark)).expect_ok();
    let call = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() };
    let fast = w.l2.view(Tx::sol(m.destOwner, w.l2_core.bridge, call)).expect_ok().gas_used();

    let per_node = (proved - fast) / nodes as u64;
    let avg = (bytes / nodes) as u64;
    println!("proof of {nodes} nodes ({bytes} bytes): {} gas over the fast path, {per_node} per node", proved - fast);
    // surge-l1's default allowance (BundleLimits::proof_gas_per_message, 1,200,000 per message) covers 16
    // full 532-byte branch nodes, counting every byte above this proof's average at a generous 40 gas
    // (calldata is 16, copying and hashing a few more).
    let full_node = per_node + (532 - avg) * 40;
    assert!(full_node * 16 < 1_200_000, "{per_node} gas per node of {avg} bytes, {full_node} for a full one");
}
