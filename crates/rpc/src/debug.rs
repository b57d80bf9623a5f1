//! `debug_traceTransaction`, `debug_traceBlockByNumber/ByHash` and `debug_traceCall` with geth's built-in
//! tracers (struct logger, callTracer with and without logs, prestateTracer with and without diff mode,
//! 4byteTracer, noopTracer, muxTracer) through revm-inspectors' `DebugInspector`.
//!
//! Transactions are re-executed on the parent's state with the block's own EVM (on an L2, its fee rules
//! and anchor). L1 system calls before the first transaction (EIP-4788, EIP-2935) are not replayed, so a
//! transaction that reads those contracts in the same block traces against the parent's values.
//!
//! Traces run on the RPC's execution threads behind their own semaphore, stopped at the deadline; what
//! the struct logger records is counted against a byte budget (one per request) and a trace past it is
//! refused before it is built.

use std::sync::Arc;

use alloy::{
    consensus::Header,
    eips::BlockId,
    rpc::types::{
        TransactionRequest,
        trace::geth::{GethDebugTracingCallOptions, GethDebugTracingOptions, GethTrace, TraceResult},
    },
};
use alloy_evm::{Evm, EvmEnv, EvmFactory, FromRecoveredTx};
use alloy_primitives::B256;
use jsonrpsee::proc_macros::rpc;
use revm::{DatabaseRef, context::TxEnv, database::CacheDB};
use revm_inspectors::tracing::{DebugInspector, TraceLimitBehavior, TraceLimits, TransactionContext};
use surge_host::StateProvider;
use surge_interfaces::ConfigureEvm;
use surge_l2_rules::{FeeRules, TaikoEvmFactory};

use crate::{
    context::RpcContext,
    convert::StoredBlock,
    error::{RpcError, RpcResult},
    exec::{Deadline, Work},
    guard::{ExecGuard, TraceBudget},
    params::{BlockIdParam, BlockNumberParam},
};

type Db = CacheDB<Arc<StateProvider>>;

