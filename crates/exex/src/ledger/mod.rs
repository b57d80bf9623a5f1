//! The ledger of proposals: which block opened each proposal (and on which L1 anchor), which plans went in,
//! which proposals are closed and waiting for the proposer. It is an ExEx ([`crate::install_ledger`]): it
//! reads each committed block ([`crate::read_block`]) after the chain committed it, on its own task, and
//! never holds block production up. What a block carried is decided by the block itself; the plans the
//! watcher offers are recorded here, durably, before any block can take them, so that a block is always
//! accounted for with its plans, even after a crash between its commit and the ledger's write.

mod landed;
mod records;
mod statuses;
mod user_ops;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::SystemTime,
};

use alloy::consensus::{ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{B256, Bytes};
use surge_interfaces::{BlockReader, ChainNotification, SealedHeader, TransactionOrigin, TransactionPool};
use surge_l1::InFlightBundle;
use surge_sync::{Plan, TxStatus};
use tracing::{info, warn};

use crate::{
    block::{BlockFacts, read_block},
    proposal::{ProposalRecord, ProposalRules, advance},
    status_record::{Exit, PoolExit, StatusRecord},
    store::{Batch, L1TxRecord, LedgerStore, LedgerStoreError, PlanRecord},
};

/// Blocks the builder reads itself, past the last one the ledger accounted for, to see the open proposal;
/// a ledger further behind leaves the builder to open a proposal of its own.
const MAX_READ_AHEAD: u64 = 64;

/// What the ledger learnt since the watcher last looked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct News {
    /// The last block accounted for, if it moved (down, after an unwind).
    pub tip: Option<u64>,
    /// Blocks were unwound since the last look (the tip may have climbed back past where it was since).
    pub unwound: bool,
    /// The transactions of the blocks accounted for.
    pub mined: Vec<B256>,
    /// The planned transactions that went in with their plans.
    pub landed: Vec<B256>,
    /// The user ops that went in.
    pub landed_ops: Vec<u64>,
}

#[derive(Debug, Default)]
struct State {
    open: Option<ProposalRecord>,
    closed: Vec<ProposalRecord>,
    next_id: u64,
    /// The last block accounted for; `None` until a fresh ledger has seen the chain.
    tip: Option<(u64, B256)>,
    /// Plans, by key.
    records: HashMap<B256, PlanRecord>,
    /// The keys of each transaction's plans.
    by_tx: HashMap<B256, Vec<B256>>,
    news: News,
    /// The proposer's L1 transactions not settled yet, by nonce.
    l1_txs: BTreeMap<u64, L1TxRecord>,
    /// Proposals on L1 whose L1 block is not final yet, in order.
    landed: Vec<ProposalRecord>,
    /// The statuses that are not final, by transaction.
    statuses: HashMap<B256, StatusRecord>,
    /// Why the unwind from a block happens, when the ledger was told before it.
    rollback: Option<(u64, String)>,
    /// Pool exits of transactions with a kept status, remembered until they count.
    exits: HashMap<B256, Exit>,
    /// User ops until their status is final, by id.
    ops: BTreeMap<u64, crate::user_ops::UserOpEntry>,
    /// The status key of each op in `ops`.
    op_keys: HashMap<B256, u64>,
    /// The next user op's id.
    next_op: u64,
    /// Statuses that became final and are on their way to the store: still answered meanwhile.
    finalizing: HashMap<B256, StatusRecord>,
}

impl State {
    fn insert(&mut self, key: B256, record: PlanRecord) {
        let keys = self.by_tx.entry(record.plan.tx_hash).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
        self.records.insert(key, record);
    }

    fn remove(&mut self, key: &B256) {
        let Some(record) = self.records.remove(key) else { return };
        if let Some(keys) = self.by_tx.get_mut(&record.plan.tx_hash) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_tx.remove(&record.plan.tx_hash);
            }
        }
    }

    /// The plans of `tx` made for block `number`.
    fn plans_of(&self, tx: &B256, number: u64) -> Vec<(B256, &Plan)> {
        let keys = self.by_tx.get(tx).map(Vec::as_slice).unwrap_or_default();
        keys.iter()
            .filter_map(|k| self.records.get(k).map(|r| (*k, r)))
            .filter(|(_, r)| r.made_for == number)
            .map(|(k, r)| (k, &r.plan))
            .collect()
    }

    fn read(
        &self,
        header: &SealedHeader,
        txs: &[TxEnvelope],
        receipts: Option<&[ReceiptEnvelope]>,
    ) -> Result<BlockFacts, String> {
        let placed = self.ops_placed_for(header.header.number);
        read_block(header, txs, receipts, |tx, number| self.plans_of(tx, number), placed)
    }
}

