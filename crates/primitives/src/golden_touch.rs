//! The golden-touch account that signs every L2 anchor transaction.
//!
//! Its key is public. Every party must rebuild byte-identical anchors (and so identical block hashes),
//! so the signature uses a fixed ECDSA nonce: k = 1, or k = 2 in the (negligible) case where k = 1 gives
//! `s = 0`, with `s` normalised to the low half of the curve order.

use alloy::consensus::{SignableTransaction, Signed, TxEip1559};
use alloy_primitives::{Address, B256, Signature, U256, address, b256};
use k256::{
    ProjectivePoint, Scalar,
    elliptic_curve::{PrimeField, ops::Reduce, point::AffineCoordinates, scalar::IsHigh},
};

/// The golden-touch address.
pub const GOLDEN_TOUCH_ADDRESS: Address = address!("0x0000777735367b36bC9B61C50022d9D0700dB4Ec");

/// The golden-touch private key (public by design).
pub const GOLDEN_TOUCH_PRIVATE_KEY: B256 = b256!("0x92954368afd3caa1f3ce3ead0069c1af414054aefe1ef9aeacc1bf426222ce38");

/// Failure to produce a fixed-k signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoldenTouchError {
    /// Neither k = 1 nor k = 2 gave a valid signature for this hash (practically impossible).
    #[error("no valid fixed-k signature for hash {0}")]
    NoSignature(B256),
    /// The built-in key did not parse as a scalar (would mean the constant is corrupted).
    #[error("golden-touch key is not a valid secp256k1 scalar")]
    BadKey,
}

/// Signs `hash` with the golden-touch key using k = 1 (k = 2 if that gives s = 0), low-s.
pub fn sign_hash(hash: B256) -> Result<Signature, GoldenTouchError> {
    let d =
        Option::<Scalar>::from(Scalar::from_repr(GOLDEN_TOUCH_PRIVATE_KEY.0.into())).ok_or(GoldenTouchError::BadKey)?;
    let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&hash.0.into());
    for k in [1u64, 2] {
        if let Some(sig) = sign_with_k(d, z, Scalar::from(k)) {
            return Ok(sig);
        }
    }
    Err(GoldenTouchError::NoSignature(hash))
}

/// One ECDSA signature with nonce `k`: `r = x(kG) mod n`, `s = k⁻¹(z + r·d) mod n`, then low-s. The
/// recovery bit is the parity of `kG`'s y, flipped when `s` is negated.
fn sign_with_k(d: Scalar, z: Scalar, k: Scalar) -> Option<Signature> {
    let point = (ProjectivePoint::GENERATOR * k).to_affine();
    let r = <Scalar as Reduce<k256::U256>>::reduce_bytes(&point.x());
    let k_inv = Option::<Scalar>::from(k.invert())?;
    let mut s = k_inv * (z + r * d);
    if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
        return None;
    }
    let mut y_odd = bool::from(point.y_is_odd());
    if bool::from(s.is_high()) {
        s = -s;
        y_odd = !y_odd;
    }
    Some(Signature::new(U256::from_be_slice(&r.to_bytes()), U256::from_be_slice(&s.to_bytes()), y_odd))
}

/// Signs an anchor transaction with the golden-touch key and the fixed nonce.
pub fn sign_anchor(tx: TxEip1559) -> Result<Signed<TxEip1559>, GoldenTouchError> {
    let signature = sign_hash(tx.signature_hash())?;
    Ok(tx.into_signed(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{eips::Encodable2718, signers::local::PrivateKeySigner};
    use alloy_primitives::{Bytes, TxKind, keccak256};

    const GX: B256 = b256!("0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    const HALF_N: U256 = U256::from_be_slice(&[
        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57,
        0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
    ]);

    fn anchor_tx() -> TxEip1559 {
        TxEip1559 {
            chain_id: 763374,
            nonce: 3,
            gas_limit: 1_000_000,
            max_fee_per_gas: 25_000_000,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(crate::L2Predeploys::for_chain(763374).anchor),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Bytes::from_static(&[0xcc, 0x07, 0x82, 0x6e]),
        }
    }

    #[test]
    fn key_belongs_to_the_golden_touch_address() {
        let signer = PrivateKeySigner::from_bytes(&GOLDEN_TOUCH_PRIVATE_KEY).unwrap();
        assert_eq!(signer.address(), GOLDEN_TOUCH_ADDRESS);
    }

    #[test]
    fn known_answer_r_is_generator_x_low_s_and_recovers() {
        for i in 0..64u8 {
            let hash = keccak256([i]);
            let sig = sign_hash(hash).unwrap();
            assert_eq!(B256::from(sig.r().to_be_bytes::<32>()), GX, "r must be x(G) for k = 1");
            assert!(sig.s() <= HALF_N, "s must be low");
            assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), GOLDEN_TOUCH_ADDRESS);
        }
    }

    #[test]
    fn anchor_signs_to_the_same_bytes_every_time() {
        let a = sign_anchor(anchor_tx()).unwrap();
        let b = sign_anchor(anchor_tx()).unwrap();
        assert_eq!(a.encoded_2718(), b.encoded_2718());
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.recover_signer().unwrap(), GOLDEN_TOUCH_ADDRESS);
        let mut other = anchor_tx();
        other.nonce += 1;
        assert_ne!(sign_anchor(other).unwrap().hash(), a.hash());
    }

    #[test]
    fn k2_fallback_is_a_valid_signature() {
        let d = Option::<Scalar>::from(Scalar::from_repr(GOLDEN_TOUCH_PRIVATE_KEY.0.into())).unwrap();
        let hash = keccak256(b"k2");
        let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&hash.0.into());
        let sig = sign_with_k(d, z, Scalar::from(2u64)).unwrap();
        assert_ne!(B256::from(sig.r().to_be_bytes::<32>()), GX);
        assert!(sig.s() <= HALF_N);
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), GOLDEN_TOUCH_ADDRESS);
    }
}
