//! The view as one simulated call may read it: a bounded number of accounts and slots, within a time
//! limit. A hostile callback that touches thousands of cold accounts (each a request to a remote L1) ends
//! with an error instead of holding a simulation thread; so does a simulation whose caller gave up
//! ([`surge_sync::abort`]).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, U256};
use revm::{
    DatabaseRef,
    state::{AccountInfo, Bytecode},
};

use crate::view::{L1View, ViewError};

/// A view read within a per-call budget (the simulation's own cache sits above it, so each account or slot
/// is charged once per simulation).
#[derive(Debug)]
pub struct Budget {
    view: Arc<L1View>,
    max_reads: u64,
    timeout: Duration,
    /// The bytes a call's trace may hold.
    trace_bytes: usize,
    reads: AtomicU64,
    deadline: Mutex<Option<Instant>>,
}

impl Clone for Budget {
    fn clone(&self) -> Self {
        Self { trace_bytes: self.trace_bytes, ..Self::new(self.view.clone(), self.max_reads, self.timeout) }
    }
}

impl Budget {
    /// `view`, with at most `max_reads` reads and `timeout` per call.
    pub fn new(view: Arc<L1View>, max_reads: u64, timeout: Duration) -> Self {
        let trace_bytes = surge_sync::MAX_SIMULATION_TRACE_BYTES;
        Self { view, max_reads, timeout, trace_bytes, reads: AtomicU64::new(0), deadline: Mutex::new(None) }
    }

    /// Calls whose traces are not bounded: other users' transactions, run to rebuild the state ours ran on.
    pub(crate) fn unbounded_traces(mut self) -> Self {
        self.trace_bytes = usize::MAX;
        self
    }

    /// The bytes a call's trace may hold.
    pub(crate) fn trace_bytes(&self) -> usize {
        self.trace_bytes
    }

    /// The view.
    pub fn view(&self) -> &Arc<L1View> {
        &self.view
    }

    /// Gives each call the budget of `calls` calls: one transaction that runs as many calls as the bundle's
    /// simulation ran one by one (the proposal transaction's Multicall steps) reads and traces what they did
    /// together.
    pub(crate) fn widen(&mut self, calls: u64) {
        self.max_reads = self.max_reads.saturating_mul(calls.max(1));
        self.timeout = self.timeout.saturating_mul(u32::try_from(calls.max(1)).unwrap_or(u32::MAX));
        self.trace_bytes = self.trace_bytes.saturating_mul(usize::try_from(calls.max(1)).unwrap_or(usize::MAX));
    }

    /// Starts a call's budget.
    pub(crate) fn start_call(&self) {
        self.reads.store(0, Ordering::Relaxed);
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + self.timeout);
    }

    fn charge(&self) -> Result<(), ViewError> {
        let over = |reason: String| ViewError::Budget { number: self.view.number(), hash: self.view.hash(), reason };
        let reads = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        if reads > self.max_reads {
            return Err(over(format!("more than {} accounts and slots read", self.max_reads)));
        }
        if surge_sync::abort::requested() {
            return Err(over("the simulation was cancelled".into()));
        }
        let deadline = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(over(format!("longer than {:?}", self.timeout)));
        }
        Ok(())
    }
}

impl DatabaseRef for Budget {
    type Error = ViewError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, ViewError> {
        self.charge()?;
        self.view.basic_ref(address)
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, ViewError> {
        self.view.code_by_hash_ref(code_hash)
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, ViewError> {
        self.charge()?;
        self.view.storage_ref(address, index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, ViewError> {
        self.charge()?;
        self.view.block_hash_ref(number)
    }
}
