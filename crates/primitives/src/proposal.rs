//! Proposal-side formulas: signal-slot list hashing, proposal and commitment hashes, proof bit flags
//! and the MOCK_ECDSA proof.

use alloy::signers::{SignerSync, local::PrivateKeySigner};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::SolValue;

use crate::bindings::{
    inbox::RealTimeInbox::{Commitment, Proposal},
    surge_verifier::SurgeVerifier::SubProof,
};

/// `hashSignalSlots(x) = x.length == 0 ? 0 : keccak256(abi.encode(x))`.
pub fn hash_signal_slots(slots: &[B256]) -> B256 {
    if slots.is_empty() {
        return B256::ZERO;
    }
    keccak256(slots.to_vec().abi_encode())
}

/// `hashProposal(p) = keccak256(abi.encode(p))`.
pub fn hash_proposal(proposal: &Proposal) -> B256 {
    keccak256(proposal.abi_encode())
}

/// `keccak256(abi.encode(commitment))`: what a proof proves.
pub fn hash_commitment(commitment: &Commitment) -> B256 {
    keccak256(commitment.abi_encode())
}

/// One proof system, as a bit in `SubProof.proofBitFlag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ProofFlag(u8);

impl ProofFlag {
    /// The mock verifier: an ECDSA signature by a configured key.
    pub const MOCK_ECDSA: Self = Self(1);
    /// RISC Zero.
    pub const RISC0: Self = Self(2);
    /// SP1.
    pub const SP1: Self = Self(4);
    /// ZisK.
    pub const ZISK: Self = Self(8);
    /// Every known flag.
    pub const ALL: [Self; 4] = [Self::MOCK_ECDSA, Self::RISC0, Self::SP1, Self::ZISK];

    /// The flag's bit.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The flag for `bits`, when it is exactly one known flag.
    pub fn from_bits(bits: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.0 == bits)
    }

    /// The flag for a proof-type name as operators write it (`mock_ecdsa`, `risc0`, `sp1`, `zisk`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "mock_ecdsa" | "mock" => Some(Self::MOCK_ECDSA),
            "risc0" => Some(Self::RISC0),
            "sp1" => Some(Self::SP1),
            "zisk" => Some(Self::ZISK),
            _ => None,
        }
    }
}

/// `abi.encode(SubProof[])`, the proof argument of `propose`/`tentativePropose`.
pub fn encode_sub_proofs(proofs: &[SubProof]) -> Bytes {
    proofs.to_vec().abi_encode().into()
}

/// The digest a MOCK_ECDSA proof signs: `keccak256(bytes32("VERIFY_PROOF") || uint256(l2ChainId) ||
/// uint256(uint160(verifier)) || commitmentHash || bytes32(0))`, where `verifier` is the mock verifier
/// contract's address.
pub fn mock_proof_digest(l2_chain_id: u64, verifier: Address, commitment_hash: B256) -> B256 {
    let mut tag = [0u8; 32];
    tag[..12].copy_from_slice(b"VERIFY_PROOF");
    let mut preimage = Vec::with_capacity(160);
    preimage.extend_from_slice(&tag);
    preimage.extend_from_slice(&U256::from(l2_chain_id).to_be_bytes::<32>());
    preimage.extend_from_slice(B256::left_padding_from(verifier.as_slice()).as_slice());
    preimage.extend_from_slice(commitment_hash.as_slice());
    preimage.extend_from_slice(&[0u8; 32]);
    keccak256(preimage)
}

/// Error from the mock prover.
#[derive(Debug, thiserror::Error)]
#[error("mock prover could not sign commitment {commitment}: {source}")]
pub struct MockProofError {
    /// The commitment hash that was being proven.
    pub commitment: B256,
    /// What the signer said.
    #[source]
    pub source: alloy::signers::Error,
}

/// Produces MOCK_ECDSA proofs for a mock verifier deployment.
#[derive(Debug, Clone)]
pub struct MockProver {
    signer: PrivateKeySigner,
    l2_chain_id: u64,
    verifier: Address,
}

impl MockProver {
    /// A prover signing with `signer` for the mock verifier at `verifier` of chain `l2_chain_id`.
    pub fn new(signer: PrivateKeySigner, l2_chain_id: u64, verifier: Address) -> Self {
        Self { signer, l2_chain_id, verifier }
    }

    /// The 65-byte `r || s || v` signature over the mock digest of `commitment_hash`.
    pub fn sign(&self, commitment_hash: B256) -> Result<Bytes, MockProofError> {
        let digest = mock_proof_digest(self.l2_chain_id, self.verifier, commitment_hash);
        let sig = self
            .signer
            .sign_hash_sync(&digest)
            .map_err(|source| MockProofError { commitment: commitment_hash, source })?;
        Ok(sig.as_bytes().to_vec().into())
    }

    /// The complete proof argument: one MOCK_ECDSA sub-proof.
    pub fn prove(&self, commitment_hash: B256) -> Result<Bytes, MockProofError> {
        let data = self.sign(commitment_hash)?;
        Ok(encode_sub_proofs(&[SubProof { proofBitFlag: ProofFlag::MOCK_ECDSA.bits(), data }]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_slot_list_hashes_to_zero() {
        assert_eq!(hash_signal_slots(&[]), B256::ZERO);
        assert_ne!(hash_signal_slots(&[B256::ZERO]), B256::ZERO);
    }

    #[test]
    fn flags_are_single_bits() {
        for f in ProofFlag::ALL {
            assert_eq!(f.bits().count_ones(), 1);
            assert_eq!(ProofFlag::from_bits(f.bits()), Some(f));
        }
        assert_eq!(ProofFlag::from_bits(3), None);
        assert_eq!(ProofFlag::from_name("MOCK_ECDSA"), Some(ProofFlag::MOCK_ECDSA));
    }

    /// Raiko's own vector for the digest its mock (and real) provers sign (`lib/src/libhash.rs`,
    /// `test_hash_public_input`): the same preimage as ours.
    #[test]
    fn the_digest_matches_raiko_s_vector() {
        let digest = mock_proof_digest(
            167001,
            "0x00f9f60C79e38c08b785eE4F1a849900693C6630".parse().unwrap(),
            "0xb836ee1f972e8bcd4766bede4a9fa5267d8b6ec7cd6088562aca0b07b15f57bc".parse().unwrap(),
        );
        assert_eq!(
            digest,
            "0x6d0ea3eb338aa3e2d85b21394d3ea426574ab7764726376a5364dee132fcd3d7".parse::<B256>().unwrap()
        );
    }

    #[test]
    fn mock_signature_is_65_bytes_with_v_27_or_28() {
        let prover = MockProver::new(PrivateKeySigner::random(), 763374, Address::repeat_byte(9));
        let sig = prover.sign(B256::repeat_byte(1)).unwrap();
        assert_eq!(sig.len(), 65);
        assert!(sig[64] == 27 || sig[64] == 28);
    }
}
