//! The open proposal's plans, in bundle order. The bundle is append-only: a new plan goes after every
//! existing one (going ahead would shift the ids earlier users signed). When a plan leaves, or L1 moves,
//! the plans are replayed in order on a fresh base; one whose answer changed is dropped with the reason.
//! A transaction the bundle has no room for waits for the next proposal, and every later one after it.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use alloy_evm::EvmFactory;
use alloy_primitives::{Address, B256};
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan};

mod incremental;
mod ops;

use crate::{
    cooldown::CoolDowns,
    presim::{Candidate, PendingL2, PendingSnapshot},
    reuse::Replayable,
};

/// The reason a transaction gets when its sender's earlier one, carried ahead of it, cannot run.
fn earlier_failed(earlier: &Candidate, why: &str) -> NoPlan {
    NoPlan::Reverts(format!(
        "its sender's earlier transaction {} (nonce {}) cannot run: {why}",
        earlier.hash, earlier.nonce
    ))
}

/// What the watcher publishes for simulations elsewhere: the bundle a new transaction's legs would go at
/// the end of, and the pending L2 state it would run on.
#[derive(Debug, Clone)]
pub struct AnswerBase {
    /// The pending L2 state: the head with every planned and deferred transaction.
    pub pending: PendingSnapshot,
    /// The open bundle with every plan's legs, or the next proposal's when transactions wait for it.
    pub bundle: BundleSimulator,
    /// Whether transactions wait for the next proposal (then `bundle` is its bundle, and a new one goes
    /// after them).
    pub deferred: bool,
}

/// What L1 would answer `candidate`'s messages at the end of `bundle`, on `pending` after `prefix` (its
/// sender's earlier transactions, not planned), keeping nothing (phases (a) and (b), run as a call: how an
/// app learns the answer to embed). With transactions `deferred` to the next proposal, `bundle` is that
/// proposal's; otherwise an open bundle with no room answers as the next proposal will.
pub fn answer_on<S, F>(
    pending: &PendingL2<S>,
    factory: &F,
    bundle: &BundleSimulator,
    deferred: bool,
    prefix: &[Candidate],
    candidate: &Candidate,
) -> Result<Plan, NoPlan>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
{
    let mut layer = pending.layer();
    for earlier in prefix {
        // A caller that gave up stops here too (the prefix runs without a tracer to check it).
        if surge_sync::abort::requested() {
            return Err(NoPlan::Reverts("the simulation was cancelled".into()));
        }
        // One that cannot run now is not ahead of the call either.
        if layer.carry(factory, &earlier.tx).is_err() {
            break;
        }
    }
    match layer.answers_to_call(factory, bundle, candidate) {
        Err(NoPlan::BundleGasBudget) if !deferred => layer.answers_to_call(factory, &bundle.next_bundle(), candidate),
        other => other,
    }
    .map(|(plan, _)| plan)
}

/// How many "no plan" reasons are kept (the oldest go first).
pub const KEPT_REASONS: usize = 10_000;

/// What moved under the plans when they are replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The L1 head (or the in-flight bundles): a plan whose answer changed gets `answer changed on L1`.
    L1,
    /// The L2 head: a plan keeps the reason it fails with.
    L2,
}

