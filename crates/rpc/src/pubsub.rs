//! `eth_subscribe` over WebSocket: `newHeads`, `logs` (with a filter) and `newPendingTransactions`.

use alloy::rpc::types::Header as RpcHeader;
use alloy_primitives::U256;
use jsonrpsee::{
    PendingSubscriptionSink, SubscriptionMessage, core::SubscriptionResult, proc_macros::rpc, types::ErrorObjectOwned,
};
use tokio::sync::broadcast::error::RecvError;

use crate::{convert::StoredBlock, error::INVALID_PARAMS, events::ChainEvents, params::FilterParam};

/// The subscription methods.
#[rpc(server, namespace = "eth")]
pub trait EthPubSubApi {
    /// Subscribes to `newHeads`, `logs` (optionally filtered) or `newPendingTransactions`.
    #[subscription(name = "subscribe" => "subscription", unsubscribe = "unsubscribe", item = serde_json::Value)]
    async fn subscribe(&self, kind: String, filter: Option<FilterParam>) -> SubscriptionResult;
}

/// Subscriptions fed by [`ChainEvents`].
#[derive(Debug, Clone)]
pub struct EthPubSub {
    events: ChainEvents,
    log_query_limit: usize,
}

impl EthPubSub {
    /// Subscriptions fed by `events`; a logs filter may list `log_query_limit` addresses or topics per
    /// position at most.
    pub fn new(events: ChainEvents, log_query_limit: usize) -> Self {
        Self { events, log_query_limit }
    }
}

#[jsonrpsee::core::async_trait]
impl EthPubSubApiServer for EthPubSub {
    async fn subscribe(
        &self,
        pending: PendingSubscriptionSink,
        kind: String,
        filter: Option<FilterParam>,
    ) -> SubscriptionResult {
        let known = ["newHeads", "logs", "newPendingTransactions"];
        if !known.contains(&kind.as_str()) {
            let message = format!("unknown subscription {kind:?}; one of {known:?}");
            pending.reject(ErrorObjectOwned::owned(INVALID_PARAMS, message, None::<()>)).await;
            return Ok(());
        }
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
