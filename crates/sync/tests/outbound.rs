//! Outbound-message detection on the real L2 bridge (dev genesis): two messages in one transaction, a
//! message sent through a proxy by delegatecall, a message in a reverted sub-call, and two transactions in
//! one block with consecutive ids. Ground truth is the bridge's own MessageSent events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::genesis::Genesis;
use alloy_evm::{EthEvmFactory, Evm, EvmEnv, EvmFactory};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor, SolEvent};
use revm::{
    DatabaseCommit,
    context::{BlockEnv, CfgEnv, TxEnv},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::{AccountInfo, Bytecode},
};
use surge_primitives::{
    L2Predeploys, Message,
    bindings::{bridge::Bridge, test_delegate_proxy::DelegateProxy, test_message_sender::MessageSender},
    slots::bridge::{NEXT_MESSAGE_ID_SLOT, decode_next_message_id},
};
use surge_sync::{OutboundMessage, find_outbound_messages};

const L1: u64 = 3151908;
const L2: u64 = 763374;

struct L2Chain {
    db: CacheDB<EmptyDB>,
    bridge: Address,
    user: Address,
}

impl L2Chain {
    fn new() -> Self {
        let path = surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json");
        let genesis: Genesis = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut db = CacheDB::new(EmptyDB::default());
        for (address, account) in &genesis.alloc {
            let mut info = AccountInfo::from_balance(account.balance);
            info.nonce = account.nonce.unwrap_or(0);
            if let Some(code) = account.code.clone().filter(|c| !c.is_empty()) {
                info = info.with_code(Bytecode::new_raw(code));
            }
            db.insert_account_info(*address, info);
            for (k, v) in account.storage.clone().unwrap_or_default() {
                db.insert_account_storage(*address, k.into(), v.into()).unwrap();
            }
        }
        let user = *genesis.alloc.keys().find(|a| genesis.alloc[*a].code.is_none()).unwrap();
        Self { db, bridge: L2Predeploys::for_chain(L2).bridge, user }
    }

    fn env() -> EvmEnv {
        let block = BlockEnv {
            number: U256::from(1),
            timestamp: U256::from(2),
            gas_limit: 30_000_000,
            prevrandao: Some(B256::ZERO),
            ..Default::default()
        };
        EvmEnv::new(CfgEnv::new_with_spec(SpecId::SHANGHAI).with_chain_id(L2), block)
    }

    fn next_message_id(&self) -> u64 {
        let word = self.db.cache.accounts[&self.bridge].storage.get(&NEXT_MESSAGE_ID_SLOT).copied().unwrap_or_default();
        decode_next_message_id(word)
    }

    /// Runs a transaction with tracing, commits it, and returns what the detector found, the bridge's
    /// MessageSent events and whether the transaction succeeded.
    fn run(
        &mut self,
        to: TxKind,
        data: Vec<u8>,
        value: U256,
    ) -> (Vec<OutboundMessage>, Vec<(B256, Message)>, bool, Bytes) {
        let next_id = self.next_message_id();
        let nonce = self.db.cache.accounts.get(&self.user).map(|a| a.info.nonce).unwrap_or(0);
        let tx = TxEnv {
            caller: self.user,
            kind: to,
            data: data.into(),
            value,
            gas_limit: 5_000_000,
            nonce,
            chain_id: Some(L2),
            ..Default::default()
        };
        let mut inspector = surge_sync::CallTracer::default();
        let mut evm = EthEvmFactory::default().create_evm_with_inspector(&mut self.db, Self::env(), &mut inspector);
        let out = evm.transact(tx).unwrap();
        drop(evm);
        let result = out.result;
        self.db.commit(out.state);
        let found = find_outbound_messages(&inspector.into_traces(), self.bridge, L2, next_id);
        let events = result
            .logs()
            .iter()
            .filter(|l| l.address == self.bridge)
            .filter_map(|l| Bridge::MessageSent::decode_log_data(&l.data).ok().map(|e| (e.msgHash, e.message)))
            .collect();
        let output = result.output().cloned().unwrap_or_default();
        (found, events, result.is_success(), output)
    }

    fn deploy(&mut self, code: Vec<u8>) -> Address {
        let (_, _, ok, _) = self.run(TxKind::Create, code, U256::ZERO);
        assert!(ok);
        let nonce = self.db.cache.accounts[&self.user].info.nonce;
        self.user.create(nonce - 1)
    }
}

