//! The seams between the host and the extension crates (sync, builder, exex, rpc-ext). Extensions depend
//! on these traits only, never on the host's internals; each mirrors the reth seam it stands for, so a
//! reth adapter is a thin layer:
//!
//! | trait | reth counterpart |
//! |---|---|
//! | [`StateProviderFactory`] | `StateProviderFactory::state_by_block_number` + `HeaderProvider` |
//! | [`ConfigureEvm`] | `ConfigureEvm` (EVM environment and factory of a block) |
//! | [`TransactionPool`] | `TransactionPool::new_transactions_listener` + `best_transactions` |
//! | [`CanonStateSubscriptions`] | `ExExNotification` stream + `ExExEvent::FinishedHeight` |

use std::sync::{Arc, mpsc};

use alloy::consensus::Header;
use alloy_evm::{EvmEnv, EvmFactory};
use alloy_primitives::B256;
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    primitives::hardfork::SpecId,
};
use surge_txpool::{BestTransactions, PooledTx};

/// Headers and state by block.
pub trait StateProviderFactory {
    /// Read failure.
    type Error: std::error::Error + Send + Sync + revm::database_interface::DBErrorMarker + 'static;
    /// State at one block, as a revm database.
    type State: DatabaseRef<Error = Self::Error> + std::fmt::Debug;

    /// The canonical head's header and hash.
    fn latest_header(&self) -> Result<(Header, B256), Self::Error>;
    /// A canonical header and its hash.
    fn header_by_number(&self, number: u64) -> Result<Option<(Header, B256)>, Self::Error>;
    /// The state after canonical block `number` (the head or a recent block).
    fn state_by_block_number(&self, number: u64) -> Result<Self::State, Self::Error>;
    /// The state at the head.
    fn latest(&self) -> Result<Self::State, Self::Error> {
        let (header, _) = self.latest_header()?;
        self.state_by_block_number(header.number)
    }
}

/// The chain's EVM rules: which spec and block environment a block runs with, and which EVM.
pub trait ConfigureEvm {
    /// The EVM factory (Ethereum, or the L2's fee rules).
    type Factory: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>;

    /// The environment of an existing block.
    fn evm_env(&self, header: &Header) -> EvmEnv;
    /// The environment of a block on top of `parent` at `timestamp` (simulations of pending transactions).
    fn next_evm_env(&self, parent: &Header, timestamp: u64) -> EvmEnv;
    /// The EVM for simulations (eth_call, tracing, pre-simulation): no block-level fee rules, the base fee
    /// credited to no one.
    fn simulation_factory(&self) -> Self::Factory;
}

/// The pool as extensions see it.
pub trait TransactionPool {
    /// Every transaction admitted from now on (all origins).
    fn new_transactions_listener(&self) -> mpsc::Receiver<Arc<PooledTx>>;
    /// Pending transactions in block-building order.
    fn best_transactions(&self) -> BestTransactions;
}

/// Chain notifications for extensions (ExEx-style).
pub trait CanonStateSubscriptions {
    /// A notification stream.
    type Subscription;
    /// Catch-up failure.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Subscribes; with `from`, first catches up on the canonical blocks above that height.
    fn subscribe(&self, from: Option<u64>) -> Result<Self::Subscription, Self::Error>;
    /// Reports the height a consumer has finished with.
    fn finished_height(&self, consumer: usize, height: u64);
}
