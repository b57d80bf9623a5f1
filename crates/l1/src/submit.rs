//! The proposer's L1 transactions: the blobs in a sidecar (cell proofs from Osaka on, blob proofs before),
//! the signed transaction (type 3 with blobs, type 2 without) with its gas from the pre-flight execution
//! plus a margin and fee caps with margins, nonces kept by the sender, sending and waiting for inclusion.

use alloy::{
    consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEip4844Variant, TxEip4844WithSidecar, TxEnvelope},
    eips::{
        BlockNumberOrTag, Encodable2718,
        eip4844::{Blob, BlobTransactionSidecar},
        eip7594::{BlobTransactionSidecarEip7594, BlobTransactionSidecarVariant},
    },
    providers::Provider,
    signers::{SignerSync, local::PrivateKeySigner},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use surge_primitives::blob::BlobBytes;
use tokio::sync::Mutex;

use crate::{L1Client, L1Error};

/// A transaction that could not be made or sent.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The KZG commitments or proofs of the blobs could not be computed.
    #[error("computing the KZG commitments and proofs of {blobs} blobs: {reason}")]
    Kzg {
        /// Blobs.
        blobs: usize,
        /// What c-kzg said.
        reason: String,
    },
    /// The key could not sign.
    #[error("signing the transaction with nonce {nonce}: {reason}")]
    Sign {
        /// The nonce.
        nonce: u64,
        /// Why.
        reason: String,
    },
    /// The L1 refused it or could not be asked.
    #[error(transparent)]
    L1(#[from] L1Error),
}

/// The blobs in a sidecar: cell proofs (EIP-7594) when `cell_proofs`, else one proof per blob (EIP-4844).
pub fn blob_sidecar(blobs: &[BlobBytes], cell_proofs: bool) -> Result<BlobTransactionSidecarVariant, SubmitError> {
    let blobs: Vec<Blob> = blobs.iter().map(|b| Blob::from(**b)).collect();
    let n = blobs.len();
    let kzg = |e: alloy::eips::eip4844::c_kzg::Error| SubmitError::Kzg { blobs: n, reason: e.to_string() };
    Ok(if cell_proofs {
        BlobTransactionSidecarVariant::Eip7594(BlobTransactionSidecarEip7594::try_from_blobs(blobs).map_err(kzg)?)
    } else {
        BlobTransactionSidecarVariant::Eip4844(
            BlobTransactionSidecar::try_from_blobs_with_settings(
                blobs,
                alloy::eips::eip4844::env_settings::EnvKzgSettings::Default.get(),
            )
            .map_err(kzg)?,
        )
    })
}

/// An L1 transaction to send: its target, calldata and blobs.
#[derive(Debug, Clone)]
pub struct L1Transaction {
    /// The contract called.
    pub to: Address,
    /// The calldata.
    pub input: Bytes,
    /// The blobs, if any.
    pub sidecar: Option<BlobTransactionSidecarVariant>,
}

impl L1Transaction {
    /// The versioned hashes of its blobs, in order.
    pub fn blob_hashes(&self) -> Vec<B256> {
        self.sidecar.as_ref().map(|s| s.versioned_hashes().collect()).unwrap_or_default()
    }
}

/// Margins on what the pre-flight measured and the L1 charges now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// Gas added to the pre-flight's gas, in percent (Catalyst's `EXTRA_GAS_PERCENTAGE`).
    pub extra_gas_percentage: u64,
    /// The fee cap over the current base fee, in percent (200: the base fee may double before inclusion).
    pub base_fee_margin_percent: u128,
    /// The blob fee cap over the current blob base fee, in percent.
    pub blob_fee_margin_percent: u128,
    /// The priority fee, in wei.
    pub priority_fee: u128,
}

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            extra_gas_percentage: 20,
            base_fee_margin_percent: 200,
            blob_fee_margin_percent: 200,
            priority_fee: 1_000_000_000,
        }
    }
}

/// The fee caps of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
    /// `maxFeePerBlobGas`.
    pub max_fee_per_blob_gas: u128,
}

