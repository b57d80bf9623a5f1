//! The synchronous-composability core: finding the outbound bridge messages a transaction sends
//! ([`outbound`]) and the plans the node makes for transactions that call L1 ([`plan`], with the
//! [`Planner`] trait other extensions see the planner through).

pub mod abort;
pub mod node_status;
pub mod outbound;
pub mod plan;
pub mod status;
pub mod user_op;

pub use node_status::{CoolDownStatus, L1Status, OpenProposalStatus, ProposerStatus, SyncStatus, SyncStatusSource};
pub use outbound::{
    ABORT_CHECK_STEPS, CallTracer, MAX_SIMULATION_TRACE_BYTES, OutboundMessage, Stopped, find_outbound_messages,
    find_outbound_messages_within, tracer_config,
};
pub use plan::{Answer, NoPlan, Plan, PlannedMessage, Planner, SimulatedCall, Simulation};
pub use status::{StatusDetails, Transition, TxStatus, TxStatusSource, TxStatusView};
pub use user_op::{Submitted, UserOpRejected, UserOpSink, user_op_key};
