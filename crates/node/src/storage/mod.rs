//! The on-disk store (redb): chain data, plain and hashed state, trie nodes, per-block reverts and the
//! history index over them.
//!
//! Every block is written in one write transaction, so a crash leaves either the whole block or none of
//! it. Most block commits do not wait for the disk: the block is in the block log first, and reopening
//! after a crash writes again what redb lost (see `block_log`). Durable commits keep quick repair on, so
//! reopening after a crash is fast.

mod block_log;
mod code_cache;
mod diff;
mod executed;
mod genesis;
mod history;
mod proof;
mod provider;
mod recent;
mod revert;
mod snapshot;
mod state_cache;
mod state_filter;
pub mod tables;
mod trie_io;
mod tx_index;
mod write;

use std::{path::Path, sync::Arc, time::Instant};

use alloy::consensus::{BlockBody, Header, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, U256};
use alloy_rlp::Decodable;
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

pub use block_log::DEFAULT_DURABLE_EVERY;
use block_log::{commit_durable, commit_logged, replay_block_log};
pub use code_cache::{CodeCache, DEFAULT_CODE_CACHE_ENTRIES};
pub use diff::{Applied, StateDiff, apply_diff, decode_trie_account};
pub use executed::{ExecutedBlock, StateChange};
pub use genesis::genesis_header;
use genesis::{genesis_parts, write_genesis};
pub use proof::ProofWindow;
use proof::reverts_above;
pub use provider::StateProvider;
pub use recent::RecentTimestamps;
pub use revert::BlockRevert;
pub use snapshot::Snapshot;
pub use state_cache::{DEFAULT_CACHED_ACCOUNTS, DEFAULT_CACHED_SLOTS, StateCache, StateCacheLimits, StateCacheStats};
pub use state_filter::StateFilter;
pub use surge_interfaces::{AccountProof, SealedHeader, StorageProof};
use tables::*;
pub use tx_index::TX_INDEX_BATCH;
use write::{unwind_keeping, write_block_keeping};

use crate::chainspec::ChainSpec;

/// A failure of the store, naming what was being read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("opening database: {0}")]
    Open(#[from] redb::DatabaseError),
    /// Another process has the data directory open.
    #[error("data directory {0} is in use by another process")]
    InUse(String),
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A transaction could not start.
    #[error("starting transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// A table could not be opened.
    #[error("opening table: {0}")]
    Table(#[from] redb::TableError),
    /// A read or write failed.
    #[error("storage I/O: {0}")]
    Storage(#[from] redb::StorageError),
    /// The block could not be committed.
    #[error("committing: {0}")]
    Commit(#[from] redb::CommitError),
    /// A record did not decode.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A trie record did not decode.
    #[error("corrupt trie record: {0}")]
    Codec(#[from] surge_trie::CodecError),
    /// The data directory belongs to another chain.
    #[error("data directory holds genesis {found}, but the chain spec's genesis is {expected}: use another --datadir")]
    GenesisMismatch {
        /// Genesis hash of the chain spec.
        expected: B256,
        /// Genesis hash found on disk.
        found: B256,
    },
    /// The data directory was written by a surge-node that stores data differently.
    #[error(
        "data directory {path} holds store format {found}, this surge-node reads format {FORMAT_VERSION} (and \
         upgrades format {FORMAT_WITHOUT_HISTORY}): remove it (dev data) or use the version that wrote it"
    )]
    Format {
        /// The directory.
        path: String,
        /// The format found.
        found: u64,
    },
    /// A block does not extend the head.
    #[error("block {number} with parent {parent} does not extend head {head_number} ({head})")]
    NotChild {
        /// The block's number.
        number: u64,
        /// The block's parent hash.
        parent: B256,
        /// The head's number.
        head_number: u64,
        /// The head's hash.
        head: B256,
    },
    /// An imported block's state root differs from the one computed.
    #[error("block {number}: state root {computed} computed, {expected} in header")]
    StateRootMismatch {
        /// The block.
        number: u64,
        /// In the header.
        expected: B256,
        /// Computed.
        computed: B256,
    },
    /// An imported block's transactions root, receipts root or logs bloom differs from its body's.
    #[error("block {number}: {field} {computed} computed from the body, {expected} in header")]
    BodyRootMismatch {
        /// The block.
        number: u64,
        /// Which header field.
        field: &'static str,
        /// In the header.
        expected: String,
        /// Computed.
        computed: String,
    },
    /// The block log could not be read or written.
    #[error("block log {path}: {source}")]
    Log {
        /// The log file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A proof of a block further below the head than the caller allows (see [`ProofWindow`]).
    #[error(
        "block {target} is {distance} blocks below head {head}, beyond the proof window of {window} blocks",
        distance = .head.saturating_sub(*.target)
    )]
    BeyondProofWindow {
        /// The requested block.
        target: u64,
        /// The head.
        head: u64,
        /// The window the caller allowed.
        window: u64,
    },
    /// Unwinding past what is stored.
    #[error("cannot unwind to block {target}: {reason}")]
    Unwind {
        /// The requested block.
        target: u64,
        /// Why.
        reason: String,
    },
}

impl revm::database_interface::DBErrorMarker for StoreError {}

/// Where a transaction sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Index in the block.
    pub index: u32,
}

