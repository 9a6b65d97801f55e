//! Pacing controllers: one trait, [`PacingController`], and its implementations.
//!
//! # Synchronization
//! The decide path reads two atomics of [`Knobs`]:
//! - `threshold` (`AtomicU64`): participation probability as a fraction of 2⁶⁴
//!   (`u64::MAX` = always, 0 = never);
//! - `multiplier` (`AtomicU64`): the bid multiplier's `f64` bits.
//!
//! Both are written by `tick` with `Relaxed` stores and read by `admit` with `Relaxed`
//! loads: each is a self-contained value, nothing else is published through them, and a
//! decision that sees the new probability with the old multiplier for a moment is
//! harmless (both are valid).
//!
//! `tick` keeps the controller's working state (estimates, integrals, the learned
//! forecast) in a `Mutex` taken with `try_lock`: a tick that finds another tick running
//! returns at once instead of waiting, so concurrent ticks never block each other and
//! never interleave their updates. Observations are cumulative, so a skipped tick loses
//! nothing: the next one sees the whole interval. A tick older than the last applied one
//! is ignored.

use crate::curve::{CurveClock, TargetCurve, TrafficForecast};
use crate::error::Error;
use crate::ledger::{BudgetConfig, Flight, Spend};
use crate::sync::{AtomicU64, Mutex, Ordering};
use adloop_core::{DurationMs, Money, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// What the decide path may do for one opportunity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Admission {
    /// Whether the campaign enters this auction at all.
    pub participate: bool,
    /// Factor to apply to the campaign's bid (always finite and positive).
    pub bid_multiplier: f64,
}

/// What a controller is told on each tick. All counts are cumulative (never reset by the
/// caller), so ticks may be skipped or come from any thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The campaign's ledger spend ([`BudgetLedger::spend`](crate::BudgetLedger::spend)
    /// at the tick's `now`): controllers pace on `used_*` (committed plus outstanding
    /// reservations), so money in flight counts as spent.
    pub spend: Spend,
    /// Impressions delivered today (local day of the budget).
    pub impressions_today: u64,
    /// Impressions delivered over the flight.
    pub impressions_lifetime: u64,
    /// Opportunities seen so far: requests the campaign was eligible for before pacing
    /// (targeting matched, caps passed). Monotonic.
    pub opportunities: u64,
}

/// A pacing controller: decides participation and bid shading on the hot path and
/// updates itself from observations on a periodic tick.
///
/// `admit` must only read atomics; `tick` may be called from any thread at any time.
/// The trait takes the caller's generator generically (it is not object-safe); use the
/// [`Pacer`] enum to hold any built-in controller.
pub trait PacingController: Send + Sync {
    /// Participation and bid multiplier for one opportunity at `now`.
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission;
    /// Updates the controller from cumulative observations at `now`.
    fn tick(&self, now: Timestamp, observed: &Observation);
    /// The controller's state, for persistence.
    fn export_state(&self) -> PacerState;
    /// Restores state exported by the same kind of controller.
    fn import_state(&self, state: &PacerState) -> Result<(), Error>;
}

/// How a campaign is paced: the serde configuration that [`PacingMode::build`] turns
/// into a [`Pacer`] for the campaign's budget and flight.
///
/// Serialized as `{"mode": "throttle", "curve": {"curve": "traffic_shaped"}}` and so on;
/// every setting has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PacingMode {
    /// No pacing: always participate at the full bid until the ledger refuses.
    Asap,
    /// Probabilistic throttling (Agarwal et al., KDD 2014) towards a target curve: even,
    /// traffic-shaped, front-loaded or custom.
    Throttle {
        /// The target curve.
        #[serde(default = "even")]
        curve: TargetCurve,
        /// Tuning.
        #[serde(default)]
        settings: ThrottleSettings,
    },
    /// Multiplicative bid pacing, bid / (1 + μ), adaptive rule of Balseiro & Gur
    /// (Management Science 2019).
    BidShading {
        /// The target curve the per-opportunity target follows.
        #[serde(default = "even")]
        curve: TargetCurve,
        /// Tuning.
        #[serde(default)]
        settings: BidShadingSettings,
    },
    /// PID control of the bid, bid · exp(φ), with anti-windup (Zhang et al., WSDM 2016).
    Pid {
        /// The target curve.
        #[serde(default = "even")]
        curve: TargetCurve,
        /// Tuning.
        #[serde(default)]
        settings: PidSettings,
    },
    /// Guaranteed delivery: `goal` impressions by the end of the flight.
    ImpressionGoal {
        /// Impressions to deliver over the flight.
        goal: u64,
        /// How delivery should be spread over the flight.
        #[serde(default = "even")]
        curve: TargetCurve,
        /// Tuning.
        #[serde(default)]
        settings: ImpressionGoalSettings,
    },
}

fn even() -> TargetCurve {
    TargetCurve::Even
}

