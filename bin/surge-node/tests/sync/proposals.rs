//! Plans into blocks on the in-process dev network: planned transactions go into the first block of a
//! proposal with their answers' slots in its anchor, in plan order and ahead of the pool's; every block of
//! a proposal anchors the same L1 block; a plan dropped after staging leaves no orphan slot; an L1 head
//! without a state root never becomes an anchor.

use alloy::{consensus::Transaction, eips::Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use surge_exex::ProposalRules;
use surge_interfaces::{ChainControl, NextBlockAttributes, PayloadBuilder, TransactionOrigin, TransactionPool};
use surge_l1::{BundleSimulator, EmbeddedSource, L1Head, L1Heads, L1Protocol, L1StateSource, SimConfig};
use surge_primitives::{
    Message,
    bindings::{
        anchor::Anchor,
        bridge::Bridge,
        examples::{constant_product_pool::ConstantProductPool, flash_loan_executor_l2::FlashLoanExecutorL2},
    },
    slots::{bridge::message_status_key, signal_service::checkpoint_keys},
};
use surge_sync::NoPlan;
use surge_test_utils::{cast, dev_key};

use crate::net::{Net, signed, start, start_with, until};

const ETHER: u64 = 1_000_000_000_000_000_000;

/// The anchor of L2 block `number`: its checkpoint's L1 block number and its signal slots.
pub(crate) fn anchor(net: &Net, number: u64) -> (u64, Vec<B256>) {
    let body = net.l2.store.body(number).unwrap().unwrap();
    let call = Anchor::anchorV4WithSignalSlotsCall::abi_decode(body.transactions[0].input()).unwrap();
    (call.l1Checkpoint.blockNumber.to::<u64>(), call.signalSlots)
}

/// The block holding `tx`, once it is mined.
pub(crate) async fn mined(net: &Net, tx: B256) -> u64 {
    let store = net.l2.store.clone();
    until("the transaction mined", || store.transaction_location(tx).ok().flatten().map(|l| l.block)).await
}

/// The transactions of L2 block `number` after its anchor.
pub(crate) fn user_txs(net: &Net, number: u64) -> Vec<B256> {
    net.l2.store.body(number).unwrap().unwrap().transactions.iter().skip(1).map(|t| *t.tx_hash()).collect()
}

/// Whether `tx`'s receipt says it succeeded.
pub(crate) fn succeeded(net: &Net, tx: B256) -> bool {
    let at = net.l2.store.transaction_location(tx).unwrap().unwrap();
    net.l2.store.receipts(at.block).unwrap().unwrap()[at.index as usize].status()
}

/// The ids of the messages `tx` sent through the L2 bridge, from its receipt's `MessageSent` logs.
fn sent_ids(net: &Net, tx: B256) -> Vec<u64> {
    let at = net.l2.store.transaction_location(tx).unwrap().unwrap();
    let receipt = &net.l2.store.receipts(at.block).unwrap().unwrap()[at.index as usize];
    receipt
        .logs()
        .iter()
        .filter(|l| l.address == net.protocol.l2.bridge)
        .filter_map(|l| Bridge::MessageSent::decode_log(l).ok())
        .map(|e| e.message.id)
        .collect()
}

/// A `cast call` on `rpc`, its first word (a number's decimal form).
pub(crate) fn call(rpc: &str, to: Address, signature: &str, args: &[&str]) -> String {
    let to = to.to_string();
    let mut all = vec!["call", to.as_str(), signature];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--rpc-url", rpc]);
    cast(&all).split_whitespace().next().unwrap_or_default().to_string()
}

pub(crate) fn l1_rpc(net: &Net) -> String {
    format!("http://{}", net.l1.rpc_addr)
}

pub(crate) fn l2_rpc(net: &Net) -> String {
    format!("http://{}", net.l2.rpc_addr)
}

/// The L2 bridge's status of message `hash` (2 = DONE).
pub(crate) fn message_status(net: &Net, hash: B256) -> U256 {
    use revm::DatabaseRef;
    net.l2.store.latest_state().unwrap().storage_ref(net.protocol.l2.bridge, message_status_key(hash).into()).unwrap()
}

impl Net {
    /// A flash loan of `amount` ether from `who` embedding `answer` (a placeholder when `None`).
    fn flash_loan(&self, who: u32, amount: u64, answer: Option<&Message>) -> (Vec<u8>, surge_exex::Candidate) {
        let placeholder = Message {
            srcChainId: self.protocol.l1_chain_id,
            destChainId: self.protocol.l2_chain_id,
            ..Default::default()
        };
        let amount = U256::from(amount) * U256::from(ETHER);
        let fee = amount.div_ceil(U256::from(100));
        let return_message = answer.cloned().unwrap_or(placeholder).into();
        let call = FlashLoanExecutorL2::flashLoanViaL1Call { amount, returnMessage: return_message };
        self.l2_tx(who, 0, self.apps.flash_loan.l2_executor, call.abi_encode().into(), fee, 3_000_000)
    }

    /// A 1-ether swap from `who` (nonce 0) with the answer the watcher gives, sent and planned.
    pub(crate) async fn planned_swap(&self, who: u32) -> (surge_exex::Candidate, Message, surge_sync::Plan) {
        let answer = self.answer_for(who, 0).await;
        let (raw, swap) = self.swap(who, 0, Some(&answer), 0);
        self.submit(&raw).unwrap();
        let plan = self.planned(swap.hash).await;
        (swap, answer, plan)
    }

    async fn flash_loan_answer(&self, who: u32, amount: u64) -> Message {
        let (_, blind) = self.flash_loan(who, amount, None);
        self.watcher.answers(blind).await.unwrap().messages[0].answers[0].message.clone()
    }

    /// Moves the L2 head to `number` at least (the L2 builds a block when a transaction comes): a transfer
    /// from dev account 1 per block.
    pub(crate) async fn l2_at(&self, number: u64) {
        use revm::DatabaseRef;
        let sender = dev_key(1).address();
        while self.l2.store.head().unwrap().header.number < number {
            let nonce = self.l2.store.latest_state().unwrap().basic_ref(sender).unwrap().map_or(0, |a| a.nonce);
            let (raw, tx) = self.l2_tx(1, nonce, Address::repeat_byte(0x11), Bytes::new(), U256::from(1), 21_000);
            self.submit(&raw).unwrap();
            mined(self, tx.hash).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swap_and_a_flash_loan_go_in_with_their_slots_in_the_first_block_of_a_proposal() {
    let net = start().await;
    net.l2_at(1).await;
    net.l2.control.pause_production();

    let (swap, answer, swap_plan) = net.planned_swap(3).await;
    let loan_answer = net.flash_loan_answer(4, 100).await;
    let (raw, loan) = net.flash_loan(4, 100, Some(&loan_answer));
    net.submit(&raw).unwrap();
    let loan_plan = net.planned(loan.hash).await;
    // What the L1 pool's formula gives for 1 ether now (the swap's leg runs on this state).
    let expected =
        call(&l1_rpc(&net), net.apps.cross_chain_swap.l1_pool, "getAmountOut(uint256)(uint256)", &["1ether"]);

    net.l2.control.resume_production();
    let block = mined(&net, swap.hash).await;
    assert_eq!(mined(&net, loan.hash).await, block, "one block");
    assert_eq!(user_txs(&net, block)[..2], [swap.hash, loan.hash], "right after the anchor, in plan order");
    let slots: Vec<B256> = swap_plan.slots().chain(loan_plan.slots()).collect();
    assert_eq!(anchor(&net, block).1, slots, "the answers' slots in the anchor, in plan order");
    assert!(succeeded(&net, swap.hash) && succeeded(&net, loan.hash));
    assert_eq!(message_status(&net, answer.hash()), U256::from(2), "the swap's answer is DONE");
    assert_eq!(message_status(&net, loan_answer.hash()), U256::from(2), "the loan's answer is DONE");
    let user = dev_key(3).address().to_string();
    let balance = call(&l2_rpc(&net), net.apps.cross_chain_swap.l2_token, "balanceOf(address)(uint256)", &[&user]);
    assert_eq!(balance, expected, "the tokens the L1 pool's formula gives");
    let request = loan_plan.messages[0].hash.to_string();
    let executor = net.apps.flash_loan.l2_executor;
    let loan_amount = call(&l2_rpc(&net), executor, "loans(bytes32)(address,uint256,uint256)", &[&request]);
    assert_eq!(loan_amount, dev_key(4).address().to_string(), "the loan is recorded for its borrower");

    // The block opened a proposal (its first block) that holds L1 calls, so it closed at once.
    let proposal = net.ledger.closed_proposals().into_iter().find(|p| p.blocks[0].number == block).unwrap();
    assert_eq!(proposal.blocks.len(), 1);
    assert_eq!(proposal.slots, slots);
    assert_eq!(proposal.plans.iter().map(|p| p.tx_hash).collect::<Vec<_>>(), [swap.hash, loan.hash]);
    assert_eq!(proposal.anchor.blockNumber.to::<u64>(), anchor(&net, block).0);
    // The watcher let them go as included, not as mined without their slots.
    until("the plans landed", || net.published().plans().is_empty().then_some(())).await;
    assert_eq!(net.published().no_plan_reason(&swap.hash), None);

    // The proposal's L1 calls: each message proven at its last block. Run on L1 after the L2 checkpoint the
    // inbox saves, they send exactly the answers its anchor carried.
    let calls = proposal.l1_calls(net.l2.store.as_ref(), &surge_exex::L2Protocol::from_config(&net.protocol)).unwrap();
    assert_eq!((calls.calls.len(), &calls.required), (2, &slots));
    let head = net.l1.store.head().unwrap();
    let view = std::sync::Arc::new(
        EmbeddedSource::new(net.l1.store.clone()).open(head.header.number, head.hash).await.unwrap(),
    );
    let last = proposal.blocks[0];
    let l1_after_checkpoint = |root: B256| {
        let protocol = L1Protocol::from_config(&net.protocol);
        let mut l1 = BundleSimulator::new(view.clone(), protocol, SimConfig::default(), &[]).unwrap();
        let (hash_key, root_key) = checkpoint_keys(last.number);
        l1.set_storage(net.protocol.l1.signal_service, hash_key, last.hash).unwrap();
        l1.set_storage(net.protocol.l1.signal_service, root_key, root).unwrap();
        l1
    };
    let root = net.l2.store.header(last.number).unwrap().unwrap().header.state_root;
    let mut l1 = l1_after_checkpoint(root);
    let mut sent = vec![];
    for call in &calls.calls {
        let outcome = l1.user_op(call).unwrap();
        assert_eq!(outcome.error, None);
        sent.extend(outcome.sent.into_iter().map(|s| s.slot));
    }
    assert_eq!(sent, calls.required, "L1 sends exactly the answers the anchor carried");
    // Against another state root the proof does not verify.
    let refused = l1_after_checkpoint(B256::repeat_byte(1)).user_op(&calls.calls[0]).unwrap();
    assert!(
        refused.error.as_ref().is_some_and(|e| e.contains("B_SIGNAL_NOT_RECEIVED") || e.contains("0xa2826398")),
        "{:?}",
        refused.error
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn planned_transactions_precede_the_pools_and_keep_their_ids() {
    use alloy_sol_types::SolConstructor;
    use surge_primitives::bindings::test_message_sender::MessageSender;
    let net = start().await;
    // A contract sending two messages in one transaction.
    let code = [
        MessageSender::BYTECODE.to_vec(),
        MessageSender::constructorCall { _bridge: net.protocol.l2.bridge }.abi_encode(),
    ]
    .concat();
    let deploy = alloy::consensus::TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        gas_limit: 3_000_000,
        max_fee_per_gas: 10 * crate::net::GWEI,
        max_priority_fee_per_gas: crate::net::GWEI,
        to: alloy_primitives::TxKind::Create,
        input: code.into(),
        ..Default::default()
    };
    let raw = sign(deploy, 2);
    let deployed = net.submit(&raw).unwrap();
    mined(&net, deployed).await;
    let two_sender = dev_key(2).address().create(0);
    net.l2.control.pause_production();

    let (a, _, plan_a) = net.planned_swap(5).await;
    let (b, _, plan_b) = net.planned_swap(6).await;
    let to_l1 = |tag: u8| Message {
        gasLimit: 1_000_000,
        srcOwner: dev_key(8).address(),
        destChainId: net.protocol.l1_chain_id,
        destOwner: dev_key(8).address(),
        to: Address::repeat_byte(tag),
        ..Default::default()
    };
    let call = MessageSender::sendTwoCall { a: to_l1(0xa1).into(), b: to_l1(0xb2).into() };
    let (raw, two) = net.l2_tx(8, 0, two_sender, call.abi_encode().into(), U256::ZERO, 3_000_000);
    net.submit(&raw).unwrap();
    let plan_two = net.planned(two.hash).await;
    // A plain withdrawal (no gas limit: only its owner processes it on L1, no proposal call), paying ten
    // times the tip.
    let me = dev_key(9).address();
    let withdrawal = Message {
        srcOwner: me,
        destChainId: net.protocol.l1_chain_id,
        destOwner: me,
        to: me,
        value: U256::from(ETHER),
        ..Default::default()
    };
    let send = Bridge::sendMessageCall { message: withdrawal };
    let tx = alloy::consensus::TxEip1559 {
        chain_id: net.protocol.l2_chain_id,
        gas_limit: 500_000,
        max_fee_per_gas: 100 * crate::net::GWEI,
        max_priority_fee_per_gas: 10 * crate::net::GWEI,
        to: alloy_primitives::TxKind::Call(net.protocol.l2.bridge),
        value: U256::from(ETHER),
        input: send.abi_encode().into(),
        ..Default::default()
    };
    let withdrawal_tx = net.submit(&sign(tx, 9)).unwrap();
    assert!(matches!(net.refused(withdrawal_tx).await, NoPlan::L1LegFailed(_)), "not planned");

    net.l2.control.resume_production();
    let block = mined(&net, a.hash).await;
    for tx in [b.hash, two.hash, withdrawal_tx] {
        assert_eq!(mined(&net, tx).await, block, "all in one block");
    }
    assert_eq!(user_txs(&net, block), [a.hash, b.hash, two.hash, withdrawal_tx], "plan order, then the pool's");
    let slots: Vec<B256> = plan_a.slots().chain(plan_b.slots()).collect();
    assert_eq!(anchor(&net, block).1, slots);
    let planned_ids = |p: &surge_sync::Plan| p.messages.iter().map(|m| m.message.id).collect::<Vec<_>>();
    assert_eq!(sent_ids(&net, a.hash), planned_ids(&plan_a));
    assert_eq!(sent_ids(&net, b.hash), planned_ids(&plan_b));
    assert_eq!(sent_ids(&net, two.hash), planned_ids(&plan_two));
    assert_eq!(sent_ids(&net, withdrawal_tx), [planned_ids(&plan_two)[1] + 1], "the withdrawal's id comes after");
    for tx in [a.hash, b.hash, two.hash, withdrawal_tx] {
        assert!(succeeded(&net, tx));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_dropped_after_staging_leaves_no_orphan_slot() {
    let net = start().await;
    net.l2_at(1).await;
    net.l2.control.pause_production();
    let (swap, _, plan) = net.planned_swap(3).await;

    // A block is built with the plan staged (its slot in the anchor), and never committed.
    let head = net.l2.store.head().unwrap();
    let attributes = NextBlockAttributes::at(head.header.timestamp + 1);
    let built = net.builder.build(net.l2.store.as_ref(), &head, &attributes).unwrap();
    let staged_anchor = Anchor::anchorV4WithSignalSlotsCall::abi_decode(built.body.transactions[0].input()).unwrap();
    assert_eq!(staged_anchor.signalSlots, plan.slots().collect::<Vec<_>>());

    // Then L1 moves under the plan (a swap on the L1 pool itself): its answer changed, the plan goes.
    let swap_on_l1 = ConstantProductPool::swapETHForTokenCall { minOut: U256::ZERO, to: dev_key(9).address() };
    let (raw, _) = signed(
        net.protocol.l1_chain_id,
        9,
        0,
        net.apps.cross_chain_swap.l1_pool,
        swap_on_l1.abi_encode().into(),
        U256::from(50) * U256::from(ETHER),
        300_000,
    );
    net.l1.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
    assert_eq!(net.refused(swap.hash).await, NoPlan::AnswerChanged);

    // The next blocks carry no slot, and the swap, which would revert without its answer, is not mined:
    // it leaves the pool with the reason, readable over RPC; the chain goes on.
    net.l2.control.resume_production();
    let (raw, transfer) = net.l2_tx(4, 0, Address::repeat_byte(0x77), Bytes::new(), U256::from(1), 21_000);
    net.submit(&raw).unwrap();
    let block = mined(&net, transfer.hash).await;
    assert!(succeeded(&net, transfer.hash));
    let reason = loop {
        let answer = crate::ordered::status(&net, swap.hash).await;
        if answer["result"]["status"] == "Rejected" {
            break answer["result"]["reason"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(reason.ends_with("answer changed on L1"), "{reason}");
    assert_eq!(net.l2.store.transaction_location(swap.hash).unwrap(), None, "never mined");
    assert!(net.l2.pool.get(&swap.hash).is_none(), "out of the pool");
    for number in head.header.number + 1..=block {
        assert!(anchor(&net, number).1.is_empty(), "no orphan slot in block {number}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_block_of_a_proposal_anchors_the_same_l1_block_and_only_the_first_carries_slots() {
    let net = start_with(ProposalRules { max_blocks: 3, ..crate::net::rules() }).await;
    net.l2_at(2).await;
    // L1 moves while the proposal is open: its blocks keep its anchor.
    let (raw, _) =
        signed(net.protocol.l1_chain_id, 9, 0, Address::repeat_byte(0x55), Bytes::new(), U256::from(1), 21_000);
    net.l1.pool.add_transaction(TransactionOrigin::External, &raw).unwrap();
    // A planned swap in between: its block opens a proposal of its own.
    let (swap, answer, _) = net.planned_swap(3).await;
    let swap_block = mined(&net, swap.hash).await;
    net.l2_at(swap_block + 4).await;

    let mut proposals = net.ledger.closed_proposals();
    proposals.extend(net.ledger.open_proposal());
    assert!(proposals.len() >= 3, "{proposals:?}");
    let mut seen = vec![];
    for p in &proposals {
        for (i, b) in p.blocks.iter().enumerate() {
            let (l1_block, slots) = anchor(&net, b.number);
            assert_eq!(l1_block, p.anchor.blockNumber.to::<u64>(), "block {} of proposal {}", b.number, p.id);
            assert_eq!(slots.is_empty(), i > 0 || p.slots.is_empty(), "slots only in the first block");
            seen.push(b.number);
        }
        assert!(p.blocks.len() <= 3);
    }
    seen.sort();
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>(), "every block in exactly one proposal");
    let with_swap = proposals.iter().find(|p| p.blocks[0].number == swap_block).unwrap();
    assert_eq!(with_swap.slots, vec![answer_slot(&net, &answer)]);
    assert!(proposals.iter().any(|p| p.blocks.len() == 3), "a proposal closed on its block count");
}

/// The slot of an answer sent by the L1 bridge.
fn answer_slot(net: &Net, answer: &Message) -> B256 {
    surge_primitives::signal_slot(net.protocol.l1_chain_id, net.protocol.l1.bridge, answer.hash())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l1_head_without_a_state_root_is_never_an_anchor() {
    let net = start_with(ProposalRules { max_blocks: 1, ..crate::net::rules() }).await;
    net.l2_at(1).await;
    let (good, _) = anchor(&net, net.l2.store.head().unwrap().header.number);
    let latest = net.heads.borrow().latest.unwrap();
    let broken = L1Head { number: latest.number + 1, hash: B256::repeat_byte(7), state_root: B256::ZERO, ..latest };
    net.heads.send_replace(L1Heads { latest: Some(broken), finalized: None, failing_since: None });
    let after = net.l2.store.head().unwrap().header.number + 2;
    net.l2_at(after).await;
    assert_eq!(anchor(&net, after).0, good, "built with the last checkpoint an anchor took");
    assert_eq!(net.next.unusable_l1_heads(), 1, "and counted");
}

fn sign(tx: alloy::consensus::TxEip1559, who: u32) -> Vec<u8> {
    surge_test_utils::sign_eip1559(&dev_key(who), tx).encoded_2718()
}
