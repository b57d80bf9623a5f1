//! The RPC extension hook (reth's `extend_rpc_modules`): modules an extension hands to the node's
//! [`RpcRegistry`] are served on the node's own HTTP/WebSocket endpoint next to `eth_*`.

use std::{future::Future, pin::Pin, sync::Arc};

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
/// will mark them). Empty: nothing to add, the revert stands. [`HookBusy`]: the hook cannot tell now, and
/// the call is refused with a limit error rather than answered with a revert that may not stand.
pub trait CallStateHook: Send + Sync {
    /// The storage `call` needs set.
    fn storage_for(&self, call: CallShape) -> CallHookFuture<'_>;
}

/// What [`CallStateHook::storage_for`] returns.
pub type CallHookFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<StorageEntry>, HookBusy>> + Send + 'a>>;

/// The call hook is at its limit (too many simulations at once, its queue full): the message says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookBusy(pub String);

/// A subscription kind an extension serves under the node's `eth_subscribe` (`["<kind>", params]`), so that
/// the WebSocket transports of viem, alloy and ethers subscribe to it unchanged.
pub trait SubscriptionKind: Send + Sync {
    /// Starts one subscription with `params` (what follows the kind). Its items come through the receiver;
    /// it ends when the sender is dropped, and the receiver is dropped when the client unsubscribes or goes
    /// away (a task feeding it stops on `Sender::closed`). `Err` refuses it with the error the client gets.
    fn subscribe(
        &self,
        params: Option<serde_json::Value>,
    ) -> Result<tokio::sync::mpsc::Receiver<serde_json::Value>, SubscriptionRefused>;
}

/// Why a subscription was refused, as the client is told: a JSON-RPC error code and message (invalid
/// params, a limit reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRefused {
    /// The JSON-RPC error code.
    pub code: i32,
    /// What was wrong.
    pub message: String,
}

/// Where extensions register RPC modules and the call hook, before the node's server starts (reth's
/// `extend_rpc_modules`); the server that serves them holds the registry.
pub trait RpcRegistry: Send + Sync + std::fmt::Debug {
    /// Serves `methods` next to the node's (an existing name is an error at start-up).
    fn merge(&self, methods: Methods);
    /// Serves `methods`, replacing the node's methods of the same names.
    fn replace(&self, methods: Methods);
    /// Has `eth_call` and `eth_estimateGas` ask `hook` when a call reverts (the last one set is asked).
    fn set_call_hook(&self, hook: Arc<dyn CallStateHook>);
    /// Serves subscription kind `kind` under `eth_subscribe` (a kind the node serves itself, or one added
    /// before, is an error at start-up).
    fn add_subscription(&self, kind: &'static str, source: Arc<dyn SubscriptionKind>);
}
