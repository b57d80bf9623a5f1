//! `surge-node`: the binary that wires the Surge node's crates together.
//!
//! The node itself (embedded L1/L2 dev network) arrives with the JSON-RPC, CLI and dev-mode work; the
//! tools below are available now.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use surge_primitives::L2Predeploys;

/// Surge L2 execution node with native L2→L1→L2 synchronous composability.
#[derive(Debug, Parser)]
#[command(name = "surge-node", version, about)]
struct Cli {
    /// Run an embedded L1 and L2 on this machine with funded dev accounts.
    #[arg(long)]
    dev: bool,

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
        None => {
            if cli.dev {
                eprintln!(
                    "surge-node: dev mode is not available yet (it lands with the JSON-RPC, CLI and dev-network work)"
                );
            } else {
                eprintln!("surge-node: nothing to run yet; see --help");
            }
            ExitCode::from(2)
        }
    }
}
