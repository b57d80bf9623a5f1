//! An in-process dev network, as tests and benchmarks run it: the embedded L1 and the L2 from the committed
//! dev genesis, the block inputs read from the plans, the txpool watcher (optional) and the `surge_*` methods,
//! both chains serving RPC on loopback ports of their own. `surge-node --dev` wires the same pieces.

use std::{path::Path, sync::Arc, time::Duration};

use alloy_primitives::Address;
use surge_builder::{BuilderConfig, SurgeNodeBuilder};
use surge_exex::{Ledger, NextBlocks, ProposalRules, Watcher};
use surge_genesis::ExampleApps;
use surge_host::{
    producer::{EthereumPayloadBuilder, ProductionMode},
    seams::{HostEvmConfig, PoolHandle},
};
use surge_interfaces::ChainTags;
use surge_l1::{HeadWatch, L1Heads, SimConfig};
use surge_primitives::ProtocolConfig;
use surge_rpc::RpcServerConfig;
use tokio::sync::watch;

use crate::{
    dev::{ADDRESSES, L1_GENESIS, L2_GENESIS, dev_apps, spec},
    launch::{OpenChain, RunningChain, StartOptions},
};

/// How the network runs.
#[derive(Debug, Clone)]
pub struct NetworkOptions {
    /// Where proposals end and how far behind the L1 head they anchor.
    pub rules: ProposalRules,
    /// The L1's block production.
    pub l1_mode: ProductionMode,
    /// The L2's block production.
    pub l2_mode: ProductionMode,
    /// Whether the txpool watcher plans the L2's transactions.
    pub watcher: bool,
    /// The watcher's queues.
    pub watcher_config: surge_exex::WatcherConfig,
    /// Whether the proposer sends closed proposals to the L1 (dev account 0 proposing, mock proofs by dev
    /// account 1).
    pub proposer: bool,
    /// The proposer's prover instead of the mock one (a test may hold proofs back).
    pub prover: Option<Arc<dyn surge_l1::Prover>>,
    /// How the L1 leg is simulated and bounded.
    pub sim: SimConfig,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            rules: ProposalRules::default(),
            l1_mode: ProductionMode::Instant { tick: Duration::from_millis(20) },
            l2_mode: ProductionMode::Interval(Duration::from_secs(1)),
            watcher: true,
            watcher_config: Default::default(),
            proposer: false,
            prover: None,
            sim: SimConfig::default(),
        }
    }
}

/// The running network.
pub struct DevNetwork {
    /// The embedded L1.
    pub l1: RunningChain,
    /// The L2.
    pub l2: RunningChain,
    /// The txpool watcher, when it runs.
    pub watcher: Option<Watcher>,
    /// The ledger of proposals.
    pub ledger: Arc<Ledger>,
    /// The next block as fixed, and the L1 heads anchors are chosen among.
    pub next: Arc<NextBlocks>,
    /// The L2's builder (a test may build a block without committing it).
    pub builder: Arc<SurgeNodeBuilder<HostEvmConfig, PoolHandle>>,
    /// The L1 heads as the L2's block inputs and watcher see them (a test may publish one of its own).
    pub heads: Arc<watch::Sender<L1Heads>>,
    /// The protocol's addresses.
    pub protocol: ProtocolConfig,
    /// The example apps' addresses.
    pub apps: ExampleApps,
    /// The proposer's events, when it runs.
    pub proposer: Option<tokio::sync::broadcast::Sender<surge_exex::ProposerEvent>>,
}

fn loopback() -> RpcServerConfig {
    RpcServerConfig { addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() }.all_apis()
}

