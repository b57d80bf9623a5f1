//! The committed-chain handler that proposes: it takes the ledger's closed proposals in order, makes each
//! into its L1 transaction ([`assemble`]), has it proved, runs the exact transaction on the L1 view of the
//! head (pre-flight) and only then sends it, waits for its inclusion, and moves the L2's `safe` tag (and
//! `finalized`, once that L1 block is final). Block production never waits for any of it.

pub mod assemble;

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use alloy_primitives::B256;
use surge_interfaces::{ChainControl, ChainTags, NodeComponents, TransactionPool};
use surge_l1::{
    HeadWatch, L1Head, L1Heads, L1Sender, L1StateSource, L1Views, PreflightFailure, Prover, SimConfig, preflight,
};
use surge_primitives::{bindings::inbox::RealTimeInbox, blob::BlobBytes, proposal_tx::TxShape};
use tokio::sync::broadcast;
use tracing::{Instrument, info, info_span, warn};

pub use assemble::{AssembleError, Assembled, ProposerProtocol, assemble, manifest};

use crate::ledger::Ledger;

/// How the proposer runs.
#[derive(Debug, Clone, Copy)]
pub struct ProposerConfig {
    /// The protocol.
    pub protocol: ProposerProtocol,
    /// The L1's rules, for the pre-flight.
    pub sim: SimConfig,
    /// How long a sent transaction may take to be included before it counts as lost.
    pub inclusion_timeout: Duration,
    /// How often the L1 is asked for a sent transaction's receipt.
    pub receipt_poll: Duration,
    /// How long to wait before trying a proposal again after a failure that may pass (an unavailable
    /// prover or L1).
    pub retry_after: Duration,
}

/// How long each stage of one proposal took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Reading the blocks, encoding the blobs, proving the L1 calls' messages.
    pub assemble: Duration,
    /// The proof.
    pub prove: Duration,
    /// The pre-flight on the L1 view.
    pub preflight: Duration,
    /// Sending until the receipt.
    pub include: Duration,
}

/// A proposal on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    /// Its id in the ledger.
    pub id: u64,
    /// Its L2 blocks.
    pub l2_blocks: Vec<u64>,
    /// Its last L2 block's hash (the inbox's last finalized hash now).
    pub last_block_hash: B256,
    /// L2 transactions it carries (anchors not counted).
    pub l2_txs: usize,
    /// The L1 transaction.
    pub l1_tx: B256,
    /// The L1 block including it.
    pub l1_block: u64,
    /// L1 gas it used.
    pub l1_gas_used: u64,
    /// Its blobs' versioned hashes.
    pub blob_hashes: Vec<B256>,
    /// The blobs (the derivation manifest of its blocks).
    pub blobs: Arc<Vec<BlobBytes>>,
    /// The manifest's bytes in them.
    pub payload_bytes: usize,
    /// Its shape.
    pub shape: TxShape,
    /// Stage times.
    pub times: StageTimes,
}

/// What the proposer did, for whoever listens (tests, benchmarks, the status tracker).
#[derive(Debug, Clone)]
pub enum ProposerEvent {
    /// A proposal is on L1.
    Proposed(Proposed),
    /// A proposal's transaction would revert: it was not sent.
    PreflightFailed {
        /// The proposal.
        id: u64,
        /// Where and why.
        failure: PreflightFailure,
    },
    /// A proposal could not be made, proved or sent this time.
    Failed {
        /// The proposal.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The unproposed blocks from `from` on were unwound to rebuild them without `dropped` (their
    /// transactions went back to the pool, the culprits out of it).
    RolledBack {
        /// The proposal whose pre-flight failed.
        id: u64,
        /// The first block unwound.
        from: u64,
        /// The transactions dropped, with the reason.
        dropped: Vec<(B256, String)>,
    },
    /// L2 blocks up to `number` are final on L1.
    Finalized {
        /// The last final L2 block.
        number: u64,
    },
}

/// Why one attempt at a proposal ended without it on L1.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("pre-flight: {0}")]
    Preflight(PreflightFailure),
    #[error("{0}")]
    Other(String),
}

