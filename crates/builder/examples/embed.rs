//! Embedding the surge payload builder in your own node: an in-memory state (revm's `CacheDB` loaded from
//! the dev L2 genesis), the two seams the builder reads through, one user operation and one transfer.
//!
//! Run: `cargo run -p surge-builder --example embed`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use alloy::{
    consensus::{Header, Sealed, SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    genesis::Genesis,
    signers::SignerSync,
};
use alloy_evm::EvmEnv;
use alloy_primitives::{Address, B256, TxKind, U256, aliases::U48};
use revm::{
    context::{BlockEnv, CfgEnv},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use surge_builder::{BuilderConfig, InputQueue, ListTransactions, NextBlockAttributes, SurgePayloadBuilder};
use surge_interfaces::{ConfigureEvm, StateProviderFactory};
use surge_l2_rules::{FeeRules, TaikoEvmFactory};
use surge_primitives::Checkpoint;

/// Your node's state: here one in-memory genesis.
struct MyState {
    genesis: Sealed<Header>,
    db: CacheDB<EmptyDB>,
}

impl StateProviderFactory for MyState {
    type Error = Infallible;
    type State = CacheDB<EmptyDB>;

    fn latest_header(&self) -> Result<(Header, B256), Infallible> {
        Ok((self.genesis.inner().clone(), self.genesis.hash()))
    }
    fn header_by_number(&self, number: u64) -> Result<Option<(Header, B256)>, Infallible> {
        Ok((number == 0).then(|| (self.genesis.inner().clone(), self.genesis.hash())))
    }
    fn state_by_block_number(&self, _number: u64) -> Result<CacheDB<EmptyDB>, Infallible> {
        Ok(self.db.clone())
    }
}

/// Your node's EVM configuration: the L2 runs Shanghai.
struct MyEvm(u64);

impl ConfigureEvm for MyEvm {
    type Factory = TaikoEvmFactory;

    fn evm_env(&self, h: &Header) -> EvmEnv {
        let block = BlockEnv {
            number: U256::from(h.number),
            beneficiary: h.beneficiary,
            timestamp: U256::from(h.timestamp),
            gas_limit: h.gas_limit,
            basefee: h.base_fee_per_gas.unwrap_or_default(),
            prevrandao: Some(h.mix_hash),
            ..Default::default()
        };
        EvmEnv::new(CfgEnv::new_with_spec(SpecId::SHANGHAI).with_chain_id(self.0), block)
    }
    fn next_header<P: StateProviderFactory>(
        &self,
        _provider: &P,
        parent: &Header,
        attributes: &NextBlockAttributes,
    ) -> Result<Header, P::Error> {
        let timestamp = attributes.timestamp;
        Ok(Header { number: parent.number + 1, parent_hash: parent.hash_slow(), timestamp, ..parent.clone() })
    }
    fn simulation_factory(&self) -> TaikoEvmFactory {
        TaikoEvmFactory { rules: FeeRules::simulation(self.0) }
    }
    fn block_factory(&self, anchor_nonce: Option<u64>) -> TaikoEvmFactory {
        TaikoEvmFactory { rules: FeeRules { anchor_nonce, ..FeeRules::block(self.0, 50, 0) } }
    }
}

fn main() -> eyre::Result<()> {
    let dev = surge_test_utils::workspace_root().join("etc/dev");
    let genesis: Genesis = serde_json::from_str(&std::fs::read_to_string(dev.join("l2-genesis.json"))?)?;
    let addresses: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dev.join("addresses.json"))?)?;
    let genesis_hash: B256 = serde_json::from_value(addresses["l2GenesisHash"].clone())?;
    let chain_id = genesis.config.chain_id;
    let mut db = CacheDB::new(EmptyDB::default());
    for (address, account) in &genesis.alloc {
        let code = account.code.clone().unwrap_or_default();
        let info = AccountInfo { nonce: account.nonce.unwrap_or(0), ..AccountInfo::from_balance(account.balance) };
        db.insert_account_info(*address, info.with_code(Bytecode::new_raw(code)));
        for (k, v) in account.storage.clone().unwrap_or_default() {
            db.insert_account_storage(*address, k.into(), v.into())?;
        }
    }
    let header = Header {
        gas_limit: genesis.gas_limit,
        timestamp: genesis.timestamp,
        base_fee_per_gas: genesis.base_fee_per_gas.map(|b| b as u64),
        ..Default::default()
    };
    // BLOCKHASH(0) must be the real genesis hash: the anchor checks the chain of ancestors.
    db.cache.block_hashes.insert(U256::ZERO, genesis_hash);
    let state = MyState { genesis: Sealed::new_unchecked(header, genesis_hash), db };

    // The planner hands over an L1→L2 user op; the builder injects its slot into the anchor.
    let inputs = std::sync::Arc::new(InputQueue::new());
    inputs.push_user_op(B256::repeat_byte(0x42), None);
    let builder = SurgePayloadBuilder::new(MyEvm(chain_id), inputs.clone(), BuilderConfig::new(chain_id, 50))?;

    let key = surge_test_utils::dev_key(3);
    let tx = TxEip1559 {
        chain_id,
        gas_limit: 21_000,
        max_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(1),
        ..Default::default()
    };
    let signed = tx.clone().into_signed(key.sign_hash_sync(&tx.signature_hash())?);
    let user_tx = Recovered::new_unchecked(TxEnvelope::Eip1559(signed), key.address());

    let attributes = NextBlockAttributes {
        timestamp: state.genesis.timestamp + 2,
        fee_recipient: Address::repeat_byte(0xcb),
        l1_checkpoint: Some(Checkpoint {
            blockNumber: U48::from(1),
            blockHash: B256::repeat_byte(1),
            stateRoot: B256::repeat_byte(2),
        }),
        ..Default::default()
    };
    let payload = builder.build(&state, &state.genesis, &attributes, &mut ListTransactions::new([user_tx]))?;
    // Once your node has committed it (with the state root it computed):
    inputs.committed(payload.header.number, &payload.inputs);

    println!("block {} with {} transactions:", payload.header.number, payload.body.transactions.len());
    for (tx, receipt) in payload.body.transactions.iter().zip(&payload.receipts) {
        println!("  {} status {}", tx.tx_hash(), receipt.status());
    }
    println!("slots injected: {:?}, gas used {}", payload.inputs.user_op_slots, payload.header.gas_used);
    eyre::ensure!(payload.body.transactions.len() == 2 && payload.receipts.iter().all(|r| r.status()));
    Ok(())
}
