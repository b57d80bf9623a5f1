//! One checkpoint type for all bindings. Each contract binding declares its own copy of
//! `ProtocolTypes.Checkpoint` (same ABI); these conversions let callers use the canonical one.

use crate::bindings::{anchor, inbox, signal_service};

/// The canonical checkpoint: a block of the other chain (number, hash, state root).
pub type Checkpoint = inbox::ProtocolTypes::Checkpoint;

macro_rules! convert {
    ($($other:path),*) => {$(
        impl From<Checkpoint> for $other {
            fn from(c: Checkpoint) -> Self {
                Self { blockNumber: c.blockNumber, blockHash: c.blockHash, stateRoot: c.stateRoot }
            }
        }
        impl From<$other> for Checkpoint {
            fn from(c: $other) -> Self {
                Self { blockNumber: c.blockNumber, blockHash: c.blockHash, stateRoot: c.stateRoot }
            }
        }
    )*};
}

convert!(anchor::ProtocolTypes::Checkpoint, signal_service::ProtocolTypes::Checkpoint);