/// Tuning of [`PacingMode::Throttle`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Participation probability before the first estimate.
    pub initial_rate: f64,
    /// Lowest probability the controller sets while budget remains.
    pub min_rate: f64,
    /// Expected time between ticks (the look-ahead of each step).
    pub interval: DurationMs,
    /// A deficit or surplus against the curve is worked off over this horizon.
    pub catch_up: DurationMs,
    /// Weight of the newest interval in the spend-per-traffic estimate.
    pub estimate_weight: f64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            initial_rate: 0.5,
            min_rate: 0.0,
            interval: DurationMs::MINUTE,
            catch_up: DurationMs::from_mins(20),
            estimate_weight: 0.3,
        }
    }
}

/// The value scale of a bid-shading controller built without one and without a known
/// bid: one cent per impression (a $10 CPM).
pub const DEFAULT_VALUE_SCALE: Money = Money::from_micros(10_000);

/// Tuning of [`PacingMode::BidShading`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BidShadingSettings {
    /// Step size ε per unit of `value_scale` (Balseiro & Gur use ε ∝ 1/√T).
    pub step_size: f64,
    /// Upper bound μ̄ of the multiplier μ (bids never go below value / (1 + μ̄)).
    pub max_mu: f64,
    /// Starting μ.
    pub initial_mu: f64,
    /// Money that counts as one unit of value (the campaign's typical bid per
    /// impression); spend deviations are measured in it. `None` (the default): the
    /// campaign's own bid per impression where the caller knows it (the engine fills it
    /// in from a CPM bid with [`PacingMode::with_default_value_scale`]), else
    /// [`DEFAULT_VALUE_SCALE`]. A scale far from the real bid makes μ move too slowly or
    /// too fast: the marketplace simulation delivered a median 94% of budget with a fixed
    /// one-cent scale and 99.8% with the campaign's bid.
    pub value_scale: Option<Money>,
    /// Fixed target spend per opportunity ρ. `None` (the default) follows the curve:
    /// the target for each interval is the curve's share of the budget.
    pub target_per_opportunity: Option<Money>,
}

impl Default for BidShadingSettings {
    fn default() -> Self {
        BidShadingSettings {
            step_size: 0.001,
            max_mu: 20.0,
            initial_mu: 0.0,
            value_scale: None,
            target_per_opportunity: None,
        }
    }
}

/// Tuning of [`PacingMode::Pid`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PidSettings {
    /// Proportional gain on the cumulative error (fraction of the budget behind the curve).
    pub kp: f64,
    /// Integral gain per hour.
    pub ki: f64,
    /// Derivative gain (hours).
    pub kd: f64,
    /// Smallest bid multiplier.
    pub min_multiplier: f64,
    /// Largest bid multiplier.
    pub max_multiplier: f64,
}

impl Default for PidSettings {
    fn default() -> Self {
        PidSettings {
            kp: 15.0,
            ki: 4.0,
            kd: 0.0,
            min_multiplier: 0.1,
            max_multiplier: 4.0,
        }
    }
}

/// Tuning of [`PacingMode::ImpressionGoal`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpressionGoalSettings {
    /// Throttle tuning (applied to impressions instead of money).
    pub throttle: ThrottleSettings,
    /// Largest bid multiplier used when delivery is behind at full participation.
    pub max_boost: f64,
}

impl Default for ImpressionGoalSettings {
    fn default() -> Self {
        ImpressionGoalSettings {
            throttle: ThrottleSettings::default(),
            max_boost: 2.0,
        }
    }
}

fn check(ok: bool, field: &'static str, reason: &'static str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig { field, reason })
    }
}

