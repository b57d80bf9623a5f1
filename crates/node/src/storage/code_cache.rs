//! Analyzed contract code by hash, shared by every state view of one store. Code never changes under its
//! hash, so nothing invalidates an entry (a commit or an unwind included); revm then skips the jump-table
//! analysis it otherwise redoes each time a view reads a contract (a tenth of an `eth_call`'s time).

use std::{
    collections::{HashMap, VecDeque},
    sync::RwLock,
};

use alloy_primitives::B256;
use revm::bytecode::Bytecode;

/// How many contracts the cache keeps by default.
pub const DEFAULT_CODE_CACHE_ENTRIES: usize = 4_096;

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<B256, Bytecode>,
    /// Insertion order, oldest first: the first to go when the cache is full.
    order: VecDeque<B256>,
}

/// Analyzed bytecode by code hash, at most `capacity` entries (the oldest go first).
#[derive(Debug)]
pub struct CodeCache {
    entries: RwLock<Entries>,
    capacity: usize,
}

impl CodeCache {
    /// An empty cache keeping at most `capacity` contracts.
    pub fn new(capacity: usize) -> Self {
        Self { entries: RwLock::new(Entries::default()), capacity: capacity.max(1) }
    }

    /// The code under `hash`, if cached.
    pub fn get(&self, hash: &B256) -> Option<Bytecode> {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).by_hash.get(hash).cloned()
    }

    /// Keeps `code` under `hash`.
    pub fn insert(&self, hash: B256, code: Bytecode) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.by_hash.insert(hash, code).is_none() {
            entries.order.push_back(hash);
        }
        while entries.order.len() > self.capacity {
            if let Some(old) = entries.order.pop_front() {
                entries.by_hash.remove(&old);
            }
        }
    }

    /// How many contracts it holds.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).by_hash.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Bytes;

    use super::*;

    #[test]
    fn keeps_the_newest_entries_up_to_its_capacity() {
        let cache = CodeCache::new(2);
        let code = |b: u8| Bytecode::new_raw(Bytes::from(vec![0x60, b, 0x00]));
        for b in 1..=3u8 {
            cache.insert(B256::repeat_byte(b), code(b));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&B256::repeat_byte(1)).is_none(), "the oldest went");
        assert_eq!(cache.get(&B256::repeat_byte(3)).map(|c| c.original_bytes()), Some(code(3).original_bytes()));
        // Inserting an entry again keeps one copy.
        cache.insert(B256::repeat_byte(3), code(3));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&B256::repeat_byte(2)).is_some());
    }
}
