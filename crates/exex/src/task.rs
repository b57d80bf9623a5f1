//! The watcher on a node: installed as an extension, it listens to every admitted L2 transaction and every
//! pool event through the pool seam, to the ledger (which tells it of each L2 block once it has accounted
//! for it) and to the L1 head, and feeds them to the [`WatcherCore`] on a thread of its own. Nothing here
//! ever waits on the watcher: transactions go into a bounded queue (one that finds it full gets no plan,
//! `queue full`, counted); pool events into another (when it is full the watcher re-checks every plan
//! against the pool instead); head moves only raise flags the thread reads the latest heads from. What L1
//! would answer a call (the RPC's question) is worked out by workers of its own ([`RpcSimulations`]) on
//! what the thread publishes.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use alloy_primitives::{B256, TxKind};
use revm::context::TxEnv;
use surge_interfaces::{
    ConfigureEvm, ExtensionContext, NodeComponents, PoolEvent, PooledTx, StateProviderFactory, TransactionPool,
};
use surge_l1::{HeadWatch, L1Leg, L1StateSource};
use surge_sync::{NoPlan, Plan, Planner, SimulatedCall, Simulation};
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{info, warn};

use crate::{
    NextBlock,
    cooldown::CoolDownConfig,
    ledger::Ledger,
    next::NextBlocks,
    pending::pending_for,
    presim::{Candidate, L2Protocol, PendingL2},
    published::PublishedPlans,
    rpcsim::{RpcSimConfig, RpcSimulations, answer_runner},
    watcher::WatcherCore,
};

/// Transactions taken off the queue in one go (one publication of what they decided).
const MAX_BURST: usize = 256;

/// The watcher's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatcherConfig {
    /// Transactions waiting for the watcher's thread. One that finds it full is taken in later, when the
    /// thread has caught up and looks through the pool (blocks hold it back meanwhile if it needs its
    /// answers); 0 sends every transaction that way (a test hook).
    pub queue: usize,
    /// Pool events and requests waiting for it (beyond it the watcher re-checks its plans against the pool).
    pub control_queue: usize,
    /// How long culprits of reverted proposals are not planned.
    pub cooldown: CoolDownConfig,
    /// The workers answering RPC simulations.
    pub rpc: RpcSimConfig,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        Self { queue: 1024, control_queue: 4096, cooldown: CoolDownConfig::default(), rpc: RpcSimConfig::default() }
    }
}

/// What the watcher's thread is told.
enum Control {
    Event(PoolEvent),
    /// A flag was raised.
    Wake,
}

/// Raised by the forwarder, cleared by the watcher's thread.
#[derive(Debug, Default)]
struct Flags {
    l1_moved: AtomicBool,
    l2_moved: AtomicBool,
    resync: AtomicBool,
    /// A transaction found the queue full: the thread looks through the pool once it has caught up.
    overflowed: AtomicBool,
}

/// The watcher as the rest of the node talks to it: its plans and reasons ([`PublishedPlans`]) and the
/// answers L1 would give a transaction now.
#[derive(Debug, Clone)]
pub struct Watcher {
    handle: Arc<PublishedPlans>,
    sims: Arc<RpcSimulations>,
}

/// The watcher's ends of its queues, handed to [`install`].
#[derive(Debug)]
pub struct WatcherInputs {
    txs: (mpsc::Sender<Arc<PooledTx>>, mpsc::Receiver<Arc<PooledTx>>),
    control: (mpsc::Sender<Control>, mpsc::Receiver<Control>),
    handle: Arc<PublishedPlans>,
    sims: Arc<RpcSimulations>,
    ledger: Arc<Ledger>,
    next: Arc<NextBlocks>,
    /// Every transaction goes the overflow way (a queue of 0).
    no_queue: bool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Event(_) => "Event",
            Self::Wake => "Wake",
        })
    }
}

