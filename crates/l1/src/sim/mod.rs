//! Simulation on an [`L1View`](crate::view::L1View): the environment of the next L1 block, one EVM call
//! with a call tracer, revert reasons in words, and the addresses the L1 leg involves.

mod budget;
mod bundle;
mod layout;
mod outcome;
mod preflight;
mod replay;

use alloy::{
    consensus::Header,
    eips::{eip1559::BaseFeeParams, eip7840::BlobParams},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolError, SolInterface};
use revm::{
    Context, InspectEvm, MainBuilder, MainContext,
    context::{
        BlockEnv, TxEnv,
        result::{EVMError, ExecutionResult, InvalidTransaction, ResultAndState},
    },
    context_interface::block::BlobExcessGasAndPrice,
    database::CacheDB,
    primitives::hardfork::SpecId,
};
use revm_inspectors::tracing::CallTraceArena;
use surge_primitives::{
    ProtocolConfig,
    bindings::{
        bridge::Bridge,
        examples::{
            constant_product_pool::ConstantProductPool, flash_loan_executor_l1::FlashLoanExecutorL1,
            lending_pool::LendingPool, swap_vault_l1::SwapVaultL1,
        },
        inbox::RealTimeInbox,
        multicall::Multicall,
        signal_service::SignalService,
    },
};
use surge_sync::CallTracer;

use crate::view::{L1View, ViewError};

pub use budget::Budget;
pub use bundle::{BundleSimulator, InFlightRun};
pub use layout::{L1Leg, LayoutError, check_fast_signal_path, resolve_l2_bridge};
pub use outcome::{
    BundleLimits, CallOutcome, InFlightBundle, LegOutcome, LegResult, Refusal, SentMessage, SimConfig, SimError,
};
pub use preflight::{BundleLayout, ExactTx, Preflight, PreflightFailure, preflight, replay_included};
pub use replay::{LegTrace, StepTrace, block_env, read_steps, replay_env};

/// The state a simulation runs on: the view (read within a budget) with the simulation's own writes on top.
pub type SimDb = CacheDB<Budget>;

/// The L1 contracts and chains the L1 leg involves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Protocol {
    /// The L1 chain id.
    pub l1_chain_id: u64,
    /// The L2 chain id.
    pub l2_chain_id: u64,
    /// The L1 bridge.
    pub bridge: Address,
    /// The L1 signal service.
    pub signal_service: Address,
    /// The proposer Multicall.
    pub multicall: Address,
    /// The realtime inbox.
    pub inbox: Address,
    /// The L1 resolver.
    pub resolver: Address,
    /// The L2 bridge as the L1 resolver names it: the app of L2→L1 message signals.
    pub l2_bridge: Address,
}

impl L1Protocol {
    /// Where a proposal transaction's steps are read.
    pub fn layout(&self) -> BundleLayout {
        BundleLayout { l1_chain_id: self.l1_chain_id, bridge: self.bridge, multicall: self.multicall }
    }

    /// The L1 side of `p`, taking the L2 bridge from the configuration (see [`resolve_l2_bridge`] for the
    /// address L1 itself uses).
    pub fn from_config(p: &ProtocolConfig) -> Self {
        Self {
            l1_chain_id: p.l1_chain_id,
            l2_chain_id: p.l2_chain_id,
            bridge: p.l1.bridge,
            signal_service: p.l1.signal_service,
            multicall: p.l1.multicall,
            inbox: p.l1.inbox,
            resolver: p.l1.resolver,
            l2_bridge: p.l2.bridge,
        }
    }
}

/// A simulation database on `view` (read within `config`'s budget) and the environment of the block after
/// `view`'s.
pub(crate) fn on_view(view: &std::sync::Arc<L1View>, config: &SimConfig) -> (SimDb, BlockEnv) {
    let db = SimDb::new(Budget::new(view.clone(), config.max_state_reads, config.call_timeout));
    (db, next_block_env(view.header(), config.spec, config.slot_time))
}

