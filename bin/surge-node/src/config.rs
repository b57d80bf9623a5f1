//! Settings from four layers — flags > environment > TOML file > defaults — with the protocol addresses
//! under the environment names the sidecar used (aliases must agree). Every error names its field.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    str::FromStr,
    time::Duration,
};

use alloy_primitives::Address;
use revm::primitives::hardfork::SpecId;
use serde::Deserialize;
use surge_builder::HoldLimits;
use surge_exex::ProposalRules;
use surge_l1::{BundleLimits, SimConfig};
use surge_primitives::ProtocolConfig;

/// A setting that cannot be used; printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The setting (file key, flag or environment variable).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

pub(crate) fn err(field: impl Into<String>, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError { field: field.into(), reason: reason.to_string() }
}

/// The TOML file (`etc/surge-node.toml` is the template). Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    datadir: Option<PathBuf>,
    chain: Option<PathBuf>,
    log: Option<String>,
    block_time: Option<u64>,
    fee_recipient: Option<Address>,
    #[serde(default)]
    http: HttpSection,
    #[serde(default)]
    db: DbSection,
    metrics: Option<SocketAddr>,
    surge_compat_addr: Option<SocketAddr>,
    #[serde(default)]
    l1: L1Section,
    #[serde(default)]
    protocol: ProtocolOverrides,
    #[serde(default)]
    sync: SyncSection,
    #[serde(default)]
    proposals: ProposalsSection,
    #[serde(default)]
    proposer: crate::proposer_config::ProposerSection,
    #[serde(default)]
    rpc: crate::rpc_config::RpcSection,
    #[serde(default)]
    txpool: crate::txpool_config::TxPoolSection,
    #[serde(default)]
    status: crate::status_config::StatusSection,
    #[serde(default)]
    raiko: crate::raiko_config::RaikoSection,
}

/// `[proposals]`: where the open proposal ends and how far behind the L1 head it anchors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposalsSection {
    anchor_distance: Option<u64>,
    max_blocks: Option<u64>,
    max_age: Option<u64>,
    max_gas: Option<u64>,
    max_bytes: Option<u64>,
    max_anchor_lag: Option<u64>,
}

impl ProposalsSection {
    /// The rules, defaults where unset (`max_blocks_per_batch`, from the environment, wins over the file's
    /// `max_blocks`); an error names the key.
    fn resolve(&self, max_blocks_per_batch: Option<u64>) -> Result<ProposalRules, ConfigError> {
        let d = ProposalRules::default();
        let rules = ProposalRules {
            anchor_distance: self.anchor_distance.unwrap_or(d.anchor_distance),
            max_blocks: max_blocks_per_batch.or(self.max_blocks).unwrap_or(d.max_blocks),
            max_age: self.max_age.map_or(d.max_age, Duration::from_secs),
            max_gas: self.max_gas.unwrap_or(d.max_gas),
            max_bytes: self.max_bytes.unwrap_or(d.max_bytes),
            max_anchor_lag: self.max_anchor_lag.unwrap_or(d.max_anchor_lag),
        };
        if rules.max_age.is_zero() {
            return Err(err("proposals.max_age", "must be at least 1 second"));
        }
        rules.validate().map_err(|reason| {
            let field = match rules {
                r if r.max_blocks == 0 => "proposals.max_blocks",
                r if r.max_anchor_lag >= 256 => "proposals.max_anchor_lag",
                _ => "proposals.anchor_distance",
            };
            err(field, reason)
        })?;
        Ok(rules)
    }
}

/// `[sync]`: how the L1 leg of synchronous composability is simulated and bounded.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncSection {
    l1_hardfork: Option<String>,
    l1_slot_time: Option<u64>,
    l1_tx_gas_cap: Option<u64>,
    proposal_gas: Option<u64>,
    proof_gas_per_message: Option<u64>,
    max_message_gas_limit: Option<u64>,
    min_message_fee: Option<u64>,
    /// Whether a message's fee must cover its leg's L1 cost (default: yes, but not in dev mode).
    message_fee_covers_l1: Option<bool>,
    /// The first cool-down of a culprit's sender, in seconds.
    culprit_cooldown_secs: Option<u64>,
    /// Distinct culprit senders through one L1 contract before it cools down.
    cooldown_target_senders: Option<u64>,
    max_state_reads: Option<u64>,
    call_timeout_ms: Option<u64>,
    hold_max_age_secs: Option<u64>,
    hold_max_txs: Option<u64>,
    hold_per_sender: Option<u64>,
}

