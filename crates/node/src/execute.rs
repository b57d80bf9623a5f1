//! Block execution with Ethereum rules on alloy-evm's block executor, and header assembly.

use std::borrow::Cow;

use alloy::{
    consensus::{
        BlockBody, EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, ReceiptEnvelope, Transaction, TxEnvelope, TxReceipt,
        TxType, proofs, transaction::Recovered,
    },
    eips::eip4895::Withdrawals,
};
use alloy_evm::{
    EthEvmFactory, EvmEnv, EvmFactory,
    block::{BlockExecutionError, BlockExecutor},
    eth::{
        EthBlockExecutionCtx, EthBlockExecutor,
        receipt_builder::{ReceiptBuilder, ReceiptBuilderCtx},
    },
};
use alloy_hardforks::EthereumHardforks;
use alloy_primitives::{Address, B64, B256, Bloom};

use surge_interfaces::{BuiltBlock, InvalidKind, NextBlockAttributes};
use surge_primitives::block_state::BlockState;

use crate::{
    chainspec::ChainSpec,
    storage::{ExecutedBlock, SealedHeader, StateProvider},
};

/// What a block builder chooses for the next block (the seams' one attributes type).
pub type BlockInput = NextBlockAttributes;

/// Execution of a block failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// A transaction could not be executed or the block broke a rule.
    #[error("executing block {number}: {source}")]
    Block {
        /// The block.
        number: u64,
        /// What failed.
        #[source]
        source: BlockExecutionError,
    },
    /// An L2 block breaks a Taiko rule.
    #[error("L2 block {number}: {source}")]
    L2 {
        /// The block.
        number: u64,
        /// The rule.
        #[source]
        source: surge_l2_rules::L2BlockError,
    },
    /// Building an L2 block needs the surge payload builder (anchor, injected signals), not this one.
    #[error("block {number}: L2 blocks are built by the surge payload builder (they open with the anchor)")]
    L2NeedsSurgeBuilder {
        /// The block.
        number: u64,
    },
    /// Reading the state failed.
    #[error("block {number}: reading state: {source}")]
    State {
        /// The block.
        number: u64,
        /// The store error.
        #[source]
        source: crate::StoreError,
    },
}

/// The header of the child of `parent` before execution: number, fees and fork fields set, roots and
/// gas used not yet known. `grandparent_timestamp` is the timestamp of `parent`'s parent (the parent's own
/// for genesis): the L2 base fee follows the parent's block time.
pub fn next_header(chain: &ChainSpec, parent: &SealedHeader, grandparent_timestamp: u64, input: &BlockInput) -> Header {
    let p = &parent.header;
    if let Some(l2) = &chain.l2 {
        let extra_data = match &input.extra_data {
            Some(extra) => extra.clone(),
            None => surge_l2_rules::encode_extra_data(l2.basefee_sharing_pctg, 0).unwrap_or_default(),
        };
        let child = surge_l2_rules::ChildHeader {
            timestamp: input.timestamp,
            beneficiary: input.fee_recipient,
            extra_data,
            grandparent_timestamp,
        };
        let mut header = surge_l2_rules::child_header(chain.chain_id, p, parent.hash, &child);
        header.base_fee_per_gas = input.base_fee.or(header.base_fee_per_gas);
        return header;
    }
    let ts = input.timestamp;
    let cancun = chain.is_cancun_active_at_timestamp(ts);
    let excess_blob_gas = cancun.then(|| {
        let params = chain.blob_params_at(ts).unwrap_or_else(alloy::eips::eip7840::BlobParams::cancun);
        p.next_block_excess_blob_gas(params).unwrap_or(0)
    });
    Header {
        parent_hash: parent.hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: input.fee_recipient,
        difficulty: Default::default(),
        number: p.number + 1,
        gas_limit: input.gas_limit.unwrap_or(p.gas_limit),
        timestamp: ts,
        extra_data: input.extra_data.clone().unwrap_or_default(),
        mix_hash: input.prev_randao,
        nonce: B64::ZERO,
        base_fee_per_gas: chain
            .is_london_active_at_block(p.number + 1)
            .then(|| input.base_fee.or_else(|| p.next_block_base_fee(chain.base_fee_params)).unwrap_or(0)),
        withdrawals_root: chain.is_shanghai_active_at_timestamp(ts).then_some(B256::ZERO),
        blob_gas_used: cancun.then_some(0),
        excess_blob_gas,
        parent_beacon_block_root: cancun.then(|| input.parent_beacon_block_root.unwrap_or_default()),
        requests_hash: chain.is_prague_active_at_timestamp(ts).then_some(B256::ZERO),
        ..Default::default()
    }
}

