//! Closed-loop attribution for adloop: every conversion (a subscription, a purchase) is
//! joined to the impressions and clicks that preceded it for the same household or person,
//! credited to campaigns by a chosen model, measured for true lift with holdout groups,
//! reported without exposing individuals, and fed back into bidding as smoothed rates.
//!
//! # Overview
//! - Events: [`Impression`] (a shown ad, or a *ghost* for a holdout control identity),
//!   [`Click`] (refers to its impression), [`Conversion`] (with [`ConversionKind`], optional
//!   value and [`OrderId`]), wrapped in [`Event`].
//! - [`Config`]: [`JoinKey`] (household, user, or an [`IdentityResolver`] such as
//!   [`IdentityMap`]), click and view windows (7 d / 1 d, both edges inclusive), [`Model`],
//!   time-decay half-life, allowed lateness, Beta priors for feedback.
//! - [`Attributor`]: the single-threaded streaming join with a watermark. Events may arrive
//!   in any order within the allowed lateness; a conversion is final once the watermark
//!   passes it; an event older than the watermark is counted and logged as late
//!   ([`Stats`], [`Attributor::drain_late_events`]), never silently dropped. Touches older
//!   than every window are evicted ([`MemoryUsage`]). [`attribute_batch`] gives the same
//!   answer for a complete event set as the sorted stream.
//! - Models ([`Model`]): last-touch (default), first-touch, linear, time-decay,
//!   position-based 40/20/40; clicks beat views for last/first touch.
//! - Dedup: conversions with the same (advertiser, order id) count once: the earliest (then
//!   lowest id); the others finalize as [`Outcome::Duplicate`].
//! - Incrementality: [`holdout`] assigns an identity to [`Group::Treatment`] or
//!   [`Group::Control`] by a stable hash; [`LiftReport`] gives conversion rates, lift with a
//!   95% interval ([`Lift`]), incremental conversions and iROAS.
//! - Reports: [`Report`] per campaign and per day with attributed conversions and value per
//!   model, CPA and ROAS ([`Counts`]); [`Report::privatize`] suppresses small cells and adds
//!   seeded Laplace noise ([`PrivacyPolicy`], [`PrivateReport`]).
//! - Feedback: [`Rates`] (smoothed CTR and CVR per impression) in a [`FeedbackTable`].
//! - [`AttributionService`]: the thread-safe front for an ad server: lock-free recording
//!   through bounded queues, `tick(now)` to drain and finalize, lock-free feedback and
//!   holdout reads, reports and persisted state ([`ServiceState`]).
//!
//! # Example
//! ```
//! use adloop_attribution::{Attributor, Click, Config, Conversion, ConversionKind, Impression, Outcome};
//! use adloop_core::*;
//!
//! let mut a = Attributor::new(Config::default())?;
//! let t0 = Timestamp::from_millis(1_700_000_000_000);
//! let imp = |id: u64, campaign: u64, at: Timestamp| Impression {
//!     id: ImpressionId(id), time: at, user: UserId(1), household: HouseholdId(10),
//!     advertiser: AdvertiserId(5), campaign: CampaignId(campaign), creative: CreativeId(1),
//!     cost: Money::from_micros(20_000), ghost: false,
//! };
//! a.ingest(imp(1, 100, t0).into());
//! a.ingest(Click { impression: ImpressionId(1), time: t0 + DurationMs::from_mins(1) }.into());
//! a.ingest(imp(2, 200, t0 + DurationMs::from_hours(2)).into()); // a later view
//! a.ingest(Conversion {
//!     id: ConversionId(9), time: t0 + DurationMs::from_hours(3), user: UserId(1),
//!     household: HouseholdId(10), advertiser: AdvertiserId(5), kind: ConversionKind::Subscription,
//!     value: Some(Money::from_units(10).unwrap()), order_id: None,
//! }.into());
//! a.finish();
//! let out = a.take_attributions();
//! assert_eq!(out[0].outcome, Outcome::Attributed);
//! // Last touch: the click beats the later view.
//! assert_eq!(out[0].credits[0].campaign, CampaignId(100));
//! assert_eq!(out[0].credits[0].credit, 1.0);
//! # Ok::<(), adloop_attribution::Error>(())
//! ```
//!
//! # Concurrency
//! [`Attributor`] is a plain `&mut self` value. [`AttributionService`] is `Send + Sync`
//! and meant to live in an `Arc`: `record` takes no lock and does not allocate (a
//! Vyukov bounded queue whose slots are atomic words; a full set of queues returns
//! [`Error::QueueFull`] with the event, so nothing is lost); `feedback` and `holdout_group`
//! read `ArcSwap`-published tables; `tick`, reports and state export take the one mutex
//! around the join.
//!
//! # Performance
//! Touches live in two time-ordered arenas (views, clicks) of 24-byte records (impression
//! id, time as an offset from its chunk's base, campaign index, link to the key's previous
//! touch, key slot), chained per (identity, advertiser) key. Eviction drops whole chunks
//! from the front; nothing is freed touch by touch. The key table (16-byte inline
//! buckets) and the impression index (8-byte entries in cache-line groups of eight) are
//! open-addressing tables, one cache miss per lookup; an impression costs two lookups and
//! an append, a conversion walks its own key's chains. [`Attributor::ingest_all`]
//! prefetches the buckets of the events 16 ahead of the one it joins, so their misses
//! overlap (about 2× the events per CPU-second of one `ingest` call per event): prefer it
//! for batches. Every accepted event (either path) also takes one step of warming the
//! walk of the conversion due next: its key bucket, then its newest views, one prefetched
//! link per event, so the walk mostly reads cached lines when the watermark passes it.
//! On Linux both tables ask the kernel for transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`, advice only): their lookups are random, and with 4 KiB pages
//! nearly every one is also a page walk. Campaign and advertiser ids are interned through
//! a dense array (ids below 2¹⁶) or a seeded open-addressing table, not a `HashMap`, per
//! event. A caller that knows its scale sets the capacity hint
//! ([`Config::expected_keys`], [`Config::expected_impressions`]: the distinct
//! identity-advertiser pairs and the impressions of one view window): the tables are
//! sized once instead of rebuilt as they grow (1.24× last-touch at 10M events / 1M
//! households). The prefetch, the SSE2 compares of an index group (eight entries per
//! instruction pair) and the `madvise` call are the crate's `unsafe` blocks (the first two
//! x86-64 only: elsewhere a no-op and plain loops; the last Linux only), each
//! SAFETY-commented.
//! `benches/attribution.rs` measures events/s and bytes per stored touch (everything the
//! store holds, by capacity, over the touches stored); see `docs/attribution.md`.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

