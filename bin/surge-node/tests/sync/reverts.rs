//! Bundles that would revert, or do, on L1: a callback that answers only a simulation at gas price 0 gets no
//! plan; a callback an L1 transaction turns off just ahead of the bundle makes it revert, and the replay
//! names its sender, who is dropped and cooled down while the rest settles; an L1 bridge message ahead of
//! the bundle blames nobody. The L1 here makes blocks only when the test's miner asks, so that an L1
//! transaction can go ahead of a proposal that is already sent.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy::{consensus::TxEip1559, eips::Encodable2718};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use serde_json::json;
use surge_exex::ProposerEvent;
use surge_interfaces::{ChainControl, TransactionOrigin, TransactionPool};
use surge_l1::LegResult;
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, test_message_sender::MessageSender, test_receiver::TestMessageReceiver},
};
use surge_sync::NoPlan;
use surge_test_utils::{dev_key, json_rpc, sign_eip1559};
use tokio::sync::watch;

use crate::{
    net::{GWEI, HeldProver, Net, start_on_manual_l1, start_proposing, until},
    ordered::{deploy, status},
    proposals::{anchor, l1_rpc, mined, succeeded},
};

/// Mines an L1 block every 50 ms until paused (the L1's clock).
struct Miner {
    url: String,
    paused: Arc<AtomicBool>,
    mining: Arc<Mutex<()>>,
    stop: Arc<AtomicBool>,
}

