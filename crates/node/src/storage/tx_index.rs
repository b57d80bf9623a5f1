//! The transaction-hash index, written in batches.
//!
//! A block's transaction hashes are random keys: inserting them into `TX_LOOKUP` with every block dirties
//! about one B-tree page per transaction, which every block then writes and syncs (for a block of 500
//! transfers, a sixth of its commit). Instead, the hashes of the latest blocks are kept in memory and go
//! into the table sorted, many blocks at once, inside a later block's write transaction. `META` records
//! the highest block the table covers; the blocks above it are re-indexed from their bodies when the store
//! opens, so a crash loses nothing (the bodies are committed with their blocks).

use std::{collections::HashMap, sync::RwLock};

use alloy::{consensus::TxEnvelope, eips::Encodable2718};
use alloy_primitives::B256;
use redb::{ReadableDatabase, WriteTransaction};

use super::{StoreError, TxLocation, tables::*};

/// Meta key of the highest block whose transactions `TX_LOOKUP` holds.
const META_INDEXED_THROUGH: &str = "tx_lookup_through";

/// Entries held in memory before they are written with the next block.
pub const TX_INDEX_BATCH: usize = 16_384;

/// What the table does not hold yet.
#[derive(Debug, Default)]
struct Recent {
    /// `TX_LOOKUP` holds every block up to this one.
    through: u64,
    entries: HashMap<B256, TxLocation>,
}

/// The in-memory part of the index.
#[derive(Debug)]
pub(super) struct TxIndex {
    recent: RwLock<Recent>,
    /// Entries held before they are written.
    pub batch: usize,
}

/// The transactions of one block, as the index takes them.
pub(super) struct BlockTxs {
    number: u64,
    hashes: Vec<B256>,
}

impl BlockTxs {
    /// The hashes of block `number`'s `transactions`.
    pub fn of(number: u64, transactions: &[TxEnvelope]) -> Self {
        Self { number, hashes: transactions.iter().map(|t| t.trie_hash()).collect() }
    }
}

/// Whether the block being written took the batch into the table with it.
#[must_use]
pub(super) struct Staged {
    flushed: bool,
    block: BlockTxs,
}

impl TxIndex {
    /// Loads the index of `db`: the table's coverage from `META` (a store that never recorded it indexed
    /// every block in the table, and gets the mark now), and the blocks above it from their bodies.
    pub fn open(db: &redb::Database) -> Result<Self, StoreError> {
        let read = db.begin_read()?;
        let recorded =
            read.open_table(META)?.get(META_INDEXED_THROUGH)?.map(|v| decode_number(v.value())).transpose()?;
        let snapshot = super::Snapshot(read);
        let head = snapshot.head()?.header.number;
        let Some(through) = recorded.map(|through| through.min(head)) else {
            drop(snapshot);
            let mut txn = db.begin_write()?;
            txn.open_table(META)?.insert(META_INDEXED_THROUGH, head.to_be_bytes().as_slice())?;
            txn.set_quick_repair(true);
            txn.commit()?;
            return Ok(Self::new(Recent { through: head, entries: HashMap::new() }));
        };
        let mut entries = HashMap::new();
        for number in through + 1..=head {
            let body =
                snapshot.body(number)?.ok_or_else(|| StoreError::Corrupt(format!("body of block {number} missing")))?;
            for (index, tx) in body.transactions.iter().enumerate() {
                entries.insert(tx.trie_hash(), TxLocation { block: number, index: index as u32 });
            }
        }
        Ok(Self::new(Recent { through, entries }))
    }

    fn new(recent: Recent) -> Self {
        Self { recent: RwLock::new(recent), batch: TX_INDEX_BATCH }
    }

    /// Where `hash` was included, if its block is one of those held in memory.
    pub fn get(&self, hash: &B256) -> Option<TxLocation> {
        self.read().entries.get(hash).copied()
    }

    /// Writes the held entries and `block`'s into `txn` when the batch is full; otherwise writes nothing.
    /// Pass the result to [`Self::committed`] once `txn` is committed.
    pub fn stage(&self, txn: &WriteTransaction, block: BlockTxs) -> Result<Staged, StoreError> {
        let recent = self.read();
        if recent.entries.len() + block.hashes.len() < self.batch {
            return Ok(Staged { flushed: false, block });
        }
        let mut batch: Vec<(B256, TxLocation)> = recent.entries.iter().map(|(h, l)| (*h, *l)).collect();
        batch.extend(
            block.hashes.iter().enumerate().map(|(i, h)| (*h, TxLocation { block: block.number, index: i as u32 })),
        );
        // In key order, each B-tree page is visited once for the whole batch.
        batch.sort_unstable_by_key(|(h, _)| *h);
        let mut table = txn.open_table(TX_LOOKUP)?;
        for (hash, at) in batch {
            table.insert(hash.0, (at.block, at.index))?;
        }
        txn.open_table(META)?.insert(META_INDEXED_THROUGH, block.number.to_be_bytes().as_slice())?;
        Ok(Staged { flushed: true, block })
    }

    /// The write that staged `staged` is committed.
    pub fn committed(&self, staged: Staged) {
        let mut recent = self.write();
        if staged.flushed {
            recent.entries.clear();
            recent.through = staged.block.number;
            return;
        }
        let number = staged.block.number;
        for (index, hash) in staged.block.hashes.into_iter().enumerate() {
            recent.entries.insert(hash, TxLocation { block: number, index: index as u32 });
        }
    }

    /// Records in `txn` that the blocks above `target` are being unwound (their table entries are removed
    /// by the unwind itself).
    pub fn stage_unwind(&self, txn: &WriteTransaction, target: u64) -> Result<(), StoreError> {
        if target < self.read().through {
            txn.open_table(META)?.insert(META_INDEXED_THROUGH, target.to_be_bytes().as_slice())?;
        }
        Ok(())
    }

    /// The unwind to `target` is committed.
    pub fn unwound(&self, target: u64) {
        let mut recent = self.write();
        recent.entries.retain(|_, at| at.block <= target);
        recent.through = recent.through.min(target);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Recent> {
        self.recent.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Recent> {
        self.recent.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn decode_number(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("{META_INDEXED_THROUGH}: {} bytes, expected 8", bytes.len())))
}
