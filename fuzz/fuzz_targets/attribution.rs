//! Streaming attribution join vs the nested-loop reference, on arbitrary event sequences.
//! The property checks live in `adloop_fuzz::checks::attribution` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::attribution::run(data));
