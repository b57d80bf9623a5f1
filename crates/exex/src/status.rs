//! Transaction statuses (`surge_txStatus`): from the chain — mined in a block L1 holds (the `safe` tag) is
//! `Executed`, mined in a later one `ProvingBlock` — then the pool (`Pending`, held ones included, and
//! `Rejected` for the ones it refused lately), then the ledger's table of rejections, which
//! [`record_rejections`] fills from the pool's removal events and which survives restarts.

use std::sync::Arc;

use alloy_primitives::B256;
use surge_interfaces::{BlockReader, NodeComponents, PoolEvent, StateProviderFactory, TaskExecutor, TransactionPool};
use surge_sync::{TxStatus, TxStatusSource};
use tracing::warn;

use crate::ledger::Ledger;

/// The statuses of a node's transactions.
#[derive(Debug)]
pub struct TxStatuses<N> {
    components: N,
    ledger: Arc<Ledger>,
}

impl<N: NodeComponents> TxStatuses<N> {
    /// Statuses from `components`' chain and pool and `ledger`'s rejections.
    pub fn new(components: N, ledger: Arc<Ledger>) -> Self {
        Self { components, ledger }
    }
}

impl<N: NodeComponents> TxStatusSource for TxStatuses<N> {
    fn tx_status(&self, tx: &B256) -> Result<Option<TxStatus>, String> {
        let provider = self.components.provider();
        let reading = |what: &str, e: &dyn std::fmt::Display| format!("reading {what} for {tx}: {e}");
        if let Some(block) = provider.transaction_block(*tx).map_err(|e| reading("its block", &e))? {
            let (head, _) = provider.latest_header().map_err(|e| reading("the head", &e))?;
            let safe = self.components.tags().safe(head.number);
            return Ok(Some(if block <= safe {
                TxStatus::Executed
            } else {
                TxStatus::ProvingBlock { block_id: block }
            }));
        }
        let pool = self.components.pool();
        if pool.get(tx).is_some() {
            return Ok(Some(TxStatus::Pending));
        }
        // The pool knows at once; the ledger's record follows the pool's event.
        if let Some(reason) = pool.rejection(tx) {
            return Ok(Some(TxStatus::Rejected { reason }));
        }
        let rejection = self.ledger.rejection(tx).map_err(|e| e.to_string())?;
        Ok(rejection.map(|r| TxStatus::Rejected { reason: r.reason }))
    }
}

/// Records in `ledger` every transaction the block producer of `components` rejects (the pool's
/// [`PoolEvent::Invalid`]), with its reason, on a critical task of `tasks`; the writes run off the
/// runtime's workers, each taking every rejection waiting.
pub fn record_rejections<N: NodeComponents>(components: &N, tasks: &dyn TaskExecutor, ledger: Arc<Ledger>) {
    let mut events = components.pool().all_transactions_event_listener();
    metrics::describe_counter!("surge_txs_rejected_total", "Transactions the block producer refused for good");
    tasks.spawn_critical(
        "rejection recorder",
        Box::pin(async move {
            let rejection = |event: PoolEvent| match event {
                PoolEvent::Invalid { hash, reason } => Some((hash, reason)),
                _ => None,
            };
            while let Some(event) = events.recv().await {
                let mut batch: Vec<(B256, String)> = rejection(event).into_iter().collect();
                batch.extend(events.try_iter().filter_map(rejection));
                if batch.is_empty() {
                    continue;
                }
                metrics::counter!("surge_txs_rejected_total").increment(batch.len() as u64);
                let ledger = ledger.clone();
                let written = tokio::task::spawn_blocking(move || ledger.record_rejections(batch)).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!("recording rejected transactions: {e}"),
                    Err(e) => warn!("recording rejected transactions: the writer failed: {e}"),
                }
            }
        }),
    );
}
