//! The canonical chain and its notifications: every commit, reorg and revert made through [`Chain`] goes
//! out through a [`NotificationHub`] (bounded per consumer, catch-up from the store for consumers that fall
//! behind or resume from a finished height).

mod hub;

pub use hub::{BlockSource, NotificationHub};

use std::{ops::RangeInclusive, sync::Arc};

use alloy_primitives::B256;
use surge_interfaces::{AccountChange, AccountValues, ChainNotification, CommittedBlock, StateChanges, StorageChange};

use crate::storage::{
    CommitTimes, CommittedParts, ExecutedBlock, SealedHeader, Store, StoreError, tables::StoredAccount,
};

pub use surge_interfaces::{Blocks, ChainNotifications};

/// Notifications a consumer may have waiting before it counts as behind.
pub const DEFAULT_NOTIFICATION_CAPACITY: usize = 64;

/// The canonical chain: the store plus the notifications of every change made through it.
pub struct Chain {
    store: Arc<Store>,
    hub: Arc<NotificationHub>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("hub", &self.hub).finish()
    }
}

/// The store as the hub's catch-up source.
#[derive(Debug, Clone)]
pub struct StoreBlocks(pub Arc<Store>);

impl BlockSource for StoreBlocks {
    fn blocks(&self, range: RangeInclusive<u64>) -> Result<Vec<CommittedBlock>, String> {
        load_blocks(&self.0, range).map_err(|e| e.to_string())
    }

    fn canonical_hash(&self, number: u64) -> Result<Option<B256>, String> {
        self.0.header(number).map(|h| h.map(|h| h.hash)).map_err(|e| e.to_string())
    }
}

impl Chain {
    /// Wraps a store; consumers may have `capacity` notifications waiting.
    pub fn new(store: impl Into<Arc<Store>>, capacity: usize) -> Result<Self, StoreError> {
        let store = store.into();
        let tip = store.head()?.header.number;
        let hub = NotificationHub::new(Arc::new(StoreBlocks(store.clone())), tip, capacity);
        Ok(Self { store, hub })
    }

    /// The store (reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, shared (readers such as the RPC server read without taking the chain's lock).
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// The notification hub (subscriptions never need the chain's lock).
    pub fn hub(&self) -> Arc<NotificationHub> {
        self.hub.clone()
    }

    /// Commits a block on top of the head and notifies `Committed`.
    pub fn commit(&mut self, block: ExecutedBlock) -> Result<SealedHeader, StoreError> {
        Ok(self.commit_timed(block)?.0)
    }

    /// [`Self::commit`], with how long the store took (the notification carries the block as written, not
    /// read back).
    pub fn commit_timed(&mut self, block: ExecutedBlock) -> Result<(SealedHeader, CommitTimes), StoreError> {
        let (committed, times) = self.store.commit_block_timed(block)?;
        let sealed = committed.header.clone();
        match committed_block(committed) {
            Ok(new) => self.hub.notify(ChainNotification::Committed { new: Arc::new(vec![new]) }),
            Err(e) => {
                tracing::warn!(number = sealed.header.number, error = %e, "the block committed, its notification is read from the store");
                self.hub.catch_up_to(sealed.header.number);
            }
        }
        Ok((sealed, times))
    }

    /// Removes the blocks above `target` and notifies `Reverted`; returns the removed blocks.
    pub fn revert_to(&mut self, target: u64) -> Result<Blocks, StoreError> {
        Ok(self.revert_to_then(target, |_, _| ())?.0)
    }

    /// [`Self::revert_to`], running `then` on the unwound store with the removed blocks before `Reverted`
    /// goes out: a consumer hearing of the revert then sees what `then` did (the pool holding the unwound
    /// transactions again), never the moment between.
    pub fn revert_to_then<R>(
        &mut self,
        target: u64,
        then: impl FnOnce(&Store, &[CommittedBlock]) -> R,
    ) -> Result<(Blocks, R), StoreError> {
        let old = Arc::new(self.unwind(target)?);
        let done = then(&self.store, &old);
        if !old.is_empty() {
            self.hub.notify(ChainNotification::Reverted { old: old.clone() });
        }
        Ok((old, done))
    }

