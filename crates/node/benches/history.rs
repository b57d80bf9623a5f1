//! History benchmark: what reading an old block's state costs as the chain grows. Builds a chain of 1,000
//! blocks and one of 100,000 (small blocks: one account changed in every block, two of a thousand others,
//! two slots of a contract), then times `eth_getBalance(x, "earliest")` — `Store::state_at(0)` and one
//! account read — next to the same at head-1, a slot read at block 0 and the earliest balance read the way
//! it was served before the index (every revert above block 0 read and decoded), and prints the per-read
//! times of both chains side by side with their ratio: through the index it stays near 1, the revert walk
//! grows with the chain.
//!
//! Run: `cargo bench -p surge-host --bench history` (release build; prints a table, asserts nothing;
//! `SURGE_BENCH_HISTORY_BLOCKS=1000,20000` picks other chain lengths, smallest first).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{BlockBody, Header, constants::KECCAK_EMPTY};
use alloy_primitives::{Address, B256, U256, keccak256};
use revm::DatabaseRef;
use surge_host::{
    ChainSpec, ExecutedBlock, StateDiff, Store,
    storage::{StateChange, tables::StoredAccount},
};

/// Reads per batch, and batches per figure (the median batch is printed).
const READS: u32 = 10_000;
const BATCHES: usize = 5;

/// The account changed in every block (the worst case for its history: one entry per block): the first
/// funded genesis key's address, derived once (deriving it is an elliptic-curve multiplication, dearer
/// than the reads timed).
fn x() -> Address {
    static X: std::sync::LazyLock<Address> = std::sync::LazyLock::new(|| common::key(0).address());
    *X
}

/// The genesis contract, whose slot 1 is set at genesis.
fn contract() -> Address {
    Address::repeat_byte(0xcc)
}

/// Block `n`'s change: `x`, two of a thousand other accounts, two of five hundred slots of the contract.
fn block_diff(n: u64) -> StateDiff {
    let mut diff = StateDiff::default();
    let account =
        |nonce: u64, balance: u64| StoredAccount { nonce, balance: U256::from(balance), code_hash: KECCAK_EMPTY };
    diff.accounts.insert(x(), Some(account(n, 1_000_000 + n)));
    for k in [n % 1000, (n * 7 + 3) % 1000] {
        diff.accounts.insert(Address::from_word(keccak256(k.to_be_bytes())), Some(account(n, n)));
    }
    let slots = diff.storage.entry(contract()).or_default();
    for k in [n % 500, (n * 3 + 1) % 500] {
        slots.insert(B256::from(U256::from(k)), U256::from(n + 1));
    }
    diff
}

fn commit(store: &Store, n: u64, parent: B256) -> B256 {
    let header = Header {
        parent_hash: parent,
        number: n,
        timestamp: 1_700_000_000 + 12 * n,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(1),
        ..Default::default()
    };
    let block = ExecutedBlock {
        header,
        body: BlockBody::default(),
        senders: vec![],
        receipts: vec![],
        changes: StateChange::Diff(block_diff(n)),
        verify_roots: false,
    };
    store.commit_block(block).unwrap().hash
}

/// Median time of one `read` over `BATCHES` batches of `reads`.
fn per_read(reads: u32, mut read: impl FnMut()) -> Duration {
    for _ in 0..reads.div_ceil(10) {
        read();
    }
    let mut batches: Vec<Duration> = (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..reads {
                read();
            }
            started.elapsed() / reads
        })
        .collect();
    batches.sort();
    batches[BATCHES / 2]
}

/// `x`'s balance at block 0 the way reads were served before the index: every revert above the block read
/// and decoded, the lowest entry of each key kept (`Store::block_changes` is that read and decode).
fn balance_by_revert_walk(store: &Store, head: u64) -> Option<U256> {
    let snapshot = store.snapshot().unwrap();
    let mut accounts = std::collections::HashMap::new();
    let mut slots = std::collections::HashMap::new();
    for n in 1..=head {
        let revert = snapshot.block_changes(n).unwrap().unwrap();
        for (address, account) in revert.accounts {
            accounts.entry(address).or_insert(account);
        }
        for (address, slot, value) in revert.storage {
            slots.entry((address, slot)).or_insert(value);
        }
    }
    std::hint::black_box(&slots);
    match accounts.get(&x()) {
        Some(account) => account.map(|a| a.balance),
        None => store.latest_account(&x()).unwrap().map(|a| a.balance),
    }
}

/// Per-read times on a chain of `blocks` blocks: balance at 0, balance at head-1, slot at 0, and balance at
/// 0 by a revert walk.
fn measure(spec: &ChainSpec, blocks: u64) -> [Duration; 4] {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), spec).unwrap();
    let started = Instant::now();
    let mut parent = store.head().unwrap().hash;
    for n in 1..=blocks {
        parent = commit(&store, n, parent);
    }
    store.flush().unwrap();
    eprintln!("built {blocks} blocks in {:.1} s", started.elapsed().as_secs_f64());
    let genesis_balance = store.state_at(0).unwrap().basic_ref(x()).unwrap().unwrap().balance;
    assert_eq!(genesis_balance, U256::from(10u128.pow(24)), "x's balance at genesis");
    let walked = balance_by_revert_walk(&store, blocks);
    assert_eq!(walked, Some(genesis_balance), "the revert walk reads the same balance");
    let earliest = per_read(READS, || {
        let balance = store.state_at(0).unwrap().basic_ref(x()).unwrap().map(|a| a.balance);
        std::hint::black_box(balance);
    });
    let before_head = per_read(READS, || {
        let balance = store.state_at(blocks - 1).unwrap().basic_ref(x()).unwrap().map(|a| a.balance);
        std::hint::black_box(balance);
    });
    let slot = per_read(READS, || {
        let value = store.state_at(0).unwrap().storage_ref(contract(), U256::from(1)).unwrap();
        std::hint::black_box(value);
    });
    // A walk of 100,000 reverts takes a good part of a second: few reads.
    let walk = per_read(3, || {
        std::hint::black_box(balance_by_revert_walk(&store, blocks));
    });
    [earliest, before_head, slot, walk]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let sizes: Vec<u64> = std::env::var("SURGE_BENCH_HISTORY_BLOCKS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().expect("a block count")).collect())
        .unwrap_or_else(|| vec![1_000, 100_000]);
    let spec = ChainSpec::from_genesis(common::genesis()).unwrap();
    println!(
        "== reading an old block's state: per read, state_at(block) + one read (median of {BATCHES} batches of \
         {READS})"
    );
    println!(
        "{:>14} {:>18} {:>18} {:>18} {:>26}",
        "blocks", "balance at 0 µs", "at head-1 µs", "slot at 0 µs", "balance at 0, walk µs"
    );
    let figures: Vec<[Duration; 4]> = sizes.iter().map(|&blocks| measure(&spec, blocks)).collect();
    for (blocks, f) in sizes.iter().zip(&figures) {
        println!("{:>14} {:>18.2} {:>18.2} {:>18.2} {:>26.2}", blocks, us(f[0]), us(f[1]), us(f[2]), us(f[3]));
    }
    if let (Some(first), Some(last)) = (figures.first(), figures.last()) {
        let ratio = |i: usize| last[i].as_secs_f64() / first[i].as_secs_f64();
        let label = format!("ratio {}/{}", sizes[sizes.len() - 1], sizes[0]);
        println!("{:>14} {:>17.2}x {:>17.2}x {:>17.2}x {:>25.2}x", label, ratio(0), ratio(1), ratio(2), ratio(3));
    }
}
