//! An in-process chain for contract tests: revm over a cache database whose BLOCKHASH answers the real
//! hashes of the blocks this harness produced, and zero for anything else (revm's own empty database
//! invents hashes, which would let anchor and inbox checks pass for the wrong reason).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod trie;

use std::{convert::Infallible, fs, path::PathBuf};

use alloy::consensus::Header;
use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_sol_types::{SolCall, SolConstructor, SolError};
use revm::{
    Context, DatabaseRef, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{
        BlockEnv, TxEnv,
        result::{ExecutionResult, Output},
    },
    context_interface::block::BlobExcessGasAndPrice,
    database::CacheDB,
    primitives::{TxKind, hardfork::SpecId},
    state::{AccountInfo, Bytecode},
};

/// A backing store that knows nothing and answers zero to BLOCKHASH.
#[derive(Debug, Default, Clone)]
pub struct ZeroHashDb;

impl DatabaseRef for ZeroHashDb {
    type Error = Infallible;
    fn basic_ref(&self, _: Address) -> Result<Option<AccountInfo>, Infallible> {
        Ok(None)
    }
    fn code_by_hash_ref(&self, _: B256) -> Result<Bytecode, Infallible> {
        Ok(Bytecode::default())
    }
    fn storage_ref(&self, _: Address, _: U256) -> Result<U256, Infallible> {
        Ok(U256::ZERO)
    }
    fn block_hash_ref(&self, _: u64) -> Result<B256, Infallible> {
        Ok(B256::ZERO)
    }
}

/// The result of one transaction.
#[derive(Debug)]
pub struct Outcome(pub ExecutionResult);

impl Outcome {
    pub fn is_success(&self) -> bool {
        self.0.is_success()
    }
    pub fn output(&self) -> Bytes {
        match &self.0 {
            ExecutionResult::Success { output: Output::Call(b), .. } => b.clone(),
            ExecutionResult::Success { output: Output::Create(b, _), .. } => b.clone(),
            ExecutionResult::Revert { output, .. } => output.clone(),
            ExecutionResult::Halt { .. } => Bytes::new(),
        }
    }
    pub fn logs(&self) -> Vec<Log> {
        self.0.clone().into_logs()
    }
    pub fn gas_used(&self) -> u64 {
        self.0.tx_gas_used()
    }
    pub fn created(&self) -> Address {
        self.0.created_address().expect("not a successful create")
    }
    /// Panics unless the call succeeded, showing the revert data otherwise.
    pub fn expect_ok(self) -> Self {
        assert!(self.is_success(), "call failed: {:?}", self.0);
        self
    }
    /// Panics unless the call reverted with exactly the custom error `E` (any arguments).
    pub fn expect_revert<E: SolError>(&self) {
        assert!(!self.is_success(), "expected revert {}, got success", E::SIGNATURE);
        let out = self.output();
        assert!(
            out.len() >= 4 && out[..4] == E::SELECTOR,
            "expected revert {} ({}), got {:?}",
            E::SIGNATURE,
            alloy_primitives::hex::encode(E::SELECTOR),
            self.0
        );
    }
    /// Panics unless the call reverted with one of the given error selectors.
    pub fn expect_revert_among(&self, selectors: &[[u8; 4]]) {
        let out = self.output();
        assert!(
            !self.is_success() && out.len() >= 4 && selectors.iter().any(|s| out[..4] == *s),
            "expected a revert among {:?}, got {:?}",
            selectors.iter().map(alloy_primitives::hex::encode).collect::<Vec<_>>(),
            self.0
        );
    }

    /// Decodes the return value of call `C`.
    pub fn decode<C: SolCall>(&self) -> C::Return {
        C::abi_decode_returns(&self.output()).expect("bad return data")
    }
}

/// A transaction to run.
#[derive(Debug, Clone)]
pub struct Tx {
    pub from: Address,
    pub to: TxKind,
    pub data: Bytes,
    pub value: U256,
    pub gas: u64,
    pub blob_hashes: Vec<B256>,
}

impl Tx {
    pub fn call(from: Address, to: Address, data: impl Into<Bytes>) -> Self {
        Self { from, to: TxKind::Call(to), data: data.into(), value: U256::ZERO, gas: 30_000_000, blob_hashes: vec![] }
    }
    pub fn sol<C: SolCall>(from: Address, to: Address, call: C) -> Self {
        Self::call(from, to, call.abi_encode())
    }
    pub fn value(mut self, v: U256) -> Self {
        self.value = v;
        self
    }
    pub fn gas(mut self, g: u64) -> Self {
        self.gas = g;
        self
    }
    pub fn blobs(mut self, hashes: Vec<B256>) -> Self {
        self.blob_hashes = hashes;
        self
    }
}

