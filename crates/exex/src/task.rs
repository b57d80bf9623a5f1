//! The watcher on a node: installed as an extension, it listens to every admitted L2 transaction and every
//! pool event through the pool seam, to the L2 chain's notifications and to the L1 head, and feeds them to
//! the [`WatcherCore`] on a thread of its own. Admission never waits: the transaction queue is bounded and a
//! transaction that finds it full gets no plan (`queue full`, counted).

use std::{sync::Arc, time::SystemTime};

use alloy_primitives::B256;
use surge_interfaces::{
    ConfigureEvm, ExtensionContext, FinishedHeight, NextBlockAttributes, NodeComponents, PoolEvent, PooledTx,
    StateProviderFactory, TransactionPool,
};
use surge_l1::{HeadWatch, L1Leg, L1StateSource};
use surge_sync::{NoPlan, Plan};
use tokio::sync::{
    mpsc::{self, error::TrySendError},
    oneshot,
};
use tracing::{info, warn};

use crate::{
    presim::{Candidate, L2Protocol, PendingL2},
    watcher::{PlannerHandle, WatcherCore},
};

/// The watcher's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatcherConfig {
    /// Inputs waiting for the watcher's thread (transactions beyond it get no plan).
    pub queue: usize,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        Self { queue: 1024 }
    }
}

enum Input {
    Tx(Arc<PooledTx>),
    Event(PoolEvent),
    L2Head,
    L1Head(u64, B256),
    Answers(Box<Candidate>, oneshot::Sender<Result<Plan, NoPlan>>),
}

/// The watcher as the rest of the node talks to it: its plans and reasons ([`PlannerHandle`]) and the
/// answers L1 would give a transaction now.
#[derive(Debug, Clone)]
pub struct Watcher {
    handle: Arc<PlannerHandle>,
    queue: mpsc::Sender<Input>,
}

/// The watcher's end of the queue, handed to [`install`].
#[derive(Debug)]
pub struct WatcherInputs {
    inputs: mpsc::Receiver<Input>,
    queue: mpsc::Sender<Input>,
    handle: Arc<PlannerHandle>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tx(_) => "Tx",
            Self::Event(_) => "Event",
            Self::L2Head => "L2Head",
            Self::L1Head(..) => "L1Head",
            Self::Answers(..) => "Answers",
        })
    }
}

/// A watcher and its inputs, before it is installed.
pub fn watcher(config: WatcherConfig) -> (Watcher, WatcherInputs) {
    let (queue, inputs) = mpsc::channel(config.queue.max(1));
    let handle = Arc::new(PlannerHandle::default());
    (Watcher { handle: handle.clone(), queue: queue.clone() }, WatcherInputs { inputs, queue, handle })
}

impl Watcher {
    /// Plans and reasons.
    pub fn planner(&self) -> Arc<PlannerHandle> {
        self.handle.clone()
    }

