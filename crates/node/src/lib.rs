//! The embedded execution host: chain spec and genesis, block execution on alloy-evm, the redb store
//! with an incremental state root, proofs and unwinding.

pub mod chainspec;
pub mod execute;
pub mod notifications;
pub mod producer;
pub mod seams;
pub mod storage;

pub use chainspec::{ChainSpec, ChainSpecError, L2Params, post_merge_config};
pub use notifications::NotificationHub;
pub use storage::{ExecutedBlock, SealedHeader, StateDiff, StateProvider, Store, StoreError};
