//! The proposer's L1 transactions: the blobs in a sidecar (cell proofs from Osaka on, blob proofs before),
//! the signed transaction (type 3 with blobs, type 2 without) with its gas from the pre-flight execution
//! plus a margin and fee caps with margins (raised by the pools' replacement minimum, within caps), sending,
//! and the self-transfer that gives a nonce up. The nonces are the proposer's to choose.

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
    #[error("sending transaction {hash} (nonce {nonce}): {source}")]
    Send {
        /// Its hash.
        hash: B256,
        /// Its nonce.
        nonce: u64,
        /// What the L1 said.
        source: L1Error,
    },
}

/// The blobs in a sidecar: cell proofs (EIP-7594) when `cell_proofs`, else one proof per blob (EIP-4844).
pub fn blob_sidecar(blobs: &[BlobBytes], cell_proofs: bool) -> Result<BlobTransactionSidecarVariant, SubmitError> {
    sidecar_of(blobs.iter().map(|b| Blob::from(**b)).collect(), cell_proofs)
}

fn sidecar_of(blobs: Vec<Blob>, cell_proofs: bool) -> Result<BlobTransactionSidecarVariant, SubmitError> {
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

/// Margins on what the pre-flight measured and the L1 charges now, and the caps no fee goes past.
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
    /// The highest `maxFeePerGas` (and priority fee) the proposer signs, in wei.
    pub max_fee_per_gas_cap: u128,
    /// The highest `maxFeePerBlobGas` the proposer signs, in wei.
    pub max_fee_per_blob_gas_cap: u128,
}

/// One gwei.
pub const GWEI: u128 = 1_000_000_000;

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            extra_gas_percentage: 20,
            base_fee_margin_percent: 200,
            blob_fee_margin_percent: 200,
            priority_fee: GWEI,
            max_fee_per_gas_cap: 500 * GWEI,
            max_fee_per_blob_gas_cap: 500 * GWEI,
        }
    }
}

impl FeePolicy {
    /// `fees` with no fee above its cap (the priority fee never above the fee cap).
    pub fn capped(&self, fees: Fees) -> Fees {
        let max_fee_per_gas = fees.max_fee_per_gas.min(self.max_fee_per_gas_cap);
        Fees {
            max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.min(max_fee_per_gas),
            max_fee_per_blob_gas: fees.max_fee_per_blob_gas.min(self.max_fee_per_blob_gas_cap),
        }
    }
}

/// The smallest raise, in percent of every fee, that L1 pools take to replace a pending transaction at
/// its nonce: geth's transaction pool asks 10, its blob pool 100 (a blob transaction is replaced by
/// another blob transaction only: geth keeps an account's nonces in one of its pools).
pub fn replacement_bump_percent(blobs: bool) -> u128 {
    if blobs { 100 } else { 10 }
}

/// The fee caps of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fees {
    /// `maxFeePerGas`.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: u128,
    /// `maxFeePerBlobGas`.
    pub max_fee_per_blob_gas: u128,
}

impl Fees {
    /// Every fee raised by `percent`, rounded up, and by one wei at least.
    pub fn bumped(self, percent: u128) -> Fees {
        let up = |fee: u128| fee.saturating_add((fee.saturating_mul(percent)).div_ceil(100).max(1));
        Fees {
            max_fee_per_gas: up(self.max_fee_per_gas),
            max_priority_fee_per_gas: up(self.max_priority_fee_per_gas),
            max_fee_per_blob_gas: up(self.max_fee_per_blob_gas),
        }
    }

    /// The larger of each fee.
    pub fn at_least(self, other: Fees) -> Fees {
        Fees {
            max_fee_per_gas: self.max_fee_per_gas.max(other.max_fee_per_gas),
            max_priority_fee_per_gas: self.max_priority_fee_per_gas.max(other.max_priority_fee_per_gas),
            max_fee_per_blob_gas: self.max_fee_per_blob_gas.max(other.max_fee_per_blob_gas),
        }
    }

    /// Whether every fee is at least `other`'s (a replacement needs this over the bumped fees).
    pub fn covers(&self, other: &Fees) -> bool {
        self.max_fee_per_gas >= other.max_fee_per_gas
            && self.max_priority_fee_per_gas >= other.max_priority_fee_per_gas
            && self.max_fee_per_blob_gas >= other.max_fee_per_blob_gas
    }
}

/// A transaction signed for one nonce, as it goes to the L1 and into the ledger's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Its hash.
    pub hash: B256,
    /// Its network encoding (with the blob sidecar).
    pub raw: Bytes,
    /// Its nonce.
    pub nonce: u64,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its fee caps.
    pub fees: Fees,
    /// Whether it carries blobs.
    pub blobs: bool,
}

/// Signs and sends one account's L1 transactions. It keeps no nonce of its own: the proposer records each
/// signed transaction with its nonce before sending it, and takes the next nonce from the L1's pending
/// count only when no recorded transaction is unsettled.
#[derive(Debug)]
pub struct L1Sender {
    client: L1Client,
    key: PrivateKeySigner,
    chain_id: u64,
    policy: FeePolicy,
}

impl L1Sender {
    /// A sender of `key`'s transactions on `client`'s L1.
    pub async fn new(client: L1Client, key: PrivateKeySigner, policy: FeePolicy) -> Result<Self, L1Error> {
        let chain_id = client.chain_id().await?;
        Ok(Self { client, key, chain_id, policy })
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

    /// The margins and caps.
    pub fn policy(&self) -> &FeePolicy {
        &self.policy
    }

    /// The gas limit for a transaction whose pre-flight needed `gas_needed` (spent before refunds).
    pub fn gas_limit(&self, gas_needed: u64) -> u64 {
        gas_needed.saturating_add(gas_needed.saturating_mul(self.policy.extra_gas_percentage) / 100)
    }

    /// Fee caps from the L1's latest block with the policy's margins, within its caps.
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
        Ok(p.capped(Fees {
            max_fee_per_gas: (base_fee * p.base_fee_margin_percent / 100).saturating_add(p.priority_fee),
            max_priority_fee_per_gas: p.priority_fee,
            max_fee_per_blob_gas: (blob_fee * p.blob_fee_margin_percent / 100).max(1),
        }))
    }

