//! The `surge_*` JSON-RPC namespace, served on the node's own endpoint next to `eth_*` (reth's
//! `extend_rpc_modules`): `surge_simulateReturnMessage` tells a dapp what L1 will answer the messages a
//! call sends, so it can embed the answer before it signs. It asks the planner ([`Planner::simulate`]):
//! the call is traced on the pending L2 state and its L1 legs run at the end of the open proposal's
//! bundle — where the transaction goes if it is sent now. Each call is bounded in gas, time and
//! concurrency. `surge_txStatus` tells it what became of a transaction ([`TxStatusSource`]), and
//! `eth_subscribe ["surgeTxStatus", hash]` pushes each state it enters ([`feed`]); `surge_syncStatus` says
//! where the node is against L1 ([`SyncStatusSource`]). Parameters, result and error codes follow Catalyst's
//! realtime sequencer.

pub mod feed;
mod types;

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Address, B256};
use jsonrpsee::{
    RpcModule,
    core::RpcResult,
    proc_macros::rpc,
    types::{ErrorObjectOwned, Params, error::INVALID_PARAMS_CODE},
};
use surge_interfaces::{CallHookFuture, CallShape, CallStateHook, HookBusy, RpcRegistry};
use surge_primitives::slots::signal_service::received_signal_key;
use surge_sync::{
    NoPlan, Planner, SimulatedCall, SyncStatus, SyncStatusSource, TxStatusSource, TxStatusView, UserOpSink, user_op_key,
};
use tokio::sync::Semaphore;
pub use types::{
    AnswerJson, MessageJson, OutboundJson, SimulateRequest, SimulateResponse, TxStatusRequest, UserOpRequest,
};

/// The L2 trace failed, or the L1 leg did (Catalyst's -32000).
pub const SIMULATION_FAILED: i32 = -32000;
/// The call sends no message to L1 (Catalyst's -32001).
pub const NO_OUTBOUND_MESSAGE: i32 = -32001;
/// The L1 leg sends nothing back (Catalyst's -32002).
pub const NO_RETURN_MESSAGE: i32 = -32002;
/// Too many simulations at once (geth's "limit exceeded").
pub const LIMIT_EXCEEDED: i32 = -32005;
/// `surge_txStatus` of a transaction or user op the node does not know (Catalyst's -32001).
pub const NOT_FOUND: i32 = -32001;

/// The `surge_*` methods, as a typed client (`SurgeApiClient`) for Rust dapps.
#[rpc(client, namespace = "surge")]
pub trait SurgeApi {
    /// What L1 answers the messages `request` sends if it is sent now.
    #[method(name = "simulateReturnMessage")]
    async fn simulate_return_message(&self, request: SimulateRequest) -> RpcResult<SimulateResponse>;

    /// What became of a transaction.
    #[method(name = "txStatus")]
    async fn tx_status(&self, request: TxStatusRequest) -> RpcResult<TxStatusView>;

    /// Where the node is against L1.
    #[method(name = "syncStatus")]
    async fn sync_status(&self) -> RpcResult<SyncStatus>;

    /// Checks a user op where it would run and queues it: its id.
    #[method(name = "sendUserOp")]
    async fn send_user_op(&self, request: UserOpRequest) -> RpcResult<u64>;

    /// What became of user op `id`.
    #[method(name = "userOpStatus")]
    async fn user_op_status(&self, id: u64) -> RpcResult<TxStatusView>;
}

/// What one `surge_simulateReturnMessage` may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurgeRpcConfig {
    /// The gas a simulated call gets at most (and without a `gas` parameter).
    pub gas_cap: u64,
    /// How long one simulation may take.
    pub timeout: Duration,
    /// Simulations running at once; more are refused.
    pub max_concurrent: usize,
}

impl Default for SurgeRpcConfig {
    fn default() -> Self {
        Self { gas_cap: 25_000_000, timeout: Duration::from_secs(5), max_concurrent: 16 }
    }
}

/// The planner behind the namespace, or why there is none (synchronous composability is off).
pub type PlannerOrReason = Result<Arc<dyn Planner>, String>;

