//! Pre-simulation on the dev network's genesis state (the L2 and the embedded L1 stores, through the seams):
//! a swap gets a plan whose answer is what the L1 leg really sends; a plain transfer and a transaction
//! without its answer get none, with the reason; two swaps get answers in plan order; a swap signed against
//! the same state as an earlier planned one finds its answer taken.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use alloy_evm::EvmEnv;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext, context::TxEnv, database::CacheDB, primitives::hardfork::SpecId,
};
use surge_exex::{Candidate, L2Protocol, PendingL2};
use surge_genesis::ExampleApps;
use surge_host::{ChainSpec, Store, seams::HostEvmConfig};
use surge_interfaces::{ConfigureEvm, NextBlockAttributes, StateProviderFactory};
use surge_l1::{BundleSimulator, EmbeddedSource, L1Protocol, L1StateSource, SimConfig};
use surge_primitives::{
    Message, ProtocolConfig,
    bindings::{bridge::Bridge, examples::swap_vault_l2::SwapVaultL2, multicall::Multicall},
    signal_slot,
    slots::signal_service::received_signal_key,
};
use surge_sync::{NoPlan, Plan};
use surge_test_utils::{dev_key, workspace_root};

struct Dev {
    _dir: tempfile::TempDir,
    l2: Arc<Store>,
    l1: Arc<Store>,
    evm: HostEvmConfig,
    protocol: ProtocolConfig,
    apps: ExampleApps,
}

async fn dev() -> (Dev, BundleSimulator) {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let spec =
            ChainSpec::from_genesis_file(&workspace_root().join(format!("etc/dev/{name}-genesis.json"))).unwrap();
        (Arc::new(Store::open(&dir.path().join(name), &spec).unwrap()), spec)
    };
    let ((l1, _), (l2, l2_spec)) = (open("l1"), open("l2"));
    let addresses: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/addresses.json")).unwrap())
            .unwrap();
    let protocol: ProtocolConfig = serde_json::from_value(addresses["protocol"].clone()).unwrap();
    let apps = serde_json::from_value(addresses["apps"].clone()).unwrap();
    let view = EmbeddedSource::new(l1.clone()).open(0, l1.genesis_hash()).await.unwrap();
    let bundle =
        BundleSimulator::new(Arc::new(view), L1Protocol::from_config(&protocol), SimConfig::default(), &[]).unwrap();
    let dev = Dev { _dir: dir, l2, l1, evm: HostEvmConfig(Arc::new(l2_spec)), protocol, apps };
    (dev, bundle)
}

impl Dev {
    fn pending(&self) -> PendingL2<<Store as StateProviderFactory>::State> {
        let (head, _) = self.l2.latest_header().unwrap();
        let env: EvmEnv =
            self.evm.next_evm_env(&*self.l2, &head, &NextBlockAttributes::at(head.timestamp + 1)).unwrap();
        PendingL2::new(self.l2.latest().unwrap(), env, L2Protocol::from_config(&self.protocol))
    }

    /// A swap of 1 ether from dev account `who` embedding `answer`.
    fn swap(&self, who: u32, nonce: u64, answer: &Message) -> Candidate {
        let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.clone().into() };
        self.candidate(
            who,
            nonce,
            self.apps.cross_chain_swap.l2_vault,
            call.abi_encode().into(),
            U256::from(10).pow(U256::from(18)),
        )
    }

    fn candidate(&self, who: u32, nonce: u64, to: Address, data: Bytes, value: U256) -> Candidate {
        let sender = dev_key(who).address();
        let tx = TxEnv {
            tx_type: 2,
            caller: sender,
            kind: TxKind::Call(to),
            data,
            value,
            nonce,
            gas_limit: 3_000_000,
            gas_price: 1_000_000_000,
            gas_priority_fee: Some(0),
            chain_id: Some(self.protocol.l2_chain_id),
            ..Default::default()
        };
        Candidate {
            hash: keccak256([sender.as_slice(), &nonce.to_be_bytes(), &[who as u8]].concat()),
            sender,
            nonce,
            tx,
        }
    }
}

/// An L1→L2 message from nobody, as a placeholder answer before the real one is known.
fn placeholder(d: &Dev) -> Message {
    Message { srcChainId: d.protocol.l1_chain_id, destChainId: d.protocol.l2_chain_id, ..Default::default() }
}

fn factory(d: &Dev) -> <HostEvmConfig as ConfigureEvm>::Factory {
    d.evm.simulation_factory()
}

