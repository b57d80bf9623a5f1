//! The L1 leg as the proposer's bundle runs it: every call goes through the proposer Multicall from its
//! owner, in the environment of the next L1 block, after the bundles of closed proposals not yet included;
//! user ops first, then an outbound L2→L1 message runs as `processMessage(M, "")` with the fast-signal
//! override standing in for the proof, so the bridge itself runs it in relayer mode with exactly the gas it
//! forwards.
//!
//! Calls run at L1's price (the next base fee plus the proposer's tip: what `tx.gasprice` reads); whether
//! the owner can pay for them, after the in-flight bundles, is reported ([`BundleSimulator::balance_low`]).
//!
//! Each call is one transaction on top of the previous ones' committed state, so appending a message
//! costs one message. The calls of a real bundle share one transaction; the differences are the per-call
//! intrinsic gas (subtracted in the bundle's gas count) and warm storage between calls (the simulation
//! is the colder, so it never counts less gas than the bundle uses).

use std::sync::Arc;

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::SolCall;
use revm::{
    DatabaseCommit, DatabaseRef,
    context::{BlockEnv, result::ExecutionResult},
    state::EvmState,
};
use revm_inspectors::tracing::{CallTraceArena, types::CallTraceNode};
use surge_primitives::{
    Message,
    bindings::{bridge::Bridge, inbox::RealTimeInbox, multicall::Multicall},
    signal_slot,
    slots::{
        bridge::{NEXT_MESSAGE_ID_SLOT, decode_next_message_id},
        signal_service::received_signal_key,
    },
};
use tracing::debug_span;

use super::{
    CallOutcome, Executed, InFlightBundle, L1Protocol, LegOutcome, LegResult, LegTrace, Pricing, Refusal, SentMessage,
    SimCall, SimConfig, SimDb, SimError, StepTrace, describe_revert, execute, kept_sends, on_view, view_call,
};

/// What the legs of one in-flight bundle did when it ran ahead of the open bundle, each as a step of its
/// proposal transaction would show it (what the proposer judges a failure by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightRun {
    /// The hash of the bundle's last L2 block (its proposal).
    pub last_block_hash: alloy_primitives::B256,
    /// Its legs, in order.
    pub steps: Vec<StepTrace>,
}
use crate::view::L1View;

/// The intrinsic gas of a transaction, paid once by the bundle and once by each simulated call.
const TX_BASE_GAS: u64 = 21_000;
/// `IBridge.Status.DONE`.
const DONE: u8 = 2;

/// A bundle being simulated: the in-flight bundles applied, then the open one, call by call.
#[derive(Debug, Clone)]
pub struct BundleSimulator {
    protocol: L1Protocol,
    config: SimConfig,
    db: SimDb,
    block: BlockEnv,
    owner: alloy_primitives::Address,
    /// What the bundle's calls pay per gas.
    pricing: Pricing,
    /// The owner's balance and what the in-flight bundles and a full open one would cost, when it is short.
    balance_low: Option<(U256, U256)>,
    /// The open bundle's gas so far: one intrinsic 21,000, the proposal, its calls and proof allowances.
    gas: u64,
    /// What the legs of the in-flight bundles did, ahead of this one (shared by the copies).
    in_flight: Arc<[InFlightRun]>,
    /// Whether the open bundle has a message (user ops must come before).
    has_messages: bool,
}

