//! Relaying a user op's L1→L2 messages on L2: `processMessage(message, "")` on the L2 bridge (the fast-signal
//! path: the same block's anchor marks the message's slot received), signed by the node's relayer key and
//! paid by the message's fee, after the pool's transactions in the block that receives it.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use surge_primitives::{Message, bindings::bridge::Bridge};

/// Gas of a relay transaction besides the message's own `gasLimit` (which covers the bridge's work and the
/// invocation): the intrinsic 21,000 and a margin for the calldata.
const RELAY_BASE_GAS: u64 = 21_000;
/// Calldata gas per byte, counted as if every byte were non-zero.
const CALLDATA_GAS_PER_BYTE: u64 = 16;

/// The gas limit of the relay transaction of `message`.
pub fn relay_gas_limit(message: &Message) -> u64 {
    let calldata = relay_calldata(message).len() as u64;
    u64::from(message.gasLimit) + RELAY_BASE_GAS + calldata * CALLDATA_GAS_PER_BYTE
}

/// The relay transaction's calldata: `processMessage(message, "")` (the fast-signal path).
pub fn relay_calldata(message: &Message) -> Bytes {
    Bridge::processMessageCall { message: message.clone(), proof: Bytes::new() }.abi_encode().into()
}

/// The node's L2 key for relay transactions.
#[derive(Clone)]
pub struct Relayer {
    /// The key.
    pub signer: PrivateKeySigner,
    /// The L2 chain id.
    pub chain_id: u64,
    /// The L2 bridge.
    pub bridge: Address,
}

impl std::fmt::Debug for Relayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relayer").field("address", &self.signer.address()).finish_non_exhaustive()
    }
}

impl Relayer {
    /// The relayer's account.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The relay transaction of `message` at `nonce`, paying up to `max_fee` per gas and no tip.
    pub fn relay(&self, message: &Message, nonce: u64, max_fee: u128) -> Result<Recovered<TxEnvelope>, String> {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: relay_gas_limit(message),
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(self.bridge),
            value: U256::ZERO,
            access_list: Default::default(),
            input: relay_calldata(message),
        };
        let signature = self.signer.sign_hash_sync(&tx.signature_hash()).map_err(|e| e.to_string())?;
        Ok(Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(signature)), self.address()))
    }
}