/// The answer a transaction's first message gets.
fn first_answer(plan: &Plan) -> Message {
    plan.messages[0].answers[0].message.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_with_the_simulated_answer_gets_a_plan_l1_agrees_with() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();

    // Without its answer the swap reverts, but its outbound attempt is found and L1 answers it.
    let blind = d.swap(3, 0, &placeholder(&d));
    let (asked, _) = pending.answers(&f, &bundle, &blind).unwrap();
    assert_eq!(asked.messages.len(), 1);
    assert_eq!(asked.messages[0].message.to, d.apps.cross_chain_swap.l1_vault);
    let answer = first_answer(&asked);
    assert_eq!(pending.presimulate(&f, &bundle, &blind).unwrap_err(), NoPlan::AnswerChanged, "same id, other content");

    // Sent with that answer, it gets a plan.
    let swap = d.swap(3, 0, &answer);
    let (plan, _) = pending.presimulate(&f, &bundle, &swap).unwrap();
    assert_eq!((plan.tx_hash, plan.sender, plan.nonce), (swap.hash, swap.sender, 0));
    assert_eq!(first_answer(&plan), answer);
    assert_eq!(plan.l1_block, (0, d.l1.genesis_hash()));
    assert_eq!(
        plan.slots().collect::<Vec<_>>(),
        [signal_slot(d.protocol.l1_chain_id, d.protocol.l1.bridge, answer.hash())]
    );

    // Executing the leg on the embedded L1's state, outside the simulator, sends that very answer.
    let sent = execute_leg_directly(&d, &plan.messages[0].message);
    assert_eq!(sent, vec![answer]);
}

/// `processMessage(m, "")` through the Multicall from its owner on the L1 genesis state with `m`'s fast
/// signal set: the messages the L1 bridge emits.
fn execute_leg_directly(d: &Dev, m: &Message) -> Vec<Message> {
    let mut db = CacheDB::new(revm::database_interface::WrapDatabaseRef(d.l1.latest().unwrap()));
    let slot = signal_slot(d.protocol.l2_chain_id, d.protocol.l2.bridge, m.hash());
    db.insert_account_storage(
        d.protocol.l1.signal_service,
        U256::from_be_bytes(received_signal_key(slot).0),
        U256::from(1),
    )
    .unwrap();
    let process = Bridge::processMessageCall { message: m.clone(), proof: Bytes::new() }.abi_encode();
    let call = Multicall::Call { target: d.protocol.l1.bridge, value: U256::ZERO, data: process.into() };
    let mut evm = Context::mainnet()
        .with_db(&mut db)
        .modify_cfg_chained(|c| {
            c.chain_id = d.protocol.l1_chain_id;
            c.set_spec_and_mainnet_gas_params(SpecId::OSAKA);
        })
        .build_mainnet();
    let tx = TxEnv {
        caller: dev_key(0).address(),
        kind: TxKind::Call(d.protocol.l1.multicall),
        data: Multicall::multicallCall { calls: vec![call] }.abi_encode().into(),
        gas_limit: 10_000_000,
        chain_id: Some(d.protocol.l1_chain_id),
        ..Default::default()
    };
    let out = evm.transact(tx).unwrap().result;
    assert!(out.is_success(), "{out:?}");
    out.into_logs()
        .iter()
        .filter(|l| l.address == d.protocol.l1.bridge)
        .filter_map(|l| Bridge::MessageSent::decode_log_data(&l.data).ok())
        .map(|e| e.message)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_and_failing_transactions_get_no_plan_with_the_reason() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();
    let transfer = d.candidate(4, 0, Address::repeat_byte(0xde), Bytes::new(), U256::from(1));
    assert_eq!(pending.presimulate(&f, &bundle, &transfer).unwrap_err(), NoPlan::NoOutboundMessage);

    // A swap whose L1 leg cannot succeed: it asks for more than the pool can give.
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::MAX, returnMessage: placeholder(&d).into() };
    let greedy = d.candidate(
        4,
        0,
        d.apps.cross_chain_swap.l2_vault,
        call.abi_encode().into(),
        U256::from(10).pow(U256::from(18)),
    );
    let e = pending.presimulate(&f, &bundle, &greedy).unwrap_err();
    assert!(matches!(&e, NoPlan::L1LegFailed(r) if r.contains("POOL_SLIPPAGE")), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_swaps_answer_in_plan_order_and_a_stale_answer_is_taken() {
    let (d, bundle) = dev().await;
    let f = factory(&d);
    let mut pending = d.pending();
    let (first_ask, _) = pending.answers(&f, &bundle, &d.swap(3, 0, &placeholder(&d))).unwrap();
    let answer = first_answer(&first_ask);
    // Two senders sign against the same state: both embed the same answer id.
    let first = d.swap(3, 0, &answer);
    let (plan, bundle) = pending.presimulate(&f, &bundle, &first).unwrap();
    pending.apply(&f, &first.tx, &plan.slots().collect::<Vec<_>>()).unwrap();

    let stale = d.swap(5, 0, &Message { srcOwner: answer.srcOwner, ..answer.clone() });
    assert_eq!(pending.presimulate(&f, &bundle, &stale).unwrap_err(), NoPlan::AnswerTaken);

    // Asked again on the pending state, the second sender's answer comes after the first's.
    let (second_ask, _) = pending.answers(&f, &bundle, &d.swap(5, 0, &placeholder(&d))).unwrap();
    let second_answer = first_answer(&second_ask);
    assert_eq!(second_answer.id, answer.id + 1);
    let (second, _) = pending.presimulate(&f, &bundle, &d.swap(5, 0, &second_answer)).unwrap();
    assert_eq!(first_answer(&second), second_answer);
}
