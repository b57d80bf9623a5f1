//! Reads of the chain data through one read transaction.

use alloy::consensus::{BlockBody, ReceiptEnvelope, TxEnvelope};
use alloy::eips::Decodable2718;
use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::Decodable;
use redb::ReadableTable;

use super::{BlockRevert, SealedHeader, StoreError, read_header, tables::*};

/// One read transaction over the store: every read through it sees the same committed blocks.
pub struct Snapshot(pub(super) redb::ReadTransaction);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The canonical head.
    pub fn head(&self) -> Result<SealedHeader, StoreError> {
        let read = &self.0;
        let canonical = read.open_table(CANONICAL)?;
        let (number, hash) = match canonical.last()? {
            Some((n, h)) => (n.value(), B256::from(h.value())),
            None => return Err(StoreError::Corrupt("no canonical blocks".into())),
        };
        let header = read_header(&read.open_table(HEADERS)?, number)?
            .ok_or_else(|| StoreError::Corrupt(format!("header of head block {number} missing")))?;
        Ok(SealedHeader { header, hash })
    }

    /// The canonical header at `number`.
    pub fn header(&self, number: u64) -> Result<Option<SealedHeader>, StoreError> {
        let read = &self.0;
        let Some(hash) = read.open_table(CANONICAL)?.get(number)?.map(|h| B256::from(h.value())) else {
            return Ok(None);
        };
        Ok(read_header(&read.open_table(HEADERS)?, number)?.map(|header| SealedHeader { header, hash }))
    }

    /// The number of the canonical block with `hash`.
    pub fn block_number(&self, hash: B256) -> Result<Option<u64>, StoreError> {
        let read = &self.0;
        Ok(read.open_table(HEADER_NUMBERS)?.get(hash.0)?.map(|n| n.value()))
    }

    /// The body of canonical block `number`.
    pub fn body(&self, number: u64) -> Result<Option<BlockBody<TxEnvelope>>, StoreError> {
        let read = &self.0;
        let Some(raw) = read.open_table(BODIES)?.get(number)?.map(|b| b.value().to_vec()) else {
            return Ok(None);
        };
        decode_body(&raw, number).map(Some)
    }

    /// The receipts of canonical block `number`.
    pub fn receipts(&self, number: u64) -> Result<Option<Vec<ReceiptEnvelope>>, StoreError> {
        let read = &self.0;
        let Some(raw) = read.open_table(RECEIPTS)?.get(number)?.map(|b| b.value().to_vec()) else {
            return Ok(None);
        };
        decode_receipts(&raw, number).map(Some)
    }

    /// The senders of canonical block `number`'s transactions.
    pub fn senders(&self, number: u64) -> Result<Option<Vec<Address>>, StoreError> {
        let read = &self.0;
        let Some(raw) = read.open_table(SENDERS)?.get(number)?.map(|b| b.value().to_vec()) else {
            return Ok(None);
        };
        decode_senders(&raw, number).map(Some)
    }

    /// What canonical block `number` changed: every touched account and slot with its pre-block value.
    pub fn block_changes(&self, number: u64) -> Result<Option<BlockRevert>, StoreError> {
        let read = &self.0;
        let Some(raw) = read.open_table(REVERTS)?.get(number)?.map(|b| b.value().to_vec()) else {
            return Ok(None);
        };
        BlockRevert::decode(&raw, number).map(Some)
    }

    /// The same keys as [`Self::block_changes`] with their values after block `number`.
    pub fn block_changes_after(&self, number: u64) -> Result<Option<BlockRevert>, StoreError> {
        let Some(raw) = self.0.open_table(CHANGES_AFTER)?.get(number)?.map(|b| b.value().to_vec()) else {
            return Ok(None);
        };
        BlockRevert::decode(&raw, number).map(Some)
    }
}

/// A body as `BODIES` stores it (RLP).
pub(super) fn decode_body(raw: &[u8], number: u64) -> Result<BlockBody<TxEnvelope>, StoreError> {
    BlockBody::decode(&mut &raw[..]).map_err(|e| StoreError::Corrupt(format!("body of block {number}: {e}")))
}

/// Receipts as `RECEIPTS` stores them (an RLP list of their EIP-2718 encodings).
pub(super) fn decode_receipts(raw: &[u8], number: u64) -> Result<Vec<ReceiptEnvelope>, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("receipts of block {number}: {e}"));
    let list = Vec::<Bytes>::decode(&mut &raw[..]).map_err(|e| corrupt(e.to_string()))?;
    list.iter().map(|r| ReceiptEnvelope::decode_2718(&mut r.as_ref()).map_err(|e| corrupt(e.to_string()))).collect()
}

/// Senders as `SENDERS` stores them (20 bytes each).
pub(super) fn decode_senders(raw: &[u8], number: u64) -> Result<Vec<Address>, StoreError> {
    if !raw.len().is_multiple_of(20) {
        return Err(StoreError::Corrupt(format!("senders of block {number}")));
    }
    Ok(raw.chunks(20).map(Address::from_slice).collect())
}
