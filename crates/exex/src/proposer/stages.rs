//! The stages of one proposal: prepared (assembled from the ledger's record and the chain, then proved),
//! pre-flighted and sent, then confirmed on L1 (a revert replayed on the state it ran on); the roll-back
//! that rebuilds the unproposed blocks without the transactions it drops.

use std::{sync::Arc, time::Instant};

use alloy_primitives::B256;
use surge_interfaces::{ChainControl, NodeComponents, TransactionPool};
use surge_l1::{
    ExactTx, L1Head, L1StateSource, L1Transaction, PreflightFailure, Prover, SimError, preflight, replay_included,
};
use surge_primitives::proposal_tx::TxShape;
use tokio::task::JoinHandle;
use tracing::warn;

use super::{
    assemble::{Assembled, ProposerProtocol, assemble},
    types::{Proposer, ProposerEvent, StageTimes},
};
use crate::{PoolExit, proposal::ProposalRecord};

/// Why one attempt at a proposal ended without it on L1.
#[derive(Debug, thiserror::Error)]
pub(super) enum AttemptError {
    #[error("pre-flight: {0}")]
    Preflight(Box<PreflightFailure>),
    /// L1 included the transaction and it reverted; `failure` is its replay on the state it ran on, when the
    /// replay could be made and failed too.
    #[error("transaction {tx} reverted on L1 in block {l1_block}")]
    Reverted { tx: B256, l1_block: u64, failure: Option<Box<PreflightFailure>> },
    /// The prover will not prove it as asked: the proposal is given up, its blocks rebuilt.
    #[error("the prover refused its proof: {0}")]
    ProofRefused(String),
    #[error("{0}")]
    Other(String),
}

pub(super) fn other(reason: String) -> AttemptError {
    AttemptError::Other(reason)
}

/// A proposal assembled and proved, ready for its pre-flight.
pub(super) struct Prepared {
    pub(super) record: ProposalRecord,
    pub(super) assembled: Assembled,
    pub(super) tx: L1Transaction,
    pub(super) shape: TxShape,
    pub(super) times: StageTimes,
}

/// A closed proposal being prepared before its turn (it builds on the one before it).
pub(super) struct Ahead {
    /// The proposal as it was when its preparation started.
    pub record: ProposalRecord,
    /// The last finalized hash it builds on.
    pub last_finalized: B256,
    /// Its preparation (taken when its turn comes; aborted when it is dropped before).
    task: Option<JoinHandle<Result<Prepared, AttemptError>>>,
}

impl Ahead {
    /// The task, which then outlives this.
    fn into_task(mut self) -> Option<JoinHandle<Result<Prepared, AttemptError>>> {
        self.task.take()
    }
}

