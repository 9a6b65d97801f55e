//! Integration tests of adloop-pacing's public API (one binary).
//!
//! Under `RUSTFLAGS="--cfg loom"` only the loom models are built.

#[cfg(not(loom))]
mod controllers;
#[cfg(not(loom))]
mod frequency;
#[cfg(loom)]
mod loom_models;
#[cfg(not(loom))]
mod stress;

#[cfg(not(loom))]
#[test]
fn public_types_are_send_sync_unpin() {
    fn assert_traits<T: Send + Sync + Unpin>() {}
    use adloop_pacing::*;
    assert_traits::<BudgetLedger>();
    assert_traits::<InProcessBudgetStore>();
    assert_traits::<InProcessFrequencyStore>();
    assert_traits::<Pacer>();
    assert_traits::<Reservation>();
    assert_traits::<Error>();
    assert_traits::<PacingMode>();
    assert_traits::<TrafficForecast>();
    assert_traits::<LedgerSnapshot>();
    assert_traits::<PacerState>();
    assert_traits::<FrequencySnapshot>();
    assert_traits::<InProcessAdLoadStore>();
    assert_traits::<AdLoadSnapshot>();
    assert_traits::<AdLoadPolicy>();
    assert!(std::mem::size_of::<Reservation>() <= 32);
}
