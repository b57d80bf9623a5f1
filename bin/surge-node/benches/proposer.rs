//! The proposer's costs on the in-process dev network (mock prover, an L1 mining as soon as a transaction
//! arrives), side by side in one run:
//! - an L2 swap from submission to settlement on L1, per stage: planned by the txpool watcher, included in an
//!   L2 block with its slot, then the proposal assembled (manifest, blobs, message proofs), proved,
//!   pre-flighted and included on L1 (median of several swaps);
//! - L1 gas and blob bytes per L2 transaction for proposals of 1, 10 and 100 transfers.
//!
//! Run: `cargo bench -p surge-node --bench proposer` (release build; prints tables).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use alloy::{consensus::TxEnvelope, eips::Encodable2718};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, U256};
use alloy_sol_types::SolCall;
use revm::context::TxEnv;
use surge_exex::{Candidate, ProposalRules, Proposed, ProposerEvent};
use surge_host::producer::ProductionMode;
use surge_interfaces::{ChainControl, TransactionOrigin, TransactionPool};
use surge_node::network::{DevNetwork, NetworkOptions};
use surge_primitives::{Message, bindings::examples::swap_vault_l2::SwapVaultL2};
use surge_test_utils::{dev_key, eip1559_call, sign_eip1559};
use tokio::sync::broadcast;

const SWAPS: u32 = 7;
/// Blob gas per blob (EIP-4844).
const BLOB_GAS: u64 = 131_072;

fn signed(net: &DevNetwork, who: u32, nonce: u64, to: Address, input: Vec<u8>, value: U256, gas: u64) -> TxEnvelope {
    let tx = eip1559_call(net.protocol.l2_chain_id, nonce, to, input.into(), value, gas);
    sign_eip1559(&dev_key(who), tx)
}

fn swap(net: &DevNetwork, who: u32, answer: Message) -> TxEnvelope {
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.into() };
    let vault = net.apps.cross_chain_swap.l2_vault;
    signed(net, who, 0, vault, call.abi_encode(), U256::from(10).pow(U256::from(18)), 3_000_000)
}

fn candidate(tx: &TxEnvelope, who: u32) -> Candidate {
    let sender = dev_key(who).address();
    Candidate { hash: *tx.tx_hash(), sender, nonce: 0, tx: TxEnv::from_recovered_tx(tx, sender) }
}

async fn start(dir: &std::path::Path, rules: ProposalRules) -> DevNetwork {
    let options = NetworkOptions {
        rules,
        l2_mode: ProductionMode::Interval(Duration::from_millis(100)),
        proposer: true,
        ..Default::default()
    };
    surge_node::network::start(dir, options).await.unwrap()
}