fn unit(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

impl ThrottleSettings {
    fn validate(&self) -> Result<(), Error> {
        check(
            unit(self.initial_rate),
            "throttle.initial_rate",
            "must be in [0, 1]",
        )?;
        check(
            unit(self.min_rate),
            "throttle.min_rate",
            "must be in [0, 1]",
        )?;
        check(
            self.interval.as_millis() > 0,
            "throttle.interval",
            "must be positive",
        )?;
        check(
            self.catch_up >= self.interval,
            "throttle.catch_up",
            "must be at least the interval",
        )?;
        check(
            unit(self.estimate_weight) && self.estimate_weight > 0.0,
            "throttle.estimate_weight",
            "must be in (0, 1]",
        )
    }
}

impl PacingMode {
    /// This mode with a bid-shading controller's unset
    /// [`value_scale`](BidShadingSettings::value_scale) set to `bid_per_impression`
    /// (the campaign's own bid); every other mode, and a scale already set, unchanged.
    pub fn with_default_value_scale(&self, bid_per_impression: Money) -> PacingMode {
        match self {
            PacingMode::BidShading { curve, settings } if settings.value_scale.is_none() => {
                PacingMode::BidShading {
                    curve: curve.clone(),
                    settings: BidShadingSettings {
                        value_scale: Some(bid_per_impression.max(Money::from_micros(1))),
                        ..*settings
                    },
                }
            }
            other => other.clone(),
        }
    }

    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            PacingMode::Asap => Ok(()),
            PacingMode::Throttle { curve, settings } => {
                curve.validate()?;
                settings.validate()
            }
            PacingMode::BidShading { curve, settings: s } => {
                curve.validate()?;
                check(
                    s.step_size.is_finite() && s.step_size > 0.0,
                    "bid_shading.step_size",
                    "must be positive",
                )?;
                check(
                    s.max_mu.is_finite() && s.max_mu > 0.0 && s.max_mu <= 1e6,
                    "bid_shading.max_mu",
                    "must be in (0, 1e6]",
                )?;
                check(
                    s.initial_mu.is_finite() && (0.0..=s.max_mu).contains(&s.initial_mu),
                    "bid_shading.initial_mu",
                    "must be in [0, max_mu]",
                )?;
                check(
                    s.value_scale.is_none_or(|v| v.is_positive()),
                    "bid_shading.value_scale",
                    "must be positive",
                )?;
                check(
                    s.target_per_opportunity.is_none_or(|m| m.is_positive()),
                    "bid_shading.target_per_opportunity",
                    "must be positive",
                )
            }
            PacingMode::Pid { curve, settings: s } => {
                curve.validate()?;
                let gains = [s.kp, s.ki, s.kd];
                check(
                    gains
                        .iter()
                        .all(|g| g.is_finite() && *g >= 0.0 && *g <= 1e6),
                    "pid.gains",
                    "must be finite, non-negative and at most 1e6",
                )?;
                check(
                    s.min_multiplier.is_finite()
                        && s.min_multiplier > 0.0
                        && s.max_multiplier.is_finite()
                        && s.max_multiplier >= s.min_multiplier
                        && s.max_multiplier <= 1e3
                        && s.min_multiplier <= 1.0
                        && s.max_multiplier >= 1.0,
                    "pid.multipliers",
                    "need 0 < min ≤ 1 ≤ max ≤ 1000",
                )
            }
            PacingMode::ImpressionGoal {
                goal,
                curve,
                settings,
            } => {
                curve.validate()?;
                settings.throttle.validate()?;
                check(*goal > 0, "impression_goal.goal", "must be positive")?;
                check(
                    settings.max_boost.is_finite() && (1.0..=100.0).contains(&settings.max_boost),
                    "impression_goal.max_boost",
                    "must be in [1, 100]",
                )
            }
        }
    }

    /// Builds the controller for a campaign with `budget` (budgets, flight, time zone),
    /// starting traffic-shaped curves from a flat forecast.
    pub fn build(&self, budget: &BudgetConfig) -> Result<Pacer, Error> {
        self.build_with_forecast(budget, None)
    }

    /// As [`build`](Self::build), starting traffic-shaped curves from `forecast` (for
    /// example one learned on the service's overall traffic). The forecast's bin count
    /// must match the curve's.
    pub fn build_with_forecast(
        &self,
        budget: &BudgetConfig,
        forecast: Option<TrafficForecast>,
    ) -> Result<Pacer, Error> {
        self.validate()?;
        budget.validate()?;
        let plan = PacingPlan::from_budget(budget);
        let forecast = |curve: &TargetCurve| -> Result<Option<TrafficForecast>, Error> {
            match curve {
                TargetCurve::TrafficShaped {
                    bins_per_day,
                    smoothing,
                } => match &forecast {
                    Some(f) if f.shares().len() == *bins_per_day as usize => {
                        f.validate()?;
                        Ok(Some(f.clone()))
                    }
                    Some(_) => Err(Error::InvalidConfig {
                        field: "pacing.forecast",
                        reason: "bin count differs from the curve's bins_per_day",
                    }),
                    None => Ok(Some(TrafficForecast::new(
                        *bins_per_day,
                        *smoothing,
                        budget.utc_offset,
                    )?)),
                },
                _ => Ok(None),
            }
        };
        Ok(match self {
            PacingMode::Asap => Pacer::Asap(Asap::new(plan)),
            PacingMode::Throttle { curve, settings } => Pacer::Throttle(ThrottlePacer {
                core: Core::new(plan, settings.initial_rate, 1.0),
                curve: curve.clone(),
                settings: *settings,
                state: Mutex::new(ThrottleState::new(settings.initial_rate, forecast(curve)?)),
            }),
            PacingMode::BidShading { curve, settings } => Pacer::BidShading(BidShadingPacer {
                core: Core::new(plan, 1.0, 1.0 / (1.0 + settings.initial_mu)),
                curve: curve.clone(),
                settings: *settings,
                state: Mutex::new(BidShadingState {
                    tick: TickBase::default(),
                    mu: settings.initial_mu,
                    forecast: forecast(curve)?,
                }),
            }),
            PacingMode::Pid { curve, settings } => Pacer::Pid(PidPacer {
                core: Core::new(plan, 1.0, 1.0),
                curve: curve.clone(),
                settings: *settings,
                state: Mutex::new(PidState {
                    tick: TickBase::default(),
                    integral: 0.0,
                    last_error: None,
                    phi: 0.0,
                    forecast: forecast(curve)?,
                }),
            }),
            PacingMode::ImpressionGoal {
                goal,
                curve,
                settings,
            } => Pacer::ImpressionGoal(ImpressionGoalPacer {
                core: Core::new(
                    PacingPlan {
                        daily: None,
                        ..plan
                    },
                    settings.throttle.initial_rate,
                    1.0,
                ),
                goal: *goal,
                curve: curve.clone(),
                settings: *settings,
                state: Mutex::new(ImpressionGoalState {
                    throttle: ThrottleState::new(settings.throttle.initial_rate, forecast(curve)?),
                    boost: 1.0,
                }),
            }),
        })
    }
}

