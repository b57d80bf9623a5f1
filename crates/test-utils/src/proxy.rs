//! An HTTP proxy for JSON-RPC that counts the requests passing through it and can be cut off, so a test
//! can tell how many round trips a client made and what it does when its endpoint dies.

use std::{
    io::BufReader,
    net::{TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

/// A running counting proxy.
#[derive(Debug, Clone)]
pub struct CountingProxy {
    /// Its URL (HTTP, loopback).
    pub url: String,
    requests: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
}

impl CountingProxy {
    /// Proxies POSTs to `upstream` (an `http://` URL).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Self { url, requests: Arc::default(), cut: Arc::default() };
        let (upstream, this) = (upstream.to_string(), proxy.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, this) = (upstream.clone(), this.clone());
                std::thread::spawn(move || this.serve(client, &upstream));
            }
        });
        proxy
    }

    /// Requests forwarded so far (a JSON-RPC batch is one request).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// From now on, every connection is closed without an answer (the endpoint died).
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Serves keep-alive requests on one connection until it closes.
    fn serve(&self, client: TcpStream, upstream: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut writer = client.try_clone().unwrap();
        let mut reader = BufReader::new(client);
        loop {
            let Some(crate::http::Request { body, .. }) = crate::http::read_request(&mut reader) else { return };
            if self.cut.load(Ordering::SeqCst) {
                return;
            }
            self.requests.fetch_add(1, Ordering::SeqCst);
            let Ok(mut resp) = agent.post(upstream).header("content-type", "application/json").send(&body[..]) else {
                return;
            };
            let status = resp.status().as_u16();
            let answer = resp.body_mut().read_to_vec().unwrap_or_default();
            if crate::http::write_json(&mut writer, status, &answer, false).is_err() {
                return;
            }
        }
    }
}
