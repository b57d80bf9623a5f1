//! The pool: transactions by sender and nonce, split into pending (executable now: nonces contiguous from
//! the sender's nonce, affordable) and queued (the rest), with replacement, eviction and lifecycle events.

use std::{collections::BTreeMap, sync::Arc};

use alloy::consensus::Transaction;
use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, B256Map, B256Set},
};
use surge_interfaces::{Listener, ListenerSender, PoolEvent, PooledTx, ReplacementGuard, TransactionOrigin, listener};

use crate::{
    best::BestTransactions,
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
struct SenderTxs {
    nonce: u64,
    balance: U256,
    txs: BTreeMap<u64, Arc<PooledTx>>,
}

impl SenderTxs {
    /// The hashes of the pending run: contiguous nonces from the account nonce, affordable in sum.
    fn pending(&self) -> Vec<Arc<PooledTx>> {
        let mut out = vec![];
        let mut spent = U256::ZERO;
        for (expected, (nonce, tx)) in (self.nonce..).zip(self.txs.range(self.nonce..)) {
            spent = spent.saturating_add(tx.cost);
            if *nonce != expected || spent > self.balance {
                break;
            }
            out.push(tx.clone());
        }
        out
    }
}

/// The transaction pool.
#[derive(Debug)]
pub struct TxPool {
    config: PoolConfig,
    base_fee: u64,
    // Keys are hashes and addresses: a fixed-bytes hasher (foldhash, seeded per process) rather than SipHash,
    // which was most of moving the pool to a new head.
    senders: AddressMap<SenderTxs>,
    by_hash: B256Map<Arc<PooledTx>>,
    pending: B256Set,
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
            pending: B256Set::default(),
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

    /// Adds a guard every replacement must pass.
    pub fn add_replacement_guard(&mut self, guard: Arc<dyn ReplacementGuard>) {
        self.guards.push(guard);
    }

    /// Ends every listener (the node is shutting down).
    pub fn close_listeners(&mut self) {
        self.event_listeners.clear();
        self.tx_listeners.clear();
    }

    fn emit(&mut self, event: PoolEvent) {
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
        if nonce > state_nonce + self.config.max_nonce_gap {
            return Err(PoolError::NonceGapTooLarge { nonce, state_nonce });
        }
        if valid.cost > balance {
            return Err(PoolError::InsufficientFunds { balance, cost: valid.cost });
        }
        let tx = Arc::new(PooledTx {
            hash: valid.hash,
            sender: valid.sender,
            nonce,
            cost: valid.cost,
            tx: valid.tx,
            id: self.next_id,
            origin,
        });
        let bump = self.config.price_bump_percent;
        let existing = self.senders.get(&valid.sender).and_then(|s| s.txs.get(&nonce)).cloned();
        if let Some(old) = &existing {
            let enough = |new: u128, old: u128| new.saturating_mul(100) >= old.saturating_mul(100 + bump);
            if !enough(tx.max_fee(), old.max_fee()) || !enough(tx.max_tip(), old.max_tip()) {
                return Err(PoolError::ReplacementUnderpriced { bump_percent: bump });
            }
            for guard in &self.guards {
                guard.may_replace(old).map_err(PoolError::ReplacementRefused)?;
            }
        } else {
            let count = self.senders.get(&valid.sender).map_or(0, |s| s.txs.len());
            if count >= self.config.max_per_sender {
                return Err(PoolError::SenderLimit(valid.sender));
            }
            if self.by_hash.len() >= self.config.max_transactions {
                self.evict_for(&tx)?;
            }
        }
        self.next_id += 1;
        let entry = self.senders.entry(valid.sender).or_default();
        entry.nonce = state_nonce;
        entry.balance = balance;
        if let Some(old) = entry.txs.insert(nonce, tx.clone()) {
            self.by_hash.remove(&old.hash);
            self.pending.remove(&old.hash);
            self.emit(PoolEvent::Replaced { old: old.hash, new: tx.hash });
        }
        self.by_hash.insert(tx.hash, tx.clone());
        self.tx_listeners.retain(|l| l.send(tx.clone()));
        self.reclassify(valid.sender, Some(tx.hash));
        let sub = if self.pending.contains(&tx.hash) { SubPool::Pending } else { SubPool::Queued };
        Ok((tx.hash, sub))
    }

    /// Makes room for `incoming` by dropping the cheapest tail transaction (a sender's highest nonce, so
    /// no gap opens), or refuses it when it pays no more than that one.
    fn evict_for(&mut self, incoming: &PooledTx) -> Result<(), PoolError> {
        let worst = self
            .senders
            .values()
            .filter_map(|s| s.txs.values().next_back())
            .min_by_key(|t| (t.max_tip(), std::cmp::Reverse(t.id)))
            .cloned();
        match worst {
            Some(w) if w.max_tip() < incoming.max_tip() => {
                self.remove_tx(&w);
                self.emit(PoolEvent::Discarded(w.hash));
                self.reclassify(w.sender, None);
                Ok(())
            }
            _ => Err(PoolError::PoolFull),
        }
    }

    fn remove_tx(&mut self, tx: &PooledTx) {
        self.by_hash.remove(&tx.hash);
        self.pending.remove(&tx.hash);
        if let Some(s) = self.senders.get_mut(&tx.sender) {
            s.txs.remove(&tx.nonce);
            if s.txs.is_empty() {
                self.senders.remove(&tx.sender);
            }
        }
    }

    /// Recomputes `sender`'s pending run and emits Pending/Queued for what moved (and for `new`).
    fn reclassify(&mut self, sender: Address, new: Option<B256>) {
        let Some(s) = self.senders.get(&sender) else { return };
        let pending: B256Set = s.pending().iter().map(|t| t.hash).collect();
        let all: Vec<B256> = s.txs.values().map(|t| t.hash).collect();
        for hash in all {
            let was = self.pending.contains(&hash);
            let is = pending.contains(&hash);
            if is && !was {
                self.pending.insert(hash);
                self.emit(PoolEvent::Pending(hash));
            } else if !is && (was || new == Some(hash)) {
                self.pending.remove(&hash);
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
        BestTransactions::new(self.senders.values().map(SenderTxs::pending).collect(), self.base_fee)
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
        self.senders.values().flat_map(SenderTxs::pending).collect()
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
