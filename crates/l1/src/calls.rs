//! The L1 calls a proposal makes for its L2→L1 messages: `processMessage(message, proof)` on the L1 bridge,
//! through the proposer's Multicall, with a single-hop proof that the L2 signal service holds the message's
//! signal at the proposal's last block — the one L2 checkpoint the inbox saves on L1.

use alloy_primitives::{B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use surge_interfaces::AccountProof;
use surge_primitives::{
    HopProof, Message,
    bindings::{bridge::Bridge, multicall::Multicall},
};

/// An L2 block as the proof names it: its number and state root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenBlock {
    /// The L2 chain.
    pub chain_id: u64,
    /// The block (the proposal's last).
    pub number: u64,
    /// Its state root.
    pub state_root: B256,
}

/// Why a proof cannot back a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The proof does not cover the message's signal slot.
    #[error("the proof of block {block} has no entry for slot {slot}")]
    MissingSlot {
        /// The block.
        block: u64,
        /// The slot.
        slot: B256,
    },
    /// The slot is not set at that block: the message was not sent (yet).
    #[error("slot {slot} is not set at block {block}: the message was not sent by then")]
    NotSent {
        /// The block.
        block: u64,
        /// The slot.
        slot: B256,
    },
}

/// `abi.encode([hop])` for `proof` (the L2 signal service's, from `eth_getProof` at `block`) of `slot`.
pub fn hop_proof(block: ProvenBlock, proof: &AccountProof, slot: B256) -> Result<Bytes, ProofError> {
    let entry = proof
        .storage_proof
        .iter()
        .find(|p| p.key == slot)
        .ok_or(ProofError::MissingSlot { block: block.number, slot })?;
    if entry.value.is_zero() {
        return Err(ProofError::NotSent { block: block.number, slot });
    }
    let hop = HopProof {
        chainId: block.chain_id,
        blockId: block.number,
        rootHash: block.state_root,
        cacheOption: 0,
        accountProof: proof.account_proof.clone(),
        storageProof: entry.proof.clone(),
    };
    Ok(vec![hop].abi_encode().into())
}

/// The Multicall call delivering `message` on the L1 bridge with `proof`.
pub fn process_message(l1_bridge: alloy_primitives::Address, message: &Message, proof: Bytes) -> Multicall::Call {
    let data = Bridge::processMessageCall { message: message.clone(), proof }.abi_encode();
    Multicall::Call { target: l1_bridge, value: U256::ZERO, data: data.into() }
}
