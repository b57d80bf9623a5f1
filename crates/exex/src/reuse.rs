//! What a planned transaction's run read and changed, so that a later L2 block that changed none of it
//! does not run it again: the accounts and slots it read with their values ([`Recording`]), whether it
//! looked at the block itself (number, time, coinbase: [`EnvWatch`]), and the state it left. The same
//! reads in the same fee environment give the same run, so its recorded state is committed instead.

use alloy_primitives::{Address, B256, U256};
use revm::{
    Database, DatabaseRef,
    context::BlockEnv,
    inspector::Inspector,
    interpreter::{Interpreter, interpreter_types::Jumps},
    state::{AccountInfo, Bytecode, EvmState},
};

/// One value a run read from the state.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    /// An account's nonce, balance and code hash (`None`: no such account).
    Account(Address, Option<(u64, U256, B256)>),
    /// A storage slot.
    Slot(Address, U256, U256),
}

fn account_key(info: Option<&AccountInfo>) -> Option<(u64, U256, B256)> {
    info.map(|a| (a.nonce, a.balance, a.code_hash))
}

/// A database that records every account and slot read through it (code is read by hash and cannot
/// change under it; block hashes are the environment's).
#[derive(Debug)]
pub struct Recording<'a, DB> {
    db: &'a mut DB,
    reads: Vec<Read>,
}

impl<'a, DB> Recording<'a, DB> {
    /// Reads through `db`, recording.
    pub fn new(db: &'a mut DB) -> Self {
        Self { db, reads: vec![] }
    }
}

impl<DB: Database> Database for Recording<'_, DB> {
    type Error = DB::Error;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let info = self.db.basic(address)?;
        self.reads.push(Read::Account(address, account_key(info.as_ref())));
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.db.code_by_hash(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        let value = self.db.storage(address, index)?;
        self.reads.push(Read::Slot(address, index, value));
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.db.block_hash(number)
    }
}

/// Notes whether a run read the block's own fields (a run that did may differ in the next block).
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvWatch {
    read_block: bool,
}

impl<CTX> Inspector<CTX> for EnvWatch {
    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        // BLOCKHASH, COINBASE, TIMESTAMP, NUMBER, PREVRANDAO, GASLIMIT, BASEFEE, BLOBBASEFEE.
        if matches!(interp.bytecode.opcode(), 0x40..=0x45 | 0x48 | 0x4a) {
            self.read_block = true;
        }
    }
}

/// The fee environment a run's state depends on besides what it read: the fees it paid and who got them.
fn fee_environment(block: &BlockEnv) -> (u64, Address, u64, Option<u128>) {
    let blob = block.blob_excess_gas_and_price.map(|b| b.blob_gasprice);
    (block.basefee, block.beneficiary, block.gas_limit, blob)
}

/// A planned transaction's run, to commit again on a new state that reads the same.
#[derive(Debug, Clone)]
pub struct Replayable {
    reads: Vec<Read>,
    fees: (u64, Address, u64, Option<u128>),
    state: EvmState,
}

impl Replayable {
    /// A run in `block` that read `recording`'s values and left `state`; `None` when it read the block's own
    /// fields (it may differ in another block).
    pub fn of<DB>(recording: Recording<'_, DB>, watch: EnvWatch, block: &BlockEnv, state: &EvmState) -> Option<Self> {
        (!watch.read_block).then(|| Self { reads: recording.reads, fees: fee_environment(block), state: state.clone() })
    }

    /// The state it left, when a run in `block` on `db` would read exactly what it read.
    pub fn again<DB: DatabaseRef>(&self, db: &DB, block: &BlockEnv) -> Option<EvmState> {
        if fee_environment(block) != self.fees {
            return None;
        }
        let same = self.reads.iter().all(|read| match read {
            Read::Account(address, key) => db.basic_ref(*address).is_ok_and(|a| account_key(a.as_ref()) == *key),
            Read::Slot(address, index, value) => db.storage_ref(*address, *index).is_ok_and(|v| v == *value),
        });
        same.then(|| self.state.clone())
    }
}

#[cfg(test)]
mod tests {
    use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
    use alloy_primitives::{Bytes, TxKind, address};
    use revm::{
        context::{CfgEnv, TxEnv},
        database::{CacheDB, EmptyDB},
        primitives::hardfork::SpecId,
    };

    use super::*;

    const CODE_AT: Address = address!("0x00000000000000000000000000000000000c0de1");
    const CALLER: Address = address!("0x00000000000000000000000000000000000ca11e");

    /// Runs `code` once through a recording database: what it left, as a replayable run if it is one.
    fn run(db: &mut CacheDB<EmptyDB>, code: &[u8]) -> Option<Replayable> {
        let info = AccountInfo::default().with_code(Bytecode::new_raw(Bytes::copy_from_slice(code)));
        db.insert_account_info(CODE_AT, info);
        let env = EvmEnv::new(CfgEnv::new_with_spec(SpecId::PRAGUE), BlockEnv::default());
        let tx = TxEnv { caller: CALLER, kind: TxKind::Call(CODE_AT), gas_limit: 100_000, ..Default::default() };
        let mut watch = EnvWatch::default();
        let block = env.block_env.clone();
        let mut vm = EthEvmFactory::default().create_evm_with_inspector(Recording::new(db), env, &mut watch);
        let out = vm.transact(tx).unwrap();
        let (recording, _) = vm.finish();
        Replayable::of(recording, watch, &block, &out.state)
    }

    #[test]
    fn a_run_is_committed_again_only_on_the_same_reads_and_never_after_reading_the_block() {
        let mut db = CacheDB::new(EmptyDB::default());
        // PUSH1 0 SLOAD POP STOP: reads slot 0 of its own account.
        let run_once = run(&mut db, &[0x60, 0x00, 0x54, 0x50, 0x00]).expect("it read no block field");
        let block = BlockEnv::default();
        assert!(run_once.again(&db, &block).is_some(), "the same reads");
        db.insert_account_storage(CODE_AT, U256::ZERO, U256::from(7)).unwrap();
        assert!(run_once.again(&db, &block).is_none(), "the slot it read changed");
        let dearer = BlockEnv { basefee: 9, ..Default::default() };
        assert!(run(&mut db, &[0x60, 0x00, 0x54, 0x50, 0x00]).unwrap().again(&db, &dearer).is_none(), "other fees");
        // NUMBER POP STOP: reads the block's number, so another block may differ.
        assert!(run(&mut db, &[0x43, 0x50, 0x00]).is_none());
    }
}
