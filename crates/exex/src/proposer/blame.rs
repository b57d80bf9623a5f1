//! Who made a proposal's L1 transaction fail, read from what each of its steps did (its pre-flight, or its
//! replay on the state it reverted on): the first leg whose messages or answers differ from its plan. A
//! difference before every leg (the bridge's `nextMessageId` is not the plans' base: an L1 message went
//! ahead of ours) blames nobody in particular, and so does a failure outside the legs (anchor, proof,
//! parent hash, fees, balance).

use alloy_primitives::{Address, B256};
use surge_l1::{InFlightRun, LegResult, LegTrace, PreflightFailure};
use surge_sync::{Plan, PlannedMessage};

use crate::proposal::ProposalRecord;

/// Who a failed proposal transaction blames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A planned transaction's leg did not do what its plan says.
    Culprit {
        /// The planned L2 transaction.
        tx: B256,
        /// Its sender.
        sender: Address,
        /// The L1 contract its leg called.
        target: Address,
        /// What the leg did instead.
        reason: String,
    },
    /// A user op's call failed (its batch no longer runs: a replay, a front-run nonce, a deadline passed).
    UserOp {
        /// The op.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The legs differ from the start: something on L1 went ahead of the bundle.
    Unknown {
        /// What differed.
        reason: String,
    },
    /// Every leg did what its plan says; the failure is elsewhere.
    NotTheLegs {
        /// The failure.
        reason: String,
    },
}

/// The verdict on `failure` of `record`'s transaction.
pub fn judge(record: &ProposalRecord, failure: &PreflightFailure) -> Verdict {
    // User ops are the bundle's first steps: a failing one is to blame before any leg is judged.
    if let Some(step) = failure.step {
        let mut first = 0u64;
        for op in &record.user_ops {
            let calls = op.calls.len() as u64;
            if (first..first + calls).contains(&step) {
                return Verdict::UserOp { id: op.id, reason: failure.reason.clone() };
            }
            first += calls;
        }
    }
    let planned =
        |hash: B256| record.plans.iter().find_map(|p| p.messages.iter().find(|m| m.hash == hash).map(|m| (p, m)));
    let mut first = true;
    for leg in failure.steps.iter().filter_map(|s| s.leg.as_ref()) {
        // A leg nobody planned (a committed message nobody waits for) is not judged.
        let Some((plan, message)) = planned(leg.message) else { continue };
        let was_first = std::mem::replace(&mut first, false);
        let Some(difference) = difference(leg, message) else { continue };
        let base = message.answers.first().map(|a| a.message.id);
        if was_first && base.is_some_and(|base| base != leg.next_id) {
            return Verdict::Unknown {
                reason: format!(
                    "the L1 bridge's nextMessageId was {} before the first leg, the plans expected {}",
                    leg.next_id,
                    base.unwrap_or_default()
                ),
            };
        }
        return culprit(plan, message, difference);
    }
    Verdict::NotTheLegs { reason: failure.reason.clone() }
}

/// The first of `closed` whose legs, as they ran ahead of the open bundle on L1 block `l1_block` (`runs`,
/// by the hash of each proposal's last block), no longer do what its plans say: its id, and what its legs
/// did as its pre-flight failure would show it. Proposals after it are not judged (its roll-back takes them
/// too).
pub fn first_doomed(closed: &[ProposalRecord], runs: &[InFlightRun], l1_block: u64) -> Option<(u64, PreflightFailure)> {
    runs.iter().find_map(|run| {
        let record = closed.iter().find(|r| r.last_block_hash() == Some(run.last_block_hash))?;
        let mut failure = PreflightFailure {
            l1_block,
            // The user ops run first: a failing one is the step that reverts the bundle.
            step: run.steps.iter().position(|s| !s.succeeded && s.leg.is_none()).map(|i| i as u64),
            reason: String::new(),
            missing_signal: None,
            anchor_unavailable: false,
            steps: run.steps.clone(),
        };
        let why = match judge(record, &failure) {
            Verdict::NotTheLegs { .. } => return None,
            Verdict::UserOp { id, reason } if reason.is_empty() => format!("user op {id} fails"),
            Verdict::Culprit { tx, reason, .. } => format!("the leg of {tx}: {reason}"),
            Verdict::UserOp { id, reason } => format!("user op {id}: {reason}"),
            Verdict::Unknown { reason } => reason,
        };
        // The first planned answer no leg sends: the signal the proposal's own pre-flight would miss.
        let sent: Vec<B256> =
            run.steps.iter().filter_map(|s| s.leg.as_ref()).flat_map(|l| l.sent.iter().map(|m| m.hash)).collect();
        failure.missing_signal = record
            .plans
            .iter()
            .flat_map(|p| p.messages.iter().flat_map(|m| m.answers.iter()))
            .find(|a| !sent.contains(&a.hash))
            .map(|a| a.slot);
        failure.reason = format!("its legs no longer give the planned answers: {why}");
        Some((record.id, failure))
    })
}

fn culprit(plan: &Plan, message: &PlannedMessage, reason: String) -> Verdict {
    Verdict::Culprit { tx: plan.tx_hash, sender: plan.sender, target: message.message.to, reason }
}

