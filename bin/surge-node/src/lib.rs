//! The `surge-node` binary's wiring as a library: settings, dev mode, the `deploy` tool and launching a
//! chain with extensions installed (what `main.rs` runs, and what in-process tests and embedders use).

pub mod composability;
pub mod config;
pub mod deploy;
pub mod dev;
pub mod l1;
pub mod launch;
pub mod network;
pub mod proposer;
pub mod proposer_config;
pub mod raiko_config;
pub mod rpc_config;
pub mod status_config;
pub mod supervisor;
pub mod txpool_config;
