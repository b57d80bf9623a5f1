//! The timestamps of the latest committed blocks, by hash, in memory: executing a block needs its
//! grandparent's (the L2 base fee follows the parent's block time), and reading and decoding a header
//! for it cost a sixth of a small block's execution.

use std::{collections::VecDeque, sync::Mutex};

use alloy_primitives::B256;

/// How many blocks are remembered (execution asks for the head's parent; more covers a builder a few
/// blocks behind).
const KEPT: usize = 64;

/// Timestamps of recent blocks (a hash names one block for good, so unwinds leave the entries true).
#[derive(Debug, Default)]
pub struct RecentTimestamps {
    blocks: Mutex<VecDeque<(B256, u64)>>,
}

impl RecentTimestamps {
    /// Remembers that block `hash` has `timestamp`, forgetting the oldest beyond [`KEPT`].
    pub fn note(&self, hash: B256, timestamp: u64) {
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if blocks.len() == KEPT {
            blocks.pop_front();
        }
        blocks.push_back((hash, timestamp));
    }

    /// The timestamp of block `hash`, if it is one of the latest.
    pub fn get(&self, hash: &B256) -> Option<u64> {
        let blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        blocks.iter().rev().find(|(h, _)| h == hash).map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_blocks_only() {
        let recent = RecentTimestamps::default();
        for i in 0..(KEPT as u64 + 10) {
            recent.note(B256::with_last_byte(i as u8), 1000 + i);
        }
        assert_eq!(recent.get(&B256::with_last_byte(KEPT as u8 + 9)), Some(1000 + KEPT as u64 + 9));
        assert_eq!(recent.get(&B256::with_last_byte(10)), Some(1010));
        assert_eq!(recent.get(&B256::with_last_byte(9)), None, "the oldest are forgotten");
    }
}
