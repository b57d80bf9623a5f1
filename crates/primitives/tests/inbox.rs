//! The L1 realtime inbox: blob hashes, the mock proof over our Rust commitment hash, and the
//! tentative/finalize pair inside one Multicall transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{
    Address, B256, Bytes, U256,
    aliases::{U24, U48},
    b256, keccak256,
};
use alloy_sol_types::{SolCall, SolError, SolEvent, SolValue};
use common::{Chain, Core, Outcome, Remote, Tx, account, deploy_core};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    BlobReference, Checkpoint, Commitment, MockProver, ProofFlag, Proposal, ProposeInput, ProposeInputV2,
    bindings::{
        inbox::RealTimeInbox, mock_verifier::MockECDSAVerifier, multicall::Multicall, signal_service::SignalService,
        surge_verifier::SurgeVerifier,
    },
    hash_commitment, hash_proposal, hash_signal_slots, signal_slot,
};

const L1: u64 = 3151908;
const L2: u64 = 763374;
const SHARING: u8 = 50;
const L2_GENESIS: B256 = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");
const PROVER_KEY: B256 = b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

struct L1Setup {
    chain: Chain,
    core: Core,
    inbox: Address,
    mock: Address,
    multicall: Address,
    owner: Address,
    proposer: Address,
    prover: MockProver,
}

fn blob(i: u8) -> B256 {
    let mut h = keccak256([i]);
    h.0[0] = 0x01; // versioned hash, version 1 (KZG)
    h
}

/// The L1 protocol. Cycles (the signal service trusts the inbox, the inbox calls the signal service)
/// are broken by predicting CREATE addresses.
/// The protocol with the proposer Multicall as the inbox's proposer; `propose` open to anyone when
/// `open_propose` (the tests of `propose` itself call it directly).
fn setup() -> L1Setup {
    setup_with(true)
}

fn setup_with(open_propose: bool) -> L1Setup {
    let mut chain = Chain::new(L1, SpecId::CANCUN);
    chain.advance_by(3);
    let (owner, proposer) = (account(1), account(2));
    chain.set_balance(proposer, common::ether(10)); // blob gas is paid even at a zero base fee
    let inbox_deployer = account(60);
    let predicted_inbox = inbox_deployer.create(2);
    let remote =
        Remote { chain_id: L2, bridge: Address::repeat_byte(0x2b), signal_service: Address::repeat_byte(0x25) };
    let core = deploy_core(&mut chain, owner, predicted_inbox, remote);

    let signer = PrivateKeySigner::from_bytes(&PROVER_KEY).unwrap();
    let mock = chain.deploy(
        inbox_deployer,
        "MockECDSAVerifier",
        MockECDSAVerifier::constructorCall { _l2ChainId: L2, _signer: signer.address() },
    );
    let verifier = chain.deploy(
        inbox_deployer,
        "SurgeVerifier",
        SurgeVerifier::constructorCall {
            _owner: owner,
            _requiredProofs: ProofFlag::MOCK_ECDSA.bits(),
            flags: vec![ProofFlag::MOCK_ECDSA.bits()],
            _verifiers: vec![mock],
        },
    );
    let inbox = chain.deploy(
        inbox_deployer,
        "RealTimeInbox",
        RealTimeInbox::constructorCall {
            _owner: owner,
            verifier,
            signalService: core.signal_service,
            basefeeSharingPctg: SHARING,
            proposer: proposer.create(0),
            openPropose: open_propose,
        },
    );
    assert_eq!(inbox, predicted_inbox);
    let multicall = chain.deploy(proposer, "Multicall", Multicall::constructorCall { _owner: proposer });
    assert_eq!(multicall, proposer.create(0));
    let prover = MockProver::new(signer, L2, mock);
    L1Setup { chain, core, inbox, mock, multicall, owner, proposer, prover }
}

fn activate(s: &mut L1Setup) {
    s.chain.exec(Tx::sol(s.owner, s.inbox, RealTimeInbox::activateCall { l2GenesisBlockHash: L2_GENESIS })).expect_ok();
}

fn l2_checkpoint(n: u64) -> Checkpoint {
    Checkpoint {
        blockNumber: U48::from(n),
        blockHash: keccak256((n, "hash").abi_encode()),
        stateRoot: keccak256((n, "root").abi_encode()),
    }
}

