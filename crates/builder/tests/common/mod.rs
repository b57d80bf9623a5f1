//! A dev-genesis L2 on the embedded host's store, with the surge builder and an input queue.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, sync::Arc};

use alloy::{
    consensus::{Header, Sealed, SignableTransaction, TxEip1559, TxEnvelope, transaction::Recovered},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, aliases::U48, keccak256};
use revm::DatabaseRef;
use surge_builder::{
    BuilderConfig, BuiltPayload, InputQueue, ListTransactions, NextBlockAttributes, OutboundDependency, ReturnSlot,
    SurgePayloadBuilder,
};
use surge_host::{ChainSpec, ExecutedBlock, SealedHeader, Store, seams::HostEvmConfig};
use surge_interfaces::BuiltBlock;
use surge_primitives::{Checkpoint, L2Predeploys, Message, chain_address, received_signal_key};

pub use surge_test_utils::dev_key;

pub const L1_CHAIN_ID: u64 = 3151908;
pub const COINBASE: Address = Address::new([0xcb; 20]);

pub fn l1_bridge() -> Address {
    chain_address(L1_CHAIN_ID, "1").unwrap()
}

pub fn checkpoint(l1_block: u64) -> Checkpoint {
    Checkpoint {
        blockNumber: U48::from(l1_block),
        blockHash: keccak256(l1_block.to_be_bytes()),
        stateRoot: keccak256((l1_block + 1).to_be_bytes()),
    }
}

pub type DevBuilder = SurgePayloadBuilder<HostEvmConfig, Arc<InputQueue>>;

pub struct DevL2 {
    _dir: tempfile::TempDir,
    pub spec: Arc<ChainSpec>,
    pub store: Store,
    pub queue: Arc<InputQueue>,
    pub builder: DevBuilder,
    pub nonces: BTreeMap<Address, u64>,
}

impl DevL2 {
    pub fn new() -> Self {
        Self::with_passes(3)
    }

    pub fn with_passes(max_passes: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = surge_test_utils::workspace_root().join("etc/dev/l2-genesis.json");
        let spec = Arc::new(ChainSpec::from_genesis_file(&path).unwrap());
        let store = Store::open(dir.path(), &spec).unwrap();
        let queue = Arc::new(InputQueue::new());
        let config = BuilderConfig { max_passes, ..BuilderConfig::new(spec.chain_id, 50) };
        let builder = SurgePayloadBuilder::new(HostEvmConfig(spec.clone()), queue.clone(), config).unwrap();
        Self { _dir: dir, spec, store, queue, builder, nonces: BTreeMap::new() }
    }

    pub fn predeploys(&self) -> L2Predeploys {
        L2Predeploys::for_chain(self.spec.chain_id)
    }

    pub fn head(&self) -> Sealed<Header> {
        let head = self.store.head().unwrap();
        Sealed::new_unchecked(head.header, head.hash)
    }

    pub fn attributes(&self) -> NextBlockAttributes {
        let head = self.head();
        NextBlockAttributes {
            timestamp: head.timestamp + 2,
            fee_recipient: COINBASE,
            l1_checkpoint: Some(checkpoint(head.number + 10)),
            ..Default::default()
        }
    }

    /// Builds the child of the head from `txs` (the staged inputs of the queue), without committing.
    pub fn build(&self, txs: Vec<Recovered<TxEnvelope>>) -> BuiltPayload {
        self.builder.build(&self.store, &self.head(), &self.attributes(), &mut ListTransactions::new(txs)).unwrap()
    }

    /// Commits a built block and consumes its inputs.
    pub fn commit(&self, payload: BuiltPayload) -> SealedHeader {
        let sealed = self.store.commit_block(ExecutedBlock::from(BuiltBlock::from(payload.clone()))).unwrap();
        self.queue.committed(sealed.header.number, &payload.inputs);
        sealed
    }

    pub fn build_and_commit(&self, txs: Vec<Recovered<TxEnvelope>>) -> (BuiltPayload, SealedHeader) {
        let payload = self.build(txs);
        let sealed = self.commit(payload.clone());
        (payload, sealed)
    }

    /// A signed EIP-1559 transaction from dev account `i` with its next nonce.
    pub fn tx(&mut self, i: u32, to: TxKind, input: Vec<u8>, gas_limit: u64) -> Recovered<TxEnvelope> {
        sign(&dev_key(i), &mut self.nonces, self.spec.chain_id, to, input, gas_limit)
    }

    pub fn storage(&self, address: Address, key: B256) -> U256 {
        self.store.latest_state().unwrap().storage_ref(address, key.into()).unwrap()
    }

    pub fn signal_received(&self, slot: B256) -> bool {
        self.storage(self.predeploys().signal_service, received_signal_key(slot)) == U256::from(1)
    }

