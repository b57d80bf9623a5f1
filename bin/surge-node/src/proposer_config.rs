//! The proposer's settings: `[proposer]` in the file, Catalyst's environment names where it has them
//! (`EXTRA_GAS_PERCENTAGE`, `MOCK_MODE`, `CATALYST_NODE_ECDSA_PRIVATE_KEY`; `MAX_BLOCKS_PER_BATCH` is
//! `proposals.max_blocks`), and flags. Keys come from a file or the environment and are never printed.

use std::{fmt, path::PathBuf, str::FromStr};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::Address;
use serde::Deserialize;

use crate::{
    config::{ConfigError, err},
    rpc_config::at_least_one,
};

/// `[proposer]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposerSection {
    enabled: Option<bool>,
    key_file: Option<PathBuf>,
    extra_gas_percentage: Option<u64>,
    mock_mode: Option<bool>,
    mock_verifier: Option<Address>,
    mock_signer_key_file: Option<PathBuf>,
    relayer_key_file: Option<PathBuf>,
    replace_after_blocks: Option<u64>,
    confirmations: Option<u64>,
    max_fee_per_gas_gwei: Option<u64>,
    max_fee_per_blob_gas_gwei: Option<u64>,
}

/// Proposer flags (`None` = not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ProposerFlags {
    /// The proposer's L1 private key, in a file (hex). Env: SURGE_PROPOSER_KEY or
    /// CATALYST_NODE_ECDSA_PRIVATE_KEY (dev mode: dev account 0).
    #[arg(long = "proposer.key-file", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// The L2 key that relays user ops' L1→L2 messages (`processMessage` in the block that receives them),
    /// in a file (hex). Env: SURGE_RELAYER_KEY (dev mode: the dev mnemonic's account 10, funded on the dev
    /// L2). File: [proposer] relayer_key_file. Without one, user ops that send an L1→L2 message are refused.
    #[arg(long = "relayer.key-file", value_name = "PATH")]
    pub relayer_key_file: Option<PathBuf>,
    /// Do not propose to L1 (the L2 then never finalizes).
    #[arg(long = "proposer.disable")]
    pub disable: bool,
    /// L1 blocks a proposal's transaction may wait in the L1's pool before it is replaced at its nonce with
    /// raised fees [default: 3]. File: [proposer] replace_after_blocks.
    #[arg(long = "proposer.replace-after", value_name = "BLOCKS")]
    pub replace_after: Option<u64>,
    /// L1 blocks, its own included, on top of a proposal's transaction before its blocks are `safe` (and
    /// their statuses `Executed`) [default: 3, above the L1 reorgs it follows; 1 on the embedded dev L1,
    /// which never reorgs]. File: [proposer] confirmations.
    #[arg(long = "proposer.confirmations", value_name = "BLOCKS")]
    pub confirmations: Option<u64>,
    /// The highest maxFeePerGas the proposer pays, in gwei [default: 500]. File: [proposer]
    /// max_fee_per_gas_gwei.
    #[arg(long = "proposer.max-fee-per-gas", value_name = "GWEI")]
    pub max_fee_per_gas: Option<u64>,
    /// The highest maxFeePerBlobGas the proposer pays, in gwei [default: 500]. File: [proposer]
    /// max_fee_per_blob_gas_gwei.
    #[arg(long = "proposer.max-fee-per-blob-gas", value_name = "GWEI")]
    pub max_fee_per_blob_gas: Option<u64>,
}

/// A private key that prints as its address only.
#[derive(Clone)]
pub struct SecretKey(pub PrivateKeySigner);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.0.address())
    }
}

/// The proposer's settings, resolved.
#[derive(Debug, Clone)]
pub struct ProposerSettings {
    /// Whether the node proposes (it needs a key; dev mode has one).
    pub enabled: bool,
    /// The proposer's L1 key, when given.
    pub key: Option<SecretKey>,
    /// The L2 key relaying user ops' messages, when given.
    pub relayer_key: Option<SecretKey>,
    /// Gas added to the pre-flight's, in percent.
    pub extra_gas_percentage: u64,
    /// The mock verifier whose signer signs mock proofs.
    pub mock_verifier: Option<Address>,
    /// The mock verifier's signer key, when given.
    pub mock_signer: Option<SecretKey>,
    /// L1 blocks before a waiting transaction is replaced with raised fees.
    pub replace_after: u64,
    /// L1 blocks on top of a proposal's transaction (its own included) before its blocks are `safe`, when
    /// set (the default depends on the L1).
    pub confirmations: Option<u64>,
    /// Fee caps, in wei: `maxFeePerGas`, `maxFeePerBlobGas`.
    pub fee_caps: (u128, u128),
    /// Proofs go to the inbox under the mock verifier's flag (`MOCK_MODE`, default true); false needs Raiko.
    pub mock_mode: bool,
}

