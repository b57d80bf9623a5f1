//! The L1 goes away (a proxy between the node and anvil closes) while anvil mines 300 blocks: the L2 keeps
//! producing, sync transactions and simulations say the L1 is unavailable, and once the proxy opens again
//! the queued blocks are rebuilt on a fresh anchor and everything finalizes.

use alloy_primitives::U256;
use serde_json::json;
use surge_primitives::Message;
use surge_test_utils::rpc_result;

use super::{
    Responding,
    common::{self, number},
    receipt, send_signed, wait,
};

#[test]
fn with_the_l1_away_the_l2_goes_on_without_plans_and_catches_up_on_a_fresh_anchor_when_it_returns() {
    let net = Responding::start_with(&["--proposer.confirmations", "1", "--ready.max-l1-head-age", "5"], "", true);
    let l2 = net.l2.clone();
    assert_eq!(common::ready(&l2).0, 200, "ready while the L1 answers: {:?}", common::ready(&l2));
    let head = || number(&rpc_result(&l2, "eth_blockNumber", json!([])));
    // A round trip settles while the L1 answers.
    let before = net.send(8, b"reply");
    assert_eq!(receipt(&l2, &before)["status"], "0x1");

    // The answer the next round trip would consume, as L1 gives it now.
    let fee = 2 * net.simulate(8, b"reply", 0)["result"]["minFee"].as_u64().unwrap();
    let answer = net.simulate(8, b"reply", fee);
    let back: surge_rpc_ext::MessageJson = serde_json::from_value(answer["result"]["message"].clone()).unwrap();

    net.proxy.as_ref().unwrap().close();
    // `/ready` answers 503 naming the stale L1 head, within the bound and 10 s.
    let closed = std::time::Instant::now();
    let stale = loop {
        let (status, body) = common::ready(&l2);
        let reasons = body["reasons"].to_string();
        if status == 503 && reasons.contains("L1 head stale") {
            break reasons;
        }
        assert!(closed.elapsed() < std::time::Duration::from_secs(15), "/ready did not turn 503: {body}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(stale.contains("bound 5 s"), "{stale}");
    let sync = rpc_result(&l2, "surge_syncStatus", json!([]));
    assert!(sync["l1"]["unansweredSince"].is_u64() && sync["l1"]["headAgeSeconds"].as_u64() > Some(5), "{sync}");
    // Simulations say the L1 is unavailable, and the L2 keeps producing.
    wait("simulations did not say the L1 is unavailable", || {
        net.simulate(8, b"reply", 0)["error"]["message"].as_str() == Some("L1 unavailable")
    });
    let cut_at = head();
    wait("the L2 stopped producing", || head() >= cut_at + 3);
    // That round trip, sent now, gets no plan: the L1 is unavailable.
    let data = net.data(8, b"reply", fee, Message::from(back));
    let trip = send_signed(&l2, 8, alloy_primitives::TxKind::Call(net.app), data, U256::from(fee), 1_000_000_000);
    let reason = net.rejected(&trip);
    assert!(reason.contains("L1 unavailable"), "{reason}");
    // Meanwhile L1 goes on without the node: 300 blocks, past every anchor's window.
    net.rpc_l1("anvil_mine", json!(["0x12c"]));

    net.proxy.as_ref().unwrap().open();
    wait("/ready did not recover", || common::ready(&l2).0 == 200);
    // The blocks queued meanwhile anchor too far back for L1 now: rebuilt on a fresh anchor, never sent.
    wait("the queued blocks were not rebuilt", || net.log().contains("unwound the unproposed blocks to rebuild them"));
    wait("the L2 did not build past where it was", || head() >= cut_at + 3);
    net.finalized_past_now();
    let log = net.log();
    assert!(log.contains("the L1 is back"), "{log}");
    // Round trips are planned again and settle; the proposer paid for no revert.
    let after = net.send(8, b"reply");
    assert_eq!(receipt(&l2, &after)["status"], "0x1");
    net.finalized_past_now();
    assert_eq!(net.proposer_reverts(), 0, "the proposer paid for no revert");
}
