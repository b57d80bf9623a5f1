//! The `eth_*` methods that read and write the chain (blocks, transactions, state, calls, fees).

use alloy::{
    consensus::Transaction as _,
    eips::{BlockId, BlockNumberOrTag, Encodable2718},
    rpc::types::{
        Block, BlockOverrides, EIP1186AccountProofResponse, EIP1186StorageProof, FeeHistory, Log, Transaction,
        TransactionReceipt, TransactionRequest, state::StateOverride,
    },
};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee::proc_macros::rpc;
use revm::DatabaseRef;

use crate::{
    context::RpcContext,
    convert::{StoredBlock, pending_transaction},
    error::{RpcError, RpcResult},
    exec::Work,
    params::{BlockIdParam, BlockNumberParam, FilterParam, StorageKeyParam},
};

/// Storage keys one `eth_getProof` may ask for (each is a proof of its own).
const MAX_PROOF_KEYS: usize = 1_024;

/// One gwei: the suggested priority fee (what anvil and geth's dev mode suggest on an idle chain).
const SUGGESTED_TIP: u128 = 1_000_000_000;

/// The `eth` namespace.
#[rpc(server, namespace = "eth")]
pub trait EthApi {
    /// The chain id.
    #[method(name = "chainId")]
    fn chain_id(&self) -> RpcResult<U64>;
    /// Always `false`: the node is its own source of truth.
    #[method(name = "syncing")]
    fn syncing(&self) -> RpcResult<bool>;
    /// No managed accounts.
    #[method(name = "accounts")]
    fn accounts(&self) -> RpcResult<Vec<Address>>;
    /// The head's number.
    #[method(name = "blockNumber")]
    fn block_number(&self) -> RpcResult<U64>;
    /// A block by number or tag.
    #[method(name = "getBlockByNumber", blocking)]
    fn block_by_number(&self, number: BlockNumberParam, full: bool) -> RpcResult<Option<Block>>;
    /// A block by hash.
    #[method(name = "getBlockByHash", blocking)]
    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>>;
    /// Every receipt of a block.
    #[method(name = "getBlockReceipts", blocking)]
    fn block_receipts(&self, block: BlockIdParam) -> RpcResult<Option<Vec<TransactionReceipt>>>;
    /// Transactions in a block.
    #[method(name = "getBlockTransactionCountByNumber", blocking)]
    fn tx_count_by_number(&self, number: BlockNumberParam) -> RpcResult<Option<U64>>;
    /// A transaction, mined or pending.
    #[method(name = "getTransactionByHash", blocking)]
    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>>;
    /// A transaction's EIP-2718 bytes, mined or pending.
    #[method(name = "getRawTransactionByHash", blocking)]
    fn raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>>;
    /// A mined transaction's receipt.
    #[method(name = "getTransactionReceipt", blocking)]
    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>>;
    /// An account's balance.
    #[method(name = "getBalance", blocking)]
    fn balance(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<U256>;
    /// An account's code.
    #[method(name = "getCode", blocking)]
    fn code(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<Bytes>;
    /// A storage slot.
    #[method(name = "getStorageAt", blocking)]
    fn storage_at(&self, address: Address, slot: StorageKeyParam, block: Option<BlockIdParam>) -> RpcResult<B256>;
    /// An account's nonce; with `pending`, counting its pending pool transactions.
    #[method(name = "getTransactionCount", blocking)]
    fn transaction_count(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<U64>;
    /// Runs a call without creating a transaction.
    #[method(name = "call")]
    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<Bytes>;
    /// The gas a transaction needs.
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<U64>;
    /// Submits a signed transaction (EIP-2718 bytes; type 3 with its sidecar on L1).
    #[method(name = "sendRawTransaction", blocking)]
    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256>;
    /// Next block's base fee plus the suggested tip.
    #[method(name = "gasPrice", blocking)]
    fn gas_price(&self) -> RpcResult<U256>;
    /// The suggested tip.
    #[method(name = "maxPriorityFeePerGas")]
    fn max_priority_fee_per_gas(&self) -> RpcResult<U256>;
    /// The next block's blob base fee.
    #[method(name = "blobBaseFee", blocking)]
    fn blob_base_fee(&self) -> RpcResult<U256>;
    /// Base fees, gas ratios and tip percentiles of recent blocks.
    #[method(name = "feeHistory", blocking)]
    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberParam,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory>;
    /// Logs matching a filter (range capped).
    #[method(name = "getLogs")]
    async fn logs(&self, filter: FilterParam) -> RpcResult<Vec<Log>>;
    /// An account proof with storage proofs (EIP-1186).
    #[method(name = "getProof")]
    async fn proof(
        &self,
        address: Address,
        keys: Vec<serde_json::Value>,
        block: Option<BlockIdParam>,
    ) -> RpcResult<EIP1186AccountProofResponse>;
}

/// The `eth` methods over the node.
#[derive(Debug, Clone)]
pub struct EthApi {
    ctx: RpcContext,
}

impl EthApi {
    /// Serves `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }

    fn stored(&self, id: BlockId) -> RpcResult<Option<StoredBlock>> {
        match self.ctx.resolve_opt(id)? {
            Some(n) => StoredBlock::load(&self.ctx.store, n),
            None => Ok(None),
        }
    }

    fn setup(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<crate::call::CallSetup> {
        let (state, header) = self.ctx.state(block.map(BlockIdParam::get).transpose()?)?;
        self.ctx.prepare_call(state, &header, request, state_overrides, block_overrides)
    }

    /// Runs `run` on the call; when it reverts and an extension's call hook adds state (the answers' slots
    /// of a sync transaction), once more with it.
    fn with_answers<T>(
        &self,
        (request, block, state_overrides, block_overrides): CallParams,
        run: impl Fn(&RpcContext, &crate::call::CallSetup) -> RpcResult<T>,
    ) -> RpcResult<T> {
        if self.ctx.call_hook.is_none() {
            return run(&self.ctx, &self.setup(request, block, state_overrides, block_overrides)?);
        }
        // The first run's setup (a read transaction on the store) ends before the hook is asked.
        let first = run(
            &self.ctx,
            &self.setup(request.clone(), block.clone(), state_overrides.clone(), block_overrides.clone())?,
        );
        match first {
            Err(reverted @ RpcError::Revert { .. }) => {
                match self.with_hook(&request, block.as_ref(), state_overrides, &reverted)? {
                    Some(overrides) => run(&self.ctx, &self.setup(request, block, Some(overrides), block_overrides)?),
                    None => Err(reverted),
                }
            }
            other => other,
        }
    }

    /// The overrides to run a reverted call again with: `state_overrides` plus what the extensions' call
    /// hook adds (the answers' slots of a sync transaction), on the latest or pending state only; `None`
    /// when the hook adds nothing and the revert stands; a limit error when the hook is too busy to tell.
    fn with_hook(
        &self,
        request: &TransactionRequest,
        block: Option<&BlockIdParam>,
        state_overrides: Option<StateOverride>,
        reverted: &RpcError,
    ) -> RpcResult<Option<StateOverride>> {
        let Some(hook) = self.ctx.call_hook.as_ref() else { return Ok(None) };
        let at_head = matches!(
            block.cloned().map(BlockIdParam::get).transpose(),
            Ok(None | Some(BlockId::Number(BlockNumberOrTag::Latest | BlockNumberOrTag::Pending)))
        );
        let Some(to) = request.to.and_then(|to| to.to().copied()) else { return Ok(None) };
        if !at_head {
            return Ok(None);
        }
        let call = surge_interfaces::CallShape {
            from: request.from.unwrap_or_default(),
            to,
            data: request.input.input().cloned().unwrap_or_default(),
            value: request.value.unwrap_or_default(),
            gas: request.gas.unwrap_or(self.ctx.limits.gas_cap).min(self.ctx.limits.gas_cap),
        };
        // The hook simulates (bounded by the extension). Blocking on it is sound only because eth_call and
        // eth_estimateGas run on the RPC's execution threads, off the async workers, with the runtime
        // entered: an async caller would panic.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return Ok(None) };
        let storage = runtime.block_on(hook.storage_for(call)).map_err(|busy| RpcError::Limit(busy.0))?;
        if storage.is_empty() {
            return Ok(None);
        }
        tracing::debug!(%to, slots = storage.len(), why = %reverted, "running a reverted call again with what it needs");
        let mut overrides = state_overrides.unwrap_or_default();
        for (address, slot, value) in storage {
            let account = overrides.entry(address).or_default();
            account.state_diff.get_or_insert_with(Default::default).insert(slot, value);
        }
        Ok(Some(overrides))
    }

    fn receipts_of(&self, block: &StoredBlock) -> RpcResult<Vec<TransactionReceipt>> {
        let receipts = self.ctx.store.receipts(block.header.header.number)?.unwrap_or_default();
        let blob_params = self.ctx.spec.blob_params_at(block.header.header.timestamp);
        Ok(block.rpc_receipts(&receipts, blob_params))
    }
}

/// `eth_call`'s and `eth_estimateGas`'s parameters.
type CallParams = (TransactionRequest, Option<BlockIdParam>, Option<StateOverride>, Option<Box<BlockOverrides>>);

#[jsonrpsee::core::async_trait]
impl EthApiServer for EthApi {
    fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.ctx.spec.chain_id))
    }

    fn syncing(&self) -> RpcResult<bool> {
        Ok(false)
    }

    fn accounts(&self) -> RpcResult<Vec<Address>> {
        Ok(vec![])
    }

    fn block_number(&self) -> RpcResult<U64> {
        Ok(U64::from(self.ctx.head_number()?))
    }

    fn block_by_number(&self, number: BlockNumberParam, full: bool) -> RpcResult<Option<Block>> {
        Ok(self.stored(number.get()?.into())?.map(|b| b.rpc_block(full)))
    }

    fn block_by_hash(&self, hash: B256, full: bool) -> RpcResult<Option<Block>> {
        Ok(self.stored(BlockId::from(hash))?.map(|b| b.rpc_block(full)))
    }

    fn block_receipts(&self, block: BlockIdParam) -> RpcResult<Option<Vec<TransactionReceipt>>> {
        self.stored(block.get()?)?.map(|b| self.receipts_of(&b)).transpose()
    }

    fn tx_count_by_number(&self, number: BlockNumberParam) -> RpcResult<Option<U64>> {
        Ok(self.stored(number.get()?.into())?.map(|b| U64::from(b.body.transactions.len())))
    }

    fn transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Transaction>> {
        if let Some(loc) = self.ctx.store.transaction_location(hash)? {
            return Ok(StoredBlock::load(&self.ctx.store, loc.block)?.and_then(|b| b.transaction(loc.index as usize)));
        }
        let pooled = self.ctx.pool.pool().get(&hash);
        Ok(pooled.map(|p| pending_transaction(&p.tx, p.sender)))
    }

    fn raw_transaction_by_hash(&self, hash: B256) -> RpcResult<Option<Bytes>> {
        if let Some(loc) = self.ctx.store.transaction_location(hash)? {
            let body = self.ctx.store.body(loc.block)?.unwrap_or_default();
            return Ok(body.transactions.get(loc.index as usize).map(|t| t.encoded_2718().into()));
        }
        let pooled = self.ctx.pool.pool().get(&hash);
        Ok(pooled.map(|p| p.tx.encoded_2718().into()))
    }

    fn transaction_receipt(&self, hash: B256) -> RpcResult<Option<TransactionReceipt>> {
        let Some(loc) = self.ctx.store.transaction_location(hash)? else { return Ok(None) };
        let Some(block) = StoredBlock::load(&self.ctx.store, loc.block)? else { return Ok(None) };
        Ok(self.receipts_of(&block)?.into_iter().nth(loc.index as usize))
    }

    fn balance(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<U256> {
        let block = block.map(BlockIdParam::get).transpose()?;
        let (state, _) = self.ctx.state(block)?;
        Ok(state.basic_ref(address)?.map(|a| a.balance).unwrap_or_default())
    }

    fn code(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<Bytes> {
        let block = block.map(BlockIdParam::get).transpose()?;
        let (state, _) = self.ctx.state(block)?;
        let Some(info) = state.basic_ref(address)? else { return Ok(Bytes::new()) };
        let code = match info.code {
            Some(code) => code,
            None => state.code_by_hash_ref(info.code_hash)?,
        };
        Ok(code.original_bytes())
    }

    fn storage_at(&self, address: Address, slot: StorageKeyParam, block: Option<BlockIdParam>) -> RpcResult<B256> {
        let block = block.map(BlockIdParam::get).transpose()?;
        let (state, _) = self.ctx.state(block)?;
        Ok(state.storage_ref(address, slot.get()?.into())?.into())
    }

    fn transaction_count(&self, address: Address, block: Option<BlockIdParam>) -> RpcResult<U64> {
        let block = block.map(BlockIdParam::get).transpose()?;
        let (state, _) = self.ctx.state(block)?;
        let nonce = state.basic_ref(address)?.map_or(0, |a| a.nonce);
        if block == Some(BlockId::Number(BlockNumberOrTag::Pending)) {
            let pool = self.ctx.pool.pool();
            let mut next = nonce;
            let mut pending: Vec<u64> =
                pool.pending().iter().filter(|t| t.sender == address).map(|t| t.nonce).collect();
            pending.sort_unstable();
            for n in pending {
                if n == next {
                    next += 1;
                }
            }
            return Ok(U64::from(next));
        }
        Ok(U64::from(nonce))
    }

    async fn call(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<Bytes> {
        let api = self.clone();
        let params = (request, block, state_overrides, block_overrides);
        self.ctx
            .exec
            .run(Work::Call, move |deadline| api.with_answers(params, |ctx, setup| ctx.call(setup, deadline)))
            .await
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockIdParam>,
        state_overrides: Option<StateOverride>,
        block_overrides: Option<Box<BlockOverrides>>,
    ) -> RpcResult<U64> {
        let api = self.clone();
        let params = (request, block, state_overrides, block_overrides);
        let estimate = move |deadline| api.with_answers(params, |ctx, setup| ctx.estimate_gas(setup, deadline));
        self.ctx.exec.run(Work::Call, estimate).await.map(U64::from)
    }

    fn send_raw_transaction(&self, raw: Bytes) -> RpcResult<B256> {
        // Decoding, signature recovery and blob proofs run outside the pool's lock.
        use surge_interfaces::TransactionPool;
        Ok(self.ctx.pool.add_transaction(surge_interfaces::TransactionOrigin::External, &raw)?)
    }

    fn gas_price(&self) -> RpcResult<U256> {
        let head = self.ctx.store.head()?;
        Ok(U256::from(u128::from(self.ctx.next_base_fee(&head.header)?) + SUGGESTED_TIP))
    }

    fn max_priority_fee_per_gas(&self) -> RpcResult<U256> {
        Ok(U256::from(SUGGESTED_TIP))
    }

    fn blob_base_fee(&self) -> RpcResult<U256> {
        let head = self.ctx.store.head()?;
        let params = self.ctx.spec.blob_params_at(head.header.timestamp);
        let fee = params.and_then(|p| head.header.next_block_blob_fee(p));
        fee.map(U256::from).ok_or_else(|| RpcError::Execution("blobs are not enabled on this chain".into()))
    }

    fn fee_history(
        &self,
        block_count: U64,
        newest: BlockNumberParam,
        reward_percentiles: Option<Vec<f64>>,
    ) -> RpcResult<FeeHistory> {
        crate::fees::fee_history(&self.ctx, block_count.to(), newest.get()?, reward_percentiles)
    }

    async fn logs(&self, filter: FilterParam) -> RpcResult<Vec<Log>> {
        let (filter, ctx) = (filter.get()?, self.ctx.clone());
        self.ctx.exec.run(Work::Call, move |deadline| crate::logs::get_logs(&ctx, &filter, Some(deadline))).await
    }

    async fn proof(
        &self,
        address: Address,
        keys: Vec<serde_json::Value>,
        block: Option<BlockIdParam>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let api = self.clone();
        self.ctx.exec.run(Work::Call, move |_| api.proof_now(address, keys, block)).await
    }
}

impl EthApi {
    /// `eth_getProof` on the calling thread.
    fn proof_now(
        &self,
        address: Address,
        keys: Vec<serde_json::Value>,
        block: Option<BlockIdParam>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let number = self.ctx.resolve(block.map(BlockIdParam::get).transpose()?.unwrap_or_default())?;
        if keys.len() > MAX_PROOF_KEYS {
            return Err(RpcError::InvalidParams(format!(
                "{} storage keys, at most {MAX_PROOF_KEYS} in one eth_getProof",
                keys.len()
            )));
        }
        let slots: Vec<B256> = keys.iter().map(crate::params::storage_key).collect::<RpcResult<_>>()?;
        let p = self.ctx.store.proof_within(number, address, &slots, self.ctx.proof_window()?)?;
        Ok(EIP1186AccountProofResponse {
            address,
            balance: p.balance,
            code_hash: p.code_hash,
            nonce: p.nonce,
            storage_hash: p.storage_hash,
            account_proof: p.account_proof,
            storage_proof: p
                .storage_proof
                .into_iter()
                .zip(&keys)
                .map(|(s, raw)| EIP1186StorageProof {
                    key: crate::params::storage_key_echo(raw, s.key),
                    value: s.value,
                    proof: s.proof,
                })
                .collect(),
        })
    }
}

/// The tip per gas a transaction pays at `base_fee` (fee history percentiles).
pub(crate) fn effective_tip(tx: &alloy::consensus::TxEnvelope, base_fee: u64) -> u128 {
    tx.effective_tip_per_gas(base_fee).unwrap_or_default()
}

/// The gas a receipt used, from cumulative values.
pub(crate) fn receipt_gas(receipts: &[alloy::consensus::ReceiptEnvelope], index: usize) -> u64 {
    let previous = index.checked_sub(1).and_then(|i| receipts.get(i)).map_or(0, |r| r.cumulative_gas_used());
    receipts.get(index).map_or(0, |r| r.cumulative_gas_used() - previous)
}
