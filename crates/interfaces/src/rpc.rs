//! The RPC extension hook (reth's `extend_rpc_modules`): modules an extension hands to the node are served
//! on the node's own HTTP/WebSocket endpoint next to `eth_*`.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use alloy_primitives::{Address, B256, Bytes, U256};

use jsonrpsee::Methods;

/// How an extension's methods join the node's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// New methods only: a name the node already serves is an error at start-up.
    Add,
    /// The extension's methods take the place of the node's methods of the same name (for example an
    /// `eth_call` that knows about return signals); new names are added.
    Replace,
}

/// A call as `eth_call` or `eth_estimateGas` received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallShape {
    /// The caller.
    pub from: Address,
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
    /// The value sent.
    pub value: U256,
    /// The gas it may use.
    pub gas: u64,
}

/// A storage slot a call's state is given: (contract, slot, value).
pub type StorageEntry = (Address, B256, B256);

/// What an extension adds to the state of a call that reverted on the node's state alone, before the node
/// runs it once more (a sync transaction needs its answers' slots marked received, as its block's anchor
/// will mark them). Empty: nothing to add, the revert stands.
pub trait CallStateHook: Send + Sync {
    /// The storage `call` needs set.
    fn storage_for(&self, call: CallShape) -> Pin<Box<dyn Future<Output = Vec<StorageEntry>> + Send + '_>>;
}

/// The modules extensions registered, merged by the RPC server before it starts.
#[derive(Default)]
pub struct RpcExtensions {
    modules: Mutex<Vec<(Methods, MergeMode)>>,
    call_hook: Mutex<Option<Arc<dyn CallStateHook>>>,
}

impl std::fmt::Debug for RpcExtensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcExtensions").finish_non_exhaustive()
    }
}

impl RpcExtensions {
    /// No modules yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `methods` next to the node's (an existing name is an error at start-up).
    pub fn merge(&self, methods: impl Into<Methods>) {
        self.push(methods.into(), MergeMode::Add);
    }

    /// Serves `methods`, replacing the node's methods of the same names.
    pub fn replace(&self, methods: impl Into<Methods>) {
        self.push(methods.into(), MergeMode::Replace);
    }

    fn push(&self, methods: Methods, mode: MergeMode) {
        self.modules.lock().unwrap_or_else(|p| p.into_inner()).push((methods, mode));
    }

    /// Has `eth_call` and `eth_estimateGas` ask `hook` when a call reverts (the last one set is asked).
    pub fn set_call_hook(&self, hook: Arc<dyn CallStateHook>) {
        *self.call_hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// The hook calls ask, if an extension set one.
    pub fn call_hook(&self) -> Option<Arc<dyn CallStateHook>> {
        self.call_hook.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Takes every registered module, in registration order.
    pub fn take(&self) -> Vec<(Methods, MergeMode)> {
        std::mem::take(&mut *self.modules.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
