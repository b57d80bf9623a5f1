//! The plan's state is its block's state. Random mixes of transfers, swaps and failing calls from a few
//! senders, several back to back, are planned by the watcher on the pending state of the block the ledger
//! fixed (its timestamp, its anchor, the block's fee rules); the block is built from those plans. Every
//! planned transaction, the ones carried ahead of a sender's plan included, is run again on that pending
//! state and in the built block under a recorder of every storage and environment read: the reads, the
//! outcome and the gas are the same, and every planned swap succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{collections::HashMap, sync::Arc};

use alloy::eips::Encodable2718;
use alloy_evm::{Evm, EvmFactory, FromRecoveredTx};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use common::{Dev, dev, first_answer, placeholder, pooled};
use proptest::prelude::*;
use revm::{
    DatabaseCommit, DatabaseRef,
    context::{ContextTr, TxEnv},
    database::CacheDB,
    inspector::Inspector,
    interpreter::{Interpreter, interpreter_types::Jumps},
};
use surge_builder::{BuilderConfig, SurgeNodeBuilder};
use surge_exex::{
    L2Protocol, Ledger, LedgerStore, NextBlocks, PlannedInputs, ProposalRules, PublishedPlans, WatcherCore, pending_for,
};
use surge_host::{ExecutedBlock, seams::PoolHandle};
use surge_interfaces::{
    BuiltBlock, ConfigureEvm, NextBlockAttributes, PayloadBuilder, StateProviderFactory, TransactionOrigin,
    TransactionPool,
};
use surge_l1::{HeadWatch, L1Head, L1Heads};
use surge_primitives::{
    GOLDEN_TOUCH_ADDRESS,
    bindings::{examples::bridged_swap_token::BridgedSwapToken, test_env_probe::EnvProbe},
};
use tokio::sync::watch;

/// Opcodes whose results the recorder keeps: storage, balances, block hash and the block environment.
const WATCHED: [u8; 9] = [0x54, 0x31, 0x47, 0x40, 0x41, 0x42, 0x43, 0x44, 0x48];

/// Every watched opcode a transaction ran: (opcode, contract, its argument, its result).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Recorder {
    reads: Vec<(u8, Address, U256, U256)>,
    open: Option<(u8, Address, U256)>,
}

impl<CTX: ContextTr> Inspector<CTX> for Recorder {
    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        let op = interp.bytecode.opcode();
        if WATCHED.contains(&op) {
            let argument =
                if matches!(op, 0x54 | 0x31 | 0x40) { interp.stack.peek(0).unwrap_or_default() } else { U256::ZERO };
            self.open = Some((op, interp.input.target_address, argument));
        }
    }

    fn step_end(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        if let Some((op, address, argument)) = self.open.take() {
            self.reads.push((op, address, argument, interp.stack.peek(0).unwrap_or_default()));
        }
    }
}

/// What one transaction did, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    reads: Vec<(u8, Address, U256, U256)>,
    success: bool,
    gas: u64,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Transfer,
    Swap,
    /// A call that reverts (minting the bridged token, which only the vault may).
    Failing,
    /// A call reading the block's clock, the coinbase's and treasury's balances and the anchor's state.
    Probe,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Transfer), Just(Kind::Swap), Just(Kind::Failing), Just(Kind::Probe)]
}

/// The dev network with a committed block 1 (so the coinbase is the producer's), a ledger, a pool and the
/// builder staging from the ledger.
struct Chain {
    d: Dev,
    ledger: Arc<Ledger>,
    next: Arc<NextBlocks>,
    handle: Arc<PublishedPlans>,
    pool: PoolHandle,
    builder: SurgeNodeBuilder<surge_host::seams::HostEvmConfig, PoolHandle>,
    l1: L1Head,
    _dir: tempfile::TempDir,
}

const COINBASE: Address = Address::repeat_byte(0xcb);

