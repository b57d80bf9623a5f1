//! A small blocking JSON-RPC client for an external L1: heads for the anchor's checkpoints, and signed
//! transactions for `surge-node deploy`.

use std::time::{Duration, Instant};

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEnvelope},
    eips::Encodable2718,
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256, aliases::U48};
use serde_json::{Value, json};
use surge_interfaces::CheckpointSource;
use surge_primitives::{Checkpoint, ProtocolConfig};

use crate::config::ConfigError;

/// An external L1 endpoint.
pub struct L1Client {
    url: String,
    agent: ureq::Agent,
}

impl L1Client {
    /// A client of `url` (5 s per request).
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build().into();
        Self { url: url.to_string(), agent }
    }

    /// One call; its result, or what went wrong naming the method and the endpoint.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let reply: Value = self
            .agent
            .post(&self.url)
            .send_json(&body)
            .and_then(|mut r| r.body_mut().read_json())
            .map_err(|e| format!("{method} to {}: {e}", self.url))?;
        match reply.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{method} to {}: {}", self.url, reply["error"])),
        }
    }

    fn call_as<T: serde::de::DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, String> {
        serde_json::from_value(self.call(method, params)?).map_err(|e| format!("{method}: {e}"))
    }

    /// The chain id.
    pub fn chain_id(&self) -> Result<u64, String> {
        Ok(self.call_as::<U64>("eth_chainId", json!([]))?.to())
    }

    /// Whether `address` has code.
    pub fn has_code(&self, address: Address) -> Result<bool, String> {
        Ok(!self.call_as::<Bytes>("eth_getCode", json!([address, "latest"]))?.is_empty())
    }

    /// Checks that the endpoint is the L1 of `protocol`: its chain id, and the bridge there.
    pub fn check(&self, protocol: &ProtocolConfig) -> Result<(), ConfigError> {
        let fail = |reason: String| ConfigError { field: "l1.rpc_url".into(), reason };
        let chain = self.chain_id().map_err(fail)?;
        if chain != protocol.l1_chain_id {
            return Err(fail(format!("chain id {chain}, but the L2 settles on {}", protocol.l1_chain_id)));
        }
        if !self.has_code(protocol.l1.bridge).map_err(fail)? {
            return Err(fail(format!(
                "no L1 bridge at {} (deploy the protocol with `surge-node deploy`, or start the L1 from \
                 etc/dev/l1-genesis.json)",
                protocol.l1.bridge
            )));
        }
        Ok(())
    }

    /// Signs and sends a transaction for chain `chain_id` from `key` with nonce `nonce`, waits for its
    /// receipt, and returns it; a failed transaction is an error naming `what`.
    pub fn send(
        &self,
        key: &PrivateKeySigner,
        chain_id: u64,
        nonce: u64,
        to: TxKind,
        input: Vec<u8>,
        what: &str,
    ) -> Result<Value, String> {
        let from = key.address();
        let mut request = json!({ "from": from, "input": Bytes::from(input.clone()) });
        if let TxKind::Call(to) = to {
            request["to"] = json!(to);
        }
        let gas: U64 = self.call_as("eth_estimateGas", json!([request]))?;
        let gas_price: U256 = self.call_as("eth_gasPrice", json!([]))?;
        let tip = 1_000_000_000u128;
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas.to::<u64>() * 6 / 5,
            max_fee_per_gas: gas_price.to::<u128>() * 2 + tip,
            max_priority_fee_per_gas: tip,
            to,
            value: U256::ZERO,
            access_list: Default::default(),
            input: input.into(),
        };
        let sig = key.sign_hash_sync(&tx.signature_hash()).map_err(|e| format!("signing {what}: {e}"))?;
        let raw = Bytes::from(TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718());
        let hash: B256 = self.call_as("eth_sendRawTransaction", json!([raw])).map_err(|e| format!("{what}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let receipt = self.call("eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                if receipt["status"] != "0x1" {
                    return Err(format!("{what}: transaction {hash} failed"));
                }
                return Ok(receipt);
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: transaction {hash} not mined within a minute"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl CheckpointSource for L1Client {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        let block = self.call("eth_getBlockByNumber", json!(["latest", false]))?;
        let field = |name: &str| -> Result<String, String> {
            block[name].as_str().map(str::to_string).ok_or_else(|| format!("L1 block without {name}: {block}"))
        };
        let number = u64::from_str_radix(field("number")?.trim_start_matches("0x"), 16)?;
        Ok(Checkpoint {
            blockNumber: U48::from(number),
            blockHash: field("hash")?.parse()?,
            stateRoot: field("stateRoot")?.parse()?,
        })
    }
}
