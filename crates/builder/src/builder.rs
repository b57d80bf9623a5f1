//! [`SurgePayloadBuilder`]: parent + attributes + staged inputs + candidate transactions → an L2 block
//! `[anchor, user transactions…, relay transactions…]` that passes the consistency check.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    consensus::{BlockBody, Header, ReceiptEnvelope, Sealed, Transaction, TxEnvelope, proofs, transaction::Recovered},
    eips::{Encodable2718, eip4895::Withdrawals},
};
use alloy_primitives::{Address, B256};
use revm::DatabaseRef;
use surge_interfaces::{
    BlockInputs, ConfigureEvm, InconsistentSlot, InputsReport, NextBlockAttributes, ReturnSlot, SealedHeader,
    SlotProblem, StagedInputs, StateProviderFactory, SyncTx,
};
use surge_l2_rules::{ANCHOR_GAS_LIMIT, ChildHeader, FeeRules, L2BlockError, child_header, encode_extra_data};
use surge_primitives::{Checkpoint, GOLDEN_TOUCH_ADDRESS, L2Predeploys, golden_touch::GoldenTouchError};
use tracing::{debug, info_span, warn};

use crate::{
    anchor::{AnchorInput, build_anchor},
    consistency::{self, check},
    pass::{self, PassOutput, PassPlan},
    transactions::{ListTransactions, PayloadTransactions},
    unanswered::{Held, HoldLimits, Verdict},
};

/// The chain-level settings of the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderConfig {
    /// The L2 chain id (predeploy addresses follow from it).
    pub chain_id: u64,
    /// The coinbase's share of the base fee, in percent, written into every header's extra data.
    pub basefee_sharing_pctg: u8,
    /// Execution passes per block, at least 2: the last one runs without any return slot, so a block
    /// always settles.
    pub max_passes: usize,
    /// Signal slots one anchor carries at most; the rest wait for the next block. Each fast signal costs
    /// the anchor about 23,100 gas over a base of about 137,000, so at most 37 fit in its 1,000,000.
    pub max_signal_slots: usize,
    /// How long and how many transactions that consume an answer not received yet wait in the pool.
    pub hold: HoldLimits,
}

/// The default of [`BuilderConfig::max_signal_slots`]: what fits in the anchor's gas with a margin.
pub const DEFAULT_MAX_SIGNAL_SLOTS: usize = 32;

impl BuilderConfig {
    /// The settings of chain `chain_id`: 3 passes, [`DEFAULT_MAX_SIGNAL_SLOTS`] slots per anchor.
    pub fn new(chain_id: u64, basefee_sharing_pctg: u8) -> Self {
        Self {
            chain_id,
            basefee_sharing_pctg,
            max_passes: 3,
            max_signal_slots: DEFAULT_MAX_SIGNAL_SLOTS,
            hold: HoldLimits::default(),
        }
    }
}

/// The staged inputs that fit in this block.
#[derive(Clone)]
struct Selection {
    user_op_slots: Vec<B256>,
    relay_txs: Vec<Recovered<TxEnvelope>>,
    return_slots: Vec<ReturnSlot>,
    /// The planned transactions going in, in plan order (a prefix of those staged).
    sync_txs: Vec<SyncTx>,
    /// Return slots set aside: no room in the anchor, or behind a planned transaction that cannot go in.
    deferred: Vec<InconsistentSlot>,
    /// Never taken from the pool: every staged planned transaction and the held ones.
    skip: HashSet<B256>,
}

impl Selection {
    /// User ops first, then return slots, up to `max_slots` slots; a user op's relay transaction goes
    /// with its slot. A planned transaction whose slot has no room cannot go in as planned: the plans from
    /// it on wait for the next proposal.
    fn new(staged: StagedInputs, max_slots: usize) -> Self {
        let skip = staged.sync_txs.iter().map(|s| *s.tx.tx_hash()).chain(staged.held.iter().copied()).collect();
        let ops: Vec<_> = staged.user_ops.into_iter().take(max_slots).collect();
        let room = max_slots - ops.len();
        let mut return_slots = staged.return_slots;
        let overflow = return_slots.split_off(room.min(return_slots.len()));
        let no_room: HashSet<B256> = overflow.iter().map(|r| r.depends_on.tx_hash).collect();
        let mut selection = Self {
            user_op_slots: ops.iter().map(|op| op.slot).collect(),
            relay_txs: ops.into_iter().filter_map(|op| op.relay_tx).collect(),
            return_slots,
            sync_txs: staged.sync_txs,
            deferred: overflow
                .into_iter()
                .map(|r| InconsistentSlot { slot: r.slot, tx_hash: r.depends_on.tx_hash, problem: SlotProblem::NoRoom })
                .collect(),
            skip,
        };
        if let Some(at) = selection.sync_txs.iter().position(|s| no_room.contains(s.tx.tx_hash())) {
            let cut = selection.cut_sync(at);
            selection.deferred.extend(cut);
        }
        selection
    }

