//! The transaction pool: validation with one typed error per rule, pending and queued transactions by
//! sender nonce, replacement by fee bump, eviction, geth's per-sender limits (account slots and queue, a lifetime for
//! queued transactions, a balance covering all of a sender's transactions), byte caps as reth's, a best-transactions iterator with
//! `mark_invalid`, and listeners for new transactions and lifecycle events — the surface reth's
//! `TransactionPool` offers extensions.

mod best;
mod evict;
mod listener;
mod pool;
mod validate;

pub use best::BestTransactions;
pub use listener::{ListenerSender, listener};
pub use pool::{AccountState, SubPool, TxPool};
pub use surge_interfaces::pool::without_sidecar;
pub use surge_interfaces::{PoolEvent, PooledTx, TransactionOrigin};
pub use validate::{
    DEFAULT_ACCOUNT_QUEUE, DEFAULT_ACCOUNT_SLOTS, DEFAULT_LIFETIME, DEFAULT_SUBPOOL_MAX_BYTES, PoolConfig, PoolError,
    ValidTx, intrinsic_gas, validate_stateless,
};
