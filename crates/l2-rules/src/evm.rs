//! The L2 EVM: revm with Taiko's fee rules, as an alloy-evm `EvmFactory` so the standard block executor
//! (and any tracer) runs L2 blocks.
//!
//! - The anchor — recognised by (caller = golden touch, to = Anchor, nonce = the golden touch's nonce at
//!   block start) — pays nothing and earns nothing: no balance check, no gas bought, no refund, no fee
//!   share; its nonce is still checked and bumped.
//! - For every other transaction the tip goes to the coinbase and the base fee is not burned: `total × pct /
//!   100` (truncated) goes to the coinbase, the rest to the treasury (the Anchor address).
//! - Simulations (`burn_base_fee`) credit the base fee to no one, like Ethereum.

use core::marker::PhantomData;

use alloy_evm::{Database, Evm, EvmEnv, EvmFactory, eth::EthEvmContext, precompiles::PrecompilesMap};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use revm::{
    Context, Inspector, MainBuilder, MainContext, SystemCallEvm,
    context::{
        BlockEnv, CfgEnv, ContextSetters, ContextTr, Evm as RevmEvm, JournalTr, TxEnv,
        result::{EVMError, HaltReason, ResultAndState},
    },
    context_interface::{
        Block, Cfg, Transaction, cfg::gas::InitialAndFloorGas, journaled_state::account::JournaledAccountTr,
    },
    handler::{EthFrame, EvmTr, FrameResult, Handler, instructions::EthInstructions, post_execution, pre_execution},
    inspector::{InspectorHandler, NoOpInspector},
    interpreter::interpreter::EthInterpreter,
    precompile::{PrecompileSpecId, Precompiles},
    primitives::hardfork::SpecId,
};

/// Who is paid what in an L2 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRules {
    /// Receives the non-shared part of the base fee; the anchor transaction's `to`.
    pub treasury: Address,
    /// The anchor's sender.
    pub golden_touch: Address,
    /// The golden touch's nonce at the start of the block (the nonce the anchor carries); `None` when no
    /// transaction is treated as the anchor (simulations).
    pub anchor_nonce: Option<u64>,
    /// The coinbase's share of the base fee, in percent (≤ 100).
    pub sharing_pctg: u8,
    /// Ethereum behaviour for simulations: the base fee goes to no one.
    pub burn_base_fee: bool,
}

impl FeeRules {
    /// The rules of an L2 block on chain `chain_id`: the Anchor predeploy is the treasury and the golden
    /// touch, at nonce `anchor_nonce`, sends the fee-exempt anchor.
    pub fn block(chain_id: u64, sharing_pctg: u8, anchor_nonce: u64) -> Self {
        Self {
            treasury: surge_primitives::L2Predeploys::for_chain(chain_id).anchor,
            golden_touch: surge_primitives::GOLDEN_TOUCH_ADDRESS,
            anchor_nonce: Some(anchor_nonce),
            sharing_pctg,
            burn_base_fee: false,
        }
    }

    /// Simulations (eth_call, tracing, pre-simulation): with no anchor and the base fee burned, these
    /// are exactly Ethereum's fee rules.
    pub fn simulation(chain_id: u64) -> Self {
        Self { anchor_nonce: None, sharing_pctg: 0, burn_base_fee: true, ..Self::block(chain_id, 0, 0) }
    }
}

type Inner<DB, I> =
    RevmEvm<EthEvmContext<DB>, I, EthInstructions<EthInterpreter, EthEvmContext<DB>>, PrecompilesMap, EthFrame>;

/// revm with the L2 fee rules.
#[allow(missing_debug_implementations)]
pub struct TaikoEvm<DB: Database, I> {
    inner: Inner<DB, I>,
    inspect: bool,
    rules: FeeRules,
}

impl<DB: Database, I> TaikoEvm<DB, I> {
    /// The fee rules in force.
    pub fn rules(&self) -> &FeeRules {
        &self.rules
    }
}

struct TaikoHandler<EVM> {
    rules: FeeRules,
    _evm: PhantomData<EVM>,
}

impl<EVM> TaikoHandler<EVM> {
    fn is_anchor(&self, tx: &TxEnv) -> bool {
        tx.caller == self.rules.golden_touch
            && tx.kind == TxKind::Call(self.rules.treasury)
            && Some(tx.nonce) == self.rules.anchor_nonce
    }
}

impl<DB: Database, I: Inspector<EthEvmContext<DB>>> Handler for TaikoHandler<Inner<DB, I>> {
    type Evm = Inner<DB, I>;
    type Error = EVMError<DB::Error>;
    type HaltReason = HaltReason;

    fn validate_against_state_and_deduct_caller(
        &self,
        evm: &mut Self::Evm,
        _init_and_floor_gas: &mut InitialAndFloorGas,
    ) -> Result<(), Self::Error> {
        if !self.is_anchor(evm.ctx().tx()) {
            return pre_execution::validate_against_state_and_deduct_caller(evm.ctx());
        }
        // The anchor buys no gas: only the nonce (and EIP-3607) is checked, and the nonce bumped.
        let (_, tx, cfg, journal, _, _) = evm.ctx().all_mut();
        let mut caller = journal.load_account_with_code_mut(tx.caller())?.data;
        pre_execution::validate_account_nonce_and_code_with_components(&caller.account().info, tx, cfg)?;
        caller.bump_nonce();
        Ok(())
    }

    fn reimburse_caller(&self, evm: &mut Self::Evm, exec_result: &mut FrameResult) -> Result<(), Self::Error> {
        if self.is_anchor(evm.ctx().tx()) {
            return Ok(());
        }
        post_execution::reimburse_caller(evm.ctx(), exec_result.gas(), U256::ZERO).map_err(From::from)
    }

