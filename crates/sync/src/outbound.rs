//! Outbound bridge messages, found in a transaction's call trace.
//!
//! Calls (not logs: logs are not reliably visible through proxies in every tracer) into the bridge with
//! the `sendMessage` selector are found at any depth, through proxies and delegate calls, in execution
//! order. The bridge assigns `id`, `from` and `srcChainId`; they are taken from the call's own return
//! value when it succeeded, and otherwise derived the way the bridge would (so a reverted attempt can
//! still be reported as what it would have sent).

use alloy_primitives::{Address, B256, Log, U256};
use alloy_sol_types::SolCall;
use revm::{
    context::ContextTr,
    inspector::{Inspector, JournalExt},
    interpreter::{CallInputs, CallOutcome, CreateInputs, CreateOutcome, Interpreter},
};
use revm_inspectors::tracing::{CallTraceArena, TracingInspector, TracingInspectorConfig, types::CallKind};
use surge_primitives::{Message, bindings::bridge::Bridge};

/// The cheapest tracer that records what [`find_outbound_messages`] reads: call frames with their inputs
/// and outputs, no opcode steps, snapshots or logs.
pub fn tracer_config() -> TracingInspectorConfig {
    TracingInspectorConfig::none().set_record_inputs(true)
}

/// A [`TracingInspector`] with [`tracer_config`] that is not called for every opcode: it only sees frames
/// start and end. Even with steps off, the tracing inspector's per-opcode hooks cost about a fifth of a
/// traced execution; call frames are all [`find_outbound_messages`] needs. The frames it records are the
/// tracing inspector's own only because that config records no steps and sets no step budget (its
/// per-opcode hooks then do nothing): keep it so.
#[derive(Debug)]
pub struct CallTracer(TracingInspector);

impl Default for CallTracer {
    fn default() -> Self {
        Self(TracingInspector::new(tracer_config()))
    }
}

impl CallTracer {
    /// The recorded call frames.
    pub fn into_traces(self) -> CallTraceArena {
        self.0.into_traces()
    }
}

impl<CTX: ContextTr<Journal: JournalExt>> Inspector<CTX> for CallTracer {
    fn initialize_interp(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        self.0.initialize_interp(interp, context);
    }

    fn log(&mut self, context: &mut CTX, log: Log) {
        self.0.log(context, log);
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.0.call(context, inputs)
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.0.call_end(context, inputs, outcome);
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.0.create(context, inputs)
    }

    fn create_end(&mut self, context: &mut CTX, inputs: &CreateInputs, outcome: &mut CreateOutcome) {
        self.0.create_end(context, inputs, outcome);
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        Inspector::<CTX>::selfdestruct(&mut self.0, contract, target, value);
    }
}

/// One `sendMessage` call found in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// The message as the bridge recorded it (or would have).
    pub message: Message,
    /// `hashMessage(message)`.
    pub hash: B256,
    /// The frame that called the bridge (`message.from`).
    pub caller: Address,
    /// Call depth of the bridge call (0 = the transaction itself).
    pub depth: usize,
    /// Whether the call, or a frame around it, reverted: then nothing was sent.
    pub reverted: bool,
}

/// Every `sendMessage` call into `bridge` in `arena`, in execution order. `chain_id` is the chain the
/// transaction runs on and `next_message_id` the bridge's `nextMessageId` on the state it ran on.
pub fn find_outbound_messages(
    arena: &CallTraceArena,
    bridge: Address,
    chain_id: u64,
    next_message_id: u64,
) -> Vec<OutboundMessage> {
    outbound_within(arena, None, bridge, chain_id, next_message_id)
}

/// [`find_outbound_messages`] within the frame `root` of `arena` and the frames it started, as that frame
/// ran on its own: a send is reverted only when a frame from it up to `root` failed, whatever failed
/// around `root` (one step of a transaction that reverted as a whole, read step by step).
pub fn find_outbound_messages_within(
    arena: &CallTraceArena,
    root: usize,
    bridge: Address,
    chain_id: u64,
    next_message_id: u64,
) -> Vec<OutboundMessage> {
    outbound_within(arena, Some(root), bridge, chain_id, next_message_id)
}

fn outbound_within(
    arena: &CallTraceArena,
    root: Option<usize>,
    bridge: Address,
    chain_id: u64,
    next_message_id: u64,
) -> Vec<OutboundMessage> {
    let nodes = arena.nodes();
    let mut next_id = next_message_id;
    let mut found = vec![];
    // Nodes are stored in the order their calls started, which is execution order.
    for (i, node) in nodes.iter().enumerate() {
        let trace = &node.trace;
        if trace.address != bridge || trace.kind.is_delegate() || trace.kind == CallKind::StaticCall {
            continue;
        }
        let Ok(call) = Bridge::sendMessageCall::abi_decode(&trace.data) else { continue };
        // Walk up to the root (or the transaction itself): any failed frame on the way reverted the send.
        let (mut reverted, mut at, mut within) = (false, Some(i), root.is_none());
        while let Some(a) = at {
            reverted |= !nodes[a].trace.success;
            if Some(a) == root {
                within = true;
                break;
            }
            at = nodes[a].parent;
        }
        if !within {
            continue;
        }
        let message = match Bridge::sendMessageCall::abi_decode_returns(&trace.output) {
            Ok(ret) if !reverted => ret.sent,
            _ => call.message.with_bridge_assigned(next_id, trace.caller, chain_id),
        };
        if !reverted {
            next_id = message.id + 1;
        }
        found.push(OutboundMessage {
            hash: message.hash(),
            message,
            caller: trace.caller,
            depth: trace.depth,
            reverted,
        });
    }
    found
}
