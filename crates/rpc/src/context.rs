//! What every RPC module reads: the chain spec, the store, the pool, and how block tags resolve.

use std::sync::Arc;

use alloy::{
    consensus::Header,
    eips::{BlockId, BlockNumberOrTag},
};
use alloy_evm::EvmEnv;
use surge_host::NotificationHub;
use surge_host::{ChainSpec, StateProvider, Store, seams::PoolHandle};
use surge_interfaces::{ChainTags, ConfigureEvm};

use crate::{
    error::{RpcError, RpcResult},
    exec::RpcExecutor,
};

/// Limits that keep one request from taking the node down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcLimits {
    /// Blocks one `eth_getLogs` may scan.
    pub max_log_range: u64,
    /// Logs one `eth_getLogs` may return.
    pub max_logs: usize,
    /// Addresses, and alternatives per topic position, one log filter may list (geth's
    /// `--rpc.logquerylimit`).
    pub log_query_limit: usize,
    /// Polling filters installed at once, over all clients.
    pub max_filters: usize,
    /// Gas `eth_call` and `eth_estimateGas` run with at most.
    pub gas_cap: u64,
    /// Blocks `eth_feeHistory` may cover.
    pub max_fee_history: u64,
    /// Bytes a struct-logger trace may record.
    pub max_trace_bytes: u64,
    /// How far below the head `eth_getProof` answers (besides every block from `finalized` up).
    pub proof_window: u64,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_log_range: 10_000,
            max_logs: 20_000,
            log_query_limit: 1_000,
            max_filters: 10_000,
            gas_cap: 50_000_000,
            max_fee_history: 1024,
            max_trace_bytes: 128 << 20,
            proof_window: 8_192,
        }
    }
}

/// How far below the head `eth_getProof` follows a lagging `finalized` at most (a day of 1 s blocks).
pub const MAX_PROOF_LAG: u64 = 86_400;

/// The node state behind the RPC.
#[derive(Clone)]
pub struct RpcContext {
    /// The chain.
    pub spec: Arc<ChainSpec>,
    /// The store, read without the chain's lock.
    pub store: Arc<Store>,
    /// The chain's notifications (subscriptions and filters).
    pub hub: Arc<NotificationHub>,
    /// The pool.
    pub pool: PoolHandle,
    /// The blocks `safe` and `finalized` name.
    pub tags: Arc<ChainTags>,
    /// Limits.
    pub limits: RpcLimits,
    /// What an extension adds to a call that reverted (the answers' slots of a sync transaction).
    pub call_hook: Option<Arc<dyn surge_interfaces::CallStateHook>>,
    /// Where calls and traces execute.
    pub exec: Arc<RpcExecutor>,
    /// The subscription kinds extensions serve under `eth_subscribe`.
    pub subscriptions: crate::extensions::SubscriptionKinds,
}

impl std::fmt::Debug for RpcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcContext").field("chain_id", &self.spec.chain_id).finish_non_exhaustive()
    }
}

impl RpcContext {
    /// The chain's EVM configuration.
    pub fn evm_config(&self) -> surge_host::seams::HostEvmConfig {
        surge_host::seams::HostEvmConfig(self.spec.clone())
    }

    /// The head's number.
    pub fn head_number(&self) -> RpcResult<u64> {
        Ok(self.store.head()?.header.number)
    }

    /// The block number a tag or hash names; an error for an unknown hash or a future number.
    pub fn resolve(&self, id: BlockId) -> RpcResult<u64> {
        let head = self.head_number()?;
        let number = match id {
            BlockId::Hash(h) => {
                return self
                    .store
                    .block_number(h.block_hash)?
                    .ok_or_else(|| RpcError::UnknownBlock(h.block_hash.to_string()));
            }
            BlockId::Number(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending) => head,
            BlockId::Number(BlockNumberOrTag::Earliest) => 0,
            BlockId::Number(BlockNumberOrTag::Safe) => self.tags.safe(head),
            BlockId::Number(BlockNumberOrTag::Finalized) => self.tags.finalized(head),
            BlockId::Number(BlockNumberOrTag::Number(n)) => n,
        };
        if number > head {
            return Err(RpcError::UnknownBlock(number.to_string()));
        }
        Ok(number)
    }

    /// Like [`Self::resolve`] but `None` for a block that does not exist (getters answer `null`).
    pub fn resolve_opt(&self, id: BlockId) -> RpcResult<Option<u64>> {
        match self.resolve(id) {
            Ok(n) => Ok(Some(n)),
            Err(RpcError::UnknownBlock(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The state after block `id` (`latest` when `None`).
    pub fn state(&self, id: Option<BlockId>) -> RpcResult<(StateProvider, Header)> {
        let number = self.resolve(id.unwrap_or_default())?;
        let header = self.store.header(number)?.ok_or_else(|| RpcError::UnknownBlock(number.to_string()))?;
        Ok((self.store.state_at(number)?, header.header))
    }

    /// How far below the head `eth_getProof` reaches: [`RpcLimits::proof_window`], or down to `finalized`
    /// when that lags further (every block an inbox checkpoint references back to the one L1 finalized is
    /// served, however far that is). A proof at an old block re-derives every state change since it.
    pub fn proof_window(&self) -> RpcResult<surge_host::storage::ProofWindow> {
        let head = self.head_number()?;
        // However far `finalized` lags (a stalled L1 or proposer), never more than this.
        let to_finalized = head.saturating_sub(self.tags.finalized(head)).min(MAX_PROOF_LAG);
        Ok(surge_host::storage::ProofWindow(self.limits.proof_window.max(to_finalized)))
    }

    /// The base fee of the block after `header` under the chain's rules.
    pub fn next_base_fee(&self, header: &Header) -> RpcResult<u64> {
        Ok(self.spec.next_base_fee_after(&self.store, header)?)
    }

    /// The environment a call runs in on top of block `header` (its own environment, as geth does).
    pub fn call_env(&self, header: &Header) -> EvmEnv {
        self.evm_config().evm_env(header)
    }
}
