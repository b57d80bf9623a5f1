//! Places contracts into a genesis allocation by running their constructors in revm.

use std::collections::BTreeMap;

use alloy::genesis::GenesisAccount;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{BlockEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};

use crate::GenesisError;

/// A scratch chain on which constructors and set-up calls run; contracts are then moved to their
/// final addresses and read back as genesis accounts.
pub struct AllocBuilder {
    db: CacheDB<EmptyDB>,
    chain_id: u64,
    spec: SpecId,
    placed: Vec<Address>,
    deployer: Address,
}

impl std::fmt::Debug for AllocBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllocBuilder").field("chain_id", &self.chain_id).field("placed", &self.placed).finish()
    }
}

impl AllocBuilder {
    /// A builder for chain `chain_id` running `spec` rules (constructors see that chain id).
    pub fn new(chain_id: u64, spec: SpecId) -> Self {
        Self {
            db: CacheDB::new(EmptyDB::default()),
            chain_id,
            spec,
            placed: vec![],
            deployer: Address::repeat_byte(0xd0),
        }
    }

    fn run(
        &mut self,
        caller: Address,
        kind: TxKind,
        data: Bytes,
        value: U256,
    ) -> Result<ExecutionResult, GenesisError> {
        let nonce = self.db.cache.accounts.get(&caller).map(|a| a.info.nonce).unwrap_or(0);
        let tx = TxEnv {
            caller,
            kind,
            data,
            value,
            nonce,
            // Below Osaka's per-transaction cap (2^24).
            gas_limit: 16_000_000,
            gas_price: 0,
            gas_priority_fee: Some(0),
            tx_type: 2,
            chain_id: Some(self.chain_id),
            ..Default::default()
        };
        let (chain_id, spec) = (self.chain_id, self.spec);
        let mut evm = Context::mainnet()
            .with_db(&mut self.db)
            .modify_cfg_chained(|c| {
                c.chain_id = chain_id;
                c.set_spec_and_mainnet_gas_params(spec);
            })
            .with_block(BlockEnv { gas_limit: 60_000_000, ..Default::default() })
            .build_mainnet();
        evm.transact_commit(tx).map_err(|e| GenesisError::Evm(e.to_string()))
    }

    /// Runs `name`'s constructor (creation code + ABI-encoded `args`) and moves the resulting code and
    /// storage to `at`. Fails if the runtime code embeds the scratch address (an immutable that captured
    /// `address(this)` would be wrong at `at`).
    pub fn place(&mut self, name: &str, creation: &[u8], args: &[u8], at: Address) -> Result<(), GenesisError> {
        let mut code = creation.to_vec();
        code.extend_from_slice(args);
        let result = self.run(self.deployer, TxKind::Create, code.into(), U256::ZERO)?;
        let scratch = match result {
            ExecutionResult::Success { .. } => result
                .created_address()
                .ok_or_else(|| GenesisError::Constructor { name: name.into(), reason: "no address".into() })?,
            other => return Err(GenesisError::Constructor { name: name.into(), reason: format!("{other:?}") }),
        };
        let account =
            self.db.cache.accounts.remove(&scratch).ok_or_else(|| GenesisError::Constructor {
                name: name.into(),
                reason: "created account missing".into(),
            })?;
        let runtime = account
            .info
            .code
            .clone()
            .or_else(|| self.db.cache.contracts.get(&account.info.code_hash).cloned())
            .unwrap_or_default();
        let bytes = runtime.original_bytes();
        if bytes.windows(20).any(|w| w == scratch.as_slice()) {
            return Err(GenesisError::ScratchAddressCaptured { name: name.into(), scratch });
        }
        let mut info = AccountInfo::default().with_code(Bytecode::new_raw(bytes));
        info.nonce = 1;
        self.db.insert_account_info(at, info);
        for (slot, value) in account.storage {
            self.db.insert_account_storage(at, slot, value).map_err(|e| GenesisError::Evm(e.to_string()))?;
        }
        self.placed.push(at);
        Ok(())
    }

    /// Calls a placed contract (set-up such as registering addresses); the call must succeed.
    pub fn call(&mut self, from: Address, to: Address, data: Vec<u8>, what: &str) -> Result<(), GenesisError> {
        self.call_with_value(from, to, data, U256::ZERO, what)
    }

    /// Calls a placed contract sending `value` wei, which `from` is given first on the scratch chain (only
    /// placed contracts end up in the allocation, so the caller's genesis balance is not affected).
    pub fn call_with_value(
        &mut self,
        from: Address,
        to: Address,
        data: Vec<u8>,
        value: U256,
        what: &str,
    ) -> Result<(), GenesisError> {
        if !value.is_zero() {
            let mut info = self.db.cache.accounts.get(&from).map(|a| a.info.clone()).unwrap_or_default();
            info.balance += value;
            self.db.insert_account_info(from, info);
        }
        match self.run(from, TxKind::Call(to), data.into(), value)? {
            ExecutionResult::Success { .. } => Ok(()),
            other => Err(GenesisError::Setup { what: what.into(), reason: format!("{other:?}") }),
        }
    }

    /// The placed contracts as genesis accounts (code, nonce 1, balance, non-zero storage).
    pub fn into_alloc(self) -> BTreeMap<Address, GenesisAccount> {
        let mut alloc = BTreeMap::new();
        for at in self.placed {
            let Some(acc) = self.db.cache.accounts.get(&at) else { continue };
            let code = acc.info.code.as_ref().map(|c| c.original_bytes()).unwrap_or_default();
            let storage: BTreeMap<B256, B256> = acc
                .storage
                .iter()
                .filter(|(_, v)| !v.is_zero())
                .map(|(k, v)| (B256::from(k.to_be_bytes::<32>()), B256::from(v.to_be_bytes::<32>())))
                .collect();
            let account = GenesisAccount::default()
                .with_nonce(Some(acc.info.nonce))
                .with_balance(acc.info.balance)
                .with_code(Some(code))
                .with_storage((!storage.is_empty()).then_some(storage));
            alloc.insert(at, account);
        }
        alloc
    }
}
