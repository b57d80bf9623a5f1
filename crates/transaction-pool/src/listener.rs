//! The pool's side of its bounded listeners: a sender that never waits, and counts what it drops when the
//! listener's buffer is full.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use surge_interfaces::Listener;
use tokio::sync::mpsc;

/// The sending end of a [`Listener`].
#[derive(Debug, Clone)]
pub struct ListenerSender<T> {
    tx: mpsc::Sender<T>,
    dropped: Arc<AtomicU64>,
}

/// A bounded listener pair holding at most `capacity` undelivered items.
pub fn listener<T>(capacity: usize) -> (ListenerSender<T>, Listener<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (ListenerSender { tx, dropped: dropped.clone() }, Listener::new(rx, dropped))
}

impl<T> ListenerSender<T> {
    /// Delivers `item` if there is room; `false` once the listener is gone (forget this sender).
    pub fn send(&self, item: T) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
