//! Wiring the planner: its ledger in the L2's data directory, reconciled with the L2 chain before
//! production starts, and the builder's inputs staged from it.

use std::{path::Path, sync::Arc};

use alloy_primitives::Address;

use surge_exex::{BlockPlanner, Ledger, PlannerHandle, PlannerStore, ProposalRules, Watcher};
use surge_l1::HeadWatch;

use crate::launch::OpenChain;

/// The ledger of `l2`'s proposals in `dir` (`planner.redb`), with at most `max_slots` signal slots per
/// anchor, reconciled with the chain: blocks committed after its last record are accounted for, and staged
/// transactions that did not go in are handed back to the pool.
pub fn open_ledger(l2: &OpenChain, dir: &Path, rules: ProposalRules, max_slots: usize) -> eyre::Result<Arc<Ledger>> {
    let store = PlannerStore::open(&dir.join("planner.redb"))?;
    let ledger = Ledger::open(store, rules, max_slots)?;
    ledger.reconcile(l2.store.as_ref(), &l2.pool).map_err(|e| eyre::eyre!("reconciling the planner: {e}"))?;
    if let Some(p) = ledger.open_proposal() {
        tracing::info!(
            proposal = p.id,
            anchor = %p.anchor.blockNumber,
            blocks = p.blocks.len(),
            plans = p.plans.len(),
            "planner: open proposal"
        );
    }
    let closed = ledger.closed_proposals();
    if !closed.is_empty() {
        tracing::info!(proposals = closed.len(), "planner: closed proposals waiting for the proposer");
    }
    Ok(Arc::new(ledger))
}

/// The L2 builder's inputs: the watcher's plans (none without a watcher) staged into `ledger`'s proposals,
/// anchored among the L1 heads of `heads`.
pub fn block_planner(
    l2: &OpenChain,
    ledger: Arc<Ledger>,
    watcher: Option<&Watcher>,
    heads: HeadWatch,
) -> BlockPlanner<surge_host::seams::PoolHandle> {
    let plans = watcher.map_or_else(|| Arc::new(PlannerHandle::default()), Watcher::planner);
    BlockPlanner::new(l2.pool.clone(), plans, ledger, heads)
}

/// The extension serving the `surge_*` methods on the L2 endpoint: answered by the txpool watcher, or,
/// without one, with the reason synchronous composability is off.
pub fn surge_rpc(watcher: Option<&Watcher>, l2_signal_service: Address) -> crate::launch::ExtensionInstaller {
    let planner = planner_or_reason(watcher);
    Box::new(move |ctx| {
        surge_rpc_ext::install(&ctx.rpc, planner, surge_rpc_ext::SurgeRpcConfig::default(), l2_signal_service);
        Ok(())
    })
}

/// The planner the `surge_*` methods ask: the txpool watcher, or why there is none.
fn planner_or_reason(watcher: Option<&Watcher>) -> surge_rpc_ext::PlannerOrReason {
    match watcher {
        Some(w) => Ok(Arc::new(w.clone())),
        None => Err("the L1 leg's startup check failed: the node's log says why".into()),
    }
}

/// Serves the `surge_*` methods alone on `addr` (`--surge.compat-addr`), for apps built against Catalyst.
pub async fn serve_compat(
    addr: std::net::SocketAddr,
    watcher: Option<&Watcher>,
) -> eyre::Result<(std::net::SocketAddr, jsonrpsee::server::ServerHandle)> {
    let module = surge_rpc_ext::module(planner_or_reason(watcher), surge_rpc_ext::SurgeRpcConfig::default());
    surge_rpc_ext::serve(addr, module).await.map_err(|e| {
        crate::config::ConfigError { field: "surge.compat_addr".into(), reason: format!("{addr}: {e}") }.into()
    })
}
