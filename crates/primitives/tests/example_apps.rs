//! The example apps as the dev genesis deploys them, both legs in order: the L2 call (with the fast signal
//! of the L1 answer set, as the anchor sets it), then the L1 callback through the L1 bridge's
//! `processMessage` in relayer mode with the gas the request carries (as the proposer's bundle runs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolValue};
use common::{Chain, Outcome, Tx, account, ether};
use revm::primitives::hardfork::SpecId;
use surge_primitives::{
    Message,
    bindings::{
        bridge::Bridge,
        examples::{
            bridged_swap_token::BridgedSwapToken, constant_product_pool::ConstantProductPool,
            flash_loan_executor_l2::FlashLoanExecutorL2, lending_pool::LendingPool, swap_token::SwapToken,
            swap_vault_l2::SwapVaultL2,
        },
        signal_service::SignalService,
        test_receiver::TestMessageReceiver,
    },
    min_gas_limit, signal_slot,
    slots::{bridge::message_status_key, signal_service::received_signal_key},
};

const DONE: u8 = 2;
const RETRIABLE: u8 = 1;
/// The callback gas RoundTripL2 asks for.
const L1_CALLBACK_GAS: u64 = 500_000;

fn addresses() -> serde_json::Value {
    let path = common::workspace_root().join("etc/dev/addresses.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn addr(v: &serde_json::Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

/// One side of the dev network: its chain loaded from the dev genesis, bridge and signal service.
struct Side {
    chain: Chain,
    chain_id: u64,
    bridge: Address,
    signal_service: Address,
}

impl Side {
    fn next_message_id(&mut self) -> u64 {
        self.chain.read(self.bridge, Bridge::nextMessageIdCall {})
    }

    /// Marks `slot` received through the fast path, as the chain's syncer (anchor or inbox) does.
    fn mark_received(&mut self, slot: B256) {
        self.chain.set_storage(self.signal_service, U256::from_be_bytes(received_signal_key(slot).0), U256::from(1));
    }

    fn sent(&mut self, app: Address, signal: B256) -> bool {
        self.chain.read(self.signal_service, SignalService::isSignalSent_0Call { app, signal })
    }

    fn status(&self, m: &Message) -> u8 {
        self.chain.storage(self.bridge, U256::from_be_bytes(message_status_key(m.hash()).0)).to::<u8>()
    }
}

struct Dev {
    l1: Side,
    l2: Side,
    apps: serde_json::Value,
    user: Address,
    relayer: Address,
}

fn dev() -> Dev {
    let a = addresses();
    let p = &a["protocol"];
    let l1 = Side {
        chain: Chain::from_genesis("etc/dev/l1-genesis.json", SpecId::PRAGUE),
        chain_id: p["l1_chain_id"].as_u64().unwrap(),
        bridge: addr(&p["l1"]["bridge"]),
        signal_service: addr(&p["l1"]["signal_service"]),
    };
    let l2 = Side {
        chain: Chain::from_genesis("etc/dev/l2-genesis.json", SpecId::SHANGHAI),
        chain_id: p["l2_chain_id"].as_u64().unwrap(),
        bridge: addr(&p["l2"]["bridge"]),
        signal_service: addr(&p["l2"]["signal_service"]),
    };
    let mut d = Dev { l1, l2, apps: a["apps"].clone(), user: account(50), relayer: account(51) };
    d.l2.chain.set_balance(d.user, ether(1_000));
    d.l1.chain.set_balance(d.relayer, ether(1));
    d
}

/// The `onMessageInvocation(payload)` calldata the round-trip contracts exchange.
fn invocation(payload: Vec<u8>) -> Bytes {
    TestMessageReceiver::onMessageInvocationCall { data: payload.into() }.abi_encode().into()
}

/// The request an L2 round-trip contract `l2_app` sends to `l1_app` for `user` with `payload` and `value`.
fn predicted_request(d: &mut Dev, l2_app: Address, l1_app: Address, payload: Vec<u8>, value: U256) -> Message {
    let data = invocation(payload);
    let id = d.l2.next_message_id();
    Message {
        id,
        fee: 0,
        gasLimit: (min_gas_limit(data.len()) + L1_CALLBACK_GAS) as u32,
        from: l2_app,
        srcChainId: d.l2.chain_id,
        srcOwner: d.user,
        destChainId: d.l1.chain_id,
        destOwner: d.user,
        to: l1_app,
        value,
        data,
    }
}

/// The answer `l1_app` sends back to `l2_app` for `request` with `result`.
fn predicted_answer(d: &mut Dev, l1_app: Address, l2_app: Address, request: &Message, result: Vec<u8>) -> Message {
    let id = d.l1.next_message_id();
    Message {
        id,
        fee: 0,
        gasLimit: 0,
        from: l1_app,
        srcChainId: d.l1.chain_id,
        srcOwner: l1_app,
        destChainId: d.l2.chain_id,
        destOwner: l2_app,
        to: l2_app,
        value: U256::ZERO,
        data: invocation((request.hash(), Bytes::from(result)).abi_encode_params()),
    }
}

/// The L1 leg: the request reaches L1 through the fast path and a relayer (the proposer's multicall in
/// production, never the destination owner) processes it with the request's gas limit.
fn run_l1_leg(d: &mut Dev, request: &Message) -> Outcome {
    d.l1.mark_received(signal_slot(d.l2.chain_id, d.l2.bridge, request.hash()));
    assert_ne!(d.relayer, request.destOwner, "relayer mode");
    let call = Bridge::processMessageCall { message: request.clone(), proof: Bytes::new() };
    let gas = u64::from(request.gasLimit) * 64 / 63 + 200_000;
    d.l1.chain.exec(Tx::sol(d.relayer, d.l1.bridge, call).gas(gas)).expect_ok()
}

/// Uniswap-v2 style constant product with a 0.3% input fee.
fn amount_out(eth_in: U256, reserve_eth: U256, reserve_token: U256) -> U256 {
    let in_with_fee = eth_in * U256::from(9_970);
    in_with_fee * reserve_token / (reserve_eth * U256::from(10_000) + in_with_fee)
}

#[test]
fn cross_chain_swap_round_trip() {
    let mut d = dev();
    let user = d.user;
    let s = d.apps["crossChainSwap"].clone();
    let (l1_pool, l1_vault, l1_token) = (addr(&s["l1Pool"]), addr(&s["l1Vault"]), addr(&s["l1Token"]));
    let (l2_vault, l2_token) = (addr(&s["l2Vault"]), addr(&s["l2Token"]));

    // The dev genesis gave the pool liquidity.
    let reserve_eth = d.l1.chain.read(l1_pool, ConstantProductPool::reserveETHCall {});
    let reserve_token = d.l1.chain.read(l1_pool, ConstantProductPool::reserveTokenCall {});
    assert_eq!(reserve_eth, ether(1_000));
    assert_eq!(reserve_token, ether(2_000_000));
    assert_eq!(d.l1.chain.balance(l1_pool), reserve_eth);
    assert_eq!(d.l1.chain.read(l1_token, SwapToken::balanceOfCall(l1_pool)), reserve_token);

    let eth_in = ether(3);
    let expected_out = amount_out(eth_in, reserve_eth, reserve_token);
    let min_out = expected_out - U256::from(1);
    let request = predicted_request(&mut d, l2_vault, l1_vault, (user, min_out).abi_encode_params(), eth_in);
    let answer = predicted_answer(&mut d, l1_vault, l2_vault, &request, (user, expected_out).abi_encode_params());
    let swap = |answer: &Message| SwapVaultL2::swapETHForTokenViaL1Call {
        minOut: min_out,
        returnMessage: answer.clone().into(),
    };

    // Without the answer on L2 the whole transaction reverts: nothing is sent, nothing is paid.
    let eth_before = d.l2.chain.balance(d.user);
    let out = d.l2.chain.exec(Tx::sol(d.user, l2_vault, swap(&answer)).value(eth_in));
    out.expect_revert::<Bridge::B_SIGNAL_NOT_RECEIVED>();
    assert_eq!(d.l2.chain.balance(d.user), eth_before);
    assert!(!d.l2.sent(d.l2.bridge, request.hash()));

    // L2 leg: the anchor marked the answer received; the user is credited in the same transaction.
    d.l2.mark_received(signal_slot(d.l1.chain_id, d.l1.bridge, answer.hash()));
    let out = d.l2.chain.exec(Tx::sol(d.user, l2_vault, swap(&answer)).value(eth_in)).expect_ok();
    assert_eq!(out.decode::<SwapVaultL2::swapETHForTokenViaL1Call>(), expected_out);
    assert!(d.l2.sent(d.l2.bridge, request.hash()), "the request went out as predicted");
    assert_eq!(d.l2.status(&answer), DONE);
    assert_eq!(d.l2.chain.read(l2_token, BridgedSwapToken::balanceOfCall(d.user)), expected_out);
    assert_eq!(d.l2.chain.balance(d.user), eth_before - eth_in);

    // L1 leg: the vault swaps on the pool and sends exactly the answer L2 consumed.
    run_l1_leg(&mut d, &request);
    assert_eq!(d.l1.status(&request), DONE);
    assert!(d.l1.sent(d.l1.bridge, answer.hash()), "L1 produced the answer L2 consumed");
    assert_eq!(d.l1.chain.read(l1_pool, ConstantProductPool::reserveETHCall {}), reserve_eth + eth_in);
    assert_eq!(d.l1.chain.read(l1_pool, ConstantProductPool::reserveTokenCall {}), reserve_token - expected_out);
    assert_eq!(d.l1.chain.read(l1_token, SwapToken::balanceOfCall(l1_vault)), expected_out);
    // The product never decreases (the fee stays in the pool).
    assert!((reserve_eth + eth_in) * (reserve_token - expected_out) >= reserve_eth * reserve_token);
}

#[test]
fn a_swap_below_the_minimum_fails_on_l1_and_answers_nothing() {
    let mut d = dev();
    let user = d.user;
    let s = d.apps["crossChainSwap"].clone();
    let (l1_pool, l1_vault, l2_vault) = (addr(&s["l1Pool"]), addr(&s["l1Vault"]), addr(&s["l2Vault"]));
    let reserve_token = d.l1.chain.read(l1_pool, ConstantProductPool::reserveTokenCall {});
    let eth_in = ether(1);
    let min_out = amount_out(eth_in, ether(1_000), reserve_token) + U256::from(1);
    let request = predicted_request(&mut d, l2_vault, l1_vault, (user, min_out).abi_encode_params(), eth_in);
    let next_answer_id = d.l1.next_message_id();
    run_l1_leg(&mut d, &request);
    assert_eq!(d.l1.status(&request), RETRIABLE, "the callback reverted");
    assert_eq!(d.l1.next_message_id(), next_answer_id, "no answer was sent");
    assert_eq!(d.l1.chain.read(l1_pool, ConstantProductPool::reserveTokenCall {}), reserve_token);
}

#[test]
fn flash_loan_round_trip() {
    let mut d = dev();
    let user = d.user;
    let f = d.apps["flashLoan"].clone();
    let (pool, l1_executor, l2_executor) = (addr(&f["l1LendingPool"]), addr(&f["l1Executor"]), addr(&f["l2Executor"]));
    let liquidity = d.l1.chain.balance(pool);
    assert_eq!(liquidity, ether(1_000), "the dev genesis funded the lending pool");

    // 1% of the amount, rounded up.
    let amount = ether(250) + U256::from(1);
    let fee = (amount * U256::from(100) + U256::from(9_999)) / U256::from(10_000);
    assert_eq!(d.l2.chain.read(l2_executor, FlashLoanExecutorL2::flashFeeCall { amount }), fee);

    let request = predicted_request(&mut d, l2_executor, l1_executor, (user, amount).abi_encode_params(), fee);
    let answer = predicted_answer(&mut d, l1_executor, l2_executor, &request, (user, amount, fee).abi_encode_params());
    let call = |value| {
        Tx::sol(
            d.user,
            l2_executor,
            FlashLoanExecutorL2::flashLoanViaL1Call { amount, returnMessage: answer.clone().into() },
        )
        .value(value)
    };
    let wrong_fee = call(fee - U256::from(1));
    d.l2.chain.exec(wrong_fee).expect_revert::<FlashLoanExecutorL2::FL_FEE_MISMATCH>();

    // L2 leg.
    d.l2.mark_received(signal_slot(d.l1.chain_id, d.l1.bridge, answer.hash()));
    let out = d.l2.chain.exec(call(fee)).expect_ok();
    assert_eq!(out.decode::<FlashLoanExecutorL2::flashLoanViaL1Call>(), request.hash());
    let loan = d.l2.chain.read(l2_executor, FlashLoanExecutorL2::loansCall { requestHash: request.hash() });
    assert_eq!((loan.user, loan.amount, loan.fee), (d.user, amount, fee));

    // L1 leg: borrowed, used and repaid with the fee inside the callback; the answer matches.
    let out = run_l1_leg(&mut d, &request);
    assert_eq!(d.l1.status(&request), DONE);
    assert!(d.l1.sent(d.l1.bridge, answer.hash()), "L1 produced the answer L2 consumed");
    assert_eq!(d.l1.chain.balance(pool), liquidity + fee);
    assert_eq!(d.l1.chain.read(pool, LendingPool::totalFeesCall {}), fee);
    assert_eq!(d.l1.chain.balance(l1_executor), U256::ZERO, "nothing left behind");
    let loans: Vec<_> = out
        .logs()
        .into_iter()
        .filter(|l| l.address == pool)
        .filter_map(|l| <LendingPool::FlashLoan as alloy_sol_types::SolEvent>::decode_log_data(&l.data).ok())
        .collect();
    assert_eq!(loans.len(), 1);
    assert_eq!((loans[0].borrower, loans[0].amount, loans[0].fee), (l1_executor, amount, fee));
}

#[test]
fn answers_replayed_from_elsewhere_or_for_another_request_do_not_complete_a_swap() {
    let mut d = dev();
    let user = d.user;
    let s = d.apps["crossChainSwap"].clone();
    let (l1_vault, l2_vault) = (addr(&s["l1Vault"]), addr(&s["l2Vault"]));
    let eth_in = ether(1);
    let swap = |answer: &Message| SwapVaultL2::swapETHForTokenViaL1Call {
        minOut: U256::ZERO,
        returnMessage: answer.clone().into(),
    };
    let attempt = |d: &mut Dev, answer: &Message| {
        d.l2.mark_received(signal_slot(d.l1.chain_id, d.l1.bridge, answer.hash()));
        d.l2.chain.exec(Tx::sol(user, l2_vault, swap(answer)).value(eth_in))
    };
    let no_answer = |out: &Outcome| {
        out.expect_revert::<SwapVaultL2::RT_NO_ANSWER>();
        let e = <SwapVaultL2::RT_NO_ANSWER as alloy_sol_types::SolError>::abi_decode(&out.output()).unwrap();
        assert_eq!(e.status, RETRIABLE, "the answer's invocation failed");
    };

    // An answer that claims to come from the L1 vault but is sent by another L1 account.
    let request = predicted_request(&mut d, l2_vault, l1_vault, (user, U256::ZERO).abi_encode_params(), eth_in);
    let mut forged = predicted_answer(&mut d, l1_vault, l2_vault, &request, (user, ether(1_000)).abi_encode_params());
    forged.from = account(77);
    no_answer(&attempt(&mut d, &forged));

    // The L1 vault's answer to some other request.
    let mut other = request.clone();
    other.id += 100;
    let misdirected = predicted_answer(&mut d, l1_vault, l2_vault, &other, (user, ether(1)).abi_encode_params());
    no_answer(&attempt(&mut d, &misdirected));

    // The right answer completes it once; replayed in a second swap it is refused by the bridge.
    let answer = predicted_answer(&mut d, l1_vault, l2_vault, &request, (user, ether(2)).abi_encode_params());
    attempt(&mut d, &answer).expect_ok();
    attempt(&mut d, &answer).expect_revert::<Bridge::B_STATUS_MISMATCH>();
}

#[test]
fn the_owner_takes_the_liquidity_back() {
    let mut d = dev();
    let owner = addr(&addresses()["roles"]["owner"]);
    let (s, f) = (d.apps["crossChainSwap"].clone(), d.apps["flashLoan"].clone());
    let (pool, token, lending) = (addr(&s["l1Pool"]), addr(&s["l1Token"]), addr(&f["l1LendingPool"]));
    let to = account(60);
    let take = ConstantProductPool::removeLiquidityCall { eth: ether(10), tokens: ether(20_000), to };
    d.l1.chain.exec(Tx::sol(d.relayer, pool, take.clone())).expect_revert::<ConstantProductPool::POOL_NOT_OWNER>();
    d.l1.chain.exec(Tx::sol(owner, pool, take)).expect_ok();
    assert_eq!(d.l1.chain.balance(to), ether(10));
    assert_eq!(d.l1.chain.read(token, SwapToken::balanceOfCall(to)), ether(20_000));
    assert_eq!(d.l1.chain.read(pool, ConstantProductPool::reserveETHCall {}), ether(990));

    let withdraw = LendingPool::withdrawCall { amount: ether(5), to };
    d.l1.chain.exec(Tx::sol(d.relayer, lending, withdraw.clone())).expect_revert::<LendingPool::LP_NOT_OWNER>();
    d.l1.chain.exec(Tx::sol(owner, lending, withdraw)).expect_ok();
    assert_eq!(d.l1.chain.balance(to), ether(15));
}
