//! `BlockState` against revm's bundle-tracking `State`: random blocks of transfers, storage writes that
//! read first, contract creations (some self-destructing in their constructor) and calls that
//! self-destruct, on Shanghai (destruction of old contracts) and Cancun (EIP-6780) rules. Every
//! transaction must execute the same, and the block must leave the same changes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
use alloy_primitives::{
    Address, Bytes, TxKind, U256, keccak256,
    map::{AddressMap, B256Map, U256Map},
};
use proptest::prelude::*;
use revm::{
    context::TxEnv,
    database::{BundleState, CacheDB, EmptyDB, State, states::bundle_state::BundleRetention},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use surge_primitives::block_state::{BlockState, ChangedAccount};

/// Runtime of the test contracts: empty calldata self-destructs to the caller; otherwise each 64-byte
/// `(slot, value)` pair sets the slot to its current value XOR `value` (so reads matter, and slots can
/// return to zero).
const RUNTIME: [u8; 38] = [
    0x36, 0x15, 0x60, 0x23, 0x57, // CALLDATASIZE ISZERO PUSH1 destroy JUMPI
    0x60, 0x00, // PUSH1 0 (offset)
    0x5b, 0x80, 0x36, 0x11, 0x15, 0x60, 0x21, 0x57, // loop: while offset < size
    0x80, 0x60, 0x20, 0x01, 0x35, // value
    0x81, 0x35, 0x54, 0x18, // SLOAD(slot) XOR value
    0x81, 0x35, 0x55, // SSTORE(slot, …)
    0x60, 0x40, 0x01, 0x60, 0x07, 0x56, // offset += 64; jump loop
    0x5b, 0x00, // end: STOP
    0x5b, 0x33, 0xff, // destroy: SELFDESTRUCT(caller)
];

fn contract_at(i: u8) -> Address {
    Address::with_last_byte(0xc0 + i)
}

const SENDERS: [Address; 2] = [Address::repeat_byte(0x11), Address::repeat_byte(0x22)];
/// Exists with nothing in it (EIP-161 clears it when touched).
const EMPTY: Address = Address::repeat_byte(0x33);

fn genesis() -> CacheDB<EmptyDB> {
    let mut db = CacheDB::new(EmptyDB::default());
    for sender in SENDERS {
        db.insert_account_info(sender, AccountInfo::from_balance(U256::from(10u64).pow(U256::from(20))));
    }
    db.insert_account_info(EMPTY, AccountInfo::default());
    for i in 0..2 {
        let code = Bytecode::new_raw(Bytes::from_static(&RUNTIME));
        db.insert_account_info(contract_at(i), AccountInfo { nonce: 1, ..AccountInfo::default() }.with_code(code));
        for slot in 0..3u64 {
            db.insert_account_storage(contract_at(i), U256::from(slot), U256::from(slot + i as u64)).unwrap();
        }
    }
    db
}

#[derive(Debug, Clone)]
enum Op {
    /// Value to one of a few addresses: senders, the empty account, contracts, fresh ones.
    Transfer { to: u8, value: u8 },
    /// XOR pairs into a contract's slots (genesis or created, picked by index).
    Store { contract: u8, pairs: Vec<(u8, u8)> },
    /// Calls a contract with empty calldata: it self-destructs.
    Destroy { contract: u8 },
    /// Deploys the runtime after setting slots in the constructor, or self-destructs there.
    Create { pairs: Vec<(u8, u8)>, destroy: bool, value: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    let pairs = prop::collection::vec((0u8..4, 0u8..4), 0..4);
    prop_oneof![
        (0u8..8, 0u8..3).prop_map(|(to, value)| Op::Transfer { to, value }),
        (any::<u8>(), pairs.clone().prop_filter("non-empty", |p| !p.is_empty()))
            .prop_map(|(contract, pairs)| Op::Store { contract, pairs }),
        any::<u8>().prop_map(|contract| Op::Destroy { contract }),
        (pairs, any::<bool>(), 0u8..3).prop_map(|(pairs, destroy, value)| Op::Create { pairs, destroy, value }),
    ]
}

fn calldata(pairs: &[(u8, u8)]) -> Bytes {
    let mut data = vec![];
    for (slot, value) in pairs {
        data.extend_from_slice(&U256::from(*slot).to_be_bytes::<32>());
        data.extend_from_slice(&U256::from(*value).to_be_bytes::<32>());
    }
    data.into()
}

fn init_code(pairs: &[(u8, u8)], destroy: bool) -> Bytes {
    let mut code = vec![];
    for (slot, value) in pairs {
        code.extend_from_slice(&[0x60, *value, 0x60, *slot, 0x55]);
    }
    if destroy {
        code.extend_from_slice(&[0x33, 0xff]);
        return code.into();
    }
    let offset = code.len() as u8 + 12;
    let len = RUNTIME.len() as u8;
    code.extend_from_slice(&[0x60, len, 0x60, offset, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3]);
    code.extend_from_slice(&RUNTIME);
    code.into()
}

/// The transactions of `ops`, with contract indices resolved against the contracts known so far (those a
/// creation may have made are counted whether or not it succeeds).
fn transactions(ops: &[Op]) -> Vec<TxEnv> {
    let mut contracts = vec![contract_at(0), contract_at(1)];
    let mut nonces = [0u64; 2];
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let who = i % 2;
            let caller = SENDERS[who];
            let (kind, value, data) = match op {
                Op::Transfer { to, value } => {
                    let to = match to {
                        0 => SENDERS[1 - who],
                        1 => EMPTY,
                        2 | 3 => contracts[*to as usize % contracts.len()],
                        n => Address::with_last_byte(0x40 + n),
                    };
                    (TxKind::Call(to), *value, Bytes::new())
                }
                Op::Store { contract, pairs } => {
                    (TxKind::Call(contracts[*contract as usize % contracts.len()]), 0, calldata(pairs))
                }
                Op::Destroy { contract } => {
                    (TxKind::Call(contracts[*contract as usize % contracts.len()]), 0, Bytes::new())
                }
                Op::Create { pairs, destroy, value } => {
                    contracts.push(caller.create(nonces[who]));
                    (TxKind::Create, *value, init_code(pairs, *destroy))
                }
            };
            let tx = TxEnv::builder()
                .caller(caller)
                .kind(kind)
                .value(U256::from(value))
                .data(data)
                .nonce(nonces[who])
                .gas_limit(1_000_000)
                .gas_price(0)
                .build()
                .unwrap();
            nonces[who] += 1;
            tx
        })
        .collect()
}

