//! Synchronous composability's costs, side by side in one run, on the in-process dev network:
//! - pre-simulating one sync transaction (the swap) in process — trace, L1 leg on a warm view, confirming
//!   re-trace — vs Catalyst's path for the same transaction over HTTP on the node's own endpoints:
//!   `debug_traceCall` on L2, `eth_call`s of `nextMessageId` and `hashMessage`, `debug_traceCall` with state
//!   overrides on L1 and its `nextMessageId` (goal: at least 30× faster);
//! - admitting 10,000 ERC-20 transfers (160 senders, up to 63 back to back each) into the L2 pool with the
//!   txpool watcher on, until it has classified every one, vs admitting them with it off (goal: at most 5%
//!   more time per transaction), with how many it found plain and how many overflowed its queue.
//!
//! - twenty senders' swaps, each answered, sent and planned in turn until all are mined, with 50 clients
//!   looping heavy `eth_call`s (swaps without their answers, which ask the RPC simulation workers) and 50
//!   looping `surge_simulateReturnMessage` on the node's endpoint vs on an idle node (the watcher's planning
//!   does not wait for RPC simulations: goal about 1×, bounded by the cores the load takes);
//! - the watcher's work per L2 block and per L1 head with 0, 10 and 100 live plans: incremental (an L2 block
//!   that took none of them and changed nothing they read runs none of them again and keeps the legs; an L1
//!   head that changes no answer runs only the legs) vs replaying every plan on L2 and L1 (what each move
//!   cost before).
//!
//! Run: `cargo bench -p surge-node --bench sync` (release build; prints a table).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    consensus::{TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::local::PrivateKeySigner,
};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolConstructor};
use revm::context::TxEnv;
use serde_json::{Value, json};
use surge_exex::{Candidate, L2Protocol, Moved, PlanBook, pending_state};
use surge_host::{producer::ProductionMode, seams::HostEvmConfig};
use surge_interfaces::{ChainControl, ConfigureEvm, TransactionOrigin, TransactionPool};
use surge_l1::{BundleSimulator, EmbeddedSource, L1Protocol, L1StateSource, SimConfig};
use surge_node::network::{DevNetwork, NetworkOptions};
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, examples::swap_token::SwapToken, examples::swap_vault_l2::SwapVaultL2},
    slots::bridge::{CTX_FROM_CHAIN_SLOT, CTX_MSG_HASH_SLOT},
};
use surge_sync::NoPlan;
use surge_test_utils::{dev_key, sign_eip1559};

const ROUNDS: u32 = 100;
const TRANSFERS: usize = 10_000;
const SENDERS: usize = 160;
const GWEI: u128 = 1_000_000_000;

fn time(rounds: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed() / rounds
}

fn row(what: &str, a: (&str, f64), b: (&str, f64), unit: &str) {
    println!("{what:<34} {:>30} {:>10.3} {unit}   {:>40} {:>10.3} {unit}   {:>6.1}x", a.0, a.1, b.0, b.1, b.1 / a.1);
}

fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    input: Vec<u8>,
    value: U256,
    gas: u64,
) -> TxEnvelope {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        access_list: Default::default(),
        input: input.into(),
    };
    sign_eip1559(key, tx)
}

fn network(rt: &tokio::runtime::Runtime, dir: &std::path::Path, watcher: bool) -> DevNetwork {
    let options =
        NetworkOptions { l2_mode: ProductionMode::Interval(Duration::from_millis(200)), watcher, ..Default::default() };
    rt.block_on(surge_node::network::start(dir, options)).unwrap()
}

/// A swap of 1 ether from `who` embedding `answer`.
fn swap(net: &DevNetwork, who: u32, answer: Message) -> TxEnvelope {
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.into() };
    let to = TxKind::Call(net.apps.cross_chain_swap.l2_vault);
    sign(
        &dev_key(who),
        net.protocol.l2_chain_id,
        0,
        to,
        call.abi_encode(),
        U256::from(10).pow(U256::from(18)),
        3_000_000,
    )
}