/// The proposal the inbox will build, computed independently in Rust.
fn expected_proposal(s: &L1Setup, max_anchor: u64, blobs: &[B256], slots: &[B256]) -> Proposal {
    surge_primitives::proposal_tx::expected_proposal(max_anchor, s.chain.block_hash(max_anchor), SHARING, blobs, slots)
}

fn proof_for(s: &L1Setup, proposal: &Proposal, parent: B256, checkpoint: &Checkpoint) -> Bytes {
    let commitment = Commitment {
        proposalHash: hash_proposal(proposal),
        lastFinalizedBlockHash: parent,
        checkpoint: checkpoint.clone(),
    };
    s.prover.prove(hash_commitment(&commitment)).unwrap()
}

fn blob_ref(n: u16) -> BlobReference {
    BlobReference { blobStartIndex: 0, numBlobs: n, offset: U24::ZERO }
}

fn propose_call(s: &L1Setup, slots: Vec<B256>, checkpoint: &Checkpoint, blobs: &[B256]) -> RealTimeInbox::proposeCall {
    let max_anchor = s.chain.number - 1;
    let proposal = expected_proposal(s, max_anchor, blobs, &slots);
    let parent = s.chain.storage(s.inbox, U256::from(1)); // lastFinalizedBlockHash
    let proof = proof_for(s, &proposal, B256::from(parent.to_be_bytes::<32>()), checkpoint);
    let input = ProposeInput {
        blobReference: blob_ref(blobs.len() as u16),
        signalSlots: slots,
        maxAnchorBlockNumber: U48::from(max_anchor),
    };
    RealTimeInbox::proposeCall { data: input.abi_encode().into(), checkpoint: checkpoint.clone(), proof }
}

fn proposed_event(out: &Outcome) -> RealTimeInbox::ProposedAndProved {
    out.logs()
        .iter()
        .find_map(|l| RealTimeInbox::ProposedAndProved::decode_log_data(&l.data).ok())
        .expect("ProposedAndProved")
}

#[test]
fn activation_is_owner_only_and_once() {
    let mut s = setup();
    let call = RealTimeInbox::activateCall { l2GenesisBlockHash: L2_GENESIS };
    s.chain.exec(Tx::sol(account(9), s.inbox, call.clone())).expect_revert::<RealTimeInbox::NotOwner>();
    activate(&mut s);
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), L2_GENESIS);
    s.chain.exec(Tx::sol(s.owner, s.inbox, call)).expect_revert::<RealTimeInbox::AlreadyActivated>();
    let config = s.chain.read(s.inbox, RealTimeInbox::getConfigCall {});
    assert_eq!((config.signalService, config.basefeeSharingPctg), (s.core.signal_service, SHARING));
}

