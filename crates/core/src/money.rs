use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// An amount of money in signed micro-units: `Money::from_micros(1_000_000)` is one unit
/// of the account currency (one dollar, one euro…).
///
/// Money is never a float. Arithmetic comes in two flavours, and neither panics:
/// - `checked_*` methods return `None` when the exact result does not fit in `i64` micros;
/// - the operators (`+`, `-`, unary `-`, `+=`, `-=`, [`Sum`]) and `saturating_*` methods
///   saturate at [`Money::MIN`] / [`Money::MAX`] (±9.2 trillion units, far beyond any
///   budget, so saturation only ever shows up on hostile input).
///
/// `Display` writes a decimal amount with at least two and at most six decimals
/// (`1.25`, `0.000001`, `-3.00`); `FromStr` reads the same form back exactly.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// Micro-units per unit of currency.
    pub const MICROS_PER_UNIT: i64 = 1_000_000;
    /// Zero.
    pub const ZERO: Money = Money(0);
    /// The largest amount.
    pub const MAX: Money = Money(i64::MAX);
    /// The smallest (most negative) amount.
    pub const MIN: Money = Money(i64::MIN);

    /// An amount of `micros` micro-units.
    #[inline]
    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    /// The amount in micro-units.
    #[inline]
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `units` whole units of currency, or `None` if that overflows.
    #[inline]
    pub const fn from_units(units: i64) -> Option<Self> {
        match units.checked_mul(Self::MICROS_PER_UNIT) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `cents` hundredths of a unit, or `None` if that overflows.
    #[inline]
    pub const fn from_cents(cents: i64) -> Option<Self> {
        match cents.checked_mul(10_000) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `true` if the amount is zero.
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `true` if the amount is below zero.
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `true` if the amount is above zero.
    #[inline]
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// `self + rhs`, or `None` on overflow.
    #[inline]
    pub const fn checked_add(self, rhs: Money) -> Option<Money> {
        match self.0.checked_add(rhs.0) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `self - rhs`, or `None` on overflow.
    #[inline]
    pub const fn checked_sub(self, rhs: Money) -> Option<Money> {
        match self.0.checked_sub(rhs.0) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `self × factor`, or `None` on overflow.
    #[inline]
    pub const fn checked_mul(self, factor: i64) -> Option<Money> {
        match self.0.checked_mul(factor) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `self ÷ divisor` rounded toward zero, or `None` when `divisor` is zero or the
    /// quotient overflows (`MIN ÷ -1`).
    #[inline]
    pub const fn checked_div(self, divisor: i64) -> Option<Money> {
        match self.0.checked_div(divisor) {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `-self`, or `None` for [`Money::MIN`].
    #[inline]
    pub const fn checked_neg(self) -> Option<Money> {
        match self.0.checked_neg() {
            Some(m) => Some(Money(m)),
            None => None,
        }
    }

    /// `self × numerator ÷ denominator`, computed exactly in 128 bits and rounded toward
    /// zero; `None` when `denominator` is zero or the result does not fit.
    ///
    /// This is the one way to scale money by a ratio (a share of a budget, a bid
    /// multiplier in parts per million) without an intermediate overflow or a float.
    #[inline]
    pub const fn checked_mul_div(self, numerator: i64, denominator: i64) -> Option<Money> {
        if denominator == 0 {
            return None;
        }
        let q = (self.0 as i128 * numerator as i128) / denominator as i128;
        if q > i64::MAX as i128 || q < i64::MIN as i128 {
            None
        } else {
            Some(Money(q as i64))
        }
    }

    /// `self + rhs`, saturating at the bounds.
    #[inline]
    pub const fn saturating_add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }

    /// `self - rhs`, saturating at the bounds.
    #[inline]
    pub const fn saturating_sub(self, rhs: Money) -> Money {
        Money(self.0.saturating_sub(rhs.0))
    }

    /// `self × factor`, saturating at the bounds.
    #[inline]
    pub const fn saturating_mul(self, factor: i64) -> Money {
        Money(self.0.saturating_mul(factor))
    }

    /// The smaller of two amounts.
    #[inline]
    pub fn min(self, other: Money) -> Money {
        Ord::min(self, other)
    }

    /// The larger of two amounts.
    #[inline]
    pub fn max(self, other: Money) -> Money {
        Ord::max(self, other)
    }

    /// `self + rhs` as a `Result`, naming `operation` in the overflow error.
    pub fn try_add(self, rhs: Money, operation: &'static str) -> Result<Money, Error> {
        self.checked_add(rhs).ok_or(Error::Overflow { operation })
    }

    /// `self - rhs` as a `Result`, naming `operation` in the overflow error.
    pub fn try_sub(self, rhs: Money, operation: &'static str) -> Result<Money, Error> {
        self.checked_sub(rhs).ok_or(Error::Overflow { operation })
    }
}

impl Add for Money {
    type Output = Money;
    /// Saturating addition (see the type docs).
    #[inline]
    fn add(self, rhs: Money) -> Money {
        self.saturating_add(rhs)
    }
}

impl Sub for Money {
    type Output = Money;
    /// Saturating subtraction (see the type docs).
    #[inline]
    fn sub(self, rhs: Money) -> Money {
        self.saturating_sub(rhs)
    }
}

impl Neg for Money {
    type Output = Money;
    /// Saturating negation: `-Money::MIN` is `Money::MAX`.
    #[inline]
    fn neg(self) -> Money {
        Money(self.0.saturating_neg())
    }
}

impl AddAssign for Money {
    #[inline]
    fn add_assign(&mut self, rhs: Money) {
        *self = self.saturating_add(rhs);
    }
}

impl SubAssign for Money {
    #[inline]
    fn sub_assign(&mut self, rhs: Money) {
        *self = self.saturating_sub(rhs);
    }
}

impl Sum for Money {
    /// Saturating sum.
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::saturating_add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    /// Saturating sum.
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

fn write_decimal(f: &mut fmt::Formatter<'_>, micros: i64) -> fmt::Result {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let units = abs / 1_000_000;
    let frac = abs % 1_000_000;
    // Six digits, then drop trailing zeros down to two.
    let mut digits = 6;
    let mut shown = frac;
    while digits > 2 && shown.is_multiple_of(10) {
        shown /= 10;
        digits -= 1;
    }
    let s = format!("{sign}{units}.{shown:0digits$}");
    f.pad(&s)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_decimal(f, self.0)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

/// Longest accepted input; longer text cannot be a valid `i64` micro amount anyway.
const MAX_MONEY_TEXT: usize = 40;

fn parse_error(input: &str, position: usize, reason: &'static str) -> Error {
    let mut cut = input.len().min(64);
    while !input.is_char_boundary(cut) {
        cut -= 1;
    }
    Error::InvalidMoney {
        input: input[..cut].to_owned(),
        position,
        reason,
    }
}

impl FromStr for Money {
    type Err = Error;

    /// Parses `[-+]?DIGITS[.DIGITS]` with at most six decimals (the amount must be exact
    /// in micros). No exponent, no separators, no whitespace.
    fn from_str(input: &str) -> Result<Money, Error> {
        if input.len() > MAX_MONEY_TEXT {
            return Err(parse_error(input, MAX_MONEY_TEXT, "amount text too long"));
        }
        let bytes = input.as_bytes();
        let mut pos = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                pos = 1;
                true
            }
            Some(b'+') => {
                pos = 1;
                false
            }
            _ => false,
        };
        let int_start = pos;
        let mut micros: i128 = 0;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            micros = micros * 10 + i128::from(bytes[pos] - b'0');
            if micros > i128::from(i64::MAX) + 1 {
                return Err(parse_error(input, int_start, "amount out of range"));
            }
            pos += 1;
        }
        let int_digits = pos - int_start;
        micros *= 1_000_000;
        let mut frac_digits = 0;
        if pos < bytes.len() && bytes[pos] == b'.' {
            pos += 1;
            let mut scale = 100_000i128;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                if frac_digits == 6 {
                    return Err(parse_error(input, pos, "more than six decimals"));
                }
                micros += i128::from(bytes[pos] - b'0') * scale;
                scale /= 10;
                frac_digits += 1;
                pos += 1;
            }
            if frac_digits == 0 {
                return Err(parse_error(input, pos, "expected a digit after '.'"));
            }
        }
        if int_digits == 0 && frac_digits == 0 {
            return Err(parse_error(input, pos, "expected a digit"));
        }
        if pos != bytes.len() {
            return Err(parse_error(input, pos, "unexpected character"));
        }
        let signed = if negative { -micros } else { micros };
        i64::try_from(signed)
            .map(Money)
            .map_err(|_| parse_error(input, int_start, "amount out of range"))
    }
}

/// A price per mille: the price of one thousand impressions, the unit buyers bid in.
///
/// # Rounding
/// [`Cpm::per_impression`] divides by 1,000 and rounds **toward zero**, so an
/// advertiser is never charged more than its CPM per thousand: summing the
/// per-impression price of 1,000 impressions gives the CPM minus `micros % 1000`, i.e.
/// a drift of at most **999 micro-units (under 0.001 of a unit) per thousand
/// impressions**, always in the advertiser's favour. Where the exact total matters
/// (reports, invoices), [`Cpm::cost_of`] prices any number of impressions at once,
/// exactly up to one micro-unit (rounded toward zero).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cpm(Money);

impl Cpm {
    /// Zero.
    pub const ZERO: Cpm = Cpm(Money::ZERO);
    /// Impressions per mille.
    pub const IMPRESSIONS: i64 = 1_000;

    /// A CPM of `amount` per thousand impressions.
    #[inline]
    pub const fn new(amount: Money) -> Self {
        Cpm(amount)
    }

    /// A CPM of `micros` micro-units per thousand impressions.
    #[inline]
    pub const fn from_micros(micros: i64) -> Self {
        Cpm(Money::from_micros(micros))
    }

    /// The price of a thousand impressions.
    #[inline]
    pub const fn amount(self) -> Money {
        self.0
    }

    /// The price of a thousand impressions, in micro-units.
    #[inline]
    pub const fn micros(self) -> i64 {
        self.0.micros()
    }

    /// The price of one impression, rounded toward zero (see [the type docs](Cpm)).
    #[inline]
    pub const fn per_impression(self) -> Money {
        Money::from_micros(self.0.micros() / Self::IMPRESSIONS)
    }

    /// The CPM at which one impression costs `price` exactly, or `None` on overflow.
    #[inline]
    pub const fn from_per_impression(price: Money) -> Option<Cpm> {
        match price.checked_mul(Self::IMPRESSIONS) {
            Some(m) => Some(Cpm(m)),
            None => None,
        }
    }

    /// The exact price of `impressions` impressions, rounded toward zero once (not per
    /// impression), or `None` if it does not fit in `Money`.
    #[inline]
    pub const fn cost_of(self, impressions: u64) -> Option<Money> {
        let total = self.0.micros() as i128 * impressions as i128 / Self::IMPRESSIONS as i128;
        if total > i64::MAX as i128 || total < i64::MIN as i128 {
            None
        } else {
            Some(Money::from_micros(total as i64))
        }
    }
}

impl From<Money> for Cpm {
    #[inline]
    fn from(amount: Money) -> Cpm {
        Cpm(amount)
    }
}

impl fmt::Display for Cpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Cpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cpm({})", self.0)
    }
}

impl FromStr for Cpm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Cpm, Error> {
        s.parse::<Money>().map(Cpm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_uses_two_to_six_decimals() {
        let cases = [
            (0, "0.00"),
            (1, "0.000001"),
            (10_000, "0.01"),
            (1_250_000, "1.25"),
            (1_234_567, "1.234567"),
            (-3_000_000, "-3.00"),
            (-1, "-0.000001"),
            (i64::MIN, "-9223372036854.775808"),
            (i64::MAX, "9223372036854.775807"),
        ];
        for (micros, text) in cases {
            assert_eq!(Money::from_micros(micros).to_string(), text, "{micros}");
        }
        assert_eq!(format!("{:>8}", Money::from_micros(1_500_000)), "    1.50");
    }

    #[test]
    fn parse_accepts_exact_decimals() {
        assert_eq!(
            "1.25".parse::<Money>().unwrap(),
            Money::from_micros(1_250_000)
        );
        assert_eq!(
            "+7".parse::<Money>().unwrap(),
            Money::from_micros(7_000_000)
        );
        assert_eq!(".5".parse::<Money>().unwrap(), Money::from_micros(500_000));
        assert_eq!(
            "-0.000001".parse::<Money>().unwrap(),
            Money::from_micros(-1)
        );
        assert_eq!(
            "-9223372036854.775808".parse::<Money>().unwrap(),
            Money::MIN
        );
    }

    #[test]
    fn parse_rejects_with_position() {
        let err = |s: &str| match s.parse::<Money>() {
            Err(Error::InvalidMoney {
                position, reason, ..
            }) => (position, reason),
            other => panic!("{s:?} gave {other:?}"),
        };
        assert_eq!(err(""), (0, "expected a digit"));
        assert_eq!(err("-"), (1, "expected a digit"));
        assert_eq!(err("1."), (2, "expected a digit after '.'"));
        assert_eq!(err("1.2345678"), (8, "more than six decimals"));
        assert_eq!(err("12x"), (2, "unexpected character"));
        assert_eq!(err(" 1"), (0, "expected a digit"));
        assert_eq!(err("9223372036854.775808"), (0, "amount out of range"));
        assert_eq!(err("99999999999999999999"), (0, "amount out of range"));
        assert_eq!(err(&"1".repeat(41)), (40, "amount text too long"));
    }

    #[test]
    fn operators_saturate_and_checked_ops_report() {
        assert_eq!(Money::MAX + Money::from_micros(1), Money::MAX);
        assert_eq!(Money::MIN - Money::from_micros(1), Money::MIN);
        assert_eq!(-Money::MIN, Money::MAX);
        assert_eq!(Money::MAX.checked_add(Money::from_micros(1)), None);
        assert_eq!(Money::MIN.checked_div(-1), None);
        assert_eq!(Money::from_micros(5).checked_div(0), None);
        assert_eq!(Money::MAX.checked_mul_div(3, 2), None);
        assert_eq!(
            Money::MAX.checked_mul_div(1, 2),
            Some(Money::from_micros(i64::MAX / 2))
        );
        assert_eq!(
            Money::from_micros(10).try_add(Money::MAX, "budget"),
            Err(Error::Overflow {
                operation: "budget"
            })
        );
        let total: Money = [Money::MAX, Money::MAX].iter().sum();
        assert_eq!(total, Money::MAX);
    }

    #[test]
    fn cpm_conversion_rounds_toward_zero() {
        // 2.500999 CPM → 2500.999 micros per impression → 2500.
        assert_eq!(Cpm::from_micros(2_500_999).per_impression().micros(), 2_500);
        assert_eq!(
            Cpm::from_micros(-2_500_999).per_impression().micros(),
            -2_500
        );
        assert_eq!(Cpm::from_micros(999).per_impression(), Money::ZERO);
        assert_eq!(
            Cpm::from_micros(2_500_999).cost_of(1_000),
            Some(Money::from_micros(2_500_999))
        );
        assert_eq!(Cpm::from_micros(i64::MAX).cost_of(u64::MAX), None);
        assert_eq!(
            Cpm::from_per_impression(Money::from_micros(2_500)),
            Some(Cpm::from_micros(2_500_000))
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(micros in any::<i64>()) {
            let m = Money::from_micros(micros);
            prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,48}") {
            let _ = s.parse::<Money>();
        }

        /// The documented bound: 1,000 impressions charged one at a time never drift
        /// from the CPM by more than 999 micros, and never in the buyer's disfavour.
        #[test]
        fn thousand_impressions_drift_is_bounded(micros in 0i64..=i64::MAX) {
            let cpm = Cpm::from_micros(micros);
            let mut total = Money::ZERO;
            for _ in 0..1_000 {
                total = total.checked_add(cpm.per_impression()).unwrap();
            }
            let drift = cpm.amount().micros() - total.micros();
            prop_assert!((0..=999).contains(&drift), "drift {drift}");
            prop_assert_eq!(cpm.cost_of(1_000), Some(cpm.amount()));
        }

        #[test]
        fn negative_cpm_drift_is_bounded(micros in i64::MIN..0) {
            let cpm = Cpm::from_micros(micros);
            let total = cpm.per_impression().checked_mul(1_000).unwrap();
            let drift = total.micros() - cpm.amount().micros();
            prop_assert!((0..=999).contains(&drift), "drift {drift}");
        }

        #[test]
        fn cost_of_is_exact_to_one_micro(micros in 0i64..1_000_000_000_000, n in 0u64..10_000_000) {
            let cpm = Cpm::from_micros(micros);
            let exact = micros as i128 * n as i128; // in thousandths of a micro
            let cost = cpm.cost_of(n).unwrap().micros() as i128 * 1_000;
            prop_assert!(exact - cost >= 0 && exact - cost < 1_000);
        }

        #[test]
        fn checked_matches_i128(a in any::<i64>(), b in any::<i64>()) {
            let (x, y) = (Money::from_micros(a), Money::from_micros(b));
            let wide = a as i128 + b as i128;
            prop_assert_eq!(x.checked_add(y).map(Money::micros).map(i128::from), i64::try_from(wide).ok().map(i128::from));
            let sat = wide.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            prop_assert_eq!((x + y).micros(), sat);
        }
    }
}
