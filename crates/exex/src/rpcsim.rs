//! RPC simulations — `surge_simulateReturnMessage` and the answers a reverting `eth_call` or
//! `eth_estimateGas` asks for — on workers of their own, never on the watcher's thread. They read what the
//! watcher last published ([`AnswerBase`]: the open bundle and the pending L2 state as plain data) on a
//! fresh read of the same L2 head, so RPC load never delays planning, and planning never waits for RPC.
//!
//! The queue is bounded in jobs and in bytes (a job's calldata counts); a full one answers
//! [`NoPlan::QueueFull`] at once. A caller that gives up (its RPC timeout, a dropped connection) raises its
//! job's [`Abort`]: a queued job leaves the queue at once, a running one stops at its next check
//! ([`surge_sync::abort`]). The workers run at a lower OS priority than the watcher: on a busy machine the
//! watcher's planning goes first.

use std::{
    collections::VecDeque,
    sync::{Arc, Condvar, Mutex, OnceLock},
    time::Instant,
};

use alloy_primitives::Address;
use surge_interfaces::{ConfigureEvm, NodeComponents, StateProviderFactory, TransactionPool};
use surge_sync::{NoPlan, Plan, abort::Abort};
use tokio::sync::oneshot;
use tracing::warn;

use crate::{
    book::{AnswerBase, answer_on},
    presim::{Candidate, PendingL2},
    published::PublishedPlans,
};

/// What one job costs in the queue besides its calldata.
const JOB_BYTES: usize = 1024;

/// Limits of the RPC simulation workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcSimConfig {
    /// Worker threads (at least one).
    pub workers: usize,
    /// Jobs waiting for a worker at most.
    pub queue: usize,
    /// Bytes the waiting jobs hold at most (their calldata and a fixed cost each).
    pub queue_bytes: usize,
}

impl Default for RpcSimConfig {
    fn default() -> Self {
        Self { workers: 2, queue: 64, queue_bytes: 16 << 20 }
    }
}

/// Answers a candidate on a base: what the workers run.
pub type Runner = Arc<dyn Fn(&AnswerBase, &Candidate) -> Result<Plan, NoPlan> + Send + Sync>;

struct Job {
    id: u64,
    candidate: Candidate,
    bytes: usize,
    abort: Abort,
    reply: oneshot::Sender<Result<Plan, NoPlan>>,
    queued: Instant,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    bytes: usize,
    next_id: u64,
    /// The workers take no job (a test's hold).
    held: bool,
}

impl Queue {
    /// Publishes the queue's length and bytes.
    fn measure(&self) {
        metrics::gauge!("surge_rpc_simulations_queued").set(self.jobs.len() as f64);
        metrics::gauge!("surge_rpc_simulation_queue_bytes").set(self.bytes as f64);
    }
}

/// The RPC simulation workers and their queue.
pub struct RpcSimulations {
    config: RpcSimConfig,
    queue: Mutex<Queue>,
    ready: Condvar,
    runner: OnceLock<Runner>,
    /// Where the watcher publishes its base.
    plans: Arc<PublishedPlans>,
}

impl std::fmt::Debug for RpcSimulations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcSimulations").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Raises a submitted job's abort and takes it out of the queue when its caller stops waiting (its answer
/// came, or it gave up).
struct Withdraw<'a> {
    sims: &'a RpcSimulations,
    id: u64,
    abort: Abort,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.abort.raise();
        let mut q = self.sims.lock();
        if let Some(at) = q.jobs.iter().position(|j| j.id == self.id) {
            if let Some(job) = q.jobs.remove(at) {
                q.bytes -= job.bytes;
                metrics::counter!("surge_rpc_simulations_total", "outcome" => "withdrawn").increment(1);
            }
            q.measure();
        }
    }
}

impl RpcSimulations {
    /// No workers yet ([`Self::start`] starts them); they answer on the base the watcher publishes in
    /// `plans`.
    pub fn new(config: RpcSimConfig, plans: Arc<PublishedPlans>) -> Arc<Self> {
        metrics::describe_counter!(
            "surge_rpc_simulations_total",
            "RPC simulations by outcome: answered, aborted (their caller gave up while they ran), withdrawn, refused"
        );
        metrics::describe_gauge!("surge_rpc_simulations_queued", "RPC simulations waiting for a worker");
        metrics::describe_gauge!("surge_rpc_simulation_queue_bytes", "Bytes of RPC simulations waiting for a worker");
        Arc::new(Self {
            config,
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            runner: OnceLock::new(),
            plans,
        })
    }

