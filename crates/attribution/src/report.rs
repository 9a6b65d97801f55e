//! Per-campaign and per-day reports, and their clean-room (k-anonymous, noised) form.

use crate::config::{Model, ModelSet};
use crate::error::Error;
use adloop_core::{AdvertiserId, CampaignId, Money};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// Counters of one campaign (or one campaign-day).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Impressions shown (ghosts excluded).
    pub impressions: u64,
    /// Ghost impressions (holdout control opportunities).
    pub ghost_impressions: u64,
    /// Clicks joined to one of the campaign's impressions.
    pub clicks: u64,
    /// Sum of the shown impressions' cost.
    pub spend: Money,
    /// Non-duplicate conversions with at least one eligible touch of this campaign.
    pub touched_conversions: u64,
    /// Attributed conversions per model, indexed in [`Model::ALL`] order (zero for a model
    /// not computed).
    pub attributed: [f64; 5],
    /// Attributed conversion value per model (`round(value × credit)` per conversion).
    pub attributed_value: [Money; 5],
}

impl Counts {
    /// Attributed conversions under `model`.
    pub fn attributed_conversions(&self, model: Model) -> f64 {
        self.attributed[model.index()]
    }

    /// Attributed value under `model`.
    pub fn attributed_value(&self, model: Model) -> Money {
        self.attributed_value[model.index()]
    }

    /// Cost per attributed conversion under `model` (`None` without conversions).
    pub fn cpa(&self, model: Model) -> Option<Money> {
        let n = self.attributed[model.index()];
        (n > 0.0).then(|| Money::from_micros((self.spend.micros() as f64 / n).round() as i64))
    }

    /// Return on ad spend under `model`: attributed value / spend (`None` without spend).
    pub fn roas(&self, model: Model) -> Option<f64> {
        (self.spend.micros() > 0).then(|| {
            self.attributed_value[model.index()].micros() as f64 / self.spend.micros() as f64
        })
    }
}

/// One campaign's totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its advertiser (from its impressions).
    pub advertiser: AdvertiserId,
    /// Its counters.
    pub counts: Counts,
}

/// One campaign's counters for one day (impressions and clicks by their own day,
/// conversions by the conversion's day, in the configured report time zone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DayReport {
    /// The campaign.
    pub campaign: CampaignId,
    /// Day index ([`adloop_core::Timestamp::day_index`]).
    pub day: i64,
    /// Its counters.
    pub counts: Counts,
}

/// Everything measured so far: per campaign, per campaign-day, and the stream counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// The models whose columns are filled.
    pub models: Vec<Model>,
    /// Per campaign, sorted by campaign id.
    pub campaigns: Vec<CampaignReport>,
    /// Per campaign and day, sorted by campaign then day.
    pub days: Vec<DayReport>,
    /// Stream counters (late, orphaned, duplicate, …).
    pub stats: crate::join::Stats,
}

/// Clean-room output settings: cells whose underlying count is below `min_count` are
/// suppressed; the rest get Laplace noise of scale `sensitivity / epsilon` from a generator
/// seeded with `seed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PrivacyPolicy {
    /// k: the smallest count a published cell may rest on.
    pub min_count: u64,
    /// The privacy budget ε per cell (`f64::INFINITY`: suppression only, no noise).
    pub epsilon: f64,
    /// Noise seed (the same seed and report give the same output).
    pub seed: u64,
    /// The most one conversion may add to a value cell: value noise has scale
    /// `value_sensitivity / epsilon`. Values are not clamped, so set it at least as large
    /// as the largest order value for the guarantee to hold.
    pub value_sensitivity: Money,
}

/// One published row: `None` where suppressed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrivateRow {
    /// The campaign.
    pub campaign: CampaignId,
    /// The day, for per-day rows.
    pub day: Option<i64>,
    /// Noised impressions.
    pub impressions: Option<f64>,
    /// Noised clicks.
    pub clicks: Option<f64>,
    /// Noised touched conversions.
    pub conversions: Option<f64>,
    /// Noised attributed conversions per model ([`Model::ALL`] order).
    pub attributed: [Option<f64>; 5],
    /// Noised attributed value in micros per model.
    pub attributed_value_micros: [Option<f64>; 5],
}

/// A clean-room-safe report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrivateReport {
    /// Per-campaign rows.
    pub campaigns: Vec<PrivateRow>,
    /// Per-campaign-day rows.
    pub days: Vec<PrivateRow>,
}

struct Laplace {
    rng: StdRng,
    scale: f64,
}

impl Laplace {
    fn sample(&mut self) -> f64 {
        if self.scale == 0.0 {
            return 0.0;
        }
        // Inverse CDF: u uniform in (−½, ½), x = −b·sgn(u)·ln(1 − 2|u|).
        let u: f64 = self.rng.random::<f64>() - 0.5;
        -self.scale * u.signum() * (1.0 - 2.0 * u.abs()).max(f64::MIN_POSITIVE).ln()
    }
}