/// A block as the store committed it, kept in memory for whoever follows the chain (nothing is read back).
#[derive(Debug, Clone)]
pub struct CommittedParts {
    /// The header with its state root, and its hash.
    pub header: SealedHeader,
    /// Transactions and withdrawals.
    pub body: BlockBody<TxEnvelope>,
    /// The sender of each transaction.
    pub senders: Vec<Address>,
    /// One receipt per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Every key the block touched with its value before, and (same order) after.
    pub before: BlockRevert,
    /// See `before`.
    pub after: BlockRevert,
}

/// How long the parts of a block commit took.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitTimes {
    /// Writing the state and the block into the write transaction, the state root included.
    pub state_root: std::time::Duration,
    /// Committing it: logging the block and redb's commit, which waits for the disk only every
    /// `durable_every` blocks (see [`Store::set_durable_every`]).
    pub commit: std::time::Duration,
    /// Whether this commit was durable (it waited for the disk, for every block logged before it too).
    pub durable: bool,
}

/// The store.
#[derive(Debug)]
pub struct Store {
    /// The thread filling `filter` at open. Declared first, so dropped first: its scan is stopped and its
    /// read transaction gone before the database closes.
    _filling: state_filter::Filling,
    db: Database,
    genesis_hash: B256,
    /// Analyzed code shared by every state view.
    codes: Arc<CodeCache>,
    /// Accounts and slots of the head's state, shared by every state view.
    state: Arc<StateCache>,
    /// Timestamps of the latest blocks, shared by every state view.
    recent: Arc<RecentTimestamps>,
    /// Which accounts and slots may exist, shared by every state view.
    filter: Arc<StateFilter>,
    /// Whether state views ask `filter` (see [`Self::set_state_filter`]).
    filter_on: bool,
    /// Held by each write from before it starts until the state cache has its result: redb lets the next
    /// writer in as soon as a commit returns, and the cache must never see two writes overlap. It guards
    /// the block log, which the writes keep in step with redb's durable commits.
    writer: std::sync::Mutex<block_log::BlockLog>,
    /// Transaction hashes of the latest blocks, not yet in `TX_LOOKUP`.
    tx_index: tx_index::TxIndex,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "making the last blocks durable on close (the block log replays them)");
        }
    }
}

/// The store's writer, held (committing nothing) until dropped; see [`Store::hold_writer`].
pub struct HeldWriter<'a> {
    // Declared first, dropped first: the write transaction ends before the next writer may start.
    _txn: WriteTransaction,
    _writer: std::sync::MutexGuard<'a, block_log::BlockLog>,
}

