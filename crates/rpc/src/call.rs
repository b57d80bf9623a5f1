//! `eth_call` and `eth_estimateGas`: a transaction request run on a block's state, with state and block
//! overrides, without fees unless the request sets a price (as geth does).

use std::sync::Arc;

use alloy::{
    consensus::Header,
    rpc::types::{BlockOverrides, TransactionRequest, state::StateOverride},
};
use alloy_evm::{Evm, EvmEnv, EvmFactory};
use alloy_primitives::{Bytes, TxKind, U256};
use revm::{
    Database, DatabaseRef,
    context::{TxEnv, result::ExecutionResult},
    database::CacheDB,
    state::Bytecode,
};
use surge_host::StateProvider;
use surge_interfaces::ConfigureEvm;

use crate::{
    context::RpcContext,
    error::{RpcError, RpcResult},
    exec::Deadline,
    guard::ExecGuard,
};

/// The intrinsic gas of a plain transfer: the floor of a gas estimate.
const MIN_GAS: u64 = 21_000;

/// A prepared call: the database with overrides applied, the environment, the request.
pub struct CallSetup {
    db: CacheDB<Arc<StateProvider>>,
    env: EvmEnv,
    request: TransactionRequest,
}

impl RpcContext {
    /// Sets up a call of `request` on the state after `header`.
    pub fn prepare_call(
        &self,
        state: StateProvider,
        header: &Header,
        request: TransactionRequest,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<CallSetup> {
        let mut db = CacheDB::new(Arc::new(state));
        apply_state_overrides(&mut db, state_overrides.unwrap_or_default())?;
        let mut env = self.call_env(header);
        if let Some(b) = block_overrides {
            apply_block_overrides(&mut env, &b);
        }
        // As geth: calls never check the nonce (wallets estimate with the pending nonce, ahead of the head);
        // only an explicit nonce below the account's is refused, in `tx_env`.
        env.cfg_env.disable_nonce_check = true;
        env.cfg_env.disable_block_gas_limit = true;
        env.cfg_env.disable_eip3607 = true;
        let priced = request.gas_price.is_some() || request.max_fee_per_gas.is_some();
        env.cfg_env.disable_base_fee = !priced;
        Ok(CallSetup { db, env, request })
    }

    /// Runs a prepared call with `gas`, stopped at `deadline`; the execution result or why it could not
    /// run.
    pub fn run_call(&self, setup: &CallSetup, gas: u64, deadline: Deadline) -> RpcResult<ExecutionResult> {
        let tx = tx_env(&setup.request, gas, self.spec.chain_id, &setup.db)?;
        let mut guard = ExecGuard::new(deadline, None);
        // Each run starts from the same overridden state (estimateGas runs many).
        let factory = self.evm_config().simulation_factory();
        let result = factory.create_evm_with_inspector(setup.db.clone(), setup.env.clone(), &mut guard).transact(tx);
        guard.check()?;
        match result {
            Ok(r) => Ok(r.result),
            Err(revm::context::result::EVMError::Database(e)) => Err(RpcError::Store(e)),
            Err(revm::context::result::EVMError::Transaction(e)) => {
                Err(crate::error::invalid_transaction(&e, setup.request.from.unwrap_or_default()))
            }
            Err(e) => Err(RpcError::Execution(e.to_string())),
        }
    }

    /// The pieces of a prepared call for running it with an inspector: the overridden database, the
    /// environment and the transaction with its gas.
    pub fn call_parts(&self, setup: &CallSetup) -> RpcResult<(CacheDB<Arc<StateProvider>>, EvmEnv, TxEnv)> {
        let tx = tx_env(&setup.request, self.call_gas(setup), self.spec.chain_id, &setup.db)?;
        Ok((setup.db.clone(), setup.env.clone(), tx))
    }

    /// `eth_call`: the output, or a revert with its data.
    pub fn call(&self, setup: &CallSetup, deadline: Deadline) -> RpcResult<Bytes> {
        let gas = self.call_gas(setup);
        match self.run_call(setup, gas, deadline)? {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(RpcError::revert(output)),
            ExecutionResult::Halt { reason, .. } => Err(RpcError::Execution(format!("execution halted: {reason:?}"))),
        }
    }

    /// `eth_estimateGas`: the least gas with which the call succeeds (binary search), or why it fails with
    /// all the gas allowed; every run shares `deadline`.
    pub fn estimate_gas(&self, setup: &CallSetup, deadline: Deadline) -> RpcResult<u64> {
        let cap = self.call_gas(setup);
        let used = match self.run_call(setup, cap, deadline)? {
            ExecutionResult::Success { gas, .. } => gas.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => return Err(RpcError::revert(output)),
            ExecutionResult::Halt { reason, .. } => {
                return Err(RpcError::Execution(format!("gas required exceeds allowance ({cap}): {reason:?}")));
            }
        };
        // Gas used is a lower bound (refunds and the 63/64 rule make the need higher); search up from it.
        let (mut low, mut high) = (used.max(MIN_GAS) - 1, cap);
        if matches!(self.run_call(setup, used.max(MIN_GAS), deadline)?, ExecutionResult::Success { .. }) {
            return Ok(used.max(MIN_GAS));
        }
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            match self.run_call(setup, mid, deadline)? {
                ExecutionResult::Success { .. } => high = mid,
                _ => low = mid,
            }
        }
        Ok(high)
    }