/// The proposer's parts.
pub struct Proposer<N, S> {
    /// The proposals.
    pub ledger: Arc<Ledger>,
    /// The L2 node: blocks and proofs, the pool, chain control (to roll back), the tags.
    pub components: N,
    /// Views of L1 blocks for the pre-flight.
    pub views: Arc<L1Views<S>>,
    /// The L1 heads.
    pub heads: HeadWatch,
    /// The proposer's account on L1.
    pub sender: Arc<L1Sender>,
    /// The proof system.
    pub prover: Arc<dyn Prover>,
    /// How it runs.
    pub config: ProposerConfig,
    /// Where its events go.
    pub events: broadcast::Sender<ProposerEvent>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<N: NodeComponents, S: L1StateSource> Proposer<N, S> {
    fn tags(&self) -> &ChainTags {
        self.components.tags()
    }

    /// Runs until the L1 heads channel closes: proposes every closed proposal in order.
    pub async fn run(self) {
        let mut last_finalized = match self.start().await {
            Ok(hash) => hash,
            Err(e) => {
                warn!("proposer: not starting: {e}");
                return;
            }
        };
        let mut final_after: VecDeque<(u64, u64)> = VecDeque::new();
        let mut heads = self.heads.0.clone();
        loop {
            self.ledger.close_expired(unix_now());
            self.finalize(&mut final_after, &heads.borrow());
            let next = self.ledger.closed_proposals().into_iter().next();
            let Some(record) = next else {
                tokio::select! {
                    _ = self.ledger.proposal_closed() => {}
                    changed = heads.changed() => if changed.is_err() { return },
                    _ = tokio::time::sleep(self.until_open_expires()) => {}
                }
                continue;
            };
            let span = info_span!("proposal", id = record.id, blocks = record.blocks.len());
            match self.attempt(&record, last_finalized).instrument(span).await {
                Ok(done) => {
                    last_finalized = done.last_block_hash;
                    if let Some(&last) = done.l2_blocks.last() {
                        self.tags().set_safe(last);
                        final_after.push_back((done.l1_block, last));
                    }
                    metrics::counter!("surge_proposals_sent_total").increment(1);
                    metrics::histogram!("surge_proposal_l1_gas").record(done.l1_gas_used as f64);
                    let _ = self.events.send(ProposerEvent::Proposed(done));
                }
                Err(e) => {
                    let event = match e {
                        AttemptError::Preflight(failure) => {
                            warn!(proposal = record.id, step = ?failure.step, "proposer: pre-flight failed, not sending: {failure}");
                            metrics::counter!("surge_proposal_preflight_failures_total").increment(1);
                            let _ = self
                                .events
                                .send(ProposerEvent::PreflightFailed { id: record.id, failure: failure.clone() });
                            let culprits = culprits(&record, &failure);
                            if !culprits.is_empty() {
                                match self.roll_back(&record, culprits, &failure).await {
                                    // Rebuilt: the next proposal goes at once.
                                    Ok(event) => {
                                        let _ = self.events.send(event);
                                        continue;
                                    }
                                    Err(reason) => warn!(proposal = record.id, "proposer: rolling back: {reason}"),
                                }
                            }
                            ProposerEvent::Failed { id: record.id, reason: format!("pre-flight: {failure}") }
                        }
                        AttemptError::Other(reason) => {
                            warn!(proposal = record.id, "proposer: {reason}");
                            metrics::counter!("surge_proposal_failures_total").increment(1);
                            ProposerEvent::Failed { id: record.id, reason }
                        }
                    };
                    let _ = self.events.send(event);
                    // Try again on the next L1 head, or after a while.
                    tokio::select! {
                        changed = heads.changed() => if changed.is_err() { return },
                        _ = tokio::time::sleep(self.config.retry_after) => {}
                    }
                }
            }
        }
    }

    /// How long until the open proposal is old enough to close (a second when none is open).
    fn until_open_expires(&self) -> Duration {
        let max_age = self.ledger.rules().max_age.as_secs();
        let secs = self.ledger.open_proposal().map_or(1, |p| (p.opened_at + max_age).saturating_sub(unix_now()));
        Duration::from_secs(secs.clamp(1, max_age.max(1)))
    }

    /// The inbox's last finalized L2 block hash; closed proposals it already holds leave the ledger (they
    /// landed before a restart), and the tags move to the last of them.
    async fn start(&self) -> Result<B256, String> {
        let inbox = self.config.protocol.inbox;
        let hash = self
            .sender
            .client()
            .view(inbox, RealTimeInbox::lastFinalizedBlockHashCall {})
            .await
            .map_err(|e| e.to_string())?;
        let closed = self.ledger.closed_proposals();
        if let Some(at) = closed.iter().position(|p| p.last_block_hash() == Some(hash)) {
            for p in &closed[..=at] {
                info!(proposal = p.id, "proposer: already on L1");
                self.ledger.proposed(p.id);
            }
            if let Some(b) = closed[at].blocks.last() {
                self.tags().set_finalized(b.number);
            }
        }
        Ok(hash)
    }

    /// Moves `finalized` to the last L2 block whose proposal's L1 block is final.
    fn finalize(&self, final_after: &mut VecDeque<(u64, u64)>, heads: &L1Heads) {
        let Some(final_l1) = heads.finalized.map(|h| h.number) else { return };
        let mut last = None;
        while final_after.front().is_some_and(|(l1, _)| *l1 <= final_l1) {
            last = final_after.pop_front().map(|(_, l2)| l2);
        }
        if let Some(number) = last {
            self.tags().set_finalized(number);
            let _ = self.events.send(ProposerEvent::Finalized { number });
        }
    }

    async fn attempt(
        &self,
        record: &crate::proposal::ProposalRecord,
        last_finalized: B256,
    ) -> Result<Proposed, AttemptError> {
        let other = |s: String| AttemptError::Other(s);
        let mut times = StageTimes::default();
        let started = Instant::now();
        let (chain, rec, protocol) = (self.components.provider().clone(), record.clone(), self.config.protocol);
        let assembled = tokio::task::spawn_blocking(move || assemble(&rec, &chain, &protocol, last_finalized))
            .await
            .map_err(|e| other(format!("assembling: {e}")))?
            .map_err(|e| other(e.to_string()))?;
        times.assemble = started.elapsed();

        let started = Instant::now();
        let proof = self
            .prover
            .prove(&assembled.request)
            .await
            .map_err(|e| other(format!("proving with the {}: {e}", self.prover.name())))?;
        times.prove = started.elapsed();
        let (tx, shape) = assembled.transaction(&self.config.protocol, proof);

        let started = Instant::now();
        let head = self.heads.0.borrow().latest.ok_or_else(|| other("no L1 head yet".into()))?;
        let gas_used = self.preflight(&tx, head).await?;
        times.preflight = started.elapsed();

        let started = Instant::now();
        let fees = self.sender.fees().await.map_err(|e| other(e.to_string()))?;
        let gas_limit = self.sender.gas_limit(gas_used);
        let sent = self.sender.send(&tx, gas_limit, fees).await.map_err(|e| other(e.to_string()))?;
        info!(tx = %sent.hash, nonce = sent.nonce, gas_limit, ?shape, blobs = assembled.request.blobs.len(), "proposal sent");
        let receipt = self
            .sender
            .wait(sent.hash, self.config.inclusion_timeout, self.config.receipt_poll)
            .await
            .map_err(|e| other(e.to_string()))?;
        times.include = started.elapsed();
        let l1_block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            // L1 refused what the pre-flight accepted (a reorg or a race): the next attempt starts over.
            return Err(other(format!("transaction {} reverted on L1 in block {l1_block}", sent.hash)));
        }
        // The watcher simulates on L1 heads: the proposal leaves the in-flight bundles only once a head it
        // sees holds it.
        let mut heads = self.heads.0.clone();
        let seen = tokio::time::timeout(
            self.config.inclusion_timeout,
            heads.wait_for(|h| h.latest.is_some_and(|l| l.number >= l1_block)),
        )
        .await;
        if !matches!(seen, Ok(Ok(_))) {
            warn!(l1_block, "proposer: the L1 head did not reach the proposal's block in time");
        }
        self.ledger.proposed(record.id);
        let (_, last_hash) = assembled.last_block();
        info!(tx = %sent.hash, l1_block, gas = receipt.gas_used, l2_txs = assembled.l2_txs, "proposal on L1");
        Ok(Proposed {
            id: record.id,
            l2_blocks: assembled.request.l2_blocks.clone(),
            last_block_hash: last_hash,
            l2_txs: assembled.l2_txs,
            l1_tx: sent.hash,
            l1_block,
            l1_gas_used: receipt.gas_used,
            blob_hashes: tx.blob_hashes(),
            blobs: Arc::new(assembled.request.blobs.clone()),
            payload_bytes: assembled.payload_bytes,
            shape,
            times,
        })
    }

