//! Stateless and state-dependent checks of an incoming transaction, each with its own error.

use alloy::{
    consensus::{Transaction, TxEip4844Variant, TxEnvelope, transaction::SignerRecoverable},
    eips::{
        Decodable2718, Encodable2718, Typed2718, eip2930::AccessList, eip4844::env_settings::EnvKzgSettings,
        eip7594::BlobTransactionSidecarVariant,
    },
};
use alloy_primitives::{Address, B256, U256};
use surge_interfaces::pool::without_sidecar;

/// Why a transaction was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The bytes are not a valid EIP-2718 transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The encoded transaction is larger than allowed.
    #[error("oversized data: transaction size {size}, limit {max}")]
    Oversized {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The type is not allowed on this chain.
    #[error("transaction type not supported: type {0} is not allowed on this chain")]
    TypeNotAllowed(u8),
    /// The chain id is missing (unprotected legacy) or another chain's.
    #[error("invalid chain id for signer: the transaction has {got:?}, this chain is {expected}")]
    WrongChainId {
        /// This chain.
        expected: u64,
        /// In the transaction.
        got: Option<u64>,
    },
    /// The signature does not recover.
    #[error("invalid sender: the signature does not recover")]
    BadSignature,
    /// The sender may not submit transactions here.
    #[error("sender {0} is not allowed to submit transactions")]
    DeniedSender(Address),
    /// The gas limit is below the intrinsic gas.
    #[error("intrinsic gas too low: gas {gas_limit}, minimum needed {intrinsic}")]
    IntrinsicGasTooLow {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// What it needs at least.
        intrinsic: u64,
    },
    /// The gas limit exceeds the block gas limit or the per-transaction cap.
    #[error("exceeds block gas limit: gas {gas_limit}, limit {max}")]
    GasLimitTooHigh {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// The limit.
        max: u64,
    },
    /// The fee cap is below the pool's floor, or the tip is above the fee cap.
    #[error("transaction underpriced: max fee per gas {max_fee}, minimum {floor}")]
    FeeTooLow {
        /// The transaction's max fee per gas.
        max_fee: u128,
        /// The floor.
        floor: u128,
    },
    /// The tip is above the fee cap.
    #[error("max priority fee per gas higher than max fee per gas: tip {tip}, max fee {max_fee}")]
    TipAboveFeeCap {
        /// The tip.
        tip: u128,
        /// The fee cap.
        max_fee: u128,
    },
    /// The nonce is below the sender's current nonce.
    #[error("nonce too low: next nonce {state_nonce}, tx nonce {nonce}")]
    NonceTooLow {
        /// The transaction's nonce.
        nonce: u64,
        /// The sender's nonce.
        state_nonce: u64,
    },
    /// The sender cannot pay for the transaction together with its pooled transactions of lower nonces,
    /// which all run before it (geth's overdraft check).
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, pooled before it {pooled}")]
    InsufficientFunds {
        /// The balance.
        balance: U256,
        /// This transaction's gas × max fee + value (+ blob gas × blob fee).
        cost: U256,
        /// What the sender's pooled transactions with lower nonces cost together.
        pooled: U256,
    },
    /// A transaction with the same sender and nonce is in the pool and this one does not bump its fees
    /// enough.
    #[error("replacement transaction underpriced: fees must rise by {bump_percent}% over the pooled transaction")]
    ReplacementUnderpriced {
        /// The required bump.
        bump_percent: u128,
    },
    /// An extension refuses the replacement (a plan others stand on).
    #[error("replacement refused: {0}")]
    ReplacementRefused(String),
    /// The same transaction is already pooled.
    #[error("already known: {0}")]
    AlreadyKnown(B256),
    /// The sender already has as many queued (not yet executable) transactions as one account may.
    #[error("account limit exceeded: sender {sender} already has {max} queued transactions (--txpool.accountqueue)")]
    AccountQueueFull {
        /// The sender.
        sender: Address,
        /// The limit.
        max: usize,
    },
    /// The pool is full and this transaction pays less than everything in it.
    #[error("txpool is full")]
    PoolFull,
    /// A blob transaction arrived without its sidecar.
    #[error("blob transaction without its sidecar (blobs, commitments and proofs are required in the pool)")]
    BlobSidecarMissing,
    /// A blob transaction's sidecar is of the other kind than the active fork's (blob proofs before Osaka,
    /// cell proofs from Osaka on, as EIP-7594 requires).
    #[error("blob sidecar of the wrong version: {0}")]
    SidecarVersion(&'static str),
    /// A blob transaction's sidecar does not match its versioned hashes, or a KZG proof fails.
    #[error("invalid blob sidecar: {0}")]
    InvalidBlob(String),
    /// A blob transaction carries no blobs, or more than a transaction may.
    #[error("blob transaction carries {count} blobs, allowed 1..={max}")]
    BlobCount {
        /// Blobs carried.
        count: usize,
        /// Most allowed per transaction.
        max: usize,
    },
    /// The sender's account could not be read.
    #[error("reading account state: {0}")]
    State(String),
}

/// Upper bound of one blob with its commitment, cell/blob proofs and encoding overhead.
const BLOB_ENVELOPE_BYTES: usize = 131_072 + 48 + 128 * 48 + 64;

/// geth's `--txpool.accountslots` default.
pub const DEFAULT_ACCOUNT_SLOTS: usize = 16;
/// geth's `--txpool.accountqueue` default.
pub const DEFAULT_ACCOUNT_QUEUE: usize = 64;
/// geth's `--txpool.lifetime` default: three hours.
pub const DEFAULT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3 * 60 * 60);
/// reth's default for `--txpool.pending-max-size` and `--txpool.queued-max-size`: 20 MB each.
pub const DEFAULT_SUBPOOL_MAX_BYTES: usize = 20 * 1024 * 1024;

