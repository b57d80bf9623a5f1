//! Where one nonce of the proposer's account stands on L1: taken by one of the transactions signed for it
//! (included), still waiting in the L1's pool, taken by a transaction the proposer does not know, or open
//! (none of them anywhere: dropped by the pool, or never sent).

use alloy::{providers::Provider, rpc::types::TransactionReceipt};
use alloy_primitives::{Address, B256};

use crate::{L1Client, L1Error};

/// Where a nonce stands.
#[derive(Debug, Clone)]
pub enum NonceState {
    /// One of the transactions signed for it is in a block.
    Included {
        /// Which one.
        hash: B256,
        /// Its receipt.
        receipt: Box<TransactionReceipt>,
    },
    /// One of them waits in the L1's pool.
    Pending {
        /// Which one.
        hash: B256,
    },
    /// The account's nonce moved past it, by a transaction that is none of them.
    Taken,
    /// None of them is anywhere, and the nonce is still the account's next.
    Open,
}

/// The one of `hashes` a block holds, if any: [`NonceState::Included`].
pub async fn included_among(client: &L1Client, hashes: &[B256]) -> Result<Option<NonceState>, L1Error> {
    for &hash in hashes.iter().rev() {
        if let Some(receipt) = client.receipt(hash).await?
            && receipt.block_number.is_some()
        {
            return Ok(Some(NonceState::Included { hash, receipt: Box::new(receipt) }));
        }
    }
    Ok(None)
}

/// Where `nonce` of `account` stands, given the `hashes` of every transaction signed for it (newest last).
pub async fn nonce_state(
    client: &L1Client,
    account: Address,
    nonce: u64,
    hashes: &[B256],
) -> Result<NonceState, L1Error> {
    if let Some(state) = included_among(client, hashes).await? {
        return Ok(state);
    }
    let provider = client.provider();
    let next = client.run("eth_getTransactionCount", provider.get_transaction_count(account).latest()).await?;
    if next > nonce {
        // Included between the two looks, or taken by another transaction.
        return Ok(included_among(client, hashes).await?.unwrap_or(NonceState::Taken));
    }
    for &hash in hashes.iter().rev() {
        let found = client.run("eth_getTransactionByHash", provider.get_transaction_by_hash(hash)).await?;
        if found.is_some() {
            return Ok(NonceState::Pending { hash });
        }
    }
    Ok(NonceState::Open)
}
