//! The synchronous-composability core: finding the outbound bridge messages a transaction sends (this
//! module), simulating their L1 callbacks and planning the return signals (to come).

pub mod outbound;

pub use outbound::{OutboundMessage, find_outbound_messages, tracer_config};
