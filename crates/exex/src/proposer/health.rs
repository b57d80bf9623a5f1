//! The proposer's health, for `surge_syncStatus` and `/ready`: its L1 balance and pending nonce, read on
//! every L1 head, and whether it is failing — its last few attempts all failed for reasons of its own (an
//! L1 that refuses its calls, a prover that does not answer), not because a user's leg reverted.

use std::sync::{Arc, Mutex};

use alloy::providers::Provider;
use alloy_primitives::{Address, U256};
use surge_l1::{HeadWatch, L1Sender};
use tokio::sync::broadcast::{self, error::RecvError};

use super::ProposerEvent;

/// Failed attempts in a row before the proposer counts as failing.
pub const FAILING_AFTER: u32 = 3;
/// How long after its last failed attempt a proposer still counts as failing.
pub const FAILING_FOR: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Default)]
struct Inner {
    balance: Option<U256>,
    pending_nonce: Option<u64>,
    /// Failed attempts in a row, the last one's reason, and when it failed.
    failures: (u32, String, Option<std::time::Instant>),
}

/// The proposer's health, kept up to date by [`ProposerHealth::track`].
#[derive(Debug)]
pub struct ProposerHealth {
    address: Address,
    inner: Mutex<Inner>,
}

impl ProposerHealth {
    /// Follows the proposer of `sender`'s account through its `events`, reading its balance and pending
    /// nonce on every head of `heads`, until the heads end.
    pub fn track(
        sender: Arc<L1Sender>,
        mut events: broadcast::Receiver<ProposerEvent>,
        heads: HeadWatch,
    ) -> (Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static) {
        let health = Arc::new(Self { address: sender.address(), inner: Mutex::default() });
        let this = health.clone();
        let task = async move {
            let mut heads = heads.0;
            // The proposer gone (its own failure is reported), the account is still read on every head.
            let mut following = true;
            loop {
                tokio::select! {
                    event = events.recv(), if following => match event {
                        Ok(event) => this.saw(&event),
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => following = false,
                    },
                    changed = heads.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        this.read_account(&sender).await;
                    }
                }
            }
        };
        (health, task)
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A failed attempt counts one more; anything else the proposer did is progress, and clears the count.
    fn saw(&self, event: &ProposerEvent) {
        let mut inner = self.inner();
        inner.failures = match event {
            ProposerEvent::Failed { id, reason } => {
                let reason = format!("proposal {id}: {reason}");
                (inner.failures.0.saturating_add(1), reason, Some(std::time::Instant::now()))
            }
            _ => (0, String::new(), None),
        };
    }

    async fn read_account(&self, sender: &L1Sender) {
        let balance = sender.client().provider().get_balance(self.address);
        let balance = sender.client().run("eth_getBalance", balance).await;
        let nonce = sender.pending_nonce().await;
        let mut inner = self.inner();
        // An L1 that does not answer is reported as such (the head's age); what was read last stays.
        if let Ok(balance) = balance {
            inner.balance = Some(balance);
        }
        if let Ok(nonce) = nonce {
            inner.pending_nonce = Some(nonce);
        }
    }

    /// The proposer's L1 account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Its balance and pending nonce, as last read.
    pub fn account(&self) -> (Option<U256>, Option<u64>) {
        let inner = self.inner();
        (inner.balance, inner.pending_nonce)
    }

    /// Why it is failing, when its last [`FAILING_AFTER`] attempts or more all failed, the last one within
    /// [`FAILING_FOR`] (a proposer with nothing to do since is not failing).
    pub fn failing(&self) -> Option<String> {
        let inner = self.inner();
        let (count, reason, at) = &inner.failures;
        let recent = at.is_some_and(|at| at.elapsed() < FAILING_FOR);
        (*count >= FAILING_AFTER && recent)
            .then(|| format!("proposer failing: {count} attempts in a row failed, the last: {reason}"))
    }
}
