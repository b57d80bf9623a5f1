//! A block's state on top of its parent's, for revm to execute against, and the changes the block leaves.
//!
//! [`BlockState`] reads each account, slot and code once from the parent state, applies every
//! transaction's changes in place and, at the end, [`BlockState::into_changes`] says what the block
//! changed. It takes the place of revm's `State` with bundle updates for a host that records its own
//! reverts: `State` also builds a transition per transaction, merges them into a bundle and keeps the
//! values each account had before, which was half of the execution time of a block of transfers.
//!
//! Commit rules follow revm's `State` (EIP-161 state clear, self-destruct, creation), so a block's
//! changes are the ones revm's bundle would hold.

use alloy_primitives::{
    Address, B256, U256,
    map::{AddressMap, B256Map, B256Set, Entry, HashMap, U256Map},
};
use revm::{
    Database, DatabaseCommit, DatabaseRef,
    primitives::KECCAK_EMPTY,
    state::{Account, AccountInfo, Bytecode},
};

/// One storage slot as the block saw it.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// In the parent state (what the block's first read found).
    original: U256,
    /// Now.
    present: U256,
}

/// What the state records of an account. Its code is kept by hash, apart: an account's entry stays small
/// (a block of transfers holds two thousand of them, and their size was its page faults and cache misses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Values {
    balance: U256,
    nonce: u64,
    code_hash: B256,
}

impl Values {
    fn of(info: &AccountInfo) -> Self {
        Self { balance: info.balance, nonce: info.nonce, code_hash: info.code_hash }
    }

    /// As revm takes it: without code, which it asks for by hash when it runs the account.
    fn info(self) -> AccountInfo {
        AccountInfo {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
            account_id: None,
            code: None,
        }
    }
}

/// An account the block read or changed.
#[derive(Debug, Clone)]
struct TrackedAccount {
    /// In the parent state (`None`: it did not exist).
    original: Option<Values>,
    /// Now (`None`: it does not exist).
    current: Option<Values>,
    /// Slots read or written.
    storage: U256Map<Slot>,
    /// Slots not in `storage` are zero without a read: the account did not exist, was created or was
    /// destroyed in this block.
    storage_known: bool,
    /// The parent state's storage of the account is gone (destroyed, or cleared as an empty account).
    wiped: bool,
}

impl TrackedAccount {
    fn loaded(info: Option<AccountInfo>) -> Self {
        let values = info.as_ref().map(Values::of);
        Self {
            storage_known: values.is_none(),
            original: values,
            current: values,
            storage: U256Map::default(),
            wiped: false,
        }
    }

    /// How the block changed the account (`None`: only read, or changed and changed back).
    fn changed(&self) -> Option<ChangedAccount> {
        let storage: U256Map<U256> = self
            .storage
            .iter()
            .filter(|(_, s)| if self.wiped { !s.present.is_zero() } else { s.present != s.original })
            .map(|(k, s)| (*k, s.present))
            .collect();
        if !self.wiped && self.original == self.current && storage.is_empty() {
            return None;
        }
        Some(ChangedAccount { info: self.current.map(Values::info), wiped: self.wiped, storage })
    }

    /// The account and its storage are gone.
    fn destroy(&mut self) {
        self.current = None;
        self.storage.clear();
        self.storage_known = true;
        self.wiped |= self.original.is_some();
    }
}

/// What a block changed, with the values it left.
///
/// It holds what the block tracked and works out each changed account when asked ([`Self::iter`]): its
/// one consumer, the store, turns it into its own sorted form once, so an intermediate map of every
/// changed account (a tenth of a block of transfers) is never built.
#[derive(Debug, Clone, Default)]
pub struct BlockChanges {
    tracked: AddressMap<TrackedAccount>,
    /// Code the block deployed (contracts and EIP-7702 delegations), by hash.
    pub contracts: B256Map<Bytecode>,
}

impl BlockChanges {
    /// Whether the block changed nothing.
    pub fn is_empty(&self) -> bool {
        self.contracts.is_empty() && self.iter().next().is_none()
    }

    /// The accounts whose values or storage changed, with what the block left them (in no set order).
    pub fn iter(&self) -> impl Iterator<Item = (Address, ChangedAccount)> + '_ {
        self.tracked.iter().filter_map(|(address, account)| account.changed().map(|changed| (*address, changed)))
    }

    /// The same, by address.
    pub fn accounts(&self) -> AddressMap<ChangedAccount> {
        self.iter().collect()
    }
}

impl PartialEq for BlockChanges {
    fn eq(&self, other: &Self) -> bool {
        self.contracts == other.contracts && self.accounts() == other.accounts()
    }
}

impl Eq for BlockChanges {}

/// How one account changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedAccount {
    /// Its values after the block (`code` is left out: see [`BlockChanges::contracts`]); `None`: it no
    /// longer exists.
    pub info: Option<AccountInfo>,
    /// Its storage in the parent state was removed (self-destructed, or cleared as an empty account)
    /// before `storage` applies.
    pub wiped: bool,
    /// Slots with a new value (zero: unset).
    pub storage: U256Map<U256>,
}

