//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`,
//! `eth_getFilterChanges`, `eth_getFilterLogs`, `eth_uninstallFilter`) for HTTP clients; idle filters
//! expire after five minutes, as in geth.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::rpc::types::{Filter, FilterChanges, FilterId};
use alloy_primitives::{B256, U256};
use jsonrpsee::proc_macros::rpc;

use crate::{
    context::RpcContext,
    error::{RpcError, RpcResult},
    events::ChainEvents,
    logs::{get_logs, logs_in_range},
};

const FILTER_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
enum Kind {
    Blocks,
    Pending,
    Logs(Box<Filter>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    /// Last block reported (block and log filters) or last pending sequence number.
    cursor: u64,
    last_poll: Instant,
}

/// The filter methods of the `eth` namespace.
#[rpc(server, namespace = "eth")]
pub trait EthFilterApi {
    /// Installs a log filter.
    #[method(name = "newFilter", blocking)]
    fn new_filter(&self, filter: crate::params::FilterParam) -> RpcResult<FilterId>;
    /// Installs a new-block filter.
    #[method(name = "newBlockFilter", blocking)]
    fn new_block_filter(&self) -> RpcResult<FilterId>;
    /// Installs a pending-transaction filter.
    #[method(name = "newPendingTransactionFilter")]
    fn new_pending_transaction_filter(&self) -> RpcResult<FilterId>;
    /// What happened since the last poll.
    #[method(name = "getFilterChanges", blocking)]
    fn filter_changes(&self, id: FilterId) -> RpcResult<FilterChanges>;
    /// Every log a log filter matches.
    #[method(name = "getFilterLogs", blocking)]
    fn filter_logs(&self, id: FilterId) -> RpcResult<Vec<alloy::rpc::types::Log>>;
    /// Removes a filter.
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: FilterId) -> RpcResult<bool>;
}

/// Installed filters.
#[derive(Debug, Clone)]
pub struct EthFilter {
    ctx: RpcContext,
    events: ChainEvents,
    filters: Arc<Mutex<HashMap<U256, Installed>>>,
    next_id: Arc<Mutex<u64>>,
}

impl EthFilter {
    /// Filters over `ctx`, pending transactions from `events`.
    pub fn new(ctx: RpcContext, events: ChainEvents) -> Self {
        Self { ctx, events, filters: Arc::default(), next_id: Arc::new(Mutex::new(1)) }
    }

    fn install(&self, kind: Kind, cursor: u64) -> FilterId {
        let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        filters.retain(|_, f| f.last_poll.elapsed() < FILTER_TTL);
        let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
        let id = U256::from(*next);
        *next += 1;
        filters.insert(id, Installed { kind, cursor, last_poll: Instant::now() });
        FilterId::Num(id.to())
    }

    fn key(id: &FilterId) -> RpcResult<U256> {
        match id {
            FilterId::Num(n) => Ok(U256::from(*n)),
            FilterId::Str(s) => s.parse().map_err(|_| RpcError::InvalidParams(format!("filter id {s}"))),
        }
    }

    fn not_found(id: &FilterId) -> RpcError {
        RpcError::Execution(format!("filter not found: {id:?}"))
    }
}

impl EthFilterApiServer for EthFilter {
    fn new_filter(&self, filter: crate::params::FilterParam) -> RpcResult<FilterId> {
        let filter = filter.get()?;
        let head = self.ctx.head_number()?;
        Ok(self.install(Kind::Logs(Box::new(filter)), head))
    }

    fn new_block_filter(&self) -> RpcResult<FilterId> {
        Ok(self.install(Kind::Blocks, self.ctx.head_number()?))
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<FilterId> {
        Ok(self.install(Kind::Pending, self.events.pending_seq()))
    }

    fn filter_changes(&self, id: FilterId) -> RpcResult<FilterChanges> {
        let key = Self::key(&id)?;
        let (kind, cursor) = {
            let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
            let f = filters.get_mut(&key).ok_or_else(|| Self::not_found(&id))?;
            f.last_poll = Instant::now();
            (f.kind.clone(), f.cursor)
        };
        let head = self.ctx.head_number()?;
        let (changes, new_cursor) = match kind {
            Kind::Blocks => {
                let mut hashes: Vec<B256> = vec![];
                for n in cursor + 1..=head {
                    hashes.extend(self.ctx.store.header(n)?.map(|h| h.hash));
                }
                (FilterChanges::Hashes(hashes), head)
            }
            Kind::Pending => {
                let (hashes, seq) = self.events.pending_since(cursor);
                (FilterChanges::Hashes(hashes), seq)
            }
            Kind::Logs(filter) => {
                // Only the new blocks, and never past the filter's own upper bound.
                let to = filter.get_to_block().map_or(head, |t| t.min(head));
                let from = (cursor + 1).max(filter.get_from_block().unwrap_or(0));
                let logs = if from > to { vec![] } else { logs_in_range(&self.ctx, &filter, from, to)? };
                (FilterChanges::Logs(logs), head)
            }
        };
        if let Some(f) = self.filters.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&key) {
            f.cursor = new_cursor;
        }
        Ok(changes)
    }

    fn filter_logs(&self, id: FilterId) -> RpcResult<Vec<alloy::rpc::types::Log>> {
        let key = Self::key(&id)?;
        let kind = {
            let filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
            filters.get(&key).map(|f| f.kind.clone()).ok_or_else(|| Self::not_found(&id))?
        };
        match kind {
            Kind::Logs(filter) => get_logs(&self.ctx, &filter),
            _ => Err(RpcError::InvalidParams("not a log filter".into())),
        }
    }

    fn uninstall_filter(&self, id: FilterId) -> RpcResult<bool> {
        let key = Self::key(&id)?;
        Ok(self.filters.lock().unwrap_or_else(|p| p.into_inner()).remove(&key).is_some())
    }
}
