//! Startup checks against the L1: everything the L2 needs from it, each refused with one line naming the
//! setting, before the node produces a block it could never settle.

use alloy::eips::BlockNumberOrTag;
use alloy_primitives::Address;
use surge_primitives::ProtocolConfig;

use crate::{client::L1Client, head::L1Head};

/// L1 blocks back the endpoint must serve state for (the anchor's checkpoints and proofs read there).
pub const STATE_HISTORY: u64 = 256;

/// What the L1 must match.
#[derive(Debug, Clone)]
pub struct StartupChecks<'a> {
    /// The protocol addresses and chain ids.
    pub protocol: &'a ProtocolConfig,
    /// The L2 genesis's base-fee sharing percentage (`config.surge.l2.basefeeSharingPctg`).
    pub l2_basefee_sharing_pctg: u8,
    /// The proposer's address, once a proposer key is configured: it must own the proposer Multicall.
    pub proposer: Option<Address>,
}

/// The L1 was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct CheckError {
    /// The setting that does not fit the L1 (as the configuration names it).
    pub setting: String,
    /// Why.
    pub reason: String,
}

fn refuse(setting: &str, reason: impl Into<String>) -> CheckError {
    CheckError { setting: setting.to_string(), reason: reason.into() }
}

/// Runs every check; returns the L1 head seen (the first checkpoint) and warnings that do not stop the node.
pub async fn startup_checks(
    client: &L1Client,
    checks: &StartupChecks<'_>,
) -> Result<(L1Head, Vec<String>), CheckError> {
    let url = |e: crate::L1Error| refuse("l1.rpc_url", e.to_string());
    let p = checks.protocol;
    let chain_id = client.chain_id().await.map_err(url)?;
    if chain_id != p.l1_chain_id {
        return Err(refuse("l1.rpc_url", format!("chain id {chain_id}, but the L2 settles on {}", p.l1_chain_id)));
    }
    // An unset factory only turns user ops off.
    for (name, address) in p.l1.named().into_iter().filter(|(_, a)| !a.is_zero()) {
        if client.code(address).await.map_err(url)?.is_empty() {
            return Err(refuse(
                &format!("protocol.l1_{name}"),
                format!(
                    "no contract at {address} on L1 chain {chain_id} (deploy the protocol with `surge-node deploy`, \
                     or start the L1 from etc/dev/l1-genesis.json)"
                ),
            ));
        }
    }
    let config = client.inbox_config(p.l1.inbox).await.map_err(|e| refuse("protocol.l1_inbox", e.to_string()))?;
    if config.basefeeSharingPctg != checks.l2_basefee_sharing_pctg {
        return Err(refuse(
            "chain",
            format!(
                "the L2 genesis shares {}% of the base fee (config.surge.l2.basefeeSharingPctg), the inbox at {} \
                 {}%: every block would be unprovable",
                checks.l2_basefee_sharing_pctg, p.l1.inbox, config.basefeeSharingPctg
            ),
        ));
    }
    if let Some(proposer) = checks.proposer {
        let owner =
            client.multicall_owner(p.l1.multicall).await.map_err(|e| refuse("protocol.l1_multicall", e.to_string()))?;
        if owner != proposer {
            return Err(refuse(
                "proposer key",
                format!(
                    "the proposer {proposer} does not own the proposer multicall {} (its owner is {owner})",
                    p.l1.multicall
                ),
            ));
        }
    }
    let head = client
        .head(BlockNumberOrTag::Latest)
        .await
        .map_err(url)?
        .ok_or_else(|| refuse("l1.rpc_url", "no latest block"))?;
    let mut warnings = vec![];
    let oldest = head.number.saturating_sub(STATE_HISTORY);
    if !client.serves_state_at(oldest).await {
        warnings.push(format!(
            "the L1 at {} does not serve state at block {oldest} ({STATE_HISTORY} blocks back): proofs and L1 reads \
             of older anchors will fail",
            client.endpoint()
        ));
    }
    Ok((head, warnings))
}
