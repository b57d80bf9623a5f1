//! The surge payload builder: builds L2 blocks `[anchor, pool transactions…, relay transactions…]` with
//! the return signals their outbound messages need injected into the anchor. This first part builds the
//! anchor.

pub mod anchor;

pub use anchor::{AnchorInput, build_anchor};
