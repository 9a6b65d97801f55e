//! Quick start: the vocabulary adloop speaks (the engine walk-through lands with the engine).
//!
//! `cargo run --release --example quickstart`

use adloop::core::{Cpm, DurationMs, Money, Timestamp};

fn main() -> Result<(), adloop::core::Error> {
    // Prices are exact integers in micro-units; buyers bid CPMs.
    let bid: Cpm = "4.20".parse()?;
    println!("a {bid} CPM costs {} per impression", bid.per_impression());
    println!(
        "1,234,567 impressions cost {}",
        bid.cost_of(1_234_567).unwrap_or(Money::MAX)
    );

    // Time comes from the caller, so a replay gives the same answers.
    let now = Timestamp::from_millis(1_764_400_000_000);
    let prime_time = now.start_of_day(DurationMs::ZERO) + DurationMs::from_hours(20);
    println!(
        "prime time starts at {prime_time} (hour {})",
        prime_time.hour_of_day(DurationMs::ZERO)
    );
    Ok(())
}
