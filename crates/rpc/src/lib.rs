//! The node's JSON-RPC server: `eth_*`, `net_*`, `web3_*`, `txpool_*` over the host, HTTP and WebSocket on
//! one port, with batching, a request-size limit and `GET /health`. Extensions merge their own modules
//! into [`RpcModules`] before the server starts (reth's `extend_rpc_modules`).

pub mod call;
pub mod context;
pub mod convert;
pub mod debug;
pub mod error;
pub mod eth;
pub mod events;
pub mod fees;
pub mod filters;
pub mod logs;
pub mod metrics;
pub mod misc;
pub mod params;
pub mod pubsub;

use std::net::SocketAddr;

use jsonrpsee::{
    Methods, RpcModule,
    server::{BatchRequestConfig, Server, ServerConfig, ServerHandle, middleware::http::ProxyGetRequestLayer},
};

pub use context::{RpcContext, RpcLimits};
pub use error::{RpcError, RpcResult};
pub use events::ChainEvents;
use surge_interfaces::{MergeMode, RpcExtensions};

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
        }
    }
}

/// The methods a node serves, before the server starts.
#[derive(Debug)]
pub struct RpcModules {
    module: RpcModule<()>,
}

/// A module could not be merged (a method name is taken).
#[derive(Debug, thiserror::Error)]
#[error("merging RPC methods: {0}")]
pub struct MergeError(String);

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
        let mut modules = Self { module: RpcModule::new(()) };
        modules.merge(eth::EthApi::new(ctx.clone()).into_rpc())?;
        modules.merge(filters::EthFilter::new(ctx.clone(), events.clone()).into_rpc())?;
        modules.merge(pubsub::EthPubSub::new(events.clone()).into_rpc())?;
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

    /// Starts serving HTTP and WebSocket on `config.addr`, timing requests into the latency histogram of
    /// `chain`; returns the bound address (port 0 picks one).
    pub async fn start(self, config: &RpcServerConfig, chain: &str) -> Result<(ServerHandle, SocketAddr), StartError> {
        let fail = |reason: String| StartError { addr: config.addr, reason };
        let health = ProxyGetRequestLayer::new([("/health", "system_health")]).map_err(|e| fail(e.to_string()))?;
        let server_config = ServerConfig::builder()
            .max_request_body_size(config.max_request_size)
            .max_response_body_size(config.max_response_size)
            .max_connections(config.max_connections)
            .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
            .set_id_provider(HexIdProvider::default())
            .build();
        let cors = cors_layer(&config.cors).map_err(fail)?;
        let server = Server::builder()
            .set_config(server_config)
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .option_layer(cors)
                    .layer(crate::metrics::LatencyLayer::for_chain(chain))
                    .layer(health),
            )
            .build(config.addr)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let addr = server.local_addr().map_err(|e| fail(e.to_string()))?;
        Ok((server.start(self.module), addr))
    }
}

/// Subscription ids as geth and reth give them: `"0x"` and 32 hex digits (clients register a subscription
/// only when its id is a string).
#[derive(Debug, Default)]
pub struct HexIdProvider {
    next: std::sync::atomic::AtomicU64,
    seed: std::collections::hash_map::RandomState,
}

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        use std::hash::BuildHasher;
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Unpredictable across runs (the hasher's seed is random), unique within one.
        let (a, b) = (self.seed.hash_one(n), self.seed.hash_one(!n));
        jsonrpsee::types::SubscriptionId::Str(format!("0x{a:016x}{b:016x}").into())
    }
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
