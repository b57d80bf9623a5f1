//! The pre-flight of a proposer transaction: the exact transaction (calldata and blob hashes) executed on
//! the L1 view of the head before it is sent. A transaction that would revert is not sent; the failure
//! names the Multicall step and, when `finalizePropose` finds a return signal missing, the slot.

use std::sync::Arc;

use alloy_primitives::{Address, B256, TxKind};
use alloy_sol_types::SolError;
use revm::context::{TxEnv, result::ExecutionResult};
use surge_primitives::bindings::{inbox::RealTimeInbox, multicall::Multicall};

use super::{SimConfig, SimError, describe_revert, execute_env, on_view};
use crate::{submit::L1Transaction, view::L1View};

/// The gas a transaction used in its pre-flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preflight {
    /// Gas used (what its receipt will say, refunds taken off).
    pub gas_used: u64,
    /// Gas it needs to run: spent before refunds (or the calldata floor), the base of its gas limit.
    pub gas_needed: u64,
    /// The L1 block whose state it ran on.
    pub l1_block: u64,
}

/// Why a transaction would revert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pre-flight on L1 block {l1_block}: {reason}")]
pub struct PreflightFailure {
    /// The L1 block whose state it ran on.
    pub l1_block: u64,
    /// The Multicall step that failed (0-based), when it went through the Multicall.
    pub step: Option<u64>,
    /// The revert in words.
    pub reason: String,
    /// The return signal `finalizePropose` found missing, if that was the failure.
    pub missing_signal: Option<B256>,
    /// The inbox found no hash for the proposal's anchor block (too old, or not on this L1).
    pub anchor_unavailable: bool,
}

/// Runs `tx` (its calldata and blob hashes) from `from` on `view` as the next block would, with at most
/// `gas_limit` gas; nonce, balance and fee caps are not checked (they are the sender's business).
pub fn preflight(
    view: &Arc<L1View>,
    config: &SimConfig,
    chain_id: u64,
    from: Address,
    tx: &L1Transaction,
    gas_limit: u64,
) -> Result<Result<Preflight, PreflightFailure>, SimError> {
    let (mut db, block) = on_view(view, config);
    let blob_price = block.blob_excess_gas_and_price.map_or(1, |b| b.blob_gasprice).max(1);
    let env = TxEnv {
        tx_type: if tx.sidecar.is_some() { 3 } else { 2 },
        caller: from,
        gas_limit,
        gas_price: 0,
        gas_priority_fee: Some(0),
        kind: TxKind::Call(tx.to),
        data: tx.input.clone(),
        chain_id: Some(chain_id),
        blob_hashes: tx.blob_hashes(),
        max_fee_per_blob_gas: blob_price,
        ..Default::default()
    };
    let l1_block = view.number();
    let executed = execute_env(&mut db, config.spec, chain_id, &block, env)?;
    let gas = executed.result.gas();
    let (gas_used, gas_needed) = (gas.tx_gas_used(), gas.total_gas_spent().max(gas.floor_gas()));
    Ok(match executed.result {
        ExecutionResult::Success { .. } => Ok(Preflight { gas_used, gas_needed, l1_block }),
        ExecutionResult::Revert { output, .. } => Err(failure(l1_block, &output)),
        ExecutionResult::Halt { reason, .. } => {
            let reason = format!("halted: {reason:?}");
            Err(PreflightFailure { l1_block, step: None, reason, missing_signal: None, anchor_unavailable: false })
        }
    })
}

fn failure(l1_block: u64, output: &[u8]) -> PreflightFailure {
    let reason = describe_revert(output);
    let (step, inner) = match Multicall::MC_CALL_FAILED::abi_decode(output) {
        Ok(f) => (Some(f.index.saturating_to::<u64>()), f.data.to_vec()),
        Err(_) => (None, output.to_vec()),
    };
    let missing_signal = RealTimeInbox::RequiredSignalNotSent::abi_decode(&inner).ok().map(|e| e.slot);
    let anchor_unavailable = RealTimeInbox::InvalidMaxAnchorBlock::abi_decode(&inner).is_ok();
    PreflightFailure { l1_block, step, reason, missing_signal, anchor_unavailable }
}
