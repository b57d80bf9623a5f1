//! The genesis block: its allocation as a state change, its header, and writing both into a new store.

use alloy::consensus::{BlockBody, Header};
use alloy_primitives::{B256, U256, keccak256};
use redb::Database;

use super::{SealedHeader, StateDiff, StoreError, apply_diff, tables::*, write::write_chain_data};
use crate::chainspec::ChainSpec;

/// The sealed genesis header of `chain` (its state root computed from the allocation).
pub fn genesis_header(chain: &ChainSpec) -> Result<SealedHeader, StoreError> {
    Ok(SealedHeader::seal(genesis_parts(chain)?.1))
}

/// The genesis allocation as a state change, and the genesis header (state root filled in).
pub(super) fn genesis_parts(chain: &ChainSpec) -> Result<(StateDiff, Header), StoreError> {
    let mut diff = StateDiff::default();
    let mut leaves = std::collections::BTreeMap::new();
    for (address, account) in &chain.genesis.alloc {
        let code = account.code.clone().unwrap_or_default();
        let code_hash = if code.is_empty() { alloy::consensus::constants::KECCAK_EMPTY } else { keccak256(&code) };
        if !code.is_empty() {
            diff.contracts.push((code_hash, code));
        }
        let stored = StoredAccount { nonce: account.nonce.unwrap_or(0), balance: account.balance, code_hash };
        diff.accounts.insert(*address, Some(stored));
        let storage: std::collections::BTreeMap<B256, U256> = account
            .storage
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, U256::from_be_bytes(v.0)))
            .filter(|(_, v)| !v.is_zero())
            .collect();
        let storage_root = alloy_trie::root::storage_root_unhashed(storage.iter().map(|(k, v)| (*k, *v)));
        let leaf = alloy_trie::TrieAccount { nonce: stored.nonce, balance: stored.balance, storage_root, code_hash };
        leaves.insert(keccak256(address), alloy_rlp::encode(leaf));
        if !storage.is_empty() {
            diff.storage.insert(*address, storage);
        }
    }
    let state_root = surge_trie::full_root(leaves.iter().map(|(k, v)| (k, v.as_slice()))).root;
    Ok((diff, chain.genesis_header(state_root)))
}

pub(super) fn write_genesis(db: &Database, alloc: &StateDiff, header: Header) -> Result<(), StoreError> {
    let mut txn = db.begin_write()?;
    let root = apply_diff(&txn, alloc)?.root;
    if root != header.state_root {
        return Err(StoreError::StateRootMismatch { number: 0, expected: header.state_root, computed: root });
    }
    let sealed = SealedHeader::seal(header);
    write_chain_data(&txn, &sealed, &BlockBody::default(), &[], &[], &Default::default())?;
    // Empty until the first batch of transaction hashes; lookups before then find the table.
    txn.open_table(TX_LOOKUP)?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(META_GENESIS, sealed.hash.as_slice())?;
        meta.insert(META_VERSION, FORMAT_VERSION.to_be_bytes().as_slice())?;
    }
    txn.set_quick_repair(true);
    txn.commit()?;
    Ok(())
}
