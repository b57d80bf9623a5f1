//! The block plans are made for: the head's child, with its timestamp and its anchor's L1 checkpoint fixed
//! once, when the watcher first plans for it. The watcher's pending state runs in that block's environment,
//! after that anchor; the builder builds it with both when it carries plans. [`NextBlocks`] is also the
//! one place an anchor is chosen among the L1 heads seen, so that a plan's state is its block's state.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use surge_l1::L1Head;
use surge_primitives::Checkpoint;
use tracing::{info, warn};

use crate::proposal::ProposalRules;

/// How far the clock may run past a fixed timestamp before the block is fixed again (production was
/// paused, or fell behind): plans made for the old one are made again. Blocks are built about when their
/// fixed timestamp comes (it is fixed a block time ahead), so this only happens after a stall.
pub const MAX_TIMESTAMP_LAG: u64 = 4;

/// L1 heads remembered for choosing anchors (blockhash reaches 256 back).
const SEEN_L1_HEADS: usize = 256;

/// The head's child as plans are made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextBlock {
    /// Its number.
    pub number: u64,
    /// Its parent's timestamp.
    pub parent_timestamp: u64,
    /// Its timestamp.
    pub timestamp: u64,
    /// Its anchor's L1 checkpoint when it opens a proposal (every block with plans does); `None` before
    /// the first usable L1 head.
    pub checkpoint: Option<Checkpoint>,
}

impl NextBlock {
    /// The child of block `parent` (number, timestamp), fixed at `now` (unix seconds) for a block built
    /// `lead` seconds later (the block time): a second after its parent at the earliest, anchored to
    /// `checkpoint`.
    pub fn fix(parent: (u64, u64), now: u64, lead: u64, checkpoint: Option<Checkpoint>) -> Self {
        Self { number: parent.0 + 1, parent_timestamp: parent.1, timestamp: (now + lead).max(parent.1 + 1), checkpoint }
    }

    /// Whether the clock (`now`) has run too far past its timestamp.
    pub fn stale(&self, now: u64) -> bool {
        now > self.timestamp + MAX_TIMESTAMP_LAG
    }
}

#[derive(Debug, Default)]
struct State {
    seen_l1: VecDeque<L1Head>,
    fixed: Option<NextBlock>,
    unusable_l1_heads: u64,
}

/// The L1 heads seen, the anchor chosen among them, and the next block as fixed: shared by the watcher
/// (which plans for it) and the builder (which builds it).
pub struct NextBlocks {
    rules: ProposalRules,
    state: Mutex<State>,
    /// Seconds between blocks (how far ahead a block's timestamp is fixed).
    block_time: AtomicU64,
    /// Told when the next block is fixed again (the watcher plans for the new one).
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for NextBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextBlocks").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl NextBlocks {
    /// Anchors chosen by `rules`; blocks a second apart until [`Self::set_block_time`].
    pub fn new(rules: ProposalRules) -> Self {
        Self { rules, state: Mutex::default(), block_time: AtomicU64::new(1), waker: Mutex::new(None) }
    }

    /// Blocks come every `block_time`: each block's timestamp is fixed that far ahead.
    pub fn set_block_time(&self, block_time: std::time::Duration) {
        self.block_time.store(block_time.as_secs(), Ordering::Relaxed);
    }

