//! The proposer's L1 transactions, each nonce used exactly once. A proposal's transaction is signed, then
//! recorded in the ledger's store (with its blobs), then sent; from then on its nonce is followed on every
//! L1 head until one of the transactions signed for it is in a block: replaced with raised fees
//! when it waits too long, sent again when the L1's pool drops it, given up with a zero-value self-transfer
//! when it would revert. After a restart the record says where to pick up: nothing is sent twice and no
//! nonce is skipped.

use std::time::Instant;

use alloy_primitives::B256;
use surge_interfaces::{ChainControl, NodeComponents};
use surge_l1::{
    ExactTx, L1StateSource, NonceState, PreflightFailure, Signed, included_among, nonce_state, replacement_bump_percent,
};
use surge_primitives::failpoint::failpoint;
use tracing::{info, warn};

use super::{
    stages::{AttemptError, Prepared, other},
    types::{Proposed, Proposer, ProposerEvent},
};
use crate::{
    proposal::L1Inclusion,
    store::{L1TxRecord, L1Version},
};

/// How long the L1 head may take to reach a block holding a proposal.
const HEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The gas of a zero-value self-transfer.
const CANCEL_GAS: u64 = 21_000;

/// Why a nonce's transaction is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Again {
    /// It waited its blocks in the pool: every fee raised by the pools' replacement minimum.
    Stuck,
    /// The L1's pool no longer has it: the same transaction, at the fees the L1 asks now if they are higher.
    Dropped,
    /// It is given up: a zero-value self-transfer replaces it, its fees raised as for [`Again::Stuck`].
    Cancel,
}

impl Again {
    fn label(self) -> &'static str {
        match self {
            Again::Stuck => "stuck",
            Again::Dropped => "dropped",
            Again::Cancel => "cancel",
        }
    }
}

/// What sending a nonce's transaction again came to.
enum Outcome {
    /// A transaction went out.
    Sent,
    /// The fees may not rise by the pools' minimum within the caps.
    Capped,
    /// Not now (the L1 did not answer, or would not take it; said in the log).
    Later,
    /// The proposal would revert on the head: its pre-flight's failure.
    Doomed(Box<PreflightFailure>),
}

/// How a followed nonce ended.
enum Settled {
    /// A proposal's transaction is in a block.
    Included { hash: B256, receipt: Box<alloy::rpc::types::TransactionReceipt> },
    /// The self-transfer took the nonce.
    Cancelled,
    /// A transaction the proposer did not sign took it.
    Taken,
    /// Nothing holds it and nothing is to be sent (a cancellation the L1's pool dropped).
    Gone,
    /// An L1 reorg took landed proposals before it off L1: they go first.
    Superseded,
}

impl L1TxRecord {
    /// A record of `signed`, the first transaction for its nonce, carrying proposal `proposal`.
    fn first(proposal: u64, signed: &Signed) -> Self {
        let version = L1Version { hash: signed.hash, fees: signed.fees, cancels: false };
        Self {
            nonce: signed.nonce,
            proposal,
            versions: vec![version],
            gas_limit: signed.gas_limit,
            blobs: signed.blobs,
        }
    }

    /// Adds `signed` as the nonce's newest transaction (once).
    fn push(&mut self, signed: &Signed, cancels: bool) {
        self.versions.retain(|v| v.hash != signed.hash);
        self.versions.push(L1Version { hash: signed.hash, fees: signed.fees, cancels });
    }
}

impl<N: NodeComponents, S: L1StateSource> Proposer<N, S> {
    pub(super) fn head_number(&self) -> u64 {
        self.heads.0.borrow().latest.map_or(0, |h| h.number)
    }

