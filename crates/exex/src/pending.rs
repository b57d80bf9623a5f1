//! The pending L2 state a block's plans are made on: the parent's state in the block's environment, after
//! its anchor, as the block will run it.

use std::time::SystemTime;

use alloy_evm::FromRecoveredTx;
use revm::context::TxEnv;
use surge_builder::{AnchorInput, build_anchor};
use surge_interfaces::{ConfigureEvm, NextBlockAttributes, StateProviderFactory};
use surge_primitives::GOLDEN_TOUCH_ADDRESS;

use crate::{
    NextBlock,
    presim::{L2Protocol, PendingL2},
};

/// The pending L2 state on `provider`'s head, in the environment of its child at the clock's time, without
/// an anchor (a quick look; the watcher plans on [`pending_for`]).
pub fn pending_state<P: StateProviderFactory, C: ConfigureEvm>(
    provider: &P,
    evm: &C,
    l2: L2Protocol,
) -> Result<PendingL2<P::State>, String> {
    let (head, _) = provider.latest_header().map_err(|e| e.to_string())?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let next = NextBlock {
        number: head.number + 1,
        parent_timestamp: head.timestamp,
        timestamp: now.max(head.timestamp + 1),
        checkpoint: None,
    };
    pending_for(provider, evm, l2, &next)
}

/// The pending L2 state for block `next`, the child of canonical block `next.number - 1` of `provider`:
/// the parent's state in `next`'s environment (its timestamp, the parent's coinbase), after `next`'s
/// anchor (when it has a checkpoint), as the block will run it.
pub fn pending_for<P: StateProviderFactory, C: ConfigureEvm>(
    provider: &P,
    evm: &C,
    l2: L2Protocol,
    next: &NextBlock,
) -> Result<PendingL2<P::State>, String> {
    let number = next.number.saturating_sub(1);
    let (head, _) =
        provider.header_by_number(number).map_err(|e| e.to_string())?.ok_or(format!("no block {number}"))?;
    let attributes = NextBlockAttributes { fee_recipient: head.beneficiary, ..NextBlockAttributes::at(next.timestamp) };
    let env = evm.next_evm_env(provider, &head, &attributes).map_err(|e| e.to_string())?;
    let base_fee = env.block_env.basefee;
    let mut pending = PendingL2::new(provider.state_by_block_number(number).map_err(|e| e.to_string())?, env, l2);
    if let Some(checkpoint) = &next.checkpoint {
        let nonce = pending.nonce(GOLDEN_TOUCH_ADDRESS)?;
        let anchor = build_anchor(&AnchorInput {
            chain_id: l2.l2_chain_id,
            nonce,
            base_fee,
            l1_checkpoint: checkpoint.clone(),
            signal_slots: vec![],
        })
        .map_err(|e| format!("the anchor of block {}: {e}", next.number))?;
        let anchor = TxEnv::from_recovered_tx(anchor.inner(), anchor.signer());
        pending
            .open_block(&evm.block_factory(Some(nonce)), &anchor)
            .map_err(|e| format!("block {}: {e}", next.number))?;
    }
    Ok(pending)
}
