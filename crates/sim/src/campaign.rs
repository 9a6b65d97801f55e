//! Seeded advertiser campaigns as plain data (no engine types).

use adloop_core::{AdvertiserId, CampaignId, Cpm, DurationMs, Money, SegmentId, Timestamp};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal};

use crate::competition::LogNormalMoney;
use crate::error::{SimError, check_range};
use crate::money::money_from_micros_f64;
use crate::population::Population;
use crate::targeting::targeting_expression;
use crate::vocab;

/// Most campaigns one call generates.
pub const MAX_CAMPAIGNS: usize = 1_000_000;

/// How a campaign pays. Mirrors the engine's bid kinds without depending on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimBid {
    /// A fixed price per thousand impressions.
    Cpm(Cpm),
    /// A price per click.
    Cpc(Money),
    /// A target cost per conversion (action).
    Cpa(Money),
}

/// Priority tier, lowest to highest (higher tiers win a slot before lower ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimTier {
    /// Filler, shown only when nothing else fills.
    House,
    /// Open auction.
    Open,
    /// Private-marketplace deal.
    Deal,
    /// Guaranteed (contracted) delivery.
    Guaranteed,
    /// Sponsorship: owns the inventory it targets.
    Sponsorship,
}

/// Who a frequency cap counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimCapScope {
    /// One viewer.
    User,
    /// A whole household.
    Household,
}

/// At most `max` impressions per identity within `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimFrequencyCap {
    /// Most impressions in the window (≥ 1).
    pub max: u32,
    /// Window length (positive).
    pub window: DurationMs,
    /// Who is counted.
    pub scope: SimCapScope,
}

/// One generated campaign. Plain data: the marketplace example maps it onto engine
/// campaigns.
#[derive(Clone, Debug, PartialEq)]
pub struct SimCampaign {
    /// Id (`index + 1`).
    pub id: CampaignId,
    /// Owner.
    pub advertiser: AdvertiserId,
    /// The advertiser's domain (`adv<N>.example`), for pod separation.
    pub advertiser_domain: String,
    /// Spend limit per day.
    pub daily_budget: Money,
    /// Spend limit over the flight (`daily_budget` × flight days, rounded up to whole days).
    pub lifetime_budget: Money,
    /// First instant of the flight.
    pub flight_start: Timestamp,
    /// First instant after the flight.
    pub flight_end: Timestamp,
    /// What the campaign pays.
    pub bid: SimBid,
    /// The most the campaign will pay per thousand impressions (its valuation): equal to
    /// the CPM bid for CPM campaigns, the eCPM the goal implies at typical rates for CPC
    /// and CPA campaigns.
    pub max_cpm: Cpm,
    /// Priority tier.
    pub tier: SimTier,
    /// Spread spend evenly over the flight (`true`) or as fast as possible.
    pub even_pacing: bool,
    /// Competitive categories (IAB codes, see [`vocab::CATEGORIES`]); one per advertiser.
    pub categories: Vec<&'static str>,
    /// Audience in the targeting language.
    pub targeting: String,
    /// Segments the targeting selects for (the advertiser's in-market audience).
    pub audience_segments: Vec<SegmentId>,
    /// Frequency caps (all must allow an impression).
    pub frequency_caps: Vec<SimFrequencyCap>,
    /// Length of the creative, seconds (15, 30 or 60).
    pub creative_seconds: u32,
    /// Fraction of identities held out as a lift control group (0 = none).
    pub holdout: f64,
}

