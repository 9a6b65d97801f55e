//! OpenRTB 2.6 BidRequest decoding: no panic, limits hold, valid responses.
//! The property checks live in `adloop_fuzz::checks::openrtb` (see there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| adloop_fuzz::checks::openrtb::run(data));
