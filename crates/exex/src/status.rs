//! Transaction statuses (`surge_txStatus`). A sync transaction's status is kept by the ledger, in its store,
//! from its first plan to a final state: every transition with its time, moved on by every path that
//! mines, proposes, lands, confirms, rolls back or drops it ([`StatusRecord`]). The block producer's
//! rejections are kept the same way for any transaction, from the pool's removal events
//! ([`record_pool_exits`]). A plain transaction is answered from the chain (mined in a block L1 holds, the
//! `safe` tag, is `Executed`; in a later one `ProvingBlock`, or `Processing` once its proposal's L1
//! transaction is out) and the pool (`Pending`). Final statuses are kept for a retention period
//! ([`prune_statuses`]).

use std::{sync::Arc, time::Duration};

use alloy_primitives::B256;
use surge_interfaces::{BlockReader, NodeComponents, PoolEvent, StateProviderFactory, TaskExecutor, TransactionPool};
use surge_sync::{StatusDetails, TxStatus, TxStatusSource, TxStatusView};
use tracing::warn;

use crate::{
    ledger::Ledger,
    status_record::{PoolExit, now_ms},
};

/// The statuses of a node's transactions.
#[derive(Debug)]
pub struct TxStatuses<N> {
    components: N,
    ledger: Arc<Ledger>,
}

impl<N: NodeComponents> TxStatuses<N> {
    /// Statuses from `ledger`, and from `components`' chain and pool for the transactions it does not keep.
    pub fn new(components: N, ledger: Arc<Ledger>) -> Self {
        Self { components, ledger }
    }
}

impl<N: NodeComponents> TxStatusSource for TxStatuses<N> {
    fn tx_status(&self, tx: &B256) -> Result<Option<TxStatusView>, String> {
        if let Some(record) = self.ledger.tx_status(tx).map_err(|e| e.to_string())? {
            return Ok(Some(record.view));
        }
        let provider = self.components.provider();
        let reading = |what: &str, e: &dyn std::fmt::Display| format!("reading {what} for {tx}: {e}");
        if let Some(block) = provider.transaction_block(*tx).map_err(|e| reading("its block", &e))? {
            let (head, _) = provider.latest_header().map_err(|e| reading("the head", &e))?;
            let hash = provider.header_by_number(block).map_err(|e| reading("its block", &e))?.map(|(_, h)| h);
            let safe = self.components.tags().safe(head.number);
            let mut details = StatusDetails { l2_block_number: Some(block), l2_block_hash: hash, ..Default::default() };
            let sent = self.ledger.proposal_of_block(block);
            if let Some(on_l1) = sent {
                details.proposal_id = Some(on_l1.proposal);
                details.l1_tx_hash = on_l1.l1_tx;
                details.l1_block_number = on_l1.l1_block;
            }
            let status = match sent.and_then(|on_l1| on_l1.l1_tx) {
                _ if block <= safe => TxStatus::Executed,
                Some(tx_hash) => TxStatus::Processing { tx_hash },
                None => TxStatus::ProvingBlock { block_id: block },
            };
            return Ok(Some(TxStatusView { status, details }));
        }
        let pool = self.components.pool();
        if pool.get(tx).is_some() {
            return Ok(Some(TxStatus::Pending.into()));
        }
        // The pool knows at once; the ledger's record follows the pool's event.
        Ok(pool.rejection(tx).map(|reason| TxStatus::Rejected { reason }.into()))
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ledger.changes()
    }
}

/// The exit a pool event reports, if it is one.
fn exit_of(event: PoolEvent) -> Option<PoolExit> {
    match event {
        PoolEvent::Invalid { hash, reason } => Some(PoolExit::Invalid { tx: hash, reason }),
        PoolEvent::Replaced { old, new } if old != new => {
            Some(PoolExit::Left { tx: old, reason: format!("replaced by transaction {new} (same sender and nonce)") })
        }
        PoolEvent::Discarded(hash) => {
            Some(PoolExit::Left { tx: hash, reason: "dropped from the pool (evicted, or its nonce is spent)".into() })
        }
        _ => None,
    }
}

/// Records in `ledger` what becomes of transactions leaving the pool of `components` without being mined
/// (the pool's removal events: [`PoolExit`]), on a critical task of `tasks`; the writes run off the
/// runtime's workers, each taking every event waiting.
pub fn record_pool_exits<N: NodeComponents>(components: &N, tasks: &dyn TaskExecutor, ledger: Arc<Ledger>) {
    let mut events = components.pool().all_transactions_event_listener();
    let provider = components.provider().clone();
    metrics::describe_counter!("surge_txs_rejected_total", "Transactions the block producer refused for good");
    tasks.spawn_critical(
        "status recorder",
        Box::pin(async move {
            while let Some(event) = events.recv().await {
                let mut batch: Vec<PoolExit> = exit_of(event).into_iter().collect();
                batch.extend(events.try_iter().filter_map(exit_of));
                if batch.is_empty() {
                    continue;
                }
                let rejected = batch.iter().filter(|e| matches!(e, PoolExit::Invalid { .. })).count();
                metrics::counter!("surge_txs_rejected_total").increment(rejected as u64);
                let (ledger, provider) = (ledger.clone(), provider.clone());
                let written = tokio::task::spawn_blocking(move || {
                    // The block being built now may still carry one that left: its exit counts after it.
                    let head = provider.latest_header().map_or(0, |(h, _)| h.number);
                    ledger.record_pool_exits(batch, head)
                })
                .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("recording transactions that left the pool: {e}"),
                    Err(e) => warn!("recording transactions that left the pool: the writer failed: {e}"),
                }
            }
        }),
    );
}

/// Deletes from `ledger` the statuses final for longer than `retention`, now and then, on a task of `tasks`.
pub fn prune_statuses(ledger: Arc<Ledger>, retention: Duration, tasks: &dyn TaskExecutor) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tasks.spawn_critical(
        "status pruner",
        Box::pin(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
                let ledger = ledger.clone();
                match tokio::task::spawn_blocking(move || ledger.prune_statuses(cutoff)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::debug!(pruned = n, "statuses past their retention deleted"),
                    Ok(Err(e)) => warn!("deleting statuses past their retention: {e}"),
                    Err(e) => warn!("deleting statuses past their retention: the writer failed: {e}"),
                }
            }
        }),
    );
}
