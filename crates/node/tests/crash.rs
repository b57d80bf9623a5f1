//! Crash safety: a child process commits blocks in a loop and is SIGKILLed at random moments; after
//! every kill the store reopens at the last committed block (most kills land between durable commits,
//! so the block log's replay brings it back) and its state root recomputed from the stored plain state
//! equals the head header's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::SolCall;
use common::{TestChain, key};
use revm::DatabaseRef;
use surge_primitives::bindings::test_storage_logs::StorageLogs;

const CHILD_ENV: &str = "SURGE_CRASH_CHILD_DIR";

#[test]
#[ignore = "child process of crash_safety_under_sigkill; it runs forever"]
fn crash_child() {
    let dir = std::env::var(CHILD_ENV).expect("run by crash_safety_under_sigkill");
    let mut chain = TestChain::open_at(std::path::Path::new(&dir));
    let stdout = std::io::stdout();
    loop {
        // Nonces come from the store, so a restarted child continues where the last one stopped.
        let state = chain.store.latest_state().unwrap();
        let mut txs = vec![];
        for i in 0..4u8 {
            let from = key(i);
            let nonce = state.basic_ref(from.address()).unwrap().map(|a| a.nonce).unwrap_or(0);
            chain.nonces.insert(from.address(), nonce);
            let to = Address::with_last_byte(i.wrapping_mul(31).wrapping_add(nonce as u8));
            txs.push(chain.tx(&from, TxKind::Call(to), U256::from(nonce + 1), vec![]));
        }
        // Contracts and slots set and cleared, so that replaying the block log covers code and storage: a
        // new contract every eighth block, otherwise a slot of the first one set or cleared.
        let deployer = key(4);
        let nonce = state.basic_ref(deployer.address()).unwrap().map(|a| a.nonce).unwrap_or(0);
        chain.nonces.insert(deployer.address(), nonce);
        let app = deployer.address().create(0);
        txs.push(if nonce.is_multiple_of(8) {
            chain.tx(&deployer, TxKind::Create, U256::ZERO, StorageLogs::BYTECODE.to_vec())
        } else {
            let call = StorageLogs::storeCall { key: U256::from(nonce % 3), value: U256::from(nonce % 2) };
            chain.tx(&deployer, TxKind::Call(app), U256::ZERO, call.abi_encode())
        });
        drop(state);
        let header = chain.block(txs);
        let mut out = stdout.lock();
        writeln!(out, "committed {}", header.header.number).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn crash_safety_under_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    drop(TestChain::open_at(dir.path())); // genesis
    let exe = std::env::current_exe().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut kills_mid_run = 0;
    let mut unreported = 0;
    let mut logged = 0;
    for round in 0..24 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(40 + seed % 260);
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads", "1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("committed ") {
                    last = n.trim().parse::<u64>().ok();
                }
            }
            last
        });
        let started = Instant::now();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let last_reported = reader.join().unwrap();
        // Blocks committed since the last durable commit are in the block log, to be replayed.
        logged += usize::from(std::fs::metadata(dir.path().join("blocks.log")).map(|m| m.len() > 0).unwrap_or(false));

        let chain = TestChain::open_at(dir.path());
        let head = chain.store.head().unwrap();
        if let Some(last) = last_reported {
            kills_mid_run += 1;
            unreported += usize::from(head.header.number == last + 1);
            // Everything reported was durable; at most one more block committed before it was reported.
            assert!(
                head.header.number == last || head.header.number == last + 1,
                "round {round}: child reported block {last}, store reopened at {} (killed after {:?})",
                head.header.number,
                started.elapsed()
            );
        }
        assert_eq!(chain.full_state_root(), head.header.state_root, "round {round}: state root after restart");
        // Parent hashes link up to the head.
        let parent = chain.store.header(head.header.number.saturating_sub(1)).unwrap().unwrap();
        if head.header.number > 0 {
            assert_eq!(head.header.parent_hash, parent.hash);
        }
    }
    let blocks = TestChain::open_at(dir.path()).store.head().unwrap().header.number;
    println!(
        "{kills_mid_run} kills of a committing child, {unreported} right after a commit it had not reported, {logged} with blocks to replay from the block log; {blocks} blocks"
    );
    assert!(logged >= 10, "only {logged} kills left blocks in the block log");
    assert!(kills_mid_run >= 20, "only {kills_mid_run} kills hit a child that had committed blocks");
}

/// Blocks a crash took from redb come back from the block log, but a log left behind by an earlier
/// durable commit (here: written back after an unwind made everything durable) must not bring unwound
/// blocks back; a torn record at the end of the log is cut off.
#[test]
fn block_log_replays_only_its_epoch_and_cuts_a_torn_tail() {
    let mut chain = TestChain::new();
    let log = chain.path().join("blocks.log");
    for i in 0..5u8 {
        let tx = chain.tx(&key(0), TxKind::Call(Address::with_last_byte(i)), U256::from(1), vec![]);
        chain.block(vec![tx]);
    }
    let logged = std::fs::read(&log).unwrap();
    assert!(!logged.is_empty(), "blocks 1..=5 were committed without waiting for the disk");
    let kept = chain.store.header(2).unwrap().unwrap();
    chain.store.unwind_to(2).unwrap();
    assert!(std::fs::read(&log).unwrap().is_empty(), "the unwind's durable commit emptied the log");

    // The old records (blocks 3..=5 of the unwound chain extend block 2) plus half a record.
    let mut stale = logged.clone();
    stale.extend_from_slice(&logged[..logged.len() / 10]);
    std::fs::write(&log, &stale).unwrap();
    let chain = chain.reopen();
    let head = chain.store.head().unwrap();
    assert_eq!((head.header.number, head.hash), (2, kept.hash), "unwound blocks came back from a stale log");
    assert!(std::fs::read(&log).unwrap().is_empty(), "opening empties the log after replaying");
    assert_eq!(chain.full_state_root(), head.header.state_root);

    // What a proposer calls before its blocks leave the node.
    let mut chain = chain;
    let tx = chain.tx(&key(1), TxKind::Call(Address::with_last_byte(9)), U256::from(1), vec![]);
    chain.block(vec![tx]);
    assert!(!std::fs::read(&log).unwrap().is_empty());
    chain.store.flush().unwrap();
    assert!(std::fs::read(&log).unwrap().is_empty(), "a flush makes the logged blocks durable");
}
