//! Bridge message helpers: the message hash, the fields the bridge assigns, gas limits and slots.

use alloy_primitives::{Address, B256, keccak256};
use alloy_sol_types::{SolValue, sol_data};

use crate::{Message, slots::signal_service::signal_slot};

/// Gas kept back from a relayed message's `gasLimit` for the bridge's own work.
pub const MESSAGE_GAS_RESERVE: u64 = 800_000;

impl Message {
    /// `hashMessage(m) = keccak256(abi.encode("TAIKO_MESSAGE", m))`.
    pub fn hash(&self) -> B256 {
        let encoded = <(sol_data::String, Message) as alloy_sol_types::SolType>::abi_encode_params(&(
            "TAIKO_MESSAGE".to_string(),
            self.clone(),
        ));
        keccak256(encoded)
    }

    /// The message as `sendMessage` records it: `id`, `from` and `srcChainId` filled in by the bridge.
    pub fn with_bridge_assigned(mut self, id: u64, from: Address, src_chain_id: u64) -> Self {
        self.id = id;
        self.from = from;
        self.srcChainId = src_chain_id;
        self
    }

    /// The signal slot this message occupies in the source chain's signal service, given the source
    /// bridge's address.
    pub fn signal_slot(&self, src_bridge: Address) -> B256 {
        signal_slot(self.srcChainId, src_bridge, self.hash())
    }

    /// The gas the bridge forwards to the invocation when a relayer processes the message, or `None`
    /// when a relayer may not process it (`gasLimit` 0 or not above the minimum).
    pub fn relayed_invocation_gas(&self) -> Option<u64> {
        let min = min_gas_limit(self.data.len());
        let limit = u64::from(self.gasLimit);
        (limit > min).then(|| limit - min)
    }

    /// ABI encoding of the message alone (as a tuple).
    pub fn abi_encoded(&self) -> Vec<u8> {
        SolValue::abi_encode(self)
    }
}

/// `getMessageMinGasLimit(len) = 800_000 + (ceil32(len) + 416) * 16`.
pub fn min_gas_limit(data_len: usize) -> u64 {
    let padded = (data_len as u64).div_ceil(32) * 32;
    MESSAGE_GAS_RESERVE + (padded + 416) * 16
}

/// Apps' bindings declare their own copy of the message struct (same ABI); these convert the canonical one
/// into theirs.
macro_rules! message_into {
    ($($binding:path),+ $(,)?) => {$(
        impl From<Message> for $binding {
            fn from(m: Message) -> Self {
                Self {
                    id: m.id,
                    fee: m.fee,
                    gasLimit: m.gasLimit,
                    from: m.from,
                    srcChainId: m.srcChainId,
                    srcOwner: m.srcOwner,
                    destChainId: m.destChainId,
                    destOwner: m.destOwner,
                    to: m.to,
                    value: m.value,
                    data: m.data,
                }
            }
        }
    )+};
}

message_into!(
    crate::bindings::test_message_sender::IBridge::Message,
    crate::bindings::examples::swap_vault_l2::IBridge::Message,
    crate::bindings::examples::flash_loan_executor_l2::IBridge::Message,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_gas_limit_pads_to_words() {
        assert_eq!(min_gas_limit(0), 800_000 + 416 * 16);
        assert_eq!(min_gas_limit(1), 800_000 + (32 + 416) * 16);
        assert_eq!(min_gas_limit(32), 800_000 + (32 + 416) * 16);
        assert_eq!(min_gas_limit(33), 800_000 + (64 + 416) * 16);
    }
}
