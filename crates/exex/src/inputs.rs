//! [`PlannedInputs`]: the watcher's plans as the builder reads them ([`BlockInputs`]). What the child of a
//! parent carries is decided from the parent alone — the open proposal it would join (the ledger's, read
//! forward through the blocks the ledger has not accounted for yet), the block fixed for it, and the
//! plans made for that block. Nothing is written and nothing waits for the ledger; the ledger reaches the
//! same decision from the committed block.

use std::sync::Arc;

use alloy::consensus::transaction::Recovered;
use alloy_primitives::B256;
use revm::DatabaseRef;
use surge_interfaces::{
    BlockInputs, BlockReader, CheckpointSource, OutboundDependency, ReturnSlot, SealedHeader, StagedInputs, SyncTx,
    TransactionPool, UserOp, pool::without_sidecar,
};
use surge_l1::HeadWatch;
use surge_primitives::Checkpoint;
use surge_sync::{NoPlan, Plan};
use tracing::warn;

use crate::{ledger::Ledger, next::NextBlocks, published::PublishedPlans, user_ops::Relayer};

/// The watcher's plans as block production reads them.
#[derive(Debug)]
pub struct PlannedInputs<Pool, Chain> {
    pool: Pool,
    chain: Chain,
    plans: Arc<PublishedPlans>,
    ledger: Arc<Ledger>,
    next: Arc<NextBlocks>,
    heads: HeadWatch,
    /// Signal slots one anchor carries at most (the builder's limit).
    max_slots: usize,
    /// The node's L2 key for the relay transactions of user ops' messages.
    relayer: Option<Relayer>,
}

impl<Pool: TransactionPool, Chain: BlockReader> PlannedInputs<Pool, Chain> {
    /// Offers the plans `plans` publishes (their transactions from `pool`) to the blocks of `chain`, in the
    /// proposals of `ledger`, anchored as `next` chooses among the L1 heads of `heads`, with at most
    /// `max_slots` signal slots per anchor.
    pub fn new(
        pool: Pool,
        chain: Chain,
        plans: Arc<PublishedPlans>,
        ledger: Arc<Ledger>,
        next: Arc<NextBlocks>,
        heads: HeadWatch,
        max_slots: usize,
    ) -> Self {
        Self { pool, chain, plans, ledger, next, heads, max_slots, relayer: None }
    }

    /// Relays user ops' messages with `relayer`'s key.
    pub fn with_relayer(mut self, relayer: Relayer) -> Self {
        self.relayer = Some(relayer);
        self
    }

    /// The user ops recorded for block `number`, in order, while each fits the anchor's `max_slots`, as
    /// the block's items: each message's slot with its relay transaction, signed at the relayer's nonce on
    /// `parent`'s state. Without a way to sign its relays an op waits (its slots would go in unrelayed).
    fn user_ops(
        &self,
        number: u64,
        parent: &SealedHeader,
        placed: Vec<crate::user_ops::PlacedOp>,
    ) -> (Vec<crate::user_ops::PlacedOp>, Vec<UserOp>) {
        let (mut ops, mut items) = (vec![], vec![]);
        let mut nonce = None;
        if placed.iter().any(|op| !op.messages.is_empty())
            && let Some(relayer) = &self.relayer
        {
            let state = self.chain.state_by_block_number(parent.header.number);
            nonce = state.ok().and_then(|s| s.basic_ref(relayer.address()).ok()).map(|a| a.map_or(0, |a| a.nonce));
        }
        let max_fee = self.plans.answer_base().map_or(0, |b| u128::from(b.pending.base_fee()) * 2);
        for op in placed {
            if !self.ledger.is_op_recorded(&op, number) || items.len() + op.messages.len() > self.max_slots {
                break;
            }
            let relays: Option<Vec<UserOp>> = op
                .messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let relay = self.relayer.as_ref()?.relay(&m.message, nonce? + i as u64, max_fee).ok()?;
                    Some(UserOp { slot: m.slot, relay_tx: Some(relay) })
                })
                .collect();
            let Some(relays) = relays else {
                warn!(op = op.id, "block inputs: the relayer cannot sign the op's relays; it waits");
                break;
            };
            nonce = nonce.map(|n| n + relays.len() as u64);
            items.extend(relays);
            ops.push(op);
        }
        (ops, items)
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The published plans that may go into block `number`, in order, with their transactions: made for
    /// it, recorded, not voided, their transactions in the pool. The first that is not stops the rest
    /// (none may go ahead of it); every other planned transaction is held out of the pool's part.
    fn offered(
        &self,
        number: u64,
        (plans, mut held): (Vec<Plan>, Vec<B256>),
        fresh: bool,
    ) -> (Vec<(Plan, Recovered<alloy::consensus::TxEnvelope>)>, Vec<B256>) {
        let mut offered = vec![];
        let mut plans = plans.into_iter();
        if fresh {
            for plan in plans.by_ref() {
                let tx = self.pool.get(&plan.tx_hash);
                let Some(tx) = tx.filter(|_| !self.plans.is_voided(&plan.tx_hash)) else {
                    held.push(plan.tx_hash);
                    break;
                };
                if !self.ledger.is_recorded(&plan, number) {
                    held.push(plan.tx_hash);
                    break;
                }
                offered.push((plan, Recovered::new_unchecked(without_sidecar(&tx.tx), tx.sender)));
            }
        }
        held.extend(plans.map(|p| p.tx_hash));
        (offered, held)
    }
}

