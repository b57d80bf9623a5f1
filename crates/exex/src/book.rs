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
            base,
            pending,
            entries: vec![],
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
    /// and (b): how an app learns the answer to embed).
    pub fn answers<F>(&mut self, factory: &F, candidate: &Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        self.pending.answers(factory, &self.bundle, candidate).map(|(plan, _)| plan)
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
        let (plan, bundle) = self.pending.presimulate(factory, &self.bundle, &candidate)?;
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
