//! `web3_*`, `net_*` and `txpool_*`.

use std::collections::BTreeMap;

use alloy::rpc::types::{
    Transaction,
    txpool::{TxpoolContent, TxpoolStatus},
};
use alloy_primitives::{Address, B256, Bytes, U64, keccak256};
use jsonrpsee::proc_macros::rpc;

use crate::{context::RpcContext, convert::pending_transaction, error::RpcResult};

/// The client version `web3_clientVersion` reports.
pub const CLIENT_VERSION: &str = concat!("surge-node/v", env!("CARGO_PKG_VERSION"));

/// `web3_*` and `net_*`.
#[rpc(server)]
pub trait NetApi {
    /// The client's name and version.
    #[method(name = "web3_clientVersion")]
    fn client_version(&self) -> RpcResult<String>;
    /// Keccak-256 of the input.
    #[method(name = "web3_sha3")]
    fn sha3(&self, input: Bytes) -> RpcResult<B256>;
    /// The network id (the chain id, in decimal).
    #[method(name = "net_version")]
    fn net_version(&self) -> RpcResult<String>;
    /// Always true.
    #[method(name = "net_listening")]
    fn net_listening(&self) -> RpcResult<bool>;
    /// No peers: the node is not on a p2p network.
    #[method(name = "net_peerCount")]
    fn net_peer_count(&self) -> RpcResult<U64>;
}

/// `txpool_*`.
#[rpc(server, namespace = "txpool")]
pub trait TxpoolApi {
    /// Pending and queued counts.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<TxpoolStatus>;
    /// Pending and queued transactions by sender and nonce.
    #[method(name = "content", blocking)]
    fn content(&self) -> RpcResult<TxpoolContent>;
}

/// The `web3`, `net` and `txpool` methods.
#[derive(Debug, Clone)]
pub struct MiscApi {
    ctx: RpcContext,
}

impl MiscApi {
    /// Serves `ctx`.
    pub fn new(ctx: RpcContext) -> Self {
        Self { ctx }
    }
}

impl NetApiServer for MiscApi {
    fn client_version(&self) -> RpcResult<String> {
        Ok(CLIENT_VERSION.to_string())
    }

    fn sha3(&self, input: Bytes) -> RpcResult<B256> {
        Ok(keccak256(input))
    }

    fn net_version(&self) -> RpcResult<String> {
        Ok(self.ctx.spec.chain_id.to_string())
    }

    fn net_listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    fn net_peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }
}

type BySender = BTreeMap<Address, BTreeMap<String, Transaction>>;

impl TxpoolApiServer for MiscApi {
    fn status(&self) -> RpcResult<TxpoolStatus> {
        let pool = self.ctx.pool.pool();
        Ok(TxpoolStatus { pending: pool.pending().len() as u64, queued: pool.queued().len() as u64 })
    }

    fn content(&self) -> RpcResult<TxpoolContent> {
        // Only the shared handles are taken under the pool's lock; converting them is done without it.
        let (pending, queued) = {
            let pool = self.ctx.pool.pool();
            (pool.pending(), pool.queued())
        };
        let group = |txs: Vec<std::sync::Arc<surge_txpool::PooledTx>>| {
            let mut out = BySender::new();
            for t in txs {
                out.entry(t.sender).or_default().insert(t.nonce.to_string(), pending_transaction(&t.tx, t.sender));
            }
            out
        };
        Ok(TxpoolContent { pending: group(pending), queued: group(queued) })
    }
}
