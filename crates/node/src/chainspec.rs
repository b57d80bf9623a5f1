//! The chain specification: chain id, hardfork schedule, genesis, fee parameters.
//!
//! Built from a geth-style genesis JSON (alloy-genesis). alloy-evm's own `EthSpec` only knows public
//! networks, so this type implements the executor's spec traits itself.

use std::{path::Path, sync::Arc};

use alloy::{
    consensus::{EMPTY_OMMER_ROOT_HASH, Header, constants::EMPTY_WITHDRAWALS},
    eips::{eip1559::BaseFeeParams, eip7685::EMPTY_REQUESTS_HASH, eip7840::BlobParams},
    genesis::Genesis,
};
use alloy_evm::eth::spec::EthExecutorSpec;
use alloy_hardforks::{EthereumChainHardforks, EthereumHardfork, EthereumHardforks, ForkCondition};
use alloy_primitives::{Address, B64, B256, U256};

/// Base fee of a London-at-genesis chain whose genesis does not set one (geth's default).
pub const DEFAULT_GENESIS_BASE_FEE: u64 = 1_000_000_000;

/// A genesis file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChainSpecError {
    /// The file could not be read.
    #[error("reading genesis file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid genesis JSON.
    #[error("parsing genesis file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A setting the node cannot run with.
    #[error("genesis config.{field}: {reason}")]
    Unsupported {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// The L2 parameters of a Surge/Taiko L2 chain, from the genesis `config.surge.l2` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L2Params {
    /// The chain the L2 settles on.
    pub l1_chain_id: u64,
    /// Default base-fee sharing percentage for blocks this node builds.
    pub basefee_sharing_pctg: u8,
}

#[derive(serde::Deserialize)]
struct SurgeConfig {
    l2: Option<L2Params>,
}

/// A genesis `config` for a post-merge chain: every block-numbered fork through London at block 0 and the
/// merge at genesis; time-based forks (Shanghai onwards) are left for the caller to set.
pub fn post_merge_config(chain_id: u64) -> alloy::genesis::ChainConfig {
    alloy::genesis::ChainConfig {
        chain_id,
        homestead_block: Some(0),
        eip150_block: Some(0),
        eip155_block: Some(0),
        eip158_block: Some(0),
        byzantium_block: Some(0),
        constantinople_block: Some(0),
        petersburg_block: Some(0),
        istanbul_block: Some(0),
        berlin_block: Some(0),
        london_block: Some(0),
        terminal_total_difficulty: Some(U256::ZERO),
        terminal_total_difficulty_passed: true,
        ..Default::default()
    }
}

/// A chain's specification.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// Taiko L2 rules when set (EIP-4396 base fee, anchor, fee split); Ethereum rules otherwise.
    pub l2: Option<L2Params>,
    /// The chain id.
    pub chain_id: u64,
    /// The genesis it was built from.
    pub genesis: Arc<Genesis>,
    /// When each hardfork activates.
    pub hardforks: EthereumChainHardforks,
    /// EIP-1559 parameters.
    pub base_fee_params: BaseFeeParams,
}

impl ChainSpec {
    /// [`Self::next_base_fee`] of a stored `parent`, reading its parent's timestamp from `store` when the
    /// rules need it.
    pub fn next_base_fee_after(
        &self,
        store: &crate::Store,
        parent: &alloy::consensus::Header,
    ) -> Result<u64, crate::StoreError> {
        let grandparent = match (self.l2.is_some(), parent.number) {
            (true, n) if n > 0 => store.header(n - 1)?.map_or(parent.timestamp, |h| h.header.timestamp),
            _ => parent.timestamp,
        };
        Ok(self.next_base_fee(parent, grandparent))
    }

    /// The base fee of the child of `parent` under this chain's rules: EIP-4396 on an L2 (which needs the
    /// grandparent's timestamp), EIP-1559 otherwise.
    pub fn next_base_fee(&self, parent: &alloy::consensus::Header, grandparent_timestamp: u64) -> u64 {
        match self.l2 {
            Some(_) => surge_l2_rules::expected_base_fee(self.chain_id, parent, grandparent_timestamp),
            None => parent.next_block_base_fee(self.base_fee_params).unwrap_or_default(),
        }
    }