/// A watcher and its inputs, before it is installed: it plans into the open bundle after the closed
/// proposals of `ledger`, for the blocks `next` fixes.
pub fn watcher(config: WatcherConfig, ledger: Arc<Ledger>, next: Arc<NextBlocks>) -> (Watcher, WatcherInputs) {
    let txs = mpsc::channel(config.queue.max(1));
    let control = mpsc::channel(config.control_queue.max(1));
    let handle = Arc::new(PublishedPlans::new(Arc::new(ledger.cooldowns(config.cooldown))));
    let sims = RpcSimulations::new(config.rpc, handle.clone());
    let watcher = Watcher { handle: handle.clone(), sims: sims.clone() };
    (watcher, WatcherInputs { txs, control, handle, sims, ledger, next, no_queue: config.queue == 0 })
}

impl Watcher {
    /// Plans and reasons.
    pub fn published(&self) -> Arc<PublishedPlans> {
        self.handle.clone()
    }

    /// The workers answering RPC simulations.
    pub fn rpc_simulations(&self) -> Arc<RpcSimulations> {
        self.sims.clone()
    }

    /// What L1 would answer `candidate`'s messages at the end of the open bundle now, after its sender's
    /// pooled transactions that are not planned, keeping nothing (phases (a) and (b)), worked out on the
    /// caller's behalf at once: for the node's own callers. RPC callers go through [`Planner::simulate`],
    /// queued for the RPC workers.
    pub async fn answers(&self, candidate: Candidate) -> Result<Plan, NoPlan> {
        self.sims.run_here(candidate).await
    }
}

/// The planner as other extensions see it (the `surge_*` RPC): plans and reasons, and what L1 answers a
/// call now.
impl Planner for Watcher {
    fn plan(&self, tx: &B256) -> Option<Plan> {
        self.handle.plan(tx)
    }

    fn no_plan_reason(&self, tx: &B256) -> Option<NoPlan> {
        self.handle.no_plan_reason(tx)
    }

    fn plans(&self) -> Vec<Plan> {
        self.handle.plans()
    }

    fn simulate(&self, call: SimulatedCall) -> Simulation<'_> {
        let tx = TxEnv {
            caller: call.from,
            kind: TxKind::Call(call.to),
            data: call.data,
            value: call.value,
            gas_limit: call.gas,
            gas_price: 0,
            gas_priority_fee: None,
            chain_id: None,
            ..Default::default()
        };
        let candidate = Candidate { hash: B256::ZERO, sender: call.from, nonce: 0, tx };
        Box::pin(self.sims.submit(candidate))
    }
}