    /// What simulations run on now, if the watcher has published anything.
    fn base(&self) -> Option<Arc<AnswerBase>> {
        self.plans.answer_base()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn not_running() -> NoPlan {
        NoPlan::L1Unavailable("the txpool watcher is not running".into())
    }

    fn no_base() -> NoPlan {
        NoPlan::L1Unavailable("no L1 block to plan on yet".into())
    }

    /// Starts the workers, answering with `runner`.
    pub fn start(self: &Arc<Self>, runner: Runner) {
        if self.runner.set(runner).is_err() {
            return;
        }
        for i in 0..self.config.workers.max(1) {
            let sims = self.clone();
            let spawned = std::thread::Builder::new().name(format!("rpc-sim-{i}")).spawn(move || sims.work());
            if let Err(e) = spawned {
                warn!("RPC simulations: no worker thread {i}: {e}");
            }
        }
    }

    /// The jobs waiting for a worker and the bytes they hold.
    pub fn queued(&self) -> (usize, usize) {
        let q = self.lock();
        (q.jobs.len(), q.bytes)
    }

    /// Holds the workers before their next job, or lets them go on: a test hook showing what the node does
    /// while every RPC simulation worker is stuck (the `rpc.simulation:park` failpoint does it in a binary).
    pub fn hold(&self, held: bool) {
        self.lock().held = held;
        self.ready.notify_all();
    }

    /// What L1 would answer `candidate` now, queued for a worker: refused at once when the queue is full,
    /// stopped when the returned future is dropped.
    pub async fn submit(&self, candidate: Candidate) -> Result<Plan, NoPlan> {
        if self.runner.get().is_none() {
            return Err(Self::not_running());
        }
        if let Some(why) = self.plans.l1_down() {
            return Err(NoPlan::L1Unavailable(why));
        }
        let (reply, answer) = oneshot::channel();
        let abort = Abort::default();
        let bytes = candidate.tx.data.len() + JOB_BYTES;
        let id = {
            let mut q = self.lock();
            if q.jobs.len() >= self.config.queue || q.bytes + bytes > self.config.queue_bytes {
                metrics::counter!("surge_rpc_simulations_total", "outcome" => "refused").increment(1);
                return Err(NoPlan::QueueFull);
            }
            let id = q.next_id;
            q.next_id += 1;
            q.bytes += bytes;
            let job = Job { id, candidate, bytes, abort: abort.clone(), reply, queued: Instant::now() };
            q.jobs.push_back(job);
            q.measure();
            id
        };
        self.ready.notify_one();
        let _withdraw = Withdraw { sims: self, id, abort };
        answer.await.map_err(|_| Self::not_running())?
    }

    /// What L1 would answer `candidate` now, run on a blocking thread of the runtime without queueing (the
    /// node's own callers and tests; RPC goes through [`Self::submit`]).
    pub async fn run_here(&self, candidate: Candidate) -> Result<Plan, NoPlan> {
        let runner = self.runner.get().ok_or_else(Self::not_running)?.clone();
        let base = self.base().ok_or_else(Self::no_base)?;
        tokio::task::spawn_blocking(move || runner(&base, &candidate)).await.map_err(|_| Self::not_running())?
    }

    /// A worker: takes jobs in order, skips those whose caller is gone, answers the others on the latest
    /// base with the job's abort in scope.
    fn work(&self) {
        lower_priority();
        let Some(runner) = self.runner.get() else { return };
        loop {
            // A test parks the workers here to show what the rest of the node does meanwhile.
            surge_primitives::failpoint::failpoint("rpc.simulation");
            let job = {
                let mut q = self.lock();
                loop {
                    if !q.held
                        && let Some(job) = q.jobs.pop_front()
                    {
                        q.bytes -= job.bytes;
                        q.measure();
                        break job;
                    }
                    q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            if job.abort.is_raised() || job.reply.is_closed() {
                continue;
            }
            metrics::histogram!("surge_rpc_simulation_wait_seconds").record(job.queued.elapsed().as_secs_f64());
            let _span = tracing::debug_span!("rpc_simulation", to = ?job.candidate.tx.kind).entered();
            let answer = match self.base() {
                Some(base) => {
                    let run = || surge_sync::abort::scoped(&job.abort, || runner(&base, &job.candidate));
                    // A simulation that panics loses its answer, not the worker.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
                        warn!("RPC simulations: a simulation panicked; its request got an error");
                        Err(NoPlan::L1Unavailable("the simulation failed internally".into()))
                    })
                }
                None => Err(Self::no_base()),
            };
            let outcome = if job.abort.is_raised() { "aborted" } else { "answered" };
            metrics::counter!("surge_rpc_simulations_total", "outcome" => outcome).increment(1);
            let _ = job.reply.send(answer);
        }
    }
}

/// How the RPC workers answer on the node of `components`: the published pending state laid on a fresh
/// read of its head, the caller's pooled transactions that are not planned ahead of the call.
pub(crate) fn answer_runner<N: NodeComponents>(components: N) -> Runner {
    Arc::new(move |base: &AnswerBase, candidate: &Candidate| {
        let parent = base.pending.parent();
        let state = components.provider().state_by_block_number(parent).map_err(|e| {
            NoPlan::L1Unavailable(format!("the pending state on L2 block {parent} cannot be read: {e}"))
        })?;
        let pending = base.pending.on(state);
        let prefix = unplanned_prefix(components.pool(), &pending, candidate.sender);
        let factory = components.evm_config().block_factory(None);
        answer_on(&pending, &factory, &base.bundle, base.deferred, &prefix, candidate)
    })
}

/// `sender`'s pooled transactions from its next nonce on `pending` on, while their nonces follow on: they
/// go into blocks ahead of whatever the sender sends next.
fn unplanned_prefix<P: TransactionPool, S>(pool: &P, pending: &PendingL2<S>, sender: Address) -> Vec<Candidate>
where
    S: revm::DatabaseRef + std::fmt::Debug,
    S::Error: revm::database_interface::DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    let Ok(mut next) = pending.nonce(sender) else { return vec![] };
    let mut txs = pool.transactions_by_sender(sender);
    txs.sort_by_key(|tx| tx.nonce);
    let mut prefix = vec![];
    for tx in txs {
        if tx.nonce > next {
            break;
        }
        if tx.nonce == next {
            prefix.push(Candidate::from_pooled(&tx));
            next += 1;
        }
    }
    prefix
}

/// Makes the calling thread yield to the node's others on a busy machine (Linux threads have their own
/// nice value).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `setpriority` only reads its arguments; `who = 0` is the calling thread on Linux.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if done != 0 {
            tracing::debug!("RPC simulations: the worker keeps its priority");
        }
    }
}
