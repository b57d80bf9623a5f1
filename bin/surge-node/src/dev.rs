//! `surge-node --dev`: an embedded L1 (Ethereum rules, the L1 protocol from the dev genesis) and an L2
//! (Taiko rules through the surge builder, anchoring to the embedded L1's head), both with the dev accounts
//! funded, until Ctrl-C.

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy_primitives::{Address, aliases::U48};
use surge_builder::{BlockInputs, CheckpointSource, InputQueue};
use surge_host::{
    ChainSpec, Store,
    l2_builder::SurgeHostBuilder,
    producer::{EthereumPayloadBuilder, ProductionMode},
};
use surge_primitives::Checkpoint;
use surge_rpc::RpcServerConfig;

use crate::launch::OpenChain;

/// The committed dev genesis files, built into the binary so `--dev` works from any directory.
const L1_GENESIS: &str = include_str!("../../../etc/dev/l1-genesis.json");
const L2_GENESIS: &str = include_str!("../../../etc/dev/l2-genesis.json");
const ADDRESSES: &str = include_str!("../../../etc/dev/addresses.json");

/// How the dev network runs.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where both chains keep their data (`l1/` and `l2/` inside).
    pub datadir: PathBuf,
    /// The L2's RPC endpoint.
    pub l2_rpc: RpcServerConfig,
    /// The L1's RPC endpoint.
    pub l1_rpc: RpcServerConfig,
    /// Time between blocks; zero = a block as soon as transactions arrive.
    pub block_time: Duration,
}

/// The embedded L1's head as the anchor's checkpoint.
struct L1Head(Arc<Store>);

impl CheckpointSource for L1Head {
    fn checkpoint(&self) -> Result<Checkpoint, Box<dyn std::error::Error + Send + Sync>> {
        let head = self.0.head()?;
        Ok(Checkpoint {
            blockNumber: U48::from(head.header.number),
            blockHash: head.hash,
            stateRoot: head.header.state_root,
        })
    }
}

fn spec(json: &str, name: &str) -> eyre::Result<ChainSpec> {
    let genesis = serde_json::from_str(json).map_err(|e| eyre::eyre!("the built-in {name} genesis: {e}"))?;
    Ok(ChainSpec::from_genesis(genesis)?)
}

/// Runs the dev network until Ctrl-C.
pub async fn run(opts: DevOptions) -> eyre::Result<()> {
    let l1 = OpenChain::open("L1", spec(L1_GENESIS, "L1")?, &opts.datadir.join("l1"))?;
    let l2 = OpenChain::open("L2", spec(L2_GENESIS, "L2")?, &opts.datadir.join("l2"))?;
    let mode = match opts.block_time {
        d if d.is_zero() => ProductionMode::Instant { tick: Duration::from_millis(100) },
        d => ProductionMode::Interval(d),
    };
    // L2 timestamps must grow by at least a second: instant mode on L2 still waits a second per block.
    let l2_mode = match mode {
        ProductionMode::Instant { .. } => ProductionMode::Interval(Duration::from_secs(1)),
        m => m,
    };

    let l1_builder = EthereumPayloadBuilder { spec: l1.spec.clone(), pool: l1.pool.clone() };
    let inputs: Arc<dyn BlockInputs> = Arc::new(InputQueue::new());
    let checkpoints = Arc::new(L1Head(l1.store.clone()));
    let l2_builder = SurgeHostBuilder::new(l2.spec.clone(), l2.pool.clone(), inputs, checkpoints)?;
    let keys = surge_genesis::dev_keys(10)?;
    let sequencer = keys.first().map_or(Address::ZERO, |k| k.address());

    let l1 = l1.start(Box::new(l1_builder), mode, opts.l1_rpc.clone(), None, Address::ZERO).await?;
    // Until proposals are proved on L1, L2's safe and finalized block is genesis.
    let finalized = Some(Arc::new(std::sync::atomic::AtomicU64::new(0)));
    let l2 = l2.start(Box::new(l2_builder), l2_mode, opts.l2_rpc.clone(), finalized, sequencer).await?;

    println!("surge-node dev network (data in {})", opts.datadir.display());
    println!("  L1  chain {:>8}  http+ws://{}", l1.spec.chain_id, l1.rpc_addr);
    println!("  L2  chain {:>8}  http+ws://{}", l2.spec.chain_id, l2.rpc_addr);
    println!("dev accounts (10,000 ETH on both chains; mnemonic \"{}\"):", surge_genesis::DEV_MNEMONIC);
    for (i, key) in keys.iter().enumerate() {
        println!("  ({i}) {}  0x{}", key.address(), alloy_primitives::hex::encode(key.to_bytes()));
    }
    let addresses: serde_json::Value = serde_json::from_str(ADDRESSES)?;
    tracing::info!(addresses = %addresses["protocol"], "protocol contracts");
    tracing::info!(l1 = %l1.rpc_addr, l2 = %l2.rpc_addr, "serving");

    shutdown_signal().await?;
    println!("shutting down");
    l2.stop().await;
    l1.stop().await;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> eyre::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