impl SyncSection {
    /// The simulation settings, defaults where unset; each error names its key.
    fn resolve(&self, dev: bool) -> Result<SimConfig, ConfigError> {
        let d = SimConfig::default();
        let spec = match self.l1_hardfork.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => d.spec,
            Some("cancun") => SpecId::CANCUN,
            Some("prague") => SpecId::PRAGUE,
            Some("osaka") => SpecId::OSAKA,
            Some(other) => return Err(err("sync.l1_hardfork", format!("{other:?}: one of cancun, prague, osaka"))),
        };
        let slot_time = self.l1_slot_time.unwrap_or(d.slot_time);
        if slot_time == 0 {
            return Err(err("sync.l1_slot_time", "must be at least 1 second"));
        }
        let dl = d.limits;
        let limits = BundleLimits {
            tx_gas_cap: self.l1_tx_gas_cap.unwrap_or(dl.tx_gas_cap),
            proposal_gas: self.proposal_gas.unwrap_or(dl.proposal_gas),
            proof_gas_per_message: self.proof_gas_per_message.unwrap_or(dl.proof_gas_per_message),
            max_message_gas_limit: self.max_message_gas_limit.unwrap_or(dl.max_message_gas_limit),
            min_message_fee: self.min_message_fee.unwrap_or(dl.min_message_fee),
            fee_covers_l1: self.message_fee_covers_l1.unwrap_or(!dev),
        };
        let fixed = 21_000 + limits.proposal_gas + limits.proof_gas_per_message;
        if fixed >= limits.tx_gas_cap {
            let reason = format!(
                "{} with proof_gas_per_message {} leaves no room for a message under l1_tx_gas_cap {}",
                limits.proposal_gas, limits.proof_gas_per_message, limits.tx_gas_cap
            );
            return Err(err("sync.proposal_gas", reason));
        }
        if limits.max_message_gas_limit == 0 {
            return Err(err("sync.max_message_gas_limit", "must be above 0"));
        }
        let max_state_reads = self.max_state_reads.unwrap_or(d.max_state_reads);
        let call_timeout = self.call_timeout_ms.map_or(d.call_timeout, Duration::from_millis);
        if max_state_reads == 0 || call_timeout.is_zero() {
            let field = if max_state_reads == 0 { "sync.max_state_reads" } else { "sync.call_timeout_ms" };
            return Err(err(field, "must be above 0"));
        }
        Ok(SimConfig { spec, slot_time, limits, max_state_reads, call_timeout, priority_fee: d.priority_fee })
    }

    /// How long and how many unanswered transactions wait in the pool: `flags` over the file, defaults
    /// where unset; a zero names its flag or key.
    fn hold(&self, flags: &HoldFlags) -> Result<HoldLimits, ConfigError> {
        let d = HoldLimits::default();
        let pick = |flag: (&str, Option<u64>), key: (&str, Option<u64>), default: u64| match flag
            .1
            .map(|v| (flag.0, v))
            .or(key.1.map(|v| (key.0, v)))
        {
            Some((field, 0)) => Err(err(field, "must be above 0")),
            Some((_, v)) => Ok(v),
            None => Ok(default),
        };
        let age = (("--sync.hold-max-age", flags.max_age), ("sync.hold_max_age_secs", self.hold_max_age_secs));
        let txs = (("--sync.hold-max-txs", flags.max_txs), ("sync.hold_max_txs", self.hold_max_txs));
        let sender = (("--sync.hold-per-sender", flags.per_sender), ("sync.hold_per_sender", self.hold_per_sender));
        Ok(HoldLimits {
            max_age: Duration::from_secs(pick(age.0, age.1, d.max_age.as_secs())?),
            max_txs: usize::try_from(pick(txs.0, txs.1, d.max_txs as u64)?).unwrap_or(usize::MAX),
            per_sender: usize::try_from(pick(sender.0, sender.1, d.per_sender as u64)?).unwrap_or(usize::MAX),
        })
    }
}

