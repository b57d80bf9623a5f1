//! The node's synchronous-composability extension: pre-simulation of L2 transactions that call L1 into
//! plans ([`presim`]), with the L1 legs simulated by `surge-l1` on the L1 view, kept in bundle order by the
//! [`PlanBook`].

pub mod book;
pub mod presim;
pub mod task;
pub mod watcher;

pub use book::{Moved, PlanBook};
pub use presim::{Candidate, L2Protocol, PendingL2};
pub use task::{Watcher, WatcherConfig, WatcherInputs, install, pending_state, watcher};
pub use watcher::{PlannerHandle, WatcherCore};
