//! The transaction pool: validation with one typed error per rule, pending and queued transactions by
//! sender nonce, replacement by fee bump, eviction, per-sender limits, a best-transactions iterator with
//! `mark_invalid`, and listeners for new transactions and lifecycle events — the surface reth's
//! `TransactionPool` offers extensions.

mod best;
mod pool;
mod validate;

pub use best::BestTransactions;
pub use pool::{AccountState, SubPool, TxPool};
pub use surge_interfaces::pool::without_sidecar;
pub use surge_interfaces::{PoolEvent, PooledTx, TransactionOrigin};
pub use validate::{PoolConfig, PoolError, ValidTx, intrinsic_gas, validate_stateless};