impl SyncSection {
    /// How culprits cool down: `flag` (`--sync.culprit-cooldown`) over the file, defaults where unset.
    fn cooldown(&self, flag: Option<u64>) -> Result<surge_exex::CoolDownConfig, ConfigError> {
        let d = surge_exex::CoolDownConfig::default();
        let base = match flag
            .map(|v| ("--sync.culprit-cooldown", v))
            .or(self.culprit_cooldown_secs.map(|v| ("sync.culprit_cooldown_secs", v)))
        {
            Some((field, 0)) => return Err(err(field, "must be at least 1 second")),
            Some((_, secs)) => Duration::from_secs(secs),
            None => d.base,
        };
        let target_senders = match self.cooldown_target_senders {
            Some(0) => return Err(err("sync.cooldown_target_senders", "must be at least 1")),
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => d.target_senders,
        };
        Ok(surge_exex::CoolDownConfig { base, max: d.max.max(base), target_senders })
    }
}

/// The `--sync.hold-*` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct HoldFlags {
    /// `--sync.hold-max-age` (seconds).
    pub max_age: Option<u64>,
    /// `--sync.hold-max-txs`.
    pub max_txs: Option<u64>,
    /// `--sync.hold-per-sender`.
    pub per_sender: Option<u64>,
    /// `--sync.culprit-cooldown` (seconds).
    pub culprit_cooldown: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    addr: Option<IpAddr>,
    cors: Option<Vec<String>>,
    port: Option<u16>,
    max_request_size: Option<u32>,
}

/// `[db]`: how the chain stores write.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DbSection {
    durable_every: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct L1Section {
    rpc_url: Option<String>,
    http_port: Option<u16>,
}

/// Protocol addresses set explicitly (by file, environment or flag).
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProtocolOverrides {
    /// L1 bridge.
    pub l1_bridge: Option<Address>,
    /// L1 resolver.
    pub l1_resolver: Option<Address>,
    /// The composite proof verifier.
    pub l1_proof_verifier: Option<Address>,
    /// L1 signal service.
    pub l1_signal_service: Option<Address>,
    /// Realtime inbox.
    pub l1_inbox: Option<Address>,
    /// Proposer multicall.
    pub l1_multicall: Option<Address>,
    /// The user-op wallets' factory (unset: the node takes no user ops).
    pub l1_user_ops_factory: Option<Address>,
    /// L2 bridge.
    pub l2_bridge: Option<Address>,
    /// L2 signal service.
    pub l2_signal_service: Option<Address>,
    /// L2 anchor.
    pub l2_anchor: Option<Address>,
}

/// The environment variables of each protocol setting; several names are aliases of one setting.
pub const PROTOCOL_ENV: [(&str, &[&str]); 8] = [
    ("l1_bridge", &["L1_BRIDGE_ADDRESS"]),
    ("l1_signal_service", &["L1_SIGNAL_SERVICE_ADDRESS"]),
    ("l1_inbox", &["REALTIME_INBOX_ADDRESS"]),
    ("l1_multicall", &["PROPOSER_MULTICALL_ADDRESS"]),
    ("l1_user_ops_factory", &["USER_OPS_FACTORY_ADDRESS"]),
    ("l2_bridge", &["L2_BRIDGE_ADDRESS", "TAIKO_BRIDGE_L2_ADDRESS", "BRIDGE_L2_ADDRESS"]),
    ("l2_signal_service", &["L2_SIGNAL_SERVICE_ADDRESS"]),
    ("l2_anchor", &["TAIKO_ANCHOR_ADDRESS"]),
];

impl ProtocolOverrides {
    fn slot(&mut self, name: &str) -> Option<&mut Option<Address>> {
        Some(match name {
            "l1_bridge" => &mut self.l1_bridge,
            "l1_signal_service" => &mut self.l1_signal_service,
            "l1_inbox" => &mut self.l1_inbox,
            "l1_multicall" => &mut self.l1_multicall,
            "l1_user_ops_factory" => &mut self.l1_user_ops_factory,
            "l2_bridge" => &mut self.l2_bridge,
            "l2_signal_service" => &mut self.l2_signal_service,
            "l2_anchor" => &mut self.l2_anchor,
            _ => return None,
        })
    }

