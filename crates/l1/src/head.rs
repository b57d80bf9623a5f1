//! The L1 head tracker: one task follows the L1 (new-head subscription over WebSocket, polling over HTTP)
//! and publishes the latest and the finalized block into a `tokio::sync::watch` channel. Block production
//! reads the anchor's checkpoint from the channel ([`HeadWatch`]) and never waits for L1: when the L1 is
//! down, the tracker retries with backoff and the L2 keeps building on the last head it knows.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::{eips::BlockNumberOrTag, providers::Provider};
use alloy_primitives::{B256, aliases::U48};
use surge_interfaces::CheckpointSource;
use surge_primitives::Checkpoint;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::client::{L1Client, L1Error};

/// One L1 block as the L2 needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Head {
    /// Number.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// State root.
    pub state_root: B256,
    /// Timestamp.
    pub timestamp: u64,
    /// Base fee (none before London).
    pub base_fee: Option<u64>,
}

impl L1Head {
    /// The head of an RPC header.
    pub fn from_header(h: &alloy::rpc::types::Header) -> Self {
        Self {
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            state_root: h.state_root,
            timestamp: h.timestamp,
            base_fee: h.base_fee_per_gas,
        }
    }

    /// The head of a sealed consensus header (the embedded L1).
    pub fn from_sealed(header: &alloy::consensus::Header, hash: B256) -> Self {
        Self {
            number: header.number,
            hash,
            parent_hash: header.parent_hash,
            state_root: header.state_root,
            timestamp: header.timestamp,
            base_fee: header.base_fee_per_gas,
        }
    }

    /// The anchor's checkpoint of this block.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { blockNumber: U48::from(self.number), blockHash: self.hash, stateRoot: self.state_root }
    }
}

/// The latest and the finalized L1 block, as last seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L1Heads {
    /// The latest block.
    pub latest: Option<L1Head>,
    /// The finalized block (none when the endpoint has no `finalized` tag).
    pub finalized: Option<L1Head>,
    /// Since when (unix seconds) the L1 endpoint has not answered; `None` while it answers.
    pub failing_since: Option<u64>,
}

/// The receiving end: the anchor's checkpoint without any L1 I/O.
#[derive(Debug, Clone)]
pub struct HeadWatch(pub watch::Receiver<L1Heads>);

impl CheckpointSource for HeadWatch {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        match self.0.borrow().latest {
            Some(head) => Ok(head.checkpoint()),
            None => Err("no L1 head known yet".into()),
        }
    }
}

/// What the tracker has counted (the same numbers go to the node's metrics).
#[derive(Debug, Default)]
pub struct TrackerStats {
    /// Failed attempts to read the L1 (each followed by a retry).
    pub errors: AtomicU64,
    /// L1 reorgs seen (a head published before is no longer the L1's).
    pub reorgs: AtomicU64,
}

/// Follows an L1 endpoint and publishes its heads.
#[derive(Debug)]
pub struct HeadTracker {
    client: L1Client,
    heads: watch::Sender<L1Heads>,
    poll: Duration,
    stats: Arc<TrackerStats>,
    /// The heads published lately, oldest first: a new head that disagrees with one of them is a reorg.
    recent: std::sync::Mutex<std::collections::VecDeque<(u64, B256)>>,
}

/// Heads kept to measure reorgs against (deeper ones count as this deep).
const RECENT_HEADS: usize = 128;

