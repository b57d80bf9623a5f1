//! What an extension receives from the node (reth's `ExExContext` over `FullNodeComponents`): the head,
//! its notification stream, and the node's components behind the seams.

use std::sync::Arc;

use crate::{
    control::ChainControl,
    evm::ConfigureEvm,
    notifications::{CanonStateSubscriptions, ChainNotifications},
    pool::TransactionPool,
    rpc::RpcRegistry,
    state::{BlockReader, ChainTags, SealedHeader, StateProofProvider, StateProviderFactory},
};

/// The node's components, by seam.
pub trait NodeComponents: Clone + Send + Sync + 'static {
    /// Headers, state and proofs.
    type Provider: StateProviderFactory + StateProofProvider + BlockReader + Clone + 'static;
    /// The chain's EVM rules.
    type Evm: ConfigureEvm + Clone + 'static;
    /// The pool.
    type Pool: TransactionPool + Clone + 'static;
    /// Pause, unwind, resume.
    type Control: ChainControl + Clone + 'static;
    /// Notification subscriptions (more than the one the context carries).
    type Subscriptions: CanonStateSubscriptions + Clone + 'static;

    /// Headers, state and proofs.
    fn provider(&self) -> &Self::Provider;
    /// The chain's EVM rules.
    fn evm_config(&self) -> &Self::Evm;
    /// The pool.
    fn pool(&self) -> &Self::Pool;
    /// Chain control.
    fn control(&self) -> &Self::Control;
    /// Notification subscriptions.
    fn subscriptions(&self) -> &Self::Subscriptions;
    /// The `safe` and `finalized` heights.
    fn tags(&self) -> &Arc<ChainTags>;
}

/// One extension's view of the node.
#[derive(Debug)]
pub struct ExtensionContext<N> {
    /// The head when the extension was installed.
    pub head: SealedHeader,
    /// Its chain notifications (caught up from its finished height, if it gave one).
    pub notifications: ChainNotifications,
    /// The node's components.
    pub components: N,
    /// Where it registers RPC modules (before the server starts).
    pub rpc: Arc<dyn RpcRegistry>,
    /// Where it runs its long-lived tasks, watched by the node.
    pub tasks: Arc<dyn TaskExecutor>,
}

/// A task's future, boxed.
pub type TaskFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Runs long-lived tasks where the node watches them (reth's `TaskExecutor::spawn_critical`): a critical
/// task that panics, or ends while the node runs, is reported by name, and the node stops or, told to keep
/// serving, answers that it is not ready.
pub trait TaskExecutor: Send + Sync + std::fmt::Debug {
    /// Spawns `task` under `name` (`proposer`, `watcher`, …).
    fn spawn_critical(&self, name: &'static str, task: TaskFuture);
}