    /// The L1 head to pre-flight on: none while the L1 has not answered since the last head came (what the
    /// L1 runs on may be far past it, where a proposal that passes here reverts).
    fn fresh_head(&self) -> Result<surge_l1::L1Head, AttemptError> {
        let heads = *self.heads.0.borrow();
        match (heads.latest, heads.failing_since) {
            (_, Some(_)) => Err(other("the L1 does not answer: no head to pre-flight on".into())),
            (None, None) => Err(other("no L1 head yet".into())),
            (Some(head), None) => Ok(head),
        }
    }

    async fn nonce_state(&self, r: &L1TxRecord) -> Result<NonceState, String> {
        nonce_state(self.sender.client(), self.sender.address(), r.nonce, &r.hashes()).await.map_err(|e| e.to_string())
    }

    /// Writes `r` (its newest transaction encoded as `raw`) before that transaction goes out.
    async fn record(&self, r: &L1TxRecord, raw: alloy_primitives::Bytes) -> Result<(), AttemptError> {
        let (ledger, record) = (self.ledger.clone(), r.clone());
        tokio::task::spawn_blocking(move || ledger.record_l1_tx(record, raw))
            .await
            .map_err(|e| other(e.to_string()))?
            .map_err(|e| other(format!("recording L1 nonce {}: {e}", r.nonce)))
    }

