//! The registry extensions hand their RPC modules and call hook to before the server starts (the node's
//! [`RpcRegistry`]); [`crate::RpcModules::extend`] serves what it holds.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use jsonrpsee::Methods;
use surge_interfaces::{CallStateHook, MergeMode, RpcRegistry, SubscriptionKind};

/// The subscription kinds extensions serve under `eth_subscribe`, by name.
pub type SubscriptionKinds = Arc<BTreeMap<&'static str, Arc<dyn SubscriptionKind>>>;

/// The kinds `eth_subscribe` serves itself.
pub const BUILT_IN_KINDS: [&str; 3] = ["newHeads", "logs", "newPendingTransactions"];

/// The modules extensions registered, merged by the RPC server before it starts.
#[derive(Default)]
pub struct RpcExtensions {
    modules: Mutex<Vec<(Methods, MergeMode)>>,
    call_hook: Mutex<Option<Arc<dyn CallStateHook>>>,
    subscriptions: Mutex<Vec<(&'static str, Arc<dyn SubscriptionKind>)>>,
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

    /// The subscription kinds extensions added; one named twice, or named like a built-in one, is an error.
    pub fn subscriptions(&self) -> Result<SubscriptionKinds, crate::MergeError> {
        let mut kinds = BTreeMap::new();
        for (kind, source) in self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            if BUILT_IN_KINDS.contains(kind) || kinds.insert(*kind, source.clone()).is_some() {
                return Err(crate::MergeError(format!("subscription kind {kind:?} is served already")));
            }
        }
        Ok(Arc::new(kinds))
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

    fn add_subscription(&self, kind: &'static str, source: Arc<dyn SubscriptionKind>) {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner()).push((kind, source));
    }
}