/// A preparation that stops when its waiter does.
struct AbortOnDrop(JoinHandle<Result<Prepared, AttemptError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Closed proposals prepared at once, at most (each holds its blobs).
const PREPARE_AHEAD: usize = 4;

/// Assembles `record` (building on `last_finalized`) from the chain of `components` and proves it.
async fn prepare<N: NodeComponents>(
    components: N,
    prover: Arc<dyn Prover>,
    protocol: ProposerProtocol,
    record: ProposalRecord,
    last_finalized: B256,
) -> Result<Prepared, AttemptError> {
    let mut times = StageTimes::default();
    let started = Instant::now();
    let chain = components.provider().clone();
    let rec = record.clone();
    let assembled = tokio::task::spawn_blocking(move || assemble(&rec, &chain, &protocol, last_finalized))
        .await
        .map_err(|e| other(format!("assembling: {e}")))?
        .map_err(|e| other(e.to_string()))?;
    times.assemble = started.elapsed();
    surge_primitives::failpoint::failpoint("proposer.assembled");
    let started = Instant::now();
    let proof = prover.prove(&assembled.request).await.map_err(|e| match e {
        surge_l1::ProverError::Refused { reason, .. } => AttemptError::ProofRefused(reason),
        e => other(format!("proving with the {}: {e}", prover.name())),
    })?;
    times.prove = started.elapsed();
    surge_primitives::failpoint::failpoint("proposer.proved");
    let (tx, shape) = assembled.transaction(&protocol, proof);
    Ok(Prepared { record, assembled, tx, shape, times })
}

impl<N: NodeComponents, S: L1StateSource> Proposer<N, S> {
    /// Prepares `record` on a task of its own.
    fn spawn_prepare(
        &self,
        record: ProposalRecord,
        last_finalized: B256,
    ) -> JoinHandle<Result<Prepared, AttemptError>> {
        let (components, prover, protocol) = (self.components.clone(), self.prover.clone(), self.config.protocol);
        tokio::spawn(prepare(components, prover, protocol, record, last_finalized))
    }

    /// Starts preparing the first closed proposals (those not being prepared already, on the chain of
    /// last blocks from `last_finalized`), so that several are assembled and proved in parallel; forgets
    /// preparations the ledger no longer matches.
    pub(super) fn prepare_ahead(&self, ahead: &mut Vec<Ahead>, last_finalized: B256) {
        let closed = self.ledger.closed_proposals();
        let mut parent = last_finalized;
        let mut kept = Vec::with_capacity(PREPARE_AHEAD);
        for record in closed.into_iter().take(PREPARE_AHEAD) {
            let next_parent = record.last_block_hash().unwrap_or_default();
            let same = |a: &Ahead| a.record == record && a.last_finalized == parent;
            match ahead.iter().position(same) {
                Some(at) => kept.push(ahead.swap_remove(at)),
                None => {
                    let task = self.spawn_prepare(record.clone(), parent);
                    kept.push(Ahead { record, last_finalized: parent, task: Some(task) });
                }
            }
            parent = next_parent;
        }
        // Whatever is left is stale: dropping it aborts it.
        *ahead = kept;
    }

    /// The first closed proposal, `record`, prepared (taken from `ahead`, or prepared now).
    pub(super) async fn prepared(
        &self,
        record: &ProposalRecord,
        last_finalized: B256,
        ahead: &mut Vec<Ahead>,
    ) -> Result<Prepared, AttemptError> {
        let found = ahead.iter().position(|a| a.record == *record && a.last_finalized == last_finalized);
        let task = match found.and_then(|at| ahead.remove(at).into_task()) {
            Some(task) => task,
            None => self.spawn_prepare(record.clone(), last_finalized),
        };
        // When the wait is given up (the proposal was found doomed), so is the proving.
        let mut task = AbortOnDrop(task);
        (&mut task.0).await.unwrap_or_else(|e| Err(other(format!("preparing: {e}"))))
    }

    /// Unwinds the unproposed blocks from `record`'s first on (its plans are all in that block) and takes
    /// the `dropped` transactions out of the pool with their reasons: production rebuilds the blocks
    /// without them, and the watcher plans the other transactions again.
    pub(super) async fn roll_back(
        &self,
        record: &crate::proposal::ProposalRecord,
        dropped: Vec<(B256, String)>,
        why: String,
    ) -> Result<ProposerEvent, String> {
        let from = record.blocks.first().map(|b| b.number).ok_or("the proposal has no block")?;
        self.ledger.note_rollback(from, format!("proposal {} rolled back from L2 block {from}: {why}", record.id));
        let (components, ledger) = (self.components.clone(), self.ledger.clone());
        let rejected = dropped.clone();
        let unwound = tokio::task::spawn_blocking(move || {
            // The ledger learns the refusals before the unwind it accounts for: the pool's events about them
            // reach it later, and the unwound statuses must not end first as merely gone from the pool.
            let exits = rejected.iter().map(|(tx, reason)| PoolExit::Invalid { tx: *tx, reason: reason.clone() });
            if let Err(e) = ledger.record_pool_exits(exits.collect(), 0) {
                warn!(error = %e, "proposer: recording the dropped transactions' refusals");
            }
            let control = components.control();
            control.pause_production();
            let unwound = control.unwind_to(from.saturating_sub(1));
            components.pool().reject_transactions(&rejected);
            control.resume_production();
            unwound
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        // The ledger accounts for the unwind on its own task: the next attempt must not find the proposal
        // still there and take it again.
        let id = record.id;
        let gone = || {
            !self.ledger.closed_proposals().iter().any(|p| p.id == id)
                && self.ledger.open_proposal().is_none_or(|p| p.id != id)
        };
        let mut changes = self.ledger.changes();
        let accounted = async {
            while !gone() {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(10), accounted).await.is_err() {
            warn!(proposal = id, "proposer: the ledger has not accounted for the unwind after 10 s");
        }
        // The dropped ones left the pool after the unwind returned them: their statuses end now with the
        // refusals recorded above, not at the next block.
        let (ledger, components) = (self.ledger.clone(), self.components.clone());
        let settled = tokio::task::spawn_blocking(move || {
            let pool = components.pool();
            ledger.settle_unpooled(|tx| pool.get(tx).is_some());
        });
        if let Err(e) = settled.await {
            warn!(proposal = id, "proposer: ending the dropped transactions' statuses: {e}");
        }
        metrics::counter!("surge_proposal_rollbacks_total").increment(1);
        warn!(
            proposal = record.id,
            from,
            blocks = unwound.blocks.len(),
            returned = unwound.reinjected.len(),
            dropped = dropped.len(),
            "proposer: unwound the unproposed blocks to rebuild them"
        );
        Ok(ProposerEvent::RolledBack { id: record.id, from, dropped })
    }

    /// The replay of included transaction `tx` on the L1 state it ran on: its failure, or `None` when the
    /// replay could not be made or did not fail.
    pub(super) async fn replay(&self, tx: B256) -> Option<PreflightFailure> {
        let client = self.sender.client();
        let included = match client.included(tx).await {
            Ok(Some(included)) => included,
            Ok(None) => return None,
            Err(e) => {
                warn!(%tx, "proposer: reading the reverted transaction's block: {e}");
                return None;
            }
        };
        let (number, parent) = (included.header.number.saturating_sub(1), included.header.parent_hash);
        let view = match self.views.view(number, parent).await {
            Ok(view) => view,
            Err(e) => {
                warn!(%tx, "proposer: the L1 view before the reverted transaction: {e}");
                return None;
            }
        };
        let (config, layout) = (self.config.sim, self.config.protocol.layout());
        let replayed = tokio::task::spawn_blocking(move || {
            replay_included(&view, &config, &layout, &included.header, included.ahead, included.ours)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
        match replayed {
            Ok(Err(failure)) => Some(failure),
            Ok(Ok(_)) => {
                warn!(%tx, "proposer: the reverted transaction succeeds in its replay");
                None
            }
            Err(e) => {
                warn!(%tx, "proposer: replaying the reverted transaction: {e}");
                None
            }
        }
    }

    /// The gas `tx` needs on the view of `head`, or why it would revert.
    pub(super) async fn preflight(&self, mut tx: ExactTx, head: L1Head) -> Result<u64, AttemptError> {
        let view = self.views.view(head.number, head.hash).await.map_err(|e| other(format!("L1 view: {e}")))?;
        let (config, layout) = (self.config.sim, self.config.protocol.layout());
        tx.gas_limit = tx.gas_limit.min(view.header().gas_limit);
        let outcome = tokio::task::spawn_blocking(move || preflight(&view, &config, &layout, &tx))
            .await
            .map_err(|e| other(format!("pre-flight: {e}")))?;
        match outcome {
            Ok(outcome) => outcome.map(|p| p.gas_needed).map_err(|f| AttemptError::Preflight(Box::new(f))),
            Err(e @ SimError::ProposerBalanceLow { .. }) => {
                metrics::counter!("surge_proposer_balance_low_total").increment(1);
                Err(other(e.to_string()))
            }
            Err(e) => Err(other(format!("pre-flight: {e}"))),
        }
    }
}
