//! The user-op wallet (`UserOpsSubmitter`) and its factory, in revm: a batch signed with standard EIP-712
//! tooling (alloy's `SolStruct` signing hash, what `cast wallet sign --data` computes) runs once; a replay, an
//! expired batch, another key's signature, a malleable signature and a failing call are refused; each owner's
//! wallet is deployed by its first batch's bundle at the address the factory predicts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::signers::{SignerSync, local::PrivateKeySigner};
use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use alloy_sol_types::{SolStruct, eip712_domain, sol};
use common::{Chain, Tx, account};
use revm::primitives::hardfork::SpecId;
use surge_primitives::bindings::{
    user_ops::UserOpsSubmitter::{self, UserOpsSubmitterErrors},
    user_ops_factory::UserOpsFactory,
};
use surge_primitives::user_op::{UserOpBatch, UserOpError};

sol! {
    struct UserOp { address target; uint256 value; bytes data; }
    struct ExecuteBatch { UserOp[] ops; uint256 nonce; uint256 deadline; }
}

const CHAIN_ID: u64 = 3_151_908;

/// The wallet's EIP-712 domain.
fn domain(wallet: Address) -> alloy_sol_types::Eip712Domain {
    eip712_domain! { name: "UserOpsSubmitter", version: "1", chain_id: CHAIN_ID, verifying_contract: wallet, }
}

/// `owner`'s 65-byte signature of `ops` at `nonce` before `deadline` for `wallet`.
fn sign(owner: &PrivateKeySigner, wallet: Address, ops: &[UserOp], nonce: u64, deadline: u64) -> Bytes {
    let domain = domain(wallet);
    let batch = ExecuteBatch { ops: ops.to_vec(), nonce: U256::from(nonce), deadline: U256::from(deadline) };
    owner.sign_hash_sync(&batch.eip712_signing_hash(&domain)).unwrap().as_bytes().to_vec().into()
}

fn call(ops: &[UserOp], nonce: u64, deadline: u64, signature: Bytes) -> UserOpsSubmitter::executeBatchCall {
    let ops = ops
        .iter()
        .map(|o| UserOpsSubmitter::UserOp { target: o.target, value: o.value, data: o.data.clone() })
        .collect();
    UserOpsSubmitter::executeBatchCall { ops, _nonce: U256::from(nonce), deadline: U256::from(deadline), signature }
}

fn refused(chain: &mut Chain, wallet: Address, c: UserOpsSubmitter::executeBatchCall) -> UserOpsSubmitterErrors {
    let out = chain.exec(Tx::sol(account(9), wallet, c));
    assert!(!out.is_success(), "refused");
    <UserOpsSubmitterErrors as alloy_sol_types::SolInterface>::abi_decode(&out.output()).unwrap()
}

