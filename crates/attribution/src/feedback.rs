//! Smoothed per-campaign rates for the decide path.

use crate::config::{BetaPrior, Model};
use crate::report::Counts;
use adloop_core::{CampaignId, Cpm, Money};
use ahash::RandomState;
use std::collections::HashMap;

/// Smoothed rates of one campaign.
///
/// - `ctr` = P(click | impression) = `(clicks + α) / (impressions + α + β)` under the CTR
///   prior (default Beta(1, 99): mean 1%, worth 100 impressions).
/// - `cvr` = P(conversion | impression) = `(attributed + α) / (impressions + α + β)` under
///   the CVR prior (default Beta(1, 999): mean 0.1%, worth 1,000 impressions), where
///   `attributed` is the campaign's credited conversions under the configured model (view-
///   through conversions included). It is per *impression*, not per click, so a CPA bid
///   turns into an eCPM without a CTR factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// Smoothed click-through rate per impression.
    pub ctr: f64,
    /// Smoothed conversion rate per impression.
    pub cvr: f64,
    /// Impressions observed.
    pub impressions: u64,
    /// Clicks observed.
    pub clicks: u64,
    /// Attributed conversions observed (configured model).
    pub conversions: f64,
}

impl Rates {
    pub(crate) fn from_counts(
        counts: Option<&Counts>,
        model: Model,
        ctr_prior: BetaPrior,
        cvr_prior: BetaPrior,
    ) -> Rates {
        let (impressions, clicks, conversions) = counts.map_or((0, 0, 0.0), |c| {
            (c.impressions, c.clicks, c.attributed_conversions(model))
        });
        let n = impressions as f64;
        Rates {
            ctr: ctr_prior.posterior_mean(clicks as f64, n),
            cvr: cvr_prior.posterior_mean(conversions, n),
            impressions,
            clicks,
            conversions,
        }
    }

    /// The expected value per thousand impressions of a cost-per-click bid:
    /// `cpc × ctr × 1000`, rounded to the micro (the one float-to-money step here).
    pub fn ecpm_for_cpc(&self, cpc: Money) -> Cpm {
        Cpm::from_micros((cpc.micros() as f64 * self.ctr * 1000.0).round() as i64)
    }

    /// The expected value per thousand impressions of a cost-per-action bid:
    /// `cpa × cvr × 1000`, rounded to the micro.
    pub fn ecpm_for_cpa(&self, cpa: Money) -> Cpm {
        Cpm::from_micros((cpa.micros() as f64 * self.cvr * 1000.0).round() as i64)
    }
}

/// Smoothed rates of every campaign: an immutable table the service publishes whole,
/// read without locks.
#[derive(Clone, Debug)]
pub struct FeedbackTable {
    rates: HashMap<CampaignId, Rates, RandomState>,
    prior: Rates,
}

impl FeedbackTable {
    pub(crate) fn new(
        rates: HashMap<CampaignId, Rates, RandomState>,
        ctr_prior: BetaPrior,
        cvr_prior: BetaPrior,
    ) -> FeedbackTable {
        FeedbackTable {
            rates,
            prior: Rates::from_counts(None, Model::LastTouch, ctr_prior, cvr_prior),
        }
    }

    /// A table with no campaigns: every lookup gives the priors' means.
    pub fn empty(ctr_prior: BetaPrior, cvr_prior: BetaPrior) -> FeedbackTable {
        FeedbackTable::new(HashMap::default(), ctr_prior, cvr_prior)
    }

    /// The rates of `campaign`, or the priors' means if it has no data yet.
    #[inline]
    pub fn get(&self, campaign: CampaignId) -> Rates {
        self.rates.get(&campaign).copied().unwrap_or(self.prior)
    }

    /// Campaigns with data.
    pub fn len(&self) -> usize {
        self.rates.len()
    }

    /// `true` when no campaign has data.
    pub fn is_empty(&self) -> bool {
        self.rates.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_and_ecpm() {
        let prior = BetaPrior {
            alpha: 1.0,
            beta: 99.0,
        };
        let t = FeedbackTable::empty(prior, prior);
        let r = t.get(CampaignId(3));
        assert!((r.ctr - 0.01).abs() < 1e-12);
        // $2 CPC at 1% CTR = $20 CPM.
        assert_eq!(
            r.ecpm_for_cpc(Money::from_units(2).unwrap()),
            Cpm::from_micros(20_000_000)
        );
        let c = Counts {
            impressions: 900,
            clicks: 49,
            ..Counts::default()
        };
        let r = Rates::from_counts(Some(&c), Model::LastTouch, prior, prior);
        assert!((r.ctr - 50.0 / 1000.0).abs() < 1e-12);
    }
}
