//! The ledger's own database (redb, in the node's datadir, as an ExEx keeps its own): the proposals, open
//! and closed, every plan from the moment the watcher offers it to a block until its proposal is done
//! with, the last block accounted for, and the statuses of sync transactions and of the transactions the
//! block producer rejected (what `surge_txStatus` answers). Each change is one write transaction, so a
//! crash leaves either the state before it or after it.

use std::path::{Path, PathBuf};

use alloy_primitives::{B256, Bytes};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use surge_sync::Plan;

use crate::{cooldown::CoolDownSnapshot, proposal::ProposalRecord, status_record::StatusRecord, user_ops::UserOpEntry};

/// Proposal id → JSON record.
const PROPOSALS: TableDefinition<u64, &[u8]> = TableDefinition::new("proposals");
/// Plan key ([`PlanRecord::key`]; the transaction hash in stores written before plans had versions) → JSON
/// plan record.
const PLANS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("plans");
/// `"tip"` → the last block accounted for: number (8 bytes, big-endian) and hash.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Transaction hash → JSON rejection record (stores written before statuses; moved to `statuses_final`).
const REJECTIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("rejections");
/// Transaction hash → JSON [`StatusRecord`] of a status that is not final (loaded at start).
const STATUSES_ACTIVE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("statuses_active");
/// Transaction hash → JSON [`StatusRecord`] of a final status (read on demand, kept for the retention).
const STATUSES_FINAL: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("statuses_final");
/// (unix milliseconds a status became final, transaction hash): the order final statuses expire in.
const STATUS_EXPIRY: TableDefinition<(u64, [u8; 32]), ()> = TableDefinition::new("status_expiry");
/// Final statuses deleted per write when expired ones are pruned.
const PRUNE_BATCH: usize = 4_096;
/// The proposer's L1 nonce → JSON [`L1TxRecord`].
const L1_TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("l1_txs");
/// User op id → JSON [`UserOpEntry`] (until its status is final); `meta["next_user_op"]` holds the next id.
const USER_OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("user_ops");
/// The proposer's L1 nonce → the network encoding (with its blobs) of the last transaction signed for it.
const L1_RAW: TableDefinition<u64, &[u8]> = TableDefinition::new("l1_raw");

/// One transaction signed for one nonce of the proposer's L1 account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Version {
    /// Its hash.
    pub hash: B256,
    /// Its fee caps.
    pub fees: surge_l1::Fees,
    /// Whether it gives the nonce up (a zero-value self-transfer) instead of carrying the proposal.
    pub cancels: bool,
}

/// The proposer's transactions for one L1 nonce, recorded before the first is sent: after a crash, the one
/// that L1 included (or the one waiting in its pool) is found among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1TxRecord {
    /// The nonce.
    pub nonce: u64,
    /// The proposal they carry.
    pub proposal: u64,
    /// Every transaction signed for the nonce, oldest first; the last is the one the L1 should have.
    pub versions: Vec<L1Version>,
    /// The proposal's gas limit.
    pub gas_limit: u64,
    /// Whether the proposal carries blobs (a replacement must too).
    pub blobs: bool,
}

impl L1TxRecord {
    /// The hashes of all its transactions, oldest first.
    pub fn hashes(&self) -> Vec<B256> {
        self.versions.iter().map(|v| v.hash).collect()
    }

    /// The last transaction signed.
    pub fn last(&self) -> Option<&L1Version> {
        self.versions.last()
    }

    /// Whether the nonce is being given up.
    pub fn cancelled(&self) -> bool {
        self.versions.iter().any(|v| v.cancels)
    }

    /// Whether `hash` is one that gives the nonce up.
    pub fn is_cancellation(&self, hash: &B256) -> bool {
        self.versions.iter().any(|v| v.cancels && v.hash == *hash)
    }
}

/// A transaction the block producer refused for good, as stores written before statuses kept it: why, and
/// when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The reason, as the pool's removal event gave it.
    pub reason: String,
    /// When it was recorded.
    pub at: u64,
}

