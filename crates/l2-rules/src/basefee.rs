//! EIP-4396 (time-aware) base fee of an L2 block, with Taiko's bounds.

/// Base fee of the first block after genesis.
pub const GENESIS_CHILD_BASE_FEE: u64 = 25_000_000;
/// Upper bound of the base fee.
pub const MAX_BASE_FEE: u64 = 1_000_000_000;
/// Lower bound of the base fee on most chains.
pub const MIN_BASE_FEE: u64 = 5_000_000;
/// Lower bound of the base fee on Taiko mainnet (chain 167000).
pub const MIN_BASE_FEE_TAIKO_MAINNET: u64 = 10_000_000;
/// Taiko mainnet's chain id.
pub const TAIKO_MAINNET_CHAIN_ID: u64 = 167_000;

/// What the next block's base fee depends on: the parent header and the parent's own block time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseFeeInput {
    /// The chain id (selects the lower bound).
    pub chain_id: u64,
    /// The parent's number.
    pub parent_number: u64,
    /// The parent's gas limit (it includes the anchor's 1,000,000).
    pub parent_gas_limit: u64,
    /// The parent's gas used.
    pub parent_gas_used: u64,
    /// The parent's base fee.
    pub parent_base_fee: u64,
    /// Parent timestamp − grandparent timestamp (so the adjustment lags a block).
    pub parent_block_time: u64,
}

/// The lower bound of the base fee on `chain_id`.
pub fn min_base_fee(chain_id: u64) -> u64 {
    if chain_id == TAIKO_MAINNET_CHAIN_ID { MIN_BASE_FEE_TAIKO_MAINNET } else { MIN_BASE_FEE }
}

/// The base fee of the parent's child. Integer arithmetic, truncating, left to right, as L2RULES.md.
pub fn next_base_fee(p: &BaseFeeInput) -> u64 {
    if p.parent_number == 0 {
        return GENESIS_CHILD_BASE_FEE;
    }
    let gas_limit = u128::from(p.parent_gas_limit);
    let target = gas_limit / 2;
    if target == 0 {
        return min_base_fee(p.chain_id);
    }
    let adjusted_target = (target * u128::from(p.parent_block_time) / 2).min(gas_limit * 95 / 100);
    let used = u128::from(p.parent_gas_used);
    let base = u128::from(p.parent_base_fee);
    let next = if used == adjusted_target {
        base
    } else if used > adjusted_target {
        base + (base * (used - adjusted_target) / target / 8).max(1)
    } else {
        base.saturating_sub(base * (adjusted_target - used) / target / 8)
    };
    next.clamp(u128::from(min_base_fee(p.chain_id)), u128::from(MAX_BASE_FEE)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(gas_used: u64, dt: u64) -> BaseFeeInput {
        BaseFeeInput {
            chain_id: 1,
            parent_number: 1,
            parent_gas_limit: 30_000_000,
            parent_gas_used: gas_used,
            parent_base_fee: 900_000_000,
            parent_block_time: dt,
        }
    }

    #[test]
    fn l2rules_vectors() {
        let cases = [
            (15_000_000, 2, 900_000_000),
            (20_000_000, 2, 937_500_000),
            (10_000_000, 2, 862_500_000),
            (0, 2, 787_500_000),
            (15_000_000, 1, 956_250_000),
            (15_000_000, 4, 798_750_000),
            (16_000_000, 2, 907_500_000),
        ];
        for (used, dt, want) in cases {
            assert_eq!(next_base_fee(&input(used, dt)), want, "gas used {used}, block time {dt}");
        }
    }

    #[test]
    fn genesis_child_and_clamps() {
        let mut p = input(30_000_000, 1);
        p.parent_number = 0;
        assert_eq!(next_base_fee(&p), GENESIS_CHILD_BASE_FEE);
        // Saturates at the upper bound.
        let mut p = input(30_000_000, 1);
        p.parent_base_fee = MAX_BASE_FEE;
        assert_eq!(next_base_fee(&p), MAX_BASE_FEE);
        // Falls to the lower bound, which depends on the chain.
        let mut p = input(0, 100);
        p.parent_base_fee = 5_100_000;
        assert_eq!(next_base_fee(&p), MIN_BASE_FEE);
        p.chain_id = TAIKO_MAINNET_CHAIN_ID;
        assert_eq!(next_base_fee(&p), MIN_BASE_FEE_TAIKO_MAINNET);
        // Over target by a hair: the increase rounds to zero but is at least 1 wei.
        let mut p = input(15_000_001, 2);
        p.parent_base_fee = 10_000_000;
        assert_eq!(next_base_fee(&p), 10_000_001);
        p.parent_base_fee = 900_000_000;
        assert_eq!(next_base_fee(&p), 900_000_007);
        // The adjusted target is capped at 95% of the gas limit for long block times.
        let p = input(28_500_000, 1000);
        assert_eq!(next_base_fee(&p), 900_000_000);
    }
}
