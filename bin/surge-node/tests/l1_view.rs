//! The L1 view and the L1 leg's simulation, on the embedded dev L1 (through the state-provider seam) and on
//! a real anvil with the same contracts deployed by `surge-node deploy` (through the remote view): return
//! messages with ids from the execution, earlier user ops and in-flight bundles shifting them, relayer-mode
//! gas, reverting callbacks and refusals; on anvil the same bundle is then sent for real and L1's events
//! are compared with the simulation. The remote view answers as the embedded one, counts its requests and
//! fails cleanly when its endpoint dies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use alloy::providers::Provider;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use common::Kill;
use revm::{DatabaseRef, primitives::hardfork::SpecId};
use serde_json::{Value, json};
use surge_genesis::ExampleApps;
use surge_host::{ChainSpec, Store};
use surge_l1::{
    BundleLimits, BundleSimulator, EmbeddedSource, InFlightBundle, L1Client, L1Protocol, L1StateSource, L1View,
    L1Views, LegResult, Refusal, RemoteSource, SimConfig, SimError, ViewError,
    sim::{LayoutError, SentMessage, check_fast_signal_path, resolve_l2_bridge},
};
use surge_primitives::{
    Message, ProtocolConfig,
    bindings::{bridge::Bridge, multicall::Multicall, test_receiver::TestMessageReceiver},
    min_gas_limit,
    slots::signal_service::received_signal_key,
};
use surge_test_utils::{CountingProxy, anvil_bin, dev_key, free_port, rpc_result, workspace_root};

const USER: Address = Address::new([0x5e; 20]);
const CALLBACK_GAS: u64 = 500_000;

/// The protocol and apps of one L1, as `addresses.json` names them.
#[derive(Clone)]
struct Net {
    protocol: ProtocolConfig,
    l1: L1Protocol,
    apps: ExampleApps,
    l2_genesis_hash: B256,
}

fn net(addresses: &Value) -> Net {
    let protocol: ProtocolConfig = serde_json::from_value(addresses["protocol"].clone()).unwrap();
    Net {
        l1: L1Protocol::from_config(&protocol),
        apps: serde_json::from_value(addresses["apps"].clone()).unwrap(),
        l2_genesis_hash: addresses["l2GenesisHash"].as_str().unwrap().parse().unwrap(),
        protocol,
    }
}

