//! The txpool watcher's core: what happens to the plans when a transaction arrives, a pool event comes,
//! the L2 head moves or the L1 head moves. It runs on one thread of its own (the plan book holds the
//! state the simulations run on); [`PlannerHandle`] is the side other extensions read.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use alloy_evm::{EvmFactory, FromRecoveredTx};
use alloy_primitives::{Address, B256};
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
};
use surge_interfaces::{PoolEvent, PooledTx, ReplacementGuard};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan, Planner};

use crate::{
    book::{KEPT_REASONS, PlanBook},
    presim::{Candidate, PendingL2},
};

/// The planner's plans and reasons as other extensions read them.
#[derive(Debug, Default)]
pub struct PlannerHandle {
    inner: RwLock<Published>,
}

#[derive(Debug, Default)]
struct Published {
    plans: Vec<Plan>,
    reasons: HashMap<B256, NoPlan>,
    order: VecDeque<B256>,
}

impl PlannerHandle {
    /// Records that `tx` gets no plan, for a reason found outside the plan book (the queue was full, no
    /// L1 block to plan on).
    pub fn refuse(&self, tx: B256, reason: NoPlan) {
        metrics::counter!("surge_plans_dropped_total", "reason" => reason.label()).increment(1);
        let plans = self.plans();
        self.publish(plans, vec![(tx, reason)]);
    }

    fn publish(&self, plans: Vec<Plan>, reasons: Vec<(B256, NoPlan)>) {
        let mut p = self.inner.write().unwrap_or_else(|e| e.into_inner());
        p.plans = plans;
        for (tx, reason) in reasons {
            if p.reasons.insert(tx, reason).is_none() {
                p.order.push_back(tx);
            }
        }
        // Planned again after a drop: the reason no longer holds.
        let planned: Vec<B256> = p.plans.iter().map(|plan| plan.tx_hash).collect();
        for tx in planned {
            p.reasons.remove(&tx);
        }
        while p.order.len() > KEPT_REASONS {
            if let Some(old) = p.order.pop_front() {
                p.reasons.remove(&old);
            }
        }
    }
}

/// The pool asks before replacing a transaction: a planned one with a later plan of another sender behind
/// it stays (replacing it would shift the answers that sender signed).
impl ReplacementGuard for PlannerHandle {
    fn may_replace(&self, old: &PooledTx) -> Result<(), String> {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let Some(at) = p.plans.iter().position(|plan| plan.tx_hash == old.hash) else { return Ok(()) };
        match p.plans[at + 1..].iter().find(|later| later.sender != old.sender) {
            Some(later) => Err(format!(
                "transaction {} is planned and the plan of {} (sender {}) depends on it",
                old.hash, later.tx_hash, later.sender
            )),
            None => Ok(()),
        }
    }
}

impl Planner for PlannerHandle {
    fn plan(&self, tx: &B256) -> Option<Plan> {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        p.plans.iter().find(|plan| plan.tx_hash == *tx).cloned()
    }

    fn no_plan_reason(&self, tx: &B256) -> Option<NoPlan> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).reasons.get(tx).cloned()
    }

    fn plans(&self) -> Vec<Plan> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).plans.clone()
    }
}

/// The watcher's state and its reactions, single-threaded.
#[derive(Debug)]
pub struct WatcherCore<S, F> {
    factory: F,
    book: PlanBook<S>,
    /// Transactions waiting for an earlier nonce of their sender, by sender and nonce.
    waiting: HashMap<Address, BTreeMap<u64, Candidate>>,
    handle: Arc<PlannerHandle>,
}

impl<S, F> WatcherCore<S, F>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
{
    /// A watcher planning into the bundle `base` on the pending state `pending`.
    pub fn new(factory: F, base: BundleSimulator, pending: PendingL2<S>, handle: Arc<PlannerHandle>) -> Self {
        Self { factory, book: PlanBook::new(base, pending), waiting: HashMap::new(), handle }
    }

    /// The plan book.
    pub fn book(&self) -> &PlanBook<S> {
        &self.book
    }

