//! Which accounts and storage slots may exist: a Bloom filter over every account and every non-zero slot
//! the plain state holds, so that reading one the state has never held (a transfer to a fresh address, a
//! token balance of a new holder) costs a bit probe instead of a database lookup.
//!
//! It never forgets: it gains every account and slot a write leaves in place (blocks, unwinds, bulk loads)
//! before the write commits, and keeps those later removed. It is filled from the snapshot the store
//! opened on, on a thread of its own (a large state takes seconds to scan); until that scan ends it
//! answers "may exist" to everything. So once ready it holds a superset of the keys of every snapshot a
//! reader can see, and "absent" is always right; "may exist" sends the read to the database. Views of an
//! earlier block find the keys that changed since in their reverts before they ask the filter, and the
//! others are as now.

use std::{
    hash::BuildHasher,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use alloy_primitives::{Address, U256, map::DefaultHashBuilder};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::{
    StoreError,
    tables::{PLAIN_ACCOUNTS, PLAIN_STORAGE},
};

/// Bits per key the filter is sized for when the store opens (under 1% false positives with `PROBES`
/// bits in one word; more keys later only raise that rate).
const BITS_PER_KEY: u64 = 16;
/// The smallest filter: 2 MiB, sized for a million keys.
const MIN_BITS: u64 = 1 << 24;
/// The largest: 256 MiB, sized for 134 million keys (a larger state sees more false positives, which
/// cost a database read each, nothing else).
const MAX_BITS: u64 = 1 << 31;
/// Bits set per key.
const PROBES: u64 = 4;

/// The filter's bits.
///
/// They sit in an anonymous mapping asked for huge pages. A probe lands on a random word of megabytes;
/// with 4 KiB pages nearly every probe of a block also missed the TLB, and a page walk in a virtual machine
/// costs several memory reads. One 2 MiB page halved the probe's time. Where the mapping fails, a heap
/// slice does the same work.
enum Words {
    Mapped { map: memmap2::MmapRaw, len: usize },
    Heap(Box<[AtomicU64]>),
}

impl Words {
    fn zeroed(len: usize) -> Self {
        match memmap2::MmapOptions::new().len(len * std::mem::size_of::<AtomicU64>()).map_anon() {
            Ok(map) => {
                // Only a hint: without transparent huge pages the mapping works the same, on small pages.
                if let Err(e) = map.advise(memmap2::Advice::HugePage) {
                    tracing::debug!(error = %e, "huge pages for the state filter");
                }
                Self::Mapped { map: memmap2::MmapRaw::from(map), len }
            }
            Err(e) => {
                tracing::debug!(error = %e, "mapping the state filter; it lives on the heap");
                Self::Heap((0..len).map(|_| AtomicU64::new(0)).collect())
            }
        }
    }

    fn get(&self) -> &[AtomicU64] {
        match self {
            // SAFETY: the mapping is `len` words long, page-aligned (so aligned for `AtomicU64`, which has
            // the size and alignment of `u64`), zero-filled by the kernel (a valid value for any integer)
            // and owned by `self` (so it outlives the borrow). The pointer is `MmapRaw`'s raw one, not
            // taken from a byte slice, and the memory is only ever reached through this atomic view, so
            // the concurrent `fetch_or`s alias nothing.
            Self::Mapped { map, len } => unsafe {
                std::slice::from_raw_parts(map.as_mut_ptr().cast::<AtomicU64>().cast_const(), *len)
            },
            Self::Heap(words) => words,
        }
    }
}

/// The filter.
pub struct StateFilter {
    words: Words,
    /// Word count minus one (a power of two minus one).
    word_mask: u64,
    hasher: DefaultHashBuilder,
    /// The scan of the snapshot the store opened on has finished.
    ready: AtomicBool,
    /// The store is closing: the scan stops (it holds a read transaction, which keeps the database open).
    closing: AtomicBool,
}

/// The thread filling a [`StateFilter`]; dropping it stops the scan and waits for the thread, so that the
/// database is closed when the store is.
#[derive(Debug)]
pub(crate) struct Filling {
    filter: Arc<StateFilter>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Filling {
    fn drop(&mut self) {
        self.filter.closing.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the state filter's thread panicked");
        }
    }
}

impl std::fmt::Debug for StateFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFilter")
            .field("words", &self.words.get().len())
            .field("ready", &self.ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl StateFilter {
    /// An empty filter sized for `keys` keys, not ready.
    fn with_capacity(keys: u64) -> Self {
        let bits = keys.saturating_mul(BITS_PER_KEY).clamp(MIN_BITS, MAX_BITS).next_power_of_two();
        let words = Words::zeroed((bits / 64) as usize);
        Self {
            words,
            word_mask: bits / 64 - 1,
            hasher: DefaultHashBuilder::default(),
            ready: AtomicBool::new(false),
            closing: AtomicBool::new(false),
        }
    }

    /// The filter of the state `read` sees, filled on a thread of its own. `read` must be the latest
    /// snapshot and no write may have started since it began (the store opening): keys removed before
    /// it and still in an older reader's snapshot would be missed.
    pub(crate) fn of(read: ReadTransaction) -> Result<(Arc<Self>, Filling), StoreError> {
        let (accounts, slots) = (read.open_table(PLAIN_ACCOUNTS)?, read.open_table(PLAIN_STORAGE)?);
        let filter = Arc::new(Self::with_capacity(accounts.len()?.saturating_add(slots.len()?)));
        let filling = filter.clone();
        let spawned = std::thread::Builder::new().name("state-filter".into()).spawn(move || {
            let started = std::time::Instant::now();
            match filling.fill(&accounts, &slots) {
                Ok(Some(keys)) => {
                    filling.ready.store(true, Ordering::Release);
                    tracing::debug!(keys, elapsed = ?started.elapsed(), "state filter ready");
                }
                Ok(None) => {}
                // Never ready: every read goes to the database, as without a filter.
                Err(e) => tracing::warn!(error = %e, "filling the state filter; reads go to the database"),
            }
            drop(read);
        });
        let thread = spawned
            .inspect_err(|e| tracing::warn!(error = %e, "starting the state filter's thread; reads go to the database"))
            .ok();
        Ok((filter.clone(), Filling { filter, thread }))
    }

    /// Inserts every key of the tables; how many (`None`: the store closed first).
    fn fill(
        &self,
        accounts: &redb::ReadOnlyTable<[u8; 20], super::tables::StoredAccount>,
        slots: &redb::ReadOnlyTable<([u8; 20], [u8; 32]), [u8; 32]>,
    ) -> Result<Option<u64>, StoreError> {
        let mut keys = 0u64;
        let closing = |keys: u64| keys.is_multiple_of(4096) && self.closing.load(Ordering::Relaxed);
        for entry in accounts.iter()? {
            self.insert_account(&Address::from(entry?.0.value()));
            keys += 1;
            if closing(keys) {
                return Ok(None);
            }
        }
        for entry in slots.iter()? {
            let (address, slot) = entry?.0.value();
            self.insert_slot(&Address::from(address), &U256::from_be_bytes(slot));
            keys += 1;
            if closing(keys) {
                return Ok(None);
            }
        }
        Ok(Some(keys))
    }

    /// Whether the scan of the snapshot the store opened on has finished.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records that the account at `address` may exist.
    pub fn insert_account(&self, address: &Address) {
        self.insert(self.hasher.hash_one(address));
    }

    /// Records that `slot` of `address` may be set.
    pub fn insert_slot(&self, address: &Address, slot: &U256) {
        self.insert(self.hasher.hash_one((address, slot)));
    }

    /// Whether the account at `address` may exist (`false`: it certainly does not, in any state a reader
    /// can see).
    pub fn may_hold_account(&self, address: &Address) -> bool {
        self.may_contain(self.hasher.hash_one(address))
    }

    /// Whether `slot` of `address` may be set (`false`: it is zero in every state a reader can see).
    pub fn may_hold_slot(&self, address: &Address, slot: &U256) -> bool {
        self.may_contain(self.hasher.hash_one((address, slot)))
    }

    fn insert(&self, hash: u64) {
        let (word, bits) = self.slot(hash);
        self.words.get()[word].fetch_or(bits, Ordering::Relaxed);
    }

    fn may_contain(&self, hash: u64) -> bool {
        if !self.is_ready() {
            return true;
        }
        let (word, bits) = self.slot(hash);
        self.words.get()[word].load(Ordering::Relaxed) & bits == bits
    }

    /// The word of a key's hash and its bits there: all probes in one word, so a lookup is one cache miss
    /// (four misses into a filter of megabytes took a tenth of a block's execution).
    fn slot(&self, hash: u64) -> (usize, u64) {
        let word = (hash & self.word_mask) as usize;
        let probes = hash >> 32;
        let bits = (0..PROBES).fold(0u64, |bits, i| bits | 1 << ((probes >> (6 * i)) & 63));
        (word, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_never_reported_absent_and_few_others_pass() {
        let filter = StateFilter::with_capacity(20_000);
        filter.ready.store(true, Ordering::Release);
        let address = |i: u64| Address::from_word(alloy_primitives::keccak256(i.to_be_bytes()));
        let owner = address(u64::MAX);
        for i in 0..10_000 {
            filter.insert_account(&address(i));
            filter.insert_slot(&owner, &U256::from(i));
        }
        assert!((0..10_000).all(|i| filter.may_hold_account(&address(i))));
        assert!((0..10_000).all(|i| filter.may_hold_slot(&owner, &U256::from(i))));
        let passed = (10_000..110_000).filter(|i| filter.may_hold_account(&address(*i))).count();
        assert!(passed < 100, "{passed} of 100,000 absent accounts passed the filter");
        let passed = (10_000..110_000).filter(|i| filter.may_hold_slot(&owner, &U256::from(*i))).count();
        assert!(passed < 100, "{passed} of 100,000 unset slots passed the filter");
        // A slot key is not an account key, nor the same slot of another account: another account's slots
        // pass only as often as any absent key (the hasher is seeded at random, so a rare one may).
        let passed = (0..10_000).filter(|i| filter.may_hold_slot(&address(1), &U256::from(*i))).count();
        assert!(passed < 10, "{passed} of another account's 10,000 slots passed the filter");
    }

    #[test]
    fn a_filter_not_yet_filled_answers_may_exist() {
        let filter = StateFilter::with_capacity(10);
        assert!(filter.may_hold_account(&Address::with_last_byte(1)));
        assert!(filter.may_hold_slot(&Address::with_last_byte(1), &U256::from(1)));
    }
}
