//! Writing blocks into a write transaction and undoing them: the state change, the chain data and the
//! per-block records (what undoes a block, what it left) that unwinds and notifications use, and the history
//! index that reads of earlier blocks use.

use alloy::consensus::{BlockBody, Header, ReceiptEnvelope, TxEnvelope, TxReceipt, proofs};
use alloy::eips::Encodable2718;
use alloy_primitives::{Address, B256, Bloom, Bytes};
use alloy_rlp::Decodable;
use redb::{ReadableTable, WriteTransaction};

use super::{
    Applied, BlockRevert, CommittedParts, ExecutedBlock, SealedHeader, StateChange, StateDiff, StoreError, apply_diff,
    history::HistoryWriter, read_header, tables::*,
};

/// The encodings a block was written with, which the block log reuses.
#[derive(Debug, Default)]
pub(super) struct BlockBytes {
    /// The sealed header, RLP.
    pub header: Vec<u8>,
    /// The body, RLP.
    pub body: Vec<u8>,
    /// The senders, 20 bytes each.
    pub senders: Vec<u8>,
    /// The receipts, an RLP list of their EIP-2718 encodings.
    pub receipts: Vec<u8>,
    /// Every key the block touched with its value after (`BlockRevert` encoding).
    pub after: Vec<u8>,
    /// The code the block deployed.
    pub contracts: Vec<(B256, Bytes)>,
}

/// Writes `block` into `txn` on top of the head found there; the block as written, and its encodings.
pub(super) fn write_block_keeping(
    txn: &WriteTransaction,
    mut block: ExecutedBlock,
) -> Result<(CommittedParts, BlockBytes), StoreError> {
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
    let number = block.header.number;
    let diff = std::mem::replace(&mut block.changes, StateChange::Diff(StateDiff::default())).into_diff();
    let (verify, claimed_root) = (block.verify_roots, block.header.state_root);
    let apply = |txn: &WriteTransaction| -> Result<Applied, StoreError> {
        let applied = apply_diff(txn, &diff)?;
        if verify && applied.root != claimed_root {
            return Err(StoreError::StateRootMismatch { number, expected: claimed_root, computed: applied.root });
        }
        Ok(applied)
    };
    // The receipts' blooms and the transactions and receipts tries are mostly keccak over every log,
    // transaction and receipt (a third of building a block of transfers): on a second core they overlap
    // the state root.
    let (body, receipts) = (&block.body, &mut block.receipts);
    let seal_body = |receipts: &mut Vec<ReceiptEnvelope>| {
        fill_blooms(receipts);
        BodyRoots::of(body, receipts)
    };
    let (applied, roots) = match sealer() {
        Some(sealer) if body.transactions.len() >= PARALLEL_BODY_ROOTS => {
            let mut roots = None;
            let applied = sealer.in_place_scope(|scope| {
                scope.spawn(|_| roots = Some(seal_body(receipts)));
                apply(txn)
            });
            (applied?, roots.unwrap_or_else(|| seal_body(receipts)))
        }
        _ => (apply(txn)?, seal_body(receipts)),
    };
    let mut bytes = write_block_data(txn, number, &block.body, &block.senders, &block.receipts, &applied)?;
    if block.verify_roots {
        roots.check(number, &block.header)?;
    }
    block.header.state_root = applied.root;
    roots.fill(&mut block.header);
    let sealed = SealedHeader::seal(block.header);
    bytes.header = write_header(txn, &sealed)?;
    bytes.contracts = diff.contracts;
    let parts = CommittedParts {
        header: sealed,
        body: block.body,
        senders: block.senders,
        receipts: block.receipts,
        before: applied.revert,
        after: applied.after,
    };
    Ok((parts, bytes))
}

/// Fills in the bloom of each receipt that has logs and none yet: execution leaves them to the store, which
/// computes them with the receipts root, off the executor's path. Receipts that come with blooms keep them.
fn fill_blooms(receipts: &mut [ReceiptEnvelope]) {
    for receipt in receipts.iter_mut().filter_map(ReceiptEnvelope::as_receipt_with_bloom_mut) {
        if receipt.logs_bloom == Bloom::ZERO && !receipt.receipt.logs.is_empty() {
            receipt.logs_bloom = alloy_primitives::logs_bloom(receipt.receipt.logs.iter());
        }
    }
}

/// Blocks with at least this many transactions compute their body roots on a second thread (below, a
/// thread costs more than it saves).
const PARALLEL_BODY_ROOTS: usize = 64;

