//! The diurnal request curve of a streaming service.
//!
//! A [`DiurnalCurve`] is the *shape* of a day's traffic: a relative request rate that
//! averages 1.0 over the day. It is stored as 1,440 per-minute weights (knots at each
//! minute's midpoint) and read back as the piecewise-linear, periodic function through
//! them, so the rate is continuous (no steps at minute or hour boundaries) and its
//! integral over any interval is exact.

use adloop_core::{DurationMs, Timestamp};
use rand::Rng;
use rand_distr::{Binomial, Distribution, Normal, Poisson};

use crate::error::{SimError, check_range};

const MINUTES_PER_DAY: usize = 1_440;
const SECONDS_PER_DAY: f64 = 86_400.0;
const MS_PER_DAY: i64 = 86_400_000;

/// One smooth bump of activity in a day: a von Mises (periodic Gaussian) kernel
/// `amplitude · exp(concentration · (cos(2π(h − center_hour)/24) − 1))`.
///
/// With concentration κ the bump's standard deviation is about `24 / (2π·√κ)` hours
/// (κ = 4 → ≈1.9 h; κ = 1.5 → ≈3.1 h).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiurnalBump {
    /// Hour of the bump's maximum, in `[0, 24)`.
    pub center_hour: f64,
    /// Height of the bump above the base level (relative units, ≥ 0).
    pub amplitude: f64,
    /// Width parameter κ > 0: larger is narrower.
    pub concentration: f64,
}

/// Day-to-day variation of traffic, for multi-day simulations.
///
/// Two independent effects, both lognormal with mean one:
/// - **volume**: the whole day's request count is multiplied by `exp(N(−σᵥ²/2, σᵥ))`
///   ([`DayNoise::daily_total`]);
/// - **shape**: each hour's rate is multiplied by its own `exp(N(−σₛ²/2, σₛ))`, and the
///   24 multipliers are interpolated smoothly (periodic Catmull–Rom) between hour
///   centres ([`DiurnalCurve::noisy_day`]), so the curve stays smooth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayNoise {
    /// σᵥ of the daily volume multiplier (0 = no volume noise). Typical: 0.05–0.15.
    pub volume_sigma: f64,
    /// σₛ of the per-hour shape multipliers (0 = no shape noise). Typical: 0.03–0.10.
    pub shape_sigma: f64,
}

impl DayNoise {
    /// No noise at all.
    pub const NONE: DayNoise = DayNoise {
        volume_sigma: 0.0,
        shape_sigma: 0.0,
    };

    /// Noise typical of a large streaming service: ±8 % volume, ±5 % per hour.
    pub const TYPICAL: DayNoise = DayNoise {
        volume_sigma: 0.08,
        shape_sigma: 0.05,
    };

    fn validate(&self) -> Result<(), SimError> {
        check_range("noise.volume_sigma", self.volume_sigma, 0.0, 2.0)?;
        check_range("noise.shape_sigma", self.shape_sigma, 0.0, 2.0)?;
        Ok(())
    }

    /// Draws one day's total request count around `expected_total` (mean-preserving
    /// lognormal volume multiplier, rounded to the nearest integer).
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when a sigma is outside `[0, 2]`.
    pub fn daily_total<R: Rng + ?Sized>(
        &self,
        expected_total: u64,
        rng: &mut R,
    ) -> Result<u64, SimError> {
        self.validate()?;
        let sigma = self.volume_sigma;
        if sigma == 0.0 {
            return Ok(expected_total);
        }
        let log_multiplier = sample_normal(rng, -sigma * sigma / 2.0, sigma);
        let total = (expected_total as f64 * log_multiplier.exp()).round();
        // `as` saturates on overflow; the multiplier is bounded in practice.
        Ok(total as u64)
    }
}

