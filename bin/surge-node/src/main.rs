//! `surge-node`: the binary that wires the Surge node's crates together.

mod dev;
mod launch;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::{Parser, Subcommand};
use surge_primitives::L2Predeploys;

/// Surge L2 execution node with native L2→L1→L2 synchronous composability.
#[derive(Debug, Parser)]
#[command(name = "surge-node", version, about)]
struct Cli {
    /// Run an embedded L1 and L2 on this machine with funded dev accounts.
    #[arg(long)]
    dev: bool,

    /// Where chain data lives (dev mode: `l1/` and `l2/` inside).
    #[arg(long, env = "SURGE_DATADIR")]
    datadir: Option<PathBuf>,

    /// The address the RPC server listens on.
    #[arg(long = "http.addr", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    http_addr: IpAddr,

    /// The L2 RPC port (HTTP and WebSocket).
    #[arg(long = "http.port", default_value_t = 8547)]
    http_port: u16,

    /// Dev mode: the embedded L1's RPC port.
    #[arg(long = "l1.http.port", default_value_t = 8545)]
    l1_http_port: u16,

    /// Seconds between blocks; 0 = a block as soon as transactions arrive (L2 blocks stay ≥ 1 s apart).
    #[arg(long = "block-time", default_value_t = 1)]
    block_time: u64,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `surge_builder=debug,info`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,

    /// A tool to run instead of the node.
    #[command(subcommand)]
    tool: Option<Tool>,
}

#[derive(Debug, Subcommand)]
enum Tool {
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
        None if cli.dev => run_dev(&cli),
        None => {
            eprintln!("surge-node: without --dev, a node needs an L1 and a chain; only --dev is available so far");
            ExitCode::from(2)
        }
    }
}

fn default_datadir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("surge-node").join("dev")
}

fn run_dev(cli: &Cli) -> ExitCode {
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("surge-node: --log {:?}: {e}", cli.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let rpc = |port| surge_rpc::RpcServerConfig { addr: SocketAddr::new(cli.http_addr, port), ..Default::default() };
    let opts = dev::DevOptions {
        datadir: cli.datadir.clone().unwrap_or_else(default_datadir),
        l2_rpc: rpc(cli.http_port),
        l1_rpc: rpc(cli.l1_http_port),
        block_time: Duration::from_secs(cli.block_time),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("surge-node: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dev::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("surge-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}
