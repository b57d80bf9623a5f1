//! Provers of proposals: what a proof commits to ([`ProofRequest`]) and the [`Prover`] seam a proof system
//! stands behind. [`MockEcdsaProver`] signs the commitment for the mock verifier (MOCK_ECDSA); the Raiko
//! client ([`crate::raiko::RaikoProver`]) asks Raiko for real proofs.

use std::{future::Future, pin::Pin};

use alloy_primitives::{B256, Bytes};
use surge_primitives::{
    MockProver, ProofFlag,
    bindings::inbox::RealTimeInbox::{Commitment, Proposal},
    blob::BlobBytes,
    hash_commitment, hash_proposal,
    proposal::MockProofError,
};

/// Everything a proof of one proposal is about.
#[derive(Debug, Clone)]
pub struct ProofRequest {
    /// The L2 blocks the proposal carries, in order.
    pub l2_blocks: Vec<u64>,
    /// Their hashes.
    pub l2_block_hashes: Vec<B256>,
    /// The proposal as the inbox will hash it.
    pub proposal: Proposal,
    /// The proposal's signal slots in the order the inbox hashes them.
    pub signal_slots: Vec<B256>,
    /// The last L2 block hash the inbox holds as finalized (the previous proposal's last block).
    pub last_finalized_block_hash: B256,
    /// The proposal's last L2 block: number, hash and state root.
    pub checkpoint: surge_primitives::Checkpoint,
    /// The blobs the proposal's data travels in.
    pub blobs: std::sync::Arc<Vec<BlobBytes>>,
}

impl ProofRequest {
    /// The commitment the proof proves: the proposal, the finalized hash it builds on, its last block.
    pub fn commitment(&self) -> Commitment {
        Commitment {
            proposalHash: hash_proposal(&self.proposal),
            lastFinalizedBlockHash: self.last_finalized_block_hash,
            checkpoint: self.checkpoint.clone(),
        }
    }
}

/// Why a proof could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// The mock prover's signer failed.
    #[error(transparent)]
    Mock(#[from] MockProofError),
    /// The proof service refused the request (it will not prove it as asked).
    #[error("{prover} refused the proof of blocks {blocks:?}: {reason}")]
    Refused {
        /// The prover.
        prover: String,
        /// The blocks asked for.
        blocks: Vec<u64>,
        /// What it said.
        reason: String,
    },
    /// The proof service could not be reached or answered nonsense (asking again may help).
    #[error("{prover} is unavailable: {reason}")]
    Unavailable {
        /// The prover.
        prover: String,
        /// What went wrong.
        reason: String,
    },
}

/// A proof in the making.
pub type ProofFuture<'a> = Pin<Box<dyn Future<Output = Result<Bytes, ProverError>> + Send + 'a>>;

/// A proof system: proves a proposal's commitment, giving the inbox's proof argument (`abi.encode(SubProof[])`).
pub trait Prover: std::fmt::Debug + Send + Sync {
    /// A short name for logs.
    fn name(&self) -> String;
    /// The proof systems its proofs carry.
    fn flags(&self) -> Vec<ProofFlag>;
    /// Proves `request`.
    fn prove<'a>(&'a self, request: &'a ProofRequest) -> ProofFuture<'a>;
}

/// The mock prover: a MOCK_ECDSA signature by the configured key (the mock verifier's signer).
#[derive(Debug, Clone)]
pub struct MockEcdsaProver(pub MockProver);

impl Prover for MockEcdsaProver {
    fn name(&self) -> String {
        "mock prover".into()
    }

    fn flags(&self) -> Vec<ProofFlag> {
        vec![ProofFlag::MOCK_ECDSA]
    }

    fn prove<'a>(&'a self, request: &'a ProofRequest) -> ProofFuture<'a> {
        let proof = self.0.prove(hash_commitment(&request.commitment())).map_err(ProverError::from);
        Box::pin(std::future::ready(proof))
    }
}
