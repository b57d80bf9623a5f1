//! Proposals as the ledger keeps them: the L2 blocks collected for one L1 proposal, the L1 block they all
//! anchor to, the signal slots their first block carries and the plans whose L1 calls the proposal makes.
//! The rules here decide where a proposal ends; [`crate::ledger`] applies them and keeps the records.

use std::time::Duration;

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{block::BlockFacts, presim::L2Protocol, user_ops::PlacedOp};
use surge_interfaces::StateProofProvider;
use surge_l1::{InFlightBundle, L1Head, ProvenBlock, hop_proof, process_message};
use surge_primitives::{Checkpoint, signal_slot};
use surge_sync::Plan;

/// The bytes one blob carries for the proposal's data (4096 field elements of 31 usable bytes).
pub const BLOB_BYTES: u64 = 4096 * 31;

/// Where the open proposal ends, and how far behind the L1 head its anchor block is chosen. The budgets
/// close a proposal after the block that reaches them (that block may go past: keep a block's margin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalRules {
    /// L1 blocks between the head and the anchor block chosen when a proposal opens (the newest head seen
    /// at least this far behind; a margin against L1 reorgs).
    pub anchor_distance: u64,
    /// L2 blocks in one proposal at most.
    pub max_blocks: u64,
    /// How long a proposal stays open after its first block.
    pub max_age: Duration,
    /// L2 gas in one proposal at most (what its proof costs).
    pub max_gas: u64,
    /// Transaction bytes in one proposal at most (what its blobs carry).
    pub max_bytes: u64,
    /// L1 blocks the anchor may fall behind the head before the proposal closes: it must still be among
    /// the last 256 when the proposal lands.
    pub max_anchor_lag: u64,
}

impl Default for ProposalRules {
    fn default() -> Self {
        Self {
            anchor_distance: 2,
            max_blocks: 32,
            max_age: Duration::from_secs(12),
            max_gas: 240_000_000,
            max_bytes: 3 * BLOB_BYTES,
            max_anchor_lag: 192,
        }
    }
}

impl ProposalRules {
    /// Checks the rules can be met; names the broken one.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_blocks == 0 {
            return Err("max_blocks must be at least 1".into());
        }
        if self.anchor_distance >= self.max_anchor_lag || self.max_anchor_lag >= 256 {
            return Err(format!(
                "anchor_distance ({}) must be below max_anchor_lag ({}), and that below 256 (blockhash's window)",
                self.anchor_distance, self.max_anchor_lag
            ));
        }
        Ok(())
    }

    /// The anchor for a proposal opening now: the newest of `seen` (oldest first) at least
    /// `anchor_distance` behind the newest, or the oldest seen when none is that far behind yet. A head
    /// with a zero hash or state root is never chosen.
    pub fn choose_anchor<'a>(&self, seen: impl DoubleEndedIterator<Item = &'a L1Head> + Clone) -> Option<L1Head> {
        let usable = |h: &&L1Head| !h.hash.is_zero() && !h.state_root.is_zero();
        let newest = seen.clone().rev().find(usable)?;
        let target = newest.number.saturating_sub(self.anchor_distance);
        seen.clone().rev().filter(usable).find(|h| h.number <= target).or_else(|| seen.clone().find(usable)).copied()
    }
}

/// One L2 block of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalBlock {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// A proposal: open (collecting blocks) or closed (waiting for the proposer, in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalRecord {
    /// Its id (proposals are numbered in order, from 1).
    pub id: u64,
    /// The L1 block every block of it anchors to.
    pub anchor: Checkpoint,
    /// When its first block was built (unix seconds).
    pub opened_at: u64,
    /// Its blocks, in order.
    pub blocks: Vec<ProposalBlock>,
    /// Gas its blocks used.
    pub gas_used: u64,
    /// Bytes of its blocks' transactions.
    pub bytes: u64,
    /// The signal slots its first block's anchor carries: user-op slots, then answers' slots in the order
    /// their L1 calls run (the order the inbox hashes).
    pub slots: Vec<B256>,
    /// The plans included in its first block, in order: its L1 calls.
    pub plans: Vec<Plan>,
    /// The user ops its first block took, in order: they run first in its bundle.
    #[serde(default)]
    pub user_ops: Vec<PlacedOp>,
    /// Whether it takes no more blocks.
    pub closed: bool,
    /// Where L1 holds it, once its transaction is in a block deep enough (until that block is final).
    #[serde(default)]
    pub landed: Option<L1Inclusion>,
}

/// Where L1 holds a proposal: its transaction and the block that includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Inclusion {
    /// The L1 transaction.
    pub tx: B256,
    /// The L1 block's number.
    pub block: u64,
    /// The L1 block's hash.
    pub hash: B256,
}

