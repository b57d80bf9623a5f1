//! The incremental root computation.

use alloy_primitives::B256;
use alloy_trie::{
    BranchNodeCompact, EMPTY_ROOT_HASH, HashBuilder, Nibbles,
    proof::{ProofNodes, ProofRetainer},
};

use crate::PrefixSet;

/// Persisted branch nodes of one trie, read in path order.
pub trait NodeSource {
    /// Read failure.
    type Error;
    /// The first stored node whose path is at or after `from` in trie order.
    fn seek_node(&mut self, from: &Nibbles) -> Result<Option<(Nibbles, BranchNodeCompact)>, Self::Error>;
}

/// The leaves of one trie (hashed key → RLP-encoded value), read in key order.
pub trait LeafSource {
    /// Read failure.
    type Error;
    /// The first leaf whose key is at or after `from`.
    fn seek_leaf(&mut self, from: &B256) -> Result<Option<(B256, Vec<u8>)>, Self::Error>;
}

/// The new root and how the stored nodes must change: delete `removed`, then write `updated`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrieUpdates {
    /// The trie's new root hash.
    pub root: B256,
    /// Stored nodes that no longer hold (some are rewritten by `updated`).
    pub removed: Vec<Nibbles>,
    /// Nodes to store, by path.
    pub updated: Vec<(Nibbles, BranchNodeCompact)>,
}

/// Recomputes the root after the leaves under `changed` were inserted, updated or deleted. The leaf
/// source must already hold the new leaves; the node source must hold the nodes of the old trie.
pub fn compute_root<N, L, E>(nodes: &mut N, leaves: &mut L, changed: &PrefixSet) -> Result<TrieUpdates, E>
where
    N: NodeSource<Error = E>,
    L: LeafSource<Error = E>,
{
    let hb = HashBuilder::default().with_updates(true);
    compute(nodes, leaves, changed, hb).map(|(updates, _)| updates)
}

/// Like [`compute_root`], and also collects the proof nodes for `targets` (hashed keys): every node on
/// the path to each target, in `eth_getProof` order once sorted by path. Targets count as changed, so the
/// walk descends along their paths.
pub fn compute_root_with_proofs<N, L, E>(
    nodes: &mut N,
    leaves: &mut L,
    changed: &PrefixSet,
    targets: &[B256],
) -> Result<(TrieUpdates, ProofNodes), E>
where
    N: NodeSource<Error = E>,
    L: LeafSource<Error = E>,
{
    let target_paths: Vec<Nibbles> = targets.iter().map(Nibbles::unpack).collect();
    let hb = HashBuilder::default().with_updates(true).with_proof_retainer(ProofRetainer::new(target_paths));
    let walked = changed.union(targets.iter().copied());
    compute(nodes, leaves, &walked, hb)
}

fn compute<N, L, E>(
    nodes: &mut N,
    leaves: &mut L,
    changed: &PrefixSet,
    hb: HashBuilder,
) -> Result<(TrieUpdates, ProofNodes), E>
where
    N: NodeSource<Error = E>,
    L: LeafSource<Error = E>,
{
    let mut walk = Walk { nodes, leaves, changed, hb, removed: vec![] };
    walk.region(&Nibbles::default())?;
    let root = walk.hb.root();
    let proofs = walk.hb.take_proof_nodes();
    let (_, updates) = walk.hb.split();
    let updated = sorted(updates);
    let mut removed = walk.removed;
    removed.sort_unstable();
    removed.dedup();
    Ok((TrieUpdates { root, removed, updated }, proofs))
}

/// The root and every storable node of the trie holding `leaves` (sorted by key), built from scratch.
pub fn full_root<'a>(leaves: impl IntoIterator<Item = (&'a B256, &'a [u8])>) -> TrieUpdates {
    let mut hb = HashBuilder::default().with_updates(true);
    let mut any = false;
    for (k, v) in leaves {
        hb.add_leaf(Nibbles::unpack(k), v);
        any = true;
    }
    let root = if any { hb.root() } else { EMPTY_ROOT_HASH };
    let (_, updates) = hb.split();
    let updated = sorted(updates);
    TrieUpdates { root, removed: vec![], updated }
}