/// The one thread that computes body roots. Its own pool of one: rayon's global pool keeps a worker per
/// core, and idle workers spin looking for work, competing on two cores with the thread they should help.
fn sealer() -> Option<&'static rayon::ThreadPool> {
    static SEALER: std::sync::LazyLock<Option<rayon::ThreadPool>> = std::sync::LazyLock::new(|| {
        rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(|_| "surge-seal".into()).build().ok()
    });
    SEALER.as_ref()
}

/// What a header commits to of its body and receipts.
struct BodyRoots {
    transactions: B256,
    receipts: B256,
    bloom: Bloom,
}

impl BodyRoots {
    fn of(body: &BlockBody<TxEnvelope>, receipts: &[ReceiptEnvelope]) -> Self {
        let mut bloom = Bloom::ZERO;
        for r in receipts {
            bloom.accrue_bloom(&r.bloom());
        }
        Self {
            transactions: proofs::calculate_transaction_root(&body.transactions),
            receipts: proofs::calculate_receipt_root(receipts),
            bloom,
        }
    }

    /// An imported header must carry exactly these.
    fn check(&self, number: u64, header: &Header) -> Result<(), StoreError> {
        let mismatch = |field, expected: &dyn std::fmt::Display, computed: &dyn std::fmt::Display| {
            Err(StoreError::BodyRootMismatch {
                number,
                field,
                expected: expected.to_string(),
                computed: computed.to_string(),
            })
        };
        if header.transactions_root != self.transactions {
            return mismatch("transactions root", &header.transactions_root, &self.transactions);
        }
        if header.receipts_root != self.receipts {
            return mismatch("receipts root", &header.receipts_root, &self.receipts);
        }
        if header.logs_bloom != self.bloom {
            return mismatch("logs bloom", &header.logs_bloom, &self.bloom);
        }
        Ok(())
    }

    fn fill(self, header: &mut Header) {
        header.transactions_root = self.transactions;
        header.receipts_root = self.receipts;
        header.logs_bloom = self.bloom;
    }
}

/// Writes a block's header and its place in the canonical chain; the header's RLP.
fn write_header(txn: &WriteTransaction, sealed: &SealedHeader) -> Result<Vec<u8>, StoreError> {
    let n = sealed.header.number;
    let encoded = alloy_rlp::encode(&sealed.header);
    txn.open_table(HEADERS)?.insert(n, encoded.as_slice())?;
    txn.open_table(CANONICAL)?.insert(n, sealed.hash.0)?;
    txn.open_table(HEADER_NUMBERS)?.insert(sealed.hash.0, n)?;
    Ok(encoded)
}

/// Writes what block `n` holds and changed, all keyed by its number.
fn write_block_data(
    txn: &WriteTransaction,
    n: u64,
    body: &BlockBody<TxEnvelope>,
    senders: &[Address],
    receipts: &[ReceiptEnvelope],
    applied: &Applied,
) -> Result<BlockBytes, StoreError> {
    let body = alloy_rlp::encode(body);
    txn.open_table(BODIES)?.insert(n, body.as_slice())?;
    let encoded: Vec<Bytes> = receipts.iter().map(|r| r.encoded_2718().into()).collect();
    let receipts = alloy_rlp::encode(&encoded);
    txn.open_table(RECEIPTS)?.insert(n, receipts.as_slice())?;
    let senders: Vec<u8> = senders.iter().flat_map(|s| s.0.0).collect();
    txn.open_table(SENDERS)?.insert(n, senders.as_slice())?;
    txn.open_table(REVERTS)?.insert(n, applied.revert.encode().as_slice())?;
    HistoryWriter::open(txn)?.record(n, &applied.revert)?;
    let after = applied.after.encode();
    txn.open_table(CHANGES_AFTER)?.insert(n, after.as_slice())?;
    Ok(BlockBytes { header: vec![], body, senders, receipts, after, contracts: vec![] })
}

/// Writes the chain data of a block whose state change `applied` is already in `txn`.
pub(super) fn write_chain_data(
    txn: &WriteTransaction,
    sealed: &SealedHeader,
    body: &BlockBody<TxEnvelope>,
    senders: &[Address],
    receipts: &[ReceiptEnvelope],
    applied: &Applied,
) -> Result<(), StoreError> {
    write_header(txn, sealed)?;
    write_block_data(txn, sealed.header.number, body, senders, receipts, applied).map(drop)
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
        HistoryWriter::open(txn)?.remove(number, &revert)?;
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
