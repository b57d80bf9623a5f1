//! Placing a user op at the start of a bundle: its calls run through the proposer Multicall as the
//! proposal will run them, and the op is refused unless they succeed, pay the proposer for their gas, and
//! send only L1→L2 messages the node can relay at the fee they offer.

use alloy_primitives::U256;
use surge_l1::BundleSimulator;
use surge_primitives::user_op::{UserOpBatch, wallet_address};
use surge_sync::Answer;
use tracing::debug_span;

use super::{PlacedOp, UserOpRecord, UserOpRefusal, UserOpTerms, relay_gas_limit};

/// Whose wallet a batch for `submitter` deploys first, if any: none when the wallet exists on `bundle`'s
/// state; otherwise the signer, whose factory wallet must be `submitter`.
pub fn wallet_owner(
    bundle: &BundleSimulator,
    batch: &UserOpBatch,
    submitter: alloy_primitives::Address,
    terms: &UserOpTerms,
) -> Result<Option<alloy_primitives::Address>, UserOpRefusal> {
    if bundle.has_code(submitter).map_err(|e| UserOpRefusal::Unavailable(e.to_string()))? {
        return Ok(None);
    }
    let owner = batch.signer(terms.l1_chain_id, submitter)?;
    let expected = wallet_address(terms.factory, owner);
    if expected != submitter {
        return Err(UserOpRefusal::WrongWallet { submitter, owner, expected });
    }
    Ok(Some(owner))
}

/// Runs `op` at the end of `bundle` (before any message), with an L2 base fee of `l2_base_fee` for its
/// relays and at most `max_slots` messages: placed, `bundle` carries its effects; refused, `bundle` is as
/// it was.
pub fn place(
    bundle: &mut BundleSimulator,
    op: &UserOpRecord,
    terms: &UserOpTerms,
    l2_base_fee: u64,
    max_slots: usize,
) -> Result<PlacedOp, UserOpRefusal> {
    let _span = debug_span!("user op", id = op.id, submitter = %op.submitter).entered();
    let batch = UserOpBatch::decode(&op.calldata)?;
    let now = bundle.block().timestamp.saturating_to::<u64>();
    if batch.deadline < U256::from(now.saturating_add(terms.deadline_margin)) {
        return Err(UserOpRefusal::Expired { deadline: batch.deadline, now, margin: terms.deadline_margin });
    }
    let calls = op.calls(terms.factory);
    let mut trial = bundle.clone();
    let (mut gas, mut paid, mut sent) = (0u64, U256::ZERO, vec![]);
    for call in &calls {
        let outcome = trial.user_op(call).map_err(|e| UserOpRefusal::Bundle(e.to_string()))?;
        if let Some(error) = outcome.error {
            return Err(UserOpRefusal::Reverts(format!("on L1 block {}: {error}", bundle.l1_block().0)));
        }
        gas += outcome.gas_used;
        paid += outcome.paid;
        sent.extend(outcome.sent);
    }
    let price = trial.gas_price();
    let needed = U256::from(gas) * U256::from(price);
    if paid < needed {
        return Err(UserOpRefusal::Unpaid { proposer: trial.owner(), paid, needed, gas, price });
    }
    let messages: Vec<Answer> = sent
        .into_iter()
        .filter(|s| s.message.destChainId == terms.l2_chain_id)
        .map(|s| Answer { message: s.message, hash: s.hash, slot: s.slot })
        .collect();
    if messages.len() > max_slots {
        return Err(UserOpRefusal::TooManyMessages { count: messages.len(), max: max_slots });
    }
    for m in &messages {
        if m.message.gasLimit == 0 {
            return Err(UserOpRefusal::NoGasLimit(m.hash));
        }
        if terms.relayer.is_none() {
            return Err(UserOpRefusal::NoRelayer);
        }
        let relay_gas = relay_gas_limit(&m.message);
        let relay_cost = U256::from(relay_gas) * U256::from(l2_base_fee);
        if U256::from(m.message.fee) < relay_cost {
            let (hash, fee) = (m.hash, m.message.fee);
            return Err(UserOpRefusal::RelayFee { hash, fee, needed: relay_cost, gas: relay_gas, price: l2_base_fee });
        }
    }
    *bundle = trial;
    Ok(PlacedOp { id: op.id, calls, messages, l1_gas: gas })
}
