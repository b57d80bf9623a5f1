//! The L1 leg's simulation, side by side in one run, against an anvil started from the dev L1 genesis:
//! - one leg in-process on a warm view vs `debug_traceCall` with a state override over HTTP to anvil for the
//!   same leg (the sidecar's way);
//! - the same leg on a cold view (every account and slot fetched) vs a warm one;
//! - appending the 10th message to a simulated 9-message bundle vs simulating all 10.
//!
//! Run: `cargo bench -p surge-l1 --bench view` (release build; prints a table, asserts only that every
//! leg succeeds).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use serde_json::{Value, json};
use surge_l1::{
    BundleSimulator, L1Client, L1Protocol, L1View, L1Views, LegResult, RemoteSource, SimConfig,
    view::DEFAULT_MAX_CACHED_ENTRIES,
};
use surge_primitives::{
    Message, ProtocolConfig,
    bindings::{bridge::Bridge, multicall::Multicall, test_receiver::TestMessageReceiver},
    min_gas_limit, signal_slot,
    slots::signal_service::received_signal_key,
};
use surge_test_utils::{Anvil, rpc_result, workspace_root};

const ROUNDS: u32 = 50;

/// The dev network's addresses.
fn addresses() -> Value {
    serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/addresses.json")).unwrap()).unwrap()
}

fn address(v: &Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

/// Swap request `id` from the L2 vault to the L1 vault, as the L2 bridge records it.
fn swap(p: &ProtocolConfig, apps: &Value, id: u64) -> Message {
    let s = &apps["crossChainSwap"];
    let user = Address::repeat_byte(0x5e);
    let payload = (user, U256::ZERO).abi_encode_params();
    let data: Bytes = TestMessageReceiver::onMessageInvocationCall { data: payload.into() }.abi_encode().into();
    Message {
        id,
        fee: 0,
        gasLimit: (min_gas_limit(data.len()) + 500_000) as u32,
        from: address(&s["l2Vault"]),
        srcChainId: p.l2_chain_id,
        srcOwner: user,
        destChainId: p.l1_chain_id,
        destOwner: user,
        to: address(&s["l1Vault"]),
        value: U256::from(10u64).pow(U256::from(17)),
        data,
    }
}

/// Mean time of `rounds` runs of `f`.
fn time(rounds: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed() / rounds
}

fn leg(view: &Arc<L1View>, l1: L1Protocol, m: &Message) {
    let mut b = BundleSimulator::new(view.clone(), l1, SimConfig::default(), &[]).unwrap();
    assert_eq!(b.message(m).unwrap().result, LegResult::Done);
}

fn row(what: &str, a: (&str, Duration), b: (&str, Duration)) {
    let ratio = b.1.as_secs_f64() / a.1.as_secs_f64();
    println!("{what:<44} {:>22} {:>10.3} ms   {:>26} {:>10.3} ms   {ratio:>7.1}x", a.0, ms(a.1), b.0, ms(b.1));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let genesis = workspace_root().join("etc/dev/l1-genesis.json");
    let anvil = Anvil::start(&genesis, "osaka", 3_151_908, &[]);
    let a = addresses();
    let protocol: ProtocolConfig = serde_json::from_value(a["protocol"].clone()).unwrap();
    let l1 = L1Protocol::from_config(&protocol);
    let block = rpc_result(&anvil.url, "eth_getBlockByNumber", json!(["latest", false]));
    let hash: B256 = block["hash"].as_str().unwrap().parse().unwrap();
    let number = u64::from_str_radix(block["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(L1Client::connect(&anvil.url, Duration::from_secs(10))).unwrap();
    let m = swap(&protocol, &a["apps"], 1);
    let open = |client: &L1Client| {
        let views = L1Views::new(RemoteSource::new(client.clone(), DEFAULT_MAX_CACHED_ENTRIES), 1);
        runtime.block_on(views.view(number, hash)).unwrap()
    };
    // Reads of a remote view wait on the runtime from this (non-async) thread.
    let _guard = runtime.enter();

    println!("L1 leg of one cross-chain swap message (mean of {ROUNDS}); anvil from the dev L1 genesis\n");
    let view = open(&client);
    leg(&view, l1, &m); // warm it
    let warm = time(ROUNDS, || leg(&view, l1, &m));

    // The sidecar's way: one debug_traceCall over HTTP with the fast-signal entry overridden.
    let owner = address(&a["roles"]["proposer"]);
    let slot = signal_slot(protocol.l2_chain_id, protocol.l2.bridge, m.hash());
    let key = received_signal_key(slot);
    let process = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() }.abi_encode();
    let call = Multicall::Call { target: protocol.l1.bridge, value: U256::ZERO, data: process.into() };
    let data = Multicall::multicallCall { calls: vec![call] }.abi_encode();
    let params = json!([
        { "from": owner, "to": protocol.l1.multicall, "data": Bytes::from(data), "gas": "0x1000000" },
        "latest",
        {
            "tracer": "callTracer",
            "stateOverrides": { protocol.l1.signal_service.to_string(): { "stateDiff": { key.to_string(): format!("0x{:064x}", 1) } } }
        }
    ]);
    let traced = rpc_result(&anvil.url, "debug_traceCall", params.clone());
    assert!(traced.get("error").is_none(), "the traced leg succeeds: {traced}");
    let rpc = time(ROUNDS, || {
        rpc_result(&anvil.url, "debug_traceCall", params.clone());
    });
    row("one leg", ("in-process, warm view", warm), ("debug_traceCall over HTTP", rpc));

    let cold = time(ROUNDS / 5, || {
        let view = open(&client);
        leg(&view, l1, &m);
    });
    row("one leg", ("warm view", warm), ("cold view (all fetched)", cold));

    // Ten messages: the tenth appended to the simulated nine, or all ten from the start.
    let ten: Vec<Message> = (1..=10).map(|id| swap(&protocol, &a["apps"], id)).collect();
    let mut nine = BundleSimulator::new(view.clone(), l1, SimConfig::default(), &[]).unwrap();
    for m in &ten[..9] {
        assert!(nine.message(m).unwrap().applied);
    }
    let mut append_total = Duration::ZERO;
    for _ in 0..ROUNDS {
        let mut b = nine.clone();
        let start = Instant::now();
        assert!(b.message(&ten[9]).unwrap().applied);
        append_total += start.elapsed();
    }
    let all = time(ROUNDS, || {
        let mut b = BundleSimulator::new(view.clone(), l1, SimConfig::default(), &[]).unwrap();
        for m in &ten {
            assert!(b.message(m).unwrap().applied);
        }
    });
    row("10th message of a bundle", ("appended to the nine", append_total / ROUNDS), ("all ten simulated", all));
}
