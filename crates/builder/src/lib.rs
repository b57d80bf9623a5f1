//! The surge payload builder: builds realtime L2 blocks `[anchor, user transactions…, relay
//! transactions…]` with the signal slots the synchronous-composability planner asks for injected into the
//! anchor, and refuses to seal a block whose return slots are not backed by the outbound messages they
//! were planned for.
//!
//! The crate is independent of any host: it reads headers and state through
//! [`surge_interfaces::StateProviderFactory`], takes the EVM environment from
//! [`surge_interfaces::ConfigureEvm`], user transactions from a [`PayloadTransactions`] and the slots and
//! relay transactions from a [`BlockInputs`] planner; [`SurgeNodeBuilder`] puts it behind a node's
//! [`surge_interfaces::PayloadBuilder`] seam. See `examples/embed.rs` for a complete embedding.
//!
//! A build goes:
//! 1. the header from the parent and the L2 rules (EIP-4396 base fee, 7-byte extra data, fixed gas limit);
//! 2. the anchor (`anchorV4WithSignalSlots`, user-op slots then return slots), which must succeed;
//! 3. user transactions by best tip in `gas limit − 1,000,000 − relay gas`, until the deadline; one that
//!    consumes an answer its block did not receive is left out, held in the pool for its plan or rejected
//!    with the planner's reason ([`unanswered`]);
//! 4. relay transactions;
//! 5. the consistency check: each return slot's transaction, traced, must have sent exactly the planned
//!    message; if not the block is rebuilt without that slot (and without the transaction if it now
//!    fails), at most `max_passes` times, the last pass without return slots.

pub mod anchor;
pub mod builder;
pub mod consistency;
pub mod inputs;
pub mod node;
mod pass;
pub mod transactions;
pub mod unanswered;

pub use anchor::{AnchorInput, build_anchor, read_anchor};
pub use builder::{BuildError, BuildStats, BuilderConfig, BuiltPayload, SurgePayloadBuilder};
pub use inputs::InputQueue;
pub use node::{SurgeNodeBuilder, describe_metrics};
pub use surge_interfaces::{
    BlockInputs, CheckpointSource, InconsistentSlot, InputsReport, NextBlockAttributes, NoInputs, OutboundDependency,
    ReturnSlot, SlotProblem, StagedInputs, SyncTx, UserOp,
};
pub use transactions::{ListTransactions, PayloadTransactions, PoolTransactions};
pub use unanswered::HoldLimits;
