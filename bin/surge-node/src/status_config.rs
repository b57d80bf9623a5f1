//! Statuses and readiness: how long final transaction statuses are kept (`[status] retention_secs`,
//! `--status.retention`) and how old the L1 head may be before `/ready` answers 503
//! (`[status] max_l1_head_age_secs`, `--ready.max-l1-head-age`).

use std::time::Duration;

use serde::Deserialize;

use crate::{config::ConfigError, rpc_config::at_least_one};

/// Final statuses are kept this long by default: a day (Catalyst deletes them a minute after the end).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The oldest L1 head a ready node follows, by default: five 12-second slots.
pub const DEFAULT_MAX_L1_HEAD_AGE: Duration = Duration::from_secs(60);

/// `[status]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    retention_secs: Option<u64>,
    max_l1_head_age_secs: Option<u64>,
}

/// Status and readiness flags (`None` = not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct StatusFlags {
    /// How long a transaction's final status (`Executed`, `Rejected`) stays answerable [default: 86400, a
    /// day]. File: [status] retention_secs.
    #[arg(long = "status.retention", value_name = "SECONDS")]
    pub retention: Option<u64>,
    /// `GET /ready` answers 503 when the latest L1 block the node saw is older than this; 0 never checks
    /// [default: 60; not checked on the embedded dev L1, which makes blocks only when it has transactions].
    /// File: [status] max_l1_head_age_secs.
    #[arg(long = "ready.max-l1-head-age", value_name = "SECONDS")]
    pub max_l1_head_age: Option<u64>,
}

/// Statuses and readiness, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSettings {
    /// How long final statuses are kept.
    pub retention: Duration,
    /// The oldest L1 head a ready node follows; `None`: not checked.
    pub max_l1_head_age: Option<Duration>,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self { retention: DEFAULT_RETENTION, max_l1_head_age: Some(DEFAULT_MAX_L1_HEAD_AGE) }
    }
}

impl StatusSection {
    /// Flags over the file over the defaults.
    pub fn resolve(&self, flags: &StatusFlags) -> Result<StatusSettings, ConfigError> {
        let retention = at_least_one(
            [("--status.retention", flags.retention), ("status.retention_secs", self.retention_secs)],
            DEFAULT_RETENTION.as_secs(),
        )?;
        let age = flags.max_l1_head_age.or(self.max_l1_head_age_secs).unwrap_or(DEFAULT_MAX_L1_HEAD_AGE.as_secs());
        Ok(StatusSettings {
            retention: Duration::from_secs(retention),
            max_l1_head_age: (age > 0).then(|| Duration::from_secs(age)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_zero_turns_the_head_check_off_and_a_zero_retention_is_refused() {
        let file: StatusSection = toml::from_str("retention_secs = 600\nmax_l1_head_age_secs = 30\n").unwrap();
        let none = StatusFlags::default();
        let s = file.resolve(&none).unwrap();
        assert_eq!((s.retention, s.max_l1_head_age), (Duration::from_secs(600), Some(Duration::from_secs(30))));
        let flags = StatusFlags { retention: Some(5), max_l1_head_age: Some(0) };
        let s = file.resolve(&flags).unwrap();
        assert_eq!((s.retention, s.max_l1_head_age), (Duration::from_secs(5), None));
        assert_eq!(StatusSection::default().resolve(&none).unwrap(), StatusSettings::default());
        let e = file.resolve(&StatusFlags { retention: Some(0), ..Default::default() }).unwrap_err();
        assert_eq!(e.field, "--status.retention");
        assert!(toml::from_str::<StatusSection>("retention = 1\n").is_err(), "an unknown key is refused");
    }
}
