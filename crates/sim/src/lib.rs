//! Seeded marketplace generators and SVG plot helpers for adloop's examples and benches.
//!
//! Everything here is a plain, deterministic generator: give it a seeded RNG
//! (`StdRng::seed_from_u64`) and the same seed gives the same output. Nothing here
//! depends on the adloop engine; outputs are plain structs that examples map onto engine
//! types.
//!
//! # Overview
//! - Traffic: [`DiurnalCurve`] — the relative request rate over a streaming day (low
//!   overnight, prime-time peak at 20:00–22:00), exact or Poisson per-second/per-minute
//!   counts, millisecond arrival times, and [`DayNoise`] for day-to-day variation.
//! - Prices: [`LogNormalMoney`] (median and log-σ) and [`OpenAuction`], the highest
//!   competing bid of the open market.
//! - Plots: [`LineChart`] (several series, legend) and [`IntervalChart`] (estimates with
//!   error bars and true-value markers), written as SVG; [`check_svg`] verifies a
//!   document is well formed.
//!
//! # Example
//! ```
//! use adloop_core::{Cpm, DurationMs};
//! use adloop_sim::{DiurnalCurve, LineChart, OpenAuction};
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(42);
//! let curve = DiurnalCurve::streaming();
//! assert!((20.0..=22.0).contains(&curve.peak_hour()));
//!
//! // 100,000 requests spread over the day's seconds.
//! let per_second = curve.sample_counts(100_000, DurationMs::SECOND, &mut rng)?;
//! assert_eq!(per_second.iter().sum::<u64>(), 100_000);
//!
//! // The price to beat on one opportunity.
//! let open = OpenAuction::new(Cpm::from_micros(15_000_000), 0.5)?;
//! let _highest: Option<Cpm> = open.highest_competing_cpm(&mut rng);
//!
//! let hourly: Vec<(f64, f64)> =
//!     (0..24).map(|h| (h as f64, curve.weight_at_hour(h as f64 + 0.5))).collect();
//! let svg = LineChart::new("Traffic").x_label("hour").y_label("rate").series("rate", hourly)
//!     .to_svg_string()?;
//! adloop_sim::check_svg(&svg)?;
//! # Ok::<(), adloop_sim::SimError>(())
//! ```
//!
//! # Money
//! Distributions are sampled in `f64`; the result becomes [`Money`](adloop_core::Money)
//! in exactly one place (rounded to the nearest micro-unit, clamped at zero), so every
//! price and budget the simulator hands out is exact integer money from then on.
//!
//! # Concurrency
//! Generators are immutable values (`Send + Sync`) that take `&mut R: Rng`; give each
//! thread its own RNG, seeded from the run seed and the thread index, for reproducible
//! parallel simulations.
//!
//! # Performance
//! Not on any hot path. Drawing a day of per-second counts costs 86,400 binomial draws
//! (a few milliseconds); arrival times add one uniform draw per request.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

mod competition;
mod diurnal;
mod error;
mod money;
mod plot;
mod svg;

pub use crate::{
    competition::{LogNormalMoney, OpenAuction},
    diurnal::{DayNoise, DiurnalBump, DiurnalCurve},
    error::SimError,
    plot::{Interval, IntervalChart, LineChart, Series},
    svg::check_svg,
};
