//! A test extension that knows the node only through `surge-interfaces` (a test checks with
//! `cargo metadata` that no extension crate depends on the host): it follows the chain from genesis with
//! catch-up, records pool lifecycle events, and serves `testext_*` methods on the node's endpoint —
//! status, pause / unwind / resume through chain control, adding and removing transactions — and replaces
//! `web3_clientVersion` to show that an extension may take over a standard method.

use std::sync::{Arc, Mutex};

use alloy_primitives::{B256, Bytes};
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use serde_json::{Value, json};
use surge_interfaces::{
    CanonStateSubscriptions, ChainControl, ExtensionContext, FinishedHeight, NodeComponents, PoolEvent,
    StateProviderFactory, TransactionOrigin, TransactionPool,
};

/// What the extension saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Committed block numbers, in the order they arrived.
    pub committed: Vec<u64>,
    /// Reverted block numbers.
    pub reverted: Vec<u64>,
    /// Pool lifecycle events.
    pub events: Vec<PoolEvent>,
    /// Transactions admitted to the pool.
    pub admitted: Vec<B256>,
}

fn rpc_error(e: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>)
}

fn event_json(e: &PoolEvent) -> Value {
    match e {
        PoolEvent::Pending(h) => json!({ "pending": h }),
        PoolEvent::Queued(h) => json!({ "queued": h }),
        PoolEvent::Mined { hash, block } => json!({ "mined": hash, "block": block }),
        PoolEvent::Replaced { old, new } => json!({ "replaced": old, "by": new }),
        PoolEvent::Discarded(h) => json!({ "discarded": h }),
        PoolEvent::Invalid { hash, reason } => json!({ "invalid": hash, "reason": reason }),
    }
}

/// Installs the extension: spawns its tasks on the current runtime and registers its RPC module.
pub fn install<N: NodeComponents>(ctx: ExtensionContext<N>) -> Result<Arc<Mutex<Seen>>, String> {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let components = ctx.components;
    // Follow the chain from genesis, as an extension resuming from its persisted finished height would.
    let genesis = components.provider().header_by_number(0).map_err(|e| e.to_string())?.ok_or("no genesis")?;
    let mut notifications = components
        .subscriptions()
        .subscribe(Some(FinishedHeight { number: 0, hash: genesis.1 }))
        .map_err(|e| e.to_string())?;
    drop(ctx.notifications); // the default stream starts at the head; this one catches up first
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(n)) = notifications.next().await {
            let mut s = record.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(old) = n.reverted() {
                s.reverted.extend(old.iter().map(|b| b.number()));
            }
            if let Some(new) = n.committed() {
                s.committed.extend(new.iter().map(|b| b.number()));
                if let Some(last) = new.last() {
                    notifications.finished(FinishedHeight { number: last.number(), hash: last.header.hash });
                }
            }
        }
    });
    let mut events = components.pool().all_transactions_event_listener();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            record.lock().unwrap_or_else(|p| p.into_inner()).events.push(e);
        }
    });
    let mut admitted = components.pool().new_transactions_listener();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(tx) = admitted.recv().await {
            record.lock().unwrap_or_else(|p| p.into_inner()).admitted.push(tx.hash);
        }
    });

    let mut module = RpcModule::new((components, seen.clone()));
    let registered = (|| {
        module.register_method("testext_status", |_, (_, seen), _| {
            let s = seen.lock().unwrap_or_else(|p| p.into_inner());
            Ok::<_, ErrorObjectOwned>(json!({
                "committed": s.committed,
                "reverted": s.reverted,
                "events": s.events.iter().map(event_json).collect::<Vec<_>>(),
                "admitted": s.admitted,
            }))
        })?;
        module.register_method("testext_pause", |_, (c, _), _| {
            c.control().pause_production();
            Ok::<_, ErrorObjectOwned>(true)
        })?;
        module.register_method("testext_resume", |_, (c, _), _| {
            c.control().resume_production();
            Ok::<_, ErrorObjectOwned>(true)
        })?;
        module.register_blocking_method("testext_unwind", |params, ctx, _| {
            let target: u64 = params.one()?;
            let unwound = ctx.0.control().unwind_to(target).map_err(rpc_error)?;
            Ok::<_, ErrorObjectOwned>(json!({
                "blocks": unwound.blocks,
                "reinjected": unwound.reinjected,
                "refused": unwound.refused.iter().map(|(h, why)| json!([h, why])).collect::<Vec<_>>(),
            }))
        })?;
        module.register_method("testext_addTransaction", |params, (c, _), _| {
            let raw: Bytes = params.one()?;
            c.pool().add_transaction(TransactionOrigin::Local, &raw).map_err(rpc_error)
        })?;
        module.register_method("testext_remove", |params, (c, _), _| {
            let hash: B256 = params.one()?;
            Ok::<_, ErrorObjectOwned>(c.pool().remove_transactions(&[hash]).iter().map(|t| t.hash).collect::<Vec<_>>())
        })?;
        Ok::<_, jsonrpsee::core::RegisterMethodError>(())
    })();
    registered.map_err(|e| e.to_string())?;
    ctx.rpc.merge(module.into());
    let mut replacement = RpcModule::new(());
    replacement.register_method("web3_clientVersion", |_, _, _| "surge-test-extension").map_err(|e| e.to_string())?;
    ctx.rpc.replace(replacement.into());
    Ok(seen)
}