/// The relative request rate over a day: mean 1.0, periodic, smooth.
///
/// Build one with [`DiurnalCurve::streaming`] (the default shape of a streaming service:
/// low overnight, a morning shoulder, an afternoon plateau and a prime-time peak around
/// 21:00), [`DiurnalCurve::from_bumps`], [`DiurnalCurve::from_hourly`] or
/// [`DiurnalCurve::flat`]. Query it with [`weight_at_hour`](Self::weight_at_hour),
/// [`weight_at`](Self::weight_at) and [`share_between`](Self::share_between); draw traffic
/// with [`sample_counts`](Self::sample_counts) (exact daily total),
/// [`sample_poisson_counts`](Self::sample_poisson_counts) (Poisson per bin) and
/// [`sample_arrivals`](Self::sample_arrivals) (millisecond arrival offsets).
///
/// Times of day are local to the curve: callers map a [`Timestamp`] with a UTC offset.
#[derive(Clone, PartialEq)]
pub struct DiurnalCurve {
    /// Relative rate at each minute's midpoint; mean exactly 1.0.
    minute_weights: Box<[f64]>,
    /// `prefix[j]` = ∫ rate from knot −1 (−30 s) to the start of segment `j`
    /// (segment `j` runs from knot `j−1` to knot `j`, 60 s each), `j = 0..=1441`.
    prefix: Box<[f64]>,
}

impl DiurnalCurve {
    /// The default streaming-service day.
    ///
    /// Base level 0.10 plus four bumps: a morning shoulder at 07:30, a broad afternoon
    /// plateau centred at 14:00, an early-evening rise at 18:30 and the prime-time peak at
    /// 21:00. After normalisation the rate bottoms out at ≈0.26 of the daily mean around
    /// 03:00–04:00 and peaks at ≈2.6× the mean around 20:40; 20:00–23:00 carries ≈28 % of
    /// the day's requests.
    pub fn streaming() -> Self {
        const BUMPS: [DiurnalBump; 4] = [
            DiurnalBump {
                center_hour: 7.5,
                amplitude: 0.15,
                concentration: 8.0,
            },
            DiurnalBump {
                center_hour: 14.0,
                amplitude: 0.35,
                concentration: 1.5,
            },
            DiurnalBump {
                center_hour: 18.5,
                amplitude: 0.25,
                concentration: 6.0,
            },
            DiurnalBump {
                center_hour: 21.0,
                amplitude: 1.0,
                concentration: 5.0,
            },
        ];
        // The constants above are in range, so this cannot fail; fall back to flat
        // rather than panic if someone edits them badly.
        Self::from_bumps(0.10, &BUMPS).unwrap_or_else(|_| Self::flat())
    }

    /// A constant rate (every second of the day equally likely).
    pub fn flat() -> Self {
        Self::from_minute_weights_unchecked(vec![1.0; MINUTES_PER_DAY])
    }

    /// A curve `base + Σ bumps`, normalised to mean 1.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when `base` is negative or not finite, a bump's
    /// centre is outside `[0, 24)`, its amplitude negative, its concentration not in
    /// `(0, 1000]`, or the whole curve is zero.
    pub fn from_bumps(base: f64, bumps: &[DiurnalBump]) -> Result<Self, SimError> {
        check_range("diurnal.base", base, 0.0, f64::MAX)?;
        for bump in bumps {
            check_range("diurnal.bump.center_hour", bump.center_hour, 0.0, 24.0)?;
            check_range("diurnal.bump.amplitude", bump.amplitude, 0.0, f64::MAX)?;
            check_range(
                "diurnal.bump.concentration",
                bump.concentration,
                1e-9,
                1_000.0,
            )?;
        }
        let weights = (0..MINUTES_PER_DAY)
            .map(|minute| {
                let hour = (minute as f64 + 0.5) / 60.0;
                base + bumps
                    .iter()
                    .map(|b| {
                        let angle = std::f64::consts::TAU * (hour - b.center_hour) / 24.0;
                        b.amplitude * (b.concentration * (angle.cos() - 1.0)).exp()
                    })
                    .sum::<f64>()
            })
            .collect();
        Self::from_minute_weights(weights)
    }

    /// A curve through 24 hourly rates (knots at each hour's centre, interpolated with a
    /// periodic Catmull–Rom spline, clamped at zero), normalised to mean 1.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when a rate is negative or not finite, or all are 0.
    pub fn from_hourly(hourly: &[f64; 24]) -> Result<Self, SimError> {
        for &rate in hourly {
            check_range("diurnal.hourly", rate, 0.0, f64::MAX)?;
        }
        let weights = (0..MINUTES_PER_DAY)
            .map(|minute| catmull_rom_periodic(hourly, (minute as f64 + 0.5) / 60.0).max(0.0))
            .collect();
        Self::from_minute_weights(weights)
    }

