//! The surge builder behind the node's [`PayloadBuilder`] seam: it fills L2 blocks from the pool, stages
//! the planner's slots and relay transactions, consumes them only once the block is committed, and hands
//! the planner back what an unwind removed.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use alloy::consensus::Sealed;
use alloy_primitives::B256;
use surge_interfaces::{
    BlockInputs, BuiltBlock, CheckpointSource, CommittedBlock, ConfigureEvm, InputsReport, NextBlockAttributes,
    PayloadBuilder, PayloadBuilderError, SealedHeader, StateProviderFactory, TransactionPool,
};
use tracing::info;

use crate::{BuildError, BuilderConfig, BuiltPayload, PoolTransactions, SurgePayloadBuilder};

/// Counters of the surge builder an operator graphs: how often blocks needed rebuilding and how many
/// slots went in or were turned away.
#[derive(Debug, Default)]
pub struct BuilderMetrics {
    /// Blocks built.
    pub blocks: AtomicU64,
    /// Blocks that needed more than one execution pass.
    pub rebuilt_blocks: AtomicU64,
    /// Signal slots injected (user ops and return slots).
    pub injected_slots: AtomicU64,
    /// Return slots turned away (inconsistent, deferred or unsettled).
    pub rejected_return_slots: AtomicU64,
    /// Microseconds spent in consistency checks.
    pub consistency_micros: AtomicU64,
}

impl BuilderMetrics {
    fn record(&self, payload: &BuiltPayload) {
        let r = &payload.inputs;
        self.blocks.fetch_add(1, Ordering::Relaxed);
        if payload.stats.passes > 1 {
            self.rebuilt_blocks.fetch_add(1, Ordering::Relaxed);
        }
        self.injected_slots.fetch_add((r.user_op_slots.len() + r.return_slots.len()) as u64, Ordering::Relaxed);
        self.rejected_return_slots.fetch_add(r.rejected_return_slots.len() as u64, Ordering::Relaxed);
        let micros = u64::try_from(payload.stats.consistency.as_micros()).unwrap_or(u64::MAX);
        self.consistency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let series = [
            ("surge_builder_blocks_total", "counter", self.blocks.load(Ordering::Relaxed)),
            ("surge_builder_rebuilt_blocks_total", "counter", self.rebuilt_blocks.load(Ordering::Relaxed)),
            ("surge_builder_injected_slots_total", "counter", self.injected_slots.load(Ordering::Relaxed)),
            (
                "surge_builder_rejected_return_slots_total",
                "counter",
                self.rejected_return_slots.load(Ordering::Relaxed),
            ),
        ];
        let mut out = String::new();
        for (name, kind, value) in series {
            out += &format!("# TYPE {name} {kind}\n{name} {value}\n");
        }
        let seconds = self.consistency_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out += &format!(
            "# TYPE surge_builder_consistency_seconds_total counter\nsurge_builder_consistency_seconds_total {seconds}\n"
        );
        out
    }
}

/// The surge builder wired to a node's pool and an L1 checkpoint source.
pub struct SurgeNodeBuilder<E, Pool> {
    builder: SurgePayloadBuilder<E, Arc<dyn BlockInputs>>,
    pool: Pool,
    checkpoints: Arc<dyn CheckpointSource>,
    /// The report of the last block built, until the node says it is committed.
    staged: Mutex<Option<(u64, B256, InputsReport)>>,
    metrics: Arc<BuilderMetrics>,
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
        Ok(Self { builder, pool, checkpoints, staged: Mutex::new(None), metrics: Arc::default() })
    }

    /// The builder's counters.
    pub fn metrics(&self) -> Arc<BuilderMetrics> {
        self.metrics.clone()
    }

    /// Builds the child of `parent` without committing it (its inputs stay staged).
    pub fn build_payload<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &SealedHeader,
        attributes: &NextBlockAttributes,
    ) -> Result<BuiltPayload, PayloadBuilderError> {
        let mut attributes = attributes.clone();
        if attributes.l1_checkpoint.is_none() {
            attributes.l1_checkpoint =
                Some(self.checkpoints.checkpoint().map_err(|e| format!("reading the L1 checkpoint: {e}"))?);
        }
        let parent = Sealed::new_unchecked(parent.header.clone(), parent.hash);
        let mut txs = PoolTransactions::new(self.pool.best_transactions());
        let payload = self.builder.build(provider, &parent, &attributes, &mut txs)?;
        self.metrics.record(&payload);
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
            self.builder.inputs().commit(number, &report);
        }
    }

    fn reverted(&self, blocks: &[CommittedBlock]) -> Vec<B256> {
        self.builder.inputs().reverted(blocks)
    }
}