/// One chain: state, block number and timestamp, and the hashes of the blocks it has produced.
pub struct Chain {
    pub db: CacheDB<ZeroHashDb>,
    pub chain_id: u64,
    pub spec: SpecId,
    pub number: u64,
    pub timestamp: u64,
    pub parent_hash: B256,
}

impl Chain {
    /// An L2-like chain (Shanghai) or an L1-like chain (Cancun, blobs).
    pub fn new(chain_id: u64, spec: SpecId) -> Self {
        let mut chain = Self {
            db: CacheDB::new(ZeroHashDb),
            chain_id,
            spec,
            number: 0,
            timestamp: 1_700_000_000,
            parent_hash: B256::ZERO,
        };
        chain.advance(); // block 0 exists and has a hash; execution happens in block 1
        chain
    }

    /// A chain whose state is the allocation of a genesis file (path relative to the workspace root).
    pub fn from_genesis(path: &str, spec: SpecId) -> Self {
        let text = fs::read_to_string(workspace_root().join(path)).unwrap();
        let genesis: alloy::genesis::Genesis = serde_json::from_str(&text).unwrap();
        let mut chain = Self::new(genesis.config.chain_id, spec);
        for (address, account) in genesis.alloc {
            let mut info = AccountInfo::default().with_balance(account.balance);
            info.nonce = account.nonce.unwrap_or_default();
            if let Some(code) = account.code {
                info = info.with_code(Bytecode::new_raw(code));
            }
            chain.db.insert_account_info(address, info);
            for (slot, value) in account.storage.unwrap_or_default() {
                chain.set_storage(address, U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0));
            }
        }
        chain
    }

    /// Seals the current block (recording its hash) and opens the next.
    pub fn advance(&mut self) -> B256 {
        let header = Header {
            parent_hash: self.parent_hash,
            number: self.number,
            timestamp: self.timestamp,
            gas_limit: 30_000_000,
            ..Default::default()
        };
        let hash = header.hash_slow();
        self.db.cache.block_hashes.insert(U256::from(self.number), hash);
        self.parent_hash = hash;
        self.number += 1;
        self.timestamp += 12;
        hash
    }

    /// Advances `n` blocks.
    pub fn advance_by(&mut self, n: u64) {
        for _ in 0..n {
            self.advance();
        }
    }

    /// The recorded hash of block `n`, zero when it is not (yet) a past block.
    pub fn block_hash(&self, n: u64) -> B256 {
        self.db.cache.block_hashes.get(&U256::from(n)).copied().unwrap_or_default()
    }

    fn env(&self, tx: &Tx) -> (BlockEnv, TxEnv) {
        let block = BlockEnv {
            number: U256::from(self.number),
            timestamp: U256::from(self.timestamp),
            gas_limit: 60_000_000,
            basefee: 0,
            prevrandao: Some(B256::ZERO),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new_with_spec(0, self.spec)),
            ..Default::default()
        };
        let nonce = self.db.cache.accounts.get(&tx.from).map(|a| a.info.nonce).unwrap_or(0);
        let tx_env = TxEnv {
            tx_type: if tx.blob_hashes.is_empty() { 2 } else { 3 },
            caller: tx.from,
            gas_limit: tx.gas,
            gas_price: 0,
            gas_priority_fee: Some(0),
            kind: tx.to,
            value: tx.value,
            data: tx.data.clone(),
            nonce,
            chain_id: Some(self.chain_id),
            max_fee_per_blob_gas: if tx.blob_hashes.is_empty() { 0 } else { 1 },
            blob_hashes: tx.blob_hashes.clone(),
            ..Default::default()
        };
        (block, tx_env)
    }

    /// Runs `tx`, committing its state changes when `commit` is set (otherwise an `eth_call`).
    fn run(&mut self, tx: Tx, commit: bool) -> Outcome {
        let (block, tx_env) = self.env(&tx);
        let (chain_id, spec) = (self.chain_id, self.spec);
        let mut evm = Context::mainnet()
            .with_db(&mut self.db)
            .modify_cfg_chained(|c| {
                c.chain_id = chain_id;
                // Not `c.spec = spec`: that keeps the default fork's gas parameters.
                c.set_spec_and_mainnet_gas_params(spec);
            })
            .with_block(block)
            .build_mainnet();
        let result = if commit { evm.transact_commit(tx_env) } else { evm.transact(tx_env).map(|r| r.result) };
        Outcome(result.expect("transaction invalid"))
    }

    /// Runs `tx` and commits its state changes.
    pub fn exec(&mut self, tx: Tx) -> Outcome {
        self.run(tx, true)
    }

    /// Runs `tx` without committing (an `eth_call`).
    pub fn view(&mut self, tx: Tx) -> Outcome {
        self.run(tx, false)
    }

    /// Calls `call` on `to` read-only and decodes the result.
    pub fn read<C: SolCall>(&mut self, to: Address, call: C) -> C::Return {
        self.view(Tx::sol(Address::repeat_byte(0xee), to, call)).expect_ok().decode::<C>()
    }

    /// Deploys `artifact` (name under contracts/out) with a constructor call from its binding.
    pub fn deploy(&mut self, from: Address, artifact: &str, args: impl SolConstructor) -> Address {
        self.deploy_raw(from, artifact, &args.abi_encode())
    }

    /// Deploys `artifact` with already-encoded constructor arguments.
    pub fn deploy_raw(&mut self, from: Address, artifact: &str, args: &[u8]) -> Address {
        let mut code = creation_code(artifact).to_vec();
        code.extend_from_slice(args);
        let tx =
            Tx { from, to: TxKind::Create, data: code.into(), value: U256::ZERO, gas: 30_000_000, blob_hashes: vec![] };
        self.exec(tx).expect_ok().created()
    }

    pub fn storage(&self, address: Address, slot: impl Into<U256>) -> U256 {
        let slot = slot.into();
        self.db.cache.accounts.get(&address).and_then(|a| a.storage.get(&slot).copied()).unwrap_or_default()
    }

    pub fn set_storage(&mut self, address: Address, slot: impl Into<U256>, value: U256) {
        self.db.insert_account_storage(address, slot.into(), value).unwrap();
    }

    pub fn balance(&self, address: Address) -> U256 {
        self.db.cache.accounts.get(&address).map(|a| a.info.balance).unwrap_or_default()
    }

    /// The account's code (empty when it has none).
    pub fn code(&self, address: Address) -> Bytes {
        let info = self.db.cache.accounts.get(&address).map(|a| a.info.clone()).unwrap_or_default();
        info.code.map(|c| c.original_bytes()).unwrap_or_default()
    }

    pub fn set_balance(&mut self, address: Address, balance: U256) {
        let mut info = self.db.cache.accounts.get(&address).map(|a| a.info.clone()).unwrap_or_default();
        info.balance = balance;
        self.db.insert_account_info(address, info);
    }
}