/// Installs the watcher on the node of `ctx`, planning L1 legs with `leg` on the L1 heads of `l1`.
pub fn install<N, S>(ctx: ExtensionContext<N>, inputs: WatcherInputs, leg: Arc<L1Leg<S>>, l1: HeadWatch, l2: L2Protocol)
where
    N: NodeComponents,
    S: L1StateSource,
{
    let WatcherInputs {
        txs: (tx_queue, tx_inputs),
        control: (control, control_inputs),
        handle,
        sims,
        ledger,
        next,
        no_queue,
    } = inputs;
    let components = ctx.components.clone();
    sims.start(answer_runner(components.clone()));
    components.pool().add_replacement_guard(handle.clone());
    let mut pool_txs = components.pool().new_transactions_listener();
    let mut events = components.pool().all_transactions_event_listener();
    // Transactions in the pool before the watcher (handed back after a restart) are planned as new ones.
    for tx in components.pool().best_transactions() {
        if tx_queue.try_send(tx).is_err() {
            break;
        }
    }
    // The ledger tells of each block once it has accounted for it (which plans landed is its news).
    drop(ctx.notifications);
    let tasks = ctx.tasks;
    let mut heads = l1.0.clone();
    let flags = Arc::new(Flags::default());
    flags.l1_moved.store(true, Ordering::Release);
    let (forward_flags, forward_handle) = (flags.clone(), handle.clone());
    // The ledger wakes the thread after each block it accounted for; the next block being fixed again
    // (production stalled) wakes it too: the plans are made again for the new one.
    let (wake_flags, wake) = (flags.clone(), control.clone());
    let waker: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        wake_flags.l2_moved.store(true, Ordering::Release);
        let _ = wake.try_send(Control::Wake);
    });
    ledger.set_waker(waker.clone());
    next.set_waker(waker);
    metrics::describe_gauge!("surge_watcher_queue_depth", "Transactions waiting for the txpool watcher");
    metrics::describe_counter!("surge_watcher_overflow_total", "Transactions the watcher's full queue turned away");

    tasks.spawn_critical(
        "watcher",
        Box::pin(async move {
            let raise = |flag: &AtomicBool| {
                flag.store(true, Ordering::Release);
                // A full queue means the thread is busy: it reads the flags when it is done.
                let _ = control.try_send(Control::Wake);
            };
            raise(&forward_flags.l1_moved);
            loop {
                tokio::select! {
                    tx = pool_txs.recv() => {
                        let Some(tx) = tx else { break };
                        let sent = if no_queue { Err(TrySendError::Full(tx)) } else { tx_queue.try_send(tx) };
                        match sent {
                            Err(TrySendError::Full(tx)) => {
                                metrics::counter!("surge_watcher_overflow_total").increment(1);
                                forward_handle.refuse(tx.hash, NoPlan::QueueFull);
                                raise(&forward_flags.overflowed);
                            }
                            Err(TrySendError::Closed(_)) => break,
                            Ok(()) => {}
                        }
                        metrics::gauge!("surge_watcher_queue_depth")
                            .set((tx_queue.max_capacity() - tx_queue.capacity()) as f64);
                    }
                    event = events.recv() => {
                        let Some(event) = event else { break };
                        match control.try_send(Control::Event(event)) {
                            Err(TrySendError::Full(_)) => raise(&forward_flags.resync),
                            Err(TrySendError::Closed(_)) => break,
                            Ok(()) => {}
                        }
                    }
                    changed = heads.changed() => {
                        if changed.is_err() { break }
                        raise(&forward_flags.l1_moved);
                    }
                }
            }
        }),
    );

    let runtime = tokio::runtime::Handle::current();
    let thread = Thread {
        components,
        leg,
        l2,
        l1,
        flags,
        handle,
        ledger,
        next,
        runtime,
        head: Default::default(),
        pending_for: Default::default(),
    };
    std::thread::Builder::new()
        .name("txpool-watcher".into())
        .spawn(move || thread.run(tx_inputs, control_inputs))
        .map_err(|e| warn!("txpool watcher: no thread: {e}"))
        .ok();
}

/// The watcher core on a node's components.
type NodeWatcher<N> = WatcherCore<
    <<N as NodeComponents>::Provider as StateProviderFactory>::State,
    <<N as NodeComponents>::Evm as ConfigureEvm>::Factory,
>;

/// The watcher's thread.
struct Thread<N, S> {
    components: N,
    leg: Arc<L1Leg<S>>,
    l2: L2Protocol,
    l1: HeadWatch,
    flags: Arc<Flags>,
    handle: Arc<PublishedPlans>,
    ledger: Arc<Ledger>,
    next: Arc<NextBlocks>,
    runtime: tokio::runtime::Handle,
    /// The L2 head the plans are made on (the last block the ledger accounted for).
    head: std::cell::Cell<u64>,
    /// The block the last pending state was for.
    pending_for: std::cell::RefCell<Option<NextBlock>>,
}

impl<N: NodeComponents, S: L1StateSource> Thread<N, S> {
    /// The open bundle's new start once plans landed or proposals were rolled back: the L1 block the plans
    /// are on, after the L1 calls of every closed proposal still in flight.
    fn landing_base(&self, core: &NodeWatcher<N>) -> Option<surge_l1::BundleSimulator> {
        let block = core.l1_block();
        self.runtime
            .block_on(self.leg.simulator(block, &self.ledger.in_flight()))
            .map_err(|e| warn!(block = block.0, "txpool watcher: no L1 bundle after the landed plans: {e}"))
            .ok()
    }