fn dev_net() -> Net {
    let path = workspace_root().join("etc/dev/addresses.json");
    net(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn invocation(payload: Vec<u8>) -> Bytes {
    TestMessageReceiver::onMessageInvocationCall { data: payload.into() }.abi_encode().into()
}

/// An L2→L1 request from an example app's L2 half, as the L2 bridge would have recorded it.
fn request(
    net: &Net,
    (l2_app, l1_app): (Address, Address),
    id: u64,
    payload: Vec<u8>,
    value: U256,
    gas: u64,
) -> Message {
    let data = invocation(payload);
    Message {
        id,
        fee: 0,
        gasLimit: (min_gas_limit(data.len()) + gas) as u32,
        from: l2_app,
        srcChainId: net.protocol.l2_chain_id,
        srcOwner: USER,
        destChainId: net.protocol.l1_chain_id,
        destOwner: USER,
        to: l1_app,
        value,
        data,
    }
}

fn swap(net: &Net, id: u64, min_out: U256) -> Message {
    let s = net.apps.cross_chain_swap;
    request(net, (s.l2_vault, s.l1_vault), id, (USER, min_out).abi_encode_params(), ether(1), CALLBACK_GAS)
}

fn flash(net: &Net, id: u64, amount: U256, gas: u64) -> Message {
    let f = net.apps.flash_loan;
    let fee = (amount * U256::from(100) + U256::from(9_999)) / U256::from(10_000);
    request(net, (f.l2_executor, f.l1_executor), id, (USER, amount).abi_encode_params(), fee, gas)
}

/// A user op that sends an L1→L2 message from the Multicall.
fn user_op_sending(net: &Net) -> Multicall::Call {
    let m = Message {
        id: 0,
        fee: 0,
        gasLimit: 0,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: USER,
        destChainId: net.protocol.l2_chain_id,
        destOwner: USER,
        to: USER,
        value: U256::ZERO,
        data: Bytes::new(),
    };
    let data = Bridge::sendMessageCall { message: m }.abi_encode().into();
    Multicall::Call { target: net.protocol.l1.bridge, value: U256::ZERO, data }
}

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// The request hash and result an answer carries.
fn answer_of(sent: &SentMessage) -> (B256, Bytes) {
    let payload = TestMessageReceiver::onMessageInvocationCall::abi_decode(&sent.message.data).unwrap().data;
    <(B256, Bytes)>::abi_decode_params(&payload).unwrap()
}

fn sim(view: &Arc<L1View>, net: &Net, in_flight: &[InFlightBundle]) -> BundleSimulator {
    BundleSimulator::new(view.clone(), net.l1, SimConfig::default(), in_flight).unwrap()
}

/// Every scenario on `view`; returns the bundle's messages (after a user op: swap, flash loan, starved,
/// slipping), the L1 messages the simulation says it sends, and the gas it counts, for replaying on L1.
fn scenarios(view: Arc<L1View>, net: &Net) -> (Vec<Message>, Vec<SentMessage>, u64) {
    let s = net.apps.cross_chain_swap;
    let first_id = sim(&view, net, &[]).next_message_id().unwrap();

    // A callback that sends a return message: the answer comes from the L1 vault to the L2 vault with the
    // next id, and carries the constant-product amount for the request.
    let mut b = sim(&view, net, &[]);
    let m = swap(net, 1, U256::ZERO);
    let leg = b.message(&m).unwrap();
    assert_eq!(leg.result, LegResult::Done, "{leg:?}");
    assert!(leg.applied);
    assert_eq!(leg.sent.len(), 1);
    let answer = &leg.sent[0];
    assert_eq!((answer.message.id, answer.message.from, answer.message.to), (first_id, s.l1_vault, s.l2_vault));
    assert_eq!(answer.message.srcChainId, net.protocol.l1_chain_id);
    let (request_hash, result) = answer_of(answer);
    assert_eq!(request_hash, m.hash());
    let (user, out) = <(Address, U256)>::abi_decode_params(&result).unwrap();
    assert_eq!(user, USER);
    // ConstantProductPool keeps reserveETH in slot 0 and reserveToken in slot 1.
    let (eth, tokens) = (view_u256(&view, s.l1_pool, 0), view_u256(&view, s.l1_pool, 1));
    let in_with_fee = ether(1) * U256::from(9_970);
    assert_eq!(out, in_with_fee * tokens / (eth * U256::from(10_000) + in_with_fee));
    assert!(leg.gas_used > 100_000 && leg.gas_used < u64::from(m.gasLimit), "gas {}", leg.gas_used);

    // Two messages whose callbacks each answer: consecutive ids, in order.
    let mut b = sim(&view, net, &[]);
    let two = [swap(net, 1, U256::ZERO), flash(net, 2, ether(10), CALLBACK_GAS)];
    let ids: Vec<u64> = two.iter().map(|m| b.message(m).unwrap().sent[0].message.id).collect();
    assert_eq!(ids, [first_id, first_id + 1]);

    // An earlier Multicall call sending an L1→L2 message shifts both answers by one, and says so.
    let mut b = sim(&view, net, &[]);
    let op = b.user_op(&user_op_sending(net)).unwrap();
    assert_eq!(op.error, None);
    assert_eq!(op.sent.len(), 1);
    assert_eq!((op.sent[0].message.id, op.sent[0].message.from), (first_id, net.protocol.l1.multicall));
    let mut bundle = vec![];
    let mut sent = op.sent.clone();
    let mut gas = op.gas_used;
    for m in two.iter().cloned() {
        let leg = b.message(&m).unwrap();
        gas += leg.gas_used;
        assert_eq!(leg.sent[0].message.id, first_id + 1 + bundle.len() as u64);
        sent.extend(leg.sent);
        bundle.push(m);
    }

    // A not-yet-included bundle ahead of the open one: ids continue after it. One that ends at the inbox's
    // last finalized block is on L1 already and is skipped.
    let pending = InFlightBundle {
        last_block_hash: B256::repeat_byte(7),
        user_ops: vec![],
        messages: vec![swap(net, 9, U256::ZERO)],
    };
    let landed = InFlightBundle { last_block_hash: net.l2_genesis_hash, ..pending.clone() };
    let next = flash(net, 10, ether(1), CALLBACK_GAS);
    let mut b = sim(&view, net, std::slice::from_ref(&pending));
    assert_eq!(b.message(&next).unwrap().sent[0].message.id, first_id + 1);
    let mut b = sim(&view, net, &[landed, pending]);
    assert_eq!(b.message(&next).unwrap().sent[0].message.id, first_id + 1, "only the pending bundle counts");

    // A callback that needs more gas than relayer mode forwards fails as on L1, while a direct call with
    // unlimited gas (the bridge context written by hand) would succeed.
    let starved = flash(net, 11, ether(10), 60_000);
    let leg = sim(&view, net, &[]).message(&starved).unwrap();
    assert!(matches!(&leg.result, LegResult::Retriable(r) if r.contains("OutOfGas")), "{leg:?}");
    assert!(!leg.applied && leg.sent.is_empty());
    gas += leg.gas_used;
    assert!(direct_callback_succeeds(&view, net, &starved), "the unlimited direct call succeeds");

    // A reverting callback: the swap cannot give that much.
    let slipping = swap(net, 12, U256::MAX);
    let leg = sim(&view, net, &[]).message(&slipping).unwrap();
    assert!(matches!(&leg.result, LegResult::Retriable(r) if r.contains("POOL_SLIPPAGE")), "{leg:?}");
    gas += leg.gas_used;

    // Refused, with the reason: no gas limit (relayer mode would revert the whole bundle).
    let mut zero = swap(net, 13, U256::ZERO);
    zero.gasLimit = 0;
    let refused = sim(&view, net, &[]).message(&zero).unwrap_err();
    assert_eq!(refused, SimError::Refused(Refusal::NoGasLimit(zero.hash())));

    // A user op comes before every message: after one, the bundle must be simulated again.
    let mut b = sim(&view, net, &[]);
    b.message(&swap(net, 14, U256::ZERO)).unwrap();
    assert_eq!(b.user_op(&user_op_sending(net)).unwrap_err(), SimError::Refused(Refusal::UserOpAfterMessages));

    // A message already committed on L2 runs on L1 whatever its callback does: a RETRIABLE leg is part of
    // the bundle (processing it again would revert), and an in-flight bundle holding one is no error.
    let mut b = sim(&view, net, &[]);
    let kept = b.include_message(&slipping).unwrap();
    assert!(kept.applied && matches!(kept.result, LegResult::Retriable(_)), "{kept:?}");
    let again = b.include_message(&slipping).unwrap();
    assert!(!again.applied && matches!(&again.result, LegResult::Reverted(r) if r.contains("B_STATUS_MISMATCH")));
    let with_retriable = InFlightBundle {
        last_block_hash: B256::repeat_byte(8),
        user_ops: vec![],
        messages: vec![slipping.clone(), swap(net, 15, U256::ZERO)],
    };
    let mut b = sim(&view, net, &[with_retriable]);
    assert_eq!(b.message(&next).unwrap().sent[0].message.id, first_id + 1, "after the in-flight swap's answer");

    // One simulated call reads a bounded number of accounts and slots.
    let tight = SimConfig { max_state_reads: 5, ..Default::default() };
    let mut b = BundleSimulator::new(view.clone(), net.l1, tight, &[]).unwrap();
    let over = b.message(&swap(net, 16, U256::ZERO)).unwrap_err();
    assert!(matches!(over, SimError::View(ViewError::Budget { .. })), "{over:?}");

    bundle.extend([starved, slipping]);
    (bundle, sent, gas)
}

/// A storage slot of `address` read through the view.
fn view_u256(view: &Arc<L1View>, address: Address, slot: u64) -> U256 {
    view.storage_ref(address, U256::from(slot)).unwrap()
}

/// Catalyst's way: call the callback directly from the bridge's address with hand-written context slots
/// and all the gas in the world.
fn direct_callback_succeeds(view: &Arc<L1View>, net: &Net, m: &Message) -> bool {
    use revm::{Context, ExecuteEvm, MainBuilder, MainContext, context::TxEnv, database::CacheDB};
    let mut db = CacheDB::new(view.clone());
    let bridge = net.protocol.l1.bridge;
    db.insert_account_storage(bridge, U256::from(253), U256::from_be_bytes(m.hash().0)).unwrap();
    let packed = (U256::from(m.srcChainId) << 160) | U256::from_be_slice(m.from.as_slice());
    db.insert_account_storage(bridge, U256::from(254), packed).unwrap();
    let mut evm = Context::mainnet()
        .with_db(&mut db)
        .modify_cfg_chained(|c| {
            c.chain_id = net.protocol.l1_chain_id;
            c.set_spec_and_mainnet_gas_params(SpecId::OSAKA);
            c.disable_eip3607 = true;
            c.disable_nonce_check = true;
        })
        .build_mainnet();
    let tx = TxEnv {
        caller: bridge,
        kind: TxKind::Call(m.to),
        value: m.value,
        data: m.data.clone(),
        gas_limit: 10_000_000,
        chain_id: Some(net.protocol.l1_chain_id),
        ..Default::default()
    };
    evm.transact(tx).unwrap().result.is_success()
}

fn refusals(view: Arc<L1View>, net: &Net) {
    let with = |limits: BundleLimits| {
        BundleSimulator::new(view.clone(), net.l1, SimConfig { limits, ..Default::default() }, &[]).unwrap()
    };
    let m = swap(net, 1, U256::ZERO);
    let (hash, gas_limit) = (m.hash(), u64::from(m.gasLimit));
    let mut b = with(BundleLimits { max_message_gas_limit: 1_000_000, ..Default::default() });
    let refused = b.message(&m).unwrap_err();
    assert_eq!(refused, SimError::Refused(Refusal::GasLimitAboveMax { hash, gas_limit, max: 1_000_000 }));
    let mut b = with(BundleLimits { min_message_fee: 5, ..Default::default() });
    assert_eq!(b.message(&m).unwrap_err(), SimError::Refused(Refusal::FeeBelowMin { hash, fee: 0, min: 5 }));
    // A cap that leaves room for the proposal and one message.
    let proof = BundleLimits::default().proof_gas_per_message;
    let mut b = with(BundleLimits { tx_gas_cap: 21_000 + 1_000_000 + gas_limit + proof + 1_000, ..Default::default() });
    assert!(b.message(&m).unwrap().applied);
    let second = swap(net, 2, U256::ZERO);
    assert!(matches!(b.message(&second), Err(SimError::Refused(Refusal::BundleFull { .. }))));
    // The refusal's message keeps its place in the message text.
    let text = b.message(&second).unwrap_err().to_string();
    assert!(text.contains(&second.hash().to_string()) && text.contains("left"), "{text}");
}

/// The embedded dev L1's genesis state through the host's state-provider seam.
async fn embedded_genesis(dir: &std::path::Path) -> (Arc<Store>, Arc<L1View>) {
    let spec = ChainSpec::from_genesis_file(&workspace_root().join("etc/dev/l1-genesis.json")).unwrap();
    let store = Arc::new(Store::open(&dir.join("l1"), &spec).unwrap());
    let view = EmbeddedSource::new(store.clone()).open(0, store.genesis_hash()).await.unwrap();
    (store, Arc::new(view))
}

#[tokio::test(flavor = "multi_thread")]
async fn l1_leg_on_the_embedded_dev_l1() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, view) = embedded_genesis(dir.path()).await;
    let net = dev_net();
    assert_eq!(resolve_l2_bridge(&view, &net.l1, &SimConfig::default()).unwrap(), net.protocol.l2.bridge);
    check_fast_signal_path(&view, &net.l1, &SimConfig::default()).unwrap();
    // A signal service that does not keep received signals where the override writes them is caught.
    let wrong = L1Protocol { signal_service: net.protocol.l1.bridge, ..net.l1 };
    assert!(matches!(
        check_fast_signal_path(&view, &wrong, &SimConfig::default()),
        Err(LayoutError::OverrideIgnored { .. })
    ));

    scenarios(view.clone(), &net);
    refusals(view, &net);
}

