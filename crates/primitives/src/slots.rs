//! Storage-slot arithmetic of the protocol contracts: the one place that knows where the bridge and
//! the signal service keep their state. Nodes read these slots directly and override them during
//! simulation, so every formula here is checked against the compiled contracts' storage layouts
//! and against the contracts themselves executing in revm.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;

/// Bridge storage.
pub mod bridge {
    use super::*;

    /// Slot holding `nextMessageId` (a `uint64` at byte offset 8).
    pub const NEXT_MESSAGE_ID_SLOT: U256 = U256::from_limbs([251, 0, 0, 0]);
    /// Byte offset of `nextMessageId` inside its slot.
    pub const NEXT_MESSAGE_ID_OFFSET: usize = 8;
    /// Slot of the `messageStatus` mapping.
    pub const MESSAGE_STATUS_SLOT: U256 = U256::from_limbs([252, 0, 0, 0]);
    /// Slot of the invocation context's `msgHash`.
    pub const CTX_MSG_HASH_SLOT: U256 = U256::from_limbs([253, 0, 0, 0]);
    /// Slot packing the invocation context's `from` (low 20 bytes) and `srcChainId` (next 8 bytes).
    pub const CTX_FROM_CHAIN_SLOT: U256 = U256::from_limbs([254, 0, 0, 0]);

    /// Reads `nextMessageId` out of the raw word at [`NEXT_MESSAGE_ID_SLOT`].
    pub fn decode_next_message_id(word: U256) -> u64 {
        (word >> (NEXT_MESSAGE_ID_OFFSET * 8)).wrapping_to::<u64>()
    }

    /// Returns `word` with `nextMessageId` replaced by `id`, keeping the neighbouring bytes.
    pub fn encode_next_message_id(word: U256, id: u64) -> U256 {
        let shift = NEXT_MESSAGE_ID_OFFSET * 8;
        let mask = U256::from(u64::MAX) << shift;
        (word & !mask) | (U256::from(id) << shift)
    }

    /// Storage key of `messageStatus[msg_hash]`: `keccak256(abi.encode(msgHash, 252))`.
    pub fn message_status_key(msg_hash: B256) -> B256 {
        keccak256((msg_hash, MESSAGE_STATUS_SLOT).abi_encode())
    }

    /// The bridge's invocation context as stored in slots 253 and 254.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BridgeContext {
        /// Hash of the message being invoked.
        pub msg_hash: B256,
        /// The message's sender on the source chain.
        pub from: Address,
        /// The source chain.
        pub src_chain_id: u64,
    }

    impl BridgeContext {
        /// The values the bridge leaves behind after an invocation.
        pub const IDLE: Self =
            Self { msg_hash: B256::repeat_byte(0xff), from: Address::repeat_byte(0xff), src_chain_id: u64::MAX };

        /// The raw words for slots 253 and 254.
        pub fn to_slots(&self) -> (U256, U256) {
            let packed = (U256::from(self.src_chain_id) << 160) | U256::from_be_slice(self.from.as_slice());
            (U256::from_be_bytes(self.msg_hash.0), packed)
        }

        /// Decodes the raw words of slots 253 and 254. Bytes above the chain id are ignored, as Solidity does.
        pub fn from_slots(msg_hash: U256, packed: U256) -> Self {
            let bytes = packed.to_be_bytes::<32>();
            Self {
                msg_hash: B256::from(msg_hash.to_be_bytes::<32>()),
                from: Address::from_slice(&bytes[12..32]),
                src_chain_id: (packed >> 160usize).wrapping_to::<u64>(),
            }
        }

        /// Whether these are the placeholder values left after an invocation.
        pub fn is_idle(&self) -> bool {
            *self == Self::IDLE
        }
    }
}

/// Signal service storage.
pub mod signal_service {
    use super::*;

    /// Slot of the `_receivedSignals` mapping (fast-path receipts).
    pub const RECEIVED_SIGNALS_SLOT: U256 = U256::from_limbs([253, 0, 0, 0]);
    /// Slot of the `_checkpoints` mapping.
    pub const CHECKPOINTS_SLOT: U256 = U256::from_limbs([254, 0, 0, 0]);

    /// `getSignalSlot(chainId, app, signal) = keccak256(abi.encodePacked("SIGNAL", chainId, app, signal))`:
    /// the raw storage key where `sendSignal` stores a signal.
    pub fn signal_slot(chain_id: u64, app: Address, signal: B256) -> B256 {
        let mut preimage = [0u8; 66];
        preimage[..6].copy_from_slice(b"SIGNAL");
        preimage[6..14].copy_from_slice(&chain_id.to_be_bytes());
        preimage[14..34].copy_from_slice(app.as_slice());
        preimage[34..].copy_from_slice(signal.as_slice());
        keccak256(preimage)
    }

    /// Storage key of `_receivedSignals[slot]`: `keccak256(abi.encode(slot, 253))`.
    pub fn received_signal_key(slot: B256) -> B256 {
        keccak256((slot, RECEIVED_SIGNALS_SLOT).abi_encode())
    }

    /// Storage keys of `_checkpoints[blockNumber]`: the block hash, then the state root.
    pub fn checkpoint_keys(block_number: u64) -> (B256, B256) {
        let base = keccak256((U256::from(block_number), CHECKPOINTS_SLOT).abi_encode());
        let next = U256::from_be_bytes(base.0).wrapping_add(U256::from(1));
        (base, B256::from(next.to_be_bytes::<32>()))
    }
}

#[cfg(test)]
mod tests {
    use super::bridge::*;
    use super::*;

    #[test]
    fn next_message_id_round_trips_and_keeps_neighbours() {
        let reserved = U256::from(0xdead_beefu64);
        let word = encode_next_message_id(reserved, 42);
        assert_eq!(decode_next_message_id(word), 42);
        assert_eq!(word & U256::from(u64::MAX), reserved);
        let word = encode_next_message_id(word, u64::MAX);
        assert_eq!(decode_next_message_id(word), u64::MAX);
        assert_eq!(word >> 128, U256::ZERO);
    }

    #[test]
    fn idle_context_is_all_ones_and_28_bytes() {
        let (a, b) = BridgeContext::IDLE.to_slots();
        assert_eq!(a, U256::MAX);
        assert_eq!(b, U256::MAX >> 32);
        assert!(BridgeContext::from_slots(a, b).is_idle());
        assert!(!BridgeContext::from_slots(U256::ZERO, U256::ZERO).is_idle());
    }

    #[test]
    fn context_round_trips() {
        let ctx =
            BridgeContext { msg_hash: B256::repeat_byte(7), from: Address::repeat_byte(0x11), src_chain_id: 763374 };
        let (a, b) = ctx.to_slots();
        assert_eq!(BridgeContext::from_slots(a, b), ctx);
        assert_eq!(b >> 160, U256::from(763374u64));
    }
}
