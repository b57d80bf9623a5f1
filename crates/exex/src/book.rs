//! The open proposal's plans, in bundle order. The bundle is append-only: a new plan goes after every
//! existing one (going ahead would shift the ids earlier users signed). When a plan leaves, or L1 moves,
//! the plans are replayed in order on a fresh base; one whose answer changed is dropped with the reason.

use std::collections::{HashMap, VecDeque};

use alloy_evm::EvmFactory;
use alloy_primitives::B256;
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan};

use crate::presim::{Candidate, PendingL2};

/// How many "no plan" reasons are kept (the oldest go first).
pub const KEPT_REASONS: usize = 10_000;

/// The plans of the open proposal and the state they were made on.
#[derive(Debug)]
pub struct PlanBook<S> {
    /// The open bundle before any plan (after the in-flight bundles).
    base: BundleSimulator,
    /// `base` with every plan's legs.
    bundle: BundleSimulator,
    /// The pending L2 state: the head and every planned transaction.
    pending: PendingL2<S>,
    entries: Vec<(Plan, Candidate)>,
    /// Transactions the open bundle had no room for, planned for the next proposal, in order.
    deferred: Vec<(Plan, Candidate)>,
    /// The next proposal's bundle: after `bundle`, with the deferred transactions' legs.
    next: BundleSimulator,
    reasons: HashMap<B256, NoPlan>,
    reason_order: VecDeque<B256>,
    /// Reasons given since [`PlanBook::take_recent_reasons`] was last called.
    recent: Vec<(B256, NoPlan)>,
}

