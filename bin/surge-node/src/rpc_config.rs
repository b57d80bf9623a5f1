//! The RPC server's limits: flags with geth's or reth's names where they have one, `[rpc]` in the file,
//! defaults that keep a public endpoint up. Every count must be at least 1; each error names its flag or
//! key.

use std::time::Duration;

use serde::Deserialize;
use surge_rpc::{ApiSet, ExecLimits, RpcLimits, RpcServerConfig};

use crate::config::{ConfigError, err};

/// RPC flags (`None` = not given).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct RpcFlags {
    /// Namespaces served over HTTP, comma-separated, or `all` [default: eth,net,web3,surge; --dev: all].
    /// `debug` and `txpool` are served only when listed.
    #[arg(long = "http.api", value_name = "LIST")]
    pub http_api: Option<String>,
    /// Namespaces served over WebSocket, as `--http.api` [default: eth,net,web3,surge; --dev: all].
    #[arg(long = "ws.api", value_name = "LIST")]
    pub ws_api: Option<String>,
    /// Host names HTTP requests may be addressed to, comma-separated (`*` for any; IP addresses always
    /// pass) [default: localhost].
    #[arg(long = "http.vhosts", value_name = "HOSTS", value_delimiter = ',')]
    pub vhosts: Option<Vec<String>>,
    /// Page origins that may open a WebSocket, comma-separated (`*` for any; clients that send no Origin,
    /// such as cast, always may) [default: localhost].
    #[arg(long = "ws.origins", value_name = "ORIGINS", value_delimiter = ',')]
    pub ws_origins: Option<Vec<String>>,
    /// How long one eth_call, eth_estimateGas or trace may execute, e.g. `5s` or `500ms` [default: 5s].
    #[arg(long = "rpc.evmtimeout", value_name = "DURATION")]
    pub evm_timeout: Option<String>,
    /// Gas an eth_call or eth_estimateGas runs with at most [default: 50000000].
    #[arg(long = "rpc.gascap", value_name = "GAS")]
    pub gas_cap: Option<u64>,
    /// eth_calls and eth_estimateGases executing at once [default: the cores, at least 2].
    #[arg(long = "rpc.max-call-requests", value_name = "N")]
    pub max_calls: Option<usize>,
    /// Traces executing at once [default: the cores].
    #[arg(long = "rpc.max-tracing-requests", value_name = "N")]
    pub max_traces: Option<usize>,
    /// Bytes a struct-logger trace may record before it is refused [default: 134217728].
    #[arg(long = "rpc.max-trace-bytes", value_name = "BYTES")]
    pub max_trace_bytes: Option<u64>,
    /// Addresses, and topics per position, one log filter may list [default: 1000].
    #[arg(long = "rpc.logquerylimit", value_name = "N")]
    pub log_query_limit: Option<usize>,
    /// Blocks one eth_getLogs may scan [default: 10000].
    #[arg(long = "rpc.max-blocks-per-filter", value_name = "BLOCKS")]
    pub max_blocks_per_filter: Option<u64>,
    /// Logs one eth_getLogs may return [default: 20000].
    #[arg(long = "rpc.max-logs-per-response", value_name = "N")]
    pub max_logs: Option<usize>,
    /// Polling filters installed at once [default: 10000].
    #[arg(long = "rpc.max-filters", value_name = "N")]
    pub max_filters: Option<usize>,
    /// Blocks below the head eth_getProof answers at; blocks from `finalized` up always are [default: 8192].
    #[arg(long = "rpc.eth-proof-window", value_name = "BLOCKS")]
    pub proof_window: Option<u64>,
    /// Subscriptions one WebSocket connection may hold [default: 128].
    #[arg(long = "rpc.max-subscriptions-per-connection", value_name = "N")]
    pub max_subscriptions: Option<u32>,
    /// Calls one WebSocket connection may have in flight [default: 32].
    #[arg(long = "ws.max-in-flight", value_name = "N")]
    pub max_in_flight: Option<usize>,
    /// Open RPC connections [default: 500].
    #[arg(long = "rpc.max-connections", value_name = "N")]
    pub max_connections: Option<u32>,
    /// Calls one batch may hold [default: 1000].
    #[arg(long = "rpc.batch-request-limit", value_name = "N")]
    pub max_batch: Option<u32>,
    /// Largest request, in MB [default: 15].
    #[arg(long = "rpc.max-request-size", value_name = "MB")]
    pub max_request_mb: Option<u32>,
    /// Largest response, in MB [default: 160].
    #[arg(long = "rpc.max-response-size", value_name = "MB")]
    pub max_response_mb: Option<u32>,
    /// Threads answering surge_simulateReturnMessage and reverting eth_calls' answers, below the txpool
    /// watcher's priority [default: 2].
    #[arg(long = "rpc.simulation-workers", value_name = "N")]
    pub simulation_workers: Option<usize>,
    /// Those simulations waiting for a thread at most; more are refused with -32005 [default: 64].
    #[arg(long = "rpc.simulation-queue", value_name = "N")]
    pub simulation_queue: Option<usize>,
    /// Bytes of calldata those waiting simulations hold at most [default: 16777216].
    #[arg(long = "rpc.simulation-queue-bytes", value_name = "BYTES")]
    pub simulation_queue_bytes: Option<usize>,
}