/// Block production's checkpoint source: the open proposal's anchor (the staged inputs carry the same),
/// never the live L1 head.
impl<Pool: TransactionPool, Chain: BlockReader> CheckpointSource for PlannedInputs<Pool, Chain> {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        self.next.see(self.heads.0.borrow().latest);
        let open = self.ledger.open_proposal().map(|p| p.anchor);
        open.or_else(|| self.next.anchor()).ok_or_else(|| "no L1 head to anchor to yet".into())
    }
}

impl<Pool: TransactionPool, Chain: BlockReader> BlockInputs for PlannedInputs<Pool, Chain> {
    fn stage(&self, parent: &SealedHeader, timestamp: u64) -> StagedInputs {
        let number = parent.header.number + 1;
        self.next.see(self.heads.0.borrow().latest);
        let next = self.next.next_for(number);
        let (plans, deferred, planned_for, placed) = self.plans.published();
        // Plans made for another block (the watcher has not taken in the parent yet, or this one was fixed
        // again) wait for the next block.
        let fresh = next.is_some() && planned_for == next;
        let published_ops = placed.len();
        let (ops, op_items) = if fresh { self.user_ops(number, parent, placed) } else { Default::default() };
        // The plans were simulated after every published op: without all of them they wait.
        let fresh = fresh && ops.len() == published_ops;
        let (offered, mut held) = self.offered(number, (plans, deferred), fresh);
        let timestamp =
            next.as_ref().map(|n| n.timestamp).filter(|t| *t > parent.header.timestamp).unwrap_or(timestamp);
        let open = self.ledger.open_at(parent, &self.chain);
        let rules = self.ledger.rules();
        let joins = offered.is_empty()
            && ops.is_empty()
            && open.as_ref().is_some_and(|p| p.expired(&rules, timestamp, self.next.latest_l1()).is_none());
        let checkpoint = match open {
            Some(p) if joins => Some(p.anchor),
            _ => next.as_ref().and_then(|n| n.checkpoint.clone()).or_else(|| self.next.anchor()),
        };
        let mut staged = StagedInputs { checkpoint, timestamp: next.map(|n| n.timestamp), ..Default::default() };
        let mut slots = op_items.len();
        staged.user_ops = op_items;
        let mut offered = offered.into_iter();
        for (plan, tx) in offered.by_ref() {
            let n = plan.slots().count();
            if slots + n > self.max_slots {
                held.push(plan.tx_hash);
                if staged.sync_txs.is_empty() && n > self.max_slots {
                    // It could never go in: void it, or it would hold up every later plan forever.
                    let why = format!("its {n} answers need more slots than an anchor carries ({})", self.max_slots);
                    warn!(tx = %plan.tx_hash, "block inputs: {why}");
                    self.plans.void(plan.tx_hash, why);
                }
                break;
            }
            slots += n;
            staged.return_slots.extend(return_slots(&plan));
            let messages = plan.messages.iter().map(|m| m.message.clone()).collect();
            staged.sync_txs.push(SyncTx { tx, messages });
        }
        held.extend(offered.map(|(plan, _)| plan.tx_hash));
        staged.held = held;
        staged
    }

    /// The watcher's reason, when it is final: a plan can never come. While the L1 is away none comes
    /// either: a transaction waiting for one leaves with that reason rather than wait in vain.
    fn refusal(&self, tx: &B256) -> Option<String> {
        let away = |reason: &NoPlan| matches!(reason, NoPlan::L1Unavailable(_)) && self.plans.l1_down().is_some();
        self.plans
            .no_plan_reason(tx)
            .filter(|reason| reason.is_final() || away(reason))
            .map(|reason| reason.to_string())
    }

    fn plan_failed(&self, tx: &B256, reason: &str) {
        self.plans.void(*tx, reason.to_string());
    }

    fn relayer(&self) -> Option<alloy_primitives::Address> {
        self.relayer.as_ref().map(Relayer::address)
    }
}

/// A plan's return slots, in order, each with the message it answers.
fn return_slots(plan: &Plan) -> Vec<ReturnSlot> {
    plan.messages
        .iter()
        .flat_map(|m| {
            m.answers.iter().map(|a| ReturnSlot {
                slot: a.slot,
                depends_on: OutboundDependency { tx_hash: plan.tx_hash, message: m.message.clone() },
            })
        })
        .collect()
}
