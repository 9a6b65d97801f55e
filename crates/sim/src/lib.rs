//! Seeded marketplace generators and SVG plot helpers for adloop's examples and benches.
//!
//! Everything here is a plain, deterministic generator: give it a seeded RNG
//! (`StdRng::seed_from_u64`) and the same seed gives the same output. Nothing here
//! depends on the adloop engine; outputs are plain structs that examples map onto engine
//! types.
//!
//! # Overview
//! - Audience: [`Population`] — viewers ([`User`]) in [`Household`]s with Zipf-skewed
//!   segment memberships over a configurable domain and the scalar attributes of
//!   [`vocab`] (country, region, device type, OS, publisher, genre taste); it draws
//!   [`Opportunity`]s (a viewer, a genre, an instant) whose
//!   [`attributes`](Opportunity::attributes) use the targeting attribute names of
//!   [`vocab::attr`].
//! - Demand: [`generate_campaigns`] — [`SimCampaign`]s with budgets, flights, targeting
//!   expressions ([`targeting_expression`]), lognormal CPM bids, CPC/CPA goals, tiers,
//!   competitive categories, holdouts and frequency caps, as plain data.
//! - Outcomes: [`ConversionModel`] — a base daily conversion rate per household and
//!   advertiser plus a known incremental effect per exposure per campaign;
//!   [`TruthTally`] turns a run's exposures into the true incremental conversions and
//!   true lift ([`CampaignTruth`]).
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
//! A whole simulated world:
//! ```
//! use adloop_core::{DurationMs, Timestamp};
//! use adloop_sim::{
//!     CampaignConfig, ConversionConfig, ConversionModel, DiurnalCurve, Population,
//!     PopulationConfig, generate_campaigns,
//! };
//! use rand::{SeedableRng, rngs::StdRng};
//!
//! let mut rng = StdRng::seed_from_u64(7);
//! let population = Population::generate(&PopulationConfig { users: 2_000, ..Default::default() }, &mut rng)?;
//! let campaigns = generate_campaigns(&CampaignConfig { campaigns: 20, ..Default::default() }, &population, &mut rng)?;
//! let truth_model = ConversionModel::new(&ConversionConfig::default(), &population, &campaigns, &mut rng)?;
//!
//! let day = Timestamp::from_millis(1_700_000_000_000);
//! let opportunities = population.day_of_opportunities(
//!     &DiurnalCurve::streaming(), day, DurationMs::ZERO, 1_000, &mut rng);
//! let mut tally = truth_model.tally(day, day + DurationMs::DAY);
//! let (o, c) = (&opportunities[0], &campaigns[0]);
//! // ... the engine decides; suppose campaign `c` wins opportunity `o`:
//! tally.record_exposure(&truth_model, c.id, o.household, o.at);
//! for conversion in truth_model.conversions_from_exposure(c.id, o.household, o.user, o.at, &mut rng) {
//!     tally.record_conversion(&conversion);
//! }
//! let truth = tally.campaign(&truth_model, c.id).unwrap();
//! assert_eq!(truth.exposures, 1);
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
//! Not on any hot path, but sized for the marketplace example (200k viewers, 2M
//! opportunities, 500 campaigns): generation is linear in viewers × segments; a day of
//! per-second counts costs 86,400 binomial draws; opportunities cost O(1) each (alias
//! tables); baseline conversions cost O(conversions) by Poisson thinning.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

mod campaign;
mod competition;
mod conversion;
mod diurnal;
mod error;
mod money;
mod plot;
mod population;
mod sampling;
mod svg;
mod targeting;
pub mod vocab;

pub use crate::{
    campaign::{
        CampaignConfig, MAX_CAMPAIGNS, SimBid, SimCampaign, SimCapScope, SimFrequencyCap, SimTier,
        generate_campaigns,
    },
    competition::{LogNormalMoney, OpenAuction},
    conversion::{
        CampaignTruth, ConversionCause, ConversionConfig, ConversionModel, SimConversion,
        TruthTally,
    },
    diurnal::{DayNoise, DiurnalBump, DiurnalCurve},
    error::SimError,
    plot::{Interval, IntervalChart, LineChart, Series},
    population::{
        AttrValue, Household, MAX_SEGMENT_DOMAIN, MAX_USERS, Opportunity, Population,
        PopulationConfig, User,
    },
    svg::check_svg,
    targeting::{TargetingExpr, targeting_expression},
};
