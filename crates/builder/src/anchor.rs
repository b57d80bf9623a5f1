//! The anchor transaction that opens every L2 block.

use alloy::consensus::{Signed, TxEip1559, TxEnvelope, transaction::Recovered};
use alloy_primitives::{B256, TxKind, U256};
use alloy_sol_types::SolCall;
use surge_l2_rules::ANCHOR_GAS_LIMIT;
use surge_primitives::{
    Checkpoint, GOLDEN_TOUCH_ADDRESS, L2Predeploys,
    bindings::anchor::Anchor,
    golden_touch::{GoldenTouchError, sign_anchor},
};

/// What an anchor transaction carries (`anchorV4WithSignalSlots`: checkpoint and signal slots); `None`
/// when `tx` is no anchor call.
pub fn read_anchor(tx: &TxEnvelope) -> Option<Anchor::anchorV4WithSignalSlotsCall> {
    use alloy::consensus::Transaction;
    Anchor::anchorV4WithSignalSlotsCall::abi_decode(tx.input()).ok()
}

/// Everything an anchor depends on; the same input always gives the same bytes (fixed-k signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorInput {
    /// The L2 chain id.
    pub chain_id: u64,
    /// The golden touch's nonce at the parent (the anchor's nonce).
    pub nonce: u64,
    /// The block's base fee (the anchor's `maxFeePerGas`; its tip is 0).
    pub base_fee: u64,
    /// The L1 block the proposal anchors to.
    pub l1_checkpoint: Checkpoint,
    /// Signal slots to mark received, in anchor order: user-op slots, then return slots.
    pub signal_slots: Vec<B256>,
}

/// Builds and signs the anchor: `anchorV4WithSignalSlots(checkpoint, slots)` to the Anchor predeploy, type
/// 2, gas exactly 1,000,000, `maxFeePerGas` = base fee, tip 0, value 0, from the golden touch.
pub fn build_anchor(input: &AnchorInput) -> Result<Recovered<TxEnvelope>, GoldenTouchError> {
    let call = Anchor::anchorV4WithSignalSlotsCall {
        l1Checkpoint: input.l1_checkpoint.clone().into(),
        signalSlots: input.signal_slots.clone(),
    };
    let tx = TxEip1559 {
        chain_id: input.chain_id,
        nonce: input.nonce,
        gas_limit: ANCHOR_GAS_LIMIT,
        max_fee_per_gas: u128::from(input.base_fee),
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(L2Predeploys::for_chain(input.chain_id).anchor),
        value: U256::ZERO,
        access_list: Default::default(),
        input: call.abi_encode().into(),
    };
    let signed: Signed<TxEip1559> = sign_anchor(tx)?;
    Ok(Recovered::new_unchecked(TxEnvelope::Eip1559(signed), GOLDEN_TOUCH_ADDRESS))
}