/// A block's state: the parent's state `DB` with the changes of the transactions committed so far.
#[derive(Debug)]
pub struct BlockState<DB> {
    db: DB,
    accounts: AddressMap<TrackedAccount>,
    /// Code read from the parent state.
    code: B256Map<Bytecode>,
    /// Code the block deployed.
    new_code: B256Map<Bytecode>,
}

impl<DB> BlockState<DB> {
    /// An empty block on `db`, sized for about `accounts` accounts (growing the map while executing costs
    /// rehashing and copying).
    pub fn new(db: DB, accounts: usize) -> Self {
        Self {
            db,
            accounts: HashMap::with_capacity_and_hasher(accounts, Default::default()),
            code: B256Map::default(),
            new_code: B256Map::default(),
        }
    }

    /// Reads the accounts at `addresses` ahead of execution, one after another: lookups that do not
    /// depend on each other overlap their memory misses, where during execution each waits alone.
    pub fn warm_accounts(&mut self, addresses: impl IntoIterator<Item = Address>) -> Result<(), DB::Error>
    where
        DB: DatabaseRef,
    {
        for address in addresses {
            // What `basic` does for revm, the one place an account is first read and tracked.
            Database::basic(self, address)?;
        }
        Ok(())
    }

    /// What the block changed: accounts whose values or storage differ from the parent state's, and the
    /// code it deployed.
    pub fn into_changes(self) -> BlockChanges {
        // Only code some account holds at the end of the block and did not hold before (as in revm's
        // bundle: the code of a contract that did not outlive the block is not kept).
        let mut contracts = self.new_code;
        if !contracts.is_empty() {
            let deployed: B256Set = self
                .accounts
                .values()
                .filter_map(|a| a.current.as_ref().map(|i| (i.code_hash, a.original.as_ref().map(|o| o.code_hash))))
                .filter(|(now, before)| Some(*now) != *before)
                .map(|(now, _)| now)
                .collect();
            contracts.retain(|hash, _| deployed.contains(hash));
        }
        BlockChanges { tracked: self.accounts, contracts }
    }

    /// Applies one account's changes from a committed transaction.
    fn commit_account(&mut self, address: Address, account: Account) {
        if !account.is_touched() {
            return;
        }
        // The journal loads every account it touches through `basic`; one it did not is taken as revm's
        // `State` takes it, from what the journal says it found.
        let tracked = self.accounts.entry(address).or_insert_with(|| {
            TrackedAccount::loaded((!account.is_loaded_as_not_existing()).then(|| account.original_info()))
        });
        // A contract created and destroyed in one transaction is self-destructed and created: destruction
        // wins.
        if account.is_selfdestructed() {
            tracked.destroy();
            return;
        }
        let created = account.is_created();
        if created {
            // A new contract starts with empty storage whatever its address held.
            for slot in tracked.storage.values_mut() {
                slot.present = U256::ZERO;
            }
            tracked.storage_known = true;
        } else if account.is_empty() {
            // EIP-161: a touched empty account is removed.
            tracked.destroy();
            return;
        }
        for (key, slot) in account.storage {
            if slot.is_changed() {
                tracked
                    .storage
                    .entry(key)
                    .and_modify(|s| s.present = slot.present_value)
                    .or_insert(Slot { original: slot.original_value, present: slot.present_value });
            }
        }
        let info = account.info;
        let values = Values::of(&info);
        let previous_code = tracked.current.as_ref().map_or(KECCAK_EMPTY, |i| i.code_hash);
        if info.code_hash != previous_code
            && let Some(code) = info.code.filter(|c| !c.is_empty())
        {
            self.new_code.insert(info.code_hash, code);
        }
        tracked.current = Some(values);
    }
}

impl<DB: DatabaseRef> Database for BlockState<DB> {
    type Error = DB::Error;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let account = match self.accounts.entry(address) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(TrackedAccount::loaded(self.db.basic_ref(address)?)),
        };
        Ok(account.current.map(Values::info))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if let Some(code) = self.new_code.get(&code_hash).or_else(|| self.code.get(&code_hash)) {
            return Ok(code.clone());
        }
        let code = self.db.code_by_hash_ref(code_hash)?;
        self.code.insert(code_hash, code.clone());
        Ok(code)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        // An account the block has not loaded is as the parent state has it.
        let Some(account) = self.accounts.get_mut(&address) else {
            return self.db.storage_ref(address, index);
        };
        if let Some(slot) = account.storage.get(&index) {
            return Ok(slot.present);
        }
        if account.storage_known {
            return Ok(U256::ZERO);
        }
        let value = self.db.storage_ref(address, index)?;
        account.storage.insert(index, Slot { original: value, present: value });
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.db.block_hash_ref(number)
    }
}

impl<DB> DatabaseCommit for BlockState<DB> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }

    fn commit_iter(&mut self, changes: &mut dyn Iterator<Item = (Address, Account)>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }
}
