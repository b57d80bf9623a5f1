//! The fan-out behind the chain's notifications: every consumer has a bounded buffer and is never waited
//! for; a consumer that falls behind stops receiving live notifications and, once it has drained its
//! buffer, catches up from the store ([`BlockSource`]), missing nothing; the same machinery serves a
//! consumer that subscribes with the height it had finished before a restart.

use std::{
    collections::{BTreeMap, VecDeque},
    ops::RangeInclusive,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use alloy_primitives::B256;
use surge_interfaces::{
    ChainNotification, ChainNotifications, CommittedBlock, FinishedHeight, NextNotification, NotificationStream,
    SubscribeError,
};
use tokio::sync::mpsc;

/// Where a consumer that fell behind catches up from: the host's canonical blocks.
pub trait BlockSource: Send + Sync + 'static {
    /// The canonical blocks in `range`, with their state changes.
    fn blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<CommittedBlock>, String>;
    /// The hash of canonical block `number`.
    fn canonical_hash(&self, number: u64) -> Result<Option<B256>, String>;
}

/// The head after `n`: its last new block, or the parent of the first removed one.
fn tip(n: &ChainNotification) -> Option<u64> {
    match n.committed().and_then(|n| n.last()) {
        Some(b) => Some(b.number()),
        None => n.reverted().and_then(|o| o.first()).map(|b| b.number().saturating_sub(1)),
    }
}

/// How many blocks one catch-up step loads at most.
const BACKFILL_CHUNK: u64 = 64;
/// How many announced (number, hash) pairs the hub remembers to check catch-up loads against.
const ANNOUNCED: usize = 1024;
/// The longest pause before a catch-up that failed is tried again.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// A consumer that fell behind: what it has seen, and the removals of blocks it had seen.
#[derive(Debug, Default)]
struct Lag {
    reverts: VecDeque<ChainNotification>,
}

#[derive(Debug)]
struct Consumer {
    sender: mpsc::Sender<ChainNotification>,
    /// The head as this consumer knows it (what it received, or was queued for it).
    delivered: u64,
    lag: Option<Lag>,
    finished: Option<FinishedHeight>,
    /// Whether its finished height holds pruning back (internal readers such as the RPC's do not report).
    tracked: bool,
}

impl Consumer {
    /// Records `n` for a consumer that is behind: it will read committed blocks from the store; of the
    /// removed blocks, those it had seen are kept to be reported.
    fn lag_behind(&mut self, n: &ChainNotification) {
        let lag = self.lag.get_or_insert_with(Lag::default);
        if let Some(old) = n.reverted()
            && let Some(first) = old.first().map(CommittedBlock::number)
            && first <= self.delivered
        {
            let seen: Vec<CommittedBlock> = old.iter().filter(|b| b.number() <= self.delivered).cloned().collect();
            lag.reverts.push_back(ChainNotification::Reverted { old: Arc::new(seen) });
            self.delivered = first - 1;
        }
    }
}

#[derive(Debug, Default)]
struct HubState {
    consumers: Vec<Option<Consumer>>,
    /// The head as of the last notification.
    tip: u64,
    /// The hashes of the latest blocks as notified: catch-up checks loads against what was announced, not
    /// against a store that a reorg may be rewriting right now.
    announced: BTreeMap<u64, B256>,
}

impl HubState {
    fn announce(&mut self, n: &ChainNotification) {
        if let Some(first) = n.reverted().and_then(|o| o.first()) {
            self.announced.split_off(&first.number());
        }
        for b in n.committed().map(|b| b.iter()).into_iter().flatten() {
            self.announced.insert(b.number(), b.header.hash);
        }
        while self.announced.len() > ANNOUNCED {
            self.announced.pop_first();
        }
    }
}

/// The host's side: fans notifications out to consumers, never blocking, and serves their catch-up.
pub struct NotificationHub {
    state: Mutex<HubState>,
    source: Arc<dyn BlockSource>,
    capacity: usize,
}

impl std::fmt::Debug for NotificationHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationHub").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

/// One step of a consumer's catch-up.
enum Step {
    /// Removals to report, then blocks to load (if any).
    Work(Vec<ChainNotification>, Option<RangeInclusive<u64>>),
    /// Up to date: the consumer is live again.
    Live,
}