struct Context {
    planner: PlannerOrReason,
    config: SurgeRpcConfig,
    /// Permits of `surge_simulateReturnMessage` (on every address it is served on).
    running: Semaphore,
    /// Permits of the calls `eth_call`/`eth_estimateGas` ask about, apart: a burst of ordinary reverting
    /// estimates must not crowd out dapps' simulations, nor the other way round.
    hooked: Semaphore,
    /// The L2 signal service, where the anchor marks answers received.
    signal_service: Address,
    /// Where `surge_txStatus` and the status subscriptions read, once the node has it.
    statuses: Arc<std::sync::OnceLock<Arc<dyn TxStatusSource>>>,
    /// Where `surge_syncStatus` reads, once the node has it.
    sync: std::sync::OnceLock<Arc<dyn SyncStatusSource>>,
    /// Where `surge_sendUserOp` submits, once the node has it.
    user_ops: std::sync::OnceLock<Arc<dyn UserOpSink>>,
}

fn error(code: i32, message: &str, data: Option<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message, data)
}

/// The error Catalyst answers for each reason a call gets no answer (its codes; what happened in the
/// message).
fn no_plan_error(reason: NoPlan) -> ErrorObjectOwned {
    match reason {
        NoPlan::NoOutboundMessage => error(NO_OUTBOUND_MESSAGE, "No outbound Bridge.sendMessage found in trace", None),
        NoPlan::Reverts(why) => error(SIMULATION_FAILED, "L2 trace failed", Some(why)),
        NoPlan::L1LegFailed(why) => error(SIMULATION_FAILED, "L1 callback simulation failed", Some(why)),
        NoPlan::L1Unavailable(why) => error(SIMULATION_FAILED, "L1 unavailable", Some(why)),
        NoPlan::BundleGasBudget => error(SIMULATION_FAILED, "L1 bundle full: its legs need more gas than it has", None),
        NoPlan::QueueFull => error(LIMIT_EXCEEDED, "simulation queue full: try again later", None),
        other => error(SIMULATION_FAILED, "L1 callback simulation failed", Some(other.to_string())),
    }
}

fn invalid_params(why: &str) -> ErrorObjectOwned {
    error(INVALID_PARAMS_CODE, &format!("invalid params: {why}"), None)
}

/// The one object parameter, by name (the object itself) or as `[{…}]` (Catalyst's form); `shape` names
/// its fields for the error.
fn object_param<T: serde::de::DeserializeOwned>(params: &Params<'_>, shape: &str) -> Result<T, ErrorObjectOwned> {
    let value: serde_json::Value = params.parse().map_err(|e| invalid_params(e.message()))?;
    let object = match value {
        serde_json::Value::Array(mut items) if items.len() == 1 => items.remove(0),
        object @ serde_json::Value::Object(_) => object,
        _ => return Err(invalid_params(&format!("expected [{shape}]"))),
    };
    serde_json::from_value(object).map_err(|e| invalid_params(&e.to_string()))
}

/// `surge_simulateReturnMessage`'s request.
fn request(params: &Params<'_>) -> Result<SimulateRequest, ErrorObjectOwned> {
    object_param(params, "{from, to, data, value?, gas?}")
}

/// `surge_txStatus` of `params` on `statuses`.
fn tx_status(statuses: Option<&Arc<dyn TxStatusSource>>, params: &Params<'_>) -> RpcResult<TxStatusView> {
    let request: TxStatusRequest = object_param(params, "{txHash} or {userOpId}")?;
    match (request.tx_hash, request.user_op_id) {
        (Some(tx), None) => status_of(statuses, &tx, "Transaction not found"),
        (None, Some(id)) => status_of(statuses, &user_op_key(id), &format!("User op {id} not found")),
        _ => Err(invalid_params("exactly one of txHash and userOpId")),
    }
}

/// The status kept under `key` in `statuses`, or `missing` (-32001).
fn status_of(statuses: Option<&Arc<dyn TxStatusSource>>, key: &B256, missing: &str) -> RpcResult<TxStatusView> {
    let statuses = statuses.ok_or_else(|| error(NOT_FOUND, missing, None))?;
    match statuses.tx_status(key) {
        Ok(Some(status)) => Ok(status),
        Ok(None) => Err(error(NOT_FOUND, missing, None)),
        Err(why) => Err(error(jsonrpsee::types::error::INTERNAL_ERROR_CODE, "reading the status failed", Some(why))),
    }
}

