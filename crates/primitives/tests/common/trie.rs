//! State and storage tries of a test chain, built with alloy-trie, with `eth_getProof`-style proofs.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles, TrieAccount, proof::ProofRetainer};
use revm::database::{CacheDB, DatabaseRef};

/// The root of a trie holding `leaves` (already-final keys), and the proof for each target key.
pub fn trie_with_proofs(leaves: &BTreeMap<Vec<u8>, Vec<u8>>, targets: &[Vec<u8>]) -> (B256, Vec<Vec<Bytes>>) {
    if leaves.is_empty() {
        return (EMPTY_ROOT_HASH, targets.iter().map(|_| vec![]).collect());
    }
    let target_nibbles: Vec<Nibbles> = targets.iter().map(|t| Nibbles::unpack(t)).collect();
    let mut hb = HashBuilder::default().with_proof_retainer(ProofRetainer::new(target_nibbles.clone()));
    for (k, v) in leaves {
        hb.add_leaf(Nibbles::unpack(k), v);
    }
    let root = hb.root();
    let nodes = hb.take_proof_nodes();
    let proofs =
        target_nibbles.iter().map(|t| nodes.matching_nodes_sorted(t).into_iter().map(|(_, n)| n).collect()).collect();
    (root, proofs)
}

/// An account proof plus one storage proof, as `eth_getProof` returns them.
#[derive(Debug, Clone)]
pub struct Proof {
    pub state_root: B256,
    pub storage_root: B256,
    pub account_proof: Vec<Bytes>,
    pub storage_proof: Vec<Bytes>,
}

fn storage_leaves<DB: DatabaseRef>(db: &CacheDB<DB>, address: Address) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let Some(acc) = db.cache.accounts.get(&address) else { return BTreeMap::new() };
    acc.storage
        .iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (keccak256(B256::from(k.to_be_bytes::<32>())).to_vec(), alloy_rlp::encode(v)))
        .collect()
}

/// Proves `address`'s storage at `slot` against the state root of everything in `db`.
pub fn prove<DB: DatabaseRef>(db: &CacheDB<DB>, address: Address, slot: B256) -> Proof {
    let mut accounts = BTreeMap::new();
    let mut target_storage = (EMPTY_ROOT_HASH, vec![]);
    for (addr, acc) in &db.cache.accounts {
        if acc.info.is_empty() && acc.storage.values().all(|v| v.is_zero()) {
            continue;
        }
        let leaves = storage_leaves(db, *addr);
        let (storage_root, mut proofs) = if *addr == address {
            trie_with_proofs(&leaves, &[keccak256(slot).to_vec()])
        } else {
            (trie_with_proofs(&leaves, &[]).0, vec![vec![]])
        };
        if *addr == address {
            target_storage = (storage_root, proofs.remove(0));
        }
        let trie_account = TrieAccount {
            nonce: acc.info.nonce,
            balance: acc.info.balance,
            storage_root,
            code_hash: acc.info.code_hash,
        };
        accounts.insert(keccak256(addr).to_vec(), alloy_rlp::encode(trie_account));
    }
    let (state_root, mut proofs) = trie_with_proofs(&accounts, &[keccak256(address).to_vec()]);
    Proof {
        state_root,
        storage_root: target_storage.0,
        account_proof: proofs.remove(0),
        storage_proof: target_storage.1,
    }
}

/// RLP of a storage value as it sits in a storage trie leaf.
pub fn rlp_value(v: U256) -> Vec<u8> {
    alloy_rlp::encode(v)
}
