//! `surge-node`: the binary that wires the Surge node's crates together.

use surge_node::{config, deploy, dev};

// jemalloc, as reth: the node allocates per request and per block from many threads, where glibc's
// allocator spent about a tenth of the CPU under load (the rpc benchmark's profile).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (read at its start): unused pages go back to the system from jemalloc's own
/// thread, not inline in whichever call freed them; freed by one block, they were faulted in again by the
/// next (a tenth of building a block of transfers went to page faults).
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 23] = b"background_thread:true\0";

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
};

use alloy_primitives::{Address, U256};
use clap::{Parser, Subcommand};
use surge_primitives::L2Predeploys;

/// Surge L2 execution node with native L2→L1→L2 synchronous composability.
///
/// Settings come from flags, then the environment, then `--config`'s TOML file, then defaults.
#[derive(Debug, Parser)]
#[command(name = "surge-node", version, about)]
struct Cli {
    /// Run an embedded L1 and L2 on this machine with funded dev accounts.
    #[arg(long)]
    dev: bool,

    /// A TOML configuration file (see etc/surge-node.toml).
    #[arg(long)]
    config: Option<PathBuf>,

    /// Where chain data lives (dev mode: `l1/` and `l2/` inside). Env: SURGE_DATADIR.
    #[arg(long)]
    datadir: Option<PathBuf>,

    /// Run this L2 genesis (as `surge-node deploy` writes it) against `--l1.rpc-url`.
    #[arg(long)]
    chain: Option<PathBuf>,

    /// The address the RPC servers listen on [default: 127.0.0.1].
    #[arg(long = "http.addr")]
    http_addr: Option<IpAddr>,

    /// The L2 RPC port, HTTP and WebSocket [default: 8547].
    #[arg(long = "http.port")]
    http_port: Option<u16>,

    /// Origins browsers may call the RPC from, comma-separated (`*` for any) [default: none].
    #[arg(long = "http.corsdomain", value_delimiter = ',')]
    cors: Option<Vec<String>>,

    /// Dev mode: the embedded L1's RPC port [default: 8545].
    #[arg(long = "l1.http.port")]
    l1_http_port: Option<u16>,

    /// An external L1 instead of the embedded one. Env: L1_RPC_URL.
    #[arg(long = "l1.rpc-url")]
    l1_rpc_url: Option<String>,

