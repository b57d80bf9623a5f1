//! User ops for tests, built as a dapp builds them: a batch of L1 calls for a `UserOpsSubmitter` wallet,
//! signed with standard EIP-712 (alloy's `SolStruct`, what `cast wallet sign --data` computes), sent with
//! `surge_sendUserOp`.

use alloy::{
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolCall, SolStruct, eip712_domain},
};
use alloy_primitives::{Address, Bytes, U256, address};
use serde_json::{Value, json};

alloy::sol! {
    /// One call of a batch.
    struct UserOp { address target; uint256 value; bytes data; }
    /// What the owner signs.
    struct ExecuteBatch { UserOp[] ops; uint256 nonce; uint256 deadline; }
    /// The wallet's entry point.
    function executeBatch(UserOp[] ops, uint256 _nonce, uint256 deadline, bytes signature);
    /// A bridge message.
    struct Message {
        uint64 id; uint64 fee; uint32 gasLimit; address from; uint64 srcChainId; address srcOwner;
        uint64 destChainId; address destOwner; address to; uint256 value; bytes data;
    }
    /// The bridge's send.
    function sendMessage(Message message);
}

/// The dev L1's chain id.
pub const DEV_L1_CHAIN_ID: u64 = 3_151_908;
/// The dev L2's chain id.
pub const DEV_L2_CHAIN_ID: u64 = 763_374;
/// The dev network's user-op wallet factory.
pub const DEV_FACTORY: Address = address!("0x3151908000000000000000000000000000000400");
/// The dev L1 bridge.
pub const DEV_L1_BRIDGE: Address = address!("0x3151908000000000000000000000000000000001");
/// The dev proposer (dev account 0), whom ops pay for their L1 gas.
pub const DEV_PROPOSER: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
/// What a deposit's message pays its relay (ample on the dev L2).
pub const RELAY_FEE: u64 = 1_000_000_000_000_000;
/// What an op pays the proposer for its L1 gas (ample on the dev L1).
pub const L1_GAS_PAYMENT: u128 = 10_000_000_000_000_000;

/// A call of `value` wei to `target` with `data`.
pub fn call(target: Address, value: U256, data: Bytes) -> UserOp {
    UserOp { target, value, data }
}

/// The payment of `value` wei to `to` (the proposer, for the op's L1 gas).
pub fn pay(to: Address, value: U256) -> UserOp {
    call(to, value, Bytes::new())
}

/// A deposit of `value` wei from `wallet` to `to` on L2 through `bridge`, its message offering `fee` for the
/// relay with `gas_limit`.
pub fn deposit(bridge: Address, wallet: Address, to: Address, value: U256, fee: u64, gas_limit: u32) -> UserOp {
    let message = Message {
        id: 0,
        fee,
        gasLimit: gas_limit,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: wallet,
        destChainId: DEV_L2_CHAIN_ID,
        destOwner: to,
        to,
        value,
        data: Bytes::new(),
    };
    call(bridge, value + U256::from(fee), sendMessageCall { message }.abi_encode().into())
}

/// The dev network's deposit of `value` wei from `wallet` to `to`, paying the relay and the proposer
/// amply: the batch's calls.
pub fn dev_deposit(wallet: Address, to: Address, value: U256) -> Vec<UserOp> {
    vec![deposit(DEV_L1_BRIDGE, wallet, to, value, RELAY_FEE, 1_000_000), pay(DEV_PROPOSER, U256::from(L1_GAS_PAYMENT))]
}

/// `ops` signed by `owner` for `wallet` on chain `chain_id` at wallet nonce `nonce` before `deadline`: the
/// `executeBatch` calldata.
pub fn batch(
    owner: &PrivateKeySigner,
    wallet: Address,
    chain_id: u64,
    ops: &[UserOp],
    nonce: u64,
    deadline: u64,
) -> Bytes {
    let domain = eip712_domain! {
        name: "UserOpsSubmitter",
        version: "1",
        chain_id: chain_id,
        verifying_contract: wallet,
    };
    let (nonce, deadline) = (U256::from(nonce), U256::from(deadline));
    let signed = ExecuteBatch { ops: ops.to_vec(), nonce, deadline };
    let signature = owner.sign_hash_sync(&signed.eip712_signing_hash(&domain)).unwrap();
    let signature = Bytes::from(signature.as_bytes().to_vec());
    executeBatchCall { ops: ops.to_vec(), _nonce: nonce, deadline, signature }.abi_encode().into()
}

/// `owner`'s wallet as `factory` on the L1 at `l1` says (cast).
pub fn wallet_of(l1: &str, factory: Address, owner: Address) -> Address {
    let out =
        crate::cast(&["call", &factory.to_string(), "walletOf(address)(address)", &owner.to_string(), "--rpc-url", l1]);
    out.trim().parse().unwrap()
}

/// `surge_sendUserOp {submitter, calldata}` on `l2`: the whole JSON-RPC response.
pub fn send_user_op(l2: &str, submitter: Address, calldata: &Bytes) -> Value {
    crate::json_rpc(l2, "surge_sendUserOp", json!({ "submitter": submitter, "calldata": calldata }))
}

/// The id `surge_sendUserOp` gave, or the error's message.
pub fn sent_id(response: &Value) -> Result<u64, String> {
    match response["result"].as_u64() {
        Some(id) => Ok(id),
        None => {
            Err(format!("{}: {}", response["error"]["code"], response["error"]["message"].as_str().unwrap_or_default()))
        }
    }
}

/// `surge_userOpStatus [id]` on `l2`: the whole JSON-RPC response.
pub fn user_op_status(l2: &str, id: u64) -> Value {
    crate::json_rpc(l2, "surge_userOpStatus", json!([id]))
}

/// Sends `value` (cast's units) from `key` to `wallet` on the L1 at `l1`, and waits until the node at `l2`
/// has seen the block that holds it (an op is checked on the newest L1 block the node has seen).
pub fn fund(l1: &str, l2: &str, key: &str, wallet: Address, value: &str) {
    let send = ["send", &wallet.to_string(), "--value", value, "--private-key", key, "--json", "--rpc-url", l1];
    let receipt: Value = serde_json::from_str(&crate::cast(&send)).unwrap();
    let block = u64::from_str_radix(receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while crate::rpc_result(l2, "surge_syncStatus", json!([]))["l1"]["headNumber"].as_u64().unwrap_or_default() < block
    {
        assert!(std::time::Instant::now() < deadline, "the node at {l2} did not see L1 block {block}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits for user op `id` on `l2` to reach a final state (within two minutes); its status.
pub fn settled(l2: &str, id: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let status = crate::rpc_result(l2, "surge_userOpStatus", json!([id]));
        if ["Executed", "Rejected"].contains(&status["status"].as_str().unwrap_or_default()) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "user op {id} not final: {status}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
