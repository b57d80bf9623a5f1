//! [`BlockPlanner`]: the planner behind the builder's [`BlockInputs`] seam. Each block is staged with the
//! open proposal's anchor; a block that opens a proposal also gets the watcher's plans, in plan order, as
//! long as their transactions are in the pool (one that is not stops the rest: none may go ahead of it).

use std::sync::Arc;

use alloy::consensus::transaction::Recovered;
use alloy_primitives::B256;
use surge_interfaces::{
    BlockInputs, CheckpointSource, CommittedBlock, InputsReport, SealedHeader, StagedInputs, TransactionPool,
    pool::without_sidecar,
};
use surge_l1::HeadWatch;
use surge_primitives::Checkpoint;
use surge_sync::NoPlan;

use crate::{
    ledger::{Ledger, Offered},
    watcher::PlannerHandle,
};

/// The planner as block production sees it.
#[derive(Debug)]
pub struct BlockPlanner<Pool> {
    pool: Pool,
    plans: Arc<PlannerHandle>,
    ledger: Arc<Ledger>,
    heads: HeadWatch,
}

impl<Pool: TransactionPool> BlockPlanner<Pool> {
    /// Stages the plans `plans` publishes (their transactions from `pool`) into the proposals of `ledger`,
    /// choosing anchors among the L1 heads of `heads`.
    pub fn new(pool: Pool, plans: Arc<PlannerHandle>, ledger: Arc<Ledger>, heads: HeadWatch) -> Self {
        Self { pool, plans, ledger, heads }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }
}

/// Block production's checkpoint source: the open proposal's anchor (the staged inputs carry the same),
/// never the live L1 head.
impl<Pool: TransactionPool> CheckpointSource for BlockPlanner<Pool> {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        let l1 = self.heads.0.borrow().latest;
        self.ledger.current_anchor(l1).ok_or_else(|| "no L1 head to anchor to yet".into())
    }
}

impl<Pool: TransactionPool> BlockInputs for BlockPlanner<Pool> {
    fn stage(&self, number: u64) -> StagedInputs {
        let (plans, deferred, planned_for) = self.plans.plans_and_deferred();
        let mut offered = vec![];
        let mut held = deferred;
        let mut plans = plans.into_iter();
        for plan in plans.by_ref() {
            match self.pool.get(&plan.tx_hash) {
                Some(tx) => {
                    offered.push(Offered { tx: Recovered::new_unchecked(without_sidecar(&tx.tx), tx.sender), plan })
                }
                None => break,
            }
        }
        held.extend(plans.map(|p| p.tx_hash));
        let l1 = self.heads.0.borrow().latest;
        self.ledger.stage(number, l1, offered, held, planned_for.as_ref())
    }

    fn commit(&self, block: &SealedHeader, report: &InputsReport) {
        self.ledger.commit(block, report);
        self.ledger.forget_unless(|tx| self.pool.get(tx).is_some());
    }

    fn reverted(&self, blocks: &[CommittedBlock]) -> Vec<B256> {
        self.ledger.reverted(blocks);
        vec![]
    }

    /// The watcher's reason, when it is final: a plan can never come.
    fn refusal(&self, tx: &B256) -> Option<String> {
        self.plans.no_plan_reason(tx).filter(NoPlan::is_final).map(|reason| reason.to_string())
    }
}
