//! Applying a state change to the store: plain state, hashed state and both tries, in one write
//! transaction. Used for new blocks (from their [`BlockChanges`]) and for unwinding (from a block's revert).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use redb::{ReadableTable, Table, WriteTransaction};
use surge_primitives::block_state::BlockChanges;
use surge_trie::{PrefixSet, TrieUpdates, compute_root, encode_branch_node, encode_path};

use super::{
    StoreError,
    revert::BlockRevert,
    tables::*,
    trie_io::{AccountLeaves, AccountNodes, StorageLeaves, StorageNodes},
};

/// New values for accounts and storage slots.
#[derive(Debug, Clone, Default)]
pub struct StateDiff {
    /// New account values (`None`: the account no longer exists).
    pub accounts: BTreeMap<Address, Option<StoredAccount>>,
    /// New storage values (zero: unset), applied after any wipe.
    pub storage: BTreeMap<Address, BTreeMap<B256, U256>>,
    /// Accounts whose whole storage is removed first (self-destructed).
    pub wiped: BTreeSet<Address>,
    /// New bytecode by hash.
    pub contracts: Vec<(B256, Bytes)>,
}

impl StateDiff {
    /// What a block changed, in the store's terms.
    pub fn from_changes(changes: &BlockChanges) -> Self {
        // Sorted first: a map built from sorted entries is filled leaf by leaf, where inserting entries in
        // hash order walks and splits the tree for each one.
        let mut accounts: Vec<_> = changes.iter().collect();
        accounts.sort_unstable_by_key(|(address, _)| *address);
        Self {
            accounts: accounts
                .iter()
                .map(|(address, account)| {
                    let info = account.info.as_ref().map(|i| StoredAccount {
                        nonce: i.nonce,
                        balance: i.balance,
                        code_hash: i.code_hash,
                    });
                    (*address, info)
                })
                .collect(),
            wiped: accounts.iter().filter(|(_, a)| a.wiped).map(|(address, _)| *address).collect(),
            storage: accounts
                .iter()
                .filter(|(_, a)| !a.storage.is_empty())
                .map(|(address, account)| {
                    let slots = account.storage.iter().map(|(k, v)| (B256::from(k.to_be_bytes::<32>()), *v)).collect();
                    (*address, slots)
                })
                .collect(),
            contracts: changes
                .contracts
                .iter()
                .map(|(hash, code)| (*hash, code.original_bytes()))
                .filter(|(_, c)| !c.is_empty())
                .collect(),
        }
    }

    /// The change that undoes a block.
    pub fn from_revert(revert: &BlockRevert) -> Self {
        let mut diff = Self::default();
        for (address, account) in &revert.accounts {
            diff.accounts.insert(*address, *account);
        }
        for (address, slot, value) in &revert.storage {
            diff.storage.entry(*address).or_default().insert(*slot, *value);
        }
        diff
    }
}

/// What applying a [`StateDiff`] did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Every touched key with its value before (what undoes the change).
    pub revert: BlockRevert,
    /// The same keys with their values after.
    pub after: BlockRevert,
    /// The new state root.
    pub root: B256,
}

