//! Reads of earlier blocks (`Store::state_at`, `Store::proof`) answer what each block left, through the
//! history index: random blocks create, change, delete and re-create accounts and set and clear their
//! slots, with unwinds, reopens and reopens of a store written before the index (which builds it) in
//! between; afterwards every block's state, read through the store with its state cache and state filter
//! on, equals a model kept block by block beside it, and so does every block's proof.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{collections::BTreeMap, path::Path};

use alloy::consensus::{BlockBody, Header, constants::KECCAK_EMPTY};
use alloy_primitives::{Address, B256, U256, keccak256};
use common::{genesis, key};
use proptest::prelude::*;
use redb::ReadableDatabase;
use revm::DatabaseRef;
use surge_host::{
    ChainSpec, ExecutedBlock, StateDiff, Store, StoreError,
    storage::{
        ProofWindow, StateChange,
        tables::{ACCOUNT_HISTORY, FORMAT_VERSION, META, META_VERSION, STORAGE_HISTORY, StoredAccount},
    },
};

/// Accounts the blocks change: a funded genesis key, the genesis contract (code and a slot), three new.
fn changed(i: u8) -> Address {
    match i {
        0 => key(0).address(),
        1 => Address::repeat_byte(0xcc),
        n => Address::with_last_byte(0x50 + n),
    }
}

/// Every account the checks read: the changed ones and one no block ever touches.
fn watched() -> Vec<Address> {
    (0..5).map(changed).chain([Address::repeat_byte(0xee)]).collect()
}

fn slot(i: u8) -> B256 {
    B256::with_last_byte(i)
}

/// Slots the blocks write: 1 is set in the genesis contract.
const SLOTS: u8 = 4;

/// A chain's state as the test keeps it: accounts, and the non-zero slots of existing accounts.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    accounts: BTreeMap<Address, StoredAccount>,
    storage: BTreeMap<(Address, B256), U256>,
}

impl Model {
    fn genesis() -> Self {
        let mut model = Self::default();
        for (address, account) in genesis().alloc {
            let code = account.code.unwrap_or_default();
            let code_hash = if code.is_empty() { KECCAK_EMPTY } else { keccak256(&code) };
            let stored = StoredAccount { nonce: account.nonce.unwrap_or(0), balance: account.balance, code_hash };
            model.accounts.insert(address, stored);
            for (k, v) in account.storage.unwrap_or_default() {
                model.storage.insert((address, k), U256::from_be_bytes(v.0));
            }
        }
        model
    }

    fn wipe(&mut self, address: Address) {
        self.storage.retain(|(a, _), _| *a != address);
    }
}

/// What one block does to one account.
#[derive(Debug, Clone)]
enum Action {
    /// Storage writes only (ignored for an account that does not exist).
    Keep,
    /// New nonce and balance (creates the account when it does not exist; code stays).
    Set { nonce: u64, balance: u64 },
    /// Destroyed, storage and all.
    Delete,
    /// Destroyed and created again in the same block (CREATE2 after a self-destruct): storage wiped first.
    Recreate { balance: u64 },
}

/// One account's change in a block: the action, then slot writes (zero clears).
type Change = (Action, Vec<(u8, u64)>);

#[derive(Debug, Clone)]
enum Op {
    Block(BTreeMap<u8, Change>),
    Unwind(u64),
    Reopen,
    /// Close, turn the store into one written before the index, open (which builds it).
    ReopenWithoutIndex,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Keep),
        3 => (0..4u64, 0..1_000u64).prop_map(|(nonce, balance)| Action::Set { nonce, balance }),
        1 => Just(Action::Delete),
        1 => (0..1_000u64).prop_map(|balance| Action::Recreate { balance }),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    (action(), prop::collection::vec((1..=SLOTS, 0..3u64), 0..3))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::btree_map(0..5u8, change(), 0..4).prop_map(Op::Block),
        1 => (1..4u64).prop_map(Op::Unwind),
        1 => Just(Op::Reopen),
        1 => Just(Op::ReopenWithoutIndex),
    ]
}

/// The store's diff for one block of `changes`, applied to `model` too.
fn diff_of(model: &mut Model, changes: &BTreeMap<u8, Change>) -> StateDiff {
    let mut diff = StateDiff::default();
    for (i, (action, writes)) in changes {
        let address = changed(*i);
        let code_hash = model.accounts.get(&address).map_or(KECCAK_EMPTY, |a| a.code_hash);
        match action {
            Action::Keep => {}
            Action::Set { nonce, balance } => {
                let account = StoredAccount { nonce: *nonce, balance: U256::from(*balance), code_hash };
                model.accounts.insert(address, account);
                diff.accounts.insert(address, Some(account));
            }
            Action::Delete => {
                model.accounts.remove(&address);
                model.wipe(address);
                diff.accounts.insert(address, None);
                diff.wiped.insert(address);
            }
            Action::Recreate { balance } => {
                let account = StoredAccount { nonce: 1, balance: U256::from(*balance), code_hash };
                model.accounts.insert(address, account);
                model.wipe(address);
                diff.accounts.insert(address, Some(account));
                diff.wiped.insert(address);
            }
        }
        // Only an account that exists after the block keeps storage (as execution leaves it).
        if !model.accounts.contains_key(&address) {
            continue;
        }
        for (s, value) in writes {
            let value = U256::from(*value);
            diff.storage.entry(address).or_default().insert(slot(*s), value);
            if value.is_zero() {
                model.storage.remove(&(address, slot(*s)));
            } else {
                model.storage.insert((address, slot(*s)), value);
            }
        }
    }
    diff
}

