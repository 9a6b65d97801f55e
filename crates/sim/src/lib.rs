//! Seeded marketplace simulator and SVG plot helpers for adloop examples and benches.
//!
//! This crate is being built; see the project issues for its contract.
#![deny(missing_docs)]
