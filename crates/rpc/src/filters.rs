//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`,
//! `eth_getFilterChanges`, `eth_getFilterLogs`, `eth_uninstallFilter`) for HTTP clients. Ids are random
//! 128-bit numbers (no client can guess another's), at most [`RpcLimits::max_filters`] are installed, and
//! idle ones expire after five minutes, as in geth, swept by a timer.
//!
//! [`RpcLimits::max_filters`]: crate::RpcLimits::max_filters

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use alloy::rpc::types::{Filter, FilterChanges, FilterId};
use alloy_primitives::B256;
use jsonrpsee::proc_macros::rpc;

use crate::{
    context::RpcContext,
    error::{RpcError, RpcResult},
    events::ChainEvents,
    exec::{Deadline, Work},
    logs::{check_filter, get_logs, logs_in_range},
};

const FILTER_TTL: Duration = Duration::from_secs(300);

/// How often expired filters are removed.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Kind {
    Blocks,
    Pending,
    Logs(Box<Filter>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    /// A log filter's share of the criteria budget.
    _criteria: Option<crate::logs::Criteria>,
    /// Last block reported (block and log filters) or last pending sequence number.
    cursor: u64,
    last_poll: Instant,
}

type Filters = Mutex<HashMap<u128, Installed>>;

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
    #[method(name = "getFilterChanges")]
    async fn filter_changes(&self, id: FilterId) -> RpcResult<FilterChanges>;
    /// Every log a log filter matches.
    #[method(name = "getFilterLogs")]
    async fn filter_logs(&self, id: FilterId) -> RpcResult<Vec<alloy::rpc::types::Log>>;
    /// Removes a filter.
    #[method(name = "uninstallFilter")]
    fn uninstall_filter(&self, id: FilterId) -> RpcResult<bool>;
}

/// Installed filters.
#[derive(Debug, Clone)]
pub struct EthFilter {
    ctx: RpcContext,
    events: ChainEvents,
    filters: Arc<Filters>,
}

impl EthFilter {
    /// Filters over `ctx`, pending transactions from `events`; expired filters are swept on the current
    /// tokio runtime, if any, until the filters are dropped.
    pub fn new(ctx: RpcContext, events: ChainEvents) -> Self {
        let filters: Arc<Filters> = Arc::default();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&filters)));
        }
        Self { ctx, events, filters }
    }

    fn install(&self, kind: Kind, cursor: u64) -> RpcResult<FilterId> {
        let criteria = match &kind {
            Kind::Logs(filter) => Some(self.events.criteria.take(filter)?),
            _ => None,
        };
        let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        if filters.len() >= self.ctx.limits.max_filters {
            filters.retain(|_, f| f.last_poll.elapsed() < FILTER_TTL);
            if filters.len() >= self.ctx.limits.max_filters {
                return Err(RpcError::Limit(format!(
                    "too many filters installed ({}); uninstall unused ones or subscribe over WebSocket",
                    filters.len()
                )));
            }
        }
        let id = loop {
            let id = crate::random_u128();
            if !filters.contains_key(&id) {
                break id;
            }
        };
        filters.insert(id, Installed { kind, _criteria: criteria, cursor, last_poll: Instant::now() });
        Ok(FilterId::Str(format!("0x{id:032x}")))
    }

    fn key(id: &FilterId) -> RpcResult<u128> {
        let parsed = match id {
            FilterId::Num(n) => Some(u128::from(*n)),
            FilterId::Str(s) => s.strip_prefix("0x").and_then(|h| u128::from_str_radix(h, 16).ok()),
        };
        parsed.ok_or_else(|| RpcError::InvalidParams(format!("filter id {id:?}")))
    }

    fn not_found() -> RpcError {
        // geth's words (clients such as ethers match them to re-install the filter).
        RpcError::Execution("filter not found".into())
    }
}

impl EthFilter {
    fn changes_now(&self, id: FilterId, deadline: Deadline) -> RpcResult<FilterChanges> {
        let key = Self::key(&id)?;
        let (kind, cursor) = {
            let mut filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
            let f = filters.get_mut(&key).ok_or_else(Self::not_found)?;
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
                let logs =
                    if from > to { vec![] } else { logs_in_range(&self.ctx, &filter, from, to, Some(deadline))? };
                (FilterChanges::Logs(logs), head)
            }
        };
        if let Some(f) = self.filters.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&key) {
            f.cursor = new_cursor;
        }
        Ok(changes)
    }

    fn logs_now(&self, id: FilterId, deadline: Deadline) -> RpcResult<Vec<alloy::rpc::types::Log>> {
        let key = Self::key(&id)?;
        let kind = {
            let filters = self.filters.lock().unwrap_or_else(|p| p.into_inner());
            filters.get(&key).map(|f| f.kind.clone()).ok_or_else(Self::not_found)?
        };
        match kind {
            Kind::Logs(filter) => get_logs(&self.ctx, &filter, Some(deadline)),
            _ => Err(RpcError::InvalidParams("not a log filter".into())),
        }
    }
}

/// Removes filters nobody polled for [`FILTER_TTL`], every [`SWEEP_EVERY`], while they exist.
async fn sweep(filters: Weak<Filters>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(filters) = filters.upgrade() else { return };
        filters.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, f| f.last_poll.elapsed() < FILTER_TTL);
    }
}

#[jsonrpsee::core::async_trait]
impl EthFilterApiServer for EthFilter {
    fn new_filter(&self, filter: crate::params::FilterParam) -> RpcResult<FilterId> {
        let filter = filter.get()?;
        check_filter(&filter, self.ctx.limits.log_query_limit)?;
        let head = self.ctx.head_number()?;
        self.install(Kind::Logs(Box::new(filter)), head)
    }

    fn new_block_filter(&self) -> RpcResult<FilterId> {
        self.install(Kind::Blocks, self.ctx.head_number()?)
    }

    fn new_pending_transaction_filter(&self) -> RpcResult<FilterId> {
        self.install(Kind::Pending, self.events.pending_seq())
    }

    async fn filter_changes(&self, id: FilterId) -> RpcResult<FilterChanges> {
        let filters = self.clone();
        self.ctx.exec.run(Work::Call, move |deadline| filters.changes_now(id, deadline)).await
    }

    async fn filter_logs(&self, id: FilterId) -> RpcResult<Vec<alloy::rpc::types::Log>> {
        let filters = self.clone();
        self.ctx.exec.run(Work::Call, move |deadline| filters.logs_now(id, deadline)).await
    }

    fn uninstall_filter(&self, id: FilterId) -> RpcResult<bool> {
        let key = Self::key(&id)?;
        Ok(self.filters.lock().unwrap_or_else(|p| p.into_inner()).remove(&key).is_some())
    }
}