mod config;
mod error;
mod event;
mod feedback;
mod holdout;
mod intern;
mod join;
mod model;
mod queue;
mod reference;
mod report;
mod service;
mod store;

pub use crate::{
    config::{
        BetaPrior, Config, IdentityKey, IdentityMap, IdentityResolver, JoinKey, Model, ModelSet,
    },
    error::Error,
    event::{Click, Conversion, ConversionKind, Event, EventKind, Impression, OrderId},
    feedback::{FeedbackTable, Rates},
    holdout::{ArmTotals, Group, Lift, LiftReport, holdout},
    join::{
        Attribution, Attributor, AttributorState, BatchOutput, Credit, Ingest, MemoryUsage,
        Outcome, Stats, attribute_batch,
    },
    reference::{ReferenceResult, reference_attribution},
    report::{CampaignReport, Counts, DayReport, PrivacyPolicy, PrivateReport, PrivateRow, Report},
    service::{AttributionService, ServiceConfig, ServiceState, TickSummary},
};

#[cfg(test)]
mod auto_traits {
    use super::*;

    fn assert_traits<T: Send + Sync + Unpin>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        assert_traits::<AttributionService>();
        assert_traits::<Attributor>();
        assert_traits::<Config>();
        assert_traits::<Event>();
        assert_traits::<Error>();
        assert_traits::<Report>();
        assert_traits::<PrivateReport>();
        assert_traits::<FeedbackTable>();
        assert_traits::<LiftReport>();
        assert_traits::<Attribution>();
        assert_traits::<ServiceState>();
        assert_traits::<AttributorState>();
        assert_traits::<IdentityMap>();
        assert_traits::<Stats>();
    }
}
