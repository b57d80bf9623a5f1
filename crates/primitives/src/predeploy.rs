//! L2 predeploy addresses, derived from the chain id: the chain id's decimal digits, zero padding, and
//! a fixed suffix (Bridge `…01`, SignalService `…05`, resolver `…06`, Anchor `…10001`).

use alloy_primitives::Address;

const BRIDGE_SUFFIX: &str = "1";
const SIGNAL_SERVICE_SUFFIX: &str = "5";
const RESOLVER_SUFFIX: &str = "6";
const ANCHOR_SUFFIX: &str = "10001";

/// The predeploy addresses of one L2 chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct L2Predeploys {
    /// The L2 bridge.
    pub bridge: Address,
    /// The L2 signal service.
    pub signal_service: Address,
    /// The L2 resolver.
    pub resolver: Address,
    /// The anchor, which is also the treasury for the base fee.
    pub anchor: Address,
}

impl L2Predeploys {
    /// The predeploys of chain `chain_id` (for example 763374 → bridge `0x7633740000…0001`).
    pub fn for_chain(chain_id: u64) -> Self {
        Self {
            bridge: derive(chain_id, BRIDGE_SUFFIX),
            signal_service: derive(chain_id, SIGNAL_SERVICE_SUFFIX),
            resolver: derive(chain_id, RESOLVER_SUFFIX),
            anchor: derive(chain_id, ANCHOR_SUFFIX),
        }
    }
}

/// The address `0x{chain id digits}{zeros}{suffix}` (`suffix`: decimal digits, at most 20), the
/// scheme of the L2 predeploys, also used for the dev L1's fixed addresses.
pub fn chain_address(chain_id: u64, suffix: &str) -> Option<Address> {
    (suffix.len() <= 20 && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
        .then(|| derive(chain_id, suffix))
}

/// The address `0x{chain id digits}{zeros}{suffix}`. A u64 has at most 20 digits, so this always fits
/// in 40 hex characters.
fn derive(chain_id: u64, suffix: &str) -> Address {
    let digits = chain_id.to_string();
    let mut bytes = [0u8; 20];
    let nibbles = digits.bytes().map(|d| d - b'0').chain(std::iter::repeat_n(0, 40 - digits.len() - suffix.len()));
    let nibbles = nibbles.chain(suffix.bytes().map(|d| d - b'0'));
    for (i, n) in nibbles.enumerate() {
        bytes[i / 2] |= if i % 2 == 0 { n << 4 } else { n };
    }
    Address::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn derives_the_documented_addresses() {
        let p = L2Predeploys::for_chain(763374);
        assert_eq!(p.bridge, address!("7633740000000000000000000000000000000001"));
        assert_eq!(p.signal_service, address!("7633740000000000000000000000000000000005"));
        assert_eq!(p.resolver, address!("7633740000000000000000000000000000000006"));
        assert_eq!(p.anchor, address!("7633740000000000000000000000000000010001"));
        assert_eq!(chain_address(3151908, "100"), Some(address!("3151908000000000000000000000000000000100")));
        assert_eq!(chain_address(1, "1x"), None);
        let max = L2Predeploys::for_chain(u64::MAX);
        assert_eq!(max.anchor, address!("1844674407370955161500000000000000010001"));
    }
}
