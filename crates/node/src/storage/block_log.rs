//! The block log: the blocks committed since the store's last durable commit, so that a block commit does
//! not wait for the disk.
//!
//! A block commit appends the block to this file with a plain `write` (no fsync: the kernel keeps the
//! bytes when the process dies) and then commits to redb without durability. Every `durable_every`
//! blocks, and with every other write (unwind, bulk load) and on close, a durable commit persists all of
//! them, moves the store to a new *epoch* (recorded in `META` by that commit) and empties the log.
//!
//! When the store opens, redb is at its last durable commit; the logged blocks of that commit's epoch are
//! written again, in order, each checked to produce the hash it had. Records of another epoch are older
//! than that commit (a log not emptied after it, for example because the process died in between) and
//! are skipped. So a SIGKILL at any moment loses no committed block; a power cut may lose the blocks since
//! the last durable commit (`durable_every = 1` makes every commit durable and leaves the log empty).

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use alloy::consensus::Header;
use alloy_primitives::{B256, Bytes};
use alloy_rlp::Decodable;

use redb::{Database, ReadableDatabase, WriteTransaction};

use super::{
    BlockRevert, ExecutedBlock, Snapshot, StateChange, StateDiff, StoreError,
    snapshot::{decode_body, decode_receipts, decode_senders},
    tables::META,
    write::{BlockBytes, write_block_keeping},
};

/// Meta key of the epoch of the last durable commit.
const META_LOG_EPOCH: &str = "block_log_epoch";

/// Blocks committed without durability before one that is durable, by default.
pub const DEFAULT_DURABLE_EVERY: u64 = 64;
/// A log this large makes the next commit durable whatever the block count.
const MAX_LOG_BYTES: u64 = 256 << 20;
/// Length and CRC-32 of a record's payload.
const FRAME: usize = 8;

/// A logged block with the epoch it was logged in and the hash it committed with.
#[derive(Debug)]
pub(super) struct LoggedBlock {
    pub epoch: u64,
    pub hash: B256,
    pub block: ExecutedBlock,
}

/// The open log file.
#[derive(Debug)]
pub(super) struct BlockLog {
    file: File,
    path: PathBuf,
    /// Blocks appended since the log was last emptied.
    pending: u64,
    bytes: u64,
    /// The epoch of the last durable commit: what new records are tagged with.
    pub epoch: u64,
    /// Commits that may skip durability in a row, plus one (1: every commit is durable).
    pub durable_every: u64,
}

impl BlockLog {
    /// Opens (or creates) `blocks.log` in `dir`, returning the records it holds. A torn record at the end
    /// (the process died while appending it) is cut off.
    pub fn open(dir: &Path) -> Result<(Self, Vec<LoggedBlock>), StoreError> {
        let path = dir.join("blocks.log");
        let io = |source| StoreError::Log { path: path.display().to_string(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        let mut bytes = vec![];
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut records = vec![];
        let mut pos = 0;
        while let Some((payload, next)) = frame_at(&bytes, pos) {
            records.push(decode(payload)?);
            pos = next;
        }
        file.set_len(pos as u64).map_err(io)?;
        file.seek(SeekFrom::Start(pos as u64)).map_err(io)?;
        let log = Self {
            file,
            path,
            pending: records.len() as u64,
            bytes: pos as u64,
            epoch: 0,
            durable_every: DEFAULT_DURABLE_EVERY,
        };
        Ok((log, records))
    }

    /// Whether the next block commit must be durable.
    pub fn due(&self) -> bool {
        self.pending + 1 >= self.durable_every || self.bytes >= MAX_LOG_BYTES
    }

    /// Whether blocks were committed without durability since the last durable commit.
    pub fn has_pending(&self) -> bool {
        self.pending > 0
    }

    /// Appends block `encoded` (from [`encode`]), committed with `hash`, in the current epoch.
    pub fn append(&mut self, hash: B256, encoded: &[u8]) -> Result<(), StoreError> {
        let mut head = [0u8; FRAME + 40];
        head[FRAME..FRAME + 8].copy_from_slice(&self.epoch.to_be_bytes());
        head[FRAME + 8..].copy_from_slice(hash.as_slice());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[FRAME..]);
        crc.update(encoded);
        let len = (40 + encoded.len()) as u32;
        head[..4].copy_from_slice(&len.to_le_bytes());
        head[4..FRAME].copy_from_slice(&crc.finalize().to_le_bytes());
        // Two writes: a death between them leaves a record whose checksum fails, which `open` cuts off.
        let written = self.file.write_all(&head).and_then(|()| self.file.write_all(encoded));
        if let Err(source) = written {
            // Cut what did get written, so that the next record does not follow a torn one.
            let _ = self.file.set_len(self.bytes).and_then(|()| self.file.seek(SeekFrom::Start(self.bytes)));
            return Err(self.error(source));
        }
        self.pending += 1;
        self.bytes += (FRAME + 40 + encoded.len()) as u64;
        Ok(())
    }

    /// A durable commit that starts `epoch` persisted every logged block: empties the log. A failure
    /// leaves records of an older epoch, which the next open skips.
    pub fn persisted(&mut self, epoch: u64) -> Result<(), StoreError> {
        self.epoch = epoch;
        self.pending = 0;
        self.file.set_len(0).map_err(|source| self.error(source))?;
        self.file.seek(SeekFrom::Start(0)).map_err(|source| self.error(source))?;
        self.bytes = 0;
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> StoreError {
        StoreError::Log { path: self.path.display().to_string(), source }
    }
}

/// The payload of the record at `pos` and where the next one starts, if a whole record with a matching
/// checksum is there.
fn frame_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(pos..pos.checked_add(FRAME)?)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let start = pos + FRAME;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some((payload, start + len))
}

/// A block as the log stores it, from the encodings it was written with: an RLP list of the sealed
/// header, the body, the senders, the receipts, the values the block left for every key it touched, and
/// its contracts as hash and code pairs.
pub(super) fn encode(bytes: &BlockBytes) -> Vec<u8> {
    let contracts: Vec<Bytes> = bytes
        .contracts
        .iter()
        .flat_map(|(hash, code)| [Bytes::copy_from_slice(hash.as_slice()), code.clone()])
        .collect();
    let contracts = alloy_rlp::encode(&contracts);
    let fields = [&bytes.header, &bytes.body, &bytes.senders, &bytes.receipts, &bytes.after, &contracts];
    let payload: usize = fields.iter().map(|f| alloy_rlp::Encodable::length(f.as_slice())).sum();
    let mut out = Vec::with_capacity(payload + 9);
    alloy_rlp::Header { list: true, payload_length: payload }.encode(&mut out);
    for field in fields {
        alloy_rlp::Encodable::encode(field.as_slice(), &mut out);
    }
    out
}

/// A logged record as a block to write again: its state change is the values it left for every key it
/// touched (what an unwind applies the other way), its header the sealed one, whose roots are checked.
fn decode(payload: &[u8]) -> Result<LoggedBlock, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("block log record: {what}"));
    if payload.len() < 40 {
        return Err(corrupt("too short"));
    }
    let epoch = u64::from_be_bytes(payload[..8].try_into().map_err(|_| corrupt("epoch"))?);
    let hash = B256::from_slice(&payload[8..40]);
    let fields = Vec::<Bytes>::decode(&mut &payload[40..]).map_err(|e| corrupt(&e.to_string()))?;
    let [header, body, senders, receipts, after, contracts] = fields.as_slice() else {
        return Err(corrupt("field count"));
    };
    let header = Header::decode(&mut header.as_ref()).map_err(|e| corrupt(&format!("header: {e}")))?;
    let number = header.number;
    let (body, receipts) = (decode_body(body, number)?, decode_receipts(receipts, number)?);
    let mut diff = StateDiff::from_revert(&BlockRevert::decode(after, number)?);
    let contracts = Vec::<Bytes>::decode(&mut contracts.as_ref()).map_err(|e| corrupt(&format!("contracts: {e}")))?;
    for pair in contracts.chunks(2) {
        let [hash, code] = pair else { return Err(corrupt("contract without code")) };
        if hash.len() != 32 {
            return Err(corrupt("contract hash"));
        }
        diff.contracts.push((B256::from_slice(hash), code.clone()));
    }
    let senders = decode_senders(senders, number)?;
    let block = ExecutedBlock { header, body, senders, receipts, changes: StateChange::Diff(diff), verify_roots: true };
    Ok(LoggedBlock { epoch, hash, block })
}