/// The pacing periods of a campaign: each local day (when there is a daily budget) or
/// the whole flight (lifetime budget), clipped to the flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacingPlan {
    /// Daily budget: pace each local day to it.
    pub daily: Option<Money>,
    /// Lifetime budget: pace the flight to it (also caps each day's target).
    pub lifetime: Option<Money>,
    /// The flight.
    pub flight: Flight,
    /// The budget's time zone.
    pub utc_offset: DurationMs,
}

#[derive(Clone, Copy, Debug)]
struct Period {
    id: i64,
    start: Timestamp,
    end: Timestamp,
    budget: f64,
    spent: f64,
    impressions: u64,
}

impl PacingPlan {
    /// The plan of a budget configuration.
    pub fn from_budget(budget: &BudgetConfig) -> Self {
        PacingPlan {
            daily: budget.daily,
            lifetime: budget.lifetime,
            flight: budget.flight,
            utc_offset: budget.utc_offset,
        }
    }

    /// The period holding `now` with its budget and what was spent in it, or `None`
    /// outside the flight or when nothing bounds the period.
    fn period(&self, now: Timestamp, o: &Observation) -> Option<Period> {
        if !self.flight.contains(now) {
            return None;
        }
        if let Some(daily) = self.daily {
            let start = now.start_of_day(self.utc_offset);
            let end = start + DurationMs::DAY;
            let mut budget = daily.micros() as f64;
            if let Some(l) = self.lifetime {
                // Today's target never exceeds what the lifetime budget has left.
                let left = l.micros() as f64 - o.spend.used_lifetime.micros() as f64
                    + o.spend.used_today.micros() as f64;
                budget = budget.min(left.max(0.0));
            }
            return Some(Period {
                id: now.day_index(self.utc_offset),
                start: start.max(self.flight.start),
                end: end.min(self.flight.end),
                budget,
                spent: o.spend.used_today.micros() as f64,
                impressions: o.impressions_today,
            });
        }
        if self.flight.start == Timestamp::MIN || self.flight.end == Timestamp::MAX {
            return None;
        }
        Some(Period {
            id: 0,
            start: self.flight.start,
            end: self.flight.end,
            budget: self.lifetime.map_or(f64::INFINITY, |l| l.micros() as f64),
            spent: o.spend.used_lifetime.micros() as f64,
            impressions: o.impressions_lifetime,
        })
    }
}

/// The two atomics the decide path reads.
#[derive(Debug)]
struct Knobs {
    threshold: AtomicU64,
    multiplier: AtomicU64,
}

fn threshold_of(p: f64) -> u64 {
    if p >= 1.0 {
        u64::MAX
    } else if p > 0.0 {
        (p * 18_446_744_073_709_551_616.0) as u64
    } else {
        0
    }
}

/// Plan and knobs shared by every controller.
#[derive(Debug)]
struct Core {
    plan: PacingPlan,
    knobs: Knobs,
}

impl Core {
    fn new(plan: PacingPlan, rate: f64, multiplier: f64) -> Self {
        Core {
            plan,
            knobs: Knobs {
                threshold: AtomicU64::new(threshold_of(rate)),
                multiplier: AtomicU64::new(multiplier.to_bits()),
            },
        }
    }

    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        // Relaxed: a self-contained value (module docs).
        let t = self.knobs.threshold.load(Ordering::Relaxed);
        let participate =
            self.plan.flight.contains(now) && (t == u64::MAX || (t != 0 && rng.next_u64() < t));
        Admission {
            participate,
            // Relaxed: a self-contained value (module docs).
            bid_multiplier: f64::from_bits(self.knobs.multiplier.load(Ordering::Relaxed)),
        }
    }

    /// Advances `tick` to `now`: the step to act on, or `None` when there is nothing to
    /// do: a stale tick, or no budget period any more, where participation stops (rate 0,
    /// multiplier `stopped_multiplier`).
    fn step(
        &self,
        tick: &mut TickBase,
        forecast: Option<&mut TrafficForecast>,
        now: Timestamp,
        observed: &Observation,
        stopped_multiplier: f64,
    ) -> Option<Step> {
        let step = tick.advance(now, observed, &self.plan, forecast)?;
        if step.is_none() {
            self.set(0.0, stopped_multiplier);
        }
        step
    }

    fn set(&self, rate: f64, multiplier: f64) {
        let rate = if rate.is_nan() { 0.0 } else { rate };
        let multiplier = if multiplier.is_finite() && multiplier > 0.0 {
            multiplier
        } else {
            1.0
        };
        // Relaxed: a self-contained value (module docs).
        self.knobs
            .threshold
            .store(threshold_of(rate), Ordering::Relaxed);
        // Relaxed: a self-contained value (module docs).
        self.knobs
            .multiplier
            .store(multiplier.to_bits(), Ordering::Relaxed);
    }

    fn rate(&self) -> f64 {
        // Relaxed: a self-contained value (module docs).
        let t = self.knobs.threshold.load(Ordering::Relaxed);
        if t == u64::MAX {
            1.0
        } else {
            t as f64 / 18_446_744_073_709_551_616.0
        }
    }

    fn multiplier(&self) -> f64 {
        // Relaxed: a self-contained value (module docs).
        f64::from_bits(self.knobs.multiplier.load(Ordering::Relaxed))
    }
}

