//! Lognormal prices and open-auction competition.

use adloop_core::{Cpm, Money};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal};

use crate::error::{SimError, check_range};
use crate::money::money_from_micros_f64;

/// A lognormal distribution of [`Money`], parameterised the way ad-ops people talk about
/// prices: by its **median** and the σ of its logarithm.
///
/// `ln(X) ~ N(ln(median), σ²)`; mean = `median · exp(σ²/2)`. σ = 0 is a point mass at
/// the median. Samples are rounded to the nearest micro-unit (the crate's single
/// float→money conversion) and are never negative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogNormalMoney {
    median: Money,
    sigma: f64,
    dist: LogNormal<f64>,
}

impl LogNormalMoney {
    /// A lognormal with the given median (> 0) and log-σ in `[0, 5]`.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when the median is not positive or σ is out of range.
    pub fn new(median: Money, sigma: f64) -> Result<Self, SimError> {
        if !median.is_positive() {
            return Err(SimError::invalid(
                "median",
                format!("{median} is not positive"),
            ));
        }
        check_range("sigma", sigma, 0.0, 5.0)?;
        let dist = LogNormal::new((median.micros() as f64).ln(), sigma)
            .map_err(|e| SimError::invalid("sigma", e.to_string()))?;
        Ok(LogNormalMoney {
            median,
            sigma,
            dist,
        })
    }

    /// The median.
    pub fn median(&self) -> Money {
        self.median
    }

    /// σ of the logarithm.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The mean, `median · exp(σ²/2)`, rounded to the micro-unit.
    pub fn mean(&self) -> Money {
        money_from_micros_f64(self.median.micros() as f64 * (self.sigma * self.sigma / 2.0).exp())
    }

    /// One draw.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Money {
        money_from_micros_f64(self.dist.sample(rng))
    }
}

/// The open-auction competition a seller's own campaigns face: with probability
/// `participation` at least one outside bidder shows up, and the highest outside bid (a
/// CPM) is lognormal with the given median and σ.
///
/// Use it as the price to beat: a campaign wins an opportunity when its bid exceeds the
/// highest competing bid, and in a second-price auction pays that bid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenAuction {
    highest_bid: LogNormalMoney,
    participation: f64,
}

impl OpenAuction {
    /// Competition whose highest bid is lognormal with median `median_cpm` and log-σ
    /// `sigma`, present on every opportunity (participation 1).
    ///
    /// # Errors
    /// See [`LogNormalMoney::new`].
    pub fn new(median_cpm: Cpm, sigma: f64) -> Result<Self, SimError> {
        Ok(OpenAuction {
            highest_bid: LogNormalMoney::new(median_cpm.amount(), sigma)?,
            participation: 1.0,
        })
    }

    /// A typical streaming CTV open market: median highest bid 18.00 CPM, σ = 0.6,
    /// someone bids on 85 % of opportunities.
    pub fn ctv_default() -> Self {
        OpenAuction {
            // Constant, valid parameters.
            highest_bid: LogNormalMoney::new(Money::from_micros(18_000_000), 0.6)
                .unwrap_or_else(|_| unreachable!("constant parameters are valid")),
            participation: 0.85,
        }
    }

    /// The same competition, present on a fraction `participation ∈ [0, 1]` of
    /// opportunities.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when `participation` is outside `[0, 1]`.
    pub fn with_participation(mut self, participation: f64) -> Result<Self, SimError> {
        self.participation = check_range("participation", participation, 0.0, 1.0)?;
        Ok(self)
    }

    /// Probability that an opportunity has any outside bid.
    pub fn participation(&self) -> f64 {
        self.participation
    }

    /// The distribution of the highest outside bid (CPM amount), when there is one.
    pub fn highest_bid_distribution(&self) -> &LogNormalMoney {
        &self.highest_bid
    }

    /// The highest competing CPM for one opportunity, or `None` when no outside bidder
    /// showed up.
    pub fn highest_competing_cpm<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Cpm> {
        if self.participation < 1.0 && !rng.random_bool(self.participation) {
            return None;
        }
        Some(Cpm::new(self.highest_bid.sample(rng)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn lognormal_median_and_mean_match() {
        let dist = LogNormalMoney::new(Money::from_micros(2_000_000), 0.5).unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        let mut draws: Vec<i64> = (0..20_001)
            .map(|_| dist.sample(&mut rng).micros())
            .collect();
        draws.sort_unstable();
        let median = draws[10_000] as f64;
        assert!((median / 2e6 - 1.0).abs() < 0.03, "median {median}");
        let mean = draws.iter().sum::<i64>() as f64 / draws.len() as f64;
        let expected = dist.mean().micros() as f64;
        assert!(
            (mean / expected - 1.0).abs() < 0.03,
            "mean {mean} vs {expected}"
        );
        // ln X has the requested sigma.
        let logs: Vec<f64> = draws.iter().map(|&m| (m as f64).ln()).collect();
        let lm = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = (logs.iter().map(|l| (l - lm).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
        assert!((sd - 0.5).abs() < 0.02, "sd {sd}");
    }

    #[test]
    fn sigma_zero_is_a_point_mass() {
        let dist = LogNormalMoney::new(Money::from_micros(1_234_567), 0.0).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| dist.sample(&mut rng) == Money::from_micros(1_234_567)));
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(LogNormalMoney::new(Money::ZERO, 0.5).is_err());
        assert!(LogNormalMoney::new(Money::from_micros(-5), 0.5).is_err());
        assert!(LogNormalMoney::new(Money::from_micros(5), -0.1).is_err());
        assert!(LogNormalMoney::new(Money::from_micros(5), f64::NAN).is_err());
        let open = OpenAuction::new(Cpm::from_micros(5_000_000), 0.4).unwrap();
        assert!(open.with_participation(1.5).is_err());
    }

    #[test]
    fn participation_controls_presence() {
        let open = OpenAuction::ctv_default();
        let mut rng = StdRng::seed_from_u64(5);
        let present = (0..20_000)
            .filter(|_| open.highest_competing_cpm(&mut rng).is_some())
            .count();
        let rate = present as f64 / 20_000.0;
        assert!((rate - 0.85).abs() < 0.015, "rate {rate}");
        let nobody = open.with_participation(0.0).unwrap();
        assert!(nobody.highest_competing_cpm(&mut rng).is_none());
    }

    #[test]
    fn same_seed_same_bids() {
        let open = OpenAuction::ctv_default();
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(9);
            (0..100)
                .map(|_| open.highest_competing_cpm(&mut rng))
                .collect()
        };
        let b: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(9);
            (0..100)
                .map(|_| open.highest_competing_cpm(&mut rng))
                .collect()
        };
        assert_eq!(a, b);
    }
}