impl std::fmt::Debug for HeldWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldWriter").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store in `dir` (creating it and writing the genesis of `chain` when new). A store made
    /// from another genesis is refused.
    pub fn open(dir: &Path, chain: &ChainSpec) -> Result<Self, StoreError> {
        Self::open_with(dir, chain, StateCacheLimits::default())
    }

    /// [`Self::open`] with the state cache bounded by `limits`.
    pub fn open_with(dir: &Path, chain: &ChainSpec, limits: StateCacheLimits) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
        let db = match Database::create(dir.join("chain.redb")) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::InUse(dir.display().to_string())),
            Err(e) => return Err(e.into()),
        };
        let (alloc_diff, genesis_header) = genesis_parts(chain)?;
        let expected = genesis_header.hash_slow();
        let found = {
            let read = db.begin_read()?;
            match read.open_table(META) {
                Ok(meta) => {
                    let genesis = meta.get(META_GENESIS)?.map(|g| B256::from_slice(g.value()));
                    let version =
                        meta.get(META_VERSION)?.and_then(|v| v.value().try_into().ok()).map(u64::from_be_bytes);
                    genesis.map(|g| (g, version))
                }
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        match found {
            Some((found, _)) if found != expected => return Err(StoreError::GenesisMismatch { expected, found }),
            // Before the block log replays: the blocks it writes go into the index as every block does.
            Some((_, Some(FORMAT_WITHOUT_HISTORY))) => history::build_from_reverts(&db)?,
            Some((_, version)) if version != Some(FORMAT_VERSION) => {
                return Err(StoreError::Format { path: dir.display().to_string(), found: version.unwrap_or(0) });
            }
            Some(_) => {}
            None => write_genesis(&db, &alloc_diff, genesis_header)?,
        }
        // Before the hash index loads: it indexes the blocks above its mark from their bodies.
        let log = replay_block_log(&db, dir)?;
        let tx_index = tx_index::TxIndex::open(&db)?;
        // Before the store is returned: no write can start before this snapshot.
        let (filter, filling) = StateFilter::of(db.begin_read()?)?;
        Ok(Self {
            _filling: filling,
            db,
            tx_index,
            genesis_hash: expected,
            codes: Arc::new(CodeCache::new(DEFAULT_CODE_CACHE_ENTRIES)),
            state: Arc::new(StateCache::new(limits)),
            recent: Arc::default(),
            filter,
            filter_on: true,
            writer: std::sync::Mutex::new(log),
        })
    }

    /// Holds up to `entries` transaction hashes of the latest blocks in memory before writing them to the
    /// hash index in one batch (default [`TX_INDEX_BATCH`]).
    pub fn set_tx_index_batch(&mut self, entries: usize) {
        self.tx_index.batch = entries;
    }

    /// The genesis block hash.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// The canonical head.
    pub fn head(&self) -> Result<SealedHeader, StoreError> {
        self.snapshot()?.head()
    }

    /// The canonical header at `number`.
    pub fn header(&self, number: u64) -> Result<Option<SealedHeader>, StoreError> {
        self.snapshot()?.header(number)
    }

    /// The number of the canonical block with `hash`.
    pub fn block_number(&self, hash: B256) -> Result<Option<u64>, StoreError> {
        self.snapshot()?.block_number(hash)
    }

    /// The body of canonical block `number`.
    pub fn body(&self, number: u64) -> Result<Option<BlockBody<TxEnvelope>>, StoreError> {
        self.snapshot()?.body(number)
    }

    /// The receipts of canonical block `number`.
    pub fn receipts(&self, number: u64) -> Result<Option<Vec<ReceiptEnvelope>>, StoreError> {
        self.snapshot()?.receipts(number)
    }

    /// The senders of canonical block `number`'s transactions.
    pub fn senders(&self, number: u64) -> Result<Option<Vec<Address>>, StoreError> {
        self.snapshot()?.senders(number)
    }

    /// What canonical block `number` changed: every touched account and slot with its pre-block value.
    pub fn block_changes(&self, number: u64) -> Result<Option<BlockRevert>, StoreError> {
        self.snapshot()?.block_changes(number)
    }

    /// A consistent read-only view of everything committed so far.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot(self.db.begin_read()?))
    }

    /// Where transaction `hash` was included.
    pub fn transaction_location(&self, hash: B256) -> Result<Option<TxLocation>, StoreError> {
        if let Some(at) = self.tx_index.get(&hash) {
            return Ok(Some(at));
        }
        let read = self.db.begin_read()?;
        Ok(read.open_table(TX_LOOKUP)?.get(hash.0)?.map(|g| {
            let (block, index) = g.value();
            TxLocation { block, index }
        }))
    }

    /// A read transaction and the state-cache generation it sees.
    fn begin_state_read(&self) -> Result<(Option<u64>, redb::ReadTransaction), StoreError> {
        let (generation, read) = self.state.pin(|| self.db.begin_read());
        Ok((generation, read?))
    }

    /// A view of the latest state (a revm database).
    pub fn latest_state(&self) -> Result<StateProvider, StoreError> {
        let (generation, read) = self.begin_state_read()?;
        self.view(generation, read)
    }

    /// A state view over `read`, which sees cache generation `generation`.
    fn view(&self, generation: Option<u64>, read: redb::ReadTransaction) -> Result<StateProvider, StoreError> {
        Ok(StateProvider::new(read, self.codes.clone())?
            .with_state_cache(self.state.clone(), generation)
            .with_state_filter(self.filter_on.then(|| self.filter.clone()))
            .with_recent_timestamps(self.recent.clone()))
    }

    /// A view of the state after canonical block `number` (the head, or any earlier block: the latest
    /// state seen through the history index, one lookup per key read, however old the block).
    pub fn state_at(&self, number: u64) -> Result<StateProvider, StoreError> {
        let (generation, read) = self.begin_state_read()?;
        let head = head_number(&read)?;
        if number > head {
            return Err(StoreError::Unwind { target: number, reason: format!("the head is block {head}") });
        }
        let provider = self.view(generation, read)?;
        Ok(if number == head { provider } else { provider.at_block(number) })
    }

    /// The head's account at `address`: from the state cache when it holds it, otherwise read (and kept)
    /// in a read transaction of its own. Each call sees the head of its time, no snapshot across calls —
    /// what the pool's admission checks want, without a read transaction per transaction.
    pub fn latest_account(&self, address: &Address) -> Result<Option<StoredAccount>, StoreError> {
        match self.state.head_account(address) {
            Some(account) => Ok(account),
            None => self.latest_state()?.account(address),
        }
    }

    /// The state cache's hit and miss counts and size.
    pub fn state_cache_stats(&self) -> StateCacheStats {
        self.state.stats()
    }

    /// Stores an executed block on top of the head, in one write transaction.
    pub fn commit_block(&self, block: ExecutedBlock) -> Result<SealedHeader, StoreError> {
        Ok(self.commit_block_timed(block)?.0.header)
    }

    /// [`Self::commit_block`], returning the block as committed and how long the parts took.
    pub fn commit_block_timed(&self, block: ExecutedBlock) -> Result<(CommittedParts, CommitTimes), StoreError> {
        let started = Instant::now();
        let mut log = self.writer();
        let txn = self.db.begin_write()?;
        let cache = self.state.begin_write();
        let txs = tx_index::BlockTxs::of(block.header.number, &block.body.transactions);
        let (committed, bytes) = write_block_keeping(&txn, block)?;
        let logged = (!log.due()).then(|| block_log::encode(&bytes));
        let durable = logged.is_none();
        let indexed = self.tx_index.stage(&txn, txs)?;
        self.note_keys([&committed.after]);
        let written = Instant::now();
        match logged {
            // In the log before redb has it: a crash from here on finds it there.
            Some(encoded) => {
                log.append(committed.header.hash, &encoded)?;
                commit_logged(txn)?;
            }
            None => commit_durable(txn, &mut log)?,
        }
        cache.committed([&committed.after]);
        self.tx_index.committed(indexed);
        self.recent.note(committed.header.hash, committed.header.header.timestamp);
        let times = CommitTimes { state_root: written - started, commit: written.elapsed(), durable };
        Ok((committed, times))
    }

    /// Undoes every block above `target`, atomically.
    pub fn unwind_to(&self, target: u64) -> Result<(), StoreError> {
        let mut log = self.writer();
        let txn = self.db.begin_write()?;
        let cache = self.state.begin_write();
        let restored = unwind_keeping(&txn, target)?;
        self.tx_index.stage_unwind(&txn, target)?;
        self.note_keys(&restored);
        commit_durable(txn, &mut log)?;
        cache.committed(&restored);
        self.tx_index.unwound(target);
        Ok(())
    }

    /// Writes `diff` straight into the state, recording no block (bulk loads in benchmarks and tools).
    pub fn load_state(&self, diff: &StateDiff) -> Result<B256, StoreError> {
        let mut log = self.writer();
        let txn = self.db.begin_write()?;
        let cache = self.state.begin_write();
        let applied = apply_diff(&txn, diff)?;
        self.note_keys([&applied.after]);
        commit_durable(txn, &mut log)?;
        cache.committed([&applied.after]);
        Ok(applied.root)
    }

    /// Proves `address` and its `slots` at canonical block `number` (the head, or any earlier block), in
    /// one read transaction: never waits for a block being committed. The cost grows with the blocks above
    /// `number`; see [`Self::proof_within`] for a bounded one.
    pub fn proof(&self, number: u64, address: Address, slots: &[B256]) -> Result<AccountProof, StoreError> {
        self.proof_within(number, address, slots, ProofWindow::UNBOUNDED)
    }

    /// [`Self::proof`], refusing ([`StoreError::BeyondProofWindow`]) a block more than `window` blocks
    /// below the head of the snapshot it reads, before reading any revert.
    pub fn proof_within(
        &self,
        number: u64,
        address: Address,
        slots: &[B256],
        window: ProofWindow,
    ) -> Result<AccountProof, StoreError> {
        let read = self.db.begin_read()?;
        let head = head_number(&read)?;
        window.check(number, head)?;
        let expected = read_header(&read.open_table(HEADERS)?, number)?
            .ok_or_else(|| StoreError::Unwind { target: number, reason: "no such block".into() })?
            .state_root;
        let reverts = reverts_above(&read, number, head)?;
        let tables = proof::TrieTables {
            account_trie: read.open_table(ACCOUNT_TRIE)?,
            hashed_accounts: read.open_table(HASHED_ACCOUNTS)?,
            storage_trie: read.open_table(STORAGE_TRIE)?,
            hashed_storage: read.open_table(HASHED_STORAGE)?,
        };
        let leaves = tables.historical_leaves(reverts)?;
        let proof = tables.prove(&leaves, address, slots)?;
        if proof.state_root != expected {
            return Err(StoreError::StateRootMismatch { number, expected, computed: proof.state_root });
        }
        Ok(proof)
    }

    /// Records in the state filter the accounts and slots a write leaves in place, before it commits.
    fn note_keys<'a>(&self, after: impl IntoIterator<Item = &'a BlockRevert>) {
        for revert in after {
            for (address, _) in revert.accounts.iter().filter(|(_, account)| account.is_some()) {
                self.filter.insert_account(address);
            }
            for (address, slot, _) in revert.storage.iter().filter(|(_, _, value)| !value.is_zero()) {
                self.filter.insert_slot(address, &U256::from_be_bytes(slot.0));
            }
        }
    }

    /// Makes every committed block durable (a store also does this every `durable_every` blocks, with
    /// every other write, and when it is dropped).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut log = self.writer();
        if !log.has_pending() {
            return Ok(());
        }
        commit_durable(self.db.begin_write()?, &mut log)
    }

    /// Reads every account and slot from the cache or the database, without asking the state filter
    /// (`false`; the default is `true`). The filter is still kept up to date. For checking the filter
    /// against reads without it.
    pub fn set_state_filter(&mut self, on: bool) {
        self.filter_on = on;
    }

    /// Whether the state filter has finished its scan of the state the store opened on (before, every
    /// read it would answer goes to the database).
    pub fn state_filter_ready(&self) -> bool {
        self.filter.is_ready()
    }

    /// Commits up to `blocks - 1` blocks in a row without waiting for the disk (logged, see the
    /// module `block_log`), then a durable one; 1 makes every commit durable. Default
    /// [`DEFAULT_DURABLE_EVERY`].
    pub fn set_durable_every(&self, blocks: u64) {
        self.writer().durable_every = blocks.max(1);
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, block_log::BlockLog> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the store's writer as a block commit does, committing nothing, until the result is dropped
    /// (shows that reads never wait for a writer).
    pub fn hold_writer(&self) -> Result<HeldWriter<'_>, StoreError> {
        let writer = self.writer();
        Ok(HeldWriter { _txn: self.db.begin_write()?, _writer: writer })
    }

    /// A read transaction over the latest committed state.
    pub fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }
}

/// The number of the head `read` sees.
fn head_number(read: &redb::ReadTransaction) -> Result<u64, StoreError> {
    match read.open_table(CANONICAL)?.last()? {
        Some((n, _)) => Ok(n.value()),
        None => Err(StoreError::Corrupt("no canonical blocks".into())),
    }
}

fn read_header(table: &impl ReadableTable<u64, &'static [u8]>, number: u64) -> Result<Option<Header>, StoreError> {
    let Some(raw) = table.get(number)?.map(|g| g.value().to_vec()) else { return Ok(None) };
    Header::decode(&mut raw.as_slice())
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("header of block {number}: {e}")))
}
