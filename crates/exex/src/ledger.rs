//! The ledger of proposals: which block opens a proposal (and on which L1 anchor), what each block staged
//! and what it took, which proposals are closed and waiting for the proposer. Block production calls it
//! through [`crate::BlockPlanner`]; the txpool watcher reads the closed proposals' L1 calls (they run on L1
//! ahead of the open bundle) and the plans that landed. Everything it decides is in its store before it is
//! acted on: plans before they are staged, proposals and inclusions when their block is committed.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use alloy::{
    consensus::{Transaction, TxEnvelope},
    eips::Encodable2718,
};
use alloy_primitives::B256;
use alloy_sol_types::SolCall;
use surge_interfaces::{
    BlockReader, CommittedBlock, InputsReport, OutboundDependency, ReturnSlot, SealedHeader, StagedInputs, SyncTx,
    TransactionOrigin, TransactionPool,
};
use surge_l1::{InFlightBundle, L1Head};
use surge_primitives::bindings::anchor::Anchor;
use surge_sync::Plan;
use tracing::{info, warn};

use crate::{
    next::NextBlock,
    proposal::{ProposalBlock, ProposalRecord, ProposalRules},
    store::{Batch, PlanRecord, PlannerStore, PlannerStoreError, Rejection},
};

/// L1 heads remembered for choosing anchors (blockhash reaches 256 back).
const SEEN_L1_HEADS: usize = 256;

/// What a block was staged with, until it is committed.
#[derive(Debug)]
struct Staging {
    number: u64,
    /// Whether the block opens a proposal.
    opens: bool,
}

#[derive(Debug, Default)]
struct State {
    open: Option<ProposalRecord>,
    closed: Vec<ProposalRecord>,
    next_id: u64,
    seen_l1: VecDeque<L1Head>,
    staging: Option<Staging>,
    /// The last block accounted for.
    height: u64,
    /// Plans staged or included, by transaction.
    records: HashMap<B256, PlanRecord>,
    /// Planned transactions that went in with their plans since the watcher last looked.
    landed: Vec<B256>,
    /// Plans a block voided, with the reason, since the watcher last looked.
    failed: Vec<(B256, String)>,
    /// L1 heads seen without a hash or state root.
    unusable_l1_heads: u64,
    /// The block plans are made for (the head's child).
    next: Option<NextBlock>,
}

/// A plan offered for staging, with its transaction.
#[derive(Debug, Clone)]
pub struct Offered {
    /// The plan.
    pub plan: Plan,
    /// Its transaction.
    pub tx: alloy::consensus::transaction::Recovered<TxEnvelope>,
}

