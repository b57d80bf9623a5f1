//! [`BlockPlanner`]: the planner behind the builder's [`BlockInputs`] seam. Each block is staged with the
//! open proposal's anchor; a block that opens a proposal also gets the watcher's plans, in plan order, as
//! long as their transactions are in the pool (one that is not stops the rest: none may go ahead of it).

use std::{sync::Arc, time::Duration};

use alloy::consensus::transaction::Recovered;
use alloy_primitives::B256;
use surge_interfaces::{
    BlockInputs, CheckpointSource, CommittedBlock, InputsReport, SealedHeader, StagedInputs, TransactionPool,
    pool::without_sidecar,
};
use surge_l1::HeadWatch;
use surge_primitives::Checkpoint;

use crate::{
    ledger::{Ledger, Offered},
    watcher::PlannerHandle,
};

/// How long a block leaves out a transaction the watcher has not decided on (normally milliseconds).
const UNDECIDED_HOLD: Duration = Duration::from_secs(2);

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
        let (plans, deferred, planned_on) = self.plans.plans_and_deferred();
        let mut offered = vec![];
        let mut held = deferred;
        // Plans made on another head than the parent are stale (the watcher has not taken in the last
        // block yet): they wait for the next block.
        let plans = if planned_on == number.checked_sub(1) {
            plans
        } else {
            held.extend(plans.iter().map(|p| p.tx_hash));
            vec![]
        };
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
        // Not decided on yet: it may need its answer's slot, which only a later block can carry.
        held.extend(self.plans.undecided(UNDECIDED_HOLD));
        let l1 = self.heads.0.borrow().latest;
        self.ledger.stage(number, l1, offered, held)
    }

    fn commit(&self, block: &SealedHeader, report: &InputsReport) {
        self.ledger.commit(block, report);
        self.ledger.forget_unless(|tx| self.pool.get(tx).is_some());
    }

    fn reverted(&self, blocks: &[CommittedBlock]) -> Vec<B256> {
        self.ledger.reverted(blocks);
        vec![]
    }
}
