//! L2 block production: the producer loop with the surge builder on the dev genesis fills blocks from the
//! pool behind the anchor, consumes staged inputs only when it commits, and follows the EIP-4396 base fee.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::SignerSync,
};
use alloy_primitives::{Address, TxKind, U256, aliases::U48, keccak256};
use surge_builder::{BlockInputs, BuilderConfig, CheckpointSource, InputQueue, SurgeNodeBuilder};
use surge_host::{
    ChainSpec, Store,
    notifications::Chain,
    producer::{ProduceError, Producer},
    seams::{HostEvmConfig, PoolHandle, pool_config},
};
use surge_primitives::{Checkpoint, GOLDEN_TOUCH_ADDRESS, received_signal_key};
use surge_test_utils::dev_key;
use surge_txpool::TxPool;

/// An L1 view that can be switched off.
struct L1 {
    up: Mutex<bool>,
}

impl CheckpointSource for L1 {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        if !*self.up.lock().unwrap() {
            return Err("L1 unreachable".into());
        }
        Ok(Checkpoint { blockNumber: U48::from(9), blockHash: keccak256("l1 9"), stateRoot: keccak256("l1 root 9") })
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    spec: Arc<ChainSpec>,
    producer: Producer,
    pool: PoolHandle,
    chain: Arc<Mutex<Chain>>,
    queue: Arc<InputQueue>,
    l1: Arc<L1>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json");
    let spec = Arc::new(ChainSpec::from_genesis_file(&path).unwrap());
    let store = Arc::new(Store::open(dir.path(), &spec).unwrap());
    let gas_limit = store.head().unwrap().header.gas_limit;
    let pool = PoolHandle::new(TxPool::new(pool_config(&spec, gas_limit), 25_000_000), store.clone());
    let chain = Arc::new(Mutex::new(Chain::new(store, 64).unwrap()));
    let queue = Arc::new(InputQueue::new());
    let l1 = Arc::new(L1 { up: Mutex::new(true) });
    let inputs: Arc<dyn BlockInputs> = queue.clone();
    let config = BuilderConfig::new(spec.chain_id, spec.l2.as_ref().unwrap().basefee_sharing_pctg);
    let builder = SurgeNodeBuilder::new(HostEvmConfig(spec.clone()), config, pool.clone(), inputs, l1.clone()).unwrap();
    let producer = Producer {
        name: "L2",
        chain: chain.clone(),
        pool: pool.clone(),
        builder: Arc::new(builder),
        spec: spec.clone(),
        fee_recipient: Address::repeat_byte(0xcb),
        build_time: Duration::from_millis(500),
        paused: Default::default(),
    };
    Setup { _dir: dir, spec, producer, pool, chain, queue, l1 }
}

/// Produces a block; the queue follows the chain, as an embedder's would.
fn produce(s: &Setup) -> Result<surge_host::SealedHeader, ProduceError> {
    let sealed = s.producer.produce_one()?;
    let body = s.chain.lock().unwrap().store().body(sealed.header.number).unwrap().unwrap();
    s.queue.block_committed(sealed.header.number, &body.transactions, |h| s.pool.pool().get(h).is_some());
    Ok(sealed)
}

fn submit(s: &Setup, from: u32, nonce: u64) {
    let tx = TxEip1559 {
        chain_id: s.spec.chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Default::default(),
    };
    let key = dev_key(from);
    let raw = TxEnvelope::Eip1559(tx.clone().into_signed(key.sign_hash_sync(&tx.signature_hash()).unwrap()));
    let state = s.chain.lock().unwrap().store().latest_state().unwrap();
    s.pool.pool().add(&raw.encoded_2718(), &state).unwrap();
}