/// L1 blocks on top of a proposal's transaction before its blocks are `safe`, on an L1 that may reorg: above
/// the reorg depths the proposer is tested against (2).
pub const DEFAULT_CONFIRMATIONS: u64 = 3;

/// A key from `text` (hex, with or without 0x), naming `field` when it is not one.
fn parse_key(field: &str, text: &str) -> Result<SecretKey, ConfigError> {
    // The key itself never goes into the message.
    PrivateKeySigner::from_str(text.trim()).map(SecretKey).map_err(|_| err(field, "not a 32-byte hex private key"))
}

/// The hex key in the file at `path` (surrounding whitespace ignored); an error names `field` and the path,
/// never the file's content.
pub fn key_from_file(field: &str, path: &PathBuf) -> Result<SecretKey, ConfigError> {
    let text = read_secret(field, path)?;
    parse_key(field, &text).map_err(|e| err(field, format!("{}: {}", path.display(), e.reason)))
}

/// The secret in the file at `path`, surrounding whitespace trimmed; an error names `field` and the path,
/// never the file's content.
pub(crate) fn read_secret(field: &str, path: &PathBuf) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(field, format!("{}: {e}", path.display())))?;
    Ok(text.trim().to_string())
}

fn parse_bool(field: &str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(err(field, format!("{other:?}: true or false"))),
    }
}

