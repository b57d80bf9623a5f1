//! The surge builder behind the node's [`PayloadBuilder`] seam: it fills L2 blocks from the pool, stages
//! the planner's slots and relay transactions, consumes them only once the block is committed, and hands
//! the planner back what an unwind removed.

use std::sync::{Arc, Mutex};

use alloy::consensus::Sealed;
use alloy_primitives::B256;
use surge_interfaces::{
    BlockInputs, BuiltBlock, CheckpointSource, CommittedBlock, ConfigureEvm, InputsReport, NextBlockAttributes,
    PayloadBuilder, PayloadBuilderError, SealedHeader, SlotProblem, StateProviderFactory, TransactionPool,
};
use tracing::info;

use crate::{BuildError, BuilderConfig, BuiltPayload, PoolTransactions, SurgePayloadBuilder};

/// Records what a built block did with its inputs into the node's metrics: how often blocks needed
/// rebuilding and how many slots went in or were turned away.
fn record(payload: &BuiltPayload) {
    let r = &payload.inputs;
    metrics::counter!("surge_builder_blocks_total").increment(1);
    if payload.stats.passes > 1 {
        metrics::counter!("surge_builder_rebuilt_blocks_total").increment(1);
    }
    metrics::counter!("surge_builder_injected_slots_total")
        .increment((r.user_op_slots.len() + r.return_slots.len()) as u64);
    metrics::counter!("surge_builder_rejected_return_slots_total").increment(r.rejected_return_slots.len() as u64);
    metrics::gauge!("surge_builder_consistency_seconds_total").increment(payload.stats.consistency.as_secs_f64());
}

/// Registers the builder's series, so they are served (at zero) before the first block.
pub fn describe_metrics() {
    for name in [
        "surge_builder_blocks_total",
        "surge_builder_rebuilt_blocks_total",
        "surge_builder_injected_slots_total",
        "surge_builder_rejected_return_slots_total",
        "surge_builder_anchor_fallbacks_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!("surge_builder_consistency_seconds_total").increment(0.0);
}

/// The surge builder wired to a node's pool and an L1 checkpoint source.
pub struct SurgeNodeBuilder<E, Pool> {
    builder: SurgePayloadBuilder<E, Arc<dyn BlockInputs>>,
    pool: Pool,
    checkpoints: Arc<dyn CheckpointSource>,
    /// The report of the last block built, until the node says it is committed.
    staged: Mutex<Option<(u64, B256, InputsReport)>>,
}

impl<E, Pool> std::fmt::Debug for SurgeNodeBuilder<E, Pool> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurgeNodeBuilder").finish_non_exhaustive()
    }
}

impl<E: ConfigureEvm, Pool: TransactionPool> SurgeNodeBuilder<E, Pool> {
    /// A builder for the L2 chain `config` describes.
    pub fn new(
        evm_config: E,
        config: BuilderConfig,
        pool: Pool,
        inputs: Arc<dyn BlockInputs>,
        checkpoints: Arc<dyn CheckpointSource>,
    ) -> Result<Self, BuildError> {
        let builder = SurgePayloadBuilder::new(evm_config, inputs, config)?;
        Ok(Self { builder, pool, checkpoints, staged: Mutex::new(None) })
    }

    /// Builds the child of `parent` without committing it (its inputs stay staged).
    pub fn build_payload<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &SealedHeader,
        attributes: &NextBlockAttributes,
    ) -> Result<BuiltPayload, PayloadBuilderError> {
        let mut attributes = attributes.clone();
        let mut unreadable = None;
        if attributes.l1_checkpoint.is_none() {
            // Without one (no L1 head yet, a source failing), the builder takes the open proposal's or the
            // last one an anchor took; only a chain that never had one cannot build.
            match self.checkpoints.checkpoint() {
                Ok(c) => attributes.l1_checkpoint = Some(c),
                Err(e) => {
                    tracing::warn!(number = parent.header.number + 1, "reading the L1 checkpoint: {e}");
                    unreadable = Some(e);
                }
            }
        }
        let parent = Sealed::new_unchecked(parent.header.clone(), parent.hash);
        let mut txs = PoolTransactions::new(self.pool.best_transactions());
        let mut payload = match self.builder.build(provider, &parent, &attributes, &mut txs) {
            Err(BuildError::NoCheckpoint { number }) if let Some(e) = unreadable => {
                return Err(format!("block {number}: reading the L1 checkpoint: {e}").into());
            }
            other => other?,
        };
        // A slot whose transaction left the pool unmined would wait (and cost a second pass) forever.
        for r in &mut payload.inputs.rejected_return_slots {
            if r.problem == SlotProblem::TxNotInBlock && self.pool.get(&r.tx_hash).is_none() {
                r.problem = SlotProblem::TxGone;
            }
        }
        record(&payload);
        Ok(payload)
    }
}

impl<P, E, Pool> PayloadBuilder<P> for SurgeNodeBuilder<E, Pool>
where
    P: StateProviderFactory,
    E: ConfigureEvm,
    Pool: TransactionPool,
{
    fn build(
        &self,
        provider: &P,
        parent: &SealedHeader,
        attributes: &NextBlockAttributes,
    ) -> Result<BuiltBlock, PayloadBuilderError> {
        let payload = self.build_payload(provider, parent, attributes)?;
        let staged = (payload.header.number, payload.header.parent_hash, payload.inputs.clone());
        *self.staged.lock().unwrap_or_else(|p| p.into_inner()) = Some(staged);
        Ok(payload.into())
    }

    fn committed(&self, block: &SealedHeader) {
        let staged = self.staged.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Only the block this builder made consumes its inputs (same number and parent; the hash differs
        // because the state root was zero when staged).
        if let Some((number, parent_hash, report)) = staged
            && number == block.header.number
            && parent_hash == block.header.parent_hash
        {
            let any = !(report.user_op_slots.is_empty()
                && report.return_slots.is_empty()
                && report.rejected_return_slots.is_empty());
            if any {
                info!(
                    number,
                    user_op_slots = report.user_op_slots.len(),
                    return_slots = report.return_slots.len(),
                    rejected = report.rejected_return_slots.len(),
                    "consumed the block's inputs"
                );
            }
            self.builder.inputs().commit(block, &report);
        }
    }

    fn reverted(&self, blocks: &[CommittedBlock]) -> Vec<B256> {
        self.builder.inputs().reverted(blocks)
    }
}