/// Where the last applied tick left off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct TickBase {
    last: Option<Timestamp>,
    period: Option<i64>,
    spent: f64,
    impressions: u64,
    opportunities: u64,
}

/// What a tick learned about the interval since the previous one.
struct Step {
    period: Period,
    /// Previous tick time (`None`: first tick of this period).
    from: Option<Timestamp>,
    spent_delta: f64,
    impressions_delta: u64,
    new_period: bool,
}

impl TickBase {
    /// Advances to `now`; `None` when the tick is stale.
    fn advance(
        &mut self,
        now: Timestamp,
        o: &Observation,
        plan: &PacingPlan,
        forecast: Option<&mut TrafficForecast>,
    ) -> Option<Option<Step>> {
        if self.last.is_some_and(|l| now <= l) {
            return None;
        }
        let opps = o.opportunities.saturating_sub(self.opportunities);
        if let (Some(f), Some(last)) = (forecast, self.last) {
            f.observe(last, now, opps as f64);
        }
        self.opportunities = self.opportunities.max(o.opportunities);
        let from = self.last.replace(now);
        let Some(period) = plan.period(now, o) else {
            self.period = None;
            return Some(None);
        };
        let new_period = self.period != Some(period.id);
        let (spent_delta, impressions_delta) = if new_period {
            (period.spent, period.impressions)
        } else {
            (
                (period.spent - self.spent).max(0.0),
                period.impressions.saturating_sub(self.impressions),
            )
        };
        self.period = Some(period.id);
        self.spent = period.spent;
        self.impressions = period.impressions;
        Some(Some(Step {
            period,
            from: if new_period { None } else { from },
            spent_delta,
            impressions_delta,
            new_period,
        }))
    }
}

fn lock<T>(m: &Mutex<T>) -> Option<crate::sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        // A tick panicked mid-update; its state is plain numbers, carry on with it.
        Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// ASAP: always participate at the full bid; only the ledger stops spending.
#[derive(Debug)]
pub struct Asap {
    core: Core,
}

impl Asap {
    /// An ASAP controller for `plan` (it only uses the flight).
    pub fn new(plan: PacingPlan) -> Self {
        Asap {
            core: Core::new(plan, 1.0, 1.0),
        }
    }
}

impl PacingController for Asap {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core.admit(now, rng)
    }

    fn tick(&self, _now: Timestamp, _observed: &Observation) {}

    fn export_state(&self) -> PacerState {
        PacerState::Asap
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        match state {
            PacerState::Asap => Ok(()),
            _ => Err(mismatch()),
        }
    }
}

fn mismatch() -> Error {
    Error::InvalidSnapshot {
        what: "pacer state",
        reason: "exported by a different kind of controller",
    }
}

/// Working state of a throttle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThrottleState {
    tick: TickBase,
    rate: f64,
    /// Spend (or impressions) per unit of participation per day of forecast traffic.
    yield_estimate: Option<f64>,
    forecast: Option<TrafficForecast>,
}

