//! Auction invariants on arbitrary candidates, configurations, slots and pods.
//! The property checks live in `adloop_fuzz::checks::auction` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::auction::run(data));