    /// The request's gas, capped by the RPC gas cap and the fork's per-transaction cap (EIP-7825 from
    /// Osaka); the block's gas limit when unset.
    fn call_gas(&self, setup: &CallSetup) -> u64 {
        use revm::context::Cfg;
        let block_limit = setup.env.block_env.gas_limit;
        let tx_cap = setup.env.cfg_env.tx_gas_limit_cap();
        setup.request.gas.unwrap_or(block_limit.max(MIN_GAS)).min(self.limits.gas_cap).min(tx_cap)
    }
}

fn tx_env(req: &TransactionRequest, gas: u64, chain_id: u64, db: &CacheDB<Arc<StateProvider>>) -> RpcResult<TxEnv> {
    let caller = req.from.unwrap_or_default();
    let state_nonce = db.basic_ref(caller)?.map_or(0, |a| a.nonce);
    let nonce = req.nonce.unwrap_or(state_nonce);
    if nonce < state_nonce {
        let stale = revm::context::result::InvalidTransaction::NonceTooLow { tx: nonce, state: state_nonce };
        return Err(crate::error::invalid_transaction(&stale, caller));
    }
    let gas_price = req.gas_price.or(req.max_fee_per_gas).unwrap_or(0);
    let mut builder = TxEnv::builder()
        .caller(caller)
        .kind(req.to.unwrap_or(TxKind::Create))
        .data(req.input.input().cloned().unwrap_or_default())
        .value(req.value.unwrap_or_default())
        .gas_limit(gas)
        .gas_price(gas_price)
        // A fee cap without a tip tips nothing (as geth fills it for calls).
        .gas_priority_fee(req.max_priority_fee_per_gas.or(req.max_fee_per_gas.map(|_| 0)))
        .nonce(nonce)
        .chain_id(Some(req.chain_id.unwrap_or(chain_id)))
        .access_list(req.access_list.clone().unwrap_or_default());
    if let Some(hashes) = &req.blob_versioned_hashes {
        builder = builder.blob_hashes(hashes.clone()).max_fee_per_blob_gas(req.max_fee_per_blob_gas.unwrap_or(0));
    }
    let tx_type = if req.blob_versioned_hashes.as_ref().is_some_and(|h| !h.is_empty()) {
        3
    } else if req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some() {
        2
    } else if req.access_list.is_some() {
        1
    } else {
        0
    };
    builder.tx_type(Some(tx_type)).build().map_err(|e| RpcError::InvalidParams(format!("transaction request: {e:?}")))
}

fn apply_state_overrides(db: &mut CacheDB<Arc<StateProvider>>, overrides: StateOverride) -> RpcResult<()> {
    for (address, o) in overrides {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(RpcError::InvalidParams(format!("{address}: both state and stateDiff overridden")));
        }
        let mut info = db.basic(address)?.unwrap_or_default();
        if let Some(balance) = o.balance {
            info.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            info.nonce = nonce;
        }
        if let Some(code) = o.code {
            info = info.with_code(Bytecode::new_raw(code));
        }
        db.insert_account_info(address, info);
        if let Some(state) = o.state {
            let slots = state.into_iter().map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)));
            db.replace_account_storage(address, slots.collect())?;
        }
        for (k, v) in o.state_diff.unwrap_or_default() {
            db.insert_account_storage(address, U256::from_be_bytes(k.0), U256::from_be_bytes(v.0))?;
        }
    }
    Ok(())
}

fn apply_block_overrides(env: &mut EvmEnv, o: &BlockOverrides) {
    let b = &mut env.block_env;
    if let Some(n) = o.number {
        b.number = n;
    }
    if let Some(t) = o.time {
        b.timestamp = U256::from(t);
    }
    if let Some(g) = o.gas_limit {
        b.gas_limit = g;
    }
    if let Some(c) = o.coinbase {
        b.beneficiary = c;
    }
    if let Some(r) = o.random {
        b.prevrandao = Some(r);
    }
    if let Some(f) = o.base_fee {
        b.basefee = f.saturating_to();
    }
    if let Some(d) = o.difficulty {
        b.difficulty = d;
    }
}