    /// What L1 would answer `candidate`'s messages at the end of the current bundle, keeping nothing.
    pub fn answers(&mut self, candidate: &Candidate) -> Result<Plan, NoPlan> {
        self.book.answers(&self.factory, candidate)
    }

    /// A transaction was admitted. It is considered when its nonce is its sender's next one on the pending
    /// state; a later one waits for the earlier; an older one (already on the chain) is ignored.
    pub fn on_transaction(&mut self, tx: &PooledTx) {
        let candidate = Candidate {
            hash: tx.hash,
            sender: tx.sender,
            nonce: tx.nonce,
            tx: TxEnv::from_recovered_tx(&tx.tx, tx.sender),
        };
        self.waiting.entry(tx.sender).or_default().insert(tx.nonce, candidate);
        self.run_ready(tx.sender);
        self.publish();
    }

    /// A pool lifecycle event: a planned transaction that is replaced, discarded, found invalid or mined
    /// loses its plan (mined: until blocks carry plans, without its slots), and the plans behind it are
    /// replayed on `pending` (the head, fresh).
    pub fn on_pool_event(&mut self, event: &PoolEvent, pending: impl FnOnce() -> Option<PendingL2<S>>) {
        let reason = match event {
            PoolEvent::Replaced { .. } => NoPlan::Replaced,
            PoolEvent::Discarded(_) | PoolEvent::Invalid { .. } => NoPlan::Discarded,
            PoolEvent::Mined { .. } => NoPlan::MinedWithoutSlots,
            PoolEvent::Pending(_) | PoolEvent::Queued(_) => return,
        };
        let tx = event.hash();
        self.forget_waiting(&tx);
        let Some(sender) = self.book.plan(&tx).map(|p| p.sender) else { return };
        let Some(pending) = pending() else { return };
        self.book.drop_plan(&self.factory, &tx, reason, pending);
        // A replacement waiting for this event is its sender's next transaction now.
        self.run_ready(sender);
        self.publish();
    }

    /// The L2 head moved: the plans are replayed on the new head's pending state, and waiting
    /// transactions whose turn came are considered.
    pub fn on_l2_head(&mut self, pending: PendingL2<S>) {
        let base = self.book.base().clone();
        self.book.rebase(&self.factory, base, pending);
        let senders: Vec<Address> = self.waiting.keys().copied().collect();
        for sender in senders {
            self.run_ready(sender);
        }
        self.publish();
    }

    /// L1 moved: every plan is re-checked on the new bundle `base` (dropped with `answer changed on L1`
    /// when its answer changed).
    pub fn on_l1_head(&mut self, base: BundleSimulator, pending: PendingL2<S>) {
        self.book.rebase(&self.factory, base, pending);
        self.publish();
    }

    /// Considers `sender`'s waiting transactions while the next one is its turn.
    fn run_ready(&mut self, sender: Address) {
        loop {
            let Ok(next) = self.book.pending().nonce(sender) else { return };
            // A replacement of a planned transaction waits for the pool's `Replaced` event.
            let planned: Vec<u64> = self.book.plans().filter(|p| p.sender == sender).map(|p| p.nonce).collect();
            let Some(queue) = self.waiting.get_mut(&sender) else { return };
            // Transactions the chain has passed by.
            queue.retain(|n, _| *n >= next || planned.contains(n));
            let Some(candidate) = queue.remove(&next) else { break };
            // Planned, or deferred to the next proposal: either way on the pending state, so the sender's
            // next transaction's turn comes; otherwise later ones wait for the chain.
            if !matches!(self.book.consider(&self.factory, candidate), Ok(_) | Err(NoPlan::BundleGasBudget)) {
                break;
            }
        }
        if self.waiting.get(&sender).is_some_and(BTreeMap::is_empty) {
            self.waiting.remove(&sender);
        }
    }

    fn forget_waiting(&mut self, tx: &B256) {
        for queue in self.waiting.values_mut() {
            queue.retain(|_, c| c.hash != *tx);
        }
    }

    fn publish(&mut self) {
        metrics::gauge!("surge_watcher_plans").set(self.book.plans().count() as f64);
        let reasons = self.book.take_recent_reasons();
        self.handle.publish(self.book.plans().cloned().collect(), reasons);
    }
}
