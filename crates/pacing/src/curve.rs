//! Target curves (what fraction of a budget should be spent by when) and the learned
//! traffic forecast behind traffic-shaped pacing.

use crate::error::Error;
use adloop_core::{DurationMs, Timestamp};
use serde::{Deserialize, Serialize};

/// Most points of a [`TargetCurve::Custom`] curve.
pub const MAX_CURVE_POINTS: usize = 64;
/// Most bins of a [`TrafficForecast`] day (one per minute).
pub const MAX_FORECAST_BINS: usize = 1_440;

const DAY_MS: f64 = 86_400_000.0;

/// The fraction of a pacing period's budget that should be spent by each instant.
///
/// Serialized as `{"curve": "even"}`, `{"curve": "front_loaded", "exponent": 2.0}`,
/// `{"curve": "custom", "points": [[0,0],[0.5,0.7],[1,1]]}` or
/// `{"curve": "traffic_shaped", "bins_per_day": 96, "smoothing": 0.3}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "curve", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum TargetCurve {
    /// Linear in time: the same spend every minute.
    Even,
    /// `1 − (1 − x)^exponent` of the period elapsed `x`: more early, tapering off.
    FrontLoaded {
        /// Shape, at least 1 (1 is even; 2 spends 75% in the first half).
        exponent: f64,
    },
    /// Piecewise-linear `(time fraction, budget fraction)` points from `(0, 0)` to
    /// `(1, 1)`, time strictly increasing, budget non-decreasing.
    Custom {
        /// The points.
        points: Vec<[f64; 2]>,
    },
    /// Follows the learned forecast of request volume by time of day, so spend tracks
    /// the audience rather than the clock.
    TrafficShaped {
        /// Forecast resolution (divides 1,440; 96 = quarter hours).
        #[serde(default = "default_bins")]
        bins_per_day: u32,
        /// Weight of each new day in the forecast's exponential average across days.
        #[serde(default = "default_smoothing")]
        smoothing: f64,
    },
}

fn default_bins() -> u32 {
    96
}
fn default_smoothing() -> f64 {
    0.3
}

