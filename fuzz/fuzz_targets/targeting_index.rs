//! Compiled targeting index vs the reference evaluators (differential).
//! The property checks live in `adloop_fuzz::checks::targeting_index` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::targeting_index::run(data));