/// Executes `transactions` on top of `parent` with the latest state `state`, returning the block with
/// everything but the state root (computed when the store writes it).
pub fn execute_block(
    chain: &ChainSpec,
    state: StateProvider,
    parent: &SealedHeader,
    input: &BlockInput,
    transactions: Vec<Recovered<TxEnvelope>>,
) -> Result<ExecutedBlock, ExecuteError> {
    let grandparent = grandparent_timestamp(&state, parent)?;
    let header = next_header(chain, parent, grandparent, input);
    let number = header.number;
    if chain.l2.is_none() {
        let mut source = AllOf(transactions.into_iter());
        return run(EthEvmFactory::default(), chain, state, parent, input, header, &mut source).map(Into::into);
    }
    let l2_err = |source| ExecuteError::L2 { number, source };
    if !input.withdrawals.is_empty() {
        return Err(l2_err(surge_l2_rules::L2BlockError::WithdrawalsRoot));
    }
    surge_l2_rules::validate_header(chain.chain_id, &header, &parent.header, grandparent).map_err(l2_err)?;
    let anchor = surge_primitives::L2Predeploys::for_chain(chain.chain_id).anchor;
    let senders: Vec<Address> = transactions.iter().map(|t| t.signer()).collect();
    let txs: Vec<TxEnvelope> = transactions.iter().map(|t| t.inner().clone()).collect();
    let base_fee = header.base_fee_per_gas.unwrap_or_default();
    surge_l2_rules::validate_body(&txs, &senders, anchor, base_fee).map_err(l2_err)?;
    let (sharing_pctg, _) = surge_l2_rules::decode_extra_data(&header.extra_data).map_err(l2_err)?;
    let anchor_nonce = state
        .account(&surge_primitives::GOLDEN_TOUCH_ADDRESS)
        .map_err(|source| ExecuteError::State { number, source })?
        .map_or(0, |a| a.nonce);
    let rules = surge_l2_rules::FeeRules::block(chain.chain_id, sharing_pctg, anchor_nonce);
    let mut source = AllOf(transactions.into_iter());
    run(surge_l2_rules::TaikoEvmFactory { rules }, chain, state, parent, input, header, &mut source).map(Into::into)
}

/// Where a block's transactions come from, and what happens to one that cannot execute.
pub trait TxSource {
    /// The next candidate that fits in `gas_left`, or `None` to seal the block.
    fn next_tx(&mut self, gas_left: u64) -> Option<Recovered<TxEnvelope>>;
    /// `tx` could not execute, for reason `kind`. Returning `true` skips it; `false` fails the whole block.
    fn skip_invalid(&mut self, tx: &Recovered<TxEnvelope>, kind: InvalidKind) -> bool;
    /// The transactions, when all are known up front (their accounts are then read ahead).
    fn known(&self) -> Option<&[Recovered<TxEnvelope>]> {
        None
    }
    /// How many transactions are likely to come (sizes the block's state maps up front).
    fn size_hint(&self) -> usize {
        0
    }
}

/// A fixed list that must execute in full (block import).
struct AllOf(std::vec::IntoIter<Recovered<TxEnvelope>>);

