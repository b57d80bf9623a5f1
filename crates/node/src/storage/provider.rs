//! State as a revm database, over one read transaction (a consistent snapshot): the latest state, or a
//! recent block's state — the latest plain state seen through the reverts of the blocks above it.

use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, B256, U256, map::HashMap};
use redb::{ReadOnlyTable, ReadTransaction};
use revm::{DatabaseRef, bytecode::Bytecode, state::AccountInfo};

use super::{CodeCache, RecentTimestamps, StateCache, StateFilter, StoreError, revert::BlockRevert, tables::*};

/// The pre-block values of everything changed above some block: what that block's state had.
#[derive(Debug, Default)]
struct Overlay {
    block: u64,
    accounts: HashMap<Address, Option<StoredAccount>>,
    storage: HashMap<(Address, B256), U256>,
}

/// A table of the snapshot, opened when first read (a view that reads accounts only — the pool's — opens
/// one table, not five).
struct Lazy<K: redb::Key + 'static, V: redb::Value + 'static> {
    definition: redb::TableDefinition<'static, K, V>,
    table: OnceLock<ReadOnlyTable<K, V>>,
}

impl<K: redb::Key + 'static, V: redb::Value + 'static> std::fmt::Debug for Lazy<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("table", &self.definition.to_string())
            .field("open", &self.table.get().is_some())
            .finish()
    }
}

impl<K: redb::Key + 'static, V: redb::Value + 'static> Lazy<K, V> {
    fn new(definition: redb::TableDefinition<'static, K, V>) -> Self {
        Self { definition, table: OnceLock::new() }
    }

    fn get(&self, txn: &ReadTransaction) -> Result<&ReadOnlyTable<K, V>, StoreError> {
        if let Some(table) = self.table.get() {
            return Ok(table);
        }
        let opened = txn.open_table(self.definition)?;
        // Two readers may open it at once: either copy serves.
        Ok(self.table.get_or_init(|| opened))
    }
}

/// A snapshot of the state at the head, or at an earlier block.
#[derive(Debug)]
pub struct StateProvider {
    overlay: Option<Overlay>,
    accounts: Lazy<[u8; 20], StoredAccount>,
    storage: Lazy<([u8; 20], [u8; 32]), [u8; 32]>,
    codes: Lazy<[u8; 32], &'static [u8]>,
    canonical: Lazy<u64, [u8; 32]>,
    headers: Lazy<u64, &'static [u8]>,
    code_cache: Arc<CodeCache>,
    /// The store's state cache and the generation `txn` sees (reads fill it while that is current).
    state_cache: Option<(Arc<StateCache>, u64)>,
    /// Answers "absent" for accounts and slots the store has never held, without a read.
    state_filter: Option<Arc<StateFilter>>,
    /// Timestamps of the latest blocks, read before the headers table.
    recent: Option<Arc<RecentTimestamps>>,
    txn: ReadTransaction,
}

impl StateProvider {
    /// Opens the state tables of `txn`, reading analyzed code through `code_cache`.
    pub fn new(txn: ReadTransaction, code_cache: Arc<CodeCache>) -> Result<Self, StoreError> {
        Ok(Self {
            overlay: None,
            accounts: Lazy::new(PLAIN_ACCOUNTS),
            storage: Lazy::new(PLAIN_STORAGE),
            codes: Lazy::new(BYTECODES),
            canonical: Lazy::new(CANONICAL),
            headers: Lazy::new(HEADERS),
            code_cache,
            state_cache: None,
            state_filter: None,
            recent: None,
            txn,
        })
    }

    /// Reads through `cache`, which holds generation `generation` of the plain state when that is the
    /// state `txn` sees (`None`: a write was under way when the transaction started; no cache).
    pub(crate) fn with_state_cache(mut self, cache: Arc<StateCache>, generation: Option<u64>) -> Self {
        self.state_cache = generation.map(|g| (cache, g));
        self
    }

    /// Skips the read of accounts and slots `filter` says the store has never held.
    pub(crate) fn with_state_filter(mut self, filter: Option<Arc<StateFilter>>) -> Self {
        self.state_filter = filter;
        self
    }

