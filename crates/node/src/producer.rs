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
use surge_builder::{PayloadTransactions, PoolTransactions};
use surge_interfaces::TransactionPool;
use surge_txpool::{AccountState, PoolError};
use tracing::{debug, info, info_span, warn};

use crate::{
    ChainSpec, ExecutedBlock, SealedHeader, StateProvider, Store, StoreError,
    execute::{BlockInput, ExecuteError, TxSource, build_block},
    notifications::Chain,
    seams::PoolHandle,
};

/// What the producer asks for: the block's own choices.
#[derive(Debug, Clone)]
pub struct PayloadAttributes {
    /// Timestamp.
    pub timestamp: u64,
    /// Fee recipient.
    pub fee_recipient: Address,
    /// `prevRandao`.
    pub prev_randao: B256,
    /// When to stop adding transactions and seal.
    pub deadline: Instant,
}

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
    /// The surge builder failed (nothing staged was consumed).
    #[error(transparent)]
    Build(#[from] surge_builder::BuildError),
    /// The L1 checkpoint for the anchor could not be read.
    #[error("reading the L1 checkpoint: {0}")]
    Checkpoint(String),
    /// The surge builder was set up on a chain without the L2 rules.
    #[error("chain {0} has no L2 rules (config.surge.l2): the surge builder builds L2 blocks only")]
    NotL2(u64),
}

/// Builds a block on a parent (reth's `PayloadBuilder::try_build`).
pub trait PayloadBuilder: Send + Sync {
    /// A block on `parent` with `attributes`, from the latest state in `store`.
    fn build(
        &self,
        store: &Store,
        parent: &SealedHeader,
        attributes: &PayloadAttributes,
    ) -> Result<ExecutedBlock, ProduceError>;

    /// The block last built is committed as `block` (builders that stage inputs consume them now).
    fn committed(&self, _block: &SealedHeader) {}
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
    txs: PoolTransactions,
    deadline: Instant,
}

impl TxSource for PoolSource {
    fn next_tx(&mut self, gas_left: u64) -> Option<Recovered<TxEnvelope>> {
        use alloy::consensus::Transaction;
        while Instant::now() < self.deadline {
            let tx = self.txs.next_tx()?;
            if tx.gas_limit() <= gas_left {
                return Some(tx);
            }
            // Does not fit; the sender's later nonces will fail their nonce check.
        }
        None
    }

    fn skip_invalid(&mut self, tx: &Recovered<TxEnvelope>) -> bool {
        debug!(hash = %tx.tx_hash(), "skipping a transaction that cannot execute");
        self.txs.mark_invalid(tx);
        true
    }
}

impl PayloadBuilder for EthereumPayloadBuilder {
    fn build(
        &self,
        store: &Store,
        parent: &SealedHeader,
        attributes: &PayloadAttributes,
    ) -> Result<ExecutedBlock, ProduceError> {
        let input = BlockInput {
            timestamp: attributes.timestamp,
            beneficiary: attributes.fee_recipient,
            prev_randao: attributes.prev_randao,
            ..Default::default()
        };
        let mut source =
            PoolSource { txs: PoolTransactions::new(self.pool.best_transactions()), deadline: attributes.deadline };
        Ok(build_block(&self.spec, store.latest_state()?, parent, &input, &mut source)?)
    }
}

impl AccountState for StateProvider {
    fn nonce_and_balance(&self, address: &Address) -> Result<(u64, alloy_primitives::U256), PoolError> {
        let account = self.account(address).map_err(|e| PoolError::State(e.to_string()))?;
        Ok(account.map_or((0, alloy_primitives::U256::ZERO), |a| (a.nonce, a.balance)))
    }
}

/// Counters an operator graphs: blocks built and the time building them took.
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Blocks built and committed.
    pub blocks: std::sync::atomic::AtomicU64,
    /// Microseconds the last block took (build and commit).
    pub last_build_micros: std::sync::atomic::AtomicU64,
    /// Microseconds all blocks took.
    pub total_build_micros: std::sync::atomic::AtomicU64,
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
    /// The chain blocks are committed to.
    pub chain: Arc<Mutex<Chain>>,
    /// The pool blocks are filled from.
    pub pool: PoolHandle,
    /// The builder.
    pub builder: Box<dyn PayloadBuilder>,
    /// The chain spec (base fee of the next block for the pool).
    pub spec: Arc<ChainSpec>,
    /// The fee recipient.
    pub fee_recipient: Address,
    /// Time left to the builder for filling a block.
    pub build_time: Duration,
    /// Counters.
    pub stats: Arc<ProducerStats>,
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
        let parent = chain.store().head()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let _span = info_span!("build_block", number = parent.header.number + 1).entered();
        let started = Instant::now();
        let attributes = PayloadAttributes {
            timestamp: now.max(parent.header.timestamp + 1),
            fee_recipient: self.fee_recipient,
            prev_randao: keccak256(parent.hash),
            deadline: Instant::now() + self.build_time,
        };
        let block = self.builder.build(chain.store(), &parent, &attributes)?;
        let mined: Vec<B256> = block.body.transactions.iter().map(|t| *t.hash()).collect();
        let sealed = chain.commit(block)?;
        self.builder.committed(&sealed);
        let state = chain.store().latest_state()?;
        let base_fee = self.spec.next_base_fee(&sealed.header, parent.header.timestamp);
        self.pool.0.lock().unwrap_or_else(|p| p.into_inner()).on_new_head(base_fee, &mined, &state)?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.blocks.fetch_add(1, Ordering::Relaxed);
        self.stats.last_build_micros.store(micros, Ordering::Relaxed);
        self.stats.total_build_micros.fetch_add(micros, Ordering::Relaxed);
        info!(
            number = sealed.header.number,
            hash = %sealed.hash,
            txs = mined.len(),
            gas = sealed.header.gas_used,
            "block committed"
        );
        Ok(sealed)
    }

    /// Runs the loop on its own thread until the handle is stopped or dropped (the producer stays usable
    /// for blocks on demand, such as a dev `evm_mine`).
    pub fn spawn(self: Arc<Self>, mode: ProductionMode) -> ProducerHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let listener = self.pool.new_transactions_listener();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let due = match mode {
                    ProductionMode::Interval(every) => {
                        std::thread::sleep(every);
                        true
                    }
                    ProductionMode::Instant { tick } => match listener.recv_timeout(tick) {
                        Ok(_) => {
                            while listener.try_recv().is_ok() {}
                            true
                        }
                        Err(_) => false,
                    },
                };
                if due
                    && !flag.load(Ordering::SeqCst)
                    && let Err(e) = self.produce_one()
                {
                    warn!(error = %e, "block production failed");
                }
            }
        });
        ProducerHandle { stop, thread: Some(thread) }
    }
}
