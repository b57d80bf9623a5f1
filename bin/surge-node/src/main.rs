//! `surge-node`: the binary that wires the Surge node's crates together.
//!
//! Only the command line exists so far; the embedded L1/L2 dev network arrives with the JSON-RPC,
//! CLI and dev-mode work.

use std::process::ExitCode;

use clap::Parser;
use surge_primitives::L2Predeploys;

/// Surge L2 execution node with native L2→L1→L2 synchronous composability.
#[derive(Debug, Parser)]
#[command(name = "surge-node", version, about)]
struct Cli {
    /// Run an embedded L1 and L2 on this machine with funded dev accounts.
    #[arg(long)]
    dev: bool,

    /// Print the L2 predeploy addresses derived from this chain id, then exit.
    #[arg(long, value_name = "CHAIN_ID")]
    print_predeploys: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(chain_id) = cli.print_predeploys {
        let p = L2Predeploys::for_chain(chain_id);
        println!("bridge          {}", p.bridge);
        println!("signal_service  {}", p.signal_service);
        println!("resolver        {}", p.resolver);
        println!("anchor          {}", p.anchor);
        return ExitCode::SUCCESS;
    }
    if cli.dev {
        eprintln!("surge-node: dev mode is not available yet (it lands with the JSON-RPC, CLI and dev-network work)");
    } else {
        eprintln!("surge-node: nothing to run yet; see --help");
    }
    ExitCode::from(2)
}
