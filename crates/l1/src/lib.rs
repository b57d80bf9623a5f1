//! The L1 side of the node: [`L1Client`] (alloy's provider over HTTP or WebSocket, contract calls through
//! the `sol!` bindings, errors naming the call and the endpoint), the [`HeadTracker`] publishing the L1
//! head into a `tokio::sync::watch` channel so block production never waits for L1, and the
//! [`startup_checks`] that refuse an L1 the L2 cannot settle on.

pub mod checks;
pub mod client;
pub mod head;

pub use checks::{CheckError, StartupChecks, startup_checks};
pub use client::{L1Client, L1Error};
pub use head::{HeadTracker, HeadWatch, L1Head, L1Heads, TrackerStats};