impl ProposerSection {
    /// Flags > environment > file > defaults; an error names the setting.
    pub fn resolve(
        &self,
        flags: &ProposerFlags,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProposerSettings, ConfigError> {
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let key = match (&flags.key_file, env("SURGE_PROPOSER_KEY"), env("CATALYST_NODE_ECDSA_PRIVATE_KEY")) {
            (Some(path), _, _) => Some(key_from_file("--proposer.key-file", path)?),
            (None, Some(k), _) => Some(parse_key("SURGE_PROPOSER_KEY", &k)?),
            (None, None, Some(k)) => Some(parse_key("CATALYST_NODE_ECDSA_PRIVATE_KEY", &k)?),
            (None, None, None) => self.key_file.as_ref().map(|p| key_from_file("proposer.key_file", p)).transpose()?,
        };
        let relayer_key = match (&flags.relayer_key_file, env("SURGE_RELAYER_KEY")) {
            (Some(path), _) => Some(key_from_file("--relayer.key-file", path)?),
            (None, Some(k)) => Some(parse_key("SURGE_RELAYER_KEY", &k)?),
            (None, None) => {
                self.relayer_key_file.as_ref().map(|p| key_from_file("proposer.relayer_key_file", p)).transpose()?
            }
        };
        let extra_gas_percentage = match env("EXTRA_GAS_PERCENTAGE") {
            Some(v) => v.trim().parse().map_err(|e| err("EXTRA_GAS_PERCENTAGE", format!("{v:?}: {e}")))?,
            None => self.extra_gas_percentage.unwrap_or(surge_l1::FeePolicy::default().extra_gas_percentage),
        };
        if extra_gas_percentage > 1_000 {
            return Err(err("proposer.extra_gas_percentage", format!("{extra_gas_percentage}: at most 1000")));
        }
        let mock_mode = match env("MOCK_MODE") {
            Some(v) => parse_bool("MOCK_MODE", &v)?,
            None => self.mock_mode.unwrap_or(true),
        };
        let mock_verifier = match env("MOCK_VERIFIER_ADDRESS") {
            Some(v) => {
                Some(Address::from_str(v.trim()).map_err(|e| err("MOCK_VERIFIER_ADDRESS", format!("{v:?}: {e}")))?)
            }
            None => self.mock_verifier,
        };
        let mock_signer = match env("SURGE_MOCK_PROVER_KEY") {
            Some(k) => Some(parse_key("SURGE_MOCK_PROVER_KEY", &k)?),
            None => self
                .mock_signer_key_file
                .as_ref()
                .map(|p| key_from_file("proposer.mock_signer_key_file", p))
                .transpose()?,
        };
        let replace_after = at_least_one(
            [
                ("--proposer.replace-after", flags.replace_after),
                ("proposer.replace_after_blocks", self.replace_after_blocks),
            ],
            3,
        )?;
        let confirmations = match (flags.confirmations, self.confirmations) {
            (None, None) => None,
            given => Some(at_least_one(
                [("--proposer.confirmations", given.0), ("proposer.confirmations", given.1)],
                DEFAULT_CONFIRMATIONS,
            )?),
        };
        let gwei = |v: u64| u128::from(v) * surge_l1::GWEI;
        let defaults = surge_l1::FeePolicy::default();
        let max_fee_per_gas = at_least_one(
            [
                ("--proposer.max-fee-per-gas", flags.max_fee_per_gas),
                ("proposer.max_fee_per_gas_gwei", self.max_fee_per_gas_gwei),
            ],
            u64::try_from(defaults.max_fee_per_gas_cap / surge_l1::GWEI).unwrap_or(u64::MAX),
        )?;
        let max_fee_per_blob_gas = at_least_one(
            [
                ("--proposer.max-fee-per-blob-gas", flags.max_fee_per_blob_gas),
                ("proposer.max_fee_per_blob_gas_gwei", self.max_fee_per_blob_gas_gwei),
            ],
            u64::try_from(defaults.max_fee_per_blob_gas_cap / surge_l1::GWEI).unwrap_or(u64::MAX),
        )?;
        Ok(ProposerSettings {
            enabled: !flags.disable && self.enabled.unwrap_or(true),
            key,
            relayer_key,
            extra_gas_percentage,
            mock_verifier,
            mock_signer,
            replace_after,
            confirmations,
            fee_caps: (gwei(max_fee_per_gas), gwei(max_fee_per_blob_gas)),
            mock_mode,
        })
    }
}

/// `MAX_BLOCKS_PER_BATCH` from the environment (Catalyst's name for `proposals.max_blocks`).
pub fn max_blocks_per_batch(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<u64>, ConfigError> {
    env("MAX_BLOCKS_PER_BATCH")
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().parse().map_err(|e| err("MAX_BLOCKS_PER_BATCH", format!("{v:?}: {e}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    #[test]
    fn keys_come_from_flags_env_or_file_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{KEY}\n")).unwrap();
        let section = ProposerSection::default();
        let none = |_: &str| None;
        let s = section.resolve(&ProposerFlags { key_file: Some(file.clone()), ..Default::default() }, &none).unwrap();
        let key = s.key.unwrap();
        assert!(!format!("{key:?}").contains(&KEY[2..]), "the key is not printed");
        let env = |k: &str| (k == "CATALYST_NODE_ECDSA_PRIVATE_KEY").then(|| KEY.to_string());
        assert_eq!(section.resolve(&ProposerFlags::default(), &env).unwrap().key.unwrap().0.address(), key.0.address());
        let bad = |k: &str| (k == "SURGE_PROPOSER_KEY").then(|| "0x1234".to_string());
        let e = section.resolve(&ProposerFlags::default(), &bad).unwrap_err();
        assert_eq!(e.field, "SURGE_PROPOSER_KEY");
        assert!(!e.reason.contains("1234"), "{e}");
        let e = ProposerSection { key_file: Some(dir.path().join("missing")), ..Default::default() }
            .resolve(&ProposerFlags::default(), &none)
            .unwrap_err();
        assert_eq!(e.field, "proposer.key_file");
    }

    #[test]
    fn catalyst_names_set_gas_margin_and_mock_mode() {
        let section = ProposerSection { extra_gas_percentage: Some(5), ..Default::default() };
        let flags = ProposerFlags::default();
        assert_eq!(section.resolve(&flags, &|_| None).unwrap().extra_gas_percentage, 5);
        let env = |k: &str| (k == "EXTRA_GAS_PERCENTAGE").then(|| "30".to_string());
        assert_eq!(section.resolve(&flags, &env).unwrap().extra_gas_percentage, 30);
        assert!(section.resolve(&flags, &|_| None).unwrap().mock_mode, "mock mode unless told");
        let env = |k: &str| (k == "MOCK_MODE").then(|| "false".to_string());
        assert!(!section.resolve(&flags, &env).unwrap().mock_mode, "Raiko's settings then need a URL");
        let env = |k: &str| (k == "MOCK_MODE").then(|| "perhaps".to_string());
        assert_eq!(section.resolve(&flags, &env).unwrap_err().field, "MOCK_MODE");
        let env = |k: &str| (k == "MAX_BLOCKS_PER_BATCH").then(|| "8".to_string());
        assert_eq!(max_blocks_per_batch(&env).unwrap(), Some(8));
        assert!(!section.resolve(&ProposerFlags { disable: true, ..flags }, &|_| None).unwrap().enabled);
    }

    #[test]
    fn replacement_and_fee_caps_come_from_flags_or_the_file() {
        let section: ProposerSection =
            toml::from_str("replace_after_blocks = 5\nconfirmations = 2\nmax_fee_per_blob_gas_gwei = 7\n").unwrap();
        let s = section.resolve(&ProposerFlags::default(), &|_| None).unwrap();
        assert_eq!((s.replace_after, s.confirmations), (5, Some(2)));
        assert_eq!(
            ProposerSection::default().resolve(&ProposerFlags::default(), &|_| None).unwrap().confirmations,
            None
        );
        assert_eq!(s.fee_caps, (500 * surge_l1::GWEI, 7 * surge_l1::GWEI));
        let flags = ProposerFlags { replace_after: Some(2), max_fee_per_gas: Some(90), ..Default::default() };
        let s = section.resolve(&flags, &|_| None).unwrap();
        assert_eq!((s.replace_after, s.fee_caps.0), (2, 90 * surge_l1::GWEI));
        let flags = ProposerFlags { confirmations: Some(0), ..Default::default() };
        assert_eq!(section.resolve(&flags, &|_| None).unwrap_err().field, "--proposer.confirmations");
    }
}
