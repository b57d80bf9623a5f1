//! The node's synchronous-composability extension: pre-simulation of L2 transactions that call L1 into
//! plans ([`presim`]), with the L1 legs simulated by `surge-l1` on the L1 view.

pub mod presim;

pub use presim::{Candidate, L2Protocol, PendingL2};
