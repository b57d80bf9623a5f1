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

/// Where the statuses come from.
pub trait TxStatusSource: Send + Sync {
    /// The status of transaction `tx`; `Ok(None)` when the node does not know it.
    fn tx_status(&self, tx: &B256) -> Result<Option<TxStatus>, String>;
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
}
