//! Where real proofs come from: Raiko, with Catalyst's environment names (`RAIKO_URL`, `RAIKO_API_KEY`,
//! `PROOF_TYPE`, `RAIKO_POLL_INTERVAL_MS`, `RAIKO_MAX_RETRIES`, `RAIKO_TIMEOUT_SEC`), `[raiko]` in the file
//! and `--raiko.*` flags. Without a URL the proposer uses the mock prover (`MOCK_MODE` must then be true).
//! The API key comes from a file or the environment and is never printed.

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;
use surge_l1::raiko::{RaikoConfig, RaikoProofType};

use crate::{
    config::{ConfigError, err},
    rpc_config::at_least_one,
};

/// `[raiko]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaikoSection {
    url: Option<String>,
    api_key_file: Option<PathBuf>,
    proof_type: Option<String>,
    poll_interval_ms: Option<u64>,
    max_retries: Option<u64>,
    timeout_secs: Option<u64>,
}

/// Raiko flags (`None` = not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RaikoFlags {
    /// Raiko's base URL: proposals are proven there (`/v3/proof/batch/realtime`). Env: RAIKO_URL. File:
    /// [raiko] url.
    #[arg(long = "raiko.url", value_name = "URL")]
    pub url: Option<String>,
    /// Raiko's API key (sent as X-API-KEY), in a file. Env: RAIKO_API_KEY. File: [raiko] api_key_file.
    #[arg(long = "raiko.api-key-file", value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// The proof system asked for: sp1, risc0 or zisk [default: sp1]. Env: PROOF_TYPE. File: [raiko]
    /// proof_type.
    #[arg(long = "raiko.proof-type", value_name = "TYPE")]
    pub proof_type: Option<String>,
    /// Between two requests for one proof [default: 2000]. Env: RAIKO_POLL_INTERVAL_MS.
    #[arg(long = "raiko.poll-interval", value_name = "MS")]
    pub poll_interval_ms: Option<u64>,
    /// Requests for one proof at most [default: 60]. Env: RAIKO_MAX_RETRIES.
    #[arg(long = "raiko.max-retries", value_name = "REQUESTS")]
    pub max_retries: Option<u64>,
    /// How long one request may take [default: 30]. Env: RAIKO_TIMEOUT_SEC.
    #[arg(long = "raiko.timeout", value_name = "SECONDS")]
    pub timeout_secs: Option<u64>,
}

impl RaikoSection {
    /// Flags > environment > file > Catalyst's defaults; `None` without a URL. In `mock_mode`, Raiko's
    /// proofs go to the inbox under the mock verifier's flag, as Catalyst does.
    pub fn resolve(
        &self,
        flags: &RaikoFlags,
        env: &dyn Fn(&str) -> Option<String>,
        mock_mode: bool,
    ) -> Result<Option<RaikoConfig>, ConfigError> {
        let env = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |var: &str| -> Result<Option<u64>, ConfigError> {
            let parsed = env(var).map(|v| v.parse::<u64>().map_err(|e| err(var, format!("{v:?}: {e}")))).transpose()?;
            match parsed {
                Some(0) => Err(err(var, "must be at least 1")),
                n => Ok(n),
            }
        };
        let url = flags.url.clone().or(env("RAIKO_URL")).or(self.url.clone());
        let Some(url) = url else {
            if !mock_mode {
                return Err(err("MOCK_MODE", "false needs a Raiko prover: set RAIKO_URL (or --raiko.url)"));
            }
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err("RAIKO_URL", format!("{url:?}: an http:// or https:// URL")));
        }
        let api_key = match (&flags.api_key_file, env("RAIKO_API_KEY"), &self.api_key_file) {
            (Some(path), _, _) => Some(read_key("--raiko.api-key-file", path)?),
            (None, Some(key), _) => Some(key),
            (None, None, Some(path)) => Some(read_key("raiko.api_key_file", path)?),
            (None, None, None) => None,
        };
        let proof_type = match (&flags.proof_type, env("PROOF_TYPE"), &self.proof_type) {
            (Some(t), _, _) => t.parse().map_err(|e| err("--raiko.proof-type", e))?,
            (None, Some(t), _) => t.parse().map_err(|e| err("PROOF_TYPE", e))?,
            (None, None, Some(t)) => t.parse().map_err(|e| err("raiko.proof_type", e))?,
            (None, None, None) => RaikoProofType::Sp1,
        };
        let defaults = RaikoConfig::new(url.clone(), proof_type);
        let poll_interval = at_least_one(
            [
                ("--raiko.poll-interval", flags.poll_interval_ms.or(number("RAIKO_POLL_INTERVAL_MS")?)),
                ("raiko.poll_interval_ms", self.poll_interval_ms),
            ],
            defaults.poll_interval.as_millis() as u64,
        )?;
        let max_retries = at_least_one(
            [
                ("--raiko.max-retries", flags.max_retries.or(number("RAIKO_MAX_RETRIES")?)),
                ("raiko.max_retries", self.max_retries),
            ],
            u64::from(defaults.max_retries),
        )?;
        let timeout = at_least_one(
            [
                ("--raiko.timeout", flags.timeout_secs.or(number("RAIKO_TIMEOUT_SEC")?)),
                ("raiko.timeout_secs", self.timeout_secs),
            ],
            defaults.timeout.as_secs(),
        )?;
        Ok(Some(RaikoConfig {
            api_key,
            poll_interval: Duration::from_millis(poll_interval),
            max_retries: u32::try_from(max_retries).map_err(|_| err("raiko.max_retries", "too large"))?,
            timeout: Duration::from_secs(timeout),
            mock_mode,
            ..defaults
        }))
    }
}