#[test]
fn propose_needs_blobs_activation_and_a_valid_proof() {
    let mut s = setup();
    let cp = l2_checkpoint(5);
    let blobs = [blob(1), blob(2)];

    let call = propose_call(&s, vec![], &cp, &blobs);
    s.chain
        .exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs.to_vec()))
        .expect_revert::<RealTimeInbox::NotActivated>();
    activate(&mut s);

    // Without blob hashes in the transaction.
    let call = propose_call(&s, vec![], &cp, &blobs);
    s.chain.exec(Tx::sol(s.proposer, s.inbox, call)).expect_revert::<RealTimeInbox::BlobNotFound>();
    let call = propose_call(&s, vec![], &cp, &[]);
    s.chain.exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs.to_vec())).expect_revert::<RealTimeInbox::NoBlobs>();

    // A proof by another key.
    let mut bad = propose_call(&s, vec![], &cp, &blobs);
    let other = MockProver::new(PrivateKeySigner::random(), L2, s.mock);
    let proposal = expected_proposal(&s, s.chain.number - 1, &blobs, &[]);
    bad.proof = proof_for(&L1Setup { prover: other, ..setup() }, &proposal, L2_GENESIS, &cp);
    s.chain
        .exec(Tx::sol(s.proposer, s.inbox, bad).blobs(blobs.to_vec()))
        .expect_revert::<MockECDSAVerifier::MOCK_WRONG_SIGNER>();
    // A proof for another checkpoint.
    let mut bad = propose_call(&s, vec![], &cp, &blobs);
    bad.checkpoint = l2_checkpoint(6);
    s.chain
        .exec(Tx::sol(s.proposer, s.inbox, bad).blobs(blobs.to_vec()))
        .expect_revert::<MockECDSAVerifier::MOCK_WRONG_SIGNER>();
    // An anchor block whose hash the L1 no longer (or not yet) knows.
    let mut bad = propose_call(&s, vec![], &cp, &blobs);
    let mut input = ProposeInput::abi_decode(&bad.data).unwrap();
    input.maxAnchorBlockNumber = U48::from(s.chain.number);
    bad.data = input.abi_encode().into();
    s.chain
        .exec(Tx::sol(s.proposer, s.inbox, bad).blobs(blobs.to_vec()))
        .expect_revert::<RealTimeInbox::InvalidMaxAnchorBlock>();

    // The real thing: the inbox's proposal hash equals the one computed in Rust.
    let call = propose_call(&s, vec![], &cp, &blobs);
    let out = s.chain.exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs.to_vec())).expect_ok();
    let ev = proposed_event(&out);
    let expected = expected_proposal(&s, s.chain.number - 1, &blobs, &[]);
    assert_eq!(ev.proposalHash, hash_proposal(&expected));
    assert_eq!(ev.maxAnchorBlockNumber, expected.maxAnchorBlockNumber);
    assert_eq!(ev.basefeeSharingPctg, expected.basefeeSharingPctg);
    assert_eq!(ev.sources, expected.sources);
    assert_eq!(hash_signal_slots(&ev.signalSlots), expected.signalSlotsHash);
    assert_eq!(ev.checkpoint, cp);
    assert_eq!(ev.lastFinalizedBlockHash, L2_GENESIS);
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), cp.blockHash);
    let saved: Checkpoint =
        s.chain.read(s.core.signal_service, SignalService::getCheckpointCall { blockNumber: U48::from(5) }).into();
    assert_eq!(saved, cp);

    // The next proposal builds on the new parent.
    s.chain.advance();
    let cp7 = l2_checkpoint(7);
    let call = propose_call(&s, vec![], &cp7, &blobs[..1]);
    let out = s.chain.exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs[..1].to_vec())).expect_ok();
    assert_eq!(proposed_event(&out).lastFinalizedBlockHash, cp.blockHash);
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::numProposalsCall {}), 2);
}

#[test]
fn propose_checks_its_signal_slots_are_sent() {
    let mut s = setup();
    activate(&mut s);
    let blobs = [blob(1)];
    let signal = B256::repeat_byte(0x77);
    let slot = signal_slot(L1, account(5), signal);
    let call = propose_call(&s, vec![slot], &l2_checkpoint(3), &blobs);
    let out = s.chain.exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs.to_vec()));
    out.expect_revert::<RealTimeInbox::SignalSlotNotSent>();
    assert_eq!(RealTimeInbox::SignalSlotNotSent::abi_decode(&out.output()).unwrap().slot, slot);

    s.chain.exec(Tx::sol(account(5), s.core.signal_service, SignalService::sendSignalCall { signal })).expect_ok();
    let call = propose_call(&s, vec![slot], &l2_checkpoint(3), &blobs);
    let out = s.chain.exec(Tx::sol(s.proposer, s.inbox, call).blobs(blobs.to_vec())).expect_ok();
    assert_eq!(proposed_event(&out).signalSlots, vec![slot]);
}

/// A deferred proposal: tentativePropose with `existing` and `required` signals, as a Multicall call.
fn tentative(
    s: &L1Setup,
    existing: Vec<B256>,
    required: Vec<B256>,
    cp: &Checkpoint,
    blobs: &[B256],
) -> Multicall::Call {
    let max_anchor = s.chain.number - 1;
    let all: Vec<B256> = existing.iter().chain(&required).copied().collect();
    let proposal = expected_proposal(s, max_anchor, blobs, &all);
    let proof = proof_for(s, &proposal, L2_GENESIS, cp);
    let input = ProposeInputV2 {
        blobReference: blob_ref(blobs.len() as u16),
        existingSignals: existing,
        requiredReturnSignals: required,
        maxAnchorBlockNumber: U48::from(max_anchor),
    };
    let data = RealTimeInbox::tentativeProposeCall { data: input.abi_encode().into(), checkpoint: cp.clone(), proof };
    Multicall::Call { target: s.inbox, value: U256::ZERO, data: data.abi_encode().into() }
}

fn send_signal(s: &L1Setup, signal: B256) -> Multicall::Call {
    let data = SignalService::sendSignalCall { signal }.abi_encode();
    Multicall::Call { target: s.core.signal_service, value: U256::ZERO, data: data.into() }
}

