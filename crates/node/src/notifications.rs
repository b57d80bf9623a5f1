//! Chain notifications, shaped like reth's ExEx notifications: `Committed`, `Reorged` and `Reverted`,
//! each carrying whole blocks (header, body, senders, receipts) and what they changed. Consumers report
//! the height they have finished with; a late subscriber catches up from a height of its choice.

use std::sync::{Arc, mpsc};

use alloy::consensus::{BlockBody, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::Address;

use crate::storage::{BlockRevert, ExecutedBlock, SealedHeader, Store, StoreError};

/// One canonical block as notifications carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBlock {
    /// The header and its hash.
    pub header: SealedHeader,
    /// Transactions (and withdrawals).
    pub body: BlockBody<TxEnvelope>,
    /// The sender of each transaction.
    pub senders: Vec<Address>,
    /// One receipt per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Every account and slot the block touched, with its value before the block.
    pub changes: BlockRevert,
}

/// Consecutive blocks, lowest first.
pub type Blocks = Arc<Vec<CommittedBlock>>;

/// What happened to the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainNotification {
    /// Blocks were added on top of the head.
    Committed {
        /// The new blocks.
        new: Blocks,
    },
    /// Blocks were replaced by others.
    Reorged {
        /// The blocks that left the canonical chain.
        old: Blocks,
        /// The blocks that replaced them.
        new: Blocks,
    },
    /// Blocks were removed.
    Reverted {
        /// The removed blocks.
        old: Blocks,
    },
}

/// A subscription: notifications arrive on `receiver`; report progress with [`Chain::finished_height`].
#[derive(Debug)]
pub struct Subscription {
    /// This consumer's id.
    pub id: usize,
    /// Where notifications arrive.
    pub receiver: mpsc::Receiver<ChainNotification>,
}

struct Consumer {
    sender: mpsc::Sender<ChainNotification>,
    finished: Option<u64>,
}

/// The canonical chain: the store plus the notifications of every change made through it.
pub struct Chain {
    store: Arc<Store>,
    consumers: Vec<Option<Consumer>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("consumers", &self.consumers.len()).finish()
    }
}

impl Chain {
    /// Wraps a store.
    pub fn new(store: impl Into<Arc<Store>>) -> Self {
        Self { store: store.into(), consumers: vec![] }
    }

    /// The store (reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, shared (readers such as the RPC server read without taking the chain's lock).
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Subscribes from now on.
    pub fn subscribe(&mut self) -> Subscription {
        let (sender, receiver) = mpsc::channel();
        self.consumers.push(Some(Consumer { sender, finished: None }));
        Subscription { id: self.consumers.len() - 1, receiver }
    }

    /// Subscribes and first receives the canonical blocks above `height` as one `Committed`.
    pub fn subscribe_from(&mut self, height: u64) -> Result<Subscription, StoreError> {
        let head = self.store.head()?.header.number;
        let sub = self.subscribe();
        if head > height {
            let blocks = (height + 1..=head).map(|n| self.load(n)).collect::<Result<Vec<_>, _>>()?;
            self.send_to(sub.id, ChainNotification::Committed { new: Arc::new(blocks) });
        }
        Ok(sub)
    }

    /// Records that consumer `id` is done with every block up to `height` (what may be pruned).
    pub fn finished_height(&mut self, id: usize, height: u64) {
        if let Some(Some(c)) = self.consumers.get_mut(id) {
            c.finished = Some(height);
        }
    }

    /// The lowest height every live consumer has finished, `None` while one has not reported.
    pub fn min_finished_height(&self) -> Option<u64> {
        let mut live = self.consumers.iter().flatten().peekable();
        live.peek()?;
        live.map(|c| c.finished).collect::<Option<Vec<u64>>>()?.into_iter().min()
    }

    fn send_to(&mut self, id: usize, n: ChainNotification) {
        if let Some(slot) = self.consumers.get_mut(id)
            && let Some(c) = slot
            && c.sender.send(n).is_err()
        {
            *slot = None;
        }
    }

    fn broadcast(&mut self, n: ChainNotification) {
        for id in 0..self.consumers.len() {
            self.send_to(id, n.clone());
        }
    }

    fn load(&self, number: u64) -> Result<CommittedBlock, StoreError> {
        let missing = |what: &str| StoreError::Corrupt(format!("{what} of block {number} missing"));
        Ok(CommittedBlock {
            header: self.store.header(number)?.ok_or_else(|| missing("header"))?,
            body: self.store.body(number)?.ok_or_else(|| missing("body"))?,
            senders: self.store.senders(number)?.ok_or_else(|| missing("senders"))?,
            receipts: self.store.receipts(number)?.ok_or_else(|| missing("receipts"))?,
            changes: self.store.block_changes(number)?.ok_or_else(|| missing("changes"))?,
        })
    }

    /// Commits a block on top of the head and notifies `Committed`.
    pub fn commit(&mut self, block: ExecutedBlock) -> Result<SealedHeader, StoreError> {
        let sealed = self.store.commit_block(block)?;
        let committed = self.load(sealed.header.number)?;
        self.broadcast(ChainNotification::Committed { new: Arc::new(vec![committed]) });
        Ok(sealed)
    }

    /// Removes the blocks above `target` and notifies `Reverted`.
    pub fn revert_to(&mut self, target: u64) -> Result<(), StoreError> {
        let old = self.unwind(target)?;
        if !old.is_empty() {
            self.broadcast(ChainNotification::Reverted { old: Arc::new(old) });
        }
        Ok(())
    }

    /// Replaces the blocks above `target` with `new` (built on block `target`) and notifies one
    /// `Reorged` with exactly the old and the new blocks. Stops at the first block that fails, leaving the
    /// chain at the blocks applied so far (the old ones are reported as gone).
    pub fn reorg(
        &mut self,
        target: u64,
        new: impl IntoIterator<Item = impl FnOnce(&Store) -> Result<ExecutedBlock, StoreError>>,
    ) -> Result<(), StoreError> {
        let old = self.unwind(target)?;
        let mut added = vec![];
        let mut failure = None;
        for build in new {
            match build(&self.store).and_then(|b| self.store.commit_block(b)) {
                Ok(sealed) => added.push(self.load(sealed.header.number)?),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        self.broadcast(ChainNotification::Reorged { old: Arc::new(old), new: Arc::new(added) });
        failure.map_or(Ok(()), Err)
    }

    fn unwind(&mut self, target: u64) -> Result<Vec<CommittedBlock>, StoreError> {
        let head = self.store.head()?.header.number;
        let old = (target + 1..=head).map(|n| self.load(n)).collect::<Result<Vec<_>, _>>()?;
        self.store.unwind_to(target)?;
        Ok(old)
    }
}
