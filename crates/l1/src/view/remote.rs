//! Views of a remote L1 endpoint: accounts, code and storage fetched lazily by block hash (EIP-1898), one
//! batched JSON-RPC request per account (balance, nonce and code together) or slot, cached per block with a
//! bound on the entries kept.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use alloy::{
    eips::{BlockId, BlockNumberOrTag, RpcBlockHash},
    providers::Provider,
    rpc::client::BatchRequest,
};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use revm::{
    DatabaseRef,
    state::{AccountInfo, Bytecode},
};
use tokio::runtime::Handle;

use super::{L1StateSource, L1View, ViewError};
use crate::client::L1Client;

/// Entries (accounts, slots, codes, block hashes) one remote view caches by default.
pub const DEFAULT_MAX_CACHED_ENTRIES: usize = 200_000;

/// Requests a remote source has sent, over all its views.
#[derive(Debug, Default)]
pub struct RemoteStats {
    batches: AtomicU64,
    calls: AtomicU64,
}

impl RemoteStats {
    /// HTTP (or WebSocket) requests sent: one per batch.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// JSON-RPC calls inside those requests.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// A remote L1 endpoint as a view source.
#[derive(Debug, Clone)]
pub struct RemoteSource {
    client: L1Client,
    max_entries: usize,
    stats: Arc<RemoteStats>,
}

impl RemoteSource {
    /// Views read through `client`, each caching at most `max_entries` entries.
    pub fn new(client: L1Client, max_entries: usize) -> Self {
        Self { client, max_entries, stats: Arc::default() }
    }

    /// The requests sent so far.
    pub fn stats(&self) -> Arc<RemoteStats> {
        self.stats.clone()
    }
}

impl L1StateSource for RemoteSource {
    fn name(&self) -> String {
        self.client.endpoint().to_string()
    }

    async fn open(&self, number: u64, hash: B256) -> Result<L1View, ViewError> {
        let read = |reason: String| ViewError::Read { number, hash, what: "eth_getBlockByHash".into(), reason };
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let block = self
            .client
            .run("eth_getBlockByHash", self.client.provider().get_block_by_hash(hash))
            .await
            .map_err(|e| read(e.to_string()))?
            .ok_or_else(|| ViewError::UnknownBlock { number, hash, reason: "the endpoint does not know it".into() })?;
        let header = block.header.inner;
        if header.number != number {
            let reason = format!("the endpoint has it at height {}", header.number);
            return Err(ViewError::UnknownBlock { number, hash, reason });
        }
        let handle = Handle::try_current().map_err(|e| read(format!("no async runtime: {e}")))?;
        let state = RemoteState {
            client: self.client.clone(),
            handle,
            number,
            hash,
            max_entries: self.max_entries,
            cache: Mutex::default(),
            stats: self.stats.clone(),
        };
        Ok(L1View::new(header, hash, Arc::new(state)))
    }
}

#[derive(Default)]
struct Cache {
    accounts: HashMap<Address, Option<AccountInfo>>,
    codes: HashMap<B256, Bytecode>,
    storage: HashMap<(Address, U256), U256>,
    block_hashes: HashMap<u64, B256>,
}

impl Cache {
    fn len(&self) -> usize {
        self.accounts.len() + self.codes.len() + self.storage.len() + self.block_hashes.len()
    }
}

/// One block's state at a remote endpoint.
struct RemoteState {
    client: L1Client,
    handle: Handle,
    number: u64,
    hash: B256,
    max_entries: usize,
    cache: Mutex<Cache>,
    stats: Arc<RemoteStats>,
}

impl fmt::Debug for RemoteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteState").field("number", &self.number).field("hash", &self.hash).finish()
    }
}

/// Answers that mean "this node does not have that state" (geth, reth, erigon, nethermind, anvil).
const STATE_GONE: &[&str] = &[
    "missing trie node",
    "header not found",
    "unknown block",
    "historical state",
    "pruned",
    "not available",
    "out of range",
    "outofrange",
];

impl RemoteState {
    fn block(&self) -> BlockId {
        BlockId::Hash(RpcBlockHash::from_hash(self.hash, None))
    }

    fn error(&self, what: &str, reason: String) -> ViewError {
        let lower = reason.to_lowercase();
        if STATE_GONE.iter().any(|s| lower.contains(s)) {
            ViewError::StateUnavailable { number: self.number, hash: self.hash, reason }
        } else {
            ViewError::Read { number: self.number, hash: self.hash, what: what.to_string(), reason }
        }
    }

