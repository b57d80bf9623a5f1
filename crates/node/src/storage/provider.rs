//! State as a revm database, over one read transaction (a consistent snapshot): the latest state, or an
//! earlier block's state — the latest plain state seen through the history index (see `history`).

use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, B256, U256};
use redb::{ReadOnlyTable, ReadTransaction};
use revm::{DatabaseRef, bytecode::Bytecode, state::AccountInfo};

use super::{CodeCache, RecentTimestamps, StateCache, StateFilter, StoreError, history, tables::*};

/// Where an earlier block's values are found: the history index of the snapshot.
#[derive(Debug)]
struct History {
    block: u64,
    accounts: Lazy<([u8; 20], u64), &'static [u8]>,
    storage: Lazy<([u8; 20], [u8; 32], u64), [u8; 32]>,
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
    /// Set for an earlier block's state.
    history: Option<History>,
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
            history: None,
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

    /// The state as it was after block `block` (below the snapshot's head): each key is looked up in the
    /// history index first.
    pub(crate) fn at_block(mut self, block: u64) -> Self {
        self.history =
            Some(History { block, accounts: Lazy::new(ACCOUNT_HISTORY), storage: Lazy::new(STORAGE_HISTORY) });
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
        if let Some(history) = &self.history
            && let Some(account) = history::account_after(history.accounts.get(&self.txn)?, address, history.block)?
        {
            return Ok(account);
        }
        // Past the history index, the account is as the head of this snapshot has it: nothing changed it
        // after the block read (an account since deleted has an entry above, answered there). The filter and
        // the cache describe exactly that head, so they may answer. Before the cache: an account the store
        // never held needs neither, nor a place in the cache.
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
        if let Some(history) = &self.history
            && let Some(value) = history::slot_after(
                history.storage.get(&self.txn)?,
                &address,
                &B256::from(index.to_be_bytes::<32>()),
                history.block,
            )?
        {
            return Ok(value);
        }
        // As for accounts: past the index the slot is the head's, and a slot the store never held needs no
        // read, nor a place in the cache.
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
        if self.history.as_ref().is_some_and(|h| number > h.block) {
            return Ok(B256::ZERO); // not an ancestor of that block
        }
        Ok(self.canonical.get(&self.txn)?.get(number)?.map(|g| B256::from(g.value())).unwrap_or_default())
    }
}
