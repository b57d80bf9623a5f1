//! User ops as the node reads them before any L1 call: a wallet's `executeBatch` calldata decoded, the
//! EIP-712 digest its owner signed, the signer recovered from it (with the wallet's own rules), and the wallet
//! address the factory gives an owner. The wallet itself (`UserOpsSubmitter`) is the judge on L1; this module
//! exists so that a new owner's first batch, whose wallet has no code yet, can be tied to its owner.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor, SolStruct, eip712_domain, sol};

use crate::bindings::{user_ops::UserOpsSubmitter, user_ops_factory::UserOpsFactory};

sol! {
    /// One call of a batch, as the owner signs it.
    struct UserOp { address target; uint256 value; bytes data; }
    /// What the owner signs: the calls, the wallet's nonce and a deadline (unix seconds).
    struct ExecuteBatch { UserOp[] ops; uint256 nonce; uint256 deadline; }
}

/// The wallet's EIP-712 domain name.
pub const DOMAIN_NAME: &str = "UserOpsSubmitter";
/// The wallet's EIP-712 domain version.
pub const DOMAIN_VERSION: &str = "1";

/// secp256k1's order halved: the wallet refuses a signature whose `s` is above it (its malleable twin).
const HALF_ORDER: U256 =
    alloy_primitives::uint!(0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0_U256);

/// Why calldata is not a batch the node can take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserOpError {
    /// The calldata is not `executeBatch(UserOp[],uint256,uint256,bytes)`.
    #[error("calldata is not executeBatch((address,uint256,bytes)[],uint256,uint256,bytes): {0}")]
    NotABatch(String),
    /// The batch has no call.
    #[error("the batch has no call")]
    Empty,
    /// The signature cannot be the owner's (its length, `v` or a high `s`, as the wallet checks them).
    #[error("bad signature: {0}")]
    BadSignature(String),
}

/// A decoded `executeBatch` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOpBatch {
    /// The calls, in order.
    pub ops: Vec<UserOpsSubmitter::UserOp>,
    /// The wallet nonce it is signed for.
    pub nonce: U256,
    /// The last L1 timestamp it may run at.
    pub deadline: U256,
    /// The owner's 65-byte signature.
    pub signature: Bytes,
}

impl UserOpBatch {
    /// Decodes `calldata` (selector included).
    pub fn decode(calldata: &[u8]) -> Result<Self, UserOpError> {
        let call = UserOpsSubmitter::executeBatchCall::abi_decode(calldata)
            .map_err(|e| UserOpError::NotABatch(e.to_string()))?;
        if call.ops.is_empty() {
            return Err(UserOpError::Empty);
        }
        Ok(Self { ops: call.ops, nonce: call._nonce, deadline: call.deadline, signature: call.signature })
    }

    /// The ETH the calls send, in total.
    pub fn value(&self) -> U256 {
        self.ops.iter().fold(U256::ZERO, |sum, op| sum.saturating_add(op.value))
    }

    /// The EIP-712 digest the owner signs for wallet `wallet` on chain `chain_id`.
    pub fn digest(&self, chain_id: u64, wallet: Address) -> B256 {
        let domain = eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: chain_id,
            verifying_contract: wallet,
        };
        let ops = self.ops.iter().map(|o| UserOp { target: o.target, value: o.value, data: o.data.clone() }).collect();
        ExecuteBatch { ops, nonce: self.nonce, deadline: self.deadline }.eip712_signing_hash(&domain)
    }

    /// Who signed the batch for `wallet` on chain `chain_id`, by the wallet's rules (65 bytes, `v` 27 or
    /// 28 — or 0 or 1 —, `s` in the lower half).
    pub fn signer(&self, chain_id: u64, wallet: Address) -> Result<Address, UserOpError> {
        let bad = |why: String| UserOpError::BadSignature(why);
        let sig = &self.signature[..];
        if sig.len() != 65 {
            return Err(bad(format!("{} bytes, not 65", sig.len())));
        }
        let s = U256::from_be_slice(&sig[32..64]);
        if s > HALF_ORDER {
            return Err(bad("its s is in the upper half of the curve order (malleable)".into()));
        }
        let parity = match sig[64] {
            0 | 27 => false,
            1 | 28 => true,
            v => return Err(bad(format!("v = {v}"))),
        };
        let signature = alloy_primitives::Signature::new(U256::from_be_slice(&sig[..32]), s, parity);
        signature.recover_address_from_prehash(&self.digest(chain_id, wallet)).map_err(|e| bad(e.to_string()))
    }
}

/// The wallet `factory` deploys for `owner` (CREATE2, salt = the owner, the wallet's creation code with the
/// owner as its argument): what `UserOpsFactory.walletOf(owner)` answers.
pub fn wallet_address(factory: Address, owner: Address) -> Address {
    let args = UserOpsSubmitter::constructorCall { _owner: owner }.abi_encode();
    let init_code = [UserOpsSubmitter::BYTECODE.as_ref(), &args].concat();
    factory.create2(owner.into_word(), keccak256(init_code))
}

/// The factory call that deploys `owner`'s wallet (a no-op once it exists).
pub fn create_wallet_call(owner: Address) -> Bytes {
    UserOpsFactory::createWalletCall { owner }.abi_encode().into()
}
