//! Execution rules of a Surge realtime (Taiko Shasta) L2 block, shared by the host (validation) and the
//! payload builder (construction): the EIP-4396 base fee, the header fields and the body rules.

pub mod basefee;
pub mod evm;
pub mod header;

pub use basefee::{BaseFeeInput, next_base_fee};
pub use evm::{FeeRules, TaikoEvm, TaikoEvmFactory};
pub use header::{
    ANCHOR_GAS_LIMIT, ChildHeader, L2BlockError, child_header, decode_extra_data, encode_extra_data, expected_base_fee,
    l2_mix_hash, validate_body, validate_header,
};
