//! Who may call what: the namespaces served over HTTP and over WebSocket (`--http.api`, `--ws.api`), the
//! `Host` names HTTP requests may carry (`--http.vhosts`, against DNS rebinding), the page origins a
//! WebSocket may be opened from (`--ws.origins`), and how many calls one WebSocket connection may have in
//! flight.
//!
//! Both transports share one port, so an HTTP middleware tells the RPC middleware which one a request came
//! over (jsonrpsee hands the HTTP request's extensions to every call of the connection).

use std::{
    collections::BTreeSet,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use jsonrpsee::{
    MethodResponse,
    core::middleware::{Batch, BatchEntry, Notification, RpcServiceT},
    server::{HttpBody, HttpRequest, HttpResponse},
    types::{ErrorObjectOwned, Request},
};

use crate::error::LIMIT_EXCEEDED;

/// The namespaces served unless asked otherwise (reth's default plus ours).
pub const DEFAULT_APIS: [&str; 4] = ["eth", "net", "web3", "surge"];

/// Methods served whatever the namespaces (`GET /health` calls `system_health`).
const ALWAYS: [&str; 1] = ["system"];

/// A set of namespaces (`eth`, `debug`, …), or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiSet {
    /// Every namespace the node serves.
    All,
    /// These.
    Only(BTreeSet<String>),
}

impl Default for ApiSet {
    fn default() -> Self {
        Self::Only(DEFAULT_APIS.iter().map(|s| s.to_string()).collect())
    }
}

impl ApiSet {
    /// Parses `eth,net,debug` (or `all`); an empty list is refused.
    pub fn parse(list: &str) -> Result<Self, String> {
        let names: BTreeSet<String> =
            list.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        if names.is_empty() {
            return Err("no namespaces given (e.g. eth,net,web3,surge)".into());
        }
        if names.contains("all") {
            return Ok(Self::All);
        }
        Ok(Self::Only(names))
    }

    /// Whether `method` (`eth_call`) is in the set.
    pub fn allows(&self, method: &str) -> bool {
        let namespace = method.split_once('_').map_or(method, |(ns, _)| ns);
        ALWAYS.contains(&namespace)
            || match self {
                Self::All => true,
                Self::Only(names) => names.contains(namespace),
            }
    }

    /// The names in the set that `served` (every namespace the node has) lacks.
    pub fn unknown<'a>(&'a self, served: &BTreeSet<&str>) -> Vec<&'a str> {
        match self {
            Self::All => vec![],
            Self::Only(names) => names.iter().map(String::as_str).filter(|n| !served.contains(n)).collect(),
        }
    }
}

/// Which transport a call came over (put into the HTTP request's extensions by [`AccessLayer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain HTTP.
    Http,
    /// A WebSocket connection.
    Ws,
}

/// `Host` names or page origins allowed, geth's way: `*` allows any; a name matches its host part
/// whatever the port; requests addressed to an IP literal always pass the host check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed(Vec<String>);

impl Allowed {
    /// From a list as given on the command line.
    pub fn new(list: &[String]) -> Self {
        Self(list.iter().map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect())
    }

    fn any(&self) -> bool {
        self.0.iter().any(|s| s == "*")
    }

    /// Whether a `Host` header value may be served.
    fn host(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        self.any() || name.parse::<std::net::IpAddr>().is_ok() || self.0.contains(&name)
    }

    /// Whether a page at `origin` (`https://app.example:3000`) may open a WebSocket: an entry matches the
    /// whole origin, or its host (`localhost` allows `http://localhost:3000`).
    fn origin(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let host = strip_port(origin.split_once("://").map_or(origin.as_str(), |(_, rest)| rest));
        self.any() || self.0.iter().any(|a| *a == origin || *a == host)
    }
}

/// The host of an authority: without a trailing `:port`, and an IPv6 literal without its brackets.
fn strip_port(authority: &str) -> &str {
    let authority = authority.trim();
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']').map_or(authority, |(ip, _)| ip);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The HTTP middleware: refuses disallowed hosts and origins with `403`, tags the transport.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    vhosts: Arc<Allowed>,
    origins: Arc<Allowed>,
}

impl AccessLayer {
    /// Allows `vhosts` on HTTP and pages at `origins` on WebSocket.
    pub fn new(vhosts: &[String], origins: &[String]) -> Self {
        Self { vhosts: Arc::new(Allowed::new(vhosts)), origins: Arc::new(Allowed::new(origins)) }
    }
}

impl<S> tower::Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Access<S> {
        Access { inner, vhosts: self.vhosts.clone(), origins: self.origins.clone() }
    }
}

/// The service of [`AccessLayer`].
#[derive(Debug, Clone)]
pub struct Access<S> {
    inner: S,
    vhosts: Arc<Allowed>,
    origins: Arc<Allowed>,
}

fn forbidden(why: String) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(why));
    *response.status_mut() = http::StatusCode::FORBIDDEN;
    response
}

impl<S, B> tower::Service<HttpRequest<B>> for Access<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: HttpRequest<B>) -> Self::Future {
        let header = |name: http::header::HeaderName| {
            request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
        };
        // jsonrpsee's own test, so a request is tagged with the transport jsonrpsee serves it over.
        let upgrade = jsonrpsee::server::ws::is_upgrade_request(&request);
        if upgrade {
            // Clients outside a browser send no Origin; a page always does.
            if let Some(origin) = header(http::header::ORIGIN).filter(|o| !self.origins.origin(o)) {
                let why = format!("origin {origin} is not allowed to open a WebSocket (--ws.origins)\n");
                return Box::pin(async move { Ok(forbidden(why)) });
            }
        } else {
            let host = header(http::header::HOST).or_else(|| request.uri().authority().map(|a| a.to_string()));
            if let Some(host) = host.filter(|h| !self.vhosts.host(h)) {
                let why = format!("host {host} is not allowed (--http.vhosts)\n");
                return Box::pin(async move { Ok(forbidden(why)) });
            }
        }
        request.extensions_mut().insert(if upgrade { Transport::Ws } else { Transport::Http });
        Box::pin(self.inner.call(request))
    }
}

