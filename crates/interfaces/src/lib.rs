//! The seams between the host and the extension crates (sync, builder, l1, exex, rpc-ext). Extensions
//! depend on these traits and types only, never on the host's internals; each mirrors the reth seam it
//! stands for, so a reth adapter is a thin layer. The crate holds traits and plain types only and depends
//! on `surge-primitives` and external crates alone: the host implements the seams (its notification hub,
//! its pool and listeners, the RPC server's registry), and the block state revm executes against lives in
//! `surge_primitives::block_state`, of which the seams carry only the plain [`BlockChanges`].
//!
//! | seam | reth counterpart |
//! |---|---|
//! | [`StateProviderFactory`], [`StateProofProvider`], [`ChainTags`] | `StateProviderFactory`, `StateProofProvider`, `CanonChainTracker` |
//! | [`ConfigureEvm`], [`NextBlockAttributes`] | `ConfigureEvm::next_evm_env`, `NextBlockEnvAttributes` |
//! | [`TransactionPool`], [`BestTransactions`], [`PoolEvent`], [`Listener`] | `TransactionPool`, `new_transactions_listener`, `all_transactions_event_listener`, `BestTransactions::mark_invalid` |
//! | [`CanonStateSubscriptions`], [`ChainNotifications`] over the host's [`NotificationStream`], [`FinishedHeight`] | `ExExNotifications`, `ExExEvent::FinishedHeight` |
//! | [`ChainControl`] | the engine's forkchoice / Taiko driver's `reorgStaleBlock` |
//! | [`BlockInputs`], [`CheckpointSource`] | payload attributes |
//! | [`PayloadBuilder`], [`BuiltBlock`] | `PayloadBuilder::try_build` |
//! | [`RpcRegistry`], [`CallStateHook`] | `extend_rpc_modules` (`merge_configured`, `replace_configured`) |
//! | [`NodeComponents`], [`ExtensionContext`] | `FullNodeComponents`, `ExExContext` |

pub mod context;
pub mod control;
pub mod evm;
pub mod inputs;
pub mod notifications;
pub mod payload;
pub mod pool;
pub mod rpc;
pub mod state;

pub use context::{ExtensionContext, NodeComponents, TaskExecutor, TaskFuture};
pub use control::{ChainControl, ChainControlError, Unwound};
pub use evm::{ConfigureEvm, NextBlockAttributes};
pub use inputs::{
    BlockInputs, CheckpointSource, InconsistentSlot, InputsReport, NoInputs, OutboundDependency, ReturnSlot,
    SlotProblem, StagedInputs, SyncTx, UserOp,
};
pub use notifications::{
    AccountChange, AccountValues, Blocks, CanonStateSubscriptions, ChainNotification, ChainNotifications,
    CommittedBlock, FinishedHeight, NextNotification, NotificationStream, StateChanges, StorageChange, SubscribeError,
};
pub use payload::{BuiltBlock, PayloadBuilder, PayloadBuilderError};
pub use pool::{
    BestTransactions, InvalidKind, Listener, PoolEvent, PooledTx, ReplacementGuard, TransactionOrigin, TransactionPool,
};
pub use rpc::{
    CallHookFuture, CallShape, CallStateHook, HookBusy, MergeMode, RpcRegistry, StorageEntry, SubscriptionKind,
    SubscriptionRefused,
};
pub use state::{
    AccountProof, BlockReader, ChainTags, SealedHeader, StateProofProvider, StateProviderFactory, StorageProof,
};
pub use surge_primitives::block_state::BlockChanges;
