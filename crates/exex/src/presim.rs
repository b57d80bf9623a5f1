//! Pre-simulation of one L2 transaction, in process:
//! (a) trace it on the pending L2 state and find every outbound message, including attempts in frames that
//!     reverted (an app that needs its answer reverts exactly because the answer is not there yet);
//! (b) run their L1 legs at the end of the open bundle, which gives their answers and slots;
//! (c) trace it again with those slots marked received: it must succeed and send exactly the same messages.

use alloy_evm::{Evm, EvmEnv, EvmFactory};
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::{
    DatabaseCommit, DatabaseRef,
    context::{BlockEnv, TxEnv, result::ExecutionResult},
    database::CacheDB,
    database_interface::DBErrorMarker,
    primitives::hardfork::SpecId,
    state::EvmState,
};
use revm_inspectors::tracing::CallTraceArena;
use surge_l1::{BundleSimulator, LegResult, Refusal, SimError, sim::describe_revert};
use surge_primitives::{
    Message, ProtocolConfig,
    bindings::bridge::Bridge,
    slots::{
        bridge::{NEXT_MESSAGE_ID_SLOT, decode_next_message_id},
        signal_service::received_signal_key,
    },
};
use surge_sync::{
    Answer, CallTracer, MAX_SIMULATION_TRACE_BYTES, NoPlan, Plan, PlannedMessage, find_outbound_messages,
};

use crate::reuse::{EnvWatch, Recording, Replayable};

/// The L2 side of the protocol the watcher reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Protocol {
    /// The L1 chain id.
    pub l1_chain_id: u64,
    /// The L2 chain id.
    pub l2_chain_id: u64,
    /// The L2 bridge.
    pub bridge: Address,
    /// The L2 signal service (where the anchor marks answers received).
    pub signal_service: Address,
    /// The L1 bridge (the sender of every answer).
    pub l1_bridge: Address,
}

impl L2Protocol {
    /// The L2 side of `p`.
    pub fn from_config(p: &ProtocolConfig) -> Self {
        Self {
            l1_chain_id: p.l1_chain_id,
            l2_chain_id: p.l2_chain_id,
            bridge: p.l2.bridge,
            signal_service: p.l2.signal_service,
            l1_bridge: p.l1.bridge,
        }
    }
}

/// Folds `later`, one transaction's changes, into `changes`, those of the transactions before it: each
/// account and slot takes its latest value.
pub fn fold_changes(changes: &mut EvmState, later: EvmState) {
    for (address, account) in later {
        match changes.entry(address) {
            std::collections::hash_map::Entry::Occupied(mut entry) => {
                let earlier = entry.get_mut();
                earlier.info = account.info;
                earlier.status |= account.status;
                earlier.storage.extend(account.storage);
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(account);
            }
        }
    }
}

/// The hashes of the messages to L1 `trace` sent for good (not in a reverted frame), in order, on the L2 of
/// `l2`; its bridge's `nextMessageId` was `next_id` before it.
fn sent_to_l1(l2: L2Protocol, trace: &CallTraceArena, next_id: u64) -> Vec<B256> {
    find_outbound_messages(trace, l2.bridge, l2.l2_chain_id, next_id)
        .into_iter()
        .filter(|m| !m.reverted && m.message.destChainId == l2.l1_chain_id)
        .map(|m| m.hash)
        .collect()
}

/// A transaction to pre-simulate.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its hash.
    pub hash: B256,
    /// Its sender.
    pub sender: Address,
    /// Its nonce.
    pub nonce: u64,
    /// As the EVM runs it.
    pub tx: TxEnv,
}

/// A pending state without its head: the planned transactions' effects and what they read, in the next
/// block's environment. Plain data, shared between threads; [`PendingSnapshot::on`] puts it back on a
/// fresh read of the head.
#[derive(Debug, Clone)]
pub struct PendingSnapshot {
    cache: revm::database::Cache,
    env: EvmEnv,
    l2: L2Protocol,
}

