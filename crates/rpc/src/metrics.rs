//! Prometheus metrics: request latency measured by an HTTP middleware on the RPC server (recorded through
//! the `metrics` facade into the node's one registry), and a small text-format endpoint serving it.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Upper bounds of the latency histogram (`surge_rpc_request_duration_seconds`), in seconds: the exporter
/// is set up with these.
pub const LATENCY_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];

/// The latency histogram's name.
pub const LATENCY_METRIC: &str = "surge_rpc_request_duration_seconds";

/// The tower layer timing every HTTP request (a batch counts once, a WS connection once), labelled with
/// the chain.
#[derive(Debug, Clone)]
pub struct LatencyLayer(pub ::metrics::Histogram);

impl LatencyLayer {
    /// The layer of chain `chain` ("l1", "l2").
    pub fn for_chain(chain: &str) -> Self {
        Self(::metrics::histogram!(LATENCY_METRIC, "chain" => chain.to_string()))
    }
}

impl<S> tower::Layer<S> for LatencyLayer {
    type Service = Latency<S>;

    fn layer(&self, inner: S) -> Latency<S> {
        Latency { inner, histogram: self.0.clone() }
    }
}

/// The service [`LatencyLayer`] wraps around the server.
#[derive(Debug, Clone)]
pub struct Latency<S> {
    inner: S,
    histogram: ::metrics::Histogram,
}

impl<S, R> tower::Service<R> for Latency<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let started = Instant::now();
        let future = self.inner.call(request);
        let histogram = self.histogram.clone();
        Box::pin(async move {
            let response = future.await;
            histogram.record(started.elapsed().as_secs_f64());
            response
        })
    }
}

/// Serves `GET /metrics` (anything else is 404) on `addr` with the text `render` produces.
pub async fn serve(
    addr: SocketAddr,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let render = render.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if request.starts_with("GET /metrics ") {
                    ("200 OK", render())
                } else {
                    ("404 Not Found", "only GET /metrics here\n".to_string())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok((local, task))
}