/// The `debug` namespace (tracing).
#[rpc(server, namespace = "debug")]
pub trait DebugApi {
    /// Traces a mined transaction.
    #[method(name = "traceTransaction")]
    async fn trace_transaction(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace>;
    /// Traces every transaction of a block by number.
    #[method(name = "traceBlockByNumber")]
    async fn trace_block_by_number(
        &self,
        number: BlockNumberParam,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;
    /// Traces every transaction of a block by hash.
    #[method(name = "traceBlockByHash")]
    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>>;
    /// Traces a call on a block's state, with state and block overrides.
    #[method(name = "traceCall")]
    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace>;
}

/// Tracing over the node.
#[derive(Debug, Clone)]
pub struct DebugApi {
    ctx: RpcContext,
}

impl DebugApi {
    /// Serves `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }

    /// The EVM block `header` executed with: the L2 fee rules with its anchor, or Ethereum's.
    fn block_factory(&self, header: &Header, parent_state: &StateProvider) -> RpcResult<TaikoEvmFactory> {
        if self.ctx.spec.l2.is_none() {
            return Ok(self.ctx.evm_config().simulation_factory());
        }
        let (pctg, _) = surge_l2_rules::decode_extra_data(&header.extra_data)
            .map_err(|e| RpcError::Execution(format!("block {}: {e}", header.number)))?;
        let nonce = parent_state.basic_ref(surge_primitives::GOLDEN_TOUCH_ADDRESS)?.map_or(0, |a| a.nonce);
        Ok(TaikoEvmFactory { rules: FeeRules::block(self.ctx.spec.chain_id, pctg, nonce) })
    }

    /// Traces transactions `wanted` of `block` (every one when `None`), executing the others before them.
    fn trace_in_block(
        &self,
        block: &StoredBlock,
        wanted: Option<usize>,
        opts: GethDebugTracingOptions,
        deadline: Deadline,
    ) -> RpcResult<Vec<TraceResult>> {
        let number = block.header.header.number;
        let parent = self.ctx.store.state_at(number.saturating_sub(1))?;
        let factory = self.block_factory(&block.header.header, &parent)?;
        let mut db: Db = CacheDB::new(Arc::new(parent));
        let env = self.ctx.call_env(&block.header.header);
        let last = wanted.unwrap_or(block.body.transactions.len().saturating_sub(1));
        let mut out = vec![];
        let mut guard = ExecGuard::new(deadline, TraceBudget::for_options(&opts, self.ctx.limits.max_trace_bytes));
        for (i, (tx, sender)) in block.body.transactions.iter().zip(&block.senders).enumerate().take(last + 1) {
            let tx_env = TxEnv::from_recovered_tx(tx, *sender);
            if wanted.is_some_and(|w| w != i) {
                let mut replay = ExecGuard::new(deadline, None);
                let mut evm = factory.create_evm_with_inspector(&mut db, env.clone(), &mut replay);
                let replayed = evm.transact_commit(tx_env);
                replay.check()?;
                replayed.map_err(|e| RpcError::Execution(format!("replaying tx {i}: {e}")))?;
                continue;
            }
            let context = TransactionContext {
                block_hash: Some(block.header.hash),
                tx_index: Some(i),
                tx_hash: Some(*tx.tx_hash()),
            };
            let run = Run { env: env.clone(), tx: tx_env, opts: opts.clone(), context: Some(context), commit: true };
            let trace = trace_one(&factory, &mut db, run, &mut guard, self.ctx.limits.max_trace_bytes)?;
            out.push(TraceResult::Success { result: trace, tx_hash: Some(*tx.tx_hash()) });
        }
        Ok(out)
    }

    fn trace_block(
        &self,
        id: BlockId,
        opts: Option<GethDebugTracingOptions>,
        deadline: Deadline,
    ) -> RpcResult<Vec<TraceResult>> {
        let number = self.ctx.resolve(id)?;
        let block =
            StoredBlock::load(&self.ctx.store, number)?.ok_or_else(|| RpcError::UnknownBlock(number.to_string()))?;
        self.trace_in_block(&block, None, opts.unwrap_or_default(), deadline)
    }

    /// Runs `job` on a trace slot of the RPC's execution threads.
    async fn traced<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Self, Deadline) -> RpcResult<T> + Send + 'static,
    ) -> RpcResult<T> {
        let api = self.clone();
        self.ctx.exec.run(Work::Trace, move |deadline| job(&api, deadline)).await
    }

    fn trace_transaction_now(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
        deadline: Deadline,
    ) -> RpcResult<GethTrace> {
        let loc = self
            .ctx
            .store
            .transaction_location(hash)?
            .ok_or_else(|| RpcError::Execution(format!("transaction {hash} not found")))?;
        let block = StoredBlock::load(&self.ctx.store, loc.block)?
            .ok_or_else(|| RpcError::UnknownBlock(loc.block.to_string()))?;
        let mut traces = self.trace_in_block(&block, Some(loc.index as usize), opts.unwrap_or_default(), deadline)?;
        match traces.pop() {
            Some(TraceResult::Success { result, .. }) => Ok(result),
            _ => Err(RpcError::Execution(format!("transaction {hash} could not be traced"))),
        }
    }

    fn trace_call_now(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        opts: GethDebugTracingCallOptions,
        deadline: Deadline,
    ) -> RpcResult<GethTrace> {
        let (state, header) = self.ctx.state(block.map(BlockIdParam::get).transpose()?)?;
        let block_overrides = opts.block_overrides.map(Box::new);
        let setup = self.ctx.prepare_call(state, &header, request, opts.state_overrides, block_overrides)?;
        let (mut db, env, tx) = self.ctx.call_parts(&setup)?;
        let factory = self.ctx.evm_config().simulation_factory();
        let budget = TraceBudget::for_options(&opts.tracing_options, self.ctx.limits.max_trace_bytes);
        let run = Run { env, tx, opts: opts.tracing_options, context: None, commit: false };
        trace_one(&factory, &mut db, run, &mut ExecGuard::new(deadline, budget), self.ctx.limits.max_trace_bytes)
    }
}