/// The plans of the open proposal and the state they were made on.
#[derive(Debug)]
pub struct PlanBook<S> {
    /// The open bundle before any plan (after the in-flight bundles and the book's user ops).
    base: BundleSimulator,
    /// `base` with every plan's legs.
    bundle: BundleSimulator,
    /// The next proposal's bundle: after `bundle`, with the deferred transactions' legs.
    next: BundleSimulator,
    /// The pending L2 state: the head, every planned and every deferred transaction.
    pending: PendingL2<S>,
    entries: Vec<(Plan, Candidate)>,
    /// Transactions the open bundle had no room for, planned for the next proposal, in order.
    deferred: Vec<(Plan, Candidate)>,
    reasons: HashMap<B256, NoPlan>,
    reason_order: VecDeque<B256>,
    /// Reasons given since [`PlanBook::take_recent_reasons`] was last called.
    recent: Vec<(B256, NoPlan)>,
    /// Transactions that lost their plan in a replay; they may get one again later.
    released: Vec<Candidate>,
    /// Counts the changes of `pending`: what was computed on it is good while this stays.
    version: u64,
    /// Counts the changes of the bundles that leave `pending` as it is (an L1 move taken incrementally).
    revision: u64,
    /// Full replays so far (every plan run again on L2 and L1).
    replays: u64,
    /// Each plan's last run on the pending state, when it can be committed again without running.
    runs: HashMap<B256, Replayable>,
    /// Runs committed again without running, so far.
    reused: u64,
    /// Senders and L1 contracts not planned for a while.
    cooldowns: Arc<CoolDowns>,
    /// The user ops at the start of the open bundle (part of `base`), in order, as submitted and as placed.
    ops: Vec<(crate::user_ops::UserOpRecord, crate::user_ops::PlacedOp)>,
    /// How user ops are placed; `None` takes none.
    op_rules: Option<crate::user_ops::OpRules>,
    /// User ops that left the book unplaced since the watcher last took them.
    dropped_ops: Vec<crate::user_ops::OpDropped>,
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
            released: vec![],
            version: 0,
            revision: 0,
            replays: 0,
            runs: HashMap::new(),
            reused: 0,
            cooldowns: Arc::default(),
            ops: vec![],
            op_rules: None,
            dropped_ops: vec![],
        }
    }

    /// Refuses plans to the senders and L1 contracts `cooldowns` holds back.
    pub fn with_cooldowns(mut self, cooldowns: Arc<CoolDowns>) -> Self {
        self.cooldowns = cooldowns;
        self
    }

    /// Which pending state this is: it changes whenever a transaction is added to it or it is replaced.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Which state this is, pending and bundles: it changes whenever either does.
    pub fn revision(&self) -> (u64, u64) {
        (self.version, self.revision)
    }

    /// How many times every plan was run again on L2 and L1 (a move an incremental replay could not take).
    pub fn full_replays(&self) -> u64 {
        self.replays
    }

    /// How many planned transactions' runs were committed again without running (an L2 block that changed
    /// nothing they read).
    pub fn reused_runs(&self) -> u64 {
        self.reused
    }

    /// `tx` was found plain (it sends nothing to L1) ahead of a planning: remembered as such.
    pub fn note_plain(&mut self, tx: B256) {
        self.remember(tx, NoPlan::NoOutboundMessage);
    }

    /// The plans in bundle order.
    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.entries.iter().map(|(p, _)| p)
    }

    /// The plans with their transactions, in bundle order.
    pub fn entries(&self) -> impl Iterator<Item = (&Plan, &Candidate)> {
        self.entries.iter().map(|(p, c)| (p, c))
    }

    /// The transactions deferred to the next proposal, in order.
    pub fn deferred(&self) -> impl Iterator<Item = &Plan> {
        self.deferred.iter().map(|(p, _)| p)
    }

    /// The plan of `tx`.
    pub fn plan(&self, tx: &B256) -> Option<&Plan> {
        self.plans().find(|p| p.tx_hash == *tx)
    }

    /// The sender of `tx` if it is planned or deferred.
    pub fn holder(&self, tx: &B256) -> Option<Address> {
        self.entries.iter().chain(&self.deferred).find(|(p, _)| p.tx_hash == *tx).map(|(p, _)| p.sender)
    }

    /// The nonces of `sender`'s planned and deferred transactions.
    pub fn held_nonces(&self, sender: Address) -> Vec<u64> {
        self.entries.iter().chain(&self.deferred).filter(|(p, _)| p.sender == sender).map(|(p, _)| p.nonce).collect()
    }

    /// Why `tx` has no plan, if it was considered and got none or lost it.
    pub fn reason(&self, tx: &B256) -> Option<&NoPlan> {
        self.reasons.get(tx)
    }

    /// The reasons given since the last call, in order.
    pub fn take_recent_reasons(&mut self) -> Vec<(B256, NoPlan)> {
        std::mem::take(&mut self.recent)
    }

    /// The transactions that lost their plan in a replay since the last call.
    pub fn take_released(&mut self) -> Vec<Candidate> {
        std::mem::take(&mut self.released)
    }

    /// The open bundle before any plan (its user ops in).
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

    /// What L1 would answer `candidate`'s messages at the end of the bundle, after `prefix` (its sender's
    /// earlier transactions, not planned), keeping nothing ([`answer_on`] on this book).
    pub fn answers<F>(&self, factory: &F, prefix: &[Candidate], candidate: &Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let (bundle, deferred) = self.open_end();
        answer_on(&self.pending, factory, bundle, deferred, prefix, candidate)
    }

    /// Where a new transaction's legs go: the open bundle, or the next proposal's once transactions wait
    /// for it (and whether they do).
    fn open_end(&self) -> (&BundleSimulator, bool) {
        if self.deferred.is_empty() { (&self.bundle, false) } else { (&self.next, true) }
    }

    /// What simulations on other threads answer on: the pending state and where a new transaction's legs
    /// go, as plain data.
    pub fn answer_base(&self) -> AnswerBase {
        let (bundle, deferred) = self.open_end();
        AnswerBase { pending: self.pending.snapshot(), bundle: bundle.clone(), deferred }
    }

    /// Pre-simulates `candidate` at the end of the bundle after `prefix`, its sender's earlier
    /// transactions that are not planned (from its next nonce on the pending state, in order); a plan is
    /// appended with the prefix carried ahead of it (planned without messages: the builder places them
    /// first), a refusal remembered (a deferral too: `bundle gas budget`).
    pub fn consider<F>(&mut self, factory: &F, prefix: &[Candidate], candidate: Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let started = std::time::Instant::now();
        let hash = candidate.hash;
        let result = self.try_append(factory, prefix, candidate);
        metrics::histogram!("surge_presim_seconds").record(started.elapsed().as_secs_f64());
        match &result {
            Ok(plan) => tracing::info!(
                tx = %plan.tx_hash,
                messages = plan.messages.len(),
                answers = plan.slots().count(),
                "txpool watcher: planned"
            ),
            // A plain transaction: nothing to remember beyond its reason.
            Err(reason) => {
                tracing::debug!(tx = %hash, %reason, "txpool watcher: no plan");
                self.remember(hash, reason.clone());
            }
        }
        result
    }

    /// Tries again a transaction that lost its plan in a replay: a plan is appended; a failure is
    /// remembered with its own reason (why it can no longer be planned: its answer taken, say).
    pub fn retry<F>(&mut self, factory: &F, prefix: &[Candidate], candidate: Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let hash = candidate.hash;
        let result = self.try_append(factory, prefix, candidate);
        match &result {
            Ok(plan) => tracing::info!(tx = %plan.tx_hash, "txpool watcher: planned again"),
            Err(NoPlan::BundleGasBudget) => {}
            Err(reason) => self.remember(hash, reason.clone()),
        }
        result
    }

    /// The answers other plans hold: an embedded one of these is `answer already taken`.
    fn taken(&self) -> Vec<B256> {
        self.entries
            .iter()
            .chain(&self.deferred)
            .flat_map(|(p, _)| p.messages.iter().flat_map(|m| m.answers.iter().map(|a| a.hash)))
            .collect()
    }

    fn try_append<F>(&mut self, factory: &F, prefix: &[Candidate], candidate: Candidate) -> Result<Plan, NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let now = crate::ledger::now();
        if let Some(reason) = self.cooldowns.refusal(candidate.sender, [], now) {
            return Err(NoPlan::CooledDown(reason));
        }
        // Once one transaction waits for the next proposal, every later one does: none may go ahead of it.
        if !self.deferred.is_empty() {
            return Err(self.defer(factory, prefix, candidate));
        }
        let taken = self.taken();
        let (plan, bundle) = match self.presimulate_after(factory, &self.bundle, prefix, &candidate, &taken) {
            Err(NoPlan::BundleGasBudget) => {
                self.next = self.bundle.next_bundle();
                return Err(self.defer(factory, prefix, candidate));
            }
            other => other?,
        };
        let targets = plan.messages.iter().map(|m| m.message.to);
        if let Some(reason) = self.cooldowns.refusal(candidate.sender, targets, now) {
            return Err(NoPlan::CooledDown(reason));
        }
        // The proposer pays each leg on L1: a message must pay at least that.
        if let Some(m) = plan.messages.iter().find(|m| m.message.fee < m.min_fee) {
            return Err(NoPlan::FeeBelowL1Cost { message: m.hash, fee: m.message.fee, min: m.min_fee });
        }
        self.carry_all(factory, prefix, false)?;
        self.apply(factory, &plan, &candidate)?;
        self.bundle = bundle;
        self.entries.push((plan.clone(), candidate));
        Ok(plan)
    }

    /// Pre-simulates `candidate` on the pending state after `prefix` (run on a scratch layer, kept
    /// nowhere), its legs at the end of `bundle`.
    fn presimulate_after<F>(
        &self,
        factory: &F,
        bundle: &BundleSimulator,
        prefix: &[Candidate],
        candidate: &Candidate,
        taken: &[B256],
    ) -> Result<(Plan, BundleSimulator), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let mut layer = self.pending.layer();
        for earlier in prefix {
            layer.carry(factory, &earlier.tx).map_err(|e| earlier_failed(earlier, &e))?;
        }
        layer.presimulate(factory, bundle, candidate, taken)
    }

    /// Carries `prefix` into the book ahead of the plan that needs it: each runs on the pending state and
    /// is planned without messages, in the open bundle's plans or (`deferred`) the next proposal's.
    fn carry_all<F>(&mut self, factory: &F, prefix: &[Candidate], deferred: bool) -> Result<(), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        for earlier in prefix {
            self.version += 1;
            self.pending.carry(factory, &earlier.tx).map_err(|e| earlier_failed(earlier, &e))?;
            let plan = Plan {
                tx_hash: earlier.hash,
                sender: earlier.sender,
                nonce: earlier.nonce,
                l1_block: self.base.l1_block(),
                messages: vec![],
            };
            let list = if deferred { &mut self.deferred } else { &mut self.entries };
            list.push((plan, earlier.clone()));
        }
        Ok(())
    }

    /// No room in the open bundle: if `candidate` completes at the start of the next proposal (after the
    /// transactions deferred before it and `prefix`), it waits for it there and the reason is `bundle gas
    /// budget`.
    fn defer<F>(&mut self, factory: &F, prefix: &[Candidate], candidate: Candidate) -> NoPlan
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let taken = self.taken();
        match self.presimulate_after(factory, &self.next, prefix, &candidate, &taken) {
            Ok((plan, next)) => {
                if let Err(why) = self.carry_all(factory, prefix, true) {
                    return why;
                }
                if let Err(why) = self.apply(factory, &plan, &candidate) {
                    return why;
                }
                self.next = next;
                self.deferred.push((plan, candidate));
                NoPlan::BundleGasBudget
            }
            Err(NoPlan::BundleGasBudget) => {
                NoPlan::L1LegFailed("its legs need more gas than a whole bundle has".into())
            }
            Err(why) => why,
        }
    }

    /// Runs a planned (or deferred) transaction on the pending state: later ones see its effects.
    fn apply<F>(&mut self, factory: &F, plan: &Plan, candidate: &Candidate) -> Result<(), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let slots: Vec<B256> = plan.slots().collect();
        self.version += 1;
        match self.pending.apply(factory, &candidate.tx, &slots) {
            Ok(true) => Ok(()),
            Ok(false) => Err(NoPlan::Reverts("it fails when applied to the pending state".into())),
            Err(e) => Err(NoPlan::Reverts(e)),
        }
    }

    /// Removes `tx`'s plan (or deferral) for `reason` and replays the others on `pending` (the head,
    /// fresh); those whose answer changed are dropped with `earlier plan dropped`. Returns every drop.
    pub fn drop_plan<F>(&mut self, factory: &F, tx: &B256, reason: NoPlan, pending: PendingL2<S>) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        if self.holder(tx).is_none() {
            return vec![];
        }
        let mut all = self.take_all();
        all.retain(|(c, _)| c.hash != *tx);
        tracing::info!(%tx, %reason, "txpool watcher: plan dropped");
        self.remember(*tx, reason.clone());
        let mut dropped = vec![(*tx, reason)];
        let base = self.base.clone();
        dropped.extend(self.replay(factory, base, pending, all, Moved::L2, true));
        dropped
    }

    /// The L1 or L2 head moved: replays every plan on the new `base` and `pending` state.
    pub fn rebase<F>(
        &mut self,
        factory: &F,
        base: BundleSimulator,
        pending: PendingL2<S>,
        moved: Moved,
    ) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let all = self.take_all();
        let (base, _) = self.place_ops_on(base);
        self.replay(factory, base, pending, all, moved, false)
    }

    /// Every planned and deferred transaction, in bundle order, taken out of the book, each with whether
    /// it was carried ahead of a later plan of its sender (planned without messages).
    fn take_all(&mut self) -> Vec<(Candidate, bool)> {
        let entries = std::mem::take(&mut self.entries);
        let all = entries.into_iter().chain(std::mem::take(&mut self.deferred));
        all.map(|(p, c)| (c, p.messages.is_empty())).collect()
    }

    /// Records why `tx` (leaving the book with [`Self::land`]) has no plan any more.
    pub fn forget(&mut self, tx: B256, reason: NoPlan) {
        tracing::info!(%tx, %reason, "txpool watcher: plan dropped");
        self.remember(tx, reason);
    }

    /// `gone` left the pool for a block (with their plans or not): the other plans are replayed in order
    /// on `base` (the open bundle, after the closed proposals' L1 calls) and `pending` (the new head). After
    /// a plan that did not land (`after_drop`), one whose answer changed is `earlier plan dropped`. Without
    /// a pending state (the head unreadable), `gone` only leave: the others are replayed at the next move.
    pub fn land<F>(
        &mut self,
        factory: &F,
        gone: &[B256],
        base: BundleSimulator,
        pending: Option<PendingL2<S>>,
        after_drop: bool,
    ) where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let Some(pending) = pending else {
            self.entries.retain(|(p, _)| !gone.contains(&p.tx_hash));
            self.deferred.retain(|(p, _)| !gone.contains(&p.tx_hash));
            return;
        };
        let mut all = self.take_all();
        all.retain(|(c, _)| !gone.contains(&c.hash));
        let (base, _) = self.place_ops_on(base);
        self.replay(factory, base, pending, all, Moved::L2, after_drop);
    }

    /// Plans `candidates` again in order on `base` (its user ops placed) and `pending`. A failure is `earlier plan dropped` after
    /// a drop, `answer changed on L1` for a changed answer when L1 moved, and its own reason otherwise.
    fn replay<F>(
        &mut self,
        factory: &F,
        base: BundleSimulator,
        pending: PendingL2<S>,
        candidates: Vec<(Candidate, bool)>,
        moved: Moved,
        mut after_drop: bool,
    ) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        self.bundle = base.clone();
        self.next = base.next_bundle();
        self.base = base;
        self.pending = pending;
        self.version += 1;
        self.replays += 1;
        self.runs.clear();
        let mut dropped = vec![];
        for (candidate, carried) in candidates {
            let hash = candidate.hash;
            if carried {
                // A plain transaction ahead of its sender's plan: carried again, or (it no longer runs) out,
                // and the plans behind it are judged as after a drop.
                let deferred = !self.deferred.is_empty();
                if self.carry_all(factory, std::slice::from_ref(&candidate), deferred).is_err() {
                    after_drop = true;
                    self.released.push(candidate);
                }
                continue;
            }
            match self.try_append(factory, &[], candidate.clone()) {
                Ok(_) | Err(NoPlan::BundleGasBudget) => {}
                Err(why) => {
                    let reason = match why {
                        _ if after_drop => NoPlan::EarlierPlanDropped,
                        NoPlan::AnswerChanged | NoPlan::AnswerTaken if moved == Moved::L1 => NoPlan::AnswerChanged,
                        other => other,
                    };
                    after_drop = true;
                    tracing::info!(tx = %hash, %reason, "txpool watcher: plan dropped");
                    self.remember(hash, reason.clone());
                    dropped.push((hash, reason));
                    self.released.push(candidate);
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
