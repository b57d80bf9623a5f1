//! `surge_syncStatus` and `/ready` from one place: the L1 head the tracker last published, the ledger's
//! proposals, the L2's tags, the proposer's health and the watcher's plans and cool-downs.

use std::{sync::Arc, time::Duration};

use surge_interfaces::ChainTags;
use surge_l1::HeadWatch;
use surge_sync::{L1Status, OpenProposalStatus, ProposerStatus, SyncStatus, SyncStatusSource};

use crate::{Ledger, PublishedPlans, ledger::now, proposer::health::ProposerHealth};

/// The node's sync status.
pub struct NodeSyncStatus {
    /// The proposals.
    pub ledger: Arc<Ledger>,
    /// The L1 heads.
    pub heads: HeadWatch,
    /// The L2's `safe` and `finalized` tags.
    pub tags: Arc<ChainTags>,
    /// The proposer's health, when it runs.
    pub proposer: Option<Arc<ProposerHealth>>,
    /// The watcher's plans (whether the proposer can pay for them, who cools down), when it runs.
    pub plans: Option<Arc<PublishedPlans>>,
    /// An L1 head older than this makes the node unready; `None`: not checked (the embedded dev L1 makes
    /// blocks only when it has transactions).
    pub max_head_age: Option<Duration>,
}

impl std::fmt::Debug for NodeSyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSyncStatus").field("max_head_age", &self.max_head_age).finish_non_exhaustive()
    }
}

impl NodeSyncStatus {
    fn l1(&self) -> L1Status {
        let heads = *self.heads.0.borrow();
        let latest = heads.latest;
        L1Status {
            head_number: latest.map(|h| h.number),
            head_hash: latest.map(|h| h.hash),
            head_timestamp: latest.map(|h| h.timestamp),
            head_age_seconds: latest.map(|h| now().saturating_sub(h.timestamp)),
            finalized_number: heads.finalized.map(|h| h.number),
            unanswered_since: heads.failing_since,
        }
    }

    /// What keeps the node from being ready: an L1 head older than the bound, a proposer failing.
    pub fn not_ready(&self) -> Vec<String> {
        let mut reasons = vec![];
        let l1 = self.l1();
        if let Some(bound) = self.max_head_age {
            match (l1.head_number, l1.head_age_seconds) {
                (Some(number), Some(age)) if age > bound.as_secs() => reasons.push(format!(
                    "L1 head stale: block {number} is {age} s old (bound {} s){}",
                    bound.as_secs(),
                    l1.unanswered_since
                        .map(|since| format!(
                            "; the L1 endpoint has not answered for {} s",
                            now().saturating_sub(since)
                        ))
                        .unwrap_or_default()
                )),
                (None, _) => reasons.push("no L1 head yet".into()),
                _ => {}
            }
        }
        // A proposer that cannot pay fails for that reason, which an advisory names: no 503 for it.
        if self.advisories().is_empty() {
            reasons.extend(self.proposer.as_ref().and_then(|p| p.failing()));
        }
        reasons
    }

    /// What an operator should know that does not make the node unready: a proposer low on funds.
    pub fn advisories(&self) -> Vec<String> {
        self.plans.as_ref().and_then(|p| p.proposer_balance_low()).into_iter().collect()
    }
}

impl SyncStatusSource for NodeSyncStatus {
    fn sync_status(&self) -> Result<SyncStatus, String> {
        let open = self.ledger.open_proposal().map(|p| OpenProposalStatus {
            id: p.id,
            first_block: p.blocks.first().map(|b| b.number),
            last_block: p.blocks.last().map(|b| b.number),
            blocks: p.blocks.len(),
            plans: p.plans.len(),
            anchor_block: p.anchor.blockNumber.to(),
            opened_at: p.opened_at,
        });
        let landed = self.ledger.landed_proposals();
        let safe = self.tags.safe(u64::MAX);
        let last_proposed = landed.iter().rev().find_map(|p| p.blocks.last().map(|b| b.number)).unwrap_or(safe);
        let proposer = self.proposer.as_ref().map(|p| {
            let (balance, pending_nonce) = p.account();
            ProposerStatus {
                address: p.address(),
                balance,
                pending_nonce,
                failing: p.failing(),
                balance_low: self.plans.as_ref().and_then(|p| p.proposer_balance_low()),
            }
        });
        Ok(SyncStatus {
            l1: self.l1(),
            open_proposal: open,
            proposals_waiting: self.ledger.closed_proposals().len(),
            proposals_on_l1: landed.len(),
            last_proposed_block: last_proposed.max(safe),
            safe_block: safe,
            finalized_block: self.tags.finalized(u64::MAX),
            proposer,
            cool_downs: self.plans.as_ref().map(|p| p.cooldowns().list(now())).unwrap_or_default(),
        })
    }
}
