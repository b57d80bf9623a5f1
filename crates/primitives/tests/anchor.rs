//! The L2 anchor: golden-touch only, once per block and in every block, parent hashes, checkpoints and
//! fast signals, within its fixed 1,000,000 gas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, U256, aliases::U48, keccak256};
use common::{Chain, Core, Outcome, Remote, Tx, account, deploy_core};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    Checkpoint, GOLDEN_TOUCH_ADDRESS,
    bindings::{anchor::Anchor, signal_service::SignalService},
};

const L1: u64 = 3151908;
const L2: u64 = 763374;
const ANCHOR_GAS: u64 = 1_000_000;

struct L2Setup {
    chain: Chain,
    core: Core,
    anchor: Address,
}

/// An L2 whose signal service trusts the anchor; the address cycle is broken by predicting the
/// anchor's CREATE address before the signal service is deployed.
fn setup() -> L2Setup {
    let mut chain = Chain::new(L2, SpecId::SHANGHAI);
    let anchor_deployer = account(50);
    let predicted = anchor_deployer.create(0);
    let remote =
        Remote { chain_id: L1, bridge: Address::repeat_byte(0x1b), signal_service: Address::repeat_byte(0x15) };
    let core = deploy_core(&mut chain, account(1), predicted, remote);
    let anchor = chain.deploy(
        anchor_deployer,
        "Anchor",
        Anchor::constructorCall { _signalService: core.signal_service, _l1ChainId: L1, _owner: account(1) },
    );
    assert_eq!(anchor, predicted);
    L2Setup { chain, core, anchor }
}

fn checkpoint(n: u64) -> Checkpoint {
    Checkpoint {
        blockNumber: U48::from(n),
        blockHash: keccak256(n.to_be_bytes()),
        stateRoot: keccak256((n + 1).to_be_bytes()),
    }
}

fn anchor_from(s: &mut L2Setup, from: Address, l1_block: u64, slots: Vec<B256>) -> Outcome {
    let call = Anchor::anchorV4WithSignalSlotsCall { l1Checkpoint: checkpoint(l1_block).into(), signalSlots: slots };
    s.chain.exec(Tx::sol(from, s.anchor, call).gas(ANCHOR_GAS))
}

fn anchor(s: &mut L2Setup, l1_block: u64, slots: Vec<B256>) -> Outcome {
    anchor_from(s, GOLDEN_TOUCH_ADDRESS, l1_block, slots)
}

#[test]
fn anchors_each_block_and_records_parents_checkpoints_and_signals() {
    let mut s = setup();
    for n in 1..=5u64 {
        assert_eq!(s.chain.number, n);
        let slots = vec![keccak256(n.to_le_bytes()), keccak256((n * 100).to_le_bytes())];
        anchor(&mut s, 100 + n, slots.clone()).expect_ok();
        // The parent hash is the real hash of block n - 1 (never an invented one).
        let parent = s.chain.read(s.anchor, Anchor::blockHashesCall { blockNumber: U256::from(n - 1) });
        assert_eq!(parent, s.chain.block_hash(n - 1));
        assert_ne!(parent, B256::ZERO);
        assert_eq!(s.chain.read(s.anchor, Anchor::lastAnchorBlockIdCall {}), n);
        let saved: Checkpoint = s
            .chain
            .read(s.core.signal_service, SignalService::getCheckpointCall { blockNumber: U48::from(100 + n) })
            .into();
        assert_eq!(saved, checkpoint(100 + n));
        for slot in slots {
            assert!(s.chain.read(s.core.signal_service, SignalService::isSignalReceivedCall { slot }));
        }
        s.chain.advance();
    }
}

#[test]
fn only_the_golden_touch_anchors_and_only_once_per_block() {
    let mut s = setup();
    anchor_from(&mut s, account(3), 1, vec![]).expect_revert::<Anchor::L2_SENDER_NOT_GOLDEN_TOUCH>();
    anchor(&mut s, 1, vec![]).expect_ok();
    anchor(&mut s, 2, vec![B256::repeat_byte(1)]).expect_revert::<Anchor::L2_ANCHOR_ALREADY_RAN>();
    assert!(!s.chain.read(s.core.signal_service, SignalService::isSignalReceivedCall { slot: B256::repeat_byte(1) }));
    s.chain.advance();
    anchor(&mut s, 2, vec![]).expect_ok();
}

#[test]
fn a_block_without_its_anchor_breaks_the_chain_of_ancestors() {
    let mut s = setup();
    anchor(&mut s, 1, vec![]).expect_ok();
    s.chain.advance();
    s.chain.advance(); // block 2 had no anchor
    anchor(&mut s, 2, vec![]).expect_revert::<Anchor::L2_ANCESTORS_HASH_MISMATCH>();
}

