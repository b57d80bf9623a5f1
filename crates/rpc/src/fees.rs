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
    if let Some(p) = &percentiles {
        check_percentiles(p)?;
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

/// Reward percentiles one request may ask for (geth's limit: each costs a pass over every block's tips).
const MAX_PERCENTILES: usize = 100;

/// At most [`MAX_PERCENTILES`], each in `[0, 100]`, strictly increasing; refused in geth's words.
fn check_percentiles(p: &[f64]) -> RpcResult<()> {
    let invalid = |detail: String| RpcError::InvalidParams(format!("invalid reward percentile: {detail}"));
    if p.len() > MAX_PERCENTILES {
        return Err(invalid(format!("over the query limit {MAX_PERCENTILES} ({} given)", p.len())));
    }
    for (i, x) in p.iter().enumerate() {
        if !(0.0..=100.0).contains(x) {
            return Err(invalid(format!("{x}")));
        }
        if i > 0 && *x <= p[i - 1] {
            return Err(invalid(format!("#{}:{} >= #{i}:{x}", i - 1, p[i - 1])));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_at_most_a_hundred_strictly_increasing_and_within_range() {
        let ascending: Vec<f64> = (0..100).map(f64::from).collect();
        assert!(check_percentiles(&ascending).is_ok());
        assert!(check_percentiles(&[]).is_ok());
        let mut too_many = ascending.clone();
        too_many.push(100.0);
        let error = check_percentiles(&too_many).unwrap_err().to_string();
        assert!(error.contains("over the query limit 100"), "{error}");
        let error = check_percentiles(&[10.0, 10.0]).unwrap_err().to_string();
        assert!(error.contains("invalid reward percentile: #0:10 >= #1:10"), "{error}");
        assert!(check_percentiles(&[50.0, 25.0]).is_err());
        assert!(check_percentiles(&[-1.0]).is_err());
        assert!(check_percentiles(&[100.5]).is_err());
        assert!(check_percentiles(&[f64::NAN]).is_err());
    }
}