/// The ledger of proposals.
pub struct Ledger {
    rules: ProposalRules,
    max_slots: usize,
    store: PlannerStore,
    state: Mutex<State>,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Told when a proposal closes (the proposer waits on it).
    closed: tokio::sync::Notify,
    /// Held from a decision to its store write, so that writes reach the store in the order the state
    /// changed (a commit's "open" never lands after a close's "closed"). Never taken under `state`.
    writes: Mutex<()>,
    /// Seconds between blocks (how far ahead of a commit its child's timestamp is fixed).
    block_time: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("rules", &self.rules).finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Ledger {
    /// The ledger kept in `store`, closing proposals by `rules`, with at most `max_slots` signal slots per
    /// anchor (the builder's limit).
    pub fn open(store: PlannerStore, rules: ProposalRules, max_slots: usize) -> Result<Self, PlannerStoreError> {
        let (proposals, plans) = store.load()?;
        let mut state = State::default();
        for p in proposals {
            state.next_id = state.next_id.max(p.id + 1);
            state.height = state.height.max(p.blocks.last().map_or(0, |b| b.number));
            if p.closed { state.closed.push(p) } else { state.open = Some(p) }
        }
        state.next_id = state.next_id.max(1);
        state.records = plans.into_iter().map(|r| (r.plan.tx_hash, r)).collect();
        Ok(Self {
            rules,
            max_slots,
            store,
            state: Mutex::new(state),
            waker: Mutex::new(None),
            closed: tokio::sync::Notify::new(),
            writes: Mutex::new(()),
            block_time: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Blocks come every `block_time` (1 second unless set): each block's timestamp is fixed that far
    /// ahead of its parent's commit, when it will be built.
    pub fn set_block_time(&self, block_time: std::time::Duration) {
        self.block_time.store(block_time.as_secs(), std::sync::atomic::Ordering::Relaxed);
    }

    fn fix_next(&self, st: &State, parent: (u64, u64)) -> NextBlock {
        let lead = self.block_time.load(std::sync::atomic::Ordering::Relaxed);
        NextBlock::fix(&self.rules, &st.seen_l1, parent, now(), lead)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The write order (see `writes`): take it before `state`.
    fn ordered(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called after each commit (the watcher's thread wakes to pick up what landed).
    pub fn set_waker(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    /// The rules.
    pub fn rules(&self) -> ProposalRules {
        self.rules
    }

    /// L1 heads seen without a hash or state root (never anchors).
    pub fn unusable_l1_heads(&self) -> u64 {
        self.state().unusable_l1_heads
    }

    /// The last block accounted for.
    pub fn height(&self) -> u64 {
        self.state().height
    }

    /// The open proposal.
    pub fn open_proposal(&self) -> Option<ProposalRecord> {
        self.state().open.clone()
    }

    /// The closed proposals waiting for the proposer, in order.
    pub fn closed_proposals(&self) -> Vec<ProposalRecord> {
        self.state().closed.clone()
    }

    /// Resolves once a proposal closes after the last time it resolved (or now, if one closed since).
    pub async fn proposal_closed(&self) {
        self.closed.notified().await;
    }

    /// Closes the open proposal if it has a block and has been open too long (`now`, unix seconds), or its
    /// anchor fell too far behind the latest L1 head seen: an idle chain's last blocks get proposed too.
    pub fn close_expired(&self, now: u64) -> Option<u64> {
        let _order = self.ordered();
        let mut st = self.state();
        // A block being built on the open proposal joins it first; the next call closes it.
        if st.staging.is_some() {
            return None;
        }
        let l1_head = st.seen_l1.back().map_or(0, |h| h.number);
        let open = st.open.as_ref()?;
        let why = open.expired(&self.rules, now, l1_head)?;
        if open.blocks.is_empty() {
            return None;
        }
        let mut p = st.open.take()?;
        p.closed = true;
        info!(proposal = p.id, blocks = p.blocks.len(), reason = why, "proposal closed");
        st.closed.push(p.clone());
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        drop(st);
        if let Err(e) = self.store.write(Batch { proposals: vec![p.clone()], ..Default::default() }) {
            warn!(proposal = p.id, "planner: recording a closed proposal: {e}");
        }
        self.closed.notify_one();
        Some(p.id)
    }

    /// Proposal `id` is on L1: it leaves the ledger with its plans (their L1 calls are in the L1 state now).
    pub fn proposed(&self, id: u64) {
        let _order = self.ordered();
        let mut st = self.state();
        let Some(at) = st.closed.iter().position(|p| p.id == id) else { return };
        let p = st.closed.remove(at);
        let mut batch = Batch { delete_proposals: vec![id], ..Default::default() };
        for plan in &p.plans {
            st.records.remove(&plan.tx_hash);
            batch.delete_plans.push(plan.tx_hash);
        }
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        drop(st);
        if let Err(e) = self.store.write(batch) {
            warn!(proposal = id, "planner: forgetting a proposal on L1: {e}");
        }
    }

    /// The closed proposals' L1 calls, in order: they run on L1 before the open bundle.
    pub fn in_flight(&self) -> Vec<InFlightBundle> {
        self.state().closed.iter().filter_map(ProposalRecord::in_flight).collect()
    }

    /// Whether `tx` went into a block with its plan.
    pub fn included(&self, tx: &B256) -> bool {
        self.state().records.get(tx).is_some_and(|r| r.proposal.is_some())
    }

    /// The planned transactions that went in with their plans since the last call.
    pub fn take_landed(&self) -> Vec<B256> {
        std::mem::take(&mut self.state().landed)
    }

    /// The plans blocks voided since the last call, with the reasons.
    pub fn take_failed(&self) -> Vec<(B256, String)> {
        std::mem::take(&mut self.state().failed)
    }

    /// Records transactions the block producer rejected, with their reasons (one durable write).
    pub fn record_rejections(&self, rejected: Vec<(B256, String)>) -> Result<(), PlannerStoreError> {
        let at = now();
        let rejections = rejected.into_iter().map(|(tx, reason)| (tx, Rejection { reason, at })).collect();
        self.store.write(Batch { rejections, ..Default::default() })
    }

    /// The recorded rejection of transaction `tx`.
    pub fn rejection(&self, tx: &B256) -> Result<Option<Rejection>, PlannerStoreError> {
        self.store.rejection(tx)
    }

    /// What block `number` gets: the anchor of its proposal and, when it opens one, the `offered` plans in
    /// order while their slots fit — if they were made for this block as it is fixed now (`planned_for`):
    /// its timestamp and checkpoint go with them; every offered plan not staged, and `held`, stay out of
    /// the pool's part. `l1` is the latest L1 head (remembered for choosing anchors). Staged plans are
    /// recorded first: a plan the store cannot record is not staged.
    pub fn stage(
        &self,
        number: u64,
        l1: Option<L1Head>,
        offered: Vec<Offered>,
        mut held: Vec<B256>,
        planned_for: Option<&NextBlock>,
    ) -> StagedInputs {
        let next = self.next_for(number);
        let offered = if next.is_some() && planned_for == next.as_ref() {
            offered
        } else {
            // Made for another block (the watcher has not taken in the last one yet, or this one was fixed
            // again): they wait for the next block.
            held.extend(offered.into_iter().map(|o| o.plan.tx_hash));
            vec![]
        };
        let (opens, checkpoint, done) = self.proposal_for(l1, !offered.is_empty(), next.as_ref());
        let mut offered = offered.into_iter();
        let (mut plans, mut records) = (vec![], vec![]);
        if opens {
            let mut slots = 0;
            for o in offered.by_ref() {
                let n = o.plan.slots().count();
                // A plan a block voided or took already (the watcher has not heard yet) stops the rest.
                if done.contains(&o.plan.tx_hash) {
                    held.push(o.plan.tx_hash);
                    break;
                }
                if slots + n > self.max_slots {
                    held.push(o.plan.tx_hash);
                    if plans.is_empty() {
                        // It could never go in: void it, or it would hold up every later plan forever.
                        let why =
                            format!("its {n} answers need more slots than an anchor carries ({})", self.max_slots);
                        warn!(tx = %o.plan.tx_hash, "planner: {why}");
                        self.state().failed.push((o.plan.tx_hash, why));
                        self.wake();
                    }
                    break;
                }
                slots += n;
                let raw = o.tx.inner().encoded_2718().into();
                records.push(PlanRecord { plan: o.plan.clone(), raw, staged_for: number, proposal: None });
                plans.push(o);
            }
        }
        if !records.is_empty()
            && let Err(e) = self.store.write(Batch { plans: records.clone(), ..Default::default() })
        {
            warn!(number, "planner: not staging plans it cannot record: {e}");
            held.extend(plans.drain(..).map(|o| o.plan.tx_hash));
            records.clear();
        }
        held.extend(offered.map(|o| o.plan.tx_hash));
        let timestamp = next.map(|n| n.timestamp);
        let mut staged = StagedInputs { checkpoint, held, timestamp, ..Default::default() };
        for o in &plans {
            staged.return_slots.extend(return_slots(&o.plan));
            let messages = o.plan.messages.iter().map(|m| m.message.clone()).collect();
            staged.sync_txs.push(SyncTx { tx: o.tx.clone(), messages });
        }
        let mut st = self.state();
        st.records.extend(records.into_iter().map(|r| (r.plan.tx_hash, r)));
        st.staging = Some(Staging { number, opens });
        staged
    }

    /// The anchor the next block would take without plans: the open proposal's, or the one a proposal
    /// opening now takes (fixed with the next block, or chosen now, `l1` the latest L1 head).
    pub fn current_anchor(&self, l1: Option<L1Head>) -> Option<surge_primitives::Checkpoint> {
        let st = self.state();
        if let Some(p) = &st.open {
            return Some(p.anchor.clone());
        }
        if let Some(checkpoint) = st.next.as_ref().and_then(|n| n.checkpoint.clone()) {
            return Some(checkpoint);
        }
        let newer = l1.filter(|h| st.seen_l1.back().is_none_or(|last| last.hash != h.hash));
        self.rules.choose_anchor(st.seen_l1.iter().chain(newer.as_ref())).map(|h| h.checkpoint())
    }

    /// The block after `parent` (its number and timestamp) as plans are made for it and as it is built
    /// when it opens a proposal, which every block with plans does: its timestamp and its anchor's
    /// checkpoint, fixed when `parent` was committed (or first asked about), and again once the clock has
    /// run past it ([`NextBlock::stale`]). `l1` is the latest L1 head.
    pub fn next_block(&self, parent: (u64, u64), l1: Option<L1Head>) -> NextBlock {
        let mut st = self.state();
        see_l1(&mut st, l1);
        match &st.next {
            Some(n) if n.number == parent.0 + 1 && n.parent_timestamp == parent.1 && !n.stale(now()) => n.clone(),
            // Fixed for a later block already (the asker is behind the chain): its plans will not be staged.
            Some(n) if n.number > parent.0 + 1 => self.fix_next(&st, parent),
            _ => {
                let next = self.fix_next(&st, parent);
                st.next = Some(next.clone());
                next
            }
        }
    }

    /// The block `number` will be when it is staged: the fixed one, fixed again first if the clock has
    /// run past it (the watcher is woken to plan for the new one). `None` when none is fixed for it.
    pub fn next_for(&self, number: u64) -> Option<NextBlock> {
        let mut st = self.state();
        let next = st.next.clone().filter(|n| n.number == number)?;
        if !next.stale(now()) {
            return Some(next);
        }
        let fresh = self.fix_next(&st, (number - 1, next.parent_timestamp));
        info!(number, timestamp = fresh.timestamp, "planner: the next block's timestamp fell behind: fixed again");
        st.next = Some(fresh.clone());
        drop(st);
        self.wake();
        Some(fresh)
    }

    /// Whether the next block opens a proposal (none is open, it has plans to carry, or the open one
    /// expired), its anchor (the open proposal's, or one chosen among the L1 heads seen, `l1` the latest),
    /// and the plans that must not be staged again (voided, or in a block already).
    fn proposal_for(
        &self,
        l1: Option<L1Head>,
        with_plans: bool,
        next: Option<&NextBlock>,
    ) -> (bool, Option<surge_primitives::Checkpoint>, std::collections::HashSet<B256>) {
        let mut st = self.state();
        let done = st.failed.iter().map(|(tx, _)| *tx).chain(st.landed.iter().copied()).collect();
        see_l1(&mut st, l1);
        let l1_number = st.seen_l1.back().map_or(0, |h| h.number);
        let fixed = next.and_then(|n| n.checkpoint.clone());
        match &st.open {
            Some(p) if !with_plans && p.expired(&self.rules, now(), l1_number).is_none() => {
                (false, Some(p.anchor.clone()), done)
            }
            _ => (true, fixed.or_else(|| self.rules.choose_anchor(st.seen_l1.iter()).map(|h| h.checkpoint())), done),
        }
    }

    /// `block`, built with `report`, is committed: it joins the open proposal (or opens one), its
    /// included plans are recorded with the proposal, and a full proposal closes.
    pub fn commit(&self, block: &SealedHeader, report: &InputsReport) {
        let _order = self.ordered();
        let mut st = self.state();
        let number = block.header.number;
        let staging = st.staging.take().filter(|s| s.number == number);
        let batch = self.account(&mut st, block, report, staging);
        st.next = Some(self.fix_next(&st, (number, block.header.timestamp)));
        drop(st);
        if let Err(e) = self.store.write(batch) {
            warn!(number, "planner: recording block {number}: {e}");
        }
        self.wake();
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(wake) = waker {
            wake();
        }
    }

    /// Accounts for a committed block; returns the store's changes.
    fn account(&self, st: &mut State, block: &SealedHeader, report: &InputsReport, staging: Option<Staging>) -> Batch {
        let number = block.header.number;
        st.height = number;
        let mut batch = Batch::default();
        let checkpoint = report.checkpoint.clone().unwrap_or_default();
        let opens = staging.as_ref().is_some_and(|s| s.opens)
            || st.open.as_ref().is_none_or(|p| p.anchor != checkpoint)
            || !(report.user_op_slots.is_empty() && report.return_slots.is_empty());
        let mut p = match st.open.take() {
            Some(p) if !opens => p,
            previous => {
                if let Some(mut previous) = previous {
                    previous.closed = true;
                    info!(proposal = previous.id, blocks = previous.blocks.len(), "proposal closed: a new one opens");
                    batch.proposals.push(previous.clone());
                    st.closed.push(previous);
                }
                let mut p = ProposalRecord::open(st.next_id, checkpoint, block.header.timestamp);
                st.next_id += 1;
                p.slots = report.user_op_slots.iter().chain(&report.return_slots).copied().collect();
                p
            }
        };
        p.blocks.push(ProposalBlock { number, hash: block.hash });
        p.gas_used += block.header.gas_used;
        p.bytes += report.tx_bytes;
        for tx in &report.sync_txs {
            let Some(r) = st.records.get_mut(tx) else {
                warn!(%tx, number, "planner: a planned transaction went in without a record of its plan");
                continue;
            };
            r.proposal = Some(p.id);
            p.plans.push(r.plan.clone());
            batch.plans.push(r.clone());
            st.landed.push(*tx);
        }
        for (tx, why) in &report.failed_sync_txs {
            st.records.remove(tx);
            batch.delete_plans.push(*tx);
            st.failed.push((*tx, why.clone()));
        }
        if !report.sync_txs.is_empty() {
            info!(
                proposal = p.id,
                block = number,
                plans = p.plans.len(),
                slots = p.slots.len(),
                "planned transactions included"
            );
        }
        if let Some(why) = p.full(&self.rules) {
            p.closed = true;
            info!(proposal = p.id, blocks = p.blocks.len(), reason = why, "proposal closed");
        }
        batch.proposals.push(p.clone());
        if p.closed {
            st.closed.push(p);
        } else {
            st.open = Some(p);
        }
        metrics::counter!("surge_planned_txs_included_total").increment(report.sync_txs.len() as u64);
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        if batch.proposals.iter().any(|p| p.closed) {
            self.closed.notify_one();
        }
        batch
    }

    /// Forgets the staged plans (not in a proposal) whose transactions `pending` no longer has: dropped by
    /// the watcher, or mined without their slots. The store keeps them otherwise until a restart.
    pub fn forget_unless(&self, pending: impl Fn(&B256) -> bool) {
        let _order = self.ordered();
        let mut st = self.state();
        let gone: Vec<B256> = st
            .records
            .values()
            .filter(|r| r.proposal.is_none() && !pending(&r.plan.tx_hash))
            .map(|r| r.plan.tx_hash)
            .collect();
        if gone.is_empty() {
            return;
        }
        for tx in &gone {
            st.records.remove(tx);
        }
        drop(st);
        if let Err(e) = self.store.write(Batch { delete_plans: gone, ..Default::default() }) {
            warn!("planner: forgetting staged plans: {e}");
        }
    }

    /// `blocks` were unwound (lowest first): they leave their proposals (an emptied proposal is gone), and
    /// their plans are forgotten (their transactions return to the pool and are planned again).
    pub fn reverted(&self, blocks: &[CommittedBlock]) {
        let Some(lowest) = blocks.first().map(|b| b.number()) else { return };
        let _order = self.ordered();
        let mut st = self.state();
        let mut batch = Batch::default();
        let mut all: Vec<ProposalRecord> = std::mem::take(&mut st.closed);
        all.extend(st.open.take());
        for mut p in all {
            let before = p.blocks.len();
            p.blocks.retain(|b| b.number < lowest);
            if p.blocks.is_empty() {
                for plan in &p.plans {
                    st.records.remove(&plan.tx_hash);
                    batch.delete_plans.push(plan.tx_hash);
                }
                batch.delete_proposals.push(p.id);
                continue;
            }
            if p.blocks.len() != before {
                batch.proposals.push(p.clone());
            }
            if p.closed { st.closed.push(p) } else { st.open = Some(p) }
        }
        st.height = lowest.saturating_sub(1);
        st.staging = None;
        st.next = None;
        st.landed.clear();
        st.failed.clear();
        drop(st);
        if let Err(e) = self.store.write(batch) {
            warn!(lowest, "planner: recording an unwind: {e}");
        }
    }

    /// After a restart: accounts for the blocks the chain committed after the ledger's last record (a
    /// staged plan whose block is in the chain with its slots is included), then hands every staged plan
    /// that did not go in back to `pool` (the pool does not survive a restart; its plan is made again).
    pub fn reconcile<R: BlockReader, P: TransactionPool>(&self, chain: &R, pool: &P) -> Result<(), String> {
        let (head, _) = chain.latest_header().map_err(|e| format!("reading the head: {e}"))?;
        let _order = self.ordered();
        let mut st = self.state();
        let fresh = st.open.is_none() && st.closed.is_empty() && st.records.is_empty();
        if fresh {
            st.height = head.number;
            return Ok(());
        }
        let mut batch = Batch::default();
        for number in st.height + 1..=head.number {
            let (Some((header, hash)), Some(txs)) = (
                chain.header_by_number(number).map_err(|e| format!("reading block {number}: {e}"))?,
                chain.block_transactions(number).map_err(|e| format!("reading block {number}: {e}"))?,
            ) else {
                return Err(format!("block {number} is below the head {} but not in the chain", head.number));
            };
            let Some(call) = txs.first().and_then(|a| Anchor::anchorV4WithSignalSlotsCall::abi_decode(a.input()).ok())
            else {
                return Err(format!("block {number} does not open with an anchor"));
            };
            let in_block: Vec<B256> = txs.iter().map(|t| *t.tx_hash()).collect();
            // Staged for this block, in it, and its slots in the anchor: it went in with its plan.
            let mut plans: Vec<(usize, B256)> = st
                .records
                .values()
                .filter(|r| r.proposal.is_none() && r.staged_for == number)
                .filter(|r| r.plan.slots().all(|s| call.signalSlots.contains(&s)))
                .filter_map(|r| Some((in_block.iter().position(|h| *h == r.plan.tx_hash)?, r.plan.tx_hash)))
                .collect();
            plans.sort_by_key(|(at, _)| *at);
            let report = InputsReport {
                return_slots: call.signalSlots.clone(),
                sync_txs: plans.iter().map(|(_, tx)| *tx).collect(),
                checkpoint: Some(call.l1Checkpoint.into()),
                tx_bytes: txs.iter().map(|t| t.encode_2718_len() as u64).sum(),
                ..Default::default()
            };
            let staging = Staging { number, opens: !call.signalSlots.is_empty() || !plans.is_empty() };
            info!(number, plans = plans.len(), "planner: accounting for a block committed before the restart");
            let b = self.account(&mut st, &SealedHeader { header, hash }, &report, Some(staging));
            merge(&mut batch, b);
        }
        st.landed.clear();
        let waiting: Vec<PlanRecord> = st.records.values().filter(|r| r.proposal.is_none()).cloned().collect();
        for r in waiting {
            match pool.add_transaction(TransactionOrigin::Local, &r.raw) {
                Ok(_) => info!(tx = %r.plan.tx_hash, "planner: a staged transaction is back in the pool"),
                Err(e) if pool.get(&r.plan.tx_hash).is_some() => {
                    let _ = e;
                }
                Err(e) => {
                    info!(tx = %r.plan.tx_hash, "planner: a staged transaction is gone: {e}");
                    st.records.remove(&r.plan.tx_hash);
                    batch.delete_plans.push(r.plan.tx_hash);
                }
            }
        }
        drop(st);
        self.store.write(batch).map_err(|e| e.to_string())
    }
}

/// Remembers L1 head `l1` (if new) among those anchors are chosen from.
fn see_l1(st: &mut State, l1: Option<L1Head>) {
    let Some(head) = l1.filter(|h| st.seen_l1.back().is_none_or(|last| last.hash != h.hash)) else { return };
    if head.hash.is_zero() || head.state_root.is_zero() {
        // Never an anchor (the signal service refuses it): the proposal takes an earlier head.
        warn!(l1_block = head.number, "planner: an L1 head without hash or state root is no anchor");
        metrics::counter!("surge_planner_unusable_l1_heads_total").increment(1);
        st.unusable_l1_heads += 1;
    }
    st.seen_l1.push_back(head);
    if st.seen_l1.len() > SEEN_L1_HEADS {
        st.seen_l1.pop_front();
    }
}

/// `b`'s changes after `a`'s.
fn merge(a: &mut Batch, b: Batch) {
    a.proposals.retain(|p| !b.proposals.iter().any(|q| q.id == p.id));
    a.proposals.extend(b.proposals);
    a.delete_proposals.extend(b.delete_proposals);
    a.plans.retain(|p| !b.plans.iter().any(|q| q.plan.tx_hash == p.plan.tx_hash));
    a.plans.extend(b.plans);
    a.delete_plans.extend(b.delete_plans);
    a.rejections.extend(b.rejections);
}

/// A plan's return slots, in order, each with the message it answers.
fn return_slots(plan: &Plan) -> Vec<ReturnSlot> {
    plan.messages
        .iter()
        .flat_map(|m| {
            m.answers.iter().map(|a| ReturnSlot {
                slot: a.slot,
                depends_on: OutboundDependency { tx_hash: plan.tx_hash, message: m.message.clone() },
            })
        })
        .collect()
}
