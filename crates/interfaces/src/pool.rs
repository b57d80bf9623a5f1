//! The transaction pool as extensions see it: add, remove, best transactions with `mark_invalid`, a
//! listener of every admitted transaction and a stream of lifecycle events, both bounded.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use alloy::consensus::{Transaction, TxEnvelope};
use alloy_primitives::{Address, B256, U256};
use revm::context::result::InvalidTransaction;
use tokio::sync::mpsc;

/// Where a transaction came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionOrigin {
    /// Sent to the node (`eth_sendRawTransaction`).
    External,
    /// Added by an extension or the node itself.
    Local,
    /// Returned to the pool from a block that was unwound.
    Reinjected,
}

/// A pooled transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PooledTx {
    /// Its hash.
    pub hash: B256,
    /// Its sender.
    pub sender: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Gas limit × max fee + value.
    pub cost: U256,
    /// The transaction.
    pub tx: TxEnvelope,
    /// Arrival order, to break ties first come, first served.
    pub id: u64,
    /// Where it came from.
    pub origin: TransactionOrigin,
}

impl PooledTx {
    /// Max fee per gas.
    pub fn max_fee(&self) -> u128 {
        self.tx.max_fee_per_gas()
    }

    /// Max priority fee (the gas price for legacy transactions).
    pub fn max_tip(&self) -> u128 {
        self.tx.max_priority_fee_per_gas().unwrap_or_else(|| self.tx.max_fee_per_gas())
    }

    /// What the block producer earns per gas at `base_fee`, or `None` if the fee cap is below it.
    pub fn effective_tip(&self, base_fee: u64) -> Option<u128> {
        let base = u128::from(base_fee);
        (self.max_fee() >= base).then(|| self.max_tip().min(self.max_fee() - base))
    }
}

/// The transaction as a block carries it: a blob transaction without its sidecar.
pub fn without_sidecar(tx: &TxEnvelope) -> TxEnvelope {
    match tx {
        TxEnvelope::Eip4844(signed) => {
            let inner = signed.tx().tx().clone();
            TxEnvelope::Eip4844(alloy::consensus::Signed::new_unchecked(
                alloy::consensus::TxEip4844Variant::TxEip4844(inner),
                *signed.signature(),
                *signed.hash(),
            ))
        }
        other => other.clone(),
    }
}

/// A transaction's lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// Became executable.
    Pending(B256),
    /// Became (or stayed on arrival) not executable.
    Queued(B256),
    /// Included in block `block`.
    Mined {
        /// The transaction.
        hash: B256,
        /// The block.
        block: u64,
    },
    /// Replaced by a transaction with the same sender and nonce.
    Replaced {
        /// The old transaction.
        old: B256,
        /// Its replacement.
        new: B256,
    },
    /// Dropped (evicted, removed, or made stale by a new head).
    Discarded(B256),
    /// Removed because a block builder found that it can never execute, or refused it for good
    /// ([`InvalidKind::Rejected`]).
    Invalid {
        /// The transaction.
        hash: B256,
        /// Why.
        reason: String,
    },
}

impl PoolEvent {
    /// The transaction the event is about (the old one for a replacement).
    pub fn hash(&self) -> B256 {
        match self {
            Self::Pending(h) | Self::Queued(h) | Self::Discarded(h) => *h,
            Self::Mined { hash, .. } | Self::Invalid { hash, .. } => *hash,
            Self::Replaced { old, .. } => *old,
        }
    }
}

/// Why a block builder could not include a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidKind {
    /// Not in this block (no room left, its fee cap below this block's base fee, a nonce gap left by an
    /// earlier transaction, a balance that may still arrive): it stays in the pool.
    NotThisBlock(String),
    /// It can never execute as it is (stale nonce, intrinsic gas, chain id, type): it leaves the pool, and
    /// its sender's later transactions with it.
    Invalid(String),
    /// The block producer refuses it for good (a synchronous transaction whose answer no plan will give):
    /// it leaves the pool with this reason, and its sender's later transactions stay, queued behind the
    /// nonce it frees, for the sender to fill again.
    Rejected(String),
}

impl InvalidKind {
    /// The kind of a revm validation error.
    pub fn from_revm(e: &InvalidTransaction) -> Self {
        use InvalidTransaction as E;
        let reason = e.to_string();
        match e {
            E::NonceTooHigh { .. }
            | E::LackOfFundForMaxFee { .. }
            | E::OverflowPaymentInTransaction
            | E::GasPriceLessThanBasefee
            | E::CallerGasLimitMoreThanBlock
            | E::BlobGasPriceGreaterThanMax { .. }
            | E::TooManyBlobs { .. } => Self::NotThisBlock(reason),
            _ => Self::Invalid(reason),
        }
    }