/// How to generate campaigns.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignConfig {
    /// Number of campaigns (`1..=1,000,000`).
    pub campaigns: usize,
    /// Advertisers sharing the non-holdout campaigns (≥ 1). Each holdout campaign gets an
    /// advertiser of its own (ids after these), so its measured lift is not mixed with
    /// another campaign's effect.
    pub advertisers: usize,
    /// Start of the simulated period (flights start here or later).
    pub period_start: Timestamp,
    /// Length of the simulated period in days (`1..=366`).
    pub period_days: u32,
    /// Median daily budget.
    pub daily_budget_median: Money,
    /// Log-σ of daily budgets (`[0, 5]`).
    pub daily_budget_sigma: f64,
    /// Median CPM bid (valuation).
    pub bid_median: Cpm,
    /// Log-σ of CPM bids (`[0, 5]`).
    pub bid_sigma: f64,
    /// Share of campaigns paying per click.
    pub cpc_share: f64,
    /// Share of campaigns paying per conversion.
    pub cpa_share: f64,
    /// Share of campaigns with a holdout group.
    pub holdout_share: f64,
    /// Holdout fraction range for those campaigns (`0 < low <= high < 1`).
    pub holdout_range: (f64, f64),
    /// Share of campaigns with frequency caps.
    pub frequency_cap_share: f64,
    /// Share of campaigns whose flight covers only part of the period.
    pub partial_flight_share: f64,
}

impl Default for CampaignConfig {
    /// 500 campaigns of 120 advertisers over one day from the epoch; daily budgets
    /// median 150.00 (σ 0.9), bids median 20.00 CPM (σ 0.45); 10 % CPC, 8 % CPA; 10 %
    /// with 10–20 % holdouts; 60 % frequency-capped; 15 % partial flights.
    fn default() -> Self {
        CampaignConfig {
            campaigns: 500,
            advertisers: 120,
            period_start: Timestamp::EPOCH,
            period_days: 1,
            daily_budget_median: Money::from_micros(150_000_000),
            daily_budget_sigma: 0.9,
            bid_median: Cpm::from_micros(20_000_000),
            bid_sigma: 0.45,
            cpc_share: 0.10,
            cpa_share: 0.08,
            holdout_share: 0.10,
            holdout_range: (0.10, 0.20),
            frequency_cap_share: 0.60,
            partial_flight_share: 0.15,
        }
    }
}

impl CampaignConfig {
    /// Sets `daily_budget_median` so that the campaigns' expected total daily budget is
    /// `demand_ratio` × the value of `daily_opportunities` impressions at the median bid
    /// (1.0: budgets could buy every opportunity at the median bid; targeting, caps and
    /// competition make most campaigns under-deliver well below that).
    pub fn sized_for(mut self, daily_opportunities: u64, demand_ratio: f64) -> Self {
        let supply_micros = daily_opportunities as f64 * self.bid_median.micros() as f64 / 1_000.0;
        let mean_factor = (self.daily_budget_sigma.powi(2) / 2.0).exp();
        let median =
            supply_micros * demand_ratio.max(0.0) / (self.campaigns.max(1) as f64 * mean_factor);
        self.daily_budget_median = money_from_micros_f64(median).max(Money::from_micros(1_000));
        self
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.campaigns == 0 || self.campaigns > MAX_CAMPAIGNS {
            return Err(SimError::invalid(
                "campaigns.campaigns",
                format!("{} is not in 1..={MAX_CAMPAIGNS}", self.campaigns),
            ));
        }
        if self.advertisers == 0 {
            return Err(SimError::invalid(
                "campaigns.advertisers",
                "must be at least 1",
            ));
        }
        if !(1..=366).contains(&self.period_days) {
            return Err(SimError::invalid(
                "campaigns.period_days",
                format!("{} is not in 1..=366", self.period_days),
            ));
        }
        for (name, v) in [
            ("campaigns.cpc_share", self.cpc_share),
            ("campaigns.cpa_share", self.cpa_share),
            ("campaigns.holdout_share", self.holdout_share),
            ("campaigns.frequency_cap_share", self.frequency_cap_share),
            ("campaigns.partial_flight_share", self.partial_flight_share),
        ] {
            check_range(name, v, 0.0, 1.0)?;
        }
        if self.cpc_share + self.cpa_share > 1.0 {
            return Err(SimError::invalid(
                "campaigns.cpa_share",
                "cpc_share + cpa_share must not exceed 1",
            ));
        }
        let (lo, hi) = self.holdout_range;
        check_range("campaigns.holdout_range", lo, 1e-6, 0.99)?;
        check_range("campaigns.holdout_range", hi, lo, 0.99)?;
        Ok(())
    }
}