/// One transaction to trace: its environment, the tracer's options, where it sits, and whether its
/// changes stay (later transactions of a block build on them).
struct Run {
    env: EvmEnv,
    tx: TxEnv,
    opts: GethDebugTracingOptions,
    context: Option<TransactionContext>,
    commit: bool,
}

/// Runs `run` with its tracer on `db` under `guard`, the tracer recording at most `max_bytes` of call
/// inputs, outputs and memory; a run stopped by either is an error, and its trace is never built.
fn trace_one(
    factory: &TaikoEvmFactory,
    db: &mut Db,
    run: Run,
    guard: &mut ExecGuard,
    max_bytes: u64,
) -> RpcResult<GethTrace> {
    let Run { env, tx, opts, context, commit } = run;
    let inspector = DebugInspector::new(opts).map_err(|e| RpcError::InvalidParams(e.to_string()))?;
    let mut inspector = bounded(inspector, max_bytes);
    let block_env = env.block_env.clone();
    let result = {
        let mut evm = factory.create_evm_with_inspector(&mut *db, env, (&mut *guard, &mut inspector));
        evm.transact(tx.clone())
    };
    guard.check()?;
    let result = result.map_err(|e| match e.to_string() {
        text if text.contains(RECORDED_LIMIT) => crate::guard::budget_error(max_bytes),
        text => RpcError::Execution(text),
    })?;
    let trace = inspector
        .get_result(context, &tx, &block_env, &result, db)
        .map_err(|e| RpcError::Execution(format!("building the trace: {e}")))?;
    if commit {
        revm::DatabaseCommit::commit(db, result.state);
    }
    Ok(trace)
}

/// How revm-inspectors words a recording stopped at its limit.
const RECORDED_LIMIT: &str = "trace recorded byte limit exceeded";

/// `inspector` halting the run once its tracer has recorded `max_bytes` of call inputs, outputs and
/// memory (a call tracer copies each frame's input: a loop of calls with megabytes of calldata would
/// record gigabytes). The mux tracer's inner tracers are out of reach and bounded by the deadline only.
fn bounded(inspector: DebugInspector, max_bytes: u64) -> DebugInspector {
    let limits = TraceLimits::default()
        .set_max_recorded_bytes(Some(usize::try_from(max_bytes).unwrap_or(usize::MAX)))
        .set_behavior(TraceLimitBehavior::Halt);
    match inspector {
        DebugInspector::CallTracer(t, config) => DebugInspector::CallTracer(t.with_limits(limits), config),
        DebugInspector::PreStateTracer(t, config) => DebugInspector::PreStateTracer(t.with_limits(limits), config),
        DebugInspector::FlatCallTracer(t) => DebugInspector::FlatCallTracer(t.with_limits(limits)),
        DebugInspector::Erc7562Tracer(t, config) => DebugInspector::Erc7562Tracer(t.with_limits(limits), config),
        DebugInspector::Default(t, opts) => DebugInspector::Default(t.with_limits(limits), opts),
        other => other,
    }
}

#[jsonrpsee::core::async_trait]
impl DebugApiServer for DebugApi {
    async fn trace_transaction(&self, hash: B256, opts: Option<GethDebugTracingOptions>) -> RpcResult<GethTrace> {
        self.traced(move |api, deadline| api.trace_transaction_now(hash, opts, deadline)).await
    }

    async fn trace_block_by_number(
        &self,
        number: BlockNumberParam,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        let id: BlockId = number.get()?.into();
        self.traced(move |api, deadline| api.trace_block(id, opts, deadline)).await
    }

    async fn trace_block_by_hash(
        &self,
        hash: B256,
        opts: Option<GethDebugTracingOptions>,
    ) -> RpcResult<Vec<TraceResult>> {
        self.traced(move |api, deadline| api.trace_block(hash.into(), opts, deadline)).await
    }

    async fn trace_call(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        opts: Option<GethDebugTracingCallOptions>,
    ) -> RpcResult<GethTrace> {
        let opts = opts.unwrap_or_default();
        self.traced(move |api, deadline| api.trace_call_now(request, block, opts, deadline)).await
    }
}