    fn cached<T>(&self, f: impl FnOnce(&Cache) -> Option<T>) -> Option<T> {
        f(&self.cache.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn remember(&self, f: impl FnOnce(&mut Cache)) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        // Past the bound the view keeps working, uncached.
        if cache.len() < self.max_entries {
            f(&mut cache);
        }
    }
}

impl DatabaseRef for RemoteState {
    type Error = ViewError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ViewError> {
        if let Some(hit) = self.cached(|c| c.accounts.get(&address).cloned()) {
            return Ok(hit);
        }
        let block = self.block();
        let client = self.client.clone();
        let fetched = self.fetch("fetching an account", 3, async move {
            let mut batch = BatchRequest::new(client.provider().client());
            let balance = batch.add_call::<_, U256>("eth_getBalance", &(address, block))?;
            let nonce = batch.add_call::<_, U64>("eth_getTransactionCount", &(address, block))?;
            let code = batch.add_call::<_, Bytes>("eth_getCode", &(address, block))?;
            batch.send().await?;
            Ok((balance.await?, nonce.await?, code.await?))
        })?;
        let (balance, nonce, code) = fetched;
        let info = if balance.is_zero() && nonce.is_zero() && code.is_empty() {
            None
        } else {
            let bytecode = Bytecode::new_raw(code);
            let mut info = AccountInfo::default().with_balance(balance).with_code(bytecode.clone());
            info.nonce = nonce.to::<u64>();
            self.remember(|c| {
                c.codes.insert(info.code_hash, bytecode);
            });
            Some(info)
        };
        self.remember(|c| {
            c.accounts.insert(address, info.clone());
        });
        Ok(info)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ViewError> {
        // Accounts arrive with their code, so revm asks only for code it was given by an account.
        self.cached(|c| c.codes.get(&code_hash).cloned()).ok_or_else(|| {
            self.error("reading code by hash", format!("code {code_hash} was not fetched with its account"))
        })
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ViewError> {
        if let Some(hit) = self.cached(|c| c.storage.get(&(address, index)).copied()) {
            return Ok(hit);
        }
        let block = self.block();
        let client = self.client.clone();
        let value = self.fetch("fetching a storage slot", 1, async move {
            let mut batch = BatchRequest::new(client.provider().client());
            let value = batch.add_call::<_, U256>("eth_getStorageAt", &(address, index, block))?;
            batch.send().await?;
            value.await
        })?;
        self.remember(|c| {
            c.storage.insert((address, index), value);
        });
        Ok(value)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ViewError> {
        // The simulation runs in the next block: its BLOCKHASH of this block is this view's hash.
        if number == self.number {
            return Ok(self.hash);
        }
        if number > self.number {
            return Ok(B256::ZERO);
        }
        if let Some(hit) = self.cached(|c| c.block_hashes.get(&number).copied()) {
            return Ok(hit);
        }
        let client = self.client.clone();
        let header = self.fetch("fetching a block hash", 1, async move {
            let mut batch = BatchRequest::new(client.provider().client());
            let block = batch.add_call::<_, Option<alloy::rpc::types::Header>>(
                "eth_getBlockByNumber",
                &(BlockNumberOrTag::Number(number), false),
            )?;
            batch.send().await?;
            block.await
        })?;
        let hash = header
            .map(|h| h.hash)
            .ok_or_else(|| self.error("fetching a block hash", format!("the endpoint has no block {number}")))?;
        self.remember(|c| {
            c.block_hashes.insert(number, hash);
        });
        Ok(hash)
    }
}

impl RemoteState {
    /// Runs one batch (`calls` JSON-RPC calls in one request) on the runtime the view was opened on, under
    /// the client's timeout. Called from a blocking thread: this is what makes the view a `DatabaseRef`.
    fn fetch<T>(
        &self,
        what: &str,
        calls: u64,
        request: impl std::future::Future<Output = alloy::transports::TransportResult<T>>,
    ) -> Result<T, ViewError> {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.calls.fetch_add(calls, Ordering::Relaxed);
        metrics::counter!("surge_l1_view_requests_total").increment(1);
        let timeout = self.client.timeout();
        // Fine on a blocking thread; on a runtime worker, `block_in_place` hands its other tasks on first.
        let result = tokio::task::block_in_place(|| {
            self.handle.block_on(async { tokio::time::timeout(timeout, request).await })
        });
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(what, e.to_string())),
            Err(_) => Err(self.error(what, format!("no answer within {timeout:?}"))),
        }
    }
}
