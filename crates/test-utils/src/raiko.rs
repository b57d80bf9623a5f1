//! A local HTTP double of Raiko's realtime batch API (`POST /v3/proof/batch/realtime`): each request is
//! recorded (headers and JSON body) and answered by the test's function of its order and body, after the
//! delay it says.

use std::{
    io::BufReader,
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};

/// One request the double received: its headers (lower-case names) and body.
#[derive(Debug, Clone)]
pub struct Received {
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
}

/// What the double answers: a status code, a body, and a delay before it.
pub type Answer = (u16, String, Duration);

/// A running Raiko double.
#[derive(Debug, Clone)]
pub struct RaikoDouble {
    /// Its base URL.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl RaikoDouble {
    /// Answers request `n` (from 0) with `answers[n]`, the last one again when they run out.
    pub fn start(answers: Vec<Answer>) -> Self {
        Self::answering(move |n, _| answers[n.min(answers.len() - 1)].clone())
    }

    /// Answers each request with `answer(n, body)`.
    pub fn answering(answer: impl Fn(usize, &Value) -> Answer + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let Some(crate::http::Request { headers, body }) = crate::http::read_request(&mut reader) else {
                    continue;
                };
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, text, delay) = answer(n, &body);
                log.lock().unwrap().push(Received { headers, body });
                std::thread::sleep(delay);
                let _ = crate::http::write_json(&mut stream, status, text.as_bytes(), true);
            }
        });
        Self { url, received }
    }

    /// What it received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Raiko's "ok" answer carrying `data`.
pub fn ok(data: Value) -> Answer {
    (200, json!({"status": "ok", "proof_type": "sp1", "data": data}).to_string(), Duration::ZERO)
}

/// Raiko's answer for a task not done: `registered`, `work_in_progress`, …
pub fn waiting(status: &str) -> Answer {
    ok(json!({ "status": status }))
}

/// Raiko's answer with a proof (`hex`, 0x-prefixed), as its `Proof` object carries it.
pub fn proof(hex: &str) -> Answer {
    ok(json!({"proof": {"proof": hex, "input": null, "quote": null, "uuid": null, "kzg_proof": null}}))
}

/// Raiko's error answer saying `message`.
pub fn error(message: &str) -> Answer {
    (200, json!({"status": "error", "error": "task_failed", "message": message}).to_string(), Duration::ZERO)
}