/// `[rpc]` in the file: the flags' names in snake case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    http_api: Option<String>,
    ws_api: Option<String>,
    vhosts: Option<Vec<String>>,
    ws_origins: Option<Vec<String>>,
    evm_timeout: Option<String>,
    gas_cap: Option<u64>,
    max_call_requests: Option<usize>,
    max_tracing_requests: Option<usize>,
    max_trace_bytes: Option<u64>,
    log_query_limit: Option<usize>,
    max_blocks_per_filter: Option<u64>,
    max_logs_per_response: Option<usize>,
    max_filters: Option<usize>,
    eth_proof_window: Option<u64>,
    max_subscriptions_per_connection: Option<u32>,
    ws_max_in_flight: Option<usize>,
    max_connections: Option<u32>,
    batch_request_limit: Option<u32>,
    max_request_size: Option<u32>,
    max_response_size: Option<u32>,
    simulation_workers: Option<usize>,
    simulation_queue: Option<usize>,
    simulation_queue_bytes: Option<usize>,
}

/// The RPC settings, resolved.
#[derive(Debug, Clone)]
pub struct RpcSettings {
    /// The server's limits (its address is set per chain).
    pub server: RpcServerConfig,
    /// Whether `--http.api` or `--ws.api` was given (dev mode serves every namespace otherwise).
    pub apis_given: bool,
    /// Per-request limits.
    pub limits: RpcLimits,
    /// Execution threads, semaphores and the deadline.
    pub exec: ExecLimits,
    /// The workers answering RPC simulations, and their queue.
    pub simulations: surge_exex::RpcSimConfig,
}

/// The value of the first of `(field, value)` given (flag, then file key), or `default`; zero is refused,
/// naming the field.
pub(crate) fn at_least_one<T: Copy + PartialEq + From<u8>>(
    given: [(&str, Option<T>); 2],
    default: T,
) -> Result<T, ConfigError> {
    match given.into_iter().find_map(|(field, value)| value.map(|v| (field, v))) {
        Some((field, v)) if v == T::from(0) => Err(err(field, "must be at least 1")),
        Some((_, v)) => Ok(v),
        None => Ok(default),
    }
}

/// The longest a request may be allowed to execute.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// `5s`, `500ms`, `2m` or plain seconds.
fn parse_duration(field: &str, text: &str) -> Result<Duration, ConfigError> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err(field, format!("{text:?} is not a duration like 5s or 500ms")))?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(err(field, format!("{text:?}: unknown unit {unit:?} (ms, s or m)"))),
    };
    if duration.is_zero() || duration > MAX_DURATION {
        return Err(err(field, "must be longer than zero and at most an hour"));
    }
    Ok(duration)
}