impl BundleSimulator {
    /// A bundle for the block after `view`'s, after the `in_flight` bundles that L1 has not included yet
    /// (those up to the one ending at the inbox's last finalized block are on L1 already and are skipped).
    pub fn new(
        view: Arc<L1View>,
        protocol: L1Protocol,
        config: SimConfig,
        in_flight: &[InFlightBundle],
    ) -> Result<Self, SimError> {
        let (mut db, block) = on_view(&view, &config);
        let (spec, chain) = (config.spec, protocol.l1_chain_id);
        let owner = view_call(&mut db, spec, chain, &block, protocol.multicall, &Multicall::ownerCall {})?
            .map_err(|reason| SimError::Protocol { what: "the proposer Multicall's owner", reason })?;
        let finalized_call = RealTimeInbox::lastFinalizedBlockHashCall {};
        let finalized = view_call(&mut db, spec, chain, &block, protocol.inbox, &finalized_call)?
            .map_err(|reason| SimError::Protocol { what: "the inbox's last finalized block hash", reason })?;
        let gas = TX_BASE_GAS + config.limits.proposal_gas;
        let pricing = Pricing::in_block(&block, config.priority_fee);
        let balance = sim_balance(&db, owner)?;
        let mut sim = Self {
            protocol,
            config,
            db,
            block,
            owner,
            pricing,
            balance_low: None,
            gas,
            has_messages: false,
            in_flight: Arc::new([]),
        };
        let mut in_flight_gas = 0u64;

        // In-flight bundles run as L1 will run them, outside the open bundle's gas: a failing user op would
        // revert that bundle (an error); what each leg did is kept for the proposer to judge (a reverting
        // `processMessage` would revert that bundle, a failing callback would leave an answer unsent).
        let landed = in_flight.iter().position(|b| b.last_block_hash == finalized).map_or(0, |i| i + 1);
        let mut runs = Vec::with_capacity(in_flight.len().saturating_sub(landed));
        'bundles: for bundle in in_flight.iter().skip(landed) {
            in_flight_gas += TX_BASE_GAS + config.limits.proposal_gas;
            let mut steps = Vec::with_capacity(bundle.user_ops.len() + bundle.messages.len());
            // A failing op reverts its whole bundle on L1: what the ops before it did is taken back.
            let before = (!bundle.user_ops.is_empty()).then(|| sim.db.clone());
            for call in &bundle.user_ops {
                let op = sim.run_user_op(call, false)?;
                steps.push(StepTrace { target: call.target, succeeded: op.error.is_none(), leg: None });
                if op.error.is_some() {
                    if let Some(before) = before {
                        sim.db = before;
                    }
                    runs.push(InFlightRun { last_block_hash: bundle.last_block_hash, steps });
                    continue 'bundles;
                }
                in_flight_gas += op.gas_used;
            }
            for m in &bundle.messages {
                let next_id = sim.next_message_id()?;
                let leg = match sim.run_message(m, Keep::UnlessReverted, false) {
                    Ok(leg) => leg,
                    // A leg the simulation could not follow to its end cannot be vouched for: judged as failing.
                    Err(SimError::Stopped(why)) => {
                        let result = LegResult::Retriable(why.to_string());
                        LegOutcome { hash: m.hash(), result, sent: vec![], gas_used: 0, applied: false }
                    }
                    Err(e) => return Err(e),
                };
                in_flight_gas += leg.gas_used + config.limits.proof_gas_per_message;
                let succeeded = !matches!(leg.result, LegResult::Reverted(_));
                let leg = LegTrace { message: leg.hash, next_id, result: leg.result, sent: leg.sent };
                steps.push(StepTrace { target: protocol.bridge, succeeded, leg: Some(leg) });
            }
            runs.push(InFlightRun { last_block_hash: bundle.last_block_hash, steps });
        }
        sim.in_flight = runs.into();
        // What the in-flight bundles cost, and a full open one, at this price.
        let needed = U256::from(in_flight_gas.saturating_add(config.limits.tx_gas_cap)) * U256::from(pricing.gas_price);
        if balance < needed {
            sim.balance_low = Some((balance, needed));
        }
        Ok(sim)
    }

    /// What the legs of the in-flight bundles did when they ran ahead of this bundle, in order (those L1
    /// already holds are not run).
    pub fn in_flight_runs(&self) -> &[InFlightRun] {
        &self.in_flight
    }

    /// The bundle after this one: this one's state (as if it were on its way to L1), with an empty gas
    /// count and no message yet.
    pub fn next_bundle(&self) -> Self {
        Self { gas: TX_BASE_GAS + self.config.limits.proposal_gas, has_messages: false, ..self.clone() }
    }

    /// The owner's balance on the view and what the in-flight bundles and a full open one would cost at
    /// the bundle's price, when the balance falls short: the proposer cannot send what is planned until it
    /// is funded (nobody's message is at fault).
    pub fn balance_low(&self) -> Option<(U256, U256)> {
        self.balance_low
    }

    /// The smallest fee a message whose leg uses `leg_gas` must offer: the configured minimum, or its L1
    /// cost (the leg and its proof allowance at the bundle's gas price) when fees must cover it.
    pub fn min_fee(&self, leg_gas: u64) -> u64 {
        let limits = self.config.limits;
        let cost = if limits.fee_covers_l1 {
            let gas = u128::from(leg_gas.saturating_add(limits.proof_gas_per_message));
            u64::try_from(gas.saturating_mul(self.pricing.gas_price)).unwrap_or(u64::MAX)
        } else {
            0
        };
        cost.max(limits.min_message_fee)
    }

    /// Sets a storage slot of the simulated L1 (what the proposal's own steps write before its calls run,
    /// such as the L2 checkpoint the inbox saves into the signal service).
    pub fn set_storage(
        &mut self,
        address: alloy_primitives::Address,
        key: alloy_primitives::B256,
        value: alloy_primitives::B256,
    ) -> Result<(), SimError> {
        Ok(self.db.insert_account_storage(address, key.into(), value.into())?)
    }

    /// The proposer (the Multicall's owner), who sends the bundle.
    pub fn owner(&self) -> alloy_primitives::Address {
        self.owner
    }

    /// The L1 block the bundle is simulated on (number, hash): the view's.
    pub fn l1_block(&self) -> (u64, alloy_primitives::B256) {
        (self.db.db.view().number(), self.db.db.view().hash())
    }

    /// The environment the bundle runs in.
    pub fn block(&self) -> &BlockEnv {
        &self.block
    }

    /// What the bundle's calls pay per gas (wei): the next base fee plus the proposer's tip.
    pub fn gas_price(&self) -> u128 {
        self.pricing.gas_price
    }

    /// The open bundle's gas so far, with the proposal and the proof allowances.
    pub fn gas(&self) -> u64 {
        self.gas
    }

    /// Gas left for calls and proofs under the transaction cap.
    pub fn gas_left(&self) -> u64 {
        self.config.limits.tx_gas_cap.saturating_sub(self.gas)
    }

    /// Accounts and storage slots read or written so far: a cold remote view fetched each at most once.
    pub fn touched(&self) -> usize {
        self.db.cache.accounts.values().map(|a| 1 + a.storage.len()).sum()
    }

    /// Whether `address` holds code on the bundle's state (a user's wallet exists yet).
    pub fn has_code(&self, address: alloy_primitives::Address) -> Result<bool, SimError> {
        let Some(info) = self.db.basic_ref(address)? else { return Ok(false) };
        Ok(info.code_hash != revm::primitives::KECCAK_EMPTY && !info.code_hash.is_zero())
    }

    /// The L1 bridge's `nextMessageId` now.
    pub fn next_message_id(&self) -> Result<u64, SimError> {
        Ok(decode_next_message_id(self.db.storage_ref(self.protocol.bridge, NEXT_MESSAGE_ID_SLOT)?))
    }

    /// Appends a user op (a Multicall call of the open bundle, before its messages). It is applied when it
    /// succeeds; a failing one would revert the bundle and is reported instead.
    pub fn user_op(&mut self, call: &Multicall::Call) -> Result<CallOutcome, SimError> {
        if self.has_messages {
            return Err(Refusal::UserOpAfterMessages.into());
        }
        self.run_user_op(call, true)
    }

    /// Appends `processMessage(message, "")` for an outbound L2→L1 message that waits for its answer (a
    /// synchronous call), refused when a limit says no. Only a leg that ends DONE is applied; any other is
    /// reported and leaves the bundle as it was.
    pub fn message(&mut self, message: &Message) -> Result<LegOutcome, SimError> {
        self.check(message)?;
        self.run_message(message, Keep::IfDone, true)
    }

    /// Appends `processMessage(message, "")` for a message already committed on L2 (one nobody waits for):
    /// L1 runs its leg whatever the callback does, so a RETRIABLE leg is applied too; only a leg whose
    /// `processMessage` reverts (it would revert the bundle) is not.
    pub fn include_message(&mut self, message: &Message) -> Result<LegOutcome, SimError> {
        self.check(message)?;
        self.run_message(message, Keep::UnlessReverted, true)
    }

    /// The limits a message must be within before it is simulated.
    fn check(&self, message: &Message) -> Result<(), Refusal> {
        let hash = message.hash();
        let limits = self.config.limits;
        let gas_limit = u64::from(message.gasLimit);
        if message.srcChainId != self.protocol.l2_chain_id || message.destChainId != self.protocol.l1_chain_id {
            return Err(Refusal::WrongChains { hash, src: message.srcChainId, dest: message.destChainId });
        }
        if gas_limit == 0 {
            return Err(Refusal::NoGasLimit(hash));
        }
        if gas_limit > limits.max_message_gas_limit {
            return Err(Refusal::GasLimitAboveMax { hash, gas_limit, max: limits.max_message_gas_limit });
        }
        if message.fee < limits.min_message_fee {
            return Err(Refusal::FeeBelowMin { hash, fee: message.fee, min: limits.min_message_fee });
        }
        let (needed, left) = (gas_limit + limits.proof_gas_per_message, self.gas_left());
        if needed > left {
            return Err(Refusal::BundleFull { hash, needed, left });
        }
        Ok(())
    }

    fn run_user_op(&mut self, call: &Multicall::Call, budgeted: bool) -> Result<CallOutcome, SimError> {
        let _span = debug_span!("l1 user op", target = %call.target).entered();
        let next_id = self.next_message_id()?;
        let before = sim_balance(&self.db, self.owner)?;
        let executed = self.run_calls(vec![call.clone()])?;
        let gas_used = executed.result.tx_gas_used().saturating_sub(TX_BASE_GAS);
        // The owner paid the call's gas from what the op sent it.
        let after = executed.state.get(&self.owner).map_or(before, |a| a.info.balance);
        let fee = U256::from(executed.result.tx_gas_used()) * U256::from(self.pricing.gas_price);
        let paid = (after + fee).saturating_sub(before);
        let error = match &executed.result {
            ExecutionResult::Success { .. } => None,
            ExecutionResult::Revert { output, .. } => Some(describe_revert(output)),
            ExecutionResult::Halt { reason, .. } => Some(format!("halted: {reason:?}")),
        };
        if error.is_some() {
            return Ok(CallOutcome { error, sent: vec![], gas_used, paid: U256::ZERO });
        }
        if budgeted {
            let left = self.gas_left();
            if gas_used > left {
                return Err(Refusal::UserOpTooBig { target: call.target, needed: gas_used, left }.into());
            }
            self.gas += gas_used;
        }
        let sent = self.sent_messages(&executed.trace, next_id);
        self.db.commit(executed.state);
        Ok(CallOutcome { error: None, sent, gas_used, paid })
    }

    /// Runs one message's leg with the fast-signal override set for it, and applies it as `keep` says and,
    /// when `budgeted`, only within the open bundle's room.
    fn run_message(&mut self, message: &Message, keep: Keep, budgeted: bool) -> Result<LegOutcome, SimError> {
        let hash = message.hash();
        let _span = debug_span!("l1 leg", message = %hash).entered();
        let slot = signal_slot(self.protocol.l2_chain_id, self.protocol.l2_bridge, hash);
        let key = U256::from_be_bytes(received_signal_key(slot).0);
        let previous = self.db.storage_ref(self.protocol.signal_service, key)?;
        self.set_override(key, U256::from(1))?;

        let next_id = self.next_message_id()?;
        let call = Bridge::processMessageCall { message: message.clone(), proof: Bytes::new() };
        let step = Multicall::Call { target: self.protocol.bridge, value: U256::ZERO, data: call.abi_encode().into() };
        let executed = match self.run_calls(vec![step]) {
            Ok(e) => e,
            Err(e) => {
                self.set_override(key, previous)?;
                return Err(e);
            }
        };
        let gas_used = executed.result.tx_gas_used().saturating_sub(TX_BASE_GAS);
        let result = match &executed.result {
            ExecutionResult::Success { .. } => {
                let nodes = executed.trace.nodes();
                let at = nodes
                    .iter()
                    .position(|n| n.trace.address == self.protocol.bridge && n.trace.caller == self.protocol.multicall);
                at.map_or_else(
                    || LegResult::Reverted("the Multicall did not call the bridge".into()),
                    |at| leg_result(nodes, at, message),
                )
            }
            ExecutionResult::Revert { output, .. } => LegResult::Reverted(describe_revert(output)),
            ExecutionResult::Halt { reason, .. } => LegResult::Reverted(format!("halted: {reason:?}")),
        };
        let sent = self.sent_messages(&executed.trace, next_id);
        let mut leg = LegOutcome { hash, result, sent, gas_used, applied: false };
        if keep.keeps(&leg.result) {
            match self.apply(&leg, executed.state, budgeted) {
                Ok(()) => leg.applied = true,
                Err(refusal) => {
                    self.set_override(key, previous)?;
                    return Err(refusal.into());
                }
            }
        } else {
            self.set_override(key, previous)?;
        }
        Ok(leg)
    }

    /// Commits a leg's state, counting its gas and proof allowance against the open bundle when `budgeted`.
    fn apply(&mut self, leg: &LegOutcome, state: EvmState, budgeted: bool) -> Result<(), Refusal> {
        if budgeted {
            let (needed, left) = (leg.gas_used + self.config.limits.proof_gas_per_message, self.gas_left());
            // Its gas limit bounds only the callback: the call itself may use more.
            if needed > left {
                return Err(Refusal::BundleFull { hash: leg.hash, needed, left });
            }
            self.gas += needed;
            self.has_messages = true;
        }
        self.db.commit(state);
        Ok(())
    }

    /// Sends `calls` through the Multicall from its owner, with the transaction cap as its gas.
    fn run_calls(&mut self, calls: Vec<Multicall::Call>) -> Result<Executed, SimError> {
        let data = Multicall::multicallCall { calls }.abi_encode().into();
        let (spec, chain_id, gas_limit) = (self.config.spec, self.protocol.l1_chain_id, self.config.limits.tx_gas_cap);
        let call = SimCall { from: self.owner, to: self.protocol.multicall, data, gas_limit, pricing: self.pricing };
        execute(&mut self.db, spec, chain_id, &self.block, call)
    }

    fn set_override(&mut self, key: U256, value: U256) -> Result<(), SimError> {
        Ok(self.db.insert_account_storage(self.protocol.signal_service, key, value)?)
    }

    /// The L1 bridge messages that took effect in `trace`.
    fn sent_messages(&self, trace: &CallTraceArena, next_id: u64) -> Vec<SentMessage> {
        let p = &self.protocol;
        kept_sends(surge_sync::find_outbound_messages(trace, p.bridge, p.l1_chain_id, next_id), p.l1_chain_id, p.bridge)
    }
}