    /// Replaces the blocks above `target` with `new` (built on block `target`) and notifies one
    /// `Reorged` with exactly the old and the new blocks. Stops at the first block that fails, leaving the
    /// chain at the blocks applied so far (the old ones are reported as gone).
    pub fn reorg(
        &mut self,
        target: u64,
        new: impl IntoIterator<Item = impl FnOnce(&Store) -> Result<ExecutedBlock, StoreError>>,
    ) -> Result<(), StoreError> {
        let old = Arc::new(self.unwind(target)?);
        let mut added = vec![];
        let mut failure = None;
        for build in new {
            match build(&self.store).and_then(|b| self.store.commit_block_timed(b)) {
                Ok((committed, _)) => added.push(committed),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let head = added.last().map_or(target, |b| b.header.header.number);
        match added.into_iter().map(committed_block).collect::<Result<Vec<_>, _>>() {
            Ok(new) => self.hub.notify(ChainNotification::Reorged { old, new: Arc::new(new) }),
            Err(e) => {
                tracing::warn!(head, error = %e, "the new blocks committed, their notification is read from the store");
                self.hub.notify(ChainNotification::Reverted { old });
                self.hub.catch_up_to(head);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    fn unwind(&mut self, target: u64) -> Result<Vec<CommittedBlock>, StoreError> {
        let head = self.store.head()?.header.number;
        let old = if target < head { load_blocks(&self.store, target + 1..=head)? } else { vec![] };
        self.store.unwind_to(target)?;
        Ok(old)
    }
}

fn values(a: Option<StoredAccount>) -> Option<AccountValues> {
    a.map(|a| AccountValues { nonce: a.nonce, balance: a.balance, code_hash: a.code_hash })
}

/// Canonical blocks `range` (up to the head) with their state changes, from one snapshot.
pub fn load_blocks(store: &Store, range: RangeInclusive<u64>) -> Result<Vec<CommittedBlock>, StoreError> {
    let snapshot = store.snapshot()?;
    let head = snapshot.head()?.header.number;
    let missing = |what: &str, n: u64| StoreError::Corrupt(format!("{what} of block {n} missing"));
    let mut blocks = Vec::new();
    for n in *range.start()..=(*range.end()).min(head) {
        blocks.push(committed_block(CommittedParts {
            header: snapshot.header(n)?.ok_or_else(|| missing("header", n))?,
            body: snapshot.body(n)?.ok_or_else(|| missing("body", n))?,
            senders: snapshot.senders(n)?.ok_or_else(|| missing("senders", n))?,
            receipts: snapshot.receipts(n)?.ok_or_else(|| missing("receipts", n))?,
            before: snapshot.block_changes(n)?.ok_or_else(|| missing("changes", n))?,
            after: snapshot.block_changes_after(n)?.ok_or_else(|| missing("changes after", n))?,
        })?);
    }
    Ok(blocks)
}

/// A committed block with its changes paired up (before and after list the same keys in the same order).
fn committed_block(parts: CommittedParts) -> Result<CommittedBlock, StoreError> {
    let CommittedParts { header, body, senders, receipts, before, after } = parts;
    if before.accounts.len() != after.accounts.len() || before.storage.len() != after.storage.len() {
        let n = header.header.number;
        return Err(StoreError::Corrupt(format!("changes of block {n}: before and after disagree")));
    }
    let accounts = before.accounts.into_iter().zip(after.accounts);
    let storage = before.storage.into_iter().zip(after.storage);
    let changes = StateChanges {
        accounts: accounts
            .map(|((address, b), (_, a))| AccountChange { address, before: values(b), after: values(a) })
            .collect(),
        storage: storage
            .map(|((address, slot, before), (_, _, after))| StorageChange { address, slot, before, after })
            .collect(),
    };
    Ok(CommittedBlock { header, body, senders, receipts, changes })
}