    /// Seconds between blocks; 0 = as soon as transactions arrive (L2 blocks stay ≥ 1 s apart) [default: 1].
    /// Env: SURGE_BLOCK_TIME.
    #[arg(long = "block-time")]
    block_time: Option<u64>,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `surge_builder=debug,info`. Env: RUST_LOG.
    #[arg(long)]
    log: Option<String>,

    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9001).
    #[arg(long)]
    metrics: Option<SocketAddr>,

    /// Also serve the `surge_*` methods alone on this address, for apps built against Catalyst's realtime
    /// sequencer (its default: 127.0.0.1:4545). They are on the L2 endpoint anyway.
    #[arg(long = "surge.compat-addr")]
    surge_compat_addr: Option<SocketAddr>,

    /// Make every Nth block commit durable (fsync); the blocks between are logged without waiting for the
    /// disk and survive a crash of the process, not a power cut. 1 = every block [default: 64].
    /// Env: SURGE_DB_DURABLE_EVERY.
    #[arg(long = "db.durable-every", value_name = "BLOCKS")]
    durable_every: Option<u64>,

    /// How long a transaction that consumes an answer not received yet waits in the pool for its plan
    /// before it is rejected [default: 60]. File: [sync] hold_max_age_secs.
    #[arg(long = "sync.hold-max-age", value_name = "SECONDS")]
    hold_max_age: Option<u64>,

    /// How many such transactions wait at once; more are rejected [default: 4096]. File: [sync]
    /// hold_max_txs.
    #[arg(long = "sync.hold-max-txs", value_name = "TXS")]
    hold_max_txs: Option<u64>,

    /// How many of one sender wait at once [default: 16]. File: [sync] hold_per_sender.
    #[arg(long = "sync.hold-per-sender", value_name = "TXS")]
    hold_per_sender: Option<u64>,
    /// How long the sender of a transaction that made a proposal revert on L1 is not planned, doubling with
    /// each repeat [default: 3600]. File: [sync] culprit_cooldown_secs.
    #[arg(long = "sync.culprit-cooldown", value_name = "SECONDS")]
    culprit_cooldown: Option<u64>,

    /// Most executable transactions per sender; its later in-order ones wait queued [default: 16].
    /// File: [txpool] account_slots.
    #[arg(long = "txpool.accountslots", value_name = "TXS")]
    txpool_account_slots: Option<u64>,

    /// Most queued (nonce-gapped, unaffordable or beyond the account slots) transactions per sender; more
    /// are refused [default: 64]. File: [txpool] account_queue.
    #[arg(long = "txpool.accountqueue", value_name = "TXS")]
    txpool_account_queue: Option<u64>,

    /// How long a sender may send nothing before its queued transactions are evicted [default: 10800, three
    /// hours]. File: [txpool] lifetime_secs.
    #[arg(long = "txpool.lifetime", value_name = "SECONDS")]
    txpool_lifetime: Option<u64>,

    /// Most megabytes of pending transactions; the cheapest are evicted beyond [default: 20]. File:
    /// [txpool] pending_max_size.
    #[arg(long = "txpool.pending-max-size", value_name = "MB")]
    txpool_pending_max_size: Option<u64>,

    /// Most megabytes of queued transactions; the cheapest are evicted beyond [default: 20]. File:
    /// [txpool] queued_max_size.
    #[arg(long = "txpool.queued-max-size", value_name = "MB")]
    txpool_queued_max_size: Option<u64>,

    /// Who receives the L2 blocks' fees; required with `--chain` (dev mode: dev account 0).
    /// Env: L2_SUGGESTED_FEE_RECIPIENT.
    #[arg(long = "fee-recipient")]
    fee_recipient: Option<Address>,

    /// L1 bridge. Env: L1_BRIDGE_ADDRESS.
    #[arg(long = "l1.bridge")]
    l1_bridge: Option<Address>,
    /// L1 signal service. Env: L1_SIGNAL_SERVICE_ADDRESS.
    #[arg(long = "l1.signal-service")]
    l1_signal_service: Option<Address>,
    /// Realtime inbox. Env: REALTIME_INBOX_ADDRESS.
    #[arg(long = "l1.inbox")]
    l1_inbox: Option<Address>,
    /// Proposer multicall. Env: PROPOSER_MULTICALL_ADDRESS.
    #[arg(long = "l1.multicall")]
    l1_multicall: Option<Address>,
    /// The user-op wallets' factory (unset: no user ops). Env: USER_OPS_FACTORY_ADDRESS.
    #[arg(long = "l1.user-ops-factory")]
    l1_user_ops_factory: Option<Address>,
    /// L2 bridge. Env: L2_BRIDGE_ADDRESS (aliases TAIKO_BRIDGE_L2_ADDRESS, BRIDGE_L2_ADDRESS).
    #[arg(long = "l2.bridge")]
    l2_bridge: Option<Address>,
    /// L2 signal service. Env: L2_SIGNAL_SERVICE_ADDRESS.
    #[arg(long = "l2.signal-service")]
    l2_signal_service: Option<Address>,
    /// L2 anchor. Env: TAIKO_ANCHOR_ADDRESS.
    #[arg(long = "l2.anchor")]
    l2_anchor: Option<Address>,

    /// When the proposer, the txpool watcher or an L1 follower fails, keep answering RPC (`GET /ready` answers
    /// 503 naming it) instead of stopping with exit code 2.
    #[arg(long = "keep-serving")]
    keep_serving: bool,

    /// The proposer.
    #[command(flatten, next_help_heading = "Proposer")]
    proposer: surge_node::proposer_config::ProposerFlags,

    /// RPC limits.
    #[command(flatten, next_help_heading = "RPC limits")]
    rpc: surge_node::rpc_config::RpcFlags,

    /// Statuses and readiness.
    #[command(flatten, next_help_heading = "Statuses and readiness")]
    status: surge_node::status_config::StatusFlags,

    /// Raiko (real proofs).
    #[command(flatten, next_help_heading = "Raiko (real proofs)")]
    raiko: surge_node::raiko_config::RaikoFlags,

    /// A tool to run instead of the node.
    #[command(subcommand)]
    tool: Option<Tool>,
}

