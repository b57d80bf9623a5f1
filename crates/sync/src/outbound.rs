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
///
/// A simulation's tracer ([`CallTracer::bounded`]) also stops the call — every frame then runs out of gas
/// at its next opcode — once its recorded inputs and outputs pass a size, or once the simulation's
/// [`abort`](crate::abort) is raised (checked every [`ABORT_CHECK_STEPS`] opcodes). A block's tracer
/// ([`CallTracer::default`]) never changes what the call does.
#[derive(Debug)]
pub struct CallTracer {
    inner: TracingInspector,
    /// The bytes the trace may hold; `usize::MAX` for a block's tracer.
    max_bytes: usize,
    bytes: usize,
    /// Opcodes until the abort is checked again.
    countdown: u32,
    stopped: Option<Stopped>,
}

/// The bytes a simulation's call trace may hold (its frames' inputs and outputs): a call that passes the
/// same megabyte of memory to thousands of calls would otherwise hold gigabytes.
pub const MAX_SIMULATION_TRACE_BYTES: usize = 64 << 20;

/// Opcodes run between two checks of a simulation's abort.
pub const ABORT_CHECK_STEPS: u32 = 4096;

/// What a frame costs in a trace besides its input and output (the node, its indices, the addresses).
const FRAME_BYTES: usize = 256;

/// Why a simulation's tracer stopped the call it traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The simulation was cancelled (its caller timed out or went away).
    Aborted,
    /// Its trace grew past this many bytes.
    TraceTooLarge(usize),
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Aborted => f.write_str("the simulation was cancelled"),
            Self::TraceTooLarge(max) => write!(f, "its call trace is larger than {max} bytes"),
        }
    }
}

impl Default for CallTracer {
    fn default() -> Self {
        Self::bounded(usize::MAX)
    }
}

impl CallTracer {
    /// A simulation's tracer: the call stops once its trace holds more than `max_bytes`, or when the
    /// thread's abort is raised.
    pub fn bounded(max_bytes: usize) -> Self {
        Self {
            inner: TracingInspector::new(tracer_config()),
            max_bytes,
            bytes: 0,
            countdown: ABORT_CHECK_STEPS,
            stopped: None,
        }
    }

    /// Why the call was stopped, if it was: its outcome is then no answer.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }

    /// The recorded call frames.
    pub fn into_traces(self) -> CallTraceArena {
        self.inner.into_traces()
    }

    fn charge(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes).saturating_add(FRAME_BYTES);
        if self.bytes > self.max_bytes && self.stopped.is_none() {
            self.stopped = Some(Stopped::TraceTooLarge(self.max_bytes));
        }
    }
}

impl<CTX: ContextTr<Journal: JournalExt>> Inspector<CTX> for CallTracer {
    fn initialize_interp(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        self.inner.initialize_interp(interp, context);
    }

    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        self.countdown -= 1;
        if self.countdown == 0 {
            self.countdown = ABORT_CHECK_STEPS;
            if self.stopped.is_none() && crate::abort::requested() {
                self.stopped = Some(Stopped::Aborted);
            }
        }
        if self.stopped.is_some() {
            interp.halt_oog();
        }
    }

    fn log(&mut self, context: &mut CTX, log: Log) {
        self.inner.log(context, log);
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        self.charge(inputs.input.len());
        self.inner.call(context, inputs)
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        self.charge(outcome.output().len());
        self.inner.call_end(context, inputs, outcome);
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        self.charge(inputs.init_code().len());
        self.inner.create(context, inputs)
    }

    fn create_end(&mut self, context: &mut CTX, inputs: &CreateInputs, outcome: &mut CreateOutcome) {
        self.inner.create_end(context, inputs, outcome);
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        Inspector::<CTX>::selfdestruct(&mut self.inner, contract, target, value);
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
