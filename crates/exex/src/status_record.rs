//! A transaction's status as the ledger keeps it ([`StatusRecord`]): the state, where the transaction is on
//! L2 and L1, and every transition with its time; and what the ledger is told when a transaction leaves the
//! pool unmined ([`PoolExit`]).

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};
use surge_sync::{StatusDetails, Transition, TxStatus, TxStatusView};

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Transitions kept per transaction; older ones after the first are dropped (a bound against a transaction
/// rolled back without end).
const MAX_HISTORY: usize = 256;

/// A transaction's status as the ledger keeps it: the state, where the transaction is, every transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// The transaction.
    pub tx: B256,
    /// What `surge_txStatus` answers.
    pub view: TxStatusView,
}

impl StatusRecord {
    /// A status starting in `status` at `at` (unix milliseconds).
    pub fn new(tx: B256, status: TxStatus, at: u64) -> Self {
        let history = vec![Transition { status: status.clone(), at, rolled_back: None }];
        Self { tx, view: TxStatusView { status, details: StatusDetails { history, ..Default::default() } } }
    }

    /// A transaction refused for good with `reason` at `at`.
    pub fn rejected(tx: B256, reason: String, at: u64) -> Self {
        Self::new(tx, TxStatus::Rejected { reason }, at)
    }

    /// The state.
    pub fn status(&self) -> &TxStatus {
        &self.view.status
    }

    /// Where it is.
    pub fn details(&mut self) -> &mut StatusDetails {
        &mut self.view.details
    }

    /// When it became final, if it is.
    pub fn final_at(&self) -> Option<u64> {
        self.view.status.is_final().then(|| self.view.details.history.last().map_or(0, |t| t.at))
    }

    /// Enters `status` at `at`; `rolled_back` says why, when a block or an L1 transaction was taken back.
    /// A transition is recorded when the state changes or comes with a roll-back; whether one was. The time
    /// spent in the state left goes to the stage histogram.
    pub fn enter(&mut self, status: TxStatus, at: u64, rolled_back: Option<String>) -> bool {
        if status == self.view.status && rolled_back.is_none() {
            return false;
        }
        let history = &mut self.view.details.history;
        if let Some(last) = history.last() {
            let stage = self.view.status.name();
            let spent = at.saturating_sub(last.at) as f64 / 1000.0;
            metrics::histogram!("surge_tx_status_stage_seconds", "stage" => stage).record(spent);
        }
        if status == TxStatus::Executed
            && let Some(first) = history.first()
        {
            let total = at.saturating_sub(first.at) as f64 / 1000.0;
            metrics::histogram!("surge_tx_submitted_to_executed_seconds").record(total);
        }
        metrics::counter!("surge_tx_status_transitions_total", "to" => status.name()).increment(1);
        if history.len() >= MAX_HISTORY {
            history.remove(1);
        }
        history.push(Transition { status: status.clone(), at, rolled_back });
        self.view.status = status;
        true
    }
}

/// Why a transaction left the pool without being mined, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolExit {
    /// The block producer refused it for good: any transaction's status turns `Rejected`.
    Invalid {
        /// The transaction.
        tx: B256,
        /// Why.
        reason: String,
    },
    /// Replaced or dropped: a kept `Pending` status turns `Rejected` (nothing else is kept for it).
    Left {
        /// The transaction.
        tx: B256,
        /// How it left.
        reason: String,
    },
}

impl PoolExit {
    /// The transaction.
    pub fn tx(&self) -> B256 {
        match self {
            Self::Invalid { tx, .. } | Self::Left { tx, .. } => *tx,
        }
    }
}

/// Where a block's proposal is on L1, as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockOnL1 {
    /// The proposal holding the block.
    pub proposal: u64,
    /// The L1 transaction last signed for it, if one is.
    pub l1_tx: Option<B256>,
    /// The L1 block holding it, once it landed.
    pub l1_block: Option<u64>,
}

/// A transaction's exit from the pool, remembered by the ledger until it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// How it left.
    pub reason: String,
    /// It counts once the ledger accounted for this block (0: at once).
    pub after: u64,
}
