//! One closed proposal made into its L1 transaction, from the ledger's record of it and the L2 chain (never
//! from memory alone): the blocks' derivation manifest in blobs, the L1 calls with their proofs at the
//! proposal's last block, the proposal the inbox will hash and the request its proof answers.

use alloy::consensus::TxEnvelope;
use alloy_primitives::{Address, B256};
use surge_interfaces::{BlockReader, StateProofProvider};
use surge_l1::{L1Transaction, ProofRequest, SubmitError, blob_sidecar};
use surge_primitives::{
    Checkpoint,
    blob::encode_blobs,
    manifest::{ANCHOR_GAS_LIMIT, BlockManifest, PayloadScheme, SourceManifest},
    proposal_tx::{ProposalCalls, TxShape, expected_proposal},
};

use crate::{presim::L2Protocol, proposal::ProposalRecord};

/// What the proposer needs to know of the protocol beyond the L2 side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposerProtocol {
    /// The L2 side (bridges, signal service, chain ids).
    pub l2: L2Protocol,
    /// The realtime inbox on L1.
    pub inbox: Address,
    /// The proposer's Multicall on L1.
    pub multicall: Address,
    /// The L1 bridge (whose messages the legs send).
    pub l1_bridge: Address,
    /// The L2's base-fee sharing percentage (part of the proposal).
    pub basefee_sharing_pctg: u8,
    /// How the manifest is framed.
    pub scheme: PayloadScheme,
    /// Whether the L1 wants cell proofs (Osaka) in blob sidecars.
    pub cell_proofs: bool,
    /// Whether the inbox takes `propose` from the proposer's account itself (else through the Multicall).
    pub direct_propose: bool,
}

impl ProposerProtocol {
    /// Where the steps of a proposal transaction are read.
    pub fn layout(&self) -> surge_l1::BundleLayout {
        surge_l1::BundleLayout { l1_chain_id: self.l2.l1_chain_id, bridge: self.l1_bridge, multicall: self.multicall }
    }
}

/// Why a proposal could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The L2 chain does not have the proposal's blocks as recorded.
    #[error("proposal {proposal}: {reason}")]
    Chain {
        /// The proposal.
        proposal: u64,
        /// What is wrong.
        reason: String,
    },
    /// The blobs could not be made.
    #[error("proposal {proposal}: {reason}")]
    Blobs {
        /// The proposal.
        proposal: u64,
        /// What is wrong.
        reason: String,
    },
    /// The sidecar could not be computed.
    #[error(transparent)]
    Sidecar(#[from] SubmitError),
}

/// A proposal ready to be proved and sent.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The proposal's id in the ledger.
    pub id: u64,
    /// What the proof must prove.
    pub request: ProofRequest,
    /// Everything the transaction carries but the proof.
    pub calls: ProposalCalls,
    /// The blobs.
    pub sidecar: alloy::eips::eip7594::BlobTransactionSidecarVariant,
    /// L2 transactions it carries (anchors not counted).
    pub l2_txs: usize,
    /// The manifest's bytes in the blobs.
    pub payload_bytes: usize,
}

impl Assembled {
    /// The L1 transaction with `proof`.
    pub fn transaction(&self, protocol: &ProposerProtocol, proof: alloy_primitives::Bytes) -> (L1Transaction, TxShape) {
        let calls = ProposalCalls { proof, ..self.calls.clone() };
        let (to, input, shape) = calls.transaction(protocol.inbox, protocol.multicall, protocol.direct_propose);
        (L1Transaction { to, input, sidecar: Some(self.sidecar.clone()) }, shape)
    }

    /// The proposal's last L2 block.
    pub fn last_block(&self) -> (u64, B256) {
        (self.request.checkpoint.blockNumber.to(), self.request.checkpoint.blockHash)
    }
}