    /// Reads and checks a genesis file.
    pub fn from_genesis_file(path: &Path) -> Result<Self, ChainSpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ChainSpecError::Read { path: path.display().to_string(), source })?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|source| ChainSpecError::Parse { path: path.display().to_string(), source })?;
        Self::from_genesis(genesis)
    }

    /// Builds the spec of a post-merge chain from its genesis.
    pub fn from_genesis(genesis: Genesis) -> Result<Self, ChainSpecError> {
        let c = &genesis.config;
        if c.chain_id == 0 {
            return Err(ChainSpecError::Unsupported { field: "chainId", reason: "must not be zero" });
        }
        let london = c.london_block.ok_or(ChainSpecError::Unsupported {
            field: "londonBlock",
            reason: "this node runs post-London chains only",
        })?;
        // Paris: this node has no proof-of-work; the merge must be at genesis (or the chain is post-merge).
        if c.terminal_total_difficulty.is_none_or(|ttd| !ttd.is_zero()) && !c.terminal_total_difficulty_passed {
            return Err(ChainSpecError::Unsupported {
                field: "terminalTotalDifficulty",
                reason: "must be 0 (or terminalTotalDifficultyPassed): the node does not run proof of work",
            });
        }
        let block = |n: Option<u64>| n.map_or(ForkCondition::Never, ForkCondition::Block);
        let time = |t: Option<u64>| t.map_or(ForkCondition::Never, ForkCondition::Timestamp);
        let forks = [
            (EthereumHardfork::Frontier, ForkCondition::Block(0)),
            (EthereumHardfork::Homestead, block(c.homestead_block)),
            // The DAO drain must never run on a private chain.
            (EthereumHardfork::Dao, ForkCondition::Never),
            (EthereumHardfork::Tangerine, block(c.eip150_block)),
            (EthereumHardfork::SpuriousDragon, block(c.eip155_block.or(c.eip158_block))),
            (EthereumHardfork::Byzantium, block(c.byzantium_block)),
            (EthereumHardfork::Constantinople, block(c.constantinople_block)),
            (EthereumHardfork::Petersburg, block(c.petersburg_block)),
            (EthereumHardfork::Istanbul, block(c.istanbul_block)),
            (EthereumHardfork::MuirGlacier, block(c.muir_glacier_block)),
            (EthereumHardfork::Berlin, block(c.berlin_block)),
            (EthereumHardfork::London, ForkCondition::Block(london)),
            (EthereumHardfork::ArrowGlacier, block(c.arrow_glacier_block)),
            (EthereumHardfork::GrayGlacier, block(c.gray_glacier_block)),
            (
                EthereumHardfork::Paris,
                ForkCondition::TTD {
                    activation_block_number: c.merge_netsplit_block.unwrap_or(0),
                    fork_block: c.merge_netsplit_block,
                    total_difficulty: U256::ZERO,
                },
            ),
            (EthereumHardfork::Shanghai, time(c.shanghai_time)),
            (EthereumHardfork::Cancun, time(c.cancun_time)),
            (EthereumHardfork::Prague, time(c.prague_time)),
            (EthereumHardfork::Osaka, time(c.osaka_time)),
        ];
        let l2 = match c.extra_fields.get_deserialized::<SurgeConfig>("surge") {
            None => None,
            Some(Ok(surge)) => surge.l2,
            Some(Err(_)) => {
                return Err(ChainSpecError::Unsupported {
                    field: "surge",
                    reason: "expected {\"l2\": {\"l1ChainId\", \"basefeeSharingPctg\"}}",
                });
            }
        };
        if let Some(p) = l2 {
            if p.basefee_sharing_pctg > 100 {
                return Err(ChainSpecError::Unsupported {
                    field: "surge.l2.basefeeSharingPctg",
                    reason: "must be at most 100",
                });
            }
            if c.cancun_time.is_some() {
                return Err(ChainSpecError::Unsupported { field: "cancunTime", reason: "the L2 runs Shanghai rules" });
            }
        }
        Ok(Self {
            l2,
            chain_id: c.chain_id,
            hardforks: EthereumChainHardforks::new(forks),
            base_fee_params: BaseFeeParams::ethereum(),
            genesis: Arc::new(genesis),
        })
    }

    /// The blob parameters in force at `timestamp`, `None` before Cancun.
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        let schedule = self.genesis.config.blob_schedule_blob_params();
        if let Some(p) = schedule.active_scheduled_params_at_timestamp(timestamp) {
            return Some(*p);
        }
        if self.is_osaka_active_at_timestamp(timestamp) {
            Some(schedule.osaka)
        } else if self.is_prague_active_at_timestamp(timestamp) {
            Some(schedule.prague)
        } else if self.is_cancun_active_at_timestamp(timestamp) {
            Some(schedule.cancun)
        } else {
            None
        }
    }

    /// The genesis block header, with the optional fields present exactly as the active forks require.
    /// `state_root` is the root of the genesis allocation.
    pub fn genesis_header(&self, state_root: B256) -> Header {
        let g = &self.genesis;
        let ts = g.timestamp;
        let cancun = self.is_cancun_active_at_timestamp(ts);
        Header {
            parent_hash: g.parent_hash.unwrap_or_default(),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: g.coinbase,
            state_root,
            transactions_root: alloy_trie::EMPTY_ROOT_HASH,
            receipts_root: alloy_trie::EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            difficulty: g.difficulty,
            number: g.number.unwrap_or(0),
            gas_limit: g.gas_limit,
            gas_used: 0,
            timestamp: ts,
            extra_data: g.extra_data.clone(),
            mix_hash: g.mix_hash,
            nonce: B64::from(g.nonce),
            base_fee_per_gas: self
                .is_london_active_at_block(0)
                .then(|| g.base_fee_per_gas.map_or(DEFAULT_GENESIS_BASE_FEE, |b| b as u64)),
            withdrawals_root: self.is_shanghai_active_at_timestamp(ts).then_some(EMPTY_WITHDRAWALS),
            blob_gas_used: cancun.then(|| g.blob_gas_used.unwrap_or(0)),
            excess_blob_gas: cancun.then(|| g.excess_blob_gas.unwrap_or(0)),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            requests_hash: self.is_prague_active_at_timestamp(ts).then_some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }
}

impl EthereumHardforks for ChainSpec {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        self.hardforks.ethereum_fork_activation(fork)
    }
}

impl EthExecutorSpec for ChainSpec {
    fn deposit_contract_address(&self) -> Option<Address> {
        self.genesis.config.deposit_contract_address
    }
}
