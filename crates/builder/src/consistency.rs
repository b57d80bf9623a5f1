//! The consistency invariant checked before sealing: every injected return slot belongs to an outbound
//! message that its transaction really sent in this block, with exactly the planned fields.

use std::collections::HashMap;

use alloy_primitives::B256;
use surge_interfaces::{InconsistentSlot, ReturnSlot, SlotProblem, SyncTx};
use surge_sync::OutboundMessage;

/// The messages each traced transaction of the block sent, by transaction hash.
pub type SentMessages = HashMap<B256, Vec<OutboundMessage>>;

/// The slots of `return_slots` that no transaction of the block backs. `sent` holds every transaction of
/// the block that a return slot depends on (absent = not in the block).
pub fn check(return_slots: &[ReturnSlot], sent: &SentMessages) -> Vec<InconsistentSlot> {
    return_slots
        .iter()
        .filter_map(|r| {
            let dep = &r.depends_on;
            let problem = match sent.get(&dep.tx_hash) {
                None => SlotProblem::TxNotInBlock,
                Some(found) => {
                    let delivered: Vec<&OutboundMessage> = found.iter().filter(|m| !m.reverted).collect();
                    if delivered.iter().any(|m| m.message == dep.message) {
                        return None;
                    }
                    if delivered.is_empty() {
                        SlotProblem::NothingSent { attempted: !found.is_empty() }
                    } else {
                        SlotProblem::FieldsDiffer {
                            expected: Box::new(dep.message.clone()),
                            sent: delivered.iter().map(|m| m.message.clone()).collect(),
                        }
                    }
                }
            };
            Some(InconsistentSlot { slot: r.slot, tx_hash: dep.tx_hash, problem })
        })
        .collect()
}

/// Slots set aside for a later block whose transaction went into this one anyway can never be injected:
/// their problem becomes [`SlotProblem::MinedWithoutSlot`].
pub(crate) fn settle_deferred(rejected: &mut [InconsistentSlot], in_block: &std::collections::HashSet<B256>) {
    for r in rejected.iter_mut() {
        if matches!(r.problem, SlotProblem::NoRoom | SlotProblem::Unsettled) && in_block.contains(&r.tx_hash) {
            r.problem = SlotProblem::MinedWithoutSlot;
        }
    }
}

/// The first planned transaction that did not go in as planned — it did not execute, reverted, or did not
/// send exactly its planned messages in order — with the reason, and whether it may go into a later
/// block as planned (it only found no room in this one). `results` holds those that executed.
pub(crate) fn first_failed_sync(
    sync_txs: &[SyncTx],
    results: &HashMap<B256, bool>,
    later: &std::collections::HashSet<B256>,
    unanswered: &std::collections::HashSet<B256>,
    sent: &SentMessages,
) -> Option<(usize, String, bool)> {
    sync_txs.iter().enumerate().find_map(|(i, s)| {
        let hash = s.tx.tx_hash();
        let (why, retry) = match results.get(hash) {
            None if later.contains(hash) => ("no room left in the block".to_string(), true),
            None if unanswered.contains(hash) => ("it consumes an answer the block did not receive".to_string(), false),
            // Carried ahead of its sender's planned transaction: its outcome was the plan's too.
            Some(false) if s.messages.is_empty() => return None,
            None => ("it could not execute in the block".to_string(), false),
            Some(false) => ("it reverted".to_string(), false),
            Some(true) => {
                let delivered: Vec<&surge_primitives::Message> =
                    sent.get(hash).into_iter().flatten().filter(|m| !m.reverted).map(|m| &m.message).collect();
                if delivered.iter().copied().eq(s.messages.iter()) {
                    return None;
                }
                let ids: Vec<u64> = delivered.iter().map(|m| m.id).collect();
                let planned: Vec<u64> = s.messages.iter().map(|m| m.id).collect();
                (format!("it sent other messages than planned (ids {ids:?}, planned {planned:?})"), false)
            }
        };
        Some((i, why, retry))
    })
}
