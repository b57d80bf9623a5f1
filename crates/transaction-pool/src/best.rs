//! The best-transactions iterator a block builder drains.

use std::{
    cmp::{Ordering, Reverse},
    collections::{BinaryHeap, HashSet},
    sync::Arc,
};

use alloy_primitives::Address;

use surge_interfaces::{InvalidKind, PooledTx};

#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    tip: u128,
    id: Reverse<u64>,
    sender: usize,
    position: usize,
}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.tip, self.id).cmp(&(other.tip, other.id))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pending transactions, highest effective tip first (ties: first arrived), each sender's in nonce
/// order. A sender's run stops at a transaction whose fee cap is below the base fee.
#[derive(Debug)]
pub struct BestTransactions {
    runs: Vec<Vec<Arc<PooledTx>>>,
    heap: BinaryHeap<Candidate>,
    base_fee: u64,
    invalid: HashSet<Address>,
}

impl BestTransactions {
    pub(crate) fn new(runs: Vec<Vec<Arc<PooledTx>>>, base_fee: u64) -> Self {
        let mut best = Self { runs, heap: BinaryHeap::new(), base_fee, invalid: HashSet::new() };
        for sender in 0..best.runs.len() {
            best.push(sender, 0);
        }
        best
    }

    fn push(&mut self, sender: usize, position: usize) {
        if let Some(tx) = self.runs.get(sender).and_then(|r| r.get(position))
            && let Some(tip) = tx.effective_tip(self.base_fee)
        {
            self.heap.push(Candidate { tip, id: Reverse(tx.id), sender, position });
        }
    }

    /// Skips the rest of `tx`'s sender (its later nonces cannot execute without it).
    pub fn skip_sender(&mut self, tx: &PooledTx) {
        self.invalid.insert(tx.sender);
    }
}

/// Skips the sender; removing a permanently invalid transaction from the pool is the pool handle's part.
impl surge_interfaces::BestTransactions for BestTransactions {
    fn mark_invalid(&mut self, tx: &PooledTx, _kind: InvalidKind) {
        self.skip_sender(tx);
    }
}

impl Iterator for BestTransactions {
    type Item = Arc<PooledTx>;

    fn next(&mut self) -> Option<Arc<PooledTx>> {
        while let Some(c) = self.heap.pop() {
            let tx = self.runs[c.sender][c.position].clone();
            if self.invalid.contains(&tx.sender) {
                continue;
            }
            self.push(c.sender, c.position + 1);
            return Some(tx);
        }
        None
    }
}
