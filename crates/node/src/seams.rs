//! The host's implementations of the extension seams (`surge-interfaces`).

use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, Ordering},
};

use alloy::{
    consensus::{Header, TxEnvelope},
    eips::Encodable2718,
};
use alloy_evm::EvmEnv;
use alloy_primitives::{Address, B256};
use surge_interfaces::{
    AccountProof, BestTransactions, BlockReader, ChainControl, ChainControlError, ChainNotifications, CommittedBlock,
    ConfigureEvm, FinishedHeight, InvalidKind, Listener, NextBlockAttributes, PayloadBuilder, PoolEvent, PooledTx,
    StateProofProvider, StateProviderFactory, SubscribeError, TransactionOrigin, TransactionPool, Unwound,
};
use surge_l2_rules::{FeeRules, TaikoEvmFactory};
use surge_txpool::{PoolError, TxPool};
use tracing::{info, warn};

use crate::{
    ChainSpec, SealedHeader, StateProvider, Store, StoreError,
    execute::next_header,
    notifications::{Chain, NotificationHub},
};

/// Items a pool listener may have waiting before the pool drops (and counts) the rest.
pub const DEFAULT_LISTENER_CAPACITY: usize = 10_000;

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

impl BlockReader for Store {
    fn block_transactions(&self, number: u64) -> Result<Option<Vec<TxEnvelope>>, StoreError> {
        Ok(self.body(number)?.map(|b| b.transactions))
    }

    fn transaction_block(&self, hash: B256) -> Result<Option<u64>, StoreError> {
        Ok(self.transaction_location(hash)?.map(|at| at.block))
    }

    fn block_receipts(&self, number: u64) -> Result<Option<Vec<alloy::consensus::ReceiptEnvelope>>, StoreError> {
        self.receipts(number)
    }
}

impl BlockReader for HostProvider {
    fn block_transactions(&self, number: u64) -> Result<Option<Vec<TxEnvelope>>, StoreError> {
        self.0.block_transactions(number)
    }

    fn block_receipts(&self, number: u64) -> Result<Option<Vec<alloy::consensus::ReceiptEnvelope>>, StoreError> {
        self.0.block_receipts(number)
    }

    fn transaction_block(&self, hash: B256) -> Result<Option<u64>, StoreError> {
        self.0.transaction_block(hash)
    }
}

impl StateProofProvider for Store {
    fn proof(&self, number: u64, address: Address, slots: &[B256]) -> Result<AccountProof, StoreError> {
        Store::proof(self, number, address, slots)
    }
}

/// Headers, state and proofs from the store, shared.
#[derive(Debug, Clone)]
pub struct HostProvider(pub Arc<Store>);

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

impl StateProofProvider for HostProvider {
    fn proof(&self, number: u64, address: Address, slots: &[B256]) -> Result<AccountProof, StoreError> {
        self.0.proof(number, address, slots)
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

    fn next_header<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &Header,
        attributes: &NextBlockAttributes,
    ) -> Result<Header, P::Error> {
        let grandparent_timestamp = match parent.number {
            0 => parent.timestamp,
            n => provider.header_by_number(n - 1)?.map_or(parent.timestamp, |(h, _)| h.timestamp),
        };
        Ok(next_header(&self.0, &SealedHeader::seal(parent.clone()), grandparent_timestamp, attributes))
    }

    fn simulation_factory(&self) -> TaikoEvmFactory {
        TaikoEvmFactory { rules: FeeRules::simulation(self.0.chain_id) }
    }

    fn block_factory(&self, anchor_nonce: Option<u64>) -> TaikoEvmFactory {
        let Some(l2) = &self.0.l2 else { return self.simulation_factory() };
        let rules = FeeRules::block(self.0.chain_id, l2.basefee_sharing_pctg, anchor_nonce.unwrap_or_default());
        TaikoEvmFactory { rules: FeeRules { anchor_nonce, ..rules } }
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
    config.osaka = alloy_hardforks::EthereumHardforks::is_osaka_active_at_timestamp(spec, genesis_ts);
    if !config.osaka {
        config.tx_gas_cap = None;
    }
    if spec.l2.is_some() {
        config.allowed_types = vec![0, 1, 2];
        config.denied_senders = vec![surge_primitives::GOLDEN_TOUCH_ADDRESS];
        config.block_gas_limit = block_gas_limit.saturating_sub(surge_l2_rules::ANCHOR_GAS_LIMIT);
    }
    config
}

/// The pool, shared, validating against the store's head.
#[derive(Debug, Clone)]
pub struct PoolHandle {
    pool: Arc<Mutex<TxPool>>,
    store: Arc<Store>,
    listener_capacity: usize,
}

fn lock(pool: &Mutex<TxPool>) -> MutexGuard<'_, TxPool> {
    // A panic while holding the lock cannot leave the pool half-updated in a way reads care about.
    pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PoolHandle {
    /// `pool` over `store`'s head.
    pub fn new(pool: TxPool, store: Arc<Store>) -> Self {
        Self { pool: Arc::new(Mutex::new(pool)), store, listener_capacity: DEFAULT_LISTENER_CAPACITY }
    }

    /// The pool itself, locked (keep the lock short: admission waits on it).
    pub fn pool(&self) -> MutexGuard<'_, TxPool> {
        lock(&self.pool)
    }

