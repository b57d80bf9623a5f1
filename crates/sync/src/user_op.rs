//! User ops as other extensions see them (the `surge_*` RPC): submitting one ([`UserOpSink`]), and the key
//! its status is kept under beside transactions' ([`user_op_key`]).

use alloy_primitives::{Address, B256, Bytes, keccak256};

/// The key user op `id`'s status is kept under (a hash no transaction has).
pub fn user_op_key(id: u64) -> B256 {
    keccak256([b"surge user op ".as_slice(), &id.to_be_bytes()].concat())
}

/// Why a user op was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOpRejected {
    /// Whether it is only that too many wait (trying later may work).
    pub busy: bool,
    /// Why, in words.
    pub reason: String,
}

/// What submitting a user op gives: its id, or why it was refused.
pub type Submitted<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, UserOpRejected>> + Send + 'a>>;

/// Where user ops are submitted.
pub trait UserOpSink: Send + Sync {
    /// Checks the `executeBatch` call `calldata` of wallet `submitter` where it would run and queues it: its
    /// id, or why not (nothing is queued then).
    fn submit(&self, submitter: Address, calldata: Bytes) -> Submitted<'_>;
}