    /// Reports what the in-flight bundles under the new L1 head's `base` cost the proposer, and flags the
    /// first closed proposal whose legs no longer give its planned answers: the proposer drops it before
    /// sending it.
    fn check_in_flight(&self, base: &surge_l1::BundleSimulator) {
        self.handle.report_funds(base);
        let closed = self.ledger.closed_proposals();
        let doomed = crate::proposer::blame::first_doomed(&closed, base.in_flight_runs(), base.l1_block().0);
        if let Some((id, failure)) = &doomed {
            warn!(proposal = id, "txpool watcher: a closed proposal would fail on L1: {}", failure.reason);
        }
        // What this head found replaces what an earlier one did: a proposal that passes again is not dropped.
        self.ledger.doomed().set(doomed);
    }

    /// The pending state on the L2 head the watcher has taken in (the chain may be a block ahead until the
    /// ledger has accounted for it).
    fn pending(&self) -> Option<PendingL2<<N::Provider as StateProviderFactory>::State>> {
        let provider = self.components.provider();
        let number = self.head.get();
        let pending = provider
            .header_by_number(number)
            .map_err(|e| e.to_string())
            .and_then(|h| h.ok_or(format!("no block {number}")))
            .and_then(|(head, _)| {
                // The L1 heads anchors are chosen among are those block production saw.
                let next = self.next.next_block((number, head.timestamp), None);
                let pending = pending_for(provider, self.components.evm_config(), self.l2, &next)?;
                *self.pending_for.borrow_mut() = Some(next);
                Ok(pending)
            });
        pending.map_err(|e| warn!("txpool watcher: pending state: {e}")).ok()
    }

    /// Publishes that the plans are made for the block the last pending state was for, once the ledger
    /// has recorded them (a block may take only recorded plans).
    fn planned(&self) {
        if let Some(next) = self.pending_for.borrow().clone() {
            publish_for(&self.handle, &self.ledger, self.components.pool(), next);
        }
    }

    /// Builds the core on the first L1 head it can simulate on, then reacts: control inputs first (pool
    /// events before the transactions they may be about), flags before both.
    fn run(self, mut txs: mpsc::Receiver<Arc<PooledTx>>, mut control: mpsc::Receiver<Control>) {
        self.head.set(self.ledger.height());
        let mut core: Option<NodeWatcher<N>> = None;
        // Transactions that arrived before there was an L1 block to plan on.
        let mut early: Vec<Arc<PooledTx>> = vec![];
        loop {
            self.apply_flags(&mut core, &mut early);
            // Caught up: the transactions a full queue turned away are taken in from the pool.
            if txs.is_empty()
                && let Some(core) = core.as_mut()
                && self.flags.overflowed.swap(false, Ordering::AcqRel)
            {
                self.rescan(core);
            }
            // What the last reaction published was made for the block its pending state was for.
            self.planned();
            enum Next {
                Control(Control),
                Tx(Arc<PooledTx>),
            }
            let next = self.runtime.block_on(async {
                tokio::select! {
                    biased;
                    c = control.recv() => c.map(Next::Control),
                    t = txs.recv() => t.map(Next::Tx),
                }
            });
            // The queue's depth as the thread drains it (the forwarder sets it as it fills).
            metrics::gauge!("surge_watcher_queue_depth").set(txs.len() as f64);
            match next {
                None => break,
                Some(Next::Control(Control::Wake)) => {}
                Some(Next::Control(Control::Event(event))) => {
                    if let Some(core) = core.as_mut() {
                        // A transaction a full queue turned away while it was queued: taken in once pending.
                        if let PoolEvent::Pending(hash) = &event
                            && self.handle.no_plan_reason(hash) == Some(NoPlan::QueueFull)
                            && let Some(tx) = self.components.pool().get(hash)
                            && core.missed(&tx)
                        {
                            core.on_transaction(&tx);
                            self.handle.decided();
                        }
                        core.on_pool_event(&event, || self.pending());
                    } else {
                        early.retain(|t| t.hash != event.hash());
                    }
                }
                Some(Next::Tx(tx)) => {
                    // A burst is taken in at once (published once), while no control input waits.
                    let mut burst = vec![tx];
                    while burst.len() < MAX_BURST && control.is_empty() {
                        match txs.try_recv() {
                            Ok(tx) => burst.push(tx),
                            Err(_) => break,
                        }
                    }
                    self.take_in(&mut core, &mut early, burst);
                }
            }
        }
    }

