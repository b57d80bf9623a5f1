//! The proposer on the in-process dev network: a swap's proposal settles on L1 in the deferred shape (the
//! call trace runs tentativePropose → the L1 bridge → the vault's swap → the answer → finalizePropose), the
//! inbox's last finalized hash and the L2's `finalized` tag reach the proposal's last block; fifty blocks of
//! mixed traffic go out in multi-block `propose` proposals (the swap's in the deferred shape) whose blobs
//! decode back to exactly those blocks; a proposal whose L1 call would fail is never sent and its blocks are
//! rebuilt without the culprit.

use std::time::Duration;

use alloy::eips::eip4844::kzg_to_versioned_hash;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use surge_exex::{ProposalRules, Proposed, ProposerEvent};
use surge_interfaces::StateProviderFactory;
use surge_primitives::{
    bindings::{
        bridge::Bridge,
        examples::{constant_product_pool::ConstantProductPool, swap_vault_l1::SwapVaultL1},
        inbox::RealTimeInbox,
    },
    blob::decode_blob,
    manifest::{ANCHOR_GAS_LIMIT, PayloadScheme, SourceManifest},
    proposal_tx::TxShape,
};
use surge_test_utils::{call_trace, cast, dev_key, runs_in_order};
use tokio::sync::broadcast;

use crate::{
    net::{HeldProver, Net, start_proposing, start_proposing_with, until},
    proposals::{anchor, call, l1_rpc, l2_rpc, mined, succeeded},
};

/// Waits for the proposal holding L2 block `number` to be on L1.
async fn proposed_with(events: &mut broadcast::Receiver<ProposerEvent>, number: u64) -> Proposed {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no proposal with block {number} on L1 within a minute"))
            .unwrap();
        match event {
            ProposerEvent::Proposed(p) if p.l2_blocks.contains(&number) => return p,
            ProposerEvent::PreflightFailed { id, failure } => panic!("proposal {id} failed its pre-flight: {failure}"),
            ProposerEvent::Failed { id, reason } => panic!("proposal {id} failed: {reason}"),
            _ => {}
        }
    }
}

fn events(net: &Net) -> broadcast::Receiver<ProposerEvent> {
    net.proposer.as_ref().expect("the proposer runs").subscribe()
}

/// The L2 block `tag` names (`safe`, `finalized`).
pub(crate) fn l2_tag(net: &Net, tag: &str) -> u64 {
    cast(&["block", tag, "--field", "number", "--rpc-url", &l2_rpc(net)]).parse().unwrap()
}

