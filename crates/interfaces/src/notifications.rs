//! Chain notifications, shaped like reth's ExEx notifications: `Committed`, `Reorged` and `Reverted`
//! chains carrying whole blocks (header, body, senders, receipts) and their state changes, as bounded async
//! streams. The host promises that a consumer that falls behind is never waited for and misses nothing:
//! once its buffer is full it stops receiving live notifications and, when it has drained its buffer,
//! catches up from the host's store; the same serves a consumer that subscribes with the height it had
//! finished before a restart. Consumers report [`FinishedHeight`] as reth's `ExExEvent::FinishedHeight`.
//! The stream itself is the host's ([`NotificationStream`]); extensions hold it as [`ChainNotifications`].

use std::{future::Future, pin::Pin, sync::Arc};

use alloy::consensus::{BlockBody, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, U256};

use crate::state::SealedHeader;

/// An account's values in a block's state changes (`None`: no account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountValues {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Code hash.
    pub code_hash: B256,
}

/// An account a block touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account.
    pub address: Address,
    /// Before the block.
    pub before: Option<AccountValues>,
    /// After the block.
    pub after: Option<AccountValues>,
}

/// A storage slot a block touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageChange {
    /// The account.
    pub address: Address,
    /// The slot.
    pub slot: B256,
    /// Before the block (zero: unset).
    pub before: U256,
    /// After the block.
    pub after: U256,
}

/// What a block changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// Accounts.
    pub accounts: Vec<AccountChange>,
    /// Storage slots.
    pub storage: Vec<StorageChange>,
}

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
    /// Every account and slot the block touched.
    pub changes: StateChanges,
}

impl CommittedBlock {
    /// The block's number.
    pub fn number(&self) -> u64 {
        self.header.header.number
    }
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

impl ChainNotification {
    /// The blocks that left the chain, if any.
    pub fn reverted(&self) -> Option<&Blocks> {
        match self {
            Self::Committed { .. } => None,
            Self::Reorged { old, .. } | Self::Reverted { old } => Some(old),
        }
    }

    /// The blocks that joined the chain, if any.
    pub fn committed(&self) -> Option<&Blocks> {
        match self {
            Self::Reverted { .. } => None,
            Self::Committed { new } | Self::Reorged { new, .. } => Some(new),
        }
    }
}

/// The highest block a consumer is done with (reth's `ExExEvent::FinishedHeight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedHeight {
    /// The block number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// A subscription could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The consumer's finished block is not canonical (it was reorged away while the consumer was down).
    #[error("finished height {number} ({hash}) is not a canonical block: the chain there is {canonical:?}")]
    NotCanonical {
        /// The number.
        number: u64,
        /// The consumer's hash.
        hash: B256,
        /// The canonical hash, if the chain reaches that height.
        canonical: Option<B256>,
    },
    /// Reading the store failed.
    #[error("reading the chain: {0}")]
    Source(String),
}

/// Chain notifications for extensions (ExEx-style).
pub trait CanonStateSubscriptions: Send + Sync {
    /// Subscribes. With `finished`, first catches up on the canonical blocks above that height (a
    /// consumer resuming after a restart); without, starts at the current head.
    fn subscribe(&self, finished: Option<FinishedHeight>) -> Result<ChainNotifications, SubscribeError>;
    /// The lowest height every live consumer has finished, `None` while one has not reported.
    fn min_finished_height(&self) -> Option<u64>;
}

/// The next notification of a [`NotificationStream`], boxed.
pub type NextNotification<'a> = Pin<Box<dyn Future<Output = Option<Result<ChainNotification, String>>> + Send + 'a>>;

/// A consumer's notification stream as the host implements it (the host's fan-out with catch-up).
/// Dropping it unsubscribes the consumer.
pub trait NotificationStream: Send + Sync + std::fmt::Debug {
    /// The next notification, in chain order; `None` once the chain is gone; `Err` when catching up failed
    /// (the stream goes on: it tries again).
    fn next(&mut self) -> NextNotification<'_>;
    /// Reports that this consumer is done with every block up to `height` (what the host may prune).
    fn finished(&self, height: FinishedHeight);
    /// Notifications waiting in this consumer's buffer.
    fn depth(&self) -> usize;
}

/// A consumer's notification stream.
#[derive(Debug)]
pub struct ChainNotifications(Box<dyn NotificationStream>);

impl ChainNotifications {
    /// Wraps the host's stream.
    pub fn new(stream: impl NotificationStream + 'static) -> Self {
        Self(Box::new(stream))
    }

    /// The next notification, in chain order; `None` once the chain is gone. Catching up reads the store
    /// on a blocking thread.
    pub async fn next(&mut self) -> Option<Result<ChainNotification, String>> {
        self.0.next().await
    }

    /// Reports that this consumer is done with every block up to `height` (what the host may prune).
    pub fn finished(&self, height: FinishedHeight) {
        self.0.finished(height);
    }

    /// Notifications waiting in this consumer's buffer (at most the host's capacity).
    pub fn depth(&self) -> usize {
        self.0.depth()
    }
}
