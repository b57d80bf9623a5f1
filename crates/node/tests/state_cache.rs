//! The cross-block state cache and the state filter change nothing a user can see: random blocks
//! (transfers to old and new accounts, storage writes and clears, reverts, CREATE2 and self-destruct) with
//! unwinds, reopens and reads in between run on a store with a small cache (so entries are evicted too) and
//! its filter, and on one with neither; every
//! block hash (state and receipts roots included), every receipt and every read agree, and a view opened
//! before a block keeps reading its own head's state after that block commits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::consensus::{ReceiptEnvelope, TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_sol_types::SolCall;
use common::{TestChain, genesis, key, mapping_slot, next_input, signed_1559};
use proptest::prelude::*;
use revm::DatabaseRef;
use surge_host::{
    ChainSpec, SealedHeader, Store,
    execute::execute_block,
    storage::{StateCacheLimits, StateProvider},
};
use surge_primitives::bindings::test_storage_logs::StorageLogs;

#[derive(Debug, Clone)]
enum TxOp {
    Transfer { from: u8, to: u8, value: u64 },
    Store { from: u8, key: u64, value: u64 },
    Clear { from: u8, key: u64 },
    Fail { from: u8 },
    DeployAndDestroy { from: u8, salt: u8 },
}

#[derive(Debug, Clone)]
enum Op {
    Block(Vec<TxOp>),
    Unwind(u64),
    Read,
    /// A view opened before the next block, read again after it.
    HoldAcross(Vec<TxOp>),
    /// Close the cached store and open it again (its filter is rebuilt from what the database holds).
    Reopen,
}

