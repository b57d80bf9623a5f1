//! Byte encodings for persisting trie paths and branch nodes.
//!
//! Paths are stored one nibble per byte, which keeps the byte order of keys equal to the trie order of
//! paths (a path sorts right before its extensions), so range scans over stored nodes walk the trie in
//! order.

use alloy_primitives::B256;
use alloy_trie::{BranchNodeCompact, Nibbles, TrieMask};

/// A stored trie record that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A stored path has a byte above 0x0f or is longer than 64 nibbles.
    #[error("invalid stored trie path {0:02x?}")]
    BadPath(Vec<u8>),
    /// A stored branch node has the wrong length for its masks.
    #[error("invalid stored branch node ({len} bytes)")]
    BadNode {
        /// Length of the record.
        len: usize,
    },
}

/// Encodes a nibble path, one nibble per byte.
pub fn encode_path(path: &Nibbles) -> Vec<u8> {
    path.to_vec()
}

/// Decodes a path written by [`encode_path`].
pub fn decode_path(bytes: &[u8]) -> Result<Nibbles, CodecError> {
    if bytes.len() > 64 || bytes.iter().any(|b| *b > 0x0f) {
        return Err(CodecError::BadPath(bytes.to_vec()));
    }
    Ok(Nibbles::from_nibbles_unchecked(bytes))
}

/// Encodes a branch node: three u16 masks, a root flag, the child hashes, then the root hash if any.
pub fn encode_branch_node(node: &BranchNodeCompact) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + 32 * (node.hashes.len() + 1));
    out.extend_from_slice(&node.state_mask.get().to_be_bytes());
    out.extend_from_slice(&node.tree_mask.get().to_be_bytes());
    out.extend_from_slice(&node.hash_mask.get().to_be_bytes());
    out.push(u8::from(node.root_hash.is_some()));
    for h in node.hashes.iter() {
        out.extend_from_slice(h.as_slice());
    }
    if let Some(root) = node.root_hash {
        out.extend_from_slice(root.as_slice());
    }
    out
}

/// Decodes a node written by [`encode_branch_node`], checking the masks' consistency.
pub fn decode_branch_node(bytes: &[u8]) -> Result<BranchNodeCompact, CodecError> {
    let bad = || CodecError::BadNode { len: bytes.len() };
    if bytes.len() < 7 {
        return Err(bad());
    }
    let mask = |i: usize| TrieMask::new(u16::from_be_bytes([bytes[i], bytes[i + 1]]));
    let (state, tree, hash) = (mask(0), mask(2), mask(4));
    let has_root = match bytes[6] {
        0 => false,
        1 => true,
        _ => return Err(bad()),
    };
    let n = hash.count_ones() as usize;
    if bytes.len() != 7 + 32 * (n + usize::from(has_root)) || !tree.is_subset_of(state) || !hash.is_subset_of(state) {
        return Err(bad());
    }
    let hashes = (0..n).map(|i| B256::from_slice(&bytes[7 + 32 * i..7 + 32 * (i + 1)])).collect();
    let root = has_root.then(|| B256::from_slice(&bytes[7 + 32 * n..]));
    Ok(BranchNodeCompact::new(state, tree, hash, hashes, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_round_trip() {
        let node = BranchNodeCompact::new(
            TrieMask::new(0b1011),
            TrieMask::new(0b0010),
            TrieMask::new(0b1001),
            vec![B256::repeat_byte(1), B256::repeat_byte(2)],
            Some(B256::repeat_byte(3)),
        );
        assert_eq!(decode_branch_node(&encode_branch_node(&node)).unwrap(), node);
        let mut bytes = encode_branch_node(&node);
        bytes.pop();
        assert!(decode_branch_node(&bytes).is_err());
        // A hash mask outside the state mask is refused rather than panicking in the constructor.
        let mut bytes = encode_branch_node(&node);
        bytes[4..6].copy_from_slice(&0b1_0000_0000u16.to_be_bytes());
        assert!(decode_branch_node(&bytes).is_err());
    }

    #[test]
    fn path_order_is_byte_order() {
        let a = Nibbles::from_nibbles([1, 2]);
        let b = Nibbles::from_nibbles([1, 2, 0]);
        let c = Nibbles::from_nibbles([1, 3]);
        assert!(encode_path(&a) < encode_path(&b) && encode_path(&b) < encode_path(&c));
        assert_eq!(decode_path(&encode_path(&b)).unwrap(), b);
        assert!(decode_path(&[0x10]).is_err());
    }
}
