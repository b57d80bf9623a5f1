//! The committed dev genesis files are exactly what the generator produces, they load into our node, and
//! the L1 one also loads into anvil, where the protocol contracts answer the same view calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_sol_types::{SolCall, SolConstructor};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    context::TxEnv,
    database_interface::WrapDatabaseRef,
    primitives::{TxKind, hardfork::SpecId},
};
use serde_json::json;
use surge_genesis::{DEV_L1_CHAIN_ID, DEV_L2_CHAIN_ID, DevNetwork, generate, render};
use surge_host::{ChainSpec, Store};
use surge_primitives::bindings::{
    anchor::Anchor,
    examples::{constant_product_pool::ConstantProductPool, swap_vault_l1::SwapVaultL1},
    inbox::RealTimeInbox,
    resolver::Resolver,
    signal_service::SignalService,
    surge_verifier::SurgeVerifier,
};
use surge_test_utils::{Anvil, workspace_root};

fn committed(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("etc/dev").join(name)).unwrap()
}

#[test]
fn regeneration_is_byte_identical_to_the_committed_files() {
    let a = render(&generate(DEV_L1_CHAIN_ID, DEV_L2_CHAIN_ID).unwrap()).unwrap();
    let b = render(&generate(DEV_L1_CHAIN_ID, DEV_L2_CHAIN_ID).unwrap()).unwrap();
    assert_eq!(a, b, "two runs differ");
    for (name, text) in a {
        assert!(committed(name) == text, "etc/dev/{name} is stale: run `cargo run --bin surge-node -- dev-genesis`");
    }
}

fn b32(s: &str) -> B256 {
    let mut k = [0u8; 32];
    k[..s.len()].copy_from_slice(s.as_bytes());
    k.into()
}

/// The view calls both L1s must answer the same: (label, contract, calldata).
fn l1_views(net: &DevNetwork) -> Vec<(String, Address, Vec<u8>)> {
    let l1 = net.protocol.l1;
    let mut v = vec![
        ("lastFinalizedBlockHash".into(), l1.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}.abi_encode()),
        ("getConfig".into(), l1.inbox, RealTimeInbox::getConfigCall {}.abi_encode()),
        ("inbox owner".into(), l1.inbox, RealTimeInbox::ownerCall {}.abi_encode()),
        ("required proofs".into(), l1.proof_verifier, SurgeVerifier::requiredProofsCall {}.abi_encode()),
        ("syncer".into(), l1.signal_service, SignalService::authorizedSyncerCall {}.abi_encode()),
        (
            "swap pool ETH".into(),
            net.apps.cross_chain_swap.l1_pool,
            ConstantProductPool::reserveETHCall {}.abi_encode(),
        ),
        (
            "swap pool tokens".into(),
            net.apps.cross_chain_swap.l1_pool,
            ConstantProductPool::reserveTokenCall {}.abi_encode(),
        ),
        ("swap vault peer".into(), net.apps.cross_chain_swap.l1_vault, SwapVaultL1::l2PeerCall {}.abi_encode()),
    ];
    for chain in [net.protocol.l1_chain_id, net.protocol.l2_chain_id] {
        for name in ["bridge", "signal_service"] {
            let call = Resolver::resolveCall { chainId: U256::from(chain), name: b32(name), allowZero: true };
            v.push((format!("resolve({chain}, {name})"), l1.resolver, call.abi_encode()));
        }
    }
    v
}

fn call_ours(store: &Store, spec: SpecId, chain_id: u64, to: Address, data: Vec<u8>) -> Bytes {
    let state = store.latest_state().unwrap();
    let mut evm = Context::mainnet()
        .with_db(WrapDatabaseRef(state))
        .modify_cfg_chained(|c| {
            c.chain_id = chain_id;
            c.set_spec_and_mainnet_gas_params(spec);
        })
        .build_mainnet();
    let tx = TxEnv {
        kind: TxKind::Call(to),
        data: data.into(),
        gas_limit: 1_000_000,
        chain_id: Some(chain_id),
        ..Default::default()
    };
    let out = evm.transact(tx).unwrap().result;
    assert!(out.is_success(), "view call failed: {out:?}");
    out.into_output().unwrap()
}

