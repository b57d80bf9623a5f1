//! The txpool watcher on an in-process dev network (the embedded L1 producing blocks, the L2 with its real
//! pool and the watcher installed as an extension, the example apps from the dev genesis): swaps planned
//! with the answers the watcher simulates (and L1 agrees), plan order, no plan with its reason for a
//! transfer, for a transaction that fails with its answer and for an answer already taken, the pool
//! refusing to replace a plan another sender stands on (and a replacement with nothing behind planned
//! again), two outbound messages in one transaction, and L1's pool price moving: the plan dropped with
//! `answer changed on L1` and the one behind re-simulated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::SignerSync,
};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use revm::context::TxEnv;
use surge_builder::{BuilderConfig, InputQueue, SurgeNodeBuilder};
use surge_exex::{Candidate, Watcher};
use surge_genesis::ExampleApps;
use surge_host::{
    ChainSpec,
    producer::{EthereumPayloadBuilder, ProductionMode},
    seams::HostEvmConfig,
};
use surge_interfaces::{ChainControl, ChainTags, TransactionOrigin, TransactionPool};
use surge_l1::{BundleSimulator, EmbeddedSource, L1Protocol, L1StateSource, SimConfig};
use surge_node::launch::{OpenChain, RunningChain, StartOptions};
use surge_primitives::{
    Message, ProtocolConfig,
    bindings::{
        examples::{constant_product_pool::ConstantProductPool, swap_vault_l2::SwapVaultL2},
        test_message_sender::MessageSender,
    },
};
use surge_rpc::RpcServerConfig;
use surge_sync::{NoPlan, Plan, Planner};
use surge_test_utils::{dev_key, workspace_root};

const GWEI: u128 = 1_000_000_000;

fn spec(name: &str) -> ChainSpec {
    ChainSpec::from_genesis_file(&workspace_root().join(format!("etc/dev/{name}-genesis.json"))).unwrap()
}

fn addresses() -> (ProtocolConfig, ExampleApps) {
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/addresses.json")).unwrap())
            .unwrap();
    (serde_json::from_value(a["protocol"].clone()).unwrap(), serde_json::from_value(a["apps"].clone()).unwrap())
}

fn rpc() -> RpcServerConfig {
    RpcServerConfig { addr: "127.0.0.1:0".parse().unwrap(), ..Default::default() }
}

/// A signed EIP-1559 transaction from dev account `who`: its raw bytes and how the watcher sees it.
fn signed(
    chain_id: u64,
    who: u32,
    nonce: u64,
    to: Address,
    data: Bytes,
    value: U256,
    gas: u64,
) -> (Vec<u8>, Candidate) {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: data,
    };
    let key = dev_key(who);
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    let envelope = TxEnvelope::Eip1559(tx.into_signed(sig));
    let candidate = Candidate {
        hash: *envelope.tx_hash(),
        sender: key.address(),
        nonce,
        tx: TxEnv::from_recovered_tx(&envelope, key.address()),
    };
    (envelope.encoded_2718(), candidate)
}

struct Net {
    _dir: tempfile::TempDir,
    l1: RunningChain,
    l2: RunningChain,
    watcher: Watcher,
    protocol: ProtocolConfig,
    apps: ExampleApps,
}