impl NotificationHub {
    /// A hub for a chain whose head is `tip`, buffering at most `capacity` notifications per consumer.
    pub fn new(source: Arc<dyn BlockSource>, tip: u64, capacity: usize) -> Arc<Self> {
        let state = Mutex::new(HubState { tip, ..Default::default() });
        Arc::new(Self { state, source, capacity: capacity.max(1) })
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // Plain bookkeeping: a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `n` to every consumer (call after the store changed, in chain order).
    pub fn notify(&self, n: ChainNotification) {
        let mut state = self.lock();
        if let Some(tip) = tip(&n) {
            state.tip = tip;
        }
        state.announce(&n);
        let removed = n.reverted().and_then(|o| o.first()).map(|b| (b.number(), b.header.header.parent_hash));
        for slot in state.consumers.iter_mut() {
            let Some(c) = slot else { continue };
            // A finished block that left the chain: the consumer is done with its parent at most.
            if let (Some((first, parent)), Some(f)) = (removed, c.finished)
                && f.number >= first
            {
                c.finished = Some(FinishedHeight { number: first.saturating_sub(1), hash: parent });
            }
            if c.lag.is_some() {
                c.lag_behind(&n);
                continue;
            }
            match c.sender.try_send(n.clone()) {
                Ok(()) => c.delivered = tip(&n).unwrap_or(c.delivered),
                Err(mpsc::error::TrySendError::Full(n)) => c.lag_behind(&n),
                Err(mpsc::error::TrySendError::Closed(_)) => *slot = None,
            }
        }
    }

    /// A new consumer; see [`surge_interfaces::CanonStateSubscriptions::subscribe`]. Its finished height holds pruning back.
    pub fn subscribe(self: &Arc<Self>, finished: Option<FinishedHeight>) -> Result<ChainNotifications, SubscribeError> {
        self.register(finished, true)
    }

    /// A consumer from the head on whose progress does not count for [`Self::min_finished_height`] (the
    /// node's own readers, such as the RPC's subscriptions).
    pub fn subscribe_untracked(self: &Arc<Self>) -> Result<ChainNotifications, SubscribeError> {
        self.register(None, false)
    }

    fn register(
        self: &Arc<Self>,
        finished: Option<FinishedHeight>,
        tracked: bool,
    ) -> Result<ChainNotifications, SubscribeError> {
        let mut state = self.lock();
        let (sender, rx) = mpsc::channel(self.capacity);
        let consumer = match finished {
            None => Consumer { sender, delivered: state.tip, lag: None, finished: None, tracked },
            Some(f) => {
                let canonical = if f.number <= state.tip { self.hash_of(&state, f.number)? } else { None };
                if canonical != Some(f.hash) {
                    return Err(SubscribeError::NotCanonical { number: f.number, hash: f.hash, canonical });
                }
                let lag = Some(Lag::default());
                Consumer { sender, delivered: f.number, lag, finished: Some(f), tracked }
            }
        };
        state.consumers.push(Some(consumer));
        let id = state.consumers.len() - 1;
        Ok(ChainNotifications::new(HubStream { id, rx, hub: self.clone(), ready: VecDeque::new(), retry: None }))
    }

    /// The canonical hash of block `number` as announced (the store's for blocks older than the hub
    /// remembers).
    fn hash_of(&self, state: &HubState, number: u64) -> Result<Option<B256>, SubscribeError> {
        match state.announced.get(&number) {
            Some(hash) => Ok(Some(*hash)),
            None => self.source.canonical_hash(number).map_err(SubscribeError::Source),
        }
    }

    /// The chain's head is now `tip`, but the new blocks could not be read back for a notification: every
    /// consumer catches up from the store instead (it misses nothing).
    pub fn catch_up_to(&self, tip: u64) {
        let mut state = self.lock();
        state.tip = tip;
        for c in state.consumers.iter_mut().flatten() {
            c.lag.get_or_insert_with(Lag::default);
        }
    }

    /// Ends every consumer's stream (the chain is shutting down).
    pub fn close(&self) {
        // Slots stay (emptied): ids of streams still held must not name a later consumer.
        for slot in self.lock().consumers.iter_mut() {
            *slot = None;
        }
    }

    /// The lowest height every live consumer has finished, `None` while one has not reported.
    pub fn min_finished_height(&self) -> Option<u64> {
        let state = self.lock();
        let mut live = state.consumers.iter().flatten().filter(|c| c.tracked).peekable();
        live.peek()?;
        live.map(|c| c.finished.map(|f| f.number)).collect::<Option<Vec<u64>>>()?.into_iter().min()
    }

    fn finished(&self, id: usize, height: FinishedHeight) {
        if let Some(Some(c)) = self.lock().consumers.get_mut(id) {
            c.finished = Some(height);
        }
    }

    fn unsubscribe(&self, id: usize) {
        if let Some(slot) = self.lock().consumers.get_mut(id) {
            *slot = None;
        }
    }

    /// What consumer `id`, whose buffer is empty, catches up with next.
    fn step(&self, id: usize) -> Step {
        let mut state = self.lock();
        let tip = state.tip;
        let Some(Some(c)) = state.consumers.get_mut(id) else { return Step::Live };
        let Some(lag) = c.lag.as_mut() else { return Step::Live };
        let reverts: Vec<ChainNotification> = lag.reverts.drain(..).collect();
        if c.delivered >= tip {
            if reverts.is_empty() {
                c.lag = None;
                return Step::Live;
            }
            return Step::Work(reverts, None);
        }
        let from = c.delivered + 1;
        Step::Work(reverts, Some(from..=tip.min(from + BACKFILL_CHUNK - 1)))
    }

    /// Hands consumer `id` the blocks it loaded if they are still canonical and still what it needs.
    fn accept(&self, id: usize, blocks: &[CommittedBlock]) -> Result<bool, String> {
        let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else { return Ok(false) };
        let mut state = self.lock();
        let announced = self.hash_of(&state, last.number()).map_err(|e| e.to_string())?;
        let Some(Some(c)) = state.consumers.get_mut(id) else { return Ok(false) };
        let wanted = c.lag.as_ref().is_some_and(|l| l.reverts.is_empty()) && c.delivered + 1 == first.number();
        // Holding the lock, no notification can slip between this check and the hand-over; checking against
        // what was announced, a reorg half-written to the store is not handed out.
        if !wanted || announced != Some(last.header.hash) {
            return Ok(false);
        }
        c.delivered = last.number();
        Ok(true)
    }
}

/// A consumer's notification stream, as [`ChainNotifications`] carries it.
#[derive(Debug)]
struct HubStream {
    id: usize,
    rx: mpsc::Receiver<ChainNotification>,
    hub: Arc<NotificationHub>,
    ready: VecDeque<ChainNotification>,
    /// The pause before the next catch-up attempt, after one that failed or found the chain moving.
    retry: Option<Duration>,
}

impl HubStream {
    /// The next notification, in chain order; `None` once the chain is gone. Catching up reads the store
    /// on a blocking thread.
    async fn next_notification(&mut self) -> Option<Result<ChainNotification, String>> {
        loop {
            if let Some(n) = self.ready.pop_front() {
                return Some(Ok(n));
            }
            match self.rx.try_recv() {
                Ok(n) => return Some(Ok(n)),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            match self.hub.step(self.id) {
                Step::Live => return self.rx.recv().await.map(Ok),
                Step::Work(reverts, range) => {
                    self.ready.extend(reverts);
                    let Some(range) = range else { continue };
                    if let Some(pause) = self.retry {
                        tokio::time::sleep(pause).await;
                    }
                    let source = self.hub.source.clone();
                    let loaded = tokio::task::spawn_blocking(move || source.blocks(range))
                        .await
                        .map_err(|e| format!("catching up: {e}"))
                        .and_then(|r| r);
                    let accepted = loaded.and_then(|blocks| Ok((self.hub.accept(self.id, &blocks)?, blocks)));
                    match accepted {
                        Ok((true, blocks)) => {
                            self.retry = None;
                            self.ready.push_back(ChainNotification::Committed { new: Arc::new(blocks) });
                        }
                        // The chain moved meanwhile: look again shortly.
                        Ok((false, _)) => self.backoff(Duration::from_millis(10)),
                        Err(e) => {
                            self.backoff(Duration::from_millis(100));
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
    }

    fn backoff(&mut self, first: Duration) {
        self.retry = Some(self.retry.map_or(first, |r| (r * 2).min(MAX_RETRY)));
    }
}

impl NotificationStream for HubStream {
    fn next(&mut self) -> NextNotification<'_> {
        Box::pin(self.next_notification())
    }

    fn finished(&self, height: FinishedHeight) {
        self.hub.finished(self.id, height);
    }

    /// At most the hub's capacity.
    fn depth(&self) -> usize {
        self.rx.len()
    }
}

impl Drop for HubStream {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}