fn env(spec: SpecId) -> EvmEnv {
    let mut env: EvmEnv = EvmEnv::default();
    env.cfg_env.spec = spec;
    env.block_env.gas_limit = u64::MAX;
    env
}

/// What revm's bundle says changed, in `BlockChanges` terms (accounts, contracts): accounts that neither
/// existed before nor exist after are no change, and slots set to zero on a wiped account are no change
/// either.
fn bundle_changes(bundle: &BundleState) -> (AddressMap<ChangedAccount>, B256Map<Bytecode>) {
    let mut accounts = AddressMap::default();
    for (address, account) in &bundle.state {
        let wiped = account.was_destroyed() && account.original_info.is_some();
        let storage: U256Map<U256> =
            account
                .storage
                .iter()
                .filter(|(_, s)| {
                    if wiped { !s.present_value.is_zero() } else { s.present_value != s.previous_or_original_value }
                })
                .map(|(k, s)| (*k, s.present_value))
                .collect();
        let values = |i: &Option<AccountInfo>| i.as_ref().map(|i| (i.nonce, i.balance, i.code_hash));
        if !wiped && values(&account.info) == values(&account.original_info) && storage.is_empty() {
            continue;
        }
        let info = account.info.clone().map(|i| AccountInfo { code: None, ..i });
        accounts.insert(*address, ChangedAccount { info, wiped, storage });
    }
    (accounts, bundle.contracts.iter().filter(|(_, c)| !c.is_empty()).map(|(h, c)| (*h, c.clone())).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_results_and_changes_as_revm_state(ops in prop::collection::vec(op(), 1..24), cancun in any::<bool>()) {
        let db = genesis();
        let spec = if cancun { SpecId::CANCUN } else { SpecId::SHANGHAI };
        let txs = transactions(&ops);

        let mut state = State::builder().with_database_ref(&db).with_bundle_update().build();
        let mut theirs = vec![];
        {
            let mut evm = EthEvmFactory::default().create_evm(&mut state, env(spec));
            for tx in txs.clone() {
                theirs.push(evm.transact_commit(tx).map_err(|e| e.to_string()));
            }
        }
        state.merge_transitions(BundleRetention::PlainState);
        let expected = bundle_changes(&state.take_bundle());

        let mut block = BlockState::new(&db, 8);
        let mut ours = vec![];
        {
            let mut evm = EthEvmFactory::default().create_evm(&mut block, env(spec));
            for tx in txs {
                ours.push(evm.transact_commit(tx).map_err(|e| e.to_string()));
            }
        }
        prop_assert_eq!(ours, theirs);
        let changes = block.into_changes();
        prop_assert_eq!((changes.accounts(), changes.contracts), expected);
    }
}

/// The changes name the block's effects: a fresh recipient, the sender's nonce and balance, and a new
/// contract with its code and constructor slots; an account only read is not in them.
#[test]
fn changes_of_a_small_block() {
    let db = genesis();
    let fresh = Address::with_last_byte(0x45);
    let ops = [
        Op::Transfer { to: 5, value: 2 },
        Op::Create { pairs: vec![(1, 3)], destroy: false, value: 0 },
        Op::Store { contract: 0, pairs: vec![(0, 0)] },
    ];
    let mut block = BlockState::new(&db, 8);
    {
        let mut evm = EthEvmFactory::default().create_evm(&mut block, env(SpecId::CANCUN));
        for tx in transactions(&ops) {
            assert!(evm.transact_commit(tx).unwrap().is_success());
        }
    }
    let changes = block.into_changes();
    let accounts = changes.accounts();
    assert_eq!(accounts[&fresh].info.as_ref().map(|i| i.balance), Some(U256::from(2)));
    assert_eq!(accounts[&SENDERS[0]].info.as_ref().map(|i| i.nonce), Some(2));
    let created = SENDERS[1].create(0);
    assert_eq!(accounts[&created].storage.get(&U256::from(1)), Some(&U256::from(3)));
    let code_hash = accounts[&created].info.as_ref().unwrap().code_hash;
    assert_eq!(code_hash, keccak256(RUNTIME));
    assert_eq!(changes.contracts[&code_hash].original_bytes().as_ref(), &RUNTIME[..]);
    // XOR with zero writes the value back: contract 0 was only read.
    assert!(!accounts.contains_key(&contract_at(0)));
}
