//! The example apps of `contracts/examples`: where their halves live on each chain, how they are created,
//! and the calls that give them liquidity. The dev genesis places them; `surge-node deploy` sends the same
//! creations and calls to an external L1 and places the L2 halves in the L2 genesis it writes.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use serde::{Deserialize, Serialize};
use surge_primitives::{
    ProtocolConfig,
    bindings::examples::{
        bridged_swap_token::BridgedSwapToken, constant_product_pool::ConstantProductPool,
        flash_loan_executor_l1::FlashLoanExecutorL1, flash_loan_executor_l2::FlashLoanExecutorL2,
        lending_pool::LendingPool, swap_token::SwapToken, swap_vault_l1::SwapVaultL1, swap_vault_l2::SwapVaultL2,
    },
    chain_address,
};

use crate::{AllocBuilder, GenesisError, L1Creation};

/// How many example tokens one ETH of pool liquidity is paired with (the pool's starting price).
pub const TOKENS_PER_ETH: u64 = 2_000;
/// ETH per liquidity pool in the dev genesis (the swap pool, paired with tokens, and the lending pool).
pub const DEV_APP_LIQUIDITY_ETH: u64 = 1_000;

/// The cross-chain swap: an L1 token and its constant-product pool, the vault on each chain, and the
/// token's L2 representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossChainSwap {
    /// The L1 ERC-20 (`SwapToken`).
    pub l1_token: Address,
    /// The L1 ETH/token pool (`ConstantProductPool`).
    pub l1_pool: Address,
    /// The L1 vault answering swap requests (`SwapVaultL1`).
    pub l1_vault: Address,
    /// The L2 vault users call (`SwapVaultL2`).
    pub l2_vault: Address,
    /// The L2 representation of the token (`BridgedSwapToken`).
    pub l2_token: Address,
}

/// The flash loan: an L1 lending pool and the executor on each chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlashLoan {
    /// The L1 lending pool (`LendingPool`).
    pub l1_lending_pool: Address,
    /// The L1 executor that borrows and repays (`FlashLoanExecutorL1`).
    pub l1_executor: Address,
    /// The L2 executor users call (`FlashLoanExecutorL2`).
    pub l2_executor: Address,
}

/// Both example apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleApps {
    /// The cross-chain swap.
    pub cross_chain_swap: CrossChainSwap,
    /// The flash loan.
    pub flash_loan: FlashLoan,
}

/// The funds the apps start with on L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liquidity {
    /// ETH in the swap pool.
    pub pool_eth: U256,
    /// Tokens in the swap pool (the token's whole supply).
    pub pool_tokens: U256,
    /// ETH in the lending pool.
    pub lending_eth: U256,
}

impl Liquidity {
    /// `eth` in each pool, the swap pool's paired with [`TOKENS_PER_ETH`] tokens per ETH.
    pub fn with_eth(eth: U256) -> Self {
        Self { pool_eth: eth, pool_tokens: eth * U256::from(TOKENS_PER_ETH), lending_eth: eth }
    }

    /// The total ETH the liquidity calls send.
    pub fn total_eth(&self) -> U256 {
        self.pool_eth + self.lending_eth
    }
}

/// One set-up call on L1, made by the apps' owner.
#[derive(Debug, Clone)]
pub struct SetupCall {
    /// The callee.
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Calldata.
    pub data: Vec<u8>,
    /// What the call does (for errors and logs).
    pub what: &'static str,
}

impl ExampleApps {
    /// The apps with their L2 halves at addresses derived from the L2 chain id (`…2001`, `…2002` for the
    /// swap, `…3001` for the flash loan) and their L1 halves at `l1[i]` in the order of
    /// [`ExampleApps::l1_creations`] (token, pool, swap vault, lending pool, flash-loan executor).
    pub fn new(l2_chain_id: u64, l1: [Address; 5]) -> Self {
        let l2 = |suffix| chain_address(l2_chain_id, suffix).unwrap_or_default();
        Self {
            cross_chain_swap: CrossChainSwap {
                l1_token: l1[0],
                l1_pool: l1[1],
                l1_vault: l1[2],
                l2_vault: l2("2001"),
                l2_token: l2("2002"),
            },
            flash_loan: FlashLoan { l1_lending_pool: l1[3], l1_executor: l1[4], l2_executor: l2("3001") },
        }
    }

    /// The dev network's apps: the L1 halves at addresses derived from the L1 chain id the same way.
    pub fn dev(l1_chain_id: u64, l2_chain_id: u64) -> Self {
        let l1 = |suffix| chain_address(l1_chain_id, suffix).unwrap_or_default();
        Self::new(l2_chain_id, [l1("2001"), l1("2002"), l1("2003"), l1("3001"), l1("3002")])
    }

