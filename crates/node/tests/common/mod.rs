//! A test chain on a temporary data directory: dev genesis, funded keys, signed transactions, blocks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy, transaction::Recovered},
    genesis::{ChainConfig, Genesis, GenesisAccount},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use redb::ReadableTable;
use surge_host::{
    ChainSpec, SealedHeader, Store,
    execute::{BlockInput, execute_block},
    storage::tables::{PLAIN_ACCOUNTS, PLAIN_STORAGE},
};

pub const CHAIN_ID: u64 = 1337;
pub const GWEI: u128 = 1_000_000_000;

pub fn key(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256([i, 0x5e])).unwrap()
}

/// A post-merge chain with Shanghai, Cancun and Prague at genesis and ten funded keys.
pub fn genesis() -> Genesis {
    let config = ChainConfig {
        shanghai_time: Some(0),
        cancun_time: Some(0),
        prague_time: Some(0),
        ..surge_host::post_merge_config(CHAIN_ID)
    };
    let mut alloc = BTreeMap::new();
    for i in 0..10 {
        alloc.insert(key(i).address(), GenesisAccount::default().with_balance(U256::from(10u128.pow(24))));
    }
    // A contract with storage in the genesis allocation.
    let mut storage = BTreeMap::new();
    storage.insert(B256::with_last_byte(1), B256::with_last_byte(7));
    alloc.insert(
        Address::repeat_byte(0xcc),
        GenesisAccount::default()
            .with_code(Some(Bytes::from_static(&[0x60, 0x00, 0x54, 0x00])))
            .with_storage(Some(storage)),
    );
    Genesis {
        config,
        timestamp: 1_700_000_000,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(GWEI),
        alloc,
        ..Default::default()
    }
}

/// Blocks of transactions exercising transfers (legacy and EIP-1559), a deploy, storage writes and
/// clears, logs, a revert, CREATE2 and self-destruct.
pub struct Workload {
    /// Transactions per block.
    pub blocks: Vec<Vec<Recovered<TxEnvelope>>>,
    /// The StorageLogs app.
    pub app: Address,
    /// Every account the workload touches.
    pub touched: Vec<Address>,
}

/// Storage key of `StorageLogs.values[k]` (a mapping at slot 0).
pub fn mapping_slot(k: u64) -> B256 {
    use alloy_sol_types::SolValue;
    keccak256((U256::from(k), U256::ZERO).abi_encode())
}

/// The workload, signed with `chain`'s nonces.
pub fn workload(chain: &mut TestChain) -> Workload {
    use alloy_sol_types::SolCall;
    use surge_primitives::bindings::{test_ephemeral::Ephemeral, test_storage_logs::StorageLogs};
    let (a, b) = (key(0), key(1));
    let mut blocks = vec![];
    let sink = Address::repeat_byte(0x42);
    blocks.push(vec![
        chain.legacy(&a, b.address(), U256::from(1_000)),
        chain.tx(&b, TxKind::Call(sink), U256::from(5), vec![]),
    ]);
    let app = a.address().create(chain.nonces.get(&a.address()).copied().unwrap_or(0));
    blocks.push(vec![chain.tx(&a, TxKind::Create, U256::ZERO, StorageLogs::BYTECODE.to_vec())]);
    let mut txs = vec![];
    for k in 0..20u64 {
        let call = StorageLogs::storeCall { key: U256::from(k), value: U256::from(k * 3 + 1) };
        txs.push(chain.tx(&b, TxKind::Call(app), U256::ZERO, call.abi_encode()));
    }
    txs.push(chain.tx(&a, TxKind::Call(app), U256::ZERO, StorageLogs::failCall { key: U256::from(99) }.abi_encode()));
    blocks.push(txs);
    let mut txs: Vec<_> = (0..5u64)
        .map(|k| {
            chain.tx(&b, TxKind::Call(app), U256::ZERO, StorageLogs::clearCall { key: U256::from(k) }.abi_encode())
        })
        .collect();
    txs.push(chain.tx(
        &a,
        TxKind::Call(app),
        U256::from(77),
        StorageLogs::deployCall { salt: B256::repeat_byte(1) }.abi_encode(),
    ));
    txs.push(chain.tx(
        &a,
        TxKind::Call(app),
        U256::from(88),
        StorageLogs::deployAndDestroyCall { salt: B256::repeat_byte(2) }.abi_encode(),
    ));
    blocks.push(txs);
    let child = |salt: u8| app.create2(B256::repeat_byte(salt), keccak256(Ephemeral::BYTECODE.as_ref()));
    let touched = vec![a.address(), b.address(), sink, app, child(1), child(2), Address::repeat_byte(0xcc)];
    Workload { blocks, app, touched }
}

