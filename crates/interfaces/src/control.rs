//! Chain control: what an extension does when L1 refuses what the L2 built — pause production, unwind,
//! resume.

use alloy_primitives::B256;

/// Chain control failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainControlError {
    /// The target is above the head.
    #[error("cannot unwind to block {target}: the head is block {head}")]
    AboveHead {
        /// The target.
        target: u64,
        /// The head.
        head: u64,
    },
    /// The target is below what the chain keeps (genesis, or blocks whose reverts are gone).
    #[error("cannot unwind to block {target}: {reason}")]
    TooDeep {
        /// The target.
        target: u64,
        /// Why.
        reason: String,
    },
    /// The committed blocks could not be made durable.
    #[error("making the committed blocks durable: {reason}")]
    Persist {
        /// What failed.
        reason: String,
    },
    /// Reading or writing the store failed.
    #[error("unwinding to block {target}: {reason}")]
    Store {
        /// The target.
        target: u64,
        /// What failed.
        reason: String,
    },
}

/// What an unwind did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unwound {
    /// The blocks removed, lowest first.
    pub blocks: Vec<u64>,
    /// User transactions returned to the pool, in block order.
    pub reinjected: Vec<B256>,
    /// User transactions the pool refused again (for example, no longer valid), with the reason.
    pub refused: Vec<(B256, String)>,
}

/// Pausing, unwinding and resuming the canonical chain.
pub trait ChainControl: Send + Sync {
    /// Stops block production after the block being built, if any; returns once no build is running.
    fn pause_production(&self);
    /// Starts block production again.
    fn resume_production(&self);
    /// Whether production is paused.
    fn is_paused(&self) -> bool;
    /// Removes every block above `target`: their user transactions (not the anchors, not the planner's
    /// relay transactions) return to the pool, the block-input planner is told which blocks were reverted,
    /// and subscribers get a `Reverted` notification.
    fn unwind_to(&self, target: u64) -> Result<Unwound, ChainControlError>;
    /// Makes every committed block durable (the node otherwise does so every few blocks: a crash of the
    /// process loses none, a power cut may lose the latest). Call it before blocks leave the node, for
    /// example before proposing them to L1. It waits for the disk: call it off async tasks.
    fn persist(&self) -> Result<(), ChainControlError>;
}