/// The manifest of `record`'s blocks, read from `chain`.
pub fn manifest<P: BlockReader>(record: &ProposalRecord, chain: &P) -> Result<SourceManifest, AssembleError> {
    let fail = |reason: String| AssembleError::Chain { proposal: record.id, reason };
    let anchor_block_number = record.anchor.blockNumber.to::<u64>();
    let mut blocks = Vec::with_capacity(record.blocks.len());
    for b in &record.blocks {
        let (header, hash) = chain
            .header_by_number(b.number)
            .map_err(|e| fail(format!("reading block {}: {e}", b.number)))?
            .ok_or_else(|| fail(format!("block {} is not in the chain", b.number)))?;
        if hash != b.hash {
            return Err(fail(format!("block {} is {hash} in the chain, {} in the proposal", b.number, b.hash)));
        }
        let txs: Vec<TxEnvelope> = chain
            .block_transactions(b.number)
            .map_err(|e| fail(format!("reading block {}'s transactions: {e}", b.number)))?
            .ok_or_else(|| fail(format!("block {} has no body", b.number)))?;
        blocks.push(BlockManifest {
            timestamp: header.timestamp,
            coinbase: header.beneficiary,
            anchor_block_number,
            gas_limit: header.gas_limit.saturating_sub(ANCHOR_GAS_LIMIT),
            transactions: txs.into_iter().skip(1).collect(),
        });
    }
    Ok(SourceManifest { blocks })
}

/// `record` made ready to prove and send, building on `last_finalized` (the inbox's last finalized L2
/// block hash when it lands).
pub fn assemble<P: StateProofProvider + BlockReader>(
    record: &ProposalRecord,
    chain: &P,
    protocol: &ProposerProtocol,
    last_finalized: B256,
) -> Result<Assembled, AssembleError> {
    let fail = |reason: String| AssembleError::Chain { proposal: record.id, reason };
    // It must build on the inbox's last block: nothing is proved that the inbox would refuse.
    let first = record.blocks.first().ok_or_else(|| fail("it has no block".into()))?;
    let (first_header, _) = chain
        .header_by_number(first.number)
        .map_err(|e| fail(format!("reading block {}: {e}", first.number)))?
        .ok_or_else(|| fail(format!("block {} is not in the chain", first.number)))?;
    if first_header.parent_hash != last_finalized {
        return Err(fail(format!(
            "its first block {} builds on {}, the inbox's last block is {last_finalized}",
            first.number, first_header.parent_hash
        )));
    }
    let manifest = manifest(record, chain)?;
    let l2_txs = manifest.blocks.iter().map(|b| b.transactions.len()).sum();
    let payload = manifest.encode_payload(protocol.scheme);
    let blobs = encode_blobs(&payload)
        .map_err(|e| AssembleError::Blobs { proposal: record.id, reason: format!("{} bytes: {e}", payload.len()) })?;
    let sidecar = blob_sidecar(&blobs, protocol.cell_proofs)?;
    let blob_hashes: Vec<B256> = sidecar.versioned_hashes().collect();
    let calls = record.l1_calls(chain, &protocol.l2).map_err(fail)?;
    // The inbox hashes existing ++ required: that must be the order the anchor carried them in.
    let existing = record.slots.iter().filter(|s| !calls.required.contains(s));
    if !existing.chain(&calls.required).eq(record.slots.iter()) {
        return Err(fail(format!(
            "its slots {:?} are not its other slots followed by its L1 calls' answers {:?}",
            record.slots, calls.required
        )));
    }
    let last = record.blocks.last().ok_or_else(|| fail("it has no block".into()))?;
    let (header, _) = chain
        .header_by_number(last.number)
        .map_err(|e| fail(format!("reading block {}: {e}", last.number)))?
        .ok_or_else(|| fail(format!("block {} is not in the chain", last.number)))?;
    let checkpoint = Checkpoint {
        blockNumber: alloy_primitives::aliases::U48::from(last.number),
        blockHash: last.hash,
        stateRoot: header.state_root,
    };
    let max_anchor = record.anchor.blockNumber.to::<u64>();
    let proposal = expected_proposal(
        max_anchor,
        record.anchor.blockHash,
        protocol.basefee_sharing_pctg,
        &blob_hashes,
        &record.slots,
    );
    let request = ProofRequest {
        l2_blocks: record.blocks.iter().map(|b| b.number).collect(),
        l2_block_hashes: record.blocks.iter().map(|b| b.hash).collect(),
        proposal,
        signal_slots: record.slots.clone(),
        last_finalized_block_hash: last_finalized,
        checkpoint: checkpoint.clone(),
        blobs: std::sync::Arc::new(blobs),
    };
    let calls = ProposalCalls {
        user_ops: record.user_op_calls(),
        blobs: blob_hashes.len() as u16,
        slots: record.slots.clone(),
        required: calls.required,
        l1_calls: calls.calls,
        max_anchor_block: max_anchor,
        checkpoint,
        proof: Default::default(),
    };
    Ok(Assembled { id: record.id, request, calls, sidecar, l2_txs, payload_bytes: payload.len() })
}
