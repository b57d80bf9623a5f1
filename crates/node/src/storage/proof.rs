//! `eth_getProof`: account and storage proofs from the stored tries, at the head or at an earlier block
//! whose reverts are kept — read-only in both cases. An earlier block's proof overlays the values the
//! reverts above it hold on the head's leaves and recomputes only the paths they touch (the head's branch
//! nodes stand for everything else), so a proof never needs the store's write transaction. That reads
//! every revert above the block (every key changed since must be overlaid to rebuild its root), so callers
//! bound the distance with a [`ProofWindow`].

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, Nibbles, TrieAccount, proof::ProofNodes};
use redb::ReadableTable;
use surge_interfaces::{AccountProof, StorageProof};
use surge_trie::{LeafSource, PrefixSet, compute_root, compute_root_with_proofs};

use super::{
    StoreError,
    diff::decode_trie_account,
    revert::BlockRevert,
    tables::REVERTS,
    tables::StoredAccount,
    trie_io::{AccountLeaves, AccountNodes, StorageLeaves, StorageNodes},
};

/// Leaves that differ from the stored ones: hashed key → RLP value, `None` for a leaf that is absent.
type LeafOverlay = BTreeMap<B256, Option<Vec<u8>>>;

/// The leaves of an earlier state: the account leaves and, per hashed address, the storage leaves that
/// differ from the head's.
#[derive(Debug, Default)]
pub struct HistoricalLeaves {
    accounts: LeafOverlay,
    storage: HashMap<B256, LeafOverlay>,
}

/// A leaf source seen through an overlay.
struct Overlaid<'a, L> {
    inner: L,
    overlay: &'a LeafOverlay,
}

fn next_key(key: &B256) -> Option<B256> {
    let (next, overflow) = U256::from_be_bytes(key.0).overflowing_add(U256::from(1));
    (!overflow).then(|| B256::from(next.to_be_bytes::<32>()))
}

impl<L: LeafSource<Error = StoreError>> LeafSource for Overlaid<'_, L> {
    type Error = StoreError;
    fn seek_leaf(&mut self, from: &B256) -> Result<Option<(B256, Vec<u8>)>, StoreError> {
        let over = self.overlay.range(*from..).find_map(|(k, v)| v.as_ref().map(|v| (*k, v.clone())));
        let mut cursor = Some(*from);
        let base = loop {
            let Some(at) = cursor else { break None };
            match self.inner.seek_leaf(&at)? {
                // At or past the overlay's next leaf: that one comes first (the walk seeks in increasing
                // order, so skipping stops here and each stored leaf is passed over once).
                Some((k, _)) if over.as_ref().is_some_and(|(o, _)| k >= *o) => break None,
                // Overridden (changed or removed): the overlay speaks for it.
                Some((k, _)) if self.overlay.contains_key(&k) => cursor = next_key(&k),
                other => break other,
            }
        };
        Ok(match (base, over) {
            (Some(b), Some(o)) => Some(if b.0 < o.0 { b } else { o }),
            (b, o) => b.or(o),
        })
    }
}

/// Reads the stored tries; every call sees one consistent snapshot (one read transaction).
pub struct TrieTables<A, AL, S, SL> {
    /// Account-trie branch nodes.
    pub account_trie: A,
    /// Hashed accounts.
    pub hashed_accounts: AL,
    /// Storage-trie branch nodes.
    pub storage_trie: S,
    /// Hashed storage.
    pub hashed_storage: SL,
}

