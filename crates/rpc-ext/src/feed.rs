//! `eth_subscribe ["surgeTxStatus", hash]`: each state a transaction enters, pushed in order, ending with a
//! final one (`Executed` or `Rejected`). A new subscription first pushes the states already passed (the
//! kept history), then live ones; a transaction the node does not know yet is waited for (a dapp may
//! subscribe before it sends). Items have the shape of a history entry: the state in Catalyst's shape, `at`
//! (unix milliseconds) and, after a roll-back, `rolled_back`.

use std::sync::Arc;

use alloy_primitives::B256;
use jsonrpsee::types::error::INVALID_PARAMS_CODE;
use surge_interfaces::{SubscriptionKind, SubscriptionRefused};
use surge_sync::{Transition, TxStatus, TxStatusSource, TxStatusView};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Items a subscription may have waiting for a slow client before it waits too.
const FEED_BUFFER: usize = 16;
/// Status subscriptions open at once, on every connection together: each reads a status on every change,
/// so their number is bounded like the simulations'.
pub const MAX_STATUS_SUBSCRIPTIONS: usize = 4_096;

/// The subscription kind (its name under `eth_subscribe`).
pub const TX_STATUS_KIND: &str = "surgeTxStatus";

/// The `surgeTxStatus` subscriptions, on the statuses the namespace serves once it has them, at most
/// [`MAX_STATUS_SUBSCRIPTIONS`] at once.
pub(crate) struct StatusFeed {
    pub(crate) statuses: Arc<std::sync::OnceLock<Arc<dyn TxStatusSource>>>,
    pub(crate) open: Arc<Semaphore>,
}

impl StatusFeed {
    pub(crate) fn new(statuses: Arc<std::sync::OnceLock<Arc<dyn TxStatusSource>>>) -> Self {
        Self { statuses, open: Arc::new(Semaphore::new(MAX_STATUS_SUBSCRIPTIONS)) }
    }
}

/// The transaction a subscription's params name: the hash, or `{"txHash": …}`.
fn tx_of(params: Option<serde_json::Value>) -> Result<B256, String> {
    let value = match params {
        Some(serde_json::Value::Object(mut o)) => o.remove("txHash").unwrap_or_default(),
        Some(v) => v,
        None => return Err("expected a transaction hash after \"surgeTxStatus\"".into()),
    };
    serde_json::from_value(value).map_err(|e| format!("expected a transaction hash: {e}"))
}

impl SubscriptionKind for StatusFeed {
    fn subscribe(
        &self,
        params: Option<serde_json::Value>,
    ) -> Result<mpsc::Receiver<serde_json::Value>, SubscriptionRefused> {
        let refused = |code, message: String| SubscriptionRefused { code, message };
        let invalid = |why: String| refused(INVALID_PARAMS_CODE, format!("invalid params: {why}"));
        let tx = tx_of(params).map_err(invalid)?;
        let statuses = self.statuses.get().cloned().ok_or_else(|| invalid("statuses are not served yet".into()))?;
        let permit = self.open.clone().try_acquire_owned().map_err(|_| {
            let message = format!("too many status subscriptions at once (at most {MAX_STATUS_SUBSCRIPTIONS})");
            refused(crate::LIMIT_EXCEEDED, message)
        })?;
        let (sink, items) = mpsc::channel(FEED_BUFFER);
        tokio::spawn(follow(statuses, tx, sink, permit));
        Ok(items)
    }
}