/// A transaction that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Its hash.
    pub hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// Its gas limit.
    pub gas_limit: u64,
}

/// Signs and sends one account's L1 transactions, keeping its nonces: the next one is the larger of the
/// one after its last sent and the L1's pending count (another sender of the same key, or a restart).
#[derive(Debug)]
pub struct L1Sender {
    client: L1Client,
    key: PrivateKeySigner,
    chain_id: u64,
    policy: FeePolicy,
    next_nonce: Mutex<Option<u64>>,
}

impl L1Sender {
    /// A sender of `key`'s transactions on `client`'s L1.
    pub async fn new(client: L1Client, key: PrivateKeySigner, policy: FeePolicy) -> Result<Self, L1Error> {
        let chain_id = client.chain_id().await?;
        Ok(Self { client, key, chain_id, policy, next_nonce: Mutex::new(None) })
    }

    /// The sending account.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The L1's chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The client.
    pub fn client(&self) -> &L1Client {
        &self.client
    }

    /// The gas limit for a transaction whose pre-flight needed `gas_needed` (spent before refunds).
    pub fn gas_limit(&self, gas_needed: u64) -> u64 {
        gas_needed.saturating_add(gas_needed.saturating_mul(self.policy.extra_gas_percentage) / 100)
    }

    /// Fee caps from the L1's latest block with the policy's margins.
    pub async fn fees(&self) -> Result<Fees, L1Error> {
        let provider = self.client.provider();
        let block = self
            .client
            .run("eth_getBlockByNumber", provider.get_block_by_number(BlockNumberOrTag::Latest))
            .await?
            .ok_or_else(|| L1Error::Call {
                call: "eth_getBlockByNumber".into(),
                endpoint: self.client.endpoint().into(),
                reason: "no latest block".into(),
            })?;
        let base_fee = u128::from(block.header.base_fee_per_gas.unwrap_or_default());
        let blob_fee = self.client.run("eth_blobBaseFee", provider.get_blob_base_fee()).await?;
        let p = self.policy;
        Ok(Fees {
            max_fee_per_gas: base_fee * p.base_fee_margin_percent / 100 + p.priority_fee,
            max_priority_fee_per_gas: p.priority_fee,
            max_fee_per_blob_gas: (blob_fee * p.blob_fee_margin_percent / 100).max(1),
        })
    }

    /// `tx` signed with `nonce`, `gas_limit` and `fees`: its hash and network encoding (with the sidecar).
    pub fn sign(
        &self,
        tx: &L1Transaction,
        nonce: u64,
        gas_limit: u64,
        fees: Fees,
    ) -> Result<(B256, Bytes), SubmitError> {
        let sign_err = |e: alloy::signers::Error| SubmitError::Sign { nonce, reason: e.to_string() };
        let envelope = match &tx.sidecar {
            Some(sidecar) => {
                let inner = TxEip4844 {
                    chain_id: self.chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: fees.max_fee_per_gas,
                    max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
                    to: tx.to,
                    value: U256::ZERO,
                    access_list: Default::default(),
                    blob_versioned_hashes: tx.blob_hashes(),
                    max_fee_per_blob_gas: fees.max_fee_per_blob_gas,
                    input: tx.input.clone(),
                };
                let sig = self.key.sign_hash_sync(&inner.signature_hash()).map_err(sign_err)?;
                let with = TxEip4844WithSidecar::from_tx_and_sidecar(inner, sidecar.clone());
                TxEnvelope::Eip4844(TxEip4844Variant::TxEip4844WithSidecar(with).into_signed(sig))
            }
            None => {
                let inner = TxEip1559 {
                    chain_id: self.chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: fees.max_fee_per_gas,
                    max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
                    to: TxKind::Call(tx.to),
                    value: U256::ZERO,
                    access_list: Default::default(),
                    input: tx.input.clone(),
                };
                let sig = self.key.sign_hash_sync(&inner.signature_hash()).map_err(sign_err)?;
                TxEnvelope::Eip1559(inner.into_signed(sig))
            }
        };
        Ok((*envelope.tx_hash(), envelope.encoded_2718().into()))
    }