    /// `other`'s settings win where set.
    pub fn overlay(&mut self, other: &ProtocolOverrides) {
        self.l1_bridge = other.l1_bridge.or(self.l1_bridge);
        self.l1_resolver = other.l1_resolver.or(self.l1_resolver);
        self.l1_proof_verifier = other.l1_proof_verifier.or(self.l1_proof_verifier);
        self.l1_signal_service = other.l1_signal_service.or(self.l1_signal_service);
        self.l1_inbox = other.l1_inbox.or(self.l1_inbox);
        self.l1_multicall = other.l1_multicall.or(self.l1_multicall);
        self.l1_user_ops_factory = other.l1_user_ops_factory.or(self.l1_user_ops_factory);
        self.l2_bridge = other.l2_bridge.or(self.l2_bridge);
        self.l2_signal_service = other.l2_signal_service.or(self.l2_signal_service);
        self.l2_anchor = other.l2_anchor.or(self.l2_anchor);
    }

    /// Reads the protocol variables from `env`; aliases that disagree are an error naming both.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut out = Self::default();
        for (name, vars) in PROTOCOL_ENV {
            let mut seen: Option<(&str, Address)> = None;
            for var in vars {
                let Some(text) = env(var).filter(|v| !v.trim().is_empty()) else { continue };
                let address = Address::from_str(text.trim()).map_err(|e| err(*var, format!("{text:?}: {e}")))?;
                match seen {
                    Some((first, a)) if a != address => {
                        return Err(err(
                            *var,
                            format!("{address} disagrees with {first}={a} (aliases of one setting)"),
                        ));
                    }
                    _ => seen = Some((var, address)),
                }
            }
            if let (Some((_, a)), Some(slot)) = (seen, out.slot(name)) {
                *slot = Some(a);
            }
        }
        Ok(out)
    }

    /// The full configuration of an L2 on `l2_chain_id` settling on `l1_chain_id`: every L1 address must
    /// be set; L2 predeploys default to the chain id's.
    pub fn complete(&self, l1_chain_id: u64, l2_chain_id: u64, pctg: u8) -> Result<ProtocolConfig, ConfigError> {
        let need = |v: Option<Address>, field: &str| {
            v.ok_or_else(|| err(format!("protocol.{field}"), "required when running against an external L1"))
        };
        let derived = surge_primitives::L2Predeploys::for_chain(l2_chain_id);
        let config = ProtocolConfig {
            l1_chain_id,
            l2_chain_id,
            l1: surge_primitives::L1Contracts {
                bridge: need(self.l1_bridge, "l1_bridge")?,
                signal_service: need(self.l1_signal_service, "l1_signal_service")?,
                resolver: need(self.l1_resolver, "l1_resolver")?,
                inbox: need(self.l1_inbox, "l1_inbox")?,
                proof_verifier: need(self.l1_proof_verifier, "l1_proof_verifier")?,
                multicall: need(self.l1_multicall, "l1_multicall")?,
                user_ops_factory: self.l1_user_ops_factory.unwrap_or_default(),
            },
            l2: surge_primitives::L2Predeploys {
                bridge: self.l2_bridge.unwrap_or(derived.bridge),
                signal_service: self.l2_signal_service.unwrap_or(derived.signal_service),
                anchor: self.l2_anchor.unwrap_or(derived.anchor),
                ..derived
            },
            basefee_sharing_pctg: pctg,
        };
        config.validate().map_err(|e| err("protocol", e))?;
        Ok(config)
    }

    /// Settings that differ from `config` (dev mode cannot move its contracts).
    pub fn conflicts(&self, config: &ProtocolConfig) -> Vec<(&'static str, Address, Address)> {
        let pairs = [
            ("l1_bridge", self.l1_bridge, config.l1.bridge),
            ("l1_resolver", self.l1_resolver, config.l1.resolver),
            ("l1_proof_verifier", self.l1_proof_verifier, config.l1.proof_verifier),
            ("l1_signal_service", self.l1_signal_service, config.l1.signal_service),
            ("l1_inbox", self.l1_inbox, config.l1.inbox),
            ("l1_multicall", self.l1_multicall, config.l1.multicall),
            ("l1_user_ops_factory", self.l1_user_ops_factory, config.l1.user_ops_factory),
            ("l2_bridge", self.l2_bridge, config.l2.bridge),
            ("l2_signal_service", self.l2_signal_service, config.l2.signal_service),
            ("l2_anchor", self.l2_anchor, config.l2.anchor),
        ];
        pairs.into_iter().filter_map(|(n, set, actual)| set.filter(|s| *s != actual).map(|s| (n, s, actual))).collect()
    }
}