/// The rules of one chain's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The chain id transactions must carry.
    pub chain_id: u64,
    /// Allowed EIP-2718 types (the L2 allows 0, 1 and 2).
    pub allowed_types: Vec<u8>,
    /// Senders whose transactions are refused (the L2 lists the golden touch).
    pub denied_senders: Vec<Address>,
    /// Largest encoded transaction.
    pub max_tx_size: usize,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Per-transaction gas cap of the active fork (EIP-7825 on Osaka), if any.
    pub tx_gas_cap: Option<u64>,
    /// Lowest max fee per gas accepted (never below 1: a zero fee cap is refused).
    pub min_max_fee: u128,
    /// Required fee increase for a replacement, in percent.
    pub price_bump_percent: u128,
    /// Shanghai active (EIP-3860 initcode cost).
    pub shanghai: bool,
    /// Prague active (EIP-7623 calldata floor).
    pub prague: bool,
    /// Osaka active: blob transactions carry cell proofs (EIP-7594 sidecars), not blob proofs.
    pub osaka: bool,
    /// Most transactions in the pool.
    pub max_transactions: usize,
    /// Most executable (pending) transactions per sender (geth's `--txpool.accountslots` number, always
    /// enforced: geth trims a sender to it only once its pool is full, reth caps a sender's slots outright);
    /// the sender's later in-order transactions wait queued until earlier ones are mined. Dev chains lift it.
    pub account_slots: usize,
    /// Most queued transactions per sender (geth's `--txpool.accountqueue`): nonce-gapped, unaffordable,
    /// or in order beyond `account_slots`. One more is refused.
    pub account_queue: usize,
    /// How long a sender may send nothing before the sweep evicts its queued transactions (geth's
    /// `--txpool.lifetime`).
    pub lifetime: std::time::Duration,
    /// Most encoded bytes of pending transactions (reth's `--txpool.pending-max-size`, there in MB).
    pub pending_max_bytes: usize,
    /// Most encoded bytes of queued transactions (reth's `--txpool.queued-max-size`, there in MB).
    pub queued_max_bytes: usize,
    /// Most blobs one transaction may carry.
    pub max_blobs_per_tx: usize,
}

impl PoolConfig {
    /// Defaults for an L1 with Ethereum's current rules.
    pub fn ethereum(chain_id: u64, block_gas_limit: u64) -> Self {
        Self {
            chain_id,
            allowed_types: vec![0, 1, 2, 3, 4],
            denied_senders: vec![],
            max_tx_size: 128 * 1024,
            block_gas_limit,
            tx_gas_cap: Some(1 << 24),
            min_max_fee: 1,
            price_bump_percent: 10,
            shanghai: true,
            prague: true,
            osaka: true,
            max_transactions: 10_000,
            account_slots: DEFAULT_ACCOUNT_SLOTS,
            account_queue: DEFAULT_ACCOUNT_QUEUE,
            lifetime: DEFAULT_LIFETIME,
            pending_max_bytes: DEFAULT_SUBPOOL_MAX_BYTES,
            queued_max_bytes: DEFAULT_SUBPOOL_MAX_BYTES,
            max_blobs_per_tx: 6,
        }
    }
}

/// A transaction that passed the stateless checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidTx {
    /// The transaction.
    pub tx: TxEnvelope,
    /// Its hash.
    pub hash: B256,
    /// Its sender.
    pub sender: Address,
    /// Its encoded size.
    pub size: usize,
    /// Gas limit × max fee + value: what the sender must hold.
    pub cost: U256,
}

fn access_list_gas(list: Option<&AccessList>) -> u64 {
    list.map_or(0, |l| l.iter().map(|item| 2_400 + 1_900 * item.storage_keys.len() as u64).sum())
}

