//! What became of a transaction, as a dapp asks for it (`surge_txStatus`): the states of Catalyst's
//! `UserOpStatus`, with its JSON shape — a `"status"` tag naming the state in PascalCase, fields in
//! snake_case — so apps written against Catalyst read ours unchanged.

use alloy_primitives::B256;

/// A transaction's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status")]
pub enum TxStatus {
    /// In the pool: waiting for a block, or held there until its answers are planned.
    Pending,
    /// Mined in L2 block `block_id`, which L1 does not hold yet.
    ProvingBlock {
        /// The L2 block.
        block_id: u64,
    },
    /// The L1 transaction `tx_hash` carrying its block was sent and is not final yet.
    Processing {
        /// The L1 transaction.
        tx_hash: B256,
    },
    /// Mined in an L2 block that L1 holds (the L2's `safe` tag).
    Executed,
    /// Refused for good: it left the pool with the reason, and was not mined.
    Rejected {
        /// Why.
        reason: String,
    },
}

impl TxStatus {
    /// Whether nothing follows it (a deep L1 reorg aside, which moves an `Executed` one back).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Executed | Self::Rejected { .. })
    }

    /// Its name, as the `status` field says it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::ProvingBlock { .. } => "ProvingBlock",
            Self::Processing { .. } => "Processing",
            Self::Executed => "Executed",
            Self::Rejected { .. } => "Rejected",
        }
    }
}

/// One state a transaction entered, and when: the state's own fields, plus `at` and, when its block or its
/// proposal's L1 transaction was taken back, `rolled_back` saying why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    /// The state entered.
    #[serde(flatten)]
    pub status: TxStatus,
    /// When (unix milliseconds).
    pub at: u64,
    /// Why it went back to this state, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
}

/// What a UI wants besides the state, which Catalyst's clients ignore: where the transaction is on L2 and
/// on L1, and every state it went through.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusDetails {
    /// The L2 block holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2_block_number: Option<u64>,
    /// That block's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2_block_hash: Option<B256>,
    /// The proposal carrying that block to L1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal_id: Option<u64>,
    /// The L1 transaction carrying the proposal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_tx_hash: Option<B256>,
    /// The L1 block holding that transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_block_number: Option<u64>,
    /// Every state entered, oldest first (empty for a transaction answered from the chain alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Transition>,
}

/// `surge_txStatus`'s answer: Catalyst's `UserOpStatus` with [`StatusDetails`] alongside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxStatusView {
    /// The state, in Catalyst's shape.
    #[serde(flatten)]
    pub status: TxStatus,
    /// The rest.
    #[serde(flatten)]
    pub details: StatusDetails,
}

impl From<TxStatus> for TxStatusView {
    fn from(status: TxStatus) -> Self {
        Self { status, details: StatusDetails::default() }
    }
}

/// Where the statuses come from.
pub trait TxStatusSource: Send + Sync {
    /// The status of transaction `tx`; `Ok(None)` when the node does not know it.
    fn tx_status(&self, tx: &B256) -> Result<Option<TxStatusView>, String>;

    /// Changes whenever a status may have changed (a status written, a block committed, `safe` moved):
    /// what a subscription waits on before it asks again.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_are_catalyst_s() {
        let json = |s: TxStatus| serde_json::to_value(s).unwrap();
        assert_eq!(json(TxStatus::Pending), serde_json::json!({"status": "Pending"}));
        assert_eq!(
            json(TxStatus::ProvingBlock { block_id: 7 }),
            serde_json::json!({"status": "ProvingBlock", "block_id": 7})
        );
        assert_eq!(
            json(TxStatus::Processing { tx_hash: B256::repeat_byte(1) }),
            serde_json::json!({"status": "Processing", "tx_hash": format!("0x{}", "01".repeat(32))})
        );
        assert_eq!(json(TxStatus::Executed), serde_json::json!({"status": "Executed"}));
        let rejected = TxStatus::Rejected { reason: "answer already taken".into() };
        assert_eq!(json(rejected.clone()), serde_json::json!({"status": "Rejected", "reason": "answer already taken"}));
        assert_eq!(serde_json::from_value::<TxStatus>(json(rejected.clone())).unwrap(), rejected);
    }

    #[test]
    fn a_view_is_catalyst_s_shape_with_the_details_alongside() {
        let pending = Transition { status: TxStatus::Pending, at: 5, rolled_back: Some("unwound".into()) };
        let view = TxStatusView {
            status: TxStatus::ProvingBlock { block_id: 9 },
            details: StatusDetails {
                l2_block_number: Some(9),
                proposal_id: Some(2),
                history: vec![pending],
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "ProvingBlock", "block_id": 9, "l2_block_number": 9, "proposal_id": 2,
                "history": [{"status": "Pending", "at": 5, "rolled_back": "unwound"}],
            })
        );
        assert_eq!(serde_json::from_value::<TxStatusView>(json.clone()).unwrap(), view);
        assert_eq!(serde_json::from_value::<TxStatus>(json).unwrap(), view.status, "a Catalyst client reads it");
    }
}
