//! The set of leaf keys that changed, queried by path prefix.

use alloy_primitives::B256;
use alloy_trie::Nibbles;

/// Changed leaf keys (as full nibble paths), sorted and deduplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixSet {
    keys: Vec<Nibbles>,
}

impl PrefixSet {
    /// A set of the given hashed keys.
    pub fn from_keys(keys: impl IntoIterator<Item = B256>) -> Self {
        let mut keys: Vec<Nibbles> = keys.into_iter().map(Nibbles::unpack).collect();
        keys.sort_unstable();
        keys.dedup();
        Self { keys }
    }

    /// This set plus `keys`.
    pub fn union(&self, keys: impl IntoIterator<Item = B256>) -> Self {
        let mut all = self.keys.clone();
        all.extend(keys.into_iter().map(Nibbles::unpack));
        all.sort_unstable();
        all.dedup();
        Self { keys: all }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of changed keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Index of the first key ≥ `prefix`.
    fn lower_bound(&self, prefix: &Nibbles) -> usize {
        self.keys.partition_point(|k| k < prefix)
    }

    /// Whether some changed key starts with `prefix`.
    pub fn contains_prefix(&self, prefix: &Nibbles) -> bool {
        self.keys.get(self.lower_bound(prefix)).is_some_and(|k| k.starts_with(prefix))
    }

    /// Whether some changed key starts with `outer` but not with `inner` (`inner` extends `outer`).
    pub fn contains_outside(&self, outer: &Nibbles, inner: &Nibbles) -> bool {
        self.keys[self.lower_bound(outer)..].iter().take_while(|k| k.starts_with(outer)).any(|k| !k.starts_with(inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_queries() {
        let a = B256::repeat_byte(0x12);
        let b = B256::repeat_byte(0x34);
        let set = PrefixSet::from_keys([b, a, a]);
        assert_eq!(set.len(), 2);
        assert!(set.contains_prefix(&Nibbles::from_nibbles([1, 2, 1])));
        assert!(set.contains_prefix(&Nibbles::default()));
        assert!(!set.contains_prefix(&Nibbles::from_nibbles([1, 3])));
        let outer = Nibbles::from_nibbles([1]);
        assert!(!set.contains_outside(&outer, &Nibbles::from_nibbles([1, 2])));
        assert!(set.contains_outside(&outer, &Nibbles::from_nibbles([1, 2, 2])));
        assert!(set.contains_outside(&Nibbles::default(), &outer));
    }
}
