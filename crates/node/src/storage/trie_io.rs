//! The trie sources of `surge-trie` over the store's tables, for the account trie and for one
//! account's storage trie.

use alloy_primitives::B256;
use redb::ReadableTable;
use surge_trie::{
    BranchNodeCompact, LeafSource, Nibbles, NodeSource, decode_branch_node, decode_path, encode_path, increment,
};

use super::StoreError;

/// Account-trie branch nodes.
pub struct AccountNodes<'a, T>(pub &'a T);
/// Account-trie leaves.
pub struct AccountLeaves<'a, T> {
    table: &'a T,
    cursor: Cursor<'a, [u8; 32]>,
}

impl<'a, T> AccountLeaves<'a, T> {
    /// The leaves in `table`.
    pub fn new(table: &'a T) -> Self {
        Self { table, cursor: None }
    }
}

/// One account's storage-trie branch nodes.
pub struct StorageNodes<'a, T> {
    /// The table.
    pub table: &'a T,
    /// keccak(address).
    pub account: B256,
}
/// One account's storage-trie leaves.
pub struct StorageLeaves<'a, T> {
    table: &'a T,
    account: B256,
    cursor: Cursor<'a, ([u8; 32], [u8; 32])>,
}

impl<'a, T> StorageLeaves<'a, T> {
    /// The leaves of the account with `keccak(address) == account` in `table`.
    pub fn new(table: &'a T, account: B256) -> Self {
        Self { table, account, cursor: None }
    }
}

/// An open range over a leaf table and the key its next entry may have: a trie walk reads runs of
/// consecutive leaves, and re-seeking the B-tree for each one cost half of reading them.
type Cursor<'a, K> = Option<(redb::Range<'a, K, &'static [u8]>, B256)>;

fn node(path: &[u8], bytes: &[u8]) -> Result<(Nibbles, BranchNodeCompact), StoreError> {
    Ok((decode_path(path)?, decode_branch_node(bytes)?))
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> NodeSource for AccountNodes<'_, T> {
    type Error = StoreError;
    fn seek_node(&mut self, from: &Nibbles) -> Result<Option<(Nibbles, BranchNodeCompact)>, StoreError> {
        let from = encode_path(from);
        let mut range = self.0.range::<&[u8]>(from.as_slice()..)?;
        match range.next() {
            Some(entry) => {
                let (k, v) = entry?;
                node(k.value(), v.value()).map(Some)
            }
            None => Ok(None),
        }
    }
}

impl<'a, T: ReadableTable<[u8; 32], &'static [u8]>> LeafSource for AccountLeaves<'a, T> {
    type Error = StoreError;
    fn seek_leaf(&mut self, from: &B256) -> Result<Option<(B256, Vec<u8>)>, StoreError> {
        let mut range = match self.cursor.take() {
            Some((range, next)) if next == *from => range,
            _ => self.table.range::<[u8; 32]>(from.0..)?,
        };
        let Some(entry) = range.next() else { return Ok(None) };
        let (k, v) = entry?;
        let key = B256::from(k.value());
        self.cursor = increment(key).map(|next| (range, next));
        Ok(Some((key, v.value().to_vec())))
    }
}

impl<T: ReadableTable<([u8; 32], &'static [u8]), &'static [u8]>> NodeSource for StorageNodes<'_, T> {
    type Error = StoreError;
    fn seek_node(&mut self, from: &Nibbles) -> Result<Option<(Nibbles, BranchNodeCompact)>, StoreError> {
        let from = encode_path(from);
        let mut range = self.table.range::<([u8; 32], &[u8])>((self.account.0, from.as_slice())..)?;
        match range.next() {
            Some(entry) => {
                let (k, v) = entry?;
                let (account, path) = k.value();
                if account != self.account.0 {
                    return Ok(None);
                }
                node(path, v.value()).map(Some)
            }
            None => Ok(None),
        }
    }
}

impl<'a, T: ReadableTable<([u8; 32], [u8; 32]), &'static [u8]>> LeafSource for StorageLeaves<'a, T> {
    type Error = StoreError;
    fn seek_leaf(&mut self, from: &B256) -> Result<Option<(B256, Vec<u8>)>, StoreError> {
        let mut range = match self.cursor.take() {
            Some((range, next)) if next == *from => range,
            _ => self.table.range::<([u8; 32], [u8; 32])>((self.account.0, from.0)..)?,
        };
        let Some(entry) = range.next() else { return Ok(None) };
        let (k, v) = entry?;
        let (account, slot) = k.value();
        if account != self.account.0 {
            return Ok(None);
        }
        let key = B256::from(slot);
        self.cursor = increment(key).map(|next| (range, next));
        Ok(Some((key, v.value().to_vec())))
    }
}
