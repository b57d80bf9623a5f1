//! Host benchmark: per-block execution, state-root and commit time and Mgas/s for blocks of 10, 100 and
//! 1000 transfers and 100 ERC20 transfers, next to plain revm on an in-memory database executing the
//! same transactions in the same run (and revm through revm's `State`, our `BlockState` and alloy-evm's
//! block executor, to show where the difference lies); then the state-root time per block as the state
//! grows (10k → 1M accounts) and as one contract's storage grows (1k → 1M slots).
//!
//! Run: `cargo bench -p surge-host --bench host` (release build; prints tables, asserts nothing;
//! `SURGE_BENCH_BLOCKS_ONLY=1` stops after the per-block table; `SURGE_BENCH_ROUNDS=N` runs N blocks per size; `SURGE_BENCH_ONLY=ERC20` runs the sizes whose label
//! contains that text, for profiling one).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

// The allocator the node runs on, for both sides of the comparison.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_evm::{
    EthEvmFactory, Evm, EvmEnv, EvmFactory, FromRecoveredTx,
    block::BlockExecutor,
    eth::{EthBlockExecutionCtx, EthBlockExecutor, receipt_builder::AlloyReceiptBuilder},
};
use alloy_primitives::{Address, TxKind, U256, keccak256};
use alloy_sol_types::SolCall;
use common::{TestChain, key};
use revm::{
    DatabaseCommit,
    context::TxEnv,
    database::{CacheDB, EmptyDB, State, states::bundle_state::BundleRetention},
    state::{AccountInfo, Bytecode},
};
use surge_host::{StateDiff, execute::execute_block, storage::tables::StoredAccount};
use surge_primitives::bindings::{test_storage_logs::StorageLogs, test_token::TestToken};
use surge_primitives::block_state::BlockState;

/// A plain revm database holding the same state as the chain (kept in step by replaying the same blocks).
struct Baseline {
    db: CacheDB<EmptyDB>,
}

/// The block environment of `header` and the transactions as revm takes them.
fn block_envs(
    chain: &TestChain,
    header: &alloy::consensus::Header,
    txs: &[Recovered<TxEnvelope>],
) -> (EvmEnv, Vec<TxEnv>) {
    let env =
        EvmEnv::for_eth_block(header, &chain.spec, chain.spec.chain_id, chain.spec.blob_params_at(header.timestamp));
    (env, txs.iter().map(|t| TxEnv::from_recovered_tx(t.inner(), t.signer())).collect())
}