fn finalize(s: &L1Setup, required: Vec<B256>) -> Multicall::Call {
    let data = RealTimeInbox::finalizeProposeCall { requiredReturnSignals: required }.abi_encode();
    Multicall::Call { target: s.inbox, value: U256::ZERO, data: data.into() }
}

/// The batch failed at call `index` with error `E` (the Multicall names the step and passes its data on).
fn failed_at<E: SolError>(out: &Outcome, index: u64) -> Bytes {
    out.expect_revert::<Multicall::MC_CALL_FAILED>();
    let failed = Multicall::MC_CALL_FAILED::abi_decode(&out.output()).unwrap();
    assert_eq!(failed.index, U256::from(index), "the failing step");
    assert_eq!(failed.data[..4], E::SELECTOR, "expected {} from step {index}", E::SIGNATURE);
    failed.data
}

fn multicall(s: &mut L1Setup, calls: Vec<Multicall::Call>, blobs: &[B256]) -> Outcome {
    let (proposer, multicall) = (s.proposer, s.multicall);
    s.chain.exec(Tx::sol(proposer, multicall, Multicall::multicallCall { calls }).blobs(blobs.to_vec()))
}

#[test]
fn tentative_then_finalize_in_one_multicall() {
    let mut s = setup();
    activate(&mut s);
    let blobs = [blob(3)];
    let cp = l2_checkpoint(9);
    let (user_signal, return_signal) = (B256::repeat_byte(0xe1), B256::repeat_byte(0xf2));
    let existing = signal_slot(L1, s.multicall, user_signal);
    let required = signal_slot(L1, s.multicall, return_signal);

    // The user op sends the existing signal first; the L1 call in the middle produces the required one.
    let calls = vec![
        send_signal(&s, user_signal),
        tentative(&s, vec![existing], vec![required], &cp, &blobs),
        send_signal(&s, return_signal),
        finalize(&s, vec![required]),
    ];
    let out = multicall(&mut s, calls, &blobs).expect_ok();
    let ev = proposed_event(&out);
    assert_eq!(ev.signalSlots, vec![existing, required], "the union, existing first");
    let tentative = out.logs().iter().find_map(|l| RealTimeInbox::TentativeProposed::decode_log_data(&l.data).ok());
    let tentative = tentative.expect("TentativeProposed");
    assert_eq!(tentative.proposalId, ev.proposalHash);
    assert_eq!(tentative.requiredReturnSignalsHash, hash_signal_slots(&[required]));
    assert!(out.logs().iter().any(|l| RealTimeInbox::ProposalFinalized::decode_log_data(&l.data).is_ok()));
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), cp.blockHash);
}

#[test]
fn finalize_rejects_missing_or_different_signals() {
    let mut s = setup();
    activate(&mut s);
    let blobs = [blob(3)];
    let cp = l2_checkpoint(9);
    let signal = B256::repeat_byte(0xf2);
    let required = signal_slot(L1, s.multicall, signal);

    // The L1 call never produced the signal.
    let calls = vec![tentative(&s, vec![], vec![required], &cp, &blobs), finalize(&s, vec![required])];
    let out = multicall(&mut s, calls, &blobs);
    let data = failed_at::<RealTimeInbox::RequiredSignalNotSent>(&out, 1);
    assert_eq!(RealTimeInbox::RequiredSignalNotSent::abi_decode(&data).unwrap().slot, required);

    // finalizePropose with another list than the one proven.
    let calls = vec![
        tentative(&s, vec![], vec![required], &cp, &blobs),
        send_signal(&s, signal),
        finalize(&s, vec![required, required]),
    ];
    failed_at::<RealTimeInbox::RequiredSignalsMismatch>(&multicall(&mut s, calls, &blobs), 2);
    let calls = vec![tentative(&s, vec![], vec![required], &cp, &blobs), send_signal(&s, signal), finalize(&s, vec![])];
    failed_at::<RealTimeInbox::RequiredSignalsMismatch>(&multicall(&mut s, calls, &blobs), 2);

    // Nothing of the failed batches stuck.
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), L2_GENESIS);
    assert!(!s.chain.read(s.core.signal_service, SignalService::isSignalSent_1Call { slot: required }));

    // The pending state lives in transient storage: a later transaction cannot finalize.
    let calls = vec![tentative(&s, vec![], vec![required], &cp, &blobs)];
    assert!(multicall(&mut s, calls, &blobs).expect_ok().is_success());
    let calls = vec![finalize(&s, vec![required])];
    failed_at::<RealTimeInbox::NoPendingProposal>(&multicall(&mut s, calls, &[]), 0);
}