fn message(tag: u8) -> Message {
    Message {
        id: 0,
        fee: 0,
        gasLimit: 0,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: Address::repeat_byte(tag),
        destChainId: L1,
        destOwner: Address::repeat_byte(tag),
        to: Address::repeat_byte(tag),
        value: U256::from(tag),
        data: Bytes::from(vec![tag; 3]),
    }
}

/// The test app's binding declares its own copy of the message type (same ABI).
fn app_msg(tag: u8) -> surge_primitives::bindings::test_message_sender::IBridge::Message {
    use alloy_sol_types::SolValue;
    SolValue::abi_decode(&message(tag).abi_encode()).unwrap()
}

fn sender_app(chain: &mut L2Chain) -> Address {
    let mut code = MessageSender::BYTECODE.to_vec();
    code.extend(MessageSender::constructorCall { _bridge: chain.bridge }.abi_encode());
    chain.deploy(code)
}

#[test]
fn two_messages_in_one_transaction() {
    let mut chain = L2Chain::new();
    let app = sender_app(&mut chain);
    let first_id = chain.next_message_id();
    let call = MessageSender::sendTwoCall { a: app_msg(1), b: app_msg(2) };
    let (found, events, ok, _) = chain.run(TxKind::Call(app), call.abi_encode(), U256::from(3));
    assert!(ok);
    assert_eq!(found.len(), 2);
    assert_eq!(
        found.iter().map(|f| (f.hash, f.message.clone())).collect::<Vec<_>>(),
        events,
        "exactly what the bridge emitted"
    );
    assert_eq!((found[0].message.id, found[1].message.id), (first_id, first_id + 1));
    assert!(found.iter().all(|f| f.message.from == app && f.message.srcChainId == L2 && !f.reverted && f.depth == 1));
}

#[test]
fn a_message_sent_through_a_delegating_proxy() {
    let mut chain = L2Chain::new();
    let app = sender_app(&mut chain);
    let mut code = DelegateProxy::BYTECODE.to_vec();
    code.extend(DelegateProxy::constructorCall { _implementation: app }.abi_encode());
    let proxy = chain.deploy(code);
    let call = MessageSender::sendTwoCall { a: app_msg(3), b: app_msg(4) };
    let (found, events, ok, _) = chain.run(TxKind::Call(proxy), call.abi_encode(), U256::from(7));
    assert!(ok);
    assert_eq!(found.len(), 2);
    assert_eq!(found.iter().map(|f| (f.hash, f.message.clone())).collect::<Vec<_>>(), events);
    assert!(found.iter().all(|f| f.message.from == proxy), "the proxy, in whose context the code ran, is the sender");
    assert!(found.iter().all(|f| f.depth == 2), "bridge call made from inside the delegatecall frame");
}

#[test]
fn a_message_in_a_reverted_sub_call_is_not_reported_as_sent() {
    let mut chain = L2Chain::new();
    let app = sender_app(&mut chain);
    let first_id = chain.next_message_id();
    let call = MessageSender::sendRevertedThenOneCall { a: app_msg(5), b: app_msg(6) };
    let (found, events, ok, _) = chain.run(TxKind::Call(app), call.abi_encode(), U256::from(11));
    assert!(ok, "the transaction itself succeeds");
    assert_eq!(found.len(), 2);
    assert!(found[0].reverted && found[0].message.to == message(5).to);
    assert!(!found[1].reverted);
    assert_eq!(found[1].message.id, first_id, "the reverted attempt consumed no id");
    let sent: Vec<_> = found.iter().filter(|f| !f.reverted).map(|f| (f.hash, f.message.clone())).collect();
    assert_eq!(sent, events);
}

#[test]
fn two_transactions_in_a_block_get_consecutive_ids() {
    let mut chain = L2Chain::new();
    let app = sender_app(&mut chain);
    let first_id = chain.next_message_id();
    let mut ids = vec![];
    for tag in [7u8, 8] {
        let call = MessageSender::sendTwoCall { a: app_msg(tag), b: app_msg(tag + 10) };
        let (found, events, ok, _) = chain.run(TxKind::Call(app), call.abi_encode(), U256::from(2 * tag as u64 + 10));
        assert!(ok);
        assert_eq!(found.iter().map(|f| (f.hash, f.message.clone())).collect::<Vec<_>>(), events);
        ids.extend(found.iter().map(|f| f.message.id));
    }
    assert_eq!(ids, (first_id..first_id + 4).collect::<Vec<_>>());
}