#[test]
fn the_ancestors_ring_wraps_and_anchor_gas_stays_under_its_limit() {
    let mut s = setup();
    let mut max_gas = 0;
    for n in 1..=300u64 {
        let out = anchor(&mut s, n, vec![]).expect_ok();
        max_gas = max_gas.max(out.gas_used());
        s.chain.advance();
    }
    println!("anchor without slots: at most {max_gas} gas over 300 blocks");
    assert!(max_gas < 150_000, "anchor without slots used {max_gas} gas");
    // Fast signals are cold SSTOREs inside the same fixed gas: measure how many fit.
    let with_one = anchor(&mut s, 301, vec![B256::repeat_byte(1)]).expect_ok().gas_used();
    s.chain.advance();
    let slots: Vec<B256> = (0..21u64).map(|i| keccak256(i.to_be_bytes())).collect();
    let with_21 = anchor(&mut s, 302, slots).expect_ok().gas_used();
    let per_slot = (with_21 - with_one) / 20;
    let fit = (ANCHOR_GAS - with_one) / per_slot + 1;
    println!("anchor gas: {with_one} with one slot, {per_slot} per extra slot, about {fit} slots fit in {ANCHOR_GAS}");
    assert!((20_000..30_000).contains(&per_slot), "per-slot cost {per_slot}");
    assert!(fit >= 20, "only {fit} fast signals fit in one anchor");
}

#[test]
fn older_checkpoints_are_not_saved() {
    let mut s = setup();
    anchor(&mut s, 50, vec![]).expect_ok();
    s.chain.advance();
    anchor(&mut s, 40, vec![]).expect_ok();
    assert_eq!(s.chain.read(s.anchor, Anchor::lastCheckpointBlockNumberCall {}), U48::from(50));
    let out = s.chain.view(Tx::sol(
        account(3),
        s.core.signal_service,
        SignalService::getCheckpointCall { blockNumber: U48::from(40) },
    ));
    out.expect_revert::<SignalService::SS_CHECKPOINT_NOT_FOUND>();
    // Only the anchor may save checkpoints.
    let call = SignalService::saveCheckpointCall { checkpoint: checkpoint(60).into() };
    s.chain.exec(Tx::sol(account(3), s.core.signal_service, call)).expect_revert::<SignalService::SS_UNAUTHORIZED>();
}

/// The `Anchored` event has upstream's signature and names the previous and the new checkpoint's L1 block
/// and the ancestors hash stored.
#[test]
fn anchored_names_both_checkpoints_and_the_ancestors_hash() {
    use alloy_sol_types::SolEvent;
    assert_eq!(Anchor::Anchored::SIGNATURE_HASH, keccak256("Anchored(uint48,uint48,bytes32)"));
    assert_eq!(Anchor::Withdrawn::SIGNATURE_HASH, keccak256("Withdrawn(address,address,uint256)"));
    let mut s = setup();
    anchor(&mut s, 7, vec![]).expect_ok();
    s.chain.advance();
    let out = anchor(&mut s, 9, vec![]).expect_ok();
    let ev = out.logs().iter().find_map(|l| Anchor::Anchored::decode_log_data(&l.data).ok()).unwrap();
    assert_eq!((ev.prevAnchorBlockNumber, ev.anchorBlockNumber), (U48::from(7), U48::from(9)));
    assert_eq!(ev.ancestorsHash, s.chain.read(s.anchor, Anchor::ancestorsHashCall {}));
}

/// The treasury (the anchor's balance, the base fee's unshared part) goes to whoever its owner names; nobody
/// else can move it.
#[test]
fn the_owner_withdraws_the_treasury() {
    use alloy_sol_types::SolEvent;
    let mut s = setup();
    s.chain.set_balance(s.anchor, U256::from(5_000));
    let (owner, to) = (account(1), account(77));
    s.chain.set_balance(owner, common::ether(1));
    s.chain.set_balance(account(9), common::ether(1));
    let call = Anchor::withdrawCall { token: Address::ZERO, to };
    s.chain.exec(Tx::sol(account(9), s.anchor, call.clone())).expect_revert::<Anchor::L2_NOT_OWNER>();
    let out = s.chain.exec(Tx::sol(owner, s.anchor, call)).expect_ok();
    let ev = out.logs().iter().find_map(|l| Anchor::Withdrawn::decode_log_data(&l.data).ok()).unwrap();
    assert_eq!((ev.token, ev.to, ev.amount), (Address::ZERO, to, U256::from(5_000)));
    assert_eq!(s.chain.balance(to), U256::from(5_000));
    assert_eq!(s.chain.balance(s.anchor), U256::ZERO);
}