/// Flag values (`None` = not given on the command line).
#[derive(Debug, Default, Clone)]
pub struct FlagValues {
    /// `--dev`.
    pub dev: bool,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--datadir`.
    pub datadir: Option<PathBuf>,
    /// `--chain`.
    pub chain: Option<PathBuf>,
    /// `--http.addr`.
    pub http_addr: Option<IpAddr>,
    /// `--http.port`.
    pub http_port: Option<u16>,
    /// `--http.corsdomain`.
    pub cors: Option<Vec<String>>,
    /// `--l1.http.port`.
    pub l1_http_port: Option<u16>,
    /// `--l1.rpc-url`.
    pub l1_rpc_url: Option<String>,
    /// `--block-time`.
    pub block_time: Option<u64>,
    /// `--log`.
    pub log: Option<String>,
    /// `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// `--surge.compat-addr`.
    pub surge_compat_addr: Option<SocketAddr>,
    /// `--db.durable-every`.
    pub durable_every: Option<u64>,
    /// `--fee-recipient`.
    pub fee_recipient: Option<Address>,
    /// `--sync.hold-*`.
    pub hold: HoldFlags,
    /// `--txpool.*`.
    pub txpool: crate::txpool_config::TxPoolFlags,
    /// Protocol address flags.
    pub protocol: ProtocolOverrides,
    /// Proposer flags.
    pub proposer: crate::proposer_config::ProposerFlags,
    /// RPC limits.
    pub rpc: crate::rpc_config::RpcFlags,
    /// `--status.*`, `--ready.*`.
    pub status: crate::status_config::StatusFlags,
    /// `--raiko.*`.
    pub raiko: crate::raiko_config::RaikoFlags,
    /// `--keep-serving`.
    pub keep_serving: bool,
}

/// Everything the node runs with, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory.
    pub datadir: PathBuf,
    /// The L2 genesis to run (not dev mode).
    pub chain: Option<PathBuf>,
    /// RPC listen address (L2).
    pub http: SocketAddr,
    /// Dev mode's embedded L1 RPC port.
    pub l1_http_port: u16,
    /// External L1 endpoint.
    pub l1_rpc_url: Option<String>,
    /// Time between blocks (zero = instant).
    pub block_time: Duration,
    /// Log filter.
    pub log: String,
    /// Prometheus endpoint.
    pub metrics: Option<SocketAddr>,
    /// Where the `surge_*` methods are also served alone (Catalyst's address).
    pub surge_compat_addr: Option<SocketAddr>,
    /// Who receives the L2 blocks' fees (dev mode: dev account 0 unless set).
    pub fee_recipient: Option<Address>,
    /// Blocks per durable commit of the chain stores (the others are logged; 1: every block).
    pub durable_every: u64,
    /// Protocol addresses set explicitly.
    pub protocol: ProtocolOverrides,
    /// How the L1 leg of synchronous composability is simulated and bounded.
    pub sync: SimConfig,
    /// How long and how many transactions that consume an answer not received yet wait in the pool.
    pub hold: HoldLimits,
    /// How culprits of reverted proposals cool down.
    pub cooldown: surge_exex::CoolDownConfig,
    /// The L2 pool's per-sender limits, lifetime and byte caps.
    pub txpool: crate::txpool_config::TxPoolLimits,
    /// Where proposals end and how far behind the L1 head they anchor.
    pub proposals: ProposalRules,
    /// The proposer.
    pub proposer: crate::proposer_config::ProposerSettings,
    /// The RPC server's limits.
    pub rpc: crate::rpc_config::RpcSettings,
    /// When a critical task fails, keep answering RPC (`/ready` says what failed) instead of stopping.
    pub keep_serving: bool,
    /// How long final statuses are kept; how old an L1 head a ready node follows.
    pub status: crate::status_config::StatusSettings,
    /// Raiko, when proposals are proven there (else the mock prover).
    pub raiko: Option<surge_l1::raiko::RaikoConfig>,
}

