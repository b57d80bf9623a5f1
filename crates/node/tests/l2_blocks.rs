//! L2 blocks on the host with the dev genesis: the real anchor opens every block, fees split to the wei
//! between coinbase and treasury at several tips and sharing percentages, the golden touch stays at zero
//! balance with its nonce +1 per block, headers pass L2 validation, and rule-breaking blocks are refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    signers::SignerSync,
};
use alloy_primitives::{Address, Bytes, TxKind, U256, aliases::U48, keccak256};
use alloy_sol_types::SolCall;
use surge_host::{
    ChainSpec, SealedHeader, Store,
    execute::{BlockInput, ExecuteError, execute_block},
};
use surge_l2_rules::{ANCHOR_GAS_LIMIT, L2BlockError, encode_extra_data, expected_base_fee, validate_header};
use surge_primitives::{
    GOLDEN_TOUCH_ADDRESS, L2Predeploys,
    bindings::anchor::{Anchor, ProtocolTypes::Checkpoint},
    golden_touch::sign_anchor,
};
use surge_test_utils::dev_key;

const COINBASE: Address = Address::new([0xcb; 20]);

struct L2 {
    _dir: tempfile::TempDir,
    spec: ChainSpec,
    store: Store,
    user_nonces: Vec<u64>,
}

impl L2 {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/dev/l2-genesis.json");
        let spec = ChainSpec::from_genesis_file(&path).unwrap();
        assert!(spec.l2.is_some(), "the dev L2 genesis selects the L2 rules");
        let store = Store::open(dir.path(), &spec).unwrap();
        Self { _dir: dir, spec, store, user_nonces: vec![0; 10] }
    }

    fn anchor(&self) -> Address {
        L2Predeploys::for_chain(self.spec.chain_id).anchor
    }

    fn balance(&self, a: Address) -> U256 {
        self.store.latest_state().unwrap().account(&a).unwrap().map(|a| a.balance).unwrap_or_default()
    }

    fn nonce(&self, a: Address) -> u64 {
        self.store.latest_state().unwrap().account(&a).unwrap().map(|a| a.nonce).unwrap_or_default()
    }

    fn grandparent_ts(&self, parent: &SealedHeader) -> u64 {
        match parent.header.number {
            0 => parent.header.timestamp,
            n => self.store.header(n - 1).unwrap().unwrap().header.timestamp,
        }
    }

    fn anchor_tx(&self, base_fee: u64, l1_block: u64) -> Recovered<TxEnvelope> {
        let checkpoint = Checkpoint {
            blockNumber: U48::from(l1_block),
            blockHash: keccak256(l1_block.to_be_bytes()),
            stateRoot: keccak256((l1_block + 1).to_be_bytes()),
        };
        let call = Anchor::anchorV4WithSignalSlotsCall { l1Checkpoint: checkpoint, signalSlots: vec![] };
        let tx = TxEip1559 {
            chain_id: self.spec.chain_id,
            nonce: self.nonce(GOLDEN_TOUCH_ADDRESS),
            gas_limit: ANCHOR_GAS_LIMIT,
            max_fee_per_gas: base_fee.into(),
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(self.anchor()),
            value: U256::ZERO,
            access_list: Default::default(),
            input: call.abi_encode().into(),
        };
        Recovered::new_unchecked(TxEnvelope::Eip1559(sign_anchor(tx).unwrap()), GOLDEN_TOUCH_ADDRESS)
    }

    fn user_tx(&mut self, i: u32, base_fee: u64, tip: u128) -> Recovered<TxEnvelope> {
        let key = dev_key(i);
        let tx = TxEip1559 {
            chain_id: self.spec.chain_id,
            nonce: self.user_nonces[i as usize],
            gas_limit: 60_000,
            max_fee_per_gas: u128::from(base_fee) * 2 + tip,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(0x5a)),
            value: U256::from(1_000 + i),
            access_list: Default::default(),
            input: Bytes::from_static(b"some calldata"),
        };
        self.user_nonces[i as usize] += 1;
        let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
        Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(sig)), key.address())
    }

    fn input(&self, parent: &SealedHeader, dt: u64, pctg_extra: Bytes) -> BlockInput {
        BlockInput {
            timestamp: parent.header.timestamp + dt,
            fee_recipient: COINBASE,
            extra_data: Some(pctg_extra),
            ..Default::default()
        }
    }
}

