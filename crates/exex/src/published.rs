//! What the txpool watcher publishes for the rest of the node: its plans in bundle order, the reasons
//! transactions got none, what RPC simulations answer on, and the pool's guard over planned transactions.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use alloy_primitives::B256;
use surge_interfaces::{PooledTx, ReplacementGuard};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan};

use crate::{
    NextBlock,
    book::{AnswerBase, KEPT_REASONS},
    cooldown::CoolDowns,
    user_ops::{OpRules, PlacedOp},
};

/// The watcher's plans and reasons as it publishes them for other extensions (the block inputs, RPC).
#[derive(Debug, Default)]
pub struct PublishedPlans {
    inner: RwLock<Published>,
    /// Transactions the watcher has taken off its queue (or in from the pool) and decided on.
    decided: std::sync::atomic::AtomicU64,
    /// Plans a build found void, with the reason, until the watcher takes them.
    voided: std::sync::Mutex<Vec<(B256, String)>>,
    /// Senders and L1 contracts not planned for a while (the proposer blames, the plan book refuses).
    cooldowns: Arc<CoolDowns>,
    /// Why the proposer cannot pay for what is planned, when it cannot.
    funds: std::sync::Mutex<Option<String>>,
    /// What RPC simulations answer on, as the plans last left it.
    base: RwLock<Option<Arc<AnswerBase>>>,
    /// Why the L1 is away, while it is.
    l1_down: RwLock<Option<String>>,
    /// How user ops are placed, when the node takes them.
    op_rules: std::sync::OnceLock<OpRules>,
    /// The L1 block of the answer base last published.
    base_block: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Published {
    plans: Vec<Plan>,
    /// Transactions planned for the proposal after the next (no room in the open bundle), in order.
    deferred: Vec<B256>,
    /// Every planned and deferred transaction: the pool neither replaces nor evicts them.
    kept: std::collections::HashSet<B256>,
    /// The block the plans were made for (the head's child).
    planned_for: Option<NextBlock>,
    /// The user ops at the start of the open bundle, in order.
    ops: Vec<PlacedOp>,
    reasons: HashMap<B256, NoPlan>,
    order: VecDeque<B256>,
}

impl PublishedPlans {
    /// Nothing published yet; `cooldowns` hold senders and L1 contracts back.
    pub fn new(cooldowns: Arc<CoolDowns>) -> Self {
        Self { cooldowns, ..Self::default() }
    }

    /// Records that `tx` gets no plan, for a reason found outside the plan book (the queue was full, no
    /// L1 block to plan on).
    pub fn refuse(&self, tx: B256, reason: NoPlan) {
        metrics::counter!("surge_plans_dropped_total", "reason" => reason.label()).increment(1);
        let mut p = self.inner.write().unwrap_or_else(|e| e.into_inner());
        p.remember(tx, reason);
    }

    /// The plan of `tx` could not go in as planned (`reason`): it is not offered again, and the watcher
    /// drops it when it next looks.
    pub fn void(&self, tx: B256, reason: String) {
        let mut voided = self.voided.lock().unwrap_or_else(|e| e.into_inner());
        if !voided.iter().any(|(t, _)| *t == tx) {
            voided.push((tx, reason));
        }
    }

    /// Whether the plan of `tx` was found void and the watcher has not dropped it yet.
    pub fn is_voided(&self, tx: &B256) -> bool {
        self.voided.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(t, _)| t == tx)
    }

    /// The plans found void since the last call, with the reasons.
    pub fn take_voided(&self) -> Vec<(B256, String)> {
        std::mem::take(&mut *self.voided.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The watcher decided on a transaction (planned it, refused it, found it plain or put it to wait for
    /// an earlier nonce).
    pub fn decided(&self) {
        self.decided.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many transactions the watcher has decided on so far.
    pub fn decided_count(&self) -> u64 {
        self.decided.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The plans in bundle order, the transactions deferred to a later proposal, and the block the plans
    /// were made for (they go into that block only).
    pub fn plans_and_deferred(&self) -> (Vec<Plan>, Vec<B256>, Option<NextBlock>) {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        (p.plans.clone(), p.deferred.clone(), p.planned_for.clone())
    }

    /// [`Self::plans_and_deferred`] with the user ops ahead of the plans, from one publication.
    pub fn published(&self) -> (Vec<Plan>, Vec<B256>, Option<NextBlock>, Vec<PlacedOp>) {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        (p.plans.clone(), p.deferred.clone(), p.planned_for.clone(), p.ops.clone())
    }

    /// The user ops at the start of the open bundle, in order (they go into the block the plans are made
    /// for, before them).
    pub fn ops(&self) -> Vec<PlacedOp> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).ops.clone()
    }

    /// Has the watcher take user ops, placed by `rules` (set once, before the watcher starts).
    pub fn take_user_ops(&self, rules: OpRules) {
        let _ = self.op_rules.set(rules);
    }

    /// How user ops are placed, if the node takes them.
    pub fn op_rules(&self) -> Option<OpRules> {
        self.op_rules.get().copied()
    }

    /// Publishes what RPC simulations answer on (the plans changed).
    pub fn publish_base(&self, base: AnswerBase) {
        let block = base.bundle.l1_block().0;
        *self.base.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(base));
        self.base_block.send_replace(block);
    }

    /// The answer base once it is on L1 block `block` or later, waiting up to `patience` for the watcher to
    /// take that block in; the base it has after that.
    pub async fn answer_base_at(&self, block: u64, patience: std::time::Duration) -> Option<Arc<AnswerBase>> {
        let mut published = self.base_block.subscribe();
        let _ = tokio::time::timeout(patience, published.wait_for(|b| *b >= block)).await;
        self.answer_base()
    }

    /// Says whether the L1 is away (why), as the watcher last saw it: no plan is made meanwhile.
    pub fn set_l1_down(&self, why: Option<String>) {
        *self.l1_down.write().unwrap_or_else(|e| e.into_inner()) = why;
    }

    /// Why the L1 is away, when it is.
    pub fn l1_down(&self) -> Option<String> {
        self.l1_down.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What RPC simulations answer on now, if the watcher has published it.
    pub fn answer_base(&self) -> Option<Arc<AnswerBase>> {
        self.base.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The transactions deferred to the next proposal, in order.
    pub fn deferred(&self) -> Vec<B256> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).deferred.clone()
    }

    /// The plans are made for block `next`.
    pub fn set_planned_for(&self, next: NextBlock) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).planned_for = Some(next);
    }