    /// Called when the next block is fixed again.
    pub fn set_waker(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers L1 head `l1` (if new) among those anchors are chosen from.
    pub fn see(&self, l1: Option<L1Head>) {
        see(&mut self.state(), l1);
    }

    /// The anchor a proposal opening now takes: the one choice of the node.
    pub fn anchor(&self) -> Option<Checkpoint> {
        self.choose(&self.state())
    }

    fn choose(&self, st: &State) -> Option<Checkpoint> {
        self.rules.choose_anchor(st.seen_l1.iter()).map(|h| h.checkpoint())
    }

    /// The latest L1 head seen (0 before the first).
    pub fn latest_l1(&self) -> u64 {
        self.state().seen_l1.back().map_or(0, |h| h.number)
    }

    /// L1 heads seen without a hash or state root (never anchors).
    pub fn unusable_l1_heads(&self) -> u64 {
        self.state().unusable_l1_heads
    }

    fn fix(&self, st: &State, parent: (u64, u64)) -> NextBlock {
        NextBlock::fix(parent, crate::ledger::now(), self.block_time.load(Ordering::Relaxed), self.choose(st))
    }

    /// The block after `parent` (its number and timestamp) as plans are made for it and as it is built
    /// when it opens a proposal: fixed the first time it is asked about, and again once the clock has run
    /// past it ([`NextBlock::stale`]). `l1` is the latest L1 head.
    pub fn next_block(&self, parent: (u64, u64), l1: Option<L1Head>) -> NextBlock {
        let mut st = self.state();
        see(&mut st, l1);
        match &st.fixed {
            Some(n) if n.number == parent.0 + 1 && n.parent_timestamp == parent.1 && !n.stale(crate::ledger::now()) => {
                n.clone()
            }
            // Fixed for a later block already (the asker is behind the chain): its plans will not be staged.
            Some(n) if n.number > parent.0 + 1 => self.fix(&st, parent),
            _ => {
                let next = self.fix(&st, parent);
                st.fixed = Some(next.clone());
                next
            }
        }
    }

    /// Forgets the block fixed (the chain was unwound below it): the next one asked about is fixed anew.
    pub fn reset(&self) {
        self.state().fixed = None;
    }

    /// The block `number` will be when it is built: the fixed one, fixed again first if the clock has run
    /// past it (the watcher is woken to plan for the new one). `None` when none is fixed for it.
    pub fn next_for(&self, number: u64) -> Option<NextBlock> {
        let mut st = self.state();
        let next = st.fixed.clone().filter(|n| n.number == number)?;
        if !next.stale(crate::ledger::now()) {
            return Some(next);
        }
        let fresh = self.fix(&st, (number - 1, next.parent_timestamp));
        info!(number, timestamp = fresh.timestamp, "the next block's timestamp fell behind: fixed again");
        st.fixed = Some(fresh.clone());
        drop(st);
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(wake) = waker {
            wake();
        }
        Some(fresh)
    }
}

/// Remembers L1 head `l1` (if new) among those anchors are chosen from.
fn see(st: &mut State, l1: Option<L1Head>) {
    let Some(head) = l1.filter(|h| st.seen_l1.back().is_none_or(|last| last.hash != h.hash)) else { return };
    // An L1 reorg: heads seen at its height or above are gone, and so is its parent's height when the head
    // seen there is not its parent. They are no anchors any more.
    let replaced = st.seen_l1.iter().any(|h| h.number + 1 == head.number && h.hash != head.parent_hash);
    let floor = if replaced { head.number.saturating_sub(1) } else { head.number };
    if st.seen_l1.back().is_some_and(|last| last.number >= floor) {
        warn!(l1_block = head.number, "L1 reorg: the heads seen from block {floor} on are no anchors");
        st.seen_l1.retain(|h| h.number < floor);
    }
    if head.hash.is_zero() || head.state_root.is_zero() {
        // Never an anchor (the signal service refuses it): the proposal takes an earlier head.
        warn!(l1_block = head.number, "an L1 head without hash or state root is no anchor");
        metrics::counter!("surge_planner_unusable_l1_heads_total").increment(1);
        st.unusable_l1_heads += 1;
    }
    st.seen_l1.push_back(head);
    if st.seen_l1.len() > SEEN_L1_HEADS {
        st.seen_l1.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;

    use super::*;

    fn hash(number: u64, branch: u8) -> B256 {
        let mut bytes = [0u8; 32];
        bytes[0] = branch;
        bytes[24..].copy_from_slice(&(number + 1).to_be_bytes());
        B256::from(bytes)
    }

    /// Block `number` of `branch`, whose parent is on `parent_branch`.
    fn head(number: u64, branch: u8, parent_branch: u8) -> L1Head {
        L1Head {
            number,
            hash: hash(number, branch),
            parent_hash: hash(number - 1, parent_branch),
            state_root: B256::repeat_byte(1),
            timestamp: number * 12,
            base_fee: None,
        }
    }

    #[test]
    fn heads_an_l1_reorg_replaced_are_no_anchors() {
        let next = NextBlocks::new(ProposalRules { anchor_distance: 0, ..Default::default() });
        for n in 1..=5 {
            next.see(Some(head(n, 0, 0)));
        }
        assert_eq!(next.anchor().map(|c| c.blockHash), Some(hash(5, 0)));
        // Block 5 of another branch, which forked after block 3: blocks 4 and 5 seen before are gone.
        next.see(Some(head(5, 1, 1)));
        assert_eq!(next.anchor().map(|c| c.blockHash), Some(hash(5, 1)));
        let rules = ProposalRules { anchor_distance: 1, ..Default::default() };
        assert_eq!(
            rules.choose_anchor(next.state().seen_l1.iter()).map(|h| h.hash),
            Some(hash(3, 0)),
            "not 4 of the old branch"
        );
        // A shorter branch: its head replaces everything seen at its height and above.
        next.see(Some(head(4, 2, 0)));
        assert!(next.state().seen_l1.iter().all(|h| h.number < 4 || h.hash == hash(4, 2)));
        // The next block on it is no reorg.
        next.see(Some(head(5, 2, 2)));
        assert_eq!(next.state().seen_l1.iter().map(|h| h.number).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    }
}
