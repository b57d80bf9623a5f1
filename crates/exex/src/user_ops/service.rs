//! Taking user ops from the RPC ([`UserOpSink`]): an op is checked at once where it would run — at the end
//! of the bundle the watcher last published, after the same wallet's waiting ops — on a blocking thread,
//! a few at a time; only one that passes gets an id and is queued, durably, in the ledger.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes};
use surge_primitives::user_op::UserOpBatch;
use surge_sync::{Submitted, UserOpRejected, UserOpSink};
use tokio::sync::Semaphore;

use super::{Submission, UserOpRecord, UserOpRefusal, UserOpTerms, check};
use crate::{ledger::Ledger, published::PublishedPlans};

/// Checks running at once (each holds a blocking thread).
const CONCURRENT_CHECKS: usize = 2;
/// How long a check waits for the watcher to take in the newest L1 head.
const BASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// The node's user-op intake.
#[derive(Debug)]
pub struct UserOpService {
    ledger: Arc<Ledger>,
    plans: Arc<PublishedPlans>,
    terms: UserOpTerms,
    /// Slots one anchor carries at most.
    max_slots: usize,
    checks: Semaphore,
    /// The L1 heads the node follows: an op is checked on the newest it has seen.
    heads: surge_l1::HeadWatch,
}

impl UserOpService {
    /// Takes ops into `ledger` on the terms `terms`, checking them on what the watcher publishes in `plans`;
    /// an op's messages must fit one anchor's `max_slots`.
    pub fn new(
        ledger: Arc<Ledger>,
        (plans, heads): (Arc<PublishedPlans>, surge_l1::HeadWatch),
        terms: UserOpTerms,
        max_slots: usize,
    ) -> Self {
        Self { ledger, plans, terms, max_slots, checks: Semaphore::new(CONCURRENT_CHECKS), heads }
    }

    /// Checks the op and queues it: its id, or why not.
    pub async fn submit_op(&self, submitter: Address, calldata: Bytes) -> Result<u64, UserOpRefusal> {
        let terms = self.terms;
        if terms.factory.is_zero() {
            return Err(UserOpRefusal::Off);
        }
        let batch = UserOpBatch::decode(&calldata)?;
        if let Some(why) = self.plans.l1_down() {
            return Err(UserOpRefusal::Unavailable(why));
        }
        let waiting = self.ledger.waiting_ops();
        if waiting.len() >= terms.max_queued {
            return Err(UserOpRefusal::QueueFull(waiting.len()));
        }
        // Checked on the newest L1 block the node has seen (a wallet funded there has its funds), once the
        // watcher has taken it in.
        let head = self.heads.0.borrow().latest.map_or(0, |h| h.number);
        let base = self
            .plans
            .answer_base_at(head, BASE_PATIENCE)
            .await
            .ok_or_else(|| UserOpRefusal::Unavailable("no L1 block to check it on yet".into()))?;
        let _permit =
            self.checks.acquire().await.map_err(|_| UserOpRefusal::Unavailable("the node is stopping".into()))?;
        let max_slots = self.max_slots;
        let checked = tokio::task::spawn_blocking(move || {
            let mut bundle = base.bundle.next_bundle();
            // Decided before the wallet's waiting ops run: every op of a new owner deploys the wallet (the
            // factory does it once), so none depends on an earlier one being kept.
            let creates_for = check::wallet_owner(&bundle, &batch, submitter, &terms)?;
            let l2_base_fee = base.pending.base_fee();
            // The wallet's waiting ops go first: a nonce they use is used.
            for earlier in waiting.iter().filter(|op| op.submitter == submitter) {
                let _ = check::place(&mut bundle, earlier, &terms, l2_base_fee, max_slots);
            }
            let record =
                UserOpRecord { id: 0, submitter, calldata, creates_for, batch_nonce: batch.nonce, submitted_at: 0 };
            check::place(&mut bundle, &record, &terms, l2_base_fee, max_slots)?;
            Ok::<_, UserOpRefusal>(Submission {
                submitter,
                calldata: record.calldata,
                creates_for,
                batch_nonce: batch.nonce,
            })
        })
        .await
        .map_err(|e| UserOpRefusal::Unavailable(format!("checking it failed: {e}")))??;
        let ledger = self.ledger.clone();
        let max_queued = terms.max_queued;
        tokio::task::spawn_blocking(move || ledger.submit_op(checked, max_queued))
            .await
            .map_err(|e| UserOpRefusal::Unavailable(format!("queueing it failed: {e}")))?
    }
}

impl UserOpSink for UserOpService {
    fn submit(&self, submitter: Address, calldata: Bytes) -> Submitted<'_> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.submit_op(submitter, calldata).await;
            metrics::histogram!("surge_user_op_check_seconds").record(started.elapsed().as_secs_f64());
            let outcome = if result.is_ok() { "queued" } else { "refused" };
            metrics::counter!("surge_user_ops_submitted_total", "outcome" => outcome).increment(1);
            result.map_err(|e| UserOpRejected {
                busy: matches!(e, UserOpRefusal::QueueFull(_) | UserOpRefusal::Unavailable(_)),
                reason: e.to_string(),
            })
        })
    }
}