impl ThrottleState {
    fn new(rate: f64, forecast: Option<TrafficForecast>) -> Self {
        ThrottleState {
            tick: TickBase::default(),
            rate,
            yield_estimate: None,
            forecast,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if !unit(self.rate)
            || self
                .yield_estimate
                .is_some_and(|y| !y.is_finite() || y < 0.0)
        {
            return Err(Error::InvalidSnapshot {
                what: "throttle state",
                reason: "rate or estimate out of range",
            });
        }
        if let Some(f) = &self.forecast {
            f.validate()?;
        }
        Ok(())
    }

    /// One throttle step in "units" (money or impressions): returns the new rate.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        now: Timestamp,
        curve: &TargetCurve,
        s: &ThrottleSettings,
        period: &Period,
        from: Option<Timestamp>,
        delivered: f64,
        delivered_delta: f64,
        budget: f64,
    ) -> f64 {
        let clock = CurveClock {
            curve,
            forecast: self.forecast.as_ref(),
            start: period.start,
            end: period.end,
        };
        if let Some(from) = from {
            let cap = clock.capacity(from, now);
            if self.rate > 0.01 && cap > 0.0 {
                let sample = delivered_delta / (self.rate * cap);
                let w = s.estimate_weight;
                self.yield_estimate = Some(match self.yield_estimate {
                    Some(y) => (1.0 - w) * y + w * sample,
                    None => sample,
                });
            }
        }
        let remaining = budget - delivered;
        if remaining <= 0.0 {
            return 0.0;
        }
        let next = (now + s.interval).min(period.end);
        let due_now = clock.due(now);
        let due_next = clock.due(next);
        // Follow the curve over the next interval and work off the deviation from it
        // over the catch-up horizon (all of it when the period ends sooner).
        let horizon = (s.catch_up.as_millis() as f64)
            .min(period.end.duration_since(now).as_millis() as f64)
            .max(1.0);
        let step_ms = next.duration_since(now).as_millis() as f64;
        let deviation = budget * due_now - delivered;
        let want = (budget * (due_next - due_now) + deviation * (step_ms / horizon).min(1.0))
            .clamp(0.0, remaining);
        let cap_next = clock.capacity(now, next);
        let rate = match self.yield_estimate {
            Some(y) if y > 0.0 && cap_next > 0.0 => want / (y * cap_next),
            Some(_) => 1.0,
            None => self.rate,
        };
        if want <= 0.0 {
            return 0.0;
        }
        rate.clamp(s.min_rate, 1.0)
    }
}

/// Probabilistic throttling towards a target curve (Agarwal et al., KDD 2014).
///
/// Each tick estimates the spend one unit of participation buys per unit of (forecast)
/// traffic, then sets the probability that spends the curve's share of the remaining
/// budget over the next interval plus a part of the deviation from the curve.
#[derive(Debug)]
pub struct ThrottlePacer {
    core: Core,
    curve: TargetCurve,
    settings: ThrottleSettings,
    state: Mutex<ThrottleState>,
}

impl PacingController for ThrottlePacer {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core.admit(now, rng)
    }

    fn tick(&self, now: Timestamp, observed: &Observation) {
        let Some(mut st) = lock(&self.state) else {
            return;
        };
        let st = &mut *st;
        let Some(step) = self
            .core
            .step(&mut st.tick, st.forecast.as_mut(), now, observed, 1.0)
        else {
            return;
        };
        if !step.period.budget.is_finite() {
            self.core.set(1.0, 1.0);
            return;
        }
        let p = step.period;
        let rate = st.step(
            now,
            &self.curve,
            &self.settings,
            &p,
            step.from,
            p.spent,
            step.spent_delta,
            p.budget,
        );
        st.rate = rate;
        self.core.set(rate, 1.0);
    }

    fn export_state(&self) -> PacerState {
        PacerState::Throttle(lock_wait(&self.state).clone())
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        let PacerState::Throttle(s) = state else {
            return Err(mismatch());
        };
        s.validate()?;
        *lock_wait(&self.state) = s.clone();
        self.core.set(s.rate, 1.0);
        Ok(())
    }
}

fn lock_wait<T>(m: &Mutex<T>) -> crate::sync::MutexGuard<'_, T> {
    // Export and import are rare management calls: they may wait for a running tick.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Working state of [`BidShadingPacer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BidShadingState {
    tick: TickBase,
    mu: f64,
    forecast: Option<TrafficForecast>,
}

/// Multiplicative bid pacing (Balseiro & Gur, 2019): bid = value / (1 + μ), with
/// μ ← clamp(μ − ε·(ρ − z), 0, μ̄) summed over the opportunities of each interval, where
/// ρ is the target spend per opportunity and z the spend, both in units of
/// `value_scale`.
#[derive(Debug)]
pub struct BidShadingPacer {
    core: Core,
    curve: TargetCurve,
    settings: BidShadingSettings,
    state: Mutex<BidShadingState>,
}

impl BidShadingPacer {
    /// The current μ.
    pub fn mu(&self) -> f64 {
        1.0 / self.core.multiplier() - 1.0
    }
}

