//! Headers, state and proofs by block, and the chain's `safe` / `finalized` heights.

use std::sync::atomic::{AtomicU64, Ordering};

use alloy::consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256};
use revm::DatabaseRef;

/// A header with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
}

impl SealedHeader {
    /// Hashes `header`.
    pub fn seal(header: Header) -> Self {
        let hash = header.hash_slow();
        Self { header, hash }
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }
}

/// One storage slot's proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageProof {
    /// The slot.
    pub key: B256,
    /// Its value (zero when unset).
    pub value: U256,
    /// Trie nodes from the storage root to the slot.
    pub proof: Vec<Bytes>,
}

/// An account's proof with proofs of some of its slots, as `eth_getProof` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Balance (zero for an absent account).
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Code hash (`KECCAK_EMPTY` for an absent account).
    pub code_hash: B256,
    /// Storage root.
    pub storage_hash: B256,
    /// Trie nodes from the state root to the account.
    pub account_proof: Vec<Bytes>,
    /// The slots' proofs.
    pub storage_proof: Vec<StorageProof>,
    /// The state root the proof is against.
    pub state_root: B256,
}

/// Headers and state by block (reth's `StateProviderFactory`).
pub trait StateProviderFactory: Send + Sync {
    /// Read failure.
    type Error: std::error::Error + Send + Sync + revm::database_interface::DBErrorMarker + 'static;
    /// State at one block, as a revm database.
    type State: DatabaseRef<Error = Self::Error> + std::fmt::Debug + Send;

    /// The canonical head's header and hash.
    fn latest_header(&self) -> Result<(Header, B256), Self::Error>;
    /// A canonical header and its hash.
    fn header_by_number(&self, number: u64) -> Result<Option<(Header, B256)>, Self::Error>;
    /// The state after canonical block `number` (the head or a recent block).
    fn state_by_block_number(&self, number: u64) -> Result<Self::State, Self::Error>;
    /// The state at the head.
    fn latest(&self) -> Result<Self::State, Self::Error> {
        let (header, _) = self.latest_header()?;
        self.state_by_block_number(header.number)
    }
}

/// Canonical blocks' transactions (reth's `BlockReader`).
pub trait BlockReader: StateProviderFactory {
    /// The transactions of canonical block `number`, the anchor first; `None` above the head.
    fn block_transactions(&self, number: u64) -> Result<Option<Vec<alloy::consensus::TxEnvelope>>, Self::Error>;
    /// The canonical block holding transaction `hash`, if one does (`eth_getTransactionByHash`'s lookup).
    fn transaction_block(&self, hash: B256) -> Result<Option<u64>, Self::Error>;
    /// The receipts of canonical block `number`, one per transaction; `None` above the head.
    fn block_receipts(&self, number: u64) -> Result<Option<Vec<alloy::consensus::ReceiptEnvelope>>, Self::Error>;
}

/// Storage proofs (reth's `StateProofProvider`).
pub trait StateProofProvider: StateProviderFactory {
    /// `eth_getProof` of `address` and its `slots` after canonical block `number` (the head or a recent
    /// block). Read-only: a proof never waits for, or holds up, a block being committed.
    fn proof(&self, number: u64, address: Address, slots: &[B256]) -> Result<AccountProof, Self::Error>;
}

/// The chain's `safe` and `finalized` heights, set by whoever knows them (the proposer, once L1 has a
/// proposal and once that L1 block is final) and read by the RPC's block tags. Each is clamped to the head
/// when read.
#[derive(Debug)]
pub struct ChainTags {
    safe: AtomicU64,
    finalized: AtomicU64,
    follow_head: bool,
}

impl ChainTags {
    /// Both tags at `number` until set.
    pub fn new(number: u64) -> Self {
        Self { safe: AtomicU64::new(number), finalized: AtomicU64::new(number), follow_head: false }
    }

    /// Tags that always name the head (a dev chain where every block is final at once).
    pub fn at_head() -> Self {
        Self { safe: AtomicU64::new(u64::MAX), finalized: AtomicU64::new(u64::MAX), follow_head: true }
    }

    /// Sets the `safe` height.
    pub fn set_safe(&self, number: u64) {
        if !self.follow_head {
            self.safe.store(number, Ordering::Release);
        }
    }

    /// Raises the `finalized` height (a finalized block is safe too); it never moves back.
    pub fn set_finalized(&self, number: u64) {
        if !self.follow_head {
            self.finalized.fetch_max(number, Ordering::AcqRel);
            self.safe.fetch_max(number, Ordering::AcqRel);
        }
    }

    /// The `safe` block with the chain at `head`.
    pub fn safe(&self, head: u64) -> u64 {
        self.safe.load(Ordering::Acquire).min(head)
    }

    /// The `finalized` block with the chain at `head`.
    pub fn finalized(&self, head: u64) -> u64 {
        self.finalized.load(Ordering::Acquire).min(head)
    }
}
