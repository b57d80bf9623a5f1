//! Launching one chain: store, pool, block producer, extensions and RPC server, and stopping it cleanly.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

use eyre::WrapErr;
use surge_host::{
    ChainSpec, NotificationHub, Store,
    notifications::{Chain, DEFAULT_NOTIFICATION_CAPACITY},
    producer::{Producer, ProducerHandle, ProductionMode},
    seams::{ChainHandle, HostComponents, HostEvmConfig, HostProvider, PoolHandle, pool_config},
};
use surge_interfaces::{ChainTags, ExtensionContext, PayloadBuilder};
use surge_rpc::{
    ChainEvents, ExecLimits, RpcContext, RpcExecutor, RpcExtensions, RpcLimits, RpcModules, RpcServerConfig,
};
use surge_txpool::TxPool;

/// Installs an extension when its chain starts (reth's `install_exex` and `extend_rpc_modules` in one): it
/// gets the head, a notification stream and the components, spawns what it runs, and registers RPC modules.
pub type ExtensionInstaller = Box<dyn FnOnce(ExtensionContext<HostComponents>) -> eyre::Result<()> + Send>;

/// A running chain.
pub struct RunningChain {
    /// Its name in logs ("L1", "L2").
    pub name: &'static str,
    /// The chain spec.
    pub spec: Arc<ChainSpec>,
    /// The store.
    pub store: Arc<Store>,
    /// The RPC endpoint.
    pub rpc_addr: SocketAddr,
    /// The pool.
    pub pool: PoolHandle,
    /// Chain control and subscriptions.
    pub control: ChainHandle,
    producer: Option<ProducerHandle>,
    rpc: jsonrpsee::server::ServerHandle,
    sweeper: AbortOnDrop,
}

/// A task that ends with its owner (the pool sweeper holds the pool, and with it the store).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the pool's expired queued transactions are swept out (geth's eviction interval).
const POOL_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Evicts the pool's queued transactions older than its lifetime, every [`POOL_SWEEP_EVERY`].
fn spawn_poolsweeper(name: &'static str, pool: PoolHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(POOL_SWEEP_EVERY);
        loop {
            every.tick().await;
            let evicted = pool.pool().evict_expired(std::time::Instant::now());
            if !evicted.is_empty() {
                tracing::debug!(chain = name, count = evicted.len(), "evicted queued transactions past their lifetime");
            }
        }
    })
}

/// A chain's store, pool and chain handle, before production starts.
pub struct OpenChain {
    /// Its name in logs.
    pub name: &'static str,
    /// The chain spec.
    pub spec: Arc<ChainSpec>,
    /// The chain.
    pub chain: Arc<Mutex<Chain>>,
    /// Its notifications.
    pub hub: Arc<NotificationHub>,
    /// The store.
    pub store: Arc<Store>,
    /// The pool.
    pub pool: PoolHandle,
}

/// How a chain runs once open.
pub struct StartOptions {
    /// The payload builder.
    pub builder: Arc<dyn PayloadBuilder<Store>>,
    /// When blocks are made.
    pub mode: ProductionMode,
    /// The RPC server.
    pub rpc: RpcServerConfig,
    /// Per-request RPC limits.
    pub limits: RpcLimits,
    /// The RPC's execution threads, semaphores and deadline.
    pub exec: ExecLimits,
    /// The `safe` and `finalized` heights.
    pub tags: Arc<ChainTags>,
    /// Who receives the block fees.
    pub fee_recipient: alloy_primitives::Address,
    /// Serve dev-only methods (`evm_mine`).
    pub dev: bool,
    /// Extensions to install before the RPC server starts.
    pub extensions: Vec<ExtensionInstaller>,
    /// Watches the extensions' critical tasks; `GET /ready` reports what failed.
    pub supervisor: crate::supervisor::Supervisor,
}

impl OpenChain {
    /// Opens (or creates) the chain of `spec` in `dir`.
    pub fn open(name: &'static str, spec: ChainSpec, dir: &Path) -> eyre::Result<Self> {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        let spec = Arc::new(spec);
        let store = Arc::new(
            Store::open(dir, &spec).wrap_err_with(|| format!("opening the {name} store in {}", dir.display()))?,
        );
        let head = store.head()?;
        let base_fee = spec.next_base_fee_after(&store, &head.header)?;
        let pool = PoolHandle::new(TxPool::new(pool_config(&spec, head.header.gas_limit), base_fee), store.clone());
        let chain = Chain::new(store.clone(), DEFAULT_NOTIFICATION_CAPACITY)?;
        let hub = chain.hub();
        Ok(Self { name, spec, chain: Arc::new(Mutex::new(chain)), hub, store, pool })
    }

