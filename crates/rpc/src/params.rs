//! Parameters that clients get wrong often — block numbers and tags, block ids, storage keys, log filters —
//! parsed by hand so that a mistake is answered with `-32602` and a message a person understands (serde's
//! "data did not match any variant of untagged enum" helps nobody).

use alloy::{
    eips::{BlockId, BlockNumberOrTag, RpcBlockHash},
    rpc::types::Filter,
};
use alloy_primitives::{B256, U256};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{RpcError, RpcResult};

const TAGS: &str = "latest, earliest, pending, safe or finalized";

/// A parameter that failed to parse keeps its message until the method looks at it.
macro_rules! lenient {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $parse:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(Result<$ty, String>);

        impl $name {
            /// The value, or `-32602` with what is wrong with it.
            pub fn get(self) -> RpcResult<$ty> {
                self.0.map_err(RpcError::InvalidParams)
            }
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                Self(Ok(v))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Self($parse(&Value::deserialize(d)?)))
            }
        }
    };
}

lenient!(
    /// A block number (hex with `0x`) or tag.
    BlockNumberParam, BlockNumberOrTag, parse_block_number
);
lenient!(
    /// A block number, tag or hash, or an EIP-1898 object (`{"blockNumber": …}` / `{"blockHash": …}`).
    BlockIdParam, BlockId, parse_block_id
);
lenient!(
    /// A storage slot: up to 32 bytes of hex.
    StorageKeyParam, B256, parse_storage_key
);
lenient!(
    /// A log filter.
    FilterParam, Filter, parse_filter
);

/// A storage key as `eth_getProof` echoes it: in the form it was given (a short key stays a quantity).
pub fn storage_key_echo(raw: &Value, key: B256) -> alloy::rpc::types::serde_helpers::JsonStorageKey {
    serde_json::from_value(raw.clone()).unwrap_or_else(|_| key.into())
}

/// A storage key given as JSON, parsed as [`StorageKeyParam`] does.
pub fn storage_key(raw: &Value) -> RpcResult<B256> {
    parse_storage_key(raw).map_err(RpcError::InvalidParams)
}

fn hex_quantity(s: &str, what: &str) -> Result<u64, String> {
    let Some(digits) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else {
        return Err(format!("{what} {s:?} must be hex with a 0x prefix (for example 0x1a)"));
    };
    u64::from_str_radix(digits, 16).map_err(|_| format!("{what} {s:?} is not a hex number that fits 64 bits"))
}

fn parse_block_number(v: &Value) -> Result<BlockNumberOrTag, String> {
    match v {
        Value::String(s) => match s.as_str() {
            "latest" => Ok(BlockNumberOrTag::Latest),
            "earliest" => Ok(BlockNumberOrTag::Earliest),
            "pending" => Ok(BlockNumberOrTag::Pending),
            "safe" => Ok(BlockNumberOrTag::Safe),
            "finalized" => Ok(BlockNumberOrTag::Finalized),
            s if s.starts_with("0x") || s.starts_with("0X") => hex_quantity(s, "block number").map(Into::into),
            s if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
                Err(format!("block number {s:?} must be hex with a 0x prefix (for example 0x1a)"))
            }
            s => Err(format!("invalid block {s:?}: expected a hex block number (0x…) or one of {TAGS}")),
        },
        Value::Number(n) => Err(format!("block number {n} must be a hex string with a 0x prefix, not a JSON number")),
        other => Err(format!("invalid block {other}: expected a hex block number (0x…) or one of {TAGS}")),
    }
}

fn parse_hash(s: &str, what: &str) -> Result<B256, String> {
    s.parse::<B256>().map_err(|_| format!("{what} {s:?} is not a 32-byte hex hash"))
}

fn parse_block_id(v: &Value) -> Result<BlockId, String> {
    match v {
        Value::String(s) if s.len() == 66 => parse_hash(s, "block hash").map(BlockId::from),
        Value::Object(o) => {
            let canonical = match o.get("requireCanonical") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => return Err(format!("requireCanonical must be true or false, not {other}")),
            };
            match (o.get("blockHash"), o.get("blockNumber")) {
                (Some(Value::String(h)), None) => Ok(BlockId::Hash(RpcBlockHash {
                    block_hash: parse_hash(h, "blockHash")?,
                    require_canonical: canonical,
                })),
                (None, Some(n)) if canonical.is_none() => parse_block_number(n).map(BlockId::Number),
                _ => Err(format!(
                    "invalid block object {v}: expected {{\"blockHash\": \"0x…\"}} (with an optional \
                     requireCanonical) or {{\"blockNumber\": \"0x…\"}}"
                )),
            }
        }
        other => parse_block_number(other).map(BlockId::Number),
    }
}

fn parse_storage_key(v: &Value) -> Result<B256, String> {
    let Value::String(s) = v else { return Err(format!("storage key {v} must be a hex string")) };
    // As geth reads it: an optional 0x, at most 32 bytes.
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if digits.len() > 64 {
        return Err(format!("storage key {s:?} is longer than 32 bytes"));
    }
    let value = U256::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16)
        .map_err(|_| format!("storage key {s:?} is not hex"))?;
    Ok(B256::from(value.to_be_bytes::<32>()))
}

fn parse_filter(v: &Value) -> Result<Filter, String> {
    let Value::Object(o) = v else { return Err(format!("invalid filter {v}: expected an object")) };
    let ranged = o.get("fromBlock").is_some_and(|b| !b.is_null()) || o.get("toBlock").is_some_and(|b| !b.is_null());
    if o.get("blockHash").is_some_and(|b| !b.is_null()) && ranged {
        return Err("a filter takes either blockHash or fromBlock/toBlock, not both".into());
    }
    for bound in ["fromBlock", "toBlock"] {
        if let Some(b) = o.get(bound).filter(|b| !b.is_null()) {
            parse_block_number(b).map_err(|e| format!("{bound}: {e}"))?;
        }
    }
    if let Some(Value::String(h)) = o.get("blockHash") {
        parse_hash(h, "blockHash")?;
    }
    serde_json::from_value(v.clone()).map_err(|e| format!("invalid filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mistakes_are_named() {
        let id = |v: Value| parse_block_id(&v);
        assert_eq!(id(json!("0x10")).unwrap(), BlockId::number(16));
        assert_eq!(id(json!("safe")).unwrap(), BlockId::Number(BlockNumberOrTag::Safe));
        assert!(id(json!("16")).unwrap_err().contains("0x prefix"));
        assert!(id(json!(16)).unwrap_err().contains("not a JSON number"));
        assert!(id(json!("latests")).unwrap_err().contains("latest, earliest"));
        assert!(id(json!({"blockNumber": "0x1", "requireCanonical": true})).is_err());
        let hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(id(json!({"blockHash": hash})).unwrap(), BlockId::from(hash.parse::<B256>().unwrap()));
        assert!(parse_storage_key(&json!(format!("0x{}", "1".repeat(66)))).unwrap_err().contains("32 bytes"));
        assert_eq!(parse_storage_key(&json!("0x1")).unwrap(), B256::with_last_byte(1));
        assert_eq!(parse_storage_key(&json!("01")).unwrap(), B256::with_last_byte(1));
        let both = json!({"blockHash": hash, "fromBlock": "0x1"});
        assert!(parse_filter(&both).unwrap_err().contains("not both"));
        assert!(parse_filter(&json!({"fromBlock": "1"})).unwrap_err().starts_with("fromBlock"));
    }
}