impl TargetCurve {
    /// A traffic-shaped curve with quarter-hour bins and smoothing 0.3.
    pub fn traffic_shaped() -> Self {
        TargetCurve::TrafficShaped {
            bins_per_day: default_bins(),
            smoothing: default_smoothing(),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason| {
            Err(Error::InvalidConfig {
                field: "pacing.curve",
                reason,
            })
        };
        match self {
            TargetCurve::Even => Ok(()),
            TargetCurve::FrontLoaded { exponent } => {
                if exponent.is_finite() && (1.0..=64.0).contains(exponent) {
                    Ok(())
                } else {
                    bad("front_loaded exponent must be in 1..=64")
                }
            }
            TargetCurve::Custom { points } => {
                if points.len() < 2 || points.len() > MAX_CURVE_POINTS {
                    return bad("custom curve needs 2..=64 points");
                }
                if points.iter().flatten().any(|v| !v.is_finite()) {
                    return bad("custom curve points must be finite");
                }
                if points[0] != [0.0, 0.0] || points[points.len() - 1] != [1.0, 1.0] {
                    return bad("custom curve must run from [0,0] to [1,1]");
                }
                if points
                    .windows(2)
                    .any(|w| w[1][0] <= w[0][0] || w[1][1] < w[0][1])
                {
                    return bad("custom curve time must increase and budget never decrease");
                }
                Ok(())
            }
            TargetCurve::TrafficShaped {
                bins_per_day,
                smoothing,
            } => {
                let b = *bins_per_day as usize;
                if b == 0 || b > MAX_FORECAST_BINS || !MAX_FORECAST_BINS.is_multiple_of(b) {
                    return bad("bins_per_day must divide 1440");
                }
                if !(smoothing.is_finite() && *smoothing > 0.0 && *smoothing <= 1.0) {
                    return bad("smoothing must be in (0, 1]");
                }
                Ok(())
            }
        }
    }

    /// The fraction of a period's budget due by `now` for a period `[start, end)`, as
    /// the controllers compute it; traffic-shaped curves use `forecast` (flat when
    /// `None`).
    pub fn fraction_due(
        &self,
        forecast: Option<&TrafficForecast>,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> f64 {
        if end <= start {
            return 1.0;
        }
        CurveClock {
            curve: self,
            forecast,
            start,
            end,
        }
        .due(now)
    }

    /// The budget fraction due at time fraction `x` for the shape-only curves (traffic
    /// curves use the forecast; see [`CurveClock`]).
    pub(crate) fn shape(&self, x: f64) -> f64 {
        let x = x.clamp(0.0, 1.0);
        match self {
            TargetCurve::Even | TargetCurve::TrafficShaped { .. } => x,
            TargetCurve::FrontLoaded { exponent } => 1.0 - (1.0 - x).powf(*exponent),
            TargetCurve::Custom { points } => {
                let i = points
                    .partition_point(|p| p[0] <= x)
                    .clamp(1, points.len() - 1);
                let ([x0, y0], [x1, y1]) = (points[i - 1], points[i]);
                y0 + (y1 - y0) * ((x - x0) / (x1 - x0)).clamp(0.0, 1.0)
            }
        }
    }
}

/// A learned forecast of request volume by time of day: one share per bin, summing to
/// one, averaged exponentially across days.
///
/// Feed it with [`observe`](Self::observe) (the pacers do this on every tick from the
/// observed opportunity counts); a day is folded into the forecast once the next day
/// starts, if at least 90% of it was observed. Until a first day is learned the
/// forecast is flat (traffic-shaped pacing then equals even pacing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficForecast {
    shares: Vec<f64>,
    today: Vec<f64>,
    today_index: Option<i64>,
    covered_ms: i64,
    days_learned: u32,
    smoothing: f64,
    utc_offset: DurationMs,
}

impl TrafficForecast {
    /// A flat forecast with `bins_per_day` bins (dividing 1,440).
    pub fn new(bins_per_day: u32, smoothing: f64, utc_offset: DurationMs) -> Result<Self, Error> {
        TargetCurve::TrafficShaped {
            bins_per_day,
            smoothing,
        }
        .validate()?;
        let b = bins_per_day as usize;
        Ok(TrafficForecast {
            shares: vec![1.0 / b as f64; b],
            today: vec![0.0; b],
            today_index: None,
            covered_ms: 0,
            days_learned: 0,
            smoothing,
            utc_offset,
        })
    }

    /// A forecast starting from known shares (normalized here; at least one positive).
    pub fn from_shares(
        shares: &[f64],
        smoothing: f64,
        utc_offset: DurationMs,
    ) -> Result<Self, Error> {
        let mut f = Self::new(shares.len() as u32, smoothing, utc_offset)?;
        let total: f64 = shares.iter().sum();
        if shares.iter().any(|s| !s.is_finite() || *s < 0.0) || total <= 0.0 || !total.is_finite() {
            return Err(Error::InvalidConfig {
                field: "forecast.shares",
                reason: "shares must be finite, non-negative and not all zero",
            });
        }
        f.shares = shares.iter().map(|s| s / total).collect();
        f.floor();
        f.days_learned = 1;
        Ok(f)
    }

