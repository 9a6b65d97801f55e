//! Ground-truth conversion behaviour: what would happen without ads, and what each
//! exposure adds.
//!
//! # Model
//! Conversions of household `h` for advertiser `a` form a Poisson process. Without ads
//! its rate is `λ(h, a) = base(a) · propensity(h) · m(h, a)` per day, where `base(a)` is
//! lognormal across advertisers, `propensity(h)` lognormal across households (mean 1),
//! and `m(h, a)` is the in-market multiplier when a household member carries one of the
//! segments the advertiser's campaigns target (1 otherwise) — targeted households
//! convert more anyway, which is exactly why naive attribution overstates incrementality.
//!
//! Each exposure to campaign `c` adds an independent Poisson(`δ(c)`) number of
//! **incremental** conversions for `c`'s advertiser, each after an exponential delay
//! (mean `delay_mean`). By Poisson superposition the two streams can be drawn
//! separately and every conversion carries its true cause, so the truth is exact:
//! realized incremental conversions per campaign are counted, expected ones are
//! `Σ δ(c) · P(delay < period end − exposure time)`, and the true lift is incremental
//! over baseline for the same exposed households (see [`CampaignTruth`]).
//!
//! Rates are expected conversions per day; at the small rates used (≈ 10⁻³) they are
//! also the daily conversion probabilities to three significant digits.

use std::collections::{BTreeMap, HashMap};

use adloop_core::{AdvertiserId, CampaignId, DurationMs, HouseholdId, Money, Timestamp, UserId};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, LogNormal, Poisson};

use crate::campaign::SimCampaign;
use crate::competition::LogNormalMoney;
use crate::error::{SimError, check_range};
use crate::population::Population;
use crate::sampling::AliasTable;

/// Parameters of the conversion model.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversionConfig {
    /// Median over advertisers of the base daily conversion rate per household
    /// (`(0, 1]`).
    pub base_rate_median: f64,
    /// Log-σ of base rates across advertisers (`[0, 3]`).
    pub base_rate_sigma: f64,
    /// Log-σ of household propensity (mean 1) (`[0, 3]`).
    pub household_sigma: f64,
    /// Rate multiplier for households in an advertiser's targeted segments (`[1, 100]`).
    pub in_market_multiplier: f64,
    /// Median over campaigns of the expected incremental conversions per exposure
    /// (`[0, 1]`).
    pub effect_median: f64,
    /// Log-σ of per-campaign effects (`[0, 3]`).
    pub effect_sigma: f64,
    /// Mean delay from an exposure to the conversion it causes (positive).
    pub delay_mean: DurationMs,
    /// Median conversion value.
    pub value_median: Money,
    /// Log-σ of conversion values (`[0, 5]`).
    pub value_sigma: f64,
}

impl Default for ConversionConfig {
    /// Base rate median 0.004/day (σ 0.6), household σ 0.5, in-market × 2.0, effect
    /// median 0.002 conversions per exposure (σ 0.5), mean delay 2 h, value median
    /// 40.00 (σ 0.7).
    fn default() -> Self {
        ConversionConfig {
            base_rate_median: 0.004,
            base_rate_sigma: 0.6,
            household_sigma: 0.5,
            in_market_multiplier: 2.0,
            effect_median: 0.002,
            effect_sigma: 0.5,
            delay_mean: DurationMs::from_hours(2),
            value_median: Money::from_micros(40_000_000),
            value_sigma: 0.7,
        }
    }
}