/// Starts the network with its data in `dir`.
pub async fn start(dir: &Path, options: NetworkOptions) -> eyre::Result<DevNetwork> {
    // In process, a failed task shows in `/ready` and the test's own assertions.
    let supervisor = crate::supervisor::Supervisor::default();
    let addresses: serde_json::Value = serde_json::from_str(ADDRESSES)?;
    let protocol: ProtocolConfig = serde_json::from_value(addresses["protocol"].clone())?;
    let l1 = OpenChain::open("L1", spec(L1_GENESIS, "L1")?, &dir.join("l1"))?;
    crate::launch::as_dev_chain_pool(&l1.pool);
    let builder = Arc::new(EthereumPayloadBuilder { spec: l1.spec.clone(), pool: l1.pool.clone() });
    let l1 = l1
        .start(StartOptions {
            builder,
            mode: options.l1_mode,
            rpc: loopback(),
            limits: Default::default(),
            exec: surge_rpc::ExecLimits { background: false, ..Default::default() },
            tags: Arc::new(ChainTags::at_head()),
            fee_recipient: Address::ZERO,
            dev: true,
            extensions: vec![],
            supervisor: supervisor.clone(),
        })
        .await?;
    let l2 = OpenChain::open("L2", spec(L2_GENESIS, "L2")?, &dir.join("l2"))?;
    let sharing = l2.spec.l2.as_ref().map_or(0, |p| p.basefee_sharing_pctg);
    let config = BuilderConfig::new(l2.spec.chain_id, sharing);
    let ledger = crate::composability::open_ledger(&l2, &dir.join("l2"), options.rules)?;
    let next = Arc::new(NextBlocks::new(options.rules));
    if let ProductionMode::Interval(every) = options.l2_mode {
        next.set_block_time(every);
    }
    let (real_heads, watcher) = crate::l1::follow_embedded(
        &l1,
        &protocol,
        (options.sim, options.watcher_config),
        (ledger.clone(), next.clone()),
        &supervisor,
    )
    .await?;
    let real_heads_for_proposer = real_heads.clone();
    let (install, watcher) = match watcher.filter(|_| options.watcher) {
        Some((install, watcher)) => (Some(install), Some(watcher)),
        None => (None, None),
    };
    // The L2's view of the L1 heads follows the real one; a test may send its own.
    let heads = Arc::new(watch::channel(*real_heads.0.borrow()).0);
    let (forward, mut follow) = (heads.clone(), real_heads.0.clone());
    tokio::spawn(async move {
        while follow.changed().await.is_ok() {
            let latest = *follow.borrow();
            forward.send_replace(latest);
        }
    });
    let l2_heads = HeadWatch(heads.subscribe());
    let max_slots = config.max_signal_slots;
    let relayer = crate::composability::relayer(&protocol, Some(surge_genesis::dev_relayer()?));
    let planned = Arc::new(crate::composability::planned_inputs(
        &l2,
        (ledger.clone(), next.clone()),
        watcher.as_ref(),
        l2_heads,
        (config.max_signal_slots, relayer.clone()),
    ));
    let builder = Arc::new(SurgeNodeBuilder::new(
        HostEvmConfig(l2.spec.clone()),
        config,
        l2.pool.clone(),
        planned.clone(),
        planned,
    )?);
    let surge = crate::composability::surge_rpc(watcher.as_ref(), protocol.l2.signal_service);
    let slots = (max_slots, relayer.as_ref());
    let op_heads = HeadWatch(heads.subscribe());
    crate::composability::serve_user_ops(&surge, watcher.as_ref(), ledger.clone(), &protocol, slots, op_heads);
    let surge_rpc =
        crate::composability::install_surge_rpc(surge.clone(), ledger.clone(), crate::status_config::DEFAULT_RETENTION);
    let tags = Arc::new(ChainTags::new(0));
    let (proposer, events) = if options.proposer {
        let mut setup = dev_proposer(format!("http://{}", l1.rpc_addr), protocol)?;
        setup.sim = options.sim;
        if let Some(prover) = options.prover.clone() {
            setup.prover = prover;
        }
        if let Some(watcher) = &watcher {
            setup.cooldowns = watcher.published().cooldowns();
        }
        let source = surge_l1::EmbeddedSource::new(l1.store.clone());
        let l2_side = (&l2.store, &tags);
        let heads = real_heads_for_proposer.clone();
        let ready = crate::proposer::proposer(setup, source, ledger.clone(), heads, l2_side).await?;
        (Some(ready.install), Some((ready.events, ready.health)))
    } else {
        (None, None)
    };
    let sync_status = surge_exex::NodeSyncStatus {
        ledger: ledger.clone(),
        heads: real_heads_for_proposer,
        tags: tags.clone(),
        proposer: events.as_ref().map(|(_, health)| health.clone()),
        plans: watcher.as_ref().map(|w| w.published()),
        max_head_age: None,
    };
    crate::composability::serve_sync_status(&surge, sync_status, &supervisor);
    let events = events.map(|(events, _)| events);
    let l2 = l2
        .start(StartOptions {
            builder: builder.clone(),
            mode: options.l2_mode,
            rpc: loopback(),
            limits: Default::default(),
            exec: Default::default(),
            tags,
            fee_recipient: Address::repeat_byte(0xfe),
            dev: true,
            extensions: [crate::composability::ledger_extension(ledger.clone())]
                .into_iter()
                .chain(install)
                .chain([surge_rpc])
                .chain(proposer)
                .collect(),
            supervisor: supervisor.clone(),
        })
        .await?;
    Ok(DevNetwork { l1, l2, watcher, ledger, next, builder, heads, protocol, apps: dev_apps()?, proposer: events })
}

/// The dev network's proposer: dev account 0 (the proposer Multicall's owner) sending to the L1 at `l1_url`,
/// with [`dev_mock_prover`].
pub fn dev_proposer(l1_url: String, protocol: ProtocolConfig) -> eyre::Result<crate::proposer::ProposerSetup> {
    let keys = surge_genesis::dev_keys(1)?;
    let proposer = keys.first().ok_or_else(|| eyre::eyre!("the dev mnemonic gave no key"))?;
    Ok(crate::proposer::ProposerSetup {
        l1_url,
        key: proposer.clone(),
        prover: dev_mock_prover(protocol.l2_chain_id)?,
        policy: surge_l1::FeePolicy::default(),
        protocol,
        sim: SimConfig::default(),
        replace_after: 3,
        confirmations: 1,
        cooldowns: Default::default(),
    })
}

/// Mock proofs for the dev network's mock verifier, signed by dev account 1 (its signer).
pub fn dev_mock_prover(l2_chain_id: u64) -> eyre::Result<Arc<dyn surge_l1::Prover>> {
    let addresses: serde_json::Value = serde_json::from_str(ADDRESSES)?;
    let verifier: Address = serde_json::from_value(addresses["mockVerifier"].clone())?;
    let keys = surge_genesis::dev_keys(2)?;
    let signer = keys.get(1).ok_or_else(|| eyre::eyre!("the dev mnemonic gave fewer than two keys"))?;
    let mock = surge_primitives::MockProver::new(signer.clone(), l2_chain_id, verifier);
    Ok(Arc::new(surge_l1::MockEcdsaProver(mock)))
}
