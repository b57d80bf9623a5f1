//! The committed-chain handler that proposes: it takes the ledger's closed proposals in order, makes each
//! into its L1 transaction ([`assemble`]), has it proved, runs the exact transaction on the L1 view of the
//! head (pre-flight) and only then records and sends it, follows its nonce until it is included deep enough
//! (replacing it when stuck, giving it up when doomed), and moves the L2's `safe` tag (and `finalized`, once
//! that L1 block is final). Block production never waits for any of it.

pub mod assemble;
pub mod blame;
pub mod health;
mod landed;
mod outbox;
mod stages;
mod types;

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256};
use surge_interfaces::{ChainTags, NodeComponents, StateProviderFactory};
use surge_l1::{L1Client, L1Heads, L1StateSource};
use surge_primitives::bindings::inbox::RealTimeInbox;
use tracing::{Instrument, info, info_span, warn};

pub use assemble::{AssembleError, Assembled, ProposerProtocol, assemble, manifest};
pub use types::{Proposed, Proposer, ProposerConfig, ProposerEvent, StageTimes};

use crate::ledger::Ledger;

use stages::{Ahead, AttemptError};

impl<N: NodeComponents, S: L1StateSource> Proposer<N, S> {
    fn tags(&self) -> &ChainTags {
        self.components.tags()
    }