    /// Admits a transaction that passed the stateless checks (run those without the lock).
    pub fn add_valid(&self, valid: surge_txpool::ValidTx, origin: TransactionOrigin) -> Result<B256, PoolError> {
        Ok(self.pool().add_valid(valid, origin, self.store.as_ref())?.0)
    }
}

/// The pool's best transactions; a permanently invalid one leaves the pool at once.
struct HostBest {
    inner: surge_txpool::BestTransactions,
    pool: Arc<Mutex<TxPool>>,
}

impl Iterator for HostBest {
    type Item = Arc<PooledTx>;
    fn next(&mut self) -> Option<Arc<PooledTx>> {
        self.inner.next()
    }
}

impl BestTransactions for HostBest {
    fn mark_invalid(&mut self, tx: &PooledTx, kind: InvalidKind) {
        self.inner.skip_sender(tx);
        match kind {
            InvalidKind::Invalid(reason) => {
                lock(&self.pool).remove_invalid(tx.hash, &reason);
            }
            InvalidKind::Rejected(reason) => {
                lock(&self.pool).remove_rejected(tx.hash, &reason);
            }
            InvalidKind::NotThisBlock(_) => {}
        }
    }
}

impl TransactionPool for PoolHandle {
    type Error = PoolError;

    fn add_transaction(&self, origin: TransactionOrigin, raw: &[u8]) -> Result<B256, PoolError> {
        let config = self.pool().config().clone();
        let valid = surge_txpool::validate_stateless(raw, &config)?;
        self.add_valid(valid, origin)
    }

    fn remove_transactions(&self, hashes: &[B256]) -> Vec<Arc<PooledTx>> {
        self.pool().remove_with_descendants(hashes)
    }

    fn reject_transactions(&self, rejected: &[(B256, String)]) -> Vec<Arc<PooledTx>> {
        let mut pool = self.pool();
        rejected.iter().filter_map(|(hash, reason)| pool.remove_rejected(*hash, reason)).collect()
    }

    fn get(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.pool().get(hash)
    }

    fn transactions_by_sender(&self, sender: Address) -> Vec<Arc<PooledTx>> {
        self.pool().sender_transactions(&sender)
    }

    fn rejection(&self, hash: &B256) -> Option<String> {
        self.pool().rejection(hash).map(str::to_string)
    }

    fn best_transactions(&self) -> Box<dyn BestTransactions> {
        Box::new(HostBest { inner: self.pool().best_transactions(), pool: self.pool.clone() })
    }

    fn new_transactions_listener(&self) -> Listener<Arc<PooledTx>> {
        self.pool().subscribe_new_transactions(self.listener_capacity)
    }

    fn all_transactions_event_listener(&self) -> Listener<PoolEvent> {
        self.pool().subscribe_events(self.listener_capacity)
    }

    fn add_replacement_guard(&self, guard: Arc<dyn surge_interfaces::ReplacementGuard>) {
        self.pool().add_replacement_guard(guard);
    }
}

/// The canonical chain, shared: notification subscriptions and chain control.
#[derive(Clone)]
pub struct ChainHandle {
    /// The chain (block production holds its lock while it builds and commits).
    pub chain: Arc<Mutex<Chain>>,
    /// Its notifications.
    pub hub: Arc<NotificationHub>,
    /// The pool.
    pub pool: PoolHandle,
    /// The chain spec.
    pub spec: Arc<ChainSpec>,
    /// The payload builder (told about unwound blocks).
    pub builder: Arc<dyn PayloadBuilder<Store>>,
    /// Set while production is paused.
    pub paused: Arc<AtomicBool>,
}

impl std::fmt::Debug for ChainHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainHandle").field("paused", &self.paused).finish_non_exhaustive()
    }
}

impl ChainHandle {
    fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl surge_interfaces::CanonStateSubscriptions for ChainHandle {
    fn subscribe(&self, finished: Option<FinishedHeight>) -> Result<ChainNotifications, SubscribeError> {
        self.hub.subscribe(finished)
    }

    fn min_finished_height(&self) -> Option<u64> {
        self.hub.min_finished_height()
    }
}

impl ChainControl for ChainHandle {
    fn pause_production(&self) {
        self.paused.store(true, Ordering::SeqCst);
        // A build in progress holds the chain's lock: once we have it, none is running.
        drop(self.lock());
        info!(chain_id = self.spec.chain_id, "block production paused");
    }

