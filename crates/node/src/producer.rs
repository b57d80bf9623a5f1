//! Block production: a loop that asks a [`PayloadBuilder`] for a block on a timer or as soon as
//! transactions arrive (instant mode), commits it through the chain (so notifications go out) and moves
//! the pool to the new head.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::{Address, B256, keccak256};
use surge_interfaces::{
    BestTransactions, BuiltBlock, InvalidKind, NextBlockAttributes, PayloadBuilder, PayloadBuilderError, PooledTx,
    TransactionPool,
};
use surge_txpool::{AccountState, PoolError};
use tracing::{debug, info, info_span, warn};

use crate::{
    ChainSpec, SealedHeader, StateProvider, Store, StoreError,
    execute::{ExecuteError, TxSource, build_block},
    notifications::Chain,
    seams::PoolHandle,
};

/// How often a producer waiting out its block time checks whether it was stopped.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// A production failure.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block could not be executed.
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// The pool could not follow the new head.
    #[error("updating the pool: {0}")]
    Pool(#[from] PoolError),
    /// The payload builder failed (nothing it staged was consumed).
    #[error("building block {number}: {source}")]
    Build {
        /// The block.
        number: u64,
        /// What failed.
        source: PayloadBuilderError,
    },
    /// Production is paused (chain control).
    #[error("block production is paused")]
    Paused,
}

/// The Ethereum-rules builder: fills the block from the pool's best transactions until the gas runs out
/// or the deadline passes.
#[derive(Debug, Clone)]
pub struct EthereumPayloadBuilder {
    /// The chain.
    pub spec: Arc<ChainSpec>,
    /// The pool.
    pub pool: PoolHandle,
}

/// The pool's best transactions as the host's block executor asks for them: within the gas left, until
/// the deadline.
struct PoolSource {
    best: Box<dyn BestTransactions>,
    current: Option<Arc<PooledTx>>,
    deadline: Option<Instant>,
    /// The pool's size when the block started.
    pooled: usize,
}

impl TxSource for PoolSource {
    fn next_tx(&mut self, gas_left: u64) -> Option<Recovered<TxEnvelope>> {
        use alloy::consensus::Transaction;
        while self.deadline.is_none_or(|d| Instant::now() < d) {
            let tx = self.best.next()?;
            if tx.tx.gas_limit() > gas_left {
                // Does not fit: its sender's later nonces cannot follow it into this block.
                self.best.mark_invalid(&tx, InvalidKind::NotThisBlock("no gas left in the block".into()));
                continue;
            }
            let recovered = Recovered::new_unchecked(surge_txpool::without_sidecar(&tx.tx), tx.sender);
            self.current = Some(tx);
            return Some(recovered);
        }
        None
    }

    fn skip_invalid(&mut self, tx: &Recovered<TxEnvelope>, kind: InvalidKind) -> bool {
        debug!(hash = %tx.tx_hash(), reason = kind.reason(), "skipping a transaction that cannot execute");
        if let Some(current) = self.current.take().filter(|c| c.hash == *tx.tx_hash()) {
            self.best.mark_invalid(&current, kind);
        }
        true
    }

    fn size_hint(&self) -> usize {
        self.pooled
    }
}

impl PayloadBuilder<Store> for EthereumPayloadBuilder {
    fn build(
        &self,
        store: &Store,
        parent: &SealedHeader,
        attributes: &NextBlockAttributes,
    ) -> Result<BuiltBlock, PayloadBuilderError> {
        let pooled = self.pool.pool().len();
        let best = self.pool.best_transactions();
        let mut source = PoolSource { best, current: None, deadline: attributes.deadline, pooled };
        Ok(build_block(&self.spec, store.latest_state()?, parent, attributes, &mut source)?)
    }
}

fn nonce_and_balance(
    account: Result<Option<crate::storage::tables::StoredAccount>, crate::StoreError>,
) -> Result<(u64, alloy_primitives::U256), PoolError> {
    let account = account.map_err(|e| PoolError::State(e.to_string()))?;
    Ok(account.map_or((0, alloy_primitives::U256::ZERO), |a| (a.nonce, a.balance)))
}

/// One snapshot for every check (a new head's re-validation of many senders).
impl AccountState for StateProvider {
    fn nonce_and_balance(&self, address: &Address) -> Result<(u64, alloy_primitives::U256), PoolError> {
        nonce_and_balance(self.account(address))
    }
}

/// The head at each check, from the state cache when it can answer (admission: no read transaction per
/// transaction).
impl AccountState for Store {
    fn nonce_and_balance(&self, address: &Address) -> Result<(u64, alloy_primitives::U256), PoolError> {
        nonce_and_balance(self.latest_account(address))
    }
}

/// When blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductionMode {
    /// One block per interval, empty or not.
    Interval(Duration),
    /// A block as soon as transactions arrive (checked every tick).
    Instant {
        /// How long the producer waits for a transaction before checking for a stop.
        tick: Duration,
    },
}