    /// Every app contract by name (`<app>.<role>`), for logs and address files.
    pub fn named(&self) -> [(&'static str, Address); 8] {
        let (s, f) = (self.cross_chain_swap, self.flash_loan);
        [
            ("crossChainSwap.l1Token", s.l1_token),
            ("crossChainSwap.l1Pool", s.l1_pool),
            ("crossChainSwap.l1Vault", s.l1_vault),
            ("crossChainSwap.l2Vault", s.l2_vault),
            ("crossChainSwap.l2Token", s.l2_token),
            ("flashLoan.l1LendingPool", f.l1_lending_pool),
            ("flashLoan.l1Executor", f.l1_executor),
            ("flashLoan.l2Executor", f.l2_executor),
        ]
    }

    /// The L1 halves in creation order; the token's supply goes to `owner`, who alone adds and removes the
    /// pools' liquidity.
    pub fn l1_creations(&self, protocol: &ProtocolConfig, owner: Address, liquidity: &Liquidity) -> Vec<L1Creation> {
        let (s, f) = (self.cross_chain_swap, self.flash_loan);
        let (bridge, l2_chain_id) = (protocol.l1.bridge, protocol.l2_chain_id);
        vec![
            L1Creation {
                name: "SwapToken",
                bytecode: &SwapToken::BYTECODE,
                args: SwapToken::constructorCall { holder: owner, supply: liquidity.pool_tokens }.abi_encode(),
                address: s.l1_token,
            },
            L1Creation {
                name: "ConstantProductPool",
                bytecode: &ConstantProductPool::BYTECODE,
                args: ConstantProductPool::constructorCall { _token: s.l1_token, _owner: owner }.abi_encode(),
                address: s.l1_pool,
            },
            L1Creation {
                name: "SwapVaultL1",
                bytecode: &SwapVaultL1::BYTECODE,
                args: SwapVaultL1::constructorCall {
                    _bridge: bridge,
                    _l2ChainId: l2_chain_id,
                    _l2Vault: s.l2_vault,
                    _pool: s.l1_pool,
                }
                .abi_encode(),
                address: s.l1_vault,
            },
            L1Creation {
                name: "LendingPool",
                bytecode: &LendingPool::BYTECODE,
                args: LendingPool::constructorCall { _owner: owner }.abi_encode(),
                address: f.l1_lending_pool,
            },
            L1Creation {
                name: "FlashLoanExecutorL1",
                bytecode: &FlashLoanExecutorL1::BYTECODE,
                args: FlashLoanExecutorL1::constructorCall {
                    _bridge: bridge,
                    _l2ChainId: l2_chain_id,
                    _l2Executor: f.l2_executor,
                    _pool: f.l1_lending_pool,
                }
                .abi_encode(),
                address: f.l1_executor,
            },
        ]
    }

    /// The owner's calls that fund the pools, after the creations.
    pub fn l1_setup(&self, liquidity: &Liquidity) -> Vec<SetupCall> {
        let (s, f) = (self.cross_chain_swap, self.flash_loan);
        vec![
            SetupCall {
                to: s.l1_token,
                value: U256::ZERO,
                data: SwapToken::approveCall { spender: s.l1_pool, amount: liquidity.pool_tokens }.abi_encode(),
                what: "approve the pool's tokens",
            },
            SetupCall {
                to: s.l1_pool,
                value: liquidity.pool_eth,
                data: ConstantProductPool::addLiquidityCall { tokens: liquidity.pool_tokens }.abi_encode(),
                what: "add the swap pool's liquidity",
            },
            SetupCall {
                to: f.l1_lending_pool,
                value: liquidity.lending_eth,
                data: LendingPool::depositCall {}.abi_encode(),
                what: "fund the lending pool",
            },
        ]
    }

    /// Places the L1 halves into an L1 genesis being built and funds them from `owner`.
    pub fn place_l1(
        &self,
        b: &mut AllocBuilder,
        protocol: &ProtocolConfig,
        owner: Address,
        liquidity: &Liquidity,
    ) -> Result<(), GenesisError> {
        for c in self.l1_creations(protocol, owner, liquidity) {
            b.place(c.name, c.bytecode, &c.args, c.address)?;
        }
        for call in self.l1_setup(liquidity) {
            b.call_with_value(owner, call.to, call.data, call.value, call.what)?;
        }
        Ok(())
    }

    /// Places the L2 halves into an L2 genesis being built.
    pub fn place_l2(&self, b: &mut AllocBuilder, protocol: &ProtocolConfig) -> Result<(), GenesisError> {
        let (s, f) = (self.cross_chain_swap, self.flash_loan);
        let (bridge, l1_chain_id) = (protocol.l2.bridge, protocol.l1_chain_id);
        let vault = SwapVaultL2::constructorCall {
            _bridge: bridge,
            _l1ChainId: l1_chain_id,
            _l1Vault: s.l1_vault,
            _token: s.l2_token,
        };
        b.place("SwapVaultL2", &SwapVaultL2::BYTECODE, &vault.abi_encode(), s.l2_vault)?;
        let token = BridgedSwapToken::constructorCall { _vault: s.l2_vault };
        b.place("BridgedSwapToken", &BridgedSwapToken::BYTECODE, &token.abi_encode(), s.l2_token)?;
        let executor = FlashLoanExecutorL2::constructorCall {
            _bridge: bridge,
            _l1ChainId: l1_chain_id,
            _l1Executor: f.l1_executor,
        };
        b.place("FlashLoanExecutorL2", &FlashLoanExecutorL2::BYTECODE, &executor.abi_encode(), f.l2_executor)
    }
}
