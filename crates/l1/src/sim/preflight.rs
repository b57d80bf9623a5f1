//! The pre-flight of a proposer transaction: the exact transaction (calldata, blob hashes, gas limit and fee
//! caps) executed on the L1 view of the head before it is sent, and its replay on the state it reverted on
//! once included. A transaction that would revert is not sent; the failure names the Multicall step, the
//! return signal `finalizePropose` found missing, and what every step did.

use std::sync::Arc;

use alloy::consensus::Header;
use alloy_primitives::{Address, B256, TxKind};
use alloy_sol_types::{SolCall, SolError};
use revm::context::{BlockEnv, TxEnv, result::ExecutionResult};
use surge_primitives::bindings::{inbox::RealTimeInbox, multicall::Multicall};

use super::{
    SimConfig, SimDb, SimError, describe_revert, execute_env, on_view,
    replay::{StepTrace, block_env, next_message_id, read_steps, state_before},
};
use crate::{
    submit::{Fees, L1Transaction},
    view::L1View,
};

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
    /// What each Multicall step did in this execution (empty when it did not go through the Multicall).
    pub steps: Vec<StepTrace>,
}

/// Where a proposal transaction's steps are read: the L1 chain, its bridge and the proposer Multicall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleLayout {
    /// The L1 chain id.
    pub l1_chain_id: u64,
    /// The L1 bridge.
    pub bridge: Address,
    /// The proposer Multicall.
    pub multicall: Address,
}

/// The exact transaction to run: its sender, body, gas limit and fee caps (as it is or will be signed).
#[derive(Debug, Clone)]
pub struct ExactTx {
    /// The sender.
    pub from: Address,
    /// What it calls, with its calldata and blobs.
    pub tx: L1Transaction,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its fee caps.
    pub fees: Fees,
}

impl ExactTx {
    fn env(&self, chain_id: u64) -> TxEnv {
        TxEnv {
            tx_type: if self.tx.sidecar.is_some() { 3 } else { 2 },
            caller: self.from,
            gas_limit: self.gas_limit,
            gas_price: self.fees.max_fee_per_gas,
            gas_priority_fee: Some(self.fees.max_priority_fee_per_gas),
            kind: TxKind::Call(self.tx.to),
            data: self.tx.input.clone(),
            chain_id: Some(chain_id),
            blob_hashes: self.tx.blob_hashes(),
            max_fee_per_blob_gas: self.fees.max_fee_per_blob_gas,
            ..Default::default()
        }
    }
}

/// Runs `tx` on `view` as the next block would. The nonce is not checked (the proposer's nonce on the view
/// is behind its unconfirmed transactions); its fee caps and the sender's balance are:
/// [`SimError::ProposerBalanceLow`] when it cannot pay.
pub fn preflight(
    view: &Arc<L1View>,
    config: &SimConfig,
    layout: &BundleLayout,
    tx: &ExactTx,
) -> Result<Result<Preflight, PreflightFailure>, SimError> {
    let (mut db, block) = on_view(view, config);
    run_exact(&mut db, config, layout, &block, tx.env(layout.l1_chain_id), view.number())
}

/// Replays transaction `ours` of L1 block `header` on the state it ran on: `parent` (the view of the block
/// before) with the transactions `ahead` of it in its block applied first.
pub fn replay_included(
    parent: &Arc<L1View>,
    config: &SimConfig,
    layout: &BundleLayout,
    header: &Header,
    ahead: Vec<TxEnv>,
    ours: TxEnv,
) -> Result<Result<Preflight, PreflightFailure>, SimError> {
    let block = block_env(header, config.spec);
    let mut db = state_before(parent, config, layout.l1_chain_id, &block, ahead)?;
    run_exact(&mut db, config, layout, &block, ours, header.number)
}

/// Runs `env` on `db` in `block` and reads its steps; `l1_block` names the state in reports.
fn run_exact(
    db: &mut SimDb,
    config: &SimConfig,
    layout: &BundleLayout,
    block: &BlockEnv,
    env: TxEnv,
    l1_block: u64,
) -> Result<Result<Preflight, PreflightFailure>, SimError> {
    let next_id = next_message_id(db, layout.bridge)?;
    // Planning gave each step its own budget; the whole transaction gets theirs together.
    let steps = match env.kind {
        TxKind::Call(to) if to == layout.multicall => {
            Multicall::multicallCall::abi_decode(&env.data).map_or(1, |c| c.calls.len() as u64)
        }
        _ => 1,
    };
    db.db.widen(steps);
    let executed = execute_env(db, config.spec, layout.l1_chain_id, block, env, true)?;
    let gas = executed.result.gas();
    let (gas_used, gas_needed) = (gas.tx_gas_used(), gas.total_gas_spent().max(gas.floor_gas()));
    let steps = || read_steps(&executed.trace, layout, next_id);
    Ok(match &executed.result {
        ExecutionResult::Success { .. } => Ok(Preflight { gas_used, gas_needed, l1_block }),
        ExecutionResult::Revert { output, .. } => Err(failure(l1_block, output, steps())),
        ExecutionResult::Halt { reason, .. } => Err(PreflightFailure {
            l1_block,
            step: None,
            reason: format!("halted: {reason:?}"),
            missing_signal: None,
            anchor_unavailable: false,
            steps: steps(),
        }),
    })
}

fn failure(l1_block: u64, output: &[u8], steps: Vec<StepTrace>) -> PreflightFailure {
    let reason = describe_revert(output);
    let (step, inner) = match Multicall::MC_CALL_FAILED::abi_decode(output) {
        Ok(f) => (Some(f.index.saturating_to::<u64>()), f.data.to_vec()),
        Err(_) => (None, output.to_vec()),
    };
    let missing_signal = RealTimeInbox::RequiredSignalNotSent::abi_decode(&inner).ok().map(|e| e.slot);
    let anchor_unavailable = RealTimeInbox::InvalidMaxAnchorBlock::abi_decode(&inner).is_ok();
    PreflightFailure { l1_block, step, reason, missing_signal, anchor_unavailable, steps }
}
