//! Building a block on a parent (reth's `PayloadBuilder::try_build`), whoever's rules it follows.

use alloy::consensus::{BlockBody, Header, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256};
use surge_primitives::block_state::BlockChanges;

use crate::{
    evm::NextBlockAttributes,
    notifications::CommittedBlock,
    state::{SealedHeader, StateProviderFactory},
};

/// A payload builder's failure, with what failed and on which block in its message.
pub type PayloadBuilderError = Box<dyn std::error::Error + Send + Sync>;

/// A built block, ready for the host to compute its state root and commit it.
#[derive(Debug, Clone)]
pub struct BuiltBlock {
    /// The header; the host fills in the state root from `changes`, and the transactions root, receipts root
    /// and logs bloom from `body` and `receipts`, when it commits the block.
    pub header: Header,
    /// Transactions (and withdrawals).
    pub body: BlockBody<TxEnvelope>,
    /// The sender of each transaction.
    pub senders: Vec<Address>,
    /// One receipt per transaction. A receipt with logs may come with a zero bloom: the host fills it in
    /// when it commits the block, next to the receipts root (the committed block's receipts have theirs).
    pub receipts: Vec<ReceiptEnvelope>,
    /// What the block changed (the store records what undoes a block as it writes it).
    pub changes: BlockChanges,
}

/// Builds the next block.
pub trait PayloadBuilder<P: StateProviderFactory>: Send + Sync {
    /// The child of canonical block `parent` with `attributes`, from `provider`'s state.
    fn build(
        &self,
        provider: &P,
        parent: &SealedHeader,
        attributes: &NextBlockAttributes,
    ) -> Result<BuiltBlock, PayloadBuilderError>;

    /// The builder's own transactions in `blocks` (for example relay transactions of L1→L2 user ops),
    /// which must not return to the pool when the blocks are unwound. Reading them changes nothing.
    fn own_transactions(&self, _blocks: &[CommittedBlock]) -> Vec<B256> {
        vec![]
    }
}