    /// Runs until the L1 heads channel closes: proposes every closed proposal in order. The first few closed
    /// ones are assembled and proved in parallel (each builds on the last block of the one before it), so
    /// one's blobs and proof are ready when the one before it is on L1.
    pub async fn run(self) {
        surge_primitives::failpoint::failpoint("proposer");
        let mut heads = self.heads.0.clone();
        // The inbox is where everything starts: try until it answers.
        let mut last_finalized = loop {
            match self.start().await {
                Ok(hash) => break hash,
                Err(e) => warn!("proposer: reading the inbox: {e}; trying again"),
            }
            if self.wait_retry(&mut heads).await.is_err() {
                return;
            }
        };
        let mut ahead: Vec<Ahead> = vec![];
        loop {
            // A recorded nonce no waiting proposal takes is settled before any other is used.
            self.settle_orphans().await;
            let (ledger, l1_head) = (self.ledger.clone(), heads.borrow().latest.map_or(0, |h| h.number));
            let _ = tokio::task::spawn_blocking(move || ledger.close_expired(crate::ledger::now(), l1_head)).await;
            // A reorg that took landed proposals off L1 puts them first in the queue again. Checked before
            // finality: a block number final on L1 says nothing of a block of that number L1 dropped.
            let final_l1 = heads.borrow().finalized.map(|h| h.number);
            if self.recheck_landed().await > 0 {
                ahead.clear();
                if let Ok(hash) = self.start().await {
                    last_finalized = hash;
                }
            }
            self.advance_safe().await;
            self.finalize(final_l1).await;
            let next = self.ledger.closed_proposals().into_iter().next();
            let Some(record) = next else {
                tokio::select! {
                    _ = self.ledger.proposal_closed() => {}
                    changed = heads.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(self.until_open_expires()) => {}
                }
                continue;
            };
            // Its anchor block gone in an L1 reorg: its blocks are rebuilt on a fresh anchor, unproved.
            if let Some(failure) = self.anchor_gone(&record).await {
                ahead.clear();
                let at_once =
                    self.failed(&record, AttemptError::Preflight(Box::new(failure)), &mut last_finalized).await;
                if !at_once && self.wait_retry(&mut heads).await.is_err() {
                    return;
                }
                continue;
            }
            let doomed = self.ledger.doomed();
            self.prepare_ahead(&mut ahead, last_finalized);
            let span = info_span!("proposal", id = record.id, blocks = record.blocks.len());
            // The watcher may find it doomed (at any L1 head) while it is being proved: then it is never sent.
            let prepared = tokio::select! {
                biased;
                failure = doomed.wait_for(record.id) => Err(AttemptError::Preflight(Box::new(failure))),
                prepared = self.prepared(&record, last_finalized, &mut ahead) => prepared,
            };
            let outcome = match prepared {
                Ok(prepared) => self.submit(prepared).instrument(span).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(done) => {
                    last_finalized = done.last_block_hash;
                    self.advance_safe().await;
                    metrics::counter!("surge_proposals_sent_total").increment(1);
                    metrics::histogram!("surge_proposal_l1_gas").record(done.l1_gas_used as f64);
                    let _ = self.events.send(ProposerEvent::Proposed(done));
                }
                Err(e) => {
                    // What was prepared ahead built on this one.
                    ahead.clear();
                    if self.failed(&record, e, &mut last_finalized).await {
                        continue;
                    }
                    if self.wait_retry(&mut heads).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Waits for the next L1 head or `retry_after`, whichever comes first; an error when the heads are gone.
    async fn wait_retry(&self, heads: &mut tokio::sync::watch::Receiver<L1Heads>) -> Result<(), ()> {
        heads.borrow_and_update();
        tokio::select! {
            changed = heads.changed() => changed.map_err(|_| ()),
            _ = tokio::time::sleep(self.config.retry_after) => Ok(()),
        }
    }

    /// Reports a failed attempt and brings `last_finalized` to where the inbox is (a proposal may have
    /// landed after all). A transaction that failed (in its pre-flight, or on L1) is judged from what its
    /// steps did: a culprit is dropped and cooled down, an unknown one drops the proposal's plans, a
    /// failure outside the legs drops nobody; each rolls the unproposed blocks back to be rebuilt (a
    /// proposal without plans whose pre-flight failed outside the legs is retried as it is, unless its
    /// anchor is gone). After a culprit's or an unknown one's roll-back, or when the inbox moved, the next
    /// attempt may go at once (returns true).
    async fn failed(
        &self,
        record: &crate::proposal::ProposalRecord,
        e: AttemptError,
        last_finalized: &mut B256,
    ) -> bool {
        let moved = match self.start().await {
            Ok(hash) if hash != *last_finalized => {
                info!(proposal = record.id, "proposer: the inbox moved on; taking it from there");
                *last_finalized = hash;
                true
            }
            Ok(_) => false,
            Err(e) => {
                warn!("proposer: reading the inbox: {e}");
                false
            }
        };
        let (failure, on_l1) = match e {
            AttemptError::Preflight(failure) => {
                let failure = *failure;
                warn!(proposal = record.id, step = ?failure.step, "proposer: pre-flight failed, not sending: {failure}");
                metrics::counter!("surge_proposal_preflight_failures_total").increment(1);
                let _ = self.events.send(ProposerEvent::PreflightFailed { id: record.id, failure: failure.clone() });
                (Some(failure), false)
            }
            AttemptError::Reverted { tx, l1_block, failure } => {
                let failure = failure.map(|f| *f);
                warn!(proposal = record.id, %tx, l1_block, replayed = ?failure, "proposer: the proposal reverted on L1");
                let _ =
                    self.events.send(ProposerEvent::Reverted { id: record.id, tx, l1_block, failure: failure.clone() });
                (failure, true)
            }
            AttemptError::ProofRefused(reason) => {
                // Asking again would be refused again: its blocks are rebuilt (and proved afresh).
                warn!(proposal = record.id, "proposer: the prover refused its proof; giving it up: {reason}");
                metrics::counter!("surge_proposal_proofs_refused_total").increment(1);
                let why = format!("the prover refused its proof: {reason}");
                let _ = self.events.send(ProposerEvent::Failed { id: record.id, reason: why.clone() });
                if !moved {
                    match self.roll_back(record, vec![], why).await {
                        Ok(event) => drop(self.events.send(event)),
                        Err(e) => warn!(proposal = record.id, "proposer: rolling back: {e}"),
                    }
                }
                return moved;
            }
            AttemptError::Other(reason) => {
                warn!(proposal = record.id, "proposer: {reason}");
                metrics::counter!("surge_proposal_failures_total").increment(1);
                let _ = self.events.send(ProposerEvent::Failed { id: record.id, reason });
                return moved;
            }
        };
        if moved {
            return true;
        }
        let verdict = match &failure {
            Some(failure) => blame::judge(record, failure),
            None => blame::Verdict::NotTheLegs { reason: "L1 reverted it; its replay did not".into() },
        };
        // Who was dropped, and whether the next attempt may go at once (a failure outside the legs waits for
        // the next L1 head, so that one that persists does not roll back in a loop).
        let (dropped, at_once, why) = match verdict {
            blame::Verdict::Culprit { tx, sender, target, reason } => {
                let blamed = self.cooldowns.blame(sender, target, crate::ledger::now());
                warn!(proposal = record.id, %tx, %sender, %target, ?blamed, "proposer: culprit found: {reason}");
                let (ledger, kept) = (self.ledger.clone(), self.cooldowns.snapshot());
                let written = tokio::task::spawn_blocking(move || ledger.record_cooldowns(kept)).await;
                if let Err(e) = written.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
                    warn!("proposer: recording the cool-downs: {e}");
                }
                let why = format!("L1 reverted its bundle; transaction {tx} is to blame: {reason}");
                (vec![(tx, format!("L1 reverted: {reason}"))], true, why)
            }
            blame::Verdict::UserOp { id, reason } => {
                warn!(proposal = record.id, user_op = id, "proposer: a user op fails on L1: {reason}");
                let ledger = self.ledger.clone();
                let why = format!("L1 refused it: {reason}");
                let _ = tokio::task::spawn_blocking(move || ledger.reject_op(id, why)).await;
                (vec![], true, format!("L1 reverted its bundle; user op {id} is to blame: {reason}"))
            }
            blame::Verdict::Unknown { reason } => {
                // Nobody to blame: the range is rebuilt without its sync plans, and an operator looks.
                metrics::counter!("surge_proposal_culprit_unknown_total").increment(1);
                warn!(proposal = record.id, "proposer: ALERT: L1 reverted the bundle, culprit unknown: {reason}");
                let why = "L1 reverted, culprit unknown".to_string();
                (record.plans.iter().map(|p| (p.tx_hash, why.clone())).collect(), true, why)
            }
            blame::Verdict::NotTheLegs { reason } => {
                let stale_anchor = failure.as_ref().is_some_and(|f| f.anchor_unavailable);
                // Its user ops' messages took ids on L1 that other L1 traffic may have taken since: only a
                // rebuild places them again.
                if record.plans.is_empty() && record.user_ops.is_empty() && !stale_anchor && !on_l1 {
                    let _ = self
                        .events
                        .send(ProposerEvent::Failed { id: record.id, reason: format!("pre-flight: {reason}") });
                    return false;
                }
                info!(proposal = record.id, "proposer: not the legs' failure, re-planning: {reason}");
                (vec![], false, format!("its blocks are rebuilt: {reason}"))
            }
        };
        match self.roll_back(record, dropped, why).await {
            Ok(event) => {
                let _ = self.events.send(event);
                at_once
            }
            Err(reason) => {
                warn!(proposal = record.id, "proposer: rolling back: {reason}");
                let _ = self
                    .events
                    .send(ProposerEvent::Failed { id: record.id, reason: format!("rolling back: {reason}") });
                false
            }
        }
    }

    /// How long until the open proposal is old enough to close (a second when none is open).
    fn until_open_expires(&self) -> Duration {
        let max_age = self.ledger.rules().max_age.as_secs();
        let secs =
            self.ledger.open_proposal().map_or(1, |p| (p.opened_at + max_age).saturating_sub(crate::ledger::now()));
        Duration::from_secs(secs.clamp(1, max_age.max(1)))
    }

    /// Where the inbox is (see [`resume_from_inbox`]).
    async fn start(&self) -> Result<B256, String> {
        let (client, inbox) = (self.sender.client(), self.config.protocol.inbox);
        let chain = self.components.provider().clone();
        resume_from_inbox(&self.ledger, chain, client, inbox, self.components.tags()).await
    }

    /// Moves `finalized` to the last L2 block whose proposal's L1 block is final (`final_l1`): those
    /// proposals leave the ledger for good. `finalized` never moves back.
    async fn finalize(&self, final_l1: Option<u64>) {
        let Some(final_l1) = final_l1 else { return };
        let ledger = self.ledger.clone();
        let Ok(Some(number)) = tokio::task::spawn_blocking(move || ledger.final_on_l1(final_l1)).await else { return };
        if number > self.tags().finalized(u64::MAX) {
            self.tags().set_finalized(number);
            let _ = self.events.send(ProposerEvent::Finalized { number });
        }
    }
}

/// How far back from the first unproposed block the L1-finalized one is looked for after a restart.
const FINALIZED_SEARCH: u64 = 4_096;

/// The inbox's last finalized L2 block hash. Closed proposals it already holds leave the ledger (they
/// landed before a restart, or while the proposer was not looking), `safe` moves to that block, and
/// `finalized` to the one the inbox held at the L1's finalized block. Run before the L2 serves RPC, a
/// restarted node's tags are where L1 is at once.
pub async fn resume_from_inbox<P: StateProviderFactory + Clone + Send + Sync + 'static>(
    ledger: &Arc<Ledger>,
    chain: P,
    client: &L1Client,
    inbox: Address,
    tags: &Arc<ChainTags>,
) -> Result<B256, String> {
    let call = || RealTimeInbox::lastFinalizedBlockHashCall {};
    let hash = client.view(inbox, call()).await.map_err(|e| e.to_string())?;
    let at_final = match client.view_at(inbox, call(), alloy::eips::BlockNumberOrTag::Finalized).await {
        Ok(h) => Some(h),
        Err(e) => {
            warn!("proposer: the inbox at the L1's finalized block: {e}");
            None
        }
    };
    let (ledger, tags) = (ledger.clone(), tags.clone());
    tokio::task::spawn_blocking(move || {
        let closed = ledger.closed_proposals();
        if let Some(at) = closed.iter().position(|p| p.last_block_hash() == Some(hash)) {
            for p in &closed[..=at] {
                info!(proposal = p.id, "proposer: already on L1");
                ledger.proposed(p.id);
            }
        }
        // The block before the first unproposed one is the inbox's, unless the chain moved otherwise.
        let unproposed = ledger.closed_proposals().into_iter().chain(ledger.open_proposal());
        let first = unproposed.filter_map(|p| p.blocks.first().map(|b| b.number)).next();
        let candidate = first.map_or(ledger.height(), |n| n.saturating_sub(1));
        let lowest = candidate.saturating_sub(FINALIZED_SEARCH);
        let mut safe = None;
        for number in (lowest..=candidate).rev() {
            let held = match chain.header_by_number(number) {
                Ok(Some((_, h))) => h,
                Ok(None) => continue,
                Err(e) => {
                    warn!(number, "proposer: reading block {number}: {e}");
                    break;
                }
            };
            if held == hash {
                tags.set_safe(number);
                ledger.safe_moved(number);
                safe = Some(number);
            }
            if Some(held) == at_final {
                tags.set_finalized(number);
                info!(safe = ?safe, finalized = number, "proposer: the inbox holds L2 blocks");
                break;
            }
            if safe.is_none() || at_final.is_none() {
                // The inbox's block is not where it should be, or L1 would not say what is final.
                break;
            }
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(hash)
}
