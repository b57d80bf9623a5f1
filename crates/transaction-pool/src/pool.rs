//! The pool: transactions by sender and nonce, split into pending (executable now: nonces contiguous from
//! the sender's nonce, affordable) and queued (the rest), with replacement, eviction and lifecycle events.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use alloy::consensus::Transaction;
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, B256Map, B256Set},
};
use surge_interfaces::{Listener, PoolEvent, PooledTx, ReplacementGuard, TransactionOrigin};

use crate::{
    best::BestTransactions,
    listener::{ListenerSender, listener},
    validate::{PoolConfig, PoolError, ValidTx, validate_stateless},
};

/// Where a transaction sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubPool {
    /// Executable in the next block.
    Pending,
    /// Waiting for a nonce gap to close or for funds.
    Queued,
}

/// Account state the pool needs: the sender's nonce and balance at the head.
pub trait AccountState {
    /// Nonce and balance of `address` (zero for an absent account).
    fn nonce_and_balance(&self, address: &Address) -> Result<(u64, U256), PoolError>;
}

impl<F: Fn(&Address) -> (u64, U256)> AccountState for F {
    fn nonce_and_balance(&self, address: &Address) -> Result<(u64, U256), PoolError> {
        Ok(self(address))
    }
}

#[derive(Debug, Default)]
pub(crate) struct SenderTxs {
    pub(crate) nonce: u64,
    pub(crate) balance: U256,
    pub(crate) txs: BTreeMap<u64, Arc<PooledTx>>,
}

impl SenderTxs {
    /// The pending run: contiguous nonces from the account nonce, affordable in sum, at most `slots` long
    /// (the rest wait queued, as geth keeps a sender's transactions beyond its account slots).
    pub(crate) fn pending(&self, slots: usize) -> Vec<Arc<PooledTx>> {
        pending_run(self.nonce, self.balance, &self.txs, slots)
    }
}

/// The pending run of `txs` for an account at `nonce` holding `balance`, at most `slots` long.
fn pending_run(nonce: u64, balance: U256, txs: &BTreeMap<u64, Arc<PooledTx>>, slots: usize) -> Vec<Arc<PooledTx>> {
    let mut out = vec![];
    let mut spent = U256::ZERO;
    for (expected, (tx_nonce, tx)) in (nonce..).zip(txs.range(nonce..)).take(slots) {
        spent = spent.saturating_add(tx.cost);
        if *tx_nonce != expected || spent > balance {
            break;
        }
        out.push(tx.clone());
    }
    out
}

/// What the pool keeps beside a transaction: its encoded size (with a blob sidecar) and when it arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxMeta {
    pub(crate) size: usize,
    pub(crate) arrived: Instant,
}

/// The transaction pool.
#[derive(Debug)]
pub struct TxPool {
    pub(crate) config: PoolConfig,
    base_fee: u64,
    // Keys are hashes and addresses: a fixed-bytes hasher (foldhash, seeded per process) rather than SipHash,
    // which was most of moving the pool to a new head.
    pub(crate) senders: AddressMap<SenderTxs>,
    pub(crate) by_hash: B256Map<Arc<PooledTx>>,
    pub(crate) meta: B256Map<TxMeta>,
    pub(crate) pending: B256Set,
    /// Encoded bytes of every pooled transaction, and of the pending ones (the byte caps).
    pub(crate) total_bytes: usize,
    pub(crate) pending_bytes: usize,
    next_id: u64,
    event_listeners: Vec<ListenerSender<PoolEvent>>,
    tx_listeners: Vec<ListenerSender<Arc<PooledTx>>>,
    guards: Vec<Arc<dyn ReplacementGuard>>,
    /// Recently rejected transactions with their reasons, the oldest first out.
    rejected: B256Map<String>,
    rejected_order: std::collections::VecDeque<B256>,
}

/// Rejected transactions whose reasons the pool keeps.
const KEPT_REJECTIONS: usize = 16_384;

impl TxPool {
    /// An empty pool at base fee `base_fee`.
    pub fn new(config: PoolConfig, base_fee: u64) -> Self {
        Self {
            config,
            base_fee,
            senders: AddressMap::default(),
            by_hash: B256Map::default(),
            meta: B256Map::default(),
            pending: B256Set::default(),
            total_bytes: 0,
            pending_bytes: 0,
            next_id: 0,
            guards: vec![],
            event_listeners: vec![],
            tx_listeners: vec![],
            rejected: B256Map::default(),
            rejected_order: Default::default(),
        }
    }

