//! Closed proposals found doomed before they are sent: at every L1 head the watcher runs the in-flight
//! bundles ahead of the open one, and a closed proposal whose legs no longer give the answers its plans
//! hold (a callback turned off, an L1 message ahead of it) is flagged here with what its legs did. The
//! proposer takes the flag as that proposal's pre-flight failure — judged, its culprit dropped, its blocks
//! rolled back — before spending a proof or an L1 transaction on it.

use std::sync::Mutex;

use surge_l1::PreflightFailure;

/// The flag the latest L1 head raised, if any, and the proposer's wake-up.
#[derive(Debug, Default)]
pub struct Doomed {
    flagged: Mutex<Option<(u64, PreflightFailure)>>,
    raised: tokio::sync::Notify,
}

impl Doomed {
    /// What the latest L1 head found: proposal `id` doomed, with what its legs did, or none. A flag an
    /// earlier head raised and this one did not is lowered (an L1 that moved back).
    pub fn set(&self, found: Option<(u64, PreflightFailure)>) {
        let raised = found.is_some();
        *self.flagged.lock().unwrap_or_else(|e| e.into_inner()) = found;
        if raised {
            self.raised.notify_waiters();
        }
    }

    /// Takes the flag of proposal `id`, if it has one.
    pub fn take(&self, id: u64) -> Option<PreflightFailure> {
        let mut flagged = self.flagged.lock().unwrap_or_else(|e| e.into_inner());
        if flagged.as_ref().is_some_and(|(flagged, _)| *flagged == id) {
            return flagged.take().map(|(_, failure)| failure);
        }
        None
    }

    /// Waits until proposal `id` is flagged; its flag.
    pub async fn wait_for(&self, id: u64) -> PreflightFailure {
        loop {
            let raised = self.raised.notified();
            if let Some(failure) = self.take(id) {
                return failure;
            }
            raised.await;
        }
    }
}
