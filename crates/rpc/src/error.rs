//! RPC errors and their JSON-RPC codes, as geth and reth answer them.

use alloy_primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;

/// `-32602`: the parameters are wrong.
pub const INVALID_PARAMS: i32 = -32602;
/// `-32000`: the server could not do it (execution error, unknown block, pool refusal).
pub const SERVER_ERROR: i32 = -32000;
/// `3`: execution reverted; the revert data goes in `data`.
pub const EXECUTION_REVERTED: i32 = 3;
/// `-32005`: a limit was exceeded (log range, result size).
pub const LIMIT_EXCEEDED: i32 = -32005;
/// `-32603`: an internal failure (storage).
pub const INTERNAL_ERROR: i32 = -32603;

/// What went wrong answering a request.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Bad parameters (beyond what deserialisation checks).
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// A log range that is reversed or reaches past the head.
    #[error("invalid block range params")]
    InvalidBlockRange,
    /// The block named does not exist.
    #[error("unknown block {0}")]
    UnknownBlock(String),
    /// The call reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Revert {
        /// The revert data.
        data: Bytes,
        /// `Error(string)` decoded, when it is one.
        reason: Option<String>,
    },
    /// The call could not run (out of gas, invalid transaction, halt).
    #[error("{0}")]
    Execution(String),
    /// The pool refused a transaction.
    #[error("{0}")]
    Pool(#[from] surge_txpool::PoolError),
    /// A limit was exceeded.
    #[error("{0}")]
    Limit(String),
    /// Reading the store failed.
    #[error("storage: {0}")]
    Store(#[from] surge_host::StoreError),
}

impl RpcError {
    /// A revert with its data; `Error(string)` payloads are decoded into the message.
    pub fn revert(data: Bytes) -> Self {
        let reason = alloy_sol_types::decode_revert_reason(&data);
        Self::Revert { data, reason }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        if let RpcError::Store(surge_host::StoreError::BeyondProofWindow { target, head, window }) = e {
            // reth's words: clients match them to fall back to an archive node.
            let message = format!(
                "distance to target block exceeds maximum proof window: block {target}, head {head}, window \
                 {window} (--rpc.eth-proof-window)"
            );
            return ErrorObjectOwned::owned(SERVER_ERROR, message, None::<()>);
        }
        let message = e.to_string();
        match e {
            RpcError::InvalidParams(_) | RpcError::InvalidBlockRange => {
                ErrorObjectOwned::owned(INVALID_PARAMS, message, None::<()>)
            }
            RpcError::Revert { data, .. } => ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(data)),
            RpcError::Limit(_) => ErrorObjectOwned::owned(LIMIT_EXCEEDED, message, None::<()>),
            RpcError::Store(_) => ErrorObjectOwned::owned(INTERNAL_ERROR, message, None::<()>),
            RpcError::UnknownBlock(_) | RpcError::Execution(_) | RpcError::Pool(_) => {
                ErrorObjectOwned::owned(SERVER_ERROR, message, None::<()>)
            }
        }
    }
}

/// A transaction `from` that the EVM refused before running it, worded as geth words it (clients match
/// these texts): `nonce too low`, `insufficient funds for gas * price + value`, `intrinsic gas too low`, ….
pub fn invalid_transaction(e: &revm::context::result::InvalidTransaction, from: alloy_primitives::Address) -> RpcError {
    use revm::context::result::InvalidTransaction as E;
    let message = match e {
        E::NonceTooLow { tx, state } => format!("nonce too low: address {from}, tx: {tx} state: {state}"),
        E::NonceTooHigh { tx, state } => format!("nonce too high: address {from}, tx: {tx} state: {state}"),
        E::LackOfFundForMaxFee { fee, balance } => {
            format!("insufficient funds for gas * price + value: address {from} have {balance} want {fee}")
        }
        E::GasPriceLessThanBasefee => format!("max fee per gas less than block base fee: address {from}"),
        E::PriorityFeeGreaterThanMaxFee => {
            format!("max priority fee per gas higher than max fee per gas: address {from}")
        }
        E::CallGasCostMoreThanGasLimit { initial_gas, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {initial_gas}")
        }
        E::GasFloorMoreThanGasLimit { gas_floor, gas_limit } => {
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {gas_floor} (calldata floor)")
        }
        E::CallerGasLimitMoreThanBlock => "exceeds block gas limit".to_string(),
        E::TxGasLimitGreaterThanCap { gas_limit, cap } => {
            format!("exceeds block gas limit: gas {gas_limit}, per-transaction cap {cap}")
        }
        E::RejectCallerWithCode => format!("sender not an eoa: address {from}"),
        E::InvalidChainId | E::MissingChainId => "invalid chain id for signer".to_string(),
        E::AccessListNotSupported
        | E::MaxFeePerBlobGasNotSupported
        | E::BlobVersionedHashesNotSupported
        | E::AuthorizationListNotSupported
        | E::Eip2930NotSupported
        | E::Eip1559NotSupported
        | E::Eip4844NotSupported
        | E::Eip7702NotSupported
        | E::Eip7873NotSupported => format!("transaction type not supported: {e}"),
        other => other.to_string(),
    };
    RpcError::Execution(message)
}

/// The result of an RPC method.
pub type RpcResult<T> = Result<T, RpcError>;
