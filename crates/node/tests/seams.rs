//! An extension test double that knows only the seam traits: it hears about a pending transaction from
//! the pool listener, and traces it against the head state with the chain's EVM configuration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use alloy::eips::Encodable2718;
use alloy_evm::{Evm, EvmFactory, FromRecoveredTx};
use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::SolCall;
use common::{TestChain, key};
use revm::{DatabaseRef, context::TxEnv, database::CacheDB, database_interface::WrapDatabaseRef};
use revm_inspectors::tracing::{TracingInspector, TracingInspectorConfig};
use surge_host::seams::{HostEvmConfig, HostProvider, PoolHandle};
use surge_interfaces::{ConfigureEvm, StateProviderFactory, TransactionPool};
use surge_primitives::bindings::test_storage_logs::StorageLogs;
use surge_txpool::{PoolConfig, TxPool};

/// What the extension found in a pending transaction's call trace.
#[derive(Debug)]
struct Traced {
    calls_to: Vec<Address>,
    selectors: Vec<[u8; 4]>,
    logs: usize,
    gas_used: u64,
}

/// The extension: generic over the seams, no host types.
fn trace_next_pending<P, C, T>(
    provider: &P,
    evm: &C,
    pool: &T,
    listener: &mut surge_interfaces::Listener<Arc<surge_txpool::PooledTx>>,
) -> Traced
where
    P: StateProviderFactory,
    C: ConfigureEvm,
    T: TransactionPool,
{
    let pending = listener.try_recv().expect("the listener saw the transaction");
    assert!(pool.best_transactions().any(|t| t.hash == pending.hash), "and it is pending");
    let (head, _) = provider.latest_header().unwrap();
    let state = provider.latest().unwrap();
    let env =
        evm.next_evm_env(provider, &head, &surge_interfaces::NextBlockAttributes::at(head.timestamp + 12)).unwrap();
    let mut inspector =
        TracingInspector::new(TracingInspectorConfig::default_geth().record_logs().set_record_inputs(true));
    let db = CacheDB::new(WrapDatabaseRef(state));
    let mut vm = evm.simulation_factory().create_evm_with_inspector(db, env, &mut inspector);
    let tx = TxEnv::from_recovered_tx(&pending.tx, pending.sender);
    let result = vm.transact(tx).unwrap().result;
    drop(vm);
    let traces = inspector.into_traces();
    let nodes = traces.nodes();
    Traced {
        calls_to: nodes.iter().map(|n| n.trace.address).collect(),
        selectors: nodes
            .iter()
            .filter(|n| n.trace.data.len() >= 4)
            .map(|n| n.trace.data[..4].try_into().unwrap())
            .collect(),
        logs: nodes.iter().map(|n| n.logs.len()).sum(),
        gas_used: result.tx_gas_used(),
    }
}

#[test]
fn an_extension_traces_a_pending_transaction_through_the_seams_only() {
    // The workload's first two blocks deploy the app.
    let mut t = TestChain::new();
    let w = common::workload(&mut t);
    let app = w.app;
    for txs in w.blocks.into_iter().take(2) {
        t.block(txs);
    }
    let TestChain { dir: _dir, spec, store, .. } = t;
    let store = Arc::new(store);

    let pool_handle = PoolHandle::new(TxPool::new(PoolConfig::ethereum(spec.chain_id, 30_000_000), 1), store.clone());
    let mut listener = pool_handle.new_transactions_listener();

    // A user submits a call to the app.
    let state = HostProvider(store.clone()).latest().unwrap();
    let from = key(1);
    let nonce = state.account(&from.address()).unwrap().unwrap().nonce;
    let mut nonces = std::collections::BTreeMap::from([(from.address(), nonce)]);
    let call = StorageLogs::storeCall { key: U256::from(5), value: U256::from(6) };
    let tx = common::signed_1559(&mut nonces, &from, TxKind::Call(app), U256::ZERO, call.abi_encode());
    let view = |a: &Address| {
        let acc = state.account(a).unwrap().unwrap_or_default();
        (acc.nonce, acc.balance)
    };
    pool_handle.pool().add(&tx.inner().encoded_2718(), &view).unwrap();

    let traced =
        trace_next_pending(&HostProvider(store.clone()), &HostEvmConfig(Arc::new(spec)), &pool_handle, &mut listener);
    assert_eq!(traced.calls_to, vec![app]);
    assert_eq!(traced.selectors, vec![StorageLogs::storeCall::SELECTOR]);
    assert_eq!(traced.logs, 1);
    assert!(traced.gas_used > 21_000);
    // Nothing was written: the traced store is still at value 0 for key 5.
    let after = HostProvider(store).latest().unwrap();
    assert_eq!(after.storage_ref(app, U256::from_be_bytes(common::mapping_slot(5).0)).unwrap(), U256::ZERO);
}

/// `mark_invalid` through the seam: a transaction that can never execute leaves the pool with its reason
/// (its sender's later nonces go with it); one that only does not fit this block stays.
#[test]
fn mark_invalid_removes_what_can_never_execute_and_keeps_what_does_not_fit() {
    use surge_interfaces::{InvalidKind, PoolEvent};
    let TestChain { dir: _dir, spec, store, .. } = TestChain::new();
    let store = Arc::new(store);
    let pool = PoolHandle::new(TxPool::new(PoolConfig::ethereum(spec.chain_id, 30_000_000), 1), store.clone());
    let mut events = pool.all_transactions_event_listener();
    let mut nonces = std::collections::BTreeMap::new();
    let mut raw = |from: u8| {
        let tx =
            common::signed_1559(&mut nonces, &key(from), TxKind::Call(Address::repeat_byte(9)), U256::from(1), vec![]);
        tx.inner().encoded_2718()
    };
    let (a0, a1, b0) = (raw(0), raw(0), raw(1));
    let add = |r: &[u8]| pool.add_transaction(surge_interfaces::TransactionOrigin::Local, r).unwrap();
    let (a0, a1, b0) = (add(&a0), add(&a1), add(&b0));
    let mut best = pool.best_transactions();
    let mut handed = vec![];
    while let Some(tx) = best.next() {
        handed.push(tx.hash);
        let kind = if tx.hash == a0 {
            InvalidKind::Invalid("sender has code".into())
        } else {
            InvalidKind::NotThisBlock("no gas left".into())
        };
        best.mark_invalid(&tx, kind);
    }
    assert!(!handed.contains(&a1), "the sender's later nonce is skipped");
    assert!(pool.get(&a0).is_none() && pool.get(&a1).is_none(), "the invalid one leaves with its descendants");
    assert!(pool.get(&b0).is_some(), "what does not fit stays");
    let got: Vec<PoolEvent> = events.try_iter().filter(|e| !matches!(e, PoolEvent::Pending(_))).collect();
    assert_eq!(got, vec![PoolEvent::Invalid { hash: a0, reason: "sender has code".into() }, PoolEvent::Discarded(a1)]);
}