async fn chain() -> Chain {
    let (d, _) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = d.l2_spec();
    let head = d.l2.head().unwrap();
    let base_fee = spec.next_base_fee_after(&d.l2, &head.header).unwrap();
    let config = surge_host::seams::pool_config(&spec, head.header.gas_limit);
    let pool = PoolHandle::new(surge_txpool::TxPool::new(config, base_fee), d.l2.clone());
    let store = LedgerStore::open(&dir.path().join("planner.redb")).unwrap();
    let rules = ProposalRules { anchor_distance: 0, ..Default::default() };
    let ledger = Arc::new(Ledger::open(store, rules).unwrap());
    ledger.catch_up(d.l2.as_ref()).unwrap();
    let next = Arc::new(NextBlocks::new(rules));
    let l1 = d.l1.head().unwrap();
    let l1 = L1Head::from_sealed(&l1.header, l1.hash);
    let heads = HeadWatch(watch::channel(L1Heads { latest: Some(l1), finalized: None, failing_since: None }).1);
    let handle = Arc::new(PublishedPlans::default());
    let chain = surge_host::seams::HostProvider(d.l2.clone());
    let planner = Arc::new(PlannedInputs::new(
        pool.clone(),
        chain,
        handle.clone(),
        ledger.clone(),
        next.clone(),
        heads.clone(),
        32,
    ));
    let config = BuilderConfig::new(spec.chain_id, spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder = SurgeNodeBuilder::new(d.evm.clone(), config, pool.clone(), planner, Arc::new(heads)).unwrap();
    // Block 1 deploys the probe (its coinbase is the producer's from then on).
    let code = [EnvProbe::BYTECODE.to_vec(), vec![]].concat();
    let deploy = d_deploy(&d, 9, code);
    pool.add_transaction(TransactionOrigin::External, &deploy).unwrap();
    let chain = Chain { d, ledger, next, handle, pool, builder, l1, _dir: dir };
    let block = chain.build();
    assert_eq!(block.body.transactions.len(), 2, "the probe deployed");
    chain.commit(block);
    chain
}

/// A contract creation of `code` from dev account `who` (nonce 0), signed.
fn d_deploy(d: &Dev, who: u32, code: Vec<u8>) -> Vec<u8> {
    use alloy::consensus::TxEip1559;
    let tx = TxEip1559 {
        chain_id: d.protocol.l2_chain_id,
        nonce: 0,
        gas_limit: 1_000_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: alloy_primitives::TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code.into(),
    };
    surge_test_utils::sign_eip1559(&surge_test_utils::dev_key(who), tx).encoded_2718()
}

impl Chain {
    /// Builds the head's child with the staged inputs, as block production does.
    fn build(&self) -> BuiltBlock {
        let head = self.d.l2.head().unwrap();
        let attributes =
            NextBlockAttributes { fee_recipient: COINBASE, ..NextBlockAttributes::at(head.header.timestamp + 1) };
        self.builder.build(self.d.l2.as_ref(), &head, &attributes).unwrap()
    }

    fn commit(&self, block: BuiltBlock) {
        self.d.l2.commit_block(ExecutedBlock::from(block)).unwrap();
        // The ledger reads the block as its ExEx would.
        self.ledger.catch_up(self.d.l2.as_ref()).unwrap();
    }
}

/// Runs the built block's transactions again on its parent state under the recorder, checking each
/// against the block's receipts.
fn block_runs(d: &Dev, payload: &BuiltBlock) -> HashMap<B256, Run> {
    let parent = d.l2.latest().unwrap();
    let anchor_nonce = parent.basic_ref(GOLDEN_TOUCH_ADDRESS).unwrap().map_or(0, |a| a.nonce);
    let mut db = CacheDB::new(parent);
    let env = d.evm.evm_env(&payload.header);
    let factory = d.evm.block_factory(Some(anchor_nonce));
    let mut runs = HashMap::new();
    let mut cumulative = 0;
    for ((tx, sender), receipt) in payload.body.transactions.iter().zip(&payload.senders).zip(&payload.receipts) {
        let mut vm = factory.create_evm_with_inspector(&mut db, env.clone(), Recorder::default());
        let out = vm.transact(TxEnv::from_recovered_tx(tx, *sender)).unwrap();
        let reads = std::mem::take(&mut vm.inspector_mut().reads);
        drop(vm);
        db.commit(out.state);
        let gas = out.result.tx_gas_used();
        cumulative += gas;
        assert_eq!(cumulative, receipt.cumulative_gas_used(), "the re-run is the block's");
        assert_eq!(out.result.is_success(), receipt.status());
        runs.insert(*tx.tx_hash(), Run { reads, success: out.result.is_success(), gas });
    }
    runs
}

fn check(ops: Vec<(u32, Kind)>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let c = chain().await;
        let d = &c.d;
        let head = d.l2.head().unwrap();
        let next = c.next.next_block((head.header.number, head.header.timestamp), Some(c.l1));
        assert!(next.checkpoint.is_some(), "the pending state runs the block's anchor");
        let l2 = L2Protocol::from_config(&d.protocol);
        let factory = d.evm.block_factory(None);
        let bundle = d.bundle(Default::default(), &c.ledger.in_flight()).await;
        let pending = pending_for(d.l2.as_ref(), &d.evm, l2, &next).unwrap();
        let mut watcher = WatcherCore::new(factory, bundle, pending, c.handle.clone());
        let mut nonces: HashMap<u32, u64> = HashMap::new();
        let mut swaps = vec![];
        let probe = surge_test_utils::dev_key(9).address().create(0);
        let anchor = surge_primitives::L2Predeploys::for_chain(d.protocol.l2_chain_id).anchor;
        // Every case: a planned swap, then another sender's probe carried ahead of that sender's swap (it
        // reads the fees the first one paid), then the random part.
        let fixed = [(3, Kind::Swap), (2, Kind::Probe), (2, Kind::Swap)];
        for (who, kind) in fixed.into_iter().chain(ops) {
            let nonce = *nonces.entry(who).or_default();
            let candidate = match kind {
                Kind::Transfer => d.candidate(who, nonce, Address::repeat_byte(0x5a), Bytes::new(), U256::from(7)),
                Kind::Probe => {
                    let call = EnvProbe::lookCall { anchor };
                    d.candidate(who, nonce, probe, call.abi_encode().into(), U256::ZERO)
                }
                Kind::Failing => {
                    let call = BridgedSwapToken::mintCall { to: Address::repeat_byte(1), amount: U256::from(1) };
                    d.candidate(who, nonce, d.apps.cross_chain_swap.l2_token, call.abi_encode().into(), U256::ZERO)
                }
                Kind::Swap => {
                    let asked = watcher.answers(&d.swap(who, nonce, &placeholder(d))).unwrap();
                    d.swap(who, nonce, &first_answer(&asked))
                }
            };
            let tx = pooled(d, who, &candidate);
            let hash = c.pool.add_transaction(TransactionOrigin::External, &tx.tx.encoded_2718()).unwrap();
            watcher.on_transaction(&c.pool.get(&hash).unwrap());
            if matches!(kind, Kind::Swap) {
                swaps.push(hash);
            }
            *nonces.get_mut(&who).unwrap() += 1;
        }
        for swap in &swaps {
            assert!(c.handle.plan(swap).is_some(), "swap {swap} planned: {:?}", c.handle.no_plan_reason(swap));
        }
        surge_exex::publish_for(&c.handle, &c.ledger, &c.pool, next.clone());

        // The plans on the pending state, in book order, recorded.
        let mut pending = pending_for(d.l2.as_ref(), &d.evm, l2, &next).unwrap();
        let mut planned = vec![];
        for (plan, candidate) in watcher.book().entries() {
            let slots: Vec<B256> = plan.slots().collect();
            let mut recorder = Recorder::default();
            let result = pending.run_inspected(&factory, &candidate.tx, &slots, &mut recorder).unwrap();
            let run = Run { reads: recorder.reads, success: result.is_success(), gas: result.tx_gas_used() };
            planned.push((plan.tx_hash, !plan.messages.is_empty(), run));
        }

        let payload = c.build();
        assert_eq!(payload.header.timestamp, next.timestamp, "the timestamp the plans were made for");
        let in_block = block_runs(d, &payload);
        for (tx, sync, run) in &planned {
            let block = in_block.get(tx).unwrap_or_else(|| panic!("planned {tx} is in the block"));
            assert_eq!(block, run, "{tx}: the same reads, outcome and gas on the pending state and in the block");
            if *sync {
                assert!(run.success, "{tx} settles with its answers");
            }
        }
        c.commit(payload);
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_plan_reads_in_its_block_what_it_read_on_the_pending_state(
        ops in proptest::collection::vec((2u32..6, kind()), 0..8)
    ) {
        check(ops);
    }
}
