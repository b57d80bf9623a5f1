//! The planner's own database (redb, in the node's datadir, as an ExEx keeps its own): the proposals, open
//! and closed, every plan from the moment it is staged until its proposal is done with, and the
//! transactions the block producer rejected, with their reasons (what `surge_txStatus` answers). Each
//! change is one write transaction, so a crash leaves either the state before it or after it.

use std::path::{Path, PathBuf};

use alloy_primitives::{B256, Bytes};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use surge_sync::Plan;

use crate::proposal::ProposalRecord;

/// Proposal id → JSON record.
const PROPOSALS: TableDefinition<u64, &[u8]> = TableDefinition::new("proposals");
/// Transaction hash → JSON plan record.
const PLANS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("plans");
/// Transaction hash → JSON rejection record.
const REJECTIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("rejections");

/// A transaction the block producer refused for good: why, and when (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The reason, as the pool's removal event gave it.
    pub reason: String,
    /// When it was recorded.
    pub at: u64,
}

/// A plan as the store keeps it: the plan, its signed transaction (so a restart that finds it unmined
/// can hand it back to the pool), the block it was staged for, and its proposal once included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    /// The plan.
    pub plan: Plan,
    /// The transaction, EIP-2718 encoded.
    pub raw: Bytes,
    /// The block it was last staged for.
    pub staged_for: u64,
    /// The proposal whose first block holds it, once committed.
    pub proposal: Option<u64>,
}

/// Reading or writing the planner's store failed.
#[derive(Debug, thiserror::Error)]
#[error("the planner's store at {path}: {what}: {reason}")]
pub struct PlannerStoreError {
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
    /// Plans to write (replacing those of the same transaction).
    pub plans: Vec<PlanRecord>,
    /// Plans to delete.
    pub delete_plans: Vec<B256>,
    /// Rejections to record (replacing those of the same transaction).
    pub rejections: Vec<(B256, Rejection)>,
}

impl Batch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.proposals.is_empty()
            && self.delete_proposals.is_empty()
            && self.plans.is_empty()
            && self.delete_plans.is_empty()
            && self.rejections.is_empty()
    }
}

/// The planner's store.
#[derive(Debug)]
pub struct PlannerStore {
    db: Database,
    path: PathBuf,
}

impl PlannerStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, PlannerStoreError> {
        let fail = |what, e: &dyn std::fmt::Display| PlannerStoreError {
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
        Ok(store)
    }

    fn error(&self, what: &'static str, e: impl std::fmt::Display) -> PlannerStoreError {
        PlannerStoreError { path: self.path.clone(), what, reason: e.to_string() }
    }

    /// Every proposal (by id) and every plan recorded.
    pub fn load(&self) -> Result<(Vec<ProposalRecord>, Vec<PlanRecord>), PlannerStoreError> {
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
            let (_, value) = entry.map_err(|e| self.error("reading a plan", e))?;
            plans.push(serde_json::from_slice(value.value()).map_err(|e| self.error("decoding a plan", e))?);
        }
        Ok((proposals, plans))
    }

    /// Applies `batch` in one transaction.
    pub fn write(&self, batch: Batch) -> Result<(), PlannerStoreError> {
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
            for p in &batch.plans {
                let json = serde_json::to_vec(p).map_err(|e| self.error("encoding a plan", e))?;
                plans.insert(p.plan.tx_hash.0, json.as_slice()).map_err(|e| self.error("writing a plan", e))?;
            }
            for tx_hash in &batch.delete_plans {
                plans.remove(tx_hash.0).map_err(|e| self.error("deleting a plan", e))?;
            }
            let mut rejections = tx.open_table(REJECTIONS).map_err(|e| self.error("opening rejections", e))?;
            for (tx_hash, r) in &batch.rejections {
                let json = serde_json::to_vec(r).map_err(|e| self.error("encoding a rejection", e))?;
                rejections.insert(tx_hash.0, json.as_slice()).map_err(|e| self.error("writing a rejection", e))?;
            }
        }
        tx.commit().map_err(|e| self.error("committing", e))
    }

    /// The rejection of transaction `tx`, if one is recorded.
    pub fn rejection(&self, tx: &B256) -> Result<Option<Rejection>, PlannerStoreError> {
        let read = self.db.begin_read().map_err(|e| self.error("reading", e))?;
        let table = read.open_table(REJECTIONS).map_err(|e| self.error("opening rejections", e))?;
        let Some(value) = table.get(tx.0).map_err(|e| self.error("reading a rejection", e))? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value()).map(Some).map_err(|e| self.error("decoding a rejection", e))
    }
}
