//! The JSON shapes of the `surge_*` methods, as Catalyst's realtime sequencer serves them (numbers as JSON
//! numbers, `value` as a decimal string), plus the `messages` array of every outbound message.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use surge_primitives::Message;
use surge_sync::Plan;

/// `surge_simulateReturnMessage`'s parameter: the call whose L1 answer is asked for (other fields a
/// transaction request carries, such as `nonce` or `gasPrice`, are ignored, as Catalyst does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulateRequest {
    /// The caller.
    pub from: Address,
    /// The contract called.
    pub to: Address,
    /// The calldata (`input` accepted too, as `eth_call` does).
    #[serde(default, alias = "input")]
    pub data: Bytes,
    /// The value sent (wei).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<U256>,
    /// The gas the call may use (capped by the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gas: Option<U64>,
}

/// `surge_sendUserOp`'s parameter: a wallet and the `executeBatch` call its owner signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserOpRequest {
    /// The user's wallet (`UserOpsSubmitter`), deployed or the factory's for the signer.
    pub submitter: Address,
    /// The `executeBatch(ops, nonce, deadline, signature)` calldata.
    pub calldata: Bytes,
}

/// `surge_txStatus`'s parameter: exactly one of a transaction hash and a user-op id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TxStatusRequest {
    /// The L2 transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<B256>,
    /// The user op (`surge_sendUserOp`'s id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_op_id: Option<u64>,
}

/// A bridge message as the JSON answer carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageJson {
    /// Its id.
    pub id: u64,
    /// The relayer fee.
    pub fee: u64,
    /// Its gas limit.
    pub gas_limit: u32,
    /// The sender on the source chain.
    pub from: Address,
    /// The source chain.
    pub src_chain_id: u64,
    /// Its owner on the source chain.
    pub src_owner: Address,
    /// The destination chain.
    pub dest_chain_id: u64,
    /// Its owner on the destination chain.
    pub dest_owner: Address,
    /// The call target on the destination chain.
    pub to: Address,
    /// The value delivered, in wei, as a decimal string.
    #[serde(serialize_with = "decimal", deserialize_with = "from_decimal")]
    pub value: U256,
    /// The calldata for `to`.
    pub data: Bytes,
}

fn decimal<S: Serializer>(value: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

fn from_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
    let text = String::deserialize(d)?;
    text.parse::<U256>().map_err(|e| serde::de::Error::custom(format!("value {text:?}: {e}")))
}

impl From<&Message> for MessageJson {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id,
            fee: m.fee,
            gas_limit: m.gasLimit,
            from: m.from,
            src_chain_id: m.srcChainId,
            src_owner: m.srcOwner,
            dest_chain_id: m.destChainId,
            dest_owner: m.destOwner,
            to: m.to,
            value: m.value,
            data: m.data.clone(),
        }
    }
}

impl From<MessageJson> for Message {
    fn from(m: MessageJson) -> Self {
        Self {
            id: m.id,
            fee: m.fee,
            gasLimit: m.gas_limit,
            from: m.from,
            srcChainId: m.src_chain_id,
            srcOwner: m.src_owner,
            destChainId: m.dest_chain_id,
            destOwner: m.dest_owner,
            to: m.to,
            value: m.value,
            data: m.data,
        }
    }
}

/// One answer L1 sends back to an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerJson {
    /// The answer, as the L1 bridge records it.
    pub message: MessageJson,
    /// Its hash.
    pub hash: B256,
    /// Its signal slot, which the anchor marks received on L2.
    pub signal_slot: B256,
}

/// One outbound message of the call, with its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundJson {
    /// The message, as the L2 bridge will record it.
    pub message: MessageJson,
    /// Its hash.
    pub hash: B256,
    /// What its L1 leg sends back, in order.
    pub answers: Vec<AnswerJson>,
    /// The smallest `fee` it must offer to be planned, in wei (its leg's L1 cost where fees must cover it).
    pub min_fee: u64,
}

/// `surge_simulateReturnMessage`'s result: Catalyst's `message` and `signalSlot` (the first answer), and
/// every outbound message with its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulateResponse {
    /// The first answer.
    pub message: MessageJson,
    /// Its signal slot.
    pub signal_slot: B256,
    /// Every outbound message, in the order the call sends them, with its answers.
    pub messages: Vec<OutboundJson>,
    /// The smallest `fee` the message answered first must offer, in wei.
    pub min_fee: u64,
}

impl SimulateResponse {
    /// The response for `plan`, or `None` when none of its messages gets an answer.
    pub fn from_plan(plan: &Plan) -> Option<Self> {
        let (first, min_fee) = plan.messages.iter().find_map(|m| m.answers.first().map(|a| (a, m.min_fee)))?;
        let messages = plan
            .messages
            .iter()
            .map(|m| OutboundJson {
                message: (&m.message).into(),
                hash: m.hash,
                answers: m
                    .answers
                    .iter()
                    .map(|a| AnswerJson { message: (&a.message).into(), hash: a.hash, signal_slot: a.slot })
                    .collect(),
                min_fee: m.min_fee,
            })
            .collect();
        Some(Self { message: (&first.message).into(), signal_slot: first.slot, messages, min_fee })
    }
}
