//! The ledger as an ExEx: it follows the chain's notifications on a task of its own, from the last block
//! it accounted for (so a block committed just before a crash is read again after the restart), accounts
//! for each block off the chain's lock and off the runtime's threads, and reports the height it finished.

use std::sync::Arc;

use surge_interfaces::{
    CanonStateSubscriptions, ChainNotifications, ExtensionContext, FinishedHeight, NodeComponents, TransactionPool,
};
use tracing::{info, warn};

use crate::ledger::Ledger;

/// Installs `ledger` on the node of `ctx` (call after [`Ledger::catch_up`]).
pub fn install_ledger<N: NodeComponents>(ctx: ExtensionContext<N>, ledger: Arc<Ledger>) {
    let finished = ledger.tip().map(|(number, hash)| FinishedHeight { number, hash });
    // From the ledger's own height: blocks committed since it caught up come first.
    let notifications = match ctx.components.subscriptions().subscribe(finished) {
        Ok(n) => n,
        Err(e) => {
            warn!(
                "ledger: following the chain from block {:?}: {e}; from the head instead",
                finished.map(|f| f.number)
            );
            ctx.notifications
        }
    };
    let components = ctx.components.clone();
    ctx.tasks.spawn_critical("ledger", Box::pin(follow(notifications, components, ledger)));
}

async fn follow<N: NodeComponents>(mut notifications: ChainNotifications, components: N, ledger: Arc<Ledger>) {
    info!(height = ledger.height(), "ledger: following the chain");
    while let Some(n) = notifications.next().await {
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                warn!("ledger: chain notifications: {e}");
                continue;
            }
        };
        let (l, pool) = (ledger.clone(), components.pool().clone());
        // Reading the block and writing the store are blocking work: off the runtime's threads.
        let done = tokio::task::spawn_blocking(move || {
            let applied = l.apply(&n);
            l.forget_unless(|tx| pool.get(tx).is_some());
            l.settle_unpooled(|tx| pool.get(tx).is_some());
            applied
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!("ledger: {e}"),
            // A panic while accounting ends the task as a panic: the node says so.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                warn!("ledger: accounting for a block: {e}");
                return;
            }
        }
        if let Some((number, hash)) = ledger.tip() {
            notifications.finished(FinishedHeight { number, hash });
        }
    }
}