    async fn forget(&self, nonce: u64) {
        let ledger = self.ledger.clone();
        let forgotten = tokio::task::spawn_blocking(move || ledger.forget_l1_tx(nonce)).await;
        if let Err(e) = forgotten.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            warn!(nonce, "proposer: forgetting the settled L1 nonce: {e}");
        }
    }

    /// Pre-flights `p` on the L1 head as it will be signed (its fee caps, and again at the gas limit it will
    /// carry), records it and sends it — at the nonce of its recorded transaction when one was signed before
    /// (an earlier attempt, or before a restart) — and follows it until it lands.
    pub(super) async fn submit(&self, mut p: Prepared) -> Result<Proposed, AttemptError> {
        let started = Instant::now();
        let recorded = self.ledger.l1_tx_of(p.record.id);
        if let Some(r) = recorded.clone() {
            match self.nonce_state(&r).await.map_err(other)? {
                NonceState::Included { .. } | NonceState::Pending { .. } => {
                    info!(proposal = p.record.id, nonce = r.nonce, "proposer: its transaction is out already");
                    return self.follow_proposal(p, r, None, started).await;
                }
                NonceState::Taken => {
                    self.forget(r.nonce).await;
                    return Err(other(format!(
                        "L1 nonce {} was taken by a transaction the proposer did not sign",
                        r.nonce
                    )));
                }
                NonceState::Open => {
                    info!(
                        proposal = p.record.id,
                        nonce = r.nonce,
                        "proposer: its recorded transaction is nowhere on L1; sending it at its nonce"
                    );
                }
            }
        }
        let head = self.fresh_head()?;
        let fees = self.sender.fees().await.map_err(|e| other(e.to_string()))?;
        let gas_limit = match self.gas_limit(&p, fees, head).await {
            Ok(gas_limit) => gas_limit,
            Err(e) => {
                // Its recorded transaction is nowhere: the nonce is free for what comes instead.
                if let (AttemptError::Preflight(_), Some(r)) = (&e, &recorded) {
                    self.forget(r.nonce).await;
                }
                return Err(e);
            }
        };
        p.times.preflight = started.elapsed();

        let started = Instant::now();
        // The L2 blocks it carries must survive a power cut once L1 may have them.
        let control = self.components.control().clone();
        tokio::task::spawn_blocking(move || control.persist())
            .await
            .map_err(|e| other(format!("making the L2 blocks durable: {e}")))?
            .map_err(|e| other(e.to_string()))?;
        let nonce = match &recorded {
            Some(r) => r.nonce,
            None => self.next_nonce().await?,
        };
        let signed = self.sender.sign(&p.tx, nonce, gas_limit, fees).map_err(|e| other(e.to_string()))?;
        failpoint("proposer.signed");
        let record = match recorded {
            Some(mut r) => {
                r.push(&signed, false);
                r.gas_limit = gas_limit;
                r
            }
            None => L1TxRecord::first(p.record.id, &signed),
        };
        self.record(&record, signed.raw.clone()).await?;
        failpoint("proposer.recorded");
        // A send that fails leaves the record: the next attempt finds the transaction where it is.
        self.sender.send(&signed).await.map_err(|e| other(e.to_string()))?;
        failpoint("proposer.sent");
        let blobs = p.assembled.request.blobs.len();
        info!(tx = %signed.hash, nonce, gas_limit, shape = ?p.shape, blobs, "proposal sent");
        let _ = self.events.send(ProposerEvent::Sent { id: p.record.id, tx: signed.hash });
        self.follow_proposal(p, record, None, started).await
    }

    /// The gas limit of `p` at `fees`: what its pre-flight on `head` needs before refunds plus the margin,
    /// checked at that limit too (the 63/64 rule of nested calls), with the margin doubled once if it falls
    /// short; or why it would revert.
    async fn gas_limit(&self, p: &Prepared, fees: surge_l1::Fees, head: surge_l1::L1Head) -> Result<u64, AttemptError> {
        let cap = self.config.sim.limits.tx_gas_cap;
        let exact = |gas_limit| ExactTx { from: self.sender.address(), tx: p.tx.clone(), gas_limit, fees };
        let needed = self.preflight(exact(cap), head).await?;
        let gas_limit = self.sender.gas_limit(needed).min(cap);
        if self.preflight(exact(gas_limit), head).await.is_ok() {
            return Ok(gas_limit);
        }
        let gas_limit = needed.saturating_mul(2).min(cap);
        self.preflight(exact(gas_limit), head).await.map(|_| gas_limit)
    }

    /// Follows proposal `p`'s nonce until it settles: the proposal on L1 (it then waits in the ledger for
    /// L1 finality, and its blocks turn `safe` once `confirmations` deep), reverted, or given up (`cancelled`
    /// holds why, when it already is).
    async fn follow_proposal(
        &self,
        mut p: Prepared,
        r: L1TxRecord,
        mut cancelled: Option<PreflightFailure>,
        started: Instant,
    ) -> Result<Proposed, AttemptError> {
        let nonce = r.nonce;
        let settled = self.follow(Some(&p), r, &mut cancelled).await;
        let (hash, receipt) = match settled {
            Settled::Included { hash, receipt } => (hash, receipt),
            Settled::Cancelled | Settled::Gone => {
                self.forget(nonce).await;
                let failure = cancelled.ok_or_else(|| other(format!("L1 nonce {nonce} was given up")))?;
                return Err(AttemptError::Preflight(Box::new(failure)));
            }
            Settled::Taken => {
                self.forget(nonce).await;
                return Err(other(format!("L1 nonce {nonce} was taken by a transaction the proposer did not sign")));
            }
            // Its transaction stays recorded: once the ones before it are on L1 again, it may land as it is.
            Settled::Superseded => return Err(other("an L1 reorg took earlier proposals off L1".into())),
        };
        p.times.include = started.elapsed();
        let l1_block = receipt.block_number.unwrap_or_default();
        if !receipt.status() {
            self.forget(nonce).await;
            // L1 refused what the pre-flight accepted (a race with other L1 transactions, a callback that
            // reads its environment): the replay says which leg, if any, did not do as planned.
            metrics::counter!("surge_proposal_l1_reverts_total").increment(1);
            let failure = self.replay(hash).await.map(Box::new);
            return Err(AttemptError::Reverted { tx: hash, l1_block, failure });
        }
        // The watcher simulates on L1 heads: the proposal leaves the in-flight bundles only once a head it
        // sees holds it.
        let mut heads = self.heads.0.clone();
        let reached = heads.wait_for(|h| h.latest.is_some_and(|l| l.number >= l1_block));
        if !tokio::time::timeout(HEAD_WAIT, reached).await.is_ok_and(|r| r.is_ok()) {
            warn!(l1_block, "proposer: the L1 head did not reach the proposal's block in time");
        }
        failpoint("proposer.included");
        let (ledger, id) = (self.ledger.clone(), p.record.id);
        let at = L1Inclusion { tx: hash, block: l1_block, hash: receipt.block_hash.unwrap_or_default() };
        tokio::task::spawn_blocking(move || ledger.landed(id, at)).await.map_err(|e| other(e.to_string()))?;
        failpoint("proposer.landed");
        let a = &p.assembled;
        info!(tx = %hash, l1_block, gas = receipt.gas_used, l2_txs = a.l2_txs, "proposal on L1");
        Ok(Proposed {
            id: p.record.id,
            l2_blocks: a.request.l2_blocks.clone(),
            last_block_hash: a.last_block().1,
            l2_txs: a.l2_txs,
            l1_tx: hash,
            l1_block,
            l1_gas_used: receipt.gas_used,
            blob_hashes: p.tx.blob_hashes(),
            blobs: a.request.blobs.clone(),
            payload_bytes: a.payload_bytes,
            shape: p.shape,
            times: p.times,
        })
    }

    /// Settles the recorded nonces no waiting proposal will pick up (their proposal left the ledger, or
    /// they were being given up when the node stopped): each ends included, taken, or given up with a
    /// self-transfer, so the next proposal's nonce follows without a gap.
    pub(super) async fn settle_orphans(&self) {
        let waiting: Vec<u64> = self.ledger.closed_proposals().iter().map(|p| p.id).collect();
        let landed: Vec<u64> = self.ledger.landed_proposals().iter().map(|p| p.id).collect();
        for mut r in self.ledger.l1_txs() {
            if landed.contains(&r.proposal) || (waiting.contains(&r.proposal) && !r.cancelled()) {
                continue;
            }
            let nonce = r.nonce;
            if self.next_nonce().await.is_ok_and(|free| free < nonce) {
                // Behind a nonce nobody holds (an L1 reorg dropped it): it cannot land before the next
                // proposal does, so it is given up now and settled after that one.
                if let Ok(NonceState::Pending { .. }) = self.nonce_state(&r).await
                    && !r.last().is_some_and(|v| v.cancels)
                {
                    self.again(None, &mut r, Again::Cancel).await;
                }
                continue;
            }
            info!(nonce, proposal = r.proposal, "proposer: settling a recorded L1 nonce");
            let mut why = None;
            match self.follow(None, r, &mut why).await {
                Settled::Included { hash, .. } => info!(nonce, %hash, "proposer: the recorded nonce is on L1"),
                Settled::Cancelled => info!(nonce, "proposer: the recorded nonce was given up"),
                Settled::Taken | Settled::Gone | Settled::Superseded => {}
            }
            self.forget(nonce).await;
        }
    }

    /// Follows the nonce of `r` on every L1 head (and every `receipt_poll` for its receipt) until it
    /// settles. A proposal (`p`) is sent again when the pool drops it, with raised fees when it waits
    /// `replace_after` blocks, and given up for a self-transfer when its pre-flight fails on a new head or
    /// the watcher finds it doomed (`cancelled` then holds why). Without `p` the nonce is given up at once.
    async fn follow(
        &self,
        p: Option<&Prepared>,
        mut r: L1TxRecord,
        cancelled: &mut Option<PreflightFailure>,
    ) -> Settled {
        let mut heads = self.heads.0.clone();
        let doomed = self.ledger.doomed();
        let mut since = self.head_number();
        let mut looked_at = None;
        let mut unanswered = false;
        let mut capped = false;
        let mut open_since = None;
        loop {
            let head = self.head_number();
            // The whole picture once per head; between heads only whether it is in a block.
            let whole = looked_at != Some(head);
            let state = if whole {
                self.nonce_state(&r).await.map(Some)
            } else {
                included_among(self.sender.client(), &r.hashes()).await.map_err(|e| e.to_string())
            };
            let state = match state {
                Ok(state) => {
                    looked_at = Some(head);
                    unanswered = false;
                    state
                }
                Err(e) => {
                    // The transaction is out: an L1 that does not answer for a while is no reason to act.
                    if !unanswered {
                        warn!(nonce = r.nonce, "proposer: where the L1 transaction is: {e}");
                    }
                    unanswered = true;
                    None
                }
            };
            if let Some(p) = p.filter(|_| whole) {
                if self.recheck_landed().await > 0 {
                    return Settled::Superseded;
                }
                self.advance_safe().await;
                if cancelled.is_none()
                    && let Some(failure) = self.anchor_gone(&p.record).await
                {
                    warn!(nonce = r.nonce, "proposer: {}; giving its nonce up", failure.reason);
                    *cancelled = Some(failure);
                }
            }
            match state {
                None => {}
                Some(NonceState::Included { hash, .. }) if r.is_cancellation(&hash) => return Settled::Cancelled,
                Some(NonceState::Included { hash, receipt }) => return Settled::Included { hash, receipt },
                Some(NonceState::Taken) => return Settled::Taken,
                // Nothing of it anywhere and nothing to send: given up, or no proposal to send.
                Some(NonceState::Open) if p.is_none() || r.cancelled() || cancelled.is_some() => return Settled::Gone,
                // Nowhere at one head: an L1 endpoint between its pool and its block may say so of a
                // transaction it is including. Dropped only when still nowhere at a later head.
                Some(NonceState::Open) if open_since.is_none_or(|at| at >= head) => {
                    open_since.get_or_insert(head);
                }
                Some(NonceState::Open) => {
                    // The pool dropped it (or it never reached it): again, at its nonce.
                    match self.again(p, &mut r, Again::Dropped).await {
                        Outcome::Sent => (since, open_since) = (head, None),
                        Outcome::Capped | Outcome::Later => {}
                        Outcome::Doomed(failure) => {
                            *cancelled = Some(*failure);
                            return Settled::Gone;
                        }
                    }
                }
                Some(NonceState::Pending { .. }) => {
                    open_since = None;
                    let giving_up = p.is_none() || cancelled.is_some();
                    let outcome = if giving_up && !r.last().is_some_and(|v| v.cancels) {
                        self.again(p, &mut r, Again::Cancel).await;
                        since = head;
                        Outcome::Later
                    } else if whole && head >= since + self.config.replace_after {
                        self.again(p, &mut r, Again::Stuck).await
                    } else {
                        Outcome::Later
                    };
                    match outcome {
                        Outcome::Sent => (since, capped) = (head, false),
                        Outcome::Capped => {
                            if !capped {
                                warn!(nonce = r.nonce, "proposer: stuck at the fee caps; waiting");
                                metrics::counter!("surge_proposer_fee_capped_total").increment(1);
                            }
                            capped = true;
                        }
                        Outcome::Doomed(failure) => {
                            *cancelled = Some(*failure);
                            self.again(p, &mut r, Again::Cancel).await;
                            since = head;
                        }
                        Outcome::Later => {}
                    }
                }
            }
            let flagged = p.filter(|_| cancelled.is_none()).map(|p| p.record.id);
            tokio::select! {
                biased;
                failure = doomed.wait_for(flagged.unwrap_or_default()), if flagged.is_some() => {
                    warn!(nonce = r.nonce, "proposer: the pending proposal is doomed; giving its nonce up");
                    *cancelled = Some(failure);
                    looked_at = None;
                }
                _ = heads.changed() => {}
                _ = tokio::time::sleep(self.config.receipt_poll) => {}
            }
        }
    }

    /// Sends the nonce's transaction again, for `why`: the proposal (pre-flighted on the head at the new
    /// fees) or the self-transfer giving it up (once it is given up, or when there is no proposal).
    async fn again(&self, p: Option<&Prepared>, r: &mut L1TxRecord, why: Again) -> Outcome {
        let Some(last) = r.last().cloned() else { return Outcome::Later };
        let market = match self.sender.fees().await {
            Ok(fees) => fees,
            // Giving up does not wait for the L1 to say its fees: the raise over the last one will do.
            Err(_) if why == Again::Cancel => last.fees,
            Err(e) => {
                warn!(nonce = r.nonce, "proposer: the L1's fees: {e}");
                return Outcome::Later;
            }
        };
        let minimum = last.fees.bumped(replacement_bump_percent(r.blobs));
        let fees = match why {
            Again::Stuck | Again::Cancel => self.sender.policy().capped(minimum.at_least(market)),
            Again::Dropped => last.fees.at_least(market),
        };
        if why == Again::Stuck && !fees.covers(&minimum) {
            return Outcome::Capped;
        }
        let cancels = last.cancels || why == Again::Cancel;
        let (tx, gas_limit) = match (p, cancels) {
            (Some(p), false) => {
                let Ok(head) = self.fresh_head() else { return Outcome::Later };
                let exact = ExactTx { from: self.sender.address(), tx: p.tx.clone(), gas_limit: r.gas_limit, fees };
                match self.preflight(exact, head).await {
                    Ok(_) => {}
                    Err(AttemptError::Preflight(failure)) => return Outcome::Doomed(failure),
                    Err(e) => {
                        warn!(nonce = r.nonce, "proposer: not sending again: {e}");
                        return Outcome::Later;
                    }
                }
                (p.tx.clone(), r.gas_limit)
            }
            _ => match self.sender.cancellation(r.blobs.then_some(self.config.protocol.cell_proofs)) {
                Ok(tx) => (tx, CANCEL_GAS),
                Err(e) => {
                    warn!(nonce = r.nonce, "proposer: the self-transfer: {e}");
                    return Outcome::Later;
                }
            },
        };
        let proposal = p.map(|p| p.record.id);
        if self.send_version(proposal, r, &tx, gas_limit, fees, cancels, why.label()).await {
            Outcome::Sent
        } else {
            Outcome::Later
        }
    }

    /// Signs `tx` for the nonce of `r`, records it as the nonce's newest transaction, and sends it; whether
    /// it went out.
    #[allow(clippy::too_many_arguments)]
    async fn send_version(
        &self,
        proposal: Option<u64>,
        r: &mut L1TxRecord,
        tx: &surge_l1::L1Transaction,
        gas_limit: u64,
        fees: surge_l1::Fees,
        cancels: bool,
        why: &'static str,
    ) -> bool {
        let replaced = r.last().map(|v| v.hash).unwrap_or_default();
        let signed = match self.sender.sign(tx, r.nonce, gas_limit, fees) {
            Ok(signed) => signed,
            Err(e) => {
                warn!(nonce = r.nonce, "proposer: {e}");
                return false;
            }
        };
        r.push(&signed, cancels);
        if let Err(e) = self.record(r, signed.raw.clone()).await {
            warn!(nonce = r.nonce, "proposer: {e}");
            return false;
        }
        if let Err(e) = self.sender.send(&signed).await {
            warn!(nonce = r.nonce, why, "proposer: sending again: {e}");
            return false;
        }
        metrics::counter!("surge_proposer_resends_total", "why" => why).increment(1);
        info!(nonce = r.nonce, %replaced, tx = %signed.hash, why, ?fees, "proposer: L1 transaction sent again");
        if let Some(id) = proposal {
            let event = ProposerEvent::Replaced { id, nonce: r.nonce, replaced, tx: signed.hash, why };
            let _ = self.events.send(event);
            if !cancels {
                let _ = self.events.send(ProposerEvent::Sent { id, tx: signed.hash });
            }
        }
        true
    }
}
