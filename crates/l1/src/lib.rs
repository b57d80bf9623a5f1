//! The L1 side of the node: [`L1Client`] (alloy's provider over HTTP or WebSocket, contract calls through
//! the `sol!` bindings, errors naming the call and the endpoint), the [`HeadTracker`] publishing the L1
//! head into a `tokio::sync::watch` channel so block production never waits for L1, and the
//! [`startup_checks`] that refuse an L1 the L2 cannot settle on; the [`L1View`] of recent L1 blocks
//! (embedded or remote) and the [`BundleSimulator`] running the L1 leg of synchronous composability on it
//! as the proposer's bundle will.

pub mod calls;
pub mod checks;
pub mod client;
pub mod head;
pub mod nonce;
pub mod prover;
pub mod raiko;
pub mod sim;
pub mod submit;
pub mod view;

pub use calls::{ProofError, ProvenBlock, hop_proof, process_message};
pub use checks::{CheckError, StartupChecks, startup_checks};
pub use client::{Included, L1Client, L1Error};
pub use head::{HeadTracker, HeadWatch, L1Head, L1Heads, TrackerStats};
pub use nonce::{NonceState, included_among, nonce_state};
pub use prover::{MockEcdsaProver, ProofFuture, ProofRequest, Prover, ProverError};
pub use sim::{
    BundleLayout, BundleLimits, BundleSimulator, ExactTx, InFlightBundle, InFlightRun, L1Leg, L1Protocol, LegOutcome,
    LegResult, LegTrace, Preflight, PreflightFailure, Refusal, SentMessage, SimConfig, SimError, StepTrace, preflight,
    replay_env, replay_included,
};
pub use submit::{
    FeePolicy, Fees, GWEI, L1Sender, L1Transaction, Signed, SubmitError, blob_sidecar, replacement_bump_percent,
};
pub use view::{EmbeddedSource, L1StateSource, L1View, L1Views, RemoteSource, ViewError};