fn tx_op() -> impl Strategy<Value = TxOp> {
    prop_oneof![
        (0..3u8, 0..8u8, 0..1_000u64).prop_map(|(from, to, value)| TxOp::Transfer { from, to, value }),
        (0..3u8, 0..6u64, 0..3u64).prop_map(|(from, key, value)| TxOp::Store { from, key, value }),
        (0..3u8, 0..6u64).prop_map(|(from, key)| TxOp::Clear { from, key }),
        (0..3u8).prop_map(|from| TxOp::Fail { from }),
        (0..3u8, 0..3u8).prop_map(|(from, salt)| TxOp::DeployAndDestroy { from, salt }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(tx_op(), 0..6).prop_map(Op::Block),
        1 => (1..4u64).prop_map(Op::Unwind),
        1 => Just(Op::Read),
        1 => prop::collection::vec(tx_op(), 1..4).prop_map(Op::HoldAcross),
        1 => Just(Op::Reopen),
    ]
}

/// Accounts the ops touch: the senders, a few fixed recipients, and the app.
fn watched(app: Address) -> Vec<Address> {
    let mut out: Vec<Address> = (0..8u8).map(recipient).collect();
    out.extend((0..3).map(|i| key(i).address()));
    out.push(app);
    out
}

fn recipient(i: u8) -> Address {
    if i < 3 { key(i).address() } else { Address::with_last_byte(0x40 + i) }
}

/// One account as a view shows it: nonce, balance and code hash (if it exists), and the app's slots 0..6.
type Observed = (Option<(u64, U256, B256)>, Vec<U256>);

/// Everything observable about the watched accounts in one view.
fn observe(view: &StateProvider, app: Address) -> Vec<Observed> {
    watched(app)
        .into_iter()
        .map(|a| {
            let account = view.basic_ref(a).unwrap().map(|i| (i.nonce, i.balance, i.code_hash));
            let slots = (0..6).map(|k| view.storage_ref(a, mapping_slot(k).into()).unwrap()).collect();
            (account, slots)
        })
        .collect()
}

struct Pair {
    spec: ChainSpec,
    cached: Store,
    plain: Store,
    app: Address,
    /// Cache hits of the cached store before its last reopen.
    earlier_hits: u64,
    dirs: (tempfile::TempDir, tempfile::TempDir),
    /// Where a stand-in store lives while the cached one is closed.
    scratch: tempfile::TempDir,
}

impl Pair {
    fn new() -> Self {
        let spec = ChainSpec::from_genesis(genesis()).unwrap();
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Small enough that blocks evict entries.
        let small = StateCacheLimits { accounts: 8, slots: 8 };
        let cached = Store::open_with(dirs.0.path(), &spec, small).unwrap();
        let mut plain = Store::open_with(dirs.1.path(), &spec, StateCacheLimits { accounts: 0, slots: 0 }).unwrap();
        plain.set_state_filter(false);
        let app = key(0).address().create(0);
        let scratch = tempfile::tempdir().unwrap();
        let mut pair = Self { spec, cached, plain, app, earlier_hits: 0, dirs, scratch };
        let deploy = pair.sign(0, TxKind::Create, U256::ZERO, StorageLogs::BYTECODE.to_vec());
        pair.block(vec![deploy]);
        pair
    }

    /// `from`'s next transaction, its nonce read from the cached store (the test checks both agree).
    fn sign(&self, from: u8, to: TxKind, value: U256, input: Vec<u8>) -> Recovered<TxEnvelope> {
        let signer = key(from);
        let nonce = self.cached.latest_account(&signer.address()).unwrap().map_or(0, |a| a.nonce);
        let mut nonces = [(signer.address(), nonce)].into_iter().collect();
        signed_1559(&mut nonces, &signer, to, value, input)
    }

    fn txs(&self, ops: &[TxOp]) -> Vec<Recovered<TxEnvelope>> {
        // Each sender at most once per block keeps nonces simple (they come from the store).
        let mut used = std::collections::BTreeSet::new();
        let app = TxKind::Call(self.app);
        ops.iter()
            .filter(|op| {
                let from = match op {
                    TxOp::Transfer { from, .. }
                    | TxOp::Store { from, .. }
                    | TxOp::Clear { from, .. }
                    | TxOp::Fail { from }
                    | TxOp::DeployAndDestroy { from, .. } => *from,
                };
                used.insert(from)
            })
            .map(|op| match op {
                TxOp::Transfer { from, to, value } => {
                    self.sign(*from, TxKind::Call(recipient(*to)), U256::from(*value), vec![])
                }
                TxOp::Store { from, key, value } => {
                    let call = StorageLogs::storeCall { key: U256::from(*key), value: U256::from(*value) };
                    self.sign(*from, app, U256::ZERO, call.abi_encode())
                }
                TxOp::Clear { from, key } => {
                    self.sign(*from, app, U256::ZERO, StorageLogs::clearCall { key: U256::from(*key) }.abi_encode())
                }
                TxOp::Fail { from } => {
                    self.sign(*from, app, U256::ZERO, StorageLogs::failCall { key: U256::from(1) }.abi_encode())
                }
                TxOp::DeployAndDestroy { from, salt } => {
                    let call = StorageLogs::deployAndDestroyCall { salt: B256::repeat_byte(*salt) };
                    self.sign(*from, app, U256::from(5), call.abi_encode())
                }
            })
            .collect()
    }

    fn commit(
        store: &Store,
        spec: &ChainSpec,
        txs: Vec<Recovered<TxEnvelope>>,
    ) -> (SealedHeader, Vec<ReceiptEnvelope>) {
        let parent = store.head().unwrap();
        let executed = execute_block(spec, store.latest_state().unwrap(), &parent, &next_input(&parent), txs).unwrap();
        let receipts = executed.receipts.clone();
        (store.commit_block(executed).unwrap(), receipts)
    }

    fn block(&mut self, txs: Vec<Recovered<TxEnvelope>>) {
        let (a, ra) = Self::commit(&self.cached, &self.spec, txs.clone());
        let (b, rb) = Self::commit(&self.plain, &self.spec, txs);
        assert_eq!(ra, rb, "receipts of block {}", a.header.number);
        assert_eq!(
            a, b,
            "block {} (its state root {} vs {})",
            a.header.number, a.header.state_root, b.header.state_root
        );
    }

    fn read(&self) {
        let ours = observe(&self.cached.latest_state().unwrap(), self.app);
        assert_eq!(ours, observe(&self.plain.latest_state().unwrap(), self.app));
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Block(ops) => self.block(self.txs(ops)),
            Op::Unwind(depth) => {
                let head = self.cached.head().unwrap().header.number;
                // Block 1 deploys the app: keep it.
                let target = head.saturating_sub(*depth).max(1);
                self.cached.unwind_to(target).unwrap();
                self.plain.unwind_to(target).unwrap();
                assert_eq!(self.cached.head().unwrap(), self.plain.head().unwrap());
            }
            Op::Read => self.read(),
            Op::Reopen => {
                self.earlier_hits += self.cached.state_cache_stats().hits;
                let small = StateCacheLimits { accounts: 8, slots: 8 };
                // Closed first (a stand-in takes its place): a database is opened by one store at a time.
                let stand_in = Store::open_with(self.scratch.path(), &self.spec, small).unwrap();
                drop(std::mem::replace(&mut self.cached, stand_in));
                self.cached = Store::open_with(self.dirs.0.path(), &self.spec, small).unwrap();
                let started = std::time::Instant::now();
                while !self.cached.state_filter_ready() {
                    assert!(started.elapsed() < std::time::Duration::from_secs(10), "the filter's scan never ended");
                    std::thread::yield_now();
                }
                assert_eq!(self.cached.head().unwrap(), self.plain.head().unwrap());
            }
            Op::HoldAcross(ops) => {
                let number = self.cached.head().unwrap().header.number;
                let held = self.cached.latest_state().unwrap();
                let before = observe(&held, self.app);
                self.block(self.txs(ops));
                self.read();
                assert_eq!(observe(&held, self.app), before, "a view keeps its own head's state");
                assert_eq!(before, observe(&self.plain.state_at(number).unwrap(), self.app));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn blocks_unwinds_and_reads_agree_with_and_without_the_cache(ops in prop::collection::vec(op(), 1..14)) {
        let mut pair = Pair::new();
        for op in &ops {
            pair.run(op);
        }
        pair.read();
        let stats = pair.cached.state_cache_stats();
        prop_assert!(stats.hits + pair.earlier_hits > 0, "the cache answered reads: {stats:?}");
        prop_assert_eq!(pair.plain.state_cache_stats().hits, 0);
        prop_assert!(stats.accounts <= 8 && stats.slots <= 8, "{:?}", stats);
    }
}

/// With room for everything, a block's reads after the first come from memory: the second identical-shaped
/// block reads the accounts the first one wrote without going to the database.
#[test]
fn a_block_reads_what_the_last_commit_wrote_from_memory() {
    let mut chain = TestChain::new();
    let to = Address::with_last_byte(0x77);
    let first = chain.tx(&key(0), TxKind::Call(to), U256::from(1), vec![]);
    chain.block(vec![first]);
    let before = chain.store.state_cache_stats();
    let second = chain.tx(&key(0), TxKind::Call(to), U256::from(1), vec![]);
    chain.block(vec![second]);
    let after = chain.store.state_cache_stats();
    // Sender, recipient and coinbase were written by the first block; system contracts were read by it.
    assert_eq!(after.misses, before.misses, "{before:?} -> {after:?}");
    assert!(after.hits > before.hits);
}