#[test]
fn dev_genesis_loads_into_our_node_and_into_anvil() {
    let net = generate(DEV_L1_CHAIN_ID, DEV_L2_CHAIN_ID).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let l1_spec = ChainSpec::from_genesis_file(&workspace_root().join("etc/dev/l1-genesis.json")).unwrap();
    let l2_spec = ChainSpec::from_genesis_file(&workspace_root().join("etc/dev/l2-genesis.json")).unwrap();
    let l1 = Store::open(&dir.path().join("l1"), &l1_spec).unwrap();
    let l2 = Store::open(&dir.path().join("l2"), &l2_spec).unwrap();
    assert_eq!(l2.genesis_hash(), net.l2_genesis_hash, "the inbox is activated with the L2 genesis hash");

    // L2 predeploys answer at their derived addresses.
    let p = net.protocol.l2;
    let l1_chain = call_ours(&l2, SpecId::SHANGHAI, DEV_L2_CHAIN_ID, p.anchor, Anchor::l1ChainIdCall {}.abi_encode());
    assert_eq!(Anchor::l1ChainIdCall::abi_decode_returns(&l1_chain).unwrap(), DEV_L1_CHAIN_ID);
    let syncer = call_ours(
        &l2,
        SpecId::SHANGHAI,
        DEV_L2_CHAIN_ID,
        p.signal_service,
        SignalService::authorizedSyncerCall {}.abi_encode(),
    );
    assert_eq!(SignalService::authorizedSyncerCall::abi_decode_returns(&syncer).unwrap(), p.anchor);
    let remote =
        Resolver::resolveCall { chainId: U256::from(DEV_L1_CHAIN_ID), name: b32("signal_service"), allowZero: false };
    let remote = call_ours(&l2, SpecId::SHANGHAI, DEV_L2_CHAIN_ID, p.resolver, remote.abi_encode());
    assert_eq!(Resolver::resolveCall::abi_decode_returns(&remote).unwrap(), net.protocol.l1.signal_service);

    // L1: our node and anvil give the same answers.
    let anvil = Anvil::start(&workspace_root().join("etc/dev/l1-genesis.json"), "osaka", DEV_L1_CHAIN_ID, &[]);
    for (label, to, data) in l1_views(&net) {
        let ours = call_ours(&l1, SpecId::OSAKA, DEV_L1_CHAIN_ID, to, data.clone());
        let theirs = anvil.rpc("eth_call", json!([{"to": to, "data": format!("0x{}", hex::encode(&data))}, "latest"]));
        let theirs: Bytes = theirs.as_str().unwrap().parse().unwrap();
        assert_eq!(ours, theirs, "{label}");
    }
    let last = call_ours(
        &l1,
        SpecId::OSAKA,
        DEV_L1_CHAIN_ID,
        net.protocol.l1.inbox,
        RealTimeInbox::lastFinalizedBlockHashCall {}.abi_encode(),
    );
    assert_eq!(B256::from_slice(&last), net.l2_genesis_hash);
    let config = call_ours(
        &l1,
        SpecId::OSAKA,
        DEV_L1_CHAIN_ID,
        net.protocol.l1.inbox,
        RealTimeInbox::getConfigCall {}.abi_encode(),
    );
    let config = RealTimeInbox::getConfigCall::abi_decode_returns(&config).unwrap();
    assert_eq!(
        (config.proofVerifier, config.signalService, config.basefeeSharingPctg),
        (net.protocol.l1.proof_verifier, net.protocol.l1.signal_service, 50)
    );
    // Dev accounts are funded on both chains, like anvil's.
    let first: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
    for store in [&l1, &l2] {
        let acc = store.latest_state().unwrap().account(&first).unwrap().unwrap();
        assert_eq!(acc.balance, U256::from(surge_genesis::DEV_ACCOUNT_BALANCE));
    }
}

#[test]
fn an_immutable_that_captured_its_scratch_address_is_refused() {
    use surge_genesis::{AllocBuilder, GenesisError};
    use surge_primitives::bindings::{resolver::Resolver, test_self_address::SelfAddress};
    let mut b = AllocBuilder::new(DEV_L2_CHAIN_ID, SpecId::SHANGHAI);
    let err = b.place("SelfAddress", &SelfAddress::BYTECODE, &[], Address::repeat_byte(9)).unwrap_err();
    assert!(matches!(err, GenesisError::ScratchAddressCaptured { .. }), "{err}");
    // A contract without such an immutable moves fine, storage included.
    let owner = Address::repeat_byte(1);
    b.place(
        "Resolver",
        &Resolver::BYTECODE,
        &Resolver::constructorCall { initialOwner: owner }.abi_encode(),
        Address::repeat_byte(8),
    )
    .unwrap();
    let alloc = b.into_alloc();
    let storage = alloc[&Address::repeat_byte(8)].storage.clone().unwrap();
    assert_eq!(storage[&B256::ZERO], owner.into_word(), "owner at slot 0 moved with the code");
}