#[test]
fn l2_blocks_split_fees_to_the_wei_and_the_anchor_pays_nothing() {
    let mut l2 = L2::new();
    let cases: [(u8, u64, &[u128]); 4] =
        [(0, 1, &[0, 3_000_000_000]), (50, 2, &[1, 123_456]), (75, 1, &[7]), (100, 3, &[0, 5, 99_999])];
    for (pctg, dt, tips) in cases {
        let parent = l2.store.head().unwrap();
        let gp = l2.grandparent_ts(&parent);
        let base_fee = expected_base_fee(l2.spec.chain_id, &parent.header, gp);
        let gt_nonce = l2.nonce(GOLDEN_TOUCH_ADDRESS);
        let (coinbase0, treasury0) = (l2.balance(COINBASE), l2.balance(l2.anchor()));
        let senders: Vec<Address> = (0..tips.len() as u32).map(|i| dev_key(i + 2).address()).collect();
        let before: Vec<U256> = senders.iter().map(|s| l2.balance(*s)).collect();

        let mut txs = vec![l2.anchor_tx(base_fee, parent.header.number + 100)];
        for (i, tip) in tips.iter().enumerate() {
            txs.push(l2.user_tx(i as u32 + 2, base_fee, *tip));
        }
        let input = l2.input(&parent, dt, encode_extra_data(pctg, 0).unwrap());
        let executed = execute_block(&l2.spec, l2.store.latest_state().unwrap(), &parent, &input, txs).unwrap();
        let receipts = executed.receipts.clone();
        let sealed = l2.store.commit_block(executed).unwrap();
        assert_eq!(sealed.header.base_fee_per_gas, Some(base_fee));
        validate_header(l2.spec.chain_id, &sealed.header, &parent.header, gp).unwrap();

        let gas = surge_test_utils::gas_per_tx(&receipts);
        assert!(receipts.iter().all(|r| r.status()), "all transactions succeed, the real anchor included");
        let spent: Vec<(u128, u64, u64)> =
            tips.iter().enumerate().map(|(i, tip)| (*tip, gas[i + 1], 1_000 + i as u64 + 2)).collect();
        let (costs, to_coinbase, to_treasury) = surge_test_utils::expected_l2_fees(base_fee, pctg, &spent);
        for (i, cost) in costs.iter().enumerate() {
            assert_eq!(before[i] - l2.balance(senders[i]), *cost, "sender cost");
        }
        assert_eq!(l2.balance(COINBASE) - coinbase0, to_coinbase, "coinbase");
        assert_eq!(l2.balance(l2.anchor()) - treasury0, to_treasury, "treasury (the Anchor)");
        assert_eq!(l2.balance(GOLDEN_TOUCH_ADDRESS), U256::ZERO, "golden touch balance");
        assert_eq!(l2.nonce(GOLDEN_TOUCH_ADDRESS), gt_nonce + 1, "golden touch nonce");
    }
    assert_eq!(l2.store.head().unwrap().header.number, 4);
}

#[test]
fn rule_breaking_l2_blocks_are_refused() {
    let mut l2 = L2::new();
    let parent = l2.store.head().unwrap();
    let base_fee = expected_base_fee(l2.spec.chain_id, &parent.header, parent.header.timestamp);
    let user = l2.user_tx(2, base_fee, 1);

    // No anchor.
    let input = l2.input(&parent, 1, encode_extra_data(50, 0).unwrap());
    let err =
        execute_block(&l2.spec, l2.store.latest_state().unwrap(), &parent, &input, vec![user.clone()]).unwrap_err();
    assert!(
        matches!(
            err,
            ExecuteError::L2 { source: L2BlockError::GoldenTouchAfterAnchor(_) | L2BlockError::BadAnchor(_), .. }
        ),
        "{err}"
    );
    let err = execute_block(&l2.spec, l2.store.latest_state().unwrap(), &parent, &input, vec![]).unwrap_err();
    assert!(matches!(err, ExecuteError::L2 { source: L2BlockError::NoAnchor, .. }), "{err}");

    // A sharing percentage above 100, and a timestamp equal to the parent's.
    let anchor = l2.anchor_tx(base_fee, 1);
    let bad_extra = Bytes::from_static(&[101, 0, 0, 0, 0, 0, 0]);
    let err = execute_block(
        &l2.spec,
        l2.store.latest_state().unwrap(),
        &parent,
        &l2.input(&parent, 1, bad_extra),
        vec![anchor.clone()],
    )
    .unwrap_err();
    assert!(matches!(err, ExecuteError::L2 { source: L2BlockError::SharingPctg(101), .. }), "{err}");
    let good_extra = encode_extra_data(50, 0).unwrap();
    let err = execute_block(
        &l2.spec,
        l2.store.latest_state().unwrap(),
        &parent,
        &l2.input(&parent, 0, good_extra),
        vec![anchor],
    )
    .unwrap_err();
    assert!(matches!(err, ExecuteError::L2 { source: L2BlockError::Timestamp { .. }, .. }), "{err}");
    assert_eq!(l2.store.head().unwrap(), parent, "nothing was committed");
}

#[test]
fn the_l2_pool_refuses_the_golden_touch_and_blob_types() {
    use alloy::eips::Encodable2718;
    let l2 = L2::new();
    let config = surge_host::seams::pool_config(&l2.spec, l2.store.head().unwrap().header.gas_limit);
    assert_eq!(config.allowed_types, vec![0, 1, 2]);
    assert_eq!(config.block_gas_limit, 30_000_000);
    let mut pool = surge_txpool::TxPool::new(config, 25_000_000);
    let state = l2.store.latest_state().unwrap();
    // A golden-touch transaction (its key is public) never enters the pool.
    let anchor = l2.anchor_tx(25_000_000, 1);
    let err = pool.add(&anchor.inner().encoded_2718(), &state).unwrap_err();
    assert_eq!(err, surge_txpool::PoolError::DeniedSender(GOLDEN_TOUCH_ADDRESS));
}
