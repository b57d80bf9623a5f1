//! Proposals on L1 until L1 finalizes them: their blocks turn `safe` once `confirmations` deep; on every L1
//! head the newest one's transaction is looked up, and one that L1 no longer holds (a reorg dropped its
//! block) goes back to the queue with every later one, `safe` moves back to what L1 still holds, and they
//! are proposed again at their recorded nonces. A proposal whose anchor block a reorg took is rebuilt on a
//! fresh anchor before it is proved.

use std::collections::BTreeSet;

use alloy::eips::BlockNumberOrTag;
use surge_interfaces::NodeComponents;
use surge_l1::{L1StateSource, PreflightFailure};
use tracing::warn;

use super::{
    stages::{AttemptError, other},
    types::{Proposer, ProposerEvent},
};
use crate::proposal::L1Inclusion;

impl<N: NodeComponents, S: L1StateSource> Proposer<N, S> {
    /// Checks that L1 still holds the landed proposals: the newest still included (anywhere) vouches for
    /// the ones before it, whose blocks it builds on. Those after it go back to the queue; how many.
    pub(super) async fn recheck_landed(&self) -> usize {
        let landed = self.ledger.landed_proposals();
        let client = self.sender.client();
        let mut held = landed.len();
        for p in landed.iter().rev() {
            let Some(at) = p.landed else { break };
            match client.receipt(at.tx).await {
                Ok(Some(r)) if r.status() && r.block_hash.is_some() => {
                    let hash = r.block_hash.unwrap_or_default();
                    if hash != at.hash {
                        // The reorg took its block, and its transaction went into another one.
                        let moved = L1Inclusion { tx: at.tx, block: r.block_number.unwrap_or_default(), hash };
                        let (ledger, id) = (self.ledger.clone(), p.id);
                        let _ = tokio::task::spawn_blocking(move || ledger.landed(id, moved)).await;
                    }
                    break;
                }
                Ok(_) => held -= 1,
                Err(e) => {
                    warn!(proposal = p.id, "proposer: whether L1 still holds the proposal: {e}");
                    return 0;
                }
            }
        }
        let Some(first) = landed.get(held) else { return 0 };
        let (ledger, id) = (self.ledger.clone(), first.id);
        let ids = tokio::task::spawn_blocking(move || ledger.reorged(id)).await.unwrap_or_default();
        // `safe` only moves back here: below the first proposal L1 no longer holds, never below `finalized`.
        let tags = self.components.tags();
        let below = first.blocks.first().map_or(0, |b| b.number.saturating_sub(1));
        let safe = tags.safe(u64::MAX).min(below).max(tags.finalized(u64::MAX));
        tags.set_safe(safe);
        warn!(?ids, safe, "proposer: an L1 reorg took proposals off L1; proposing them again");
        metrics::counter!("surge_proposals_reorged_total").increment(ids.len() as u64);
        let _ = self.events.send(ProposerEvent::Reorged { ids: ids.clone(), safe });
        ids.len()
    }

    /// Why `record` cannot go to L1 as it is because an L1 reorg took its anchor block: a pre-flight failure
    /// with the anchor unavailable (its blocks are then rebuilt on a fresh anchor). `None` when the anchor is
    /// the L1's, or the L1 does not answer.
    pub(super) async fn anchor_gone(&self, record: &crate::proposal::ProposalRecord) -> Option<PreflightFailure> {
        let number = record.anchor.blockNumber.to::<u64>();
        let canonical = self.sender.client().head(BlockNumberOrTag::Number(number)).await.ok()?;
        if canonical.is_some_and(|h| h.hash == record.anchor.blockHash) {
            return None;
        }
        metrics::counter!("surge_proposal_anchors_reorged_total").increment(1);
        Some(PreflightFailure {
            l1_block: self.heads.0.borrow().latest.map_or(0, |h| h.number),
            step: None,
            reason: format!("its anchor, L1 block {number} ({}), is no longer the L1's", record.anchor.blockHash),
            missing_signal: None,
            anchor_unavailable: true,
            steps: vec![],
        })
    }

    /// Moves `safe` to the last block of the newest landed proposal `confirmations` deep on L1 (its
    /// transactions' statuses to `Executed`).
    pub(super) async fn advance_safe(&self) {
        let head = self.head_number();
        let deep = self.ledger.landed_proposals().into_iter().rev().find(|p| {
            p.landed.is_some_and(|at| head.saturating_add(1) >= at.block.saturating_add(self.config.confirmations))
        });
        let tags = self.components.tags();
        if let Some(last) = deep.and_then(|p| p.blocks.last().map(|b| b.number))
            && last > tags.safe(u64::MAX)
        {
            tags.set_safe(last);
            let ledger = self.ledger.clone();
            let _ = tokio::task::spawn_blocking(move || ledger.safe_moved(last)).await;
        }
    }

    /// The nonce for a transaction no record holds yet: the lowest from the account's next on L1 that no
    /// recorded transaction holds (one an L1 reorg dropped is taken again before any later one).
    pub(super) async fn next_nonce(&self) -> Result<u64, AttemptError> {
        let mut nonce = self.sender.latest_nonce().await.map_err(|e| other(e.to_string()))?;
        let held: BTreeSet<u64> = self.ledger.l1_txs().iter().map(|r| r.nonce).collect();
        while held.contains(&nonce) {
            nonce += 1;
        }
        Ok(nonce)
    }
}