#[test]
fn a_signed_batch_runs_once_before_its_deadline_from_the_wallet_its_first_bundle_deploys() {
    let mut chain = Chain::new(CHAIN_ID, SpecId::CANCUN);
    let deployer = account(1);
    chain.set_balance(deployer, U256::from(10).pow(U256::from(20)));
    chain.set_balance(account(9), U256::from(10).pow(U256::from(20)));
    let factory = chain.deploy_raw(deployer, "UserOpsFactory", &[]);
    let owner = PrivateKeySigner::random();
    let wallet = chain.read(factory, UserOpsFactory::walletOfCall { owner: owner.address() });
    assert!(chain.code(wallet).is_empty(), "predicted before it exists");
    // A second user's wallet is elsewhere.
    let other = PrivateKeySigner::random();
    assert_ne!(chain.read(factory, UserOpsFactory::walletOfCall { owner: other.address() }), wallet);

    // The first bundle deploys the wallet (at the predicted address), funded, then runs the batch.
    let created = chain.exec(Tx::sol(account(9), factory, UserOpsFactory::createWalletCall { owner: owner.address() }));
    assert_eq!(created.expect_ok().decode::<UserOpsFactory::createWalletCall>(), wallet);
    assert_eq!(chain.read(wallet, UserOpsSubmitter::ownerCall {}), owner.address());
    chain.set_balance(wallet, U256::from(5));
    let (to_a, to_b) = (Address::repeat_byte(0xa1), Address::repeat_byte(0xb2));
    let ops = vec![
        UserOp { target: to_a, value: U256::from(2), data: Bytes::new() },
        UserOp { target: to_b, value: U256::from(3), data: Bytes::new() },
    ];
    let deadline = chain.timestamp + 60;
    let signature = sign(&owner, wallet, &ops, 0, deadline);
    // The contract's digest is standard EIP-712.
    let digest = chain.read(
        wallet,
        UserOpsSubmitter::digestCall {
            ops: call(&ops, 0, deadline, Bytes::new()).ops,
            _nonce: U256::ZERO,
            deadline: U256::from(deadline),
        },
    );
    let domain = domain(wallet);
    let batch = ExecuteBatch { ops: ops.clone(), nonce: U256::ZERO, deadline: U256::from(deadline) };
    assert_eq!(digest, batch.eip712_signing_hash(&domain));
    // The node's reading agrees: the wallet the factory gives the owner, the digest, the signer; a malleable
    // twin or another wallet's domain do not give the owner.
    assert_eq!(surge_primitives::user_op::wallet_address(factory, owner.address()), wallet);
    let batch = UserOpBatch::decode(&call(&ops, 0, deadline, signature.clone()).abi_encode()).unwrap();
    assert_eq!(batch.digest(CHAIN_ID, wallet), digest);
    assert_eq!(batch.signer(CHAIN_ID, wallet), Ok(owner.address()));
    assert_ne!(batch.signer(CHAIN_ID, factory), Ok(owner.address()));
    assert_eq!(batch.value(), U256::from(5));
    assert!(matches!(UserOpBatch::decode(&[0xde, 0xad]), Err(UserOpError::NotABatch(_))));
    assert_eq!(UserOpBatch::decode(&call(&[], 0, deadline, Bytes::new()).abi_encode()), Err(UserOpError::Empty));
    chain.exec(Tx::sol(account(9), wallet, call(&ops, 0, deadline, signature.clone()))).expect_ok();
    assert_eq!((chain.balance(to_a), chain.balance(to_b)), (U256::from(2), U256::from(3)));
    assert_eq!(chain.read(wallet, UserOpsSubmitter::nonceCall {}), U256::from(1));
    // Creating it again is a no-op.
    chain.exec(Tx::sol(account(9), factory, UserOpsFactory::createWalletCall { owner: owner.address() })).expect_ok();

    // The same batch again: refused, nothing moves.
    let replay = refused(&mut chain, wallet, call(&ops, 0, deadline, signature));
    assert!(matches!(&replay, UserOpsSubmitterErrors::WrongNonce(e) if e.expected == U256::from(1)), "{replay:?}");
    assert_eq!(chain.balance(to_a), U256::from(2));
    // Expired; signed by someone else; a malleable twin; a call that fails (all or nothing).
    let late = chain.timestamp - 1;
    let expired = refused(&mut chain, wallet, call(&ops, 1, late, sign(&owner, wallet, &ops, 1, late)));
    assert!(matches!(expired, UserOpsSubmitterErrors::Expired(_)), "{expired:?}");
    let stranger = refused(&mut chain, wallet, call(&ops, 1, deadline, sign(&other, wallet, &ops, 1, deadline)));
    assert!(matches!(stranger, UserOpsSubmitterErrors::InvalidSignature(_)), "{stranger:?}");
    let good = sign(&owner, wallet, &ops, 1, deadline);
    let mut twin = good.to_vec();
    let n = U256::from_str_radix("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16).unwrap();
    let s = U256::from_be_slice(&twin[32..64]);
    twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    twin[64] = if twin[64] == 27 { 28 } else { 27 };
    let twin_batch = UserOpBatch::decode(&call(&ops, 1, deadline, twin.clone().into()).abi_encode()).unwrap();
    assert!(matches!(twin_batch.signer(CHAIN_ID, wallet), Err(UserOpError::BadSignature(_))));
    let malleable = refused(&mut chain, wallet, call(&ops, 1, deadline, twin.into()));
    assert!(matches!(malleable, UserOpsSubmitterErrors::InvalidSignature(_)), "{malleable:?}");
    let too_much = vec![UserOp { target: to_a, value: U256::from(100), data: Bytes::new() }];
    let failing =
        refused(&mut chain, wallet, call(&too_much, 1, deadline, sign(&owner, wallet, &too_much, 1, deadline)));
    assert!(matches!(&failing, UserOpsSubmitterErrors::CallFailed(e) if e.index == U256::ZERO), "{failing:?}");
    assert_eq!(chain.read(wallet, UserOpsSubmitter::nonceCall {}), U256::from(1), "nothing ran");
    // The next batch, properly signed and paid for, runs.
    chain.set_balance(wallet, U256::from(2));
    chain
        .exec(Tx::sol(account(9), wallet, call(&ops[..1], 1, deadline, sign(&owner, wallet, &ops[..1], 1, deadline))))
        .expect_ok();
    assert_eq!(chain.balance(to_a), U256::from(4));
}
