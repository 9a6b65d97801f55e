//! Pacing for adloop: lock-free budget ledgers that never overspend, pacing controllers and frequency caps.
//!
//! This crate is being built; see the project issues for its contract.
#![deny(missing_docs)]
