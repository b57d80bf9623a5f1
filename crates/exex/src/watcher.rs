//! The txpool watcher's core: what happens to the plans when a transaction arrives, a pool event comes,
//! the L2 head moves or the L1 head moves. It runs on one thread of its own (the plan book holds the
//! state the simulations run on); [`PublishedPlans`] is the side other extensions read.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use alloy_evm::EvmFactory;
use alloy_primitives::{Address, B256};
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
    state::EvmState,
};
use surge_interfaces::{PoolEvent, PooledTx};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan};

pub use crate::published::PublishedPlans;
use crate::{
    book::PlanBook,
    presim::{Candidate, PendingL2, fold_changes},
};

/// Transactions of one sender kept waiting for an earlier nonce (the pool's own window is 64).
const MAX_WAITING_PER_SENDER: usize = 64;

/// What a sender's plain transactions change: computed on the book's pending state `version`, for the
/// `len` of them from nonce `first`.
#[derive(Debug)]
struct PlainChanges {
    version: u64,
    first: u64,
    len: usize,
    state: EvmState,
}

/// The watcher's state and its reactions, single-threaded.
#[derive(Debug)]
pub struct WatcherCore<S, F> {
    factory: F,
    book: PlanBook<S>,
    /// Transactions waiting for an earlier nonce of their sender, by sender and nonce.
    waiting: HashMap<Address, BTreeMap<u64, Candidate>>,
    /// Per sender, its transactions from its next nonce on the pending state that need no plan, in nonce
    /// order: a later transaction of the sender is planned after them, and they are carried into the
    /// book ahead of it.
    plain: HashMap<Address, Vec<Candidate>>,
    /// What each sender's plain transactions change, so that its next one is looked at after them
    /// without running them all again.
    plain_changes: HashMap<Address, PlainChanges>,
    /// Waiting transactions that lost their plan in a replay: tried again without a new reason.
    released: HashSet<B256>,
    handle: Arc<PublishedPlans>,
    /// The book's revision its answer base was last published at.
    published_version: (u64, u64),
}

