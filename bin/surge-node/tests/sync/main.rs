//! Synchronous composability on an in-process dev network: the txpool watcher's plans, and plans going into
//! blocks through the open proposal. One test binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod load;
mod net;
mod ordered;
mod proposals;
mod proposer;
mod reverts;
mod user_ops;
mod watcher;
