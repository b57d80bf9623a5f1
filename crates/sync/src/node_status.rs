//! What `surge_syncStatus` answers: where the node is against L1 — the L1 head and its age, the open
//! proposal, the last L2 blocks proposed, `safe` and `finalized`, the proposer's account, and who cools
//! down. Fields in camelCase, as `eth_syncing`'s.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

/// The node's sync status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The L1 the node follows.
    pub l1: L1Status,
    /// The proposal blocks join now.
    pub open_proposal: Option<OpenProposalStatus>,
    /// Closed proposals waiting for the proposer.
    pub proposals_waiting: usize,
    /// Proposals on L1 whose L1 block is not final yet.
    pub proposals_on_l1: usize,
    /// The last L2 block a proposal on L1 carries (or `safe`, when none is on L1 and not final).
    pub last_proposed_block: u64,
    /// The L2's `safe` block (its proposal deep enough on L1).
    pub safe_block: u64,
    /// The L2's `finalized` block (its proposal's L1 block final).
    pub finalized_block: u64,
    /// The proposer, when it runs.
    pub proposer: Option<ProposerStatus>,
    /// Senders and L1 contracts that cool down after a reverted bundle.
    pub cool_downs: Vec<CoolDownStatus>,
}

/// The L1 head as the node last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1Status {
    /// The latest block's number.
    pub head_number: Option<u64>,
    /// Its hash.
    pub head_hash: Option<B256>,
    /// Its timestamp (unix seconds).
    pub head_timestamp: Option<u64>,
    /// Seconds since that timestamp.
    pub head_age_seconds: Option<u64>,
    /// The finalized block's number.
    pub finalized_number: Option<u64>,
    /// Since when (unix seconds) the L1 endpoint has not answered; absent while it answers.
    pub unanswered_since: Option<u64>,
}

/// The open proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenProposalStatus {
    /// Its id.
    pub id: u64,
    /// Its first L2 block.
    pub first_block: Option<u64>,
    /// Its last L2 block.
    pub last_block: Option<u64>,
    /// How many blocks it has.
    pub blocks: usize,
    /// How many planned transactions it carries.
    pub plans: usize,
    /// The L1 block it is anchored to.
    pub anchor_block: u64,
    /// When it opened (unix seconds).
    pub opened_at: u64,
}

/// The proposer's account and health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposerStatus {
    /// Its L1 account.
    pub address: Address,
    /// Its balance (wei), as last read.
    pub balance: Option<U256>,
    /// Its pending nonce, as last read.
    pub pending_nonce: Option<u64>,
    /// Why it is failing, when its last attempts all failed.
    pub failing: Option<String>,
    /// Why it cannot pay for the planned bundles, when it cannot.
    pub balance_low: Option<String>,
}

/// One account cooling down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoolDownStatus {
    /// `sender` (an L2 sender) or `target` (an L1 contract).
    pub kind: String,
    /// The account.
    pub address: Address,
    /// Until when (unix seconds).
    pub until: u64,
    /// How often it was blamed.
    pub strikes: u32,
}

/// Where the sync status comes from.
pub trait SyncStatusSource: Send + Sync {
    /// The status now.
    fn sync_status(&self) -> Result<SyncStatus, String>;
}
