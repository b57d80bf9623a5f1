//! L2 block production: the surge payload builder behind the host's [`PayloadBuilder`] seam. It fills
//! blocks from the pool, stages the planner's slots and relay transactions, and consumes them only once
//! the producer has committed the block.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use alloy::consensus::Sealed;
use surge_builder::{
    BlockInputs, BuilderConfig, BuiltPayload, CheckpointSource, InputsReport, PoolTransactions, SurgeAttributes,
    SurgePayloadBuilder,
};
use surge_interfaces::TransactionPool;
use tracing::info;

use crate::{
    ChainSpec, ExecutedBlock, SealedHeader, StateDiff, Store,
    producer::{PayloadAttributes, PayloadBuilder, ProduceError},
    seams::{HostEvmConfig, PoolHandle},
};

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

/// The surge builder wired to the host's store, pool and an L1 checkpoint source.
pub struct SurgeHostBuilder {
    builder: SurgePayloadBuilder<HostEvmConfig, Arc<dyn BlockInputs>>,
    pool: PoolHandle,
    checkpoints: Arc<dyn CheckpointSource>,
    /// The report of the last block built, until the producer says it is committed.
    staged: Mutex<Option<(SealedHeader, InputsReport)>>,
    metrics: Arc<BuilderMetrics>,
}

impl std::fmt::Debug for SurgeHostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurgeHostBuilder").finish_non_exhaustive()
    }
}

impl SurgeHostBuilder {
    /// A builder for the L2 chain `spec` (its `config.surge.l2` gives the base-fee sharing percentage).
    pub fn new(
        spec: Arc<ChainSpec>,
        pool: PoolHandle,
        inputs: Arc<dyn BlockInputs>,
        checkpoints: Arc<dyn CheckpointSource>,
    ) -> Result<Self, ProduceError> {
        let l2 = spec.l2.as_ref().ok_or(ProduceError::NotL2(spec.chain_id))?;
        let config = BuilderConfig::new(spec.chain_id, l2.basefee_sharing_pctg);
        let builder = SurgePayloadBuilder::new(HostEvmConfig(spec.clone()), inputs, config)?;
        Ok(Self { builder, pool, checkpoints, staged: Mutex::new(None), metrics: Arc::default() })
    }

    /// The builder's counters.
    pub fn metrics(&self) -> Arc<BuilderMetrics> {
        self.metrics.clone()
    }

    /// Builds the child of `parent` without committing it (its inputs stay staged).
    pub fn build_payload(
        &self,
        store: &Store,
        parent: &SealedHeader,
        attributes: &PayloadAttributes,
    ) -> Result<BuiltPayload, ProduceError> {
        let l1_checkpoint = self.checkpoints.checkpoint().map_err(|e| ProduceError::Checkpoint(e.to_string()))?;
        let attributes = SurgeAttributes {
            timestamp: attributes.timestamp,
            fee_recipient: attributes.fee_recipient,
            gas_limit: None,
            l1_checkpoint,
            deadline: Some(attributes.deadline),
        };
        let parent = Sealed::new_unchecked(parent.header.clone(), parent.hash);
        let mut txs = PoolTransactions::new(self.pool.best_transactions());
        let payload = self.builder.build(store, &parent, &attributes, &mut txs)?;
        self.metrics.record(&payload);
        Ok(payload)
    }
}

/// The host's block from a built payload; the store computes the state root when it commits it.
impl From<BuiltPayload> for ExecutedBlock {
    fn from(payload: BuiltPayload) -> Self {
        ExecutedBlock {
            diff: StateDiff::from_bundle(&payload.bundle),
            header: payload.header,
            body: payload.body,
            senders: payload.senders,
            receipts: payload.receipts,
            verify_state_root: false,
        }
    }
}

impl PayloadBuilder for SurgeHostBuilder {
    fn build(
        &self,
        store: &Store,
        parent: &SealedHeader,
        attributes: &PayloadAttributes,
    ) -> Result<ExecutedBlock, ProduceError> {
        let payload = self.build_payload(store, parent, attributes)?;
        let staged = (SealedHeader::seal(payload.header.clone()), payload.inputs.clone());
        *self.staged.lock().unwrap_or_else(|p| p.into_inner()) = Some(staged);
        Ok(payload.into())
    }

    fn committed(&self, block: &SealedHeader) {
        let staged = self.staged.lock().unwrap_or_else(|p| p.into_inner()).take();
        // Only the block this builder made consumes its inputs (same number and parent; the hash differs
        // because the state root was zero when staged).
        if let Some((built, report)) = staged
            && built.header.number == block.header.number
            && built.header.parent_hash == block.header.parent_hash
        {
            let any = !(report.user_op_slots.is_empty()
                && report.return_slots.is_empty()
                && report.rejected_return_slots.is_empty());
            if any {
                info!(
                    number = block.header.number,
                    user_op_slots = report.user_op_slots.len(),
                    return_slots = report.return_slots.len(),
                    rejected = report.rejected_return_slots.len(),
                    "consumed the block's inputs"
                );
            }
            self.builder.inputs().commit(block.header.number, &report);
        }
    }
}