    /// The index of planned transaction `tx` among those going in.
    fn sync_index(&self, tx: &B256) -> Option<usize> {
        self.sync_txs.iter().position(|s| s.tx.tx_hash() == tx)
    }

    /// Takes the planned transactions from `at` on out of the block; their return slots that were going in
    /// are returned as set aside for the next proposal.
    fn cut_sync(&mut self, at: usize) -> Vec<InconsistentSlot> {
        let cut: HashSet<B256> = self.sync_txs.split_off(at).iter().map(|s| *s.tx.tx_hash()).collect();
        let (out, keep) = std::mem::take(&mut self.return_slots)
            .into_iter()
            .partition::<Vec<_>, _>(|r| cut.contains(&r.depends_on.tx_hash));
        self.return_slots = keep;
        out.into_iter()
            .map(|r| InconsistentSlot {
                slot: r.slot,
                tx_hash: r.depends_on.tx_hash,
                problem: SlotProblem::EarlierTxFailed,
            })
            .collect()
    }
}

/// A settled pass: its output, the return slots kept, those rejected, the planned transactions in as
/// planned, those whose plan failed, and the timing.
struct Settled {
    out: PassOutput,
    return_slots: Vec<ReturnSlot>,
    rejected: Vec<InconsistentSlot>,
    sync_txs: Vec<B256>,
    failed_sync: Vec<(B256, String)>,
    stats: BuildStats,
}

/// The fixed facts of the block being built.
struct BlockContext {
    header: Header,
    anchor_nonce: u64,
    /// Gas the block may use (attributes or header).
    gas: u64,
}

/// Time spent, and passes made, building one block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Execution passes (1 unless a return slot had to be removed).
    pub passes: usize,
    /// Time executing, all passes together.
    pub execution: Duration,
    /// Time in the consistency check (matching traced messages against the plan).
    pub consistency: Duration,
    /// User transactions skipped because they could not execute.
    pub skipped: usize,
    /// Why the block was built with a fallback anchor (fewer slots, or the last accepted checkpoint).
    pub anchor_fallback: Option<String>,
    /// Pool transactions left out because they consume an answer not received yet (held in the pool).
    pub held: usize,
}

/// A built block, ready for the host to compute its state root and commit it.
#[derive(Debug, Clone)]
pub struct BuiltPayload {
    /// The header; `state_root` is zero until the host computes it from `changes`.
    pub header: Header,
    /// The transactions, the anchor first.
    pub body: BlockBody<TxEnvelope>,
    /// Their senders.
    pub senders: Vec<Address>,
    /// Their receipts.
    pub receipts: Vec<ReceiptEnvelope>,
    /// What the block changed.
    pub changes: surge_primitives::block_state::BlockChanges,
    /// What the block did with the staged inputs.
    pub inputs: InputsReport,
    /// Suspect transactions (their return slot was removed) left out because they failed without it.
    pub excluded_txs: Vec<B256>,
    /// Timing.
    pub stats: BuildStats,
}

impl From<BuiltPayload> for surge_interfaces::BuiltBlock {
    fn from(payload: BuiltPayload) -> Self {
        Self {
            header: payload.header,
            body: payload.body,
            senders: payload.senders,
            receipts: payload.receipts,
            changes: payload.changes,
        }
    }
}