/// The RPC middleware's settings.
#[derive(Debug, Clone)]
pub struct Gate {
    /// Namespaces served over HTTP.
    pub http: Arc<ApiSet>,
    /// Namespaces served over WebSocket.
    pub ws: Arc<ApiSet>,
    /// Calls one WebSocket connection may have in flight.
    pub max_in_flight: usize,
}

impl<S> tower::Layer<S> for Gate {
    type Service = Gated<S>;

    // One service per connection: its in-flight count is the connection's.
    fn layer(&self, inner: S) -> Gated<S> {
        Gated { inner, gate: self.clone(), in_flight: Arc::new(AtomicUsize::new(0)) }
    }
}

/// The service of [`Gate`], one per connection.
#[derive(Debug, Clone)]
pub struct Gated<S> {
    inner: S,
    gate: Gate,
    in_flight: Arc<AtomicUsize>,
}

/// A name no method has: a call renamed to it gets the server's own "method not found".
const HIDDEN: &str = "\u{0}not served on this transport";

impl<S> Gated<S> {
    fn apis(&self, extensions: &http::Extensions) -> &ApiSet {
        match extensions.get::<Transport>() {
            Some(Transport::Ws) => &self.gate.ws,
            _ => &self.gate.http,
        }
    }
}

/// Decrements the connection's in-flight count when the call ends (or is dropped with its connection).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S> RpcServiceT for Gated<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse> + Send + Sync + Clone + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, mut request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        if !self.apis(request.extensions()).allows(request.method_name()) {
            request.method = HIDDEN.into();
        }
        let slot = self.take_slot(request.extensions());
        let inner = self.inner.clone();
        async move {
            match slot {
                Err(refused) => MethodResponse::error(request.id, refused),
                Ok(slot) => {
                    let response = inner.call(request).await;
                    drop(slot);
                    response
                }
            }
        }
    }

    // jsonrpsee runs a batch's calls one after the other: the batch holds one slot.
    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut().flatten() {
            if !self.apis(entry.extensions()).allows(entry.method_name()) {
                match entry {
                    BatchEntry::Call(request) => request.method = HIDDEN.into(),
                    BatchEntry::Notification(n) => n.method = HIDDEN.into(),
                }
            }
        }
        let slot = self.take_slot(batch.extensions());
        let inner = self.inner.clone();
        async move {
            match slot {
                Err(refused) => MethodResponse::error(jsonrpsee::types::Id::Null, refused),
                Ok(slot) => {
                    let response = inner.batch(batch).await;
                    drop(slot);
                    response
                }
            }
        }
    }

    fn notification<'a>(
        &self,
        mut n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        if !self.apis(n.extensions()).allows(n.method_name()) {
            n.method = HIDDEN.into();
        }
        self.inner.notification(n)
    }
}

impl<S> Gated<S> {
    /// One of the connection's in-flight slots for a WebSocket call (HTTP requests take none: one
    /// connection sends them one at a time); an error once all are taken.
    fn take_slot(&self, extensions: &http::Extensions) -> Result<Option<InFlight>, ErrorObjectOwned> {
        if extensions.get::<Transport>() != Some(&Transport::Ws) {
            return Ok(None);
        }
        let slot = InFlight(self.in_flight.clone());
        let max = self.gate.max_in_flight;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            let message = format!("too many calls in flight on this connection (at most {max})");
            return Err(ErrorObjectOwned::owned(LIMIT_EXCEEDED, message, None::<()>));
        }
        Ok(Some(slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_hosts_and_origins_match_as_geth_matches_them() {
        let apis = ApiSet::default();
        assert!(apis.allows("eth_call") && apis.allows("surge_txStatus") && apis.allows("system_health"));
        assert!(!apis.allows("debug_traceCall") && !apis.allows("txpool_content") && !apis.allows("evm_mine"));
        assert!(ApiSet::parse("eth, DEBUG").unwrap().allows("debug_traceCall"));
        assert!(ApiSet::parse("all").unwrap().allows("txpool_content"));
        assert!(ApiSet::parse(" , ").is_err());
        let served = BTreeSet::from(["eth", "debug"]);
        assert_eq!(ApiSet::parse("eth,admin").unwrap().unknown(&served), ["admin"]);

        let vhosts = Allowed::new(&["localhost".into()]);
        for ok in ["localhost", "localhost:8547", "127.0.0.1:8547", "[::1]:8547", "10.0.0.7"] {
            assert!(vhosts.host(ok), "{ok}");
        }
        for refused in ["evil.example", "evil.example:8547", "localhost.evil.example"] {
            assert!(!vhosts.host(refused), "{refused}");
        }
        assert!(Allowed::new(&["*".into()]).host("anything.example"));

        let origins = Allowed::new(&["localhost".into(), "https://app.example".into()]);
        for ok in ["http://localhost:3000", "https://app.example", "http://LOCALHOST"] {
            assert!(origins.origin(ok), "{ok}");
        }
        for refused in ["https://evil.example", "https://app.example.evil", "null"] {
            assert!(!origins.origin(refused), "{refused}");
        }
    }
}
