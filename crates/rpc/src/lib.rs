//! The node's JSON-RPC server: `eth_*`, `net_*`, `web3_*`, `txpool_*`, `debug_*` over the host, HTTP and
//! WebSocket on one port, with batching, request and connection limits, namespace selection per
//! transport, host and origin checks and `GET /health`. Extensions merge their own modules into
//! [`RpcModules`] before the server starts (reth's `extend_rpc_modules`).

pub mod access;
pub mod call;
pub mod context;
pub mod convert;
pub mod debug;
pub mod error;
pub mod eth;
pub mod events;
pub mod exec;
pub mod extensions;
pub mod fees;
pub mod filters;
pub mod guard;
pub mod logs;
pub mod metrics;
pub mod misc;
pub mod params;
pub mod pubsub;
pub mod ready;

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc, time::Duration};

use jsonrpsee::{
    Methods, RpcModule,
    server::{
        BatchRequestConfig, PingConfig, Server, ServerConfig, ServerHandle, middleware::http::ProxyGetRequestLayer,
    },
};

pub use access::ApiSet;
pub use context::{RpcContext, RpcLimits};
pub use error::{RpcError, RpcResult};
pub use events::ChainEvents;
pub use exec::{ExecLimits, RpcExecutor};
pub use extensions::RpcExtensions;
pub use ready::Readiness;
use surge_interfaces::MergeMode;

/// Where and how the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcServerConfig {
    /// Address and port (127.0.0.1 unless configured).
    pub addr: SocketAddr,
    /// Largest request body, bytes.
    pub max_request_size: u32,
    /// Largest response body, bytes.
    pub max_response_size: u32,
    /// Calls one batch may hold.
    pub max_batch: u32,
    /// Open connections at most.
    pub max_connections: u32,
    /// Origins browsers may call from (`*` for any); no CORS headers when empty.
    pub cors: Vec<String>,
    /// Namespaces served over HTTP.
    pub http_api: ApiSet,
    /// Namespaces served over WebSocket.
    pub ws_api: ApiSet,
    /// `Host` names HTTP requests may carry (`*` for any; IP addresses always pass).
    pub vhosts: Vec<String>,
    /// Page origins that may open a WebSocket (`*` for any; clients that send no origin always may).
    pub ws_origins: Vec<String>,
    /// Subscriptions one WebSocket connection may hold.
    pub max_subscriptions: u32,
    /// Calls one WebSocket connection may have in flight.
    pub max_in_flight: usize,
    /// How often an idle WebSocket is pinged; it is closed when it answers neither that nor the next.
    pub ws_ping: Duration,
}

impl Default for RpcServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            max_request_size: 15 * 1024 * 1024,
            max_response_size: 160 * 1024 * 1024,
            max_batch: 1000,
            max_connections: 500,
            cors: vec![],
            http_api: ApiSet::default(),
            ws_api: ApiSet::default(),
            vhosts: vec!["localhost".into()],
            ws_origins: vec!["localhost".into()],
            max_subscriptions: 128,
            max_in_flight: 32,
            ws_ping: Duration::from_secs(30),
        }
    }
}

impl RpcServerConfig {
    /// Every namespace on both transports (dev mode).
    pub fn all_apis(mut self) -> Self {
        self.http_api = ApiSet::All;
        self.ws_api = ApiSet::All;
        self
    }
}

/// The methods a node serves, before the server starts.
#[derive(Debug)]
pub struct RpcModules {
    module: RpcModule<()>,
    /// What `GET /ready` reports (always ready without it).
    readiness: Option<Arc<dyn Readiness>>,
}

/// A module could not be merged (a method name is taken).
#[derive(Debug, thiserror::Error)]
#[error("merging RPC methods: {0}")]
pub struct MergeError(pub(crate) String);

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[error("starting the RPC server on {addr}: {reason}")]
pub struct StartError {
    /// Where it tried to listen.
    pub addr: SocketAddr,
    /// Why it could not.
    pub reason: String,
}

impl RpcModules {
    /// Every standard module over `ctx`, with subscriptions and filters fed by `events`.
    pub fn standard(ctx: &RpcContext, events: &ChainEvents) -> Result<Self, MergeError> {
        use eth::EthApiServer;
        use filters::EthFilterApiServer;
        use misc::{NetApiServer, TxpoolApiServer};
        use pubsub::EthPubSubApiServer;
        let mut modules = Self { module: RpcModule::new(()), readiness: None };
        modules.merge(eth::EthApi::new(ctx.clone()).into_rpc())?;
        modules.merge(filters::EthFilter::new(ctx.clone(), events.clone()).into_rpc())?;
        let pubsub = pubsub::EthPubSub::new(events.clone(), ctx.limits.log_query_limit, ctx.subscriptions.clone());
        modules.merge(pubsub.into_rpc())?;
        modules.merge(NetApiServer::into_rpc(misc::MiscApi::new(ctx.clone())))?;
        modules.merge(TxpoolApiServer::into_rpc(misc::MiscApi::new(ctx.clone())))?;
        modules.merge(debug::DebugApiServer::into_rpc(debug::DebugApi::new(ctx.clone())))?;
        let mut health = RpcModule::new(ctx.clone());
        health
            .register_method("system_health", |_, ctx, _| -> Result<serde_json::Value, error::RpcError> {
                Ok(serde_json::json!({ "status": "ok", "head": ctx.head_number()? }))
            })
            .map_err(|e| MergeError(e.to_string()))?;
        modules.merge(health)?;
        Ok(modules)
    }