    /// Checks a deserialized forecast.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason| {
            Err(Error::InvalidSnapshot {
                what: "forecast",
                reason,
            })
        };
        TargetCurve::TrafficShaped {
            bins_per_day: self.shares.len() as u32,
            smoothing: self.smoothing,
        }
        .validate()
        .or(bad("bad bin count or smoothing"))?;
        if self.today.len() != self.shares.len() {
            return bad("today and shares differ in length");
        }
        if self
            .shares
            .iter()
            .chain(&self.today)
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return bad("negative or non-finite value");
        }
        let total: f64 = self.shares.iter().sum();
        if (total - 1.0).abs() > 1e-6 {
            return bad("shares do not sum to one");
        }
        Ok(())
    }

    /// The learned share of daily traffic per bin.
    pub fn shares(&self) -> &[f64] {
        &self.shares
    }

    /// Days folded into the forecast so far.
    pub fn days_learned(&self) -> u32 {
        self.days_learned
    }

    fn bin_ms(&self) -> f64 {
        DAY_MS / self.shares.len() as f64
    }

    fn floor(&mut self) {
        // Keep every bin slightly positive so the cumulative curve is strictly
        // increasing and a quiet bin never divides by zero.
        let eps = 1e-4 / self.shares.len() as f64;
        for s in &mut self.shares {
            *s = s.max(eps);
        }
        let total: f64 = self.shares.iter().sum();
        for s in &mut self.shares {
            *s /= total;
        }
    }

    fn fold(&mut self) {
        let total: f64 = self.today.iter().sum();
        if total > 0.0 && self.covered_ms as f64 >= 0.9 * DAY_MS {
            let a = if self.days_learned == 0 {
                1.0
            } else {
                self.smoothing
            };
            for (s, t) in self.shares.iter_mut().zip(&self.today) {
                *s = (1.0 - a) * *s + a * t / total;
            }
            self.floor();
            self.days_learned += 1;
        }
        self.today.iter_mut().for_each(|t| *t = 0.0);
        self.covered_ms = 0;
    }

    /// Records `count` requests seen in `[from, to)`, spread evenly over that span.
    /// Spans are cut at local midnight; a span over a day long, reversed, or with a
    /// non-finite or negative count is ignored.
    pub fn observe(&mut self, from: Timestamp, to: Timestamp, count: f64) {
        let span = to.duration_since(from).as_millis();
        if span <= 0 || span > DurationMs::DAY.as_millis() || !count.is_finite() || count < 0.0 {
            return;
        }
        let per_ms = count / span as f64;
        let mut t = from;
        while t < to {
            let day = t.day_index(self.utc_offset);
            match self.today_index {
                Some(d) if d == day => {}
                Some(d) if d > day => return, // late data for a folded day
                Some(_) => {
                    self.fold();
                    self.today_index = Some(day);
                }
                None => self.today_index = Some(day),
            }
            let ms = t.ms_of_day(self.utc_offset);
            let bin_ms = self.bin_ms();
            let bin = ((ms as f64 / bin_ms) as usize).min(self.shares.len() - 1);
            let bin_end = ((bin + 1) as f64 * bin_ms).round() as i64;
            let chunk = (bin_end - ms).min(to.duration_since(t).as_millis()).max(1);
            self.today[bin] += per_ms * chunk as f64;
            self.covered_ms += chunk;
            t += DurationMs::from_millis(chunk);
        }
    }

    /// Cumulative forecast traffic up to `t`, in days (day index plus the share of the
    /// local day before `t`). Strictly increasing in `t`.
    pub fn cumulative(&self, t: Timestamp) -> f64 {
        let day = t.day_index(self.utc_offset) as f64;
        let ms = t.ms_of_day(self.utc_offset) as f64;
        let bin_ms = self.bin_ms();
        let pos = ms / bin_ms;
        let bin = (pos as usize).min(self.shares.len() - 1);
        let before: f64 = self.shares[..bin].iter().sum();
        day + before + self.shares[bin] * (pos - bin as f64)
    }
}

/// Maps instants of a pacing period to the fraction of its budget due by then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CurveClock<'a> {
    pub(crate) curve: &'a TargetCurve,
    pub(crate) forecast: Option<&'a TrafficForecast>,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

