//! Revert protection for synchronous transactions: a transaction that consumes an answer it does not get
//! (its call to the L2 bridge's `processMessage(m, "")` fails because its block's anchor, or an earlier
//! one, did not mark `m` received, or because another transaction processed `m` first) is never mined. The builder leaves it out and holds it in the pool while a
//! plan may still come; once the planner says none will ([`surge_interfaces::BlockInputs::refusal`]), or
//! it has waited too long, or too many wait, it leaves the pool with its reason.
//!
//! The watch runs on every transaction of a block: it looks at calls into the bridge only, so a transfer
//! pays nothing for it, and a traced transaction (one a return slot depends on) is traced as before.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, Log, U256};
use alloy_sol_types::{SolCall, SolError};
use revm::{
    context::ContextTr,
    inspector::{Inspector, JournalExt},
    interpreter::{CallInputs, CallOutcome, CreateInputs, CreateOutcome, Interpreter},
};
use surge_primitives::{Message, bindings::bridge::Bridge};
use surge_sync::CallTracer;

/// The builder's inspector: the bridge's fast-signal watch on every transaction, and the call tracer on
/// the ones whose messages are checked.
#[derive(Debug)]
pub(crate) struct BlockInspector {
    bridge: Address,
    tracer: CallTracer,
    tracing: bool,
    /// Per open call frame: the message of a fast-path `processMessage` into the bridge.
    frames: Vec<Option<Message>>,
    /// The first message the transaction tried to consume and did not get.
    unanswered: Option<Message>,
}

impl BlockInspector {
    /// Watches calls into `bridge`.
    pub(crate) fn new(bridge: Address) -> Self {
        Self { bridge, tracer: CallTracer::default(), tracing: false, frames: vec![], unanswered: None }
    }

    /// Starts the next transaction, traced or not.
    pub(crate) fn start(&mut self, tracing: bool) {
        self.tracing = tracing;
        self.frames.clear();
        self.unanswered = None;
    }

    /// The call frames of a traced transaction (and a fresh tracer for the next one).
    pub(crate) fn take_traces(&mut self) -> revm_inspectors::tracing::CallTraceArena {
        std::mem::take(&mut self.tracer).into_traces()
    }

    /// The message the last transaction tried to consume and did not get, if any.
    pub(crate) fn unanswered(&self) -> Option<&Message> {
        self.unanswered.as_ref()
    }

    /// The message of a `processMessage(m, "")` call into the bridge.
    fn fast_path_message<CTX: ContextTr>(&self, context: &CTX, inputs: &CallInputs) -> Option<Message> {
        if inputs.target_address != self.bridge || inputs.input.len() < 4 {
            return None;
        }
        let data = inputs.input.bytes(context);
        if data[..4] != Bridge::processMessageCall::SELECTOR {
            return None;
        }
        let call = Bridge::processMessageCall::abi_decode(&data).ok()?;
        call.proof.is_empty().then_some(call.message)
    }
}

/// Whether a fast-path `processMessage` failed for want of its message: not received on this chain yet,
/// or processed already (by the transaction that took the answer first).
fn unanswered(revert: &[u8]) -> bool {
    revert.starts_with(&Bridge::B_SIGNAL_NOT_RECEIVED::SELECTOR)
        || revert.starts_with(&Bridge::B_STATUS_MISMATCH::SELECTOR)
}

impl<CTX: ContextTr<Journal: JournalExt>> Inspector<CTX> for BlockInspector {
    fn initialize_interp(&mut self, interp: &mut Interpreter, context: &mut CTX) {
        if self.tracing {
            self.tracer.initialize_interp(interp, context);
        }
    }

    fn log(&mut self, context: &mut CTX, log: Log) {
        if self.tracing {
            self.tracer.log(context, log);
        }
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let message = self.fast_path_message(context, inputs);
        self.frames.push(message);
        if self.tracing {
            return self.tracer.call(context, inputs);
        }
        None
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        if let Some(Some(message)) = self.frames.pop()
            && self.unanswered.is_none()
            && !outcome.result.is_ok()
            && unanswered(&outcome.result.output)
        {
            self.unanswered = Some(message);
        }
        if self.tracing {
            self.tracer.call_end(context, inputs, outcome);
        }
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        if self.tracing {
            return self.tracer.create(context, inputs);
        }
        None
    }

