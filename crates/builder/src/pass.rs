//! One execution pass of a block: the anchor, then user transactions, then relay transactions, with the
//! transactions that return slots depend on traced for their outbound messages.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use alloy::consensus::{Header, ReceiptEnvelope, Transaction, TxEnvelope, transaction::Recovered};
use alloy_evm::{
    Evm, EvmEnv, EvmFactory, FromRecoveredTx,
    eth::receipt_builder::{AlloyReceiptBuilder, ReceiptBuilder, ReceiptBuilderCtx},
};
use alloy_primitives::{Address, B256};
use revm::{
    Database, DatabaseCommit, DatabaseRef,
    context::{
        TxEnv,
        result::{EVMError, ExecutionResult},
    },
};
use surge_interfaces::InvalidKind;
use surge_l2_rules::{ANCHOR_GAS_LIMIT, FeeRules, TaikoEvm, TaikoEvmFactory};
use surge_primitives::block_state::{BlockChanges, BlockState};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, Message, slots::bridge};
use surge_sync::find_outbound_messages;
use tracing::{debug, debug_span};

use crate::{
    BuildError,
    builder::state_error,
    consistency::SentMessages,
    transactions::PayloadTransactions,
    unanswered::{BlockInspector, Verdict},
};

/// What one pass runs.
pub(crate) struct PassPlan<'a> {
    pub header: &'a Header,
    pub env: EvmEnv,
    pub rules: FeeRules,
    pub anchor: Recovered<TxEnvelope>,
    /// Transactions whose outbound messages are checked (those return slots depend on).
    pub traced: HashSet<B256>,
    /// Transactions left out if they fail (their return slot was removed).
    pub suspects: &'a HashSet<B256>,
    /// Gas the user transactions (planned and pool) may use.
    pub user_gas: u64,
    /// Planned transactions, right after the anchor, in plan order.
    pub sync_txs: &'a [Recovered<TxEnvelope>],
    /// Pool transactions not to take (planned ones, and those held for a later proposal).
    pub skip: &'a HashSet<B256>,
    pub relay_txs: &'a [Recovered<TxEnvelope>],
    pub deadline: Option<Instant>,
    pub bridge: Address,
    pub chain_id: u64,
    /// What to do with a pool transaction that consumes an answer its block did not receive.
    pub unanswered: &'a dyn Fn(&Recovered<TxEnvelope>, &Message) -> Verdict,
}

/// What one pass produced.
pub(crate) struct PassOutput {
    /// Every transaction in the block, the anchor first.
    pub txs: Vec<Recovered<TxEnvelope>>,
    pub receipts: Vec<ReceiptEnvelope>,
    pub gas_used: u64,
    pub changes: BlockChanges,
    pub sent: SentMessages,
    /// The pool transactions that went in (replayed by a rebuild).
    pub user_txs: Vec<Recovered<TxEnvelope>>,
    /// The planned transactions that went in, and whether each succeeded.
    pub sync_results: HashMap<B256, bool>,
    /// Planned transactions that could not go into this block but may into a later one (no gas left).
    pub sync_later: HashSet<B256>,
    pub relay_included: Vec<B256>,
    pub relay_rejected: Vec<B256>,
    /// Suspects that failed and were left out.
    pub excluded: Vec<B256>,
    /// Planned transactions left out because they consume an answer the block did not receive.
    pub sync_unanswered: HashSet<B256>,
    /// Pool transactions left out for the same reason: held in the pool for their plans.
    pub held: Vec<B256>,
    /// Candidates that could not execute.
    pub skipped: usize,
}

enum Outcome {
    Included,
    /// Not executable here (validation, no room, golden touch); the state is untouched.
    Invalid(InvalidKind),
    /// A suspect that failed; its changes were discarded.
    Excluded,
    /// It consumes an answer (the message) the block did not receive; its changes were discarded.
    Unanswered(Message),
}