    /// What L1 would answer `candidate`'s messages at the end of the open bundle now, keeping nothing
    /// (phases (a) and (b); what `surge_simulateReturnMessage` returns).
    pub async fn answers(&self, candidate: Candidate) -> Result<Plan, NoPlan> {
        let (reply, answer) = oneshot::channel();
        let gone = || NoPlan::L1Unavailable("the txpool watcher is not running".into());
        self.queue.send(Input::Answers(Box::new(candidate), reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The pending L2 state on `provider`'s head, in the environment of the next block.
pub fn pending_state<P: StateProviderFactory, C: ConfigureEvm>(
    provider: &P,
    evm: &C,
    l2: L2Protocol,
) -> Result<PendingL2<P::State>, String> {
    let (head, _) = provider.latest_header().map_err(|e| e.to_string())?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let attributes = NextBlockAttributes::at(now.max(head.timestamp + 1));
    let env = evm.next_evm_env(provider, &head, &attributes).map_err(|e| e.to_string())?;
    Ok(PendingL2::new(provider.latest().map_err(|e| e.to_string())?, env, l2))
}

/// Installs the watcher on the node of `ctx`, planning L1 legs with `leg` on the L1 heads of `l1`.
pub fn install<N, S>(ctx: ExtensionContext<N>, inputs: WatcherInputs, leg: Arc<L1Leg<S>>, l1: HeadWatch, l2: L2Protocol)
where
    N: NodeComponents,
    S: L1StateSource,
{
    let WatcherInputs { inputs, queue, handle } = inputs;
    let components = ctx.components.clone();
    components.pool().add_replacement_guard(handle.clone());
    let mut txs = components.pool().new_transactions_listener();
    let mut events = components.pool().all_transactions_event_listener();
    let mut notifications = ctx.notifications;
    let mut heads = l1.0;
    let forward_handle = handle.clone();
    metrics::describe_gauge!("surge_watcher_queue_depth", "Inputs waiting for the txpool watcher");
    metrics::describe_counter!("surge_watcher_overflow_total", "Transactions the watcher's full queue turned away");

    tokio::spawn(async move {
        // The L1 head it starts on.
        let first = heads.borrow_and_update().latest;
        if let Some(head) = first
            && queue.send(Input::L1Head(head.number, head.hash)).await.is_err()
        {
            return;
        }
        loop {
            let input = tokio::select! {
                tx = txs.recv() => match tx { Some(tx) => Input::Tx(tx), None => break },
                event = events.recv() => match event { Some(e) => Input::Event(e), None => break },
                changed = heads.changed() => {
                    if changed.is_err() { break }
                    let latest = heads.borrow_and_update().latest;
                    match latest { Some(h) => Input::L1Head(h.number, h.hash), None => continue }
                }
                n = notifications.next() => match n {
                    Some(Ok(n)) => {
                        if let Some(tip) = n.committed().and_then(|b| b.last()) {
                            notifications.finished(FinishedHeight { number: tip.number(), hash: tip.header.hash });
                        }
                        Input::L2Head
                    }
                    Some(Err(e)) => { warn!("txpool watcher: chain notifications: {e}"); continue }
                    None => break,
                },
            };
            let sent = match input {
                Input::Tx(tx) => match queue.try_send(Input::Tx(tx)) {
                    Err(TrySendError::Full(Input::Tx(tx))) => {
                        metrics::counter!("surge_watcher_overflow_total").increment(1);
                        forward_handle.refuse(tx.hash, NoPlan::QueueFull);
                        Ok(())
                    }
                    Err(TrySendError::Closed(_)) => Err(()),
                    _ => Ok(()),
                },
                other => queue.send(other).await.map_err(|_| ()),
            };
            metrics::gauge!("surge_watcher_queue_depth").set((queue.max_capacity() - queue.capacity()) as f64);
            if sent.is_err() {
                break;
            }
        }
    });

    let worker_handle = handle.clone();
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("txpool-watcher".into())
        .spawn(move || run(components, leg, l2, inputs, worker_handle, runtime))
        .map_err(|e| warn!("txpool watcher: no thread: {e}"))
        .ok();
}

/// The watcher's thread: builds the core on the first L1 head it can simulate on, then reacts.
fn run<N, S>(
    components: N,
    leg: Arc<L1Leg<S>>,
    l2: L2Protocol,
    mut inputs: mpsc::Receiver<Input>,
    handle: Arc<PlannerHandle>,
    runtime: tokio::runtime::Handle,
) where
    N: NodeComponents,
    S: L1StateSource,
{
    let provider = components.provider().clone();
    let evm = components.evm_config().clone();
    let pending = || pending_state(&provider, &evm, l2).map_err(|e| warn!("txpool watcher: pending state: {e}")).ok();
    let mut core: Option<WatcherCore<_, _>> = None;
    while let Some(input) = inputs.blocking_recv() {
        match input {
            Input::L1Head(number, hash) => {
                let base = match runtime.block_on(leg.simulator((number, hash), &[])) {
                    Ok(base) => base,
                    Err(e) => {
                        warn!(block = number, "txpool watcher: no L1 bundle to plan on: {e}");
                        continue;
                    }
                };
                let Some(state) = pending() else { continue };
                match core.as_mut() {
                    Some(core) => core.on_l1_head(base, state),
                    None => {
                        info!(block = number, "txpool watcher: planning on L1 block");
                        core = Some(WatcherCore::new(evm.simulation_factory(), base, state, handle.clone()));
                    }
                }
            }
            Input::Tx(tx) => match core.as_mut() {
                Some(core) => core.on_transaction(&tx),
                None => handle.refuse(tx.hash, NoPlan::L1Unavailable("no L1 block to plan on yet".into())),
            },
            Input::Event(event) => {
                if let Some(core) = core.as_mut() {
                    core.on_pool_event(&event, &pending);
                }
            }
            Input::L2Head => {
                if let (Some(core), Some(state)) = (core.as_mut(), pending()) {
                    core.on_l2_head(state);
                }
            }
            Input::Answers(candidate, reply) => {
                let answer = match core.as_mut() {
                    Some(core) => core.answers(&candidate),
                    None => Err(NoPlan::L1Unavailable("no L1 block to plan on yet".into())),
                };
                let _ = reply.send(answer);
            }
        }
    }
}