    /// Unwinds the unproposed blocks from `record`'s first on (its plans are all in that block) and takes
    /// `culprits` out of the pool: production rebuilds the blocks without them, and the watcher plans the
    /// other transactions again.
    async fn roll_back(
        &self,
        record: &crate::proposal::ProposalRecord,
        culprits: Vec<B256>,
        failure: &PreflightFailure,
    ) -> Result<ProposerEvent, String> {
        let from = record.blocks.first().map(|b| b.number).ok_or("the proposal has no block")?;
        let components = self.components.clone();
        let reason = format!("its L1 call would fail: {}", failure.reason);
        let dropped: Vec<(B256, String)> = culprits.iter().map(|tx| (*tx, reason.clone())).collect();
        let unwound = tokio::task::spawn_blocking(move || {
            let control = components.control();
            control.pause_production();
            let unwound = control.unwind_to(from.saturating_sub(1));
            components.pool().remove_transactions(&culprits);
            control.resume_production();
            unwound
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        metrics::counter!("surge_proposal_rollbacks_total").increment(1);
        warn!(
            proposal = record.id,
            from,
            blocks = unwound.blocks.len(),
            returned = unwound.reinjected.len(),
            dropped = dropped.len(),
            "proposer: unwound the unproposed blocks to rebuild them without the failing transactions"
        );
        Ok(ProposerEvent::RolledBack { id: record.id, from, dropped })
    }

    /// The gas `tx` uses on the view of `head`, or why it would revert.
    async fn preflight(&self, tx: &surge_l1::L1Transaction, head: L1Head) -> Result<u64, AttemptError> {
        let other = |s: String| AttemptError::Other(s);
        let view = self.views.view(head.number, head.hash).await.map_err(|e| other(format!("L1 view: {e}")))?;
        let (config, tx, from) = (self.config.sim, tx.clone(), self.sender.address());
        let chain_id = self.sender.chain_id();
        let gas_limit = view.header().gas_limit.min(1 << 24);
        let outcome = tokio::task::spawn_blocking(move || preflight(&view, &config, chain_id, from, &tx, gas_limit))
            .await
            .map_err(|e| other(format!("pre-flight: {e}")))?
            .map_err(|e| other(format!("pre-flight: {e}")))?;
        outcome.map(|p| p.gas_used).map_err(AttemptError::Preflight)
    }
}

/// The planned transactions a failed pre-flight blames: the one whose answer `finalizePropose` found
/// missing, or whose L1 call failed; every plan of the proposal when the failure names none of them.
fn culprits(record: &crate::proposal::ProposalRecord, failure: &PreflightFailure) -> Vec<B256> {
    if let Some(slot) = failure.missing_signal
        && let Some(plan) = record.plans.iter().find(|p| p.slots().any(|s| s == slot))
    {
        return vec![plan.tx_hash];
    }
    // Steps: the proposal (no user ops yet), then one L1 call per message in plan order.
    let by_call: Vec<B256> = record.plans.iter().flat_map(|p| p.messages.iter().map(|_| p.tx_hash)).collect();
    if let Some(tx) = failure.step.and_then(|s| s.checked_sub(1)).and_then(|i| by_call.get(i as usize)) {
        return vec![*tx];
    }
    record.plans.iter().map(|p| p.tx_hash).collect()
}