/// Generates `config.campaigns` campaigns whose targeting ranges over `population`'s
/// segments and attributes.
///
/// Budgets and bids are lognormal; CPC goals are priced at the CPM bid over a lognormal
/// click-through rate (median 0.4 %), CPA goals over a conversion rate per impression
/// (median 0.05 %). Tiers: 1 % sponsorship, 6 % guaranteed, 8 % deal, 5 % house (bids
/// at a fifth), the rest open. Advertisers own campaigns with Zipf-like skew (a few big
/// spenders).
///
/// # Errors
/// [`SimError::InvalidParameter`] when a config field is out of range.
pub fn generate_campaigns<R: Rng + ?Sized>(
    config: &CampaignConfig,
    population: &Population,
    rng: &mut R,
) -> Result<Vec<SimCampaign>, SimError> {
    config.validate()?;
    let budgets = LogNormalMoney::new(config.daily_budget_median, config.daily_budget_sigma)?;
    let bids = LogNormalMoney::new(config.bid_median.amount(), config.bid_sigma)?;
    let rate = |median: f64| {
        LogNormal::new(median.ln(), 0.5).map_err(|e| SimError::invalid("rate", e.to_string()))
    };
    let ctr = rate(0.004)?;
    let cvr = rate(0.0005)?;
    // Advertiser sizes: weight 1/rank.
    let advertiser_weights: Vec<(&str, f64)> = (0..config.advertisers)
        .map(|i| ("", 1.0 / (i as f64 + 1.0)))
        .collect();
    let categories: Vec<&'static str> = (0..config.advertisers)
        .map(|_| vocab::CATEGORIES[rng.random_range(0..vocab::CATEGORIES.len())].0)
        .collect();
    let period = DurationMs::from_days(i64::from(config.period_days));
    let period_end = config.period_start.saturating_add(period);
    let mut next_dedicated = config.advertisers as u64;
    let mut out = Vec::with_capacity(config.campaigns);
    for index in 0..config.campaigns {
        let holdout = if rng.random_bool(config.holdout_share) {
            let (lo, hi) = config.holdout_range;
            if hi > lo {
                rng.random_range(lo..=hi)
            } else {
                lo
            }
        } else {
            0.0
        };
        let (advertiser, category) = if holdout > 0.0 {
            next_dedicated += 1;
            let category = vocab::CATEGORIES[rng.random_range(0..vocab::CATEGORIES.len())].0;
            (AdvertiserId::new(next_dedicated), category)
        } else {
            let (i, _) = crate::sampling::pick_weighted(&advertiser_weights, rng);
            (AdvertiserId::new(i as u64 + 1), categories[i])
        };

        let roll = rng.random::<f64>();
        let tier = if roll < 0.01 {
            SimTier::Sponsorship
        } else if roll < 0.07 {
            SimTier::Guaranteed
        } else if roll < 0.15 {
            SimTier::Deal
        } else if roll < 0.20 {
            SimTier::House
        } else {
            SimTier::Open
        };
        let mut max_cpm = Cpm::new(bids.sample(rng));
        if tier == SimTier::House {
            max_cpm = Cpm::new(max_cpm.amount().checked_div(5).unwrap_or(Money::ZERO));
        }
        let max_cpm = Cpm::new(max_cpm.amount().max(Money::from_micros(10_000)));
        let per_impression = max_cpm.micros() as f64 / 1_000.0;
        let goal = rng.random::<f64>();
        let bid = if goal < config.cpc_share {
            SimBid::Cpc(money_from_micros_f64(per_impression / ctr.sample(rng)))
        } else if goal < config.cpc_share + config.cpa_share {
            SimBid::Cpa(money_from_micros_f64(per_impression / cvr.sample(rng)))
        } else {
            SimBid::Cpm(max_cpm)
        };

        let (flight_start, flight_end) = if rng.random_bool(config.partial_flight_share) {
            // Starts somewhere in the period, runs at least an hour, ends by its end.
            let span = period.as_millis();
            let hour = DurationMs::HOUR.as_millis();
            let start = rng.random_range(0..=span - hour);
            let end = rng.random_range(start + hour..=span);
            (
                config
                    .period_start
                    .saturating_add(DurationMs::from_millis(start)),
                config
                    .period_start
                    .saturating_add(DurationMs::from_millis(end)),
            )
        } else {
            (config.period_start, period_end)
        };
        let flight_ms = flight_end.duration_since(flight_start).as_millis();
        let day_ms = DurationMs::DAY.as_millis();
        let flight_days = ((flight_ms + day_ms - 1) / day_ms).max(1);
        let daily_budget = budgets.sample(rng).max(Money::from_micros(1_000));
        let lifetime_budget = daily_budget.saturating_mul(flight_days);

        let targeting = targeting_expression(population, rng);
        let frequency_caps = if rng.random_bool(config.frequency_cap_share) {
            let mut caps = vec![SimFrequencyCap {
                max: rng.random_range(2..=6),
                window: DurationMs::DAY,
                scope: SimCapScope::Household,
            }];
            if rng.random_bool(0.4) {
                caps.push(SimFrequencyCap {
                    max: 1,
                    window: DurationMs::from_mins(30),
                    scope: SimCapScope::User,
                });
            }
            caps
        } else {
            Vec::new()
        };
        let creative_seconds = match rng.random_range(0..10) {
            0..=3 => 15,
            4..=8 => 30,
            _ => 60,
        };
        out.push(SimCampaign {
            id: CampaignId::new(index as u64 + 1),
            advertiser,
            advertiser_domain: format!("adv{}.example", advertiser.get()),
            daily_budget,
            lifetime_budget,
            flight_start,
            flight_end,
            bid,
            max_cpm,
            tier,
            even_pacing: rng.random_bool(0.85),
            categories: vec![category],
            targeting: targeting.text,
            audience_segments: targeting.segments,
            frequency_caps,
            creative_seconds,
            holdout,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::population::PopulationConfig;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::collections::HashMap;

    fn setup(seed: u64, config: &CampaignConfig) -> Vec<SimCampaign> {
        let mut rng = StdRng::seed_from_u64(seed);
        let pop = Population::generate(
            &PopulationConfig {
                users: 2_000,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        generate_campaigns(config, &pop, &mut rng).unwrap()
    }

    #[test]
    fn same_seed_same_campaigns() {
        let config = CampaignConfig {
            campaigns: 100,
            ..Default::default()
        };
        assert_eq!(setup(1, &config), setup(1, &config));
        assert_ne!(setup(1, &config), setup(2, &config));
    }

    #[test]
    fn distributions_have_the_configured_shape() {
        let config = CampaignConfig {
            campaigns: 2_000,
            period_days: 3,
            period_start: Timestamp::from_millis(1_700_000_000_000),
            ..Default::default()
        };
        let campaigns = setup(3, &config);
        let n = campaigns.len() as f64;
        let share =
            |f: &dyn Fn(&SimCampaign) -> bool| campaigns.iter().filter(|c| f(c)).count() as f64 / n;
        assert!((share(&|c| matches!(c.bid, SimBid::Cpc(_))) - 0.10).abs() < 0.03);
        assert!((share(&|c| matches!(c.bid, SimBid::Cpa(_))) - 0.08).abs() < 0.03);
        assert!((share(&|c| c.holdout > 0.0) - 0.10).abs() < 0.03);
        assert!((share(&|c| !c.frequency_caps.is_empty()) - 0.60).abs() < 0.05);
        assert!((share(&|c| c.tier == SimTier::Open) - 0.80).abs() < 0.04);
        // Lognormal medians: open-tier CPM bids around 20.00, budgets around 150.00.
        let mut bids: Vec<i64> = campaigns
            .iter()
            .filter(|c| c.tier != SimTier::House)
            .map(|c| c.max_cpm.micros())
            .collect();
        bids.sort_unstable();
        let median_bid = bids[bids.len() / 2] as f64 / 1e6;
        assert!(
            (median_bid / 20.0 - 1.0).abs() < 0.08,
            "median bid {median_bid}"
        );
        let mut budgets: Vec<i64> = campaigns.iter().map(|c| c.daily_budget.micros()).collect();
        budgets.sort_unstable();
        let median_budget = budgets[budgets.len() / 2] as f64 / 1e6;
        assert!(
            (median_budget / 150.0 - 1.0).abs() < 0.12,
            "median budget {median_budget}"
        );
        let end = config.period_start + DurationMs::from_days(3);
        for c in &campaigns {
            assert!(c.flight_start >= config.period_start && c.flight_end <= end);
            assert!(c.flight_end.duration_since(c.flight_start) >= DurationMs::HOUR);
            assert!(c.lifetime_budget >= c.daily_budget);
            assert!(c.max_cpm.micros() > 0 && c.daily_budget.is_positive());
            assert!(c.holdout == 0.0 || (0.10..=0.20).contains(&c.holdout));
            assert_eq!(c.categories.len(), 1);
            assert!(!c.targeting.is_empty());
            match c.bid {
                SimBid::Cpm(cpm) => assert_eq!(cpm, c.max_cpm),
                SimBid::Cpc(m) | SimBid::Cpa(m) => assert!(m.is_positive()),
            }
        }
        // Full-period flights buy three days of budget.
        let full = campaigns
            .iter()
            .find(|c| c.flight_start == config.period_start && c.flight_end == end)
            .unwrap();
        assert_eq!(full.lifetime_budget, full.daily_budget.saturating_mul(3));
    }

    #[test]
    fn holdout_campaigns_have_their_own_advertiser() {
        let campaigns = setup(
            4,
            &CampaignConfig {
                campaigns: 400,
                holdout_share: 0.3,
                ..Default::default()
            },
        );
        let mut owners: HashMap<AdvertiserId, Vec<&SimCampaign>> = HashMap::new();
        for c in &campaigns {
            owners.entry(c.advertiser).or_default().push(c);
        }
        for c in campaigns.iter().filter(|c| c.holdout > 0.0) {
            assert_eq!(owners[&c.advertiser].len(), 1);
            assert!(c.advertiser.get() > 120);
        }
        // Shared advertisers keep one category across their campaigns.
        for list in owners.values() {
            assert!(list.iter().all(|c| c.categories == list[0].categories));
        }
    }

    #[test]
    fn sized_for_scales_budgets_to_supply() {
        let config = CampaignConfig::default().sized_for(2_000_000, 1.0);
        // 2M impressions at 20.00 CPM = 40,000 over 500 campaigns, mean factor e^(0.405).
        let expected = 40_000.0 / 500.0 / (0.9f64 * 0.9 / 2.0).exp();
        let got = config.daily_budget_median.micros() as f64 / 1e6;
        assert!((got - expected).abs() < 0.01, "{got} vs {expected}");
    }

    #[test]
    fn rejects_bad_configs() {
        let mut rng = StdRng::seed_from_u64(1);
        let pop = Population::generate(
            &PopulationConfig {
                users: 100,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        for config in [
            CampaignConfig {
                campaigns: 0,
                ..Default::default()
            },
            CampaignConfig {
                advertisers: 0,
                ..Default::default()
            },
            CampaignConfig {
                period_days: 0,
                ..Default::default()
            },
            CampaignConfig {
                cpc_share: 0.7,
                cpa_share: 0.7,
                ..Default::default()
            },
            CampaignConfig {
                holdout_range: (0.3, 0.2),
                ..Default::default()
            },
            CampaignConfig {
                bid_sigma: -1.0,
                ..Default::default()
            },
            CampaignConfig {
                daily_budget_median: Money::ZERO,
                ..Default::default()
            },
        ] {
            assert!(generate_campaigns(&config, &pop, &mut rng).is_err());
        }
    }
}
