//! The in-process dev network of `surge_node::network` with helpers: signed transactions from the dev
//! accounts, swaps with the answers the watcher gives, waiting for plans and reasons.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{consensus::TxEip1559, eips::Encodable2718};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::context::TxEnv;
use surge_exex::{Candidate, ProposalRules, Watcher};
use surge_host::producer::ProductionMode;
use surge_interfaces::{TransactionOrigin, TransactionPool};
use surge_node::network::{DevNetwork, NetworkOptions};
use surge_primitives::{Message, bindings::examples::swap_vault_l2::SwapVaultL2};
use surge_sync::{NoPlan, Plan};
use surge_test_utils::{dev_key, eip1559_call, sign_eip1559};

pub const GWEI: u128 = 1_000_000_000;

/// A signed EIP-1559 transaction from dev account `who`: its raw bytes and how the watcher sees it.
pub fn signed(
    chain_id: u64,
    who: u32,
    nonce: u64,
    to: Address,
    data: Bytes,
    value: U256,
    gas: u64,
) -> (Vec<u8>, Candidate) {
    let tx = eip1559_call(chain_id, nonce, to, data, value, gas);
    let key = dev_key(who);
    let envelope = sign_eip1559(&key, tx);
    let candidate = Candidate {
        hash: *envelope.tx_hash(),
        sender: key.address(),
        nonce,
        tx: TxEnv::from_recovered_tx(&envelope, key.address()),
    };
    (envelope.encoded_2718(), candidate)
}

/// The dev network of `surge_node::network` (its fields through `Deref`), with its data directory and its
/// txpool watcher, which these tests always have.
pub struct Net {
    pub _dir: tempfile::TempDir,
    pub watcher: Watcher,
    network: DevNetwork,
}

impl std::ops::Deref for Net {
    type Target = DevNetwork;

    fn deref(&self) -> &DevNetwork {
        &self.network
    }
}

/// The proposal rules of the tests: anchors on the L1 head itself, a proposal open for a minute at most.
pub fn rules() -> ProposalRules {
    ProposalRules { anchor_distance: 0, max_blocks: 4, max_age: Duration::from_secs(60), ..Default::default() }
}

pub async fn start() -> Net {
    start_with(rules()).await
}

pub async fn start_with(rules: ProposalRules) -> Net {
    start_network(rules, false, None, Default::default(), None).await
}

/// The network with the L1 leg simulated as `sim` says.
pub async fn start_with_sim(sim: surge_l1::SimConfig) -> Net {
    start_network_with(rules(), false, None, Default::default(), None, sim).await
}

/// [`start_with_sim`] with the proposer sending closed proposals to the L1.
pub async fn start_proposing_with_sim(sim: surge_l1::SimConfig) -> Net {
    start_network_with(rules(), true, None, Default::default(), None, sim).await
}

/// The network with the txpool watcher's queues set by `watcher`.
pub async fn start_with_watcher(watcher: surge_exex::WatcherConfig) -> Net {
    start_network(rules(), false, None, watcher, None).await
}

/// [`start_with_watcher`] with the proposer sending closed proposals to the L1.
pub async fn start_proposing_with_watcher(watcher: surge_exex::WatcherConfig) -> Net {
    start_network(rules(), true, None, watcher, None).await
}

/// The network with its proposer sending closed proposals to the L1.
pub async fn start_proposing(rules: ProposalRules) -> Net {
    start_network(rules, true, None, Default::default(), None).await
}

/// [`start_proposing`] with `prover` proving.
pub async fn start_proposing_with(rules: ProposalRules, prover: Arc<dyn surge_l1::Prover>) -> Net {
    start_network(rules, true, Some(prover), Default::default(), None).await
}

/// [`start_proposing_with`] on an L1 that makes blocks only when asked (`evm_mine`): the test mines.
pub async fn start_on_manual_l1(prover: Arc<dyn surge_l1::Prover>) -> Net {
    let never = ProductionMode::Interval(Duration::from_secs(24 * 3600));
    start_network(rules(), true, Some(prover), Default::default(), Some(never)).await
}

async fn start_network(
    rules: ProposalRules,
    proposer: bool,
    prover: Option<Arc<dyn surge_l1::Prover>>,
    watcher_config: surge_exex::WatcherConfig,
    l1_mode: Option<ProductionMode>,
) -> Net {
    start_network_with(rules, proposer, prover, watcher_config, l1_mode, Default::default()).await
}

