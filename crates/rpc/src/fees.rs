//! `eth_feeHistory`.

use alloy::{eips::BlockNumberOrTag, rpc::types::FeeHistory};

use crate::{
    context::RpcContext,
    error::{RpcError, RpcResult},
    eth::{effective_tip, receipt_gas},
};

/// Base fees (one more than the blocks: the next block's), gas-used ratios, blob fees and, when asked,
/// the tips at the given percentiles of each block's gas.
pub fn fee_history(
    ctx: &RpcContext,
    block_count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> RpcResult<FeeHistory> {
    if let Some(p) = &percentiles
        && (p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(RpcError::InvalidParams("reward percentiles must be ascending, between 0 and 100".into()));
    }
    let newest = ctx.resolve(newest.into())?;
    let count = block_count.min(ctx.limits.max_fee_history).min(newest + 1);
    let oldest = newest + 1 - count;
    let mut history = FeeHistory { oldest_block: oldest, ..Default::default() };
    let mut rewards = vec![];
    for number in oldest..=newest {
        let sealed = ctx.store.header(number)?.ok_or_else(|| RpcError::UnknownBlock(number.to_string()))?;
        let h = &sealed.header;
        let base_fee = h.base_fee_per_gas.unwrap_or_default();
        history.base_fee_per_gas.push(u128::from(base_fee));
        history.gas_used_ratio.push(if h.gas_limit == 0 { 0.0 } else { h.gas_used as f64 / h.gas_limit as f64 });
        let blob_params = ctx.spec.blob_params_at(h.timestamp);
        history.base_fee_per_blob_gas.push(blob_params.and_then(|p| h.blob_fee(p)).unwrap_or_default());
        let blob_max = blob_params.map_or(0, |p| p.max_blob_gas_per_block());
        let blob_used = h.blob_gas_used.unwrap_or_default();
        history.blob_gas_used_ratio.push(if blob_max == 0 { 0.0 } else { blob_used as f64 / blob_max as f64 });
        if let Some(p) = &percentiles {
            // Only rewards need the transactions.
            let body = ctx.store.body(number)?.unwrap_or_default();
            let receipts = ctx.store.receipts(number)?.unwrap_or_default();
            let mut tips: Vec<(u128, u64)> = body
                .transactions
                .iter()
                .enumerate()
                .map(|(i, tx)| (effective_tip(tx, base_fee), receipt_gas(&receipts, i)))
                .collect();
            tips.sort_unstable();
            rewards.push(percentile_tips(&tips, h.gas_used, p));
        }
    }
    let head = ctx.store.header(newest)?.ok_or_else(|| RpcError::UnknownBlock(newest.to_string()))?;
    history.base_fee_per_gas.push(u128::from(ctx.next_base_fee(&head.header)?));
    let next_blob = ctx.spec.blob_params_at(head.header.timestamp).and_then(|p| head.header.next_block_blob_fee(p));
    history.base_fee_per_blob_gas.push(next_blob.unwrap_or_default());
    history.reward = percentiles.map(|_| rewards);
    Ok(history)
}

/// The tip paid by the transaction at each gas percentile (tips sorted ascending with their gas).
fn percentile_tips(tips: &[(u128, u64)], gas_used: u64, percentiles: &[f64]) -> Vec<u128> {
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    percentiles
        .iter()
        .map(|p| {
            let threshold = (gas_used as f64 * p / 100.0) as u64;
            let mut cumulative = 0;
            for (tip, gas) in tips {
                cumulative += gas;
                if cumulative >= threshold {
                    return *tip;
                }
            }
            tips.last().map_or(0, |t| t.0)
        })
        .collect()
}
