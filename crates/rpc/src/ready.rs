//! `GET /ready`: whether the node does all it should (`/health` only says the process answers). `200
//! {"ready":true}`, or `503 {"ready":false,"reasons":[…]}` naming what failed, for a load balancer or an
//! orchestrator's readiness probe. Advisories (a proposer low on funds) join the reasons of a ready node
//! without making it 503.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};

/// What keeps the node from being ready; nothing when it is.
pub trait Readiness: Send + Sync + std::fmt::Debug {
    /// The reasons, empty when ready.
    fn not_ready(&self) -> Vec<String>;

    /// What an operator should know that does not make the node unready.
    fn advisories(&self) -> Vec<String> {
        vec![]
    }
}

/// The HTTP middleware answering `GET /ready` from a [`Readiness`] (always ready without one).
#[derive(Debug, Clone)]
pub struct ReadyLayer(pub Option<Arc<dyn Readiness>>);

impl<S> tower::Layer<S> for ReadyLayer {
    type Service = Ready<S>;

    fn layer(&self, inner: S) -> Ready<S> {
        Ready { inner, readiness: self.0.clone() }
    }
}

/// The service of [`ReadyLayer`].
#[derive(Debug, Clone)]
pub struct Ready<S> {
    inner: S,
    readiness: Option<Arc<dyn Readiness>>,
}

impl<S, B> tower::Service<HttpRequest<B>> for Ready<S>
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

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        if request.method() != http::Method::GET || request.uri().path() != "/ready" {
            return Box::pin(self.inner.call(request));
        }
        let reasons = self.readiness.as_ref().map(|r| r.not_ready()).unwrap_or_default();
        let ready = reasons.is_empty();
        let advisories = self.readiness.as_ref().map(|r| r.advisories()).unwrap_or_default();
        let all: Vec<String> = reasons.into_iter().chain(advisories).collect();
        let body = serde_json::json!({ "ready": ready, "reasons": all }).to_string();
        let mut response = HttpResponse::new(HttpBody::from(body));
        if !ready {
            *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        }
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        Box::pin(async move { Ok(response) })
    }
}