    /// The pool's rules.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The pool's rules, to change before it fills (the node sets its configured limits); a lowered limit
    /// applies to what arrives next, not to what is pooled.
    pub fn config_mut(&mut self) -> &mut PoolConfig {
        &mut self.config
    }

    /// Lifecycle events from now on; at most `capacity` wait undelivered (the rest are dropped and
    /// counted, never waited for).
    pub fn subscribe_events(&mut self, capacity: usize) -> Listener<PoolEvent> {
        let (tx, rx) = listener(capacity);
        self.event_listeners.push(tx);
        rx
    }

    /// Every transaction admitted from now on, whatever its origin and sub-pool; bounded as
    /// [`Self::subscribe_events`].
    pub fn subscribe_new_transactions(&mut self, capacity: usize) -> Listener<Arc<PooledTx>> {
        let (tx, rx) = listener(capacity);
        self.tx_listeners.push(tx);
        rx
    }

    /// Adds a guard every replacement and eviction must pass.
    pub fn add_replacement_guard(&mut self, guard: Arc<dyn ReplacementGuard>) {
        self.guards.push(guard);
    }

    /// Whether a guard keeps `tx` from being evicted.
    pub(crate) fn guarded(&self, tx: &PooledTx) -> bool {
        self.guards.iter().any(|g| !g.may_evict(tx))
    }

    /// Ends every listener (the node is shutting down).
    pub fn close_listeners(&mut self) {
        self.event_listeners.clear();
        self.tx_listeners.clear();
    }

    pub(crate) fn emit(&mut self, event: PoolEvent) {
        self.event_listeners.retain(|l| l.send(event.clone()));
    }

    /// Validates `raw` against the rules and the sender's state and admits it.
    pub fn add(&mut self, raw: &[u8], state: &impl AccountState) -> Result<(B256, SubPool), PoolError> {
        let valid = validate_stateless(raw, &self.config)?;
        self.add_valid(valid, TransactionOrigin::External, state)
    }

    /// Admits a transaction that already passed [`validate_stateless`] with this pool's config (callers
    /// run that — signature recovery, KZG proofs — without holding the pool's lock).
    pub fn add_valid(
        &mut self,
        valid: ValidTx,
        origin: TransactionOrigin,
        state: &impl AccountState,
    ) -> Result<(B256, SubPool), PoolError> {
        if self.by_hash.contains_key(&valid.hash) {
            return Err(PoolError::AlreadyKnown(valid.hash));
        }
        let (state_nonce, balance) = state.nonce_and_balance(&valid.sender)?;
        let nonce = valid.tx.nonce();
        if nonce < state_nonce {
            return Err(PoolError::NonceTooLow { nonce, state_nonce });
        }
        let sender = valid.sender;
        let existing = self.senders.get(&sender).and_then(|s| s.txs.get(&nonce)).cloned();
        // The sender's pooled transactions of lower nonces run first, so the balance must cover them and
        // this one (a replacement's predecessor is not counted: its cost is what is replaced).
        let pooled = self.senders.get(&sender).map_or(U256::ZERO, |s| {
            s.txs.range(state_nonce..nonce).fold(U256::ZERO, |sum, (_, t)| sum.saturating_add(t.cost))
        });
        if pooled.saturating_add(valid.cost) > balance {
            return Err(PoolError::InsufficientFunds { balance, cost: valid.cost, pooled });
        }
        let tx = Arc::new(PooledTx {
            hash: valid.hash,
            sender,
            nonce,
            cost: valid.cost,
            tx: valid.tx,
            id: self.next_id,
            origin,
        });
        let bump = self.config.price_bump_percent;
        if let Some(old) = &existing {
            let enough = |new: u128, old: u128| new.saturating_mul(100) >= old.saturating_mul(100 + bump);
            if !enough(tx.max_fee(), old.max_fee()) || !enough(tx.max_tip(), old.max_tip()) {
                return Err(PoolError::ReplacementUnderpriced { bump_percent: bump });
            }
            for guard in &self.guards {
                guard.may_replace(old).map_err(PoolError::ReplacementRefused)?;
            }
            if self.replacement_overflows(old, valid.size, tx.max_tip()) {
                return Err(PoolError::PoolFull);
            }
        } else {
            self.check_account_queue(sender, nonce, state_nonce, balance)?;
            if self.by_hash.len() >= self.config.max_transactions {
                self.evict_for(&tx)?;
            }
        }
        self.next_id += 1;
        let entry = self.senders.entry(sender).or_default();
        entry.nonce = state_nonce;
        entry.balance = balance;
        if let Some(old) = entry.txs.insert(nonce, tx.clone()) {
            self.forget(&old.hash);
            self.emit(PoolEvent::Replaced { old: old.hash, new: tx.hash });
        }
        self.by_hash.insert(tx.hash, tx.clone());
        self.meta.insert(tx.hash, TxMeta { size: valid.size, arrived: Instant::now() });
        self.total_bytes = self.total_bytes.saturating_add(valid.size);
        self.reclassify(sender, Some(tx.hash));
        self.enforce_size_caps(Some(tx.hash))?;
        self.tx_listeners.retain(|l| l.send(tx.clone()));
        let sub = if self.pending.contains(&tx.hash) { SubPool::Pending } else { SubPool::Queued };
        Ok((tx.hash, sub))
    }