fn presimulation(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let net = network(rt, dir.path(), true);
    let evm = HostEvmConfig(net.l2.spec.clone());
    let factory = evm.simulation_factory();
    let l2 = L2Protocol::from_config(&net.protocol);
    let head = net.l1.store.head().unwrap();
    let view = rt.block_on(EmbeddedSource::new(net.l1.store.clone()).open(head.header.number, head.hash)).unwrap();
    let bundle =
        BundleSimulator::new(Arc::new(view), L1Protocol::from_config(&net.protocol), SimConfig::default(), &[])
            .unwrap();
    let mut pending = pending_state(net.l2.store.as_ref(), &evm, l2).unwrap();
    let candidate = |tx: &TxEnvelope| {
        let sender = dev_key(3).address();
        Candidate { hash: *tx.tx_hash(), sender, nonce: 0, tx: TxEnv::from_recovered_tx(tx, sender) }
    };
    let placeholder =
        Message { srcChainId: net.protocol.l1_chain_id, destChainId: net.protocol.l2_chain_id, ..Default::default() };
    let blind = candidate(&swap(&net, 3, placeholder));
    let (asked, _) = pending.answers_to_call(&factory, &bundle, &blind).unwrap();
    let outbound = asked.messages[0].message.clone();
    let tx = swap(&net, 3, asked.messages[0].answers[0].message.clone());
    let real = candidate(&tx);
    pending.presimulate(&factory, &bundle, &real, &[]).expect("the swap is planned");
    let in_process = time(ROUNDS, || {
        pending.presimulate(&factory, &bundle, &real, &[]).unwrap();
    });
    // Where it goes: the bundle's copy, the L1 leg alone, phases (a) and (b).
    let copy = time(ROUNDS, || drop(bundle.clone()));
    let leg = time(ROUNDS, || {
        let mut b = bundle.clone();
        b.message(&outbound).unwrap();
    });
    let phases_ab = time(ROUNDS, || {
        pending.answers(&factory, &bundle, &real).unwrap();
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "  of which: bundle copy {:.0} µs, L1 leg with its copy {:.0} µs, trace and leg (a, b) {:.0} µs, all {:.0} µs",
        us(copy),
        us(leg),
        us(phases_ab),
        us(in_process)
    );

    // Catalyst's path: the node's own endpoints over HTTP.
    let (l2_url, l1_url) = (format!("http://{}", net.l2.rpc_addr), format!("http://{}", net.l1.rpc_addr));
    let call = json!({
        "from": dev_key(3).address(), "to": net.apps.cross_chain_swap.l2_vault, "gas": "0x2dc6c0",
        "value": "0xde0b6b3a7640000", "data": Bytes::from(alloy::consensus::Transaction::input(&tx).to_vec()),
    });
    let next_id = json!([{ "to": net.protocol.l2.bridge, "data": Bytes::from(Bridge::nextMessageIdCall {}.abi_encode()) }, "latest"]);
    let hash = Bridge::hashMessageCall { message: outbound.clone() }.abi_encode();
    let hash_call = json!([{ "to": net.protocol.l2.bridge, "data": Bytes::from(hash) }, "latest"]);
    let packed = (U256::from(net.protocol.l2_chain_id) << 160) | U256::from_be_slice(outbound.from.as_slice());
    let overrides = json!({ net.protocol.l1.bridge.to_string(): {
        "balance": "0x3635c9adc5dea00000",
        "stateDiff": {
            format!("0x{CTX_MSG_HASH_SLOT:064x}"): outbound.hash(),
            format!("0x{CTX_FROM_CHAIN_SLOT:064x}"): format!("0x{packed:064x}"),
        }
    }});
    let l1_leg = json!([
        { "from": net.protocol.l1.bridge, "to": outbound.to, "value": format!("0x{:x}", outbound.value), "data": outbound.data, "gas": "0x7a1200" },
        "latest",
        { "tracer": "callTracer", "stateOverrides": overrides },
    ]);
    let l1_next_id = json!([{ "to": net.protocol.l1.bridge, "data": Bytes::from(Bridge::nextMessageIdCall {}.abi_encode()) }, "latest"]);
    // One client with kept-alive connections, as Catalyst's alloy providers have.
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let rpc = |url: &str, method: &str, params: Value| -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let answer: Value = agent.post(url).send_json(&body).unwrap().body_mut().read_json().unwrap();
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    };
    let catalyst = |l1_url: &str| {
        let traced = rpc(&l2_url, "debug_traceCall", json!([call, "latest", { "tracer": "callTracer" }]));
        assert!(traced["calls"].is_array(), "{traced}");
        rpc(&l2_url, "eth_call", next_id.clone());
        rpc(&l2_url, "eth_call", hash_call.clone());
        let leg = rpc(l1_url, "debug_traceCall", l1_leg.clone());
        assert!(leg.get("error").is_none(), "the L1 leg succeeds: {leg}");
        rpc(l1_url, "eth_call", l1_next_id.clone());
    };
    catalyst(&l1_url);
    let over_http = time(ROUNDS, || catalyst(&l1_url));
    // The same with the L1 calls going to anvil started from the dev L1 genesis (an external L1, as
    // Catalyst has).
    let genesis = surge_test_utils::workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = surge_test_utils::Anvil::start(&genesis, "osaka", net.protocol.l1_chain_id, &[]);
    catalyst(&anvil.url);
    let with_anvil = time(ROUNDS, || catalyst(&anvil.url));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ours = ("in process (trace, leg, re-trace)", ms(in_process));
    row("pre-simulating one swap", ours, ("Catalyst's calls, both chains this node", ms(over_http)), "ms");
    row("pre-simulating one swap", ours, ("Catalyst's calls, L1 on anvil", ms(with_anvil)), "ms");
    drop(net);
}