    /// Signs `tx` with the account's next nonce and sends it. A send the L1 refuses gives the nonce back
    /// (it is read again from the L1 next time).
    pub async fn send(&self, tx: &L1Transaction, gas_limit: u64, fees: Fees) -> Result<Sent, SubmitError> {
        let mut next = self.next_nonce.lock().await;
        let provider = self.client.provider();
        let pending = self
            .client
            .run("eth_getTransactionCount", provider.get_transaction_count(self.address()).pending())
            .await?;
        let nonce = next.map_or(pending, |n| n.max(pending));
        let (hash, raw) = self.sign(tx, nonce, gas_limit, fees)?;
        match self.client.run("eth_sendRawTransaction", provider.send_raw_transaction(&raw)).await {
            Ok(_) => {
                *next = Some(nonce + 1);
                Ok(Sent { hash, nonce, gas_limit })
            }
            Err(e) => {
                *next = None;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloy::eips::{Decodable2718, eip4844::env_settings::EnvKzgSettings};
    use surge_primitives::blob::encode_blobs;

    use super::*;

    #[test]
    fn both_sidecar_kinds_commit_to_the_same_blobs_and_check_out() {
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let blobs = encode_blobs(&payload).unwrap();
        assert_eq!(blobs.len(), 2);
        let cells = blob_sidecar(&blobs, true).unwrap();
        let proofs = blob_sidecar(&blobs, false).unwrap();
        assert!(matches!(cells, BlobTransactionSidecarVariant::Eip7594(_)));
        assert!(matches!(proofs, BlobTransactionSidecarVariant::Eip4844(_)));
        let hashes: Vec<B256> = cells.versioned_hashes().collect();
        assert_eq!(hashes, proofs.versioned_hashes().collect::<Vec<_>>(), "the same commitments");
        cells.validate(&hashes, EnvKzgSettings::Default.get()).unwrap();
        proofs.validate(&hashes, EnvKzgSettings::Default.get()).unwrap();
        assert!(cells.validate(&[hashes[1], hashes[0]], EnvKzgSettings::Default.get()).is_err(), "order matters");
    }

    #[test]
    fn a_signed_blob_transaction_carries_its_sidecar_and_the_hashes() {
        let blobs = encode_blobs(b"a proposal's manifest").unwrap();
        let tx = L1Transaction {
            to: Address::repeat_byte(0x11),
            input: Bytes::from_static(&[1, 2, 3]),
            sidecar: Some(blob_sidecar(&blobs, true).unwrap()),
        };
        let key = PrivateKeySigner::random();
        let sender = L1Sender {
            client: tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(L1Client::connect("http://127.0.0.1:1", std::time::Duration::from_millis(10)))
                .unwrap(),
            key: key.clone(),
            chain_id: 7,
            policy: FeePolicy::default(),
            next_nonce: Mutex::new(None),
        };
        let fees = Fees { max_fee_per_gas: 3, max_priority_fee_per_gas: 1, max_fee_per_blob_gas: 2 };
        let (hash, raw) = sender.sign(&tx, 5, 100_000, fees).unwrap();
        let decoded = TxEnvelope::decode_2718(&mut raw.as_ref()).unwrap();
        assert_eq!(*decoded.tx_hash(), hash);
        let TxEnvelope::Eip4844(signed) = &decoded else { panic!("a blob transaction") };
        let TxEip4844Variant::TxEip4844WithSidecar(with) = signed.tx() else { panic!("with its sidecar") };
        assert_eq!(with.tx.blob_versioned_hashes, tx.blob_hashes());
        assert_eq!((with.tx.nonce, with.tx.gas_limit, with.tx.max_fee_per_blob_gas), (5, 100_000, 2));
        assert_eq!(alloy::consensus::transaction::SignerRecoverable::recover_signer(&decoded).unwrap(), key.address());
        assert_eq!(sender.gas_limit(100), 120, "20% over the pre-flight");
    }
}
