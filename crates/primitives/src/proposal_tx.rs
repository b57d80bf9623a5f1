//! The proposer's L1 transaction for one proposal, in the shapes of the realtime inbox: `propose` alone when
//! the proposal makes no other call; `multicall([user ops…, propose, L1 calls…])` when no L1 call must send
//! a return signal (classic); `multicall([user ops…, tentativePropose, L1 calls…,
//! finalizePropose(required)])` when some must (deferred). User ops go first: they send the signals the
//! proposal's slots name. The proposal the inbox will hash, which the proof commits to, comes from
//! [`expected_proposal`].

use alloy_primitives::{
    Address, B256, Bytes, U256,
    aliases::{U24, U48},
};
use alloy_sol_types::{SolCall, SolValue};

use crate::{
    Checkpoint,
    bindings::{
        inbox::RealTimeInbox::{
            self, BlobReference, BlobSlice, DerivationSource, Proposal, ProposeInput, ProposeInputV2,
        },
        multicall::Multicall,
    },
    proposal::hash_signal_slots,
};

/// The proposal the inbox builds from a proposer's input: one source (the proposer's blobs, timestamp 0),
/// anchored to `max_anchor` (`max_anchor_hash` its hash), committing to `slots` in order.
pub fn expected_proposal(
    max_anchor: u64,
    max_anchor_hash: B256,
    basefee_sharing_pctg: u8,
    blob_hashes: &[B256],
    slots: &[B256],
) -> Proposal {
    Proposal {
        maxAnchorBlockNumber: U48::from(max_anchor),
        maxAnchorBlockHash: max_anchor_hash,
        basefeeSharingPctg: basefee_sharing_pctg,
        sources: vec![DerivationSource {
            isForcedInclusion: false,
            blobSlice: BlobSlice { blobHashes: blob_hashes.to_vec(), offset: U24::ZERO, timestamp: U48::ZERO },
        }],
        signalSlotsHash: hash_signal_slots(slots),
    }
}

/// Which transaction a proposal needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxShape {
    /// `propose` on the inbox: no user op, no L1 call.
    Propose,
    /// `multicall([user ops…, propose, L1 calls…])`: no L1 call must send a return signal.
    Classic,
    /// `multicall([user ops…, tentativePropose, L1 calls…, finalizePropose(required)])`.
    Deferred,
}

/// Everything one proposal's transaction carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalCalls {
    /// User ops, first.
    pub user_ops: Vec<Multicall::Call>,
    /// Blobs of the transaction (the proposer's source: all of them, from index 0, offset 0).
    pub blobs: u16,
    /// The proposal's signal slots in order: user-op slots, then the answers' slots.
    pub slots: Vec<B256>,
    /// The slots its L1 calls must send, in the order the calls run (a suffix of `slots`' answers).
    pub required: Vec<B256>,
    /// The L1 calls (`processMessage` of its L2→L1 messages), in order.
    pub l1_calls: Vec<Multicall::Call>,
    /// The L1 block every block of the proposal anchors.
    pub max_anchor_block: u64,
    /// The proposal's last L2 block.
    pub checkpoint: Checkpoint,
    /// The proof of the commitment to the proposal.
    pub proof: Bytes,
}

impl ProposalCalls {
    /// The shape this proposal needs.
    pub fn shape(&self) -> TxShape {
        if !self.required.is_empty() {
            TxShape::Deferred
        } else if self.user_ops.is_empty() && self.l1_calls.is_empty() {
            TxShape::Propose
        } else {
            TxShape::Classic
        }
    }

    fn blob_reference(&self) -> BlobReference {
        BlobReference { blobStartIndex: 0, numBlobs: self.blobs, offset: U24::ZERO }
    }

    /// The transaction: its target (the inbox, or the proposer's Multicall) and calldata. `direct`: the inbox
    /// takes `propose` from the sending account itself (open proposing, or the account is its proposer);
    /// otherwise a lone `propose` goes through the Multicall too.
    pub fn transaction(&self, inbox: Address, multicall: Address, direct: bool) -> (Address, Bytes, TxShape) {
        let max_anchor = U48::from(self.max_anchor_block);
        let call = |target: Address, data: Vec<u8>| Multicall::Call { target, value: U256::ZERO, data: data.into() };
        let shape = self.shape();
        let steps = match shape {
            TxShape::Propose | TxShape::Classic => {
                let input = ProposeInput {
                    blobReference: self.blob_reference(),
                    signalSlots: self.slots.clone(),
                    maxAnchorBlockNumber: max_anchor,
                };
                let propose = RealTimeInbox::proposeCall {
                    data: input.abi_encode().into(),
                    checkpoint: self.checkpoint.clone(),
                    proof: self.proof.clone(),
                }
                .abi_encode();
                if shape == TxShape::Propose && direct {
                    return (inbox, propose.into(), shape);
                }
                [self.user_ops.clone(), vec![call(inbox, propose)], self.l1_calls.clone()].concat()
            }
            TxShape::Deferred => {
                let existing = self.slots.iter().filter(|s| !self.required.contains(s)).copied().collect();
                let input = ProposeInputV2 {
                    blobReference: self.blob_reference(),
                    existingSignals: existing,
                    requiredReturnSignals: self.required.clone(),
                    maxAnchorBlockNumber: max_anchor,
                };
                let tentative = RealTimeInbox::tentativeProposeCall {
                    data: input.abi_encode().into(),
                    checkpoint: self.checkpoint.clone(),
                    proof: self.proof.clone(),
                };
                let finalize = RealTimeInbox::finalizeProposeCall { requiredReturnSignals: self.required.clone() };
                [
                    self.user_ops.clone(),
                    vec![call(inbox, tentative.abi_encode())],
                    self.l1_calls.clone(),
                    vec![call(inbox, finalize.abi_encode())],
                ]
                .concat()
            }
        };
        (multicall, Multicall::multicallCall { calls: steps }.abi_encode().into(), shape)
    }
}
