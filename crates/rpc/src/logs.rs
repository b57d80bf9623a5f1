//! `eth_getLogs` over stored receipts, with the logs bloom skipping blocks that cannot match.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use alloy::rpc::types::{Filter, FilterBlockOption, Log};

use crate::{
    context::RpcContext,
    convert::StoredBlock,
    error::{RpcError, RpcResult},
    exec::Deadline,
};

/// Refuses a filter that lists more than `limit` addresses, or alternatives at one topic position
/// (geth's `--rpc.logquerylimit`): matching costs a comparison with each, for every log of the range.
pub fn check_filter(filter: &Filter, limit: usize) -> RpcResult<()> {
    let widest_topic = filter.topics.iter().map(|t| t.len()).max().unwrap_or(0);
    if filter.address.len() > limit || widest_topic > limit {
        return Err(RpcError::InvalidParams(format!(
            "exceed max addresses or topics per search position: {} addresses, {widest_topic} topics at one \
             position, at most {limit} (--rpc.logquerylimit)",
            filter.address.len()
        )));
    }
    Ok(())
}

/// Addresses and topics that installed filters and log subscriptions may hold together: each is compared
/// with every new log, and one client could otherwise fill memory with filters at the per-filter limit.
pub const MAX_CRITERIA: usize = 1_000_000;

/// The addresses and topics held by every installed filter and log subscription.
#[derive(Debug)]
pub struct CriteriaBudget {
    used: AtomicUsize,
    max: usize,
}

/// A filter's share of the [`CriteriaBudget`], given back when dropped.
#[derive(Debug)]
pub struct Criteria {
    budget: Arc<CriteriaBudget>,
    taken: usize,
}

impl Drop for Criteria {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.taken, Ordering::AcqRel);
    }
}

impl CriteriaBudget {
    /// At most `max` addresses and topics in all.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { used: AtomicUsize::new(0), max })
    }

    /// Takes `filter`'s addresses and topics (at least one) from the budget, or refuses it when full.
    pub fn take(self: &Arc<Self>, filter: &Filter) -> RpcResult<Criteria> {
        let taken = 1 + filter.address.len() + filter.topics.iter().map(|t| t.len()).sum::<usize>();
        let criteria = Criteria { budget: self.clone(), taken };
        if self.used.fetch_add(taken, Ordering::AcqRel) + taken > self.max {
            return Err(RpcError::Limit(format!(
                "too many filter addresses and topics installed ({} at most over all filters and log \
                 subscriptions); uninstall unused filters",
                self.max
            )));
        }
        Ok(criteria)
    }
}

/// The logs matching `filter`, with its range resolved against the head and capped, stopped at
/// `deadline` if one is given.
pub fn get_logs(ctx: &RpcContext, filter: &Filter, deadline: Option<Deadline>) -> RpcResult<Vec<Log>> {
    check_filter(filter, ctx.limits.log_query_limit)?;
    let (from, to) = match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let n = ctx.store.block_number(hash)?.ok_or_else(|| RpcError::UnknownBlock(hash.to_string()))?;
            (n, n)
        }
        FilterBlockOption::Range { from_block, to_block } => {
            let head = ctx.head_number()?;
            let resolve = |b: Option<alloy::eips::BlockNumberOrTag>| match b {
                Some(tag) => ctx.resolve(tag.into()).map_err(|e| match (e, tag) {
                    // A numbered bound past the head: the range does not exist (yet).
                    (RpcError::UnknownBlock(_), alloy::eips::BlockNumberOrTag::Number(_)) => {
                        RpcError::InvalidBlockRange
                    }
                    (e, _) => e,
                }),
                None => Ok(head),
            };
            (resolve(from_block)?, resolve(to_block)?)
        }
    };
    logs_in_range(ctx, filter, from, to, deadline)
}

/// The logs matching `filter` in blocks `from..=to`, stopped at `deadline` if one is given.
pub fn logs_in_range(
    ctx: &RpcContext,
    filter: &Filter,
    from: u64,
    to: u64,
    deadline: Option<Deadline>,
) -> RpcResult<Vec<Log>> {
    if from > to {
        return Err(RpcError::InvalidBlockRange);
    }
    if to - from >= ctx.limits.max_log_range {
        return Err(RpcError::Limit(format!(
            "query spans {} blocks, at most {} allowed",
            to - from + 1,
            ctx.limits.max_log_range
        )));
    }
    let mut out = vec![];
    for number in from..=to {
        if let Some(deadline) = deadline.filter(|d| d.passed()) {
            return Err(deadline.error());
        }
        let Some(header) = ctx.store.header(number)? else { break };
        if !filter.matches_bloom(header.header.logs_bloom) {
            continue;
        }
        let block = StoredBlock::with_header(&ctx.store, header)?;
        let receipts = ctx.store.receipts(number)?.unwrap_or_default();
        let mut log_index = 0;
        for (i, receipt) in receipts.iter().enumerate() {
            for log in block.rpc_logs(i, receipt, &mut log_index) {
                if filter.matches_address(log.address()) && filter.matches_topics(log.topics()) {
                    out.push(log);
                }
            }
        }
        if out.len() > ctx.limits.max_logs {
            return Err(RpcError::Limit(format!("more than {} logs; narrow the range", ctx.limits.max_logs)));
        }
    }
    Ok(out)
}
