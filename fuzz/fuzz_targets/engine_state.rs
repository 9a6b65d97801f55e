//! Engine state files from arbitrary bytes: an error or a working engine, never a panic.
//! The property checks live in `adloop_fuzz::checks::engine_state` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::engine_state::run(data));
