//! Making room: the full pool's cheapest tail, the byte caps of the pending and queued sub-pools, and the
//! lifetime sweep of queued transactions.

use std::{cmp::Reverse, sync::Arc, time::Instant};

use alloy_primitives::B256;
use surge_interfaces::{PoolEvent, PooledTx};

use crate::{PoolError, TxPool};

/// Which sub-pool is over its byte cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Queued,
    Pending,
}

impl TxPool {
    /// Makes room for `incoming` by dropping the cheapest tail transaction (a sender's highest nonce, so
    /// no gap opens) that no guard keeps, or refuses it when it pays no more than that one.
    pub(crate) fn evict_for(&mut self, incoming: &PooledTx) -> Result<(), PoolError> {
        let worst = self
            .senders
            .values()
            .filter_map(|s| s.txs.values().next_back())
            .filter(|t| !self.guarded(t))
            .min_by_key(|t| (t.max_tip(), Reverse(t.id)))
            .cloned();
        match worst {
            Some(w) if w.max_tip() < incoming.max_tip() => {
                self.discard(&[w]);
                Ok(())
            }
            _ => Err(PoolError::PoolFull),
        }
    }

    /// Removes `txs` as evicted ([`PoolEvent::Discarded`]) and re-sorts their senders.
    fn discard(&mut self, txs: &[Arc<PooledTx>]) {
        for tx in txs {
            self.remove_tx(tx);
            self.emit(PoolEvent::Discarded(tx.hash));
        }
        for tx in txs {
            self.reclassify(tx.sender, None);
        }
    }

    /// Bytes of queued transactions.
    pub fn queued_bytes(&self) -> usize {
        self.total_bytes.saturating_sub(self.pending_bytes)
    }

    /// Bytes of pending transactions.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    fn over_cap(&self) -> Option<Over> {
        if self.queued_bytes() > self.config.queued_max_bytes {
            Some(Over::Queued)
        } else if self.pending_bytes > self.config.pending_max_bytes {
            Some(Over::Pending)
        } else {
            None
        }
    }

    /// While a sub-pool is over its byte cap, evicts its lowest-priced transaction that opens no gap:
    /// queued, some sender's highest nonce; pending, the last of some sender's run, with the sender's
    /// queued transactions after it (they cannot run without it). Ties go against the newest, as reth
    /// drops the worst first. When `incoming` is evicted it is refused: "txpool is full". Transactions a
    /// guard keeps are not candidates; when only they are left, `incoming` is the one refused.
    pub(crate) fn enforce_size_caps(&mut self, incoming: Option<B256>) -> Result<(), PoolError> {
        while let Some(over) = self.over_cap() {
            let victim =
                self.candidates(over).filter(|t| !self.guarded(t)).min_by_key(|t| (t.max_tip(), Reverse(t.id)));
            let Some(victim) = victim else {
                // Only the newcomer may go, and only from the sub-pool that is over its cap.
                let in_over = |h: &B256| self.pending.contains(h) == (over == Over::Pending);
                let Some(incoming) = incoming.filter(in_over).and_then(|h| self.by_hash.get(&h).cloned()) else {
                    break;
                };
                self.discard(&[incoming]);
                return Err(PoolError::PoolFull);
            };
            let doomed: Vec<Arc<PooledTx>> = match over {
                Over::Queued => vec![victim],
                Over::Pending => self
                    .senders
                    .get(&victim.sender)
                    .map(|s| s.txs.range(victim.nonce..).map(|(_, t)| t.clone()).collect())
                    .unwrap_or_default(),
            };
            let refused = incoming.is_some_and(|h| doomed.iter().any(|t| t.hash == h));
            self.discard(&doomed);
            if refused {
                return Err(PoolError::PoolFull);
            }
        }
        Ok(())
    }

    /// What the byte cap of `over` may evict, one per sender: the last of its queued transactions, or the
    /// last of its pending run (evicting it opens no gap).
    fn candidates(&self, over: Over) -> impl Iterator<Item = Arc<PooledTx>> + '_ {
        let slots = self.config.account_slots;
        self.senders.values().filter_map(move |s| match over {
            // The pending run is a prefix, so a sender with anything queued has its last one queued.
            Over::Queued => s.txs.values().next_back().filter(|t| !self.pending.contains(&t.hash)).cloned(),
            Over::Pending => s.pending(slots).pop().filter(|t| self.pending.contains(&t.hash)),
        })
    }

    /// Whether replacing `old` with a transaction of `size` bytes tipping `tip` would take its sub-pool
    /// over its byte cap and be the first evicted: then the replacement is refused before anything
    /// changes, and `old` stays (replacing first would cost the sender both).
    pub(crate) fn replacement_overflows(&self, old: &PooledTx, size: usize, tip: u128) -> bool {
        let grows = size.saturating_sub(self.meta.get(&old.hash).map_or(0, |m| m.size));
        let (over, bytes, cap) = match self.pending.contains(&old.hash) {
            true => (Over::Pending, self.pending_bytes, self.config.pending_max_bytes),
            false => (Over::Queued, self.queued_bytes(), self.config.queued_max_bytes),
        };
        if grows == 0 || bytes.saturating_add(grows) <= cap {
            return false;
        }
        let (mut is_candidate, mut cheapest_other) = (false, None::<u128>);
        for c in self.candidates(over) {
            if c.hash == old.hash {
                is_candidate = true;
            } else {
                cheapest_other = Some(cheapest_other.map_or(c.max_tip(), |m| m.min(c.max_tip())));
            }
        }
        // Ties go against the newest: the replacement.
        is_candidate && cheapest_other.is_none_or(|m| tip <= m)
    }

    /// Evicts the queued transactions of every sender none of whose transactions arrived within the
    /// configured lifetime before `now` (geth's `--txpool.lifetime`, which times out an idle account's
    /// queue as a whole: expiring one nonce alone would strand the later ones behind its gap), each with
    /// [`PoolEvent::Discarded`]; returns their hashes. Pending transactions stay, however old. The node
    /// calls this periodically with the current time.
    pub fn evict_expired(&mut self, now: Instant) -> Vec<B256> {
        let lifetime = self.config.lifetime;
        let arrived = |t: &Arc<PooledTx>| self.meta.get(&t.hash).map(|m| m.arrived);
        let expired: Vec<Arc<PooledTx>> = self
            .senders
            .values()
            .filter(|s| {
                s.txs
                    .values()
                    .filter_map(arrived)
                    .max()
                    .is_some_and(|last| now.saturating_duration_since(last) > lifetime)
            })
            .flat_map(|s| s.txs.values().filter(|t| !self.pending.contains(&t.hash)).cloned())
            .collect();
        self.discard(&expired);
        expired.iter().map(|t| t.hash).collect()
    }
}
