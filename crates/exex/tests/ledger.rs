//! The planner's ledger across crashes, on the dev network's genesis with a real pool, the surge builder
//! and the L2 store: a crash between staging a plan and committing its block loses nothing (the
//! transaction returns to the pool and goes in once, planned again); a crash after the chain committed the
//! block but before the ledger heard of it is reconciled from the chain (the plan is included, its
//! proposal closed); a clean commit is there after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{path::Path, sync::Arc};

use common::{Dev, dev, factory, first_answer, placeholder};
use surge_builder::{BuilderConfig, SurgeNodeBuilder};
use surge_exex::{BlockPlanner, Ledger, PlanBook, PlannerHandle, PlannerStore, ProposalRules, WatcherCore};
use surge_host::{
    ExecutedBlock,
    seams::{PoolHandle, pool_config},
};
use surge_interfaces::{BuiltBlock, NextBlockAttributes, PayloadBuilder, TransactionOrigin, TransactionPool};
use surge_l1::{HeadWatch, L1Head, L1Heads};
use surge_primitives::Message;
use tokio::sync::watch;

/// A fresh (empty) pool on the L2 head, as after a restart.
fn pool(d: &Dev) -> PoolHandle {
    let spec = d.l2_spec();
    let head = d.l2.head().unwrap();
    let base_fee = spec.next_base_fee_after(&d.l2, &head.header).unwrap();
    PoolHandle::new(surge_txpool::TxPool::new(pool_config(&spec, head.header.gas_limit), base_fee), d.l2.clone())
}

/// One life of the node's planner: the ledger in `path`, reconciled, and a builder staging from it.
struct Life {
    ledger: Arc<Ledger>,
    handle: Arc<PlannerHandle>,
    builder: SurgeNodeBuilder<surge_host::seams::HostEvmConfig, PoolHandle>,
    pool: PoolHandle,
}