/// `surge_userOpStatus [id]` of `params` on `statuses`.
fn user_op_status(statuses: Option<&Arc<dyn TxStatusSource>>, params: &Params<'_>) -> RpcResult<TxStatusView> {
    let value: serde_json::Value = params.parse().map_err(|e| invalid_params(e.message()))?;
    let id = match value {
        serde_json::Value::Array(items) if items.len() == 1 => serde_json::from_value::<u64>(items[0].clone()).ok(),
        _ => None,
    };
    let id = id.ok_or_else(|| invalid_params("expected [id], a user op id (a non-negative integer)"))?;
    status_of(statuses, &user_op_key(id), &format!("User op {id} not found"))
}

/// `surge_syncStatus` of `params` (none) on `source`.
fn sync_status(source: Option<&Arc<dyn SyncStatusSource>>, params: &Params<'_>) -> RpcResult<SyncStatus> {
    let none = match params.as_str().map(str::trim) {
        None | Some("[]") | Some("{}") => true,
        Some(_) => false,
    };
    if !none {
        return Err(invalid_params("surge_syncStatus takes no parameters"));
    }
    let source =
        source.ok_or_else(|| error(SIMULATION_FAILED, "the sync status is not served on this endpoint", None))?;
    source
        .sync_status()
        .map_err(|why| error(jsonrpsee::types::error::INTERNAL_ERROR_CODE, "reading the sync status failed", Some(why)))
}

impl Context {
    /// `surge_sendUserOp`: the op's id, or why it was refused (-32000; -32005 when too many wait).
    async fn send_user_op(&self, request: UserOpRequest) -> RpcResult<u64> {
        let sink = self
            .user_ops
            .get()
            .ok_or_else(|| error(SIMULATION_FAILED, "user ops are not served on this endpoint", None))?;
        sink.submit(request.submitter, request.calldata).await.map_err(|refused| {
            let code = if refused.busy { LIMIT_EXCEEDED } else { SIMULATION_FAILED };
            error(code, &format!("user op refused: {}", refused.reason), None)
        })
    }

    /// `call`'s plan, within the gas cap, the timeout and the concurrency limit of `permits`.
    async fn plan(
        &self,
        mut call: SimulatedCall,
        permits: &Semaphore,
        source: &'static str,
    ) -> RpcResult<surge_sync::Plan> {
        let planner = self.planner.as_ref().map_err(|why| {
            error(SIMULATION_FAILED, "synchronous composability is off on this node", Some(why.clone()))
        })?;
        let _permit = permits.try_acquire().map_err(|_| {
            let message = format!("too many simulations at once (at most {})", self.config.max_concurrent);
            error(LIMIT_EXCEEDED, &message, None)
        })?;
        call.gas = call.gas.min(self.config.gas_cap);
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(self.config.timeout, planner.simulate(call)).await;
        metrics::histogram!("surge_simulate_return_message_seconds", "source" => source)
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Err(_) => {
                let message = format!("simulation timed out after {} ms", self.config.timeout.as_millis());
                Err(error(SIMULATION_FAILED, &message, None))
            }
            Ok(result) => result.map_err(no_plan_error),
        }
    }

    async fn simulate(&self, request: SimulateRequest) -> RpcResult<SimulateResponse> {
        let call = SimulatedCall {
            from: request.from,
            to: request.to,
            data: request.data,
            value: request.value.unwrap_or_default(),
            gas: request.gas.map_or(self.config.gas_cap, |g| g.to::<u64>()),
        };
        let plan = self.plan(call, &self.running, "rpc").await?;
        SimulateResponse::from_plan(&plan)
            .ok_or_else(|| error(NO_RETURN_MESSAGE, "L1 callback produced no return message", None))
    }
}

/// `eth_call` and `eth_estimateGas` of a sync transaction: when it reverts on the node's state alone, its
/// answers' slots are marked received (as its block's anchor will) and it runs once more.
impl CallStateHook for Context {
    fn storage_for(&self, call: CallShape) -> CallHookFuture<'_> {
        Box::pin(async move {
            let call =
                SimulatedCall { from: call.from, to: call.to, data: call.data, value: call.value, gas: call.gas };
            let plan = match self.plan(call, &self.hooked, "eth_call").await {
                Ok(plan) => plan,
                // Too busy to tell: the caller learns so rather than a revert that may not stand.
                Err(e) if e.code() == LIMIT_EXCEEDED => return Err(HookBusy(e.message().to_string())),
                Err(e) => {
                    tracing::debug!(code = e.code(), "a reverted call gets no answers: {}", e.message());
                    return Ok(vec![]);
                }
            };
            let received = B256::with_last_byte(1);
            Ok(plan.slots().map(|slot| (self.signal_service, received_signal_key(slot), received)).collect())
        })
    }
}