impl ConversionConfig {
    fn validate(&self) -> Result<(), SimError> {
        check_range(
            "conversions.base_rate_median",
            self.base_rate_median,
            1e-12,
            1.0,
        )?;
        check_range(
            "conversions.base_rate_sigma",
            self.base_rate_sigma,
            0.0,
            3.0,
        )?;
        check_range(
            "conversions.household_sigma",
            self.household_sigma,
            0.0,
            3.0,
        )?;
        check_range(
            "conversions.in_market_multiplier",
            self.in_market_multiplier,
            1.0,
            100.0,
        )?;
        check_range("conversions.effect_median", self.effect_median, 0.0, 1.0)?;
        check_range("conversions.effect_sigma", self.effect_sigma, 0.0, 3.0)?;
        if self.delay_mean.as_millis() <= 0 {
            return Err(SimError::invalid(
                "conversions.delay_mean",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// Why a simulated conversion happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConversionCause {
    /// It would have happened without any ad.
    Baseline,
    /// An exposure to this campaign caused it.
    Incremental(CampaignId),
}

/// One simulated conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConversion {
    /// When it happened.
    pub at: Timestamp,
    /// The converting household.
    pub household: HouseholdId,
    /// The member who converted (uniform within the household, or the exposed viewer
    /// for incremental conversions).
    pub user: UserId,
    /// The advertiser credited with the sale.
    pub advertiser: AdvertiserId,
    /// Order value.
    pub value: Money,
    /// The ground truth (never shown to the engine).
    pub cause: ConversionCause,
}

/// The ground-truth conversion model of a population and a set of campaigns.
#[derive(Clone, Debug)]
pub struct ConversionModel {
    config: ConversionConfig,
    /// Household propensities, index = household index.
    propensity: Vec<f64>,
    propensity_sum: f64,
    households: AliasTable,
    /// Advertisers in first-seen order with their base rate.
    advertisers: Vec<(AdvertiserId, f64)>,
    advertiser_index: HashMap<AdvertiserId, usize>,
    /// Per advertiser: bitset over households that are in-market, and Σ propensity there.
    in_market: Vec<(Vec<u64>, f64)>,
    /// Per campaign: (advertiser index, δ).
    effects: HashMap<CampaignId, (usize, f64)>,
    values: LogNormalMoney,
    delay: Exp<f64>,
    /// Per household: (first member index, member count).
    members: Vec<(usize, usize)>,
}

impl ConversionModel {
    /// Draws per-household propensities, per-advertiser base rates and per-campaign
    /// effects for `campaigns` over `population`.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when a config field is out of range or the
    /// population is empty.
    pub fn new<R: Rng + ?Sized>(
        config: &ConversionConfig,
        population: &Population,
        campaigns: &[SimCampaign],
        rng: &mut R,
    ) -> Result<Self, SimError> {
        config.validate()?;
        let lognormal = |median: f64, sigma: f64, name: &'static str| {
            LogNormal::new(median.ln(), sigma).map_err(|e| SimError::invalid(name, e.to_string()))
        };
        let hh_sigma = config.household_sigma;
        let propensity_dist = lognormal(
            (-hh_sigma * hh_sigma / 2.0).exp(),
            hh_sigma,
            "conversions.household_sigma",
        )?;
        let propensity: Vec<f64> = population
            .households()
            .iter()
            .map(|_| propensity_dist.sample(rng))
            .collect();
        let households = AliasTable::new(&propensity)
            .ok_or_else(|| SimError::invalid("population", "no households"))?;
        let propensity_sum = propensity.iter().sum();

        let base_dist = lognormal(
            config.base_rate_median,
            config.base_rate_sigma,
            "conversions.base_rate_sigma",
        )?;
        let effect_dist = if config.effect_median > 0.0 {
            Some(lognormal(
                config.effect_median,
                config.effect_sigma,
                "conversions.effect_sigma",
            )?)
        } else {
            None
        };
        let mut advertisers: Vec<(AdvertiserId, f64)> = Vec::new();
        let mut advertiser_index: HashMap<AdvertiserId, usize> = HashMap::new();
        let mut audience: Vec<Vec<adloop_core::SegmentId>> = Vec::new();
        let mut effects = HashMap::with_capacity(campaigns.len());
        for c in campaigns {
            let index = *advertiser_index.entry(c.advertiser).or_insert_with(|| {
                advertisers.push((c.advertiser, base_dist.sample(rng).min(1.0)));
                audience.push(Vec::new());
                advertisers.len() - 1
            });
            audience[index].extend_from_slice(&c.audience_segments);
            let delta = effect_dist.as_ref().map_or(0.0, |d| d.sample(rng).min(1.0));
            effects.insert(c.id, (index, delta));
        }

        // In-market households per advertiser, via segment → advertisers (a dense table:
        // segment ids are below the population's domain).
        let domain = population.config().segment_domain as usize;
        let mut by_segment: Vec<Vec<u32>> = vec![Vec::new(); domain];
        for (a, segs) in audience.iter_mut().enumerate() {
            segs.sort_unstable();
            segs.dedup();
            for s in segs.iter() {
                if let Some(list) = by_segment.get_mut(s.get() as usize) {
                    list.push(a as u32);
                }
            }
        }
        let words = population.households().len().div_ceil(64);
        let mut in_market: Vec<(Vec<u64>, f64)> = vec![(vec![0u64; words], 0.0); advertisers.len()];
        for (h, household) in population.households().iter().enumerate() {
            for user in &population.users()[household.members.clone()] {
                for s in &user.segments {
                    for &a in by_segment
                        .get(s.get() as usize)
                        .map_or(&[][..], Vec::as_slice)
                    {
                        let (bits, sum) = &mut in_market[a as usize];
                        let mask = 1u64 << (h % 64);
                        if bits[h / 64] & mask == 0 {
                            bits[h / 64] |= mask;
                            *sum += propensity[h];
                        }
                    }
                }
            }
        }
        let members = population
            .households()
            .iter()
            .map(|h| (h.members.start, h.members.len()))
            .collect();
        let delay = Exp::new(1.0 / config.delay_mean.as_millis() as f64)
            .map_err(|e| SimError::invalid("conversions.delay_mean", e.to_string()))?;
        Ok(ConversionModel {
            config: config.clone(),
            propensity,
            propensity_sum,
            households,
            advertisers,
            advertiser_index,
            in_market,
            effects,
            values: LogNormalMoney::new(config.value_median, config.value_sigma)?,
            delay,
            members,
        })
    }

    /// The config it was built from.
    pub fn config(&self) -> &ConversionConfig {
        &self.config
    }

    fn household_index(&self, household: HouseholdId) -> Option<usize> {
        let i = household.get().checked_sub(1)? as usize;
        (i < self.propensity.len()).then_some(i)
    }

    fn is_in_market(&self, advertiser: usize, household: usize) -> bool {
        self.in_market[advertiser].0[household / 64] & (1u64 << (household % 64)) != 0
    }

    /// Base (no-ad) expected conversions per day of `household` for `advertiser`, or
    /// `None` if either is unknown.
    pub fn base_daily_rate(&self, household: HouseholdId, advertiser: AdvertiserId) -> Option<f64> {
        let h = self.household_index(household)?;
        let a = *self.advertiser_index.get(&advertiser)?;
        Some(self.rate(a, h))
    }

    fn rate(&self, a: usize, h: usize) -> f64 {
        let m = if self.is_in_market(a, h) {
            self.config.in_market_multiplier
        } else {
            1.0
        };
        self.advertisers[a].1 * self.propensity[h] * m
    }

    /// Whether a member of `household` carries a segment `advertiser` targets.
    pub fn in_market(&self, household: HouseholdId, advertiser: AdvertiserId) -> bool {
        match (
            self.household_index(household),
            self.advertiser_index.get(&advertiser),
        ) {
            (Some(h), Some(&a)) => self.is_in_market(a, h),
            _ => false,
        }
    }

    /// Expected incremental conversions per exposure of `campaign` (its true effect δ).
    pub fn effect_per_exposure(&self, campaign: CampaignId) -> Option<f64> {
        self.effects.get(&campaign).map(|&(_, d)| d)
    }

    /// The advertisers known to the model, with their base rate (median household).
    pub fn advertisers(&self) -> &[(AdvertiserId, f64)] {
        &self.advertisers
    }

    /// Expected baseline conversions of `advertiser` over all households in a period of
    /// `days` days.
    pub fn expected_baseline_total(&self, advertiser: AdvertiserId, days: f64) -> f64 {
        self.advertiser_index.get(&advertiser).map_or(0.0, |&a| {
            let (_, in_market_sum) = &self.in_market[a];
            let m = self.config.in_market_multiplier;
            self.advertisers[a].1 * (self.propensity_sum + (m - 1.0) * in_market_sum) * days
        })
    }

    /// Every baseline conversion of every advertiser in `[start, end)`, sorted by time.
    ///
    /// Drawn per advertiser by thinning: candidates arrive as a Poisson process at the
    /// in-market rate over all households (chosen in proportion to propensity) and are
    /// kept with probability 1 in-market, `1 / multiplier` otherwise — exactly the
    /// per-household rates above, at a cost proportional to the conversions drawn.
    pub fn baseline_conversions<R: Rng + ?Sized>(
        &self,
        population: &Population,
        start: Timestamp,
        end: Timestamp,
        rng: &mut R,
    ) -> Vec<SimConversion> {
        let span = end.duration_since(start).as_millis();
        if span <= 0 {
            return Vec::new();
        }
        let days = span as f64 / DurationMs::DAY.as_millis() as f64;
        let m = self.config.in_market_multiplier;
        let mut out = Vec::new();
        for (a, &(advertiser, base)) in self.advertisers.iter().enumerate() {
            let mean = base * m * self.propensity_sum * days;
            let candidates = Poisson::new(mean).map_or(0, |p| p.sample(rng) as u64);
            for _ in 0..candidates {
                let h = self.households.sample(rng);
                if !self.is_in_market(a, h) && !rng.random_bool(1.0 / m) {
                    continue;
                }
                let (first, size) = self.members[h];
                let user = &population.users()[first + rng.random_range(0..size.max(1))];
                out.push(SimConversion {
                    at: start.saturating_add(DurationMs::from_millis(rng.random_range(0..span))),
                    household: population.households()[h].id,
                    user: user.id,
                    advertiser,
                    value: self.values.sample(rng),
                    cause: ConversionCause::Baseline,
                });
            }
        }
        out.sort_by_key(|c| c.at);
        out
    }

    /// The incremental conversions one exposure causes (usually none): a
    /// Poisson(`δ(campaign)`) count, each after an exponential delay. Unknown campaigns
    /// or households cause nothing.
    pub fn conversions_from_exposure<R: Rng + ?Sized>(
        &self,
        campaign: CampaignId,
        household: HouseholdId,
        user: UserId,
        at: Timestamp,
        rng: &mut R,
    ) -> Vec<SimConversion> {
        let Some(&(a, delta)) = self.effects.get(&campaign) else {
            return Vec::new();
        };
        if delta <= 0.0 || self.household_index(household).is_none() {
            return Vec::new();
        }
        let count = Poisson::new(delta).map_or(0, |p| p.sample(rng) as u64);
        (0..count)
            .map(|_| SimConversion {
                at: at.saturating_add(DurationMs::from_millis(self.delay.sample(rng) as i64)),
                household,
                user,
                advertiser: self.advertisers[a].0,
                value: self.values.sample(rng),
                cause: ConversionCause::Incremental(campaign),
            })
            .collect()
    }

    /// An empty truth ledger for the measurement period `[start, end)`.
    pub fn tally(&self, start: Timestamp, end: Timestamp) -> TruthTally {
        TruthTally {
            start,
            end,
            campaigns: HashMap::new(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct CampaignLedger {
    exposures: u64,
    expected_incremental: f64,
    realized_incremental: u64,
    first_exposure: BTreeMap<HouseholdId, Timestamp>,
}

/// Accumulates the ground truth of a simulation run: exposures and incremental
/// conversions per campaign within a measurement period. Record from one thread, or
/// keep one per thread and [`merge`](Self::merge) them.
#[derive(Clone, Debug)]
pub struct TruthTally {
    start: Timestamp,
    end: Timestamp,
    campaigns: HashMap<CampaignId, CampaignLedger>,
}

/// The truth about one campaign over the measurement period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CampaignTruth {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its advertiser.
    pub advertiser: AdvertiserId,
    /// Exposures (impressions) recorded.
    pub exposures: u64,
    /// Distinct households exposed.
    pub exposed_households: u64,
    /// True effect δ: expected incremental conversions per exposure.
    pub effect_per_exposure: f64,
    /// Expected incremental conversions landing inside the period.
    pub expected_incremental: f64,
    /// Incremental conversions that actually happened inside the period (as recorded).
    pub realized_incremental: u64,
    /// Expected baseline conversions of the exposed households over the whole period.
    pub expected_baseline: f64,
    /// Expected baseline conversions of the exposed households from each one's first
    /// exposure to the period's end.
    pub expected_baseline_after_exposure: f64,
    /// `expected_incremental / expected_baseline`: the lift a holdout experiment
    /// counting every conversion of the period in exposed vs ghost-exposed households
    /// estimates.
    pub true_lift: f64,
    /// `expected_incremental / expected_baseline_after_exposure`: the lift when only
    /// conversions after a household's first (ghost) exposure count.
    pub true_lift_after_exposure: f64,
}

impl TruthTally {
    /// Records one exposure of `campaign` to `household` at `at`.
    pub fn record_exposure(
        &mut self,
        model: &ConversionModel,
        campaign: CampaignId,
        household: HouseholdId,
        at: Timestamp,
    ) {
        let delta = model.effect_per_exposure(campaign).unwrap_or(0.0);
        let ledger = self.campaigns.entry(campaign).or_default();
        ledger.exposures += 1;
        let remaining = self.end.duration_since(at).as_millis();
        if remaining > 0 {
            let p_inside =
                1.0 - (-(remaining as f64) / model.config.delay_mean.as_millis() as f64).exp();
            ledger.expected_incremental += delta * p_inside;
        }
        ledger
            .first_exposure
            .entry(household)
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// Records a simulated conversion: incremental ones inside the period are counted
    /// for their campaign; baseline ones are ignored (their expectation is known).
    pub fn record_conversion(&mut self, conversion: &SimConversion) {
        if let ConversionCause::Incremental(campaign) = conversion.cause
            && conversion.at >= self.start
            && conversion.at < self.end
        {
            self.campaigns
                .entry(campaign)
                .or_default()
                .realized_incremental += 1;
        }
    }

    /// Adds another tally of the same period (e.g. from another thread).
    pub fn merge(&mut self, other: TruthTally) {
        for (campaign, theirs) in other.campaigns {
            let ours = self.campaigns.entry(campaign).or_default();
            ours.exposures += theirs.exposures;
            ours.expected_incremental += theirs.expected_incremental;
            ours.realized_incremental += theirs.realized_incremental;
            for (h, t) in theirs.first_exposure {
                ours.first_exposure
                    .entry(h)
                    .and_modify(|x| *x = (*x).min(t))
                    .or_insert(t);
            }
        }
    }

    /// The truth for `campaign`, or `None` if the model does not know it.
    pub fn campaign(&self, model: &ConversionModel, campaign: CampaignId) -> Option<CampaignTruth> {
        let &(a, delta) = model.effects.get(&campaign)?;
        let empty = CampaignLedger::default();
        let ledger = self.campaigns.get(&campaign).unwrap_or(&empty);
        let day = DurationMs::DAY.as_millis() as f64;
        let period_days = self.end.duration_since(self.start).as_millis().max(0) as f64 / day;
        let mut baseline = 0.0;
        let mut after = 0.0;
        for (&household, &first) in &ledger.first_exposure {
            if let Some(h) = model.household_index(household) {
                let rate = model.rate(a, h);
                baseline += rate * period_days;
                let left = self
                    .end
                    .duration_since(first.max(self.start))
                    .as_millis()
                    .max(0) as f64
                    / day;
                after += rate * left;
            }
        }
        let ratio = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        Some(CampaignTruth {
            campaign,
            advertiser: model.advertisers[a].0,
            exposures: ledger.exposures,
            exposed_households: ledger.first_exposure.len() as u64,
            effect_per_exposure: delta,
            expected_incremental: ledger.expected_incremental,
            realized_incremental: ledger.realized_incremental,
            expected_baseline: baseline,
            expected_baseline_after_exposure: after,
            true_lift: ratio(ledger.expected_incremental, baseline),
            true_lift_after_exposure: ratio(ledger.expected_incremental, after),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{CampaignConfig, generate_campaigns};
    use crate::population::PopulationConfig;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn world(
        seed: u64,
        config: &ConversionConfig,
    ) -> (Population, Vec<SimCampaign>, ConversionModel) {
        let mut rng = StdRng::seed_from_u64(seed);
        let pop = Population::generate(
            &PopulationConfig {
                users: 8_000,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        let campaigns = generate_campaigns(
            &CampaignConfig {
                campaigns: 40,
                advertisers: 10,
                holdout_share: 0.5,
                ..Default::default()
            },
            &pop,
            &mut rng,
        )
        .unwrap();
        let model = ConversionModel::new(config, &pop, &campaigns, &mut rng).unwrap();
        (pop, campaigns, model)
    }

    #[test]
    fn baseline_conversions_match_their_expectation() {
        let (pop, _, model) = world(1, &ConversionConfig::default());
        let day = DurationMs::DAY;
        let start = Timestamp::EPOCH;
        let conversions =
            model.baseline_conversions(&pop, start, start + day, &mut StdRng::seed_from_u64(2));
        assert!(conversions.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(
            conversions
                .iter()
                .all(|c| c.at >= start && c.at < start + day)
        );
        assert!(
            conversions
                .iter()
                .all(|c| c.cause == ConversionCause::Baseline)
        );
        let expected: f64 = model
            .advertisers()
            .iter()
            .map(|&(a, _)| model.expected_baseline_total(a, 1.0))
            .sum();
        let got = conversions.len() as f64;
        assert!(
            (got - expected).abs() < 5.0 * expected.sqrt(),
            "{got} vs {expected}"
        );
        // In-market households convert more (per household) than the rest.
        let (a, _) = model.advertisers()[0];
        let mut per_household: HashMap<HouseholdId, f64> = HashMap::new();
        for c in conversions.iter().filter(|c| c.advertiser == a) {
            *per_household.entry(c.household).or_default() += 1.0;
        }
        let (mut im_h, mut im_c, mut out_h, mut out_c) = (0.0, 0.0, 0.0, 0.0);
        for h in pop.households() {
            let n = per_household.get(&h.id).copied().unwrap_or(0.0);
            if model.in_market(h.id, a) {
                im_h += 1.0;
                im_c += n
            } else {
                out_h += 1.0;
                out_c += n
            }
        }
        if im_h > 100.0 && out_h > 100.0 {
            assert!(im_c / im_h > out_c / out_h);
        }
        for c in &conversions {
            let user = pop.user(c.user).unwrap();
            assert_eq!(user.household, c.household);
        }
    }

    #[test]
    fn holdout_experiment_recovers_the_true_lift() {
        // Big effects and rates so a small experiment resolves the lift.
        let config = ConversionConfig {
            base_rate_median: 0.05,
            base_rate_sigma: 0.0,
            effect_median: 0.02,
            effect_sigma: 0.0,
            delay_mean: DurationMs::from_mins(30),
            ..ConversionConfig::default()
        };
        let (pop, campaigns, model) = world(3, &config);
        let campaign = campaigns.iter().find(|c| c.holdout > 0.0).unwrap();
        let mut rng = StdRng::seed_from_u64(4);
        let start = Timestamp::EPOCH;
        let end = start + DurationMs::DAY;
        let mut tally = model.tally(start, end);
        let mut treated = Vec::new();
        let mut control = Vec::new();
        for h in pop.households() {
            if rng.random_bool(0.5) {
                treated.push(h.id)
            } else {
                control.push(h.id)
            }
        }
        let mut incremental = Vec::new();
        for &h in &treated {
            let user = pop.household(h).unwrap().members.start;
            for k in 0..3 {
                let at = start + DurationMs::from_hours(2 + 6 * k);
                tally.record_exposure(&model, campaign.id, h, at);
                incremental.extend(model.conversions_from_exposure(
                    campaign.id,
                    h,
                    pop.users()[user].id,
                    at,
                    &mut rng,
                ));
            }
        }
        for c in &incremental {
            tally.record_conversion(c);
        }
        let baseline = model.baseline_conversions(&pop, start, end, &mut rng);
        let count = |group: &[HouseholdId], list: &[SimConversion]| {
            let set: std::collections::HashSet<_> = group.iter().collect();
            list.iter()
                .filter(|c| {
                    c.advertiser == campaign.advertiser && set.contains(&c.household) && c.at < end
                })
                .count() as f64
        };
        let t = count(&treated, &baseline) + count(&treated, &incremental);
        let c = count(&control, &baseline);
        let cr_t = t / treated.len() as f64;
        let cr_c = c / control.len() as f64;
        let measured = cr_t / cr_c - 1.0;
        let truth = tally.campaign(&model, campaign.id).unwrap();
        assert_eq!(truth.exposures, 3 * treated.len() as u64);
        assert_eq!(truth.exposed_households, treated.len() as u64);
        // Realized incremental conversions match their expectation.
        let e = truth.expected_incremental;
        assert!((truth.realized_incremental as f64 - e).abs() < 5.0 * e.sqrt());
        // Log-ratio standard error of the measured lift.
        let se = (1.0 / t + 1.0 / c).sqrt();
        let (lo, hi) = (
            (measured + 1.0).ln() - 3.0 * se,
            (measured + 1.0).ln() + 3.0 * se,
        );
        let true_log = (1.0 + truth.true_lift).ln();
        assert!(
            lo <= true_log && true_log <= hi,
            "measured {measured}, true {}",
            truth.true_lift
        );
        assert!(truth.true_lift > 0.05);
    }

    #[test]
    fn merge_adds_up() {
        let (pop, campaigns, model) = world(5, &ConversionConfig::default());
        let start = Timestamp::EPOCH;
        let end = start + DurationMs::DAY;
        let mut whole = model.tally(start, end);
        let mut a = model.tally(start, end);
        let mut b = model.tally(start, end);
        for (i, h) in pop.households().iter().take(200).enumerate() {
            let at = start + DurationMs::from_mins(i as i64);
            whole.record_exposure(&model, campaigns[0].id, h.id, at);
            if i % 2 == 0 { &mut a } else { &mut b }.record_exposure(
                &model,
                campaigns[0].id,
                h.id,
                at,
            );
        }
        a.merge(b);
        let merged = a.campaign(&model, campaigns[0].id).unwrap();
        let direct = whole.campaign(&model, campaigns[0].id).unwrap();
        assert_eq!(merged.exposures, direct.exposures);
        assert_eq!(merged.exposed_households, direct.exposed_households);
        assert_eq!(merged.expected_baseline, direct.expected_baseline);
        assert!((merged.expected_incremental - direct.expected_incremental).abs() < 1e-12);
        assert!(whole.campaign(&model, CampaignId::new(999_999)).is_none());
    }

    #[test]
    fn same_seed_same_truth() {
        let (pop, _, m1) = world(6, &ConversionConfig::default());
        let (_, _, m2) = world(6, &ConversionConfig::default());
        let a = m1.baseline_conversions(
            &pop,
            Timestamp::EPOCH,
            Timestamp::EPOCH + DurationMs::DAY,
            &mut StdRng::seed_from_u64(1),
        );
        let b = m2.baseline_conversions(
            &pop,
            Timestamp::EPOCH,
            Timestamp::EPOCH + DurationMs::DAY,
            &mut StdRng::seed_from_u64(1),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_config() {
        let mut rng = StdRng::seed_from_u64(1);
        let pop = Population::generate(
            &PopulationConfig {
                users: 10,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        for config in [
            ConversionConfig {
                base_rate_median: 0.0,
                ..Default::default()
            },
            ConversionConfig {
                in_market_multiplier: 0.5,
                ..Default::default()
            },
            ConversionConfig {
                delay_mean: DurationMs::ZERO,
                ..Default::default()
            },
        ] {
            assert!(ConversionModel::new(&config, &pop, &[], &mut rng).is_err());
        }
    }
}
