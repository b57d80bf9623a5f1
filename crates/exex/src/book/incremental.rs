//! Replays that run only what a move changed: an L1 head runs the plans' legs again and keeps the pending
//! L2 state when every answer is the same; an L2 block that took none of the plans runs each transaction
//! once on the new state and keeps the legs. Anything else falls back to replaying every plan.

use alloy_evm::EvmFactory;
use alloy_primitives::B256;
use revm::{
    DatabaseRef,
    context::{BlockEnv, TxEnv},
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
};
use surge_l1::BundleSimulator;
use surge_sync::{NoPlan, Plan};

use super::{Moved, PlanBook};
use crate::presim::PendingL2;

/// The bundles and plans after every plan's legs ran again on a new L1 base, all answering as before.
struct LegsAgain {
    bundle: BundleSimulator,
    next: BundleSimulator,
    /// The planned then the deferred, with their new gas, fees and L1 block.
    plans: Vec<Plan>,
}

impl<S> PlanBook<S>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    /// The L1 head moved (the L2 head did not: `pending` is the same block's pending state). Only the legs
    /// run again, on the new `base`: when every plan's legs still give the answers it holds, fit where they
    /// were and are paid for, the plans stand and nothing runs again on L2 (their gas and fees are updated).
    /// Otherwise every plan is replayed ([`Self::rebase`]). Returns what was dropped.
    pub fn on_l1_move<F>(&mut self, factory: &F, base: BundleSimulator, pending: PendingL2<S>) -> Vec<(B256, NoPlan)>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let same_block = self.pending.same_block(&pending);
        let (base, ops_moved) = self.place_ops_on(base);
        match self.legs_again(&base).filter(|_| same_block && !ops_moved) {
            Some(again) => {
                for ((plan, _), fresh) in self.entries.iter_mut().chain(self.deferred.iter_mut()).zip(again.plans) {
                    *plan = fresh;
                }
                (self.base, self.bundle, self.next) = (base, again.bundle, again.next);
                self.revision += 1;
                vec![]
            }
            None => {
                let all = self.take_all();
                self.replay(factory, base, pending, all, Moved::L1, false)
            }
        }
    }

    /// The L2 head moved and none of the planned or deferred transactions went into the block, and the open
    /// bundle's base stays: each plan runs once on the new `pending` state (from `pending`) with its answers
    /// in place — or not at all, when everything its last run read is the same and the block's fees are:
    /// what that run left is committed again. When every one still succeeds sending exactly its planned
    /// messages, the plans stand as they are — their legs, which would run on the same L1 state with the
    /// same messages, are not run again — and this returns true. Otherwise the caller replays every plan.
    pub fn on_l2_move<F>(&mut self, factory: &F, pending: impl FnOnce() -> Option<PendingL2<S>>) -> bool
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let now = crate::ledger::now();
        let Some(mut pending) = pending() else { return false };
        let mut before = std::mem::take(&mut self.runs);
        let mut reused = 0;
        for (plan, candidate) in self.entries.iter().chain(&self.deferred) {
            let targets = plan.messages.iter().map(|m| m.message.to);
            if self.cooldowns.refusal(plan.sender, targets, now).is_some() {
                return false;
            }
            if plan.messages.is_empty() {
                // Carried ahead of its sender's plan: it only has to run.
                if pending.carry(factory, &candidate.tx).is_err() {
                    return false;
                }
                continue;
            }
            let slots: Vec<B256> = plan.slots().collect();
            // What it read is all the same: what it left is committed again, without running it.
            if let Some(run) = before.remove(&plan.tx_hash)
                && pending.reapply(&run, &slots).unwrap_or(false)
            {
                reused += 1;
                self.runs.insert(plan.tx_hash, run);
                continue;
            }
            let expected: Vec<B256> = plan.messages.iter().map(|m| m.hash).collect();
            match pending.apply_as_planned(factory, &candidate.tx, &slots, &expected) {
                Ok((true, run)) => {
                    if let Some(run) = run {
                        self.runs.insert(plan.tx_hash, run);
                    }
                }
                _ => return false,
            }
        }
        self.pending = pending;
        self.version += 1;
        self.reused += reused;
        true
    }

    /// Every plan's legs again on `base`, in order (the deferred ones on the next proposal's bundle), or
    /// `None` as soon as one answers otherwise, no longer fits, pays too little or is cooled down.
    fn legs_again(&self, base: &BundleSimulator) -> Option<LegsAgain> {
        let now = crate::ledger::now();
        let again = |bundle: &mut BundleSimulator, plan: &Plan| -> Option<Plan> {
            let targets = plan.messages.iter().map(|m| m.message.to);
            if self.cooldowns.refusal(plan.sender, targets, now).is_some() {
                return None;
            }
            let mut plan = plan.clone();
            for m in &mut plan.messages {
                let leg = bundle.message(&m.message).ok()?;
                let l2 = m.message.srcChainId;
                let answers = leg.sent.iter().filter(|s| s.message.destChainId == l2).map(|s| s.hash);
                if leg.result != surge_l1::LegResult::Done || !answers.eq(m.answers.iter().map(|a| a.hash)) {
                    return None;
                }
                m.l1_gas = leg.gas_used;
                m.min_fee = bundle.min_fee(leg.gas_used);
                if m.message.fee < m.min_fee {
                    return None;
                }
            }
            plan.l1_block = bundle.l1_block();
            Some(plan)
        };
        let mut bundle = base.clone();
        let mut plans = Vec::with_capacity(self.entries.len() + self.deferred.len());
        for (plan, _) in &self.entries {
            plans.push(again(&mut bundle, plan)?);
        }
        // As a replay leaves it: the next proposal's bundle follows the open one once a plan waits for it.
        let mut next = if self.deferred.is_empty() { base.next_bundle() } else { bundle.next_bundle() };
        for (plan, _) in &self.deferred {
            plans.push(again(&mut next, plan)?);
        }
        Some(LegsAgain { bundle, next, plans })
    }
}