/// Pushes `tx`'s transitions into `sink` until a final one, or until the client goes; holds `_permit` until
/// then.
async fn follow(
    statuses: Arc<dyn TxStatusSource>,
    tx: B256,
    sink: mpsc::Sender<serde_json::Value>,
    _permit: OwnedSemaphorePermit,
) {
    let mut changes = statuses.changes();
    let mut pushed = Pushed::default();
    loop {
        changes.borrow_and_update();
        let source = statuses.clone();
        // Reads the chain's or the ledger's store: off the runtime's workers.
        let read = tokio::task::spawn_blocking(move || source.tx_status(&tx)).await;
        match read {
            Ok(Ok(Some(view))) => {
                for transition in pushed.news(view) {
                    let Ok(item) = serde_json::to_value(&transition) else { return };
                    if sink.send(item).await.is_err() {
                        return;
                    }
                }
                if pushed.finished() {
                    return;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::debug!(%tx, "a status subscription could not read the status: {e}"),
            Err(_) => return,
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = sink.closed() => return,
        }
    }
}

/// What a subscription pushed so far.
#[derive(Debug, Default)]
struct Pushed {
    /// The last history entry pushed (the history may have dropped old entries since: found by value).
    entry: Option<Transition>,
    /// The last state pushed.
    last: Option<TxStatus>,
}

impl Pushed {
    /// The transitions of `view` not pushed yet.
    fn news(&mut self, view: TxStatusView) -> Vec<Transition> {
        let history = view.details.history;
        let fresh: Vec<Transition> = if history.is_empty() {
            // Answered from the chain and the pool alone: a state differing from the last one pushed.
            let changed = self.last.as_ref() != Some(&view.status);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let at = now as u64;
            changed.then_some(Transition { status: view.status, at, rolled_back: None }).into_iter().collect()
        } else {
            let from = match (&self.entry, &self.last) {
                (Some(entry), _) => match history.iter().rposition(|t| t == entry) {
                    Some(i) => i + 1,
                    // Dropped from a long history: what came after it.
                    None => history.iter().position(|t| t.at > entry.at).unwrap_or(history.len()),
                },
                // Kept since the last push from the chain: what that push said is not said again.
                (None, Some(last)) => history.iter().rposition(|t| &t.status == last).map_or(0, |i| i + 1),
                (None, None) => 0,
            };
            let fresh = history[from.min(history.len())..].to_vec();
            if let Some(t) = fresh.last().or(history.last()) {
                self.entry = Some(t.clone());
            }
            fresh
        };
        if let Some(t) = fresh.last() {
            self.last = Some(t.status.clone());
        }
        fresh
    }

    /// Whether a final state was pushed.
    fn finished(&self) -> bool {
        self.last.as_ref().is_some_and(TxStatus::is_final)
    }
}

#[cfg(test)]
mod tests {
    use surge_sync::StatusDetails;

    use super::*;

    fn view(status: TxStatus, history: &[TxStatus]) -> TxStatusView {
        let history =
            history.iter().enumerate().map(|(i, s)| Transition { status: s.clone(), at: i as u64, rolled_back: None });
        TxStatusView { status, details: StatusDetails { history: history.collect(), ..Default::default() } }
    }

    #[test]
    fn each_transition_is_pushed_once_in_order_and_the_final_one_ends_it() {
        let mut pushed = Pushed::default();
        let mined = TxStatus::ProvingBlock { block_id: 4 };
        let names = |ts: Vec<Transition>| ts.into_iter().map(|t| t.status.name()).collect::<Vec<_>>();
        // From the pool first, then kept: `Pending` is not pushed twice.
        assert_eq!(names(pushed.news(view(TxStatus::Pending, &[]))), ["Pending"]);
        assert_eq!(names(pushed.news(view(TxStatus::Pending, &[]))), Vec::<&str>::new());
        let kept = [TxStatus::Pending, mined.clone()];
        assert_eq!(names(pushed.news(view(mined.clone(), &kept))), ["ProvingBlock"]);
        let more = [TxStatus::Pending, mined.clone(), TxStatus::Pending, mined.clone(), TxStatus::Executed];
        assert!(!pushed.finished());
        assert_eq!(names(pushed.news(view(TxStatus::Executed, &more))), ["Pending", "ProvingBlock", "Executed"]);
        assert!(pushed.finished());
        // A late subscriber gets the whole history at once.
        let mut late = Pushed::default();
        assert_eq!(late.news(view(TxStatus::Executed, &more)).len(), 5);
        assert!(late.finished());
        // A history that dropped its oldest entries still gives what came after the last one pushed.
        let mut long = Pushed::default();
        assert_eq!(long.news(view(mined.clone(), &more[..2])).len(), 2);
        let mut shifted = view(TxStatus::Executed, &more);
        shifted.details.history.remove(1);
        assert_eq!(names(long.news(shifted)), ["Pending", "ProvingBlock", "Executed"]);
    }

    struct Unknown(tokio::sync::watch::Sender<u64>);

    impl TxStatusSource for Unknown {
        fn tx_status(&self, _tx: &B256) -> Result<Option<TxStatusView>, String> {
            Ok(None)
        }

        fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
            self.0.subscribe()
        }
    }

    #[tokio::test]
    async fn past_the_bound_a_subscription_is_refused_and_a_closed_one_frees_its_place() {
        let statuses = Arc::new(std::sync::OnceLock::new());
        let unknown: Arc<dyn TxStatusSource> = Arc::new(Unknown(tokio::sync::watch::Sender::new(0)));
        let _ = statuses.set(unknown);
        let feed = StatusFeed::new(statuses);
        let hash = serde_json::json!(format!("0x{}", "ab".repeat(32)));
        let mut open: Vec<_> =
            (0..MAX_STATUS_SUBSCRIPTIONS).map(|_| feed.subscribe(Some(hash.clone())).unwrap()).collect();
        let refused = feed.subscribe(Some(hash.clone())).unwrap_err();
        assert_eq!(refused.code, crate::LIMIT_EXCEEDED, "{}", refused.message);
        // A client gone: its task ends and its place is free again.
        drop(open.pop());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while feed.subscribe(Some(hash.clone())).is_err() {
            assert!(std::time::Instant::now() < deadline, "the closed subscription's place was not freed");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let bad = feed.subscribe(Some(serde_json::json!("0x12"))).unwrap_err();
        assert_eq!(bad.code, INVALID_PARAMS_CODE, "{}", bad.message);
    }

    #[test]
    fn params_name_the_transaction_either_way() {
        let hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(tx_of(Some(serde_json::json!(hash))).unwrap(), B256::repeat_byte(0xab));
        assert_eq!(tx_of(Some(serde_json::json!({ "txHash": hash }))).unwrap(), B256::repeat_byte(0xab));
        for bad in [None, Some(serde_json::json!(1)), Some(serde_json::json!({})), Some(serde_json::json!("0x12"))] {
            assert!(tx_of(bad).is_err());
        }
    }
}
