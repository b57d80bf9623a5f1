//! Builder benchmark: time to build blocks of 10, 100 and 1000 transactions with the surge builder next to
//! the host's plain Ethereum builder on the same signed transactions and the same genesis, in one run;
//! then the cost of the consistency pass on its own (blocks where one transaction in ten, at most 30,
//! sends a bridge message that a return slot depends on).
//!
//! Run: `cargo bench -p surge-builder --bench builder` (release build; prints tables, asserts only that
//! both builders include the same transactions).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    consensus::{Sealed, SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, Bytes, TxKind, U256, aliases::U48, keccak256};
use alloy_sol_types::SolCall;
use surge_builder::{
    BuilderConfig, BuiltPayload, InputQueue, ListTransactions, NextBlockAttributes, OutboundDependency, ReturnSlot,
    SurgePayloadBuilder,
};
use surge_host::{
    ChainSpec, Store,
    execute::{BlockInput, TxSource, build_block},
    seams::HostEvmConfig,
};
use surge_primitives::{Checkpoint, L2Predeploys, Message, bindings::bridge::Bridge};
use surge_test_utils::dev_key;

const SENDERS: u32 = 10;
const L1_CHAIN_ID: u64 = 3151908;

/// The Ethereum builder's candidates, in order.
struct InOrder<I>(I);

impl<I: Iterator<Item = Recovered<TxEnvelope>>> TxSource for InOrder<I> {
    fn next_tx(&mut self, _gas_left: u64) -> Option<Recovered<TxEnvelope>> {
        self.0.next()
    }

    fn skip_invalid(&mut self, _tx: &Recovered<TxEnvelope>, _kind: surge_interfaces::InvalidKind) -> bool {
        true
    }
}

struct Workload {
    txs: Vec<Recovered<TxEnvelope>>,
    /// One return slot per message-sending transaction.
    slots: Vec<ReturnSlot>,
}

fn sign(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    input: Vec<u8>,
    gas: u64,
) -> Recovered<TxEnvelope> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input: input.into(),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(sig)), key.address())
}

/// `n` transactions round-robin over the dev senders; with `messages`, one in ten (at most 30, what an
/// anchor carries with a margin) calls `bridge.sendMessage` directly and gets a planned return slot.
fn workload(chain_id: u64, n: usize, messages: bool) -> Workload {
    let keys: Vec<PrivateKeySigner> = (0..SENDERS).map(dev_key).collect();
    let bridge = L2Predeploys::for_chain(chain_id).bridge;
    let mut nonces: BTreeMap<Address, u64> = BTreeMap::new();
    let mut next_message_id = 0;
    let mut out = Workload { txs: vec![], slots: vec![] };
    let every = (n / 30).max(10);
    for i in 0..n {
        let key = &keys[i % keys.len()];
        let nonce = nonces.entry(key.address()).or_insert(0);
        let tx = if messages && i % every == 0 {
            let message = Message {
                srcOwner: key.address(),
                destOwner: key.address(),
                destChainId: L1_CHAIN_ID,
                to: Address::repeat_byte(0x70),
                data: Bytes::from(i.to_be_bytes().to_vec()),
                ..Default::default()
            };
            let call = Bridge::sendMessageCall { message: message.clone() };
            let tx = sign(key, chain_id, *nonce, bridge, call.abi_encode(), 200_000);
            let sent = message.with_bridge_assigned(next_message_id, key.address(), chain_id);
            next_message_id += 1;
            out.slots.push(ReturnSlot {
                slot: keccak256(sent.hash()),
                depends_on: OutboundDependency { tx_hash: *tx.tx_hash(), message: sent },
            });
            tx
        } else {
            sign(key, chain_id, *nonce, Address::with_last_byte((i % 200) as u8 + 1), vec![], 21_000)
        };
        *nonce += 1;
        out.txs.push(tx);
    }
    out
}

struct Chains {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    l2: Arc<ChainSpec>,
    l2_store: Store,
    eth: ChainSpec,
    eth_store: Store,
}

