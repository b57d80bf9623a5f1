//! The latest state as a revm database, over one read transaction (a consistent snapshot).

use alloy_primitives::{Address, B256, U256};
use redb::{ReadOnlyTable, ReadTransaction};
use revm::{DatabaseRef, bytecode::Bytecode, state::AccountInfo};

use super::{StoreError, tables::*};

/// A snapshot of the latest committed state.
#[derive(Debug)]
pub struct StateProvider {
    accounts: ReadOnlyTable<[u8; 20], StoredAccount>,
    storage: ReadOnlyTable<([u8; 20], [u8; 32]), [u8; 32]>,
    codes: ReadOnlyTable<[u8; 32], &'static [u8]>,
    canonical: ReadOnlyTable<u64, [u8; 32]>,
    _txn: ReadTransaction,
}

impl StateProvider {
    /// Opens the state tables of `txn`.
    pub fn new(txn: ReadTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            accounts: txn.open_table(PLAIN_ACCOUNTS)?,
            storage: txn.open_table(PLAIN_STORAGE)?,
            codes: txn.open_table(BYTECODES)?,
            canonical: txn.open_table(CANONICAL)?,
            _txn: txn,
        })
    }

    /// The stored account at `address`.
    pub fn account(&self, address: &Address) -> Result<Option<StoredAccount>, StoreError> {
        Ok(self.accounts.get(addr_key(address))?.map(|g| g.value()))
    }
}

impl DatabaseRef for StateProvider {
    type Error = StoreError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        Ok(self.account(&address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StoreError> {
        match self.codes.get(code_hash.0)? {
            Some(code) => Ok(Bytecode::new_raw(code.value().to_vec().into())),
            None => Ok(Bytecode::default()),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StoreError> {
        Ok(self
            .storage
            .get((addr_key(&address), index.to_be_bytes::<32>()))?
            .map(|g| U256::from_be_bytes(g.value()))
            .unwrap_or_default())
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StoreError> {
        Ok(self.canonical.get(number)?.map(|g| B256::from(g.value())).unwrap_or_default())
    }
}