/// Commits `txn` durably, starting the next epoch: every block committed before is now on disk, and the
/// log is emptied.
pub(super) fn commit_durable(mut txn: WriteTransaction, log: &mut BlockLog) -> Result<(), StoreError> {
    let epoch = log.epoch + 1;
    txn.open_table(META)?.insert(META_LOG_EPOCH, epoch.to_be_bytes().as_slice())?;
    txn.set_quick_repair(true);
    txn.commit()?;
    if let Err(e) = log.persisted(epoch) {
        // The blocks are durable; records left behind are of an older epoch and skipped on open.
        tracing::warn!(error = %e, "emptying the block log after a durable commit");
    }
    Ok(())
}

/// Commits `txn` without waiting for the disk: its block must be in the log already.
pub(super) fn commit_logged(mut txn: WriteTransaction) -> Result<(), StoreError> {
    txn.set_durability(redb::Durability::None)
        .map_err(|e| StoreError::Corrupt(format!("a non-durable commit was refused: {e}")))?;
    Ok(txn.commit()?)
}

/// Opens the block log of the store in `dir` and writes again the blocks it logged since redb's last
/// durable commit (the ones a crash took from redb), then makes them durable.
pub(super) fn replay_block_log(db: &Database, dir: &Path) -> Result<BlockLog, StoreError> {
    let (mut log, records) = BlockLog::open(dir)?;
    log.epoch = {
        let read = db.begin_read()?;
        let meta = read.open_table(META)?;
        let stored = meta.get(META_LOG_EPOCH)?.map(|v| v.value().try_into().map(u64::from_be_bytes));
        stored.transpose().map_err(|_| StoreError::Corrupt("block log epoch".into()))?.unwrap_or(0)
    };
    if records.is_empty() {
        return Ok(log);
    }
    let mut replayed = 0;
    for record in records.into_iter().filter(|r| r.epoch == log.epoch) {
        let number = record.block.header.number;
        let head = Snapshot(db.begin_read()?).head()?;
        if number <= head.header.number {
            continue; // made durable before the log was emptied
        }
        let txn = db.begin_write()?;
        let (committed, _) = write_block_keeping(&txn, record.block)?;
        if committed.header.hash != record.hash {
            return Err(StoreError::Corrupt(format!(
                "block log: block {number} replays as {}, was committed as {}",
                committed.header.hash, record.hash
            )));
        }
        commit_logged(txn)?;
        replayed += 1;
    }
    if replayed > 0 {
        tracing::info!(blocks = replayed, "replayed the blocks logged since the last durable commit");
    }
    // Replayed or stale, the records are done with: a durable commit makes that so and empties the log.
    commit_durable(db.begin_write()?, &mut log)?;
    Ok(log)
}