    /// Looks up the timestamps of the latest blocks in `recent` before the headers table.
    pub(crate) fn with_recent_timestamps(mut self, recent: Arc<RecentTimestamps>) -> Self {
        self.recent = Some(recent);
        self
    }

    /// The state as it was after block `block`, given the reverts of the blocks above it, lowest first.
    pub(crate) fn with_reverts(mut self, block: u64, reverts: Vec<BlockRevert>) -> Self {
        let mut overlay = Overlay { block, ..Default::default() };
        // The lowest block above `block` that touched a key holds its value at `block`.
        for revert in reverts {
            for (address, account) in revert.accounts {
                overlay.accounts.entry(address).or_insert(account);
            }
            for (address, slot, value) in revert.storage {
                overlay.storage.entry((address, slot)).or_insert(value);
            }
        }
        self.overlay = Some(overlay);
        self
    }

    /// The timestamp of canonical block `number`, whose hash is `hash` (the L2 base fee depends on the
    /// parent's block time).
    pub fn block_timestamp(&self, number: u64, hash: &B256) -> Result<Option<u64>, StoreError> {
        if let Some(timestamp) = self.recent.as_ref().and_then(|r| r.get(hash)) {
            return Ok(Some(timestamp));
        }
        let Some(raw) = self.headers.get(&self.txn)?.get(number)?.map(|g| g.value().to_vec()) else { return Ok(None) };
        let header = <alloy::consensus::Header as alloy_rlp::Decodable>::decode(&mut raw.as_slice())
            .map_err(|e| StoreError::Corrupt(format!("header of block {number}: {e}")))?;
        Ok(Some(header.timestamp))
    }

    /// The account at `address`.
    pub fn account(&self, address: &Address) -> Result<Option<StoredAccount>, StoreError> {
        if let Some(account) = self.overlay.as_ref().and_then(|o| o.accounts.get(address)) {
            return Ok(*account);
        }
        // After the overlay (an older block's accounts that are gone now are in its reverts), before the
        // cache: an account the store never held needs neither, nor a place in the cache.
        if self.state_filter.as_ref().is_some_and(|f| !f.may_hold_account(address)) {
            return Ok(None);
        }
        if let Some((cache, generation)) = &self.state_cache
            && let Some(account) = cache.account(*generation, address)
        {
            return Ok(account);
        }
        let account = self.accounts.get(&self.txn)?.get(addr_key(address))?.map(|g| g.value());
        if let Some((cache, generation)) = &self.state_cache {
            cache.fill_account(*generation, *address, account);
        }
        Ok(account)
    }
}

impl DatabaseRef for StateProvider {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        Ok(self.account(&address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StoreError> {
        if let Some(code) = self.code_cache.get(&code_hash) {
            return Ok(code);
        }
        match self.codes.get(&self.txn)?.get(code_hash.0)? {
            Some(code) => {
                let code = Bytecode::new_raw(code.value().to_vec().into());
                self.code_cache.insert(code_hash, code.clone());
                Ok(code)
            }
            None => Ok(Bytecode::default()),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StoreError> {
        if let Some(value) =
            self.overlay.as_ref().and_then(|o| o.storage.get(&(address, B256::from(index.to_be_bytes::<32>()))))
        {
            return Ok(*value);
        }
        // As for accounts: a slot the store never held needs no read, nor a place in the cache.
        if self.state_filter.as_ref().is_some_and(|f| !f.may_hold_slot(&address, &index)) {
            return Ok(U256::ZERO);
        }
        if let Some((cache, generation)) = &self.state_cache
            && let Some(value) = cache.slot(*generation, address, index)
        {
            return Ok(value);
        }
        let value = self
            .storage
            .get(&self.txn)?
            .get((addr_key(&address), index.to_be_bytes::<32>()))?
            .map(|g| U256::from_be_bytes(g.value()))
            .unwrap_or_default();
        if let Some((cache, generation)) = &self.state_cache {
            cache.fill_slot(*generation, address, index, value);
        }
        Ok(value)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StoreError> {
        if self.overlay.as_ref().is_some_and(|o| number > o.block) {
            return Ok(B256::ZERO); // not an ancestor of that block
        }
        Ok(self.canonical.get(&self.txn)?.get(number)?.map(|g| B256::from(g.value())).unwrap_or_default())
    }
}