impl TxSource for AllOf {
    fn next_tx(&mut self, _gas_left: u64) -> Option<Recovered<TxEnvelope>> {
        self.0.next()
    }

    fn skip_invalid(&mut self, _tx: &Recovered<TxEnvelope>, _kind: InvalidKind) -> bool {
        false
    }

    fn size_hint(&self) -> usize {
        self.0.len()
    }

    fn known(&self) -> Option<&[Recovered<TxEnvelope>]> {
        Some(self.0.as_slice())
    }
}

/// Builds an Ethereum-rules block on `parent` from `source` (for example the pool's best transactions):
/// transactions that cannot execute are skipped as the source decides.
pub fn build_block(
    chain: &ChainSpec,
    state: StateProvider,
    parent: &SealedHeader,
    input: &BlockInput,
    source: &mut dyn TxSource,
) -> Result<BuiltBlock, ExecuteError> {
    let header = next_header(chain, parent, grandparent_timestamp(&state, parent)?, input);
    if chain.l2.is_some() {
        // L2 blocks open with the anchor and carry injected signals: the surge payload builder's job.
        return Err(ExecuteError::L2NeedsSurgeBuilder { number: header.number });
    }
    run(EthEvmFactory::default(), chain, state, parent, input, header, source)
}

/// Executes the transactions of `source` with the EVM `factory` builds, and completes `header`.
fn run<F>(
    factory: F,
    chain: &ChainSpec,
    state: StateProvider,
    parent: &SealedHeader,
    input: &BlockInput,
    mut header: Header,
    source: &mut dyn TxSource,
) -> Result<BuiltBlock, ExecuteError>
where
    F: EvmFactory<
            Tx = revm::context::TxEnv,
            Spec = revm::primitives::hardfork::SpecId,
            BlockEnv = revm::context::BlockEnv,
        >,
{
    let number = header.number;
    let wrap = |source| ExecuteError::Block { number, source };
    let shanghai = header.withdrawals_root.is_some();

    // A transaction touches about two accounts; growing the account map (and the transaction and receipt
    // lists) while executing cost a quarter of a block of transfers (rehashing, copying and fresh pages).
    let expected_txs = source.size_hint().min((header.gas_limit / 21_000) as usize);
    let mut db = BlockState::new(state, 2 * expected_txs + 16);
    if let Some(txs) = source.known() {
        // Senders and recipients read in one pass before execution: a block of transfers spent a fifth of
        // its time waiting on these reads one at a time, between transactions.
        let accounts = txs.iter().flat_map(|t| std::iter::once(t.signer()).chain(t.inner().to()));
        db.warm_accounts(accounts).map_err(|source| ExecuteError::State { number, source })?;
    }
    let env = EvmEnv::for_eth_block(&header, chain, chain.chain_id, chain.blob_params_at(header.timestamp));
    let evm = factory.create_evm(&mut db, env);
    let ctx = EthBlockExecutionCtx {
        parent_hash: parent.hash,
        parent_beacon_block_root: header.parent_beacon_block_root,
        ommers: &[],
        withdrawals: shanghai.then_some(Cow::Borrowed(input.withdrawals.as_slice())),
        extra_data: header.extra_data.clone(),
        tx_count_hint: Some(expected_txs),
        slot_number: None,
    };
    let mut executor = EthBlockExecutor::new(evm, ctx, chain, ReceiptsForTheStore);
    executor.apply_pre_execution_changes().map_err(wrap)?;
    let mut txs = Vec::with_capacity(expected_txs);
    let mut senders = Vec::with_capacity(expected_txs);
    let mut gas_used = 0u64;
    while let Some(tx) = source.next_tx(header.gas_limit.saturating_sub(gas_used)) {
        match executor.execute_transaction(&tx) {
            Ok(gas) => {
                gas_used += gas.tx_gas_used();
                let (tx, sender) = tx.into_parts();
                txs.push(tx);
                senders.push(sender);
            }
            // A transaction that fails validation leaves the state untouched, so skipping it is safe.
            Err(e) if e.as_validation().is_some() && source.skip_invalid(&tx, invalid_kind(&e)) => {}
            Err(e) => return Err(wrap(e)),
        }
    }
    let result = executor.apply_post_execution_changes().map_err(wrap)?;
    let changes = db.into_changes();

    let receipts: Vec<ReceiptEnvelope> = result.receipts;
    // The transactions and receipts roots and the bloom are filled in by the store, next to the state root.
    header.gas_used = result.gas_used;
    if header.blob_gas_used.is_some() {
        header.blob_gas_used = Some(result.blob_gas_used);
    }
    if header.requests_hash.is_some() {
        header.requests_hash = Some(result.requests.requests_hash());
    }
    if shanghai {
        header.withdrawals_root = Some(proofs::calculate_withdrawals_root(&input.withdrawals));
    }
    let body = BlockBody {
        transactions: txs,
        ommers: vec![],
        withdrawals: shanghai.then(|| Withdrawals::new(input.withdrawals.clone())),
    };
    Ok(BuiltBlock { header, body, senders, receipts, changes })
}

