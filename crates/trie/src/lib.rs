//! Incremental Merkle-Patricia roots.
//!
//! A trie is described by two sorted sources: its **leaves** (hashed key → RLP value) and its
//! **persisted branch nodes** (nibble path → [`BranchNodeCompact`], as alloy-trie's `HashBuilder` emits
//! them). Given the set of keys that changed since the nodes were persisted, [`compute_root`] recomputes
//! only the touched paths: untouched subtrees are taken from their stored hashes, so the cost follows what
//! changed, not the size of the trie. The result also says which stored nodes to delete and which to
//! write, so the caller can persist the new trie in the same transaction as the new leaves.
//!
//! The same code serves the account trie and every storage trie; the caller scopes the sources.

mod codec;
mod prefix_set;
mod root;

pub use alloy_trie::proof::ProofNodes;
pub use alloy_trie::{BranchNodeCompact, EMPTY_ROOT_HASH, Nibbles};
pub use codec::{CodecError, decode_branch_node, decode_path, encode_branch_node, encode_path};
pub use prefix_set::PrefixSet;
pub use root::{LeafSource, NodeSource, TrieUpdates, compute_root, compute_root_with_proofs, full_root, increment};