fn life(d: &Dev, path: &Path) -> Life {
    let pool = pool(d);
    let ledger = Ledger::open(PlannerStore::open(path).unwrap(), ProposalRules::default(), 32).unwrap();
    ledger.reconcile(d.l2.as_ref(), &pool).unwrap();
    let ledger = Arc::new(ledger);
    let l1 = d.l1.head().unwrap();
    let head = L1Head::from_sealed(&l1.header, l1.hash);
    let heads = HeadWatch(watch::channel(L1Heads { latest: Some(head), finalized: None }).1);
    let handle = Arc::new(PlannerHandle::default());
    let planner = BlockPlanner::new(pool.clone(), handle.clone(), ledger.clone(), heads.clone());
    let spec = d.l2_spec();
    let config = BuilderConfig::new(spec.chain_id, spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder =
        SurgeNodeBuilder::new(d.evm.clone(), config, pool.clone(), Arc::new(planner), Arc::new(heads)).unwrap();
    Life { ledger, handle, builder, pool }
}

impl Life {
    /// The watcher plans what the pool holds now.
    async fn plan_pool(&self, d: &Dev) {
        let bundle = d.bundle(Default::default(), &self.ledger.in_flight()).await;
        let mut watcher = WatcherCore::new(factory(d), bundle, d.pending(), self.handle.clone());
        for tx in self.pool.best_transactions() {
            watcher.on_transaction(&tx);
        }
        self.handle.set_planned_for(self.next(d));
    }

    /// The block plans are made for: the head's child as the ledger fixed it.
    fn next(&self, d: &Dev) -> surge_exex::NextBlock {
        let head = d.l2.head().unwrap();
        self.ledger.next_block((head.header.number, head.header.timestamp), None)
    }

    /// Builds the next block (staging its inputs) without committing it.
    fn build(&self, d: &Dev) -> BuiltBlock {
        let head = d.l2.head().unwrap();
        let attributes = NextBlockAttributes::at(head.header.timestamp + 1);
        self.builder.build(d.l2.as_ref(), &head, &attributes).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_survive_crashes_between_staging_and_commit_and_after_the_chain_committed() {
    let (d, bundle) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let f = factory(&d);
    let answer: Message =
        first_answer(&PlanBook::new(bundle, d.pending()).answers(&f, &[], &d.swap(3, 0, &placeholder(&d))).unwrap());
    let raw = {
        use alloy::eips::Encodable2718;
        common::pooled(&d, 3, &d.swap(3, 0, &answer)).tx.encoded_2718()
    };

    // Life 1: the swap is planned and staged into block 1, which is never committed.
    let one = life(&d, &path);
    let swap = one.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
    one.plan_pool(&d).await;
    assert!(one.handle.plan(&swap).is_some());
    // Plans made for another block than this one are stale: held back, and the swap with them.
    let next = one.next(&d);
    one.handle.set_planned_for(surge_exex::NextBlock { number: 8, ..next.clone() });
    assert_eq!(one.build(&d).body.transactions.len(), 1, "only the anchor");
    one.handle.set_planned_for(surge_exex::NextBlock { timestamp: next.timestamp + 1, ..next.clone() });
    assert_eq!(one.build(&d).body.transactions.len(), 1, "made for another timestamp: held back too");
    one.handle.set_planned_for(next);
    let built = one.build(&d);
    assert_eq!(*built.body.transactions[1].tx_hash(), swap, "staged right after the anchor");
    drop(one);

    // Life 2: the staged transaction is back in the (new) pool, nothing is in a proposal yet. Planned again,
    // it goes into block 1, which the chain commits; the crash comes before the ledger hears of it.
    let two = life(&d, &path);
    assert!(two.pool.get(&swap).is_some(), "handed back to the pool");
    assert!(two.ledger.open_proposal().is_none() && two.ledger.closed_proposals().is_empty());
    two.plan_pool(&d).await;
    let built = two.build(&d);
    assert_eq!(*built.body.transactions[1].tx_hash(), swap);
    d.l2.commit_block(ExecutedBlock::from(built)).unwrap();
    drop(two);

    // Life 3: reconciled from the chain: block 1 opened proposal 1, which holds the plan and closed.
    let three = life(&d, &path);
    let closed = three.ledger.closed_proposals();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].blocks.iter().map(|b| b.number).collect::<Vec<_>>(), [1]);
    assert_eq!(closed[0].plans.iter().map(|p| p.tx_hash).collect::<Vec<_>>(), [swap]);
    assert_eq!(
        closed[0].slots,
        vec![surge_primitives::signal_slot(d.protocol.l1_chain_id, d.protocol.l1.bridge, answer.hash())]
    );
    assert!(three.ledger.included(&swap));
    assert!(three.pool.get(&swap).is_none(), "not handed back: it is in its block");
    assert_eq!(three.ledger.in_flight()[0].messages.len(), 1, "its L1 call runs ahead of the next bundle");
    // A block committed the normal way.
    let built = three.build(&d);
    assert_eq!(built.body.transactions.len(), 1, "nothing left to plan");
    let sealed = d.l2.commit_block(ExecutedBlock::from(built)).unwrap();
    PayloadBuilder::<surge_host::Store>::committed(&three.builder, &sealed);
    drop(three);

    // Life 4: both proposals as they were.
    let four = life(&d, &path);
    assert_eq!(four.ledger.closed_proposals().len(), 1);
    let open = four.ledger.open_proposal().unwrap();
    assert_eq!((open.id, open.blocks[0].number, open.blocks[0].hash), (2, 2, sealed.hash));
    assert!(four.pool.get(&swap).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_with_more_answers_than_an_anchor_carries_is_voided_not_waited_for() {
    let (d, _) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Ledger::open(PlannerStore::open(&dir.path().join("planner.redb")).unwrap(), ProposalRules::default(), 2)
            .unwrap();
    let tx = |who: u32| {
        let pooled = common::pooled(&d, who, &d.swap(who, 0, &placeholder(&d)));
        alloy::consensus::transaction::Recovered::new_unchecked(pooled.tx.clone(), pooled.sender)
    };
    let answer = |tag: u8| surge_sync::Answer {
        message: Message::default(),
        hash: alloy_primitives::B256::repeat_byte(tag),
        slot: alloy_primitives::B256::repeat_byte(tag),
    };
    let plan = |tx: &alloy::consensus::transaction::Recovered<alloy::consensus::TxEnvelope>,
                answers: Vec<surge_sync::Answer>| {
        surge_sync::Plan {
            tx_hash: *tx.tx_hash(),
            sender: tx.signer(),
            nonce: 0,
            l1_block: (0, Default::default()),
            messages: vec![surge_sync::PlannedMessage {
                message: Message::default(),
                hash: Default::default(),
                answers,
                l1_gas: 0,
            }],
        }
    };
    let (big, small) = (tx(3), tx(4));
    let offered = vec![
        surge_exex::Offered { plan: plan(&big, vec![answer(1), answer(2), answer(3)]), tx: big.clone() },
        surge_exex::Offered { plan: plan(&small, vec![answer(4)]), tx: small.clone() },
    ];
    let next = ledger.next_block((0, 0), None);
    let staged = ledger.stage(1, None, offered, vec![], Some(&next));
    assert!(staged.sync_txs.is_empty(), "neither goes in: the later one never goes ahead");
    assert_eq!(staged.held, vec![*big.tx_hash(), *small.tx_hash()]);
    let failed = ledger.take_failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, *big.tx_hash());
    assert!(failed[0].1.contains("3 answers need more slots than an anchor carries (2)"), "{}", failed[0].1);
}

/// An L1 head the ledger can anchor to.
fn l1_head() -> L1Head {
    let (hash, state_root) = (alloy_primitives::B256::repeat_byte(5), alloy_primitives::B256::repeat_byte(6));
    L1Head { number: 5, hash, state_root, timestamp: 60, base_fee: None }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwind_takes_its_blocks_out_of_their_proposals_for_good() {
    use alloy::consensus::Header;
    use surge_interfaces::{CommittedBlock, InputsReport, SealedHeader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let rules = ProposalRules { max_blocks: 2, ..ProposalRules::default() };
    let open = || Ledger::open(PlannerStore::open(&path).unwrap(), rules, 32).unwrap();
    let ledger = open();
    let l1 = l1_head();
    let mut blocks = vec![];
    for number in 1..=3 {
        let staged = ledger.stage(number, Some(l1), vec![], vec![], None);
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let block = SealedHeader::seal(Header { number, timestamp, gas_used: 1_000, ..Default::default() });
        ledger.commit(&block, &InputsReport { checkpoint: staged.checkpoint, tx_bytes: 100, ..Default::default() });
        blocks.push(block);
    }
    // Blocks 1 and 2 filled proposal 1 (two blocks at most); block 3 opened proposal 2.
    assert_eq!(ledger.closed_proposals().iter().map(|p| p.blocks.len()).collect::<Vec<_>>(), [2]);
    assert_eq!(ledger.open_proposal().map(|p| (p.id, p.blocks.len())), Some((2, 1)));
    assert_eq!(ledger.height(), 3);

    let unwound: Vec<CommittedBlock> = blocks[1..]
        .iter()
        .map(|h| CommittedBlock {
            header: h.clone(),
            body: Default::default(),
            senders: vec![],
            receipts: vec![],
            changes: Default::default(),
        })
        .collect();
    ledger.reverted(&unwound);
    assert_eq!(ledger.height(), 1);
    assert!(ledger.open_proposal().is_none(), "proposal 2 had only block 3");
    let closed = ledger.closed_proposals();
    assert_eq!(closed[0].blocks.iter().map(|b| b.number).collect::<Vec<_>>(), [1]);
    drop(ledger);
    let again = open();
    assert_eq!(again.closed_proposals(), closed, "as recorded");
    assert!(again.open_proposal().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_proposal_closes_by_age_and_a_proposed_one_leaves_for_good() {
    use alloy::consensus::Header;
    use surge_interfaces::{InputsReport, SealedHeader};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let rules = ProposalRules { max_age: std::time::Duration::from_secs(12), ..ProposalRules::default() };
    let open = || Ledger::open(PlannerStore::open(&path).unwrap(), rules, 32).unwrap();
    let ledger = open();
    let l1 = l1_head();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(ledger.close_expired(now + 100), None, "nothing open");
    let staged = ledger.stage(1, Some(l1), vec![], vec![], None);
    let block = SealedHeader::seal(Header { number: 1, timestamp: now, ..Default::default() });
    ledger.commit(&block, &InputsReport { checkpoint: staged.checkpoint, ..Default::default() });
    let open_id = ledger.open_proposal().unwrap().id;
    assert_eq!(ledger.close_expired(now + 11), None, "young enough");
    assert_eq!(ledger.close_expired(now + 12), Some(open_id), "12 s old: closed without another block");
    // The proposer waiting on the ledger is told.
    tokio::time::timeout(std::time::Duration::from_secs(1), ledger.proposal_closed()).await.expect("told");
    assert!(ledger.open_proposal().is_none());
    drop(ledger);
    let ledger = open();
    assert_eq!(ledger.closed_proposals().iter().map(|p| p.id).collect::<Vec<_>>(), [open_id], "recorded closed");
    ledger.proposed(open_id);
    assert!(ledger.closed_proposals().is_empty());
    drop(ledger);
    assert!(open().closed_proposals().is_empty(), "gone from the store");
}
