//! `Money` text parsing: never panics, and whatever parses prints back to a string that
//! parses to the same amount.
#![no_main]

use adloop_core::Money;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(money) = text.parse::<Money>() {
        let printed = money.to_string();
        assert_eq!(printed.parse::<Money>().ok(), Some(money), "{text:?} → {printed:?}");
    }
});