#[test]
fn one_pending_proposal_per_transaction() {
    let mut s = setup();
    activate(&mut s);
    let blobs = [blob(3)];
    let required = signal_slot(L1, s.multicall, B256::repeat_byte(1));
    let calls = vec![
        tentative(&s, vec![], vec![required], &l2_checkpoint(9), &blobs),
        tentative(&s, vec![], vec![required], &l2_checkpoint(10), &blobs),
    ];
    failed_at::<RealTimeInbox::PendingProposalExists>(&multicall(&mut s, calls, &blobs), 1);
}

#[test]
fn multicall_is_the_proposers_and_all_or_nothing() {
    let mut s = setup();
    let calls = vec![send_signal(&s, B256::repeat_byte(3))];
    let out = s.chain.exec(Tx::sol(account(9), s.multicall, Multicall::multicallCall { calls }));
    out.expect_revert::<Multicall::MC_NOT_OWNER>();
    // The first call succeeds, the second fails: nothing remains of the first.
    let fails = Multicall::Call {
        target: s.inbox,
        value: U256::ZERO,
        data: RealTimeInbox::finalizeProposeCall { requiredReturnSignals: vec![] }.abi_encode().into(),
    };
    let calls = vec![send_signal(&s, B256::repeat_byte(4)), fails];
    failed_at::<RealTimeInbox::NoPendingProposal>(&multicall(&mut s, calls, &[]), 1);
    let slot = signal_slot(L1, s.multicall, B256::repeat_byte(4));
    assert!(!s.chain.read(s.core.signal_service, SignalService::isSignalSent_1Call { slot }));
}

/// A pending proposal's calldata, sent by anyone but the proposer Multicall — directly, or through a
/// contract of their own (here a Multicall they own) — is refused: no forged "required" return signals.
#[test]
fn only_the_proposer_multicall_may_propose() {
    let mut s = setup_with(false);
    activate(&mut s);
    let blobs = [blob(3)];
    let cp = l2_checkpoint(9);
    let forged = signal_slot(L1, s.multicall, B256::repeat_byte(0xf0));
    let tentative_call = tentative(&s, vec![], vec![forged], &cp, &blobs);
    let propose = propose_call(&s, vec![], &cp, &blobs);
    let attacker = account(9);
    s.chain.set_balance(attacker, common::ether(10));
    for data in [tentative_call.data.clone(), propose.abi_encode().into(), finalize(&s, vec![forged]).data] {
        let out = s.chain.exec(Tx::call(attacker, s.inbox, data.clone()).blobs(blobs.to_vec()));
        out.expect_revert::<RealTimeInbox::NotProposer>();
        assert_eq!(RealTimeInbox::NotProposer::abi_decode(&out.output()).unwrap().caller, attacker);
    }
    let own = s.chain.deploy(attacker, "Multicall", Multicall::constructorCall { _owner: attacker });
    let calls = vec![Multicall::Call { target: s.inbox, value: U256::ZERO, data: tentative_call.data.clone() }];
    let out = s.chain.exec(Tx::sol(attacker, own, Multicall::multicallCall { calls }).blobs(blobs.to_vec()));
    let data = failed_at::<RealTimeInbox::NotProposer>(&out, 0);
    assert_eq!(RealTimeInbox::NotProposer::abi_decode(&data).unwrap().caller, own);
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), L2_GENESIS, "nothing accepted");

    // The proposer Multicall itself proposes as before.
    let calls = vec![Multicall::Call { target: s.inbox, value: U256::ZERO, data: propose.abi_encode().into() }];
    multicall(&mut s, calls, &blobs).expect_ok();
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), cp.blockHash);
    let config = s.chain.read(s.inbox, RealTimeInbox::getConfigCall {});
    assert_eq!((config.proposer, config.openPropose), (s.multicall, false));
}

