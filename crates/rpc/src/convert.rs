//! Stored blocks, transactions and receipts in their RPC shapes.

use alloy::{
    consensus::{
        BlockBody, ReceiptEnvelope, Sealed, Transaction as _, TxEnvelope, transaction::Recovered,
        transaction::TransactionInfo,
    },
    eips::{eip4844::DATA_GAS_PER_BLOB, eip7840::BlobParams},
    rpc::types::{Block, BlockTransactions, Header as RpcHeader, Log, Transaction, TransactionReceipt},
};
use alloy_primitives::{Address, B256, TxKind, U256};
use surge_host::{SealedHeader, Store};

use crate::error::RpcResult;

/// A stored block with everything the RPC needs about it.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    /// Header and hash.
    pub header: SealedHeader,
    /// Transactions and withdrawals.
    pub body: BlockBody<TxEnvelope>,
    /// Senders.
    pub senders: Vec<Address>,
}

impl StoredBlock {
    /// Block `number` from the store, if it exists.
    pub fn load(store: &Store, number: u64) -> RpcResult<Option<Self>> {
        let Some(header) = store.header(number)? else { return Ok(None) };
        Self::with_header(store, header).map(Some)
    }

    /// The block of an already read `header`.
    pub fn with_header(store: &Store, header: SealedHeader) -> RpcResult<Self> {
        let number = header.header.number;
        let body = store.body(number)?.unwrap_or_default();
        let senders = store.senders(number)?.unwrap_or_default();
        Ok(Self { header, body, senders })
    }

    fn tx_info(&self, index: usize) -> TransactionInfo {
        TransactionInfo {
            hash: self.body.transactions.get(index).map(|t| *t.tx_hash()),
            index: Some(index as u64),
            block_hash: Some(self.header.hash),
            block_number: Some(self.header.header.number),
            base_fee: self.header.header.base_fee_per_gas,
            block_timestamp: Some(self.header.header.timestamp),
        }
    }

    /// Transaction `index` in RPC shape.
    pub fn transaction(&self, index: usize) -> Option<Transaction> {
        let tx = self.body.transactions.get(index)?.clone();
        let sender = *self.senders.get(index)?;
        Some(Transaction::from_transaction(Recovered::new_unchecked(tx, sender), self.tx_info(index)))
    }

    /// The block in RPC shape, with full transactions or their hashes.
    pub fn rpc_block(&self, full: bool) -> Block {
        // A Shanghai block always has a withdrawals list, genesis included.
        let withdrawals = match &self.body.withdrawals {
            None if self.header.header.withdrawals_root.is_some() => Some(Default::default()),
            w => w.clone(),
        };
        let size = block_rlp_length(&self.header.header, &self.body.transactions, withdrawals.as_ref());
        // Post-merge chains have no difficulty: the total is zero, which tools that still read it expect.
        let header = RpcHeader::from_consensus(
            Sealed::new_unchecked(self.header.header.clone(), self.header.hash),
            Some(U256::ZERO),
            Some(U256::from(size)),
        );
        let transactions = if full {
            BlockTransactions::Full((0..self.body.transactions.len()).filter_map(|i| self.transaction(i)).collect())
        } else {
            BlockTransactions::Hashes(self.body.transactions.iter().map(|t| *t.tx_hash()).collect())
        };
        Block { header, uncles: vec![], transactions, withdrawals }
    }

    /// Every receipt of the block in RPC shape (`receipts` as stored).
    pub fn rpc_receipts(
        &self,
        receipts: &[ReceiptEnvelope],
        blob_params: Option<BlobParams>,
    ) -> Vec<TransactionReceipt> {
        let mut log_index = 0u64;
        let mut previous_cumulative = 0u64;
        let mut out = Vec::with_capacity(receipts.len());
        for (i, receipt) in receipts.iter().enumerate() {
            let (Some(tx), Some(sender)) = (self.body.transactions.get(i), self.senders.get(i)) else { break };
            let gas_used = receipt.cumulative_gas_used() - previous_cumulative;
            previous_cumulative = receipt.cumulative_gas_used();
            let logs = self.rpc_logs(i, receipt, &mut log_index);
            let base_fee = self.header.header.base_fee_per_gas;
            let blob_gas_used = tx.blob_versioned_hashes().map(|h| h.len() as u64 * DATA_GAS_PER_BLOB);
            let blob_gas_price = blob_gas_used.and_then(|_| blob_params.and_then(|p| self.header.header.blob_fee(p)));
            let contract_address = matches!(tx.kind(), TxKind::Create).then(|| sender.create(tx.nonce()));
            let inner = map_logs(receipt, logs);
            out.push(TransactionReceipt {
                inner,
                transaction_hash: *tx.tx_hash(),
                transaction_index: Some(i as u64),
                block_hash: Some(self.header.hash),
                block_number: Some(self.header.header.number),
                gas_used,
                effective_gas_price: tx.effective_gas_price(base_fee),
                blob_gas_used,
                blob_gas_price,
                from: *sender,
                to: tx.to(),
                contract_address,
            });
        }
        out
    }

