//! Chain and protocol configuration: chain ids and contract addresses on both chains. Validation
//! names the offending field, so a node runner sees exactly which setting is wrong.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::predeploy::L2Predeploys;

/// A configuration problem, naming the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required address is zero.
    #[error("{field}: address must not be zero")]
    ZeroAddress {
        /// The field's dotted name.
        field: &'static str,
    },
    /// A chain id is zero.
    #[error("{field}: chain id must not be zero")]
    ZeroChainId {
        /// The field's dotted name.
        field: &'static str,
    },
    /// The two chains have the same id.
    #[error("l2.chain_id: must differ from l1.chain_id (both are {0})")]
    SameChainId(u64),
    /// Two roles were given the same address.
    #[error("{field}: {address} is already used as {other}")]
    DuplicateAddress {
        /// The field's dotted name.
        field: &'static str,
        /// The clashing field.
        other: &'static str,
        /// The shared address.
        address: Address,
    },
    /// The base-fee sharing percentage is above 100 (a value above 100 would mint ETH).
    #[error("l2.basefee_sharing_pctg: {0} is above 100")]
    SharingPctgTooHigh(u8),
}

/// The protocol contracts on L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Contracts {
    /// L1 bridge.
    pub bridge: Address,
    /// L1 signal service.
    pub signal_service: Address,
    /// L1 resolver.
    pub resolver: Address,
    /// Realtime inbox.
    pub inbox: Address,
    /// Composite proof verifier the inbox calls.
    pub proof_verifier: Address,
    /// Proposer multicall.
    pub multicall: Address,
    /// The user-op wallets' factory (zero: the node takes no user ops).
    #[serde(default)]
    pub user_ops_factory: Address,
}

impl L1Contracts {
    /// Each contract with its field name (`bridge`, `signal_service`, …), in deployment order of concern.
    pub fn named(&self) -> [(&'static str, Address); 7] {
        [
            ("bridge", self.bridge),
            ("signal_service", self.signal_service),
            ("resolver", self.resolver),
            ("inbox", self.inbox),
            ("proof_verifier", self.proof_verifier),
            ("multicall", self.multicall),
            ("user_ops_factory", self.user_ops_factory),
        ]
    }
}

/// Chain and contract configuration of one L1 + L2 pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolConfig {
    /// The L1 chain id.
    pub l1_chain_id: u64,
    /// The L2 chain id.
    pub l2_chain_id: u64,
    /// L1 contract addresses.
    pub l1: L1Contracts,
    /// L2 predeploy addresses (normally derived from the chain id).
    pub l2: L2Predeploys,
    /// Share of the L2 base fee paid to the block's coinbase, in percent.
    pub basefee_sharing_pctg: u8,
}

impl ProtocolConfig {
    /// A configuration whose L2 predeploys are derived from `l2_chain_id`.
    pub fn new(l1_chain_id: u64, l2_chain_id: u64, l1: L1Contracts, basefee_sharing_pctg: u8) -> Self {
        Self { l1_chain_id, l2_chain_id, l1, l2: L2Predeploys::for_chain(l2_chain_id), basefee_sharing_pctg }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.l1_chain_id == 0 {
            return Err(ConfigError::ZeroChainId { field: "l1.chain_id" });
        }
        if self.l2_chain_id == 0 {
            return Err(ConfigError::ZeroChainId { field: "l2.chain_id" });
        }
        if self.l1_chain_id == self.l2_chain_id {
            return Err(ConfigError::SameChainId(self.l1_chain_id));
        }
        if self.basefee_sharing_pctg > 100 {
            return Err(ConfigError::SharingPctgTooHigh(self.basefee_sharing_pctg));
        }
        let l1 = [
            ("l1.bridge", self.l1.bridge),
            ("l1.signal_service", self.l1.signal_service),
            ("l1.resolver", self.l1.resolver),
            ("l1.inbox", self.l1.inbox),
            ("l1.proof_verifier", self.l1.proof_verifier),
            ("l1.multicall", self.l1.multicall),
            ("l1.user_ops_factory", self.l1.user_ops_factory),
        ];
        let l2 = [
            ("l2.bridge", self.l2.bridge),
            ("l2.signal_service", self.l2.signal_service),
            ("l2.resolver", self.l2.resolver),
            ("l2.anchor", self.l2.anchor),
        ];
        for set in [&l1[..], &l2[..]] {
            for (i, (field, address)) in set.iter().enumerate() {
                // The factory is optional: without it the node takes no user ops.
                if address.is_zero() && *field == "l1.user_ops_factory" {
                    continue;
                }
                if address.is_zero() {
                    return Err(ConfigError::ZeroAddress { field });
                }
                if let Some((other, _)) = set[..i].iter().find(|(_, a)| a == address) {
                    return Err(ConfigError::DuplicateAddress { field, other, address: *address });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ProtocolConfig {
        ProtocolConfig::new(
            3151908,
            763374,
            L1Contracts {
                bridge: Address::repeat_byte(1),
                signal_service: Address::repeat_byte(2),
                resolver: Address::repeat_byte(3),
                inbox: Address::repeat_byte(4),
                proof_verifier: Address::repeat_byte(5),
                multicall: Address::repeat_byte(6),
                user_ops_factory: Address::repeat_byte(7),
            },
            75,
        )
    }

    #[test]
    fn valid_config_passes() {
        assert_eq!(good().validate(), Ok(()));
    }

    #[test]
    fn each_error_names_its_field() {
        let mut c = good();
        c.l1.inbox = Address::ZERO;
        assert_eq!(c.validate().unwrap_err().to_string(), "l1.inbox: address must not be zero");

        let mut c = good();
        c.l1.multicall = c.l1.bridge;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.starts_with("l1.multicall:") && e.contains("l1.bridge"), "{e}");

        let mut c = good();
        c.l2_chain_id = c.l1_chain_id;
        assert!(c.validate().unwrap_err().to_string().starts_with("l2.chain_id:"));

        let mut c = good();
        c.basefee_sharing_pctg = 101;
        assert!(c.validate().unwrap_err().to_string().starts_with("l2.basefee_sharing_pctg:"));

        let mut c = good();
        c.l1_chain_id = 0;
        assert!(c.validate().unwrap_err().to_string().starts_with("l1.chain_id:"));
    }

    #[test]
    fn serde_uses_the_field_names() {
        let json = serde_json::to_value(good()).unwrap();
        assert!(json["l1"]["signal_service"].is_string());
        let back: ProtocolConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, good());
    }
}