/// `SENDERS` fresh accounts funded with ETH and tokens (each dev account deploys a token and funds 16),
/// then `TRANSFERS` token transfers signed by them; the raw transactions.
fn transfers(net: &DevNetwork) -> Vec<Vec<u8>> {
    let chain = net.protocol.l2_chain_id;
    let senders: Vec<PrivateKeySigner> =
        (0..SENDERS).map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("bench sender {i}"))).unwrap()).collect();
    let per_dev = SENDERS / 10;
    let mut last = vec![];
    let mut tokens = vec![];
    for d in 0..10u32 {
        let dev = dev_key(d);
        let supply = U256::from(10).pow(U256::from(30));
        let code =
            [SwapToken::BYTECODE.to_vec(), SwapToken::constructorCall { holder: dev.address(), supply }.abi_encode()]
                .concat();
        let nonce = net
            .l2
            .store
            .latest_state()
            .map(|s| {
                use revm::DatabaseRef;
                s.basic_ref(dev.address()).unwrap().map_or(0, |a| a.nonce)
            })
            .unwrap();
        let token = dev.address().create(nonce);
        tokens.push(token);
        let mut txs = vec![sign(&dev, chain, nonce, TxKind::Create, code, U256::ZERO, 2_000_000)];
        for (i, s) in senders[d as usize * per_dev..(d as usize + 1) * per_dev].iter().enumerate() {
            let n = nonce + 1 + 2 * i as u64;
            txs.push(sign(
                &dev,
                chain,
                n,
                TxKind::Call(s.address()),
                vec![],
                U256::from(10).pow(U256::from(18)),
                21_000,
            ));
            let give = SwapToken::transferCall { to: s.address(), amount: U256::from(10).pow(U256::from(24)) };
            txs.push(sign(&dev, chain, n + 1, TxKind::Call(token), give.abi_encode(), U256::ZERO, 100_000));
        }
        for tx in &txs {
            net.l2.pool.add_transaction(TransactionOrigin::Local, &tx.encoded_2718()).unwrap();
        }
        last.push(*txs.last().unwrap().tx_hash());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !last.iter().all(|h| net.l2.store.transaction_location(*h).unwrap().is_some()) {
        assert!(Instant::now() < deadline, "the funding did not go through");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut raws = Vec::with_capacity(TRANSFERS);
    'senders: for nonce in 0..64u64 {
        for (i, s) in senders.iter().enumerate() {
            if raws.len() == TRANSFERS {
                break 'senders;
            }
            let to = Address::with_last_byte((i % 250) as u8 + 1);
            let call = SwapToken::transferCall { to, amount: U256::from(1) };
            let token = TxKind::Call(tokens[i / per_dev]);
            raws.push((i, nonce, sign(s, chain, nonce, token, call.abi_encode(), U256::ZERO, 60_000).encoded_2718()));
        }
    }
    // In each sender's nonce order.
    raws.sort_by_key(|(i, nonce, _)| (*nonce, *i));
    raws.into_iter().map(|(_, _, raw)| raw).collect()
}

