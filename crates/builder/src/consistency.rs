//! The consistency invariant checked before sealing: every injected return slot belongs to an outbound
//! message that its transaction really sent in this block, with exactly the planned fields.

use std::{collections::HashMap, fmt};

use alloy_primitives::B256;
use surge_primitives::Message;
use surge_sync::OutboundMessage;

use crate::inputs::ReturnSlot;

/// Why a return slot cannot stay in the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotProblem {
    /// Its transaction is not in the block (out of gas or time, or not in the pool).
    TxNotInBlock,
    /// The transaction ran but sent no message: it reverted, or the `sendMessage` call (or a frame
    /// around it) did.
    NothingSent {
        /// Whether a `sendMessage` call was made and reverted.
        attempted: bool,
    },
    /// The anchor had no room left for it (too many slots for one block); it is offered again.
    NoRoom,
    /// Its transaction went into the block without it (the slot had no room, or the passes ran out, and
    /// the transaction did not need it to succeed): the message was sent in this block, so the slot can
    /// never be injected later.
    MinedWithoutSlot,
    /// The builder ran out of passes before the block settled with this slot; it is offered again.
    Unsettled,
    /// The transaction sent messages, none with the planned fields.
    FieldsDiffer {
        /// The planned message.
        expected: Box<Message>,
        /// What it sent instead.
        sent: Vec<Message>,
    },
}

impl SlotProblem {
    /// Whether the slot may still be good in a later block (its transaction has not run yet).
    pub fn retry_later(&self) -> bool {
        matches!(self, Self::TxNotInBlock | Self::NoRoom | Self::Unsettled)
    }
}

/// A return slot that failed the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InconsistentSlot {
    /// The slot.
    pub slot: B256,
    /// The transaction that should have sent its message.
    pub tx_hash: B256,
    /// What went wrong.
    pub problem: SlotProblem,
}

impl fmt::Display for InconsistentSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "return slot {} of transaction {}: ", self.slot, self.tx_hash)?;
        match &self.problem {
            SlotProblem::TxNotInBlock => write!(f, "the transaction is not in the block"),
            SlotProblem::MinedWithoutSlot => write!(f, "the transaction went into the block without it"),
            SlotProblem::NoRoom => write!(f, "no room left in the anchor, deferred to a later block"),
            SlotProblem::Unsettled => write!(f, "the block did not settle with it in the passes allowed"),
            SlotProblem::NothingSent { attempted: true } => write!(f, "its sendMessage call reverted"),
            SlotProblem::NothingSent { attempted: false } => write!(f, "it sent no message"),
            SlotProblem::FieldsDiffer { expected, sent } => {
                let ids: Vec<u64> = sent.iter().map(|m| m.id).collect();
                write!(
                    f,
                    "it sent {} message(s) (ids {ids:?}), none with the planned fields (planned id {}, hash {})",
                    sent.len(),
                    expected.id,
                    expected.hash()
                )
            }
        }
    }
}

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
