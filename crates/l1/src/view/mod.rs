//! The L1 view: the state of one L1 block, pinned by hash, as a revm [`DatabaseRef`].
//!
//! Two sources stand behind [`L1StateSource`]: the embedded dev L1 through the host's
//! [`StateProviderFactory`](surge_interfaces::StateProviderFactory) seam ([`EmbeddedSource`]), and a remote
//! endpoint read lazily by block hash with batched JSON-RPC requests and a per-block cache
//! ([`RemoteSource`]). [`L1Views`] keeps the views of recent blocks, so a block's state is fetched once.
//!
//! Reads of a remote view wait for the network: simulate on a blocking thread
//! (`tokio::task::spawn_blocking`), never on an async task.

mod embedded;
mod remote;

use std::{
    collections::VecDeque,
    fmt,
    sync::{Arc, Mutex},
};

use alloy::consensus::Header;
use alloy_primitives::{Address, B256, U256};
use revm::{
    DatabaseRef,
    database_interface::DBErrorMarker,
    state::{AccountInfo, Bytecode},
};

pub use embedded::EmbeddedSource;
pub use remote::{DEFAULT_MAX_CACHED_ENTRIES, RemoteSource, RemoteStats};

/// A view could not be opened or read; every variant names the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The block is not (or no longer) on the L1 chain the source follows.
    #[error("L1 block {number} ({hash}): not on the chain ({reason})")]
    UnknownBlock {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
        /// What the source said.
        reason: String,
    },
    /// The source no longer serves the block's state (a pruned node, or a block too far back).
    #[error("L1 block {number} ({hash}): the endpoint no longer serves its state ({reason})")]
    StateUnavailable {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
        /// What the source said.
        reason: String,
    },
    /// A simulated call read more, or ran longer, than its budget allows.
    #[error("L1 block {number} ({hash}): the simulated call went over its budget: {reason}")]
    Budget {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
        /// Which limit.
        reason: String,
    },
    /// A read failed (the endpoint is down, timed out or answered nonsense; the store failed).
    #[error("L1 block {number} ({hash}): {what} failed: {reason}")]
    Read {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: B256,
        /// The read.
        what: String,
        /// Why.
        reason: String,
    },
}

impl DBErrorMarker for ViewError {}

/// The state of one block as the view reads it.
pub trait ViewState: DatabaseRef<Error = ViewError> + fmt::Debug + Send + Sync {}

impl<T: DatabaseRef<Error = ViewError> + fmt::Debug + Send + Sync> ViewState for T {}

/// Where views come from.
pub trait L1StateSource: Send + Sync + 'static {
    /// A short name for logs ("embedded", or the endpoint).
    fn name(&self) -> String;
    /// Opens the state of block `number` whose hash must be `hash`.
    fn open(&self, number: u64, hash: B256) -> impl std::future::Future<Output = Result<L1View, ViewError>> + Send;
}

/// The state of one L1 block, pinned by hash.
#[derive(Debug, Clone)]
pub struct L1View {
    header: Arc<Header>,
    hash: B256,
    state: Arc<dyn ViewState>,
}

impl L1View {
    /// A view of the block `header` (hashing to `hash`) reading `state`.
    pub fn new(header: Header, hash: B256, state: Arc<dyn ViewState>) -> Self {
        Self { header: Arc::new(header), hash, state }
    }

    /// The block's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The block's hash.
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The block's number.
    pub fn number(&self) -> u64 {
        self.header.number
    }
}

impl DatabaseRef for L1View {
    type Error = ViewError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ViewError> {
        self.state.basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ViewError> {
        self.state.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ViewError> {
        self.state.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ViewError> {
        self.state.block_hash_ref(number)
    }
}

/// The views of the most recent blocks asked for, reused while they are among the last `capacity`.
pub struct L1Views<S> {
    source: S,
    capacity: usize,
    recent: Mutex<VecDeque<Arc<L1View>>>,
}

impl<S: fmt::Debug> fmt::Debug for L1Views<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1Views").field("source", &self.source).field("capacity", &self.capacity).finish()
    }
}

/// How many block views [`L1Views`] keeps by default (an L1 minute).
pub const DEFAULT_VIEW_CAPACITY: usize = 5;

impl<S: L1StateSource> L1Views<S> {
    /// Views from `source`, keeping the last `capacity` (at least one).
    pub fn new(source: S, capacity: usize) -> Self {
        Self { source, capacity: capacity.max(1), recent: Mutex::new(VecDeque::new()) }
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The view of block `number` with hash `hash`: the kept one, or a new one (which then evicts the
    /// oldest beyond the capacity).
    pub async fn view(&self, number: u64, hash: B256) -> Result<Arc<L1View>, ViewError> {
        if let Some(v) = self.kept(hash) {
            return Ok(v);
        }
        let view = Arc::new(self.source.open(number, hash).await?);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        // Another caller may have opened it meanwhile: keep one.
        if let Some(v) = recent.iter().find(|v| v.hash == hash) {
            return Ok(v.clone());
        }
        recent.push_back(view.clone());
        while recent.len() > self.capacity {
            recent.pop_front();
        }
        Ok(view)
    }

    fn kept(&self, hash: B256) -> Option<Arc<L1View>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().find(|v| v.hash == hash).cloned()
    }
}