    /// Whether the transaction must leave the pool.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Invalid(_) | Self::Rejected(_))
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        match self {
            Self::NotThisBlock(r) | Self::Invalid(r) | Self::Rejected(r) => r,
        }
    }
}

/// The receiving end of a bounded listener. The pool never waits for a listener: when its buffer is full
/// the item is dropped and counted ([`Listener::dropped`]).
#[derive(Debug)]
pub struct Listener<T> {
    rx: mpsc::Receiver<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> Listener<T> {
    /// The listener reading `rx`, whose sender counts in `dropped` the items it found no room for.
    pub fn new(rx: mpsc::Receiver<T>, dropped: Arc<AtomicU64>) -> Self {
        Self { rx, dropped }
    }

    /// The next item; `None` once the pool is gone.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// The next item if one is waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The items waiting now, without waiting for more.
    pub fn try_iter(&mut self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.rx.try_recv().ok())
    }

    /// Waits for the next item on a thread that is not a runtime worker.
    pub fn blocking_recv(&mut self) -> Option<T> {
        self.rx.blocking_recv()
    }

    /// Items dropped because this listener was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// Pending transactions in block-building order (reth's `BestTransactions`).
pub trait BestTransactions: Iterator<Item = Arc<PooledTx>> + Send {
    /// `tx` could not go into the block: its sender's later transactions are skipped, and a permanently
    /// invalid transaction leaves the pool with its reason ([`PoolEvent::Invalid`]).
    fn mark_invalid(&mut self, tx: &PooledTx, kind: InvalidKind);
}

/// Consulted before the pool replaces a transaction by another of the same sender and nonce, or evicts one
/// to make room: an extension that built on it (a plan, and the plans after it) refuses replacing it with a
/// reason the sender sees, and keeps it from being evicted (room is made elsewhere, or the newcomer is
/// refused).
pub trait ReplacementGuard: Send + Sync + std::fmt::Debug {
    /// `Err(reason)` refuses replacing `old`.
    fn may_replace(&self, old: &PooledTx) -> Result<(), String>;

    /// Whether the pool may evict `tx` to make room.
    fn may_evict(&self, tx: &PooledTx) -> bool {
        let _ = tx;
        true
    }
}

/// The pool.
pub trait TransactionPool: Send + Sync {
    /// Why a transaction was refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Validates an EIP-2718 encoded transaction against the head and admits it.
    fn add_transaction(&self, origin: TransactionOrigin, raw: &[u8]) -> Result<B256, Self::Error>;
    /// Removes transactions and their senders' later nonces (which can no longer execute); returns what
    /// was removed. Each gets a [`PoolEvent::Discarded`].
    fn remove_transactions(&self, hashes: &[B256]) -> Vec<Arc<PooledTx>>;
    /// Removes transactions refused for good, each alone with its reason (as [`InvalidKind::Rejected`]
    /// does: a [`PoolEvent::Invalid`], and [`TransactionPool::rejection`] gives the reason); returns what
    /// was removed.
    fn reject_transactions(&self, rejected: &[(B256, String)]) -> Vec<Arc<PooledTx>>;
    /// A pooled transaction.
    fn get(&self, hash: &B256) -> Option<Arc<PooledTx>>;
    /// Every pooled transaction of `sender`, pending and queued, in nonce order.
    fn transactions_by_sender(&self, sender: Address) -> Vec<Arc<PooledTx>>;
    /// Why `hash` left the pool refused for good ([`InvalidKind::Rejected`]), if it did recently (the
    /// pool keeps a bounded number of these; a durable record is its listeners' business).
    fn rejection(&self, hash: &B256) -> Option<String>;
    /// Pending transactions in block-building order.
    fn best_transactions(&self) -> Box<dyn BestTransactions>;
    /// Every transaction admitted from now on, whatever its origin and sub-pool.
    fn new_transactions_listener(&self) -> Listener<Arc<PooledTx>>;
    /// Every lifecycle event from now on.
    fn all_transactions_event_listener(&self) -> Listener<PoolEvent>;
    /// Adds a guard consulted before every replacement.
    fn add_replacement_guard(&self, guard: Arc<dyn ReplacementGuard>);
}
