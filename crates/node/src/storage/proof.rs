//! `eth_getProof`: account and storage proofs from the stored tries, at the head or, by unwinding
//! inside a discarded write transaction, at an earlier block whose reverts are kept.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount, proof::ProofNodes};
use redb::ReadableTable;
use surge_trie::{PrefixSet, compute_root_with_proofs};

use super::{
    StoreError,
    diff::decode_trie_account,
    trie_io::{AccountLeaves, AccountNodes, StorageLeaves, StorageNodes},
};

/// One storage slot's proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageProof {
    /// The slot.
    pub key: B256,
    /// Its value (zero when unset).
    pub value: U256,
    /// Trie nodes from the storage root to the slot.
    pub proof: Vec<Bytes>,
}

/// An account's proof with proofs of some of its slots, as `eth_getProof` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Balance (zero for an absent account).
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Code hash (`KECCAK_EMPTY` for an absent account).
    pub code_hash: B256,
    /// Storage root.
    pub storage_hash: B256,
    /// Trie nodes from the state root to the account.
    pub account_proof: Vec<Bytes>,
    /// The slots' proofs.
    pub storage_proof: Vec<StorageProof>,
    /// The state root the proof is against.
    pub state_root: B256,
}

/// The nodes on the path to `target`, in root-to-leaf order, as geth lists them: nodes embedded in
/// their parent (shorter than 32 bytes) are left out, except the root, which is always referenced by hash.
fn path_nodes(nodes: &ProofNodes, target: &B256) -> Vec<Bytes> {
    nodes
        .matching_nodes_sorted(&Nibbles::unpack(target))
        .into_iter()
        .filter(|(path, node)| path.is_empty() || node.len() >= 32)
        .map(|(_, node)| node)
        .collect()
}

/// Builds the proof of `address` and `slots` from the tables of one (read or write) transaction.
pub fn prove<A, AL, S, SL>(
    account_trie: &A,
    hashed_accounts: &AL,
    storage_trie: &S,
    hashed_storage: &SL,
    address: Address,
    slots: &[B256],
) -> Result<AccountProof, StoreError>
where
    A: ReadableTable<&'static [u8], &'static [u8]>,
    AL: ReadableTable<[u8; 32], &'static [u8]>,
    S: ReadableTable<([u8; 32], &'static [u8]), &'static [u8]>,
    SL: ReadableTable<([u8; 32], [u8; 32]), &'static [u8]>,
{
    let hashed = keccak256(address);
    let (updates, nodes) = compute_root_with_proofs(
        &mut AccountNodes(account_trie),
        &mut AccountLeaves(hashed_accounts),
        &PrefixSet::default(),
        &[hashed],
    )?;
    let account = match hashed_accounts.get(hashed.0)? {
        Some(leaf) => decode_trie_account(leaf.value(), &address)?,
        None => TrieAccount {
            nonce: 0,
            balance: U256::ZERO,
            storage_root: EMPTY_ROOT_HASH,
            code_hash: alloy::consensus::constants::KECCAK_EMPTY,
        },
    };
    let slot_keys: Vec<B256> = slots.iter().map(keccak256).collect();
    let (_, storage_nodes) = compute_root_with_proofs(
        &mut StorageNodes { table: storage_trie, account: hashed },
        &mut StorageLeaves { table: hashed_storage, account: hashed },
        &PrefixSet::default(),
        &slot_keys,
    )?;
    let mut storage_proof = Vec::with_capacity(slots.len());
    for (slot, key) in slots.iter().zip(&slot_keys) {
        let value = match hashed_storage.get((hashed.0, key.0))? {
            Some(v) => <U256 as alloy_rlp::Decodable>::decode(&mut v.value())
                .map_err(|e| StoreError::Corrupt(format!("storage {slot} of {address}: {e}")))?,
            None => U256::ZERO,
        };
        storage_proof.push(StorageProof { key: *slot, value, proof: path_nodes(&storage_nodes, key) });
    }
    Ok(AccountProof {
        address,
        balance: account.balance,
        nonce: account.nonce,
        code_hash: account.code_hash,
        storage_hash: account.storage_root,
        account_proof: path_nodes(&nodes, &hashed),
        storage_proof,
        state_root: updates.root,
    })
}
