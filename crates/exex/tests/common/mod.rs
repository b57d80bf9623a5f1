//! The dev network's genesis state for planner tests: the L2 and the embedded L1 stores, the example apps,
//! candidates built from dev accounts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use alloy_evm::EvmEnv;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_sol_types::SolCall;
use revm::context::TxEnv;
use surge_exex::{Candidate, L2Protocol, PendingL2};
use surge_genesis::ExampleApps;
use surge_host::{ChainSpec, Store, seams::HostEvmConfig};
use surge_interfaces::{ConfigureEvm, NextBlockAttributes, StateProviderFactory};
use surge_l1::{BundleSimulator, EmbeddedSource, InFlightBundle, L1Protocol, L1StateSource, SimConfig};
use surge_primitives::{Message, ProtocolConfig, bindings::examples::swap_vault_l2::SwapVaultL2};
use surge_sync::Plan;
use surge_test_utils::{dev_key, workspace_root};

pub struct Dev {
    pub _dir: tempfile::TempDir,
    pub l2: Arc<Store>,
    pub l1: Arc<Store>,
    pub evm: HostEvmConfig,
    pub protocol: ProtocolConfig,
    pub apps: ExampleApps,
}

/// The dev state with the default simulation settings.
pub async fn dev() -> (Dev, BundleSimulator) {
    dev_with(SimConfig::default()).await
}

/// The dev state, with the open bundle simulated under `config`.
pub async fn dev_with(config: SimConfig) -> (Dev, BundleSimulator) {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        let spec =
            ChainSpec::from_genesis_file(&workspace_root().join(format!("etc/dev/{name}-genesis.json"))).unwrap();
        (Arc::new(Store::open(&dir.path().join(name), &spec).unwrap()), spec)
    };
    let ((l1, _), (l2, l2_spec)) = (open("l1"), open("l2"));
    let addresses: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("etc/dev/addresses.json")).unwrap())
            .unwrap();
    let protocol: ProtocolConfig = serde_json::from_value(addresses["protocol"].clone()).unwrap();
    let apps = serde_json::from_value(addresses["apps"].clone()).unwrap();
    let dev = Dev { _dir: dir, l2, l1, evm: HostEvmConfig(Arc::new(l2_spec)), protocol, apps };
    let bundle = dev.bundle(config, &[]).await;
    (dev, bundle)
}

impl Dev {
    /// A bundle on the embedded L1's genesis after `in_flight`.
    pub async fn bundle(&self, config: SimConfig, in_flight: &[InFlightBundle]) -> BundleSimulator {
        let view = EmbeddedSource::new(self.l1.clone()).open(0, self.l1.genesis_hash()).await.unwrap();
        BundleSimulator::new(Arc::new(view), L1Protocol::from_config(&self.protocol), config, in_flight).unwrap()
    }

    /// The L2 chain spec.
    pub fn l2_spec(&self) -> ChainSpec {
        ChainSpec::from_genesis_file(&workspace_root().join("etc/dev/l2-genesis.json")).unwrap()
    }

    /// The pending state after `txs` (each with its answers' slots marked), as if they were on the head.
    pub fn pending_with(
        &self,
        txs: &[(TxEnv, Vec<alloy_primitives::B256>)],
    ) -> PendingL2<<Store as StateProviderFactory>::State> {
        let f = self.evm.simulation_factory();
        let mut pending = self.pending();
        for (tx, slots) in txs {
            assert!(pending.apply(&f, tx, slots).unwrap(), "the closed proposal's transaction succeeds");
        }
        pending
    }

    pub fn pending(&self) -> PendingL2<<Store as StateProviderFactory>::State> {
        let (head, _) = self.l2.latest_header().unwrap();
        let env: EvmEnv =
            self.evm.next_evm_env(&*self.l2, &head, &NextBlockAttributes::at(head.timestamp + 1)).unwrap();
        PendingL2::new(self.l2.latest().unwrap(), env, L2Protocol::from_config(&self.protocol))
    }

