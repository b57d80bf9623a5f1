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

use crate::{ledger::Ledger, next::NextBlocks, published::PublishedPlans};

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

/// The node's L2 key for relay transactions: `processMessage(message, "")` on the L2 bridge for each
/// L1→L2 message of a user op, after the pool's transactions in the block that receives it.
#[derive(Clone)]
pub struct Relayer {
    /// The key.
    pub signer: alloy::signers::local::PrivateKeySigner,
    /// The L2 chain id.
    pub chain_id: u64,
    /// The L2 bridge.
    pub bridge: alloy_primitives::Address,
}

impl std::fmt::Debug for Relayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relayer").field("address", &self.signer.address()).finish_non_exhaustive()
    }
}

impl Relayer {
    /// The relay transaction of `message` at `nonce`, paying up to `max_fee` per gas and no tip.
    pub fn relay(
        &self,
        message: &surge_primitives::Message,
        nonce: u64,
        max_fee: u128,
    ) -> Result<Recovered<alloy::consensus::TxEnvelope>, String> {
        use alloy::{consensus::SignableTransaction, signers::SignerSync};
        let tx = alloy::consensus::TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit: crate::user_ops::relay_gas_limit(message),
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 0,
            to: alloy_primitives::TxKind::Call(self.bridge),
            value: alloy_primitives::U256::ZERO,
            access_list: Default::default(),
            input: crate::user_ops::relay_calldata(message),
        };
        let signature = self.signer.sign_hash_sync(&tx.signature_hash()).map_err(|e| e.to_string())?;
        let envelope = alloy::consensus::TxEnvelope::Eip1559(tx.into_signed(signature));
        Ok(Recovered::new_unchecked(envelope, self.signer.address()))
    }
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
    /// the block's items: each message's slot with its relay transaction (signed on `parent`'s state).
    fn user_ops(&self, number: u64, parent: &SealedHeader) -> (Vec<crate::user_ops::PlacedOp>, Vec<UserOp>) {
        let mut ops = vec![];
        let mut items = vec![];
        let mut nonce = None;
        let max_fee = self.plans.answer_base().map_or(0, |b| u128::from(b.pending.base_fee()) * 2);
        for op in self.plans.ops() {
            if !self.ledger.is_op_recorded(&op, number) || items.len() + op.messages.len() > self.max_slots {
                break;
            }
            for m in &op.messages {
                let relay_tx = match (&self.relayer, nonce) {
                    (Some(relayer), Some(n)) => relayer.relay(&m.message, n, max_fee).ok(),
                    (Some(relayer), None) => {
                        let state = self.chain.state_by_block_number(parent.header.number).ok();
                        let account = state.and_then(|s| s.basic_ref(relayer.signer.address()).ok().flatten());
                        let n = account.map_or(0, |a| a.nonce);
                        nonce = Some(n);
                        relayer.relay(&m.message, n, max_fee).ok()
                    }
                    (None, _) => None,
                };
                if relay_tx.is_some() {
                    nonce = nonce.map(|n| n + 1);
                }
                items.push(UserOp { slot: m.slot, relay_tx });
            }
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
        let (plans, deferred, planned_for) = self.plans.plans_and_deferred();
        // Plans made for another block (the watcher has not taken in the parent yet, or this one was fixed
        // again) wait for the next block.
        let fresh = next.is_some() && planned_for == next;
        let (offered, mut held) = self.offered(number, (plans, deferred), fresh);
        let (ops, op_items) = if fresh { self.user_ops(number, parent) } else { Default::default() };
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
                if staged.sync_txs.is_empty() {
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
        self.relayer.as_ref().map(|r| r.signer.address())
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