/// How `leg` differs from what `planned` says, if it does.
fn difference(leg: &LegTrace, planned: &PlannedMessage) -> Option<String> {
    let l2 = planned.message.srcChainId;
    let answers: Vec<B256> = leg.sent.iter().filter(|s| s.message.destChainId == l2).map(|s| s.hash).collect();
    let expected: Vec<B256> = planned.answers.iter().map(|a| a.hash).collect();
    match &leg.result {
        LegResult::Done if answers == expected => None,
        LegResult::Done => Some(format!(
            "its L1 call answered {} message(s) other than planned ({} planned)",
            answers.len(),
            expected.len()
        )),
        LegResult::Retriable(reason) => Some(format!("its L1 call failed: {reason}")),
        LegResult::Reverted(reason) => Some(format!("its L1 call reverted the bundle: {reason}")),
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;
    use surge_l1::{SentMessage, StepTrace};
    use surge_primitives::{Checkpoint, Message};
    use surge_sync::Answer;

    use super::*;

    const L1: u64 = 1;
    const L2: u64 = 2;

    /// A planned message `n` to L1 contract `n`, answered by L1 message `answer_id`.
    fn planned(n: u8, answer_id: Option<u64>) -> PlannedMessage {
        let message = Message { srcChainId: L2, destChainId: L1, to: Address::repeat_byte(n), ..Default::default() };
        let answers = answer_id
            .map(|id| {
                let m = Message { id, srcChainId: L1, destChainId: L2, ..Default::default() };
                Answer { hash: m.hash(), slot: B256::repeat_byte(n), message: m }
            })
            .into_iter()
            .collect();
        PlannedMessage { hash: message.hash(), message, answers, l1_gas: 0, min_fee: 0 }
    }

    fn plan(tx: u8, messages: Vec<PlannedMessage>) -> Plan {
        let tx_hash = B256::repeat_byte(tx);
        Plan { tx_hash, sender: Address::repeat_byte(tx), nonce: 0, l1_block: (0, B256::ZERO), messages }
    }

    /// The leg of `m` as L1 ran it: `next_id` before it, `result`, and answers with ids from `next_id`.
    fn leg(m: &PlannedMessage, next_id: u64, result: LegResult, answers: usize) -> StepTrace {
        let sent = (0..answers as u64)
            .map(|i| {
                let message = Message { id: next_id + i, srcChainId: L1, destChainId: L2, ..Default::default() };
                SentMessage { hash: message.hash(), slot: B256::ZERO, message }
            })
            .collect();
        let leg = LegTrace { message: m.hash, next_id, result, sent };
        StepTrace { target: Address::ZERO, succeeded: true, leg: Some(leg) }
    }

    fn propose_step() -> StepTrace {
        StepTrace { target: Address::ZERO, succeeded: true, leg: None }
    }

    fn failure(steps: Vec<StepTrace>) -> PreflightFailure {
        let reason = "RequiredSignalNotSent".to_string();
        PreflightFailure { l1_block: 1, step: None, reason, missing_signal: None, anchor_unavailable: false, steps }
    }

    #[test]
    fn the_first_leg_that_differs_from_its_plan_is_the_culprit_not_the_owner_of_the_missing_slot() {
        let (a1, a2, b) = (planned(0xa1, Some(10)), planned(0xa2, Some(11)), planned(0xb, Some(12)));
        let mut record = ProposalRecord::open(1, Checkpoint::default(), 0);
        record.plans = vec![plan(0xa, vec![a1.clone(), a2.clone()]), plan(0xb, vec![b.clone()])];
        let judged = |steps| judge(&record, &failure(steps));
        let done = LegResult::Done;

        // All as planned: the failure is not the legs'.
        let as_planned = vec![propose_step(), leg(&a1, 10, done.clone(), 1), leg(&a2, 11, done.clone(), 1)];
        let steps = [as_planned.clone(), vec![leg(&b, 12, done.clone(), 1)]].concat();
        assert!(matches!(judged(steps), Verdict::NotTheLegs { .. }));

        // a2's callback sends an extra message: b's answer (id 12) moves to 13 and b's slot goes missing,
        // but a2 is the culprit.
        let steps = vec![
            propose_step(),
            leg(&a1, 10, done.clone(), 1),
            leg(&a2, 11, done.clone(), 2),
            leg(&b, 13, done.clone(), 1),
        ];
        let Verdict::Culprit { tx, sender, target, reason } = judged(steps) else { panic!("a culprit") };
        assert_eq!((tx, sender, target), (B256::repeat_byte(0xa), Address::repeat_byte(0xa), a2.message.to));
        assert!(reason.contains("2 message(s) other than planned (1 planned)"), "{reason}");

        // b's callback fails on L1.
        let failing = LegResult::Retriable("failing for now".into());
        let steps = [as_planned.clone(), vec![leg(&b, 12, failing, 0)]].concat();
        let Verdict::Culprit { tx, reason, .. } = judged(steps) else { panic!("a culprit") };
        assert_eq!(tx, B256::repeat_byte(0xb));
        assert!(reason.contains("failing for now"), "{reason}");

        // An L1 message went ahead of the bundle: every id is one further, nobody's fault.
        let steps = vec![propose_step(), leg(&a1, 11, done.clone(), 1), leg(&a2, 12, done.clone(), 1)];
        let Verdict::Unknown { reason } = judged(steps) else { panic!("unknown") };
        assert!(reason.contains("was 11 before the first leg, the plans expected 10"), "{reason}");

        // The proposal step failed: no leg ran.
        assert!(matches!(judged(vec![]), Verdict::NotTheLegs { .. }));
    }
}