/// The environment of the block after `parent` on an L1 running `spec` with `slot_time` seconds per block:
/// number + 1, the next base fee and blob fee, the same gas limit and fee recipient.
pub fn next_block_env(parent: &Header, spec: SpecId, slot_time: u64) -> BlockEnv {
    let blob_params = blob_params(spec);
    let excess = parent.next_block_excess_blob_gas(blob_params).unwrap_or_default();
    BlockEnv {
        number: U256::from(parent.number + 1),
        beneficiary: parent.beneficiary,
        timestamp: U256::from(parent.timestamp + slot_time),
        gas_limit: parent.gas_limit,
        basefee: parent.next_block_base_fee(BaseFeeParams::ethereum()).unwrap_or_default(),
        difficulty: U256::ZERO,
        prevrandao: Some(parent.mix_hash),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(excess, blob_params.update_fraction as u64)),
        ..Default::default()
    }
}

/// The blob fee rules of an L1 running `spec`.
pub(crate) fn blob_params(spec: SpecId) -> BlobParams {
    if spec >= SpecId::OSAKA {
        BlobParams::osaka()
    } else if spec >= SpecId::PRAGUE {
        BlobParams::prague()
    } else {
        BlobParams::cancun()
    }
}

/// The L1 bridge messages of `found` (a trace's `sendMessage` calls) that took effect, with their signal
/// slots on L1 (`l1_chain_id`'s `bridge`).
pub(crate) fn kept_sends(
    found: Vec<surge_sync::OutboundMessage>,
    l1_chain_id: u64,
    bridge: Address,
) -> Vec<SentMessage> {
    found
        .into_iter()
        .filter(|m| !m.reverted)
        .map(|m| SentMessage {
            slot: surge_primitives::signal_slot(l1_chain_id, bridge, m.hash),
            hash: m.hash,
            message: m.message,
        })
        .collect()
}

/// One transaction's result, its state changes (not committed) and its call trace.
pub(crate) struct Executed {
    pub result: ExecutionResult,
    pub state: revm::state::EvmState,
    pub trace: CallTraceArena,
}

/// What a simulated call pays per gas: free for reads, L1's price for the proposer's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pricing {
    /// The effective gas price (`GASPRICE`): base fee plus tip.
    pub gas_price: u128,
    /// The priority fee within it.
    pub tip: u128,
}

impl Pricing {
    /// A read: no fee, so no balance needed.
    pub const FREE: Self = Self { gas_price: 0, tip: 0 };

    /// The price in `block` with `tip` on top of its base fee.
    pub fn in_block(block: &BlockEnv, tip: u128) -> Self {
        Self { gas_price: u128::from(block.basefee) + tip, tip }
    }
}

/// One call to simulate.
#[derive(Debug, Clone)]
pub(crate) struct SimCall {
    /// The caller.
    pub from: Address,
    /// The callee.
    pub to: Address,
    /// The calldata.
    pub data: Bytes,
    /// The gas limit.
    pub gas_limit: u64,
    /// What it pays.
    pub pricing: Pricing,
}

/// Runs `call` on `db` in `block`, tracing calls; nothing is committed. Nonces and balances are not checked
/// (the proposer's nonce on the view is behind its unconfirmed transactions; whether it can pay is
/// [`BundleSimulator::balance_low`]'s report, not a reason to answer otherwise), but the call runs at its
/// price: `GASPRICE` reads what L1 will show.
pub(crate) fn execute(
    db: &mut SimDb,
    spec: SpecId,
    chain_id: u64,
    block: &BlockEnv,
    call: SimCall,
) -> Result<Executed, SimError> {
    let tx = TxEnv {
        tx_type: 2,
        caller: call.from,
        gas_limit: call.gas_limit,
        gas_price: call.pricing.gas_price,
        gas_priority_fee: Some(call.pricing.tip),
        kind: TxKind::Call(call.to),
        data: call.data,
        chain_id: Some(chain_id),
        ..Default::default()
    };
    execute_env(db, spec, chain_id, block, tx, false)
}