    /// Refuses a new transaction of `sender` at `nonce` that would wait queued when the sender already has
    /// `account_queue` queued (one that becomes pending is always taken: it only shortens the queue).
    fn check_account_queue(
        &self,
        sender: Address,
        nonce: u64,
        state_nonce: u64,
        balance: U256,
    ) -> Result<(), PoolError> {
        let Some(s) = self.senders.get(&sender) else { return Ok(()) };
        let slots = self.config.account_slots;
        let queued = s.txs.range(state_nonce..).count() - pending_run(state_nonce, balance, &s.txs, slots).len();
        // Pending when every nonce before it is pooled and it fits the slots (affordable: checked already).
        let offset = nonce - state_nonce;
        let becomes_pending = s.txs.range(state_nonce..nonce).count() as u64 == offset && offset < slots as u64;
        if !becomes_pending && queued >= self.config.account_queue {
            return Err(PoolError::AccountQueueFull { sender, max: self.config.account_queue });
        }
        Ok(())
    }

    /// Drops a transaction's hash, size and sub-pool membership (not its sender's entry).
    pub(crate) fn forget(&mut self, hash: &B256) {
        self.by_hash.remove(hash);
        if let Some(meta) = self.meta.remove(hash) {
            self.total_bytes = self.total_bytes.saturating_sub(meta.size);
            if self.pending.remove(hash) {
                self.pending_bytes = self.pending_bytes.saturating_sub(meta.size);
            }
        }
    }

    pub(crate) fn remove_tx(&mut self, tx: &PooledTx) {
        self.forget(&tx.hash);
        if let Some(s) = self.senders.get_mut(&tx.sender) {
            s.txs.remove(&tx.nonce);
            if s.txs.is_empty() {
                self.senders.remove(&tx.sender);
            }
        }
    }

    /// Recomputes `sender`'s pending run and emits Pending/Queued for what moved (and for `new`).
    pub(crate) fn reclassify(&mut self, sender: Address, new: Option<B256>) {
        let Some(s) = self.senders.get(&sender) else { return };
        let pending: B256Set = s.pending(self.config.account_slots).iter().map(|t| t.hash).collect();
        let all: Vec<B256> = s.txs.values().map(|t| t.hash).collect();
        for hash in all {
            let was = self.pending.contains(&hash);
            let is = pending.contains(&hash);
            let size = self.meta.get(&hash).map_or(0, |m| m.size);
            if is && !was {
                self.pending.insert(hash);
                self.pending_bytes = self.pending_bytes.saturating_add(size);
                self.emit(PoolEvent::Pending(hash));
            } else if !is && (was || new == Some(hash)) {
                if self.pending.remove(&hash) {
                    self.pending_bytes = self.pending_bytes.saturating_sub(size);
                }
                self.emit(PoolEvent::Queued(hash));
            }
        }
    }

    /// Applies a new head `block` (or an unwind to it): the new base fee, the transactions mined in it,
    /// and every pooled sender's new nonce and balance. Stale transactions leave the pool; others are
    /// promoted or demoted.
    pub fn on_new_head(
        &mut self,
        block: u64,
        base_fee: u64,
        mined: &[B256],
        state: &impl AccountState,
    ) -> Result<(), PoolError> {
        self.base_fee = base_fee;
        let mined: B256Set = mined.iter().copied().collect();
        let senders: Vec<Address> = self.senders.keys().copied().collect();
        for sender in senders {
            let (nonce, balance) = state.nonce_and_balance(&sender)?;
            let stale: Vec<Arc<PooledTx>> = match self.senders.get_mut(&sender) {
                Some(s) => {
                    s.nonce = nonce;
                    s.balance = balance;
                    s.txs.range(..nonce).map(|(_, t)| t.clone()).collect()
                }
                None => continue,
            };
            for tx in stale {
                self.remove_tx(&tx);
                self.emit(if mined.contains(&tx.hash) {
                    PoolEvent::Mined { hash: tx.hash, block }
                } else {
                    PoolEvent::Discarded(tx.hash)
                });
            }
            self.reclassify(sender, None);
        }
        // Promotions can push the pending bytes over their cap.
        let _ = self.enforce_size_caps(None);
        Ok(())
    }