impl PacingController for BidShadingPacer {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core.admit(now, rng)
    }

    fn tick(&self, now: Timestamp, observed: &Observation) {
        let Some(mut st) = lock(&self.state) else {
            return;
        };
        let st = &mut *st;
        let before = st.tick.opportunities;
        let stopped = 1.0 / (1.0 + st.mu);
        let Some(step) = self
            .core
            .step(&mut st.tick, st.forecast.as_mut(), now, observed, stopped)
        else {
            return;
        };
        let p = step.period;
        let s = &self.settings;
        let scale = s.value_scale.unwrap_or(DEFAULT_VALUE_SCALE).micros() as f64;
        let target = match (s.target_per_opportunity, step.from) {
            (Some(rho), _) => {
                rho.micros() as f64 * observed.opportunities.saturating_sub(before) as f64
            }
            (None, Some(from)) if p.budget.is_finite() => {
                let clock = CurveClock {
                    curve: &self.curve,
                    forecast: st.forecast.as_ref(),
                    start: p.start,
                    end: p.end,
                };
                p.budget * (clock.due(now) - clock.due(from))
            }
            // First tick of a period: no interval to judge yet.
            (None, _) => step.spent_delta,
        };
        if !step.new_period || s.target_per_opportunity.is_some() {
            let mu = st.mu - s.step_size * (target - step.spent_delta) / scale;
            st.mu = if mu.is_finite() {
                mu.clamp(0.0, s.max_mu)
            } else {
                st.mu
            };
        }
        let participate = if p.spent < p.budget { 1.0 } else { 0.0 };
        self.core.set(participate, 1.0 / (1.0 + st.mu));
    }

    fn export_state(&self) -> PacerState {
        PacerState::BidShading(lock_wait(&self.state).clone())
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        let PacerState::BidShading(s) = state else {
            return Err(mismatch());
        };
        if !(s.mu.is_finite() && (0.0..=self.settings.max_mu).contains(&s.mu)) {
            return Err(Error::InvalidSnapshot {
                what: "bid shading state",
                reason: "mu out of range",
            });
        }
        if let Some(f) = &s.forecast {
            f.validate()?;
        }
        *lock_wait(&self.state) = s.clone();
        self.core.set(1.0, 1.0 / (1.0 + s.mu));
        Ok(())
    }
}

/// Working state of [`PidPacer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PidState {
    tick: TickBase,
    integral: f64,
    last_error: Option<f64>,
    phi: f64,
    forecast: Option<TrafficForecast>,
}

/// PID pacing (Zhang et al., WSDM 2016): bid · exp(φ) with
/// φ = kp·e + ki·∫e dt + kd·de/dt, where e is the fraction of the budget the spend is
/// behind the target curve. Anti-windup: φ is clamped to the multiplier range, the
/// integral only grows while that clamp does not hold it, and the integral term itself
/// is bounded by the range.
#[derive(Debug)]
pub struct PidPacer {
    core: Core,
    curve: TargetCurve,
    settings: PidSettings,
    state: Mutex<PidState>,
}

impl PidPacer {
    /// The current integral term ki·∫e dt (bounded by anti-windup).
    pub fn integral_term(&self) -> f64 {
        let st = lock_wait(&self.state);
        self.settings.ki * st.integral
    }
}

impl PacingController for PidPacer {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core.admit(now, rng)
    }

    fn tick(&self, now: Timestamp, observed: &Observation) {
        let Some(mut st) = lock(&self.state) else {
            return;
        };
        let st = &mut *st;
        let stopped = st.phi.exp();
        let Some(step) = self
            .core
            .step(&mut st.tick, st.forecast.as_mut(), now, observed, stopped)
        else {
            return;
        };
        let p = step.period;
        if !p.budget.is_finite() || p.budget <= 0.0 {
            self.core.set(if p.budget > 0.0 { 1.0 } else { 0.0 }, 1.0);
            return;
        }
        let s = &self.settings;
        let clock = CurveClock {
            curve: &self.curve,
            forecast: st.forecast.as_ref(),
            start: p.start,
            end: p.end,
        };
        let error = (p.budget * clock.due(now) - p.spent) / p.budget;
        let (lo, hi) = (s.min_multiplier.ln(), s.max_multiplier.ln());
        if step.new_period {
            st.last_error = None;
        }
        let dt_h = step
            .from
            .map_or(0.0, |f| now.duration_since(f).as_millis() as f64 / 3.6e6);
        let derivative = match st.last_error {
            Some(e0) if dt_h > 0.0 => (error - e0) / dt_h,
            _ => 0.0,
        };
        let unclamped = s.kp * error + s.ki * st.integral + s.kd * derivative;
        // Conditional integration: stop integrating while saturated in the error's
        // direction, and keep the integral term inside the output range.
        let saturated = (unclamped >= hi && error > 0.0) || (unclamped <= lo && error < 0.0);
        if !saturated && s.ki > 0.0 {
            st.integral = (st.integral + error * dt_h).clamp(lo / s.ki, hi / s.ki);
        }
        let phi = (s.kp * error + s.ki * st.integral + s.kd * derivative).clamp(lo, hi);
        st.phi = if phi.is_finite() { phi } else { 0.0 };
        st.last_error = Some(error);
        let participate = if p.spent < p.budget { 1.0 } else { 0.0 };
        self.core.set(participate, st.phi.exp());
    }

    fn export_state(&self) -> PacerState {
        PacerState::Pid(lock_wait(&self.state).clone())
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        let PacerState::Pid(s) = state else {
            return Err(mismatch());
        };
        let (lo, hi) = (
            self.settings.min_multiplier.ln(),
            self.settings.max_multiplier.ln(),
        );
        if !(s.phi.is_finite() && (lo..=hi).contains(&s.phi) && s.integral.is_finite()) {
            return Err(Error::InvalidSnapshot {
                what: "pid state",
                reason: "phi or integral out of range",
            });
        }
        if let Some(f) = &s.forecast {
            f.validate()?;
        }
        *lock_wait(&self.state) = s.clone();
        self.core.set(1.0, s.phi.exp());
        Ok(())
    }
}

