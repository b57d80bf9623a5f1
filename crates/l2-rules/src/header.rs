//! The header and body rules of a realtime L2 block (L2RULES.md), as constructors for a builder and as
//! checks for a validator. Each broken rule has its own error.

use alloy::{
    consensus::{EMPTY_OMMER_ROOT_HASH, Header, Transaction, TxEnvelope},
    eips::Typed2718,
};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolValue};
use surge_primitives::{GOLDEN_TOUCH_ADDRESS, bindings::anchor::Anchor};

use crate::basefee::{BaseFeeInput, next_base_fee};

pub use surge_primitives::manifest::ANCHOR_GAS_LIMIT;
/// Length of the L2 header's extra data.
pub const EXTRA_DATA_LEN: usize = 7;
/// Largest proposal id extra data can carry (uint48).
pub const MAX_PROPOSAL_ID: u64 = (1 << 48) - 1;

/// An L2 header or block that another Surge client would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum L2BlockError {
    /// extraData is not 7 bytes.
    #[error("extraData is {0} bytes, must be {EXTRA_DATA_LEN}")]
    ExtraDataLength(usize),
    /// The base-fee sharing percentage is above 100 (it would mint ETH).
    #[error("base-fee sharing percentage {0} is above 100")]
    SharingPctg(u8),
    /// The proposal id in extraData is not 0 (realtime blocks carry 0).
    #[error("proposal id {0} in extraData, realtime blocks carry 0")]
    ProposalId(u64),
    /// The proposal id does not fit in 48 bits.
    #[error("proposal id {0} does not fit in 48 bits")]
    ProposalIdTooLarge(u64),
    /// mixHash is not keccak256(abi.encode(0, number)).
    #[error("mixHash {got}, expected {expected}")]
    MixHash {
        /// Required.
        expected: B256,
        /// Found.
        got: B256,
    },
    /// A field that must be zero or empty is not.
    #[error("{0} must be zero")]
    NotZero(&'static str),
    /// A field the L2 does not have is present.
    #[error("{0} must be absent on L2")]
    Present(&'static str),
    /// withdrawals root is not the empty-trie root.
    #[error("withdrawalsRoot must be the empty-trie root")]
    WithdrawalsRoot,
    /// The gas limit changed.
    #[error("gas limit {got} differs from the parent's {parent}")]
    GasLimit {
        /// The parent's.
        parent: u64,
        /// Found.
        got: u64,
    },
    /// The timestamp is not after the parent's.
    #[error("timestamp {got} is not after the parent's {parent}")]
    Timestamp {
        /// The parent's.
        parent: u64,
        /// Found.
        got: u64,
    },
    /// The base fee is not the EIP-4396 value.
    #[error("base fee {got:?}, EIP-4396 gives {expected}")]
    BaseFee {
        /// Required.
        expected: u64,
        /// Found.
        got: Option<u64>,
    },
    /// The number does not follow the parent's.
    #[error("number {got} does not follow the parent's {parent}")]
    Number {
        /// The parent's.
        parent: u64,
        /// Found.
        got: u64,
    },
    /// The block has no transactions (so no anchor).
    #[error("block has no anchor transaction")]
    NoAnchor,
    /// The first transaction is not a valid anchor.
    #[error("transaction 0 is not a valid anchor: {0}")]
    BadAnchor(&'static str),
    /// A golden-touch transaction other than the first.
    #[error("transaction {0} is sent by the golden touch, which may only send the anchor at index 0")]
    GoldenTouchAfterAnchor(usize),
    /// A transaction type the L2 does not allow (blob or EIP-7702).
    #[error("transaction {index} has type {tx_type}, not allowed on L2")]
    TxType {
        /// Its index.
        index: usize,
        /// Its type.
        tx_type: u8,
    },
}

/// `keccak256(abi.encode(uint256 parentDifficulty = 0, uint256 number))`: the L2 block's mixHash.
pub fn l2_mix_hash(number: u64) -> B256 {
    keccak256((U256::ZERO, U256::from(number)).abi_encode())
}

/// The 7-byte extraData: sharing percentage, then the proposal id as a big-endian uint48.
pub fn encode_extra_data(sharing_pctg: u8, proposal_id: u64) -> Result<Bytes, L2BlockError> {
    if sharing_pctg > 100 {
        return Err(L2BlockError::SharingPctg(sharing_pctg));
    }
    if proposal_id > MAX_PROPOSAL_ID {
        return Err(L2BlockError::ProposalIdTooLarge(proposal_id));
    }
    let mut out = [0u8; EXTRA_DATA_LEN];
    out[0] = sharing_pctg;
    out[1..].copy_from_slice(&proposal_id.to_be_bytes()[2..]);
    Ok(Bytes::copy_from_slice(&out))
}

/// Reads (sharing percentage, proposal id) from extraData, checking length and percentage.
pub fn decode_extra_data(extra: &[u8]) -> Result<(u8, u64), L2BlockError> {
    if extra.len() != EXTRA_DATA_LEN {
        return Err(L2BlockError::ExtraDataLength(extra.len()));
    }
    if extra[0] > 100 {
        return Err(L2BlockError::SharingPctg(extra[0]));
    }
    let mut id = [0u8; 8];
    id[2..].copy_from_slice(&extra[1..]);
    Ok((extra[0], u64::from_be_bytes(id)))
}

/// The EIP-4396 base fee of `parent`'s child; `grandparent_timestamp` is needed unless the parent is genesis.
pub fn expected_base_fee(chain_id: u64, parent: &Header, grandparent_timestamp: u64) -> u64 {
    next_base_fee(&BaseFeeInput {
        chain_id,
        parent_number: parent.number,
        parent_gas_limit: parent.gas_limit,
        parent_gas_used: parent.gas_used,
        parent_base_fee: parent.base_fee_per_gas.unwrap_or_default(),
        parent_block_time: parent.timestamp.saturating_sub(grandparent_timestamp),
    })
}

/// The block's own choices for an L2 header; everything else follows from the parent and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildHeader {
    /// Timestamp (strictly above the parent's).
    pub timestamp: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// The 7-byte extra data ([`encode_extra_data`]).
    pub extra_data: Bytes,
    /// The grandparent's timestamp (the parent's when the parent is genesis).
    pub grandparent_timestamp: u64,
}

/// The header of `parent`'s child before execution: number, gas limit, mix hash, EIP-4396 base fee,
/// empty withdrawals root; gas used and the roots are filled in after execution.
pub fn child_header(chain_id: u64, parent: &Header, parent_hash: B256, child: &ChildHeader) -> Header {
    Header {
        parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: child.beneficiary,
        number: parent.number + 1,
        gas_limit: parent.gas_limit,
        timestamp: child.timestamp,
        extra_data: child.extra_data.clone(),
        mix_hash: l2_mix_hash(parent.number + 1),
        base_fee_per_gas: Some(expected_base_fee(chain_id, parent, child.grandparent_timestamp)),
        withdrawals_root: Some(alloy::consensus::constants::EMPTY_WITHDRAWALS),
        ..Default::default()
    }
}

/// Checks every header rule of a realtime L2 block against its parent.
pub fn validate_header(
    chain_id: u64,
    header: &Header,
    parent: &Header,
    grandparent_timestamp: u64,
) -> Result<(), L2BlockError> {
    if header.number != parent.number + 1 {
        return Err(L2BlockError::Number { parent: parent.number, got: header.number });
    }
    let (_, proposal_id) = decode_extra_data(&header.extra_data)?;
    if proposal_id != 0 {
        return Err(L2BlockError::ProposalId(proposal_id));
    }
    let expected = l2_mix_hash(header.number);
    if header.mix_hash != expected {
        return Err(L2BlockError::MixHash { expected, got: header.mix_hash });
    }
    if !header.difficulty.is_zero() {
        return Err(L2BlockError::NotZero("difficulty"));
    }
    if !header.nonce.is_zero() {
        return Err(L2BlockError::NotZero("nonce"));
    }
    if header.ommers_hash != EMPTY_OMMER_ROOT_HASH {
        return Err(L2BlockError::NotZero("ommers (ommersHash must be the empty-list hash)"));
    }
    for (name, present) in [
        ("parentBeaconBlockRoot", header.parent_beacon_block_root.is_some()),
        ("blobGasUsed", header.blob_gas_used.is_some()),
        ("excessBlobGas", header.excess_blob_gas.is_some()),
        ("requestsHash", header.requests_hash.is_some()),
    ] {
        if present {
            return Err(L2BlockError::Present(name));
        }
    }
    if header.withdrawals_root != Some(alloy::consensus::constants::EMPTY_WITHDRAWALS) {
        return Err(L2BlockError::WithdrawalsRoot);
    }
    if header.gas_limit != parent.gas_limit {
        return Err(L2BlockError::GasLimit { parent: parent.gas_limit, got: header.gas_limit });
    }
    if header.timestamp <= parent.timestamp {
        return Err(L2BlockError::Timestamp { parent: parent.timestamp, got: header.timestamp });
    }
    let expected = expected_base_fee(chain_id, parent, grandparent_timestamp);
    if header.base_fee_per_gas != Some(expected) {
        return Err(L2BlockError::BaseFee { expected, got: header.base_fee_per_gas });
    }
    Ok(())
}

/// Checks the body rules: transaction 0 is the anchor (golden touch → Anchor, type 2, gas 1,000,000,
/// maxFeePerGas = base fee, tip 0, value 0, `anchorV4WithSignalSlots`), no other golden-touch transaction,
/// no blob or EIP-7702 transactions. `senders` are the recovered senders, in order.
pub fn validate_body(
    transactions: &[TxEnvelope],
    senders: &[Address],
    anchor: Address,
    base_fee: u64,
) -> Result<(), L2BlockError> {
    for (index, tx) in transactions.iter().enumerate() {
        let tx_type = tx.ty();
        if tx_type == 3 || tx_type == 4 {
            return Err(L2BlockError::TxType { index, tx_type });
        }
        if index > 0 && senders.get(index) == Some(&GOLDEN_TOUCH_ADDRESS) {
            return Err(L2BlockError::GoldenTouchAfterAnchor(index));
        }
    }
    let first = transactions.first().ok_or(L2BlockError::NoAnchor)?;
    let TxEnvelope::Eip1559(signed) = first else { return Err(L2BlockError::BadAnchor("not an EIP-1559 transaction")) };
    let tx = signed.tx();
    let checks: [(bool, &'static str); 7] = [
        (senders.first() == Some(&GOLDEN_TOUCH_ADDRESS), "sender is not the golden touch"),
        (tx.to() == Some(anchor), "recipient is not the Anchor"),
        (tx.value.is_zero(), "value is not zero"),
        (tx.gas_limit == ANCHOR_GAS_LIMIT, "gas limit is not 1,000,000"),
        (tx.max_fee_per_gas == u128::from(base_fee), "maxFeePerGas is not the base fee"),
        (tx.max_priority_fee_per_gas == 0, "priority fee is not zero"),
        (
            tx.input.starts_with(&Anchor::anchorV4WithSignalSlotsCall::SELECTOR),
            "selector is not anchorV4WithSignalSlots",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(L2BlockError::BadAnchor(why)),
        None => Ok(()),
    }
}