/// The `surge_*` namespace of one node: its methods (on every address they are served on, within one
/// concurrency limit) and the call hook that makes `eth_call` and `eth_estimateGas` sync-aware.
#[derive(Clone)]
pub struct SurgeRpc(Arc<Context>);

impl std::fmt::Debug for SurgeRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurgeRpc").field("config", &self.0.config).finish_non_exhaustive()
    }
}

impl SurgeRpc {
    /// The namespace on `planner` (or answering why there is none), bounded by `config`; answers' slots
    /// are marked in the L2 signal service `signal_service`.
    pub fn new(planner: PlannerOrReason, config: SurgeRpcConfig, signal_service: Address) -> Self {
        let permits = config.max_concurrent.max(1);
        Self(Arc::new(Context {
            planner,
            config,
            running: Semaphore::new(permits),
            hooked: Semaphore::new(permits),
            signal_service,
            statuses: Arc::default(),
            sync: std::sync::OnceLock::new(),
            user_ops: std::sync::OnceLock::new(),
        }))
    }

    /// Takes `surge_sendUserOp` into `sink`. Set once; a second sink is ignored.
    pub fn set_user_ops(&self, sink: Arc<dyn UserOpSink>) {
        let _ = self.0.user_ops.set(sink);
    }

    /// Answers `surge_txStatus` and the status subscriptions from `statuses` (until it is set, every
    /// transaction is not found). Set once; a second source is ignored.
    pub fn set_statuses(&self, statuses: Arc<dyn TxStatusSource>) {
        let _ = self.0.statuses.set(statuses);
    }

    /// Answers `surge_syncStatus` from `source`. Set once; a second source is ignored.
    pub fn set_sync_status(&self, source: Arc<dyn SyncStatusSource>) {
        let _ = self.0.sync.set(source);
    }

    /// The `surge_*` methods.
    pub fn module(&self) -> RpcModule<()> {
        let mut module = RpcModule::new(());
        let context = self.0.clone();
        // Registered by hand: the server jsonrpsee's macro generates parses one params form only, and
        // Catalyst's apps send `[{…}]` where others send the object.
        let registered = module.register_async_method("surge_simulateReturnMessage", move |params, _, _| {
            let context = context.clone();
            let request = request(&params);
            async move { context.simulate(request?).await }
        });
        if let Err(e) = registered {
            // A fixed, unique name on a fresh module: registering cannot fail.
            tracing::error!("registering surge_simulateReturnMessage: {e}");
        }
        let context = self.0.clone();
        // A store read: on the blocking pool, not a runtime worker.
        let registered = module
            .register_blocking_method("surge_txStatus", move |params, _, _| tx_status(context.statuses.get(), &params));
        if let Err(e) = registered {
            tracing::error!("registering surge_txStatus: {e}");
        }
        let context = self.0.clone();
        let registered = module
            .register_blocking_method("surge_syncStatus", move |params, _, _| sync_status(context.sync.get(), &params));
        if let Err(e) = registered {
            tracing::error!("registering surge_syncStatus: {e}");
        }
        let context = self.0.clone();
        let registered = module.register_async_method("surge_sendUserOp", move |params, _, _| {
            let context = context.clone();
            let request = object_param::<UserOpRequest>(&params, "{submitter, calldata}");
            async move { context.send_user_op(request?).await }
        });
        if let Err(e) = registered {
            tracing::error!("registering surge_sendUserOp: {e}");
        }
        let context = self.0.clone();
        let registered = module.register_blocking_method("surge_userOpStatus", move |params, _, _| {
            user_op_status(context.statuses.get(), &params)
        });
        if let Err(e) = registered {
            tracing::error!("registering surge_userOpStatus: {e}");
        }
        module
    }

