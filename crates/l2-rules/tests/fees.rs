//! L2 fee rules to the wei, through alloy-evm's block executor: tips and the coinbase's base-fee share to
//! the coinbase, the rest of the base fee to the treasury, the anchor free of every fee with its nonce
//! still bumped, and simulations crediting the base fee to no one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_evm::{
    Evm, EvmEnv, EvmFactory,
    block::BlockExecutor,
    eth::{EthBlockExecutionCtx, EthBlockExecutor, receipt_builder::AlloyReceiptBuilder, spec::EthExecutorSpec},
};
use alloy_hardforks::{EthereumChainHardforks, EthereumHardfork, EthereumHardforks, ForkCondition};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use revm::{
    Database,
    context::{BlockEnv, CfgEnv, TxEnv},
    database::{CacheDB, EmptyDB, State},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use surge_l2_rules::{ANCHOR_GAS_LIMIT, FeeRules, TaikoEvmFactory};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, L2Predeploys, golden_touch::sign_anchor};

const CHAIN: u64 = 763374;
const COINBASE: Address = Address::new([0xc0; 20]);

#[derive(Debug, Clone)]
struct ShanghaiSpec(EthereumChainHardforks);

impl ShanghaiSpec {
    fn new() -> Self {
        let mut forks: Vec<_> = [
            EthereumHardfork::Frontier,
            EthereumHardfork::Homestead,
            EthereumHardfork::Tangerine,
            EthereumHardfork::SpuriousDragon,
            EthereumHardfork::Byzantium,
            EthereumHardfork::Constantinople,
            EthereumHardfork::Petersburg,
            EthereumHardfork::Istanbul,
            EthereumHardfork::Berlin,
            EthereumHardfork::London,
        ]
        .into_iter()
        .map(|f| (f, ForkCondition::Block(0)))
        .collect();
        forks.push((
            EthereumHardfork::Paris,
            ForkCondition::TTD { activation_block_number: 0, fork_block: None, total_difficulty: U256::ZERO },
        ));
        forks.push((EthereumHardfork::Shanghai, ForkCondition::Timestamp(0)));
        Self(EthereumChainHardforks::new(forks))
    }
}

impl EthereumHardforks for ShanghaiSpec {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        self.0.ethereum_fork_activation(fork)
    }
}

impl EthExecutorSpec for ShanghaiSpec {
    fn deposit_contract_address(&self) -> Option<Address> {
        None
    }
}

fn anchor_address() -> Address {
    L2Predeploys::for_chain(CHAIN).anchor
}

fn user(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(i + 1)).unwrap()
}

fn state() -> State<CacheDB<EmptyDB>> {
    let mut db = CacheDB::new(EmptyDB::default());
    // A stand-in anchor that accepts any call (the real contract comes with the dev genesis).
    db.insert_account_info(
        anchor_address(),
        AccountInfo::default().with_code(Bytecode::new_raw(Bytes::from_static(&[0x00]))),
    );
    for i in 0..4 {
        db.insert_account_info(user(i).address(), AccountInfo::from_balance(U256::from(10u128.pow(21))));
    }
    State::builder().with_database(db).with_bundle_update().build()
}

fn anchor_tx(nonce: u64, base_fee: u64) -> Recovered<TxEnvelope> {
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: ANCHOR_GAS_LIMIT,
        max_fee_per_gas: base_fee.into(),
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(anchor_address()),
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::from_static(&[0xcc, 0x07, 0x82, 0x6e]),
    };
    Recovered::new_unchecked(TxEnvelope::Eip1559(sign_anchor(tx).unwrap()), GOLDEN_TOUCH_ADDRESS)
}

fn user_tx(i: u8, nonce: u64, base_fee: u64, tip: u128, value: u64) -> Recovered<TxEnvelope> {
    let key = user(i);
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 50_000,
        max_fee_per_gas: u128::from(base_fee) * 2 + tip,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(value),
        access_list: Default::default(),
        input: Bytes::from_static(b"calldata costs gas"),
    };
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(sig)), key.address())
}

fn env(number: u64, base_fee: u64) -> EvmEnv {
    let block = BlockEnv {
        number: U256::from(number),
        timestamp: U256::from(1000 + number),
        beneficiary: COINBASE,
        gas_limit: 31_000_000,
        basefee: base_fee,
        prevrandao: Some(B256::ZERO),
        ..Default::default()
    };
    EvmEnv::new(CfgEnv::new_with_spec(SpecId::SHANGHAI).with_chain_id(CHAIN), block)
}

fn balance(state: &mut State<CacheDB<EmptyDB>>, a: Address) -> U256 {
    state.basic(a).unwrap().map(|i| i.balance).unwrap_or_default()
}

fn nonce(state: &mut State<CacheDB<EmptyDB>>, a: Address) -> u64 {
    state.basic(a).unwrap().map(|i| i.nonce).unwrap_or_default()
}