impl ProposalRecord {
    /// A proposal opening now (`opened_at`, unix seconds), anchored to `anchor`, with no block yet.
    pub fn open(id: u64, anchor: Checkpoint, opened_at: u64) -> Self {
        Self {
            id,
            anchor,
            opened_at,
            blocks: vec![],
            gas_used: 0,
            bytes: 0,
            slots: vec![],
            plans: vec![],
            user_ops: vec![],
            closed: false,
            landed: None,
        }
    }

    /// The last block's hash.
    pub fn last_block_hash(&self) -> Option<B256> {
        self.blocks.last().map(|b| b.hash)
    }

    /// Why it should take no more blocks after the ones it has, if it should not.
    pub fn full(&self, rules: &ProposalRules) -> Option<&'static str> {
        if !self.plans.is_empty() || !self.user_ops.is_empty() {
            Some("it holds L1 calls")
        } else if self.blocks.len() as u64 >= rules.max_blocks {
            Some("block count")
        } else if self.gas_used >= rules.max_gas {
            Some("gas budget")
        } else if self.bytes >= rules.max_bytes {
            Some("blob budget")
        } else {
            None
        }
    }

    /// Why committed block `block` did not join it (it opened a proposal of its own), if it did not: it
    /// carries slots, plans or user ops, took another anchor, came after the proposal filled, or came too
    /// late. The
    /// builder decides by the same rules before building, with [`Self::expired`] at the block's timestamp.
    pub fn refuses(&self, rules: &ProposalRules, block: &BlockFacts) -> Option<&'static str> {
        if block.carries() {
            Some("the block carries signal slots or plans")
        } else if self.anchor != block.checkpoint {
            Some("the block takes another anchor")
        } else if let Some(why) = self.full(rules) {
            Some(why)
        } else if block.header.header.timestamp.saturating_sub(self.opened_at) >= rules.max_age.as_secs() {
            Some("age")
        } else {
            None
        }
    }

    /// Why a block built at `now` (unix seconds) on L1 head `l1_head` cannot join it, if it cannot.
    pub fn expired(&self, rules: &ProposalRules, now: u64, l1_head: u64) -> Option<&'static str> {
        if now.saturating_sub(self.opened_at) >= rules.max_age.as_secs() {
            Some("age")
        } else if l1_head.saturating_sub(self.anchor.blockNumber.to::<u64>()) > rules.max_anchor_lag {
            Some("anchor too far behind the L1 head")
        } else {
            None
        }
    }

    /// Its user ops' Multicall calls, in order.
    pub fn user_op_calls(&self) -> Vec<surge_primitives::bindings::multicall::Multicall::Call> {
        self.user_ops.iter().flat_map(|op| op.calls.iter().cloned()).collect()
    }

    /// The L1 calls it makes, as the bundle simulation runs them ahead of the open bundle.
    pub fn in_flight(&self) -> Option<InFlightBundle> {
        Some(InFlightBundle {
            last_block_hash: self.last_block_hash()?,
            user_ops: self.user_op_calls(),
            messages: self.plans.iter().flat_map(|p| p.messages.iter().map(|m| m.message.clone())).collect(),
        })
    }
}

/// The proposals after a block: those it closed, in order, and the open one.
#[derive(Debug, Clone, Default)]
pub struct Advanced {
    /// Closed by the block: the open one it did not join, and its own if it filled it.
    pub closed: Vec<ProposalRecord>,
    /// The open proposal after it.
    pub open: Option<ProposalRecord>,
}

/// Accounts for committed block `block` after `open` (the open proposal before it): the block joins it, or
/// closes it and opens proposal `next_id` (which is then advanced) with its anchor, slots and plans; a
/// proposal the block fills closes. The ledger and the builder's look at the open proposal both advance
/// through this one function.
pub fn advance(rules: &ProposalRules, open: Option<ProposalRecord>, next_id: &mut u64, block: &BlockFacts) -> Advanced {
    let mut out = Advanced::default();
    let mut p = match open {
        Some(p) if p.refuses(rules, block).is_none() => p,
        previous => {
            if let Some(mut previous) = previous {
                previous.closed = true;
                out.closed.push(previous);
            }
            let mut p = ProposalRecord::open(*next_id, block.checkpoint.clone(), block.header.header.timestamp);
            *next_id += 1;
            p.slots = block.slots.clone();
            p.user_ops = block.user_ops.clone();
            p
        }
    };
    p.blocks.push(ProposalBlock { number: block.number(), hash: block.header.hash });
    p.gas_used += block.header.header.gas_used;
    p.bytes += block.tx_bytes;
    p.plans.extend(block.planned.iter().map(|(_, plan)| plan.clone()));
    if p.full(rules).is_some() {
        p.closed = true;
        out.closed.push(p);
    } else {
        out.open = Some(p);
    }
    out
}

