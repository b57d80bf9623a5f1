//! Real proofs from Raiko behind the [`Prover`] seam. A proposal's request is POSTed in full; then the
//! same URL is polled with the request less its sources and blobs, every poll interval, until Raiko
//! answers a proof (turned into the inbox's `SubProof[]` with its proof type's flag, or MOCK_ECDSA's in mock
//! mode, as Catalyst does), refuses (an error, a failed or cancelled task, `ZKAnyNotDrawn`: the proposal is
//! given up), or the retry limit is reached. "Proof not found" sends the full body again; a transport
//! error, a timeout, an HTTP error or an answer that is not Raiko's counts as one try.

mod request;

use std::time::Duration;

use alloy::transports::http::reqwest;
use surge_primitives::{ProofFlag, SubProof, proposal::encode_sub_proofs};
use tracing::{debug, info};

pub use request::{BlobSlice, CheckpointJson, RaikoProofType, RealtimeRequest, Reply, Source, read_reply};

use crate::prover::{ProofFuture, ProofRequest, Prover, ProverError};

/// Where Raiko is and how it is asked (Catalyst's `RAIKO_*` settings). Its API key never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct RaikoConfig {
    /// Raiko's base URL (`RAIKO_URL`).
    pub url: String,
    /// Sent as `X-API-KEY` when set (`RAIKO_API_KEY`).
    pub api_key: Option<String>,
    /// The proof system asked for (`PROOF_TYPE`).
    pub proof_type: RaikoProofType,
    /// Between two requests (`RAIKO_POLL_INTERVAL_MS`, 2000).
    pub poll_interval: Duration,
    /// Requests per proof at most (`RAIKO_MAX_RETRIES`, 60).
    pub max_retries: u32,
    /// How long one request may take (`RAIKO_TIMEOUT_SEC`, 30).
    pub timeout: Duration,
    /// Proofs go to the inbox under the mock verifier's flag (`MOCK_MODE=true`).
    pub mock_mode: bool,
}

impl std::fmt::Debug for RaikoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaikoConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("proof_type", &self.proof_type)
            .field("poll_interval", &self.poll_interval)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .field("mock_mode", &self.mock_mode)
            .finish()
    }
}

impl RaikoConfig {
    /// Catalyst's defaults for Raiko at `url` proving with `proof_type`.
    pub fn new(url: impl Into<String>, proof_type: RaikoProofType) -> Self {
        Self {
            url: url.into(),
            api_key: None,
            proof_type,
            poll_interval: Duration::from_millis(2000),
            max_retries: 60,
            timeout: Duration::from_secs(30),
            mock_mode: false,
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> String {
        format!("{}/v3/proof/batch/realtime", self.url.trim_end_matches('/'))
    }

    /// The flag its proofs carry to the inbox.
    pub fn flag(&self) -> ProofFlag {
        if self.mock_mode { ProofFlag::MOCK_ECDSA } else { self.proof_type.flag() }
    }
}

/// A Raiko client.
#[derive(Debug, Clone)]
pub struct RaikoProver {
    config: RaikoConfig,
    http: reqwest::Client,
}

impl RaikoProver {
    /// A client of the Raiko `config` describes.
    pub fn new(config: RaikoConfig) -> Result<Self, ProverError> {
        let http =
            reqwest::Client::builder().timeout(config.timeout).build().map_err(|e| ProverError::Unavailable {
                prover: format!("Raiko at {}", config.url),
                reason: format!("building its HTTP client: {e}"),
            })?;
        Ok(Self { config, http })
    }

    /// One request with `body`: Raiko's reply, or why there is none.
    async fn ask(&self, body: &RealtimeRequest) -> Result<Reply, String> {
        let mut post = self.http.post(self.config.endpoint()).json(body);
        if let Some(key) = &self.config.api_key {
            post = post.header("X-API-KEY", key);
        }
        let response = post.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| format!("reading the answer: {e}"))?;
        match read_reply(&text) {
            Ok(reply) => Ok(reply),
            Err(_) if !status.is_success() => Err(format!("HTTP {status}: {text:.200}")),
            Err(e) => Err(e),
        }
    }

    async fn proof(&self, request: &ProofRequest) -> Result<alloy_primitives::Bytes, ProverError> {
        let full = RealtimeRequest::new(request, self.config.proof_type);
        let poll = full.poll();
        let blocks = request.l2_blocks.clone();
        let refused = |reason: String| ProverError::Refused { prover: self.name(), blocks: blocks.clone(), reason };
        let mut send_full = true;
        let mut last = String::from("no answer yet");
        for attempt in 1..=self.config.max_retries.max(1) {
            if attempt > 1 {
                tokio::time::sleep(self.config.poll_interval).await;
            }
            let body = if send_full { &full } else { &poll };
            match self.ask(body).await {
                Ok(Reply::Proof(data)) => {
                    info!(blocks = ?request.l2_blocks, attempt, bytes = data.len(), "Raiko proved the proposal");
                    let flag = self.config.flag().bits();
                    return Ok(encode_sub_proofs(&[SubProof { proofBitFlag: flag, data }]));
                }
                Ok(Reply::Waiting(status)) => {
                    debug!(blocks = ?request.l2_blocks, attempt, status, "Raiko: not ready");
                    send_full = false;
                    last = format!("the task is {status}");
                }
                Ok(Reply::NotFound(message)) => {
                    send_full = true;
                    last = message;
                }
                Ok(Reply::Refused(reason)) => return Err(refused(reason)),
                Err(problem) => {
                    debug!(blocks = ?request.l2_blocks, attempt, "Raiko: {problem}");
                    last = problem;
                }
            }
        }
        Err(ProverError::Unavailable {
            prover: self.name(),
            reason: format!("no proof after {} requests; the last: {last}", self.config.max_retries.max(1)),
        })
    }
}

impl Prover for RaikoProver {
    fn name(&self) -> String {
        format!("Raiko ({}) at {}", self.config.proof_type, self.config.url)
    }

    fn flags(&self) -> Vec<ProofFlag> {
        vec![self.config.flag()]
    }

    fn prove<'a>(&'a self, request: &'a ProofRequest) -> ProofFuture<'a> {
        Box::pin(self.proof(request))
    }
}
