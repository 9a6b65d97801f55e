//! `Money` and `Cpm` text parsing: never panics, and whatever parses prints back to a
//! string that parses to the same amount.

use adloop_core::{Cpm, Money};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(money) = text.parse::<Money>() {
        let printed = money.to_string();
        assert_eq!(
            printed.parse::<Money>().ok(),
            Some(money),
            "{text:?} → {printed:?}"
        );
    }
    if let Ok(cpm) = text.parse::<Cpm>() {
        let printed = cpm.to_string();
        assert_eq!(
            printed.parse::<Cpm>().ok(),
            Some(cpm),
            "{text:?} → {printed:?}"
        );
    }
}