/// Path of the workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Parsed artifact JSON from contracts/out.
pub fn artifact(name: &str) -> serde_json::Value {
    let path = workspace_root().join("contracts/out").join(format!("{name}.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The creation bytecode of an artifact.
pub fn creation_code(name: &str) -> Bytes {
    let a = artifact(name);
    let hex = a["bytecode"]["object"].as_str().unwrap();
    hex.parse().unwrap()
}

/// A deterministic test account.
pub fn account(n: u8) -> Address {
    Address::with_last_byte(n).into_array().map(|b| b ^ 0xa0).into()
}

/// 1 ether.
pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

/// `bytes32("...")` as Solidity writes short strings.
pub fn b32(s: &str) -> B256 {
    let mut b = [0u8; 32];
    b[..s.len()].copy_from_slice(s.as_bytes());
    B256::from(b)
}

/// The bridge, signal service and resolver of one chain.
#[derive(Debug, Clone, Copy)]
pub struct Core {
    pub resolver: Address,
    pub signal_service: Address,
    pub bridge: Address,
}

/// The other chain as this chain's resolver knows it.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    pub chain_id: u64,
    pub bridge: Address,
    pub signal_service: Address,
}

/// Deploys resolver, signal service (with `syncer` as its authorized syncer) and bridge on `chain`,
/// and registers the local and remote bridges and signal services in the resolver.
pub fn deploy_core(chain: &mut Chain, owner: Address, syncer: Address, remote: Remote) -> Core {
    use surge_primitives::bindings::{bridge::Bridge, resolver::Resolver, signal_service::SignalService};
    let resolver = chain.deploy(owner, "Resolver", Resolver::constructorCall { initialOwner: owner });
    let signal_service = chain.deploy(
        owner,
        "SignalService",
        SignalService::constructorCall { _authorizedSyncer: syncer, _resolver: resolver },
    );
    let bridge =
        chain.deploy(owner, "Bridge", Bridge::constructorCall { _signalService: signal_service, _resolver: resolver });
    let local = chain.chain_id;
    for (chain_id, name, addr) in [
        (local, "bridge", bridge),
        (local, "signal_service", signal_service),
        (remote.chain_id, "bridge", remote.bridge),
        (remote.chain_id, "signal_service", remote.signal_service),
    ] {
        let call = Resolver::setAddressCall { chainId: U256::from(chain_id), name: b32(name), newAddress: addr };
        chain.exec(Tx::sol(owner, resolver, call)).expect_ok();
    }
    Core { resolver, signal_service, bridge }
}
