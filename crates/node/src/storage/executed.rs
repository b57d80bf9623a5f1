//! A block on its way into the store: executed, its roots (optionally) still to compute.

use alloy::consensus::{BlockBody, Header, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::Address;

use super::StateDiff;

/// A block ready to be stored: executed, with everything but (optionally) the state root known.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The header. Its state, transactions and receipts roots and its logs bloom are checked against the
    /// ones computed from the state change, body and receipts when `verify_roots` is set, and replaced by
    /// them otherwise.
    pub header: Header,
    /// Transactions and withdrawals.
    pub body: BlockBody<TxEnvelope>,
    /// The sender of each transaction.
    pub senders: Vec<Address>,
    /// One receipt per transaction (a zero bloom on a receipt with logs is filled in when it is stored).
    pub receipts: Vec<ReceiptEnvelope>,
    /// The state change.
    pub changes: StateChange,
    /// Whether the header's roots must match (imports) or are filled in (locally built blocks).
    pub verify_roots: bool,
}

/// A block's state change, in the form it arrived in: the store turns it into a [`StateDiff`] (its
/// sorted write order) when it writes the block, not on the executor's clock.
#[derive(Debug, Clone)]
pub enum StateChange {
    /// As execution left it.
    Executed(surge_primitives::block_state::BlockChanges),
    /// Already in the store's terms (a block replayed from the block log).
    Diff(StateDiff),
}

impl StateChange {
    /// The change in the store's terms.
    pub fn into_diff(self) -> StateDiff {
        match self {
            Self::Executed(changes) => StateDiff::from_changes(&changes),
            Self::Diff(diff) => diff,
        }
    }
}

/// A block a payload builder made; the store computes its roots when it commits it.
impl From<surge_interfaces::BuiltBlock> for ExecutedBlock {
    fn from(block: surge_interfaces::BuiltBlock) -> Self {
        ExecutedBlock {
            changes: StateChange::Executed(block.changes),
            header: block.header,
            body: block.body,
            senders: block.senders,
            receipts: block.receipts,
            verify_roots: false,
        }
    }
}
