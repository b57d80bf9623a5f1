//! `surge-node --dev`: an embedded L1 (Ethereum rules, the L1 protocol from the dev genesis) and an L2
//! (Taiko rules through the surge builder, anchoring to the embedded L1's head), both with the dev accounts
//! funded, until Ctrl-C.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use alloy_primitives::Address;
use surge_builder::{BlockInputs, BuilderConfig, SurgeNodeBuilder};
use surge_exex::NextBlocks;
use surge_host::{
    ChainSpec,
    producer::{EthereumPayloadBuilder, ProductionMode},
    seams::HostEvmConfig,
};
use surge_interfaces::ChainTags;
use surge_primitives::ProtocolConfig;
use surge_rpc::{ExecLimits, RpcServerConfig};

use crate::{
    config::{ConfigError, Settings},
    launch::{OpenChain, RunningChain, StartOptions},
};

/// Prints a line for the person who started the node; a closed standard output (`surge-node --dev | head`)
/// must not stop the node, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The committed dev genesis files, built into the binary so `--dev` works from any directory.
pub(crate) const L1_GENESIS: &str = include_str!("../../../etc/dev/l1-genesis.json");
pub(crate) const L2_GENESIS: &str = include_str!("../../../etc/dev/l2-genesis.json");
pub(crate) const ADDRESSES: &str = include_str!("../../../etc/dev/addresses.json");

pub(crate) fn spec(json: &str, name: &str) -> eyre::Result<ChainSpec> {
    let genesis = serde_json::from_str(json).map_err(|e| eyre::eyre!("the built-in {name} genesis: {e}"))?;
    Ok(ChainSpec::from_genesis(genesis)?)
}

/// The dev network's protocol addresses (from the dev genesis), after checking that no setting tries to
/// move them.
fn dev_protocol(settings: &Settings) -> eyre::Result<ProtocolConfig> {
    let addresses: serde_json::Value = serde_json::from_str(ADDRESSES)?;
    let protocol: ProtocolConfig = serde_json::from_value(addresses["protocol"].clone())?;
    if let Some((field, set, actual)) = settings.protocol.conflicts(&protocol).into_iter().next() {
        let reason = format!("dev mode's contracts are at {actual} (the dev genesis), not {set}");
        return Err(ConfigError { field: field.to_string(), reason }.into());
    }
    Ok(protocol)
}

/// The example apps of the dev genesis.
pub(crate) fn dev_apps() -> eyre::Result<surge_genesis::ExampleApps> {
    let addresses: serde_json::Value = serde_json::from_str(ADDRESSES)?;
    Ok(serde_json::from_value(addresses["apps"].clone())?)
}

/// Logs every contract address in use.
fn log_protocol(p: &ProtocolConfig) {
    for (name, address) in p.l1.named() {
        tracing::info!(chain = p.l1_chain_id, %address, "L1 {}", name.replace('_', " "));
    }
    let l2 = [
        ("bridge", p.l2.bridge),
        ("signal service", p.l2.signal_service),
        ("resolver", p.l2.resolver),
        ("anchor", p.l2.anchor),
    ];
    for (name, address) in l2 {
        tracing::info!(chain = p.l2_chain_id, %address, "L2 {name}");
    }
}

/// Runs the dev network until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings) -> eyre::Result<()> {
    let protocol = dev_protocol(&settings)?;
    run_chains(settings, protocol, spec(L2_GENESIS, "L2")?, None).await
}