impl<S> PlanBook<S>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    /// No plans yet: the open bundle starts at `base`, the pending state at `pending`.
    pub fn new(base: BundleSimulator, pending: PendingL2<S>) -> Self {
        Self {
            bundle: base.clone(),
            next: base.next_bundle(),
            base,
            pending,
            entries: vec![],
            deferred: vec![],
            reasons: HashMap::new(),
            reason_order: VecDeque::new(),
            recent: vec![],
        }
    }

    /// The plans in bundle order.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.entries.iter().map(|(p, _)| p)
    }

    /// The plan of `tx`.
    pub fn plan(&self, tx: &B256) -> Option<&Plan> {
        self.plans().find(|p| p.tx_hash == *tx)
    }

    /// Why `tx` has no plan, if it was considered and got none or lost it.
    pub fn reason(&self, tx: &B256) -> Option<&NoPlan> {
        self.reasons.get(tx)
    }

    /// The reasons given since the last call, in order.
    pub fn take_recent_reasons(&mut self) -> Vec<(B256, NoPlan)> {
        std::mem::take(&mut self.recent)
    }

    /// The open bundle before any plan.
    pub fn base(&self) -> &BundleSimulator {
        &self.base
    }

    /// The open bundle with every plan's legs.
    pub fn bundle(&self) -> &BundleSimulator {
        &self.bundle
    }

    /// The pending L2 state (the head and every planned transaction).
    pub fn pending(&self) -> &PendingL2<S> {
        &self.pending
    }

    /// What L1 would answer `candidate`'s messages at the end of the bundle, keeping nothing (phases (a)
    /// and (b): how an app learns the answer to embed). When the open bundle has no room, the answer is the
    /// one the next proposal will give, after the transactions deferred to it.
    pub fn answers<F>(&mut self, factory: &F, candidate: &Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        if !self.deferred.is_empty() {
            return self.pending.answers(factory, &self.next, candidate).map(|(plan, _)| plan);
        }
        match self.pending.answers(factory, &self.bundle, candidate) {
            Err(NoPlan::BundleGasBudget) => self.pending.answers(factory, &self.bundle.next_bundle(), candidate),
            other => other,
        }
        .map(|(plan, _)| plan)
    }

    /// The plans with their transactions, in bundle order.
    pub fn entries(&self) -> impl Iterator<Item = (&Plan, &Candidate)> {
        self.entries.iter().map(|(p, c)| (p, c))
    }

    /// The transactions deferred to the next proposal, in order.
    pub fn deferred(&self) -> impl Iterator<Item = &Plan> {
        self.deferred.iter().map(|(p, _)| p)
    }

    /// The open proposal closes and the next opens: its plans are returned (they are on their way to L1,
    /// ahead of the new bundle), the new bundle starts after them, the pending L2 state is `pending` (the
    /// head, which holds the closed proposal's blocks), and the deferred transactions are considered again
    /// in order.
    pub fn open_next<F>(&mut self, factory: &F, pending: PendingL2<S>) -> Vec<Plan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let closed = std::mem::take(&mut self.entries).into_iter().map(|(p, _)| p).collect();
        self.base = self.bundle.next_bundle();
        self.bundle = self.base.clone();
        self.pending = pending;
        for (_, candidate) in std::mem::take(&mut self.deferred) {
            let _ = self.consider(factory, candidate);
        }
        closed
    }

    /// Pre-simulates `candidate` at the end of the bundle; a plan is appended, a refusal remembered.
    pub fn consider<F>(&mut self, factory: &F, candidate: Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let started = std::time::Instant::now();
        let result = self.try_append(factory, candidate.clone());
        metrics::histogram!("surge_presim_seconds").record(started.elapsed().as_secs_f64());
        match &result {
            Ok(plan) => tracing::info!(
                tx = %plan.tx_hash,
                messages = plan.messages.len(),
                answers = plan.slots().count(),
                "txpool watcher: planned"
            ),
            Err(reason) => {
                tracing::debug!(tx = %candidate.hash, %reason, "txpool watcher: no plan");
                self.remember(candidate.hash, reason.clone());
            }
        }
        result
    }

    fn try_append<F>(&mut self, factory: &F, candidate: Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        // Once one transaction waits for the next proposal, every later one does: none may go ahead of it.
        if !self.deferred.is_empty() {
            return Err(self.defer(factory, candidate));
        }
        let (plan, bundle) = match self.pending.presimulate(factory, &self.bundle, &candidate) {
            Err(NoPlan::BundleGasBudget) => {
                self.next = self.bundle.next_bundle();
                return Err(self.defer(factory, candidate));
            }
            other => other?,
        };
        let slots: Vec<B256> = plan.slots().collect();
        match self.pending.apply(factory, &candidate.tx, &slots) {
            Ok(true) => {}
            Ok(false) => return Err(NoPlan::Reverts("it fails when applied to the pending state".into())),
            Err(e) => return Err(NoPlan::Reverts(e)),
        }
        self.bundle = bundle;
        self.entries.push((plan.clone(), candidate));
        Ok(plan)
    }

    /// No room in the open bundle: if `candidate` completes at the start of the next proposal (after the
    /// transactions deferred before it), it waits for it there.
    fn defer<F>(&mut self, factory: &F, candidate: Candidate) -> NoPlan
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        match self.pending.presimulate(factory, &self.next, &candidate) {
            Ok((plan, next)) => {
                // It runs on L2 before anything planned after it: later transactions see its effects.
                let slots: Vec<B256> = plan.slots().collect();
                match self.pending.apply(factory, &candidate.tx, &slots) {
                    Ok(true) => {}
                    Ok(false) => return NoPlan::Reverts("it fails when applied to the pending state".into()),
                    Err(e) => return NoPlan::Reverts(e),
                }
                self.next = next;
                self.deferred.push((plan, candidate));
                NoPlan::BundleGasBudget
            }
            Err(why) => why,
        }
    }

    /// Removes `tx`'s plan for `reason` and replays the later ones on `pending` (the head, fresh); those
    /// whose answer changed are dropped with `earlier plan dropped`. Returns every drop.
    pub fn drop_plan<F>(&mut self, factory: &F, tx: &B256, reason: NoPlan, pending: PendingL2<S>) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let Some(at) = self.entries.iter().position(|(p, _)| p.tx_hash == *tx) else { return vec![] };
        let mut entries = std::mem::take(&mut self.entries);
        entries.remove(at);
        tracing::info!(%tx, %reason, "txpool watcher: plan dropped");
        self.remember(*tx, reason.clone());
        let mut dropped = vec![(*tx, reason)];
        dropped.extend(self.replay(factory, self.base.clone(), pending, entries, true));
        dropped
    }

    /// L1 moved (or the in-flight bundles changed): replays every plan on the new `base` and `pending`
    /// state. The first plan whose answer changed is dropped with `answer changed on L1`; after a drop,
    /// later plans that changed get `earlier plan dropped`.
    pub fn rebase<F>(&mut self, factory: &F, base: BundleSimulator, pending: PendingL2<S>) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let entries = std::mem::take(&mut self.entries);
        self.replay(factory, base, pending, entries, false)
    }

    fn replay<F>(
        &mut self,
        factory: &F,
        base: BundleSimulator,
        pending: PendingL2<S>,
        entries: Vec<(Plan, Candidate)>,
        mut after_drop: bool,
    ) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        self.bundle = base.clone();
        self.base = base;
        self.pending = pending;
        let deferred = std::mem::take(&mut self.deferred);
        let mut dropped = vec![];
        for (_, candidate) in entries {
            let hash = candidate.hash;
            if let Err(why) = self.try_append(factory, candidate) {
                let reason = match why {
                    NoPlan::BundleGasBudget | NoPlan::L1Unavailable(_) => why,
                    _ if after_drop => NoPlan::EarlierPlanDropped,
                    _ => NoPlan::AnswerChanged,
                };
                after_drop = true;
                tracing::info!(tx = %hash, %reason, "txpool watcher: plan dropped");
                self.remember(hash, reason.clone());
                dropped.push((hash, reason));
            }
        }
        // The deferred transactions again, in order, at the start of the next proposal.
        if self.deferred.is_empty() {
            self.next = self.bundle.next_bundle();
        }
        for (_, candidate) in deferred {
            let hash = candidate.hash;
            match self.defer(factory, candidate) {
                NoPlan::BundleGasBudget => {}
                why => {
                    let reason = if after_drop { NoPlan::EarlierPlanDropped } else { why };
                    self.remember(hash, reason.clone());
                    dropped.push((hash, reason));
                }
            }
        }
        dropped
    }

    fn remember(&mut self, tx: B256, reason: NoPlan) {
        metrics::counter!("surge_plans_dropped_total", "reason" => reason.label()).increment(1);
        self.recent.push((tx, reason.clone()));
        if self.reasons.insert(tx, reason).is_none() {
            self.reason_order.push_back(tx);
        }
        while self.reason_order.len() > KEPT_REASONS {
            if let Some(old) = self.reason_order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }
}