impl RpcSection {
    /// Flags over the file over the defaults.
    pub fn resolve(
        &self,
        flags: &RpcFlags,
        max_request_size: u32,
        cors: Vec<String>,
    ) -> Result<RpcSettings, ConfigError> {
        let apis = |flag: &str, f: &Option<String>, key: &str, k: &Option<String>| -> Result<ApiSet, ConfigError> {
            match (f, k) {
                (Some(list), _) => ApiSet::parse(list).map_err(|e| err(flag, e)),
                (None, Some(list)) => ApiSet::parse(list).map_err(|e| err(key, e)),
                (None, None) => Ok(ApiSet::default()),
            }
        };
        let (server_default, limits_default, exec_default) =
            (RpcServerConfig::default(), RpcLimits::default(), ExecLimits::default());
        let evm_timeout = match (&flags.evm_timeout, &self.evm_timeout) {
            (Some(t), _) => parse_duration("--rpc.evmtimeout", t)?,
            (None, Some(t)) => parse_duration("rpc.evm_timeout", t)?,
            (None, None) => exec_default.timeout,
        };
        let response_mb = at_least_one(
            [("--rpc.max-response-size", flags.max_response_mb), ("rpc.max_response_size", self.max_response_size)],
            server_default.max_response_size >> 20,
        )?;
        let request_mb =
            [("--rpc.max-request-size", flags.max_request_mb), ("rpc.max_request_size", self.max_request_size)];
        let max_request_size = match request_mb.iter().any(|(_, v)| v.is_some()) {
            true => at_least_one(request_mb, 1)?.saturating_mul(1 << 20),
            false => max_request_size,
        };
        let server = RpcServerConfig {
            max_request_size,
            max_response_size: response_mb.saturating_mul(1 << 20),
            max_batch: at_least_one(
                [("--rpc.batch-request-limit", flags.max_batch), ("rpc.batch_request_limit", self.batch_request_limit)],
                server_default.max_batch,
            )?,
            max_connections: at_least_one(
                [("--rpc.max-connections", flags.max_connections), ("rpc.max_connections", self.max_connections)],
                server_default.max_connections,
            )?,
            cors,
            http_api: apis("--http.api", &flags.http_api, "rpc.http_api", &self.http_api)?,
            ws_api: apis("--ws.api", &flags.ws_api, "rpc.ws_api", &self.ws_api)?,
            vhosts: flags.vhosts.clone().or(self.vhosts.clone()).unwrap_or(server_default.vhosts),
            ws_origins: flags.ws_origins.clone().or(self.ws_origins.clone()).unwrap_or(server_default.ws_origins),
            max_subscriptions: at_least_one(
                [
                    ("--rpc.max-subscriptions-per-connection", flags.max_subscriptions),
                    ("rpc.max_subscriptions_per_connection", self.max_subscriptions_per_connection),
                ],
                server_default.max_subscriptions,
            )?,
            max_in_flight: at_least_one(
                [("--ws.max-in-flight", flags.max_in_flight), ("rpc.ws_max_in_flight", self.ws_max_in_flight)],
                server_default.max_in_flight,
            )?,
            ..server_default
        };
        let limits = RpcLimits {
            max_log_range: at_least_one(
                [
                    ("--rpc.max-blocks-per-filter", flags.max_blocks_per_filter),
                    ("rpc.max_blocks_per_filter", self.max_blocks_per_filter),
                ],
                limits_default.max_log_range,
            )?,
            max_logs: at_least_one(
                [
                    ("--rpc.max-logs-per-response", flags.max_logs),
                    ("rpc.max_logs_per_response", self.max_logs_per_response),
                ],
                limits_default.max_logs,
            )?,
            log_query_limit: at_least_one(
                [("--rpc.logquerylimit", flags.log_query_limit), ("rpc.log_query_limit", self.log_query_limit)],
                limits_default.log_query_limit,
            )?,
            max_filters: at_least_one(
                [("--rpc.max-filters", flags.max_filters), ("rpc.max_filters", self.max_filters)],
                limits_default.max_filters,
            )?,
            gas_cap: at_least_one(
                [("--rpc.gascap", flags.gas_cap), ("rpc.gas_cap", self.gas_cap)],
                limits_default.gas_cap,
            )?,
            max_trace_bytes: at_least_one(
                [("--rpc.max-trace-bytes", flags.max_trace_bytes), ("rpc.max_trace_bytes", self.max_trace_bytes)],
                limits_default.max_trace_bytes,
            )?,
            // Zero is a window of its own: only the head and blocks from `finalized` up.
            proof_window: flags.proof_window.or(self.eth_proof_window).unwrap_or(limits_default.proof_window),
            ..limits_default
        };
        let exec = ExecLimits {
            calls: at_least_one(
                [("--rpc.max-call-requests", flags.max_calls), ("rpc.max_call_requests", self.max_call_requests)],
                exec_default.calls,
            )?,
            traces: at_least_one(
                [
                    ("--rpc.max-tracing-requests", flags.max_traces),
                    ("rpc.max_tracing_requests", self.max_tracing_requests),
                ],
                exec_default.traces,
            )?,
            timeout: evm_timeout,
            background: true,
        };
        let sim_default = surge_exex::RpcSimConfig::default();
        let simulations = surge_exex::RpcSimConfig {
            workers: at_least_one(
                [
                    ("--rpc.simulation-workers", flags.simulation_workers),
                    ("rpc.simulation_workers", self.simulation_workers),
                ],
                sim_default.workers,
            )?,
            queue: at_least_one(
                [("--rpc.simulation-queue", flags.simulation_queue), ("rpc.simulation_queue", self.simulation_queue)],
                sim_default.queue,
            )?,
            queue_bytes: at_least_one(
                [
                    ("--rpc.simulation-queue-bytes", flags.simulation_queue_bytes),
                    ("rpc.simulation_queue_bytes", self.simulation_queue_bytes),
                ],
                sim_default.queue_bytes,
            )?,
        };
        let apis_given = [&flags.http_api, &flags.ws_api, &self.http_api, &self.ws_api].iter().any(|a| a.is_some());
        Ok(RpcSettings { server, apis_given, limits, exec, simulations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_defaults_fill_the_rest_and_mistakes_name_their_field() {
        let file: RpcSection =
            toml::from_str("http_api = \"eth,debug\"\nevm_timeout = \"2s\"\nlog_query_limit = 5\nmax_filters = 7\n")
                .unwrap();
        let flags = RpcFlags { evm_timeout: Some("750ms".into()), log_query_limit: Some(9), ..Default::default() };
        let s = file.resolve(&flags, 1024, vec![]).unwrap();
        assert_eq!(s.exec.timeout, Duration::from_millis(750), "flag beats file");
        assert_eq!(s.limits.log_query_limit, 9);
        assert_eq!(s.limits.max_filters, 7, "file beats default");
        assert!(s.server.http_api.allows("debug_traceCall") && !s.server.ws_api.allows("debug_traceCall"));
        assert!(s.apis_given);
        assert_eq!(s.server.max_request_size, 1024);
        assert_eq!(s.limits.gas_cap, 50_000_000);

        let defaults = RpcSection::default().resolve(&RpcFlags::default(), 1, vec![]).unwrap();
        assert!(!defaults.apis_given && !defaults.server.http_api.allows("txpool_content"));
        assert_eq!(defaults.server.vhosts, ["localhost"]);

        let file: RpcSection = toml::from_str("simulation_workers = 3\nsimulation_queue_bytes = 1048576\n").unwrap();
        let flags = RpcFlags { simulation_queue: Some(8), simulation_workers: Some(1), ..Default::default() };
        let sims = file.resolve(&flags, 1, vec![]).unwrap().simulations;
        assert_eq!((sims.workers, sims.queue, sims.queue_bytes), (1, 8, 1 << 20), "flags, then the file");
        let none = RpcFlags { simulation_workers: Some(0), ..Default::default() };
        assert_eq!(RpcSection::default().resolve(&none, 1, vec![]).unwrap_err().field, "--rpc.simulation-workers");

        let zero = RpcFlags { max_traces: Some(0), ..Default::default() };
        let e = RpcSection::default().resolve(&zero, 1, vec![]).unwrap_err();
        assert_eq!(e.field, "--rpc.max-tracing-requests");
        let bad = RpcFlags { evm_timeout: Some("5 parsecs".into()), ..Default::default() };
        assert_eq!(RpcSection::default().resolve(&bad, 1, vec![]).unwrap_err().field, "--rpc.evmtimeout");
        let empty = RpcFlags { ws_api: Some(",".into()), ..Default::default() };
        assert_eq!(RpcSection::default().resolve(&empty, 1, vec![]).unwrap_err().field, "--ws.api");
        let file_zero: RpcSection = toml::from_str("max_connections = 0\n").unwrap();
        assert_eq!(file_zero.resolve(&RpcFlags::default(), 1, vec![]).unwrap_err().field, "rpc.max_connections");
    }
}