impl Baseline {
    fn new(chain: &TestChain) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        for (address, account) in &chain.spec.genesis.alloc {
            let code = account.code.clone().unwrap_or_default();
            let mut info = AccountInfo::from_balance(account.balance);
            info.nonce = account.nonce.unwrap_or(0);
            if !code.is_empty() {
                info = info.with_code(Bytecode::new_raw(code));
            }
            db.insert_account_info(*address, info);
            for (k, v) in account.storage.clone().unwrap_or_default() {
                db.insert_account_storage(*address, k.into(), v.into()).unwrap();
            }
        }
        Self { db }
    }

    /// Executes `txs` as a block executor does, through revm's `State` with bundle tracking (what building
    /// a block needs to know what changed), over the same in-memory database, keeping nothing; the time taken.
    fn run_with_bundle(
        &self,
        chain: &TestChain,
        header: &alloy::consensus::Header,
        txs: &[Recovered<TxEnvelope>],
    ) -> Duration {
        self.timed(chain, header, txs, |db, env, envs| {
            let mut state = State::builder().with_database_ref(db).with_bundle_update().build();
            transact_all(&mut state, env, envs);
            state.merge_transitions(BundleRetention::PlainState);
            state.take_bundle()
        })
    }

    /// The same through surge-primitives' `BlockState` (what our executors use), over the same in-memory
    /// database: what tracking the block's changes costs without any store read.
    fn run_with_block_state(
        &self,
        chain: &TestChain,
        header: &alloy::consensus::Header,
        txs: &[Recovered<TxEnvelope>],
    ) -> Duration {
        self.timed(chain, header, txs, |db, env, envs| {
            let mut state = BlockState::new(db, 2 * envs.len() + 16);
            transact_all(&mut state, env, envs);
            state.into_changes()
        })
    }

    /// The same inside alloy-evm's block executor (system calls, receipts with blooms, the executor's
    /// bookkeeping), still over the in-memory database: what a block costs beyond its transactions.
    fn run_with_executor(
        &self,
        chain: &TestChain,
        header: &alloy::consensus::Header,
        txs: &[Recovered<TxEnvelope>],
    ) -> Duration {
        let env = EvmEnv::for_eth_block(
            header,
            &chain.spec,
            chain.spec.chain_id,
            chain.spec.blob_params_at(header.timestamp),
        );
        cool_caches();
        let start = Instant::now();
        let mut state = BlockState::new(&self.db, 2 * txs.len() + 16);
        let evm = EthEvmFactory::default().create_evm(&mut state, env);
        let ctx = EthBlockExecutionCtx {
            parent_hash: header.parent_hash,
            parent_beacon_block_root: header.parent_beacon_block_root,
            ommers: &[],
            withdrawals: header.withdrawals_root.is_some().then(Default::default),
            extra_data: header.extra_data.clone(),
            tx_count_hint: Some(txs.len()),
            slot_number: None,
        };
        let mut executor = EthBlockExecutor::new(evm, ctx, &chain.spec, AlloyReceiptBuilder::default());
        executor.apply_pre_execution_changes().unwrap();
        for tx in txs {
            executor.execute_transaction(tx).unwrap();
        }
        let result = executor.apply_post_execution_changes().unwrap();
        let changes = state.into_changes();
        let elapsed = start.elapsed();
        drop((result, changes));
        elapsed
    }

    /// How long `run` takes on the in-memory database with `txs` in `header`'s environment, the
    /// conversion of the signed transactions into revm's `TxEnv` included (what it returns is dropped
    /// after the clock stops).
    fn timed<T>(
        &self,
        chain: &TestChain,
        header: &alloy::consensus::Header,
        txs: &[Recovered<TxEnvelope>],
        run: impl FnOnce(&CacheDB<EmptyDB>, EvmEnv, Vec<TxEnv>) -> T,
    ) -> Duration {
        cool_caches();
        let start = Instant::now();
        let (env, envs) = block_envs(chain, header, txs);
        let kept = run(&self.db, env, envs);
        let elapsed = start.elapsed();
        drop(kept);
        elapsed
    }

    /// Executes `txs` in the environment of `header`, committing to the database; returns the time taken.
    fn run(&mut self, chain: &TestChain, header: &alloy::consensus::Header, txs: &[Recovered<TxEnvelope>]) -> Duration {
        cool_caches();
        let start = Instant::now();
        let (env, envs) = block_envs(chain, header, txs);
        transact_all(&mut self.db, env, envs);
        start.elapsed()
    }
}

/// Evicts the CPU caches (by writing more memory than they hold) so that every measured run starts
/// alike, whatever ran before it: without this the baselines, which run one after another on the same
/// transactions, found each other's data in cache and ours did not.
fn cool_caches() {
    let mut buffer = vec![1u8; 64 << 20];
    for i in (0..buffer.len()).step_by(64) {
        buffer[i] = buffer[i].wrapping_add(i as u8);
    }
    std::hint::black_box(&buffer);
}

/// Executes and commits each transaction on `db`.
fn transact_all<DB: alloy_evm::Database + DatabaseCommit>(db: DB, env: EvmEnv, txs: Vec<TxEnv>) {
    let mut evm = EthEvmFactory::default().create_evm(db, env);
    for tx in txs {
        evm.transact_commit(tx).unwrap();
    }
}

#[derive(Default)]
struct Sample {
    exec: Vec<Duration>,
    root: Vec<Duration>,
    commit: Vec<Duration>,
    revm: Vec<Duration>,
    bundle: Vec<Duration>,
    tracked: Vec<Duration>,
    executor: Vec<Duration>,
    gas: u64,
}