/// Runs an L2 from `--chain`'s genesis against the external L1 of `--l1.rpc-url`, with the protocol
/// addresses from the configuration (as `surge-node deploy` writes them).
pub async fn run_node(settings: Settings) -> eyre::Result<()> {
    let path = settings.chain.clone().ok_or_else(|| ConfigError { field: "chain".into(), reason: "missing".into() })?;
    let l2_spec = ChainSpec::from_genesis_file(&path)
        .map_err(|e| ConfigError { field: "chain".into(), reason: format!("{}: {e}", path.display()) })?;
    let l2 = l2_spec.l2.ok_or_else(|| ConfigError {
        field: "chain".into(),
        reason: format!("{}: no config.surge.l2 section, not a Surge L2 genesis", path.display()),
    })?;
    if settings.l1_rpc_url.is_none() {
        return Err(ConfigError { field: "l1.rpc_url".into(), reason: "required to run an L2 (--chain)".into() }.into());
    }
    let fee_recipient = settings.fee_recipient.ok_or_else(|| ConfigError {
        field: "fee_recipient".into(),
        reason: "required to run an L2 (--fee-recipient, L2_SUGGESTED_FEE_RECIPIENT or the config file)".into(),
    })?;
    let protocol = settings.protocol.complete(l2.l1_chain_id, l2_spec.chain_id, l2.basefee_sharing_pctg)?;
    run_chains(settings, protocol, l2_spec, Some(fee_recipient)).await
}