impl PendingSnapshot {
    /// The block whose state it lies on (the next block's parent).
    pub fn parent(&self) -> u64 {
        self.env.block_env.number.saturating_to::<u64>().saturating_sub(1)
    }

    /// The next block's base fee (wei per gas).
    pub fn base_fee(&self) -> u64 {
        self.env.block_env.basefee
    }

    /// The pending state again, on `state` (the state after [`Self::parent`]).
    pub fn on<S>(&self, state: S) -> PendingL2<S> {
        PendingL2 { db: CacheDB { cache: self.cache.clone(), db: state }, env: self.env.clone(), l2: self.l2 }
    }
}

impl Candidate {
    /// A pooled transaction as the watcher simulates it.
    pub fn from_pooled(tx: &surge_interfaces::PooledTx) -> Self {
        use alloy_evm::FromRecoveredTx;
        Self { hash: tx.hash, sender: tx.sender, nonce: tx.nonce, tx: TxEnv::from_recovered_tx(&tx.tx, tx.sender) }
    }
}

/// The pending L2 state: the head, then the planned transactions in plan order with their answers marked
/// received (as the next block's anchor will mark them).
#[derive(Debug)]
pub struct PendingL2<S> {
    db: CacheDB<S>,
    env: EvmEnv,
    l2: L2Protocol,
}