    fn resume_production(&self) {
        self.paused.store(false, Ordering::SeqCst);
        info!(chain_id = self.spec.chain_id, "block production resumed");
    }

    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    fn persist(&self) -> Result<(), ChainControlError> {
        let store = self.lock().shared_store();
        store.flush().map_err(|e| ChainControlError::Persist { reason: e.to_string() })
    }

    fn unwind_to(&self, target: u64) -> Result<Unwound, ChainControlError> {
        let store_err = |e: StoreError| ChainControlError::Store { target, reason: e.to_string() };
        let mut chain = self.lock();
        let head = chain.store().head().map_err(store_err)?;
        if target > head.header.number {
            return Err(ChainControlError::AboveHead { target, head: head.header.number });
        }
        // The pool takes the transactions back before the revert is heard of: a consumer never finds one
        // neither mined nor pooled.
        let (_, unwound) =
            chain.revert_to_then(target, |store, old| self.take_back(store, target, old)).map_err(|e| match e {
                StoreError::Unwind { reason, .. } => ChainControlError::TooDeep { target, reason },
                e => store_err(e),
            })?;
        Ok(unwound)
    }
}

/// The host's components behind the seams, handed to extensions.
#[derive(Debug, Clone)]
pub struct HostComponents {
    /// Headers, state and proofs.
    pub provider: HostProvider,
    /// The chain's EVM rules.
    pub evm: HostEvmConfig,
    /// The pool.
    pub pool: PoolHandle,
    /// Chain control and notification subscriptions.
    pub chain: ChainHandle,
    /// The `safe` and `finalized` heights.
    pub tags: Arc<surge_interfaces::ChainTags>,
}

impl surge_interfaces::NodeComponents for HostComponents {
    type Provider = HostProvider;
    type Evm = HostEvmConfig;
    type Pool = PoolHandle;
    type Control = ChainHandle;
    type Subscriptions = ChainHandle;

    fn provider(&self) -> &HostProvider {
        &self.provider
    }

    fn evm_config(&self) -> &HostEvmConfig {
        &self.evm
    }

    fn pool(&self) -> &PoolHandle {
        &self.pool
    }

    fn control(&self) -> &ChainHandle {
        &self.chain
    }

    fn subscriptions(&self) -> &ChainHandle {
        &self.chain
    }

    fn tags(&self) -> &Arc<surge_interfaces::ChainTags> {
        &self.tags
    }
}

impl ChainHandle {
    /// Gives the unwound blocks' transactions (`old`, above `target`) back to the pool on the unwound `store`,
    /// anchors and the planner's own transactions excepted: they are rebuilt, not re-sent.
    fn take_back(&self, store: &Store, target: u64, old: &[CommittedBlock]) -> Unwound {
        // The chain is unwound already: whatever fails is reported, nothing is left half done.
        let owned = self.builder.own_transactions(old);
        let mut unwound = Unwound { blocks: old.iter().map(|b| b.number()).collect(), ..Default::default() };
        // The stateless checks (signature recovery) run before the pool's lock is taken.
        let config = self.pool.pool().config().clone();
        let returning: Vec<_> = old
            .iter()
            .flat_map(|b| b.body.transactions.iter().zip(&b.senders))
            .filter(|(tx, sender)| **sender != surge_primitives::GOLDEN_TOUCH_ADDRESS && !owned.contains(tx.hash()))
            .map(|(tx, _)| (*tx.hash(), surge_txpool::validate_stateless(&tx.encoded_2718(), &config)))
            .collect();
        let state = match store.latest_state() {
            Ok(state) => state,
            Err(e) => {
                warn!(target, error = %e, "reading the state after the unwind; its transactions are not re-added");
                let why = format!("reading the state after the unwind: {e}");
                unwound.refused.extend(returning.into_iter().map(|(hash, _)| (hash, why.clone())));
                return unwound;
            }
        };
        let mut pool = self.pool.pool();
        let base_fee = store.head().and_then(|h| self.spec.next_base_fee_after(store, &h.header)).unwrap_or_else(|e| {
            warn!(target, error = %e, "the next base fee after the unwind; the pool keeps its own");
            pool.base_fee()
        });
        if let Err(e) = pool.on_new_head(target, base_fee, &[], &state) {
            warn!(target, error = %e, "the pool could not follow the unwind");
        }
        for (hash, valid) in returning {
            match valid.and_then(|valid| pool.add_valid(valid, TransactionOrigin::Reinjected, &state)) {
                Ok(_) => unwound.reinjected.push(hash),
                Err(e) => unwound.refused.push((hash, e.to_string())),
            }
        }
        info!(
            target,
            blocks = unwound.blocks.len(),
            reinjected = unwound.reinjected.len(),
            refused = unwound.refused.len(),
            "unwound the chain"
        );
        unwound
    }
}
