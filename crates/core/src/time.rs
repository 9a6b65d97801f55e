use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in time: milliseconds since the Unix epoch (UTC), always supplied by the
/// caller. adloop never reads the clock itself, so a replay of the same events at the
/// same timestamps gives the same answers.
///
/// Arithmetic saturates at the `i64` bounds (about ±292 million years) and never panics.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

/// A span of time in milliseconds (may be negative when it is a difference).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DurationMs(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The latest representable instant.
    pub const MAX: Timestamp = Timestamp(i64::MAX);
    /// The earliest representable instant.
    pub const MIN: Timestamp = Timestamp(i64::MIN);

    /// The instant `ms` milliseconds after the epoch.
    #[inline]
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    #[inline]
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + d`, or `None` on overflow.
    #[inline]
    pub const fn checked_add(self, d: DurationMs) -> Option<Timestamp> {
        match self.0.checked_add(d.0) {
            Some(t) => Some(Timestamp(t)),
            None => None,
        }
    }

    /// `self + d`, saturating.
    #[inline]
    pub const fn saturating_add(self, d: DurationMs) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// `self - d`, saturating.
    #[inline]
    pub const fn saturating_sub(self, d: DurationMs) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// `self − earlier` (negative when `earlier` is later), saturating.
    #[inline]
    pub const fn duration_since(self, earlier: Timestamp) -> DurationMs {
        DurationMs(self.0.saturating_sub(earlier.0))
    }

    /// The day number of this instant in a time zone `utc_offset` ahead of UTC
    /// (day 0 starts at the epoch in that zone). Days before the epoch are negative.
    #[inline]
    pub const fn day_index(self, utc_offset: DurationMs) -> i64 {
        self.0
            .saturating_add(utc_offset.0)
            .div_euclid(DurationMs::DAY.0)
    }

    /// Milliseconds since local midnight in a time zone `utc_offset` ahead of UTC,
    /// in `0..86_400_000`.
    #[inline]
    pub const fn ms_of_day(self, utc_offset: DurationMs) -> i64 {
        self.0
            .saturating_add(utc_offset.0)
            .rem_euclid(DurationMs::DAY.0)
    }

    /// The hour of the local day (`0..24`) in a time zone `utc_offset` ahead of UTC.
    #[inline]
    pub const fn hour_of_day(self, utc_offset: DurationMs) -> u8 {
        (self.ms_of_day(utc_offset) / DurationMs::HOUR.0) as u8
    }

    /// The start (local midnight) of the day holding this instant, in a time zone
    /// `utc_offset` ahead of UTC.
    #[inline]
    pub const fn start_of_day(self, utc_offset: DurationMs) -> Timestamp {
        Timestamp(self.0.saturating_sub(self.ms_of_day(utc_offset)))
    }
}

impl DurationMs {
    /// Zero.
    pub const ZERO: DurationMs = DurationMs(0);
    /// One second.
    pub const SECOND: DurationMs = DurationMs(1_000);
    /// One minute.
    pub const MINUTE: DurationMs = DurationMs(60_000);
    /// One hour.
    pub const HOUR: DurationMs = DurationMs(3_600_000);
    /// One day.
    pub const DAY: DurationMs = DurationMs(86_400_000);
    /// The longest representable span (used for "lifetime" windows).
    pub const MAX: DurationMs = DurationMs(i64::MAX);

    /// `ms` milliseconds.
    #[inline]
    pub const fn from_millis(ms: i64) -> Self {
        DurationMs(ms)
    }

    /// `s` seconds, saturating.
    #[inline]
    pub const fn from_secs(s: i64) -> Self {
        DurationMs(s.saturating_mul(1_000))
    }

    /// `m` minutes, saturating.
    #[inline]
    pub const fn from_mins(m: i64) -> Self {
        DurationMs(m.saturating_mul(60_000))
    }

    /// `h` hours, saturating.
    #[inline]
    pub const fn from_hours(h: i64) -> Self {
        DurationMs(h.saturating_mul(3_600_000))
    }

    /// `d` days, saturating.
    #[inline]
    pub const fn from_days(d: i64) -> Self {
        DurationMs(d.saturating_mul(86_400_000))
    }

    /// The span in milliseconds.
    #[inline]
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `true` if the span is negative.
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Add<DurationMs> for Timestamp {
    type Output = Timestamp;
    /// Saturating.
    #[inline]
    fn add(self, d: DurationMs) -> Timestamp {
        self.saturating_add(d)
    }
}

impl AddAssign<DurationMs> for Timestamp {
    #[inline]
    fn add_assign(&mut self, d: DurationMs) {
        *self = self.saturating_add(d);
    }
}

impl Sub<DurationMs> for Timestamp {
    type Output = Timestamp;
    /// Saturating.
    #[inline]
    fn sub(self, d: DurationMs) -> Timestamp {
        self.saturating_sub(d)
    }
}

impl Sub for Timestamp {
    type Output = DurationMs;
    /// Saturating difference.
    #[inline]
    fn sub(self, earlier: Timestamp) -> DurationMs {
        self.duration_since(earlier)
    }
}

impl Add for DurationMs {
    type Output = DurationMs;
    /// Saturating.
    #[inline]
    fn add(self, rhs: DurationMs) -> DurationMs {
        DurationMs(self.0.saturating_add(rhs.0))
    }
}

impl Sub for DurationMs {
    type Output = DurationMs;
    /// Saturating.
    #[inline]
    fn sub(self, rhs: DurationMs) -> DurationMs {
        DurationMs(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Timestamp {
    /// Milliseconds since the epoch, e.g. `1700000000000ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for DurationMs {
    /// Milliseconds, e.g. `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_and_hours_respect_the_offset() {
        let t = Timestamp::from_millis(DurationMs::DAY.as_millis() + 3 * 3_600_000);
        assert_eq!(t.day_index(DurationMs::ZERO), 1);
        assert_eq!(t.hour_of_day(DurationMs::ZERO), 3);
        // Five hours behind UTC: still the previous local day, at 22:00.
        let west = DurationMs::from_hours(-5);
        assert_eq!(t.day_index(west), 0);
        assert_eq!(t.hour_of_day(west), 22);
        assert_eq!(t.start_of_day(west).as_millis(), 5 * 3_600_000);
        // Before the epoch.
        let before = Timestamp::from_millis(-1);
        assert_eq!(before.day_index(DurationMs::ZERO), -1);
        assert_eq!(before.hour_of_day(DurationMs::ZERO), 23);
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Timestamp::MAX + DurationMs::SECOND, Timestamp::MAX);
        assert_eq!(Timestamp::MIN - DurationMs::SECOND, Timestamp::MIN);
        assert_eq!(Timestamp::MAX.checked_add(DurationMs::SECOND), None);
        assert_eq!(
            Timestamp::MIN - Timestamp::MAX,
            DurationMs::from_millis(i64::MIN)
        );
        assert_eq!(DurationMs::from_days(i64::MAX), DurationMs::MAX);
    }

    proptest! {
        #[test]
        fn day_decomposition_is_consistent(ms in any::<i64>(), off_h in -14i64..=14) {
            let t = Timestamp::from_millis(ms);
            let off = DurationMs::from_hours(off_h);
            let in_day = t.ms_of_day(off);
            prop_assert!((0..DurationMs::DAY.as_millis()).contains(&in_day));
            prop_assert!(t.hour_of_day(off) < 24);
            let local = ms.saturating_add(off.as_millis());
            if local != i64::MAX && local != i64::MIN {
                prop_assert_eq!(t.day_index(off) as i128 * 86_400_000 + in_day as i128, local as i128);
            }
        }
    }
}
