//! Where the RPC's EVM work runs: on threads of its own, at a lower scheduling priority than the node's
//! runtime (the block producer, the proposer and the txpool watcher), behind one semaphore for calls and
//! one for traces, each run under a deadline.
//!
//! A flood of `eth_call`s or traces then queues here, bounded in time, instead of taking the cores the
//! proposer needs: the threads are few (one per permit) and the kernel favours the node's own threads.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;

use crate::error::{RpcError, RpcResult};

/// How much EVM work the RPC may do at once and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// `eth_call`s and `eth_estimateGas`es running at once.
    pub calls: usize,
    /// Traces running at once.
    pub traces: usize,
    /// How long one request may execute (geth's `--rpc.evmtimeout`); also how long it may wait for a slot.
    pub timeout: Duration,
    /// Run below the node's own threads' priority (not for a chain the node itself calls over RPC, such
    /// as dev mode's embedded L1, which the proposer simulates its bundles on).
    pub background: bool,
}

impl Default for ExecLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { calls: cores.max(2), traces: cores.max(1), timeout: Duration::from_secs(5), background: true }
    }
}

/// Which semaphore a request waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// `eth_call`, `eth_estimateGas` (and the extensions' simulations of them).
    Call,
    /// `debug_trace*`.
    Trace,
}

/// The moment a request's execution must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    /// The whole allowance, for the message.
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Self { at: Instant::now() + timeout, timeout }
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The error a request that ran past it gets, in geth's words.
    pub fn error(&self) -> RpcError {
        RpcError::Execution(format!("execution aborted (timeout = {})", fmt_duration(self.timeout)))
    }
}

/// `5s`, `500ms`, as geth prints a duration.
fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// The RPC's execution threads and semaphores.
pub struct RpcExecutor {
    pool: rayon::ThreadPool,
    calls: Arc<Semaphore>,
    traces: Arc<Semaphore>,
    timeout: Duration,
    /// The node's runtime, entered on the execution threads (an extension's call hook awaits on it).
    runtime: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for RpcExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcExecutor")
            .field("threads", &self.pool.current_num_threads())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The execution threads could not start.
#[derive(Debug, thiserror::Error)]
#[error("starting {threads} RPC execution threads: {reason}")]
pub struct ExecStartError {
    /// How many were asked for.
    pub threads: usize,
    /// Why they could not start.
    pub reason: String,
}

/// Nice value of the execution threads: the node's own threads (nice 0) win the cores under load.
const NICE: i32 = 10;

impl RpcExecutor {
    /// Starts one thread per permit (at least one of each kind), entering the current tokio runtime, if
    /// any, on them.
    pub fn new(limits: ExecLimits) -> Result<Self, ExecStartError> {
        let (calls, traces) = (limits.calls.max(1), limits.traces.max(1));
        let threads = calls + traces;
        let background = limits.background;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("rpc-exec-{i}"))
            .start_handler(move |_| {
                if background {
                    lower_priority()
                }
            })
            // Jobs catch their own panics; this keeps anything else from aborting the process.
            .panic_handler(|_| tracing::error!("an RPC execution thread panicked outside a request"))
            .build()
            .map_err(|e| ExecStartError { threads, reason: e.to_string() })?;
        Ok(Self {
            pool,
            calls: Arc::new(Semaphore::new(calls)),
            traces: Arc::new(Semaphore::new(traces)),
            timeout: limits.timeout,
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// The time one request may execute.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `job` on an execution thread once a permit of `work`'s kind is free, with a deadline that
    /// starts when it runs. Waiting longer than the timeout for a permit is an error (the node is busy).
    pub async fn run<T: Send + 'static>(
        &self,
        work: Work,
        job: impl FnOnce(Deadline) -> RpcResult<T> + Send + 'static,
    ) -> RpcResult<T> {
        let semaphore = match work {
            Work::Call => &self.calls,
            Work::Trace => &self.traces,
        };
        let busy = || {
            let kind = if work == Work::Call { "calls" } else { "traces" };
            RpcError::Limit(format!(
                "server busy: no free slot for {kind} within {}; try again later",
                fmt_duration(self.timeout)
            ))
        };
        let permit = match tokio::time::timeout(self.timeout, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(busy()),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (timeout, runtime) = (self.timeout, self.runtime.clone());
        self.pool.spawn(move || {
            let _entered = runtime.as_ref().map(|r| r.enter());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Deadline::after(timeout))));
            drop(permit);
            let result = result.unwrap_or_else(|_| {
                tracing::error!("an RPC execution panicked; its request got an error");
                Err(RpcError::Execution("the execution failed internally".into()))
            });
            let _ = tx.send(result);
        });
        rx.await.map_err(|_| RpcError::Execution("the execution thread stopped".into()))?
    }
}

/// Lowers the calling thread's scheduling priority (Linux: the nice value is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` only read their arguments; a failure leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) != 0 {
            tracing::debug!("could not lower an RPC execution thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_semaphore_turns_requests_away_after_the_timeout_and_panics_become_errors() {
        let exec = Arc::new(
            RpcExecutor::new(ExecLimits { calls: 1, traces: 1, timeout: Duration::from_millis(200), background: true })
                .unwrap(),
        );
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let holder = {
            let exec = exec.clone();
            tokio::spawn(async move {
                exec.run(Work::Call, move |_| {
                    let _ = hold.recv();
                    Ok(1)
                })
                .await
            })
        };
        // Let the holder take the only call permit.
        while exec.calls.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = exec.run(Work::Call, |_| Ok(2)).await.unwrap_err();
        assert!(refused.to_string().contains("server busy"), "{refused}");
        // Traces have their own permits.
        assert!(!exec.run(Work::Trace, |d| Ok(d.passed())).await.unwrap());
        release.send(()).unwrap();
        assert_eq!(holder.await.unwrap().unwrap(), 1);
        let panicked = exec.run(Work::Call, |_| -> RpcResult<()> { panic!("boom") }).await.unwrap_err();
        assert!(panicked.to_string().contains("failed internally"), "{panicked}");
        assert_eq!(exec.run(Work::Call, |_| Ok(3)).await.unwrap(), 3, "the thread survives a panic");
        assert_eq!(Deadline::after(Duration::from_secs(5)).error().to_string(), "execution aborted (timeout = 5s)");
    }
}
