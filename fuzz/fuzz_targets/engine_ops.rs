//! Engine operation sequences: publish / decide / record / tick / save-load in any order; ledger invariants.
//! The property checks live in `adloop_fuzz::checks::engine_ops` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::engine_ops::run(data));
