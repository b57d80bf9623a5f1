//! Reading a committed L2 block the way the ledger accounts for it: its anchor's L1 checkpoint and signal
//! slots, its size, and the planned transactions that went in with their plans. The block is the truth:
//! the ledger, its restart reconciliation and the builder's look at the open proposal all read blocks
//! through [`read_block`] alone.

use alloy::{
    consensus::{ReceiptEnvelope, Transaction, TxEnvelope},
    eips::Encodable2718,
};
use alloy_primitives::B256;
use alloy_sol_types::SolEvent;
use surge_builder::read_anchor;
use surge_interfaces::SealedHeader;
use surge_primitives::{Checkpoint, L2Predeploys, bindings::bridge::Bridge};
use surge_sync::Plan;

use crate::user_ops::PlacedOp;

/// What a committed block carried, as the ledger needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFacts {
    /// The header and its hash.
    pub header: SealedHeader,
    /// Its transactions' hashes, in order (the anchor first).
    pub mined: Vec<B256>,
    /// The L1 checkpoint its anchor took.
    pub checkpoint: Checkpoint,
    /// The signal slots its anchor marked received, in order.
    pub slots: Vec<B256>,
    /// Its transactions' EIP-2718 bytes (what its proposal's blobs carry).
    pub tx_bytes: u64,
    /// The planned transactions that went in with their plans, in block order, each with the key its plan
    /// is recorded under.
    pub planned: Vec<(B256, Plan)>,
    /// The user ops it took, in order.
    pub user_ops: Vec<PlacedOp>,
}

impl BlockFacts {
    /// Its number.
    pub fn number(&self) -> u64 {
        self.header.header.number
    }

    /// Whether it carries anything its proposal must start with (slots, plans or user ops with L1 calls).
    pub fn carries(&self) -> bool {
        !self.slots.is_empty() || !self.planned.is_empty() || !self.user_ops.is_empty()
    }
}

/// Reads block `header` with transactions `txs` and, when known, their `receipts`. `plan_of(tx, number)`
/// gives the plans recorded for transaction `tx` made for block `number` (each with its key); a
/// transaction went in with one when every slot of that plan is in the anchor and, with receipts, the L2
/// bridge recorded exactly the plan's messages for it (two versions of a plan with no answers differ in
/// their messages alone). Of the user ops `placed` for it, in the order they were placed (the order they
/// run in), it took those up to the first whose slots its anchor lacks.
pub fn read_block<'a, I>(
    header: &SealedHeader,
    txs: &[TxEnvelope],
    receipts: Option<&[ReceiptEnvelope]>,
    plan_of: impl Fn(&B256, u64) -> I,
    placed: Vec<PlacedOp>,
) -> Result<BlockFacts, String>
where
    I: IntoIterator<Item = (B256, &'a Plan)>,
{
    let number = header.header.number;
    let call =
        txs.first().and_then(read_anchor).ok_or_else(|| format!("block {number} does not open with an anchor"))?;
    let mined: Vec<B256> = txs.iter().map(|t| *t.tx_hash()).collect();
    let bridge = txs.first().and_then(|a| a.chain_id()).map(|id| L2Predeploys::for_chain(id).bridge);
    // The hashes of the messages the L2 bridge recorded for transaction `i`.
    let sent = |i: usize| -> Option<Vec<B256>> {
        let receipt = receipts?.get(i)?;
        let logs = receipt.logs().iter().filter(|l| Some(l.address) == bridge);
        Some(
            logs.filter(|l| l.topics().first() == Some(&Bridge::MessageSent::SIGNATURE_HASH))
                .filter_map(|l| l.topics().get(1).copied())
                .collect(),
        )
    };
    let planned = mined
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(i, tx)| {
            let sent = sent(i);
            plan_of(tx, number)
                .into_iter()
                .filter(|(_, plan)| plan.slots().all(|s| call.signalSlots.contains(&s)))
                .find(|(_, plan)| {
                    sent.as_ref().is_none_or(|sent| plan.messages.iter().map(|m| m.hash).eq(sent.iter().copied()))
                })
                .map(|(key, plan)| (key, plan.clone()))
        })
        .collect();
    let user_ops = placed.into_iter().take_while(|op| op.slots().all(|s| call.signalSlots.contains(&s))).collect();
    Ok(BlockFacts {
        user_ops,
        header: header.clone(),
        mined,
        checkpoint: call.l1Checkpoint.into(),
        slots: call.signalSlots,
        tx_bytes: txs.iter().map(|t| t.encode_2718_len() as u64).sum(),
        planned,
    })
}