impl Report {
    /// The clean-room form: each count below `policy.min_count` is suppressed (attributed
    /// columns rest on `touched_conversions`), every published count gets independent
    /// Laplace(1/ε) noise and every value Laplace(value_sensitivity/ε). Cells are noised in
    /// a fixed order, so the output depends only on the report and the seed.
    pub fn privatize(&self, policy: &PrivacyPolicy) -> Result<PrivateReport, Error> {
        if policy.epsilon.is_nan() || policy.epsilon <= 0.0 {
            return Err(Error::InvalidConfig {
                field: "epsilon",
                reason: "must be positive",
            });
        }
        if policy.value_sensitivity.is_negative() {
            return Err(Error::InvalidConfig {
                field: "value_sensitivity",
                reason: "must not be negative",
            });
        }
        let mut rng = StdRng::seed_from_u64(policy.seed);
        let scale = |s: f64| {
            if policy.epsilon.is_infinite() {
                0.0
            } else {
                s / policy.epsilon
            }
        };
        let mut count_noise = Laplace {
            rng: StdRng::seed_from_u64(rng.random()),
            scale: scale(1.0),
        };
        let mut value_noise = Laplace {
            rng: StdRng::seed_from_u64(rng.random()),
            scale: scale(policy.value_sensitivity.micros() as f64),
        };
        let k = policy.min_count;
        let models: ModelSet = self.models.iter().fold(ModelSet::none(), |s, m| s.with(*m));
        let mut row = |campaign: CampaignId, day: Option<i64>, c: &Counts| {
            let mut count = |n: u64| (n >= k).then(|| n as f64 + count_noise.sample());
            let impressions = count(c.impressions);
            let clicks = count(c.clicks);
            let conversions = count(c.touched_conversions);
            let mut attributed = [None; 5];
            let mut attributed_value_micros = [None; 5];
            if c.touched_conversions >= k {
                for m in models.iter() {
                    attributed[m.index()] = Some(c.attributed[m.index()] + count_noise.sample());
                    attributed_value_micros[m.index()] =
                        Some(c.attributed_value[m.index()].micros() as f64 + value_noise.sample());
                }
            }
            PrivateRow {
                campaign,
                day,
                impressions,
                clicks,
                conversions,
                attributed,
                attributed_value_micros,
            }
        };
        let campaigns = self
            .campaigns
            .iter()
            .map(|r| row(r.campaign, None, &r.counts))
            .collect();
        let days = self
            .days
            .iter()
            .map(|r| row(r.campaign, Some(r.day), &r.counts))
            .collect();
        Ok(PrivateReport { campaigns, days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(impressions: u64, conversions: u64) -> Report {
        let counts = Counts {
            impressions,
            touched_conversions: conversions,
            attributed: [conversions as f64; 5],
            ..Counts::default()
        };
        Report {
            models: Model::ALL.to_vec(),
            campaigns: vec![CampaignReport {
                campaign: CampaignId(1),
                advertiser: AdvertiserId(1),
                counts,
            }],
            days: vec![],
            stats: Default::default(),
        }
    }

    #[test]
    fn small_cells_are_suppressed_and_noise_is_seeded() {
        let policy = PrivacyPolicy {
            min_count: 50,
            epsilon: 1.0,
            seed: 9,
            value_sensitivity: Money::from_micros(1_000_000),
        };
        let p = report(1_000, 10).privatize(&policy).unwrap();
        let row = &p.campaigns[0];
        assert!(row.impressions.is_some());
        assert_eq!(row.conversions, None);
        assert_eq!(row.attributed, [None; 5]);
        assert_eq!(p, report(1_000, 10).privatize(&policy).unwrap());
        let other = report(1_000, 10)
            .privatize(&PrivacyPolicy { seed: 10, ..policy })
            .unwrap();
        assert_ne!(p, other);
        let exact = report(1_000, 10)
            .privatize(&PrivacyPolicy {
                epsilon: f64::INFINITY,
                ..policy
            })
            .unwrap();
        assert_eq!(exact.campaigns[0].impressions, Some(1_000.0));
        assert!(
            report(1, 1)
                .privatize(&PrivacyPolicy {
                    epsilon: 0.0,
                    ..policy
                })
                .is_err()
        );
    }

    #[test]
    fn laplace_noise_has_the_right_scale() {
        let mut l = Laplace {
            rng: StdRng::seed_from_u64(1),
            scale: 2.0,
        };
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| l.sample()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let mean_abs = xs.iter().map(|x| x.abs()).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.1, "{mean}");
        // E|X| = b for Laplace(0, b).
        assert!((mean_abs - 2.0).abs() < 0.1, "{mean_abs}");
    }
}