/// Building a block failed; nothing staged was consumed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The settings or attributes break an L2 rule.
    #[error("block {number}: {source}")]
    Rules {
        /// The block.
        number: u64,
        /// The rule.
        #[source]
        source: L2BlockError,
    },
    /// The requested gas is above the header's gas limit, or leaves no room for the anchor.
    #[error("gas limit {requested} not usable: the header allows {header}, the anchor takes {ANCHOR_GAS_LIMIT}")]
    GasLimit {
        /// Requested.
        requested: u64,
        /// The header's.
        header: u64,
    },
    /// `max_passes` below 2.
    #[error("max_passes must be at least 2, got {0}")]
    Passes(usize),
    /// `max_signal_slots` is 0.
    #[error("max_signal_slots must be at least 1")]
    MaxSignalSlots,
    /// The parent is not the canonical block at its height, or a header it needs is missing.
    #[error("parent {hash} (block {number}) is not canonical or its ancestry is missing")]
    Parent {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
    },
    /// The attributes name no L1 checkpoint for the anchor.
    #[error("block {number}: no L1 checkpoint for the anchor")]
    NoCheckpoint {
        /// The block.
        number: u64,
    },
    /// Signing the anchor failed.
    #[error("signing the anchor: {0}")]
    Sign(#[from] GoldenTouchError),
    /// The anchor could not execute or reverted: no block without its anchor.
    #[error("the anchor failed: {0}")]
    Anchor(String),
    /// Reading the parent's state failed.
    #[error("reading state: {0}")]
    State(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The EVM failed on a transaction for a reason other than the transaction being invalid.
    #[error("executing {tx}: {reason}")]
    Evm {
        /// The transaction.
        tx: B256,
        /// What failed.
        reason: String,
    },
}

/// The surge payload builder. Generic over the EVM configuration seam and the planner of signal slots
/// ([`BlockInputs`]); the state comes from a [`StateProviderFactory`] and the user transactions from a
/// [`PayloadTransactions`] at each build.
#[derive(Debug, Clone)]
pub struct SurgePayloadBuilder<E, I> {
    evm_config: E,
    inputs: I,
    config: BuilderConfig,
    /// The checkpoint of the last anchor that executed: the fallback when a new one is refused.
    last_checkpoint: Arc<Mutex<Option<Checkpoint>>>,
    /// Pool transactions held for the answers they consume.
    held: Arc<Mutex<Held>>,
}

impl<E: ConfigureEvm, I: BlockInputs> SurgePayloadBuilder<E, I> {
    /// A builder for `config`'s chain, planning with `inputs`.
    pub fn new(evm_config: E, inputs: I, config: BuilderConfig) -> Result<Self, BuildError> {
        encode_extra_data(config.basefee_sharing_pctg, 0).map_err(|source| BuildError::Rules { number: 0, source })?;
        if config.max_passes < 2 {
            return Err(BuildError::Passes(config.max_passes));
        }
        if config.max_signal_slots == 0 {
            return Err(BuildError::MaxSignalSlots);
        }
        Ok(Self { evm_config, inputs, config, last_checkpoint: Arc::default(), held: Arc::default() })
    }

    /// The planner.
    pub fn inputs(&self) -> &I {
        &self.inputs
    }

    /// Builds the child of `parent` (a canonical block of `provider`). Reading the inputs consumes nothing:
    /// the planner learns what went in from the committed block.
    pub fn build<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &Sealed<Header>,
        attributes: &NextBlockAttributes,
        txs: &mut dyn PayloadTransactions,
    ) -> Result<BuiltPayload, BuildError> {
        let number = parent.number + 1;
        let _span = info_span!("surge_build_block", number).entered();
        let chain_id = self.config.chain_id;
        let not_canonical = || BuildError::Parent { number: parent.number, hash: parent.hash() };
        let canonical = provider.header_by_number(parent.number).map_err(state_error)?;
        if canonical.map(|(_, hash)| hash) != Some(parent.hash()) {
            return Err(not_canonical());
        }
        let grandparent_timestamp = match parent.number {
            0 => parent.timestamp,
            n => provider.header_by_number(n - 1).map_err(state_error)?.ok_or_else(not_canonical)?.0.timestamp,
        };
        let rules = |source| BuildError::Rules { number, source };
        let staged = self
            .inputs
            .stage(&SealedHeader { header: parent.inner().clone(), hash: parent.hash() }, attributes.timestamp);
        // The open proposal's anchor first; the attributes' (the node's checkpoint source) otherwise.
        let l1_checkpoint = staged.checkpoint.clone().or_else(|| attributes.l1_checkpoint.clone());
        // The timestamp the planner made its plans for, when it fixed one.
        let timestamp = staged.timestamp.filter(|t| *t > parent.timestamp).unwrap_or(attributes.timestamp);
        let child = ChildHeader {
            timestamp,
            beneficiary: attributes.fee_recipient,
            extra_data: encode_extra_data(self.config.basefee_sharing_pctg, 0).map_err(rules)?,
            grandparent_timestamp,
        };
        let header = child_header(chain_id, parent, parent.hash(), &child);
        surge_l2_rules::validate_header(chain_id, &header, parent, grandparent_timestamp).map_err(rules)?;
        let gas = attributes.gas_limit.unwrap_or(header.gas_limit);
        if gas > header.gas_limit || gas < ANCHOR_GAS_LIMIT {
            return Err(BuildError::GasLimit { requested: gas, header: header.gas_limit });
        }
        let anchor_nonce = provider
            .state_by_block_number(parent.number)
            .map_err(state_error)?
            .basic_ref(GOLDEN_TOUCH_ADDRESS)
            .map_err(state_error)?
            .map_or(0, |a| a.nonce);

        let ctx = BlockContext { header, anchor_nonce, gas };
        let (selection, checkpoint, settled) =
            self.settle_with_fallbacks(provider, &ctx, staged, l1_checkpoint.as_ref(), attributes.deadline, txs)?;
        let Settled { out, return_slots, mut rejected, sync_txs, failed_sync, stats } = settled;
        for (tx, why) in &failed_sync {
            self.inputs.plan_failed(tx, why);
        }
        let in_block: HashSet<B256> = out.txs.iter().map(|t| *t.tx_hash()).collect();
        // Mined ones leave; one not met again for twice the wait is gone from the pool (a held one met
        // again after the wait is rejected).
        let forget_after = self.config.hold.max_age.saturating_mul(2);
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|tx, since| !in_block.contains(tx) && since.elapsed() < forget_after);
        consistency::settle_deferred(&mut rejected, &in_block);
        let inputs = InputsReport {
            user_op_slots: selection.user_op_slots,
            return_slots: return_slots.iter().map(|r: &ReturnSlot| r.slot).collect(),
            rejected_return_slots: rejected,
            relay_txs: out.relay_included.clone(),
            rejected_relay_txs: out.relay_rejected.clone(),
            sync_txs,
            failed_sync_txs: failed_sync,
            checkpoint: Some(checkpoint),
            tx_bytes: 0,
        };
        let mut payload = seal(ctx.header, out, inputs, stats);
        payload.inputs.tx_bytes = payload.body.transactions.iter().map(|t| t.encode_2718_len() as u64).sum();
        surge_l2_rules::validate_header(chain_id, &payload.header, parent, grandparent_timestamp).map_err(rules)?;
        Ok(payload)
    }

    /// Settles the block; when its anchor fails (too many slots, a checkpoint the signal service refuses,
    /// none offered), builds it again with half the slots, then none, then with the last checkpoint an
    /// anchor took, so a bad input never stops the chain. The slots left out wait for a later block; the
    /// fallback is logged, counted and reported in the block's stats.
    fn settle_with_fallbacks<P: StateProviderFactory>(
        &self,
        provider: &P,
        ctx: &BlockContext,
        staged: StagedInputs,
        l1_checkpoint: Option<&Checkpoint>,
        deadline: Option<Instant>,
        txs: &mut dyn PayloadTransactions,
    ) -> Result<(Selection, Checkpoint, Settled), BuildError> {
        let number = ctx.header.number;
        let max = self.config.max_signal_slots;
        let last = self.last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let attempts = [(max, false), (max / 2, false), (0, false), (0, true)];
        let mut failures: Vec<String> = vec![];
        if l1_checkpoint.is_none() {
            failures.push("no L1 checkpoint offered".into());
        }
        let mut tried: Vec<(usize, bool)> = vec![];
        for (max_slots, use_last) in attempts {
            let checkpoint = match (use_last, &last, l1_checkpoint) {
                (false, _, Some(offered)) => offered,
                (true, Some(c), offered) if Some(c) != offered => c,
                _ => continue,
            };
            let selection = Selection::new(staged.clone(), max_slots);
            let slots = selection.user_op_slots.len() + selection.return_slots.len();
            if tried.contains(&(slots, use_last)) {
                continue;
            }
            tried.push((slots, use_last));
            match self.settle(provider, ctx, &selection, (checkpoint, deadline), txs) {
                Ok(mut settled) => {
                    if !failures.is_empty() {
                        let reason = failures.join("; ");
                        warn!(number, slots, last_checkpoint = use_last, %reason, "built with a fallback anchor");
                        metrics::counter!("surge_builder_anchor_fallbacks_total").increment(1);
                        settled.stats.anchor_fallback = Some(reason);
                    }
                    *self.last_checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(checkpoint.clone());
                    return Ok((selection, checkpoint.clone(), settled));
                }
                Err(BuildError::Anchor(reason)) => failures.push(reason),
                Err(e) => return Err(e),
            }
        }
        match failures.as_slice() {
            [only] if l1_checkpoint.is_none() && last.is_none() => {
                warn!(number, "{only}");
                Err(BuildError::NoCheckpoint { number })
            }
            _ => Err(BuildError::Anchor(failures.join("; "))),
        }
    }

    /// Runs passes until the return slots left are all backed by their messages and every planned
    /// transaction went in as planned; returns the last pass with what it kept and rejected.
    fn settle<P: StateProviderFactory>(
        &self,
        provider: &P,
        ctx: &BlockContext,
        selection: &Selection,
        (l1_checkpoint, deadline): (&Checkpoint, Option<Instant>),
        txs: &mut dyn PayloadTransactions,
    ) -> Result<Settled, BuildError> {
        let chain_id = self.config.chain_id;
        let relay_gas: u64 = selection.relay_txs.iter().map(|t| t.inner().gas_limit()).sum();
        let mut sel = selection.clone();
        let mut rejected = std::mem::take(&mut sel.deferred);
        // Transactions whose slot was taken out: left out of the block if they fail without it.
        let mut suspects: HashSet<B256> = rejected.iter().map(|r| r.tx_hash).collect();
        let mut failed_sync: Vec<(B256, String)> = vec![];
        let mut replay: Option<ListTransactions> = None;
        let mut stats = BuildStats::default();
        let hold = |tx: &Recovered<TxEnvelope>, message: &surge_primitives::Message| -> Verdict {
            let refusal = self.inputs.refusal(tx.tx_hash());
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.decide(&self.config.hold, *tx.tx_hash(), tx.signer(), message, refusal)
        };
        loop {
            stats.passes += 1;
            if stats.passes == self.config.max_passes {
                // Out of passes: settle without return slots; they are offered again with the next block, and
                // the planned transactions from the first that needs one on wait for the next proposal.
                let needs_slot = |s: &SyncTx| sel.return_slots.iter().any(|r| r.depends_on.tx_hash == *s.tx.tx_hash());
                if let Some(at) = sel.sync_txs.iter().position(needs_slot) {
                    rejected.extend(sel.cut_sync(at));
                }
                for r in sel.return_slots.drain(..) {
                    suspects.insert(r.depends_on.tx_hash);
                    let problem = SlotProblem::Unsettled;
                    rejected.push(InconsistentSlot { slot: r.slot, tx_hash: r.depends_on.tx_hash, problem });
                }
            }
            let mut slots = sel.user_op_slots.clone();
            slots.extend(sel.return_slots.iter().map(|r| r.slot));
            let anchor = build_anchor(&AnchorInput {
                chain_id,
                nonce: ctx.anchor_nonce,
                base_fee: ctx.header.base_fee_per_gas.unwrap_or_default(),
                l1_checkpoint: l1_checkpoint.clone(),
                signal_slots: slots,
            })?;
            let sync_txs: Vec<Recovered<TxEnvelope>> = sel.sync_txs.iter().map(|s| s.tx.clone()).collect();
            let plan = PassPlan {
                header: &ctx.header,
                env: self.evm_config.evm_env(&ctx.header),
                rules: FeeRules::block(chain_id, self.config.basefee_sharing_pctg, ctx.anchor_nonce),
                anchor,
                traced: sel
                    .return_slots
                    .iter()
                    .map(|r| r.depends_on.tx_hash)
                    .chain(sync_txs.iter().map(|t| *t.tx_hash()))
                    .collect(),
                suspects: &suspects,
                user_gas: ctx.gas.saturating_sub(ANCHOR_GAS_LIMIT).saturating_sub(relay_gas),
                sync_txs: &sync_txs,
                skip: &sel.skip,
                relay_txs: &sel.relay_txs,
                deadline: if replay.is_none() { deadline } else { None },
                bridge: L2Predeploys::for_chain(chain_id).bridge,
                chain_id,
                unanswered: &hold,
            };
            let state = provider.state_by_block_number(ctx.header.number - 1).map_err(state_error)?;
            let started = Instant::now();
            let out = match replay.as_mut() {
                Some(list) => pass::run(state, &plan, list)?,
                None => pass::run(state, &plan, txs)?,
            };
            stats.execution += started.elapsed();
            stats.skipped += out.skipped;
            stats.held += out.held.len();

            let started = Instant::now();
            let mut problems = check(&sel.return_slots, &out.sent);
            let failed = consistency::first_failed_sync(
                &sel.sync_txs,
                &out.sync_results,
                &out.sync_later,
                &out.sync_unanswered,
                &out.sent,
            );
            if let Some((at, why, true)) = &failed {
                // No room for it here: it and the later plans wait for the next proposal, the rest stands.
                debug!(number = ctx.header.number, tx = %sel.sync_txs[*at].tx.tx_hash(), %why, "a planned transaction waits");
                rejected.extend(sel.cut_sync(*at));
                replay = Some(ListTransactions::new(out.user_txs));
                continue;
            }
            stats.consistency += started.elapsed();
            let slot_cut = problems.iter().filter_map(|p| sel.sync_index(&p.tx_hash)).min();
            let cut = match (failed.as_ref().map(|(at, ..)| *at), slot_cut) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if problems.is_empty() && cut.is_none() {
                let sync = sel.sync_txs.iter().map(|s| *s.tx.tx_hash()).collect();
                let (return_slots, sync_txs) = (sel.return_slots, sync);
                return Ok(Settled { out, return_slots, rejected, sync_txs, failed_sync, stats });
            }
            if let Some(at) = cut {
                // The plan at `at` is void (its transaction stays out of this block) and the later ones wait.
                let first = *sel.sync_txs[at].tx.tx_hash();
                let reason = match &failed {
                    Some((i, why, _)) if *i == at => why.clone(),
                    _ => problems.iter().find(|p| p.tx_hash == first).map_or_else(String::new, |p| p.to_string()),
                };
                warn!(number = ctx.header.number, tx = %first, %reason, "a planned transaction failed its plan");
                failed_sync.push((first, reason));
                let later = sel.cut_sync(at + 1);
                rejected.extend(later);
                sel.sync_txs.pop();
                for r in sel.return_slots.iter().filter(|r| r.depends_on.tx_hash == first) {
                    if !problems.iter().any(|p| p.slot == r.slot) {
                        let sent = out.sent.get(&first).map(|m| m.iter().map(|m| m.message.clone()).collect());
                        let problem = SlotProblem::FieldsDiffer {
                            expected: Box::new(r.depends_on.message.clone()),
                            sent: sent.unwrap_or_default(),
                        };
                        problems.push(InconsistentSlot { slot: r.slot, tx_hash: first, problem });
                    }
                }
            }
            for p in &problems {
                warn!(number = ctx.header.number, pass = stats.passes, "removing an inconsistent {p}");
            }
            sel.return_slots.retain(|r| !problems.iter().any(|p| p.slot == r.slot));
            suspects.extend(problems.iter().map(|p| p.tx_hash).filter(|h| !sel.skip.contains(h)));
            rejected.extend(problems);
            replay = Some(ListTransactions::new(out.user_txs));
        }
    }
}

/// Completes `header` from the pass that settled.
fn seal(mut header: Header, out: PassOutput, inputs: InputsReport, stats: BuildStats) -> BuiltPayload {
    let (senders, txs): (Vec<Address>, Vec<TxEnvelope>) =
        out.txs.into_iter().map(|t: Recovered<TxEnvelope>| (t.signer(), t.into_inner())).unzip();
    // The host fills in the transactions and receipts roots and the bloom when it commits the block.
    header.gas_used = out.gas_used;
    header.withdrawals_root = Some(proofs::calculate_withdrawals_root(&[]));
    BuiltPayload {
        header,
        body: BlockBody { transactions: txs, ommers: vec![], withdrawals: Some(Withdrawals::new(vec![])) },
        senders,
        receipts: out.receipts,
        changes: out.changes,
        inputs,
        excluded_txs: out.excluded,
        stats,
    }
}

pub(crate) fn state_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> BuildError {
    BuildError::State(Box::new(e))
}