    /// Takes in transactions off the queue: gone ones (an event got here first) and ones taken in
    /// already (from the pool, for a simulation of their sender's) are skipped.
    fn take_in(&self, core: &mut Option<NodeWatcher<N>>, early: &mut Vec<Arc<PooledTx>>, burst: Vec<Arc<PooledTx>>) {
        let pool = self.components.pool();
        let Some(core) = core.as_mut() else {
            for tx in burst {
                if early.len() < 1024 {
                    // Undecided until there is an L1 block to plan on (a block holds it back if it
                    // consumes an answer).
                    self.handle.refuse(tx.hash, NoPlan::L1Unavailable("no L1 block to plan on yet".into()));
                    early.push(tx);
                } else {
                    // Taken in from the pool once there is an L1 block to plan on.
                    self.handle.refuse(tx.hash, NoPlan::QueueFull);
                    self.flags.overflowed.store(true, Ordering::Release);
                }
            }
            return;
        };
        if let Some(why) = self.handle.l1_down() {
            for tx in burst {
                self.handle.refuse(tx.hash, NoPlan::L1Unavailable(why.clone()));
                self.handle.decided();
            }
            return;
        }
        let fresh: Vec<Arc<PooledTx>> = burst
            .into_iter()
            .filter(|tx| {
                let gone = pool.get(&tx.hash).is_none();
                if gone {
                    self.handle.decided();
                }
                !gone && !core.knows(tx)
            })
            .collect();
        core.on_transactions(fresh.iter().map(Arc::as_ref));
        for _ in &fresh {
            self.handle.decided();
        }
    }

    /// Takes in the pool's pending transactions the watcher missed (they found its queue full, or came back
    /// from unwound blocks).
    fn rescan(&self, core: &mut NodeWatcher<N>) {
        let mut taken = 0;
        for tx in self.components.pool().best_transactions() {
            if core.missed(&tx) {
                core.on_transaction(&tx);
                self.handle.decided();
                taken += 1;
            }
        }
        info!(taken, "txpool watcher: took in the pool's transactions it had missed");
    }

