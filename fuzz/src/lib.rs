//! Property checks behind adloop's fuzz targets.
//!
//! Every target in `fuzz_targets/` is one line: it hands libFuzzer's bytes to
//! `checks::<target>::run`. The checks themselves live here, free of any libFuzzer
//! dependency, so the root package's `tests/fuzz_regressions.rs` can include the same
//! files (`#[path = "../fuzz/src/checks/mod.rs"]`) and replay every committed crash
//! under an ordinary `cargo test`.
//!
//! Each `run` decodes its input with [`arbitrary`] (structured inputs), exercises one
//! untrusted-input surface and asserts properties: round trips, differential agreement
//! with a plain reference implementation, invariants. A failed property panics, which
//! libFuzzer reports as a crash and the replay test as a failure.

pub mod checks;
