//! Where the builder's user transactions come from (reth's `PayloadTransactions`).

use std::{collections::HashSet, sync::Arc};

use alloy::consensus::{TxEnvelope, transaction::Recovered};
use alloy_primitives::Address;
use surge_interfaces::{BestTransactions, InvalidKind, PooledTx, pool::without_sidecar};

/// Candidate transactions in block order.
pub trait PayloadTransactions {
    /// The next candidate, or `None` when there are no more.
    fn next_tx(&mut self) -> Option<Recovered<TxEnvelope>>;
    /// `tx` cannot go into this block (`kind` says whether ever): skip the rest of its sender's
    /// transactions too (their nonces would not follow).
    fn mark_invalid(&mut self, tx: &Recovered<TxEnvelope>, kind: InvalidKind);
}

/// The pool's best transactions.
pub struct PoolTransactions {
    best: Box<dyn BestTransactions>,
    current: Option<Arc<PooledTx>>,
}

impl std::fmt::Debug for PoolTransactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolTransactions").field("current", &self.current.as_ref().map(|t| t.hash)).finish()
    }
}

impl PoolTransactions {
    /// Drains `best`.
    pub fn new(best: Box<dyn BestTransactions>) -> Self {
        Self { best, current: None }
    }
}

impl PayloadTransactions for PoolTransactions {
    fn next_tx(&mut self) -> Option<Recovered<TxEnvelope>> {
        let tx = self.best.next()?;
        let recovered = Recovered::new_unchecked(without_sidecar(&tx.tx), tx.sender);
        self.current = Some(tx);
        Some(recovered)
    }

    fn mark_invalid(&mut self, tx: &Recovered<TxEnvelope>, kind: InvalidKind) {
        match &self.current {
            Some(current) if current.hash == *tx.tx_hash() => self.best.mark_invalid(current, kind),
            // Not the last one handed out (a rebuild pass): skipping the sender is all that is left to do.
            _ => {}
        }
    }
}

/// A fixed list in the given order (tests, replays, an external bundle source). Marking a transaction
/// invalid skips its sender's later ones; the marks are kept ([`ListTransactions::marked`]).
#[derive(Debug, Clone, Default)]
pub struct ListTransactions {
    txs: std::collections::VecDeque<Recovered<TxEnvelope>>,
    invalid: HashSet<Address>,
    marked: Vec<(alloy_primitives::B256, InvalidKind)>,
}

impl ListTransactions {
    /// Hands out `txs` in order.
    pub fn new(txs: impl IntoIterator<Item = Recovered<TxEnvelope>>) -> Self {
        Self { txs: txs.into_iter().collect(), invalid: HashSet::new(), marked: vec![] }
    }

    /// The transactions marked invalid, with how, in order.
    pub fn marked(&self) -> &[(alloy_primitives::B256, InvalidKind)] {
        &self.marked
    }
}

impl PayloadTransactions for ListTransactions {
    fn next_tx(&mut self) -> Option<Recovered<TxEnvelope>> {
        while let Some(tx) = self.txs.pop_front() {
            if !self.invalid.contains(&tx.signer()) {
                return Some(tx);
            }
        }
        None
    }

    fn mark_invalid(&mut self, tx: &Recovered<TxEnvelope>, kind: InvalidKind) {
        self.invalid.insert(tx.signer());
        self.marked.push((*tx.tx_hash(), kind));
    }
}