/// A plan as the store keeps it: the plan, its signed transaction (so a restart that finds it unmined
/// can hand it back to the pool), the block it was made for, and its proposal once included. A
/// transaction may have several (made for successive blocks, or again for one as L1 moved): the block
/// says which went in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The plan.
    pub plan: Plan,
    /// The transaction, EIP-2718 encoded.
    pub raw: Bytes,
    /// The block it was made for (the only one it may go into).
    #[serde(alias = "staged_for")]
    pub made_for: u64,
    /// The proposal whose first block holds it, once committed.
    pub proposal: Option<u64>,
}

impl PlanRecord {
    /// Its key: one per plan made for one block.
    pub fn key(&self) -> B256 {
        let mut preimage = self.plan.tx_hash.to_vec();
        preimage.extend(self.made_for.to_be_bytes());
        preimage.extend(serde_json::to_vec(&self.plan).unwrap_or_default());
        alloy_primitives::keccak256(preimage)
    }
}

/// Reading or writing the ledger's store failed.
#[derive(Debug, thiserror::Error)]
#[error("the ledger's store at {path}: {what}: {reason}")]
pub struct LedgerStoreError {
    path: PathBuf,
    what: &'static str,
    reason: String,
}

/// One atomic change.
#[derive(Debug, Default)]
pub struct Batch {
    /// Proposals to write (replacing those with the same id).
    pub proposals: Vec<ProposalRecord>,
    /// Proposals to delete.
    pub delete_proposals: Vec<u64>,
    /// Plans to write, by key (replacing those with the same key).
    pub plans: Vec<(B256, PlanRecord)>,
    /// Plans to delete, by key.
    pub delete_plans: Vec<B256>,
    /// The last block accounted for, if it moved.
    pub tip: Option<(u64, B256)>,
    /// The cool-downs, if they changed.
    pub cooldowns: Option<CoolDownSnapshot>,
    /// L1 transaction records to write, with the encoding of their last transaction when it changed.
    pub l1_txs: Vec<(L1TxRecord, Option<Bytes>)>,
    /// L1 transaction records to delete, by nonce.
    pub delete_l1_txs: Vec<u64>,
    /// Statuses to write (each to the table of final ones or the other, leaving the other).
    pub statuses: Vec<StatusRecord>,
    /// User ops to write (replacing those with the same id).
    pub user_ops: Vec<UserOpEntry>,
    /// User ops to delete, by id.
    pub delete_user_ops: Vec<u64>,
    /// The next user op id, if it moved.
    pub next_user_op: Option<u64>,
}

impl Batch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.proposals.is_empty()
            && self.delete_proposals.is_empty()
            && self.plans.is_empty()
            && self.delete_plans.is_empty()
            && self.tip.is_none()
            && self.cooldowns.is_none()
            && self.l1_txs.is_empty()
            && self.delete_l1_txs.is_empty()
            && self.statuses.is_empty()
            && self.user_ops.is_empty()
            && self.delete_user_ops.is_empty()
            && self.next_user_op.is_none()
    }
}

/// What the store holds, as loaded.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every proposal, by id.
    pub proposals: Vec<ProposalRecord>,
    /// Every plan, with its key.
    pub plans: Vec<(B256, PlanRecord)>,
    /// The last block accounted for.
    pub tip: Option<(u64, B256)>,
    /// The L1 transaction records, by nonce.
    pub l1_txs: Vec<L1TxRecord>,
    /// The statuses that are not final.
    pub statuses: Vec<StatusRecord>,
    /// The user ops whose status is not final.
    pub user_ops: Vec<UserOpEntry>,
    /// The next user op id (ids are never reused).
    pub next_user_op: u64,
}

/// The ledger's store.
#[derive(Debug)]
pub struct LedgerStore {
    db: Database,
    path: PathBuf,
}

