//! [`L1Client`]: typed calls to an L1 endpoint through alloy's provider, each bounded by a timeout and
//! failing with the call and the endpoint named.

use std::{future::IntoFuture, time::Duration};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::{BlockNumberOrTag, Encodable2718},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use surge_primitives::bindings::{inbox::RealTimeInbox, multicall::Multicall};

use crate::head::L1Head;

/// An L1 call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L1Error {
    /// The endpoint could not be reached or set up.
    #[error("connecting to the L1 at {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The call failed or its answer did not decode.
    #[error("{call} to the L1 at {endpoint}: {reason}")]
    Call {
        /// The call (JSON-RPC method or contract function).
        call: String,
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// No answer in time.
    #[error("{call} to the L1 at {endpoint}: no answer within {timeout:?}")]
    Timeout {
        /// The call.
        call: String,
        /// The endpoint.
        endpoint: String,
        /// The limit.
        timeout: Duration,
    },
}

/// An included transaction as a replay runs it.
#[derive(Debug, Clone)]
pub struct Included {
    /// Its block's header.
    pub header: alloy::consensus::Header,
    /// The transactions ahead of it in the block, in order.
    pub ahead: Vec<revm::context::TxEnv>,
    /// The transaction itself.
    pub ours: revm::context::TxEnv,
}

/// A client of one L1 endpoint.
#[derive(Debug, Clone)]
pub struct L1Client {
    provider: DynProvider,
    endpoint: String,
    timeout: Duration,
    ws: bool,
}

