//! The host's implementations of the extension seams (`surge-interfaces`).

use std::sync::{Arc, Mutex, mpsc};

use alloy::consensus::Header;
use alloy_evm::EvmEnv;
use alloy_primitives::B256;
use surge_interfaces::{CanonStateSubscriptions, ConfigureEvm, StateProviderFactory, TransactionPool};
use surge_l2_rules::{FeeRules, TaikoEvmFactory};
use surge_txpool::{BestTransactions, PooledTx, TxPool};

use crate::{
    ChainSpec, SealedHeader, StateProvider, Store, StoreError,
    execute::{BlockInput, next_header},
    notifications::{Chain, Subscription},
};

/// Headers and state from the store.
#[derive(Debug, Clone)]
pub struct HostProvider(pub Arc<Store>);

impl StateProviderFactory for Store {
    type Error = StoreError;
    type State = StateProvider;

    fn latest_header(&self) -> Result<(Header, B256), StoreError> {
        let head = self.head()?;
        Ok((head.header, head.hash))
    }

    fn header_by_number(&self, number: u64) -> Result<Option<(Header, B256)>, StoreError> {
        Ok(self.header(number)?.map(|h| (h.header, h.hash)))
    }

    fn state_by_block_number(&self, number: u64) -> Result<StateProvider, StoreError> {
        self.state_at(number)
    }
}

impl StateProviderFactory for HostProvider {
    type Error = StoreError;
    type State = StateProvider;

    fn latest_header(&self) -> Result<(Header, B256), StoreError> {
        self.0.latest_header()
    }

    fn header_by_number(&self, number: u64) -> Result<Option<(Header, B256)>, StoreError> {
        self.0.as_ref().header_by_number(number)
    }

    fn state_by_block_number(&self, number: u64) -> Result<StateProvider, StoreError> {
        self.0.state_by_block_number(number)
    }
}

/// The chain's EVM configuration.
#[derive(Debug, Clone)]
pub struct HostEvmConfig(pub Arc<ChainSpec>);

impl ConfigureEvm for HostEvmConfig {
    type Factory = TaikoEvmFactory;

    fn evm_env(&self, header: &Header) -> EvmEnv {
        EvmEnv::for_eth_block(header, &*self.0, self.0.chain_id, self.0.blob_params_at(header.timestamp))
    }

    fn next_evm_env(&self, parent: &Header, timestamp: u64) -> EvmEnv {
        let parent = SealedHeader::seal(parent.clone());
        let mut input = BlockInput { timestamp, ..Default::default() };
        if self.0.l2.is_some() {
            input.extra_data = surge_l2_rules::encode_extra_data(0, 0).unwrap_or_default();
        }
        self.evm_env(&next_header(&self.0, &parent, &input))
    }

    fn simulation_factory(&self) -> TaikoEvmFactory {
        TaikoEvmFactory { rules: FeeRules::simulation(self.0.chain_id) }
    }
}

/// The pool rules of `spec`'s chain: on L2 only types 0, 1 and 2, no per-transaction cap beyond the
/// block's gas for user transactions (the limit minus the anchor's 1,000,000), and the golden touch denied
/// (its key is public); on L1 every current type.
pub fn pool_config(spec: &ChainSpec, block_gas_limit: u64) -> surge_txpool::PoolConfig {
    let mut config = surge_txpool::PoolConfig::ethereum(spec.chain_id, block_gas_limit);
    let genesis_ts = spec.genesis.timestamp;
    config.shanghai = alloy_hardforks::EthereumHardforks::is_shanghai_active_at_timestamp(spec, genesis_ts);
    config.prague = alloy_hardforks::EthereumHardforks::is_prague_active_at_timestamp(spec, genesis_ts);
    if !alloy_hardforks::EthereumHardforks::is_osaka_active_at_timestamp(spec, genesis_ts) {
        config.tx_gas_cap = None;
    }
    if spec.l2.is_some() {
        config.allowed_types = vec![0, 1, 2];
        config.denied_senders = vec![surge_primitives::GOLDEN_TOUCH_ADDRESS];
        config.block_gas_limit = block_gas_limit.saturating_sub(surge_l2_rules::ANCHOR_GAS_LIMIT);
    }
    config
}

/// The pool, shared.
#[derive(Debug, Clone)]
pub struct PoolHandle(pub Arc<Mutex<TxPool>>);

impl PoolHandle {
    fn pool(&self) -> std::sync::MutexGuard<'_, TxPool> {
        // A panic while holding the lock cannot leave the pool half-updated in a way reads care about.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TransactionPool for PoolHandle {
    fn new_transactions_listener(&self) -> mpsc::Receiver<Arc<PooledTx>> {
        self.pool().subscribe_new_transactions()
    }

    fn best_transactions(&self) -> BestTransactions {
        self.pool().best_transactions()
    }
}

/// The canonical chain, shared.
#[derive(Debug, Clone)]
pub struct ChainHandle(pub Arc<Mutex<Chain>>);

impl CanonStateSubscriptions for ChainHandle {
    type Subscription = Subscription;
    type Error = StoreError;

    fn subscribe(&self, from: Option<u64>) -> Result<Subscription, StoreError> {
        let mut chain = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match from {
            Some(height) => chain.subscribe_from(height),
            None => Ok(chain.subscribe()),
        }
    }

    fn finished_height(&self, consumer: usize, height: u64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).finished_height(consumer, height);
    }
}