/// A proposal's L1 calls, in the order they run, and the answers' slots they must send (its required
/// return signals, in the same order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1Calls {
    /// `processMessage(message, proof)` for every outbound message of its plans.
    pub calls: Vec<surge_primitives::bindings::multicall::Multicall::Call>,
    /// The answers' slots.
    pub required: Vec<B256>,
}

impl ProposalRecord {
    /// Its L1 calls, each message proven by the L2 signal service's storage at the proposal's last block
    /// (from `provider`, which must still hold that block as recorded).
    pub fn l1_calls<P: StateProofProvider>(&self, provider: &P, l2: &L2Protocol) -> Result<L1Calls, String> {
        let last = self.blocks.last().ok_or_else(|| format!("proposal {} has no block", self.id))?;
        let (header, hash) = provider
            .header_by_number(last.number)
            .map_err(|e| format!("reading block {}: {e}", last.number))?
            .ok_or_else(|| format!("block {} is not in the chain", last.number))?;
        if hash != last.hash {
            return Err(format!(
                "block {} is no longer proposal {}'s ({hash} instead of {})",
                last.number, self.id, last.hash
            ));
        }
        let block = ProvenBlock { chain_id: l2.l2_chain_id, number: last.number, state_root: header.state_root };
        let messages: Vec<&surge_sync::PlannedMessage> = self.plans.iter().flat_map(|p| &p.messages).collect();
        let slots: Vec<B256> = messages.iter().map(|m| signal_slot(l2.l2_chain_id, l2.bridge, m.hash)).collect();
        let proof = provider
            .proof(last.number, l2.signal_service, &slots)
            .map_err(|e| format!("proving {} signals at block {}: {e}", slots.len(), last.number))?;
        let mut calls = Vec::with_capacity(messages.len());
        for (m, slot) in messages.iter().zip(slots) {
            let hop = hop_proof(block, &proof, slot).map_err(|e| format!("message {}: {e}", m.hash))?;
            calls.push(process_message(l2.l1_bridge, &m.message, hop));
        }
        let required = self.plans.iter().flat_map(Plan::slots).collect();
        Ok(L1Calls { calls, required })
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::aliases::U48;

    use super::*;

    fn head(number: u64) -> L1Head {
        L1Head {
            number,
            hash: B256::with_last_byte(number as u8 + 1),
            parent_hash: B256::with_last_byte(number as u8),
            state_root: B256::with_last_byte(1),
            timestamp: number * 12,
            base_fee: None,
        }
    }

    #[test]
    fn the_anchor_is_the_newest_head_seen_far_enough_behind() {
        let rules = ProposalRules { anchor_distance: 2, ..Default::default() };
        let seen = [head(10), head(11), head(13), head(14)];
        assert_eq!(rules.choose_anchor(seen.iter()).map(|h| h.number), Some(11));
        // Nothing seen that far behind yet: the oldest seen.
        assert_eq!(rules.choose_anchor(seen[2..].iter()).map(|h| h.number), Some(13));
        // A head without a state root is never an anchor.
        let mut broken = seen;
        broken[1].state_root = B256::ZERO;
        assert_eq!(rules.choose_anchor(broken.iter()).map(|h| h.number), Some(10));
        assert_eq!(rules.choose_anchor([].iter()), None);
    }

    #[test]
    fn a_proposal_closes_on_l1_calls_count_gas_bytes_age_and_anchor_lag() {
        let rules = ProposalRules { max_blocks: 2, max_gas: 100, max_bytes: 50, ..Default::default() };
        let anchor = Checkpoint { blockNumber: U48::from(100), ..Default::default() };
        let mut p = ProposalRecord::open(1, anchor, 1_000);
        assert_eq!(p.full(&rules), None);
        p.blocks.push(ProposalBlock { number: 1, hash: B256::with_last_byte(1) });
        assert_eq!(p.full(&rules), None);
        p.gas_used = 100;
        assert_eq!(p.full(&rules), Some("gas budget"));
        p.gas_used = 0;
        p.bytes = 50;
        assert_eq!(p.full(&rules), Some("blob budget"));
        p.bytes = 0;
        p.blocks.push(ProposalBlock { number: 2, hash: B256::with_last_byte(2) });
        assert_eq!(p.full(&rules), Some("block count"));
        assert_eq!(p.expired(&rules, 1_011, 100), None);
        assert_eq!(p.expired(&rules, 1_012, 100), Some("age"));
        assert_eq!(p.expired(&rules, 1_000, 100 + 193), Some("anchor too far behind the L1 head"));
        assert!(ProposalRules { anchor_distance: 200, ..rules }.validate().is_err());
        assert!(ProposalRules { max_blocks: 0, ..rules }.validate().is_err());
        assert!(rules.validate().is_ok());
    }
}
