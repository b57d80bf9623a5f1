//! The proposer's parts and what it reports: its settings, a proposal on L1 with its stage times, and its
//! events.

use std::{sync::Arc, time::Duration};

use alloy_primitives::B256;
use surge_l1::{HeadWatch, L1Sender, L1Views, PreflightFailure, Prover, SimConfig};
use surge_primitives::{blob::BlobBytes, proposal_tx::TxShape};
use tokio::sync::broadcast;

use crate::{cooldown::CoolDowns, ledger::Ledger, proposer::assemble::ProposerProtocol};

/// How the proposer runs.
#[derive(Debug, Clone, Copy)]
pub struct ProposerConfig {
    /// The protocol.
    pub protocol: ProposerProtocol,
    /// The L1's rules, for the pre-flight.
    pub sim: SimConfig,
    /// L1 blocks a sent transaction may wait in the pool before it is replaced with raised fees.
    pub replace_after: u64,
    /// L1 blocks, its own included, on top of a proposal's transaction before its blocks are `safe` (and
    /// their statuses `Executed`); the next proposal goes as soon as it is included.
    pub confirmations: u64,
    /// How often the L1 is asked for a sent transaction's receipt.
    pub receipt_poll: Duration,
    /// How long to wait before trying a proposal again after a failure that may pass (an unavailable
    /// prover or L1).
    pub retry_after: Duration,
}

/// How long each stage of one proposal took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Reading the blocks, encoding the blobs, proving the L1 calls' messages.
    pub assemble: Duration,
    /// The proof.
    pub prove: Duration,
    /// The pre-flight on the L1 view.
    pub preflight: Duration,
    /// Sending until the receipt.
    pub include: Duration,
}

/// A proposal on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    /// Its id in the ledger.
    pub id: u64,
    /// Its L2 blocks.
    pub l2_blocks: Vec<u64>,
    /// Its last L2 block's hash (the inbox's last finalized hash now).
    pub last_block_hash: B256,
    /// L2 transactions it carries (anchors not counted).
    pub l2_txs: usize,
    /// The L1 transaction.
    pub l1_tx: B256,
    /// The L1 block including it.
    pub l1_block: u64,
    /// L1 gas it used.
    pub l1_gas_used: u64,
    /// Its blobs' versioned hashes.
    pub blob_hashes: Vec<B256>,
    /// The blobs (the derivation manifest of its blocks).
    pub blobs: Arc<Vec<BlobBytes>>,
    /// The manifest's bytes in them.
    pub payload_bytes: usize,
    /// Its shape.
    pub shape: TxShape,
    /// Stage times.
    pub times: StageTimes,
}

/// What the proposer did, for whoever listens (tests, benchmarks, the status tracker).
#[derive(Debug, Clone)]
pub enum ProposerEvent {
    /// A proposal is on L1.
    Proposed(Proposed),
    /// A proposal's transaction was sent (it waits for inclusion).
    Sent {
        /// The proposal.
        id: u64,
        /// The L1 transaction.
        tx: B256,
    },
    /// A proposal's L1 nonce got a new transaction: `tx` replaces `replaced` (the same when the pool had
    /// dropped it and it went again as it was).
    Replaced {
        /// The proposal.
        id: u64,
        /// The L1 nonce.
        nonce: u64,
        /// The transaction it replaces.
        replaced: B256,
        /// The new one.
        tx: B256,
        /// Why: `stuck` (raised fees), `dropped` (sent again) or `cancel` (a self-transfer gives it up).
        why: &'static str,
    },
    /// A proposal's transaction reverted on L1.
    Reverted {
        /// The proposal.
        id: u64,
        /// The L1 transaction.
        tx: B256,
        /// The L1 block that included it.
        l1_block: u64,
        /// Its replay on the state it ran on, when the replay failed too.
        failure: Option<PreflightFailure>,
    },
    /// A proposal's transaction would revert: it was not sent.
    PreflightFailed {
        /// The proposal.
        id: u64,
        /// Where and why.
        failure: PreflightFailure,
    },
    /// A proposal could not be made, proved or sent this time.
    Failed {
        /// The proposal.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The unproposed blocks from `from` on were unwound to rebuild them without `dropped` (their
    /// transactions went back to the pool, the dropped ones out of it with their reasons).
    RolledBack {
        /// The proposal whose transaction failed.
        id: u64,
        /// The first block unwound.
        from: u64,
        /// The transactions dropped, with the reason.
        dropped: Vec<(B256, String)>,
    },
    /// An L1 reorg took proposals `ids` off L1: they are proposed again, and `safe` moved back to `safe`.
    Reorged {
        /// The proposals, in order.
        ids: Vec<u64>,
        /// The `safe` block now.
        safe: u64,
    },
    /// L2 blocks up to `number` are final on L1.
    Finalized {
        /// The last final L2 block.
        number: u64,
    },
}

/// The proposer's parts.
pub struct Proposer<N, S> {
    /// The proposals.
    pub ledger: Arc<Ledger>,
    /// The L2 node: blocks and proofs, the pool, chain control (to roll back), the tags.
    pub components: N,
    /// Views of L1 blocks for the pre-flight.
    pub views: Arc<L1Views<S>>,
    /// The L1 heads.
    pub heads: HeadWatch,
    /// The proposer's account on L1.
    pub sender: Arc<L1Sender>,
    /// The proof system.
    pub prover: Arc<dyn Prover>,
    /// How it runs.
    pub config: ProposerConfig,
    /// Where its events go.
    pub events: broadcast::Sender<ProposerEvent>,
    /// Where culprits are cooled down (the txpool watcher's).
    pub cooldowns: Arc<CoolDowns>,
}
