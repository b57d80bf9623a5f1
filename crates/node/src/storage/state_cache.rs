//! Accounts and storage slots of the latest state, in memory across blocks (as reth's cross-block
//! execution cache): what recent blocks, calls and pool checks read, and what the last commits wrote.
//!
//! Consistency: the cache mirrors the plain state of one committed head, its *generation*. A store write
//! marks it invalid before it starts and, once committed, applies exactly the keys the write touched (the
//! values it left, from [`super::Applied::after`]) and moves to the next generation; a failed write clears
//! it. A state view remembers the generation its read transaction saw (the two are taken under the cache's
//! lock, so they agree) and only reads or fills the cache while that generation is current: a view of an
//! older head goes to its own snapshot, never to newer values.
//!
//! Bounded: each table keeps two halves; new entries go to the hot half and when it reaches half the limit
//! it becomes the cold half (the old cold half is dropped), so the oldest-filled entries go first.

use std::{
    hash::Hash,
    sync::{
        RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering},
    },
};

// foldhash: keys are addresses and slots, looked up on every state read.
use alloy_primitives::map::HashMap;

use alloy_primitives::{Address, U256};

use super::{BlockRevert, tables::StoredAccount};

/// Default bound on cached accounts.
pub const DEFAULT_CACHED_ACCOUNTS: usize = 1 << 18;
/// Default bound on cached storage slots.
pub const DEFAULT_CACHED_SLOTS: usize = 1 << 20;

/// How many entries the cache keeps at most (zero: none, every read goes to the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateCacheLimits {
    /// Accounts (present or known absent).
    pub accounts: usize,
    /// Storage slots (zero values included: a slot known unset saves a read too).
    pub slots: usize,
}

impl Default for StateCacheLimits {
    fn default() -> Self {
        Self { accounts: DEFAULT_CACHED_ACCOUNTS, slots: DEFAULT_CACHED_SLOTS }
    }
}

/// A map that forgets its oldest-filled half when full.
#[derive(Debug)]
struct Halves<K, V> {
    hot: HashMap<K, V>,
    cold: HashMap<K, V>,
    half: usize,
}

impl<K: Eq + Hash, V: Copy> Halves<K, V> {
    fn new(limit: usize) -> Self {
        Self { hot: HashMap::default(), cold: HashMap::default(), half: limit / 2 }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.hot.get(key).or_else(|| self.cold.get(key)).copied()
    }

    fn insert(&mut self, key: K, value: V) {
        if self.half == 0 {
            return;
        }
        self.cold.remove(&key);
        self.hot.insert(key, value);
        if self.hot.len() >= self.half {
            self.cold = std::mem::take(&mut self.hot);
        }
    }

    fn clear(&mut self) {
        self.hot.clear();
        self.cold.clear();
    }

    fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }
}

#[derive(Debug)]
struct Inner {
    /// The head generation the entries are right for; `None` while a write is under way.
    generation: Option<u64>,
    /// The generation the next completed write starts.
    next: u64,
    accounts: Halves<Address, Option<StoredAccount>>,
    slots: Halves<(Address, U256), U256>,
}

/// Hit and miss counts since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCacheStats {
    /// Reads the cache answered.
    pub hits: u64,
    /// Reads that went to the database.
    pub misses: u64,
    /// Accounts held.
    pub accounts: usize,
    /// Storage slots held.
    pub slots: usize,
}

