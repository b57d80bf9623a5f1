//! Executing and storing blocks: receipts, state, roots against a from-scratch recomputation, restart,
//! unwind and replay, proofs at the head and at earlier blocks, and a foreign data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use common::{TestChain, key, mapping_slot};
use revm::DatabaseRef;
use surge_host::{ChainSpec, Store, StoreError};
use surge_primitives::bindings::test_ephemeral::Ephemeral;

/// Commits the common workload; returns the StorageLogs address.
fn busy_chain(chain: &mut TestChain) -> Address {
    let w = common::workload(chain);
    for txs in w.blocks {
        chain.block(txs);
    }
    w.app
}

#[test]
fn blocks_execute_and_roots_match_a_full_recomputation() {
    let mut chain = TestChain::new();
    let genesis = chain.store.head().unwrap();
    assert_eq!(genesis.header.number, 0);
    assert_eq!(genesis.header.state_root, chain.full_state_root(), "genesis root");

    let app = busy_chain(&mut chain);
    for n in 1..=4 {
        let header = chain.store.header(n).unwrap().unwrap();
        let receipts = chain.store.receipts(n).unwrap().unwrap();
        let body = chain.store.body(n).unwrap().unwrap();
        assert_eq!(receipts.len(), body.transactions.len());
        assert_eq!(header.header.gas_used, receipts.last().map(|r| r.cumulative_gas_used()).unwrap_or(0));
    }
    assert_eq!(chain.store.head().unwrap().header.state_root, chain.full_state_root());

    // Receipts: the storage block has 20 successes with one log each and a failure without logs.
    let receipts = chain.store.receipts(3).unwrap().unwrap();
    assert!(receipts[..20].iter().all(|r| r.status() && r.logs().len() == 1));
    assert!(!receipts[20].status() && receipts[20].logs().is_empty());

    let state = chain.store.latest_state().unwrap();
    assert_eq!(state.storage_ref(app, U256::ZERO).unwrap(), U256::ZERO, "cleared");
    let slot = |k: u64| U256::from_be_bytes(mapping_slot(k).0);
    assert_eq!(state.storage_ref(app, slot(7)).unwrap(), U256::from(22));
    assert_eq!(state.storage_ref(app, slot(2)).unwrap(), U256::ZERO, "cleared");
    assert_eq!(state.storage_ref(app, slot(99)).unwrap(), U256::ZERO, "reverted write");
    // The CREATE2 child keeps its storage; the one destroyed in its creating transaction is gone.
    let child = |salt: u8| app.create2(B256::repeat_byte(salt), keccak256(Ephemeral::BYTECODE.as_ref()));
    assert_eq!(state.storage_ref(child(1), U256::ZERO).unwrap(), U256::from(42));
    assert_eq!(state.basic_ref(child(1)).unwrap().unwrap().balance, U256::from(77));
    assert!(state.basic_ref(child(2)).unwrap().is_none(), "destroyed in the creating transaction");
    assert_eq!(state.storage_ref(child(2), U256::ZERO).unwrap(), U256::ZERO);
    let receipts = chain.store.receipts(4).unwrap().unwrap();
    assert!(receipts.iter().all(|r| r.status()));
    let tx = chain.store.body(2).unwrap().unwrap().transactions[0].clone();
    let loc = chain.store.transaction_location(*tx.hash()).unwrap().unwrap();
    assert_eq!((loc.block, loc.index), (2, 0));
}

#[test]
fn restart_resumes_from_disk() {
    let mut chain = TestChain::new();
    busy_chain(&mut chain);
    let head = chain.store.head().unwrap();
    let chain = chain.reopen();
    assert_eq!(chain.store.head().unwrap(), head);
    assert_eq!(chain.full_state_root(), head.header.state_root);
}

#[test]
fn a_datadir_of_another_genesis_is_refused() {
    let TestChain { dir, store, .. } = TestChain::new();
    drop(store);
    let mut other = common::genesis();
    other.timestamp += 1;
    let spec = ChainSpec::from_genesis(other).unwrap();
    let err = Store::open(dir.unwrap().path(), &spec).unwrap_err();
    assert!(matches!(err, StoreError::GenesisMismatch { .. }), "{err}");
    assert!(err.to_string().contains("--datadir"));
}