/// Runs one pass on `state` (the parent's).
pub(crate) fn run<DB>(
    state: DB,
    plan: &PassPlan<'_>,
    user_txs: &mut dyn PayloadTransactions,
) -> Result<PassOutput, BuildError>
where
    DB: DatabaseRef + std::fmt::Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    // L2 blocks come every second and are mostly small: start small and let the map grow.
    let mut db = BlockState::new(state, 64);
    let inspector = BlockInspector::new(plan.bridge);
    let mut evm = TaikoEvmFactory { rules: plan.rules }.create_evm_with_inspector(&mut db, plan.env.clone(), inspector);
    // The fast-signal watch looks at every transaction: a transfer runs no code and pays nothing for it; a
    // contract call runs revm's inspecting loop, whose per-opcode hooks here are empty.
    evm.set_inspector_enabled(true);
    let mut out = PassOutput {
        txs: vec![],
        receipts: vec![],
        gas_used: 0,
        changes: BlockChanges::default(),
        sent: Default::default(),
        user_txs: vec![],
        sync_results: HashMap::new(),
        sync_later: HashSet::new(),
        relay_included: vec![],
        relay_rejected: vec![],
        excluded: vec![],
        sync_unanswered: HashSet::new(),
        held: vec![],
        skipped: 0,
    };

    let exec = |evm: &mut BlockEvm<'_, DB>, out: &mut PassOutput, tx: &Recovered<TxEnvelope>, room: u64| {
        execute_one(evm, plan, out, tx, room)
    };
    match exec(&mut evm, &mut out, &plan.anchor, ANCHOR_GAS_LIMIT)? {
        Outcome::Included => {}
        Outcome::Invalid(why) => return Err(BuildError::Anchor(why.reason().to_string())),
        Outcome::Excluded | Outcome::Unanswered(_) => {
            return Err(BuildError::Anchor("the anchor was left out".into()));
        }
    }

    let mut user_gas = 0u64;
    for tx in plan.sync_txs {
        let before = out.gas_used;
        match exec(&mut evm, &mut out, tx, plan.user_gas.saturating_sub(user_gas))? {
            Outcome::Included => {
                user_gas += out.gas_used - before;
                let success = out.receipts.last().is_some_and(|r| r.status());
                out.sync_results.insert(*tx.tx_hash(), success);
            }
            Outcome::Invalid(why) => {
                debug!(hash = %tx.tx_hash(), why = why.reason(), "a planned transaction cannot execute");
                if matches!(why, InvalidKind::NotThisBlock(_)) {
                    out.sync_later.insert(*tx.tx_hash());
                }
            }
            Outcome::Excluded => out.excluded.push(*tx.tx_hash()),
            Outcome::Unanswered(message) => {
                debug!(hash = %tx.tx_hash(), id = message.id, "a planned transaction's answer is not in the block");
                out.sync_unanswered.insert(*tx.tx_hash());
            }
        }
    }
    while plan.deadline.is_none_or(|d| Instant::now() < d) {
        let Some(tx) = user_txs.next_tx() else { break };
        if plan.skip.contains(tx.tx_hash()) {
            continue;
        }
        let before = out.gas_used;
        match exec(&mut evm, &mut out, &tx, plan.user_gas.saturating_sub(user_gas))? {
            Outcome::Included => {
                user_gas += out.gas_used - before;
                out.user_txs.push(tx);
            }
            Outcome::Invalid(why) => {
                debug!(hash = %tx.tx_hash(), sender = %tx.signer(), why = why.reason(), "skipping a transaction");
                out.skipped += 1;
                user_txs.mark_invalid(&tx, why);
            }
            Outcome::Excluded => out.excluded.push(*tx.tx_hash()),
            Outcome::Unanswered(message) => match (plan.unanswered)(&tx, &message) {
                Verdict::Hold => {
                    debug!(hash = %tx.tx_hash(), id = message.id, "held: it consumes an answer not received yet");
                    out.held.push(*tx.tx_hash());
                    user_txs.mark_invalid(&tx, InvalidKind::NotThisBlock("its answer is not received yet".into()));
                }
                Verdict::Reject(why) => {
                    tracing::info!(hash = %tx.tx_hash(), sender = %tx.signer(), %why, "rejected a transaction");
                    user_txs.mark_invalid(&tx, InvalidKind::Rejected(why));
                }
            },
        }
    }

    for tx in plan.relay_txs {
        let room = plan.header.gas_limit.saturating_sub(out.gas_used);
        match exec(&mut evm, &mut out, tx, room)? {
            Outcome::Included => out.relay_included.push(*tx.tx_hash()),
            Outcome::Invalid(why) => {
                debug!(hash = %tx.tx_hash(), why = why.reason(), "a relay transaction cannot execute");
                out.relay_rejected.push(*tx.tx_hash());
            }
            Outcome::Excluded | Outcome::Unanswered(_) => out.excluded.push(*tx.tx_hash()),
        }
    }
    drop(evm);
    out.changes = db.into_changes();
    Ok(out)
}

