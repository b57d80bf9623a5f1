//! `surge-node deploy`: deploys the L1 protocol to an external L1 (resolver, signal service, bridge, mock
//! verifier behind the composite verifier, realtime inbox, proposer multicall), generates the L2 genesis
//! that points at it, activates the inbox with that genesis, and writes a config file for the node.

use std::path::{Path, PathBuf};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::{SolCall, SolConstructor};
use eyre::{WrapErr, eyre};
use surge_primitives::{
    L1Contracts, L2Predeploys, ProofFlag, ProtocolConfig,
    bindings::{
        bridge::Bridge, inbox::RealTimeInbox, mock_verifier::MockECDSAVerifier, multicall::Multicall,
        resolver::Resolver, signal_service::SignalService, surge_verifier::SurgeVerifier,
    },
};

use crate::l1_client::L1Client;

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
    /// Where to write `l2-genesis.json` and `surge-node.toml`.
    pub out: PathBuf,
}

fn with_args(code: &[u8], args: Vec<u8>) -> Vec<u8> {
    [code, &args].concat()
}

/// Deploys and writes the files; returns the protocol configuration.
pub fn run(args: &DeployArgs) -> eyre::Result<ProtocolConfig> {
    let l1 = L1Client::new(&args.l1_rpc_url);
    let l1_chain_id = l1.chain_id().map_err(|e| eyre!(e))?;
    let owner = args.key.address();
    let nonce: alloy_primitives::U64 = serde_json::from_value(
        l1.call("eth_getTransactionCount", serde_json::json!([owner, "pending"])).map_err(|e| eyre!(e))?,
    )?;
    let first = nonce.to::<u64>();
    // Contracts go to their CREATE addresses, known before anything is sent.
    let at = |i: u64| owner.create(first + i);
    let contracts = L1Contracts {
        resolver: at(0),
        signal_service: at(1),
        bridge: at(2),
        proof_verifier: at(4),
        inbox: at(5),
        multicall: at(6),
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
    let funded: Vec<Address> = surge_genesis::dev_keys(10)?.iter().map(|k| k.address()).collect();
    let (l2_genesis, l2_genesis_hash) = surge_genesis::l2_genesis(&protocol, owner, &funded)?;

    let creations: [(&str, Vec<u8>); 7] = [
        ("Resolver", with_args(&Resolver::BYTECODE, Resolver::constructorCall { initialOwner: owner }.abi_encode())),
        (
            "SignalService",
            with_args(
                &SignalService::BYTECODE,
                SignalService::constructorCall { _authorizedSyncer: contracts.inbox, _resolver: contracts.resolver }
                    .abi_encode(),
            ),
        ),
        (
            "Bridge",
            with_args(
                &Bridge::BYTECODE,
                Bridge::constructorCall { _signalService: contracts.signal_service, _resolver: contracts.resolver }
                    .abi_encode(),
            ),
        ),
        (
            "MockECDSAVerifier",
            with_args(
                &MockECDSAVerifier::BYTECODE,
                MockECDSAVerifier::constructorCall { _l2ChainId: args.l2_chain_id, _signer: args.prover_signer }
                    .abi_encode(),
            ),
        ),
        (
            "SurgeVerifier",
            with_args(
                &SurgeVerifier::BYTECODE,
                SurgeVerifier::constructorCall {
                    _owner: owner,
                    _requiredProofs: ProofFlag::MOCK_ECDSA.bits(),
                    flags: vec![ProofFlag::MOCK_ECDSA.bits()],
                    _verifiers: vec![mock_verifier],
                }
                .abi_encode(),
            ),
        ),
        (
            "RealTimeInbox",
            with_args(
                &RealTimeInbox::BYTECODE,
                RealTimeInbox::constructorCall {
                    _owner: owner,
                    verifier: contracts.proof_verifier,
                    signalService: contracts.signal_service,
                    basefeeSharingPctg: args.basefee_sharing_pctg,
                }
                .abi_encode(),
            ),
        ),
        ("Multicall", with_args(&Multicall::BYTECODE, Multicall::constructorCall { _owner: owner }.abi_encode())),
    ];
    let mut nonce = first;
    for (i, (name, code)) in creations.into_iter().enumerate() {
        let receipt = l1.send(&args.key, nonce, TxKind::Create, code, name).map_err(|e| eyre!(e))?;
        let deployed: Address = serde_json::from_value(receipt["contractAddress"].clone())
            .wrap_err_with(|| format!("{name}: no contract address in {receipt}"))?;
        eyre::ensure!(deployed == at(i as u64), "{name} landed at {deployed}, expected {}", at(i as u64));
        println!("  {name:<18} {deployed}");
        nonce += 1;
    }
    let names = [
        (l1_chain_id, "bridge", contracts.bridge),
        (l1_chain_id, "signal_service", contracts.signal_service),
        (args.l2_chain_id, "bridge", protocol.l2.bridge),
        (args.l2_chain_id, "signal_service", protocol.l2.signal_service),
    ];
    for (chain_id, name, address) in names {
        let mut key = [0u8; 32];
        key[..name.len()].copy_from_slice(name.as_bytes());
        let call = Resolver::setAddressCall { chainId: U256::from(chain_id), name: key.into(), newAddress: address };
        let what = format!("resolver {name} of chain {chain_id}");
        l1.send(&args.key, nonce, TxKind::Call(contracts.resolver), call.abi_encode(), &what).map_err(|e| eyre!(e))?;
        nonce += 1;
    }
    let activate = RealTimeInbox::activateCall { l2GenesisBlockHash: l2_genesis_hash };
    l1.send(&args.key, nonce, TxKind::Call(contracts.inbox), activate.abi_encode(), "inbox activation")
        .map_err(|e| eyre!(e))?;

    write_files(&args.out, &args.l1_rpc_url, &protocol, &l2_genesis)?;
    println!("L2 genesis {l2_genesis_hash}; wrote l2-genesis.json and surge-node.toml to {}", args.out.display());
    println!("run: surge-node --chain {0}/l2-genesis.json --config {0}/surge-node.toml", args.out.display());
    Ok(protocol)
}

fn write_files(
    out: &Path,
    l1_rpc_url: &str,
    p: &ProtocolConfig,
    l2_genesis: &alloy::genesis::Genesis,
) -> eyre::Result<()> {
    std::fs::create_dir_all(out).wrap_err_with(|| format!("creating {}", out.display()))?;
    let genesis = serde_json::to_string_pretty(l2_genesis)? + "\n";
    std::fs::write(out.join("l2-genesis.json"), genesis).wrap_err("writing l2-genesis.json")?;
    let config = format!(
        "# Written by `surge-node deploy`.\n\n[l1]\nrpc_url = \"{l1_rpc_url}\"\n\n[protocol]\n\
         l1_bridge = \"{}\"\nl1_signal_service = \"{}\"\nl1_inbox = \"{}\"\nl1_multicall = \"{}\"\n\
         l1_resolver = \"{}\"\nl1_proof_verifier = \"{}\"\n\
         l2_bridge = \"{}\"\nl2_signal_service = \"{}\"\nl2_anchor = \"{}\"\n",
        p.l1.bridge,
        p.l1.signal_service,
        p.l1.inbox,
        p.l1.multicall,
        p.l1.resolver,
        p.l1.proof_verifier,
        p.l2.bridge,
        p.l2.signal_service,
        p.l2.anchor,
    );
    std::fs::write(out.join("surge-node.toml"), config).wrap_err("writing surge-node.toml")?;
    Ok(())
}
