//! One module per fuzz target; each exposes `pub fn run(data: &[u8])`, which returns
//! quietly on inputs it cannot use and panics when a property fails.
//!
//! This file is compiled twice: as `adloop_fuzz::checks` in the fuzz workspace, and as a
//! module of the root package's `tests/fuzz_regressions.rs`, so it may name only crates
//! both have: `arbitrary`, `serde_json` and the adloop crates.

pub mod attribution;
pub mod auction;
pub mod engine_ops;
pub mod engine_state;
pub mod inputs;
pub mod money_parse;
pub mod openrtb;
pub mod targeting_index;
pub mod targeting_parse;