/// The production loop's parts.
pub struct Producer {
    /// The chain's name in logs ("L1", "L2").
    pub name: &'static str,
    /// The chain blocks are committed to.
    pub chain: Arc<Mutex<Chain>>,
    /// The pool blocks are filled from.
    pub pool: PoolHandle,
    /// The builder.
    pub builder: Arc<dyn PayloadBuilder<Store>>,
    /// The chain spec (base fee of the next block for the pool).
    pub spec: Arc<ChainSpec>,
    /// The fee recipient.
    pub fee_recipient: Address,
    /// Time left to the builder for filling a block.
    pub build_time: Duration,
    /// Set while production is paused (chain control).
    pub paused: Arc<AtomicBool>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("fee_recipient", &self.fee_recipient).finish()
    }
}

/// Stops the loop when dropped or on [`ProducerHandle::stop`].
#[derive(Debug)]
pub struct ProducerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProducerHandle {
    /// Stops the loop and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ProducerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Producer {
    /// Builds and commits one block on the head, then moves the pool to it.
    pub fn produce_one(&self) -> Result<SealedHeader, ProduceError> {
        let mut chain = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        if self.paused.load(Ordering::SeqCst) {
            return Err(ProduceError::Paused);
        }
        let parent = chain.store().head()?;
        let number = parent.header.number + 1;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let _span = info_span!("build_block", chain = self.name, number).entered();
        let started = Instant::now();
        let attributes = NextBlockAttributes {
            timestamp: now.max(parent.header.timestamp + 1),
            fee_recipient: self.fee_recipient,
            prev_randao: keccak256(parent.hash),
            deadline: Some(Instant::now() + self.build_time),
            ..Default::default()
        };
        let block = self
            .builder
            .build(chain.store(), &parent, &attributes)
            .map_err(|source| ProduceError::Build { number, source })?;
        let mined: Vec<B256> = block.body.transactions.iter().map(|t| *t.hash()).collect();
        let built = started.elapsed();
        let (sealed, times) = chain.commit_timed(block.into())?;
        let state = chain.store().latest_state()?;
        let base_fee = self.spec.next_base_fee(&sealed.header, parent.header.timestamp);
        self.pool.pool().on_new_head(sealed.header.number, base_fee, &mined, &state)?;
        let cache = chain.store().state_cache_stats();
        let seconds = started.elapsed().as_secs_f64();
        let chain = self.name.to_lowercase();
        metrics::counter!("surge_blocks_built_total", "chain" => chain.clone()).increment(1);
        if times.durable {
            metrics::counter!("surge_durable_commits_total", "chain" => chain.clone()).increment(1);
        }
        metrics::gauge!("surge_block_build_seconds", "chain" => chain.clone()).set(seconds);
        metrics::gauge!("surge_block_build_seconds_total", "chain" => chain.clone()).increment(seconds);
        metrics::gauge!("surge_block_height", "chain" => chain.clone()).set(sealed.header.number as f64);
        metrics::counter!("surge_state_cache_hits_total", "chain" => chain.clone()).absolute(cache.hits);
        metrics::counter!("surge_state_cache_misses_total", "chain" => chain.clone()).absolute(cache.misses);
        metrics::gauge!("surge_state_cache_entries", "chain" => chain).set((cache.accounts + cache.slots) as f64);
        info!(
            chain = self.name,
            number = sealed.header.number,
            hash = %sealed.hash,
            txs = mined.len(),
            gas = sealed.header.gas_used,
            build_ms = built.as_secs_f64() * 1e3,
            root_ms = times.state_root.as_secs_f64() * 1e3,
            commit_ms = times.commit.as_secs_f64() * 1e3,
            durable = times.durable,
            "block committed"
        );
        Ok(sealed)
    }

    /// Runs the loop on its own thread until the handle is stopped or dropped (the producer stays usable
    /// for blocks on demand, such as a dev `evm_mine`).
    pub fn spawn(self: Arc<Self>, mode: ProductionMode) -> ProducerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let mut listener = self.pool.new_transactions_listener();
        let thread = std::thread::spawn(move || {
            // Transactions that arrived while production was paused still want a block once it resumes.
            let mut owed = false;
            while !flag.load(Ordering::SeqCst) {
                let due = owed
                    | match mode {
                        ProductionMode::Interval(every) => {
                            // In steps, so that a stop never waits out a long block time.
                            let until = Instant::now() + every;
                            while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                                std::thread::sleep(until.saturating_duration_since(Instant::now()).min(STOP_CHECK));
                            }
                            true
                        }
                        ProductionMode::Instant { tick } => {
                            // The pool never waits for this listener: look at it often until the tick is up.
                            let until = Instant::now() + tick;
                            while listener.is_empty() && Instant::now() < until {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            let mut any = false;
                            while listener.try_recv().is_some() {
                                any = true;
                            }
                            any
                        }
                    };
                owed = due && self.paused.load(Ordering::SeqCst);
                if due && !owed && !flag.load(Ordering::SeqCst) {
                    match self.produce_one() {
                        Ok(_) => {}
                        // Paused meanwhile: still owed.
                        Err(ProduceError::Paused) => owed = true,
                        Err(e) => warn!(chain = self.name, error = %e, "block production failed"),
                    }
                }
            }
        });
        ProducerHandle { stop, thread: Some(thread) }
    }
}