    /// A swap of 1 ether from dev account `who` embedding `answer`.
    pub fn swap(&self, who: u32, nonce: u64, answer: &Message) -> Candidate {
        let call = SwapVaultL2::swapETHForTokenViaL1Call { minOut: U256::ZERO, returnMessage: answer.clone().into() };
        self.candidate(
            who,
            nonce,
            self.apps.cross_chain_swap.l2_vault,
            call.abi_encode().into(),
            U256::from(10).pow(U256::from(18)),
        )
    }

    pub fn candidate(&self, who: u32, nonce: u64, to: Address, data: Bytes, value: U256) -> Candidate {
        let sender = dev_key(who).address();
        let tx = TxEnv {
            tx_type: 2,
            caller: sender,
            kind: TxKind::Call(to),
            data,
            value,
            nonce,
            gas_limit: 3_000_000,
            gas_price: 1_000_000_000,
            gas_priority_fee: Some(0),
            chain_id: Some(self.protocol.l2_chain_id),
            ..Default::default()
        };
        Candidate {
            hash: keccak256([sender.as_slice(), &nonce.to_be_bytes(), &[who as u8]].concat()),
            sender,
            nonce,
            tx,
        }
    }
}

/// An L1→L2 message from nobody, as a placeholder answer before the real one is known.
pub fn placeholder(d: &Dev) -> Message {
    Message { srcChainId: d.protocol.l1_chain_id, destChainId: d.protocol.l2_chain_id, ..Default::default() }
}

pub fn factory(d: &Dev) -> <HostEvmConfig as ConfigureEvm>::Factory {
    d.evm.simulation_factory()
}

/// The answer a transaction's first message gets.
pub fn first_answer(plan: &Plan) -> Message {
    plan.messages[0].answers[0].message.clone()
}

/// An L2→L1 swap request of 1 ether from another L2 user, as the L2 bridge records it (id `id`).
pub fn swap_request(d: &Dev, id: u64) -> Message {
    use surge_primitives::bindings::test_receiver::TestMessageReceiver;
    let user = Address::repeat_byte(0x77);
    let payload = alloy_sol_types::SolValue::abi_encode_params(&(user, U256::ZERO));
    let data: Bytes = TestMessageReceiver::onMessageInvocationCall { data: payload.into() }.abi_encode().into();
    Message {
        id,
        fee: 0,
        gasLimit: (surge_primitives::min_gas_limit(data.len()) + 500_000) as u32,
        from: d.apps.cross_chain_swap.l2_vault,
        srcChainId: d.protocol.l2_chain_id,
        srcOwner: user,
        destChainId: d.protocol.l1_chain_id,
        destOwner: user,
        to: d.apps.cross_chain_swap.l1_vault,
        value: U256::from(10).pow(U256::from(18)),
        data,
    }
}

/// `candidate` signed by dev account `who` as the pool holds it.
pub fn pooled(d: &Dev, who: u32, candidate: &Candidate) -> surge_interfaces::PooledTx {
    use alloy::{
        consensus::{SignableTransaction, TxEip1559, TxEnvelope},
        signers::SignerSync,
    };
    let c = &candidate.tx;
    let to = match c.kind {
        TxKind::Call(to) => to,
        TxKind::Create => panic!("no creations here"),
    };
    let tx = TxEip1559 {
        chain_id: d.protocol.l2_chain_id,
        nonce: c.nonce,
        gas_limit: c.gas_limit,
        max_fee_per_gas: c.gas_price,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value: c.value,
        access_list: Default::default(),
        input: c.data.clone(),
    };
    let sig = dev_key(who).sign_hash_sync(&tx.signature_hash()).unwrap();
    let envelope = TxEnvelope::Eip1559(tx.into_signed(sig));
    surge_interfaces::PooledTx {
        hash: *envelope.tx_hash(),
        sender: dev_key(who).address(),
        nonce: c.nonce,
        cost: U256::ZERO,
        tx: envelope,
        id: c.nonce,
        origin: surge_interfaces::TransactionOrigin::External,
    }
}