#[test]
fn fees_are_split_to_the_wei_and_the_anchor_pays_nothing() {
    let spec = ShanghaiSpec::new();
    let mut state = state();
    let mut user_nonces = [0u64; 4];
    // (block, base fee, sharing percentage, tips of the user transactions)
    let blocks: [(u64, u64, u8, &[u128]); 4] = [
        (1, 25_000_000, 0, &[0, 1_000_000_000]),
        (2, 30_000_000, 50, &[1, 2_000_000, 77_777_777]),
        (3, 7_000_001, 75, &[3]),
        (4, 1_000_000_000, 100, &[5_000_000, 0, 123]),
    ];
    for (number, base_fee, pctg, tips) in blocks {
        let anchor_nonce = nonce(&mut state, GOLDEN_TOUCH_ADDRESS);
        assert_eq!(anchor_nonce, number - 1, "one anchor per block bumps the golden touch's nonce");
        let before_coinbase = balance(&mut state, COINBASE);
        let before_treasury = balance(&mut state, anchor_address());
        let senders: Vec<Address> = (0..tips.len()).map(|i| user(i as u8).address()).collect();
        let before_senders: Vec<U256> = senders.iter().map(|s| balance(&mut state, *s)).collect();

        let mut txs = vec![anchor_tx(anchor_nonce, base_fee)];
        for (i, tip) in tips.iter().enumerate() {
            txs.push(user_tx(i as u8, user_nonces[i], base_fee, *tip, 1000 + i as u64));
            user_nonces[i] += 1;
        }
        let rules = FeeRules {
            treasury: anchor_address(),
            golden_touch: GOLDEN_TOUCH_ADDRESS,
            anchor_nonce: Some(anchor_nonce),
            sharing_pctg: pctg,
            burn_base_fee: false,
        };
        let evm = TaikoEvmFactory { rules }.create_evm(&mut state, env(number, base_fee));
        let ctx = EthBlockExecutionCtx {
            parent_hash: B256::ZERO,
            parent_beacon_block_root: None,
            ommers: &[],
            withdrawals: Some(Default::default()),
            extra_data: Bytes::new(),
            tx_count_hint: None,
            slot_number: None,
        };
        let mut executor = EthBlockExecutor::new(evm, ctx, &spec, AlloyReceiptBuilder::default());
        executor.apply_pre_execution_changes().unwrap();
        for tx in &txs {
            executor.execute_transaction(tx).unwrap();
        }
        let result = executor.apply_post_execution_changes().unwrap();
        assert!(result.receipts.iter().all(|r| r.status()), "block {number}: every transaction succeeds");

        let gas = surge_test_utils::gas_per_tx(&result.receipts);
        let spent: Vec<(u128, u64, u64)> =
            tips.iter().enumerate().map(|(i, tip)| (*tip, gas[i + 1], 1000 + i as u64)).collect();
        let (costs, to_coinbase, to_treasury) = surge_test_utils::expected_l2_fees(base_fee, pctg, &spent);
        for (i, cost) in costs.iter().enumerate() {
            assert_eq!(before_senders[i] - balance(&mut state, senders[i]), *cost, "block {number}: sender {i} cost");
        }
        assert_eq!(balance(&mut state, COINBASE) - before_coinbase, to_coinbase, "block {number}: coinbase");
        assert_eq!(balance(&mut state, anchor_address()) - before_treasury, to_treasury, "block {number}: treasury");
        assert_eq!(balance(&mut state, GOLDEN_TOUCH_ADDRESS), U256::ZERO, "block {number}: golden touch stays at 0");
        assert_eq!(nonce(&mut state, GOLDEN_TOUCH_ADDRESS), anchor_nonce + 1);
        assert!(gas[0] > 21_000, "the anchor used gas ({}) yet paid nothing", gas[0]);
    }
}

#[test]
fn only_the_anchor_at_the_block_start_nonce_is_exempt() {
    let mut state = state();
    let rules = FeeRules {
        treasury: anchor_address(),
        golden_touch: GOLDEN_TOUCH_ADDRESS,
        anchor_nonce: Some(0),
        sharing_pctg: 50,
        burn_base_fee: false,
    };
    let mut evm = TaikoEvmFactory { rules }.create_evm(&mut state, env(1, 25_000_000));
    let tx = |n| {
        use alloy_evm::FromRecoveredTx;
        let t = anchor_tx(n, 25_000_000);
        TxEnv::from_recovered_tx(t.inner(), t.signer())
    };
    evm.transact_commit(tx(0)).unwrap();
    // A second golden-touch transaction in the same block is not the anchor: it must buy gas, and the
    // golden touch has nothing.
    let err = evm.transact_commit(tx(1)).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("fund"), "{err}");
}

#[test]
fn simulations_credit_the_base_fee_to_no_one() {
    let mut state = state();
    let rules = FeeRules {
        treasury: anchor_address(),
        golden_touch: GOLDEN_TOUCH_ADDRESS,
        anchor_nonce: None,
        sharing_pctg: 50,
        burn_base_fee: true,
    };
    let base_fee = 30_000_000u64;
    let mut evm = TaikoEvmFactory { rules }.create_evm(&mut state, env(1, base_fee));
    let t = user_tx(0, 0, base_fee, 9, 0);
    let result = {
        use alloy_evm::FromRecoveredTx;
        evm.transact_commit(TxEnv::from_recovered_tx(t.inner(), t.signer())).unwrap()
    };
    let g = U256::from(result.tx_gas_used());
    drop(evm);
    assert_eq!(balance(&mut state, COINBASE), U256::from(9) * g, "the tip only");
    assert_eq!(balance(&mut state, anchor_address()), U256::ZERO, "no base fee to the treasury");
}