    /// The logs of receipt `index`, numbered from `log_index` within the block.
    pub fn rpc_logs(&self, index: usize, receipt: &ReceiptEnvelope, log_index: &mut u64) -> Vec<Log> {
        let tx_hash = self.body.transactions.get(index).map(|t| *t.tx_hash());
        receipt
            .logs()
            .iter()
            .map(|inner| {
                let log = Log {
                    inner: inner.clone(),
                    block_hash: Some(self.header.hash),
                    block_number: Some(self.header.header.number),
                    block_timestamp: Some(self.header.header.timestamp),
                    transaction_hash: tx_hash,
                    transaction_index: Some(index as u64),
                    log_index: Some(*log_index),
                    removed: false,
                };
                *log_index += 1;
                log
            })
            .collect()
    }
}

/// The length of the block's RLP encoding (what `size` reports), without building the block.
fn block_rlp_length(
    header: &alloy::consensus::Header,
    transactions: &[TxEnvelope],
    withdrawals: Option<&alloy::eips::eip4895::Withdrawals>,
) -> usize {
    use alloy_rlp::Encodable;
    let ommers: &[alloy::consensus::Header] = &[];
    let payload_length = header.length()
        + alloy_rlp::list_length::<TxEnvelope, TxEnvelope>(transactions)
        + alloy_rlp::list_length::<alloy::consensus::Header, alloy::consensus::Header>(ommers)
        + withdrawals.map_or(0, |w| w.length());
    alloy_rlp::Header { list: true, payload_length }.length_with_payload()
}

fn map_logs(receipt: &ReceiptEnvelope, logs: Vec<Log>) -> ReceiptEnvelope<Log> {
    let with_logs =
        |r: &alloy::consensus::ReceiptWithBloom<alloy::consensus::Receipt>| alloy::consensus::ReceiptWithBloom {
            receipt: alloy::consensus::Receipt {
                status: r.receipt.status,
                cumulative_gas_used: r.receipt.cumulative_gas_used,
                logs: logs.clone(),
            },
            logs_bloom: r.logs_bloom,
        };
    match receipt {
        ReceiptEnvelope::Legacy(r) => ReceiptEnvelope::Legacy(with_logs(r)),
        ReceiptEnvelope::Eip2930(r) => ReceiptEnvelope::Eip2930(with_logs(r)),
        ReceiptEnvelope::Eip1559(r) => ReceiptEnvelope::Eip1559(with_logs(r)),
        ReceiptEnvelope::Eip4844(r) => ReceiptEnvelope::Eip4844(with_logs(r)),
        ReceiptEnvelope::Eip7702(r) => ReceiptEnvelope::Eip7702(with_logs(r)),
    }
}

/// The pending transaction `hash` in RPC shape (no block yet).
pub fn pending_transaction(tx: &TxEnvelope, sender: Address) -> Transaction {
    let info = TransactionInfo { hash: Some(*tx.tx_hash()), ..Default::default() };
    Transaction::from_transaction(Recovered::new_unchecked(tx.clone(), sender), info)
}

/// A block hash or nothing: the canonical hash of `number`.
pub fn canonical_hash(store: &Store, number: u64) -> RpcResult<Option<B256>> {
    Ok(store.header(number)?.map(|h| h.hash))
}

#[cfg(test)]
mod tests {
    use alloy::{
        consensus::{Signed, TxLegacy},
        eips::eip4895::{Withdrawal, Withdrawals},
    };
    use alloy_primitives::Signature;

    use super::*;

    #[test]
    fn size_is_the_length_of_the_block_encoding() {
        let tx = TxEnvelope::Legacy(Signed::new_unhashed(TxLegacy::default(), Signature::test_signature()));
        let header = alloy::consensus::Header { number: 7, ..Default::default() };
        for withdrawals in [None, Some(Withdrawals::new(vec![Withdrawal::default()]))] {
            let block = alloy::consensus::Block {
                header: header.clone(),
                body: BlockBody {
                    transactions: vec![tx.clone(), tx.clone()],
                    ommers: vec![],
                    withdrawals: withdrawals.clone(),
                },
            };
            let expected = alloy_rlp::Encodable::length(&block);
            assert_eq!(block_rlp_length(&header, &block.body.transactions, withdrawals.as_ref()), expected);
        }
    }
}