/// The longest pause between retries while the L1 is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl HeadTracker {
    /// A tracker of `client` polling every `poll` (HTTP), starting from `initial`.
    pub fn new(client: L1Client, poll: Duration, initial: L1Heads) -> (Self, HeadWatch) {
        let (heads, rx) = watch::channel(initial);
        let tracker = Self { client, heads, poll, stats: Arc::default(), recent: Default::default() };
        (tracker, HeadWatch(rx))
    }

    /// The tracker's counters.
    pub fn stats(&self) -> Arc<TrackerStats> {
        self.stats.clone()
    }

    /// Runs until every [`HeadWatch`] is dropped.
    pub async fn run(mut self) {
        metrics::counter!("surge_l1_head_errors_total").increment(0);
        metrics::counter!("surge_l1_reorgs_total").increment(0);
        let first = self.poll.min(Duration::from_secs(1));
        let mut backoff = first;
        while !self.heads.is_closed() {
            let step = if self.client.is_ws() {
                self.follow_subscription(&mut backoff, first).await
            } else {
                self.poll_once().await
            };
            if let Some(latest) = self.heads.borrow().latest {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                metrics::gauge!("surge_l1_head_age_seconds").set(now.as_secs().saturating_sub(latest.timestamp) as f64);
            }
            match step {
                Ok(()) => {
                    backoff = first;
                    if !self.client.is_ws() {
                        tokio::time::sleep(self.poll).await;
                    }
                }
                Err(e) => {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                    self.heads.send_if_modified(|heads| {
                        let first = heads.failing_since.is_none();
                        heads.failing_since.get_or_insert(now.as_secs());
                        first
                    });
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("surge_l1_head_errors_total").increment(1);
                    let known = self.heads.borrow().latest.map(|h| h.number);
                    warn!(error = %e, retry_in = ?backoff, last_known_l1_block = ?known, "the L1 head is not moving on");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if self.client.is_ws() {
                        // A WebSocket client gives up reconnecting after a while: start over with a new one.
                        match self.client.reconnect().await {
                            Ok(client) => self.client = client,
                            Err(e) => debug!(error = %e, "reconnecting to the L1"),
                        }
                    }
                }
            }
        }
        debug!("L1 head tracker stopped");
    }

    fn publish(&self, latest: L1Head, finalized: Option<L1Head>) {
        let changed = self.heads.send_if_modified(|heads| {
            if heads.latest.is_some_and(|l| l.number > latest.number) {
                return false; // a header from a subscription's backlog, older than what is known
            }
            let new = L1Heads { latest: Some(latest), finalized: finalized.or(heads.finalized), failing_since: None };
            let changed = *heads != new;
            *heads = new;
            changed
        });
        if changed {
            metrics::gauge!("surge_l1_head_number").set(latest.number as f64);
            debug!(chain = "L1", number = latest.number, hash = %latest.hash, "L1 head");
        }
    }

    async fn finalized(&self) -> Option<L1Head> {
        // Endpoints without the tag (older clients) simply have no finalized block.
        self.client.head(BlockNumberOrTag::Finalized).await.ok().flatten()
    }

    async fn poll_once(&self) -> Result<(), L1Error> {
        let latest = self.client.head(BlockNumberOrTag::Latest).await?;
        let Some(latest) = latest else { return Ok(()) };
        self.note_reorg(latest).await;
        let finalized = self.finalized().await;
        self.publish(latest, finalized);
        Ok(())
    }

    /// Counts a reorg when `latest` replaces heads published before: the depth is how many of them the
    /// L1 no longer has (looked up from the newest down, at most [`RECENT_HEADS`]).
    async fn note_reorg(&self, latest: L1Head) {
        let recent: Vec<(u64, B256)> = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            // The same head again, or its child: nothing to look up.
            let extends = |&(n, h): &(u64, B256)| {
                (n == latest.number && h == latest.hash) || (n + 1 == latest.number && h == latest.parent_hash)
            };
            let known = match recent.back() {
                Some(last) if extends(last) => vec![],
                _ => recent.iter().rev().copied().collect(),
            };
            recent.retain(|&(n, _)| n < latest.number);
            recent.push_back((latest.number, latest.hash));
            while recent.len() > RECENT_HEADS {
                recent.pop_front();
            }
            known
        };
        let mut gone = 0u64;
        for (number, hash) in recent {
            let now = if number == latest.number {
                Some(latest.hash)
            } else if number > latest.number {
                None
            } else {
                match self.client.head(BlockNumberOrTag::Number(number)).await {
                    Ok(head) => head.map(|h| h.hash),
                    Err(_) => return,
                }
            };
            if now == Some(hash) {
                break;
            }
            gone += 1;
        }
        if gone > 0 {
            warn!(depth = gone, new_head = latest.number, "L1 reorg: heads seen before are gone");
            metrics::counter!("surge_l1_reorgs_total").increment(1);
            metrics::histogram!("surge_l1_reorg_depth").record(gone as f64);
            self.stats.reorgs.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn follow_subscription(&self, backoff: &mut Duration, first: Duration) -> Result<(), L1Error> {
        // Subscribe first, then read the head: a block mined in between is not missed.
        let mut subscription =
            self.client.run("eth_subscribe newHeads", self.client.provider().subscribe_blocks()).await?;
        self.poll_once().await?;
        *backoff = first; // connected again: the next failure starts the backoff over
        info!(endpoint = self.client.endpoint(), "following L1 heads over WebSocket");
        // A subscription that goes quiet for a long time is replaced by a fresh one.
        let quiet = self.poll.max(Duration::from_secs(1)) * 60;
        loop {
            let header = match tokio::time::timeout(quiet, subscription.recv()).await {
                Ok(Ok(header)) => header,
                Ok(Err(e)) => return Err(self.subscription_ended(e.to_string())),
                Err(_) => return Err(self.subscription_ended(format!("no new head for {quiet:?}"))),
            };
            let finalized = self.finalized().await;
            let latest = L1Head::from_header(&header);
            self.note_reorg(latest).await;
            self.publish(latest, finalized);
            if self.heads.is_closed() {
                return Ok(());
            }
        }
    }

    fn subscription_ended(&self, reason: String) -> L1Error {
        L1Error::Call { call: "newHeads subscription".into(), endpoint: self.client.endpoint().to_string(), reason }
    }
}
