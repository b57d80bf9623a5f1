//! Wiring synchronous composability: the ledger in the L2's data directory, caught up with the L2 chain
//! before production starts and then following it as an ExEx, and the builder's inputs read from the
//! watcher's plans.

use std::{path::Path, sync::Arc};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::Address;

use surge_exex::{
    Ledger, LedgerStore, NextBlocks, PlannedInputs, ProposalRules, PublishedPlans, Watcher,
    user_ops::{OpRules, Relayer, UserOpTerms, service::UserOpService},
};
use surge_host::seams::HostProvider;
use surge_l1::HeadWatch;
use surge_primitives::ProtocolConfig;

use crate::launch::OpenChain;

/// The ledger of `l2`'s proposals in `dir` (`planner.redb`), caught up with the chain: blocks committed
/// after the last one it accounted for are read as the ExEx would have read them, and planned transactions
/// that did not go in are handed back to the pool.
pub fn open_ledger(l2: &OpenChain, dir: &Path, rules: ProposalRules) -> eyre::Result<Arc<Ledger>> {
    let store = LedgerStore::open(&dir.join("planner.redb"))?;
    let ledger = Ledger::open(store, rules)?;
    ledger.catch_up(l2.store.as_ref()).map_err(|e| eyre::eyre!("catching the ledger up with the chain: {e}"))?;
    ledger.hand_back(&l2.pool);
    if let Some(p) = ledger.open_proposal() {
        tracing::info!(
            proposal = p.id,
            anchor = %p.anchor.blockNumber,
            blocks = p.blocks.len(),
            plans = p.plans.len(),
            "ledger: open proposal"
        );
    }
    let closed = ledger.closed_proposals();
    if !closed.is_empty() {
        tracing::info!(proposals = closed.len(), "ledger: closed proposals waiting for the proposer");
    }
    Ok(Arc::new(ledger))
}

/// The extension that runs `ledger` as an ExEx on the L2.
pub fn ledger_extension(ledger: Arc<Ledger>) -> crate::launch::ExtensionInstaller {
    Box::new(move |ctx| {
        surge_exex::install_ledger(ctx, ledger);
        Ok(())
    })
}

/// The L2 builder's inputs: the watcher's plans (none without a watcher) offered to the blocks `next`
/// fixes, in `ledger`'s proposals, anchored among the L1 heads of `heads`, with at most `max_slots` signal
/// slots per anchor; user ops' messages relayed by `relayer`.
pub fn planned_inputs(
    l2: &OpenChain,
    (ledger, next): (Arc<Ledger>, Arc<NextBlocks>),
    watcher: Option<&Watcher>,
    heads: HeadWatch,
    (max_slots, relayer): (usize, Option<Relayer>),
) -> PlannedInputs<surge_host::seams::PoolHandle, surge_host::seams::HostProvider> {
    let plans = watcher.map_or_else(|| Arc::new(PublishedPlans::default()), Watcher::published);
    let inputs =
        PlannedInputs::new(l2.pool.clone(), HostProvider(l2.store.clone()), plans, ledger, next, heads, max_slots);
    match relayer {
        Some(relayer) => inputs.with_relayer(relayer),
        None => inputs,
    }
}

/// How long before a batch's deadline the L1 time may be when its op is taken (a proposal lands within
/// a few L1 slots).
const USER_OP_DEADLINE_MARGIN_SECS: u64 = 24;
/// User ops waiting at most.
const MAX_QUEUED_USER_OPS: usize = 1024;

/// The relayer of `protocol`'s L2 with `key`.
pub fn relayer(protocol: &ProtocolConfig, key: Option<PrivateKeySigner>) -> Option<Relayer> {
    key.map(|signer| Relayer { signer, chain_id: protocol.l2_chain_id, bridge: protocol.l2.bridge })
}