impl<S> PendingL2<S>
where
    S: DatabaseRef + std::fmt::Debug,
    S::Error: DBErrorMarker + std::error::Error + Send + Sync + 'static,
{
    /// The pending state on `state` (the head) in the next block's environment `env`.
    pub fn new(state: S, env: EvmEnv, l2: L2Protocol) -> Self {
        Self { db: CacheDB::new(state), env, l2 }
    }

    /// What this state holds over its head, to lay on another read of the head (on another thread).
    pub fn snapshot(&self) -> PendingSnapshot {
        let cache = &self.db.cache;
        let cache = revm::database::Cache {
            accounts: cache.accounts.clone(),
            contracts: cache.contracts.clone(),
            // Logs change no state.
            logs: vec![],
            block_hashes: cache.block_hashes.clone(),
        };
        PendingSnapshot { cache, env: self.env.clone(), l2: self.l2 }
    }

    /// A scratch state on top of this one: what runs on it is kept there, and this one is left as it is.
    pub fn layer(&self) -> PendingL2<&CacheDB<S>> {
        PendingL2 { db: CacheDB::new(&self.db), env: self.env.clone(), l2: self.l2 }
    }

    /// A scratch state on top of this one with `changes` (what a sender's plain transactions change) in.
    pub fn layer_with(&self, changes: &EvmState) -> PendingL2<&CacheDB<S>> {
        let mut layer = self.layer();
        layer.db.commit(changes.clone());
        layer
    }

    /// Runs `tx` and keeps its effects whatever its outcome; what it changed (to fold into its sender's
    /// plain changes).
    pub fn execute<F>(&mut self, factory: &F, tx: &TxEnv) -> Result<EvmState, String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        self.run_kept(factory, tx, &[], revm::inspector::NoOpInspector).map(|out| out.state)
    }

    /// Phase (a) alone: whether `tx` tries to send a message to L1 on this state, keeping nothing.
    /// `Ok(Some(changes))` when it does not (a plain transaction; what it would change, for its sender's
    /// next one to run after), `Ok(None)` when it does, an error when it cannot execute.
    pub fn classify<F>(&mut self, factory: &F, tx: &TxEnv) -> Result<Option<EvmState>, String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        if self.plain_transfer(tx) {
            let mut vm = factory.create_evm(&mut self.db, self.env.clone());
            return vm.transact(tx.clone()).map(|out| Some(out.state)).map_err(|e| e.to_string());
        }
        let l2 = self.l2;
        let next_id = self.next_message_id()?;
        let mut inspector = CallTracer::bounded(MAX_SIMULATION_TRACE_BYTES);
        let mut vm = factory.create_evm_with_inspector(&mut self.db, self.env.clone(), &mut inspector);
        let out = vm.transact(tx.clone()).map_err(|e| e.to_string());
        drop(vm);
        let out = out?;
        if let Some(stopped) = inspector.stopped() {
            return Err(stopped.to_string());
        }
        let sends = find_outbound_messages(&inspector.into_traces(), l2.bridge, l2.l2_chain_id, next_id)
            .iter()
            .any(|m| m.message.destChainId == l2.l1_chain_id);
        Ok((!sends).then_some(out.state))
    }

    /// Runs a transaction ahead of a planned one of its sender and keeps its effects whatever its outcome:
    /// a transaction that reverts still takes its nonce and pays its gas, as it will in the block. An
    /// error when it cannot execute at all.
    pub fn carry<F>(&mut self, factory: &F, tx: &TxEnv) -> Result<(), String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        self.run_kept(factory, tx, &[], revm::inspector::NoOpInspector).map(|_| ())
    }

    /// Runs `tx` with `slots` marked received under `inspector` and keeps its effects whatever its
    /// outcome, as its block will (what a plan's transaction does on the pending state, watched); an
    /// error when it cannot execute at all.
    pub fn run_inspected<F, I>(
        &mut self,
        factory: &F,
        tx: &TxEnv,
        slots: &[B256],
        inspector: I,
    ) -> Result<ExecutionResult<F::HaltReason>, String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
        I: for<'a> revm::Inspector<F::Context<&'a mut CacheDB<S>>>,
    {
        self.run_kept(factory, tx, slots, inspector).map(|out| out.result)
    }

    /// Marks `slots` received, runs `tx` under `inspector` and keeps its effects whatever its outcome.
    fn run_kept<F, I>(
        &mut self,
        factory: &F,
        tx: &TxEnv,
        slots: &[B256],
        inspector: I,
    ) -> Result<revm::context::result::ResultAndState<F::HaltReason>, String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
        I: for<'a> revm::Inspector<F::Context<&'a mut CacheDB<S>>>,
    {
        for slot in slots {
            self.mark(*slot, U256::from(1))?;
        }
        let mut vm = factory.create_evm_with_inspector(&mut self.db, self.env.clone(), inspector);
        let out = vm.transact(tx.clone()).map_err(|e| e.to_string());
        drop(vm);
        let out = out?;
        self.db.commit(out.state.clone());
        Ok(out)
    }

    /// Runs the block's anchor (`anchor`, with `factory`'s rules exempting it from fees), as the block does
    /// before any other transaction; an error if it fails, as the block would.
    pub fn open_block<F>(&mut self, factory: &F, anchor: &TxEnv) -> Result<(), String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let mut vm = factory.create_evm(&mut self.db, self.env.clone());
        let out = vm.transact(anchor.clone()).map_err(|e| format!("the anchor cannot run: {e}"))?;
        drop(vm);
        match out.result {
            ExecutionResult::Success { .. } => {
                self.db.commit(out.state);
                Ok(())
            }
            ExecutionResult::Revert { output, .. } => Err(format!("the anchor reverts: {}", describe_revert(&output))),
            ExecutionResult::Halt { reason, .. } => Err(format!("the anchor halts: {reason:?}")),
        }
    }

    /// Whether `tx` plainly sends nothing to L1: a call to an account without code (a transfer).
    fn plain_transfer(&self, tx: &TxEnv) -> bool {
        let TxKind::Call(to) = tx.kind else { return false };
        self.db
            .basic_ref(to)
            .is_ok_and(|a| a.is_none_or(|a| a.code_hash == revm::primitives::KECCAK_EMPTY || a.code_hash.is_zero()))
    }

    /// Whether `other` is a pending state for the same block (its environment: number, time, fees,
    /// coinbase and rules), as the plans on this one were made for.
    pub fn same_block<T>(&self, other: &PendingL2<T>) -> bool {
        let (a, b) = (&self.env, &other.env);
        a.block_env == b.block_env && a.cfg_env.spec == b.cfg_env.spec && a.cfg_env.chain_id == b.cfg_env.chain_id
    }

    /// `address`'s next nonce on the pending state.
    pub fn nonce(&self, address: Address) -> Result<u64, String> {
        Ok(self.db.basic_ref(address).map_err(|e| e.to_string())?.map_or(0, |a| a.nonce))
    }

    /// The L2 bridge's `nextMessageId` on the pending state.
    pub fn next_message_id(&self) -> Result<u64, String> {
        self.db.storage_ref(self.l2.bridge, NEXT_MESSAGE_ID_SLOT).map(decode_next_message_id).map_err(|e| e.to_string())
    }

    /// Executes a planned transaction with its `slots` marked received and keeps its effects when it
    /// succeeds (`Ok(false)` and nothing kept when it fails).
    pub fn apply<F>(&mut self, factory: &F, tx: &TxEnv, slots: &[B256]) -> Result<bool, String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let previous = self.mark_received(slots)?;
        let mut vm = factory.create_evm(&mut self.db, self.env.clone());
        let out = vm.transact(tx.clone()).map_err(|e| e.to_string());
        drop(vm);
        match out {
            Ok(out) if out.result.is_success() => {
                self.db.commit(out.state);
                Ok(true)
            }
            // A failure leaves the pending state as it was.
            other => {
                self.restore(previous)?;
                other.map(|_| false)
            }
        }
    }

    /// Runs a planned transaction again with its `slots` marked received and keeps its effects when it
    /// succeeds and sends exactly the messages to L1 its plan holds (`expected`, their hashes); `false` and
    /// nothing kept otherwise (its plan no longer holds). When it held, what the run read and left, to be
    /// committed again on a state that reads the same ([`Self::reapply`]).
    pub fn apply_as_planned<F>(
        &mut self,
        factory: &F,
        tx: &TxEnv,
        slots: &[B256],
        expected: &[B256],
    ) -> Result<(bool, Option<Replayable>), String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let next_id = self.next_message_id()?;
        let previous = self.mark_received(slots)?;
        let (mut tracer, mut watch) = (CallTracer::bounded(MAX_SIMULATION_TRACE_BYTES), EnvWatch::default());
        let recording = Recording::new(&mut self.db);
        let mut vm = factory.create_evm_with_inspector(recording, self.env.clone(), (&mut tracer, &mut watch));
        let out = vm.transact(tx.clone()).map_err(|e| e.to_string());
        let (recording, _) = vm.finish();
        let holds = out.as_ref().is_ok_and(|out| out.result.is_success())
            && tracer.stopped().is_none()
            && sent_to_l1(self.l2, &tracer.into_traces(), next_id) == expected;
        match out {
            Ok(out) if holds => {
                let replayable = Replayable::of(recording, watch, &self.env.block_env, &out.state);
                self.db.commit(out.state);
                Ok((true, replayable))
            }
            other => {
                drop(recording);
                self.restore(previous)?;
                other.map(|_| (false, None))
            }
        }
    }

    /// Commits `run` again with `slots` marked received, without running it, when everything it read is the
    /// same here and the block's fees are; `false` and nothing kept otherwise.
    pub fn reapply(&mut self, run: &Replayable, slots: &[B256]) -> Result<bool, String> {
        let previous = self.mark_received(slots)?;
        match run.again(&self.db, &self.env.block_env) {
            Some(state) => {
                self.db.commit(state);
                Ok(true)
            }
            None => {
                self.restore(previous)?;
                Ok(false)
            }
        }
    }

    /// Traces `tx` on the pending state with `slots` marked received, keeping nothing.
    fn trace<F>(
        &mut self,
        factory: &F,
        tx: &TxEnv,
        slots: &[B256],
    ) -> Result<(ExecutionResult<F::HaltReason>, CallTraceArena), String>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let previous = self.mark_received(slots)?;
        let mut inspector = CallTracer::bounded(MAX_SIMULATION_TRACE_BYTES);
        let mut vm = factory.create_evm_with_inspector(&mut self.db, self.env.clone(), &mut inspector);
        let out = vm.transact(tx.clone()).map_err(|e| e.to_string());
        drop(vm);
        self.restore(previous)?;
        if let Some(stopped) = inspector.stopped() {
            return Err(stopped.to_string());
        }
        Ok((out?.result, inspector.into_traces()))
    }

    /// Marks `slots` received (as the anchor would), returning what they held.
    fn mark_received(&mut self, slots: &[B256]) -> Result<Vec<(B256, U256)>, String> {
        let mut previous = Vec::with_capacity(slots.len());
        for slot in slots {
            previous.push((*slot, self.received(*slot)?));
            self.mark(*slot, U256::from(1))?;
        }
        Ok(previous)
    }

    fn restore(&mut self, previous: Vec<(B256, U256)>) -> Result<(), String> {
        for (slot, value) in previous {
            self.mark(slot, value)?;
        }
        Ok(())
    }

    fn key(slot: B256) -> U256 {
        U256::from_be_bytes(received_signal_key(slot).0)
    }

    fn received(&self, slot: B256) -> Result<U256, String> {
        self.db.storage_ref(self.l2.signal_service, Self::key(slot)).map_err(|e| e.to_string())
    }

    fn mark(&mut self, slot: B256, value: U256) -> Result<(), String> {
        self.db.insert_account_storage(self.l2.signal_service, Self::key(slot), value).map_err(|e| e.to_string())
    }

    /// Pre-simulates `candidate` with its L1 legs appended to `bundle` (left untouched: the returned
    /// bundle has the legs). The plan, or why there is none.
    pub fn presimulate<F>(
        &mut self,
        factory: &F,
        bundle: &BundleSimulator,
        candidate: &Candidate,
        taken: &[B256],
    ) -> Result<(Plan, BundleSimulator), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let _span = tracing::debug_span!("presimulate", tx = %candidate.hash).entered();
        let next_id = self.next_message_id().map_err(NoPlan::Reverts)?;
        let (plan, extended) = self.answers(factory, bundle, candidate)?;

        // (c) With the answers in place, it must succeed and send exactly those messages.
        let slots: Vec<B256> = plan.slots().collect();
        let (result, trace) = self.trace(factory, &candidate.tx, &slots).map_err(NoPlan::Reverts)?;
        let expected: Vec<B256> = plan.messages.iter().map(|m| m.hash).collect();
        if result.is_success() && sent_to_l1(self.l2, &trace, next_id) == expected {
            return Ok((plan, extended));
        }
        Err(self.why_not(&trace, &plan, result, taken))
    }

    /// Phases (a) and (b) only: what L1 answers the messages `candidate` tries to send, whether or not the
    /// transaction as sent embeds those answers (how an app learns the answer to sign, with
    /// `surge_simulateReturnMessage`).
    pub fn answers<F>(
        &mut self,
        factory: &F,
        bundle: &BundleSimulator,
        candidate: &Candidate,
    ) -> Result<(Plan, BundleSimulator), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let l2 = self.l2;
        if self.plain_transfer(&candidate.tx) {
            return Err(NoPlan::NoOutboundMessage);
        }
        let next_id = self.next_message_id().map_err(NoPlan::Reverts)?;
        // (a) Every message the transaction tries to send, reverted attempts included.
        let (_, trace) = self.trace(factory, &candidate.tx, &[]).map_err(NoPlan::Reverts)?;
        let outbound: Vec<Message> = find_outbound_messages(&trace, l2.bridge, l2.l2_chain_id, next_id)
            .into_iter()
            .filter(|m| m.message.destChainId == l2.l1_chain_id)
            .map(|m| m.message)
            .collect();
        if outbound.is_empty() {
            return Err(NoPlan::NoOutboundMessage);
        }

        // (b) Their L1 legs, at the end of the open bundle.
        let mut extended = bundle.clone();
        let mut messages = Vec::with_capacity(outbound.len());
        for message in &outbound {
            let leg = extended.message(message).map_err(|e| match e {
                SimError::Refused(Refusal::BundleFull { .. }) => NoPlan::BundleGasBudget,
                SimError::Refused(r) => NoPlan::L1LegFailed(r.to_string()),
                SimError::Stopped(why) => NoPlan::L1LegFailed(why.to_string()),
                other => NoPlan::L1Unavailable(other.to_string()),
            })?;
            match leg.result {
                LegResult::Done => {}
                LegResult::Retriable(reason) | LegResult::Reverted(reason) => return Err(NoPlan::L1LegFailed(reason)),
            }
            let answers = leg
                .sent
                .into_iter()
                .filter(|s| s.message.destChainId == l2.l2_chain_id)
                .map(|s| Answer { message: s.message, hash: s.hash, slot: s.slot })
                .collect();
            messages.push(PlannedMessage {
                message: message.clone(),
                hash: message.hash(),
                answers,
                l1_gas: leg.gas_used,
                min_fee: extended.min_fee(leg.gas_used),
            });
        }
        let plan = Plan {
            tx_hash: candidate.hash,
            sender: candidate.sender,
            nonce: candidate.nonce,
            l1_block: extended.l1_block(),
            messages,
        };
        Ok((plan, extended))
    }

    /// [`Self::answers`] for a call rather than a signed transaction: no nonce, fee or base-fee checks, as
    /// `eth_call` runs it.
    pub fn answers_to_call<F>(
        &mut self,
        factory: &F,
        bundle: &BundleSimulator,
        candidate: &Candidate,
    ) -> Result<(Plan, BundleSimulator), NoPlan>
    where
        F: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>,
    {
        let as_sent = self.env.clone();
        // The node's eth_call rules.
        self.env.cfg_env.disable_nonce_check = true;
        self.env.cfg_env.disable_base_fee = true;
        self.env.cfg_env.disable_eip3607 = true;
        self.env.cfg_env.disable_block_gas_limit = true;
        let result = self.answers(factory, bundle, candidate);
        self.env = as_sent;
        result
    }

    /// Why the transaction does not complete with its answers: it embeds an answer another plan holds
    /// (`taken`: those plans' answer hashes), one L1 no longer gives, or it fails on its own.
    fn why_not<H: std::fmt::Debug>(
        &self,
        trace: &CallTraceArena,
        plan: &Plan,
        result: ExecutionResult<H>,
        taken: &[B256],
    ) -> NoPlan {
        let answers: Vec<&Answer> = plan.messages.iter().flat_map(|m| m.answers.iter()).collect();
        let embedded = trace.nodes().iter().filter(|n| n.trace.address == self.l2.bridge).find_map(|n| {
            let call = Bridge::processMessageCall::abi_decode(&n.trace.data).ok()?;
            (call.message.srcChainId == self.l2.l1_chain_id && !answers.iter().any(|a| a.hash == call.message.hash()))
                .then_some(call.message)
        });
        // An embedded answer whose id L1 now gives to an earlier message was taken (by a plan that landed,
        // or other L1 traffic); one with the id L1 would give but other fields changed on L1.
        let next_id = answers.iter().map(|a| a.message.id).min();
        match embedded {
            Some(m) if taken.contains(&m.hash()) => NoPlan::AnswerTaken,
            Some(m) if next_id.is_some_and(|next| m.id < next) => NoPlan::AnswerTaken,
            Some(_) if !answers.is_empty() => NoPlan::AnswerChanged,
            _ => NoPlan::Reverts(match result {
                ExecutionResult::Success { .. } => "it sends other messages with its answers".into(),
                ExecutionResult::Revert { output, .. } => describe_revert(&output),
                ExecutionResult::Halt { reason, .. } => format!("halted: {reason:?}"),
            }),
        }
    }
}