/// The API key in the file at `path` (surrounding whitespace ignored); an error names `field` and the path,
/// never the file's content.
fn read_key(field: &str, path: &PathBuf) -> Result<String, ConfigError> {
    let key = crate::proposer_config::read_secret(field, path)?;
    if key.is_empty() {
        return Err(err(field, format!("{}: empty", path.display())));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn catalyst_s_names_set_raiko_and_mock_mode_false_needs_it() {
        let none = RaikoFlags::default();
        let section = RaikoSection::default();
        assert_eq!(section.resolve(&none, &|_| None, true).unwrap(), None, "the mock prover");
        let e = section.resolve(&none, &|_| None, false).unwrap_err();
        assert_eq!(e.field, "MOCK_MODE");
        let env = env_of(&[
            ("RAIKO_URL", "http://raiko:8080"),
            ("RAIKO_API_KEY", "k3y"),
            ("PROOF_TYPE", "ZISK"),
            ("RAIKO_POLL_INTERVAL_MS", "500"),
            ("RAIKO_MAX_RETRIES", "7"),
            ("RAIKO_TIMEOUT_SEC", "9"),
        ]);
        let c = section.resolve(&none, &env, false).unwrap().unwrap();
        assert_eq!(
            (c.url.as_str(), c.api_key.as_deref(), c.proof_type),
            ("http://raiko:8080", Some("k3y"), RaikoProofType::Zisk)
        );
        assert_eq!(
            (c.poll_interval, c.max_retries, c.timeout),
            (Duration::from_millis(500), 7, Duration::from_secs(9))
        );
        assert!(!c.mock_mode);
        assert!(!format!("{c:?}").contains("k3y"), "the key is not printed");
        // Catalyst's defaults; flags beat the environment.
        let url_only = env_of(&[("RAIKO_URL", "http://raiko:8080")]);
        let c = section.resolve(&none, &url_only, true).unwrap().unwrap();
        assert_eq!(
            (c.proof_type, c.poll_interval, c.max_retries),
            (RaikoProofType::Sp1, Duration::from_millis(2000), 60)
        );
        assert!(c.mock_mode);
        let flags = RaikoFlags { proof_type: Some("risc0".into()), max_retries: Some(3), ..Default::default() };
        let c = section.resolve(&flags, &env, true).unwrap().unwrap();
        assert_eq!((c.proof_type, c.max_retries), (RaikoProofType::Risc0, 3));
        for (var, value) in [("PROOF_TYPE", "groth16"), ("RAIKO_MAX_RETRIES", "0"), ("RAIKO_URL", "raiko:8080")] {
            let bad = move |k: &str| match k {
                "RAIKO_URL" if var != "RAIKO_URL" => Some("http://raiko".to_string()),
                k if k == var => Some(value.to_string()),
                _ => None,
            };
            let e = section.resolve(&none, &bad, true).unwrap_err();
            assert_eq!(e.field, var, "{e:?}");
        }
    }
}
