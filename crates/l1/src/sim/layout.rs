//! The startup check of the fast-signal override: the bundle simulation marks a message received by
//! writing `_receivedSignals[slot]` of the L1 signal service; if the deployed signal service keeps that
//! mapping elsewhere, every simulated leg would pass where L1 fails. So before synchronous composability
//! is enabled, the signal service itself must accept a random signal with the override and refuse it
//! without.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, U256, keccak256};
use surge_primitives::{
    bindings::{resolver::Resolver, signal_service::SignalService},
    signal_slot,
    slots::signal_service::received_signal_key,
};

use super::{L1Protocol, SimConfig, SimError, on_view, view_call};
use crate::view::{L1View, ViewError};

/// The override does not do what the simulation assumes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The check could not run (the view could not be read, the call was invalid).
    #[error(transparent)]
    Simulation(#[from] SimError),
    /// The L1 resolver names no L2 bridge.
    #[error("the L1 resolver names no bridge for chain {chain_id}: {reason}")]
    NoL2Bridge {
        /// The L2 chain id.
        chain_id: u64,
        /// Why.
        reason: String,
    },
    /// A signal nobody sent passed.
    #[error("the L1 signal service {signal_service} accepts a signal that was never sent: {reason}")]
    AcceptsUnsent {
        /// The signal service.
        signal_service: Address,
        /// What it answered.
        reason: String,
    },
    /// The override did not make the signal pass.
    #[error(
        "the L1 signal service {signal_service} refuses a signal marked received at the slot this node writes \
         (its _receivedSignals is not at slot 253?): {reason}"
    )]
    OverrideIgnored {
        /// The signal service.
        signal_service: Address,
        /// What it answered.
        reason: String,
    },
}

impl From<ViewError> for LayoutError {
    fn from(e: ViewError) -> Self {
        Self::Simulation(SimError::View(e))
    }
}

/// The L2 bridge as the L1 resolver names it: the app whose signals L1 checks for L2→L1 messages.
pub fn resolve_l2_bridge(
    view: &Arc<L1View>,
    protocol: &L1Protocol,
    config: &SimConfig,
) -> Result<Address, LayoutError> {
    let (mut db, block) = on_view(view, config);
    let spec = config.spec;
    let mut name = [0u8; 32];
    name[..6].copy_from_slice(b"bridge");
    let call = Resolver::resolveCall { chainId: U256::from(protocol.l2_chain_id), name: name.into(), allowZero: false };
    view_call(&mut db, spec, protocol.l1_chain_id, &block, protocol.resolver, &call)?
        .map_err(|reason| LayoutError::NoL2Bridge { chain_id: protocol.l2_chain_id, reason })
}

/// Checks, on `view`, that the L1 signal service refuses a random L2 bridge signal and accepts it once the
/// override marks it received (both through `proveSignalReceived` with an empty proof).
pub fn check_fast_signal_path(
    view: &Arc<L1View>,
    protocol: &L1Protocol,
    config: &SimConfig,
) -> Result<(), LayoutError> {
    let (mut db, block) = on_view(view, config);
    let spec = config.spec;
    let signal = keccak256([view.hash().as_slice(), b"surge-node fast-signal layout check"].concat());
    let call = SignalService::proveSignalReceivedCall {
        chainId: protocol.l2_chain_id,
        app: protocol.l2_bridge,
        signal,
        proof: Bytes::new(),
    };
    let ss = protocol.signal_service;
    if let Ok(answer) = view_call(&mut db, spec, protocol.l1_chain_id, &block, ss, &call)? {
        return Err(LayoutError::AcceptsUnsent { signal_service: ss, reason: format!("answered {answer}") });
    }
    let slot = signal_slot(protocol.l2_chain_id, protocol.l2_bridge, signal);
    let key = U256::from_be_bytes(received_signal_key(slot).0);
    db.insert_account_storage(ss, key, U256::from(1)).map_err(SimError::View)?;
    view_call(&mut db, spec, protocol.l1_chain_id, &block, ss, &call)?
        .map(|_| ())
        .map_err(|reason| LayoutError::OverrideIgnored { signal_service: ss, reason })
}

/// What the L1 leg's simulation needs, checked: the views, the L1 protocol with the L2 bridge as L1's
/// resolver names it, and the simulation's settings.
#[derive(Debug)]
pub struct L1Leg<S> {
    /// Views of recent L1 blocks.
    pub views: crate::view::L1Views<S>,
    /// The contracts the leg involves.
    pub protocol: L1Protocol,
    /// How the bundle is simulated and bounded.
    pub config: SimConfig,
}

impl<S: crate::view::L1StateSource> L1Leg<S> {
    /// Opens the view of L1 block `number` (`hash`), resolves the L2 bridge there and checks the
    /// fast-signal override ([`check_fast_signal_path`]); an error means synchronous composability must stay
    /// off.
    pub async fn prepare(
        source: S,
        (number, hash): (u64, alloy_primitives::B256),
        protocol: L1Protocol,
        config: SimConfig,
    ) -> Result<Self, LayoutError> {
        let views = crate::view::L1Views::new(source, crate::view::DEFAULT_VIEW_CAPACITY);
        let view = views.view(number, hash).await?;
        // Reads of a remote view wait for the network: off the async task.
        let protocol = tokio::task::spawn_blocking(move || {
            let l2_bridge = resolve_l2_bridge(&view, &protocol, &config)?;
            let protocol = L1Protocol { l2_bridge, ..protocol };
            check_fast_signal_path(&view, &protocol, &config)?;
            Ok::<_, LayoutError>(protocol)
        })
        .await
        .map_err(|e| SimError::Protocol { what: "the startup check's task", reason: e.to_string() })??;
        Ok(Self { views, protocol, config })
    }

    /// A bundle simulator on the view of L1 block `number` (`hash`), after the `in_flight` bundles. Run its
    /// calls on a blocking thread.
    pub async fn simulator(
        &self,
        (number, hash): (u64, alloy_primitives::B256),
        in_flight: &[super::InFlightBundle],
    ) -> Result<super::BundleSimulator, SimError> {
        let view = self.views.view(number, hash).await?;
        let (protocol, config, in_flight) = (self.protocol, self.config, in_flight.to_vec());
        tokio::task::spawn_blocking(move || super::BundleSimulator::new(view, protocol, config, &in_flight))
            .await
            .map_err(|e| SimError::Protocol { what: "the simulation task", reason: e.to_string() })?
    }
}