#[test]
fn the_producer_builds_l2_blocks_with_the_surge_builder() {
    let s = setup();
    let slot = keccak256("an L1→L2 user op");
    s.queue.push_user_op(slot, None);
    for (from, nonce) in [(3, 0), (3, 1), (4, 0)] {
        submit(&s, from, nonce);
    }

    // L1 down: the build fails, nothing is committed and nothing consumed.
    *s.l1.up.lock().unwrap() = false;
    let err = produce(&s).unwrap_err();
    assert!(matches!(err, ProduceError::Build { number: 1, .. }), "{err}");
    assert!(err.to_string().contains("L1 unreachable"), "{err}");
    assert_eq!(s.chain.lock().unwrap().store().head().unwrap().header.number, 0);
    assert_eq!(s.queue.pending().user_ops[0].slot, slot);

    *s.l1.up.lock().unwrap() = true;
    let first = produce(&s).unwrap();
    let chain = s.chain.lock().unwrap();
    let body = chain.store().body(1).unwrap().unwrap();
    let senders = chain.store().senders(1).unwrap().unwrap();
    assert_eq!(body.transactions.len(), 4, "anchor + 3 pool transactions");
    assert_eq!(senders[0], GOLDEN_TOUCH_ADDRESS);
    assert!(chain.store().receipts(1).unwrap().unwrap().iter().all(|r| r.status()));
    let ss = surge_primitives::L2Predeploys::for_chain(s.spec.chain_id).signal_service;
    let proof = chain.store().proof(1, ss, &[received_signal_key(slot)]).unwrap();
    assert_eq!(proof.storage_proof[0].value, U256::from(1), "the staged slot is in the committed block");
    drop(chain);
    assert!(s.queue.pending().is_empty(), "consumed after the commit");
    assert!(s.pool.pool().is_empty(), "the pool moved to the new head");

    // The next block: the pool prices it with the EIP-4396 base fee, and a second anchor (nonce 1) opens it.
    let expected = surge_l2_rules::expected_base_fee(s.spec.chain_id, &first.header, s.spec.genesis.timestamp);
    assert_eq!(s.pool.pool().base_fee(), expected);
    submit(&s, 4, 1);
    let second = produce(&s).unwrap();
    assert_eq!(second.header.parent_hash, first.hash);
    assert_eq!(second.header.base_fee_per_gas, Some(expected));
    assert_eq!(s.chain.lock().unwrap().store().body(2).unwrap().unwrap().transactions.len(), 2);

    // L1 down once the chain has anchored: production goes on with the last checkpoint an anchor took.
    *s.l1.up.lock().unwrap() = false;
    let third = produce(&s).expect("no stall while L1 is unreachable");
    assert_eq!(third.header.number, 3);
}

/// A return slot whose transaction is not in the pool is dropped after one block instead of being offered
/// (and costing a second pass) forever.
#[test]
fn a_slot_whose_transaction_left_the_pool_is_dropped() {
    use surge_interfaces::{OutboundDependency, ReturnSlot};
    let s = setup();
    let gone = ReturnSlot {
        slot: keccak256("orphan"),
        depends_on: OutboundDependency { tx_hash: keccak256("never pooled"), message: Default::default() },
    };
    s.queue.push_return_slot(gone.clone());
    produce(&s).unwrap();
    assert!(s.queue.pending().return_slots.is_empty(), "dropped for good");
    let second = produce(&s).unwrap();
    assert_eq!(second.header.number, 2, "and the next block builds normally");
}

/// A pending transaction's simulation environment (`ConfigureEvm::next_evm_env`) has the base fee of the
/// block the builder then builds on the same parent: the EIP-4396 base fee follows the parent's block time,
/// which needs the grandparent.
#[test]
fn next_evm_env_has_the_base_fee_of_the_block_built_next() {
    use surge_interfaces::{ConfigureEvm, NextBlockAttributes};
    let s = setup();
    produce(&s).unwrap();
    produce(&s).unwrap();
    let chain = s.chain.lock().unwrap();
    let store = chain.store();
    let head = store.head().unwrap();
    let config = HostEvmConfig(s.spec.clone());
    for gap in [1, 3, 12] {
        let attributes = NextBlockAttributes::at(head.header.timestamp + gap);
        let env = config.next_evm_env(store, &head.header, &attributes).unwrap();
        let built = s.producer.builder.build(store, &head, &attributes).unwrap();
        assert_eq!(Some(env.block_env.basefee), built.header.base_fee_per_gas, "gap {gap}");
        assert_eq!(env.block_env.number, U256::from(head.header.number + 1));
    }
    let grandparent = store.header(head.header.number - 1).unwrap().unwrap().header.timestamp;
    let wrong = surge_l2_rules::expected_base_fee(s.spec.chain_id, &head.header, 0);
    let right = surge_l2_rules::expected_base_fee(s.spec.chain_id, &head.header, grandparent);
    assert_ne!(wrong, right, "the grandparent's time matters for this parent");
}
