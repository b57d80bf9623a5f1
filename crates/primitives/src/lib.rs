//! Surge protocol primitives: ABI bindings, protocol formulas, storage-slot encodings, predeploy
//! addresses, chain/protocol configuration, the golden-touch signer, and the block state revm executes a
//! block against with the changes it leaves ([`block_state`]).
//!
//! Everything here must match the on-chain contracts bit for bit (see `shared/PROTOCOL.md`); the
//! integration tests check that by executing the compiled contracts in revm.

pub mod bindings;
pub mod blob;
pub mod block_state;
pub mod checkpoint;
pub mod config;
pub mod failpoint;
pub mod golden_touch;
pub mod manifest;
pub mod message;
pub mod predeploy;
pub mod proposal;
pub mod proposal_tx;
pub mod slots;
pub mod user_op;

pub use bindings::{
    bridge::IBridge::Message,
    inbox::RealTimeInbox::{
        BlobReference, BlobSlice, Commitment, DerivationSource, Proposal, ProposeInput, ProposeInputV2,
    },
    signal_service::SignalService::HopProof,
    surge_verifier::SurgeVerifier::SubProof,
};
pub use checkpoint::Checkpoint;
pub use config::{ConfigError, L1Contracts, ProtocolConfig};
pub use golden_touch::{GOLDEN_TOUCH_ADDRESS, GOLDEN_TOUCH_PRIVATE_KEY};
pub use message::min_gas_limit;
pub use predeploy::{L2Predeploys, chain_address};
pub use proposal::{MockProver, ProofFlag, hash_commitment, hash_proposal, hash_signal_slots, mock_proof_digest};
pub use slots::{
    bridge::BridgeContext,
    signal_service::{received_signal_key, signal_slot},
};