    /// Removes transactions and the same senders' higher nonces, which can no longer execute; returns
    /// what was removed.
    pub fn remove_with_descendants(&mut self, hashes: &[B256]) -> Vec<Arc<PooledTx>> {
        self.remove_lineage(hashes, None)
    }

    /// Removes a transaction a block builder found can never execute (with its sender's later nonces):
    /// it gets [`PoolEvent::Invalid`] with `reason`, the others [`PoolEvent::Discarded`].
    pub fn remove_invalid(&mut self, hash: B256, reason: &str) -> Vec<Arc<PooledTx>> {
        self.remove_lineage(&[hash], Some(reason))
    }

    /// Removes a transaction a block producer refused for good, alone: it gets [`PoolEvent::Invalid`] with
    /// `reason`, and its sender's later nonces stay, queued behind the gap (the sender fills it again or
    /// cancels). Returns it if it was pooled.
    pub fn remove_rejected(&mut self, hash: B256, reason: &str) -> Option<Arc<PooledTx>> {
        let tx = self.by_hash.get(&hash).cloned()?;
        self.remove_tx(&tx);
        if self.rejected.insert(hash, reason.to_string()).is_none() {
            self.rejected_order.push_back(hash);
        }
        while self.rejected_order.len() > KEPT_REJECTIONS {
            if let Some(old) = self.rejected_order.pop_front() {
                self.rejected.remove(&old);
            }
        }
        self.emit(PoolEvent::Invalid { hash, reason: reason.to_string() });
        self.reclassify(tx.sender, None);
        Some(tx)
    }

    /// Why `hash` was rejected ([`Self::remove_rejected`]), if it was recently.
    pub fn rejection(&self, hash: &B256) -> Option<&str> {
        self.rejected.get(hash).map(String::as_str)
    }

    fn remove_lineage(&mut self, hashes: &[B256], reason: Option<&str>) -> Vec<Arc<PooledTx>> {
        let mut removed = vec![];
        for hash in hashes {
            let Some(tx) = self.by_hash.get(hash).cloned() else { continue };
            let doomed: Vec<Arc<PooledTx>> = self
                .senders
                .get(&tx.sender)
                .map(|s| s.txs.range(tx.nonce..).map(|(_, t)| t.clone()).collect())
                .unwrap_or_default();
            for t in doomed {
                self.remove_tx(&t);
                self.emit(match reason {
                    Some(reason) if t.hash == *hash => PoolEvent::Invalid { hash: t.hash, reason: reason.to_string() },
                    _ => PoolEvent::Discarded(t.hash),
                });
                removed.push(t);
            }
        }
        removed
    }

    /// The pending transactions ordered for block building: by effective tip at the current base fee,
    /// each sender's in nonce order.
    pub fn best_transactions(&self) -> BestTransactions {
        let slots = self.config.account_slots;
        BestTransactions::new(self.senders.values().map(|s| s.pending(slots)).collect(), self.base_fee)
    }

    /// A pooled transaction.
    pub fn get(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        self.by_hash.get(hash).cloned()
    }

    /// Every transaction of `sender`, in nonce order.
    pub fn sender_transactions(&self, sender: &Address) -> Vec<Arc<PooledTx>> {
        self.senders.get(sender).map(|s| s.txs.values().cloned().collect()).unwrap_or_default()
    }

    /// Every pending transaction.
    pub fn pending(&self) -> Vec<Arc<PooledTx>> {
        self.senders.values().flat_map(|s| s.pending(self.config.account_slots)).collect()
    }

    /// Every queued transaction.
    pub fn queued(&self) -> Vec<Arc<PooledTx>> {
        self.by_hash.values().filter(|t| !self.pending.contains(&t.hash)).cloned().collect()
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The base fee the pool orders by.
    pub fn base_fee(&self) -> u64 {
        self.base_fee
    }
}
