//! The one place where simulated floating-point amounts become [`Money`].

use adloop_core::Money;

/// Converts a floating-point amount in **micro-units** to [`Money`], rounding to the
/// nearest micro-unit. Negative and NaN inputs become zero; values beyond `i64` saturate
/// at [`Money::MAX`]. Every sampled price and budget in this crate goes through here.
pub(crate) fn money_from_micros_f64(micros: f64) -> Money {
    if micros.is_nan() || micros <= 0.0 {
        return Money::ZERO;
    }
    let rounded = micros.round();
    if rounded >= i64::MAX as f64 {
        Money::MAX
    } else {
        // In range and non-negative after the checks above, so the cast is exact to the
        // micro-unit (f64 holds integers exactly up to 2^53 micros ≈ 9 billion units).
        Money::from_micros(rounded as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_rounds_and_clamps() {
        assert_eq!(money_from_micros_f64(1.4), Money::from_micros(1));
        assert_eq!(money_from_micros_f64(1.6), Money::from_micros(2));
        assert_eq!(money_from_micros_f64(-5.0), Money::ZERO);
        assert_eq!(money_from_micros_f64(f64::NAN), Money::ZERO);
        assert_eq!(money_from_micros_f64(f64::INFINITY), Money::MAX);
        assert_eq!(money_from_micros_f64(1e30), Money::MAX);
    }
}
