//! The tables of the store and the byte encodings of their records.
//!
//! Plain state is what execution reads; hashed state and trie branch nodes are what the state root is
//! computed from; reverts are what unwinding applies; the history index answers reads of earlier blocks.
//! Keys that are paths or hashes are stored big-endian (or one nibble per byte) so key order equals trie
//! order.

use alloy_primitives::{Address, B256, U256};
use redb::{TableDefinition, TypeName, Value};

/// Block number → RLP header.
pub const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// Block number → canonical block hash.
pub const CANONICAL: TableDefinition<u64, [u8; 32]> = TableDefinition::new("canonical");
/// Block hash → block number.
pub const HEADER_NUMBERS: TableDefinition<[u8; 32], u64> = TableDefinition::new("header_numbers");
/// Block number → RLP body (transactions and withdrawals).
pub const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
/// Block number → receipts (RLP list of EIP-2718 encodings).
pub const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// Block number → senders of the block's transactions, 20 bytes each.
pub const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
/// Transaction hash → (block number, index in block).
pub const TX_LOOKUP: TableDefinition<[u8; 32], (u64, u32)> = TableDefinition::new("tx_lookup");

/// Address → account (nonce, balance, code hash).
pub const PLAIN_ACCOUNTS: TableDefinition<[u8; 20], StoredAccount> = TableDefinition::new("plain_accounts");
/// (address, slot) → non-zero value.
pub const PLAIN_STORAGE: TableDefinition<([u8; 20], [u8; 32]), [u8; 32]> = TableDefinition::new("plain_storage");
/// Code hash → bytecode.
pub const BYTECODES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("bytecodes");

/// keccak(address) → RLP trie account (the account trie's leaf value, storage root included).
pub const HASHED_ACCOUNTS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("hashed_accounts");
/// (keccak(address), keccak(slot)) → RLP value (the storage trie's leaf value).
pub const HASHED_STORAGE: TableDefinition<([u8; 32], [u8; 32]), &[u8]> = TableDefinition::new("hashed_storage");
/// Nibble path → branch node of the account trie.
pub const ACCOUNT_TRIE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("account_trie");
/// (keccak(address), nibble path) → branch node of that account's storage trie.
pub const STORAGE_TRIE: TableDefinition<([u8; 32], &[u8]), &[u8]> = TableDefinition::new("storage_trie");

/// Block number → what to write back to undo the block (see [`crate::storage::revert`]).
pub const REVERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("reverts");
/// Block number → the values after the block of every key its revert lists (same encoding), so a
/// notification's state changes are read, never recomputed.
pub const CHANGES_AFTER: TableDefinition<u64, &[u8]> = TableDefinition::new("changes_after");
/// (address, block) → the account before that block changed it: 72 bytes, or none (it did not exist).
/// The history index: the value after block N is the one at the first entry above N (see the store's
/// `history` module).
pub const ACCOUNT_HISTORY: TableDefinition<([u8; 20], u64), &[u8]> = TableDefinition::new("account_history");
/// (address, slot, block) → the slot before that block changed it (zero: unset). See [`ACCOUNT_HISTORY`].
pub const STORAGE_HISTORY: TableDefinition<([u8; 20], [u8; 32], u64), [u8; 32]> =
    TableDefinition::new("storage_history");
/// Named values: genesis hash, head.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Meta key of the genesis block hash.
pub const META_GENESIS: &str = "genesis_hash";
/// Meta key of the store format version.
pub const META_VERSION: &str = "format_version";
/// The store format this code writes: 3 added the history index. A format-2 store (the same tables
/// without the index) is upgraded when opened; a binary that reads only format 2 refuses format 3, rather
/// than writing blocks the index would miss.
pub const FORMAT_VERSION: u64 = 3;
/// The format before the history index, which opening upgrades.
pub const FORMAT_WITHOUT_HISTORY: u64 = 2;

/// An account as execution sees it: nonce, balance, code hash (72 bytes on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredAccount {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Hash of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
}

impl StoredAccount {
    /// The fixed on-disk size.
    pub const SIZE: usize = 72;

    /// Encodes to 72 bytes.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    /// Decodes 72 bytes (shorter input is zero-extended, so a damaged record decodes without panicking).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut b = [0u8; Self::SIZE];
        let n = bytes.len().min(Self::SIZE);
        b[..n].copy_from_slice(&bytes[..n]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&b[..8]);
        Self {
            nonce: u64::from_be_bytes(nonce),
            balance: U256::from_be_slice(&b[8..40]),
            code_hash: B256::from_slice(&b[40..]),
        }
    }
}

impl Value for StoredAccount {
    type SelfType<'a> = StoredAccount;
    type AsBytes<'a> = [u8; StoredAccount::SIZE];

    fn fixed_width() -> Option<usize> {
        Some(Self::SIZE)
    }

    fn from_bytes<'a>(data: &'a [u8]) -> Self::SelfType<'a>
    where
        Self: 'a,
    {
        StoredAccount::from_bytes(data)
    }

    fn as_bytes<'a, 'b: 'a>(value: &'a Self::SelfType<'b>) -> Self::AsBytes<'a>
    where
        Self: 'b,
    {
        value.to_bytes()
    }

    fn type_name() -> TypeName {
        TypeName::new("surge::StoredAccount")
    }
}

/// `address` as a table key.
pub fn addr_key(address: &Address) -> [u8; 20] {
    address.0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_round_trip() {
        let a = StoredAccount { nonce: 7, balance: U256::from(123456789u64), code_hash: B256::repeat_byte(9) };
        assert_eq!(StoredAccount::from_bytes(&a.to_bytes()), a);
    }
}
