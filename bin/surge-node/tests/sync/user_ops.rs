//! A user op front-run on L1: two owners' deposits go into one proposal; once it is sent, the first owner
//! runs the same batch on L1 directly, ahead of it. The bundle reverts, the replay blames that op, which
//! ends `Rejected` with L1's reason; the proposal's blocks are rebuilt and the other op, which never ran on
//! L1, is placed again and runs once.

use alloy::{consensus::TxEip1559, eips::Encodable2718, signers::local::PrivateKeySigner};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use surge_exex::ProposerEvent;
use surge_interfaces::{TransactionOrigin, TransactionPool};
use surge_primitives::bindings::user_ops_factory::UserOpsFactory;
use surge_sync::{TxStatus, user_op_key};
use surge_test_utils::{
    dev_key, sign_eip1559,
    user_ops::{DEV_FACTORY, DEV_L1_CHAIN_ID, batch, dev_deposit, fund, now, send_user_op, sent_id, wallet_of},
};

use crate::{
    net::{GWEI, Net, until},
    proposals::{l1_rpc, l2_rpc},
    reverts::{Racing, event, summary},
};

const ETHER: u128 = 1_000_000_000_000_000_000;

/// Transactions from dev account `who` to `(to, data)` each, at consecutive nonces and a high tip (they go
/// ahead of the proposal in the next L1 block); their hashes.
fn l1_calls_ahead(net: &Net, who: u32, calls: &[(Address, Bytes)]) -> Vec<B256> {
    let from = dev_key(who).address().to_string();
    let nonce: u64 = surge_test_utils::cast(&["nonce", &from, "--rpc-url", &l1_rpc(net)]).parse().unwrap();
    let mut hashes = vec![];
    for (i, (to, data)) in calls.iter().enumerate() {
        let tx = TxEip1559 {
            chain_id: net.protocol.l1_chain_id,
            nonce: nonce + i as u64,
            gas_limit: 1_000_000,
            max_fee_per_gas: 200 * GWEI,
            max_priority_fee_per_gas: 100 * GWEI,
            to: TxKind::Call(*to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: data.clone(),
        };
        let signed = sign_eip1559(&dev_key(who), tx);
        net.l1.pool.add_transaction(TransactionOrigin::External, &signed.encoded_2718()).unwrap();
        hashes.push(*signed.tx_hash());
    }
    hashes
}

/// The kept status of op `id`.
fn op_status(net: &Net, id: u64) -> Option<surge_exex::StatusRecord> {
    net.ledger.tx_status(&user_op_key(id)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_op_front_run_on_l1_is_blamed_for_its_bundle_s_revert_and_the_other_op_runs_once() {
    let racing = Racing::start().await;
    let (net, seen) = (&racing.net, &racing.seen);
    let (l1, l2) = (l1_rpc(net), l2_rpc(net));
    let funder = format!("0x{}", alloy_primitives::hex::encode(dev_key(8).to_bytes()));
    let owners: Vec<(PrivateKeySigner, Address)> = (0..2)
        .map(|_| {
            let owner = PrivateKeySigner::random();
            let wallet = wallet_of(&l1, DEV_FACTORY, owner.address());
            tokio::task::block_in_place(|| fund(&l1, &l2, &funder, wallet, "5ether"));
            (owner, wallet)
        })
        .collect();
    let mut ops = vec![];
    for (owner, wallet) in &owners {
        let to = PrivateKeySigner::random().address();
        let calldata =
            batch(owner, *wallet, DEV_L1_CHAIN_ID, &dev_deposit(*wallet, to, U256::from(ETHER)), 0, now() + 600);
        let id = tokio::task::block_in_place(|| sent_id(&send_user_op(&l2, *wallet, &calldata))).unwrap();
        ops.push((id, to, calldata));
    }
    // Both in one block: the first of their proposal.
    let block = until("both ops in one block", || {
        let blocks: Vec<u64> =
            ops.iter().filter_map(|(id, ..)| op_status(net, *id)?.view.details.l2_block_number).collect();
        (blocks.len() == 2 && blocks[0] == blocks[1]).then(|| blocks[0])
    })
    .await;

    // Once their proposal is sent, the first owner runs the same batch on L1 ahead of it.
    let (front_run_owner, front_run_wallet) = &owners[0];
    let create = UserOpsFactory::createWalletCall { owner: front_run_owner.address() }.abi_encode().into();
    let ahead = [(DEV_FACTORY, create), (*front_run_wallet, ops[0].2.clone())];
    let reverted = racing.race(block, || *l1_calls_ahead(net, 9, &ahead).last().unwrap()).await;
    let failure = event(seen, "the revert", |e| match e {
        ProposerEvent::Reverted { tx, failure, .. } if *tx == reverted => Some(failure.clone()),
        _ => None,
    })
    .await
    .expect("the replay fails as L1 did");
    assert!(failure.reason.contains("WrongNonce"), "{failure:?}");
    event(seen, "the roll-back", |e| matches!(e, ProposerEvent::RolledBack { .. }).then_some(())).await;

    // The front-run op ends Rejected with L1's reason; the other runs once, after the rebuild.
    let rejected =
        until("the front-run op rejected", || op_status(net, ops[0].0).filter(|r| r.status().is_final())).await;
    let TxStatus::Rejected { reason } = rejected.status() else { panic!("{rejected:?}") };
    assert!(reason.contains("L1 refused it") && reason.contains("WrongNonce"), "{reason}");
    // Placed again on the rebuilt chain, proposed and confirmed (a minute at most on a busy machine).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let executed = loop {
        let status = op_status(net, ops[1].0);
        if let Some(executed) = status.clone().filter(|r| *r.status() == TxStatus::Executed) {
            break executed;
        }
        assert!(tokio::time::Instant::now() < deadline, "the other op: {status:?}; {}", summary(&seen.lock().unwrap()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let history: Vec<&str> = executed.view.details.history.iter().map(|t| t.status.name()).collect();
    assert!(history.contains(&"Processing") && history.iter().filter(|s| **s == "Pending").count() == 2, "{history:?}");
    let balance = |who: Address| -> U256 {
        surge_test_utils::cast(&["balance", &who.to_string(), "--rpc-url", &l2]).trim().parse().unwrap()
    };
    assert_eq!(balance(ops[1].1), U256::from(ETHER), "credited once");
    assert_eq!(balance(ops[0].1), U256::ZERO, "the front-run deposit was never relayed on L2");
    let nonce =
        |wallet: Address| surge_test_utils::cast(&["call", &wallet.to_string(), "nonce()(uint256)", "--rpc-url", &l1]);
    assert_eq!((nonce(owners[0].1).trim(), nonce(owners[1].1).trim()), ("1", "1"), "each batch ran once on L1");
    let events = seen.lock().unwrap().clone();
    let reverts = events.iter().filter(|e| matches!(e, ProposerEvent::Reverted { .. })).count();
    assert_eq!(reverts, 1, "one revert: {}", summary(&events));
}
