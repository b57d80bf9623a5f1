//! The registry extensions hand their RPC modules and call hook to before the server starts (the node's
//! [`RpcRegistry`]); [`crate::RpcModules::extend`] serves what it holds.

use std::sync::{Arc, Mutex};

use jsonrpsee::Methods;
use surge_interfaces::{CallStateHook, MergeMode, RpcRegistry};

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

    fn push(&self, methods: Methods, mode: MergeMode) {
        self.modules.lock().unwrap_or_else(|p| p.into_inner()).push((methods, mode));
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

impl RpcRegistry for RpcExtensions {
    fn merge(&self, methods: Methods) {
        self.push(methods, MergeMode::Add);
    }

    fn replace(&self, methods: Methods) {
        self.push(methods, MergeMode::Replace);
    }

    fn set_call_hook(&self, hook: Arc<dyn CallStateHook>) {
        *self.call_hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }
}
