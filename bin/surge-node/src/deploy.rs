//! `surge-node deploy`: deploys the L1 protocol to an external L1 (resolver, signal service, bridge, mock
//! verifier behind the composite verifier, realtime inbox, proposer multicall) and the L1 halves of the
//! example apps with their liquidity, funds the L1 bridge, generates the L2 genesis that points at all of
//! it (predeploys and the apps' L2 halves), activates the inbox with that genesis, and writes a config file
//! for the node.

use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::SolCall;
use eyre::{WrapErr, eyre};
use surge_primitives::{L1Contracts, L2Predeploys, ProtocolConfig, bindings::inbox::RealTimeInbox};

use surge_l1::L1Client;

use crate::config::ConfigError;

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct DeployArgs {
    /// The L1 endpoint.
    pub l1_rpc_url: String,
    /// The deployer, owner of the contracts and of the proposer multicall.
    pub key: PrivateKeySigner,
    /// The L2 chain id.
    pub l2_chain_id: u64,
    /// Who signs mock proofs.
    pub prover_signer: Address,
    /// The coinbase's share of the L2 base fee.
    pub basefee_sharing_pctg: u8,
    /// Where to write `l2-genesis.json`, `surge-node.toml` and `addresses.json`.
    pub out: PathBuf,
    /// Wei sent to the L1 bridge, which pays out the value of messages from L2.
    pub bridge_funding: U256,
    /// The example apps' liquidity (wei per pool), or `None` to deploy no apps.
    pub app_liquidity: Option<U256>,
    /// Let the public dev keys deploy (or sign proofs) on an L1 that is not a dev chain.
    pub allow_dev_keys: bool,
}

/// L1 chain ids taken for dev chains: hardhat's and anvil's defaults, and the embedded dev L1's.
pub const DEV_L1_CHAIN_IDS: [u64; 3] = [1337, 31337, surge_genesis::DEV_L1_CHAIN_ID];

/// How many accounts of the public test mnemonic are recognised (anvil and hardhat hand out 10 or 20).
const KNOWN_DEV_ACCOUNTS: u32 = 20;

/// Whether `chain_id` is a dev L1, where the public dev keys and funded dev accounts are expected.
pub fn is_dev_l1(chain_id: u64) -> bool {
    DEV_L1_CHAIN_IDS.contains(&chain_id)
}

/// Refuses the public dev accounts as deployer or mock-proof signer on an L1 that is not a dev chain:
/// anyone holds their keys, so anyone could take the contracts over or sign proofs that drain the bridge.
/// The error names the account's address and the flag that allows it, never a key.
pub fn refuse_dev_keys(l1_chain_id: u64, deployer: Address, prover_signer: Address) -> Result<(), ConfigError> {
    if is_dev_l1(l1_chain_id) {
        return Ok(());
    }
    let dev: Vec<Address> = surge_genesis::dev_keys(KNOWN_DEV_ACCOUNTS)
        .map_err(|e| ConfigError { field: "dev keys".into(), reason: e.to_string() })?
        .iter()
        .map(|k| k.address())
        .collect();
    let index = |a: Address| dev.iter().position(|d| *d == a);
    let chain = format!("L1 chain {l1_chain_id} is not a dev chain ({DEV_L1_CHAIN_IDS:?})");
    if let Some(i) = index(deployer) {
        let reason = format!(
            "the deployer {deployer} is dev account {i} of the public test mnemonic and {chain}; anyone could sign \
             as the contracts' owner. Use your own key (--deployer-key-file or DEPLOYER_PRIVATE_KEY), or pass \
             --allow-dev-keys on a throwaway chain"
        );
        return Err(ConfigError { field: "--allow-dev-keys".into(), reason });
    }
    if let Some(i) = index(prover_signer) {
        let reason = format!(
            "the mock-proof signer {prover_signer} is dev account {i} of the public test mnemonic and {chain}; \
             anyone could sign proofs and drain the bridge. Pass --prover-signer with your signer's address, or \
             --allow-dev-keys on a throwaway chain"
        );
        return Err(ConfigError { field: "--allow-dev-keys".into(), reason });
    }
    Ok(())
}