    /// A curve through 1,440 per-minute rates (knots at minute midpoints), normalised to
    /// mean 1.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when the slice does not hold exactly 1,440 finite,
    /// non-negative values with a positive sum.
    pub fn from_minute_weights(weights: Vec<f64>) -> Result<Self, SimError> {
        if weights.len() != MINUTES_PER_DAY {
            return Err(SimError::invalid(
                "diurnal.minute_weights",
                format!("expected 1440 values, got {}", weights.len()),
            ));
        }
        for &w in &weights {
            check_range("diurnal.minute_weights", w, 0.0, f64::MAX)?;
        }
        let sum: f64 = weights.iter().sum();
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(SimError::invalid(
                "diurnal.minute_weights",
                "the weights must have a positive finite sum",
            ));
        }
        Ok(Self::from_minute_weights_unchecked(weights))
    }

    fn from_minute_weights_unchecked(mut weights: Vec<f64>) -> Self {
        let mean = weights.iter().sum::<f64>() / MINUTES_PER_DAY as f64;
        for w in &mut weights {
            *w /= mean;
        }
        let mut prefix = Vec::with_capacity(MINUTES_PER_DAY + 2);
        prefix.push(0.0);
        let mut acc = 0.0;
        for segment in 0..=MINUTES_PER_DAY {
            let (a, b) = Self::segment_ends(&weights, segment);
            acc += 30.0 * (a + b);
            prefix.push(acc);
        }
        DiurnalCurve {
            minute_weights: weights.into_boxed_slice(),
            prefix: prefix.into_boxed_slice(),
        }
    }

    /// Knot values at the two ends of segment `segment` (`0..=1440`).
    fn segment_ends(weights: &[f64], segment: usize) -> (f64, f64) {
        let left = (segment + MINUTES_PER_DAY - 1) % MINUTES_PER_DAY;
        let right = segment % MINUTES_PER_DAY;
        (weights[left], weights[right])
    }

    /// The per-minute knot values (rate at each minute's midpoint; mean 1.0).
    pub fn minute_weights(&self) -> &[f64] {
        &self.minute_weights
    }

    /// The relative rate at `hour` of the day (fractional; taken modulo 24). The daily
    /// mean is 1.0, so 2.0 means twice the average requests per second.
    pub fn weight_at_hour(&self, hour: f64) -> f64 {
        if !hour.is_finite() {
            return 0.0;
        }
        let seconds = (hour.rem_euclid(24.0)) * 3_600.0;
        let (segment, u) = Self::locate(seconds);
        let (a, b) = Self::segment_ends(&self.minute_weights, segment);
        a + (b - a) * u
    }

    /// The relative rate at instant `now`, with local time = UTC + `utc_offset`.
    pub fn weight_at(&self, now: Timestamp, utc_offset: DurationMs) -> f64 {
        let ms = now.ms_of_day(utc_offset);
        self.weight_at_hour(ms as f64 / 3_600_000.0)
    }

    /// Segment index and position `u ∈ [0, 1]` of second-of-day `seconds` (in `[0, 86400]`).
    fn locate(seconds: f64) -> (usize, f64) {
        let shifted = seconds + 30.0; // segment j starts at (j − 0.5)·60 s
        let segment = ((shifted / 60.0).floor() as usize).min(MINUTES_PER_DAY);
        let u = (shifted - segment as f64 * 60.0) / 60.0;
        (segment, u.clamp(0.0, 1.0))
    }

    /// ∫ rate from −30 s to `seconds` (`seconds` in `[0, 86400]`).
    fn integral_to(&self, seconds: f64) -> f64 {
        let (segment, u) = Self::locate(seconds);
        let (a, b) = Self::segment_ends(&self.minute_weights, segment);
        self.prefix[segment] + 60.0 * (a * u + (b - a) * u * u / 2.0)
    }

    /// Fraction of the day's requests that arrive between `start` and `end`, both given
    /// as offsets from local midnight (taken modulo one day; when `end < start` the
    /// interval wraps through midnight). `share_between(ZERO, DAY)` is 1.
    pub fn share_between(&self, start: DurationMs, end: DurationMs) -> f64 {
        let s = start.as_millis();
        let e = end.as_millis();
        if e - s >= MS_PER_DAY {
            return 1.0;
        }
        let s_sec = s.rem_euclid(MS_PER_DAY) as f64 / 1_000.0;
        let e_sec = e.rem_euclid(MS_PER_DAY) as f64 / 1_000.0;
        let day = self.integral_to(SECONDS_PER_DAY) - self.integral_to(0.0);
        let part = if e_sec >= s_sec {
            self.integral_to(e_sec) - self.integral_to(s_sec)
        } else {
            day - (self.integral_to(s_sec) - self.integral_to(e_sec))
        };
        (part / day).clamp(0.0, 1.0)
    }

    /// Fraction of the day's requests in each local hour `0..24` (sums to 1).
    pub fn hourly_shares(&self) -> [f64; 24] {
        let mut shares = [0.0; 24];
        for (hour, share) in shares.iter_mut().enumerate() {
            *share = self.share_between(
                DurationMs::from_hours(hour as i64),
                DurationMs::from_hours(hour as i64 + 1),
            );
        }
        shares
    }

    /// The hour of the day (fractional, minute resolution) at which the rate peaks.
    pub fn peak_hour(&self) -> f64 {
        let (minute, _) =
            self.minute_weights
                .iter()
                .enumerate()
                .fold(
                    (0, f64::MIN),
                    |best, (i, &w)| if w > best.1 { (i, w) } else { best },
                );
        (minute as f64 + 0.5) / 60.0
    }

    /// The hour of the day (fractional, minute resolution) at which the rate is lowest.
    pub fn trough_hour(&self) -> f64 {
        let (minute, _) =
            self.minute_weights
                .iter()
                .enumerate()
                .fold(
                    (0, f64::MAX),
                    |best, (i, &w)| if w < best.1 { (i, w) } else { best },
                );
        (minute as f64 + 0.5) / 60.0
    }

    /// Share of the day in each bin of width `bin` (which must divide one day).
    fn bin_shares(&self, bin: DurationMs) -> Result<Vec<f64>, SimError> {
        let width = bin.as_millis();
        if width < 1_000 || MS_PER_DAY % width != 0 {
            return Err(SimError::invalid(
                "bin",
                format!("{width} ms is not a whole number of seconds dividing one day"),
            ));
        }
        let bins = (MS_PER_DAY / width) as usize;
        let day = self.integral_to(SECONDS_PER_DAY) - self.integral_to(0.0);
        let width_sec = width as f64 / 1_000.0;
        let mut previous = self.integral_to(0.0);
        Ok((1..=bins)
            .map(|i| {
                let next = self.integral_to(i as f64 * width_sec);
                let share = ((next - previous) / day).max(0.0);
                previous = next;
                share
            })
            .collect())
    }

    /// Draws exactly `daily_total` requests over the day and returns how many fall in
    /// each bin of width `bin` (e.g. [`DurationMs::SECOND`] → 86,400 counts,
    /// [`DurationMs::MINUTE`] → 1,440). The counts are a multinomial draw with the
    /// curve's bin shares, made by sequential conditional binomials, so they always sum
    /// to `daily_total`.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when `bin` is under one second or does not divide
    /// one day.
    pub fn sample_counts<R: Rng + ?Sized>(
        &self,
        daily_total: u64,
        bin: DurationMs,
        rng: &mut R,
    ) -> Result<Vec<u64>, SimError> {
        let shares = self.bin_shares(bin)?;
        let mut remaining = daily_total;
        let mut mass_left = 1.0f64;
        let last = shares.len() - 1;
        Ok(shares
            .iter()
            .enumerate()
            .map(|(i, &share)| {
                if remaining == 0 {
                    return 0;
                }
                if i == last {
                    let rest = remaining;
                    remaining = 0;
                    return rest;
                }
                let p = if mass_left > 0.0 {
                    (share / mass_left).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                mass_left -= share;
                let drawn = Binomial::new(remaining, p).map_or(0, |b| b.sample(rng));
                remaining -= drawn.min(remaining);
                drawn
            })
            .collect())
    }

    /// Independent Poisson counts per bin with means `expected_total × bin share`: the
    /// day's total is itself random (Poisson with mean `expected_total`). Use this when
    /// arrivals should look like an open Poisson process rather than a fixed count.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] for a bad `bin` (see
    /// [`sample_counts`](Self::sample_counts)) or a negative / non-finite
    /// `expected_total`.
    pub fn sample_poisson_counts<R: Rng + ?Sized>(
        &self,
        expected_total: f64,
        bin: DurationMs,
        rng: &mut R,
    ) -> Result<Vec<u64>, SimError> {
        check_range("expected_total", expected_total, 0.0, 1e15)?;
        let shares = self.bin_shares(bin)?;
        Ok(shares
            .iter()
            .map(|&share| {
                let mean = expected_total * share;
                if mean <= 0.0 {
                    0
                } else {
                    Poisson::new(mean).map_or(0, |p| p.sample(rng) as u64)
                }
            })
            .collect())
    }

    /// Exactly `daily_total` arrival times, as sorted offsets from local midnight with
    /// millisecond resolution: per-second counts from
    /// [`sample_counts`](Self::sample_counts), then uniform milliseconds within each
    /// second.
    pub fn sample_arrivals<R: Rng + ?Sized>(
        &self,
        daily_total: u64,
        rng: &mut R,
    ) -> Vec<DurationMs> {
        use rand::RngExt;
        // One second divides the day, so this cannot fail.
        let counts = self
            .sample_counts(daily_total, DurationMs::SECOND, rng)
            .unwrap_or_default();
        let mut arrivals = Vec::with_capacity(daily_total.min(1 << 28) as usize);
        let mut within = Vec::new();
        for (second, &count) in counts.iter().enumerate() {
            within.clear();
            within.extend((0..count).map(|_| rng.random_range(0..1_000i64)));
            within.sort_unstable();
            let base = second as i64 * 1_000;
            arrivals.extend(within.iter().map(|&ms| DurationMs::from_millis(base + ms)));
        }
        arrivals
    }

    /// A perturbed copy of this curve for one simulated day: each hour's rate is
    /// multiplied by a mean-one lognormal factor with σ = `noise.shape_sigma`, the factors
    /// interpolated smoothly between hour centres, and the result renormalised to mean 1.
    /// (Draw the day's volume separately with [`DayNoise::daily_total`].)
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when a sigma is outside `[0, 2]`.
    pub fn noisy_day<R: Rng + ?Sized>(
        &self,
        noise: &DayNoise,
        rng: &mut R,
    ) -> Result<Self, SimError> {
        noise.validate()?;
        let sigma = noise.shape_sigma;
        if sigma == 0.0 {
            return Ok(self.clone());
        }
        let mut factors = [1.0f64; 24];
        for f in &mut factors {
            *f = sample_normal(rng, -sigma * sigma / 2.0, sigma).exp();
        }
        let weights = self
            .minute_weights
            .iter()
            .enumerate()
            .map(|(minute, &w)| {
                let hour = (minute as f64 + 0.5) / 60.0;
                w * catmull_rom_periodic(&factors, hour).max(0.0)
            })
            .collect();
        Self::from_minute_weights(weights)
    }
}

