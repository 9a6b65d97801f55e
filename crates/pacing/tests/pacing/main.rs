//! Integration tests of adloop-pacing's public API (one binary).
//!
//! Under `RUSTFLAGS="--cfg loom"` only the loom models are built.

#[cfg(loom)]
mod loom_models;
#[cfg(not(loom))]
mod stress;