    /// Publishes the watcher's plans, its deferred transactions, the reasons it gave since last time and
    /// the user ops of the open bundle.
    pub(crate) fn publish(
        &self,
        plans: Vec<Plan>,
        deferred: Vec<B256>,
        reasons: Vec<(B256, NoPlan)>,
        ops: Vec<PlacedOp>,
    ) {
        let mut p = self.inner.write().unwrap_or_else(|e| e.into_inner());
        p.ops = ops;
        p.kept = plans.iter().map(|plan| plan.tx_hash).chain(deferred.iter().copied()).collect();
        p.plans = plans;
        p.deferred = deferred;
        for (tx, reason) in reasons {
            p.remember(tx, reason);
        }
        // Planned again after a drop: the reason no longer holds.
        let planned: Vec<B256> = p.plans.iter().map(|plan| plan.tx_hash).collect();
        for tx in planned {
            p.reasons.remove(&tx);
        }
    }
}

impl Published {
    fn remember(&mut self, tx: B256, reason: NoPlan) {
        if self.reasons.insert(tx, reason).is_none() {
            self.order.push_back(tx);
        }
        while self.order.len() > KEPT_REASONS {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }
}

/// The pool asks before replacing or evicting a transaction: one planned for the open proposal or the next
/// (a sender's earlier transactions a plan stands on are planned too, carried ahead of it) stays until its
/// block is built — replacing it would change what its answers and every later plan's were simulated
/// after. One a block left out (its plan voided) is free again at once.
impl ReplacementGuard for PublishedPlans {
    fn may_replace(&self, old: &PooledTx) -> Result<(), String> {
        if !self.keeps(&old.hash) {
            return Ok(());
        }
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let order = p.plans.iter().map(|plan| &plan.tx_hash).chain(&p.deferred);
        let behind = order.skip_while(|h| **h != old.hash).count().saturating_sub(1);
        let stand = match behind {
            1 => "1 later plan stands".to_string(),
            n => format!("{n} later plans stand"),
        };
        Err(format!(
            "transaction {} is planned for the next L2 blocks ({stand} on it); it can be replaced once its block \
             is built",
            old.hash
        ))
    }

    fn may_evict(&self, tx: &PooledTx) -> bool {
        !self.keeps(&tx.hash)
    }
}

impl PublishedPlans {
    /// Whether the pool must keep `tx` (neither replace nor evict it): planned or deferred, and not voided
    /// by a block.
    pub fn keeps(&self, tx: &B256) -> bool {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).kept.contains(tx) && !self.is_voided(tx)
    }

    /// The plan of transaction `tx`, if it has one.
    pub fn plan(&self, tx: &B256) -> Option<Plan> {
        let p = self.inner.read().unwrap_or_else(|e| e.into_inner());
        p.plans.iter().find(|plan| plan.tx_hash == *tx).cloned()
    }

    /// Why transaction `tx` has no plan (or lost it), if the watcher considered it.
    pub fn no_plan_reason(&self, tx: &B256) -> Option<NoPlan> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).reasons.get(tx).cloned()
    }

    /// Publishes whether the proposer can pay for the bundles planned on `base` (a metric, a warning when it
    /// first cannot, an advisory on `/ready`).
    pub fn report_funds(&self, base: &BundleSimulator) {
        let low = base.balance_low().map(|(balance, needed)| {
            format!("proposer balance low: {balance} wei, the in-flight and the next bundle need {needed} wei")
        });
        metrics::gauge!("surge_proposer_balance_low").set(if low.is_some() { 1.0 } else { 0.0 });
        let mut funds = self.funds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(low) = &low
            && funds.is_none()
        {
            tracing::warn!("txpool watcher: {low}: the proposer sends nothing until it is funded");
        }
        *funds = low;
    }

    /// Why the proposer cannot pay for the planned bundles, if it cannot ("proposer balance low: …").
    pub fn proposer_balance_low(&self) -> Option<String> {
        self.funds.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The senders and L1 contracts the watcher does not plan for a while.
    pub fn cooldowns(&self) -> Arc<CoolDowns> {
        self.cooldowns.clone()
    }

    /// Every plan of the open proposal, in bundle order.
    pub fn plans(&self) -> Vec<Plan> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).plans.clone()
    }
}