/// Runs the L2 (and, in dev mode without `--l1.rpc-url`, the embedded L1) until Ctrl-C or SIGTERM. Dev mode
/// is the one without a configured `fee_recipient`: its fees go to dev account 0 unless one is set.
async fn run_chains(
    settings: Settings,
    protocol: ProtocolConfig,
    l2_spec: ChainSpec,
    fee_recipient: Option<Address>,
) -> eyre::Result<()> {
    let dev = fee_recipient.is_none();
    let supervisor = crate::supervisor::Supervisor::default();
    // One registry for every metric of the node, installed before anything records into it.
    let prometheus = match settings.metrics {
        Some(_) => Some(crate::l1::install_metrics()?),
        None => None,
    };
    // Dev mode serves every namespace unless told otherwise; the embedded L1 always does (a dev chain).
    let l2_rpc = match dev && !settings.rpc.apis_given {
        true => settings.rpc.server.clone().all_apis(),
        false => settings.rpc.server.clone(),
    };
    let rpc = |port, server: &RpcServerConfig| RpcServerConfig {
        addr: SocketAddr::new(settings.http.ip(), port),
        ..server.clone()
    };
    let l2 = OpenChain::open("L2", l2_spec, &settings.datadir.join("l2"))?;
    l2.store.set_durable_every(settings.durable_every);
    settings.txpool.apply(l2.pool.pool().config_mut());
    let mode = match settings.block_time {
        d if d.is_zero() => ProductionMode::Instant { tick: Duration::from_millis(100) },
        d => ProductionMode::Interval(d),
    };
    // L2 timestamps must grow by at least a second: instant mode on L2 still waits a second per block.
    let l2_mode = match mode {
        ProductionMode::Instant { .. } => ProductionMode::Interval(Duration::from_secs(1)),
        m => m,
    };

    // The L1: embedded, or an external endpoint that must be the dev L1.
    let sharing_pctg = l2.spec.l2.as_ref().map_or(0, |p| p.basefee_sharing_pctg);
    let l2_params = l2.spec.l2.as_ref().ok_or_else(|| eyre::eyre!("the L2 genesis has no config.surge.l2"))?;
    let config =
        BuilderConfig { hold: settings.hold, ..BuilderConfig::new(l2.spec.chain_id, l2_params.basefee_sharing_pctg) };
    let ledger = crate::composability::open_ledger(&l2, &settings.datadir.join("l2"), settings.proposals)?;
    let next = Arc::new(NextBlocks::new(settings.proposals));
    if let ProductionMode::Interval(every) = l2_mode {
        next.set_block_time(every);
    }
    let (l1, (heads, watcher)) = match &settings.l1_rpc_url {
        Some(url) => (
            None,
            crate::l1::follow_external(
                url,
                &protocol,
                sharing_pctg,
                (settings.sync, settings.watcher()),
                (ledger.clone(), next.clone()),
                &supervisor,
            )
            .await?,
        ),
        None => {
            let l1 = OpenChain::open("L1", spec(L1_GENESIS, "L1")?, &settings.datadir.join("l1"))?;
            crate::launch::as_dev_chain_pool(&l1.pool);
            l1.store.set_durable_every(settings.durable_every);
            let builder = Arc::new(EthereumPayloadBuilder { spec: l1.spec.clone(), pool: l1.pool.clone() });
            let l1 = l1
                .start(StartOptions {
                    builder,
                    mode,
                    rpc: rpc(settings.l1_http_port, &settings.rpc.server.clone().all_apis()),
                    limits: settings.rpc.limits.clone(),
                    // The proposer simulates its bundles here: at the node's own priority.
                    exec: ExecLimits { background: false, ..settings.rpc.exec },
                    // Every block of the dev L1 is final at once.
                    tags: Arc::new(ChainTags::at_head()),
                    fee_recipient: Address::ZERO,
                    dev: true,
                    extensions: vec![],
                    supervisor: supervisor.clone(),
                })
                .await?;
            let follow = crate::l1::follow_embedded(
                &l1,
                &protocol,
                (settings.sync, settings.watcher()),
                (ledger.clone(), next.clone()),
                &supervisor,
            )
            .await?;
            (Some(l1), follow)
        }
    };
    // The proposer sends closed proposals to the L1 the node follows.
    let endpoint = match (&l1, &settings.l1_rpc_url) {
        (Some(l1), _) => crate::proposer::L1Endpoint::Embedded(l1),
        (None, url) => crate::proposer::L1Endpoint::External(url.as_deref().unwrap_or_default()),
    };
    // Until proposals are proved on L1, L2's safe and finalized block is genesis (or where the inbox is).
    let tags = Arc::new(ChainTags::new(0));
    let proposer = crate::proposer::from_settings(
        &settings,
        dev,
        endpoint,
        protocol,
        (ledger.clone(), watcher.as_ref().map_or_else(Default::default, |(_, w)| w.published().cooldowns())),
        heads.clone(),
        (&l2.store, &tags),
    )
    .await?;
    let proposer_account = proposer.as_ref().map(|p| p.account);
    let sync_status = surge_exex::NodeSyncStatus {
        ledger: ledger.clone(),
        heads: heads.clone(),
        tags: tags.clone(),
        proposer: proposer.as_ref().map(|p| p.health.clone()),
        plans: watcher.as_ref().map(|(_, w)| w.published()),
        // The embedded L1 makes blocks only when it has transactions: its head's age says nothing.
        max_head_age: settings.status.max_l1_head_age.filter(|_| l1.is_none()),
    };
    // The block inputs: the watcher's plans, and the anchor of the open proposal, never the live L1 head.
    let watching = watcher.as_ref().map(|(_, w)| w);
    // Dev mode relays with the dev network's relayer unless given a key.
    let relayer_key = match settings.proposer.relayer_key.as_ref().map(|k| k.0.clone()) {
        Some(key) => Some(key),
        None if dev => Some(surge_genesis::dev_relayer()?),
        None => None,
    };
    let relayer = crate::composability::relayer(&protocol, relayer_key);
    let planned = Arc::new(crate::composability::planned_inputs(
        &l2,
        (ledger.clone(), next),
        watching,
        heads.clone(),
        (config.max_signal_slots, relayer.clone()),
    ));
    let inputs: Arc<dyn BlockInputs> = planned.clone();
    let surge = crate::composability::surge_rpc(watcher.as_ref().map(|(_, w)| w), protocol.l2.signal_service);
    let slots = (config.max_signal_slots, relayer.as_ref());
    crate::composability::serve_user_ops(&surge, watching, ledger.clone(), &protocol, slots, heads);
    crate::composability::serve_sync_status(&surge, sync_status, &supervisor);
    let surge_rpc = crate::composability::install_surge_rpc(surge.clone(), ledger.clone(), settings.status.retention);
    let l2_builder = SurgeNodeBuilder::new(HostEvmConfig(l2.spec.clone()), config, l2.pool.clone(), inputs, planned)?;
    let keys = surge_genesis::dev_keys(10)?;
    let fee_recipient =
        fee_recipient.or(settings.fee_recipient).unwrap_or_else(|| keys.first().map_or(Address::ZERO, |k| k.address()));

    let l2 = l2
        .start(StartOptions {
            builder: Arc::new(l2_builder),
            mode: l2_mode,
            rpc: rpc(settings.http.port(), &l2_rpc),
            limits: settings.rpc.limits.clone(),
            exec: settings.rpc.exec,
            tags,
            fee_recipient,
            dev,
            // The txpool watcher, when the L1 leg's startup check passed, and the surge_* methods.
            extensions: [crate::composability::ledger_extension(ledger)]
                .into_iter()
                .chain(watcher.map(|(install, _)| install))
                .chain([surge_rpc])
                .chain(proposer.map(|p| p.install))
                .collect(),
            supervisor: supervisor.clone(),
        })
        .await?;

    let compat = match settings.surge_compat_addr {
        Some(addr) => Some(crate::composability::serve_compat(addr, &surge, &l2_rpc).await?),
        None => None,
    };

    let title = if dev { "surge-node dev network" } else { "surge-node" };
    say!("{title} (data in {})", settings.datadir.display());
    match (&l1, &settings.l1_rpc_url) {
        (Some(l1), _) => {
            say!("  L1  chain {:>8}  http://{addr}  ws://{addr}", l1.spec.chain_id, addr = l1.rpc_addr)
        }
        (None, url) => say!("  L1  chain {:>8}  external {}", protocol.l1_chain_id, url.as_deref().unwrap_or("")),
    }
    say!("  L2  chain {:>8}  http://{addr}  ws://{addr}", l2.spec.chain_id, addr = l2.rpc_addr);
    if let Some((bound, _)) = &compat {
        say!("  surge_* alone (Catalyst's address)  http://{bound}");
    }
    match proposer_account {
        Some(account) => match &settings.raiko {
            Some(raiko) => say!("  proposer  {account}  (proofs from Raiko, {}, at {})", raiko.proof_type, raiko.url),
            None => say!("  proposer  {account}  (mock proofs)"),
        },
        None => say!("  proposer  off: nothing goes to L1, the L2 does not finalize"),
    }
    if dev {
        say!("dev accounts (10,000 ETH on both chains; mnemonic \"{}\"):", surge_genesis::DEV_MNEMONIC);
        for (i, key) in keys.iter().enumerate() {
            say!("  ({i}) {}  0x{}", key.address(), alloy_primitives::hex::encode(key.to_bytes()));
        }
        say!("example apps (contracts/examples; addresses in etc/dev/addresses.json):");
        for (name, address) in dev_apps()?.named() {
            say!("  {name:<24} {address}");
        }
    }
    log_protocol(&protocol);
    let chains: Vec<Arc<RunningChain>> = [Some(l2), l1].into_iter().flatten().map(Arc::new).collect();
    let metrics = match (settings.metrics, prometheus) {
        (Some(addr), Some(prometheus)) => {
            let observed = chains.clone();
            let render: Arc<dyn Fn() -> String + Send + Sync> = Arc::new(move || {
                for chain in &observed {
                    chain.update_gauges();
                }
                prometheus.render()
            });
            let (bound, task) = surge_rpc::metrics::serve(addr, render).await?;
            say!("  metrics            http://{bound}/metrics");
            Some(task)
        }
        _ => None,
    };
    for c in &chains {
        tracing::info!(chain = c.name, rpc = %c.rpc_addr, "serving");
    }

    // A critical task's failure stops the node (exit code 2), unless it is to keep serving: then the
    // failure shows in `/ready` and the logs.
    let failed = tokio::select! {
        signal = shutdown_signal() => {
            signal?;
            None
        }
        failure = supervisor.first_failure(), if !settings.keep_serving => Some(failure),
    };
    supervisor.stopping();
    match &failed {
        Some(failure) => say!("stopping: {failure}"),
        None => say!("shutting down"),
    }
    if let Some((_, server)) = compat {
        let _ = server.stop();
    }
    if let Some(task) = metrics {
        task.abort();
        let _ = task.await; // drops the renderer's references to the chains
    }
    for chain in chains {
        match Arc::try_unwrap(chain) {
            Ok(chain) => chain.stop().await,
            Err(_) => tracing::warn!("a chain is still referenced at shutdown"),
        }
    }
    match failed {
        Some(failure) => Err(crate::supervisor::TaskFailed(failure).into()),
        None => Ok(()),
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> eyre::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
