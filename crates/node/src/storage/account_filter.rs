//! Which accounts may exist: a Bloom filter over every address the plain state holds, so that reading an
//! account the state has never held (a transfer to a fresh address) costs a few bit probes instead of a
//! database lookup.
//!
//! It never forgets: built from the accounts table when the store opens, it gains every account a write
//! leaves in place (blocks, unwinds, bulk loads) before the write commits, and keeps accounts that are
//! later removed. So it holds a superset of the accounts of every snapshot a reader can see, and "absent"
//! is always right; "may exist" sends the read to the database. Views of an earlier block find the
//! accounts that changed since in their reverts before they ask the filter, and the others are as now.

use std::{
    hash::BuildHasher,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy_primitives::{Address, map::DefaultHashBuilder};

/// Bits per account the filter is sized for when the store opens (under 1% false positives with
/// `PROBES` bits in one word; more accounts later only raise that rate).
const BITS_PER_ACCOUNT: u64 = 16;
/// The smallest filter: 2 MiB, sized for a million accounts.
const MIN_BITS: u64 = 1 << 24;
/// Bits set per account.
const PROBES: u64 = 4;

/// The filter.
pub struct AccountFilter {
    words: Box<[AtomicU64]>,
    /// Word count minus one (a power of two minus one).
    word_mask: u64,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for AccountFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountFilter").field("words", &self.words.len()).finish_non_exhaustive()
    }
}

impl AccountFilter {
    /// An empty filter sized for `accounts` accounts.
    pub fn with_capacity(accounts: u64) -> Self {
        let bits = accounts.saturating_mul(BITS_PER_ACCOUNT).max(MIN_BITS).next_power_of_two();
        let words = (0..bits / 64).map(|_| AtomicU64::new(0)).collect();
        Self { words, word_mask: bits / 64 - 1, hasher: DefaultHashBuilder::default() }
    }

    /// Records that `address` may exist.
    pub fn insert(&self, address: &Address) {
        let (word, bits) = self.slot(address);
        self.words[word].fetch_or(bits, Ordering::Relaxed);
    }

    /// Whether `address` may exist (`false`: it certainly does not, in any state a reader can see).
    pub fn may_contain(&self, address: &Address) -> bool {
        let (word, bits) = self.slot(address);
        self.words[word].load(Ordering::Relaxed) & bits == bits
    }

    /// The word of `address` and its bits there: all probes in one word, so a lookup is one cache miss
    /// (four misses into a filter of megabytes took a tenth of a block's execution).
    fn slot(&self, address: &Address) -> (usize, u64) {
        let hash = self.hasher.hash_one(address);
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
    fn inserted_accounts_are_never_reported_absent_and_few_others_pass() {
        let filter = AccountFilter::with_capacity(10_000);
        let address = |i: u64| Address::from_word(alloy_primitives::keccak256(i.to_be_bytes()));
        for i in 0..10_000 {
            filter.insert(&address(i));
        }
        assert!((0..10_000).all(|i| filter.may_contain(&address(i))));
        let passed = (10_000..110_000).filter(|i| filter.may_contain(&address(*i))).count();
        assert!(passed < 100, "{passed} of 100,000 absent accounts passed the filter");
    }
}