/// Admits `TRANSFERS` transfers with the watcher on or off: with it, until the watcher has classified every
/// one of them (each looked at in its sender's nonce order, after the sender's earlier ones). The time per
/// transaction, and with the watcher how many it found plain, how many it gave another reason, how many
/// overflowed its queue and when admission itself ended.
fn admission(rt: &tokio::runtime::Runtime, watcher: bool) -> (Duration, Option<(usize, usize, usize, Duration)>) {
    let dir = tempfile::tempdir().unwrap();
    let net = network(rt, dir.path(), watcher);
    let raws = transfers(&net);
    net.l2.control.pause_production();
    let decided_before = net.watcher.as_ref().map_or(0, |w| w.published().decided_count());
    let started = Instant::now();
    let mut hashes = Vec::with_capacity(raws.len());
    for raw in &raws {
        hashes.push(net.l2.pool.add_transaction(TransactionOrigin::External, raw).unwrap());
    }
    let admitted = started.elapsed();
    let Some(w) = net.watcher.as_ref() else { return (admitted / hashes.len() as u32, None) };
    let planner = w.published();
    let deadline = Instant::now() + Duration::from_secs(300);
    while planner.decided_count() < decided_before + hashes.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let classified = started.elapsed();
    let reasons: Vec<Option<NoPlan>> = hashes.iter().map(|h| planner.no_plan_reason(h)).collect();
    let plain = reasons.iter().filter(|r| **r == Some(NoPlan::NoOutboundMessage)).count();
    let overflowed = reasons.iter().filter(|r| **r == Some(NoPlan::QueueFull)).count();
    let other = reasons.iter().filter(|r| r.is_some()).count() - plain - overflowed;
    drop(net);
    (classified / hashes.len() as u32, Some((plain, other, overflowed, admitted)))
}

/// `n` fresh accounts (keys from `label`), each sent 3 ether by dev account 2; once the last is mined.
fn funded(net: &DevNetwork, label: &str, n: usize) -> Vec<PrivateKeySigner> {
    let senders: Vec<PrivateKeySigner> =
        (0..n).map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("{label} {i}"))).unwrap()).collect();
    let three = U256::from(3) * U256::from(10).pow(U256::from(18));
    // Sixteen at a time: the pool holds that many executable transactions of one sender.
    for (batch, chunk) in senders.chunks(16).enumerate() {
        let mut last = None;
        for (i, s) in chunk.iter().enumerate() {
            let (to, nonce) = (TxKind::Call(s.address()), (batch * 16 + i) as u64);
            let fund = sign(&dev_key(2), net.protocol.l2_chain_id, nonce, to, vec![], three, 21_000);
            net.l2.pool.add_transaction(TransactionOrigin::Local, &fund.encoded_2718()).unwrap();
            last = Some(*fund.tx_hash());
        }
        while last.is_some_and(|h| net.l2.store.transaction_location(h).unwrap().is_none()) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    senders
}