/// The events have upstream's exact signatures (NethermindEth/surge-taiko-mono `IRealTimeInbox`), so tooling
/// written for it follows our inbox.
#[test]
fn events_have_upstream_signatures() {
    let proposed = "ProposedAndProved(bytes32,bytes32,uint48,uint8,(bool,(bytes32[],uint24,uint48))[],bytes32[],\
                    (uint48,bytes32,bytes32))";
    assert_eq!(RealTimeInbox::ProposedAndProved::SIGNATURE_HASH, alloy_primitives::keccak256(proposed));
    let tentative = "TentativeProposed(bytes32,bytes32)";
    assert_eq!(RealTimeInbox::TentativeProposed::SIGNATURE_HASH, alloy_primitives::keccak256(tentative));
    assert_eq!(RealTimeInbox::Activated::SIGNATURE_HASH, alloy_primitives::keccak256("Activated(bytes32)"));
}

/// The proposer's transaction as `ProposalCalls` builds it, in each shape, lands: `propose` alone, the classic
/// Multicall with a user op and an L1 call, and the deferred one whose L1 call sends the required signal.
#[test]
fn the_proposers_transaction_lands_in_each_shape() {
    use surge_primitives::proposal_tx::{ProposalCalls, TxShape};
    let mut s = setup();
    activate(&mut s);
    let blobs = [blob(3)];
    let build = |s: &L1Setup,
                 n: u64,
                 user_ops: Vec<Multicall::Call>,
                 required: Vec<B256>,
                 l1_calls: Vec<Multicall::Call>,
                 slots: Vec<B256>| {
        let max_anchor = s.chain.number - 1;
        let cp = l2_checkpoint(n);
        let parent = B256::from(s.chain.storage(s.inbox, U256::from(1)).to_be_bytes::<32>());
        let proof = proof_for(s, &expected_proposal(s, max_anchor, &blobs, &slots), parent, &cp);
        let calls = ProposalCalls {
            user_ops,
            blobs: 1,
            slots,
            required,
            l1_calls,
            max_anchor_block: max_anchor,
            checkpoint: cp,
            proof,
        };
        calls.transaction(s.inbox, s.multicall, true)
    };
    let send = |s: &mut L1Setup, (to, data, _): (Address, Bytes, TxShape)| {
        let proposer = s.proposer;
        s.chain.exec(Tx::call(proposer, to, data).blobs(blobs.to_vec()))
    };

    // Nothing but the proposal: propose on the inbox itself.
    let tx = build(&s, 1, vec![], vec![], vec![], vec![]);
    assert_eq!((tx.0, tx.2), (s.inbox, TxShape::Propose));
    send(&mut s, tx).expect_ok();
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), l2_checkpoint(1).blockHash);

    // A user op sending the signal its slot names, and an L1 call after the proposal.
    let user_signal = B256::repeat_byte(0xe1);
    let slot = signal_slot(L1, s.multicall, user_signal);
    let tx = build(
        &s,
        2,
        vec![send_signal(&s, user_signal)],
        vec![],
        vec![send_signal(&s, B256::repeat_byte(0xe2))],
        vec![slot],
    );
    assert_eq!((tx.0, tx.2), (s.multicall, TxShape::Classic));
    let out = send(&mut s, tx).expect_ok();
    assert_eq!(proposed_event(&out).signalSlots, vec![slot]);

    // An L1 call that must send a return signal: deferred, the existing slot first.
    let (user_signal, return_signal) = (B256::repeat_byte(0xe3), B256::repeat_byte(0xf4));
    let existing = signal_slot(L1, s.multicall, user_signal);
    let required = signal_slot(L1, s.multicall, return_signal);
    let tx = build(
        &s,
        3,
        vec![send_signal(&s, user_signal)],
        vec![required],
        vec![send_signal(&s, return_signal)],
        vec![existing, required],
    );
    assert_eq!((tx.0, tx.2), (s.multicall, TxShape::Deferred));
    let out = send(&mut s, tx).expect_ok();
    assert_eq!(proposed_event(&out).signalSlots, vec![existing, required]);
    assert_eq!(s.chain.read(s.inbox, RealTimeInbox::lastFinalizedBlockHashCall {}), l2_checkpoint(3).blockHash);

    // Without the L1 call, the required signal is never sent: the whole transaction reverts.
    let (user_signal, return_signal) = (B256::repeat_byte(0xe5), B256::repeat_byte(0xf6));
    let slots = vec![signal_slot(L1, s.multicall, user_signal), signal_slot(L1, s.multicall, return_signal)];
    let tx = build(&s, 4, vec![send_signal(&s, user_signal)], vec![slots[1]], vec![], slots);
    failed_at::<RealTimeInbox::RequiredSignalNotSent>(&send(&mut s, tx), 2);
}
