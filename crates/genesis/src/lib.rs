//! The dev network's genesis files: an L1 (current Ethereum rules) with the L1 protocol contracts and an
//! L2 (Taiko rules) with the predeploys, both with the usual test-mnemonic accounts funded.
//!
//! Contracts are placed by running their constructors in revm and copying code and storage. The address
//! cycles are resolved by fixing every address first: L2 predeploys are derived from the L2 chain id, the
//! L1 contracts sit at addresses derived the same way from the L1 chain id (bridge `…01`, signal service
//! `…05`, resolver `…06`, inbox `…100`, proof verifier `…200`, mock verifier `…201`, multicall `…300`, user-op
//! factory `…400`).
//! The inbox is activated with the L2 genesis hash, so the L2 genesis is built first.

mod apps;
mod builder;

use std::{collections::BTreeMap, path::Path};

use alloy::{
    eips::{eip2935, eip4788, eip7002, eip7251},
    genesis::{Genesis, GenesisAccount},
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
};
use alloy_primitives::{Address, B256, U256, address};
use alloy_sol_types::{SolCall, SolConstructor};
use revm::primitives::hardfork::SpecId;
use serde::{Deserialize, Serialize};
use surge_primitives::{
    L1Contracts, L2Predeploys, ProofFlag, ProtocolConfig,
    bindings::{
        anchor::Anchor, bridge::Bridge, inbox::RealTimeInbox, mock_verifier::MockECDSAVerifier, multicall::Multicall,
        resolver::Resolver, signal_service::SignalService, surge_verifier::SurgeVerifier,
        user_ops_factory::UserOpsFactory,
    },
    chain_address,
};

pub use apps::{CrossChainSwap, DEV_APP_LIQUIDITY_ETH, ExampleApps, FlashLoan, Liquidity, SetupCall, TOKENS_PER_ETH};
pub use builder::AllocBuilder;

/// The test mnemonic anvil and hardhat use.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Dev L1 chain id.
pub const DEV_L1_CHAIN_ID: u64 = 3_151_908;
/// Dev L2 chain id.
pub const DEV_L2_CHAIN_ID: u64 = 763_374;
/// Balance of each dev account on both chains (10,000 ETH, as anvil).
pub const DEV_ACCOUNT_BALANCE: u128 = 10_000 * 10u128.pow(18);
/// Balance of each bridge, to pay out bridged ETH.
pub const BRIDGE_BALANCE: u128 = 1_000_000 * 10u128.pow(18);
/// Gas limit of the dev L2: 30M for transactions plus the anchor's 1M.
pub const DEV_L2_GAS_LIMIT: u64 = 31_000_000;
/// Base fee of the L2 genesis block (the EIP-4396 value of a genesis child).
pub const DEV_L2_GENESIS_BASE_FEE: u64 = 25_000_000;
/// Base-fee sharing percentage of the dev L2.
pub const DEV_BASEFEE_SHARING_PCTG: u8 = 50;

/// A generation failure, naming the step.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// A constructor reverted or halted.
    #[error("constructor of {name} failed: {reason}")]
    Constructor {
        /// The contract.
        name: String,
        /// What happened.
        reason: String,
    },
    /// A set-up call failed.
    #[error("genesis set-up step '{what}' failed: {reason}")]
    Setup {
        /// The step.
        what: String,
        /// What happened.
        reason: String,
    },
    /// A runtime code embeds the scratch address its constructor ran at.
    #[error("{name}'s runtime code captured its scratch address {scratch} (an immutable address(this))")]
    ScratchAddressCaptured {
        /// The contract.
        name: String,
        /// The scratch address.
        scratch: Address,
    },
    /// revm failed.
    #[error("evm: {0}")]
    Evm(String),
    /// A dev key could not be derived.
    #[error("deriving dev key {0} from the test mnemonic: {1}")]
    Key(u32, String),
    /// The L2 genesis did not produce a chain spec or a hash.
    #[error("L2 genesis: {0}")]
    Chain(String),
    /// Writing the files failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Who does what on the dev network (all dev-mnemonic accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevRoles {
    /// Owner of the resolvers, the inbox and the verifier (dev account 0).
    pub owner: Address,
    /// Owner of the proposer multicall (dev account 0).
    pub proposer: Address,
    /// Signer of mock proofs (dev account 1).
    pub prover_signer: Address,
}

/// Everything generated: both genesis files and the addresses in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevNetwork {
    /// The L1 genesis.
    pub l1: Genesis,
    /// The L2 genesis.
    pub l2: Genesis,
    /// Chain ids and contract addresses.
    pub protocol: ProtocolConfig,
    /// The mock verifier behind the composite verifier.
    pub mock_verifier: Address,
    /// Dev roles.
    pub roles: DevRoles,
    /// The L2 genesis block hash (the inbox's first `lastFinalizedBlockHash`).
    pub l2_genesis_hash: B256,
    /// The example apps (both halves in the genesis files, with liquidity).
    pub apps: ExampleApps,
}