    /// The next message id of the L2 bridge at the head.
    pub fn next_message_id(&self) -> u64 {
        let word = self.storage(self.predeploys().bridge, surge_primitives::slots::bridge::NEXT_MESSAGE_ID_SLOT.into());
        surge_primitives::slots::bridge::decode_next_message_id(word)
    }
}

pub fn sign(
    key: &PrivateKeySigner,
    nonces: &mut BTreeMap<Address, u64>,
    chain_id: u64,
    to: TxKind,
    input: Vec<u8>,
    gas_limit: u64,
) -> Recovered<TxEnvelope> {
    let nonce = nonces.entry(key.address()).or_insert(0);
    let tx = TxEip1559 {
        chain_id,
        nonce: *nonce,
        gas_limit,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input: input.into(),
    };
    *nonce += 1;
    let sig = key.sign_hash_sync(&tx.signature_hash()).unwrap();
    Recovered::new_unchecked(TxEnvelope::Eip1559(tx.into_signed(sig)), key.address())
}

/// An L2→L1 message (as the caller passes it; the bridge assigns id, from and srcChainId).
pub fn outbound(owner: Address, tag: u8) -> Message {
    Message {
        id: 0,
        fee: 0,
        gasLimit: 0,
        from: Address::ZERO,
        srcChainId: 0,
        srcOwner: owner,
        destChainId: L1_CHAIN_ID,
        destOwner: owner,
        to: Address::repeat_byte(0x70 + tag),
        value: U256::ZERO,
        data: Bytes::from(vec![tag; 3]),
    }
}

/// The L1 bridge's reply to an outbound message, for `dest_owner` on L2 (it processes it itself).
pub fn reply(dest_owner: Address, l2_chain_id: u64, id: u64) -> Message {
    Message {
        id,
        fee: 0,
        gasLimit: 0,
        from: Address::repeat_byte(0x11),
        srcChainId: L1_CHAIN_ID,
        srcOwner: dest_owner,
        destChainId: l2_chain_id,
        destOwner: dest_owner,
        to: Address::repeat_byte(0x99),
        value: U256::ZERO,
        data: Bytes::new(),
    }
}

/// The return slot a planner would queue for `tx` sending `sent`, whose L1 side replies with `back`.
pub fn return_slot(tx: &Recovered<TxEnvelope>, sent: Message, back: &Message) -> ReturnSlot {
    ReturnSlot {
        slot: back.signal_slot(l1_bridge()),
        depends_on: OutboundDependency { tx_hash: *tx.tx_hash(), message: sent },
    }
}

/// Deploys the round-trip test app (`MessageSender`) from dev account 2 in a block of its own.
pub fn deploy_app(l2: &mut DevL2) -> Address {
    use alloy_sol_types::SolConstructor;
    use surge_primitives::bindings::test_message_sender::MessageSender;
    let deployer = dev_key(2).address();
    let nonce = l2.nonces.get(&deployer).copied().unwrap_or(0);
    let mut code = MessageSender::BYTECODE.to_vec();
    code.extend(MessageSender::constructorCall { _bridge: l2.predeploys().bridge }.abi_encode());
    let deploy = l2.tx(2, TxKind::Create, code, 2_000_000);
    l2.build_and_commit(vec![deploy]);
    deployer.create(nonce)
}

/// A round trip through `app` from dev account `from`: sends `sent`, then consumes the L1 reply (id
/// `reply_id`); the planner expects `planned` to be sent.
pub struct RoundTrip {
    pub tx: Recovered<TxEnvelope>,
    pub slot: ReturnSlot,
}

pub fn round_trip(
    l2: &mut DevL2,
    app: Address,
    from: u32,
    sent: Message,
    planned: Message,
    reply_id: u64,
) -> RoundTrip {
    use alloy_sol_types::SolCall;
    use surge_primitives::bindings::test_message_sender::MessageSender;
    let back = reply(app, l2.spec.chain_id, reply_id);
    let call = MessageSender::sendAndConsumeCall { out: sent.into(), back: back.clone().into() };
    let tx = l2.tx(from, TxKind::Call(app), call.abi_encode(), 1_500_000);
    let slot = return_slot(&tx, planned, &back);
    RoundTrip { tx, slot }
}

/// A round trip whose plan is right: `sent` goes out with the next message id.
pub fn planned_round_trip(l2: &mut DevL2, app: Address, from: u32, tag: u8) -> RoundTrip {
    let out = outbound(dev_key(from).address(), tag);
    let planned = out.clone().with_bridge_assigned(l2.next_message_id(), app, l2.spec.chain_id);
    round_trip(l2, app, from, out, planned, u64::from(tag))
}