#[test]
fn unwind_restores_roots_and_replay_reproduces_them() {
    let mut chain = TestChain::new();
    busy_chain(&mut chain);
    let headers: Vec<_> = (0..=4).map(|n| chain.store.header(n).unwrap().unwrap()).collect();
    let bodies: Vec<_> = (0..=4).map(|n| chain.store.body(n).unwrap().unwrap()).collect();

    chain.store.unwind_to(1).unwrap();
    assert_eq!(chain.store.head().unwrap(), headers[1]);
    assert_eq!(chain.full_state_root(), headers[1].header.state_root);
    assert!(chain.store.header(2).unwrap().is_none());
    let tx = &bodies[3].transactions[0];
    assert!(chain.store.transaction_location(*tx.hash()).unwrap().is_none());

    // Re-executing the same transactions with the same inputs gives the same blocks.
    for n in 2..=4usize {
        let parent = chain.store.head().unwrap();
        let h = &headers[n].header;
        let input = surge_host::execute::BlockInput {
            timestamp: h.timestamp,
            fee_recipient: h.beneficiary,
            prev_randao: h.mix_hash,
            ..Default::default()
        };
        let txs = bodies[n]
            .transactions
            .iter()
            .map(|t| {
                use alloy::consensus::transaction::SignerRecoverable;
                t.clone().try_into_recovered().unwrap()
            })
            .collect();
        let mut executed =
            surge_host::execute::execute_block(&chain.spec, chain.store.latest_state().unwrap(), &parent, &input, txs)
                .unwrap();
        if n == 3 {
            // As an import: the header's own roots must match what the body, receipts and state give.
            executed.verify_roots = true;
            executed.header.state_root = h.state_root;
            executed.header.transactions_root = h.transactions_root;
            executed.header.logs_bloom = h.logs_bloom;
            let mut tampered = executed.clone();
            tampered.header.receipts_root = B256::repeat_byte(1);
            let err = chain.store.commit_block(tampered).unwrap_err();
            assert!(matches!(err, surge_host::StoreError::BodyRootMismatch { field: "receipts root", .. }), "{err}");
            assert_eq!(chain.store.head().unwrap().header.number, n as u64 - 1, "nothing of it committed");
            executed.header.receipts_root = h.receipts_root;
        }
        let sealed = chain.store.commit_block(executed).unwrap();
        assert_eq!(sealed, headers[n], "block {n} replayed differently");
    }
    assert!(chain.store.unwind_to(9).is_err(), "cannot unwind above the head");
}

#[test]
fn proofs_verify_for_present_and_absent_accounts_and_slots() {
    let mut chain = TestChain::new();
    let app = busy_chain(&mut chain);
    let head = chain.store.head().unwrap();
    let slots = [mapping_slot(7), mapping_slot(2), mapping_slot(12345)];
    for (number, root) in
        [(4u64, head.header.state_root), (3, chain.store.header(3).unwrap().unwrap().header.state_root)]
    {
        for address in [app, key(0).address(), Address::repeat_byte(0x99)] {
            let p = chain.store.proof(number, address, &slots).unwrap();
            assert_eq!(p.state_root, root, "proof at block {number} is against that block's root");
            let present = p.nonce != 0 || !p.balance.is_zero();
            let leaf = present.then(|| {
                alloy_rlp::encode(TrieAccount {
                    nonce: p.nonce,
                    balance: p.balance,
                    storage_root: p.storage_hash,
                    code_hash: p.code_hash,
                })
            });
            verify_proof(root, Nibbles::unpack(keccak256(address)), leaf, &p.account_proof).unwrap();
            for sp in &p.storage_proof {
                let value = (!sp.value.is_zero()).then(|| alloy_rlp::encode(sp.value));
                verify_proof(p.storage_hash, Nibbles::unpack(keccak256(sp.key)), value, &sp.proof).unwrap();
            }
        }
    }
    let p = chain.store.proof(4, app, &slots).unwrap();
    assert_eq!(p.storage_proof[0].value, U256::from(22));
    let old = chain.store.proof(3, app, &slots).unwrap();
    assert_eq!(old.storage_proof[1].value, U256::from(7), "slot 2 was set in block 3 and cleared in block 4");
    assert_eq!(chain.store.head().unwrap(), head, "proving an old block leaves the store as it was");

    // Every kept block proves against its own root, read-only: with a write transaction held open (as a
    // block commit holds one), a proof of an old block still completes.
    for number in 0..=4 {
        let root = chain.store.header(number).unwrap().unwrap().header.state_root;
        assert_eq!(chain.store.proof(number, app, &slots).unwrap().state_root, root);
    }
    let write = chain.store.hold_writer().unwrap();
    let (done, proved) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| done.send(chain.store.proof(1, key(0).address(), &slots).map(|p| p.state_root)).unwrap());
        let got = proved.recv_timeout(std::time::Duration::from_secs(30));
        drop(write);
        let root1 = chain.store.header(1).unwrap().unwrap().header.state_root;
        assert_eq!(got.expect("a proof never waits for the writer").unwrap(), root1);
    });

    // The same old state, read through the reverts without any write.
    let at3 = chain.store.state_at(3).unwrap();
    assert_eq!(at3.storage_ref(app, U256::from_be_bytes(mapping_slot(2).0)).unwrap(), U256::from(7));
    assert_eq!(at3.storage_ref(app, U256::from_be_bytes(mapping_slot(7).0)).unwrap(), U256::from(22));
    let child = app.create2(B256::repeat_byte(1), keccak256(Ephemeral::BYTECODE.as_ref()));
    assert!(at3.basic_ref(child).unwrap().is_none(), "created in block 4");
    assert!(chain.store.latest_state().unwrap().basic_ref(child).unwrap().is_some());
    let at1 = chain.store.state_at(1).unwrap();
    assert!(at1.basic_ref(app).unwrap().is_none(), "deployed in block 2");
    assert_eq!(at1.block_hash_ref(2).unwrap(), B256::ZERO, "block 2 is not an ancestor of block 1");
    assert_eq!(at1.block_hash_ref(1).unwrap(), chain.store.header(1).unwrap().unwrap().hash);
    assert!(chain.store.state_at(99).is_err());
}