impl<A, AL, S, SL> TrieTables<A, AL, S, SL>
where
    A: ReadableTable<&'static [u8], &'static [u8]>,
    AL: ReadableTable<[u8; 32], &'static [u8]>,
    S: ReadableTable<([u8; 32], &'static [u8]), &'static [u8]>,
    SL: ReadableTable<([u8; 32], [u8; 32]), &'static [u8]>,
{
    /// The leaves of the state after the blocks of `reverts` (lowest first) are undone: each account's
    /// storage root recomputed from the head's nodes and the slots' earlier values.
    pub fn historical_leaves(&self, reverts: Vec<BlockRevert>) -> Result<HistoricalLeaves, StoreError> {
        // The lowest block above the target that touched a key holds its value at the target.
        let mut accounts: BTreeMap<Address, Option<StoredAccount>> = BTreeMap::new();
        let mut storage: BTreeMap<Address, BTreeMap<B256, U256>> = BTreeMap::new();
        for revert in reverts {
            for (address, account) in revert.accounts {
                accounts.entry(address).or_insert(account);
            }
            for (address, slot, value) in revert.storage {
                storage.entry(address).or_default().entry(slot).or_insert(value);
            }
        }
        let mut leaves = HistoricalLeaves::default();
        for (address, account) in accounts {
            let hashed = keccak256(address);
            let slots: LeafOverlay = storage
                .remove(&address)
                .unwrap_or_default()
                .into_iter()
                .map(|(slot, value)| (keccak256(slot), (!value.is_zero()).then(|| alloy_rlp::encode(value))))
                .collect();
            let leaf = match account {
                None => None,
                Some(a) => {
                    let storage_root = if slots.is_empty() {
                        self.stored_account(hashed, &address)?.map_or(EMPTY_ROOT_HASH, |t| t.storage_root)
                    } else {
                        let changed = PrefixSet::from_keys(slots.keys().copied());
                        let mut nodes = StorageNodes { table: &self.storage_trie, account: hashed };
                        let inner = StorageLeaves::new(&self.hashed_storage, hashed);
                        compute_root(&mut nodes, &mut Overlaid { inner, overlay: &slots }, &changed)?.root
                    };
                    let leaf = TrieAccount { nonce: a.nonce, balance: a.balance, storage_root, code_hash: a.code_hash };
                    Some(alloy_rlp::encode(leaf))
                }
            };
            leaves.accounts.insert(hashed, leaf);
            if !slots.is_empty() {
                leaves.storage.insert(hashed, slots);
            }
        }
        Ok(leaves)
    }

    fn stored_account(&self, hashed: B256, address: &Address) -> Result<Option<TrieAccount>, StoreError> {
        match self.hashed_accounts.get(hashed.0)? {
            Some(leaf) => decode_trie_account(leaf.value(), address).map(Some),
            None => Ok(None),
        }
    }

    /// Proves `address` and `slots` in the state the head's leaves overlaid with `leaves` hold (an empty
    /// overlay: the head).
    pub fn prove(
        &self,
        leaves: &HistoricalLeaves,
        address: Address,
        slots: &[B256],
    ) -> Result<AccountProof, StoreError> {
        let hashed = keccak256(address);
        let (updates, nodes) = compute_root_with_proofs(
            &mut AccountNodes(&self.account_trie),
            &mut Overlaid { inner: AccountLeaves::new(&self.hashed_accounts), overlay: &leaves.accounts },
            &PrefixSet::from_keys(leaves.accounts.keys().copied()),
            &[hashed],
        )?;
        let account = match leaves.accounts.get(&hashed) {
            Some(Some(leaf)) => Some(decode_trie_account(leaf, &address)?),
            Some(None) => None,
            None => self.stored_account(hashed, &address)?,
        }
        .unwrap_or(TrieAccount {
            nonce: 0,
            balance: U256::ZERO,
            storage_root: EMPTY_ROOT_HASH,
            code_hash: alloy::consensus::constants::KECCAK_EMPTY,
        });
        let empty = LeafOverlay::new();
        let slot_overlay = leaves.storage.get(&hashed).unwrap_or(&empty);
        let slot_keys: Vec<B256> = slots.iter().map(keccak256).collect();
        let (_, storage_nodes) = compute_root_with_proofs(
            &mut StorageNodes { table: &self.storage_trie, account: hashed },
            &mut Overlaid { inner: StorageLeaves::new(&self.hashed_storage, hashed), overlay: slot_overlay },
            &PrefixSet::from_keys(slot_overlay.keys().copied()),
            &slot_keys,
        )?;
        let mut storage_proof = Vec::with_capacity(slots.len());
        for (slot, key) in slots.iter().zip(&slot_keys) {
            let raw = match slot_overlay.get(key) {
                Some(v) => v.clone(),
                None => self.hashed_storage.get((hashed.0, key.0))?.map(|v| v.value().to_vec()),
            };
            let value = match raw {
                Some(v) => <U256 as alloy_rlp::Decodable>::decode(&mut v.as_slice())
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

/// How many blocks below the head a proof may reach. Proving an earlier block rebuilds its state root from
/// the reverts of every block since, so its cost grows with the distance: a caller serving requests (the
/// RPC) bounds it, and a block outside is refused before any of that work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofWindow(pub u64);

impl ProofWindow {
    /// No bound: any block the store holds.
    pub const UNBOUNDED: Self = Self(u64::MAX);

    /// Refuses `target` when it lies more than the window below `head`.
    pub(super) fn check(self, target: u64, head: u64) -> Result<(), StoreError> {
        if head.saturating_sub(target) > self.0 {
            return Err(StoreError::BeyondProofWindow { target, head, window: self.0 });
        }
        Ok(())
    }
}

/// The reverts of the blocks above `number` up to `head`, lowest first.
pub(super) fn reverts_above(
    read: &redb::ReadTransaction,
    number: u64,
    head: u64,
) -> Result<Vec<BlockRevert>, StoreError> {
    if number > head {
        return Err(StoreError::Unwind { target: number, reason: format!("the head is block {head}") });
    }
    let table = read.open_table(REVERTS)?;
    let mut out = Vec::with_capacity((head - number) as usize);
    for n in number + 1..=head {
        let raw = table
            .get(n)?
            .map(|g| g.value().to_vec())
            .ok_or_else(|| StoreError::Unwind { target: number, reason: format!("revert of block {n} is missing") })?;
        out.push(BlockRevert::decode(&raw, n)?);
    }
    Ok(out)
}