impl Settings {
    /// The txpool watcher's settings.
    pub fn watcher(&self) -> surge_exex::WatcherConfig {
        surge_exex::WatcherConfig { cooldown: self.cooldown, rpc: self.rpc.simulations, ..Default::default() }
    }

    /// Resolves flags > environment > file > defaults.
    pub fn resolve(flags: &FlagValues, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match &flags.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| err("--config", format!("{}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text).map_err(|e| {
                    let reason = e.message().to_string();
                    let at = e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default();
                    err(format!("{}", path.display()), format!("{reason}{at}"))
                })?
            }
            None => FileConfig::default(),
        };
        let env_parse = |var: &str| -> Result<Option<u64>, ConfigError> {
            env(var).map(|v| v.trim().parse::<u64>().map_err(|e| err(var, format!("{v:?}: {e}")))).transpose()
        };
        let mut protocol = file.protocol;
        protocol.overlay(&ProtocolOverrides::from_env(env)?);
        protocol.overlay(&flags.protocol);
        let block_time = flags.block_time.or(env_parse("SURGE_BLOCK_TIME")?).or(file.block_time).unwrap_or(1);
        let durable_every = [
            ("--db.durable-every", flags.durable_every),
            ("SURGE_DB_DURABLE_EVERY", env_parse("SURGE_DB_DURABLE_EVERY")?),
            ("db.durable_every", file.db.durable_every),
        ]
        .into_iter()
        .find_map(|(field, value)| value.map(|v| (field, v)));
        let durable_every = match durable_every {
            Some((field, 0)) => {
                return Err(err(field, "must be at least 1 (1: every block is durable when committed)"));
            }
            Some((_, blocks)) => blocks,
            None => surge_host::storage::DEFAULT_DURABLE_EVERY,
        };
        let proposer = file.proposer.resolve(&flags.proposer, env)?;
        let max_request_size = file.http.max_request_size.unwrap_or(15 * 1024 * 1024);
        let cors = flags.cors.clone().or(file.http.cors).unwrap_or_default();
        Ok(Self {
            rpc: file.rpc.resolve(&flags.rpc, max_request_size, cors)?,
            keep_serving: flags.keep_serving,
            datadir: flags
                .datadir
                .clone()
                .or(env("SURGE_DATADIR").map(PathBuf::from))
                .or(file.datadir)
                .unwrap_or_else(default_datadir),
            chain: flags.chain.clone().or(file.chain),
            http: SocketAddr::new(
                flags.http_addr.or(file.http.addr).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                flags.http_port.or(file.http.port).unwrap_or(8547),
            ),
            l1_http_port: flags.l1_http_port.or(file.l1.http_port).unwrap_or(8545),
            l1_rpc_url: flags.l1_rpc_url.clone().or(env("L1_RPC_URL")).or(file.l1.rpc_url),
            block_time: Duration::from_secs(block_time),
            log: flags.log.clone().or(env("RUST_LOG")).or(file.log).unwrap_or_else(|| "info".into()),
            metrics: flags.metrics.or(file.metrics),
            surge_compat_addr: match flags.surge_compat_addr {
                Some(addr) => Some(addr),
                None => match env("SURGE_COMPAT_ADDR").filter(|v| !v.trim().is_empty()) {
                    Some(text) => {
                        Some(text.trim().parse().map_err(|e| err("SURGE_COMPAT_ADDR", format!("{text:?}: {e}")))?)
                    }
                    None => file.surge_compat_addr,
                },
            },
            fee_recipient: match flags.fee_recipient {
                Some(a) => Some(a),
                None => match env("L2_SUGGESTED_FEE_RECIPIENT").filter(|v| !v.trim().is_empty()) {
                    Some(text) => Some(
                        Address::from_str(text.trim())
                            .map_err(|e| err("L2_SUGGESTED_FEE_RECIPIENT", format!("{text:?}: {e}")))?,
                    ),
                    None => file.fee_recipient,
                },
            },
            durable_every,
            protocol,
            sync: file.sync.resolve(flags.dev)?,
            hold: file.sync.hold(&flags.hold)?,
            cooldown: file.sync.cooldown(flags.hold.culprit_cooldown)?,
            txpool: file.txpool.resolve(&flags.txpool)?,
            proposals: file.proposals.resolve(crate::proposer_config::max_blocks_per_batch(env)?)?,
            status: file.status.resolve(&flags.status)?,
            raiko: file.raiko.resolve(&flags.raiko, env, proposer.mock_mode)?,
            proposer,
        })
    }
}

