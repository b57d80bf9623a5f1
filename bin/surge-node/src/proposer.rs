//! Wiring the proposer: its L1 account (a sender keeping nonces), its prover, the L1 views its pre-flight
//! runs on, and the extension that starts it on the L2 with the chain's blocks, proofs and tags.

use std::{sync::Arc, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use eyre::WrapErr;
use surge_exex::{Ledger, Proposer, ProposerConfig, ProposerEvent, ProposerProtocol};
use surge_interfaces::ChainTags;
use surge_l1::{FeePolicy, HeadWatch, L1Client, L1Sender, L1StateSource, L1Views, Prover, SimConfig};
use surge_primitives::{ProtocolConfig, manifest::PayloadScheme};
use tokio::sync::broadcast;

use crate::launch::ExtensionInstaller;

/// How long one L1 call of the proposer may take.
const L1_TIMEOUT: Duration = Duration::from_secs(10);

/// What the proposer is set up with.
pub struct ProposerSetup {
    /// The L1 endpoint it sends to.
    pub l1_url: String,
    /// Its L1 account (the proposer Multicall's owner).
    pub key: PrivateKeySigner,
    /// Its proof system.
    pub prover: Arc<dyn Prover>,
    /// Gas and fee margins.
    pub policy: FeePolicy,
    /// The protocol's addresses.
    pub protocol: ProtocolConfig,
    /// The L1's rules (pre-flight; Osaka means cell proofs).
    pub sim: SimConfig,
    /// L1 blocks before a waiting transaction is replaced with raised fees.
    pub replace_after: u64,
    /// L1 blocks on top of a proposal's transaction before its blocks are `safe`.
    pub confirmations: u64,
    /// Where culprits of reverted proposals cool down (the txpool watcher's, when it runs).
    pub cooldowns: Arc<surge_exex::CoolDowns>,
}

/// A proposer ready to be installed on the L2.
pub struct ReadyProposer {
    /// The extension that starts it.
    pub install: ExtensionInstaller,
    /// Where its events go (subscribe for them).
    pub events: broadcast::Sender<ProposerEvent>,
    /// Its L1 account.
    pub account: alloy_primitives::Address,
    /// Its balance, pending nonce and failures.
    pub health: Arc<surge_exex::ProposerHealth>,
}

/// The proposer, ready to be installed on the L2.
/// Before it returns, the ledger and `tags` are brought to where the inbox is (`l2` is the L2's store), so
/// a restarted node serves its `safe` and `finalized` blocks from the start.
pub async fn proposer<S: L1StateSource>(
    setup: ProposerSetup,
    source: S,
    ledger: Arc<Ledger>,
    heads: HeadWatch,
    l2: (&Arc<surge_host::Store>, &Arc<ChainTags>),
) -> eyre::Result<ReadyProposer> {
    let client = L1Client::connect(&setup.l1_url, L1_TIMEOUT).await?;
    let chain = surge_host::seams::HostProvider(l2.0.clone());
    surge_exex::resume_from_inbox(&ledger, chain, &client, setup.protocol.l1.inbox, l2.1)
        .await
        .map_err(|e| eyre::eyre!("reading the inbox: {e}"))?;
    let p = &setup.protocol;
    let inbox = client.inbox_config(p.l1.inbox).await.wrap_err("reading the inbox's configuration")?;
    let sender = L1Sender::new(client, setup.key, setup.policy).await?;
    // A lone `propose` goes straight to the inbox only when the inbox takes it from the proposer's account.
    let direct_propose = inbox.openPropose || inbox.proposer == sender.address();
    let protocol = ProposerProtocol {
        l2: surge_exex::L2Protocol::from_config(p),
        inbox: p.l1.inbox,
        multicall: p.l1.multicall,
        l1_bridge: p.l1.bridge,
        basefee_sharing_pctg: p.basefee_sharing_pctg,
        scheme: PayloadScheme::Unmarked,
        cell_proofs: setup.sim.spec >= revm::primitives::hardfork::SpecId::OSAKA,
        direct_propose,
    };
    tracing::info!(account = %sender.address(), prover = setup.prover.name(), "proposer ready");
    let config = ProposerConfig {
        protocol,
        sim: setup.sim,
        replace_after: setup.replace_after,
        confirmations: setup.confirmations,
        receipt_poll: Duration::from_millis(50),
        retry_after: Duration::from_secs(2),
    };
    let (events, _) = broadcast::channel(256);
    let out = events.clone();
    let views = Arc::new(L1Views::new(source, surge_l1::view::DEFAULT_VIEW_CAPACITY));
    let account = sender.address();
    let (sender, prover, cooldowns) = (Arc::new(sender), setup.prover, setup.cooldowns);
    let (health, tracking) = surge_exex::ProposerHealth::track(sender.clone(), events.subscribe(), heads.clone());
    let install: ExtensionInstaller = Box::new(move |ctx| {
        let components = ctx.components;
        let proposer = Proposer { ledger, components, views, heads, sender, prover, config, events, cooldowns };
        ctx.tasks.spawn_critical("proposer", Box::pin(proposer.run()));
        ctx.tasks.spawn_critical("proposer health", Box::pin(tracking));
        Ok(())
    });
    Ok(ReadyProposer { install, events: out, account, health })
}

/// Where the L1 is.
pub enum L1Endpoint<'a> {
    /// The embedded dev L1.
    Embedded(&'a crate::launch::RunningChain),
    /// An external L1 at this URL.
    External(&'a str),
}

/// The proposer as `settings` describe it (dev mode fills in dev account 0 as the proposer and dev
/// account 1 as the mock signer); `None` when it is disabled or, outside dev mode, has no key.
pub async fn from_settings(
    settings: &crate::config::Settings,
    dev: bool,
    l1: L1Endpoint<'_>,
    protocol: ProtocolConfig,
    (ledger, cooldowns): (Arc<Ledger>, Arc<surge_exex::CoolDowns>),
    heads: HeadWatch,
    l2: (&Arc<surge_host::Store>, &Arc<ChainTags>),
) -> eyre::Result<Option<ReadyProposer>> {
    use crate::config::ConfigError;
    let p = &settings.proposer;
    if !p.enabled {
        tracing::warn!("proposer disabled: nothing goes to L1 and the L2 does not finalize");
        return Ok(None);
    }
    let dev_keys = if dev { surge_genesis::dev_keys(2)? } else { vec![] };
    let Some(key) = p.key.as_ref().map(|k| k.0.clone()).or_else(|| dev_keys.first().cloned()) else {
        tracing::warn!(
            "no proposer key (--proposer.key-file, SURGE_PROPOSER_KEY or CATALYST_NODE_ECDSA_PRIVATE_KEY): \
             nothing goes to L1 and the L2 does not finalize"
        );
        return Ok(None);
    };
    let prover: Arc<dyn Prover> = if let Some(raiko) = &settings.raiko {
        tracing::info!(url = raiko.url, proof_type = %raiko.proof_type, mock_mode = raiko.mock_mode, "proofs from Raiko");
        Arc::new(surge_l1::raiko::RaikoProver::new(raiko.clone())?)
    } else if dev && p.mock_signer.is_none() && p.mock_verifier.is_none() {
        crate::network::dev_mock_prover(protocol.l2_chain_id)?
    } else {
        let field = |f: &str, reason: &str| ConfigError { field: f.into(), reason: reason.into() };
        let signer = p.mock_signer.as_ref().map(|k| k.0.clone()).ok_or_else(|| {
            field(
                "proposer.mock_signer_key_file",
                "mock mode needs the mock verifier's signer key (or SURGE_MOCK_PROVER_KEY)",
            )
        })?;
        let verifier = p
            .mock_verifier
            .ok_or_else(|| field("proposer.mock_verifier", "mock mode needs the mock verifier's address"))?;
        let mock = surge_primitives::MockProver::new(signer, protocol.l2_chain_id, verifier);
        Arc::new(surge_l1::MockEcdsaProver(mock))
    };
    let policy = FeePolicy {
        extra_gas_percentage: p.extra_gas_percentage,
        max_fee_per_gas_cap: p.fee_caps.0,
        max_fee_per_blob_gas_cap: p.fee_caps.1,
        ..FeePolicy::default()
    };
    let (l1_url, embedded) = match l1 {
        L1Endpoint::Embedded(chain) => (format!("http://{}", chain.rpc_addr), Some(chain.store.clone())),
        L1Endpoint::External(url) => (url.to_string(), None),
    };
    let setup = ProposerSetup {
        l1_url: l1_url.clone(),
        key,
        prover,
        policy,
        protocol,
        sim: settings.sync,
        replace_after: p.replace_after,
        // The embedded dev L1 never reorgs (and mines only when it has transactions).
        confirmations: p.confirmations.unwrap_or(match embedded {
            Some(_) => 1,
            None => crate::proposer_config::DEFAULT_CONFIRMATIONS,
        }),
        cooldowns,
    };
    let made = match embedded {
        Some(store) => proposer(setup, surge_l1::EmbeddedSource::new(store), ledger, heads, l2).await?,
        None => {
            let client = L1Client::connect(&l1_url, L1_TIMEOUT).await?;
            let source = surge_l1::RemoteSource::new(client, surge_l1::view::DEFAULT_MAX_CACHED_ENTRIES);
            proposer(setup, source, ledger, heads, l2).await?
        }
    };
    Ok(Some(made))
}