/// Commits `diff` as the next block (roots filled in by the store).
fn commit(store: &Store, diff: StateDiff) {
    let head = store.head().unwrap();
    let header = Header {
        parent_hash: head.hash,
        number: head.header.number + 1,
        timestamp: head.header.timestamp + 12,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(1),
        ..Default::default()
    };
    let block = ExecutedBlock {
        header,
        body: BlockBody::default(),
        senders: vec![],
        receipts: vec![],
        changes: StateChange::Diff(diff),
        verify_roots: false,
    };
    store.commit_block(block).unwrap();
}

/// Removes the history index from the closed store in `dir` and marks it format 2: what a surge-node
/// from before the index left.
fn drop_history_index(dir: &Path) {
    let db = redb::Database::open(dir.join("chain.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    assert!(txn.delete_table(ACCOUNT_HISTORY).unwrap(), "the store had an account history");
    assert!(txn.delete_table(STORAGE_HISTORY).unwrap(), "the store had a storage history");
    txn.open_table(META).unwrap().insert(META_VERSION, 2u64.to_be_bytes().as_slice()).unwrap();
    txn.commit().unwrap();
}

/// The format the closed store in `dir` is marked with, and whether it holds both index tables.
fn format_and_index(dir: &Path) -> (u64, bool) {
    let db = redb::Database::open(dir.join("chain.redb")).unwrap();
    let read = db.begin_read().unwrap();
    let version = read.open_table(META).unwrap().get(META_VERSION).unwrap().unwrap().value().to_vec();
    let index = read.open_table(ACCOUNT_HISTORY).is_ok() && read.open_table(STORAGE_HISTORY).is_ok();
    (u64::from_be_bytes(version.try_into().unwrap()), index)
}

struct Run {
    spec: ChainSpec,
    dir: tempfile::TempDir,
    store: Option<Store>,
    /// The state after each block, by number.
    states: Vec<Model>,
}

impl Run {
    fn new() -> Self {
        let spec = ChainSpec::from_genesis(genesis()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &spec).unwrap();
        Self { spec, dir, store: Some(store), states: vec![Model::genesis()] }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn reopen(&mut self, without_index: bool) {
        drop(self.store.take());
        if without_index {
            drop_history_index(self.dir.path());
            assert_eq!(format_and_index(self.dir.path()), (2, false));
        }
        self.store = Some(Store::open(self.dir.path(), &self.spec).unwrap());
        while !self.store().state_filter_ready() {
            std::thread::yield_now();
        }
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Block(changes) => {
                let mut model = self.states.last().unwrap().clone();
                let diff = diff_of(&mut model, changes);
                commit(self.store(), diff);
                self.states.push(model);
                // Fills the state cache with the head's values, which earlier blocks must not see.
                self.assert_state_at(self.states.len() as u64 - 1);
            }
            Op::Unwind(depth) => {
                let target = (self.states.len() as u64 - 1).saturating_sub(*depth);
                self.store().unwind_to(target).unwrap();
                self.states.truncate(target as usize + 1);
            }
            Op::Reopen => self.reopen(false),
            Op::ReopenWithoutIndex => self.reopen(true),
        }
    }

    /// The state after block `n`, as `state_at(n)` shows it, equals the model's.
    fn assert_state_at(&self, n: u64) {
        let view = self.store().state_at(n).unwrap();
        let model = &self.states[n as usize];
        for address in watched() {
            let account = view.account(&address).unwrap();
            assert_eq!(account, model.accounts.get(&address).copied(), "account {address} after block {n}");
            let info = view.basic_ref(address).unwrap();
            assert_eq!(info.map(|i| i.balance), account.map(|a| a.balance), "balance of {address} after block {n}");
            for s in 1..=SLOTS {
                let value = view.storage_ref(address, U256::from_be_bytes(slot(s).0)).unwrap();
                let expected = model.storage.get(&(address, slot(s))).copied().unwrap_or_default();
                assert_eq!(value, expected, "slot {s} of {address} after block {n}");
            }
        }
        let hash = self.store().header(n).unwrap().unwrap().hash;
        assert_eq!(view.block_hash_ref(n).unwrap(), hash, "block {n}'s own hash");
        assert_eq!(view.block_hash_ref(n + 1).unwrap(), B256::ZERO, "block {n} sees no later block");
        let code = keccak256([0x60, 0x00, 0x54, 0x00]);
        assert_eq!(view.code_by_hash_ref(code).unwrap().original_bytes().as_ref(), &[0x60, 0x00, 0x54, 0x00]);
    }

    /// Every block's state and proof, as the model has them.
    fn assert_every_block(&self) {
        let slots: Vec<B256> = (1..=SLOTS).map(slot).collect();
        for n in 0..self.states.len() as u64 {
            self.assert_state_at(n);
            let model = &self.states[n as usize];
            for address in watched() {
                // The proof checks its root against block n's header itself.
                let proof = self.store().proof(n, address, &slots).unwrap();
                let balance = model.accounts.get(&address).map_or(U256::ZERO, |a| a.balance);
                assert_eq!(proof.balance, balance, "proven balance of {address} after block {n}");
                for (s, p) in slots.iter().zip(&proof.storage_proof) {
                    assert_eq!(p.value, model.storage.get(&(address, *s)).copied().unwrap_or_default());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_block_reads_as_it_was_left(ops in prop::collection::vec(op(), 1..24)) {
        let mut run = Run::new();
        for op in &ops {
            run.run(op);
        }
        run.assert_every_block();
    }
}

/// A fixed chain: account 2 created with slots, changed, deleted, created again; the genesis contract's
/// slot changed and cleared; the genesis key's balance changed every block.
fn fixed_chain(run: &mut Run) {
    let set = |nonce, balance| Action::Set { nonce, balance };
    let blocks: Vec<Vec<(u8, Change)>> = vec![
        vec![(2, (set(0, 5), vec![(1, 1), (2, 2)])), (0, (set(1, 10), vec![]))],
        vec![(2, (set(1, 6), vec![(1, 0)])), (1, (Action::Keep, vec![(1, 9)])), (0, (set(2, 11), vec![]))],
        vec![(2, (Action::Delete, vec![])), (0, (set(3, 12), vec![]))],
        vec![(1, (Action::Keep, vec![(1, 0)])), (0, (set(4, 13), vec![]))],
        vec![(2, (Action::Recreate { balance: 7 }, vec![(3, 2)])), (0, (set(5, 14), vec![]))],
        vec![(0, (set(6, 15), vec![]))],
    ];
    for block in blocks {
        run.run(&Op::Block(block.into_iter().collect()));
    }
}

/// A store written before the history index opens (it is not refused), is upgraded to the current format
/// with the index built from its reverts, and answers every earlier block as before; blocks written after
/// the upgrade and unwinds below it keep the index right.
#[test]
fn a_store_without_the_index_is_upgraded_when_opened() {
    let mut run = Run::new();
    fixed_chain(&mut run);
    run.assert_every_block();
    run.reopen(true);
    drop(run.store.take());
    assert_eq!(format_and_index(run.dir.path()), (FORMAT_VERSION, true), "upgraded on open");
    run.reopen(false);
    run.assert_every_block();
    run.run(&Op::Unwind(3));
    run.run(&Op::Block([(2, (Action::Set { nonce: 9, balance: 99 }, vec![(1, 4)]))].into_iter().collect()));
    run.assert_every_block();
}

/// The account a block deleted reads as it was at every block before, though the head's cache and the
/// filter rebuilt on reopen know it only as absent.
#[test]
fn a_deleted_account_reads_as_it_was() {
    let mut run = Run::new();
    fixed_chain(&mut run);
    run.reopen(false);
    let gone = changed(2);
    let at = |n| run.store().state_at(n).unwrap().account(&gone).unwrap().map(|a| a.balance);
    assert_eq!(at(2), Some(U256::from(6)));
    assert_eq!(at(3), None);
    assert_eq!(at(0), None, "not yet created");
    let slot2 = |n| run.store().state_at(n).unwrap().storage_ref(gone, U256::from(2)).unwrap();
    assert_eq!(slot2(2), U256::from(2));
    assert_eq!(slot2(5), U256::ZERO, "wiped when deleted, not set again");
}

/// A proof further below the head than the caller's window is refused, naming the distance; within it, it
/// proves the block's state root.
#[test]
fn proofs_beyond_the_window_are_refused() {
    let mut run = Run::new();
    fixed_chain(&mut run);
    let store = run.store();
    let address = changed(0);
    match store.proof_within(3, address, &[], ProofWindow(2)) {
        Err(e @ StoreError::BeyondProofWindow { target: 3, head: 6, window: 2 }) => {
            assert_eq!(e.to_string(), "block 3 is 3 blocks below head 6, beyond the proof window of 2 blocks");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let proof = store.proof_within(3, address, &[], ProofWindow(3)).unwrap();
    assert_eq!(proof.state_root, store.header(3).unwrap().unwrap().header.state_root);
    assert_eq!(proof.balance, U256::from(12));
    assert!(store.proof_within(6, address, &[], ProofWindow(0)).is_ok(), "the head is always within");
}
