//! adloop: programmatic ad decisioning for a streaming ad tier.
//!
//! The facade re-exports each component crate as a module.
#![deny(missing_docs)]

pub use adloop_attribution as attribution;
pub use adloop_auction as auction;
pub use adloop_core as core;
pub use adloop_pacing as pacing;
pub use adloop_targeting as targeting;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
