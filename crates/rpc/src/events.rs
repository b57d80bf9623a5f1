//! New blocks and pending transactions as broadcast streams for subscriptions and filters: one task per
//! source forwards the chain's notifications and the pool's admissions, and keeps a short history of
//! pending hashes.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use alloy_primitives::B256;
use surge_interfaces::{ChainNotification, CommittedBlock, TransactionPool};
use tokio::sync::broadcast;

use crate::context::RpcContext;

/// Pending hashes kept for polling filters.
const PENDING_HISTORY: usize = 10_000;

/// The event streams.
#[derive(Debug, Clone)]
pub struct ChainEvents {
    /// Each canonical block as it is committed.
    pub blocks: broadcast::Sender<Arc<CommittedBlock>>,
    /// Each transaction admitted to the pool.
    pub pending: broadcast::Sender<B256>,
    /// The latest pending hashes with their sequence numbers (for `eth_getFilterChanges`).
    pub pending_history: Arc<Mutex<VecDeque<(u64, B256)>>>,
    /// What polling filters and log subscriptions hold together.
    pub criteria: Arc<crate::logs::CriteriaBudget>,
}

impl ChainEvents {
    /// Starts forwarding `ctx`'s chain notifications and pool arrivals (on the current tokio runtime).
    pub fn start(ctx: &RpcContext) -> Self {
        let (blocks, _) = broadcast::channel(256);
        let (pending, _) = broadcast::channel(4096);
        let criteria = crate::logs::CriteriaBudget::new(crate::logs::MAX_CRITERIA);
        let events = Self { blocks, pending, pending_history: Arc::default(), criteria };

        let hub = ctx.hub.clone();
        let sender = events.blocks.clone();
        tokio::spawn(async move {
            let mut notifications = match hub.subscribe_untracked() {
                Ok(n) => n,
                Err(e) => return tracing::error!(error = %e, "the RPC could not subscribe to new blocks"),
            };
            while let Some(n) = notifications.next().await {
                let n = match n {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading new blocks for subscriptions");
                        continue;
                    }
                };
                if let ChainNotification::Committed { new } | ChainNotification::Reorged { new, .. } = n {
                    for block in new.iter() {
                        // No receivers is fine: nobody is subscribed right now.
                        let _ = sender.send(Arc::new(block.clone()));
                    }
                }
            }
        });

        let mut listener = ctx.pool.new_transactions_listener();
        let sender = events.pending.clone();
        let history = events.pending_history.clone();
        tokio::spawn(async move {
            let mut seq = 0u64;
            while let Some(tx) = listener.recv().await {
                seq += 1;
                {
                    let mut h = history.lock().unwrap_or_else(|p| p.into_inner());
                    h.push_back((seq, tx.hash));
                    if h.len() > PENDING_HISTORY {
                        h.pop_front();
                    }
                }
                let _ = sender.send(tx.hash);
            }
        });
        events
    }

    /// The sequence number of the newest pending hash (0 before any).
    pub fn pending_seq(&self) -> u64 {
        self.pending_history.lock().unwrap_or_else(|p| p.into_inner()).back().map_or(0, |(s, _)| *s)
    }

    /// Pending hashes after sequence number `after`, and the newest sequence number.
    pub fn pending_since(&self, after: u64) -> (Vec<B256>, u64) {
        let h = self.pending_history.lock().unwrap_or_else(|p| p.into_inner());
        let hashes = h.iter().filter(|(s, _)| *s > after).map(|(_, hash)| *hash).collect();
        (hashes, h.back().map_or(after, |(s, _)| *s))
    }
}