impl LedgerStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerStoreError> {
        let fail = |what, e: &dyn std::fmt::Display| LedgerStoreError {
            path: path.to_path_buf(),
            what,
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail("creating its directory", &e))?;
        }
        let db = Database::create(path).map_err(|e| fail("opening", &e))?;
        let store = Self { db, path: path.to_path_buf() };
        store.write(Batch::default())?;
        store.move_rejections()?;
        Ok(store)
    }

    fn error(&self, what: &'static str, e: impl std::fmt::Display) -> LedgerStoreError {
        LedgerStoreError { path: self.path.clone(), what, reason: e.to_string() }
    }

    /// Everything recorded.
    pub fn load(&self) -> Result<Loaded, LedgerStoreError> {
        let tx = self.db.begin_read().map_err(|e| self.error("reading", e))?;
        let proposals_table = tx.open_table(PROPOSALS).map_err(|e| self.error("opening proposals", e))?;
        let mut proposals = vec![];
        for entry in proposals_table.iter().map_err(|e| self.error("reading proposals", e))? {
            let (_, value) = entry.map_err(|e| self.error("reading a proposal", e))?;
            proposals.push(serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a proposal", e))?);
        }
        let plans_table = tx.open_table(PLANS).map_err(|e| self.error("opening plans", e))?;
        let mut plans = vec![];
        for entry in plans_table.iter().map_err(|e| self.error("reading plans", e))? {
            let (key, value) = entry.map_err(|e| self.error("reading a plan", e))?;
            let record = serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a plan", e))?;
            plans.push((B256::from(key.value()), record));
        }
        let meta = tx.open_table(META).map_err(|e| self.error("opening meta", e))?;
        let tip = match meta.get("tip").map_err(|e| self.error("reading the tip", e))? {
            Some(v) if v.value().len() == 40 => {
                let v = v.value();
                let mut number = [0u8; 8];
                number.copy_from_slice(&v[..8]);
                Some((u64::from_be_bytes(number), B256::from_slice(&v[8..])))
            }
            Some(_) => return Err(self.error("decoding the tip", "not 40 bytes")),
            None => None,
        };
        let l1_table = tx.open_table(L1_TXS).map_err(|e| self.error("opening l1_txs", e))?;
        let mut l1_txs = vec![];
        for entry in l1_table.iter().map_err(|e| self.error("reading L1 transactions", e))? {
            let (_, value) = entry.map_err(|e| self.error("reading an L1 transaction", e))?;
            l1_txs
                .push(serde_json::from_slice(value.value()).map_err(|e| self.error("decoding an L1 transaction", e))?);
        }
        let active = tx.open_table(STATUSES_ACTIVE).map_err(|e| self.error("opening statuses", e))?;
        let mut statuses = vec![];
        for entry in active.iter().map_err(|e| self.error("reading statuses", e))? {
            let (_, value) = entry.map_err(|e| self.error("reading a status", e))?;
            statuses.push(serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a status", e))?);
        }
        let ops_table = tx.open_table(USER_OPS).map_err(|e| self.error("opening user_ops", e))?;
        let mut user_ops = vec![];
        for entry in ops_table.iter().map_err(|e| self.error("reading user ops", e))? {
            let (_, value) = entry.map_err(|e| self.error("reading a user op", e))?;
            user_ops.push(serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a user op", e))?);
        }
        let next_user_op = match meta.get("next_user_op").map_err(|e| self.error("reading the next user op", e))? {
            Some(v) => {
                let bytes: [u8; 8] =
                    v.value().try_into().map_err(|_| self.error("decoding the next user op", "not 8 bytes"))?;
                u64::from_be_bytes(bytes)
            }
            None => 1,
        };
        Ok(Loaded { proposals, plans, tip, l1_txs, statuses, user_ops, next_user_op })
    }

    /// Applies `batch` in one transaction.
    pub fn write(&self, batch: Batch) -> Result<(), LedgerStoreError> {
        let tx = self.db.begin_write().map_err(|e| self.error("starting a write", e))?;
        {
            let mut proposals = tx.open_table(PROPOSALS).map_err(|e| self.error("opening proposals", e))?;
            for p in &batch.proposals {
                let json = serde_json::to_vec(p).map_err(|e| self.error("encoding a proposal", e))?;
                proposals.insert(p.id, json.as_slice()).map_err(|e| self.error("writing a proposal", e))?;
            }
            for id in &batch.delete_proposals {
                proposals.remove(id).map_err(|e| self.error("deleting a proposal", e))?;
            }
            let mut plans = tx.open_table(PLANS).map_err(|e| self.error("opening plans", e))?;
            for (key, p) in &batch.plans {
                let json = serde_json::to_vec(p).map_err(|e| self.error("encoding a plan", e))?;
                plans.insert(key.0, json.as_slice()).map_err(|e| self.error("writing a plan", e))?;
            }
            for key in &batch.delete_plans {
                plans.remove(key.0).map_err(|e| self.error("deleting a plan", e))?;
            }
            let mut meta = tx.open_table(META).map_err(|e| self.error("opening meta", e))?;
            if let Some((number, hash)) = batch.tip {
                let value = [number.to_be_bytes().as_slice(), hash.as_slice()].concat();
                meta.insert("tip", value.as_slice()).map_err(|e| self.error("writing the tip", e))?;
            }
            if let Some(next) = batch.next_user_op {
                meta.insert("next_user_op", next.to_be_bytes().as_slice())
                    .map_err(|e| self.error("writing the next user op", e))?;
            }
            let mut ops = tx.open_table(USER_OPS).map_err(|e| self.error("opening user_ops", e))?;
            for entry in &batch.user_ops {
                let json = serde_json::to_vec(entry).map_err(|e| self.error("encoding a user op", e))?;
                ops.insert(entry.op.id, json.as_slice()).map_err(|e| self.error("writing a user op", e))?;
            }
            for id in &batch.delete_user_ops {
                ops.remove(id).map_err(|e| self.error("deleting a user op", e))?;
            }
            if let Some(c) = &batch.cooldowns {
                let json = serde_json::to_vec(c).map_err(|e| self.error("encoding the cool-downs", e))?;
                meta.insert("cooldowns", json.as_slice()).map_err(|e| self.error("writing the cool-downs", e))?;
            }
            let mut l1_txs = tx.open_table(L1_TXS).map_err(|e| self.error("opening l1_txs", e))?;
            let mut l1_raw = tx.open_table(L1_RAW).map_err(|e| self.error("opening l1_raw", e))?;
            for (record, raw) in &batch.l1_txs {
                let json = serde_json::to_vec(record).map_err(|e| self.error("encoding an L1 transaction", e))?;
                l1_txs.insert(record.nonce, json.as_slice()).map_err(|e| self.error("writing an L1 transaction", e))?;
                if let Some(raw) = raw {
                    l1_raw
                        .insert(record.nonce, raw.as_ref())
                        .map_err(|e| self.error("writing an L1 transaction", e))?;
                }
            }
            for nonce in &batch.delete_l1_txs {
                l1_txs.remove(nonce).map_err(|e| self.error("deleting an L1 transaction", e))?;
                l1_raw.remove(nonce).map_err(|e| self.error("deleting an L1 transaction", e))?;
            }
            let mut active = tx.open_table(STATUSES_ACTIVE).map_err(|e| self.error("opening statuses", e))?;
            let mut finals = tx.open_table(STATUSES_FINAL).map_err(|e| self.error("opening statuses", e))?;
            let mut expiry = tx.open_table(STATUS_EXPIRY).map_err(|e| self.error("opening status_expiry", e))?;
            for record in &batch.statuses {
                let json = serde_json::to_vec(record).map_err(|e| self.error("encoding a status", e))?;
                let written = match record.final_at() {
                    Some(at) => {
                        active.remove(record.tx.0).map_err(|e| self.error("moving a status", e))?;
                        expiry.insert((at, record.tx.0), ()).map_err(|e| self.error("writing a status", e))?;
                        finals.insert(record.tx.0, json.as_slice())
                    }
                    None => {
                        finals.remove(record.tx.0).map_err(|e| self.error("moving a status", e))?;
                        active.insert(record.tx.0, json.as_slice())
                    }
                };
                written.map_err(|e| self.error("writing a status", e))?;
            }
        }
        tx.commit().map_err(|e| self.error("committing", e))
    }

    /// The final status of transaction `tx`, if one is kept.
    pub fn final_status(&self, tx: &B256) -> Result<Option<StatusRecord>, LedgerStoreError> {
        let read = self.db.begin_read().map_err(|e| self.error("reading", e))?;
        let table = read.open_table(STATUSES_FINAL).map_err(|e| self.error("opening statuses", e))?;
        let Some(value) = table.get(tx.0).map_err(|e| self.error("reading a status", e))? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value()).map(Some).map_err(|e| self.error("decoding a status", e))
    }

    /// Deletes final statuses that became final at `cutoff` (unix milliseconds) or before, a bounded batch
    /// per write; how many.
    pub fn prune_statuses(&self, cutoff: u64) -> Result<usize, LedgerStoreError> {
        let mut pruned = 0;
        loop {
            let tx = self.db.begin_write().map_err(|e| self.error("starting a write", e))?;
            let count = {
                let mut expiry = tx.open_table(STATUS_EXPIRY).map_err(|e| self.error("opening status_expiry", e))?;
                let mut finals = tx.open_table(STATUSES_FINAL).map_err(|e| self.error("opening statuses", e))?;
                let due: Vec<(u64, [u8; 32])> = expiry
                    .range(..=(cutoff, [0xff; 32]))
                    .map_err(|e| self.error("reading status_expiry", e))?
                    .take(PRUNE_BATCH)
                    .map(|entry| entry.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.error("reading status_expiry", e))?;
                for (at, hash) in &due {
                    expiry.remove((*at, *hash)).map_err(|e| self.error("pruning a status", e))?;
                    // Final again later, or not final any more: its own entry decides.
                    let expired = match finals.get(*hash).map_err(|e| self.error("reading a status", e))? {
                        Some(v) => serde_json::from_slice::<StatusRecord>(v.value())
                            .map_or(true, |r| r.final_at().is_some_and(|f| f <= cutoff)),
                        None => false,
                    };
                    if expired {
                        finals.remove(*hash).map_err(|e| self.error("pruning a status", e))?;
                        pruned += 1;
                    }
                }
                due.len()
            };
            tx.commit().map_err(|e| self.error("committing", e))?;
            if count < PRUNE_BATCH {
                return Ok(pruned);
            }
        }
    }

    /// Moves the rejections of a store written before statuses into final statuses.
    fn move_rejections(&self) -> Result<(), LedgerStoreError> {
        let old: Vec<(B256, Rejection)> = {
            let read = self.db.begin_read().map_err(|e| self.error("reading", e))?;
            let Ok(table) = read.open_table(REJECTIONS) else { return Ok(()) };
            let mut old = vec![];
            for entry in table.iter().map_err(|e| self.error("reading rejections", e))? {
                let (key, value) = entry.map_err(|e| self.error("reading a rejection", e))?;
                let r = serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a rejection", e))?;
                old.push((B256::from(key.value()), r));
            }
            old
        };
        if old.is_empty() {
            return Ok(());
        }
        let statuses = old.iter().map(|(tx, r)| StatusRecord::rejected(*tx, r.reason.clone(), r.at * 1000)).collect();
        self.write(Batch { statuses, ..Default::default() })?;
        let tx = self.db.begin_write().map_err(|e| self.error("starting a write", e))?;
        tx.delete_table(REJECTIONS).map_err(|e| self.error("deleting rejections", e))?;
        tx.commit().map_err(|e| self.error("committing", e))
    }

    /// The cool-downs last recorded, if any.
    pub fn cooldowns(&self) -> Result<Option<CoolDownSnapshot>, LedgerStoreError> {
        let read = self.db.begin_read().map_err(|e| self.error("reading", e))?;
        let meta = read.open_table(META).map_err(|e| self.error("opening meta", e))?;
        let Some(value) = meta.get("cooldowns").map_err(|e| self.error("reading the cool-downs", e))? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value()).map(Some).map_err(|e| self.error("decoding the cool-downs", e))
    }

    /// The encoding of the last transaction recorded for L1 nonce `nonce`, if any.
    pub fn l1_raw(&self, nonce: u64) -> Result<Option<Bytes>, LedgerStoreError> {
        let read = self.db.begin_read().map_err(|e| self.error("reading", e))?;
        let table = read.open_table(L1_RAW).map_err(|e| self.error("opening l1_raw", e))?;
        let value = table.get(nonce).map_err(|e| self.error("reading an L1 transaction", e))?;
        Ok(value.map(|v| Bytes::copy_from_slice(v.value())))
    }
}
