//! `eth_subscribe` over WebSocket: `newHeads`, `logs` (with a filter) and `newPendingTransactions`, and the
//! kinds extensions add ([`surge_interfaces::SubscriptionKind`]).

use alloy::rpc::types::Header as RpcHeader;
use alloy_primitives::U256;
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage, core::SubscriptionResult, proc_macros::rpc, types::ErrorObjectOwned,
};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    convert::StoredBlock,
    error::INVALID_PARAMS,
    events::ChainEvents,
    extensions::{BUILT_IN_KINDS, SubscriptionKinds},
    params::FilterParam,
};

/// The subscription methods.
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to `newHeads`, `logs` (optionally filtered), `newPendingTransactions`, or a kind an
    /// extension serves (with its params).
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: String, params: Option<serde_json::Value>) -> SubscriptionResult;
}

/// Subscriptions fed by [`ChainEvents`] and the extensions' kinds.
#[derive(Clone)]
pub struct EthPubSub {
    events: ChainEvents,
    log_query_limit: usize,
    kinds: SubscriptionKinds,
}

impl std::fmt::Debug for EthPubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthPubSub").field("kinds", &self.kinds.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl EthPubSub {
    /// Subscriptions fed by `events` and `kinds`; a logs filter may list `log_query_limit` addresses or
    /// topics per position at most.
    pub fn new(events: ChainEvents, log_query_limit: usize, kinds: SubscriptionKinds) -> Self {
        Self { events, log_query_limit, kinds }
    }

    /// Forwards what an extension's subscription `items` yields to `pending`'s client.
    async fn forward(
        pending: PendingSubscriptionSink,
        mut items: tokio::sync::mpsc::Receiver<serde_json::Value>,
    ) -> SubscriptionResult {
        let sink = pending.accept().await?;
        loop {
            let item = tokio::select! {
                item = items.recv() => item,
                _ = sink.closed() => return Ok(()),
            };
            let Some(item) = item else { return Ok(()) };
            sink.send(SubscriptionMessage::from(serde_json::value::to_raw_value(&item)?)).await?;
        }
    }
}

#[jsonrpsee::core::async_trait]
impl EthPubSubApiServer for EthPubSub {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        params: Option<serde_json::Value>,
    ) -> SubscriptionResult {
        let invalid = |message: String| ErrorObjectOwned::owned(INVALID_PARAMS, message, None::<()>);
        if let Some(source) = self.kinds.get(kind.as_str()) {
            return match source.subscribe(params) {
                Ok(items) => Self::forward(pending, items).await,
                Err(refused) => {
                    pending.reject(ErrorObjectOwned::owned(refused.code, refused.message, None::<()>)).await;
                    Ok(())
                }
            };
        }
        if !BUILT_IN_KINDS.contains(&kind.as_str()) {
            let known: Vec<&str> = BUILT_IN_KINDS.iter().copied().chain(self.kinds.keys().copied()).collect();
            pending.reject(invalid(format!("unknown subscription {kind:?}; one of {known:?}"))).await;
            return Ok(());
        }
        let filter = match params.map(serde_json::from_value::<FilterParam>).transpose() {
            Ok(filter) => filter,
            Err(e) => {
                pending.reject(invalid(format!("invalid params: {e}"))).await;
                return Ok(());
            }
        };
        let checked = filter.map(FilterParam::get).transpose().and_then(|f| {
            f.iter().try_for_each(|f| crate::logs::check_filter(f, self.log_query_limit))?;
            Ok(f)
        });
        let filter = match checked {
            Ok(f) => f,
            Err(e) => {
                pending.reject(ErrorObjectOwned::owned(INVALID_PARAMS, e.to_string(), None::<()>)).await;
                return Ok(());
            }
        };
        let criteria = match filter.as_ref().map(|f| self.events.criteria.take(f)).transpose() {
            Ok(c) => c,
            Err(e) => {
                pending.reject(ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let send = |value: serde_json::Value| {
            let sink = sink.clone();
            async move {
                let raw = serde_json::value::to_raw_value(&value)?;
                sink.send(SubscriptionMessage::from(raw)).await.map_err(|e| e.to_string())?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
        };
        if kind == "newPendingTransactions" {
            let mut rx = self.events.pending.subscribe();
            loop {
                match rx.recv().await {
                    Ok(hash) => send(serde_json::to_value(hash)?).await?,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Ok(()),
                }
            }
        }
        let filter = filter.unwrap_or_default();
        // Held, so given back, until the subscription ends.
        let _criteria = criteria;
        let mut rx = self.events.blocks.subscribe();
        loop {
            let block = match rx.recv().await {
                Ok(b) => b,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            if kind == "newHeads" {
                let size = U256::from(alloy_rlp::Encodable::length(&block.header.header));
                let header = RpcHeader::from_consensus(
                    alloy::consensus::Sealed::new_unchecked(block.header.header.clone(), block.header.hash),
                    None,
                    Some(size),
                );
                send(serde_json::to_value(header)?).await?;
                continue;
            }
            let stored =
                StoredBlock { header: block.header.clone(), body: block.body.clone(), senders: block.senders.clone() };
            let mut log_index = 0;
            for (i, receipt) in block.receipts.iter().enumerate() {
                for log in stored.rpc_logs(i, receipt, &mut log_index) {
                    if filter.matches_address(log.address()) && filter.matches_topics(log.topics()) {
                        send(serde_json::to_value(log)?).await?;
                    }
                }
            }
        }
    }
}
