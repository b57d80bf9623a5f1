//! Views of the embedded dev L1, read through the host's `StateProviderFactory` seam: no RPC.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use alloy_primitives::{Address, B256, U256};
use revm::{
    DatabaseRef,
    state::{AccountInfo, Bytecode},
};
use surge_interfaces::StateProviderFactory;

use super::{L1StateSource, L1View, ViewError};

/// The embedded L1's state provider as a view source.
pub struct EmbeddedSource<P> {
    provider: Arc<P>,
}

impl<P> fmt::Debug for EmbeddedSource<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmbeddedSource")
    }
}

impl<P> Clone for EmbeddedSource<P> {
    fn clone(&self) -> Self {
        Self { provider: self.provider.clone() }
    }
}

impl<P: StateProviderFactory + 'static> EmbeddedSource<P> {
    /// Views of `provider`'s chain.
    pub fn new(provider: Arc<P>) -> Self {
        Self { provider }
    }

    fn open_now(&self, number: u64, hash: B256) -> Result<L1View, ViewError> {
        let read =
            |what: &str, e: P::Error| ViewError::Read { number, hash, what: what.to_string(), reason: e.to_string() };
        let (header, actual) = self
            .provider
            .header_by_number(number)
            .map_err(|e| read("reading the header", e))?
            .ok_or_else(|| ViewError::UnknownBlock { number, hash, reason: "no such block".into() })?;
        if actual != hash {
            let reason = format!("block {number} is {actual} now");
            return Err(ViewError::UnknownBlock { number, hash, reason });
        }
        let state = self.provider.state_by_block_number(number).map_err(|e| read("opening the state", e))?;
        let state = EmbeddedState { state: Mutex::new(state), number, hash };
        Ok(L1View::new(header, hash, Arc::new(state)))
    }
}

impl<P: StateProviderFactory + 'static> L1StateSource for EmbeddedSource<P> {
    fn name(&self) -> String {
        "embedded".into()
    }

    async fn open(&self, number: u64, hash: B256) -> Result<L1View, ViewError> {
        // The store reads from disk: keep that off the async task.
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.open_now(number, hash)).await.map_err(|e| ViewError::Read {
            number,
            hash,
            what: "opening the state".into(),
            reason: e.to_string(),
        })?
    }
}

/// One block's state of the embedded L1. The host's state reader is `Send`; the mutex makes the view
/// shareable between simulations.
struct EmbeddedState<S> {
    state: Mutex<S>,
    number: u64,
    hash: B256,
}

impl<S> fmt::Debug for EmbeddedState<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedState").field("number", &self.number).field("hash", &self.hash).finish()
    }
}

impl<S: DatabaseRef> EmbeddedState<S> {
    fn read<T>(&self, what: &str, f: impl FnOnce(&S) -> Result<T, S::Error>) -> Result<T, ViewError> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&state).map_err(|e| ViewError::Read {
            number: self.number,
            hash: self.hash,
            what: what.to_string(),
            reason: e.to_string(),
        })
    }
}

impl<S: DatabaseRef + Send> DatabaseRef for EmbeddedState<S> {
    type Error = ViewError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ViewError> {
        self.read("reading an account", |s| s.basic_ref(address))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ViewError> {
        self.read("reading code", |s| s.code_by_hash_ref(code_hash))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ViewError> {
        self.read("reading storage", |s| s.storage_ref(address, index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ViewError> {
        self.read("reading a block hash", |s| s.block_hash_ref(number))
    }
}