fn chains() -> Chains {
    let path = surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json");
    let l2 = Arc::new(ChainSpec::from_genesis_file(&path).unwrap());
    // The same genesis and chain id under plain Ethereum rules: the same signed transactions are valid.
    let mut eth = ChainSpec::from_genesis_file(&path).unwrap();
    eth.l2 = None;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let l2_store = Store::open(dirs.0.path(), &l2).unwrap();
    let eth_store = Store::open(dirs.1.path(), &eth).unwrap();
    Chains { _dirs: dirs, l2, l2_store, eth, eth_store }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn surge_build(
    builder: &SurgePayloadBuilder<HostEvmConfig, Arc<InputQueue>>,
    c: &Chains,
    txs: &[Recovered<TxEnvelope>],
) -> (Duration, BuiltPayload) {
    let head = c.l2_store.head().unwrap();
    let parent = Sealed::new_unchecked(head.header.clone(), head.hash);
    let attributes = NextBlockAttributes {
        timestamp: head.header.timestamp + 2,
        fee_recipient: Address::repeat_byte(0xcb),
        l1_checkpoint: Some(Checkpoint {
            blockNumber: U48::from(1),
            blockHash: keccak256("1"),
            stateRoot: keccak256("r"),
        }),
        ..Default::default()
    };
    let start = Instant::now();
    let payload = builder.build(&c.l2_store, &parent, &attributes, &mut ListTransactions::new(txs.to_vec())).unwrap();
    (start.elapsed(), payload)
}

fn eth_build(c: &Chains, txs: &[Recovered<TxEnvelope>]) -> (Duration, usize) {
    let parent = c.eth_store.head().unwrap();
    let input = BlockInput {
        timestamp: parent.header.timestamp + 2,
        fee_recipient: Address::repeat_byte(0xcb),
        ..Default::default()
    };
    let start = Instant::now();
    let block =
        build_block(&c.eth, c.eth_store.latest_state().unwrap(), &parent, &input, &mut InOrder(txs.iter().cloned()))
            .unwrap();
    (start.elapsed(), block.body.transactions.len())
}

fn main() {
    let c = chains();
    let queue = Arc::new(InputQueue::new());
    let config = BuilderConfig::new(c.l2.chain_id, 50);
    let builder = SurgePayloadBuilder::new(HostEvmConfig(c.l2.clone()), queue.clone(), config).unwrap();

    println!("== block build time, same transactions (median of the runs; surge = anchor + L2 fee rules + checks)");
    println!("{:<10} {:>5} {:>12} {:>12} {:>8}", "txs", "runs", "ethereum ms", "surge ms", "ratio");
    for n in [10usize, 100, 1000] {
        let w = workload(c.l2.chain_id, n, false);
        let runs = if n == 1000 { 7 } else { 21 };
        let (mut eth, mut surge) = (vec![], vec![]);
        for _ in 0..runs {
            let (t, count) = eth_build(&c, &w.txs);
            assert_eq!(count, n, "the Ethereum builder includes every transaction");
            eth.push(t);
            let (t, payload) = surge_build(&builder, &c, &w.txs);
            assert_eq!(payload.body.transactions.len(), n + 1, "the surge builder includes every transaction");
            surge.push(t);
        }
        let (e, s) = (median(eth), median(surge));
        println!("{:<10} {:>5} {:>12.3} {:>12.3} {:>8.2}", n, runs, ms(e), ms(s), s.as_secs_f64() / e.as_secs_f64());
    }

    println!();
    println!("== consistency pass: 1 in 10 transactions (at most 30) sends a bridge message backed by a return slot");
    println!(
        "{:<10} {:>6} {:>14} {:>14} {:>14} {:>12}",
        "txs", "slots", "no slots ms", "with slots ms", "tracing ms", "check ms"
    );
    for n in [10usize, 100, 1000] {
        let w = workload(c.l2.chain_id, n, true);
        let runs = if n == 1000 { 7 } else { 21 };
        let (mut plain, mut with, mut check) = (vec![], vec![], vec![]);
        for _ in 0..runs {
            let (t, _) = surge_build(&builder, &c, &w.txs);
            plain.push(t);
            for s in &w.slots {
                queue.push_return_slot(s.clone());
            }
            let (t, payload) = surge_build(&builder, &c, &w.txs);
            assert_eq!(payload.inputs.return_slots.len(), w.slots.len(), "every slot is backed");
            assert_eq!(payload.stats.passes, 1);
            with.push(t);
            check.push(payload.stats.consistency);
            // Not committed: clear the queue for the next run.
            queue.committed(payload.header.number, &payload.inputs);
        }
        let (p, w_, k) = (median(plain), median(with), median(check));
        println!(
            "{:<10} {:>6} {:>14.3} {:>14.3} {:>14.3} {:>12.4}",
            n,
            w.slots.len(),
            ms(p),
            ms(w_),
            ms(w_.saturating_sub(p)),
            ms(k)
        );
    }
    println!("(tracing = the traced execution of the message-sending transactions, with slots minus without)");
}