async fn start() -> Net {
    let dir = tempfile::tempdir().unwrap();
    let (protocol, apps) = addresses();
    let l1 = OpenChain::open("L1", spec("l1"), &dir.path().join("l1")).unwrap();
    let builder = Arc::new(EthereumPayloadBuilder { spec: l1.spec.clone(), pool: l1.pool.clone() });
    let l1 = l1
        .start(StartOptions {
            builder,
            mode: ProductionMode::Instant { tick: Duration::from_millis(20) },
            rpc: rpc(),
            tags: Arc::new(ChainTags::at_head()),
            fee_recipient: Address::ZERO,
            dev: true,
            extensions: vec![],
        })
        .await
        .unwrap();
    let (heads, watcher) = surge_node::l1::follow_embedded(&l1, &protocol, SimConfig::default()).await.unwrap();
    let (install, watcher) = watcher.expect("the fast-signal path checks out on the dev L1");

    let l2 = OpenChain::open("L2", spec("l2"), &dir.path().join("l2")).unwrap();
    let config = BuilderConfig::new(l2.spec.chain_id, l2.spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder = SurgeNodeBuilder::new(
        HostEvmConfig(l2.spec.clone()),
        config,
        l2.pool.clone(),
        Arc::new(InputQueue::new()),
        Arc::new(heads),
    )
    .unwrap();
    let l2 = l2
        .start(StartOptions {
            builder: Arc::new(builder),
            mode: ProductionMode::Instant { tick: Duration::from_millis(20) },
            rpc: rpc(),
            tags: Arc::new(ChainTags::new(0)),
            fee_recipient: Address::repeat_byte(0xfe),
            dev: true,
            extensions: vec![install],
        })
        .await
        .unwrap();
    Net { _dir: dir, l1, l2, watcher, protocol, apps }
}

/// Waits until `f` answers, polling the watcher's published state (it changes on its own thread).
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Net {
    fn planner(&self) -> Arc<surge_exex::PlannerHandle> {
        self.watcher.planner()
    }

    /// A 1-ether swap from `who` embedding `answer` (a placeholder when `None`), with `gas`.
    fn swap(&self, who: u32, nonce: u64, answer: Option<&Message>, fee_bump: u128) -> (Vec<u8>, Candidate) {
        let placeholder = Message {
            srcChainId: self.protocol.l1_chain_id,
            destChainId: self.protocol.l2_chain_id,
            ..Default::default()
        };
        let answer = answer.cloned().unwrap_or(placeholder);
        let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.into() };
        let (mut raw, mut candidate) = self.l2_tx(
            who,
            nonce,
            self.apps.cross_chain_swap.l2_vault,
            call.abi_encode().into(),
            U256::from(10).pow(U256::from(18)),
            3_000_000,
        );
        if fee_bump > 0 {
            let tx = TxEip1559 {
                chain_id: self.protocol.l2_chain_id,
                nonce,
                gas_limit: 3_000_000,
                max_fee_per_gas: 10 * GWEI * fee_bump,
                max_priority_fee_per_gas: GWEI * fee_bump,
                to: TxKind::Call(self.apps.cross_chain_swap.l2_vault),
                value: U256::from(10).pow(U256::from(18)),
                access_list: Default::default(),
                input: candidate.tx.data.clone(),
            };
            let sig = dev_key(who).sign_hash_sync(&tx.signature_hash()).unwrap();
            let envelope = TxEnvelope::Eip1559(tx.into_signed(sig));
            candidate.hash = *envelope.tx_hash();
            candidate.tx = TxEnv::from_recovered_tx(&envelope, candidate.sender);
            raw = envelope.encoded_2718();
        }
        (raw, candidate)
    }

    fn l2_tx(&self, who: u32, nonce: u64, to: Address, data: Bytes, value: U256, gas: u64) -> (Vec<u8>, Candidate) {
        signed(self.protocol.l2_chain_id, who, nonce, to, data, value, gas)
    }

    /// The answer `who`'s swap gets, asked as an app would.
    async fn answer_for(&self, who: u32, nonce: u64) -> Message {
        let (_, blind) = self.swap(who, nonce, None, 0);
        let asked = self.watcher.answers(blind).await.unwrap();
        asked.messages[0].answers[0].message.clone()
    }

    fn submit(&self, raw: &[u8]) -> Result<B256, String> {
        self.l2.pool.add_transaction(TransactionOrigin::External, raw).map_err(|e| e.to_string())
    }

    async fn planned(&self, tx: B256) -> Plan {
        let planner = self.planner();
        let what = || format!("a plan for {tx} (reason so far: {:?})", planner.no_plan_reason(&tx));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(plan) = planner.plan(&tx) {
                return plan;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", what());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn refused(&self, tx: B256) -> NoPlan {
        let planner = self.planner();
        until("a reason", || planner.no_plan_reason(&tx)).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watcher_plans_sync_transactions_as_they_arrive() {
    let net = start().await;

    // A contract sending two messages in one transaction, deployed before production pauses.
    let sender = MessageSender::constructorCall { _bridge: net.protocol.l2.bridge }.abi_encode();
    let mut code = MessageSender::BYTECODE.to_vec();
    code.extend(sender);
    let deploy = TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        nonce: 0,
        gas_limit: 3_000_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code.into(),
    };
    let sig = dev_key(2).sign_hash_sync(&deploy.signature_hash()).unwrap();
    let deployment = TxEnvelope::Eip1559(deploy.into_signed(sig));
    net.submit(&deployment.encoded_2718()).unwrap();
    assert_eq!(net.refused(*deployment.tx_hash()).await, NoPlan::NoOutboundMessage);
    let two_sender = dev_key(2).address().create(0);
    let store = net.l2.store.clone();
    until("the deployment mined", || (store.head().ok()?.header.number >= 1).then_some(())).await;
    // From here on the L2 builds no block: plans stay plans.
    net.l2.control.pause_production();

    // A swap with the answer the watcher simulated: planned, and L1 itself sends that answer.
    let answer_a = net.answer_for(3, 0).await;
    let (raw, a) = net.swap(3, 0, Some(&answer_a), 0);
    net.submit(&raw).unwrap();
    let plan_a = net.planned(a.hash).await;
    assert_eq!(plan_a.messages[0].answers[0].message, answer_a);
    let head = net.l1.store.head().unwrap();
    let view = Arc::new(EmbeddedSource::new(net.l1.store.clone()).open(head.header.number, head.hash).await.unwrap());
    let mut l1 = BundleSimulator::new(view, L1Protocol::from_config(&net.protocol), SimConfig::default(), &[]).unwrap();
    assert_eq!(l1.message(&plan_a.messages[0].message).unwrap().sent[0].message, answer_a, "L1 agrees");

    // Another sender's swap: its answer comes after the first's.
    let answer_b = net.answer_for(5, 0).await;
    let (raw, b) = net.swap(5, 0, Some(&answer_b), 0);
    net.submit(&raw).unwrap();
    let plan_b = net.planned(b.hash).await;
    assert_eq!(plan_b.messages[0].answers[0].message.id, answer_a.id + 1);

    // No plan, with the reason: a transfer; a swap whose answer another plan took; a swap that runs out of
    // gas with its answer in place.
    let (raw, transfer) = net.l2_tx(4, 0, Address::repeat_byte(0xde), Bytes::new(), U256::from(1), 21_000);
    net.submit(&raw).unwrap();
    assert_eq!(net.refused(transfer.hash).await, NoPlan::NoOutboundMessage);
    let (raw, stale) = net.swap(6, 0, Some(&answer_a), 0);
    net.submit(&raw).unwrap();
    assert_eq!(net.refused(stale.hash).await, NoPlan::AnswerTaken);
    let answer_c = net.answer_for(7, 0).await;
    let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer_c.into() };
    let one = U256::from(10).pow(U256::from(18));
    let (raw, starved) = net.l2_tx(7, 0, net.apps.cross_chain_swap.l2_vault, call.abi_encode().into(), one, 200_000);
    net.submit(&raw).unwrap();
    assert!(matches!(net.refused(starved.hash).await, NoPlan::Reverts(_)));

    // Two outbound messages in one transaction (to L1 accounts, nothing to answer): planned with both.
    let to_l1 = |id: u8| Message {
        gasLimit: 1_000_000,
        srcOwner: dev_key(8).address(),
        destChainId: net.protocol.l1_chain_id,
        destOwner: dev_key(8).address(),
        to: Address::repeat_byte(id),
        ..Default::default()
    };
    let call = MessageSender::sendTwoCall { a: to_l1(0xa1).into(), b: to_l1(0xb2).into() };
    let (raw, two) = net.l2_tx(8, 0, two_sender, call.abi_encode().into(), U256::ZERO, 3_000_000);
    net.submit(&raw).unwrap();
    let plan_two = net.planned(two.hash).await;
    assert_eq!(plan_two.messages.len(), 2);
    assert_eq!(
        plan_two.messages.iter().map(|m| m.message.to).collect::<Vec<_>>(),
        [Address::repeat_byte(0xa1), Address::repeat_byte(0xb2)]
    );

    // Sender 3's plan has others behind it: the pool refuses its replacement, naming the plan it holds up.
    let (raw, _) = net.swap(3, 0, Some(&answer_a), 2);
    let refused = net.submit(&raw).unwrap_err();
    assert!(refused.starts_with("replacement refused") && refused.contains(&b.hash.to_string()), "{refused}");
    // The last plan (the two messages) is replaced: nothing stands on it, and the replacement is planned.
    let call = MessageSender::sendTwoCall { a: to_l1(0xa1).into(), b: to_l1(0xb2).into() };
    let old = two.hash;
    let tx = TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        nonce: 0,
        gas_limit: 3_000_000,
        max_fee_per_gas: 20 * GWEI,
        max_priority_fee_per_gas: 2 * GWEI,
        to: TxKind::Call(two_sender),
        value: U256::ZERO,
        access_list: Default::default(),
        input: call.abi_encode().into(),
    };
    let sig = dev_key(8).sign_hash_sync(&tx.signature_hash()).unwrap();
    let replacement = TxEnvelope::Eip1559(tx.into_signed(sig));
    net.submit(&replacement.encoded_2718()).unwrap();
    assert_eq!(net.refused(old).await, NoPlan::Replaced);
    net.planned(*replacement.tx_hash()).await;

    // L1's pool price moves (a swap on L1 itself): the first plan's answer changed, the one behind it
    // was re-simulated and dropped too.
    let swap_on_l1 = ConstantProductPool::swapETHForTokenCall { minOut: U256::ZERO, to: dev_key(9).address() };
    let (raw, _) = signed(
        net.protocol.l1_chain_id,
        9,
        0,
        net.apps.cross_chain_swap.l1_pool,
        swap_on_l1.abi_encode().into(),
        one * U256::from(50),
        300_000,
    );
    net.l1.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
    assert_eq!(net.refused(a.hash).await, NoPlan::AnswerChanged);
    assert_eq!(net.refused(b.hash).await, NoPlan::EarlierPlanDropped);
}
