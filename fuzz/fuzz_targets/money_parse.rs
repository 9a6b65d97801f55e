//! `Money` / `Cpm` text: parse → print → parse round trip.
//! The property checks live in `adloop_fuzz::checks::money_parse` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::money_parse::run(data));