    /// Starts producing blocks, installs the extensions and serves RPC.
    pub async fn start(self, options: StartOptions) -> eyre::Result<RunningChain> {
        let mut ctx = RpcContext {
            spec: self.spec.clone(),
            store: self.store.clone(),
            hub: self.hub.clone(),
            pool: self.pool.clone(),
            tags: options.tags.clone(),
            limits: options.limits,
            call_hook: None,
            exec: Arc::new(RpcExecutor::new(options.exec)?),
            subscriptions: Default::default(),
        };
        let events = ChainEvents::start(&ctx);
        let paused = Arc::new(AtomicBool::new(false));
        let producer = Arc::new(Producer {
            name: self.name,
            chain: self.chain.clone(),
            pool: self.pool.clone(),
            builder: options.builder.clone(),
            spec: self.spec.clone(),
            fee_recipient: options.fee_recipient,
            build_time: Duration::from_millis(250),
            paused: paused.clone(),
        });
        let control = ChainHandle {
            chain: self.chain.clone(),
            hub: self.hub.clone(),
            pool: self.pool.clone(),
            spec: self.spec.clone(),
            builder: options.builder,
            paused,
        };
        let components = HostComponents {
            provider: HostProvider(self.store.clone()),
            evm: HostEvmConfig(self.spec.clone()),
            pool: self.pool.clone(),
            chain: control.clone(),
            tags: options.tags,
        };
        let extensions = Arc::new(RpcExtensions::new());
        for install in options.extensions {
            let ctx = ExtensionContext {
                head: self.store.head()?,
                notifications: self.hub.subscribe(None)?,
                components: components.clone(),
                rpc: extensions.clone(),
                tasks: Arc::new(options.supervisor.clone()),
            };
            install(ctx).wrap_err_with(|| format!("installing an extension on {}", self.name))?;
        }
        ctx.call_hook = extensions.call_hook();
        ctx.subscriptions = extensions.subscriptions()?;
        let mut modules = RpcModules::standard(&ctx, &events)?;
        modules.set_readiness(Arc::new(options.supervisor.clone()));
        if options.dev {
            modules.merge(dev_module(producer.clone())?)?;
        }
        modules.extend(&extensions)?;
        let chain = self.name.to_lowercase();
        for name in ["surge_block_build_seconds", "surge_block_build_seconds_total"] {
            metrics::gauge!(name, "chain" => chain.clone()).increment(0.0);
        }
        metrics::counter!("surge_blocks_built_total", "chain" => chain.clone()).increment(0);
        let (handle, rpc_addr) = modules.start(&options.rpc, &chain).await?;
        let producer = producer.spawn(options.mode);
        let sweeper = AbortOnDrop(spawn_poolsweeper(self.name, self.pool.clone()));
        Ok(RunningChain {
            name: self.name,
            spec: self.spec,
            store: self.store,
            rpc_addr,
            pool: self.pool,
            control,
            producer: Some(producer),
            rpc: handle,
            sweeper,
        })
    }
}

impl RunningChain {
    /// Sets the gauges read at scrape time: the head and the pool's sizes.
    pub fn update_gauges(&self) {
        let chain = self.name.to_lowercase();
        let head = self.store.head().map(|h| h.header.number).unwrap_or_default();
        let (pending, queued) = {
            let pool = self.pool.pool();
            (pool.pending().len(), pool.queued().len())
        };
        metrics::gauge!("surge_block_height", "chain" => chain.clone()).set(head as f64);
        metrics::gauge!("surge_pool_transactions", "chain" => chain.clone(), "pool" => "pending").set(pending as f64);
        metrics::gauge!("surge_pool_transactions", "chain" => chain, "pool" => "queued").set(queued as f64);
    }

    /// Stops block production and the RPC server; the store is flushed when the last handle drops.
    pub async fn stop(mut self) {
        if let Some(p) = self.producer.take() {
            p.stop();
        }
        self.sweeper.0.abort();
        let _ = self.rpc.stop();
        self.rpc.stopped().await;
        // Streams and listeners end, so the tasks reading them finish and release the store.
        self.control.hub.close();
        self.pool.pool().close_listeners();
        tracing::info!(chain = self.name, head = ?self.store.head().map(|h| h.header.number).ok(), "stopped");
    }
}

/// A dev chain's pool keeps every executable transaction of a sender pending, as anvil does (the public
/// L2's per-sender slots would hold a script's or the proposer's bursts back a block at a time).
pub fn as_dev_chain_pool(pool: &PoolHandle) {
    pool.pool().config_mut().account_slots = usize::MAX;
}

/// `evm_mine` (as anvil and hardhat have it): builds a block now, whatever the block time.
fn dev_module(producer: Arc<Producer>) -> eyre::Result<jsonrpsee::RpcModule<Arc<Producer>>> {
    let mut module = jsonrpsee::RpcModule::new(producer);
    module.register_blocking_method("evm_mine", |_, producer, _| {
        producer
            .produce_one()
            .map(|_| "0x0")
            .map_err(|e| jsonrpsee::types::ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
    })?;
    Ok(module)
}