/// Swaps from `SWAPPERS` fresh senders, one after another (each answered in process, sent, and planned
/// before the next asks), until all are mined; with `load`, 50 clients loop heavy `eth_call`s and 50 loop
/// `surge_simulateReturnMessage` meanwhile. The time from the first answer to the last swap mined, and how
/// many RPC requests the load had answered (and refused as busy) by then.
fn swaps_under_load(rt: &tokio::runtime::Runtime, load: bool) -> (Duration, usize, usize) {
    const SWAPPERS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let net = network(rt, dir.path(), true);
    let watcher = net.watcher.clone().unwrap();
    let chain = net.protocol.l2_chain_id;
    let senders = funded(&net, "bench swapper", SWAPPERS);
    let ether = U256::from(10).pow(U256::from(18));
    let mined = |h| net.l2.store.transaction_location(h).unwrap().is_some();
    let placeholder =
        Message { srcChainId: net.protocol.l1_chain_id, destChainId: net.protocol.l2_chain_id, ..Default::default() };
    let vault = net.apps.cross_chain_swap.l2_vault;
    let swap_of = |s: &PrivateKeySigner, answer: Message| {
        let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.into() };
        sign(s, chain, 0, TxKind::Call(vault), call.abi_encode(), ether, 3_000_000)
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counts = Arc::new([std::sync::atomic::AtomicUsize::new(0), std::sync::atomic::AtomicUsize::new(0)]);
    let mut clients = vec![];
    if load {
        let url = format!("http://{}", net.l2.rpc_addr);
        let blind = json!({
            "from": dev_key(4).address(), "to": vault, "value": "0xde0b6b3a7640000", "gas": "0x2dc6c0",
            "data": Bytes::from(SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: placeholder.clone().into() }.abi_encode()),
        });
        for i in 0..100 {
            let (url, stop, counts) = (url.clone(), stop.clone(), counts.clone());
            let (method, params) = if i % 2 == 0 {
                ("eth_call", json!([blind, "latest"]))
            } else {
                ("surge_simulateReturnMessage", json!([blind]))
            };
            clients.push(std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
                    let Ok(mut answer) = agent.post(&url).send_json(&body) else { continue };
                    let answer: Value = answer.body_mut().read_json().unwrap_or_default();
                    let busy = answer["error"]["code"] == json!(-32005);
                    counts[usize::from(busy)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        // The load is on before the clock starts.
        while counts[0].load(std::sync::atomic::Ordering::Relaxed)
            + counts[1].load(std::sync::atomic::Ordering::Relaxed)
            < 100
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let published = watcher.published();
    let started = Instant::now();
    let mut swaps = vec![];
    for s in &senders {
        let blind = swap_of(s, placeholder.clone());
        let candidate = Candidate {
            hash: *blind.tx_hash(),
            sender: s.address(),
            nonce: 0,
            tx: TxEnv::from_recovered_tx(&blind, s.address()),
        };
        let plan = rt.block_on(watcher.answers(candidate)).expect("answered");
        let tx = swap_of(s, plan.messages[0].answers[0].message.clone());
        net.l2.pool.add_transaction(TransactionOrigin::External, &tx.encoded_2718()).unwrap();
        let hash = *tx.tx_hash();
        while published.plan(&hash).is_none() && !mined(hash) {
            std::thread::sleep(Duration::from_millis(1));
        }
        swaps.push(hash);
    }
    while !swaps.iter().all(|h| mined(*h)) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let answered = counts[0].load(std::sync::atomic::Ordering::Relaxed);
    let busy = counts[1].load(std::sync::atomic::Ordering::Relaxed);
    drop(net);
    (took, answered, busy)
}

/// Replaying `n` live swaps (planned, or deferred to the next proposal), from `n` funded senders, when a
/// head moves: all of them on L2 and L1 (what every move cost before replays were incremental), an L2 block
/// that took none of them and changed nothing they read (none runs: their recorded runs are committed
/// again, their legs stay), and an L1 head that changes no answer (only the legs run). Each the mean of `ROUNDS / 10` moves; the live plans, and the three times.
fn replay_costs(rt: &tokio::runtime::Runtime, counts: &[usize]) -> Vec<(usize, Duration, Duration, Duration)> {
    let dir = tempfile::tempdir().unwrap();
    let net = network(rt, dir.path(), false);
    let chain = net.protocol.l2_chain_id;
    let senders = funded(&net, "bench planner", counts.iter().copied().max().unwrap_or(0));
    let ether = U256::from(10).pow(U256::from(18));
    net.l2.control.pause_production();
    let evm = HostEvmConfig(net.l2.spec.clone());
    let factory = evm.block_factory(None);
    let l2 = L2Protocol::from_config(&net.protocol);
    let head = net.l1.store.head().unwrap();
    let view = rt.block_on(EmbeddedSource::new(net.l1.store.clone()).open(head.header.number, head.hash)).unwrap();
    // Bundles as large as the dev L1's blocks (60M gas; Prague has no per-transaction cap) and no proof
    // allowance, so that about 45 swaps fit the open proposal and as many the next: the most live plans
    // swaps can make.
    let limits = surge_l1::BundleLimits { tx_gas_cap: 60_000_000, proof_gas_per_message: 0, ..Default::default() };
    let config = SimConfig { limits, spec: revm::primitives::hardfork::SpecId::PRAGUE, ..Default::default() };
    let base = BundleSimulator::new(Arc::new(view), L1Protocol::from_config(&net.protocol), config, &[]).unwrap();
    let pending = || pending_state(net.l2.store.as_ref(), &evm, l2).unwrap();
    let placeholder =
        Message { srcChainId: net.protocol.l1_chain_id, destChainId: net.protocol.l2_chain_id, ..Default::default() };
    let vault = net.apps.cross_chain_swap.l2_vault;
    let swap_of = |s: &PrivateKeySigner, answer: Message| {
        let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.into() };
        let tx = sign(s, chain, 0, TxKind::Call(vault), call.abi_encode(), ether, 3_000_000);
        Candidate { hash: *tx.tx_hash(), sender: s.address(), nonce: 0, tx: TxEnv::from_recovered_tx(&tx, s.address()) }
    };
    let rounds = ROUNDS / 10;
    let mut rows = vec![];
    for &n in counts {
        let mut book = PlanBook::new(base.clone(), pending());
        for s in &senders[..n] {
            // Past the next proposal's bundle there is no room: those get no plan.
            let Ok(plan) = book.answers(&factory, &[], &swap_of(s, placeholder.clone())) else { break };
            let _ = book.consider(&factory, &[], swap_of(s, plan.messages[0].answers[0].message.clone()));
        }
        let live = book.plans().count() + book.deferred().count();
        let full = time(rounds, || drop(book.rebase(&factory, base.clone(), pending(), Moved::L2)));
        let per_block = time(rounds, || assert!(book.on_l2_move(&factory, || Some(pending()))));
        let per_head = time(rounds, || drop(book.on_l1_move(&factory, base.clone(), pending())));
        assert_eq!(book.plans().count() + book.deferred().count(), live, "the moves drop no plan");
        rows.push((live, full, per_block, per_head));
    }
    rows
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{:<34} {:>30} {:>14}   {:>40} {:>14}   {:>7}", "", "ours", "", "the other way", "", "ratio");
    presimulation(&rt);
    if std::env::var_os("SURGE_BENCH_PRESIM_ONLY").is_some() {
        return;
    }
    for (live, full, per_block, per_head) in replay_costs(&rt, &[0, 10, 100]) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        row(
            &format!("watcher per L2 block, {live:>3} plans"),
            ("nothing they read changed: none runs", ms(per_block)),
            ("every plan replayed (L2 and legs)", ms(full)),
            "ms",
        );
        row(
            &format!("watcher per L1 head, {live:>3} plans"),
            ("legs only, no answer changed", ms(per_head)),
            ("every plan replayed (L2 and legs)", ms(full)),
            "ms",
        );
    }
    let (idle, _, _) = swaps_under_load(&rt, false);
    let (loaded, answered, busy) = swaps_under_load(&rt, true);
    row(
        "20 senders' swaps, answered to mined",
        ("under 50 eth_call + 50 simulate clients", loaded.as_secs_f64()),
        ("idle node", idle.as_secs_f64()),
        "s",
    );
    println!("  the load meanwhile: {answered} requests answered, {busy} refused as busy (-32005)");
    let (off, _) = admission(&rt, false);
    let (on, counts) = admission(&rt, true);
    row(
        &format!("{TRANSFERS} ERC-20 transfers, per tx"),
        ("admitted and classified", on.as_secs_f64() * 1e6),
        ("admitted, no watcher", off.as_secs_f64() * 1e6),
        "µs/tx",
    );
    if let Some((plain, other, overflowed, admitted)) = counts {
        println!(
            "  watcher on: admission took {:.2} s, the watcher had classified all {TRANSFERS} {:.2} s after the first ({plain} found plain, {other} with another reason, {overflowed} overflowed); {:+.1}% time per transaction with the watcher",
            admitted.as_secs_f64(),
            on.as_secs_f64() * TRANSFERS as f64,
            (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0
        );
    }
}
