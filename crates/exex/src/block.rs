//! Reading a committed L2 block the way the ledger accounts for it: its anchor's L1 checkpoint and signal
//! slots, its size, and the planned transactions that went in with their plans. The block is the truth:
//! the ledger, its restart reconciliation and the builder's look at the open proposal all read blocks
//! through [`read_block`] alone.

use alloy::{
    consensus::{Transaction, TxEnvelope},
    eips::Encodable2718,
};
use alloy_primitives::B256;
use alloy_sol_types::SolCall;
use surge_interfaces::SealedHeader;
use surge_primitives::{Checkpoint, bindings::anchor::Anchor};
use surge_sync::Plan;

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
}

impl BlockFacts {
    /// Its number.
    pub fn number(&self) -> u64 {
        self.header.header.number
    }

    /// Whether it carries anything its proposal must start with (slots, or plans with L1 calls).
    pub fn carries(&self) -> bool {
        !self.slots.is_empty() || !self.planned.is_empty()
    }
}

/// Reads block `header` with transactions `txs`. `plan_of(tx, number)` gives the plans recorded for
/// transaction `tx` made for block `number` (each with its key); a transaction went in with one when
/// every slot of that plan is in the anchor.
pub fn read_block<'a, I>(
    header: &SealedHeader,
    txs: &[TxEnvelope],
    plan_of: impl Fn(&B256, u64) -> I,
) -> Result<BlockFacts, String>
where
    I: IntoIterator<Item = (B256, &'a Plan)>,
{
    let number = header.header.number;
    let call = txs
        .first()
        .and_then(|a| Anchor::anchorV4WithSignalSlotsCall::abi_decode(a.input()).ok())
        .ok_or_else(|| format!("block {number} does not open with an anchor"))?;
    let mined: Vec<B256> = txs.iter().map(|t| *t.tx_hash()).collect();
    let planned = mined
        .iter()
        .skip(1)
        .filter_map(|tx| {
            plan_of(tx, number)
                .into_iter()
                .find(|(_, plan)| plan.slots().all(|s| call.signalSlots.contains(&s)))
                .map(|(key, plan)| (key, plan.clone()))
        })
        .collect();
    Ok(BlockFacts {
        header: header.clone(),
        mined,
        checkpoint: call.l1Checkpoint.into(),
        slots: call.signalSlots,
        tx_bytes: txs.iter().map(|t| t.encode_2718_len() as u64).sum(),
        planned,
    })
}
