//! The block plans are made for: the head's child, with its timestamp and its anchor's L1 checkpoint
//! fixed when the head is committed. The watcher's pending state runs in that block's environment, after
//! that anchor; the builder builds it with both when it carries plans. One choice, in one place, so that
//! a plan's state is its block's state.

use std::collections::VecDeque;

use surge_l1::L1Head;
use surge_primitives::Checkpoint;

use crate::proposal::ProposalRules;

/// How far the clock may run past a fixed timestamp before the block is fixed again (production was
/// paused, or fell behind): plans made for the old one are made again. Blocks are built about when their
/// fixed timestamp comes ([`NextBlock::fix`] looks a block time ahead), so this only happens after a stall.
pub const MAX_TIMESTAMP_LAG: u64 = 4;

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
    /// `lead` seconds later (the block time): a second after its parent at the earliest, anchored as
    /// `rules` choose among the L1 heads `seen` (oldest first).
    pub fn fix(rules: &ProposalRules, seen: &VecDeque<L1Head>, parent: (u64, u64), now: u64, lead: u64) -> Self {
        Self {
            number: parent.0 + 1,
            parent_timestamp: parent.1,
            timestamp: (now + lead).max(parent.1 + 1),
            checkpoint: rules.choose_anchor(seen.iter()).map(|h| h.checkpoint()),
        }
    }

    /// Whether the clock (`now`) has run too far past its timestamp.
    pub fn stale(&self, now: u64) -> bool {
        now > self.timestamp + MAX_TIMESTAMP_LAG
    }
}
