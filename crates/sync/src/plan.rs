//! Plans: what the node decided for an L2 transaction that calls L1, and why a transaction has none. The
//! planner behind [`Planner`] lives in `surge-exex`; other extensions (the `surge_*` RPC) see it only
//! through this trait.

use std::fmt;

use alloy_primitives::{Address, B256};
use surge_primitives::Message;

/// An L1→L2 message an L1 leg sends back: what the L2 transaction consumes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    /// The message, as the L1 bridge records it.
    pub message: Message,
    /// Its hash.
    pub hash: B256,
    /// Its signal slot on L1, which the anchor marks received on L2.
    pub slot: B256,
}

/// One outbound L2→L1 message of a planned transaction, with its L1 leg's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedMessage {
    /// The message, fields as the L2 bridge records them.
    pub message: Message,
    /// Its hash.
    pub hash: B256,
    /// What its L1 leg sends back, in order.
    pub answers: Vec<Answer>,
    /// The gas its leg adds to the L1 bundle.
    pub l1_gas: u64,
    /// The smallest fee it must offer (the node's minimum, or its leg's L1 cost), in wei.
    #[serde(default)]
    pub min_fee: u64,
}

/// A transaction's plan: its outbound messages and their answers, simulated on one L1 block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// The transaction.
    pub tx_hash: B256,
    /// Its sender.
    pub sender: Address,
    /// Its nonce.
    pub nonce: u64,
    /// The L1 block the legs were simulated on (number, hash).
    pub l1_block: (u64, B256),
    /// Its outbound messages in execution order.
    pub messages: Vec<PlannedMessage>,
}

impl Plan {
    /// The signal slots the anchor must mark received for it, in order.
    pub fn slots(&self) -> impl Iterator<Item = B256> + '_ {
        self.messages.iter().flat_map(|m| m.answers.iter().map(|a| a.slot))
    }
}

/// Why a transaction has no plan, or lost the one it had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPlan {
    /// It sends nothing to L1 (an ordinary transaction).
    NoOutboundMessage,
    /// An L1 leg does not succeed (the callback's revert, or a refusal of the bundle).
    L1LegFailed(String),
    /// With its answers in place the transaction still fails, or sends other messages.
    Reverts(String),
    /// It embeds an answer another plan took first, or whose id L1 now gives to an earlier message
    /// (another plan's that landed, or other L1 traffic).
    AnswerTaken,
    /// Its answer changed when L1 moved.
    AnswerChanged,
    /// A plan ahead of it in the bundle was dropped and its answer changed.
    EarlierPlanDropped,
    /// The bundle has no room for its legs in this proposal.
    BundleGasBudget,
    /// L1 state could not be read.
    L1Unavailable(String),
    /// It was replaced by another transaction of the same sender and nonce.
    Replaced,
    /// It left the pool.
    Discarded,
    /// It was mined without its answers (a block built without its plan).
    MinedWithoutSlots,
    /// The watcher's queue was full when it arrived.
    QueueFull,
    /// Its sender, or an L1 contract its legs call, cools down after making proposals revert on L1.
    CooledDown(String),
    /// A message offers less than its leg costs the proposer on L1.
    FeeBelowL1Cost {
        /// The message.
        message: B256,
        /// What it offers, in wei.
        fee: u64,
        /// What it must offer, in wei.
        min: u64,
    },
}

impl NoPlan {
    /// A short label for metrics (`plans_dropped_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::NoOutboundMessage => "no outbound message",
            Self::L1LegFailed(_) => "L1 leg reverted",
            Self::Reverts(_) => "reverts with its answers",
            Self::AnswerTaken => "answer already taken",
            Self::AnswerChanged => "answer changed on L1",
            Self::EarlierPlanDropped => "earlier plan dropped",
            Self::BundleGasBudget => "bundle gas budget",
            Self::L1Unavailable(_) => "L1 unavailable",
            Self::Replaced => "replaced",
            Self::Discarded => "discarded",
            Self::MinedWithoutSlots => "mined without its slots",
            Self::QueueFull => "queue full",
            Self::CooledDown(_) => "cooling down",
            Self::FeeBelowL1Cost { .. } => "fee below L1 cost",
        }
    }
}

impl NoPlan {
    /// Whether the transaction can never get a plan as it is: its answer was taken or changed, its L1 leg
    /// or the transaction itself fails, or it sends nothing to be answered. Waiting out a full queue, a
    /// full bundle or an L1 outage may still end in a plan, and so may a plan dropped behind an earlier
    /// one (it is tried again in its turn, and then keeps the reason that try gives).
    pub fn is_final(&self) -> bool {
        match self {
            Self::NoOutboundMessage
            | Self::L1LegFailed(_)
            | Self::Reverts(_)
            | Self::AnswerTaken
            | Self::AnswerChanged
            | Self::MinedWithoutSlots
            | Self::CooledDown(_)
            | Self::FeeBelowL1Cost { .. } => true,
            Self::EarlierPlanDropped
            | Self::BundleGasBudget
            | Self::L1Unavailable(_)
            | Self::Replaced
            | Self::Discarded
            | Self::QueueFull => false,
        }
    }
}

impl fmt::Display for NoPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::L1LegFailed(r) | Self::Reverts(r) | Self::L1Unavailable(r) | Self::CooledDown(r) => {
                write!(f, "{}: {r}", self.label())
            }
            Self::FeeBelowL1Cost { message, fee, min } => {
                write!(f, "{}: message {message} offers {fee} wei, it must offer at least {min} wei", self.label())
            }
            _ => f.write_str(self.label()),
        }
    }
}

/// A call whose L1 answers are asked for (`surge_simulateReturnMessage`, gas estimation): run as `eth_call`
/// runs it (no nonce or fee checks) on the pending L2 state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulatedCall {
    /// The caller.
    pub from: Address,
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub data: alloy_primitives::Bytes,
    /// The value sent.
    pub value: alloy_primitives::U256,
    /// The gas it may use.
    pub gas: u64,
}

/// What [`Planner::simulate`] returns: a future, so an RPC handler can bound its time.
pub type Simulation<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Plan, NoPlan>> + Send + 'a>>;

/// The planner as other extensions see it.
pub trait Planner: Send + Sync {
    /// The plan of transaction `tx`, if it has one.
    fn plan(&self, tx: &B256) -> Option<Plan>;
    /// Why transaction `tx` has no plan (or lost it), if the planner considered it.
    fn no_plan_reason(&self, tx: &B256) -> Option<NoPlan>;
    /// Every plan of the open proposal, in bundle order.
    fn plans(&self) -> Vec<Plan>;
    /// What L1 would answer the messages `call` sends if it were sent now: traced on the pending state,
    /// its legs simulated at the end of the open bundle, nothing kept (the plan's `tx_hash` is zero).
    fn simulate(&self, call: SimulatedCall) -> Simulation<'_>;
}