impl Cli {
    fn flags(&self) -> config::FlagValues {
        config::FlagValues {
            dev: self.dev,
            config: self.config.clone(),
            datadir: self.datadir.clone(),
            chain: self.chain.clone(),
            http_addr: self.http_addr,
            http_port: self.http_port,
            cors: self.cors.clone(),
            l1_http_port: self.l1_http_port,
            fee_recipient: self.fee_recipient,
            l1_rpc_url: self.l1_rpc_url.clone(),
            block_time: self.block_time,
            log: self.log.clone(),
            metrics: self.metrics,
            surge_compat_addr: self.surge_compat_addr,
            durable_every: self.durable_every,
            hold: config::HoldFlags {
                max_age: self.hold_max_age,
                max_txs: self.hold_max_txs,
                per_sender: self.hold_per_sender,
                culprit_cooldown: self.culprit_cooldown,
            },
            txpool: surge_node::txpool_config::TxPoolFlags {
                account_slots: self.txpool_account_slots,
                account_queue: self.txpool_account_queue,
                lifetime: self.txpool_lifetime,
                pending_max_size: self.txpool_pending_max_size,
                queued_max_size: self.txpool_queued_max_size,
            },
            protocol: config::ProtocolOverrides {
                l1_bridge: self.l1_bridge,
                l1_resolver: None,
                l1_proof_verifier: None,
                l1_signal_service: self.l1_signal_service,
                l1_inbox: self.l1_inbox,
                l1_multicall: self.l1_multicall,
                l1_user_ops_factory: self.l1_user_ops_factory,
                l2_bridge: self.l2_bridge,
                l2_signal_service: self.l2_signal_service,
                l2_anchor: self.l2_anchor,
            },
            proposer: self.proposer.clone(),
            rpc: self.rpc.clone(),
            status: self.status.clone(),
            raiko: self.raiko.clone(),
            keep_serving: self.keep_serving,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Deploy the L1 protocol and the example apps to an external L1, fund its bridge, generate the L2
    /// genesis that points at it, activate the inbox with it, and write `l2-genesis.json`, `surge-node.toml`
    /// and `addresses.json`.
    Deploy {
        /// The L1 endpoint.
        #[arg(long = "l1.rpc-url")]
        l1_rpc_url: String,
        /// The deployer's private key (owner of the contracts and the proposer multicall), hex
        /// [default: dev account 0]. Prefer --deployer-key-file or the environment: a key on the command line
        /// is visible in the process list.
        #[arg(long, env = "DEPLOYER_PRIVATE_KEY", hide_env_values = true)]
        private_key: Option<String>,
        /// A file holding the deployer's private key (hex); wins over --private-key and DEPLOYER_PRIVATE_KEY.
        #[arg(long, value_name = "PATH")]
        deployer_key_file: Option<PathBuf>,
        /// Allow the public dev accounts (the test mnemonic's) as deployer and mock-proof signer on an L1
        /// that is not a dev chain (chain id 1337, 31337 or the dev L1's 3151908), where anyone could sign
        /// with them.
        #[arg(long)]
        allow_dev_keys: bool,
        /// The L2 chain id.
        #[arg(long, default_value_t = surge_genesis::DEV_L2_CHAIN_ID)]
        l2_chain_id: u64,
        /// The mock-proof signer [default: dev account 1].
        #[arg(long)]
        prover_signer: Option<Address>,
        /// The coinbase's share of the L2 base fee, percent.
        #[arg(long, default_value_t = surge_genesis::DEV_BASEFEE_SHARING_PCTG)]
        basefee_sharing_pctg: u8,
        /// Where to write the files.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// ETH to send to the L1 bridge, which pays out the value of messages from L2. On a dev L1 the L2
        /// genesis funds the public dev accounts, so anyone can bridge that out: send only what you can lose.
        #[arg(long, value_name = "ETH", default_value = "10", value_parser = parse_ether)]
        bridge_funding: U256,
        /// ETH of liquidity in each example-app pool (the swap pool pairs it with 2000 tokens per ETH).
        #[arg(long, value_name = "ETH", default_value = "10", value_parser = parse_ether)]
        app_liquidity: U256,
        /// Deploy the protocol only, without the example apps.
        #[arg(long)]
        no_example_apps: bool,
    },
    /// Print the L2 predeploy addresses derived from a chain id.
    Predeploys {
        /// The L2 chain id.
        chain_id: u64,
    },
    /// Generate the dev network's genesis files (L1 and L2) and its address book.
    DevGenesis {
        /// Directory to write l1-genesis.json, l2-genesis.json and addresses.json into.
        #[arg(long, default_value = "etc/dev")]
        out: PathBuf,
        /// The L1 chain id.
        #[arg(long, default_value_t = surge_genesis::DEV_L1_CHAIN_ID)]
        l1_chain_id: u64,
        /// The L2 chain id.
        #[arg(long, default_value_t = surge_genesis::DEV_L2_CHAIN_ID)]
        l2_chain_id: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.tool {
        Some(Tool::Predeploys { chain_id }) => {
            let p = L2Predeploys::for_chain(chain_id);
            println!("bridge          {}", p.bridge);
            println!("signal_service  {}", p.signal_service);
            println!("resolver        {}", p.resolver);
            println!("anchor          {}", p.anchor);
            ExitCode::SUCCESS
        }
        Some(Tool::DevGenesis { out, l1_chain_id, l2_chain_id }) => {
            match surge_genesis::generate(l1_chain_id, l2_chain_id).and_then(|net| surge_genesis::write(&net, &out)) {
                Ok(()) => {
                    println!("wrote l1-genesis.json, l2-genesis.json and addresses.json to {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("surge-node dev-genesis: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Tool::Deploy {
            l1_rpc_url,
            private_key,
            deployer_key_file,
            allow_dev_keys,
            l2_chain_id,
            prover_signer,
            basefee_sharing_pctg,
            out,
            bridge_funding,
            app_liquidity,
            no_example_apps,
        }) => {
            let keys = match surge_genesis::dev_keys(2) {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("surge-node deploy: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let key = match (private_key, deployer_key_file) {
                (_, Some(path)) => {
                    surge_node::proposer_config::key_from_file("--deployer-key-file", &path).map(|k| k.0)
                }
                // The key itself never goes into the message.
                (Some(text), None) => {
                    text.trim().parse::<alloy::signers::local::PrivateKeySigner>().map_err(|_| config::ConfigError {
                        field: "--private-key (DEPLOYER_PRIVATE_KEY)".into(),
                        reason: "not a 32-byte hex private key".into(),
                    })
                }
                (None, None) => Ok(keys[0].clone()),
            };
            let key = match key {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("surge-node deploy: invalid configuration: {e}");
                    return ExitCode::from(2);
                }
            };
            let args = deploy::DeployArgs {
                l1_rpc_url,
                key,
                l2_chain_id,
                prover_signer: prover_signer.unwrap_or(keys[1].address()),
                basefee_sharing_pctg,
                out,
                bridge_funding,
                app_liquidity: (!no_example_apps).then_some(app_liquidity),
                allow_dev_keys,
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("surge-node deploy: starting the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(deploy::run(&args)) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) if e.downcast_ref::<config::ConfigError>().is_some() => {
                    eprintln!("surge-node deploy: invalid configuration: {e:#}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("surge-node deploy: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        None if cli.dev || cli.chain.is_some() => run_node(&cli),
        None => {
            eprintln!(
                "surge-node: nothing to run: use --dev, or --chain <l2-genesis.json> with --l1.rpc-url (see --help)"
            );
            ExitCode::from(2)
        }
    }
}

fn run_node(cli: &Cli) -> ExitCode {
    let settings = match config::Settings::resolve(&cli.flags(), &|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("surge-node: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&settings.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("surge-node: invalid configuration: log: {:?}: {e}", settings.log);
            return ExitCode::from(2);
        }
    };
    // Colour only for a person at a terminal: a file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("surge-node: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = if cli.dev { runtime.block_on(dev::run(settings)) } else { runtime.block_on(dev::run_node(settings)) };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let stopped = e.downcast_ref::<surge_node::supervisor::TaskFailed>().is_some();
            let code = if e.downcast_ref::<config::ConfigError>().is_some() || stopped { 2 } else { 1 };
            eprintln!("surge-node: {e:#}");
            ExitCode::from(code)
        }
    }
}

/// An ETH amount as `100` or `0.5` (ether, up to 18 decimals), in wei.
fn parse_ether(s: &str) -> Result<U256, String> {
    alloy::primitives::utils::parse_ether(s).map_err(|e| format!("not an ETH amount ({e})"))
}