    /// Serves the methods on the node's endpoint through its RPC extension hook, and (with a planner) has
    /// `eth_call` and `eth_estimateGas` of a sync transaction run with its answers' slots marked received.
    pub fn install(&self, rpc: &dyn RpcRegistry) {
        if self.0.planner.is_ok() {
            rpc.set_call_hook(self.0.clone());
        }
        rpc.merge(self.module().into());
        rpc.add_subscription(feed::TX_STATUS_KIND, Arc::new(feed::StatusFeed::new(self.0.statuses.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(params: &str) -> Result<SimulateRequest, i32> {
        request(&Params::new(Some(params))).map_err(|e| e.code())
    }

    #[test]
    fn both_params_forms_parse_and_mistakes_are_invalid_params() {
        let object = r#"{"from":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","to":"0x7633740000000000000000000000000000002001","input":"0x01","value":"0x10"}"#;
        let positional = parse(&format!("[{object}]")).unwrap();
        assert_eq!(parse(object).unwrap(), positional, "the object itself, by name");
        assert_eq!(positional.data.as_ref(), [1], "`input` is `data`");
        assert_eq!(positional.value, Some(alloy_primitives::U256::from(16)));
        for bad in ["[]", "[1, 2]", "\"x\"", r#"[{"from":"me","to":"0x7633740000000000000000000000000000002001"}]"#] {
            assert_eq!(parse(bad), Err(INVALID_PARAMS_CODE), "{bad}");
        }
    }

    struct Fixed(Option<TxStatusView>);

    impl TxStatusSource for Fixed {
        fn tx_status(&self, _tx: &B256) -> Result<Option<TxStatusView>, String> {
            Ok(self.0.clone())
        }

        fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
            tokio::sync::watch::channel(0).1
        }
    }

    #[test]
    fn tx_status_takes_exactly_one_key_in_either_form() {
        let rejected: TxStatusView = surge_sync::TxStatus::Rejected { reason: "answer already taken".into() }.into();
        let source: Arc<dyn TxStatusSource> = Arc::new(Fixed(Some(rejected.clone())));
        let hash = format!("0x{}", "ab".repeat(32));
        let ask = |params: String| tx_status(Some(&source), &Params::new(Some(&params))).map_err(|e| e.code());
        assert_eq!(ask(format!(r#"{{"txHash":"{hash}"}}"#)), Ok(rejected.clone()));
        assert_eq!(ask(format!(r#"[{{"txHash":"{hash}"}}]"#)), Ok(rejected.clone()));
        for bad in ["{}", r#"{"txHash":"0x12"}"#, r#"{"txHash":null,"userOpId":null}"#, r#"{"tx":"0x"}"#, "[]"] {
            assert_eq!(ask(bad.into()), Err(INVALID_PARAMS_CODE), "{bad}");
        }
        assert_eq!(ask(format!(r#"{{"txHash":"{hash}","userOpId":1}}"#)), Err(INVALID_PARAMS_CODE));
        assert_eq!(ask(r#"{"userOpId":3}"#.into()), Ok(rejected.clone()));
        let unknown: Arc<dyn TxStatusSource> = Arc::new(Fixed(None));
        let params = format!(r#"{{"txHash":"{hash}"}}"#);
        let missing = tx_status(Some(&unknown), &Params::new(Some(&params))).unwrap_err();
        assert_eq!((missing.code(), missing.message()), (NOT_FOUND, "Transaction not found"));
        let missing = tx_status(Some(&unknown), &Params::new(Some(r#"{"userOpId":3}"#))).unwrap_err();
        assert_eq!((missing.code(), missing.message()), (NOT_FOUND, "User op 3 not found"));
        // surge_userOpStatus takes [id].
        let op = |params: &str| user_op_status(Some(&source), &Params::new(Some(params))).map_err(|e| e.code());
        assert_eq!(op("[3]"), Ok(rejected));
        for bad in ["[]", "3", r#"["x"]"#, "[-1]", "[1, 2]", "{}"] {
            assert_eq!(op(bad), Err(INVALID_PARAMS_CODE), "{bad}");
        }
        let missing = user_op_status(Some(&unknown), &Params::new(Some("[7]"))).unwrap_err();
        assert_eq!((missing.code(), missing.message()), (NOT_FOUND, "User op 7 not found"));
    }

    #[test]
    fn each_reason_gets_catalyst_s_code() {
        let code = |reason| no_plan_error(reason).code();
        assert_eq!(code(NoPlan::NoOutboundMessage), NO_OUTBOUND_MESSAGE);
        assert_eq!(code(NoPlan::Reverts("x".into())), SIMULATION_FAILED);
        assert_eq!(code(NoPlan::L1LegFailed("x".into())), SIMULATION_FAILED);
        assert_eq!(code(NoPlan::QueueFull), LIMIT_EXCEEDED);
        assert_eq!(no_plan_error(NoPlan::L1Unavailable("down".into())).message(), "L1 unavailable");
    }
}