async fn start_network_with(
    rules: ProposalRules,
    proposer: bool,
    prover: Option<Arc<dyn surge_l1::Prover>>,
    watcher_config: surge_exex::WatcherConfig,
    l1_mode: Option<ProductionMode>,
    sim: surge_l1::SimConfig,
) -> Net {
    // RUST_LOG=info shows the node's log with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let options = NetworkOptions {
        rules,
        // A block every 200 ms, as the node's interval mode does every second: a transaction the watcher
        // has not decided on yet waits for a later block.
        l2_mode: ProductionMode::Interval(Duration::from_millis(200)),
        l1_mode: l1_mode.unwrap_or(NetworkOptions::default().l1_mode),
        sim,
        proposer,
        prover,
        watcher_config,
        ..Default::default()
    };
    let network = surge_node::network::start(dir.path(), options).await.unwrap();
    let watcher = network.watcher.clone().expect("the fast-signal path checks out on the dev L1");
    Net { _dir: dir, watcher, network }
}

/// The dev network's mock prover, holding back the proofs `held` picks until the test opens the gate.
#[derive(Debug)]
pub struct HeldProver {
    inner: Arc<dyn surge_l1::Prover>,
    open: tokio::sync::watch::Receiver<bool>,
    held: fn(&surge_l1::ProofRequest) -> bool,
}

impl HeldProver {
    /// A prover holding back the proofs `held` picks, and the gate that lets them go.
    pub fn holding(
        held: fn(&surge_l1::ProofRequest) -> bool,
    ) -> (tokio::sync::watch::Sender<bool>, Arc<dyn surge_l1::Prover>) {
        let (open, gate) = tokio::sync::watch::channel(false);
        let inner = surge_node::network::dev_mock_prover(surge_genesis::DEV_L2_CHAIN_ID).unwrap();
        (open, Arc::new(Self { inner, open: gate, held }))
    }
}

impl surge_l1::Prover for HeldProver {
    fn name(&self) -> String {
        "held mock prover".into()
    }

    fn flags(&self) -> Vec<surge_primitives::ProofFlag> {
        self.inner.flags()
    }

    fn prove<'a>(&'a self, request: &'a surge_l1::ProofRequest) -> surge_l1::ProofFuture<'a> {
        Box::pin(async move {
            if (self.held)(request) {
                let _ = self.open.clone().wait_for(|open| *open).await;
            }
            self.inner.prove(request).await
        })
    }
}

/// Waits until `f` answers, polling the watcher's published state (it changes on its own thread).
pub async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
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
    pub fn published(&self) -> Arc<surge_exex::PublishedPlans> {
        self.watcher.published()
    }

    /// A 1-ether swap from `who` embedding `answer` (a placeholder when `None`), with `gas`.
    pub fn swap(&self, who: u32, nonce: u64, answer: Option<&Message>, fee_bump: u128) -> (Vec<u8>, Candidate) {
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
            let envelope = sign_eip1559(&dev_key(who), tx);
            candidate.hash = *envelope.tx_hash();
            candidate.tx = TxEnv::from_recovered_tx(&envelope, candidate.sender);
            raw = envelope.encoded_2718();
        }
        (raw, candidate)
    }

    pub fn l2_tx(&self, who: u32, nonce: u64, to: Address, data: Bytes, value: U256, gas: u64) -> (Vec<u8>, Candidate) {
        signed(self.protocol.l2_chain_id, who, nonce, to, data, value, gas)
    }

    /// The answer `who`'s swap gets, asked as an app would.
    pub async fn answer_for(&self, who: u32, nonce: u64) -> Message {
        let (_, blind) = self.swap(who, nonce, None, 0);
        let asked = self.watcher.answers(blind).await.unwrap();
        asked.messages[0].answers[0].message.clone()
    }

    pub fn submit(&self, raw: &[u8]) -> Result<B256, String> {
        self.l2.pool.add_transaction(TransactionOrigin::External, raw).map_err(|e| e.to_string())
    }

    /// Waits until `tx` has a plan a block may take; returns it.
    pub async fn planned(&self, tx: B256) -> Plan {
        let planner = self.published();
        let what = || format!("a plan for {tx} (reason so far: {:?})", planner.no_plan_reason(&tx));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Planned, and offered to blocks: recorded by the ledger for the block the plans are made for
            // (the watcher publishes a plan before its durable record lets a block take it).
            let (_, _, made_for) = planner.plans_and_deferred();
            if let Some(plan) = planner.plan(&tx)
                && made_for.is_some_and(|next| self.ledger.is_recorded(&plan, next.number))
            {
                return plan;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {}", what());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn refused(&self, tx: B256) -> NoPlan {
        let planner = self.published();
        until("a reason", || planner.no_plan_reason(&tx)).await
    }
}
