//! The history index: for every account and slot, one entry per block that changed it, holding the value
//! it had before that block (the block's revert, filed by key instead of by block).
//!
//! The value of a key after block N is the value stored at its first entry above N: the block that next
//! changed it found it so. No entry above N means nothing has changed it since, and the head's value is
//! the one. One range lookup answers either way, however many blocks lie between N and the head — where
//! reading the reverts above N took one read per block.

use std::time::Instant;

use alloy_primitives::{Address, B256, U256};
use redb::{Database, ReadableTable, Table, WriteTransaction};

use super::{StoreError, revert::BlockRevert, tables::*};

/// The index tables of a write transaction, open for recording or removing blocks.
pub(super) struct HistoryWriter<'txn> {
    accounts: Table<'txn, ([u8; 20], u64), &'static [u8]>,
    storage: Table<'txn, ([u8; 20], [u8; 32], u64), [u8; 32]>,
}

impl<'txn> HistoryWriter<'txn> {
    /// Opens (creating them if new) the index tables of `txn`.
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self { accounts: txn.open_table(ACCOUNT_HISTORY)?, storage: txn.open_table(STORAGE_HISTORY)? })
    }

    /// Files under each key block `number`'s revert lists the value it had before that block.
    pub(super) fn record(&mut self, number: u64, revert: &BlockRevert) -> Result<(), StoreError> {
        for (address, account) in &revert.accounts {
            let value = account.map(|a| a.to_bytes());
            self.accounts.insert((addr_key(address), number), value.as_ref().map_or(&[][..], |b| &b[..]))?;
        }
        for (address, slot, value) in &revert.storage {
            self.storage.insert((addr_key(address), slot.0, number), value.to_be_bytes::<32>())?;
        }
        Ok(())
    }

    /// Removes the entries [`Self::record`] made for block `number` (it is being unwound).
    pub(super) fn remove(&mut self, number: u64, revert: &BlockRevert) -> Result<(), StoreError> {
        for (address, _) in &revert.accounts {
            self.accounts.remove((addr_key(address), number))?;
        }
        for (address, slot, _) in &revert.storage {
            self.storage.remove((addr_key(address), slot.0, number))?;
        }
        Ok(())
    }
}

/// The account at `address` after block `block`, when a later block changed it (`None`: nothing has since,
/// the head's account stands; `Some(None)`: it did not exist then).
pub(super) fn account_after(
    table: &impl ReadableTable<([u8; 20], u64), &'static [u8]>,
    address: &Address,
    block: u64,
) -> Result<Option<Option<StoredAccount>>, StoreError> {
    let Some(above) = block.checked_add(1) else { return Ok(None) };
    let key = addr_key(address);
    let Some(entry) = table.range((key, above)..=(key, u64::MAX))?.next() else { return Ok(None) };
    let (at, value) = entry?;
    let value = value.value();
    match value.len() {
        0 => Ok(Some(None)),
        StoredAccount::SIZE => Ok(Some(Some(StoredAccount::from_bytes(value)))),
        n => Err(StoreError::Corrupt(format!(
            "history of account {address} at block {}: {n} bytes, not 0 or {}",
            at.value().1,
            StoredAccount::SIZE
        ))),
    }
}

/// Slot `slot` of `address` after block `block`, when a later block changed it (`None`: nothing has since).
pub(super) fn slot_after(
    table: &impl ReadableTable<([u8; 20], [u8; 32], u64), [u8; 32]>,
    address: &Address,
    slot: &B256,
    block: u64,
) -> Result<Option<U256>, StoreError> {
    let Some(above) = block.checked_add(1) else { return Ok(None) };
    let key = addr_key(address);
    let Some(entry) = table.range((key, slot.0, above)..=(key, slot.0, u64::MAX))?.next() else { return Ok(None) };
    Ok(Some(U256::from_be_bytes(entry?.1.value())))
}

/// Upgrades a store written before the history index (format [`FORMAT_WITHOUT_HISTORY`]): builds the index
/// from every block's revert and marks the store [`FORMAT_VERSION`], in one write transaction (a crash
/// leaves the old format, and the next open starts over).
pub(super) fn build_from_reverts(db: &Database) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut txn = db.begin_write()?;
    // A store of the old format never had these tables; should one be there, it is rebuilt whole.
    txn.delete_table(ACCOUNT_HISTORY)?;
    txn.delete_table(STORAGE_HISTORY)?;
    let (mut blocks, mut accounts, mut slots) = (0u64, 0usize, 0usize);
    {
        let reverts = txn.open_table(REVERTS)?;
        let mut index = HistoryWriter::open(&txn)?;
        for entry in reverts.iter()? {
            let (number, raw) = entry?;
            let number = number.value();
            let revert = BlockRevert::decode(raw.value(), number)?;
            index.record(number, &revert)?;
            blocks += 1;
            accounts += revert.accounts.len();
            slots += revert.storage.len();
        }
        txn.open_table(META)?.insert(META_VERSION, FORMAT_VERSION.to_be_bytes().as_slice())?;
    }
    txn.set_quick_repair(true);
    txn.commit()?;
    tracing::info!(
        blocks,
        accounts,
        slots,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "built the history index from the reverts of a store written before it (format {FORMAT_WITHOUT_HISTORY} \
         -> {FORMAT_VERSION})"
    );
    Ok(())
}