impl L1Client {
    /// Connects to `url` (`http(s)://` or `ws(s)://`); every call gives up after `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, L1Error> {
        let connect = |reason: String| L1Error::Connect { endpoint: url.to_string(), reason };
        let provider = tokio::time::timeout(timeout, ProviderBuilder::new().connect(url))
            .await
            .map_err(|_| connect(format!("no answer within {timeout:?}")))?
            .map_err(|e| connect(e.to_string()))?
            .erased();
        let ws = url.starts_with("ws://") || url.starts_with("wss://");
        Ok(Self { provider, endpoint: url.to_string(), timeout, ws })
    }

    /// A fresh connection to the same endpoint (a WebSocket whose connection is gone for good).
    pub async fn reconnect(&self) -> Result<Self, L1Error> {
        Self::connect(&self.endpoint, self.timeout).await
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the endpoint is a WebSocket (it can push new heads).
    pub fn is_ws(&self) -> bool {
        self.ws
    }

    /// The provider, for calls this client has no method for.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// How long a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one call under the timeout, naming it in any error.
    pub async fn run<T, E: std::fmt::Display>(
        &self,
        call: &str,
        request: impl IntoFuture<Output = Result<T, E>>,
    ) -> Result<T, L1Error> {
        match tokio::time::timeout(self.timeout, request.into_future()).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(call, e)),
            Err(_) => {
                Err(L1Error::Timeout { call: call.to_string(), endpoint: self.endpoint.clone(), timeout: self.timeout })
            }
        }
    }

    fn error(&self, call: &str, reason: impl std::fmt::Display) -> L1Error {
        L1Error::Call { call: call.to_string(), endpoint: self.endpoint.clone(), reason: reason.to_string() }
    }

    /// The chain id.
    pub async fn chain_id(&self) -> Result<u64, L1Error> {
        self.run("eth_chainId", self.provider.get_chain_id()).await
    }

    /// The code at `address` (empty when none).
    pub async fn code(&self, address: Address) -> Result<Bytes, L1Error> {
        self.run("eth_getCode", self.provider.get_code_at(address)).await
    }

    /// The block `tag` names, as a head; `None` when the endpoint has no such block.
    pub async fn head(&self, tag: BlockNumberOrTag) -> Result<Option<L1Head>, L1Error> {
        let block = self.run("eth_getBlockByNumber", self.provider.get_block_by_number(tag)).await?;
        Ok(block.map(|b| L1Head::from_header(&b.header)))
    }

    /// Whether the endpoint serves state at block `number` (an archive or a recent block).
    pub async fn serves_state_at(&self, number: u64) -> bool {
        self.run("eth_getBalance", self.provider.get_balance(Address::ZERO).number(number)).await.is_ok()
    }

    /// A view call of `C` on `to` at the latest block, decoded.
    pub async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, L1Error> {
        self.view_at(to, call, BlockNumberOrTag::Latest).await
    }

    /// [`L1Client::view`] on the state of block `at`.
    pub async fn view_at<C: SolCall>(&self, to: Address, call: C, at: BlockNumberOrTag) -> Result<C::Return, L1Error> {
        let name = format!("{} on {to} at {at}", C::SIGNATURE);
        let request = TransactionRequest::default().to(to).input(call.abi_encode().into());
        let out = self.run(&name, self.provider.call(request).block(at.into())).await?;
        C::abi_decode_returns(&out).map_err(|e| self.error(&name, e))
    }

    /// The inbox's configuration (verifier, signal service, base-fee sharing percentage).
    pub async fn inbox_config(&self, inbox: Address) -> Result<RealTimeInbox::Config, L1Error> {
        self.view(inbox, RealTimeInbox::getConfigCall {}).await
    }

    /// The receipt of `hash`, when it is included.
    pub async fn receipt(&self, hash: alloy_primitives::B256) -> Result<Option<TransactionReceipt>, L1Error> {
        self.run("eth_getTransactionReceipt", self.provider.get_transaction_receipt(hash)).await
    }

    /// What a replay of included transaction `hash` needs: its block's header, the transactions ahead of it
    /// in that block and itself, each as revm runs it. `None` while it is not included.
    pub async fn included(&self, hash: alloy_primitives::B256) -> Result<Option<Included>, L1Error> {
        let fail = |reason: String| L1Error::Call {
            call: "eth_getBlockByNumber".into(),
            endpoint: self.endpoint.clone(),
            reason,
        };
        let Some(receipt) = self.receipt(hash).await? else { return Ok(None) };
        let Some(number) = receipt.block_number else { return Ok(None) };
        let block = self
            .run("eth_getBlockByNumber", self.provider.get_block_by_number(number.into()).full())
            .await?
            .ok_or_else(|| fail(format!("block {number} is gone")))?;
        let mut ahead = vec![];
        for tx in block.transactions.txns() {
            let env = crate::sim::replay_env(tx.inner.inner(), tx.inner.signer());
            if *tx.inner.tx_hash() == hash {
                return Ok(Some(Included { header: block.header.inner.clone(), ahead, ours: env }));
            }
            ahead.push(env);
        }
        Err(fail(format!("block {number} does not hold transaction {hash}")))
    }

    /// The proposer Multicall's owner (the only account that may propose through it).
    pub async fn multicall_owner(&self, multicall: Address) -> Result<Address, L1Error> {
        self.view(multicall, Multicall::ownerCall {}).await
    }

    /// Signs a transaction from `key` with its next nonce, sends it, and waits for its receipt; a
    /// transaction that reverts is an error naming `what`.
    pub async fn send(
        &self,
        key: &PrivateKeySigner,
        to: TxKind,
        input: Vec<u8>,
        what: &str,
    ) -> Result<TransactionReceipt, L1Error> {
        self.send_value(key, to, U256::ZERO, input, what).await
    }

    /// [`L1Client::send`] with `value` wei attached.
    pub async fn send_value(
        &self,
        key: &PrivateKeySigner,
        to: TxKind,
        value: U256,
        input: Vec<u8>,
        what: &str,
    ) -> Result<TransactionReceipt, L1Error> {
        let from = key.address();
        let fail = |reason: String| self.error(what, reason);
        let chain_id = self.chain_id().await?;
        let nonce = self.run("eth_getTransactionCount", self.provider.get_transaction_count(from).pending()).await?;
        let mut request = TransactionRequest::default().from(from).value(value).input(input.clone().into());
        if let TxKind::Call(to) = to {
            request = request.to(to);
        }
        let gas =
            self.run("eth_estimateGas", self.provider.estimate_gas(request)).await.map_err(|e| fail(e.to_string()))?;
        let gas_price = self.run("eth_gasPrice", self.provider.get_gas_price()).await?;
        let tip = 1_000_000_000u128;
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas * 6 / 5,
            max_fee_per_gas: gas_price * 2 + tip,
            max_priority_fee_per_gas: tip,
            to,
            value,
            access_list: Default::default(),
            input: input.into(),
        };
        let sig = key.sign_hash_sync(&tx.signature_hash()).map_err(|e| fail(format!("signing: {e}")))?;
        let raw = TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718();
        let pending = self.run("eth_sendRawTransaction", self.provider.send_raw_transaction(&raw)).await?;
        let hash = *pending.tx_hash();
        // Mining may take longer than one call: a minute at most.
        let receipt = tokio::time::timeout(Duration::from_secs(60), pending.get_receipt())
            .await
            .map_err(|_| fail(format!("transaction {hash} not mined within a minute")))?
            .map_err(|e| fail(format!("waiting for {hash}: {e}")))?;
        if !receipt.status() {
            return Err(fail(format!("transaction {hash} reverted")));
        }
        Ok(receipt)
    }
}