/// Deploys and writes the files; returns the protocol configuration.
pub async fn run(args: &DeployArgs) -> eyre::Result<ProtocolConfig> {
    use alloy::providers::Provider;
    let l1 = L1Client::connect(&args.l1_rpc_url, std::time::Duration::from_secs(10)).await?;
    let l1_chain_id = l1.chain_id().await?;
    let owner = args.key.address();
    if !args.allow_dev_keys {
        refuse_dev_keys(l1_chain_id, owner, args.prover_signer)?;
    }
    let first = l1.run("eth_getTransactionCount", l1.provider().get_transaction_count(owner).pending()).await?;
    // Contracts go to their CREATE addresses, known before anything is sent.
    let at = |i: u64| owner.create(first + i);
    let contracts = L1Contracts {
        resolver: at(0),
        signal_service: at(1),
        bridge: at(2),
        proof_verifier: at(4),
        inbox: at(5),
        multicall: at(6),
        user_ops_factory: at(7),
    };
    let mock_verifier = at(3);
    let protocol = ProtocolConfig {
        l1_chain_id,
        l2_chain_id: args.l2_chain_id,
        l1: contracts,
        l2: L2Predeploys::for_chain(args.l2_chain_id),
        basefee_sharing_pctg: args.basefee_sharing_pctg,
    };
    protocol.validate().map_err(|e| eyre!("protocol configuration: {e}"))?;
    let liquidity = args.app_liquidity.map(surge_genesis::Liquidity::with_eth);
    let roles = surge_genesis::DevRoles { owner, proposer: owner, prover_signer: args.prover_signer };
    // The apps' creations follow the protocol's.
    let protocol_creations = surge_genesis::l1_creations(&protocol, mock_verifier, roles).len() as u64;
    let apps = liquidity.map(|_| {
        let at_app = |i: u64| at(protocol_creations + i);
        surge_genesis::ExampleApps::new(args.l2_chain_id, [at_app(0), at_app(1), at_app(2), at_app(3), at_app(4)])
    });
    // Only a dev L1's L2 funds the public dev accounts: elsewhere anyone could bridge that ETH out.
    let funded: Vec<Address> = if is_dev_l1(l1_chain_id) {
        surge_genesis::dev_keys(surge_genesis::DEV_RELAYER_INDEX + 1)?.iter().map(|k| k.address()).collect()
    } else {
        vec![]
    };
    let (l2_genesis, l2_genesis_hash) = surge_genesis::l2_genesis(&protocol, owner, &funded, apps.as_ref())?;

    // The creation order is the order of the predicted CREATE addresses above; each transaction waits for
    // its receipt, so the next nonce follows.
    let mut creations = surge_genesis::l1_creations(&protocol, mock_verifier, roles);
    if let (Some(apps), Some(liquidity)) = (&apps, &liquidity) {
        creations.extend(apps.l1_creations(&protocol, owner, liquidity));
    }
    for c in creations {
        let name = c.name;
        let receipt = l1.send(&args.key, TxKind::Create, c.creation_code(), name).await?;
        let deployed = receipt.contract_address.ok_or_else(|| eyre!("{name}: no contract address in the receipt"))?;
        eyre::ensure!(deployed == c.address, "{name} landed at {deployed}, expected {}", c.address);
        println!("  {name:<20} {deployed}");
    }
    for (chain_id, name, address) in surge_genesis::resolver_entries(&protocol) {
        let call = surge_genesis::set_address_call(chain_id, name, address);
        let what = format!("resolver {name} of chain {chain_id}");
        l1.send(&args.key, TxKind::Call(contracts.resolver), call.abi_encode(), &what).await?;
    }
    let activate = RealTimeInbox::activateCall { l2GenesisBlockHash: l2_genesis_hash };
    l1.send(&args.key, TxKind::Call(contracts.inbox), activate.abi_encode(), "inbox activation").await?;
    if let (Some(apps), Some(liquidity)) = (&apps, &liquidity) {
        for call in apps.l1_setup(liquidity) {
            l1.send_value(&args.key, TxKind::Call(call.to), call.value, call.data, call.what).await?;
        }
        for (name, address) in apps.named() {
            println!("  {name:<24} {address}");
        }
    }
    if !args.bridge_funding.is_zero() {
        let what = "funding the L1 bridge";
        l1.send_value(&args.key, TxKind::Call(contracts.bridge), args.bridge_funding, vec![], what).await?;
        println!("  funded the L1 bridge with {} wei", args.bridge_funding);
    }

    write_files(&args.out, &args.l1_rpc_url, &protocol, &l2_genesis, owner, mock_verifier)?;
    let addresses = serde_json::json!({ "protocol": protocol, "apps": apps, "l2GenesisHash": l2_genesis_hash });
    let addresses = serde_json::to_string_pretty(&addresses)? + "\n";
    std::fs::write(args.out.join("addresses.json"), addresses).wrap_err("writing addresses.json")?;
    println!(
        "L2 genesis {l2_genesis_hash}; wrote l2-genesis.json, surge-node.toml and addresses.json to {}",
        args.out.display()
    );
    println!("run: surge-node --chain {0}/l2-genesis.json --config {0}/surge-node.toml", args.out.display());
    Ok(protocol)
}

fn write_files(
    out: &Path,
    l1_rpc_url: &str,
    p: &ProtocolConfig,
    l2_genesis: &alloy::genesis::Genesis,
    fee_recipient: alloy_primitives::Address,
    mock_verifier: alloy_primitives::Address,
) -> eyre::Result<()> {
    std::fs::create_dir_all(out).wrap_err_with(|| format!("creating {}", out.display()))?;
    let genesis = serde_json::to_string_pretty(l2_genesis)? + "\n";
    std::fs::write(out.join("l2-genesis.json"), genesis).wrap_err("writing l2-genesis.json")?;
    let config = format!(
        "# Written by `surge-node deploy`.\n\nfee_recipient = \"{}\"\n\n[l1]\nrpc_url = \"{l1_rpc_url}\"\n\n[protocol]\n\
         l1_bridge = \"{}\"\nl1_signal_service = \"{}\"\nl1_inbox = \"{}\"\nl1_multicall = \"{}\"\n\
         l1_user_ops_factory = \"{}\"\nl1_resolver = \"{}\"\nl1_proof_verifier = \"{}\"\n\
         l2_bridge = \"{}\"\nl2_signal_service = \"{}\"\nl2_anchor = \"{}\"\n\n\
         # The proposer's key: --proposer.key-file or SURGE_PROPOSER_KEY (the deployer's account owns the\n\
         # proposer Multicall); mock proofs need SURGE_MOCK_PROVER_KEY (the prover signer's key).\n\
         [proposer]\nmock_verifier = \"{}\"\n",
        fee_recipient,
        p.l1.bridge,
        p.l1.signal_service,
        p.l1.inbox,
        p.l1.multicall,
        p.l1.user_ops_factory,
        p.l1.resolver,
        p.l1.proof_verifier,
        p.l2.bridge,
        p.l2.signal_service,
        p.l2.anchor,
        mock_verifier,
    );
    std::fs::write(out.join("surge-node.toml"), config).wrap_err("writing surge-node.toml")?;
    Ok(())
}
