//! The node's critical tasks (the proposer, the txpool watcher, the L1 followers), watched: one that panics
//! or ends while the node runs is logged at error level by name and reported, so the node stops (exit code
//! 2, stores closed) or, with `--keep-serving`, goes on answering RPC while `/ready` names what failed.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use surge_interfaces::{TaskExecutor, TaskFuture};
use tokio::sync::watch;

/// A critical task failed (the node's exit code is 2).
#[derive(Debug, thiserror::Error)]
#[error("a critical task failed: {0}")]
pub struct TaskFailed(pub String);

/// Watches the critical tasks.
#[derive(Debug, Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// What a check finds: reasons, none when all is well.
pub type Check = Box<dyn Fn() -> Vec<String> + Send + Sync>;

struct Inner {
    /// What failed, in order.
    failures: Mutex<Vec<String>>,
    /// Checks whose reasons make the node unready.
    checks: Mutex<Vec<Check>>,
    /// Checks whose reasons an operator should know without the node being unready (a proposer running
    /// out of funds).
    advisories: Mutex<Vec<Check>>,
    /// How many have failed (woken on each).
    count: watch::Sender<usize>,
    /// Shutdown has begun: tasks ending now are expected.
    stopping: AtomicBool,
}

impl Default for Supervisor {
    fn default() -> Self {
        let inner = Inner {
            failures: Mutex::default(),
            checks: Mutex::default(),
            advisories: Mutex::default(),
            count: watch::Sender::new(0),
            stopping: AtomicBool::new(false),
        };
        Self { inner: Arc::new(inner) }
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("failures", &self.failures).finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Adds a source of advisories: what it says goes among `/ready`'s reasons without making it 503.
    pub fn advise(&self, source: Check) {
        self.inner.advisories.lock().unwrap_or_else(|p| p.into_inner()).push(source);
    }

    /// Adds a check: what it says makes `/ready` answer 503 (a stale L1 head, a failing proposer).
    pub fn require(&self, check: Check) {
        self.inner.checks.lock().unwrap_or_else(|p| p.into_inner()).push(check);
    }

    /// Spawns `task` under `name` and watches it.
    pub fn spawn(&self, name: &'static str, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let this = self.clone();
        tokio::spawn(async move {
            let how = match handle.await {
                Ok(()) => "ended".to_string(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_message(e.into_panic())),
                Err(_) => return, // cancelled with the runtime: shutting down
            };
            this.failed(name, &how);
        });
    }

    fn failed(&self, name: &str, how: &str) {
        if self.inner.stopping.load(Ordering::Acquire) {
            return;
        }
        tracing::error!(task = name, "critical task {how}");
        self.inner.failures.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{name} {how}"));
        self.inner.count.send_modify(|n| *n += 1);
    }

    /// Shutdown has begun: tasks that end from now on are not failures.
    pub fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::Release);
    }

    /// What failed so far (`proposer panicked: …`).
    pub fn failures(&self) -> Vec<String> {
        self.inner.failures.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits for the first failure; its description.
    pub async fn first_failure(&self) -> String {
        let mut count = self.inner.count.subscribe();
        // The sender lives in `self`: waiting cannot fail.
        let _ = count.wait_for(|n| *n > 0).await;
        self.failures().into_iter().next().unwrap_or_default()
    }
}

/// A panic's payload as text.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "(no message)".into(), |s| s.to_string()),
    }
}

impl TaskExecutor for Supervisor {
    fn spawn_critical(&self, name: &'static str, task: TaskFuture) {
        self.spawn(name, task);
    }
}

impl surge_rpc::Readiness for Supervisor {
    fn not_ready(&self) -> Vec<String> {
        let mut reasons = self.failures();
        reasons.extend(self.inner.checks.lock().unwrap_or_else(|p| p.into_inner()).iter().flat_map(|c| c()));
        reasons
    }

    fn advisories(&self) -> Vec<String> {
        self.inner.advisories.lock().unwrap_or_else(|p| p.into_inner()).iter().flat_map(|a| a()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_an_end_is_a_failure_until_shutdown_begins() {
        let s = Supervisor::default();
        s.spawn("quiet", std::future::pending());
        s.spawn("doomed", async { panic!("boom") });
        assert_eq!(s.first_failure().await, "doomed panicked: boom");
        s.spawn("short", async {});
        let mut count = s.inner.count.subscribe();
        count.wait_for(|n| *n == 2).await.unwrap();
        assert_eq!(s.failures(), ["doomed panicked: boom", "short ended"]);
        s.stopping();
        s.spawn("late", async {});
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(s.failures().len(), 2, "an end during shutdown is expected");
    }

    #[test]
    fn a_check_makes_it_unready_an_advisory_does_not() {
        use surge_rpc::Readiness;
        let s = Supervisor::default();
        s.advise(Box::new(|| vec!["proposer balance low".into()]));
        assert!(s.not_ready().is_empty());
        assert_eq!(s.advisories(), ["proposer balance low"]);
        s.require(Box::new(|| vec!["L1 head stale".into()]));
        assert_eq!(s.not_ready(), ["L1 head stale"]);
    }
}
