//! What each step of a proposal transaction did in one execution of it: the Multicall's calls in order,
//! and for each `processMessage` the bridge's `nextMessageId` before it, how its callback ended and the
//! messages it sent. Read from the call trace of the exact transaction — its pre-flight, or its replay on
//! the L1 state it reverted on — so a failure can be laid at the door of the first leg that did not do
//! what its plan says.

use std::sync::Arc;

use alloy::consensus::{Header, TxEnvelope};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256};
use alloy_sol_types::SolCall;
use revm::{DatabaseCommit, DatabaseRef, context::BlockEnv, context::TxEnv, primitives::hardfork::SpecId};
use revm_inspectors::tracing::CallTraceArena;
use surge_primitives::{
    bindings::bridge::Bridge,
    slots::bridge::{NEXT_MESSAGE_ID_SLOT, decode_next_message_id},
};
use surge_sync::find_outbound_messages_within;

use super::{
    Budget, BundleLayout, LegResult, SentMessage, SimConfig, SimDb, SimError, blob_params, bundle::leg_result,
    describe_revert, execute_env, kept_sends,
};
use crate::view::L1View;

/// One Multicall step of a proposal transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTrace {
    /// The contract it called.
    pub target: Address,
    /// Whether the call itself succeeded (a failed step reverts the whole transaction).
    pub succeeded: bool,
    /// The leg, when the step was a `processMessage` on the L1 bridge.
    pub leg: Option<LegTrace>,
}

/// What one `processMessage` step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegTrace {
    /// The hash of the message it processed.
    pub message: B256,
    /// The L1 bridge's `nextMessageId` before it ran.
    pub next_id: u64,
    /// How it ended.
    pub result: LegResult,
    /// The messages it sent (ids as the bridge assigned them), in order.
    pub sent: Vec<SentMessage>,
}

/// The steps of the Multicall call at the root of `trace` (none when the transaction did not go through
/// the Multicall of `protocol`), with the bridge's `nextMessageId` at `next_id` before the transaction.
pub fn read_steps(trace: &CallTraceArena, protocol: &BundleLayout, next_id: u64) -> Vec<StepTrace> {
    let nodes = trace.nodes();
    let Some(root) = nodes.first().filter(|n| n.trace.address == protocol.multicall) else { return vec![] };
    let mut next_id = next_id;
    root.children
        .iter()
        .map(|&step| {
            let node = &nodes[step].trace;
            let before = next_id;
            let found = find_outbound_messages_within(trace, step, protocol.bridge, protocol.l1_chain_id, next_id);
            let sent = kept_sends(found, protocol.l1_chain_id, protocol.bridge);
            next_id = sent.last().map_or(next_id, |s| s.message.id + 1);
            let leg = (node.address == protocol.bridge)
                .then(|| Bridge::processMessageCall::abi_decode(&node.data).ok())
                .flatten()
                .map(|call| LegTrace {
                    message: call.message.hash(),
                    next_id: before,
                    result: if node.success {
                        leg_result(nodes, step, &call.message)
                    } else {
                        LegResult::Reverted(describe_revert(&node.output))
                    },
                    sent: sent.clone(),
                });
            StepTrace { target: node.address, succeeded: node.success, leg }
        })
        .collect()
}

/// The L1 bridge's `nextMessageId` on `db`.
pub(crate) fn next_message_id(db: &SimDb, bridge: Address) -> Result<u64, SimError> {
    Ok(decode_next_message_id(db.storage_ref(bridge, NEXT_MESSAGE_ID_SLOT)?))
}

/// The environment of `header`'s block itself (a replay of one of its transactions).
pub fn block_env(header: &Header, spec: SpecId) -> BlockEnv {
    let fraction = blob_params(spec).update_fraction as u64;
    BlockEnv {
        number: alloy_primitives::U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: alloy_primitives::U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        difficulty: alloy_primitives::U256::ZERO,
        prevrandao: Some(header.mix_hash),
        blob_excess_gas_and_price: header
            .excess_blob_gas
            .map(|excess| revm::context_interface::block::BlobExcessGasAndPrice::new(excess, fraction)),
        ..Default::default()
    }
}

/// A transaction of an L1 block, as the replay runs it.
pub fn replay_env(tx: &TxEnvelope, from: Address) -> TxEnv {
    TxEnv::from_recovered_tx(tx, from)
}

/// The state a transaction of block `block` ran on: `parent` (the view of the block before it) with the
/// transactions `ahead` of it in its block applied; a transaction that would not run is skipped.
pub(crate) fn state_before(
    parent: &Arc<L1View>,
    config: &SimConfig,
    chain_id: u64,
    block: &BlockEnv,
    ahead: Vec<TxEnv>,
) -> Result<SimDb, SimError> {
    // Each transaction ahead reads within a call's budget, as ours does; their traces are nobody's concern.
    let budget = Budget::new(parent.clone(), config.max_state_reads, config.call_timeout).unbounded_traces();
    let mut db = SimDb::new(budget);
    for tx in ahead {
        match execute_env(&mut db, config.spec, chain_id, block, tx, false) {
            Ok(executed) => db.commit(executed.state),
            Err(SimError::View(e)) => return Err(SimError::View(e)),
            Err(_) => {}
        }
    }
    Ok(db)
}