#[tokio::test(flavor = "multi_thread")]
async fn l1_leg_on_anvil_matches_what_l1_does() {
    let port = free_port();
    let _anvil = Kill(
        Command::new(anvil_bin())
            .args(["--port", &port.to_string(), "--chain-id", "31337", "--hardfork", "osaka"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let l1_url = format!("http://127.0.0.1:{port}");
    let client = wait_for(&l1_url).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deployed");
    let deployed = Command::new(env!("CARGO_BIN_EXE_surge-node"))
        .args(["deploy", "--l1.rpc-url", &l1_url, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{}", String::from_utf8_lossy(&deployed.stderr));
    let net = net(&serde_json::from_str(&std::fs::read_to_string(out.join("addresses.json")).unwrap()).unwrap());

    let head = client.provider().get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.unwrap().unwrap();
    let views = L1Views::new(RemoteSource::new(client.clone(), 10_000), 4);
    let view = views.view(head.header.number, head.header.hash).await.unwrap();
    assert!(Arc::ptr_eq(&view, &views.view(head.header.number, head.header.hash).await.unwrap()), "reused");
    let (sim_net, sim_view) = (net.clone(), view.clone());
    let (bundle, sent, sim_gas) = tokio::task::spawn_blocking(move || {
        check_fast_signal_path(&sim_view, &sim_net.l1, &SimConfig::default()).unwrap();
        scenarios(sim_view, &sim_net)
    })
    .await
    .unwrap();

    // The same bundle for real: the fast-signal entries set with anvil_setStorageAt, then one Multicall
    // transaction from its owner (the deployer).
    for m in &bundle {
        let slot = surge_primitives::signal_slot(net.protocol.l2_chain_id, net.protocol.l2.bridge, m.hash());
        let key = received_signal_key(slot);
        let one = format!("0x{:064x}", 1);
        rpc_result(&l1_url, "anvil_setStorageAt", json!([net.protocol.l1.signal_service, key, one]));
    }
    let mut calls = vec![user_op_sending(&net)];
    for m in &bundle {
        let data = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() }.abi_encode().into();
        calls.push(Multicall::Call { target: net.protocol.l1.bridge, value: U256::ZERO, data });
    }
    let input = Multicall::multicallCall { calls }.abi_encode();
    let receipt = client.send(&dev_key(0), TxKind::Call(net.protocol.l1.multicall), input, "the bundle").await.unwrap();
    let logs: Vec<_> = receipt.inner.logs().iter().filter(|l| l.address() == net.protocol.l1.bridge).collect();
    let real_sent: Vec<Message> =
        logs.iter().filter_map(|l| Bridge::MessageSent::decode_log_data(l.data()).ok()).map(|e| e.message).collect();
    assert_eq!(
        real_sent,
        sent.iter().map(|s| s.message.clone()).collect::<Vec<_>>(),
        "L1 sent what the simulation said"
    );
    let statuses: Vec<(B256, u8)> = logs
        .iter()
        .filter_map(|l| Bridge::MessageStatusChanged::decode_log_data(l.data()).ok())
        .map(|e| (e.msgHash, e.status))
        .collect();
    let expected: Vec<(B256, u8)> = bundle.iter().zip([2, 2, 1, 1]).map(|(m, s)| (m.hash(), s)).collect();
    assert_eq!(statuses, expected, "DONE, DONE, then RETRIABLE for the starved and the slipping callback");
    // Call by call, the simulation never counts less gas than the one transaction uses.
    assert!(
        receipt.gas_used <= 21_000 + sim_gas,
        "L1 used {}, the simulation counted {}",
        receipt.gas_used,
        21_000 + sim_gas
    );
}

async fn wait_for(url: &str) -> L1Client {
    for _ in 0..200 {
        if let Ok(c) = L1Client::connect(url, Duration::from_secs(5)).await
            && c.chain_id().await.is_ok()
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer");
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_view_answers_as_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, embedded) = embedded_genesis(dir.path()).await;
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = surge_test_utils::Anvil::start(&genesis, "osaka", surge_genesis::DEV_L1_CHAIN_ID, &[]);
    let proxy = CountingProxy::start(&anvil.url);
    let client = wait_for(&proxy.url).await;
    let hash: B256 = rpc_result(&anvil.url, "eth_getBlockByNumber", json!(["0x0", false]))["hash"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let net = dev_net();
    let views = L1Views::new(RemoteSource::new(client, 10_000), 4);
    let before = proxy.requests();
    let remote = views.view(0, hash).await.unwrap();
    assert_eq!(proxy.requests() - before, 1, "opening a view is one request");

    // A view that may cache two entries keeps answering past them, fetching again what it could not keep.
    let tiny = RemoteSource::new(wait_for(&proxy.url).await, 2).open(0, hash).await.unwrap();

    let (n, r, p) = (net.clone(), remote.clone(), proxy.clone());
    tokio::task::spawn_blocking(move || {
        let three = [n.protocol.l1.bridge, n.protocol.l1.inbox, n.protocol.l1.multicall];
        let answers: Vec<_> = three.iter().map(|a| tiny.basic_ref(*a).unwrap()).collect();
        let start = p.requests();
        assert_eq!(tiny.basic_ref(three[0]).unwrap(), answers[0]);
        assert_eq!(p.requests(), start, "kept");
        assert_eq!(tiny.basic_ref(three[2]).unwrap(), answers[2]);
        assert_eq!(p.requests(), start + 1, "past the bound: fetched again");

        // Same accounts, code and storage.
        let s = n.apps.cross_chain_swap;
        let accounts =
            [n.protocol.l1.bridge, n.protocol.l1.multicall, s.l1_pool, s.l1_vault, dev_key(0).address(), USER];
        for a in accounts {
            let (x, y) = (embedded.basic_ref(a).unwrap(), r.basic_ref(a).unwrap());
            assert_eq!(
                x.as_ref().map(|i| (i.balance, i.nonce, i.code_hash)),
                y.as_ref().map(|i| (i.balance, i.nonce, i.code_hash)),
                "{a}"
            );
            for slot in 0..4u64 {
                assert_eq!(
                    embedded.storage_ref(a, U256::from(slot)).unwrap(),
                    r.storage_ref(a, U256::from(slot)).unwrap()
                );
            }
        }
        // The simulation runs in the next block: BLOCKHASH of the view's block is its hash on both.
        assert_eq!(r.block_hash_ref(0).unwrap(), hash);
        assert_eq!(embedded.block_hash_ref(0).unwrap(), embedded.hash());
        // The same bundle simulates the same on both: every leg, every answer, every gas figure.
        let run = |view: &Arc<L1View>| {
            let mut b = sim(view, &n, &[]);
            let op = b.user_op(&user_op_sending(&n)).unwrap();
            let legs: Vec<_> = [swap(&n, 1, U256::ZERO), flash(&n, 2, ether(3), CALLBACK_GAS)]
                .iter()
                .map(|m| b.message(m).unwrap())
                .collect();
            (op, legs, b.touched())
        };
        let ours = run(&embedded);
        let cold_start = p.requests();
        let theirs = run(&r);
        assert_eq!((&ours.0, &ours.1), (&theirs.0, &theirs.1));
        let cold = p.requests() - cold_start;
        assert!(cold <= theirs.2 as u64, "cold: {cold} requests for {} touched accounts and slots", theirs.2);
        // Warm: the same simulation again is answered from the view.
        let warm_start = p.requests();
        assert_eq!(run(&r).1, theirs.1);
        assert_eq!(p.requests() - warm_start, 0, "a warm view sends nothing");

        // The endpoint dies mid-simulation: an error naming the block, never a result.
        let mut b = sim(&r, &n, &[]);
        assert_eq!(b.user_op(&user_op_sending(&n)).unwrap().error, None);
        p.cut();
        let untouched = Multicall::Call {
            target: s.l1_token,
            value: U256::ZERO,
            data: surge_primitives::bindings::examples::swap_token::SwapToken::balanceOfCall(Address::repeat_byte(
                0x77,
            ))
            .abi_encode()
            .into(),
        };
        match b.user_op(&untouched) {
            Err(SimError::View(ViewError::Read { number: 0, hash: h, .. })) => assert_eq!(h, hash),
            other => panic!("expected a read error naming block 0, got {other:?}"),
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_of_state_the_endpoint_no_longer_serves_names_the_block() {
    // An anvil that keeps the state of its last two blocks only.
    let port = free_port();
    let _anvil = Kill(
        Command::new(anvil_bin())
            .args(["--port", &port.to_string(), "--prune-history", "2"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = wait_for(&url).await;
    for _ in 0..10 {
        rpc_result(&url, "evm_mine", json!([]));
    }
    let old = rpc_result(&url, "eth_getBlockByNumber", json!(["0x1", false]));
    let hash: B256 = old["hash"].as_str().unwrap().parse().unwrap();
    let view = Arc::new(RemoteSource::new(client, 1_000).open(1, hash).await.unwrap());
    let error = tokio::task::spawn_blocking(move || view.basic_ref(dev_key(0).address()).unwrap_err()).await.unwrap();
    assert!(matches!(error, ViewError::StateUnavailable { number: 1, hash: h, .. } if h == hash), "{error:?}");
    assert!(error.to_string().contains(&format!("L1 block 1 ({hash})")), "{error}");

    // A block the endpoint does not know at all.
    let unknown = RemoteSource::new(wait_for(&url).await, 1_000).open(5, B256::repeat_byte(0x11)).await.unwrap_err();
    assert!(matches!(unknown, ViewError::UnknownBlock { number: 5, .. }), "{unknown:?}");
}
