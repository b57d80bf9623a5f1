//! The ledger across crashes, on the dev network's genesis with a real pool, the surge builder and the L2
//! store: a crash between offering a plan and committing its block loses nothing (the transaction returns
//! to the pool and goes in once, planned again); a crash after the chain committed the block but before
//! the ledger read it is caught up from the chain (the plan is included, its proposal closed); a clean
//! commit is there after a restart. Block production never waits for the ledger: a block built before the
//! ledger read its parent joins the parent's proposal all the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{path::Path, sync::Arc};

use alloy_sol_types::SolCall;

use common::{Dev, dev, factory, first_answer, placeholder};
use surge_builder::{BuilderConfig, SurgeNodeBuilder};
use surge_exex::{
    BlockFacts, Ledger, LedgerStore, NextBlocks, PlanBook, PlannedInputs, ProposalRules, PublishedPlans, WatcherCore,
};
use surge_host::{
    ExecutedBlock,
    seams::{HostProvider, PoolHandle, pool_config},
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

/// One life of the node's planner: the ledger in `path`, caught up, and a builder reading from it.
struct Life {
    ledger: Arc<Ledger>,
    next: Arc<NextBlocks>,
    handle: Arc<PublishedPlans>,
    builder: SurgeNodeBuilder<surge_host::seams::HostEvmConfig, PoolHandle>,
    pool: PoolHandle,
}

fn life(d: &Dev, path: &Path) -> Life {
    life_with(d, path, ProposalRules::default(), 32)
}

fn life_with(d: &Dev, path: &Path, rules: ProposalRules, max_slots: usize) -> Life {
    let pool = pool(d);
    let ledger = Ledger::open(LedgerStore::open(path).unwrap(), rules).unwrap();
    ledger.catch_up(d.l2.as_ref()).unwrap();
    ledger.hand_back(&pool);
    let ledger = Arc::new(ledger);
    let l1 = d.l1.head().unwrap();
    let head = L1Head::from_sealed(&l1.header, l1.hash);
    let heads = HeadWatch(watch::channel(L1Heads { latest: Some(head), finalized: None, failing_since: None }).1);
    let handle = Arc::new(PublishedPlans::default());
    let next = Arc::new(NextBlocks::new(rules));
    let chain = HostProvider(d.l2.clone());
    let planner = Arc::new(PlannedInputs::new(
        pool.clone(),
        chain,
        handle.clone(),
        ledger.clone(),
        next.clone(),
        heads,
        max_slots,
    ));
    let spec = d.l2_spec();
    let config = BuilderConfig::new(spec.chain_id, spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder = SurgeNodeBuilder::new(d.evm.clone(), config, pool.clone(), planner.clone(), planner).unwrap();
    Life { ledger, next, handle, builder, pool }
}

impl Life {
    /// The watcher plans what the pool holds now, and publishes the plans for the head's child.
    async fn plan_pool(&self, d: &Dev) {
        let bundle = d.bundle(Default::default(), &self.ledger.in_flight()).await;
        let mut watcher = WatcherCore::new(factory(d), bundle, d.pending(), self.handle.clone());
        for tx in self.pool.best_transactions() {
            watcher.on_transaction(&tx);
        }
        surge_exex::publish_for(&self.handle, &self.ledger, &self.pool, self.next(d));
    }

    /// The block plans are made for: the head's child as fixed.
    fn next(&self, d: &Dev) -> surge_exex::NextBlock {
        let head = d.l2.head().unwrap();
        self.next.next_block((head.header.number, head.header.timestamp), None)
    }

    /// Builds the next block without committing it.
    fn build(&self, d: &Dev) -> BuiltBlock {
        let head = d.l2.head().unwrap();
        let attributes = NextBlockAttributes::at(head.header.timestamp + 1);
        self.builder.build(d.l2.as_ref(), &head, &attributes).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_survive_crashes_between_offering_and_commit_and_after_the_chain_committed() {
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

    // Life 1: the swap is planned and offered to block 1, which is never committed.
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
    assert_eq!(*built.body.transactions[1].tx_hash(), swap, "right after the anchor");
    drop(one);

    // Life 2: the planned transaction is back in the (new) pool, nothing is in a proposal yet. Planned
    // again, it goes into block 1, which the chain commits; the crash comes before the ledger reads it.
    let two = life(&d, &path);
    assert!(two.pool.get(&swap).is_some(), "handed back to the pool");
    assert!(two.ledger.open_proposal().is_none() && two.ledger.closed_proposals().is_empty());
    two.plan_pool(&d).await;
    let built = two.build(&d);
    assert_eq!(*built.body.transactions[1].tx_hash(), swap);
    d.l2.commit_block(ExecutedBlock::from(built)).unwrap();
    drop(two);

    // Life 3: caught up from the chain: block 1 opened proposal 1, which holds the plan and closed.
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
    three.ledger.catch_up(d.l2.as_ref()).unwrap();
    drop(three);

    // Life 4: both proposals as they were.
    let four = life(&d, &path);
    assert_eq!(four.ledger.closed_proposals().len(), 1);
    let open = four.ledger.open_proposal().unwrap();
    assert_eq!((open.id, open.blocks[0].number, open.blocks[0].hash), (2, 2, sealed.hash));
    assert!(four.pool.get(&swap).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn production_never_waits_for_the_ledger_and_both_see_the_same_proposals() {
    let (d, _) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = ProposalRules { max_blocks: 3, ..ProposalRules::default() };
    let l = life_with(&d, &dir.path().join("planner.redb"), rules, 32);
    let mut anchors = vec![];
    // Five blocks the ledger does not read until the end: the builder reads them itself to see the open
    // proposal (three blocks at most), so each block joins its parent's proposal or opens the next.
    for _ in 0..5 {
        let built = l.build(&d);
        let anchor = surge_primitives::bindings::anchor::Anchor::anchorV4WithSignalSlotsCall::abi_decode(
            alloy::consensus::Transaction::input(&built.body.transactions[0]),
        )
        .unwrap();
        anchors.push(anchor.l1Checkpoint.blockNumber.to::<u64>());
        d.l2.commit_block(ExecutedBlock::from(built)).unwrap();
    }
    assert_eq!(l.ledger.height(), 0, "the ledger has read nothing yet");
    l.ledger.catch_up(d.l2.as_ref()).unwrap();
    let closed = l.ledger.closed_proposals();
    assert_eq!(closed.iter().map(|p| p.blocks.len()).collect::<Vec<_>>(), [3], "blocks 1-3: full");
    let open = l.ledger.open_proposal().unwrap();
    assert_eq!(open.blocks.iter().map(|b| b.number).collect::<Vec<_>>(), [4, 5]);
    assert!(anchors.iter().all(|a| *a == anchors[0]), "one L1 head: one anchor throughout");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_with_more_answers_than_an_anchor_carries_is_voided_not_waited_for() {
    let (d, bundle) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    // An anchor with no room for answers: the first plan can never go in.
    let l = life_with(&d, &dir.path().join("planner.redb"), ProposalRules::default(), 0);
    let mut watcher = WatcherCore::new(factory(&d), bundle, d.pending(), l.handle.clone());
    for who in [3, 4] {
        // Each asks after the one before it is planned (its answer's id follows).
        let answer = first_answer(&watcher.answers(&d.swap(who, 0, &placeholder(&d))).unwrap());
        let raw = {
            use alloy::eips::Encodable2718;
            common::pooled(&d, who, &d.swap(who, 0, &answer)).tx.encoded_2718()
        };
        let hash = l.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
        watcher.on_transaction(&l.pool.get(&hash).unwrap());
    }
    surge_exex::publish_for(&l.handle, &l.ledger, &l.pool, l.next(&d));
    let plans = l.handle.plans();
    assert_eq!(plans.len(), 2, "both planned");
    let built = l.build(&d);
    assert_eq!(built.body.transactions.len(), 1, "neither goes in: the later one never goes ahead");
    let voided = l.handle.take_voided();
    assert_eq!(voided.len(), 1);
    assert_eq!(voided[0].0, plans[0].tx_hash);
    assert!(voided[0].1.contains("1 answers need more slots than an anchor carries (0)"), "{}", voided[0].1);
}

/// Block `number` as the ledger reads it: anchored to L1 block 5, with nothing planned.
fn facts(number: u64, timestamp: u64) -> BlockFacts {
    use alloy::consensus::Header;
    let checkpoint = surge_primitives::Checkpoint {
        blockNumber: alloy_primitives::aliases::U48::from(5),
        blockHash: alloy_primitives::B256::repeat_byte(5),
        stateRoot: alloy_primitives::B256::repeat_byte(6),
    };
    let parent_hash = alloy_primitives::B256::with_last_byte(number as u8 - 1);
    let header = Header { number, timestamp, gas_used: 1_000, parent_hash, ..Default::default() };
    BlockFacts {
        header: surge_interfaces::SealedHeader { header, hash: alloy_primitives::B256::with_last_byte(number as u8) },
        mined: vec![],
        checkpoint,
        slots: vec![],
        tx_bytes: 100,
        planned: vec![],
        user_ops: vec![],
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unwind_takes_its_blocks_out_of_their_proposals_for_good() {
    use surge_interfaces::{ChainNotification, CommittedBlock};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let rules = ProposalRules { max_blocks: 2, ..ProposalRules::default() };
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), rules).unwrap();
    let ledger = open();
    let blocks: Vec<BlockFacts> = (1..=3).map(|n| facts(n, now())).collect();
    for block in &blocks {
        ledger.account(block);
    }
    // Blocks 1 and 2 filled proposal 1 (two blocks at most); block 3 opened proposal 2.
    assert_eq!(ledger.closed_proposals().iter().map(|p| p.blocks.len()).collect::<Vec<_>>(), [2]);
    assert_eq!(ledger.open_proposal().map(|p| (p.id, p.blocks.len())), Some((2, 1)));
    assert_eq!(ledger.height(), 3);
    ledger.account(&blocks[2]);
    assert_eq!(ledger.open_proposal().map(|p| p.blocks.len()), Some(1), "a block read twice counts once");

    let old: Vec<CommittedBlock> = blocks[1..]
        .iter()
        .map(|f| CommittedBlock {
            header: f.header.clone(),
            body: Default::default(),
            senders: vec![],
            receipts: vec![],
            changes: Default::default(),
        })
        .collect();
    ledger.apply(&ChainNotification::Reverted { old: Arc::new(old) }).unwrap();
    assert_eq!(ledger.tip(), Some((1, blocks[0].header.hash)));
    assert!(ledger.open_proposal().is_none(), "proposal 2 had only block 3");
    let closed = ledger.closed_proposals();
    assert_eq!(closed[0].blocks.iter().map(|b| b.number).collect::<Vec<_>>(), [1]);
    assert_eq!(ledger.take_news().tip, Some(1), "the watcher is told the head moved back");
    drop(ledger);
    let again = open();
    assert_eq!(again.closed_proposals(), closed, "as recorded");
    assert!(again.open_proposal().is_none());
    assert_eq!(again.tip(), Some((1, blocks[0].header.hash)), "the tip as recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_proposal_closes_by_age_and_a_proposed_one_leaves_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let rules = ProposalRules { max_age: std::time::Duration::from_secs(12), ..ProposalRules::default() };
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), rules).unwrap();
    let ledger = open();
    let now = now();
    assert_eq!(ledger.close_expired(now + 100, 5), None, "nothing open");
    ledger.account(&facts(1, now));
    let open_id = ledger.open_proposal().unwrap().id;
    assert_eq!(ledger.close_expired(now + 11, 5), None, "young enough");
    assert_eq!(ledger.close_expired(now + 12, 5), Some(open_id), "12 s old: closed without another block");
    // The proposer waiting on the ledger is told.
    tokio::time::timeout(std::time::Duration::from_secs(1), ledger.proposal_closed()).await.expect("told");
    assert!(ledger.open_proposal().is_none());
    // A block with the same anchor, built before the close, opens a proposal of its own.
    ledger.account(&facts(2, now + 1));
    assert_eq!(ledger.open_proposal().map(|p| (p.id, p.blocks[0].number)), Some((open_id + 1, 2)));
    // Too old for a block: a later one (by its timestamp) opens the next proposal.
    ledger.account(&facts(3, now + 14));
    assert_eq!(ledger.open_proposal().map(|p| (p.id, p.blocks[0].number)), Some((open_id + 2, 3)));
    assert_eq!(ledger.closed_proposals().len(), 2);
    drop(ledger);
    let ledger = open();
    assert_eq!(ledger.closed_proposals().iter().map(|p| p.id).collect::<Vec<_>>(), [open_id, open_id + 1]);
    ledger.proposed(open_id);
    ledger.proposed(open_id + 1);
    assert!(ledger.closed_proposals().is_empty());
    drop(ledger);
    assert!(open().closed_proposals().is_empty(), "gone from the store");
}

/// Two versions of a plan with no answers, made for one block, differ in their messages alone (an earlier
/// plan was dropped, the ids shifted): the block's receipts say which went in.
#[test]
fn the_receipts_say_which_version_of_a_plan_without_answers_went_in() {
    use alloy::consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom};
    use alloy_primitives::{B256, Bytes, Log, LogData};
    use alloy_sol_types::SolEvent;
    use surge_primitives::bindings::bridge::Bridge;
    let chain_id = 763374;
    let anchor = surge_builder::build_anchor(&surge_builder::AnchorInput {
        chain_id,
        nonce: 0,
        base_fee: 1,
        l1_checkpoint: Default::default(),
        signal_slots: vec![],
    })
    .unwrap();
    let user = {
        use alloy::{consensus::SignableTransaction, signers::SignerSync};
        let tx = alloy::consensus::TxEip1559 { chain_id, gas_limit: 100_000, ..Default::default() };
        let key = surge_test_utils::dev_key(3);
        alloy::consensus::TxEnvelope::Eip1559(tx.clone().into_signed(key.sign_hash_sync(&tx.signature_hash()).unwrap()))
    };
    let plan = |hash: B256| surge_sync::Plan {
        tx_hash: *user.tx_hash(),
        sender: Default::default(),
        nonce: 0,
        l1_block: (0, B256::ZERO),
        messages: vec![surge_sync::PlannedMessage {
            message: Message::default(),
            hash,
            answers: vec![],
            l1_gas: 0,
            min_fee: 0,
        }],
    };
    let (first, second) = (plan(B256::repeat_byte(1)), plan(B256::repeat_byte(2)));
    let receipt = |logs: Vec<Log>| {
        let inner = Receipt { status: Eip658Value::Eip658(true), cumulative_gas_used: 0, logs };
        ReceiptEnvelope::Eip1559(ReceiptWithBloom { receipt: inner, logs_bloom: Default::default() })
    };
    let bridge = surge_primitives::L2Predeploys::for_chain(chain_id).bridge;
    let sent = |from| Log {
        address: from,
        data: LogData::new_unchecked(vec![Bridge::MessageSent::SIGNATURE_HASH, B256::repeat_byte(2)], Bytes::new()),
    };
    let header = surge_interfaces::SealedHeader::seal(alloy::consensus::Header { number: 7, ..Default::default() });
    let txs = [anchor.into_inner(), user.clone()];
    let versions = [(B256::repeat_byte(0xa), &first), (B256::repeat_byte(0xb), &second)];
    let read = |receipts: Option<&[ReceiptEnvelope]>| {
        surge_exex::read_block(&header, &txs, receipts, |_, _| versions.to_vec(), vec![]).unwrap().planned
    };
    let receipts = [receipt(vec![]), receipt(vec![sent(bridge)])];
    assert_eq!(read(Some(&receipts)), vec![(B256::repeat_byte(0xb), second.clone())], "the one the bridge recorded");
    // A look without receipts (the builder's, for proposal boundaries) takes the first that fits.
    assert_eq!(read(None).len(), 1);
    // The same log from another contract is not the bridge's: no version went in.
    let forged = [receipt(vec![]), receipt(vec![sent(alloy_primitives::Address::repeat_byte(9))])];
    assert!(read(Some(&forged)).is_empty());
}

/// The chain unwound and rebuilt its head while the ledger was down: after the restart the ledger reads
/// the new block, not the one it had accounted for.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_unwound_and_rebuilt_while_the_ledger_was_down_is_read_again() {
    let (d, _) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("planner.redb");
    let one = life(&d, &path);
    let first = d.l2.commit_block(ExecutedBlock::from(one.build(&d))).unwrap();
    one.ledger.catch_up(d.l2.as_ref()).unwrap();
    assert_eq!(one.ledger.tip(), Some((1, first.hash)));
    // Down: the chain unwinds block 1 and builds another in its place.
    d.l2.unwind_to(0).unwrap();
    let genesis = d.l2.head().unwrap();
    let attributes = NextBlockAttributes::at(genesis.header.timestamp + 5);
    let again = one.builder.build(d.l2.as_ref(), &genesis, &attributes).unwrap();
    let second = d.l2.commit_block(ExecutedBlock::from(again)).unwrap();
    assert_ne!(first.hash, second.hash);
    drop(one);

    let two = life(&d, &path);
    assert_eq!(two.ledger.tip(), Some((1, second.hash)), "the rebuilt block is read");
    let open = two.ledger.open_proposal().unwrap();
    assert_eq!(open.blocks.iter().map(|b| (b.number, b.hash)).collect::<Vec<_>>(), [(1, second.hash)]);
}

#[test]
fn a_restart_forgives_no_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), ProposalRules::default()).unwrap();
    let config = surge_exex::CoolDownConfig::default();
    let (culprit, app) = (alloy_primitives::Address::repeat_byte(7), alloy_primitives::Address::repeat_byte(9));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    {
        let ledger = open();
        let cooldowns = ledger.cooldowns(config);
        assert_eq!(cooldowns.refusal(culprit, [app], now), None, "a fresh ledger holds nobody back");
        cooldowns.blame(culprit, app, now);
        ledger.record_cooldowns(cooldowns.snapshot()).unwrap();
    }
    let restored = open().cooldowns(config);
    assert!(restored.refusal(culprit, [app], now).is_some_and(|r| r.contains("cools down")));
    assert_eq!(restored.blame(culprit, app, now).sender_until, now + 2 * 3600, "its second strike doubles");
}

#[test]
fn a_recorded_l1_transaction_outlives_a_restart_and_leaves_with_its_proposal() {
    use alloy_primitives::{B256, Bytes};
    use surge_exex::{L1TxRecord, L1Version};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), ProposalRules::default()).unwrap();
    let ledger = open();
    ledger.account(&facts(1, now()));
    let id = ledger.close_expired(now() + 100, 1).expect("closed by age");
    let fees = surge_l1::Fees { max_fee_per_gas: 3, max_priority_fee_per_gas: 1, max_fee_per_blob_gas: 2 };
    let first = L1Version { hash: B256::repeat_byte(1), fees, cancels: false };
    let mut record = L1TxRecord { nonce: 7, proposal: id, versions: vec![first], gas_limit: 90_000, blobs: true };
    let raw = Bytes::from(vec![0x03; 200_000]);
    ledger.record_l1_tx(record.clone(), raw.clone()).unwrap();
    drop(ledger);

    // A restart finds it, with the transaction as it was sent (blobs and all).
    let ledger = open();
    assert_eq!(ledger.l1_txs(), [record.clone()]);
    assert_eq!(ledger.l1_tx_of(id), Some(record.clone()));
    assert_eq!(ledger.l1_raw(7).unwrap(), Some(raw));
    // A replacement at the same nonce: both hashes are kept, the newest encoding replaces the old.
    let fees = fees.bumped(100);
    record.versions.push(L1Version { hash: B256::repeat_byte(2), fees, cancels: false });
    ledger.record_l1_tx(record.clone(), Bytes::from_static(&[0x03, 1])).unwrap();
    assert_eq!(ledger.l1_tx_of(id).unwrap().hashes(), [B256::repeat_byte(1), B256::repeat_byte(2)]);
    // On L1: it leaves with its proposal, in the same write.
    ledger.proposed(id);
    assert!(ledger.l1_txs().is_empty());
    drop(ledger);
    let ledger = open();
    assert!(ledger.l1_txs().is_empty() && ledger.closed_proposals().is_empty());
    assert_eq!(ledger.l1_raw(7).unwrap(), None, "its encoding is gone too");
    // A nonce settled otherwise is forgotten alone.
    ledger.record_l1_tx(L1TxRecord { nonce: 8, ..record }, Bytes::new()).unwrap();
    ledger.forget_l1_tx(8).unwrap();
    drop(ledger);
    assert!(open().l1_txs().is_empty());
}