/// User ops on `protocol`'s wallet factory: `surge` takes them into `ledger` and the watcher places them,
/// their messages relayed by `relayer` (with at most `max_slots` per anchor). Without a watcher
/// `surge_sendUserOp` says user ops are not served.
pub fn serve_user_ops(
    surge: &surge_rpc_ext::SurgeRpc,
    watcher: Option<&Watcher>,
    ledger: Arc<Ledger>,
    protocol: &ProtocolConfig,
    (max_slots, relayer): (usize, Option<&Relayer>),
    heads: HeadWatch,
) {
    let Some(watcher) = watcher else { return };
    let terms = UserOpTerms {
        factory: protocol.l1.user_ops_factory,
        l1_chain_id: protocol.l1_chain_id,
        l2_chain_id: protocol.l2_chain_id,
        l2_bridge: protocol.l2.bridge,
        relayer: relayer.map(Relayer::address),
        deadline_margin: USER_OP_DEADLINE_MARGIN_SECS,
        max_queued: MAX_QUEUED_USER_OPS,
    };
    let plans = watcher.published();
    if !terms.factory.is_zero() {
        plans.take_user_ops(OpRules { terms, max_slots });
        tracing::info!(factory = %terms.factory, relayer = ?terms.relayer, "user ops: taken");
    }
    surge.set_user_ops(Arc::new(UserOpService::new(ledger, (plans, heads), terms, max_slots)));
}

/// The `surge_*` namespace on the txpool watcher, or, without one, answering why synchronous composability
/// is off; answers' slots are marked in the L2 signal service `l2_signal_service`.
pub fn surge_rpc(watcher: Option<&Watcher>, l2_signal_service: Address) -> surge_rpc_ext::SurgeRpc {
    let planner: surge_rpc_ext::PlannerOrReason = match watcher {
        Some(w) => Ok(Arc::new(w.clone())),
        None => Err("the L1 leg's startup check failed: the node's log says why".into()),
    };
    surge_rpc_ext::SurgeRpc::new(planner, surge_rpc_ext::SurgeRpcConfig::default(), l2_signal_service)
}

/// The extension serving `surge`'s methods on the L2 endpoint, with transaction statuses from `ledger`, the
/// chain and the pool (the ledger records what the pool's removal events say, and forgets final statuses
/// after `retention`).
pub fn install_surge_rpc(
    surge: surge_rpc_ext::SurgeRpc,
    ledger: Arc<Ledger>,
    retention: std::time::Duration,
) -> crate::launch::ExtensionInstaller {
    Box::new(move |ctx| {
        surge_exex::record_pool_exits(&ctx.components, ctx.tasks.as_ref(), ledger.clone());
        surge_exex::prune_statuses(ledger.clone(), retention, ctx.tasks.as_ref());
        surge.set_statuses(Arc::new(surge_exex::TxStatuses::new(ctx.components.clone(), ledger)));
        surge.install(ctx.rpc.as_ref());
        Ok(())
    })
}

/// `surge_syncStatus` on `surge` from `status`, whose reasons also make `supervisor`'s `/ready` 503 (a low
/// proposer balance joins as an advisory).
pub fn serve_sync_status(
    surge: &surge_rpc_ext::SurgeRpc,
    status: surge_exex::NodeSyncStatus,
    supervisor: &crate::supervisor::Supervisor,
) {
    let status = Arc::new(status);
    surge.set_sync_status(status.clone());
    let checked = status.clone();
    supervisor.require(Box::new(move || checked.not_ready()));
    supervisor.advise(Box::new(move || status.advisories()));
}

/// Serves `surge`'s methods alone on `addr` too (`--surge.compat-addr`), for apps built against Catalyst,
/// within the main server's limits (`server`: sizes, batches, connections, hosts, origins).
pub async fn serve_compat(
    addr: std::net::SocketAddr,
    surge: &surge_rpc_ext::SurgeRpc,
    server: &surge_rpc::RpcServerConfig,
) -> eyre::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    let fail = |reason: String| crate::config::ConfigError { field: "surge.compat_addr".into(), reason };
    let mut modules = surge_rpc::RpcModules::empty();
    modules.merge(surge.module()).map_err(|e| fail(e.to_string()))?;
    // `GET /health` answers here too.
    let mut health = jsonrpsee::RpcModule::new(());
    health
        .register_method("system_health", |_, _, _| serde_json::json!({ "status": "ok" }))
        .map_err(|e| fail(e.to_string()))?;
    modules.merge(health).map_err(|e| fail(e.to_string()))?;
    // Its only namespace is `surge`, whatever the main endpoint's list.
    let config = surge_rpc::RpcServerConfig { addr, ..server.clone() }.all_apis();
    let (handle, bound) = modules.start(&config, "compat").await.map_err(|e| fail(format!("{addr}: {e}")))?;
    Ok((bound, handle))
}
