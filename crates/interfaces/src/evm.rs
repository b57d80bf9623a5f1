//! The chain's EVM rules and the attributes of the next block.

use std::time::Instant;

use alloy::{consensus::Header, eips::eip4895::Withdrawal};
use alloy_evm::{EvmEnv, EvmFactory};
use alloy_primitives::{Address, B256, Bytes};
use revm::{
    context::{BlockEnv, TxEnv},
    primitives::hardfork::SpecId,
};
use surge_primitives::Checkpoint;

use crate::state::StateProviderFactory;

/// What a block builder chooses for the next block; everything else follows from the parent and the
/// chain's rules (reth's `NextBlockEnvAttributes` and payload attributes in one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NextBlockAttributes {
    /// Timestamp, above the parent's.
    pub timestamp: u64,
    /// Fee recipient.
    pub fee_recipient: Address,
    /// `prevRandao` (the header's mix hash; zero on L2).
    pub prev_randao: B256,
    /// Gas the block may use; the parent's gas limit when `None`.
    pub gas_limit: Option<u64>,
    /// Extra data; the chain's own (on L2 the base-fee sharing percentage) when `None`.
    pub extra_data: Option<Bytes>,
    /// Base fee; the chain's formula from the parent when `None` (set only to replay another client's
    /// block).
    pub base_fee: Option<u64>,
    /// Parent beacon block root (Cancun and later L1 blocks); zero when `None`.
    pub parent_beacon_block_root: Option<B256>,
    /// Withdrawals (Shanghai and later; always none on L2).
    pub withdrawals: Vec<Withdrawal>,
    /// The L1 block the L2 anchor checkpoints; the builder's checkpoint source when `None`.
    pub l1_checkpoint: Option<Checkpoint>,
    /// When to stop adding transactions and seal what is there; no limit when `None`.
    pub deadline: Option<Instant>,
}

impl NextBlockAttributes {
    /// The attributes of a block at `timestamp` with everything else left to the chain's rules.
    pub fn at(timestamp: u64) -> Self {
        Self { timestamp, ..Default::default() }
    }
}

/// The chain's EVM rules: which spec and block environment a block runs with, and which EVM.
pub trait ConfigureEvm: Send + Sync {
    /// The EVM factory (Ethereum, or the L2's fee rules).
    type Factory: EvmFactory<Tx = TxEnv, Spec = SpecId, BlockEnv = BlockEnv>;

    /// The environment of an existing block.
    fn evm_env(&self, header: &Header) -> EvmEnv;
    /// The header of the child of canonical block `parent` (`provider` supplies the ancestors the chain's
    /// rules read, such as the grandparent's timestamp for the L2's EIP-4396 base fee), before execution:
    /// roots and gas used are not known yet.
    fn next_header<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &Header,
        attributes: &NextBlockAttributes,
    ) -> Result<Header, P::Error>;
    /// The environment the child of `parent` executes in: a pending transaction's simulation runs with
    /// exactly the base fee its block will have.
    fn next_evm_env<P: StateProviderFactory>(
        &self,
        provider: &P,
        parent: &Header,
        attributes: &NextBlockAttributes,
    ) -> Result<EvmEnv, P::Error> {
        Ok(self.evm_env(&self.next_header(provider, parent, attributes)?))
    }
    /// The EVM for simulations (eth_call, tracing): no block-level fee rules, the base fee credited to no
    /// one.
    fn simulation_factory(&self) -> Self::Factory;
    /// The EVM a block's transactions run in: the chain's block-level fee rules (on the L2 the base fee
    /// shared between the coinbase and the treasury), the golden touch's transaction at `anchor_nonce`
    /// treated as the anchor (`None`: none is). What pre-simulation runs a pending block's transactions
    /// with, so that they see the balances the block will.
    fn block_factory(&self, anchor_nonce: Option<u64>) -> Self::Factory;
}