    fn apply_flags(&self, core: &mut Option<NodeWatcher<N>>, early: &mut Vec<Arc<PooledTx>>) {
        let mut moved = false;
        if self.flags.l1_moved.swap(false, Ordering::AcqRel) {
            moved = true;
            // While the L1 does not answer nothing is planned: a plan made on what L1 was then may not stand.
            let failing_since = self.l1.0.borrow().failing_since;
            let down = failing_since.map(|since| {
                let away = crate::ledger::now().saturating_sub(since);
                format!("the L1 endpoint has not answered for {away} s")
            });
            if down.is_some() != self.handle.l1_down().is_some() {
                warn!(down = ?down, "txpool watcher: the L1 is {}", if down.is_some() { "away" } else { "back" });
            }
            self.handle.set_l1_down(down);
            let latest = self.l1.0.borrow().latest;
            if let Some(head) = latest
                && core.as_ref().is_none_or(|c| c.l1_block() != (head.number, head.hash))
            {
                let in_flight = self.ledger.in_flight();
                let base = self.runtime.block_on(self.leg.simulator((head.number, head.hash), &in_flight));
                match base.inspect(|base| self.check_in_flight(base)) {
                    Err(e) => warn!(block = head.number, "txpool watcher: no L1 bundle to plan on: {e}"),
                    Ok(base) => match (core.as_mut(), self.pending()) {
                        (Some(core), Some(state)) => core.on_l1_head(base, state),
                        (None, Some(state)) => {
                            info!(block = head.number, "txpool watcher: planning on L1 block");
                            // Transactions run with the block's fee rules (the base fee shared as the block
                            // shares it); the pending state ran the anchor.
                            let factory = self.components.evm_config().block_factory(None);
                            let mut fresh = WatcherCore::new(factory, base, state, self.handle.clone());
                            for tx in early.drain(..) {
                                fresh.on_transaction(&tx);
                                self.handle.decided();
                            }
                            self.planned();
                            *core = Some(fresh);
                        }
                        _ => {}
                    },
                }
            }
        }
        let Some(core) = core.as_mut() else { return };
        if self.flags.l2_moved.swap(false, Ordering::AcqRel) {
            moved = true;
            let news = self.ledger.take_news();
            let unwound = news.unwound || news.tip.is_some_and(|tip| tip < self.head.get());
            if unwound {
                // The block fixed for the old head's child is no block's any more.
                self.next.reset();
            }
            if let Some(tip) = news.tip {
                self.head.set(tip);
            }
            let (mined, landed) = (news.mined, news.landed.into_iter().collect::<HashSet<B256>>());
            let failed = self.handle.take_voided();
            let landed_ops = news.landed_ops;
            // Landed plans moved into a closed proposal; a roll-back took proposals out of flight (their legs
            // must leave the base before anything is planned again, or re-planned transactions find their
            // own messages already processed): either way the open bundle starts anew.
            let moved = !landed.is_empty() || !landed_ops.is_empty() || unwound;
            let base = if moved { self.landing_base(core) } else { None };
            core.on_l2_head((&mined, &landed, &landed_ops), &failed, base, || self.pending());
            if unwound {
                // The unwound blocks' transactions came back to the pool, maybe before the watcher took in the
                // unwind (their nonces then looked spent): taken in again on the new head.
                self.rescan(core);
            }
            self.planned();
        }
        if self.flags.resync.swap(false, Ordering::AcqRel) {
            let pool = self.components.pool();
            core.resync(|h| pool.get(h).is_some(), || self.pending());
        }
        self.place_ops(core, moved);
    }

    /// After a head moved (a submitted op moves the L2 one), places the ledger's waiting user ops in the
    /// open bundle when it has room for them before any plan; an op that left the book and can never run
    /// is dropped from the ledger with the reason.
    fn place_ops(&self, core: &mut NodeWatcher<N>, moved: bool) {
        if self.handle.op_rules().is_none() {
            return;
        }
        let dropped = match moved && self.handle.l1_down().is_none() {
            true => core.place_ops(&self.ledger.waiting_ops()),
            false => core.take_dropped_ops(),
        };
        for dropped in dropped {
            if dropped.is_final() {
                self.ledger.reject_waiting_op(dropped.id, dropped.why.to_string());
            }
        }
    }
}

/// Records the plans `handle` publishes (with their transactions from `pool`) in `ledger` as made for
/// block `next`, then publishes that they are made for it: a block takes only plans recorded for it, so
/// that the ledger finds them when it reads the block, even after a crash.
pub fn publish_for<P: TransactionPool>(handle: &PublishedPlans, ledger: &Ledger, pool: &P, next: NextBlock) {
    use alloy::eips::Encodable2718;
    let (plans, _, _) = handle.plans_and_deferred();
    let plans = plans
        .into_iter()
        .filter_map(|plan| {
            let raw = pool.get(&plan.tx_hash)?.tx.encoded_2718().into();
            Some((plan, raw))
        })
        .collect();
    if let Err(e) = ledger.record_plans(next.number, plans) {
        // Unrecorded plans are not offered: their transactions wait for a write that works.
        warn!(block = next.number, "txpool watcher: recording plans: {e}");
    }
    if let Err(e) = ledger.record_op_placements(next.number, &handle.ops()) {
        warn!(block = next.number, "txpool watcher: recording user ops: {e}");
    }
    handle.set_planned_for(next);
}
