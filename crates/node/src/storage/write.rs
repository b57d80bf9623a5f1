//! Writing blocks into a write transaction and undoing them: the state change, the chain data and the
//! per-block records (what undoes a block, what it left) that unwinds and notifications use.

use alloy::consensus::{BlockBody, ReceiptEnvelope, TxEnvelope};
use alloy::eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::Decodable;
use redb::{ReadableTable, WriteTransaction};

use super::{
    Applied, BlockRevert, CommittedParts, ExecutedBlock, SealedHeader, StateDiff, StoreError, apply_diff, read_header,
    tables::*,
};

/// Writes `block` into `txn` on top of the head found there; the block as written.
pub(super) fn write_block_keeping(
    txn: &WriteTransaction,
    mut block: ExecutedBlock,
) -> Result<CommittedParts, StoreError> {
    let (head_number, head_hash) = {
        let canonical = txn.open_table(CANONICAL)?;
        let last = canonical.last()?.ok_or_else(|| StoreError::Corrupt("no canonical blocks".into()))?;
        (last.0.value(), B256::from(last.1.value()))
    };
    if block.header.number != head_number + 1 || block.header.parent_hash != head_hash {
        return Err(StoreError::NotChild {
            number: block.header.number,
            parent: block.header.parent_hash,
            head_number,
            head: head_hash,
        });
    }
    let applied = apply_diff(txn, &block.diff)?;
    let root = applied.root;
    if block.verify_state_root && root != block.header.state_root {
        return Err(StoreError::StateRootMismatch {
            number: block.header.number,
            expected: block.header.state_root,
            computed: root,
        });
    }
    block.header.state_root = root;
    let sealed = SealedHeader::seal(block.header);
    write_chain_data(txn, &sealed, &block.body, &block.senders, &block.receipts, &applied)?;
    Ok(CommittedParts {
        header: sealed,
        body: block.body,
        senders: block.senders,
        receipts: block.receipts,
        before: applied.revert,
        after: applied.after,
    })
}

pub(super) fn write_chain_data(
    txn: &WriteTransaction,
    sealed: &SealedHeader,
    body: &BlockBody<TxEnvelope>,
    senders: &[Address],
    receipts: &[ReceiptEnvelope],
    applied: &Applied,
) -> Result<(), StoreError> {
    let n = sealed.header.number;
    txn.open_table(HEADERS)?.insert(n, alloy_rlp::encode(&sealed.header).as_slice())?;
    txn.open_table(CANONICAL)?.insert(n, sealed.hash.0)?;
    txn.open_table(HEADER_NUMBERS)?.insert(sealed.hash.0, n)?;
    txn.open_table(BODIES)?.insert(n, alloy_rlp::encode(body).as_slice())?;
    let encoded: Vec<Bytes> = receipts.iter().map(|r| r.encoded_2718().into()).collect();
    txn.open_table(RECEIPTS)?.insert(n, alloy_rlp::encode(&encoded).as_slice())?;
    let sender_bytes: Vec<u8> = senders.iter().flat_map(|s| s.0.0).collect();
    txn.open_table(SENDERS)?.insert(n, sender_bytes.as_slice())?;
    {
        let mut lookup = txn.open_table(TX_LOOKUP)?;
        for (i, tx) in body.transactions.iter().enumerate() {
            lookup.insert(tx.trie_hash().0, (n, i as u32))?;
        }
    }
    txn.open_table(REVERTS)?.insert(n, applied.revert.encode().as_slice())?;
    txn.open_table(CHANGES_AFTER)?.insert(n, applied.after.encode().as_slice())?;
    Ok(())
}

/// Undoes the blocks above `target` inside `txn`, returning, per undone block (highest first), the keys it
/// restored with their values.
pub(super) fn unwind_keeping(txn: &WriteTransaction, target: u64) -> Result<Vec<BlockRevert>, StoreError> {
    let head = {
        let canonical = txn.open_table(CANONICAL)?;
        let last = canonical.last()?.ok_or_else(|| StoreError::Corrupt("no canonical blocks".into()))?;
        last.0.value()
    };
    if target > head {
        return Err(StoreError::Unwind { target, reason: format!("the head is block {head}") });
    }
    let mut root = None;
    let mut restored = Vec::with_capacity((head - target) as usize);
    for number in (target + 1..=head).rev() {
        let raw = txn
            .open_table(REVERTS)?
            .remove(number)?
            .map(|g| g.value().to_vec())
            .ok_or_else(|| StoreError::Unwind { target, reason: format!("revert of block {number} is missing") })?;
        let revert = BlockRevert::decode(&raw, number)?;
        let applied = apply_diff(txn, &StateDiff::from_revert(&revert))?;
        root = Some(applied.root);
        restored.push(applied.after);
        txn.open_table(CHANGES_AFTER)?.remove(number)?;
        let body = {
            let raw = txn.open_table(BODIES)?.remove(number)?.map(|g| g.value().to_vec()).unwrap_or_default();
            BlockBody::<TxEnvelope>::decode(&mut raw.as_slice())
                .map_err(|e| StoreError::Corrupt(format!("body of block {number}: {e}")))?
        };
        {
            let mut lookup = txn.open_table(TX_LOOKUP)?;
            for tx in &body.transactions {
                lookup.remove(tx.trie_hash().0)?;
            }
        }
        let hash = txn.open_table(CANONICAL)?.remove(number)?.map(|g| g.value());
        if let Some(hash) = hash {
            txn.open_table(HEADER_NUMBERS)?.remove(hash)?;
        }
        txn.open_table(HEADERS)?.remove(number)?;
        txn.open_table(RECEIPTS)?.remove(number)?;
        txn.open_table(SENDERS)?.remove(number)?;
    }
    if let Some(root) = root {
        let expected = read_header(&txn.open_table(HEADERS)?, target)?
            .ok_or_else(|| StoreError::Corrupt(format!("header of block {target} missing")))?
            .state_root;
        if root != expected {
            return Err(StoreError::StateRootMismatch { number: target, expected, computed: root });
        }
    }
    Ok(restored)
}