    /// The account's next nonce counting its transactions in the L1's pool.
    pub async fn pending_nonce(&self) -> Result<u64, L1Error> {
        let count = self.client.provider().get_transaction_count(self.address()).pending();
        self.client.run("eth_getTransactionCount", count).await
    }

    /// The account's next nonce in the L1's latest block.
    pub async fn latest_nonce(&self) -> Result<u64, L1Error> {
        let count = self.client.provider().get_transaction_count(self.address()).latest();
        self.client.run("eth_getTransactionCount", count).await
    }

    /// `tx` signed with `nonce`, `gas_limit` and `fees`.
    pub fn sign(&self, tx: &L1Transaction, nonce: u64, gas_limit: u64, fees: Fees) -> Result<Signed, SubmitError> {
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
        let raw = envelope.encoded_2718().into();
        Ok(Signed { hash: *envelope.tx_hash(), raw, nonce, gas_limit, fees, blobs: tx.sidecar.is_some() })
    }

    /// Hands `signed` to the L1. A pool that has it already counts as having taken it.
    pub async fn send(&self, signed: &Signed) -> Result<(), SubmitError> {
        let provider = self.client.provider();
        match self.client.run("eth_sendRawTransaction", provider.send_raw_transaction(&signed.raw)).await {
            Ok(_) => Ok(()),
            Err(L1Error::Call { reason, .. }) if reason.to_ascii_lowercase().contains("already known") => Ok(()),
            Err(e) => Err(SubmitError::Send { hash: signed.hash, nonce: signed.nonce, source: e }),
        }
    }

    /// The transaction that gives a nonce up: a zero-value transfer to the sender itself. When the
    /// transaction it replaces carries blobs (`blobs`: with cell proofs or not) it carries one empty blob, as
    /// geth's blob pool takes no other replacement for a blob transaction.
    pub fn cancellation(&self, blobs: Option<bool>) -> Result<L1Transaction, SubmitError> {
        let sidecar = blobs.map(|cell_proofs| sidecar_of(vec![Blob::default()], cell_proofs)).transpose()?;
        Ok(L1Transaction { to: self.address(), input: Bytes::new(), sidecar })
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
        };
        let fees = Fees { max_fee_per_gas: 3, max_priority_fee_per_gas: 1, max_fee_per_blob_gas: 2 };
        let signed = sender.sign(&tx, 5, 100_000, fees).unwrap();
        assert!(signed.blobs);
        let decoded = TxEnvelope::decode_2718(&mut signed.raw.as_ref()).unwrap();
        assert_eq!(*decoded.tx_hash(), signed.hash);
        let TxEnvelope::Eip4844(signed) = &decoded else { panic!("a blob transaction") };
        let TxEip4844Variant::TxEip4844WithSidecar(with) = signed.tx() else { panic!("with its sidecar") };
        assert_eq!(with.tx.blob_versioned_hashes, tx.blob_hashes());
        assert_eq!((with.tx.nonce, with.tx.gas_limit, with.tx.max_fee_per_blob_gas), (5, 100_000, 2));
        assert_eq!(alloy::consensus::transaction::SignerRecoverable::recover_signer(&decoded).unwrap(), key.address());
        assert_eq!(sender.gas_limit(100), 120, "20% over the pre-flight");

        // A cancellation of a blob transaction is a blob transaction to the sender, worth nothing.
        let cancel = sender.cancellation(Some(true)).unwrap();
        assert_eq!((cancel.to, cancel.input.len(), cancel.blob_hashes().len()), (key.address(), 0, 1));
        assert!(sender.cancellation(None).unwrap().sidecar.is_none());
    }

    #[test]
    fn replacements_raise_every_fee_by_the_pools_minimum_within_the_caps() {
        let fees = Fees { max_fee_per_gas: 30 * GWEI, max_priority_fee_per_gas: GWEI, max_fee_per_blob_gas: 1 };
        let type2 = fees.bumped(replacement_bump_percent(false));
        assert_eq!((type2.max_fee_per_gas, type2.max_priority_fee_per_gas), (33 * GWEI, GWEI + GWEI / 10));
        assert_eq!(type2.max_fee_per_blob_gas, 2, "one wei at least");
        let blob = fees.bumped(replacement_bump_percent(true));
        assert_eq!(
            (blob.max_fee_per_gas, blob.max_priority_fee_per_gas, blob.max_fee_per_blob_gas),
            (60 * GWEI, 2 * GWEI, 2)
        );
        assert!(blob.covers(&type2) && !type2.covers(&blob));
        let market = Fees { max_fee_per_gas: 80 * GWEI, ..fees };
        assert_eq!(type2.at_least(market).max_fee_per_gas, 80 * GWEI, "never below what the L1 asks now");
        let policy = FeePolicy { max_fee_per_gas_cap: 50 * GWEI, max_fee_per_blob_gas_cap: 1, ..Default::default() };
        let capped = policy.capped(blob.at_least(market));
        assert_eq!((capped.max_fee_per_gas, capped.max_fee_per_blob_gas), (50 * GWEI, 1));
        assert!(!capped.covers(&blob), "a cap below the bump: no replacement");
    }
}