impl<S, F> WatcherCore<S, F>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
    F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
{
    /// A watcher planning into the bundle `base` on the pending state `pending`.
    pub fn new(factory: F, base: BundleSimulator, pending: PendingL2<S>, handle: Arc<PublishedPlans>) -> Self {
        let mut book = PlanBook::new(base, pending).with_cooldowns(handle.cooldowns());
        if let Some(rules) = handle.op_rules() {
            book = book.with_user_ops(rules);
        }
        // RPC simulations may start at once (on version 0).
        handle.publish_base(book.answer_base());
        Self {
            factory,
            book,
            waiting: HashMap::new(),
            plain: HashMap::new(),
            plain_changes: HashMap::new(),
            released: HashSet::new(),
            published_version: (0, 0),
            handle,
        }
    }

    /// The plan book.
    pub fn book(&self) -> &PlanBook<S> {
        &self.book
    }

    /// What L1 would answer `candidate`'s messages at the end of the current bundle, after its sender's
    /// pooled transactions that are not planned (in nonce order, while they follow on), keeping nothing.
    pub fn answers(&mut self, candidate: &Candidate) -> Result<Plan, NoPlan> {
        let mut prefix = self.plain.get(&candidate.sender).cloned().unwrap_or_default();
        if let (Ok(next), Some(queue)) =
            (self.book.pending().nonce(candidate.sender), self.waiting.get(&candidate.sender))
        {
            let mut want = next + prefix.len() as u64;
            while let Some(c) = queue.get(&want) {
                prefix.push(c.clone());
                want += 1;
            }
        }
        self.book.answers(&self.factory, &prefix, candidate)
    }

    /// Whether the watcher holds `tx`: planned, waiting for its turn, or known to need no plan.
    pub fn knows(&self, tx: &PooledTx) -> bool {
        let hash = tx.hash;
        self.waiting.get(&tx.sender).is_some_and(|q| q.get(&tx.nonce).is_some_and(|c| c.hash == hash))
            || self.plain.get(&tx.sender).is_some_and(|p| p.iter().any(|c| c.hash == hash))
            || self.book.holder(&hash).is_some()
    }

    /// Whether `tx` was missed: not held, and refused for no reason or only for a full queue.
    pub fn missed(&self, tx: &PooledTx) -> bool {
        !self.knows(tx) && self.handle.no_plan_reason(&tx.hash).is_none_or(|r| r == NoPlan::QueueFull)
    }

    /// A transaction was admitted. It is considered when its nonce is its sender's next one on the pending
    /// state, after the sender's earlier transactions that need no plan; a later one waits for the
    /// earlier; an older one (already on the chain) is ignored.
    pub fn on_transaction(&mut self, tx: &PooledTx) {
        self.on_transactions([tx]);
    }

    /// A burst of admitted transactions, each taken as [`Self::on_transaction`] takes one; what they
    /// decided is published once.
    pub fn on_transactions<'a>(&mut self, txs: impl IntoIterator<Item = &'a PooledTx>) {
        for tx in txs {
            self.wait(Candidate::from_pooled(tx));
            self.run_ready(tx.sender);
        }
        self.publish();
    }

    /// A pool lifecycle event: a planned (or deferred) transaction that is replaced, discarded, found
    /// invalid or mined loses its plan, and the plans behind it are replayed on `pending` (the head,
    /// fresh). A waiting replacement gets its turn. A mined transaction is left to [`Self::on_l2_head`],
    /// which knows whether its block carried its plan.
    pub fn on_pool_event(&mut self, event: &PoolEvent, pending: impl FnOnce() -> Option<PendingL2<S>>) {
        let reason = match event {
            PoolEvent::Replaced { .. } => NoPlan::Replaced,
            PoolEvent::Discarded(_) | PoolEvent::Invalid { .. } => NoPlan::Discarded,
            PoolEvent::Mined { .. } | PoolEvent::Pending(_) | PoolEvent::Queued(_) => return,
        };
        let tx = event.hash();
        self.forget_waiting(&tx);
        self.unhook_plain(&tx);
        if self.book.holder(&tx).is_some()
            && let Some(pending) = pending()
        {
            self.book.drop_plan(&self.factory, &tx, reason, pending);
        }
        self.after_replay();
    }

    /// The L2 head moved. Planned transactions it holds leave the book: those in `landed` went in with
    /// their plans (their L1 calls are now in a closed proposal, ahead of `base`, the open bundle's new
    /// start; `None` keeps the current one); the others were mined without their slots. Plans a block
    /// voided (`failed`, with the reason) are dropped. The other plans are replayed on the new head's
    /// pending state, and waiting transactions whose turn came are considered.
    pub fn on_l2_head(
        &mut self,
        (mined, landed, landed_ops): (&[B256], &HashSet<B256>, &[u64]),
        failed: &[(B256, String)],
        base: Option<BundleSimulator>,
        pending: impl Fn() -> Option<PendingL2<S>>,
    ) {
        // The ops a block took are in its proposal now, ahead of the new base.
        self.book.remove_ops(landed_ops);
        // A landed transaction may not be in `mined` yet (the chain's notification can come after the
        // ledger's news): it leaves the book all the same.
        let mut gone = vec![];
        for tx in mined.iter().chain(landed) {
            self.forget_waiting(tx);
            if self.book.holder(tx).is_some() && !gone.contains(tx) {
                gone.push(*tx);
                if !landed.contains(tx) {
                    self.book.forget(*tx, NoPlan::MinedWithoutSlots);
                }
            }
        }
        for (tx, why) in failed {
            self.forget_waiting(tx);
            if self.book.holder(tx).is_some() && !gone.contains(tx) {
                gone.push(*tx);
                self.book.forget(*tx, NoPlan::Reverts(format!("in its block: {why}")));
            }
        }
        // Nothing of the book's in the block and the same L1 base: each plan runs once on the new state.
        if gone.is_empty() && base.is_none() && self.book.on_l2_move(&self.factory, &pending) {
            self.after_replay();
            return;
        }
        let base = base.unwrap_or_else(|| self.book.base().clone());
        let after_drop = gone.iter().any(|tx| !landed.contains(tx));
        self.book.land(&self.factory, &gone, base, pending(), after_drop);
        self.after_replay();
    }

    /// L1 moved: every plan is re-checked on the new bundle `base` — its legs alone when all answer as before
    /// (nothing runs again on L2), otherwise a full replay, which drops a plan whose answer changed with
    /// `answer changed on L1`.
    pub fn on_l1_head(&mut self, base: BundleSimulator, pending: PendingL2<S>) {
        self.book.on_l1_move(&self.factory, base, pending);
        self.after_replay();
    }

    /// Places the `waiting` user ops the book does not hold yet, if no plan is in the open bundle (an op
    /// runs before every plan); publishes when one joined. The ops that left the book since the last call.
    pub fn place_ops(&mut self, waiting: &[crate::user_ops::UserOpRecord]) -> Vec<crate::user_ops::OpDropped> {
        if self.book.place_waiting(waiting) {
            self.publish();
        }
        self.book.take_dropped_ops()
    }

    /// The ops that left the book since the last call.
    pub fn take_dropped_ops(&mut self) -> Vec<crate::user_ops::OpDropped> {
        self.book.take_dropped_ops()
    }

    /// The L1 block the plans are simulated on.
    pub fn l1_block(&self) -> (u64, B256) {
        self.book.base().l1_block()
    }

    /// Drops the plans and waiting transactions the pool no longer holds (`pool_has` says which it holds):
    /// after the watcher missed pool events.
    pub fn resync(&mut self, pool_has: impl Fn(&B256) -> bool, pending: impl Fn() -> Option<PendingL2<S>>) {
        for queue in self.waiting.values_mut() {
            queue.retain(|_, c| pool_has(&c.hash));
        }
        let gone_plain: Vec<B256> =
            self.plain.values().flatten().filter(|c| !pool_has(&c.hash)).map(|c| c.hash).collect();
        for tx in gone_plain {
            self.unhook_plain(&tx);
        }
        let gone: Vec<B256> = self
            .book
            .entries()
            .map(|(p, _)| p.tx_hash)
            .chain(self.book.deferred().map(|p| p.tx_hash))
            .filter(|h| !pool_has(h))
            .collect();
        for tx in gone {
            if let Some(state) = pending() {
                self.book.drop_plan(&self.factory, &tx, NoPlan::Discarded, state);
            }
        }
        self.after_replay();
    }

    /// Transactions that lost their plan in a replay wait again (a sender's later transaction may get its
    /// turn once an earlier one is mined or replaced); every sender whose turn came goes on.
    fn after_replay(&mut self) {
        for candidate in self.book.take_released() {
            self.released.insert(candidate.hash);
            self.wait(candidate);
        }
        // Plain transactions the chain or the book has taken since leave; the rest follow their senders'
        // nonces (waiting again where those went back).
        let senders: Vec<Address> = self.plain.keys().copied().collect();
        for sender in senders {
            if let Ok(next) = self.book.pending().nonce(sender) {
                self.settle_plain(sender, next);
            }
        }
        let senders: Vec<Address> = self.waiting.keys().copied().collect();
        for sender in senders {
            self.run_ready(sender);
        }
        let waiting: HashSet<B256> = self.waiting.values().flat_map(|q| q.values().map(|c| c.hash)).collect();
        self.released.retain(|h| waiting.contains(h));
        self.publish();
    }

    fn wait(&mut self, candidate: Candidate) {
        let queue = self.waiting.entry(candidate.sender).or_default();
        // A bounded window per sender, as the pool's.
        if queue.len() < MAX_WAITING_PER_SENDER || queue.contains_key(&candidate.nonce) {
            queue.insert(candidate.nonce, candidate);
        }
    }

    /// Considers `sender`'s waiting transactions while the next one is its turn: found plain (it sends
    /// nothing to L1; looked at after the sender's plain ones, from what they change), or planned (or
    /// deferred) with the plain ones before it carried along, and then the next.
    fn run_ready(&mut self, sender: Address) {
        loop {
            let Ok(next) = self.book.pending().nonce(sender) else { return };
            // A replacement of a planned transaction waits for the pool's `Replaced` event.
            let held = self.book.held_nonces(sender);
            let want = self.settle_plain(sender, next);
            let Some(queue) = self.waiting.get_mut(&sender) else { break };
            // Transactions the chain has passed by.
            queue.retain(|n, c| *n >= next || (held.contains(n) && self.book.holder(&c.hash).is_none()));
            let Some(candidate) = queue.remove(&want) else { break };
            if !self.released.contains(&candidate.hash) && self.found_plain(&candidate) {
                self.plain.entry(sender).or_default().push(candidate);
                continue;
            }
            let prefix = self.plain.get(&sender).cloned().unwrap_or_default();
            let result = if self.released.remove(&candidate.hash) {
                self.book.retry(&self.factory, &prefix, candidate.clone())
            } else {
                self.book.consider(&self.factory, &prefix, candidate.clone())
            };
            self.plain_changes.remove(&sender);
            match result {
                // Planned, or deferred to the next proposal, with the plain ones carried ahead of it.
                Ok(_) | Err(NoPlan::BundleGasBudget) => {
                    self.plain.remove(&sender);
                }
                Err(NoPlan::NoOutboundMessage) => self.plain.entry(sender).or_default().push(candidate),
                // Not planned: the later ones wait for the chain (or for this one to be replaced).
                Err(_) => break,
            }
        }
        if self.waiting.get(&sender).is_some_and(BTreeMap::is_empty) {
            self.waiting.remove(&sender);
        }
        if self.plain.get(&sender).is_some_and(Vec::is_empty) {
            self.plain.remove(&sender);
            self.plain_changes.remove(&sender);
        }
    }

    /// Brings `sender`'s plain transactions in line with its next nonce `next` on the pending state: those
    /// the chain or the book took leave; if its nonce went back (a plan of its was dropped) or a gap
    /// opened, they wait again, to be looked at in order. The nonce to consider next.
    fn settle_plain(&mut self, sender: Address, next: u64) -> u64 {
        let Some(plain) = self.plain.get_mut(&sender) else { return next };
        let before = plain.len();
        plain.retain(|c| c.nonce >= next);
        if plain.iter().enumerate().any(|(i, c)| c.nonce != next + i as u64) {
            let queue = self.waiting.entry(sender).or_default();
            for c in plain.drain(..) {
                queue.insert(c.nonce, c);
            }
        }
        let len = plain.len();
        if len != before {
            self.plain_changes.remove(&sender);
        }
        if len == 0 {
            self.plain.remove(&sender);
        }
        next + len as u64
    }

    /// Whether `candidate`, looked at after its sender's plain transactions, sends nothing to L1: then it
    /// is plain too (remembered so, its changes folded into theirs). One that sends something, or cannot
    /// run, is left to the planning, which runs its sender's plain ones again exactly.
    fn found_plain(&mut self, candidate: &Candidate) -> bool {
        let started = std::time::Instant::now();
        let sender = candidate.sender;
        self.refresh_plain_changes(sender);
        let Some(changes) = self.plain_changes.get_mut(&sender) else { return false };
        let found = self.book.pending().layer_with(&changes.state).classify(&self.factory, &candidate.tx);
        metrics::histogram!("surge_presim_seconds").record(started.elapsed().as_secs_f64());
        let Ok(Some(state)) = found else { return false };
        fold_changes(&mut changes.state, state);
        if changes.len == 0 {
            changes.first = candidate.nonce;
        }
        changes.len += 1;
        self.book.note_plain(candidate.hash);
        true
    }

    /// Makes `sender`'s plain changes those of its plain transactions on the current pending state,
    /// running them again when the state or the list changed since.
    fn refresh_plain_changes(&mut self, sender: Address) {
        let version = self.book.version();
        let plain = self.plain.get(&sender).map(Vec::as_slice).unwrap_or_default();
        let first = plain.first().map_or(0, |c| c.nonce);
        if self
            .plain_changes
            .get(&sender)
            .is_some_and(|c| c.version == version && c.first == first && c.len == plain.len())
        {
            return;
        }
        let mut layer = self.book.pending().layer();
        let mut state = EvmState::default();
        let mut len = 0;
        for c in plain {
            match layer.execute(&self.factory, &c.tx) {
                Ok(changes) => fold_changes(&mut state, changes),
                Err(_) => break,
            }
            len += 1;
        }
        self.plain_changes.insert(sender, PlainChanges { version, first, len, state });
    }

    /// `tx` left the pool (replaced, discarded, rejected): if it was a plain one ahead of later
    /// transactions of its sender, those wait again to be considered once the gap is filled.
    fn unhook_plain(&mut self, tx: &B256) {
        let Some((sender, at)) = self.plain.iter().find_map(|(s, p)| Some((*s, p.iter().position(|c| c.hash == *tx)?)))
        else {
            return;
        };
        self.plain_changes.remove(&sender);
        let Some(plain) = self.plain.get_mut(&sender) else { return };
        let later: Vec<Candidate> = plain.drain(at..).skip(1).collect();
        let queue = self.waiting.entry(sender).or_default();
        for c in later {
            queue.insert(c.nonce, c);
        }
    }

    fn forget_waiting(&mut self, tx: &B256) {
        self.released.remove(tx);
        for queue in self.waiting.values_mut() {
            queue.retain(|_, c| c.hash != *tx);
        }
    }

    fn publish(&mut self) {
        metrics::gauge!("surge_watcher_plans").set(self.book.plans().count() as f64);
        let reasons = self.book.take_recent_reasons();
        let deferred = self.book.deferred().map(|p| p.tx_hash).collect();
        let ops = self.book.ops().cloned().collect();
        self.handle.publish(self.book.plans().cloned().collect(), deferred, reasons, ops);
        if self.published_version != self.book.revision() {
            self.published_version = self.book.revision();
            self.handle.publish_base(self.book.answer_base());
        }
    }
}