/// `$XDG_DATA_HOME/surge-node/dev`, else `~/.local/share/surge-node/dev`.
pub fn default_datadir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("surge-node").join("dev")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    const A: &str = "0x00000000000000000000000000000000000000aa";
    const B: &str = "0x00000000000000000000000000000000000000bb";

    #[test]
    fn aliases_agree_or_fail_naming_both() {
        let ok = ProtocolOverrides::from_env(&env_of(&[("L2_BRIDGE_ADDRESS", A), ("BRIDGE_L2_ADDRESS", A)])).unwrap();
        assert_eq!(ok.l2_bridge, Some(A.parse().unwrap()));
        let alias_only = ProtocolOverrides::from_env(&env_of(&[("TAIKO_BRIDGE_L2_ADDRESS", B)])).unwrap();
        assert_eq!(alias_only.l2_bridge, Some(B.parse().unwrap()));
        let e = ProtocolOverrides::from_env(&env_of(&[("L2_BRIDGE_ADDRESS", A), ("TAIKO_BRIDGE_L2_ADDRESS", B)]))
            .unwrap_err();
        assert_eq!(e.field, "TAIKO_BRIDGE_L2_ADDRESS");
        assert!(e.reason.contains("L2_BRIDGE_ADDRESS"), "{e}");
        let bad = ProtocolOverrides::from_env(&env_of(&[("L1_BRIDGE_ADDRESS", "0x12")])).unwrap_err();
        assert_eq!(bad.field, "L1_BRIDGE_ADDRESS");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            format!("block_time = 5\n[http]\nport = 9000\n[protocol]\nl1_bridge = \"{A}\"\nl2_anchor = \"{A}\"\n"),
        )
        .unwrap();
        let mut flags = FlagValues { config: Some(file.clone()), ..Default::default() };
        let s = Settings::resolve(&flags, &env_of(&[("SURGE_BLOCK_TIME", "3"), ("L1_BRIDGE_ADDRESS", B)])).unwrap();
        assert_eq!(s.block_time, Duration::from_secs(3), "env beats file");
        assert_eq!(s.http.port(), 9000, "file beats default");
        assert_eq!(s.protocol.l1_bridge, Some(B.parse().unwrap()), "env beats file");
        assert_eq!(s.protocol.l2_anchor, Some(A.parse().unwrap()), "file kept where nothing overrides");
        assert_eq!(s.durable_every, surge_host::storage::DEFAULT_DURABLE_EVERY, "default");
        flags.block_time = Some(0);
        flags.protocol.l1_bridge = Some(A.parse().unwrap());
        let s = Settings::resolve(&flags, &env_of(&[("SURGE_BLOCK_TIME", "3"), ("L1_BRIDGE_ADDRESS", B)])).unwrap();
        assert_eq!(s.block_time, Duration::ZERO, "flag beats env");
        assert_eq!(s.protocol.l1_bridge, Some(A.parse().unwrap()), "flag beats env");
    }

    #[test]
    fn durable_every_layers_and_refuses_zero_naming_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[db]\ndurable_every = 8\n").unwrap();
        let mut flags = FlagValues { config: Some(file.clone()), ..Default::default() };
        assert_eq!(Settings::resolve(&flags, &|_| None).unwrap().durable_every, 8, "file");
        let env = env_of(&[("SURGE_DB_DURABLE_EVERY", "4")]);
        assert_eq!(Settings::resolve(&flags, &env).unwrap().durable_every, 4, "env beats file");
        flags.durable_every = Some(1);
        assert_eq!(Settings::resolve(&flags, &env).unwrap().durable_every, 1, "flag beats env");
        std::fs::write(&file, "[db]\ndurable_every = 0\n").unwrap();
        let e = Settings::resolve(&FlagValues { config: Some(file), ..Default::default() }, &|_| None).unwrap_err();
        assert_eq!(e.field, "db.durable_every");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[http]\nprot = 1\n").unwrap();
        let flags = FlagValues { config: Some(file), ..Default::default() };
        let e = Settings::resolve(&flags, &|_| None).unwrap_err();
        assert!(e.reason.contains("prot"), "{e}");
        let e = Settings::resolve(&FlagValues::default(), &env_of(&[("SURGE_BLOCK_TIME", "soon")])).unwrap_err();
        assert_eq!(e.field, "SURGE_BLOCK_TIME");
    }

    #[test]
    fn sync_limits_come_from_the_file_and_bad_ones_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let resolve = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Settings::resolve(&FlagValues { config: Some(file.clone()), ..Default::default() }, &|_| None)
        };
        let s = resolve("[sync]\nmin_message_fee = 7\nl1_hardfork = \"Prague\"\n").unwrap();
        assert_eq!(s.sync.limits.min_message_fee, 7);
        assert_eq!(s.sync.spec, SpecId::PRAGUE);
        assert_eq!(s.sync.limits.tx_gas_cap, 1 << 24, "defaults elsewhere");
        let e = resolve("[sync]\nproposal_gas = 20000000\n").unwrap_err();
        assert_eq!(e.field, "sync.proposal_gas", "{e}");
        assert_eq!(resolve("[sync]\nl1_hardfork = \"london\"\n").unwrap_err().field, "sync.l1_hardfork");
        assert_eq!(resolve("[sync]\nl1_slot_time = 0\n").unwrap_err().field, "sync.l1_slot_time");
        let hold = resolve("[sync]\nhold_max_age_secs = 30\nhold_per_sender = 4\n").unwrap().hold;
        assert_eq!((hold.max_age.as_secs(), hold.max_txs, hold.per_sender), (30, 4096, 4));
        assert_eq!(resolve("[sync]\nhold_max_txs = 0\n").unwrap_err().field, "sync.hold_max_txs");
        let flags = FlagValues { hold: HoldFlags { max_age: Some(0), ..Default::default() }, ..Default::default() };
        assert_eq!(Settings::resolve(&flags, &|_| None).unwrap_err().field, "--sync.hold-max-age");
        let p = resolve("[proposals]\nmax_blocks = 4\nanchor_distance = 0\n").unwrap().proposals;
        assert_eq!((p.max_blocks, p.anchor_distance, p.max_age.as_secs()), (4, 0, 12));
        assert_eq!(resolve("[proposals]\nmax_blocks = 0\n").unwrap_err().field, "proposals.max_blocks");
        assert_eq!(resolve("[proposals]\nanchor_distance = 300\n").unwrap_err().field, "proposals.anchor_distance");
        assert_eq!(resolve("[proposals]\nmax_age = 0\n").unwrap_err().field, "proposals.max_age");
        assert_eq!(resolve("[proposals]\nmax_anchor_lag = 256\n").unwrap_err().field, "proposals.max_anchor_lag");

        // Fees cover the legs' L1 cost outside dev mode unless the file says otherwise.
        assert!(resolve("").unwrap().sync.limits.fee_covers_l1);
        assert!(!resolve("[sync]\nmessage_fee_covers_l1 = false\n").unwrap().sync.limits.fee_covers_l1);
        let dev = FlagValues { dev: true, ..Default::default() };
        assert!(!Settings::resolve(&dev, &|_| None).unwrap().sync.limits.fee_covers_l1, "not in dev mode");
        // Cool-downs: the flag over the file, zero refused with the field named.
        let cool = resolve("[sync]\nculprit_cooldown_secs = 60\ncooldown_target_senders = 5\n").unwrap().cooldown;
        assert_eq!((cool.base.as_secs(), cool.target_senders), (60, 5));
        assert_eq!(resolve("").unwrap().cooldown.base.as_secs(), 3600, "an hour by default");
        let flag = |secs| FlagValues {
            config: Some(file.clone()),
            hold: HoldFlags { culprit_cooldown: Some(secs), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(Settings::resolve(&flag(7), &|_| None).unwrap().cooldown.base.as_secs(), 7);
        assert_eq!(Settings::resolve(&flag(0), &|_| None).unwrap_err().field, "--sync.culprit-cooldown");
        assert_eq!(resolve("[sync]\ncooldown_target_senders = 0\n").unwrap_err().field, "sync.cooldown_target_senders");
    }
}