    fn create_end(&mut self, context: &mut CTX, inputs: &CreateInputs, outcome: &mut CreateOutcome) {
        if self.tracing {
            self.tracer.create_end(context, inputs, outcome);
        }
    }

    fn selfdestruct(&mut self, contract: Address, target: Address, value: U256) {
        if self.tracing {
            Inspector::<CTX>::selfdestruct(&mut self.tracer, contract, target, value);
        }
    }
}

/// How long and how many unanswered transactions the pool keeps for a plan to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    /// How long one waits for its plan.
    pub max_age: Duration,
    /// How many wait at once (more are rejected).
    pub max_txs: usize,
    /// How many of one sender wait at once.
    pub per_sender: usize,
}

impl Default for HoldLimits {
    fn default() -> Self {
        Self { max_age: Duration::from_secs(60), max_txs: 4096, per_sender: 16 }
    }
}

/// What the builder does with an unanswered transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Out of this block, kept in the pool: a plan may still come.
    Hold,
    /// Out of the pool, with the reason the sender reads.
    Reject(String),
}

/// The unanswered transactions held in the pool, with when each was first left out.
#[derive(Debug, Default)]
pub(crate) struct Held {
    since: HashMap<B256, (Address, Instant)>,
}

impl Held {
    /// Decides on `tx` of `sender`, left out because it consumes `message` unanswered; `refusal` is the
    /// planner's final word on it, if any.
    pub(crate) fn decide(
        &mut self,
        limits: &HoldLimits,
        tx: B256,
        sender: Address,
        message: &Message,
        refusal: Option<String>,
    ) -> Verdict {
        let reject = |held: &mut Self, why: String| {
            held.since.remove(&tx);
            Verdict::Reject(format!("no answer for message {} (id {}): {why}", message.hash(), message.id))
        };
        if let Some(why) = refusal {
            return reject(self, why);
        }
        let now = Instant::now();
        let at = match self.since.get(&tx) {
            Some((_, at)) => *at,
            None => {
                let of_sender = self.since.values().filter(|(s, _)| *s == sender).count();
                if of_sender >= limits.per_sender {
                    return reject(self, format!("its sender already has {of_sender} transactions waiting"));
                }
                if self.since.len() >= limits.max_txs {
                    return reject(self, format!("{} transactions are already waiting for answers", self.since.len()));
                }
                self.since.insert(tx, (sender, now));
                now
            }
        };
        if now.duration_since(at) > limits.max_age {
            return reject(self, format!("none came within {} s", limits.max_age.as_secs()));
        }
        Verdict::Hold
    }

    /// Forgets the transactions `keep` (given each one's hash and when it was first held) says are no
    /// longer held (mined, or gone from the pool).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&B256, &Instant) -> bool) {
        self.since.retain(|tx, (_, at)| keep(tx, at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_until_refused_too_old_or_too_many() {
        let limits = HoldLimits { max_age: Duration::from_millis(50), max_txs: 3, per_sender: 2 };
        let mut held = Held::default();
        let m = Message { id: 7, ..Default::default() };
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let tx = |i: u8| B256::repeat_byte(i);
        assert_eq!(held.decide(&limits, tx(1), a, &m, None), Verdict::Hold);
        assert_eq!(held.decide(&limits, tx(2), a, &m, None), Verdict::Hold);
        let Verdict::Reject(why) = held.decide(&limits, tx(3), a, &m, None) else { panic!("a third of one sender") };
        assert!(why.contains("its sender already has 2"), "{why}");
        assert_eq!(held.decide(&limits, tx(4), b, &m, None), Verdict::Hold);
        let Verdict::Reject(why) = held.decide(&limits, tx(5), b, &m, None) else { panic!("a fourth in all") };
        assert!(why.contains("3 transactions are already waiting") && why.contains("id 7"), "{why}");
        let Verdict::Reject(why) = held.decide(&limits, tx(4), b, &m, Some("answer already taken".into())) else {
            panic!("refused")
        };
        assert!(why.ends_with("answer already taken"), "{why}");
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(held.decide(&limits, tx(1), a, &m, None), Verdict::Reject(why) if why.contains("within")));
        held.retain(|t, _| *t != tx(2));
        assert!(held.since.is_empty());
    }
}