type BlockEvm<'a, DB> = TaikoEvm<&'a mut BlockState<DB>, BlockInspector>;

/// Executes `tx` if it fits in `room` gas, committing its changes and recording its receipt (and, when
/// traced, the messages it sent).
fn execute_one<DB>(
    evm: &mut BlockEvm<'_, DB>,
    plan: &PassPlan<'_>,
    out: &mut PassOutput,
    tx: &Recovered<TxEnvelope>,
    room: u64,
) -> Result<Outcome, BuildError>
where
    DB: DatabaseRef + std::fmt::Debug,
    DB::Error: std::error::Error + Send + Sync + 'static,
{
    let hash = *tx.tx_hash();
    if tx.signer() == GOLDEN_TOUCH_ADDRESS && !out.txs.is_empty() {
        // Its key is public: only the anchor may come from it.
        return Ok(Outcome::Invalid(InvalidKind::Invalid("sent by the golden touch".into())));
    }
    if tx.gas_limit() > room {
        return Ok(Outcome::Invalid(InvalidKind::NotThisBlock(format!(
            "gas limit {} above the {room} left",
            tx.gas_limit()
        ))));
    }
    let _span = debug_span!("execute_tx", %hash).entered();
    let traced = plan.traced.contains(&hash);
    let next_message_id = if traced {
        let word = evm.db_mut().storage(plan.bridge, bridge::NEXT_MESSAGE_ID_SLOT).map_err(state_error)?;
        bridge::decode_next_message_id(word)
    } else {
        0
    };
    evm.inspector_mut().start(traced);
    let result = match evm.transact(TxEnv::from_recovered_tx(tx.inner(), tx.signer())) {
        Ok(result) => result,
        Err(EVMError::Transaction(e)) => return Ok(Outcome::Invalid(InvalidKind::from_revm(&e))),
        Err(EVMError::Database(e)) => return Err(state_error(e)),
        Err(e) => return Err(BuildError::Evm { tx: hash, reason: e.to_string() }),
    };
    let arena = traced.then(|| evm.inspector_mut().take_traces());
    let unanswered = evm.inspector_mut().unanswered().cloned().filter(|_| !out.txs.is_empty());
    // A suspect (its slot was taken out) is left to the planner that staged it.
    if plan.suspects.contains(&hash) && (unanswered.is_some() || !result.result.is_success()) {
        return Ok(Outcome::Excluded);
    }
    if let Some(message) = unanswered {
        return Ok(Outcome::Unanswered(message));
    }
    if out.txs.is_empty() && !result.result.is_success() {
        // The anchor: say why, revert data included (no block is sealed without it).
        let why = match &result.result {
            ExecutionResult::Revert { output, .. } => format!("reverted: {}", revert_reason(output)),
            other => format!("halted: {other:?}"),
        };
        return Ok(Outcome::Invalid(InvalidKind::Invalid(why)));
    }
    out.gas_used += result.result.tx_gas_used();
    let receipt = AlloyReceiptBuilder::default().build_receipt(ReceiptBuilderCtx {
        tx_type: tx.tx_type(),
        evm: &*evm,
        result: result.result,
        state: &result.state,
        cumulative_gas_used: out.gas_used,
    });
    evm.db_mut().commit(result.state);
    if let Some(arena) = arena {
        out.sent.insert(hash, find_outbound_messages(&arena, plan.bridge, plan.chain_id, next_message_id));
    }
    out.receipts.push(receipt);
    out.txs.push(tx.clone());
    Ok(Outcome::Included)
}

/// The anchor's revert data decoded against the errors it can bubble up (its own and the signal
/// service's), or as hex.
fn revert_reason(output: &alloy_primitives::Bytes) -> String {
    use alloy_sol_types::SolInterface;
    use surge_primitives::bindings::{
        anchor::Anchor::AnchorErrors, signal_service::SignalService::SignalServiceErrors,
    };
    if let Ok(e) = AnchorErrors::abi_decode(output) {
        return format!("{e:?}");
    }
    if let Ok(e) = SignalServiceErrors::abi_decode(output) {
        return format!("{e:?}");
    }
    format!("{output}")
}