/// How the `processMessage` call at `nodes[at]` (which succeeded) ended for `message`: DONE, or the
/// callback's failure.
pub(super) fn leg_result(nodes: &[CallTraceNode], at: usize, message: &Message) -> LegResult {
    let processed = &nodes[at];
    let status = Bridge::processMessageCall::abi_decode_returns(&processed.trace.output).ok();
    if status == Some(DONE) {
        return LegResult::Done;
    }
    let callback =
        processed.children.iter().copied().find(|&i| nodes[i].trace.address == message.to && !nodes[i].trace.success);
    LegResult::Retriable(match callback {
        Some(i) => failure_reason(nodes, i),
        None => "the bridge did not invoke the callback (data is not onMessageInvocation)".into(),
    })
}

/// `owner`'s balance on `db`.
fn sim_balance(db: &SimDb, owner: alloy_primitives::Address) -> Result<U256, SimError> {
    Ok(db.basic_ref(owner)?.map(|a| a.balance).unwrap_or_default())
}

/// Which legs become part of the bundle.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// A synchronous call's leg: only when its callback succeeded (otherwise its transaction gets no answer
    /// and never sends the message).
    IfDone,
    /// A committed message's leg: whatever the callback did, unless `processMessage` itself reverts.
    UnlessReverted,
}

impl Keep {
    fn keeps(self, result: &LegResult) -> bool {
        match self {
            Self::IfDone => *result == LegResult::Done,
            Self::UnlessReverted => !matches!(result, LegResult::Reverted(_)),
        }
    }
}

/// Why call `i` failed: its own halt (out of gas, invalid opcode), its revert data, or, when it reverted
/// without data (Solidity passing on a failed call), the failure of the sub-call that started it.
fn failure_reason(nodes: &[CallTraceNode], i: usize) -> String {
    let trace = &nodes[i].trace;
    if let Some(status) = trace.status.filter(|s| s.is_halt()) {
        return format!("{status:?} in {}", trace.address);
    }
    if !trace.output.is_empty() {
        return describe_revert(&trace.output);
    }
    match nodes[i].children.iter().copied().find(|&c| !nodes[c].trace.success) {
        Some(c) => failure_reason(nodes, c),
        None => "reverted without a reason".into(),
    }
}