/// Receipts as alloy-evm's own builder makes them, but with their blooms left for the store, which fills
/// them in when it computes the receipts root, on a second core next to the state root: four keccaks per
/// log were a tenth of executing a block of ERC-20 transfers.
#[derive(Debug, Clone, Copy)]
struct ReceiptsForTheStore;

impl ReceiptBuilder for ReceiptsForTheStore {
    type Transaction = TxEnvelope;
    type Receipt = ReceiptEnvelope;

    fn build_receipt<E: alloy_evm::Evm>(&self, ctx: ReceiptBuilderCtx<'_, TxType, E>) -> ReceiptEnvelope {
        let receipt = alloy::consensus::Receipt {
            status: Eip658Value::Eip658(ctx.result.is_success()),
            cumulative_gas_used: ctx.cumulative_gas_used,
            logs: ctx.result.into_logs(),
        }
        .into_with_bloom_unchecked(Bloom::ZERO);
        match ctx.tx_type {
            TxType::Legacy => ReceiptEnvelope::Legacy(receipt),
            TxType::Eip2930 => ReceiptEnvelope::Eip2930(receipt),
            TxType::Eip1559 => ReceiptEnvelope::Eip1559(receipt),
            TxType::Eip4844 => ReceiptEnvelope::Eip4844(receipt),
            TxType::Eip7702 => ReceiptEnvelope::Eip7702(receipt),
        }
    }
}

/// Whether a transaction that failed validation in a block can never execute or only not in this one.
fn invalid_kind(e: &BlockExecutionError) -> InvalidKind {
    use alloy_evm::block::BlockValidationError as V;
    match e.as_validation() {
        Some(V::InvalidTx { error, .. }) => match error.as_invalid_tx_err() {
            Some(invalid) => InvalidKind::from_revm(invalid),
            None => InvalidKind::Invalid(error.to_string()),
        },
        Some(V::TransactionGasLimitMoreThanAvailableBlockGas { .. }) => InvalidKind::NotThisBlock(e.to_string()),
        _ => InvalidKind::Invalid(e.to_string()),
    }
}

/// The timestamp of `parent`'s parent (`parent`'s own for genesis).
fn grandparent_timestamp(state: &StateProvider, parent: &SealedHeader) -> Result<u64, ExecuteError> {
    let number = parent.header.number;
    if number == 0 {
        return Ok(parent.header.timestamp);
    }
    let state_err = |source| ExecuteError::State { number: number + 1, source };
    state.block_timestamp(number - 1, &parent.header.parent_hash).map_err(state_err)?.ok_or_else(|| {
        state_err(crate::StoreError::Corrupt(format!("header of block {} (the grandparent) missing", number - 1)))
    })
}