/// The intrinsic gas of `tx` (and, on Prague, the EIP-7623 calldata floor, whichever is larger).
pub fn intrinsic_gas(tx: &TxEnvelope, shanghai: bool, prague: bool) -> u64 {
    let input = tx.input();
    let zeros = input.iter().filter(|b| **b == 0).count() as u64;
    let non_zeros = input.len() as u64 - zeros;
    let create = tx.kind().is_create();
    let mut gas = 21_000 + zeros * 4 + non_zeros * 16 + access_list_gas(tx.access_list());
    if create {
        gas += 32_000;
        if shanghai {
            gas += 2 * (input.len() as u64).div_ceil(32);
        }
    }
    gas += 25_000 * tx.authorization_list().map_or(0, |a| a.len() as u64);
    if prague {
        let floor = 21_000 + 10 * (zeros + 4 * non_zeros);
        gas = gas.max(floor);
    }
    gas
}

/// Decodes `raw` and applies every check that needs no state.
pub fn validate_stateless(raw: &[u8], config: &PoolConfig) -> Result<ValidTx, PoolError> {
    // Blob transactions arrive with their blobs (128 KiB each, plus commitment and proofs); bound the raw
    // bytes before decoding, then the transaction itself like any other.
    let raw_max = match raw.first() {
        Some(3) => config.max_tx_size + config.max_blobs_per_tx * BLOB_ENVELOPE_BYTES,
        _ => config.max_tx_size,
    };
    if raw.len() > raw_max {
        return Err(PoolError::Oversized { size: raw.len(), max: raw_max });
    }
    let tx = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| PoolError::Malformed(e.to_string()))?;
    let size = without_sidecar(&tx).encode_2718_len();
    if size > config.max_tx_size {
        return Err(PoolError::Oversized { size, max: config.max_tx_size });
    }
    let ty = tx.ty();
    if !config.allowed_types.contains(&ty) {
        return Err(PoolError::TypeNotAllowed(ty));
    }
    if tx.chain_id() != Some(config.chain_id) {
        return Err(PoolError::WrongChainId { expected: config.chain_id, got: tx.chain_id() });
    }
    let sender = tx.recover_signer().map_err(|_| PoolError::BadSignature)?;
    if config.denied_senders.contains(&sender) {
        return Err(PoolError::DeniedSender(sender));
    }
    let intrinsic = intrinsic_gas(&tx, config.shanghai, config.prague);
    if tx.gas_limit() < intrinsic {
        return Err(PoolError::IntrinsicGasTooLow { gas_limit: tx.gas_limit(), intrinsic });
    }
    let max_gas = config.tx_gas_cap.map_or(config.block_gas_limit, |cap| cap.min(config.block_gas_limit));
    if tx.gas_limit() > max_gas {
        return Err(PoolError::GasLimitTooHigh { gas_limit: tx.gas_limit(), max: max_gas });
    }
    let floor = config.min_max_fee.max(1);
    if tx.max_fee_per_gas() < floor {
        return Err(PoolError::FeeTooLow { max_fee: tx.max_fee_per_gas(), floor });
    }
    if let Some(tip) = tx.max_priority_fee_per_gas().filter(|t| *t > tx.max_fee_per_gas()) {
        return Err(PoolError::TipAboveFeeCap { tip, max_fee: tx.max_fee_per_gas() });
    }
    let mut cost = U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()) + tx.value();
    if let TxEnvelope::Eip4844(signed) = &tx {
        validate_blobs(signed.tx(), config)?;
        let blob_gas = signed.tx().tx().blob_gas();
        cost += U256::from(blob_gas) * U256::from(signed.tx().tx().max_fee_per_blob_gas);
    }
    Ok(ValidTx { hash: *tx.hash(), sender, size: raw.len(), cost, tx })
}

/// Checks a blob transaction's sidecar: its kind against the fork (blob proofs before Osaka, cell proofs
/// from Osaka on, as reth has it), its blobs against the versioned hashes with the KZG trusted setup.
fn validate_blobs(tx: &TxEip4844Variant, config: &PoolConfig) -> Result<(), PoolError> {
    let count = tx.tx().blob_versioned_hashes.len();
    if count == 0 || count > config.max_blobs_per_tx {
        return Err(PoolError::BlobCount { count, max: config.max_blobs_per_tx });
    }
    let TxEip4844Variant::TxEip4844WithSidecar(with) = tx else { return Err(PoolError::BlobSidecarMissing) };
    match (&with.sidecar, config.osaka) {
        (BlobTransactionSidecarVariant::Eip4844(_), true) => {
            Err(PoolError::SidecarVersion("blob proofs after Osaka; send cell proofs (EIP-7594)"))
        }
        (BlobTransactionSidecarVariant::Eip7594(_), false) => {
            Err(PoolError::SidecarVersion("cell proofs before Osaka; send blob proofs"))
        }
        _ => tx.validate(EnvKzgSettings::Default.get()).map_err(|e| PoolError::InvalidBlob(e.to_string())),
    }
}