    fn reward_beneficiary(&self, evm: &mut Self::Evm, exec_result: &mut FrameResult) -> Result<(), Self::Error> {
        if self.is_anchor(evm.ctx().tx()) {
            return Ok(());
        }
        if self.rules.burn_base_fee {
            return post_execution::reward_beneficiary(evm.ctx(), exec_result.gas()).map_err(From::from);
        }
        let ctx = evm.ctx();
        if ctx.cfg().is_fee_charge_disabled() {
            return Ok(());
        }
        let gas = exec_result.gas();
        let used = u128::from(gas.used().saturating_sub(gas.reservoir()));
        let (block, tx, _, journal, _, _) = ctx.all_mut();
        let base_fee = u128::from(block.basefee());
        let tip = tx.effective_gas_price(base_fee).saturating_sub(base_fee) * used;
        let base = base_fee * used;
        let share = base * u128::from(self.rules.sharing_pctg.min(100)) / 100;
        journal.load_account_mut(block.beneficiary())?.incr_balance(U256::from(tip + share));
        journal.load_account_mut(self.rules.treasury)?.incr_balance(U256::from(base - share));
        Ok(())
    }
}

impl<DB: Database, I: Inspector<EthEvmContext<DB>>> InspectorHandler for TaikoHandler<Inner<DB, I>> {
    type IT = EthInterpreter;
}

impl<DB: Database, I: Inspector<EthEvmContext<DB>>> Evm for TaikoEvm<DB, I> {
    type DB = DB;
    type Tx = TxEnv;
    type Error = EVMError<DB::Error>;
    type HaltReason = HaltReason;
    type Spec = SpecId;
    type BlockEnv = BlockEnv;
    type Precompiles = PrecompilesMap;
    type Inspector = I;

    fn block(&self) -> &BlockEnv {
        &self.inner.ctx.block
    }

    fn cfg_env(&self) -> &CfgEnv<SpecId> {
        &self.inner.ctx.cfg
    }

    fn chain_id(&self) -> u64 {
        self.inner.ctx.cfg.chain_id
    }

    fn transact_raw(&mut self, tx: TxEnv) -> Result<ResultAndState<HaltReason>, Self::Error> {
        self.inner.ctx.set_tx(tx);
        let mut handler = TaikoHandler { rules: self.rules, _evm: PhantomData };
        let result = if self.inspect { handler.inspect_run(&mut self.inner) } else { handler.run(&mut self.inner) };
        let state = self.inner.ctx.journal_mut().finalize();
        result.map(|r| ResultAndState::new(r, state))
    }

    fn transact_system_call(
        &mut self,
        caller: Address,
        contract: Address,
        data: Bytes,
    ) -> Result<ResultAndState<HaltReason>, Self::Error> {
        self.inner.system_call_with_caller(caller, contract, data)
    }

    fn finish(self) -> (DB, EvmEnv<SpecId>) {
        let Context { block: block_env, cfg: cfg_env, journaled_state, .. } = self.inner.ctx;
        (journaled_state.database, EvmEnv { block_env, cfg_env })
    }

    fn set_inspector_enabled(&mut self, enabled: bool) {
        self.inspect = enabled;
    }

    fn components(&self) -> (&DB, &I, &PrecompilesMap) {
        (&self.inner.ctx.journaled_state.database, &self.inner.inspector, &self.inner.precompiles)
    }

    fn components_mut(&mut self) -> (&mut DB, &mut I, &mut PrecompilesMap) {
        (&mut self.inner.ctx.journaled_state.database, &mut self.inner.inspector, &mut self.inner.precompiles)
    }
}

/// Builds [`TaikoEvm`]s with one block's fee rules.
#[derive(Debug, Clone, Copy)]
pub struct TaikoEvmFactory {
    /// The rules every EVM from this factory applies.
    pub rules: FeeRules,
}

impl TaikoEvmFactory {
    fn build<DB: Database, I: Inspector<EthEvmContext<DB>>>(
        &self,
        db: DB,
        env: EvmEnv,
        inspector: I,
        inspect: bool,
    ) -> TaikoEvm<DB, I> {
        let precompiles =
            PrecompilesMap::from_static(Precompiles::new(PrecompileSpecId::from_spec_id(env.cfg_env.spec)));
        let inner = Context::mainnet()
            .with_block(env.block_env)
            .with_cfg(env.cfg_env)
            .with_db(db)
            .build_mainnet_with_inspector(inspector)
            .with_precompiles(precompiles);
        TaikoEvm { inner, inspect, rules: self.rules }
    }
}

impl EvmFactory for TaikoEvmFactory {
    type Evm<DB: Database, I: Inspector<EthEvmContext<DB>>> = TaikoEvm<DB, I>;
    type Context<DB: Database> = EthEvmContext<DB>;
    type Tx = TxEnv;
    type Error<DBError: revm::context::DBErrorMarker> = EVMError<DBError>;
    type HaltReason = HaltReason;
    type Spec = SpecId;
    type BlockEnv = BlockEnv;
    type Precompiles = PrecompilesMap;

    fn create_evm<DB: Database>(&self, db: DB, env: EvmEnv) -> TaikoEvm<DB, NoOpInspector> {
        self.build(db, env, NoOpInspector {}, false)
    }

    fn create_evm_with_inspector<DB: Database, I: Inspector<EthEvmContext<DB>>>(
        &self,
        db: DB,
        env: EvmEnv,
        inspector: I,
    ) -> TaikoEvm<DB, I> {
        self.build(db, env, inspector, true)
    }
}
