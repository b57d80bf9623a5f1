//! Wiring the L1 head into the L2: an external L1 is checked at startup and followed by `surge-l1`'s head
//! tracker; the embedded dev L1 feeds the same watch channel from its chain notifications. Either way block
//! production reads the anchor's checkpoint from the channel, never from the L1 itself.

use crate::supervisor::Supervisor;
use std::{sync::Arc, time::Duration};

use surge_exex::{Ledger, NextBlocks, Watcher, WatcherConfig};
use surge_interfaces::SubscribeError;
use surge_l1::{
    EmbeddedSource, HeadTracker, HeadWatch, L1Client, L1Head, L1Heads, L1Leg, L1Protocol, L1StateSource, RemoteSource,
    SimConfig, StartupChecks, startup_checks, view::DEFAULT_MAX_CACHED_ENTRIES,
};
use surge_primitives::ProtocolConfig;
use tokio::sync::watch;

use crate::{
    config::ConfigError,
    launch::{ExtensionInstaller, RunningChain},
};

/// How long one L1 call may take.
const L1_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an HTTP L1 is asked for its head.
const L1_POLL: Duration = Duration::from_secs(1);

/// Checks the L1 at `url` against `protocol` and the L2's base-fee sharing percentage, checks the L1
/// leg's fast-signal path there, then follows its head on a task of its own. With the check passed, also
/// the txpool watcher to install on the L2.
pub async fn follow_external(
    url: &str,
    protocol: &ProtocolConfig,
    l2_basefee_sharing_pctg: u8,
    (sync, watching): (SimConfig, WatcherConfig),
    ledger: (Arc<Ledger>, Arc<NextBlocks>),
    tasks: &Supervisor,
) -> eyre::Result<(HeadWatch, Option<(ExtensionInstaller, Watcher)>)> {
    let client = L1Client::connect(url, L1_TIMEOUT)
        .await
        .map_err(|e| ConfigError { field: "l1.rpc_url".into(), reason: e.to_string() })?;
    let checks = StartupChecks { protocol, l2_basefee_sharing_pctg, proposer: None };
    let (head, warnings) =
        startup_checks(&client, &checks).await.map_err(|e| ConfigError { field: e.setting, reason: e.reason })?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(number = head.number, hash = %head.hash, endpoint = url, "L1 checked");
    let leg = check_l1_leg(RemoteSource::new(client.clone(), DEFAULT_MAX_CACHED_ENTRIES), &head, protocol, sync).await;
    let (tracker, watch) =
        HeadTracker::new(client, L1_POLL, L1Heads { latest: Some(head), finalized: None, failing_since: None });
    tasks.spawn("l1 head tracker", tracker.run());
    let watcher = leg.map(|leg| watcher_installer(leg, watch.clone(), protocol, ledger, watching));
    Ok((watch, watcher))
}

/// The embedded L1's heads, published as its blocks are committed (each is final at once), after checking
/// the L1 leg's fast-signal path on its head; with the check passed, also the txpool watcher to install.
pub async fn follow_embedded(
    l1: &RunningChain,
    protocol: &ProtocolConfig,
    (sync, watcher): (SimConfig, WatcherConfig),
    ledger: (Arc<Ledger>, Arc<NextBlocks>),
    tasks: &Supervisor,
) -> eyre::Result<(HeadWatch, Option<(ExtensionInstaller, Watcher)>)> {
    // Subscribe before reading the head: a block committed meanwhile is then announced, not missed.
    let mut notifications = l1.control.hub.subscribe_untracked().map_err(|e: SubscribeError| eyre::eyre!(e))?;
    let head = l1.store.head()?;
    let first = L1Head::from_sealed(&head.header, head.hash);
    let leg = check_l1_leg(EmbeddedSource::new(l1.store.clone()), &first, protocol, sync).await;
    let (tx, rx) = watch::channel(L1Heads { latest: Some(first), finalized: Some(first), failing_since: None });
    tasks.spawn("l1 follower", async move {
        while let Some(n) = notifications.next().await {
            let Ok(n) = n else { continue };
            if let Some(last) = n.committed().and_then(|b| b.last()) {
                let head = L1Head::from_sealed(&last.header.header, last.header.hash);
                if tx.send(L1Heads { latest: Some(head), finalized: Some(head), failing_since: None }).is_err() {
                    break; // the L2 is gone
                }
            }
        }
    });
    let watch = HeadWatch(rx);
    let watcher = leg.map(|leg| watcher_installer(leg, watch.clone(), protocol, ledger, watcher));
    Ok((watch, watcher))
}

/// The txpool watcher (planning with `leg` on the heads of `heads`) and the extension that installs it on
/// the L2.
fn watcher_installer<S: L1StateSource>(
    leg: L1Leg<S>,
    heads: HeadWatch,
    protocol: &ProtocolConfig,
    (ledger, next): (Arc<Ledger>, Arc<NextBlocks>),
    config: WatcherConfig,
) -> (ExtensionInstaller, Watcher) {
    let l2 = surge_exex::L2Protocol::from_config(protocol);
    let (watcher, inputs) = surge_exex::watcher(config, ledger, next);
    let install: ExtensionInstaller = Box::new(move |ctx| {
        surge_exex::install(ctx, inputs, Arc::new(leg), heads, l2);
        Ok(())
    });
    (install, watcher)
}

/// Checks, on the L1 head, that the bundle simulation's fast-signal override is what the L1 signal service
/// reads; when it is not, synchronous composability stays off and the log says why.
async fn check_l1_leg<S: L1StateSource>(
    source: S,
    head: &L1Head,
    protocol: &ProtocolConfig,
    sync: SimConfig,
) -> Option<L1Leg<S>> {
    match L1Leg::prepare(source, (head.number, head.hash), L1Protocol::from_config(protocol), sync).await {
        Ok(leg) => {
            tracing::info!(
                block = head.number,
                l2_bridge = %leg.protocol.l2_bridge,
                "synchronous composability: the L1 fast-signal path checks out"
            );
            Some(leg)
        }
        Err(e) => {
            tracing::error!(block = head.number, "synchronous composability disabled: {e}");
            None
        }
    }
}

/// Installs the node's one metrics registry (the `metrics` facade with the Prometheus exporter, the RPC
/// latency as a histogram) and registers the series that must show before their first event.
pub fn install_metrics() -> eyre::Result<metrics_exporter_prometheus::PrometheusHandle> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(surge_rpc::metrics::LATENCY_METRIC.into()),
            &surge_rpc::metrics::LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    surge_builder::describe_metrics();
    Ok(handle)
}