impl Miner {
    fn start(url: String) -> Self {
        let (paused, mining, stop) = (Arc::default(), Arc::default(), Arc::default());
        let miner = Self { url, paused, mining, stop };
        let (url, paused, mining, stop) =
            (miner.url.clone(), miner.paused.clone(), miner.mining.clone(), miner.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                {
                    let _mining = mining.lock().unwrap();
                    if !paused.load(Ordering::SeqCst) {
                        json_rpc(&url, "evm_mine", json!([]));
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        miner
    }

    /// Stops mining; returns once no block is being made.
    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        drop(self.mining.lock().unwrap());
    }

    fn mine_one(&self) {
        let _mining = self.mining.lock().unwrap();
        json_rpc(&self.url, "evm_mine", json!([]));
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Every proposer event, collected as they come.
fn collect(net: &Net) -> Arc<Mutex<Vec<ProposerEvent>>> {
    let mut events = net.proposer.as_ref().expect("the proposer runs").subscribe();
    let seen: Arc<Mutex<Vec<ProposerEvent>>> = Arc::default();
    let into = seen.clone();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            into.lock().unwrap().push(e);
        }
    });
    seen
}

/// The events' kinds and proposals, in order (a proposal's blobs are too long to print).
pub(crate) fn summary(events: &[ProposerEvent]) -> String {
    let line = |e: &ProposerEvent| match e {
        ProposerEvent::Proposed(p) => format!("proposed {} {:?}", p.id, p.l2_blocks),
        ProposerEvent::Sent { id, .. } => format!("sent {id}"),
        ProposerEvent::Replaced { id, nonce, why, .. } => format!("replaced {id} at nonce {nonce}: {why}"),
        ProposerEvent::Reorged { ids, safe } => format!("reorged {ids:?}, safe {safe}"),
        ProposerEvent::Reverted { id, failure, .. } => format!("reverted {id}: {failure:?}"),
        ProposerEvent::PreflightFailed { id, failure } => format!("pre-flight {id}: {failure}"),
        ProposerEvent::Failed { id, reason } => format!("failed {id}: {reason}"),
        ProposerEvent::RolledBack { id, from, dropped } => format!("rolled back {id} from {from}: {dropped:?}"),
        ProposerEvent::Finalized { number } => format!("finalized {number}"),
    };
    events.iter().map(line).collect::<Vec<_>>().join("; ")
}

/// The first collected event `pick` takes.
pub(crate) async fn event<T>(
    seen: &Mutex<Vec<ProposerEvent>>,
    what: &str,
    pick: impl Fn(&ProposerEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = seen.lock().unwrap().iter().find_map(&pick) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within a minute: {}",
            summary(&seen.lock().unwrap())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An L1 responder (`TestMessageReceiver`) and an L2 app that sends it a message and consumes its reply in
/// one transaction (`MessageSender.sendAndConsume`).
struct RoundTrips {
    responder: Address,
    app: Address,
}

/// A signed round trip and what the watcher answers for it.
struct RoundTrip {
    raw: Vec<u8>,
    hash: B256,
    answer: Result<Message, NoPlan>,
}

impl RoundTrips {
    async fn deploy(net: &Net) -> Self {
        let responder = deploy(net, true, 6, 0, TestMessageReceiver::BYTECODE.to_vec()).await;
        let code = [
            MessageSender::BYTECODE.to_vec(),
            MessageSender::constructorCall { _bridge: net.protocol.l2.bridge }.abi_encode(),
        ]
        .concat();
        let app = deploy(net, false, 6, 0, code).await;
        Self { responder, app }
    }

    /// `who`'s message asking the responder for `mode` with `fee` (`salt` raises its gas limit, so that
    /// otherwise equal ones differ).
    fn asking(&self, net: &Net, who: u32, (mode, salt, fee): Ask) -> Message {
        let me = dev_key(who).address();
        Message {
            fee,
            gasLimit: 1_000_000 + salt,
            srcOwner: me,
            destChainId: net.protocol.l1_chain_id,
            destOwner: me,
            to: self.responder,
            data: TestMessageReceiver::onMessageInvocationCall { data: Bytes::from_static(mode) }.abi_encode().into(),
            ..Default::default()
        }
    }

    /// The calldata of `who`'s round trip asking the responder for `mode` with `fee` (`salt` makes otherwise
    /// equal ones differ), embedding `back` (a placeholder when `None`).
    fn call_data(&self, net: &Net, who: u32, ask: Ask, back: Option<Message>) -> Bytes {
        let out = self.asking(net, who, ask);
        let placeholder = Message {
            srcChainId: net.protocol.l1_chain_id,
            destChainId: net.protocol.l2_chain_id,
            ..Default::default()
        };
        let back = back.unwrap_or(placeholder);
        MessageSender::sendAndConsumeCall { out: out.into(), back: back.into() }.abi_encode().into()
    }

    /// `who`'s round trip at `nonce` asking the responder for `mode` (`salt` makes otherwise equal ones
    /// differ), embedding the answer the watcher gives now (a placeholder when it gives none).
    async fn round_trip(&self, net: &Net, who: u32, nonce: u64, mode: &'static [u8], salt: u32) -> RoundTrip {
        self.paying(net, who, nonce, (mode, salt, 0)).await
    }

    /// [`Self::round_trip`] with a message offering a fee (the transaction sends it along).
    async fn paying(&self, net: &Net, who: u32, nonce: u64, ask: Ask) -> RoundTrip {
        let tx = |back: Option<Message>| {
            let data = self.call_data(net, who, ask, back);
            net.l2_tx(who, nonce, self.app, data, U256::from(ask.2), 3_000_000)
        };
        let blind = tx(None);
        let answer = net.watcher.answers(blind.1.clone()).await.map(|plan| plan.messages[0].answers[0].message.clone());
        let (raw, signed) = match &answer {
            Ok(answer) => tx(Some(answer.clone())),
            Err(_) => blind,
        };
        RoundTrip { raw, hash: signed.hash, answer }
    }
}

impl RoundTrips {
    /// `who`'s two messages to the responder asking for `mode`, which it takes without answering; signed.
    fn one_way(&self, net: &Net, who: u32, nonce: u64, mode: &'static [u8]) -> (Vec<u8>, B256) {
        let (a, b) = (self.asking(net, who, (mode, 0, 0)), self.asking(net, who, (mode, 1, 0)));
        let data = MessageSender::sendTwoCall { a: a.into(), b: b.into() }.abi_encode();
        let (raw, tx) = net.l2_tx(who, nonce, self.app, data.into(), U256::ZERO, 3_000_000);
        (raw, tx.hash)
    }
}

/// What a round trip asks the responder: the mode, a salt, and the fee its message offers.
type Ask = (&'static [u8], u32, u64);

/// Sends `data` to `to` on L1 from dev account `who` with a priority fee of 100 gwei (ahead of the
/// proposer's 1 gwei in the next block); its hash.
fn l1_call_ahead(net: &Net, who: u32, to: Address, data: Vec<u8>) -> B256 {
    let from = dev_key(who).address().to_string();
    let nonce: u64 = surge_test_utils::cast(&["nonce", &from, "--rpc-url", &l1_rpc(net)]).parse().unwrap();
    let tx = TxEip1559 {
        chain_id: net.protocol.l1_chain_id,
        nonce,
        gas_limit: 300_000,
        max_fee_per_gas: 200 * GWEI,
        max_priority_fee_per_gas: 100 * GWEI,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input: data.into(),
    };
    let signed = sign_eip1559(&dev_key(who), tx);
    net.l1.pool.add_transaction(TransactionOrigin::External, &signed.encoded_2718()).unwrap();
    *signed.tx_hash()
}

/// The L2 `finalized` block number.
fn finalized(net: &Net) -> u64 {
    crate::proposer::l2_tag(net, "finalized")
}

/// Plain transfers from dev account `who` after the sync transaction, each in its own block; their hashes.
async fn transfers(net: &Net, who: u32, count: u64) -> Vec<B256> {
    let mut sent = vec![];
    for nonce in 0..count {
        let (raw, tx) = net.l2_tx(who, nonce, Address::repeat_byte(0x42), Bytes::new(), U256::from(1), 21_000);
        net.submit(&raw).unwrap();
        mined(net, tx.hash).await;
        sent.push(tx.hash);
    }
    sent
}

/// The dev network on an L1 mined by hand, the proofs of sync proposals held until a race lets them go, the
/// proposer's events collected, and the round-trip apps deployed.
pub(crate) struct Racing {
    pub(crate) net: Net,
    miner: Miner,
    open: watch::Sender<bool>,
    pub(crate) seen: Arc<Mutex<Vec<ProposerEvent>>>,
    apps: RoundTrips,
}

impl Racing {
    pub(crate) async fn start() -> Self {
        // The proofs of proposals with return signals wait for the race.
        let (open, prover) = HeldProver::holding(|request| !request.signal_slots.is_empty());
        let net = start_on_manual_l1(prover).await;
        let miner = Miner::start(l1_rpc(&net));
        let seen = collect(&net);
        let apps = RoundTrips::deploy(&net).await;
        Self { net, miner, open, seen, apps }
    }

    /// `who`'s round trip asking for `mode`, planned and mined; it and its block.
    async fn mined_round_trip(&self, who: u32, mode: &'static [u8]) -> (RoundTrip, u64) {
        let trip = self.apps.round_trip(&self.net, who, 0, mode, 0).await;
        trip.answer.as_ref().expect("planned");
        self.net.submit(&trip.raw).unwrap();
        let block = mined(&self.net, trip.hash).await;
        (trip, block)
    }

    /// Holds the proposal of `block` until it is the proposer's next, then lets it go with the miner paused;
    /// once it is sent, `ahead` puts an L1 transaction in front of it and one block includes both. The
    /// proposal's L1 transaction.
    pub(crate) async fn race(&self, block: u64, ahead: impl FnOnce() -> B256) -> B256 {
        let net = &self.net;
        let id = until("the sync block's proposal next in line", || {
            net.ledger
                .closed_proposals()
                .first()
                .filter(|p| p.blocks.first().is_some_and(|b| b.number == block))
                .map(|p| p.id)
        })
        .await;
        self.miner.pause();
        self.open.send(true).unwrap();
        let tx = event(&self.seen, "proposal sent", |e| match e {
            ProposerEvent::Sent { id: i, tx } if *i == id => Some(*tx),
            _ => None,
        })
        .await;
        let first = ahead();
        assert!(net.l1.pool.get(&tx).is_some() && net.l1.pool.get(&first).is_some(), "both wait for the block");
        self.miner.mine_one();
        self.miner.resume();
        tx
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_that_answers_only_at_gas_price_zero_gets_no_plan_and_an_honest_round_trip_settles() {
    let net = start_proposing(crate::net::rules()).await;
    let seen = collect(&net);
    let apps = RoundTrips::deploy(&net).await;

    // The legs run at L1's price: the callback sees a gas price and refuses, so nothing is planned.
    let attack = apps.round_trip(&net, 7, 0, b"free-reply", 0).await;
    let refused = attack.answer.expect_err("no answer at L1's gas price");
    assert!(matches!(&refused, NoPlan::L1LegFailed(r) if r.contains("answers only for free")), "{refused}");
    net.submit(&attack.raw).unwrap();
    let reason = net.refused(attack.hash).await;
    assert!(reason.to_string().contains("answers only for free"), "{reason}");

    let honest = apps.round_trip(&net, 8, 0, b"reply", 0).await;
    let answer = honest.answer.expect("the honest callback answers");
    net.submit(&honest.raw).unwrap();
    let block = mined(&net, honest.hash).await;
    assert!(succeeded(&net, honest.hash));
    assert!(anchor(&net, block).1.contains(&answer.signal_slot(net.protocol.l1.bridge)));
    until("the finalized tag past the honest round trip", || (finalized(&net) >= block).then_some(())).await;

    let events = seen.lock().unwrap().clone();
    assert!(!events.iter().any(|e| matches!(e, ProposerEvent::Reverted { .. })), "no L1 revert: {}", summary(&events));
    // Without an answer the attacker's transaction cannot consume one: mined, it failed.
    let mined = net.l2.store.transaction_location(attack.hash).unwrap().is_some();
    assert!(!mined || !succeeded(&net, attack.hash), "the attack never settles");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_l1_reverts_is_replayed_its_culprit_dropped_and_cooled_down_and_the_rest_settles() {
    let racing = Racing::start().await;
    let (net, seen, apps) = (&racing.net, &racing.seen, &racing.apps);

    // The attacker's callback replies while the round trip is planned and built.
    let (attack, block) = racing.mined_round_trip(7, b"flaky-reply").await;
    let later = transfers(net, 5, 3).await;

    // Once its proposal is sent, the attacker turns the callback off on L1, paying to go first.
    let off = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    let reverted = racing.race(block, || l1_call_ahead(net, 7, apps.responder, off)).await;

    let failure = event(seen, "the revert", |e| match e {
        ProposerEvent::Reverted { tx, failure, .. } if *tx == reverted => Some(failure.clone()),
        _ => None,
    })
    .await
    .expect("the replay fails as L1 did");
    let legs: Vec<_> = failure.steps.iter().filter_map(|s| s.leg.as_ref()).collect();
    assert!(
        matches!(&legs[..], [leg] if matches!(&leg.result, LegResult::Retriable(r) if r.contains("failing for now"))),
        "{legs:?}"
    );
    let (from, dropped) = event(seen, "the roll-back", |e| match e {
        ProposerEvent::RolledBack { from, dropped, .. } => Some((*from, dropped.clone())),
        _ => None,
    })
    .await;
    assert_eq!(from, block, "unwound from the culprit's block");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].0, attack.hash);
    let reason = &dropped[0].1;
    assert!(reason.starts_with("L1 reverted: its L1 call failed") && reason.contains("failing for now"), "{reason}");
    let st = status(net, attack.hash).await;
    assert_eq!(st["result"]["status"], "Rejected", "{st}");
    assert!(st["result"]["reason"].as_str().unwrap().contains("failing for now"), "{st}");

    // The rest is rebuilt and settles.
    for tx in &later {
        mined(net, *tx).await;
    }
    let past = net.l2.store.head().unwrap().header.number;
    until("the finalized tag past the rebuilt blocks", || (finalized(net) >= past).then_some(())).await;
    assert!(net.l2.store.transaction_location(attack.hash).unwrap().is_none(), "the culprit is not in the chain");

    // The attacker turns the callback back on and tries five more times: cooling down, it gets no plan.
    let on = TestMessageReceiver::setFailingCall { _failing: false }.abi_encode();
    let on = l1_call_ahead(net, 7, apps.responder, on);
    until("the callback on again", || net.l1.store.transaction_location(on).unwrap()).await;
    for salt in 1..=5 {
        let again = apps.round_trip(net, 7, 0, b"flaky-reply", salt).await;
        again.answer.as_ref().expect("the callback answers again");
        net.submit(&again.raw).unwrap();
        let reason = net.refused(again.hash).await;
        assert!(matches!(&reason, NoPlan::CooledDown(r) if r.contains("cools down")), "{reason}");
        // The next block turns it away, freeing its nonce for the next try.
        until("the refused transaction out of the pool", || net.l2.pool.get(&again.hash).is_none().then_some(())).await;
        let st = status(net, again.hash).await;
        assert!(st["result"]["reason"].as_str().unwrap_or_default().contains("cools down"), "{st}");
    }

    // An honest round trip sent afterwards settles.
    let honest = apps.round_trip(net, 8, 0, b"reply", 0).await;
    honest.answer.as_ref().expect("the honest callback answers");
    net.submit(&honest.raw).unwrap();
    let block = mined(net, honest.hash).await;
    assert!(succeeded(net, honest.hash));
    until("the finalized tag past the honest round trip", || (finalized(net) >= block).then_some(())).await;

    let events = seen.lock().unwrap().clone();
    let count = |f: fn(&ProposerEvent) -> bool| events.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, ProposerEvent::Reverted { .. })), 1, "one revert on L1: {}", summary(&events));
    assert_eq!(count(|e| matches!(e, ProposerEvent::RolledBack { .. })), 1, "one roll-back: {}", summary(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l1_bridge_message_ahead_of_the_bundle_blames_nobody_and_the_range_is_proposed_again() {
    let racing = Racing::start().await;
    let (net, seen) = (&racing.net, &racing.seen);
    let (trip, block) = racing.mined_round_trip(8, b"reply").await;
    let later = transfers(net, 5, 2).await;

    // Someone sends an L1 bridge message to L2 just ahead of the bundle: every answer's id moves.
    let me = dev_key(9).address();
    let message =
        Message { srcOwner: me, destChainId: net.protocol.l2_chain_id, destOwner: me, to: me, ..Default::default() };
    let send = Bridge::sendMessageCall { message }.abi_encode();
    let mut ahead = B256::ZERO;
    racing
        .race(block, || {
            ahead = l1_call_ahead(net, 9, net.protocol.l1.bridge, send);
            ahead
        })
        .await;
    let receipt = surge_test_utils::cast(&["receipt", &ahead.to_string(), "status", "--rpc-url", &l1_rpc(net)]);
    assert!(receipt == "true" || receipt.starts_with('1'), "the L1 message went out: {receipt}");

    let dropped = event(seen, "the roll-back", |e| match e {
        ProposerEvent::RolledBack { dropped, .. } => Some(dropped.clone()),
        _ => None,
    })
    .await;
    assert_eq!(dropped, [(trip.hash, "L1 reverted, culprit unknown".to_string())]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(net.published().cooldowns().active(now), (0, 0), "nobody cools down");
    for tx in &later {
        mined(net, *tx).await;
    }
    let past = net.l2.store.head().unwrap().header.number;
    until("the finalized tag past the re-proposed range", || (finalized(net) >= past).then_some(())).await;
    let events = seen.lock().unwrap().clone();
    assert_eq!(
        events.iter().filter(|e| matches!(e, ProposerEvent::Reverted { .. })).count(),
        1,
        "{}",
        summary(&events)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_below_its_l1_cost_gets_no_plan_and_one_that_pays_it_settles() {
    let mut sim = surge_l1::SimConfig::default();
    sim.limits.fee_covers_l1 = true;
    let net = crate::net::start_with_sim(sim).await;
    let apps = RoundTrips::deploy(&net).await;

    // surge_simulateReturnMessage answers with the fee the message must offer: its leg's L1 cost.
    let me = dev_key(8).address();
    let data = apps.call_data(&net, 8, (b"reply", 0, 0), None);
    let request = json!([{ "from": me, "to": apps.app, "data": data }]);
    let url = crate::proposals::l2_rpc(&net);
    let answer =
        tokio::task::spawn_blocking(move || json_rpc(&url, "surge_simulateReturnMessage", request)).await.unwrap();
    let min_fee = answer["result"]["minFee"].as_u64().unwrap_or_else(|| panic!("a minimum fee: {answer}"));
    assert_eq!(answer["result"]["messages"][0]["minFee"].as_u64(), Some(min_fee));
    // At least the proof allowance at L1's gas price (1 gwei of tip at the least).
    assert!(min_fee >= sim.limits.proof_gas_per_message * 1_000_000_000, "{min_fee}");

    // Offering nothing: no plan, and the reason says why.
    let cheap = apps.round_trip(&net, 8, 0, b"reply", 0).await;
    cheap.answer.as_ref().expect("the answer is given, with the fee it needs");
    net.submit(&cheap.raw).unwrap();
    let reason = net.refused(cheap.hash).await;
    assert!(matches!(reason, NoPlan::FeeBelowL1Cost { fee: 0, min, .. } if min > 0), "{reason}");
    until("the refused transaction out of the pool", || net.l2.pool.get(&cheap.hash).is_none().then_some(())).await;
    let st = status(&net, cheap.hash).await;
    assert!(st["result"]["reason"].as_str().unwrap_or_default().contains("fee below L1 cost"), "{st}");

    // Paying it (with room for L1's price to move): planned, and it settles with its answer.
    let paid = apps.paying(&net, 8, 0, (b"reply", 0, 2 * min_fee)).await;
    let answer = paid.answer.expect("answered");
    net.submit(&paid.raw).unwrap();
    let block = mined(&net, paid.hash).await;
    assert!(succeeded(&net, paid.hash));
    assert!(anchor(&net, block).1.contains(&answer.signal_slot(net.protocol.l1.bridge)));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_legs_heavy_on_cold_l1_state_settle_without_a_pre_flight_failure() {
    // Each leg reads 2,000 slots no other read, under a budget of 3,000 per simulated call: every leg fits its
    // own budget, two together do not fit one. Legs may ask for up to 6,000,000 gas, so that two fill a
    // bundle and the third waits for the next proposal.
    let limits = surge_l1::BundleLimits { max_message_gas_limit: 6_000_000, ..Default::default() };
    let sim = surge_l1::SimConfig { limits, max_state_reads: 3_000, ..Default::default() };
    let net = crate::net::start_proposing_with_sim(sim).await;
    let seen = collect(&net);
    let apps = RoundTrips::deploy(&net).await;
    // Each asks after the plans before it (its answer's id follows theirs), all for one block.
    net.l2.control.pause_production();
    let mut trips = vec![];
    for who in [7, 8, 9] {
        // Room for 2,000 cold reads in the callback's gas (the salt raises the message's gas limit).
        let trip = apps.round_trip(&net, who, 0, b"heavy-reply", 4_500_000).await;
        trip.answer.as_ref().expect("a leg within its budget is planned");
        net.submit(&trip.raw).unwrap();
        // Planned into the open bundle, or deferred to the next proposal's.
        let published = net.published();
        let taken = || published.plan(&trip.hash).is_some() || published.deferred().contains(&trip.hash);
        until("planned or deferred", || taken().then_some(())).await;
        trips.push(trip);
    }
    net.l2.control.resume_production();
    let mut last = 0;
    for trip in &trips {
        last = last.max(mined(&net, trip.hash).await);
        assert!(succeeded(&net, trip.hash));
    }
    until("the finalized tag past the three round trips", || (finalized(&net) >= last).then_some(())).await;
    let events = seen.lock().unwrap().clone();
    let failed = |e: &ProposerEvent| matches!(e, ProposerEvent::PreflightFailed { .. } | ProposerEvent::Failed { .. });
    assert!(!events.iter().any(failed), "no pre-flight failure: {}", summary(&events));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l1_change_voids_a_plan_whose_legs_answer_nothing_and_the_plans_behind_it_settle() {
    let net = start_proposing(crate::net::rules()).await;
    let apps = RoundTrips::deploy(&net).await;
    net.l2.control.pause_production();
    // First in the bundle: messages the responder takes without answering, until it is told to fail.
    let (raw, first) = apps.one_way(&net, 7, 0, b"flaky");
    net.submit(&raw).unwrap();
    let plan = net.planned(first).await;
    assert!(plan.messages.iter().all(|m| m.answers.is_empty()), "its legs answer nothing");
    // Two round trips behind it.
    let mut behind = vec![];
    for who in [8, 9] {
        let trip = apps.round_trip(&net, who, 0, b"reply", 0).await;
        net.submit(&trip.raw).unwrap();
        net.planned(trip.hash).await;
        behind.push(trip);
    }
    // L1 changes under the first plan: its legs now revert.
    let failing = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    l1_call_ahead(&net, 6, apps.responder, failing);
    let reason = net.refused(first).await;
    assert!(matches!(&reason, NoPlan::L1LegFailed(why) if why.contains("failing for now")), "{reason}");
    // The plans behind it answered the same (its legs sent no answer, so no id shifted): kept as they were.
    for trip in &behind {
        assert!(net.published().plan(&trip.hash).is_some(), "{} kept its plan", trip.hash);
    }
    net.l2.control.resume_production();
    let mut last = 0;
    for trip in &behind {
        let block = mined(&net, trip.hash).await;
        assert!(succeeded(&net, trip.hash));
        let answer = trip.answer.as_ref().unwrap();
        assert!(anchor(&net, block).1.contains(&answer.signal_slot(net.protocol.l1.bridge)));
        last = last.max(block);
    }
    until("the finalized tag past the round trips", || (finalized(&net) >= last).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_roll_back_the_waiting_round_trip_is_planned_again_on_a_rebuilt_base_and_settles() {
    let racing = Racing::start().await;
    let (net, seen, apps) = (&racing.net, &racing.seen, &racing.apps);
    // An honest round trip, then the attacker's, in one block.
    net.l2.control.pause_production();
    let mut trips = vec![];
    for (who, mode) in [(8, &b"reply"[..]), (7, &b"flaky-reply"[..])] {
        let trip = apps.round_trip(net, who, 0, mode, 0).await;
        trip.answer.as_ref().expect("planned");
        net.submit(&trip.raw).unwrap();
        net.planned(trip.hash).await;
        trips.push(trip);
    }
    net.l2.control.resume_production();
    let (honest, attack) = (&trips[0], &trips[1]);
    let block = mined(net, honest.hash).await;
    assert_eq!(mined(net, attack.hash).await, block);

    // The attacker turns its callback off ahead of the bundle: the bundle reverts and is rolled back.
    let off = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    racing.race(block, || l1_call_ahead(net, 7, apps.responder, off)).await;
    let dropped = event(seen, "the roll-back", |e| match e {
        ProposerEvent::RolledBack { dropped, .. } => Some(dropped.clone()),
        _ => None,
    })
    .await;
    assert_eq!(dropped.iter().map(|(tx, _)| *tx).collect::<Vec<_>>(), [attack.hash]);

    // The honest one waits in the pool again and is planned on a base without the unwound bundle's legs:
    // its message is not already processed there, its answer is the same (its slot in the new block's
    // anchor), and it settles. (Its plan may land between two looks at the plans: the block is what counts.)
    let answer = honest.answer.as_ref().unwrap();
    let again = mined(net, honest.hash).await;
    assert!(succeeded(net, honest.hash));
    assert!(anchor(net, again).1.contains(&answer.signal_slot(net.protocol.l1.bridge)));
    until("the finalized tag past the honest round trip", || (finalized(net) >= again).then_some(())).await;

    // Its status went back to `Pending` with the roll-back recorded, and ended `Executed`; the culprit's
    // ended `Rejected`.
    let st = status(net, honest.hash).await["result"].clone();
    assert_eq!(st["status"], "Executed", "{st}");
    assert_eq!(st["l2_block_number"].as_u64(), Some(again), "{st}");
    let history = st["history"].as_array().unwrap();
    let names: Vec<&str> = history.iter().map(|t| t["status"].as_str().unwrap()).collect();
    let rolled = names.iter().rposition(|n| *n == "Pending").unwrap();
    assert!(rolled > 0 && names[..rolled].contains(&"ProvingBlock"), "mined, then back to Pending: {st}");
    assert_eq!(names[rolled + 1..], ["ProvingBlock", "Processing", "Executed"], "{st}");
    let why = history[rolled]["rolled_back"].as_str().unwrap();
    assert!(why.contains(&format!("from L2 block {block}")) && why.contains(&attack.hash.to_string()), "{why}");
    assert_eq!(status(net, attack.hash).await["result"]["status"], "Rejected");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_proposal_whose_callback_turns_off_while_it_is_proved_is_dropped_before_it_is_sent() {
    // The proof of the attacker's proposal never comes: only the check at each L1 head can end it.
    let racing = Racing::start().await;
    let (net, seen, apps) = (&racing.net, &racing.seen, &racing.apps);
    let (attack, block) = racing.mined_round_trip(7, b"flaky-reply").await;
    let later = transfers(net, 5, 2).await;
    let id = until("the attacker's proposal closed", || {
        net.ledger.closed_proposals().into_iter().find(|p| p.blocks.first().is_some_and(|b| b.number == block))
    })
    .await
    .id;

    // While it is being proved, the attacker turns its callback off on L1.
    let off = TestMessageReceiver::setFailingCall { _failing: true }.abi_encode();
    l1_call_ahead(net, 7, apps.responder, off);
    let failure = event(seen, "the pre-flight failure", |e| match e {
        ProposerEvent::PreflightFailed { id: i, failure } if *i == id => Some(failure.clone()),
        _ => None,
    })
    .await;
    let legs: Vec<_> = failure.steps.iter().filter_map(|s| s.leg.as_ref()).collect();
    assert!(
        matches!(&legs[..], [leg] if matches!(&leg.result, LegResult::Retriable(r) if r.contains("failing for now"))),
        "{legs:?}"
    );
    let dropped = event(seen, "the roll-back", |e| match e {
        ProposerEvent::RolledBack { id: i, dropped, .. } if *i == id => Some(dropped.clone()),
        _ => None,
    })
    .await;
    assert_eq!(dropped.iter().map(|(tx, _)| *tx).collect::<Vec<_>>(), [attack.hash]);
    assert!(dropped[0].1.contains("failing for now"), "{}", dropped[0].1);

    // The rest is rebuilt and settles; the doomed proposal never went to L1.
    for tx in &later {
        mined(net, *tx).await;
    }
    let past = net.l2.store.head().unwrap().header.number;
    until("the finalized tag past the rebuilt blocks", || (finalized(net) >= past).then_some(())).await;
    let events = seen.lock().unwrap().clone();
    assert!(!events.iter().any(|e| matches!(e, ProposerEvent::Sent { id: i, .. } if *i == id)), "{}", summary(&events));
    assert!(!events.iter().any(|e| matches!(e, ProposerEvent::Reverted { .. })), "{}", summary(&events));
}
