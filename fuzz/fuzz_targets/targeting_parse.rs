//! Targeting language: no panic, limits hold, schema obeyed, print → parse round trip.
//! The property checks live in `adloop_fuzz::checks::targeting_parse` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::targeting_parse::run(data));