/// The dev mnemonic's index of the dev network's relayer: its L2 key that relays user ops' messages, apart
/// from the ten dev accounts users send from.
pub const DEV_RELAYER_INDEX: u32 = 10;

/// The dev network's relayer key (funded on the dev L2).
pub fn dev_relayer() -> Result<PrivateKeySigner, GenesisError> {
    dev_keys(DEV_RELAYER_INDEX + 1)?.pop().ok_or_else(|| GenesisError::Key(DEV_RELAYER_INDEX, "no key".into()))
}

/// The first `n` dev keys of the test mnemonic.
pub fn dev_keys(n: u32) -> Result<Vec<PrivateKeySigner>, GenesisError> {
    (0..n)
        .map(|i| {
            MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .map_err(|e| GenesisError::Key(i, e.to_string()))?
                .build()
                .map_err(|e| GenesisError::Key(i, e.to_string()))
        })
        .collect()
}

fn funded(accounts: &[Address], balance: u128) -> BTreeMap<Address, GenesisAccount> {
    accounts.iter().map(|a| (*a, GenesisAccount::default().with_balance(U256::from(balance)))).collect()
}

/// The resolver entries both chains need: each chain's bridge and signal service by chain id.
pub fn resolver_entries(p: &ProtocolConfig) -> [(u64, &'static str, Address); 4] {
    [
        (p.l1_chain_id, "bridge", p.l1.bridge),
        (p.l1_chain_id, "signal_service", p.l1.signal_service),
        (p.l2_chain_id, "bridge", p.l2.bridge),
        (p.l2_chain_id, "signal_service", p.l2.signal_service),
    ]
}

/// `Resolver.setAddress(chainId, name, address)`, the name as a left-aligned `bytes32`.
pub fn set_address_call(chain_id: u64, name: &str, address: Address) -> Resolver::setAddressCall {
    let mut key = [0u8; 32];
    let len = name.len().min(32);
    key[..len].copy_from_slice(&name.as_bytes()[..len]);
    Resolver::setAddressCall { chainId: U256::from(chain_id), name: key.into(), newAddress: address }
}

/// One L1 protocol contract: its creation code, constructor arguments and where it goes.
#[derive(Debug, Clone)]
pub struct L1Creation {
    /// The contract's name.
    pub name: &'static str,
    /// Creation bytecode.
    pub bytecode: &'static [u8],
    /// ABI-encoded constructor arguments.
    pub args: Vec<u8>,
    /// Its address in `protocol` (where a genesis places it; what CREATE must produce when deployed).
    pub address: Address,
}

impl L1Creation {
    /// Bytecode followed by the constructor arguments (a creation transaction's input).
    pub fn creation_code(&self) -> Vec<u8> {
        [self.bytecode, &self.args].concat()
    }
}

/// The L1 protocol of `protocol`, in deployment order (resolver, signal service, bridge, mock verifier,
/// composite verifier, inbox, proposer multicall, user-op wallets' factory), owned by `roles.owner`.
pub fn l1_creations(protocol: &ProtocolConfig, mock_verifier: Address, roles: DevRoles) -> Vec<L1Creation> {
    let (l1, owner) = (protocol.l1, roles.owner);
    let creation = |name, bytecode: &'static [u8], args: Vec<u8>, address| L1Creation { name, bytecode, args, address };
    vec![
        creation(
            "Resolver",
            &Resolver::BYTECODE,
            Resolver::constructorCall { initialOwner: owner }.abi_encode(),
            l1.resolver,
        ),
        creation(
            "SignalService",
            &SignalService::BYTECODE,
            SignalService::constructorCall { _authorizedSyncer: l1.inbox, _resolver: l1.resolver }.abi_encode(),
            l1.signal_service,
        ),
        creation(
            "Bridge",
            &Bridge::BYTECODE,
            Bridge::constructorCall { _signalService: l1.signal_service, _resolver: l1.resolver }.abi_encode(),
            l1.bridge,
        ),
        creation(
            "MockECDSAVerifier",
            &MockECDSAVerifier::BYTECODE,
            MockECDSAVerifier::constructorCall { _l2ChainId: protocol.l2_chain_id, _signer: roles.prover_signer }
                .abi_encode(),
            mock_verifier,
        ),
        creation(
            "SurgeVerifier",
            &SurgeVerifier::BYTECODE,
            SurgeVerifier::constructorCall {
                _owner: owner,
                _requiredProofs: ProofFlag::MOCK_ECDSA.bits(),
                flags: vec![ProofFlag::MOCK_ECDSA.bits()],
                _verifiers: vec![mock_verifier],
            }
            .abi_encode(),
            l1.proof_verifier,
        ),
        creation(
            "RealTimeInbox",
            &RealTimeInbox::BYTECODE,
            RealTimeInbox::constructorCall {
                _owner: owner,
                verifier: l1.proof_verifier,
                signalService: l1.signal_service,
                basefeeSharingPctg: protocol.basefee_sharing_pctg,
                proposer: l1.multicall,
                openPropose: false,
            }
            .abi_encode(),
            l1.inbox,
        ),
        creation(
            "Multicall",
            &Multicall::BYTECODE,
            Multicall::constructorCall { _owner: roles.proposer }.abi_encode(),
            l1.multicall,
        ),
        creation("UserOpsFactory", &UserOpsFactory::BYTECODE, vec![], l1.user_ops_factory),
    ]
}

fn set_names(
    b: &mut AllocBuilder,
    owner: Address,
    resolver: Address,
    entries: &[(u64, &str, Address)],
) -> Result<(), GenesisError> {
    for (chain_id, name, addr) in entries {
        let call = set_address_call(*chain_id, name, *addr);
        b.call(owner, resolver, call.abi_encode(), &format!("resolver {name} of chain {chain_id}"))?;
    }
    Ok(())
}

/// The L2 genesis of `protocol`'s chains (predeploys owned by `owner`, the L2 halves of `apps` if any, Shanghai +
/// Taiko rules, `funded` accounts with the dev balance) and its block hash, which the L1 inbox is activated
/// with.
pub fn l2_genesis(
    protocol: &ProtocolConfig,
    owner: Address,
    funded_accounts: &[Address],
    apps: Option<&ExampleApps>,
) -> Result<(Genesis, B256), GenesisError> {
    let (l1_chain_id, l2_chain_id, l2) = (protocol.l1_chain_id, protocol.l2_chain_id, protocol.l2);
    let names = resolver_entries(protocol);
    // L2: predeploys, Shanghai rules.
    let mut b = AllocBuilder::new(l2_chain_id, SpecId::SHANGHAI);
    b.place(
        "Resolver",
        &Resolver::BYTECODE,
        &Resolver::constructorCall { initialOwner: owner }.abi_encode(),
        l2.resolver,
    )?;
    let ss = SignalService::constructorCall { _authorizedSyncer: l2.anchor, _resolver: l2.resolver };
    b.place("SignalService", &SignalService::BYTECODE, &ss.abi_encode(), l2.signal_service)?;
    let bridge = Bridge::constructorCall { _signalService: l2.signal_service, _resolver: l2.resolver };
    b.place("Bridge", &Bridge::BYTECODE, &bridge.abi_encode(), l2.bridge)?;
    let anchor = Anchor::constructorCall { _signalService: l2.signal_service, _l1ChainId: l1_chain_id, _owner: owner };
    b.place("Anchor", &Anchor::BYTECODE, &anchor.abi_encode(), l2.anchor)?;
    set_names(&mut b, owner, l2.resolver, &names)?;
    if let Some(apps) = apps {
        apps.place_l2(&mut b, protocol)?;
    }
    let mut alloc = b.into_alloc();
    alloc.extend(funded(funded_accounts, DEV_ACCOUNT_BALANCE));
    if let Some(acc) = alloc.get_mut(&l2.bridge) {
        acc.balance = U256::from(BRIDGE_BALANCE);
    }
    let mut config = surge_host::post_merge_config(l2_chain_id);
    config.shanghai_time = Some(0);
    config.extra_fields.insert(
        "surge".into(),
        serde_json::json!({ "l2": { "l1ChainId": l1_chain_id, "basefeeSharingPctg": protocol.basefee_sharing_pctg } }),
    );
    let l2_genesis = Genesis {
        config,
        gas_limit: DEV_L2_GAS_LIMIT,
        base_fee_per_gas: Some(u128::from(DEV_L2_GENESIS_BASE_FEE)),
        alloc,
        ..Default::default()
    };
    let spec =
        surge_host::ChainSpec::from_genesis(l2_genesis.clone()).map_err(|e| GenesisError::Chain(e.to_string()))?;
    let l2_genesis_hash =
        surge_host::storage::genesis_header(&spec).map_err(|e| GenesisError::Chain(e.to_string()))?.hash;

    Ok((l2_genesis, l2_genesis_hash))
}

/// Generates the dev network for the given chain ids.
pub fn generate(l1_chain_id: u64, l2_chain_id: u64) -> Result<DevNetwork, GenesisError> {
    let keys = dev_keys(10)?;
    let accounts: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let roles = DevRoles { owner: accounts[0], proposer: accounts[0], prover_signer: accounts[1] };
    let l2 = L2Predeploys::for_chain(l2_chain_id);
    let at = |suffix: &str| chain_address(l1_chain_id, suffix).unwrap_or_default();
    let l1 = L1Contracts {
        bridge: at("1"),
        signal_service: at("5"),
        resolver: at("6"),
        inbox: at("100"),
        proof_verifier: at("200"),
        multicall: at("300"),
        user_ops_factory: at("400"),
    };
    let mock_verifier = at("201");
    let protocol = ProtocolConfig { l1_chain_id, l2_chain_id, l1, l2, basefee_sharing_pctg: DEV_BASEFEE_SHARING_PCTG };
    protocol.validate().map_err(|e| GenesisError::Setup { what: "protocol config".into(), reason: e.to_string() })?;
    let names = resolver_entries(&protocol);

    let apps = ExampleApps::dev(l1_chain_id, l2_chain_id);
    // On L2 the relayer is funded too: it pays for relays before their fees come back.
    let l2_funded = [accounts.clone(), vec![dev_relayer()?.address()]].concat();
    let (l2_genesis, l2_genesis_hash) = l2_genesis(&protocol, roles.owner, &l2_funded, Some(&apps))?;
    let owner = roles.owner;

    // L1: the protocol, current mainnet rules, the inbox activated with the L2 genesis hash.
    let mut b = AllocBuilder::new(l1_chain_id, SpecId::OSAKA);
    for c in l1_creations(&protocol, mock_verifier, roles) {
        b.place(c.name, c.bytecode, &c.args, c.address)?;
    }
    set_names(&mut b, owner, l1.resolver, &names)?;
    let activate = RealTimeInbox::activateCall { l2GenesisBlockHash: l2_genesis_hash };
    b.call(owner, l1.inbox, activate.abi_encode(), "inbox activation")?;
    let liquidity = Liquidity::with_eth(U256::from(DEV_APP_LIQUIDITY_ETH) * U256::from(10u64).pow(U256::from(18)));
    apps.place_l1(&mut b, &protocol, owner, &liquidity)?;
    let mut alloc = b.into_alloc();
    alloc.extend(funded(&accounts, DEV_ACCOUNT_BALANCE));
    if let Some(acc) = alloc.get_mut(&l1.bridge) {
        acc.balance = U256::from(BRIDGE_BALANCE);
    }
    for (addr, code) in [
        (eip4788::BEACON_ROOTS_ADDRESS, &eip4788::BEACON_ROOTS_CODE),
        (eip2935::HISTORY_STORAGE_ADDRESS, &eip2935::HISTORY_STORAGE_CODE),
        (eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, &eip7002::WITHDRAWAL_REQUEST_PREDEPLOY_CODE),
        (eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, &eip7251::CONSOLIDATION_REQUEST_PREDEPLOY_CODE),
    ] {
        alloc.insert(addr, GenesisAccount::default().with_nonce(Some(1)).with_code(Some(code.clone())));
    }
    let mut config = surge_host::post_merge_config(l1_chain_id);
    config.shanghai_time = Some(0);
    config.cancun_time = Some(0);
    config.prague_time = Some(0);
    config.osaka_time = Some(0);
    // No deposit contract on the dev L1: point deposit parsing at an address that never logs.
    config.deposit_contract_address = Some(address!("0x00000000219ab540356cBB839Cbe05303d7705Fa"));
    let l1_genesis =
        Genesis { config, gas_limit: 60_000_000, base_fee_per_gas: Some(1_000_000_000), alloc, ..Default::default() };
    Ok(DevNetwork { l1: l1_genesis, l2: l2_genesis, protocol, mock_verifier, roles, l2_genesis_hash, apps })
}

/// The generated files, by name, as they are written (pretty JSON, trailing newline).
pub fn render(net: &DevNetwork) -> Result<Vec<(&'static str, String)>, GenesisError> {
    let json = |v: serde_json::Result<String>| v.map(|s| s + "\n").map_err(|e| GenesisError::Evm(e.to_string()));
    let addresses = serde_json::json!({
        "protocol": net.protocol,
        "mockVerifier": net.mock_verifier,
        "roles": net.roles,
        "l2GenesisHash": net.l2_genesis_hash,
        "apps": net.apps,
    });
    Ok(vec![
        ("l1-genesis.json", json(serde_json::to_string_pretty(&net.l1))?),
        ("l2-genesis.json", json(serde_json::to_string_pretty(&net.l2))?),
        ("addresses.json", json(serde_json::to_string_pretty(&addresses))?),
    ])
}

/// Writes the files into `dir`.
pub fn write(net: &DevNetwork, dir: &Path) -> Result<(), GenesisError> {
    std::fs::create_dir_all(dir).map_err(|source| GenesisError::Write { path: dir.display().to_string(), source })?;
    for (name, text) in render(net)? {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|source| GenesisError::Write { path: path.display().to_string(), source })?;
    }
    Ok(())
}