    /// No methods yet (a server of an extension's methods alone).
    pub fn empty() -> Self {
        Self { module: RpcModule::new(()), readiness: None }
    }

    /// Answers `GET /ready` from `readiness`.
    pub fn set_readiness(&mut self, readiness: Arc<dyn Readiness>) {
        self.readiness = Some(readiness);
    }

    /// Adds an extension's methods (for example the `surge_*` namespace).
    pub fn merge(&mut self, other: impl Into<Methods>) -> Result<(), MergeError> {
        self.module.merge(other).map_err(|e| MergeError(e.to_string()))
    }

    /// Adds every module extensions registered in `extensions` (reth's `extend_rpc_modules`): a
    /// [`MergeMode::Replace`] module takes the place of the standard methods of the same names.
    pub fn extend(&mut self, extensions: &RpcExtensions) -> Result<(), MergeError> {
        for (methods, mode) in extensions.take() {
            if mode == MergeMode::Replace {
                for name in methods.method_names() {
                    self.module.remove_method(name);
                }
            }
            self.merge(methods)?;
        }
        Ok(())
    }

    /// The method names served.
    pub fn method_names(&self) -> Vec<&'static str> {
        self.module.method_names().collect()
    }

    /// The namespaces served (`eth`, `debug`, …).
    pub fn namespaces(&self) -> BTreeSet<&'static str> {
        self.module.method_names().map(|m| m.split_once('_').map_or(m, |(ns, _)| ns)).collect()
    }

    /// Starts serving HTTP and WebSocket on `config.addr`, timing requests into the latency histogram of
    /// `chain`; returns the bound address (port 0 picks one). A namespace asked for that no module serves
    /// is an error.
    pub async fn start(self, config: &RpcServerConfig, chain: &str) -> Result<(ServerHandle, SocketAddr), StartError> {
        let fail = |reason: String| StartError { addr: config.addr, reason };
        let served = self.namespaces();
        for (flag, apis) in [("--http.api", &config.http_api), ("--ws.api", &config.ws_api)] {
            if let Some(unknown) = apis.unknown(&served).first() {
                let known = served.iter().copied().collect::<Vec<_>>().join(", ");
                return Err(fail(format!("{flag}: no namespace {unknown:?} on this chain (it serves {known})")));
            }
        }
        let health = ProxyGetRequestLayer::new([("/health", "system_health")]).map_err(|e| fail(e.to_string()))?;
        let ping = config.ws_ping.max(Duration::from_secs(1));
        let server_config = ServerConfig::builder()
            .max_request_body_size(config.max_request_size)
            .max_response_body_size(config.max_response_size)
            .max_connections(config.max_connections)
            .max_subscriptions_per_connection(config.max_subscriptions)
            .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
            .enable_ws_ping(PingConfig::new().ping_interval(ping).inactive_limit(ping * 2).max_failures(2))
            .set_id_provider(HexIdProvider)
            .build();
        let cors = cors_layer(&config.cors).map_err(fail)?;
        let gate = access::Gate {
            http: Arc::new(config.http_api.clone()),
            ws: Arc::new(config.ws_api.clone()),
            max_in_flight: config.max_in_flight.max(1),
        };
        let server = Server::builder()
            .set_config(server_config)
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .option_layer(cors)
                    .layer(crate::metrics::LatencyLayer::for_chain(chain))
                    .layer(access::AccessLayer::new(&config.vhosts, &config.ws_origins))
                    .layer(ready::ReadyLayer(self.readiness.clone()))
                    .layer(health),
            )
            .set_rpc_middleware(jsonrpsee::core::middleware::RpcServiceBuilder::new().layer(gate))
            .build(config.addr)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let addr = server.local_addr().map_err(|e| fail(e.to_string()))?;
        Ok((server.start(self.module), addr))
    }
}

/// Subscription ids as geth and reth give them: `"0x"` and 32 random hex digits (clients register a
/// subscription only when its id is a string).
#[derive(Debug, Default)]
pub struct HexIdProvider;

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        jsonrpsee::types::SubscriptionId::Str(format!("0x{:032x}", random_u128()).into())
    }
}

/// 128 random bits from the operating system, for ids no client can guess (filters, subscriptions).
pub fn random_u128() -> u128 {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS source failed (it does not on Linux): a randomly keyed hash of a counter and the time is
        // still unpredictable to clients.
        use std::hash::BuildHasher;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = std::collections::hash_map::RandomState::new();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return (u128::from(seed.hash_one((n, now))) << 64) | u128::from(seed.hash_one((now, n)));
    }
    u128::from_le_bytes(bytes)
}

/// The CORS layer for `origins` (`*` = any origin); `None` when there are none.
fn cors_layer(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>, String> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let layer = CorsLayer::new().allow_methods([http::Method::GET, http::Method::POST]).allow_headers(Any);
    if origins.iter().any(|o| o == "*") {
        return Ok(Some(layer.allow_origin(Any)));
    }
    let parsed = origins
        .iter()
        .map(|o| o.parse::<http::HeaderValue>().map_err(|e| format!("CORS origin {o:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(layer.allow_origin(AllowOrigin::list(parsed))))
}