/// The cross-block state cache of one store.
#[derive(Debug)]
pub struct StateCache {
    inner: RwLock<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl StateCache {
    /// An empty cache for the store's current head.
    pub fn new(limits: StateCacheLimits) -> Self {
        Self {
            inner: RwLock::new(Inner {
                generation: Some(0),
                next: 1,
                accounts: Halves::new(limits.accounts),
                slots: Halves::new(limits.slots),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `open` (which starts a read transaction) while no write can start or finish, returning the
    /// generation that transaction sees (`None`: a write is under way, do not use the cache).
    pub(crate) fn pin<T>(&self, open: impl FnOnce() -> T) -> (Option<u64>, T) {
        let inner = self.read();
        let opened = open();
        (inner.generation, opened)
    }

    fn counted<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The cached account (`Some(None)`: known absent) if `generation` is current.
    pub(crate) fn account(&self, generation: u64, address: &Address) -> Option<Option<StoredAccount>> {
        let inner = self.read();
        self.counted((inner.generation == Some(generation)).then(|| inner.accounts.get(address)).flatten())
    }

    /// The cached account of the current head, if any (no view involved: admission checks).
    pub(crate) fn head_account(&self, address: &Address) -> Option<Option<StoredAccount>> {
        let inner = self.read();
        self.counted(inner.generation.and_then(|_| inner.accounts.get(address)))
    }

    /// The cached slot if `generation` is current.
    pub(crate) fn slot(&self, generation: u64, address: Address, slot: U256) -> Option<U256> {
        let inner = self.read();
        self.counted((inner.generation == Some(generation)).then(|| inner.slots.get(&(address, slot))).flatten())
    }

    /// Keeps an account read from a snapshot of `generation`, if that is still current.
    pub(crate) fn fill_account(&self, generation: u64, address: Address, account: Option<StoredAccount>) {
        let mut inner = self.write();
        if inner.generation == Some(generation) {
            inner.accounts.insert(address, account);
        }
    }

    /// Keeps a slot read from a snapshot of `generation`, if that is still current.
    pub(crate) fn fill_slot(&self, generation: u64, address: Address, slot: U256, value: U256) {
        let mut inner = self.write();
        if inner.generation == Some(generation) {
            inner.slots.insert((address, slot), value);
        }
    }

    /// Marks the cache invalid for the write that is starting; the write reports back through the
    /// returned guard (dropping it unreported clears the cache).
    pub(crate) fn begin_write(&self) -> CacheWrite<'_> {
        self.write().generation = None;
        CacheWrite { cache: self, done: false }
    }

    /// Hit and miss counts and sizes.
    pub fn stats(&self) -> StateCacheStats {
        let inner = self.read();
        StateCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            accounts: inner.accounts.len(),
            slots: inner.slots.len(),
        }
    }
}

/// A store write in progress: the cache is invalid until it reports what it wrote.
#[derive(Debug)]
pub(crate) struct CacheWrite<'a> {
    cache: &'a StateCache,
    done: bool,
}

impl CacheWrite<'_> {
    /// The write committed, leaving these values (in order: later entries win).
    pub(crate) fn committed<'b>(mut self, written: impl IntoIterator<Item = &'b BlockRevert>) {
        let mut inner = self.cache.write();
        for after in written {
            for (address, account) in &after.accounts {
                inner.accounts.insert(*address, *account);
            }
            for (address, slot, value) in &after.storage {
                inner.slots.insert((*address, U256::from_be_bytes(slot.0)), *value);
            }
        }
        inner.generation = Some(inner.next);
        inner.next += 1;
        self.done = true;
    }
}

impl Drop for CacheWrite<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The write failed or was abandoned: nothing cached is known to match the store any more.
            let mut inner = self.cache.write();
            inner.accounts.clear();
            inner.slots.clear();
            inner.generation = Some(inner.next);
            inner.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;

    use super::*;

    fn account(nonce: u64) -> Option<StoredAccount> {
        Some(StoredAccount { nonce, balance: U256::from(nonce), code_hash: B256::ZERO })
    }

    #[test]
    fn a_view_of_an_older_head_never_reads_newer_values() {
        let cache = StateCache::new(StateCacheLimits::default());
        let a = Address::with_last_byte(1);
        let (old, ()) = cache.pin(|| ());
        let old = old.unwrap();
        cache.fill_account(old, a, account(1));
        assert_eq!(cache.account(old, &a), Some(account(1)));

        let write = cache.begin_write();
        assert_eq!(cache.pin(|| ()).0, None, "no generation while a write is under way");
        assert_eq!(cache.account(old, &a), None);
        let after = BlockRevert { accounts: vec![(a, account(2))], storage: vec![] };
        write.committed([&after]);

        let (new, ()) = cache.pin(|| ());
        let new = new.unwrap();
        assert_ne!(new, old);
        assert_eq!(cache.account(new, &a), Some(account(2)));
        assert_eq!(cache.account(old, &a), None, "the old view goes to its snapshot");
        cache.fill_account(old, a, account(1));
        assert_eq!(cache.account(new, &a), Some(account(2)), "an old view's read is not kept");
    }

    #[test]
    fn a_failed_write_clears_it() {
        let cache = StateCache::new(StateCacheLimits::default());
        let a = Address::with_last_byte(1);
        let generation = cache.pin(|| ()).0.unwrap();
        cache.fill_slot(generation, a, U256::from(7), U256::from(9));
        drop(cache.begin_write());
        let now = cache.pin(|| ()).0.unwrap();
        assert_eq!(cache.slot(now, a, U256::from(7)), None);
        assert_eq!(cache.stats().slots, 0);
    }

    #[test]
    fn stays_within_its_limits() {
        let cache = StateCache::new(StateCacheLimits { accounts: 100, slots: 10 });
        let generation = cache.pin(|| ()).0.unwrap();
        for i in 0..1_000u64 {
            cache.fill_account(generation, Address::from_word(B256::from(U256::from(i))), account(i));
            cache.fill_slot(generation, Address::ZERO, U256::from(i), U256::from(i));
        }
        let stats = cache.stats();
        assert!(stats.accounts <= 100 && stats.slots <= 10, "{stats:?}");
        // The newest entries are the ones kept.
        let last = Address::from_word(B256::from(U256::from(999)));
        assert_eq!(cache.account(generation, &last), Some(account(999)));
    }
}