fn inbox_last_finalized(net: &Net) -> B256 {
    call(&l1_rpc(net), net.protocol.l1.inbox, "lastFinalizedBlockHash()(bytes32)", &[]).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_settles_on_l1_in_a_deferred_proposal_and_the_l2_finalizes_past_it() {
    let net = start_proposing(crate::net::rules()).await;
    let mut events = events(&net);
    net.l2_at(1).await;
    let (swap, _answer, plan) = net.planned_swap(3).await;
    let block = mined(&net, swap.hash).await;
    assert!(succeeded(&net, swap.hash));
    assert_eq!(anchor(&net, block).1, plan.slots().collect::<Vec<_>>());

    let proposed = proposed_with(&mut events, block).await;
    assert_eq!(proposed.shape, TxShape::Deferred);
    assert_eq!(proposed.l2_blocks, [block], "a proposal with L1 calls closes after its first block");
    let (p, apps) = (&net.protocol, &net.apps.cross_chain_swap);
    let steps = [
        (p.l1.inbox, RealTimeInbox::tentativeProposeCall::SELECTOR),
        (p.l1.bridge, Bridge::processMessageCall::SELECTOR),
        (apps.l1_vault, SwapVaultL1::onMessageInvocationCall::SELECTOR),
        (apps.l1_pool, ConstantProductPool::swapETHForTokenCall::SELECTOR),
        (p.l1.bridge, Bridge::sendMessageCall::SELECTOR),
        (p.l1.inbox, RealTimeInbox::finalizeProposeCall::SELECTOR),
    ];
    let trace = call_trace(&l1_rpc(&net), &proposed.l1_tx.to_string());
    assert!(runs_in_order(&trace, &steps), "{steps:?} in order in the L1 call trace {trace:?}");
    let (_, last) = net.l2.store.header_by_number(block).unwrap().unwrap();
    assert_eq!(proposed.last_block_hash, last);
    assert_eq!(inbox_last_finalized(&net), last, "the inbox holds the proposal's last block");
    // The dev L1's blocks are final at once.
    crate::net::until("the finalized tag at the swap's block", || (l2_tag(&net, "finalized") >= block).then_some(()))
        .await;
    assert!(l2_tag(&net, "safe") >= block);
    assert!(net.ledger.closed_proposals().iter().all(|p| p.id != proposed.id), "a landed proposal leaves the ledger");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_blocks_of_mixed_traffic_settle_in_multi_block_proposals_whose_blobs_decode_back_to_the_blocks() {
    let rules = ProposalRules { max_blocks: 5, ..crate::net::rules() };
    let net = start_proposing(rules).await;
    let mut events = events(&net);
    // Transfers and contract calls from two senders until 50 blocks, and a swap on the way.
    let mut nonces = [0u64; 2];
    let mut sent = vec![];
    let mut swap = None;
    while net.l2.store.head().unwrap().header.number < 50 {
        if swap.is_none() && net.l2.store.head().unwrap().header.number >= 20 {
            let (tx, _, _) = net.planned_swap(3).await;
            sent.push(tx.hash);
            swap = Some(tx.hash);
        }
        for (i, who) in [5u32, 6].into_iter().enumerate() {
            let data = if i == 0 { Bytes::new() } else { Bytes::from(vec![0xab; 300]) };
            let (raw, tx) = net.l2_tx(who, nonces[i], Address::repeat_byte(0x42), data, U256::from(7), 60_000);
            net.submit(&raw).unwrap();
            nonces[i] += 1;
            sent.push(tx.hash);
        }
        mined(&net, *sent.last().unwrap()).await;
    }
    let head = net.l2.store.head().unwrap().header.number;
    let mut settled = 1;
    let mut proposals = vec![];
    while settled <= head {
        let p = proposed_with(&mut events, settled).await;
        assert_eq!(p.l2_blocks[0], settled, "proposals follow each other without a gap");
        settled = p.l2_blocks.last().unwrap() + 1;
        proposals.push(p);
    }
    assert!(proposals.iter().filter(|p| p.l2_blocks.len() > 1).count() >= 5, "multi-block proposals");
    let swap_block = mined(&net, swap.unwrap()).await;
    for p in &proposals {
        let expected = if p.l2_blocks.contains(&swap_block) { TxShape::Deferred } else { TxShape::Propose };
        assert_eq!(p.shape, expected, "only the swap's proposal makes an L1 call");
        // The blobs on L1 are these: their commitments give the versioned hashes the L1 transaction carries.
        let l1_tx = cast(&["tx", &p.l1_tx.to_string(), "--json", "--rpc-url", &l1_rpc(&net)]);
        let l1_tx: serde_json::Value = serde_json::from_str(&l1_tx).unwrap();
        let on_l1: Vec<B256> = serde_json::from_value(l1_tx["blobVersionedHashes"].clone()).unwrap();
        let settings = alloy::eips::eip4844::env_settings::EnvKzgSettings::Default.get();
        let ours: Vec<B256> = p
            .blobs
            .iter()
            .map(|b| {
                let blob = alloy::eips::eip4844::c_kzg::Blob::new(**b);
                let commitment = settings.blob_to_kzg_commitment(&blob).unwrap();
                kzg_to_versioned_hash(commitment.as_slice())
            })
            .collect();
        assert_eq!(on_l1, ours);
        let payload: Vec<u8> = p.blobs.iter().flat_map(|b| decode_blob(b).unwrap()).collect();
        let manifest = SourceManifest::decode_payload(&payload, PayloadScheme::Unmarked).unwrap();
        assert_eq!(manifest.blocks.len(), p.l2_blocks.len());
        for (m, number) in manifest.blocks.iter().zip(&p.l2_blocks) {
            let (header, _) = net.l2.store.header_by_number(*number).unwrap().unwrap();
            let body = net.l2.store.body(*number).unwrap().unwrap();
            assert_eq!(m.timestamp, header.timestamp);
            assert_eq!(m.coinbase, header.beneficiary);
            assert_eq!(m.gas_limit, header.gas_limit - ANCHOR_GAS_LIMIT);
            assert_eq!(m.anchor_block_number, anchor(&net, *number).0);
            assert_eq!(m.transactions, body.transactions[1..], "block {number}'s transactions after its anchor");
        }
    }
    let txs: usize = proposals.iter().map(|p| p.l2_txs).sum();
    assert_eq!(txs, sent.len(), "every transaction sent is in a proposal");
    assert!(sent.iter().all(|t| net.l2.store.transaction_location(*t).unwrap().unwrap().block <= head));
    // The chain goes on (a block every 200 ms), and so does the proposer: the inbox holds the last proposal
    // read here, or one after it.
    let last = *proposals.last().unwrap().l2_blocks.last().unwrap();
    let inbox = inbox_last_finalized(&net);
    let now = net.l2.store.head().unwrap().header.number;
    let at = (last..=now).find(|n| net.l2.store.header(*n).unwrap().is_some_and(|h| h.hash == inbox));
    assert!(at.is_some(), "the inbox holds block {last} or a later one of this chain, not {inbox}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proposal_whose_l1_call_would_fail_is_not_sent_and_its_blocks_are_rebuilt_without_the_culprit() {
    // Every proof waits until the test lets them go (a prover takes its time).
    let (open, prover) = HeldProver::holding(|_| true);
    let net = start_proposing_with(crate::net::rules(), prover).await;
    let mut events = events(&net);
    net.l2_at(1).await;
    let (swap, _answer, plan) = net.planned_swap(3).await;
    let block = mined(&net, swap.hash).await;
    // Blocks after it, in later proposals.
    net.l2_at(block + 2).await;
    let head = net.l2.store.head().unwrap().header.number;
    let later: Vec<B256> = ((block + 1)..=head).flat_map(|n| crate::proposals::user_txs(&net, n)).collect();
    assert!(!later.is_empty());

    // Someone swaps on the L1 pool directly: the swap's L1 leg now buys another amount, so its answer (and
    // the slot the L2 block took) is not the message L1 sends.
    let key = alloy_primitives::hex::encode(dev_key(5).to_bytes());
    let pool = net.apps.cross_chain_swap.l1_pool.to_string();
    let to = dev_key(5).address().to_string();
    cast(&[
        "send",
        &pool,
        "swapETHForToken(uint256,address)",
        "0",
        &to,
        "--value",
        "5ether",
        "--private-key",
        &key,
        "--rpc-url",
        &l1_rpc(&net),
    ]);
    open.send(true).unwrap();

    let slot = plan.slots().next().unwrap();
    let (failure, dropped, from) = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut failure = None;
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await.expect("a roll-back within a minute").unwrap()
            {
                ProposerEvent::PreflightFailed { failure: f, .. } => failure = Some(f),
                ProposerEvent::RolledBack { from, dropped, .. } => {
                    break (failure.expect("reported first"), dropped, from);
                }
                ProposerEvent::Proposed(p) => assert!(!p.l2_blocks.contains(&block), "the swap's proposal was sent"),
                ProposerEvent::Failed { id, reason } => panic!("proposal {id} failed otherwise: {reason}"),
                ProposerEvent::Reverted { tx, .. } => panic!("the proposal was sent and reverted on L1 in {tx}"),
                ProposerEvent::Reorged { ids, .. } => panic!("no L1 reorg here: {ids:?}"),
                ProposerEvent::Finalized { .. } | ProposerEvent::Sent { .. } | ProposerEvent::Replaced { .. } => {}
            }
        }
    };
    // Found by the check at an L1 head (the leg answers another message), or by the pre-flight if the proof
    // came first: tentativePropose (0), processMessage (1), finalizePropose (2) finds the answer missing.
    assert_eq!(failure.missing_signal, Some(slot), "{failure}");
    let early = failure.step.is_none() && failure.reason.contains("answered 1 message(s) other than planned");
    let exact = failure.step == Some(2) && failure.reason.contains("RequiredSignalNotSent");
    assert!(early || exact, "{failure}");
    assert_eq!(from, block, "unwound from the culprit's block");
    assert_eq!(dropped.iter().map(|(tx, _)| *tx).collect::<Vec<_>>(), [swap.hash]);

    // Rebuilt without it: the later transactions are in the chain again, and it finalizes past them.
    for tx in &later {
        mined(&net, *tx).await;
    }
    let past = net.l2.store.head().unwrap().header.number;
    until("the finalized tag past the rebuilt blocks", || (l2_tag(&net, "finalized") >= past).then_some(())).await;
    assert!(net.l2.store.transaction_location(swap.hash).unwrap().is_none(), "the culprit is not in the chain");
    assert!(surge_interfaces::TransactionPool::get(&net.l2.pool, &swap.hash).is_none(), "nor in the pool");
}