/// Working state of [`ImpressionGoalPacer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpressionGoalState {
    throttle: ThrottleState,
    boost: f64,
}

/// Guaranteed delivery: throttles towards `goal` impressions along the curve over the
/// flight, and raises the bid (up to `max_boost`) while behind at full participation.
#[derive(Debug)]
pub struct ImpressionGoalPacer {
    core: Core,
    goal: u64,
    curve: TargetCurve,
    settings: ImpressionGoalSettings,
    state: Mutex<ImpressionGoalState>,
}

impl PacingController for ImpressionGoalPacer {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core.admit(now, rng)
    }

    fn tick(&self, now: Timestamp, observed: &Observation) {
        let Some(mut st) = lock(&self.state) else {
            return;
        };
        let st = &mut *st;
        let stopped = st.boost;
        let th = &mut st.throttle;
        let Some(step) = self
            .core
            .step(&mut th.tick, th.forecast.as_mut(), now, observed, stopped)
        else {
            return;
        };
        let p = step.period;
        let goal = self.goal as f64;
        let delivered = p.impressions as f64;
        let mut rate = th.step(
            now,
            &self.curve,
            &self.settings.throttle,
            &p,
            step.from,
            delivered,
            step.impressions_delta as f64,
            goal,
        );
        // The campaign's money still bounds delivery: stop at the budget too.
        if p.spent >= p.budget {
            rate = 0.0;
        }
        th.rate = rate;
        let clock = CurveClock {
            curve: &self.curve,
            forecast: th.forecast.as_ref(),
            start: p.start,
            end: p.end,
        };
        let behind = delivered < goal * clock.due(now);
        st.boost = if rate >= 1.0 && behind {
            (st.boost * 1.05).min(self.settings.max_boost)
        } else {
            (st.boost / 1.05).max(1.0)
        };
        self.core.set(rate, st.boost);
    }

    fn export_state(&self) -> PacerState {
        PacerState::ImpressionGoal(lock_wait(&self.state).clone())
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        let PacerState::ImpressionGoal(s) = state else {
            return Err(mismatch());
        };
        s.throttle.validate()?;
        if !(s.boost.is_finite() && (1.0..=self.settings.max_boost).contains(&s.boost)) {
            return Err(Error::InvalidSnapshot {
                what: "impression goal state",
                reason: "boost out of range",
            });
        }
        *lock_wait(&self.state) = s.clone();
        self.core.set(s.throttle.rate, s.boost);
        Ok(())
    }
}

/// Persistent state of any built-in controller (see [`PacingController::export_state`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PacerState {
    /// ASAP has no state.
    Asap,
    /// A throttle.
    Throttle(ThrottleState),
    /// Bid shading.
    BidShading(BidShadingState),
    /// PID.
    Pid(PidState),
    /// Impression goal.
    ImpressionGoal(ImpressionGoalState),
}

/// Any built-in controller, as built by [`PacingMode::build`] (static dispatch).
#[derive(Debug)]
#[non_exhaustive]
pub enum Pacer {
    /// See [`Asap`].
    Asap(Asap),
    /// See [`ThrottlePacer`].
    Throttle(ThrottlePacer),
    /// See [`BidShadingPacer`].
    BidShading(BidShadingPacer),
    /// See [`PidPacer`].
    Pid(PidPacer),
    /// See [`ImpressionGoalPacer`].
    ImpressionGoal(ImpressionGoalPacer),
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            Pacer::Asap($p) => $e,
            Pacer::Throttle($p) => $e,
            Pacer::BidShading($p) => $e,
            Pacer::Pid($p) => $e,
            Pacer::ImpressionGoal($p) => $e,
        }
    };
}

impl Pacer {
    fn core(&self) -> &Core {
        each!(self, p => &p.core)
    }

    /// The participation probability now in force.
    pub fn participation_rate(&self) -> f64 {
        self.core().rate()
    }

    /// The bid multiplier now in force.
    pub fn bid_multiplier(&self) -> f64 {
        self.core().multiplier()
    }

    /// The plan (periods and budgets) the controller paces.
    pub fn plan(&self) -> &PacingPlan {
        &self.core().plan
    }
}

impl PacingController for Pacer {
    #[inline]
    fn admit<R: Rng + ?Sized>(&self, now: Timestamp, rng: &mut R) -> Admission {
        self.core().admit(now, rng)
    }

    fn tick(&self, now: Timestamp, observed: &Observation) {
        each!(self, p => p.tick(now, observed))
    }

    fn export_state(&self) -> PacerState {
        each!(self, p => p.export_state())
    }

    fn import_state(&self, state: &PacerState) -> Result<(), Error> {
        each!(self, p => p.import_state(state))
    }
}