/// Applies `diff`, returning what undoes it, the values it left and the new state root.
pub fn apply_diff(txn: &WriteTransaction, diff: &StateDiff) -> Result<Applied, StoreError> {
    let mut plain_accounts = txn.open_table(PLAIN_ACCOUNTS)?;
    let mut plain_storage = txn.open_table(PLAIN_STORAGE)?;
    let mut hashed_accounts = txn.open_table(HASHED_ACCOUNTS)?;
    let mut hashed_storage = txn.open_table(HASHED_STORAGE)?;
    let mut storage_trie = txn.open_table(STORAGE_TRIE)?;
    {
        let mut codes = txn.open_table(BYTECODES)?;
        for (hash, code) in &diff.contracts {
            codes.insert(hash.0, code.as_ref())?;
        }
    }

    let addresses: BTreeSet<Address> =
        diff.accounts.keys().chain(diff.storage.keys()).chain(diff.wiped.iter()).copied().collect();
    let mut revert = BlockRevert::default();
    let mut after = BlockRevert::default();
    let mut changed_accounts = Vec::with_capacity(addresses.len());
    for address in addresses {
        let key = addr_key(&address);
        let hashed = keccak256(address);
        let old = plain_accounts.get(key)?.map(|g| g.value());
        revert.accounts.push((address, old));

        let mut recorded = HashSet::new();
        let mut written = BTreeMap::new();
        let first_slot = revert.storage.len();
        let mut changed_slots = Vec::new();
        let wiped = diff.wiped.contains(&address);
        if wiped {
            let old_slots: Vec<([u8; 32], [u8; 32])> = plain_storage
                .range((key, [0u8; 32])..=(key, [0xffu8; 32]))?
                .map(|e| e.map(|(k, v)| (k.value().1, v.value())))
                .collect::<Result<_, _>>()?;
            for (slot, value) in old_slots {
                revert.storage.push((address, B256::from(slot), U256::from_be_bytes(value)));
                recorded.insert(B256::from(slot));
            }
            plain_storage.retain_in((key, [0u8; 32])..=(key, [0xffu8; 32]), |_, _| false)?;
            hashed_storage.retain_in((hashed.0, [0u8; 32])..=(hashed.0, [0xffu8; 32]), |_, _| false)?;
            clear_storage_trie(&mut storage_trie, hashed)?;
        }
        if let Some(slots) = diff.storage.get(&address) {
            for (slot, value) in slots {
                let hashed_slot = keccak256(slot);
                if recorded.insert(*slot) {
                    let before = plain_storage.get((key, slot.0))?.map(|g| U256::from_be_bytes(g.value()));
                    revert.storage.push((address, *slot, before.unwrap_or_default()));
                }
                written.insert(*slot, *value);
                if value.is_zero() {
                    plain_storage.remove((key, slot.0))?;
                    hashed_storage.remove((hashed.0, hashed_slot.0))?;
                } else {
                    plain_storage.insert((key, slot.0), value.to_be_bytes::<32>())?;
                    hashed_storage.insert((hashed.0, hashed_slot.0), alloy_rlp::encode(value).as_slice())?;
                }
                changed_slots.push(hashed_slot);
            }
        }

        let new = diff.accounts.get(&address).copied().unwrap_or(old);
        after.accounts.push((address, new));
        // Slots recorded for this account: what was written, or zero (wiped, or gone with the account).
        for (_, slot, _) in &revert.storage[first_slot..] {
            let value = if new.is_none() { U256::ZERO } else { written.get(slot).copied().unwrap_or_default() };
            after.storage.push((address, *slot, value));
        }
        let storage_root = match new {
            None => {
                // An account that is gone has no storage left (it was destroyed, or it never had any).
                hashed_storage.retain_in((hashed.0, [0u8; 32])..=(hashed.0, [0xffu8; 32]), |_, _| false)?;
                clear_storage_trie(&mut storage_trie, hashed)?;
                EMPTY_ROOT_HASH
            }
            Some(_) if wiped || !changed_slots.is_empty() => {
                let updates = compute_root(
                    &mut StorageNodes { table: &storage_trie, account: hashed },
                    &mut StorageLeaves::new(&hashed_storage, hashed),
                    &PrefixSet::from_keys(changed_slots),
                )?;
                write_storage_trie(&mut storage_trie, hashed, &updates)?;
                updates.root
            }
            Some(_) => match hashed_accounts.get(hashed.0)? {
                Some(leaf) => decode_trie_account(leaf.value(), &address)?.storage_root,
                None => EMPTY_ROOT_HASH,
            },
        };
        match new {
            Some(a) => {
                plain_accounts.insert(key, a)?;
                let leaf = TrieAccount { nonce: a.nonce, balance: a.balance, storage_root, code_hash: a.code_hash };
                hashed_accounts.insert(hashed.0, alloy_rlp::encode(leaf).as_slice())?;
            }
            None => {
                plain_accounts.remove(key)?;
                hashed_accounts.remove(hashed.0)?;
            }
        }
        changed_accounts.push(hashed);
    }

    let mut account_trie = txn.open_table(ACCOUNT_TRIE)?;
    let updates = compute_root(
        &mut AccountNodes(&account_trie),
        &mut AccountLeaves::new(&hashed_accounts),
        &PrefixSet::from_keys(changed_accounts),
    )?;
    for path in &updates.removed {
        account_trie.remove(encode_path(path).as_slice())?;
    }
    for (path, node) in &updates.updated {
        account_trie.insert(encode_path(path).as_slice(), encode_branch_node(node).as_slice())?;
    }
    Ok(Applied { revert, after, root: updates.root })
}

/// Decodes an account-trie leaf.
pub fn decode_trie_account(bytes: &[u8], address: &Address) -> Result<TrieAccount, StoreError> {
    TrieAccount::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt(format!("hashed account of {address}: {e}")))
}

fn clear_storage_trie(
    table: &mut Table<'_, ([u8; 32], &'static [u8]), &'static [u8]>,
    account: B256,
) -> Result<(), StoreError> {
    let upper = [0x10u8; 65];
    table.retain_in::<([u8; 32], &[u8]), _>((account.0, &[][..])..=(account.0, &upper[..]), |_, _| false)?;
    Ok(())
}

fn write_storage_trie(
    table: &mut Table<'_, ([u8; 32], &'static [u8]), &'static [u8]>,
    account: B256,
    updates: &TrieUpdates,
) -> Result<(), StoreError> {
    for path in &updates.removed {
        table.remove((account.0, encode_path(path).as_slice()))?;
    }
    for (path, node) in &updates.updated {
        table.insert((account.0, encode_path(path).as_slice()), encode_branch_node(node).as_slice())?;
    }
    Ok(())
}
