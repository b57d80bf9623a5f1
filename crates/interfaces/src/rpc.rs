//! The RPC extension hook (reth's `extend_rpc_modules`): modules an extension hands to the node are served
//! on the node's own HTTP/WebSocket endpoint next to `eth_*`.

use std::sync::Mutex;

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

/// The modules extensions registered, merged by the RPC server before it starts.
#[derive(Debug, Default)]
pub struct RpcExtensions {
    modules: Mutex<Vec<(Methods, MergeMode)>>,
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

    /// Takes every registered module, in registration order.
    pub fn take(&self) -> Vec<(Methods, MergeMode)> {
        std::mem::take(&mut *self.modules.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
