//! Raiko's realtime batch proof API (`POST {RAIKO_URL}/v3/proof/batch/realtime`): the request body as
//! Catalyst's realtime sequencer sends it (`realtime/src/raiko/mod.rs`: snake_case at the top level, the
//! derivation sources in the inbox's camelCase, numbers as JSON numbers, hashes and blobs as `0x` hex) with
//! `l2_block_hashes` for Raiko's cache, and Raiko's answer read into a [`Reply`].

use alloy_primitives::{B256, Bytes, hex};
use serde::{Deserialize, Serialize};

use crate::prover::ProofRequest;

/// Raiko's proof systems (`PROOF_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaikoProofType {
    /// SP1 (Catalyst's default).
    Sp1,
    /// RISC Zero.
    Risc0,
    /// ZisK.
    Zisk,
}

impl RaikoProofType {
    /// Its name in a request (`sp1`, `risc0`, `zisk`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sp1 => "sp1",
            Self::Risc0 => "risc0",
            Self::Zisk => "zisk",
        }
    }

    /// The inbox's flag for its proofs.
    pub fn flag(self) -> surge_primitives::ProofFlag {
        match self {
            Self::Sp1 => surge_primitives::ProofFlag::SP1,
            Self::Risc0 => surge_primitives::ProofFlag::RISC0,
            Self::Zisk => surge_primitives::ProofFlag::ZISK,
        }
    }
}

impl std::str::FromStr for RaikoProofType {
    type Err = String;

    /// `sp1`, `risc0` or `zisk`, in any case (as Catalyst reads `PROOF_TYPE`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sp1" => Ok(Self::Sp1),
            "risc0" => Ok(Self::Risc0),
            "zisk" => Ok(Self::Zisk),
            other => Err(format!("{other:?} is not a Raiko proof type (sp1, risc0 or zisk)")),
        }
    }
}

impl std::fmt::Display for RaikoProofType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealtimeRequest {
    /// The proposal's L2 blocks, in order.
    pub l2_block_numbers: Vec<u64>,
    /// Their hashes (Raiko keys its cache of proofs with them).
    pub l2_block_hashes: Vec<B256>,
    /// `sp1`, `risc0` or `zisk`.
    pub proof_type: String,
    /// The proposal's anchor block on L1.
    pub max_anchor_block_number: u64,
    /// The last L2 block hash the inbox holds as finalized.
    pub last_finalized_block_hash: B256,
    /// The inbox's base-fee sharing percentage.
    pub basefee_sharing_pctg: u8,
    /// The proposal's signal slots, in the order the inbox hashes them.
    pub signal_slots: Vec<B256>,
    /// Where the proposal's data is (one blob slice); empty in a poll.
    pub sources: Vec<Source>,
    /// The blobs, `0x` hex; empty in a poll.
    pub blobs: Vec<String>,
    /// The proposal's last block.
    pub checkpoint: CheckpointJson,
    /// How the blobs are tied to their hashes: always `proof_of_equivalence`.
    pub blob_proof_type: String,
}

/// A derivation source, in the inbox's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Whether it is a forced inclusion.
    pub is_forced_inclusion: bool,
    /// The blobs it is in.
    pub blob_slice: BlobSlice,
}

/// The blobs a source is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobSlice {
    /// Their versioned hashes.
    pub blob_hashes: Vec<B256>,
    /// Where the data starts in the first.
    pub offset: u32,
    /// The slice's timestamp.
    pub timestamp: u64,
}

/// A checkpoint, snake_case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointJson {
    /// The block's number.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// Its state root.
    pub state_root: B256,
}

impl RealtimeRequest {
    /// The full request proving `request` with `proof_type`.
    pub fn new(request: &ProofRequest, proof_type: RaikoProofType) -> Self {
        let proposal = &request.proposal;
        let sources = proposal
            .sources
            .iter()
            .map(|s| Source {
                is_forced_inclusion: s.isForcedInclusion,
                blob_slice: BlobSlice {
                    blob_hashes: s.blobSlice.blobHashes.clone(),
                    offset: s.blobSlice.offset.to(),
                    timestamp: s.blobSlice.timestamp.to(),
                },
            })
            .collect();
        let checkpoint = &request.checkpoint;
        Self {
            l2_block_numbers: request.l2_blocks.clone(),
            l2_block_hashes: request.l2_block_hashes.clone(),
            proof_type: proof_type.as_str().into(),
            max_anchor_block_number: proposal.maxAnchorBlockNumber.to(),
            last_finalized_block_hash: request.last_finalized_block_hash,
            basefee_sharing_pctg: proposal.basefeeSharingPctg,
            signal_slots: request.signal_slots.clone(),
            sources,
            blobs: request.blobs.iter().map(|b| hex::encode_prefixed(b.as_slice())).collect(),
            checkpoint: CheckpointJson {
                block_number: checkpoint.blockNumber.to(),
                block_hash: checkpoint.blockHash,
                state_root: checkpoint.stateRoot,
            },
            blob_proof_type: "proof_of_equivalence".into(),
        }
    }

    /// The poll for the same proof: the request without its sources and blobs (Raiko knows them).
    pub fn poll(&self) -> Self {
        Self { sources: vec![], blobs: vec![], ..self.clone() }
    }
}

/// What one answer of Raiko's says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The proof's bytes.
    Proof(Bytes),
    /// Not ready: the task's status (`registered`, `work_in_progress`).
    Waiting(String),
    /// Raiko does not know the request (expired, or never submitted): send the full body again.
    NotFound(String),
    /// Raiko will not prove it as asked (an error, a failed or cancelled task, `ZKAnyNotDrawn`).
    Refused(String),
}

/// Raiko's answer, as sent.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Reads Raiko's answer `body`; an error says why it is not one.
pub fn read_reply(body: &str) -> Result<Reply, String> {
    let answer: Answer = serde_json::from_str(body).map_err(|e| format!("not a Raiko answer ({e}): {body:.200}"))?;
    match answer.status.as_str() {
        "ok" => {}
        "error" => {
            let message = answer.message.unwrap_or_default();
            let said = match answer.error {
                Some(error) => format!("{error}: {message}"),
                None => message.clone(),
            };
            return Ok(match message.to_ascii_lowercase().contains("proof not found") {
                true => Reply::NotFound(said),
                false => Reply::Refused(said),
            });
        }
        other => return Err(format!("status {other:?} is neither \"ok\" nor \"error\": {body:.200}")),
    }
    let data = answer.data.ok_or_else(|| format!("an \"ok\" answer without data: {body:.200}"))?;
    if let Some(proof) = data.get("proof") {
        // An object whose `proof` is the hex (Raiko's `Proof`), or the hex itself (older servers).
        let hex_proof = proof.get("proof").unwrap_or(proof);
        let text = hex_proof.as_str().ok_or_else(|| format!("a proof that is not hex: {proof}"))?;
        return hex::decode(text).map(|b| Reply::Proof(b.into())).map_err(|e| format!("a proof that is not hex: {e}"));
    }
    if let Some(error) = data.get("anyhow_error") {
        return Ok(Reply::Refused(format!("the proving task failed: {error}")));
    }
    let status = data.get("status").and_then(|s| s.as_str()).ok_or_else(|| format!("no proof, no status: {data}"))?;
    Ok(match status {
        "zk_any_not_drawn" | "ZKAnyNotDrawn" => {
            Reply::Refused("ZKAnyNotDrawn: this proposal was not drawn for a zk proof".into())
        }
        "cancelled" => Reply::Refused("the proving task was cancelled".into()),
        waiting => Reply::Waiting(waiting.into()),
    })
}