/// Polls `f` every millisecond until it answers.
async fn until<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn proposed_with(events: &mut broadcast::Receiver<ProposerEvent>, block: u64) -> Proposed {
    loop {
        match events.recv().await.unwrap() {
            ProposerEvent::Proposed(p) if p.l2_blocks.contains(&block) => return p,
            ProposerEvent::PreflightFailed { failure, .. } => panic!("pre-flight failed: {failure}"),
            ProposerEvent::Failed { reason, .. } => panic!("proposal failed: {reason}"),
            _ => {}
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn swap_latency() {
    let dir = tempfile::tempdir().unwrap();
    let net = start(dir.path(), ProposalRules { anchor_distance: 0, ..Default::default() }).await;
    let watcher = net.watcher.clone().expect("the watcher runs");
    let planner = watcher.published();
    let mut events = net.proposer.as_ref().unwrap().subscribe();
    let names = [
        "submission → plan",
        "plan → L2 block with its slot",
        "block → the proposer takes it",
        "assembly (manifest, blobs, proofs)",
        "proof (mock)",
        "pre-flight on the L1 view",
        "sent → included on L1",
        "submission → settled on L1",
    ];
    let mut stages: Vec<Vec<Duration>> = vec![vec![]; names.len()];
    for who in 3..3 + SWAPS {
        let placeholder = Message {
            srcChainId: net.protocol.l1_chain_id,
            destChainId: net.protocol.l2_chain_id,
            ..Default::default()
        };
        let blind = swap(&net, who, placeholder);
        let answer = watcher.answers(candidate(&blind, who)).await.unwrap().messages[0].answers[0].message.clone();
        let tx = swap(&net, who, answer);
        let hash = *tx.tx_hash();
        let submitted = Instant::now();
        net.l2.pool.add_transaction(TransactionOrigin::External, &tx.encoded_2718()).unwrap();
        until(|| planner.plan(&hash)).await;
        let planned = Instant::now();
        let block = until(|| net.l2.store.transaction_location(hash).ok().flatten().map(|l| l.block)).await;
        let included = Instant::now();
        let p = proposed_with(&mut events, block).await;
        let settled = Instant::now();
        let t = p.times;
        let waited = (settled - included).saturating_sub(t.assemble + t.prove + t.preflight + t.include);
        let all = [
            planned - submitted,
            included - planned,
            waited,
            t.assemble,
            t.prove,
            t.preflight,
            t.include,
            settled - submitted,
        ];
        for (i, d) in all.into_iter().enumerate() {
            stages[i].push(d);
        }
    }
    println!("\nAn L2 swap, submission to settlement on the dev L1 (median of {SWAPS}; L2 blocks every 100 ms)");
    for (name, times) in names.iter().zip(stages) {
        println!("  {name:<36} {:>9.2} ms", ms(median(times)));
    }
    net.l2.stop().await;
    net.l1.stop().await;
}

async fn proposal_costs() {
    let dir = tempfile::tempdir().unwrap();
    // One block a proposal: each measured block is a proposal of its own.
    let net = start(dir.path(), ProposalRules { anchor_distance: 0, max_blocks: 1, ..Default::default() }).await;
    let mut events = net.proposer.as_ref().unwrap().subscribe();
    println!("\nProposals of plain transfers (10 senders), costs on L1 per L2 transaction");
    println!(
        "  {:>5} {:>11} {:>10} {:>6} {:>13} {:>12} {:>14}",
        "txs", "L1 gas", "gas/tx", "blobs", "blob bytes", "bytes/tx", "blob gas/tx"
    );
    let mut nonces = [0u64; 10];
    // The first round warms the L1 state the proposals touch; it is not printed.
    for (round, n) in [1usize, 1, 10, 100].into_iter().enumerate() {
        net.l2.control.pause_production();
        let mut last = None;
        for i in 0..n {
            let who = (i % 10) as u32;
            let k = i % 10;
            let tx = signed(&net, who, nonces[k], Address::repeat_byte(0x42), vec![], U256::from(1), 21_000);
            nonces[k] += 1;
            net.l2.pool.add_transaction(TransactionOrigin::External, &tx.encoded_2718()).unwrap();
            last = Some(*tx.tx_hash());
        }
        net.l2.control.resume_production();
        let last = last.unwrap();
        let block = until(|| net.l2.store.transaction_location(last).ok().flatten().map(|l| l.block)).await;
        let p = proposed_with(&mut events, block).await;
        assert_eq!(p.l2_txs, n, "all {n} in one block, one proposal");
        if round == 0 {
            continue;
        }
        let per = |x: u64| x as f64 / n as f64;
        let blob_gas = p.blobs.len() as u64 * BLOB_GAS;
        println!(
            "  {n:>5} {:>11} {:>10.0} {:>6} {:>13} {:>12.1} {:>14.0}",
            p.l1_gas_used,
            per(p.l1_gas_used),
            p.blobs.len(),
            p.payload_bytes,
            per(p.payload_bytes as u64),
            per(blob_gas)
        );
    }
    net.l2.stop().await;
    net.l1.stop().await;
}

/// What one blob's sidecar costs to compute: cell proofs (Osaka) against one blob proof (before).
fn sidecar_costs() {
    let payload: Vec<u8> = (0..6_000u32).map(|i| (i * 7) as u8).collect();
    let blobs = surge_primitives::blob::encode_blobs(&payload).unwrap();
    // The trusted setup loads once, on first use.
    surge_l1::blob_sidecar(&blobs, true).unwrap();
    let time = |cells: bool| {
        let started = Instant::now();
        for _ in 0..5 {
            surge_l1::blob_sidecar(&blobs, cells).unwrap();
        }
        started.elapsed() / 5
    };
    let (cells, proof) = (time(true), time(false));
    println!("\nOne blob's sidecar (the assembly's main cost)");
    println!(
        "  {:<36} {:>9.2} ms   {:<30} {:>9.2} ms   {:>5.1}x",
        "cell proofs (EIP-7594, Osaka)",
        ms(cells),
        "one blob proof (EIP-4844)",
        ms(proof),
        cells.as_secs_f64() / proof.as_secs_f64()
    );
}

fn main() {
    sidecar_costs();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(swap_latency());
    rt.block_on(proposal_costs());
}
