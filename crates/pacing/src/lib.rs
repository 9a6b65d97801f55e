//! Pacing for adloop: lock-free budget ledgers that never overspend, pacing controllers
//! that spend smoothly, and frequency caps.
//!
//! Each part stands alone; the adloop engine composes them per campaign. Spend and
//! frequency sit behind traits ([`BudgetStore`], [`FrequencyStore`]) whose in-process
//! implementations are the defaults, so a fleet-wide store can plug in.
//!
//! # Overview
//! - [`BudgetLedger`]: one campaign's daily and lifetime budget over a [`Flight`], daily
//!   rollover at a UTC offset ([`BudgetConfig`]). [`try_reserve`](BudgetLedger::try_reserve)
//!   returns a [`Reservation`] (32 bytes, `Copy`, serde) settled exactly once by
//!   [`commit`](BudgetLedger::commit) (actual ≤ reserved), [`release`](BudgetLedger::release)
//!   or [`expire`](BudgetLedger::expire). [`LedgerSnapshot`] persists it.
//!   [`InProcessBudgetStore`] keeps ledgers by campaign.
//! - [`PacingController`]: `admit(now, rng)` → [`Admission`] on the hot path,
//!   `tick(now, &Observation)` from any thread. Built from a serde [`PacingMode`] by
//!   [`PacingMode::build`] into a [`Pacer`]: [`Asap`], [`ThrottlePacer`] (Agarwal et al.
//!   2014) towards a [`TargetCurve`] (even, traffic-shaped from a learned
//!   [`TrafficForecast`], front-loaded, custom), [`BidShadingPacer`] (Balseiro & Gur
//!   2019), [`PidPacer`] (Zhang et al. 2016, with anti-windup) and [`ImpressionGoalPacer`].
//!   [`PacerState`] persists any of them.
//! - [`InProcessFrequencyStore`]: [`FrequencyCap`]s per user or household
//!   ([`IdentityKind`]), per campaign or advertiser ([`CapScope`]), in fixed, sliding or
//!   lifetime windows ([`CapWindow`]); [`FrequencySnapshot`] persists it.
//! - [`InProcessAdLoadStore`]: member ad load ([`AdLoadPolicy`]): ad seconds per hour and
//!   per viewing session, pods per hour, one campaign at most N times per stream;
//!   [`AdLoadStore::allowance`] tells the engine how much a pod may hold for this member.
//!
//! # Example
//! ```
//! use adloop_core::{CampaignId, DurationMs, Money, Timestamp};
//! use adloop_pacing::{
//!     BudgetConfig, BudgetLedger, Observation, PacingController, PacingMode, TargetCurve,
//! };
//! use rand::{SeedableRng, rngs::StdRng};
//! use std::sync::Arc;
//!
//! let budget = BudgetConfig::daily(Money::from_units(500).unwrap());
//! let ledger = Arc::new(BudgetLedger::new(CampaignId(7), budget)?);
//! let mode: PacingMode = serde_json::from_str(
//!     r#"{"mode": "throttle", "curve": {"curve": "traffic_shaped"}}"#,
//! ).unwrap();
//! let pacer = mode.build(&budget)?;
//!
//! let now = Timestamp::from_millis(1_700_006_400_000);
//! let mut rng = StdRng::seed_from_u64(1);
//! if pacer.admit(now, &mut rng).participate {
//!     // The auction priced the impression at 2,500 micros: hold it until it renders.
//!     let token = ledger.try_reserve(Money::from_micros(2_500), now)?;
//!     ledger.commit(&token, Money::from_micros(2_100))?; // rendered, cleared lower
//!     assert!(ledger.commit(&token, Money::from_micros(2_100)).is_err()); // never twice
//! }
//! // Every few seconds: expire lost reservations, feed the controller.
//! let later = now + DurationMs::MINUTE;
//! ledger.expire(later);
//! pacer.tick(later, &Observation { spend: ledger.spend(later), ..Observation::default() });
//! # Ok::<(), adloop_pacing::Error>(())
//! ```
//!
//! # Concurrency
//! Every type is `Send + Sync`; share with `Arc`. Ledgers are lock-free (CAS loops;
//! reserved + committed never exceeds a budget, proven by an 8-thread stress test with
//! exact accounting and loom models). `admit` reads two atomics; `tick` updates state
//! under a `try_lock` that never waits (a concurrent tick is skipped, observations being
//! cumulative). Frequency checks are lock-free map reads. Each module documents its
//! atomics in a `# Synchronization` section.
//!
//! # Performance
//! On a 2-core machine (criterion, `benches/pacing.rs`): `admit` 2–5 ns; a reserve +
//! release pair 130–160 ns (a bare `Mutex<i64>` doing a quarter of the bookkeeping:
//! 65–70 ns); a frequency check among 100,000 tracked users 140 ns, a record 180 ns.
//! See `docs/pacing.md`.
//!
//! # Crate features
//! None. Under `RUSTFLAGS="--cfg loom"` atomics switch to loom for the model tests.
#![deny(missing_docs)]

mod adload;
mod budget_store;
mod controller;
mod curve;
mod error;
mod frequency;
mod ledger;
mod sync;

pub use crate::{
    adload::{AdLoadPolicy, AdLoadSnapshot, AdLoadStore, Allowance, InProcessAdLoadStore, ShownAd},
    budget_store::{BudgetStore, BudgetStoreSnapshot, InProcessBudgetStore},
    controller::{
        Admission, Asap, BidShadingPacer, BidShadingSettings, BidShadingState, DEFAULT_VALUE_SCALE,
        ImpressionGoalPacer, ImpressionGoalSettings, ImpressionGoalState, Observation, Pacer,
        PacerState, PacingController, PacingMode, PacingPlan, PidPacer, PidSettings, PidState,
        ThrottlePacer, ThrottleSettings, ThrottleState,
    },
    curve::{MAX_CURVE_POINTS, MAX_FORECAST_BINS, TargetCurve, TrafficForecast},
    error::Error,
    frequency::{
        CapScope, CapWindow, FrequencyCap, FrequencySnapshot, FrequencyStore, Identities,
        IdentityKind, InProcessFrequencyStore, MAX_SLIDING_CAP,
    },
    ledger::{
        BudgetConfig, BudgetLedger, Expired, Flight, LedgerSnapshot, LedgerTotals,
        MAX_DAILY_BUDGET, MAX_OUTSTANDING_LIMIT, Reservation, ReservationState, Spend,
    },
};