/// A signed EIP-1559 transaction with the next nonce of `from` in `nonces`.
pub fn signed_1559(
    nonces: &mut BTreeMap<Address, u64>,
    from: &PrivateKeySigner,
    to: TxKind,
    value: U256,
    input: Vec<u8>,
) -> Recovered<TxEnvelope> {
    let n = nonces.entry(from.address()).or_insert(0);
    *n += 1;
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: *n - 1,
        gas_limit: 3_000_000,
        max_fee_per_gas: 20 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        access_list: Default::default(),
        input: input.into(),
    };
    let sig = from.sign_hash_sync(&tx.signature_hash()).unwrap();
    Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(sig)), from.address())
}

/// The block input the tests use for a child of `parent`: 12 s later, a fixed coinbase, a randao derived
/// from the parent hash.
pub fn next_input(parent: &SealedHeader) -> BlockInput {
    BlockInput {
        timestamp: parent.header.timestamp + 12,
        fee_recipient: Address::repeat_byte(0xfe),
        prev_randao: keccak256(parent.hash),
        ..Default::default()
    }
}

pub struct TestChain {
    /// The temporary data directory, when this chain owns one.
    pub dir: Option<tempfile::TempDir>,
    pub spec: ChainSpec,
    pub store: Store,
    pub nonces: BTreeMap<Address, u64>,
}

impl TestChain {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let spec = ChainSpec::from_genesis(genesis()).unwrap();
        let store = Store::open(dir.path(), &spec).unwrap();
        Self { dir: Some(dir), spec, store, nonces: BTreeMap::new() }
    }

    /// The data directory.
    pub fn path(&self) -> &std::path::Path {
        self.dir.as_ref().expect("chain owns its directory").path()
    }

    /// Opens (or creates) the chain in an existing directory, owned by the caller.
    pub fn open_at(path: &std::path::Path) -> Self {
        let spec = ChainSpec::from_genesis(genesis()).unwrap();
        let store = Store::open(path, &spec).unwrap();
        Self { dir: None, spec, store, nonces: BTreeMap::new() }
    }

    pub fn reopen(self) -> Self {
        let Self { dir, spec, store, nonces } = self;
        drop(store);
        let store = Store::open(dir.as_ref().expect("owned directory").path(), &spec).unwrap();
        Self { dir, spec, store, nonces }
    }

    fn next_nonce(&mut self, from: Address) -> u64 {
        let n = self.nonces.entry(from).or_insert(0);
        *n += 1;
        *n - 1
    }

    /// A signed EIP-1559 transaction.
    pub fn tx(&mut self, from: &PrivateKeySigner, to: TxKind, value: U256, input: Vec<u8>) -> Recovered<TxEnvelope> {
        signed_1559(&mut self.nonces, from, to, value, input)
    }

    /// A signed legacy (EIP-155) transaction.
    pub fn legacy(&mut self, from: &PrivateKeySigner, to: Address, value: U256) -> Recovered<TxEnvelope> {
        let tx = TxLegacy {
            chain_id: Some(CHAIN_ID),
            nonce: self.next_nonce(from.address()),
            gas_price: 10 * GWEI,
            gas_limit: 21_000,
            to: TxKind::Call(to),
            value,
            input: Bytes::new(),
        };
        let sig = from.sign_hash_sync(&tx.signature_hash()).unwrap();
        Recovered::new_unchecked(TxEnvelope::Legacy(tx.into_signed(sig)), from.address())
    }

    /// Executes and commits a block with `txs`.
    pub fn block(&mut self, txs: Vec<Recovered<TxEnvelope>>) -> SealedHeader {
        let parent = self.store.head().unwrap();
        let input = next_input(&parent);
        let state = self.store.latest_state().unwrap();
        let executed = execute_block(&self.spec, state, &parent, &input, txs).unwrap();
        self.store.commit_block(executed).unwrap()
    }

    /// The state root recomputed from scratch from the plain state (independent of the stored tries).
    pub fn full_state_root(&self) -> B256 {
        let read = self.store.begin_read().unwrap();
        let accounts = read.open_table(PLAIN_ACCOUNTS).unwrap();
        let storage = read.open_table(PLAIN_STORAGE).unwrap();
        let mut leaves = BTreeMap::new();
        for entry in accounts.iter().unwrap() {
            let (k, v) = entry.unwrap();
            let (address, acc) = (Address::from(k.value()), v.value());
            let slots: Vec<(B256, U256)> = storage
                .range((address.0.0, [0u8; 32])..=(address.0.0, [0xffu8; 32]))
                .unwrap()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (B256::from(k.value().1), U256::from_be_bytes(v.value()))
                })
                .collect();
            let storage_root = alloy_trie::root::storage_root_unhashed(slots);
            let leaf = alloy_trie::TrieAccount {
                nonce: acc.nonce,
                balance: acc.balance,
                storage_root,
                code_hash: acc.code_hash,
            };
            leaves.insert(keccak256(address), alloy_rlp::encode(leaf));
        }
        surge_trie::full_root(leaves.iter().map(|(k, v)| (k, v.as_slice()))).root
    }
}