/// The ledger of proposals.
pub struct Ledger {
    rules: ProposalRules,
    store: LedgerStore,
    state: Mutex<State>,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Told when a proposal closes (the proposer waits on it).
    closed: tokio::sync::Notify,
    /// Closed proposals the watcher found doomed before they were sent.
    doomed: crate::doomed::Doomed,
    /// Held from a decision to its store write, so that writes reach the store in the order the state
    /// changed (a block's "open" never lands after a close's "closed"). Never taken under `state`.
    writes: Mutex<()>,
    /// Bumped after each change a status may follow.
    changes: tokio::sync::watch::Sender<u64>,
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
    /// The ledger kept in `store`, closing proposals by `rules`.
    pub fn open(store: LedgerStore, rules: ProposalRules) -> Result<Self, LedgerStoreError> {
        let loaded = store.load()?;
        let l1_txs = loaded.l1_txs.into_iter().map(|r| (r.nonce, r)).collect();
        let statuses = loaded.statuses.into_iter().map(|r| (r.tx, r)).collect();
        let mut state = State { tip: loaded.tip, l1_txs, statuses, next_op: loaded.next_user_op, ..Default::default() };
        for entry in loaded.user_ops {
            state.op_keys.insert(entry.op.key(), entry.op.id);
            state.ops.insert(entry.op.id, entry);
        }
        for p in loaded.proposals {
            state.next_id = state.next_id.max(p.id + 1);
            // A store written before the tip was recorded: its last proposal's last block.
            if loaded.tip.is_none()
                && let Some(last) = p.blocks.last()
                && state.tip.is_none_or(|(n, _)| n < last.number)
            {
                state.tip = Some((last.number, last.hash));
            }
            match (p.landed, p.closed) {
                (Some(_), _) => state.landed.push(p),
                (None, true) => state.closed.push(p),
                (None, false) => state.open = Some(p),
            }
        }
        state.landed.sort_by_key(|p| p.id);
        state.next_id = state.next_id.max(1);
        for (key, record) in loaded.plans {
            state.insert(key, record);
        }
        Ok(Self {
            rules,
            store,
            state: Mutex::new(state),
            waker: Mutex::new(None),
            closed: tokio::sync::Notify::new(),
            doomed: Default::default(),
            writes: Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The write order (see `writes`): take it before `state`.
    fn ordered(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called after each block accounted for (the watcher's thread wakes to read the news).
    pub fn set_waker(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(wake) = waker {
            wake();
        }
    }

    fn write(&self, batch: Batch, what: std::fmt::Arguments<'_>) {
        let finals = finals(&batch);
        if !batch.is_empty()
            && let Err(e) = self.store.write(batch)
        {
            warn!("ledger: recording {what}: {e}");
        }
        self.written(&finals);
        self.changed();
    }

    /// The final statuses `finals` are written (or their write failed): the store answers for them now.
    fn written(&self, finals: &[B256]) {
        if !finals.is_empty() {
            let mut st = self.state();
            for tx in finals {
                st.finalizing.remove(tx);
            }
        }
    }

    /// The rules.
    pub fn rules(&self) -> ProposalRules {
        self.rules
    }

    /// The last block accounted for (0 before the ledger has seen the chain).
    pub fn height(&self) -> u64 {
        self.tip().map_or(0, |(n, _)| n)
    }

    /// The last block accounted for, with its hash.
    pub fn tip(&self) -> Option<(u64, B256)> {
        self.state().tip
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

    /// Closed proposals found doomed before they were sent (the watcher flags, the proposer takes).
    pub fn doomed(&self) -> &crate::doomed::Doomed {
        &self.doomed
    }

    /// What the ledger learnt since the last call.
    pub fn take_news(&self) -> News {
        std::mem::take(&mut self.state().news)
    }

    /// Closes the open proposal if it has a block and has been open too long (`now`, unix seconds), or its
    /// anchor fell too far behind L1 head `l1_head`: an idle chain's last blocks get proposed too. A block
    /// committed meanwhile with the same anchor opens a proposal of its own.
    pub fn close_expired(&self, now: u64, l1_head: u64) -> Option<u64> {
        let _order = self.ordered();
        let mut st = self.state();
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
        let id = p.id;
        self.write(Batch { proposals: vec![p], ..Default::default() }, format_args!("closed proposal {id}"));
        self.closed.notify_one();
        Some(id)
    }

    /// The closed proposals' L1 calls, in order: they run on L1 before the open bundle.
    pub fn in_flight(&self) -> Vec<InFlightBundle> {
        self.state().closed.iter().filter_map(ProposalRecord::in_flight).collect()
    }

    /// Whether `tx` went into a block with its plan.
    pub fn included(&self, tx: &B256) -> bool {
        let st = self.state();
        st.by_tx
            .get(tx)
            .is_some_and(|keys| keys.iter().any(|k| st.records.get(k).is_some_and(|r| r.proposal.is_some())))
    }

    /// Records `plans` (each with its signed transaction) as made for block `made_for`, durably, before
    /// any block may take them; plans recorded already are skipped. Only a recorded plan is offered to a
    /// block ([`Self::is_recorded`]). A transaction's first plan starts its status (`Pending`).
    pub fn record_plans(&self, made_for: u64, plans: Vec<(Plan, Bytes)>) -> Result<(), LedgerStoreError> {
        let _order = self.ordered();
        let (fresh, statuses): (Vec<(B256, PlanRecord)>, Vec<StatusRecord>) = {
            let st = self.state();
            let fresh: Vec<(B256, PlanRecord)> = plans
                .into_iter()
                .map(|(plan, raw)| PlanRecord { plan, raw, made_for, proposal: None })
                .map(|r| (r.key(), r))
                .filter(|(k, _)| !st.records.contains_key(k))
                .collect();
            let at = crate::status_record::now_ms();
            let mut starting: Vec<B256> = fresh.iter().map(|(_, r)| r.plan.tx_hash).collect();
            starting.sort_unstable();
            starting.dedup();
            starting.retain(|tx| !st.statuses.contains_key(tx));
            (fresh, starting.into_iter().map(|tx| StatusRecord::new(tx, TxStatus::Pending, at)).collect())
        };
        if fresh.is_empty() {
            return Ok(());
        }
        self.store.write(Batch { plans: fresh.clone(), statuses: statuses.clone(), ..Default::default() })?;
        let mut st = self.state();
        for (key, record) in fresh {
            st.insert(key, record);
        }
        for record in statuses {
            st.statuses.insert(record.tx, record);
        }
        drop(st);
        self.changed();
        Ok(())
    }

    /// Whether `plan` is recorded as made for block `made_for`, and not in a proposal yet.
    pub fn is_recorded(&self, plan: &Plan, made_for: u64) -> bool {
        let key = PlanRecord { plan: plan.clone(), raw: Bytes::new(), made_for, proposal: None }.key();
        self.state().records.get(&key).is_some_and(|r| r.proposal.is_none())
    }

    /// Reads block `header` with `txs` (and their `receipts`, when known) against the recorded plans.
    pub fn read(
        &self,
        header: &SealedHeader,
        txs: &[TxEnvelope],
        receipts: Option<&[ReceiptEnvelope]>,
    ) -> Result<BlockFacts, String> {
        self.state().read(header, txs, receipts)
    }

    /// Accounts for what the chain did: removed blocks leave their proposals, committed ones join them.
    pub fn apply(&self, n: &ChainNotification) -> Result<(), String> {
        if let Some(old) = n.reverted()
            && let Some(first) = old.first()
        {
            self.unwind(first.number(), first.header.header.parent_hash);
        }
        for block in n.committed().map(|b| b.iter()).into_iter().flatten() {
            let (txs, receipts) = (&block.body.transactions, Some(block.receipts.as_slice()));
            let facts = self
                .read(&block.header, txs, receipts)
                .map_err(|e| format!("reading block {}: {e}", block.number()))?;
            self.account(&facts);
        }
        Ok(())
    }

    /// Accounts for committed block `facts` (one already accounted for is skipped): it joins the open
    /// proposal or opens one, its plans are recorded with their proposal, and a full proposal closes.
    pub fn account(&self, facts: &BlockFacts) {
        let _order = self.ordered();
        let mut st = self.state();
        let number = facts.number();
        if st.tip.is_some_and(|(tip, _)| number <= tip) {
            return;
        }
        let mut batch = Batch::default();
        let mut next_id = st.next_id;
        let advanced = advance(&self.rules, st.open.take(), &mut next_id, facts);
        st.next_id = next_id;
        let id = advanced.open.as_ref().or(advanced.closed.last()).map_or(0, |p| p.id);
        for p in advanced.closed {
            let reason = if p.blocks.last().is_some_and(|b| b.number == number) { "full" } else { "a new one opens" };
            info!(proposal = p.id, blocks = p.blocks.len(), reason, "proposal closed");
            batch.proposals.push(p.clone());
            st.closed.push(p);
        }
        if let Some(p) = advanced.open {
            batch.proposals.push(p.clone());
            st.open = Some(p);
        }
        let landed: Vec<B256> = facts.planned.iter().map(|(_, p)| p.tx_hash).collect();
        for (key, _) in &facts.planned {
            if let Some(r) = st.records.get_mut(key) {
                r.proposal = Some(id);
                batch.plans.push((*key, r.clone()));
            }
        }
        if !landed.is_empty() {
            info!(proposal = id, block = number, plans = landed.len(), "planned transactions included");
        }
        let hash = facts.header.hash;
        st.ops_included(&facts.user_ops, id, (number, hash), &mut batch);
        for tx in &facts.mined {
            st.exits.remove(tx);
            let planned = landed.contains(tx);
            if planned || st.statuses.contains_key(tx) {
                let mined = TxStatus::ProvingBlock { block_id: number };
                st.enter(*tx, (mined, None), planned, &mut batch, |r| {
                    let details = r.details();
                    (details.l2_block_number, details.l2_block_hash) = (Some(number), Some(hash));
                    details.proposal_id = Some(id);
                });
            }
        }
        batch.delete_plans = spent_plans(&st, facts);
        for key in &batch.delete_plans {
            st.remove(key);
        }
        st.tip = Some((number, facts.header.hash));
        batch.tip = st.tip;
        st.news.tip = Some(number);
        // Kept for the watcher only: without one (composability off) nobody would ever take them.
        if self.waker.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            st.news.mined.extend(&facts.mined);
            st.news.landed.extend(&landed);
            st.news.landed_ops.extend(facts.user_ops.iter().map(|op| op.id));
        }
        metrics::counter!("surge_planned_txs_included_total").increment(landed.len() as u64);
        metrics::gauge!("surge_proposals_waiting").set(st.closed.len() as f64);
        let closed = batch.proposals.iter().any(|p| p.closed);
        drop(st);
        if !landed.is_empty() {
            surge_primitives::failpoint::failpoint("ledger.planned_block");
        }
        self.write(batch, format_args!("block {number}"));
        if closed {
            self.closed.notify_one();
        }
        self.wake();
    }

    /// Blocks from `lowest` on were unwound (`parent` is the hash of the block below): they leave their
    /// proposals (an emptied proposal is gone with its plans: their transactions return to the pool and
    /// are planned again).
    fn unwind(&self, lowest: u64, parent: B256) {
        let _order = self.ordered();
        let mut st = self.state();
        let mut batch = Batch::default();
        let mut all: Vec<ProposalRecord> = std::mem::take(&mut st.closed);
        all.extend(st.open.take());
        let mut gone = vec![];
        for mut p in all {
            let before = p.blocks.len();
            p.blocks.retain(|b| b.number < lowest);
            if p.blocks.is_empty() {
                let keys: Vec<B256> =
                    st.records.iter().filter(|(_, r)| r.proposal == Some(p.id)).map(|(k, _)| *k).collect();
                for key in keys {
                    st.remove(&key);
                    batch.delete_plans.push(key);
                }
                batch.delete_proposals.push(p.id);
                gone.push(p.id);
                continue;
            }
            if p.blocks.len() != before {
                batch.proposals.push(p.clone());
            }
            if p.closed { st.closed.push(p) } else { st.open = Some(p) }
        }
        st.ops_unwound(&gone, &mut batch);
        let why = match st.rollback.take() {
            Some((from, why)) if from == lowest => why,
            _ => format!("L2 blocks from {lowest} on were unwound"),
        };
        let unwound: Vec<B256> = st
            .statuses
            .values()
            .filter(|r| r.view.details.l2_block_number.is_some_and(|n| n >= lowest))
            .map(|r| r.tx)
            .collect();
        for tx in unwound {
            st.enter(tx, (TxStatus::Pending, Some(why.clone())), false, &mut batch, |r| {
                let details = r.details();
                let history = std::mem::take(&mut details.history);
                *details = surge_sync::StatusDetails { history, ..Default::default() };
            });
        }
        st.tip = Some((lowest.saturating_sub(1), parent));
        batch.tip = st.tip;
        st.news = News { tip: Some(lowest.saturating_sub(1)), unwound: true, ..Default::default() };
        drop(st);
        self.write(batch, format_args!("an unwind to block {}", lowest.saturating_sub(1)));
        self.wake();
    }

    /// The open proposal the child of `parent` would join, as the builder sees it: the ledger's, advanced
    /// through the blocks up to `parent` it has not accounted for yet (read from `chain`). `None` when
    /// none is open, or the ledger is on another branch or too far behind to tell.
    pub fn open_at<R: BlockReader>(&self, parent: &SealedHeader, chain: &R) -> Option<ProposalRecord> {
        let (tip, mut open, mut next_id) = {
            let st = self.state();
            (st.tip?, st.open.clone(), st.next_id)
        };
        let number = parent.header.number;
        if tip.0 > number || number - tip.0 > MAX_READ_AHEAD {
            return None;
        }
        if tip.0 == number {
            return open.filter(|_| tip.1 == parent.hash);
        }
        for n in tip.0 + 1..=number {
            // Proposal boundaries only: which version of a plan went in does not move them (no receipts).
            let facts = self.read_from(chain, n, false).ok()??;
            if n == tip.0 + 1 && facts.header.header.parent_hash != tip.1 {
                return None;
            }
            open = advance(&self.rules, open, &mut next_id, &facts).open;
        }
        open
    }

    /// Reads canonical block `number` of `chain` (with its receipts when `receipts`); `None` above the
    /// head.
    fn read_from<R: BlockReader>(&self, chain: &R, number: u64, receipts: bool) -> Result<Option<BlockFacts>, String> {
        let read = |e: &dyn std::fmt::Display| format!("reading block {number}: {e}");
        let (Some((header, hash)), Some(txs)) = (
            chain.header_by_number(number).map_err(|e| read(&e))?,
            chain.block_transactions(number).map_err(|e| read(&e))?,
        ) else {
            return Ok(None);
        };
        let receipts = match receipts {
            true => Some(chain.block_receipts(number).map_err(|e| read(&e))?.ok_or_else(|| read(&"no receipts"))?),
            false => None,
        };
        self.read(&SealedHeader { header, hash }, &txs, receipts.as_deref()).map(Some)
    }

    /// After a restart, before production starts: accounts for the blocks `chain` committed after the
    /// ledger's tip, exactly as the ExEx would have (a fresh ledger starts at the head).
    pub fn catch_up<R: BlockReader>(&self, chain: &R) -> Result<(), String> {
        let (head, head_hash) = chain.latest_header().map_err(|e| format!("reading the head: {e}"))?;
        let Some((tip, _)) = self.tip() else {
            let _order = self.ordered();
            let tip = (head.number, head_hash);
            self.state().tip = Some(tip);
            return self.store.write(Batch { tip: Some(tip), ..Default::default() }).map_err(|e| e.to_string());
        };
        // The chain may have lost blocks, or been unwound and rebuilt, while the ledger was down: the blocks
        // above the last one both still agree on leave their proposals.
        let read = |n: u64| chain.header_by_number(n).map_err(|e| format!("reading block {n}: {e}"));
        let mut agreed = tip.min(head.number);
        while agreed > 0 {
            let ours = self.block_hash(agreed);
            let theirs = read(agreed)?.map(|(_, hash)| hash);
            if ours.is_none() || ours == theirs {
                break;
            }
            agreed -= 1;
        }
        if agreed < tip {
            let parent = read(agreed)?.map_or(head_hash, |(_, hash)| hash);
            self.unwind(agreed + 1, parent);
        }
        let tip = agreed;
        for number in tip + 1..=head.number {
            let Some(facts) = self.read_from(chain, number, true)? else {
                return Err(format!("block {number} is below the head {} but not in the chain", head.number));
            };
            info!(number, plans = facts.planned.len(), "ledger: accounting for a block committed before the restart");
            self.account(&facts);
        }
        self.state().news = News::default();
        Ok(())
    }

    /// The hash the ledger holds for block `number`: its tip's, or that of a block in one of its proposals.
    fn block_hash(&self, number: u64) -> Option<B256> {
        let st = self.state();
        if let Some((n, hash)) = st.tip
            && n == number
        {
            return Some(hash);
        }
        let proposals = st.closed.iter().chain(st.open.as_ref());
        proposals.flat_map(|p| &p.blocks).find(|b| b.number == number).map(|b| b.hash)
    }

    /// After a restart: hands every planned transaction that is not in a block back to `pool` (the pool
    /// does not survive a restart; its plan is made again).
    pub fn hand_back<P: TransactionPool>(&self, pool: &P) {
        let waiting: Vec<(B256, Bytes)> = {
            let st = self.state();
            st.by_tx
                .iter()
                .filter(|(_, keys)| keys.iter().all(|k| st.records.get(k).is_some_and(|r| r.proposal.is_none())))
                .filter_map(|(tx, keys)| {
                    let newest = keys.iter().filter_map(|k| st.records.get(k)).max_by_key(|r| r.made_for)?;
                    Some((*tx, newest.raw.clone()))
                })
                .collect()
        };
        let mut gone = vec![];
        for (tx, raw) in waiting {
            match pool.add_transaction(TransactionOrigin::Local, &raw) {
                Ok(_) => info!(%tx, "ledger: a planned transaction is back in the pool"),
                Err(e) if pool.get(&tx).is_some() => drop(e),
                Err(e) => {
                    info!(%tx, "ledger: a planned transaction is gone: {e}");
                    let reason = format!("it could not go back into the pool after a restart: {e}");
                    gone.push(PoolExit::Invalid { tx, reason });
                }
            }
        }
        // Waiting without a plan to hand back (its block was unwound before the restart): the pool that held
        // it is gone, and its status ends here rather than wait for ever.
        let lost: Vec<B256> = {
            let st = self.state();
            let pending = st.statuses.values().filter(|r| *r.status() == TxStatus::Pending);
            let handed: Vec<B256> = gone.iter().map(PoolExit::tx).collect();
            pending
                .map(|r| r.tx)
                .filter(|tx| !st.is_op_key(tx) && pool.get(tx).is_none() && !handed.contains(tx))
                .collect()
        };
        let reason = "dropped: the node restarted while it waited in the pool; send it again";
        gone.extend(lost.into_iter().map(|tx| PoolExit::Invalid { tx, reason: reason.into() }));
        if !gone.is_empty()
            && let Err(e) = self.record_pool_exits(gone, 0)
        {
            warn!("ledger: recording the transactions a restart dropped: {e}");
        }
    }

    /// Forgets the plans (not in a proposal) of transactions `pending` no longer has, once the blocks they
    /// were made for are accounted for (until then a block may still carry one).
    pub fn forget_unless(&self, pending: impl Fn(&B256) -> bool) {
        let _order = self.ordered();
        let mut st = self.state();
        let tip = st.tip.map_or(0, |(n, _)| n);
        let gone: Vec<B256> = st
            .records
            .iter()
            .filter(|(_, r)| r.proposal.is_none() && r.made_for <= tip && !pending(&r.plan.tx_hash))
            .map(|(k, _)| *k)
            .collect();
        if gone.is_empty() {
            return;
        }
        for key in &gone {
            st.remove(key);
        }
        drop(st);
        self.write(Batch { delete_plans: gone, ..Default::default() }, format_args!("forgotten plans"));
    }
}

/// The plans block `facts` spent: every plan made for it or an earlier block that did not go in, except
/// each unmined transaction's newest (kept to hand the transaction back to the pool after a restart).
fn spent_plans(st: &State, facts: &BlockFacts) -> Vec<B256> {
    let number = facts.number();
    let mut spent = vec![];
    for (tx, keys) in &st.by_tx {
        let mined = facts.mined.contains(tx);
        let mut old: Vec<(&B256, &PlanRecord)> = keys
            .iter()
            .filter_map(|k| st.records.get(k).map(|r| (k, r)))
            .filter(|(_, r)| r.proposal.is_none() && r.made_for <= number)
            .collect();
        if !mined {
            let newest = keys
                .iter()
                .filter_map(|k| st.records.get(k))
                .filter(|r| r.proposal.is_none())
                .map(|r| r.made_for)
                .max();
            if let Some(newest) = newest {
                old.retain(|(_, r)| r.made_for < newest);
            }
        }
        spent.extend(old.into_iter().map(|(k, _)| *k));
    }
    spent
}

/// The transactions whose status `batch` makes final.
fn finals(batch: &Batch) -> Vec<B256> {
    batch.statuses.iter().filter(|r| r.final_at().is_some()).map(|r| r.tx).collect()
}