/// Runs `tx` on `db` in `block` as [`execute`] does. The base fee is not enforced (reads run at price 0);
/// with `check_balance`, a caller that cannot pay `gas_limit` at its price is
/// [`SimError::ProposerBalanceLow`].
pub(crate) fn execute_env(
    db: &mut SimDb,
    spec: SpecId,
    chain_id: u64,
    block: &BlockEnv,
    tx: TxEnv,
    check_balance: bool,
) -> Result<Executed, SimError> {
    db.db.start_call();
    let inspector = CallTracer::bounded(db.db.trace_bytes());
    let mut evm = Context::mainnet()
        .with_db(db)
        .modify_cfg_chained(|c| {
            c.chain_id = chain_id;
            c.set_spec_and_mainnet_gas_params(spec);
            c.disable_nonce_check = true;
            c.disable_base_fee = true;
            c.disable_balance_check = !check_balance;
        })
        .with_block(block.clone())
        .build_mainnet_with_inspector(inspector);
    let out: Result<ResultAndState, EVMError<ViewError>> = evm.inspect_tx(tx);
    let ResultAndState { result, state } = out.map_err(|e| match e {
        EVMError::Database(e) => SimError::View(e),
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            SimError::ProposerBalanceLow { balance: *balance, needed: *fee }
        }
        other => SimError::Invalid(other.to_string()),
    })?;
    if let Some(stopped) = evm.inspector.stopped() {
        return Err(SimError::Stopped(stopped));
    }
    let trace = evm.inspector.into_traces();
    Ok(Executed { result, state, trace })
}

/// A read-only call on `db`; its output, or the revert described.
pub(crate) fn view_call<C: SolCall>(
    db: &mut SimDb,
    spec: SpecId,
    chain_id: u64,
    block: &BlockEnv,
    to: Address,
    call: &C,
) -> Result<Result<C::Return, String>, SimError> {
    let read = SimCall {
        from: Address::ZERO,
        to,
        data: call.abi_encode().into(),
        gas_limit: 10_000_000,
        pricing: Pricing::FREE,
    };
    let executed = execute(db, spec, chain_id, block, read)?;
    Ok(match executed.result {
        ExecutionResult::Success { output, .. } => {
            C::abi_decode_returns(output.data()).map_err(|e| format!("undecodable answer: {e}"))
        }
        ExecutionResult::Revert { output, .. } => Err(describe_revert(&output)),
        ExecutionResult::Halt { reason, .. } => Err(format!("halted: {reason:?}")),
    })
}

/// A user-op wallet's refusal in words, when `data` is one.
fn describe_wallet_revert(data: &[u8]) -> Option<String> {
    use surge_primitives::bindings::user_ops::UserOpsSubmitter::UserOpsSubmitterErrors as E;
    Some(match <E as alloy_sol_types::SolInterface>::abi_decode(data).ok()? {
        E::InvalidSignature(_) => "InvalidSignature: the wallet's owner did not sign this batch".into(),
        E::WrongNonce(e) => format!(
            "WrongNonce: the batch is signed for wallet nonce {}, the wallet is at {} (a replayed or reused batch)",
            e.given, e.expected
        ),
        E::Expired(e) => format!("Expired: its deadline {} is before the L1 time {}", e.deadline, e.now_),
        E::CallFailed(e) => format!("its call {} failed: {}", e.index, describe_revert(&e.reason)),
    })
}

/// Revert data in words: a Multicall step's failure with its own reason, a user-op wallet's refusal, a
/// protocol error by name, `Error(string)`, a panic, or the raw bytes.
pub fn describe_revert(data: &[u8]) -> String {
    if let Ok(failed) = Multicall::MC_CALL_FAILED::abi_decode(data) {
        return format!("call {} failed: {}", failed.index, describe_revert(&failed.data));
    }
    if data.is_empty() {
        return "reverted without a reason".into();
    }
    if let Some(why) = describe_wallet_revert(data) {
        return why;
    }
    // The protocol's errors and the example apps' (whose legs the dev network simulates), by name.
    macro_rules! named {
        ($($errors:ty),+) => {$(
            if let Ok(e) = <$errors>::abi_decode(data) {
                return format!("{e:?}");
            }
        )+};
    }
    named!(
        Bridge::BridgeErrors,
        SignalService::SignalServiceErrors,
        RealTimeInbox::RealTimeInboxErrors,
        ConstantProductPool::ConstantProductPoolErrors,
        SwapVaultL1::SwapVaultL1Errors,
        LendingPool::LendingPoolErrors,
        FlashLoanExecutorL1::FlashLoanExecutorL1Errors
    );
    alloy_sol_types::decode_revert_reason(data)
        .unwrap_or_else(|| format!("reverted with 0x{}", alloy_primitives::hex::encode(data)))
}