struct Walk<'a, N, L> {
    nodes: &'a mut N,
    leaves: &'a mut L,
    changed: &'a PrefixSet,
    hb: HashBuilder,
    removed: Vec<Nibbles>,
}

impl<N, L, E> Walk<'_, N, L>
where
    N: NodeSource<Error = E>,
    L: LeafSource<Error = E>,
{
    /// Rebuilds the subtree under `prefix`, which changed (or is the whole trie).
    fn region(&mut self, prefix: &Nibbles) -> Result<(), E> {
        let top = self.nodes.seek_node(prefix)?.filter(|(path, _)| path.starts_with(prefix));
        match top {
            None => self.feed_leaves(prefix),
            // A change outside the stored branch (which sits below an extension from `prefix`) alters the
            // shape above it: rebuild the whole region from its leaves.
            Some((branch, _)) if self.changed.contains_outside(prefix, &branch) => {
                self.remove_nodes_under(prefix)?;
                self.feed_leaves(prefix)
            }
            Some((branch, node)) => self.walk_branch(&branch, &node),
        }
    }

    /// Rebuilds a stored branch: untouched hashed children come from their stored hashes, the rest is
    /// rebuilt below.
    fn walk_branch(&mut self, path: &Nibbles, node: &BranchNodeCompact) -> Result<(), E> {
        // The builder re-emits this node if it still exists after the change.
        self.removed.push(*path);
        for nibble in 0..16u8 {
            let mut child = *path;
            child.push(nibble);
            let present = node.state_mask.is_bit_set(nibble);
            if present && node.hash_mask.is_bit_set(nibble) && !self.changed.contains_prefix(&child) {
                self.hb.add_branch(child, node.hash_for_nibble(nibble), node.tree_mask.is_bit_set(nibble));
            } else if present && node.tree_mask.is_bit_set(nibble) {
                self.region(&child)?;
            } else if present || self.changed.contains_prefix(&child) {
                // A leaf, a branch too small to be stored, or a new child: rebuild from its leaves.
                self.feed_leaves(&child)?;
            }
        }
        Ok(())
    }

    fn feed_leaves(&mut self, prefix: &Nibbles) -> Result<(), E> {
        let mut from = lower_bound(prefix);
        while let Some((key, value)) = self.leaves.seek_leaf(&from)? {
            let path = Nibbles::unpack(key);
            if !path.starts_with(prefix) {
                break;
            }
            self.hb.add_leaf(path, &value);
            match increment(key) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(())
    }

    fn remove_nodes_under(&mut self, prefix: &Nibbles) -> Result<(), E> {
        let mut from = *prefix;
        while let Some((path, _)) = self.nodes.seek_node(&from)? {
            if !path.starts_with(prefix) {
                break;
            }
            self.removed.push(path);
            // The next stored path in trie order after `path` (its first extension, or its successor).
            if path.len() < 64 {
                from = path;
                from.push(0);
            } else {
                match path.increment() {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
        Ok(())
    }
}

fn sorted(updates: impl IntoIterator<Item = (Nibbles, BranchNodeCompact)>) -> Vec<(Nibbles, BranchNodeCompact)> {
    let mut v: Vec<_> = updates.into_iter().collect();
    v.sort_unstable_by_key(|(path, _)| *path);
    v
}

/// The smallest 32-byte key starting with `prefix`.
fn lower_bound(prefix: &Nibbles) -> B256 {
    let mut out = [0u8; 32];
    for (i, n) in prefix.iter().enumerate().take(64) {
        out[i / 2] |= if i % 2 == 0 { n << 4 } else { n };
    }
    B256::from(out)
}

/// `key + 1`: the next key a leaf source may hold after `key` (`None` after the largest).
pub fn increment(key: B256) -> Option<B256> {
    let mut bytes = key.0;
    for b in bytes.iter_mut().rev() {
        if *b == 0xff {
            *b = 0;
        } else {
            *b += 1;
            return Some(B256::from(bytes));
        }
    }
    None
}
