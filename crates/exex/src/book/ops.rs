//! User ops in the plan book: they run first in the open bundle, so they join it only while no plan is
//! there (a plan's answers were simulated after everything before it: an op going ahead would shift their
//! ids). An op that joined is part of the bundle's base: placed again, first, on every new base, and it
//! leaves when its block takes it. One that no longer runs where it is placed is dropped with the reason.

use revm::{DatabaseRef, database_interface::DBErrorMarker};
use surge_l1::BundleSimulator;

use super::PlanBook;
use crate::user_ops::{OpDropped, OpRules, PlacedOp, UserOpRecord, UserOpRefusal, check};

impl<S> PlanBook<S>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    /// Takes user ops in, placed by `rules`.
    pub fn with_user_ops(mut self, rules: OpRules) -> Self {
        self.op_rules = Some(rules);
        self
    }

    /// The user ops in the open bundle, in order.
    pub fn ops(&self) -> impl Iterator<Item = &PlacedOp> {
        self.ops.iter().map(|(_, op)| op)
    }

    /// The user ops that left the book since the last call.
    pub fn take_dropped_ops(&mut self) -> Vec<OpDropped> {
        std::mem::take(&mut self.dropped_ops)
    }

    /// The L2 base fee relays are paid at: the pending block's.
    fn relay_base_fee(&self) -> u64 {
        self.pending.snapshot().base_fee()
    }

    /// Places the book's ops on `base` (a fresh start of the open bundle), first, in order: `base` with
    /// them. Those that no longer run there leave (see [`Self::take_dropped_ops`]), and so do the later
    /// ops of their wallets (their nonces follow); whether any op's messages differ from before.
    pub(super) fn place_ops_on(&mut self, mut base: BundleSimulator) -> (BundleSimulator, bool) {
        let Some(rules) = self.op_rules else { return (base, false) };
        let fee = self.relay_base_fee();
        let mut changed = false;
        let mut kept = Vec::with_capacity(self.ops.len());
        let mut slots = 0;
        let mut stopped: Vec<(alloy_primitives::Address, u64)> = vec![];
        for (record, before) in std::mem::take(&mut self.ops) {
            let placed = match stopped.iter().find(|(wallet, _)| *wallet == record.submitter) {
                Some((_, earlier)) => Err(after(*earlier)),
                None => check::place(&mut base, &record, &rules.terms, fee, rules.max_slots.saturating_sub(slots)),
            };
            match placed {
                Ok(op) => {
                    changed |= op.messages != before.messages;
                    slots += op.messages.len();
                    kept.push((record, op));
                }
                Err(why) => {
                    changed = true;
                    tracing::info!(id = record.id, %why, "txpool watcher: user op dropped from the bundle");
                    stopped.push((record.submitter, record.id));
                    self.dropped_ops.push(OpDropped { id: record.id, why });
                }
            }
        }
        self.ops = kept;
        (base, changed)
    }

    /// Places the `waiting` ops (in id order) that the book does not hold yet at the end of the open
    /// bundle's ops, if no plan is in the book: the bundle and the answer base move on. Ops the book holds
    /// that no longer wait (a proposal took them) leave it; a waiting op past its deadline is refused even
    /// while plans keep ops out. Returns whether the book's ops changed.
    pub fn place_waiting(&mut self, waiting: &[UserOpRecord]) -> bool {
        let Some(rules) = self.op_rules else { return false };
        let held = self.ops.len();
        self.ops.retain(|(r, _)| waiting.iter().any(|w| w.id == r.id));
        let left = self.ops.len() != held;
        let now = self.base.block().timestamp.saturating_to::<u64>();
        let unheld = |r: &&UserOpRecord| !self.ops.iter().any(|(held, _)| held.id == r.id);
        let expired: Vec<OpDropped> = waiting
            .iter()
            .filter(unheld)
            .filter_map(|r| {
                let deadline = surge_primitives::user_op::UserOpBatch::decode(&r.calldata).ok()?.deadline;
                (deadline < alloy_primitives::U256::from(now))
                    .then_some(OpDropped { id: r.id, why: UserOpRefusal::Expired { deadline, now, margin: 0 } })
            })
            .collect();
        self.dropped_ops.extend(expired);
        if !self.entries.is_empty() || !self.deferred.is_empty() {
            return left;
        }
        let fee = self.relay_base_fee();
        let mut slots: usize = self.ops().map(|op| op.messages.len()).sum();
        let mut joined = 0;
        // A wallet whose op cannot go in now: its later ops wait behind it.
        let mut stopped: Vec<(alloy_primitives::Address, u64)> = vec![];
        for record in waiting {
            if self.ops.iter().any(|(r, _)| r.id == record.id) || self.dropped_ops.iter().any(|d| d.id == record.id) {
                continue;
            }
            if stopped.iter().any(|(wallet, _)| *wallet == record.submitter) {
                continue;
            }
            let room = rules.max_slots.saturating_sub(slots);
            match check::place(&mut self.base, record, &rules.terms, fee, room) {
                Ok(op) => {
                    slots += op.messages.len();
                    self.ops.push((record.clone(), op));
                    joined += 1;
                }
                // No room left in this bundle or anchor after the ops in it: this one and every later one wait
                // for the next (refused only when an empty bundle cannot take it).
                Err(UserOpRefusal::Bundle(_) | UserOpRefusal::TooManyMessages { .. }) if !self.ops.is_empty() => {
                    break;
                }
                Err(why) => {
                    tracing::info!(id = record.id, %why, "txpool watcher: user op not placed");
                    stopped.push((record.submitter, record.id));
                    self.dropped_ops.push(OpDropped { id: record.id, why });
                }
            }
        }
        if joined > 0 {
            self.bundle = self.base.clone();
            self.next = self.base.next_bundle();
            self.revision += 1;
        }
        left || joined > 0
    }

    /// The ops `ids` went into a block (or the ledger dropped them): they leave the book. The caller
    /// replays the book on the new base.
    pub fn remove_ops(&mut self, ids: &[u64]) -> bool {
        let before = self.ops.len();
        self.ops.retain(|(r, _)| !ids.contains(&r.id));
        self.ops.len() != before
    }
}

/// Why an op waits: an earlier op of its wallet, `earlier`, cannot go in now.
fn after(earlier: u64) -> UserOpRefusal {
    UserOpRefusal::Bundle(format!("it waits for its wallet's earlier user op {earlier}"))
}
