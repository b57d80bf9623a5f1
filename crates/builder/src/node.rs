//! The surge builder behind the node's [`PayloadBuilder`] seam: it fills L2 blocks from the pool with the
//! planner's slots and relay transactions. It keeps nothing about the blocks it built: the planner reads
//! what went in from the committed block.

use std::sync::Arc;

use alloy::consensus::Sealed;
use surge_interfaces::{
    BlockInputs, BuiltBlock, CheckpointSource, ConfigureEvm, NextBlockAttributes, PayloadBuilder, PayloadBuilderError,
    SealedHeader, SlotProblem, StateProviderFactory, TransactionPool,
};

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
    /// The planner (its relayer's transactions are the builder's own).
    inputs: Arc<dyn BlockInputs>,
    pool: Pool,
    checkpoints: Arc<dyn CheckpointSource>,
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
        let builder = SurgePayloadBuilder::new(evm_config, inputs.clone(), config)?;
        Ok(Self { builder, inputs, pool, checkpoints })
    }

    /// Builds the child of `parent` without committing it.
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
        Ok(self.build_payload(provider, parent, attributes)?.into())
    }

    /// The relay transactions: those the planner's relayer signed (rebuilt with their user ops).
    fn own_transactions(&self, blocks: &[surge_interfaces::CommittedBlock]) -> Vec<alloy_primitives::B256> {
        let Some(relayer) = self.inputs.relayer() else { return vec![] };
        blocks
            .iter()
            .flat_map(|b| b.body.transactions.iter().zip(&b.senders))
            .filter(|(_, sender)| **sender == relayer)
            .map(|(tx, _)| *tx.tx_hash())
            .collect()
    }
}