impl std::fmt::Debug for DiurnalCurve {
    /// A summary (1,440 weights are too many to print).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (min, max) = self
            .minute_weights
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &w| (lo.min(w), hi.max(w)));
        f.debug_struct("DiurnalCurve")
            .field("peak_hour", &self.peak_hour())
            .field("max_weight", &max)
            .field("trough_hour", &self.trough_hour())
            .field("min_weight", &min)
            .finish_non_exhaustive()
    }
}

impl Default for DiurnalCurve {
    /// [`DiurnalCurve::streaming`].
    fn default() -> Self {
        Self::streaming()
    }
}

fn sample_normal<R: Rng + ?Sized>(rng: &mut R, mean: f64, sigma: f64) -> f64 {
    Normal::new(mean, sigma).map_or(mean, |n| n.sample(rng))
}

/// Periodic Catmull–Rom interpolation through 24 knots at hour centres (h + 0.5).
fn catmull_rom_periodic(knots: &[f64; 24], hour: f64) -> f64 {
    let x = (hour - 0.5).rem_euclid(24.0);
    let i = x.floor() as usize % 24;
    let t = x - x.floor();
    let p0 = knots[(i + 23) % 24];
    let p1 = knots[i];
    let p2 = knots[(i + 1) % 24];
    let p3 = knots[(i + 2) % 24];
    let t2 = t * t;
    let t3 = t2 * t;
    0.5 * (2.0 * p1
        + (-p0 + p2) * t
        + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * t2
        + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * t3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn streaming_curve_has_prime_time_peak_and_overnight_trough() {
        let curve = DiurnalCurve::streaming();
        let peak = curve.peak_hour();
        assert!((20.0..=22.0).contains(&peak), "peak at {peak}");
        let trough = curve.trough_hour();
        assert!((2.0..=6.0).contains(&trough), "trough at {trough}");
        assert!(curve.weight_at_hour(peak) > 2.0);
        assert!(curve.weight_at_hour(trough) < 0.35);
        let shares = curve.hourly_shares();
        let prime: f64 = shares[20..23].iter().sum();
        assert!((0.2..0.35).contains(&prime), "prime share {prime}");
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn curve_is_continuous_and_mean_one() {
        let curve = DiurnalCurve::streaming();
        let mean = curve.minute_weights().iter().sum::<f64>() / 1440.0;
        assert!((mean - 1.0).abs() < 1e-12);
        // Adjacent seconds differ by tiny amounts: no steps, including across midnight.
        let mut previous = curve.weight_at_hour(0.0);
        for second in 1..=86_400 {
            let w = curve.weight_at_hour(second as f64 / 3600.0);
            assert!((w - previous).abs() < 2e-3, "jump at second {second}");
            previous = w;
        }
        assert!((curve.share_between(DurationMs::ZERO, DurationMs::DAY) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn share_between_wraps_through_midnight() {
        let curve = DiurnalCurve::streaming();
        let late = curve.share_between(DurationMs::from_hours(22), DurationMs::from_hours(24));
        let early = curve.share_between(DurationMs::ZERO, DurationMs::from_hours(2));
        let wrapped = curve.share_between(DurationMs::from_hours(22), DurationMs::from_hours(2));
        assert!((late + early - wrapped).abs() < 1e-12);
        let flat = DiurnalCurve::flat();
        let quarter = flat.share_between(DurationMs::from_hours(3), DurationMs::from_hours(9));
        assert!((quarter - 0.25).abs() < 1e-12);
    }

    #[test]
    fn exact_counts_sum_to_total_and_follow_the_curve() {
        let curve = DiurnalCurve::streaming();
        let mut rng = StdRng::seed_from_u64(7);
        let per_second = curve
            .sample_counts(1_000_000, DurationMs::SECOND, &mut rng)
            .unwrap();
        assert_eq!(per_second.len(), 86_400);
        assert_eq!(per_second.iter().sum::<u64>(), 1_000_000);
        let shares = curve.hourly_shares();
        for (hour, chunk) in per_second.chunks(3_600).enumerate() {
            let observed = chunk.iter().sum::<u64>() as f64 / 1e6;
            let expected = shares[hour];
            let sd = (expected * (1.0 - expected) / 1e6).sqrt();
            assert!((observed - expected).abs() < 5.0 * sd, "hour {hour}");
        }
        let per_minute = curve
            .sample_counts(10, DurationMs::MINUTE, &mut rng)
            .unwrap();
        assert_eq!(per_minute.len(), 1_440);
        assert_eq!(per_minute.iter().sum::<u64>(), 10);
        assert!(
            curve
                .sample_counts(10, DurationMs::from_millis(700), &mut rng)
                .is_err()
        );
        assert!(
            curve
                .sample_counts(10, DurationMs::from_secs(7), &mut rng)
                .is_err()
        );
    }

    #[test]
    fn poisson_counts_have_the_right_mean() {
        let curve = DiurnalCurve::streaming();
        let mut rng = StdRng::seed_from_u64(8);
        let counts = curve
            .sample_poisson_counts(500_000.0, DurationMs::MINUTE, &mut rng)
            .unwrap();
        let total = counts.iter().sum::<u64>() as f64;
        assert!((total - 500_000.0).abs() < 5.0 * 500_000f64.sqrt());
    }

    #[test]
    fn arrivals_are_sorted_and_seeded() {
        let curve = DiurnalCurve::streaming();
        let a = curve.sample_arrivals(5_000, &mut StdRng::seed_from_u64(1));
        let b = curve.sample_arrivals(5_000, &mut StdRng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(a.len(), 5_000);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert!(a.iter().all(|d| (0..MS_PER_DAY).contains(&d.as_millis())));
    }

    #[test]
    fn noisy_days_differ_but_keep_the_shape() {
        let curve = DiurnalCurve::streaming();
        let mut rng = StdRng::seed_from_u64(3);
        let day1 = curve.noisy_day(&DayNoise::TYPICAL, &mut rng).unwrap();
        let day2 = curve.noisy_day(&DayNoise::TYPICAL, &mut rng).unwrap();
        assert_ne!(day1, day2);
        for day in [&day1, &day2] {
            assert!((19.5..=22.5).contains(&day.peak_hour()));
        }
        assert_eq!(curve.noisy_day(&DayNoise::NONE, &mut rng).unwrap(), curve);
        let totals: Vec<u64> = (0..200)
            .map(|_| DayNoise::TYPICAL.daily_total(1_000_000, &mut rng).unwrap())
            .collect();
        let mean = totals.iter().sum::<u64>() as f64 / 200.0;
        assert!((mean / 1e6 - 1.0).abs() < 0.03, "mean {mean}");
        assert!(totals.iter().any(|&t| t != 1_000_000));
        assert!(
            DayNoise {
                volume_sigma: -1.0,
                shape_sigma: 0.0
            }
            .daily_total(1, &mut rng)
            .is_err()
        );
    }

    #[test]
    fn constructors_reject_bad_input() {
        assert!(DiurnalCurve::from_minute_weights(vec![1.0; 10]).is_err());
        assert!(DiurnalCurve::from_minute_weights(vec![0.0; 1440]).is_err());
        assert!(DiurnalCurve::from_bumps(-1.0, &[]).is_err());
        assert!(DiurnalCurve::from_bumps(0.0, &[]).is_err());
        let bad = DiurnalBump {
            center_hour: 25.0,
            amplitude: 1.0,
            concentration: 1.0,
        };
        assert!(DiurnalCurve::from_bumps(0.1, &[bad]).is_err());
        let mut hourly = [1.0; 24];
        hourly[20] = 3.0;
        let c = DiurnalCurve::from_hourly(&hourly).unwrap();
        assert!((c.peak_hour() - 20.5).abs() < 0.05);
        hourly[3] = f64::NAN;
        assert!(DiurnalCurve::from_hourly(&hourly).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Plain reference: midpoint-rule integral of the rate at one-second steps.
    fn brute_share(curve: &DiurnalCurve, start_s: i64, end_s: i64) -> f64 {
        let mut total = 0.0;
        let mut part = 0.0;
        for s in 0..86_400i64 {
            let w = curve.weight_at_hour((s as f64 + 0.5) / 3_600.0);
            total += w;
            let inside = if end_s >= start_s {
                s >= start_s && s < end_s
            } else {
                s >= start_s || s < end_s
            };
            if inside {
                part += w;
            }
        }
        part / total
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn share_between_matches_brute_force(start in 0i64..86_400, end in 0i64..86_400, noisy in any::<bool>(), seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut curve = DiurnalCurve::streaming();
            if noisy {
                curve = curve.noisy_day(&DayNoise::TYPICAL, &mut rand::rngs::StdRng::seed_from_u64(seed)).unwrap();
            }
            let fast = curve.share_between(DurationMs::from_secs(start), DurationMs::from_secs(end));
            let reference = brute_share(&curve, start, end);
            prop_assert!((fast - reference).abs() < 1e-6, "{fast} vs {reference}");
        }

        #[test]
        fn exact_counts_always_sum_to_the_total(total in 0u64..50_000, seed in any::<u64>()) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let counts = DiurnalCurve::streaming().sample_counts(total, DurationMs::from_mins(10), &mut rng).unwrap();
            prop_assert_eq!(counts.len(), 144);
            prop_assert_eq!(counts.iter().sum::<u64>(), total);
        }
    }
}