impl CurveClock<'_> {
    /// Budget fraction due at `t` (0 at the start, 1 at the end).
    pub(crate) fn due(&self, t: Timestamp) -> f64 {
        let t = t.max(self.start).min(self.end);
        match (self.curve, self.forecast) {
            (TargetCurve::TrafficShaped { .. }, Some(f)) => {
                let (a, b) = (f.cumulative(self.start), f.cumulative(self.end));
                if b > a {
                    ((f.cumulative(t) - a) / (b - a)).clamp(0.0, 1.0)
                } else {
                    1.0
                }
            }
            _ => {
                let len = self.end.duration_since(self.start).as_millis() as f64;
                let x = t.duration_since(self.start).as_millis() as f64 / len;
                self.curve.shape(x)
            }
        }
    }

    /// Forecast traffic in `[a, b)` relative to a flat day (1.0 = an average stretch
    /// of that length); flat when no forecast is used.
    pub(crate) fn capacity(&self, a: Timestamp, b: Timestamp) -> f64 {
        let flat = b.duration_since(a).as_millis() as f64 / DAY_MS;
        match (self.curve, self.forecast) {
            (TargetCurve::TrafficShaped { .. }, Some(f)) => f.cumulative(b) - f.cumulative(a),
            _ => flat,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn shapes_run_from_zero_to_one() {
        let curves = [
            TargetCurve::Even,
            TargetCurve::FrontLoaded { exponent: 2.0 },
            TargetCurve::Custom {
                points: vec![[0.0, 0.0], [0.5, 0.8], [1.0, 1.0]],
            },
        ];
        for c in &curves {
            c.validate().unwrap();
            assert_eq!(c.shape(0.0), 0.0);
            assert!((c.shape(1.0) - 1.0).abs() < 1e-12);
            let mut last = 0.0;
            for i in 0..=100 {
                let y = c.shape(i as f64 / 100.0);
                assert!(y >= last - 1e-12);
                last = y;
            }
        }
        assert!((curves[1].shape(0.5) - 0.75).abs() < 1e-12);
        assert!((curves[2].shape(0.25) - 0.4).abs() < 1e-12);
        assert!(
            TargetCurve::Custom {
                points: vec![[0.0, 0.0], [1.0, 0.5]]
            }
            .validate()
            .is_err()
        );
        assert!(
            TargetCurve::FrontLoaded { exponent: f64::NAN }
                .validate()
                .is_err()
        );
        let json = serde_json::to_string(&curves[1]).unwrap();
        assert_eq!(json, r#"{"curve":"front_loaded","exponent":2.0}"#);
        let t: TargetCurve = serde_json::from_str(r#"{"curve":"traffic_shaped"}"#).unwrap();
        assert_eq!(t, TargetCurve::traffic_shaped());
    }

    #[test]
    fn forecast_learns_a_profile_across_days() {
        let mut f = TrafficForecast::new(24, 0.5, DurationMs::ZERO).unwrap();
        let day0 = Timestamp::from_millis(10 * DurationMs::DAY.as_millis());
        // Three days where the evening hours carry 3x traffic, observed minute by minute.
        for d in 0..3 {
            for minute in 0..1_440 {
                let t = day0 + DurationMs::from_days(d) + DurationMs::from_mins(minute);
                let n = if (18..24).contains(&(minute / 60)) {
                    3.0
                } else {
                    1.0
                };
                f.observe(t, t + DurationMs::MINUTE, n);
            }
        }
        // Two days folded (the third is still being accumulated).
        assert_eq!(f.days_learned(), 2);
        let evening = f.shares()[20];
        let morning = f.shares()[8];
        assert!(
            (evening / morning - 3.0).abs() < 1e-6,
            "{evening} {morning}"
        );
        let total: f64 = f.shares().iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        f.validate().unwrap();
        // Cumulative traffic is monotone across a day boundary.
        let mut last = f64::MIN;
        for m in (0..3_000).step_by(7) {
            let c = f.cumulative(day0 + DurationMs::from_mins(m));
            assert!(c > last);
            last = c;
        }
    }
}
