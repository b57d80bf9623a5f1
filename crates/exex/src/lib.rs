//! The node's synchronous-composability extension: pre-simulation of L2 transactions that call L1 into
//! plans ([`presim`]), with the L1 legs simulated by `surge-l1` on the L1 view, kept in bundle order by the
//! [`PlanBook`]; the plans go into blocks through the [`PlannedInputs`], and the [`Ledger`] keeps the
//! proposals they form in its own store.

pub mod block;
pub mod book;
pub mod cooldown;
pub mod doomed;
pub mod inputs;
pub mod ledger;
pub mod ledger_exex;
pub mod next;
pub mod pending;
pub mod presim;
pub mod proposal;
pub mod proposer;
pub mod published;
pub mod reuse;
pub mod rpcsim;
pub mod status;
pub mod status_record;
pub mod store;
pub mod sync_status;
pub mod task;
pub mod user_ops;
pub mod watcher;

pub use block::{BlockFacts, read_block};
pub use book::{AnswerBase, Moved, PlanBook, answer_on};
pub use cooldown::{Blamed, CoolDownConfig, CoolDowns};
pub use inputs::PlannedInputs;
pub use ledger::{Ledger, News};
pub use ledger_exex::install_ledger;
pub use next::{NextBlock, NextBlocks};
pub use pending::{pending_for, pending_state};
pub use presim::{Candidate, L2Protocol, PendingL2, PendingSnapshot};
pub use proposal::{Advanced, L1Calls, ProposalBlock, ProposalRecord, ProposalRules, advance};
pub use proposer::health::ProposerHealth;
pub use proposer::{
    Proposed, Proposer, ProposerConfig, ProposerEvent, ProposerProtocol, StageTimes, resume_from_inbox,
};
pub use published::PublishedPlans;
pub use rpcsim::{RpcSimConfig, RpcSimulations};
pub use status::{TxStatuses, prune_statuses, record_pool_exits};
pub use status_record::{BlockOnL1, PoolExit, StatusRecord, now_ms};
pub use store::{L1TxRecord, L1Version, LedgerStore, LedgerStoreError, PlanRecord, Rejection};
pub use sync_status::NodeSyncStatus;
pub use task::{Watcher, WatcherConfig, WatcherInputs, install, publish_for, watcher};
pub use watcher::WatcherCore;