/// Blocks per size (`SURGE_BENCH_ROUNDS`, default 5; more for profiling).
fn rounds() -> u64 {
    std::env::var("SURGE_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5)
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Executes, writes and commits one block, timing each phase.
fn timed_block(
    chain: &mut TestChain,
    txs: Vec<Recovered<TxEnvelope>>,
) -> (Duration, Duration, Duration, alloy::consensus::Header) {
    let parent = chain.store.head().unwrap();
    let input = common::next_input(&parent);
    cool_caches();
    let t0 = Instant::now();
    let executed = execute_block(&chain.spec, chain.store.latest_state().unwrap(), &parent, &input, txs).unwrap();
    let t1 = Instant::now();
    let (sealed, times) = chain.store.commit_block_timed(executed).unwrap();
    (t1 - t0, times.state_root, times.commit, sealed.header.header)
}

fn transfers(chain: &mut TestChain, n: usize, round: u64) -> Vec<Recovered<TxEnvelope>> {
    (0..n)
        .map(|i| {
            let from = key((i % 10) as u8);
            let to = recipient(round, i);
            chain.tx(&from, TxKind::Call(to), U256::from(1), vec![])
        })
        .collect()
}

/// A fresh recipient for transaction `i` of round `round`.
fn recipient(round: u64, i: usize) -> Address {
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&round.to_be_bytes());
    seed[8..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from_word(keccak256(seed))
}

fn block_sizes() {
    println!(
        "== per-block cost (median of SURGE_BENCH_ROUNDS blocks, 5 by default; ours = alloy-evm executor on the redb store, revm = plain revm on an in-memory db, revm+bundle = the same through revm's bundle-tracking State, revm+block = through our BlockState, revm+executor = alloy-evm's block executor over BlockState on the in-memory db; every run starts with cold CPU caches and the baselines' clocks include building TxEnvs; commit = logged, without waiting for the disk; flush = the durable commit of all the rounds' blocks)"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>10} {:>12} {:>11} {:>12} {:>11} {:>12} {:>10} {:>13} {:>12}",
        "block",
        "exec ms",
        "root ms",
        "commit ms",
        "total ms",
        "ours Mgas/s",
        "revm ms",
        "revm Mgas/s",
        "exec ratio",
        "revm+bundle",
        "its ratio",
        "revm+block",
        "its ratio",
        "flush ms",
        "revm+executor",
        "its ratio"
    );
    for (label, kind, n) in [
        ("10 transfers", 0, 10),
        ("100 transfers", 0, 100),
        ("1000 transfers", 0, 1000),
        ("100 ERC20 transfers", 1, 100),
    ] {
        if std::env::var("SURGE_BENCH_ONLY").is_ok_and(|only| !label.contains(only.as_str())) {
            continue;
        }
        let mut chain = TestChain::new();
        let mut baseline = Baseline::new(&chain);
        let token = key(0).address().create(0);
        if kind == 1 {
            let mut code = TestToken::BYTECODE.to_vec();
            code.extend_from_slice(&U256::from(10u64.pow(30)).to_be_bytes::<32>());
            let deploy = chain.tx(&key(0), TxKind::Create, U256::ZERO, code);
            let (_, _, _, header) = timed_block(&mut chain, vec![deploy.clone()]);
            baseline.run(&chain, &header, &[deploy]);
        }
        let mut s = Sample::default();
        for round in 0..rounds() {
            let txs = if kind == 0 {
                transfers(&mut chain, n, round)
            } else {
                (0..n)
                    .map(|i| {
                        let to = recipient(round, i);
                        let call = TestToken::transferCall { to, value: U256::from(5) };
                        chain.tx(&key(0), TxKind::Call(token), U256::ZERO, call.abi_encode())
                    })
                    .collect()
            };
            let (exec, root, commit, header) = timed_block(&mut chain, txs.clone());
            s.bundle.push(baseline.run_with_bundle(&chain, &header, &txs));
            s.tracked.push(baseline.run_with_block_state(&chain, &header, &txs));
            s.executor.push(baseline.run_with_executor(&chain, &header, &txs));
            s.revm.push(baseline.run(&chain, &header, &txs));
            s.exec.push(exec);
            s.root.push(root);
            s.commit.push(commit);
            s.gas = header.gas_used;
        }
        // The rounds' blocks were committed without waiting for the disk; this is the durable commit that
        // a store makes every 64 blocks (and on close), here for the rounds' blocks.
        let flushed = Instant::now();
        chain.store.flush().unwrap();
        let flush = flushed.elapsed();
        let (exec, root, commit, revm) = (median(&s.exec), median(&s.root), median(&s.commit), median(&s.revm));
        let (bundle, tracked, executor) = (median(&s.bundle), median(&s.tracked), median(&s.executor));
        let mgas = |d: Duration| s.gas as f64 / d.as_secs_f64() / 1e6;
        println!(
            "{:<22} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1} {:>9.2} {:>10.1} {:>11.2}x {:>11.2} {:>11.2}x {:>11.2} {:>11.2}x {:>10.2} {:>13.2} {:>11.2}x",
            label,
            ms(exec),
            ms(root),
            ms(commit),
            ms(exec + root + commit),
            mgas(exec),
            ms(revm),
            mgas(revm),
            exec.as_secs_f64() / revm.as_secs_f64(),
            ms(bundle),
            bundle.as_secs_f64() / revm.as_secs_f64(),
            ms(tracked),
            tracked.as_secs_f64() / revm.as_secs_f64(),
            ms(flush),
            ms(executor),
            executor.as_secs_f64() / revm.as_secs_f64()
        );
    }
}

/// Writes `diff` straight into the state (a bulk load for the growth curves; no block is recorded).
fn bulk(chain: &TestChain, diff: &StateDiff) {
    chain.store.load_state(diff).unwrap();
}

fn account_growth() {
    println!("\n== state-root time per block of 100 transfers to new accounts, as the account count grows");
    println!("{:>12} {:>14} {:>12}", "accounts", "state+root ms", "commit ms");
    let mut chain = TestChain::new();
    let mut loaded = 0u64;
    let mut round = 100;
    for target in [10_000u64, 100_000, 1_000_000] {
        while loaded < target {
            let chunk = (target - loaded).min(250_000);
            let mut diff = StateDiff::default();
            for i in loaded..loaded + chunk {
                let a = Address::from_word(keccak256(i.to_be_bytes()));
                diff.accounts.insert(
                    a,
                    Some(StoredAccount {
                        nonce: 1,
                        balance: U256::from(i),
                        code_hash: alloy::consensus::constants::KECCAK_EMPTY,
                    }),
                );
            }
            bulk(&chain, &diff);
            loaded += chunk;
        }
        let mut roots = vec![];
        let mut commits = vec![];
        for _ in 0..5 {
            round += 1;
            let txs = transfers(&mut chain, 100, round);
            let (_, root, commit, _) = timed_block(&mut chain, txs);
            roots.push(root);
            commits.push(commit);
        }
        println!("{:>12} {:>14.2} {:>12.2}", target, ms(median(&roots)), ms(median(&commits)));
    }
}

fn storage_growth() {
    println!("\n== state-root time per block of 100 new slots in one contract, as its storage grows");
    println!("{:>12} {:>14} {:>12}", "slots", "state+root ms", "commit ms");
    let mut chain = TestChain::new();
    let deploy = chain.tx(&key(0), TxKind::Create, U256::ZERO, StorageLogs::BYTECODE.to_vec());
    let app = key(0).address().create(0);
    timed_block(&mut chain, vec![deploy]);
    let mut loaded = 0u64;
    let mut next_key = 10_000_000u64;
    for target in [1_000u64, 10_000, 100_000, 1_000_000] {
        while loaded < target {
            let chunk = (target - loaded).min(250_000);
            let mut diff = StateDiff::default();
            let slots = diff.storage.entry(app).or_default();
            for i in loaded..loaded + chunk {
                slots.insert(common::mapping_slot(i), U256::from(i + 1));
            }
            bulk(&chain, &diff);
            loaded += chunk;
        }
        let mut roots = vec![];
        let mut commits = vec![];
        for _ in 0..5 {
            let txs = (0..100)
                .map(|_| {
                    next_key += 1;
                    let call = StorageLogs::storeCall { key: U256::from(next_key), value: U256::from(1) };
                    chain.tx(&key(1), TxKind::Call(app), U256::ZERO, call.abi_encode())
                })
                .collect();
            let (_, root, commit, _) = timed_block(&mut chain, txs);
            roots.push(root);
            commits.push(commit);
        }
        println!("{:>12} {:>14.2} {:>12.2}", target, ms(median(&roots)), ms(median(&commits)));
    }
}

fn main() {
    block_sizes();
    if std::env::var_os("SURGE_BENCH_BLOCKS_ONLY").is_some() {
        return;
    }
    account_growth();
    storage_growth();
}