/// A sync transaction's status through every path the ledger sees: planned, mined, sent to L1, landed,
/// unwound and mined again, reorged off L1, `safe`; a second user's refused transaction; all as recorded
/// after a restart; final ones gone once their retention ends.
#[test]
fn a_sync_transaction_s_status_follows_its_block_and_proposal_and_outlives_a_restart() {
    use alloy_primitives::{Address, B256, Bytes};
    use surge_exex::{L1TxRecord, L1Version, PoolExit, proposal::L1Inclusion};
    use surge_sync::{Plan, TxStatus};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), ProposalRules::default()).unwrap();
    let ledger = open();
    let tx = B256::repeat_byte(0x51);
    let plan =
        Plan { tx_hash: tx, sender: Address::repeat_byte(1), nonce: 0, l1_block: (5, B256::ZERO), messages: vec![] };
    let state = |l: &Ledger| l.tx_status(&tx).unwrap().map(|r| r.view.status);
    let mined_in = |n: u64| {
        let mut f = facts(n, now());
        let key = surge_exex::PlanRecord { plan: plan.clone(), raw: Bytes::new(), made_for: n, proposal: None }.key();
        (f.mined, f.planned) = (vec![tx], vec![(key, plan.clone())]);
        f
    };
    let changes = ledger.changes();

    ledger.record_plans(1, vec![(plan.clone(), Bytes::new())]).unwrap();
    assert_eq!(state(&ledger), Some(TxStatus::Pending));
    assert!(changes.has_changed().unwrap(), "a subscription is woken");
    ledger.account(&mined_in(1));
    assert_eq!(state(&ledger), Some(TxStatus::ProvingBlock { block_id: 1 }));
    // A block with plans closes its proposal at once.
    let id = ledger.closed_proposals()[0].id;
    let fees = surge_l1::Fees { max_fee_per_gas: 3, max_priority_fee_per_gas: 1, max_fee_per_blob_gas: 2 };
    let version = |b: u8, cancels| L1Version { hash: B256::repeat_byte(b), fees, cancels };
    let mut record =
        L1TxRecord { nonce: 0, proposal: id, versions: vec![version(1, false)], gas_limit: 1, blobs: false };
    ledger.record_l1_tx(record.clone(), Bytes::new()).unwrap();
    assert_eq!(state(&ledger), Some(TxStatus::Processing { tx_hash: B256::repeat_byte(1) }));
    // A cancellation does not carry it: the status keeps naming the transaction that does.
    record.versions.push(version(2, true));
    ledger.record_l1_tx(record, Bytes::new()).unwrap();
    assert_eq!(state(&ledger), Some(TxStatus::Processing { tx_hash: B256::repeat_byte(1) }));
    let at = L1Inclusion { tx: B256::repeat_byte(1), block: 9, hash: B256::repeat_byte(9) };
    ledger.landed(id, at);
    let kept = ledger.tx_status(&tx).unwrap().unwrap().view.details;
    assert_eq!((kept.l2_block_number, kept.proposal_id, kept.l1_block_number), (Some(1), Some(id), Some(9)));

    // An L1 reorg takes it off L1: back to `ProvingBlock`, the roll-back recorded.
    assert_eq!(ledger.reorged(id), [id]);
    assert_eq!(state(&ledger), Some(TxStatus::ProvingBlock { block_id: 1 }));
    let history = ledger.tx_status(&tx).unwrap().unwrap().view.details.history;
    let back = history.last().unwrap().rolled_back.clone().unwrap();
    assert!(back.contains(&format!("L1 reorg took proposal {id}")), "{back}");

    // Its block unwound (the proposer says why): `Pending` again, then mined again.
    ledger.note_rollback(1, "proposal 1 rolled back from L2 block 1: L1 reverted its bundle".into());
    let old = surge_interfaces::CommittedBlock {
        header: mined_in(1).header,
        body: Default::default(),
        senders: vec![],
        receipts: vec![],
        changes: Default::default(),
    };
    ledger.apply(&surge_interfaces::ChainNotification::Reverted { old: Arc::new(vec![old]) }).unwrap();
    assert_eq!(state(&ledger), Some(TxStatus::Pending));
    let record = ledger.tx_status(&tx).unwrap().unwrap();
    assert_eq!(record.view.details.l2_block_number, None, "no block holds it");
    assert!(record.view.details.history.last().unwrap().rolled_back.as_ref().unwrap().contains("L1 reverted"));
    ledger.record_plans(1, vec![(plan.clone(), Bytes::new())]).unwrap();
    ledger.account(&mined_in(1));
    assert_eq!(state(&ledger), Some(TxStatus::ProvingBlock { block_id: 1 }));

    // A second user's transaction leaves the pool refused; a third, unknown one that leaves is not kept.
    let other = B256::repeat_byte(0x52);
    let refused = PoolExit::Invalid { tx: other, reason: "no answer for message 3".into() };
    let gone = PoolExit::Left { tx: B256::repeat_byte(0x53), reason: "replaced".into() };
    ledger.record_pool_exits(vec![refused, gone], 1).unwrap();
    // A pool's removal event does not override the chain: this one is mined.
    ledger.record_pool_exits(vec![PoolExit::Left { tx, reason: "dropped".into() }], 1).unwrap();
    ledger.settle_unpooled(|_| false);
    assert_eq!(state(&ledger), Some(TxStatus::ProvingBlock { block_id: 1 }));

    // A third user's planned transaction is replaced in the pool while block 2 is built: `Rejected` only once
    // block 2 is accounted for without it.
    let third = B256::repeat_byte(0x54);
    let replaced = Plan { tx_hash: third, ..plan.clone() };
    ledger.record_plans(2, vec![(replaced, Bytes::new())]).unwrap();
    let left = PoolExit::Left { tx: third, reason: "replaced by transaction 0x55".into() };
    ledger.record_pool_exits(vec![left], 1).unwrap();
    ledger.settle_unpooled(|_| false);
    let third_state = |l: &Ledger| l.tx_status(&third).unwrap().map(|r| r.view.status);
    assert_eq!(third_state(&ledger), Some(TxStatus::Pending), "block 2 may still carry it");
    ledger.account(&facts(2, now()));
    ledger.settle_unpooled(|_| false);
    let reason = "replaced by transaction 0x55".to_string();
    assert_eq!(third_state(&ledger), Some(TxStatus::Rejected { reason }));
    drop(ledger);

    // After a restart: both as they were; `safe` reaching block 1 makes it `Executed`.
    let ledger = open();
    assert_eq!(state(&ledger), Some(TxStatus::ProvingBlock { block_id: 1 }));
    let rejected = ledger.tx_status(&other).unwrap().unwrap().view.status;
    assert_eq!(rejected, TxStatus::Rejected { reason: "no answer for message 3".into() });
    assert!(ledger.tx_status(&B256::repeat_byte(0x53)).unwrap().is_none());
    ledger.safe_moved(1);
    assert_eq!(state(&ledger), Some(TxStatus::Executed));
    let names: Vec<&str> =
        ledger.tx_status(&tx).unwrap().unwrap().view.details.history.iter().map(|t| t.status.name()).collect();
    let walked = ["Pending", "ProvingBlock", "Processing", "ProvingBlock", "Pending", "ProvingBlock", "Executed"];
    assert_eq!(names, walked);
    drop(ledger);
    let ledger = open();
    assert_eq!(state(&ledger), Some(TxStatus::Executed), "final ones are kept too");
    // Retention: statuses final before the cutoff go, the others stay.
    assert_eq!(ledger.prune_statuses(surge_exex::now_ms().saturating_sub(60_000)).unwrap(), 0);
    assert_eq!(ledger.prune_statuses(surge_exex::now_ms()).unwrap(), 3);
    assert!(ledger.tx_status(&tx).unwrap().is_none() && ledger.tx_status(&other).unwrap().is_none());
}

/// After a restart, a waiting sync transaction that cannot go back into the pool ends `Rejected`, saying
/// why, instead of staying `Pending` for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_sync_transaction_a_restart_cannot_hand_back_ends_rejected() {
    use alloy_primitives::{Address, B256, Bytes};
    let (d, _) = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let open = || Ledger::open(LedgerStore::open(&path).unwrap(), ProposalRules::default()).unwrap();
    let tx = B256::repeat_byte(0x61);
    let plan =
        surge_sync::Plan { tx_hash: tx, sender: Address::ZERO, nonce: 0, l1_block: (5, B256::ZERO), messages: vec![] };
    // Its recorded bytes are not a transaction the pool takes.
    open().record_plans(1, vec![(plan, Bytes::from_static(&[0x02, 0xc0]))]).unwrap();
    let ledger = open();
    assert_eq!(ledger.tx_status(&tx).unwrap().unwrap().view.status, surge_sync::TxStatus::Pending);
    ledger.hand_back(&pool(&d));
    let status = ledger.tx_status(&tx).unwrap().unwrap().view.status;
    let surge_sync::TxStatus::Rejected { reason } = status else { panic!("{status:?}") };
    assert!(reason.contains("could not go back into the pool after a restart"), "{reason}");
}
