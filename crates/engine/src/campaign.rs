//! The campaign model: what an ad-ops team publishes, as plain serde data.
//!
//! A [`Campaign`] is validated as a whole by [`validate_all`], which reports every problem of
//! every campaign at once (each with its campaign id and field), so a bad upload can be fixed
//! in one round trip instead of one error at a time.

use crate::error::CampaignError;
use adloop_auction::Tier;
use adloop_core::{
    AdvertiserId, CampaignId, Cpm, CreativeId, DealId, DurationMs, Money, Timestamp,
};
use adloop_pacing::{FrequencyCap, PacingMode};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Most campaigns one publish accepts.
pub const MAX_CAMPAIGNS: usize = 2_000_000;
/// Most creatives one campaign may carry.
pub const MAX_CREATIVES: usize = 256;
/// Most deals one campaign may bid in.
pub const MAX_DEALS: usize = 256;
/// Most competitive categories one campaign may declare (the auction's pod separation limit).
pub const MAX_CATEGORIES: usize = adloop_auction::MAX_CATEGORIES;
/// Most frequency caps one campaign may declare.
pub const MAX_FREQUENCY_CAPS: usize = 8;
/// Longest advertiser domain or category code, in bytes.
pub const MAX_NAME_LEN: usize = 253;
/// Longest targeting expression, in bytes (the targeting parser has its own limits too).
pub const MAX_TARGETING_LEN: usize = 64 * 1024;
/// Longest video creative, in seconds.
pub const MAX_CREATIVE_SECONDS: u32 = 600;

fn asap() -> PacingMode {
    PacingMode::Asap
}

fn open_tier() -> Tier {
    Tier::OPEN
}

/// One campaign: a budget, a flight, a bid, an audience and the creatives to show.
///
/// Serialized field names are the ones below; optional fields may be omitted in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Unique id; pacing, frequency and attribution state are keyed by it across publishes.
    pub id: CampaignId,
    /// The advertiser that owns the campaign (frequency caps and attribution join on it).
    pub advertiser: AdvertiserId,
    /// The advertiser's domain (`adomain` in OpenRTB); ads sharing a domain are separated in
    /// pods.
    #[serde(default)]
    pub advertiser_domain: String,
    /// Spending limits.
    pub budget: Budget,
    /// When the campaign may serve.
    pub flight: Flight,
    /// How spend is spread over the flight (`{"mode": "throttle"}`, `{"mode":
    /// "bid_shading"}`, …; default ASAP), built into a controller by the pacing crate.
    #[serde(default = "asap")]
    pub pacing: PacingMode,
    /// What the campaign pays.
    pub bid: Bid,
    /// Priority tier (`20` open, `30` deal, `40` guaranteed, `50` sponsorship, `10` house):
    /// higher tiers win regardless of price.
    #[serde(default = "open_tier")]
    pub tier: Tier,
    /// Private-marketplace deals this campaign bids in (with the deal's terms from the request).
    #[serde(default)]
    pub deals: Vec<DealId>,
    /// Frequency caps (per user or household, campaign or advertiser, fixed, sliding or
    /// lifetime windows), all of which must allow an impression.
    #[serde(default)]
    pub frequency_caps: Vec<FrequencyCap>,
    /// Competitive categories (IAB codes such as `"IAB2"`): two ads sharing one never run in the
    /// same pod, and a request's blocked categories exclude the campaign.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Audience, in the targeting language (e.g. `segment in (12, 40) and geo.country = "US"`).
    pub targeting: String,
    /// The creatives; at least one.
    pub creatives: Vec<Creative>,
    /// How the creatives that fit a request rotate (default even).
    #[serde(default)]
    pub rotation: Rotation,
    /// Fraction of identities held out as a control group for lift measurement, in `[0, 1)`.
    #[serde(default)]
    pub holdout: f64,
}

/// Budget limits; at least one must be set. All amounts are exact integer micro-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Most spend per day (rolled over at the engine's UTC offset).
    #[serde(default)]
    pub daily: Option<Money>,
    /// Most spend over the campaign's life.
    #[serde(default)]
    pub lifetime: Option<Money>,
}

/// The half-open interval `[start, end)` in which a campaign may serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flight {
    /// First instant of the flight.
    pub start: Timestamp,
    /// First instant after the flight.
    pub end: Timestamp,
}

impl Flight {
    /// Whether `now` lies in the flight.
    #[inline]
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }

    /// The flight's length.
    pub fn duration(&self) -> DurationMs {
        self.end - self.start
    }
}

/// How a campaign bids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Bid {
    /// A fixed price per thousand impressions.
    Cpm(Cpm),
    /// A price per click, turned into an eCPM with the campaign's measured click-through rate.
    Cpc(Money),
    /// A target cost per conversion, turned into an eCPM with the measured conversion rate.
    Cpa(Money),
}

/// The kind of a creative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Format {
    /// Video (instream, CTV); has a duration.
    #[default]
    Video,
    /// Display banner.
    Display,
}

fn one() -> u32 {
    1
}

/// One asset (variant) of a campaign: a localized version, a cut length, a style.
///
/// Build one in code with [`Creative::video`] or [`Creative::display`] and the builder
/// methods; in JSON only `id` is required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creative {
    /// Unique within the campaign.
    pub id: CreativeId,
    /// Video or display.
    #[serde(default)]
    pub format: Format,
    /// Length in seconds (video: 1..=600; display: 0).
    #[serde(default)]
    pub duration_s: u32,
    /// Countries (ISO 3166-1 alpha-2 or alpha-3 codes such as `"US"` or `"USA"`, any case;
    /// either code names the same country) whose requests may show it, matched against the
    /// request's `geo.country`; empty: every market.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<String>,
    /// Languages (ISO 639 codes such as `"en"`, any case) it may run in, matched against
    /// the request's `content.language`, else its `device.language`; empty: every language.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// Extra targeting in the targeting language (e.g. `device.type = 3`); empty: none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub targeting: String,
    /// Relative weight under [`Rotation::Weighted`] (default 1; 0: never chosen).
    #[serde(default = "one")]
    pub weight: u32,
}

impl Creative {
    /// A video creative of `duration_s` seconds, for every market and language.
    pub fn video(id: u64, duration_s: u32) -> Self {
        Creative {
            id: CreativeId::new(id),
            format: Format::Video,
            duration_s,
            markets: Vec::new(),
            languages: Vec::new(),
            targeting: String::new(),
            weight: 1,
        }
    }

    /// A display creative, for every market and language.
    pub fn display(id: u64) -> Self {
        Creative {
            format: Format::Display,
            duration_s: 0,
            ..Creative::video(id, 0)
        }
    }

    /// Restricts it to these countries (ISO 3166-1 codes; alpha-2 and alpha-3 name the
    /// same country, so `US` matches a request's `USA`).
    pub fn markets<S: Into<String>>(mut self, markets: impl IntoIterator<Item = S>) -> Self {
        self.markets = markets.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts it to these languages, matched against the request's `content.language`,
    /// else its `device.language`.
    pub fn languages<S: Into<String>>(mut self, languages: impl IntoIterator<Item = S>) -> Self {
        self.languages = languages.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a targeting expression.
    pub fn targeting(mut self, expression: impl Into<String>) -> Self {
        self.targeting = expression.into();
        self
    }

    /// Sets the weight for [`Rotation::Weighted`].
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }
}

/// What an optimized rotation maximizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RotationGoal {
    /// Clicks per impression.
    Ctr,
    /// Attributed conversions per impression (the default).
    #[default]
    Cvr,
}

fn default_exploration() -> f64 {
    0.1
}

/// How a campaign chooses among its creatives that fit a request.
///
/// JSON: `{"mode": "even"}` (the default), `{"mode": "weighted"}`, `{"mode":
/// "sequential"}`, `{"mode": "optimized", "goal": "cvr", "exploration": 0.1}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rotation {
    /// Uniformly at random (seeded per request).
    #[default]
    Even,
    /// In proportion to each creative's [`weight`](Creative::weight).
    Weighted,
    /// A storyline: each household sees the creatives in list order, the next after the
    /// one it saw last (skipping those that do not fit), then from the start again.
    Sequential,
    /// Thompson sampling over the creatives' measured rates (see `docs/engine.md`).
    Optimized {
        /// The rate to maximize.
        #[serde(default)]
        goal: RotationGoal,
        /// The share spread evenly over all creatives so new ones get traffic, in
        /// `[0, 1]` (default 0.1).
        #[serde(default = "default_exploration")]
        exploration: f64,
    },
}

/// Most markets or languages one creative may list.
pub const MAX_CREATIVE_CODES: usize = 64;

/// Validates every campaign and the set as a whole; returns every problem found.
pub(crate) fn validate_all(campaigns: &[Campaign]) -> Vec<CampaignError> {
    let mut errors = Vec::new();
    if campaigns.len() > MAX_CAMPAIGNS {
        errors.push(CampaignError::new(
            CampaignId::new(0),
            "campaigns",
            format!(
                "{} campaigns, over the limit of {MAX_CAMPAIGNS}",
                campaigns.len()
            ),
        ));
        return errors;
    }
    let mut seen = HashSet::with_capacity(campaigns.len());
    for c in campaigns {
        if !seen.insert(c.id) {
            errors.push(CampaignError::new(c.id, "id", "duplicate campaign id"));
        }
        validate_one(c, &mut errors);
    }
    errors
}

fn validate_one(c: &Campaign, errors: &mut Vec<CampaignError>) {
    let mut err = |field: &str, message: String| {
        errors.push(CampaignError::new(c.id, field, message));
    };
    if c.advertiser_domain.len() > MAX_NAME_LEN {
        err(
            "advertiser_domain",
            format!("longer than {MAX_NAME_LEN} bytes"),
        );
    }
    match (c.budget.daily, c.budget.lifetime) {
        (None, None) => err("budget", "set a daily or a lifetime budget".into()),
        (daily, lifetime) => {
            if let Some(d) = daily.filter(|d| d.micros() <= 0) {
                err("budget.daily", format!("must be positive, got {d}"));
            }
            if let Some(l) = lifetime.filter(|l| l.micros() <= 0) {
                err("budget.lifetime", format!("must be positive, got {l}"));
            }
        }
    }
    if c.flight.end <= c.flight.start {
        err(
            "flight",
            format!("end {} is not after start {}", c.flight.end, c.flight.start),
        );
    }
    match c.bid {
        Bid::Cpm(cpm) if cpm.amount().micros() <= 0 => {
            err("bid.cpm", format!("must be positive, got {}", cpm.amount()))
        }
        Bid::Cpc(m) if m.micros() <= 0 => err("bid.cpc", format!("must be positive, got {m}")),
        Bid::Cpa(m) if m.micros() <= 0 => err("bid.cpa", format!("must be positive, got {m}")),
        _ => {}
    }
    if c.deals.len() > MAX_DEALS {
        err("deals", format!("more than {MAX_DEALS} deals"));
    }
    let mut deals = HashSet::new();
    for d in &c.deals {
        if !deals.insert(*d) {
            err("deals", format!("deal {d} listed twice"));
        }
    }
    if c.frequency_caps.len() > MAX_FREQUENCY_CAPS {
        err(
            "frequency_caps",
            format!("more than {MAX_FREQUENCY_CAPS} caps"),
        );
    }
    for (i, cap) in c.frequency_caps.iter().enumerate() {
        if let Err(e) = cap.validate() {
            err(&format!("frequency_caps[{i}]"), e.to_string());
        }
    }
    if let Err(e) = c.pacing.validate() {
        err("pacing", e.to_string());
    }
    if c.categories.len() > MAX_CATEGORIES {
        err(
            "categories",
            format!("more than {MAX_CATEGORIES} categories"),
        );
    }
    for (i, cat) in c.categories.iter().enumerate() {
        if cat.is_empty() || cat.len() > MAX_NAME_LEN {
            err(
                &format!("categories[{i}]"),
                format!("must be 1 to {MAX_NAME_LEN} bytes"),
            );
        }
    }
    if c.targeting.len() > MAX_TARGETING_LEN {
        err(
            "targeting",
            format!("longer than {MAX_TARGETING_LEN} bytes"),
        );
    }
    if c.creatives.is_empty() {
        err("creatives", "at least one creative is required".into());
    }
    if c.creatives.len() > MAX_CREATIVES {
        err("creatives", format!("more than {MAX_CREATIVES} creatives"));
    }
    let mut ids = HashSet::new();
    for (i, cr) in c.creatives.iter().enumerate() {
        if !ids.insert(cr.id) {
            err(
                &format!("creatives[{i}].id"),
                format!("creative {} listed twice", cr.id),
            );
        }
        match cr.format {
            Format::Video if cr.duration_s == 0 || cr.duration_s > MAX_CREATIVE_SECONDS => err(
                &format!("creatives[{i}].duration_s"),
                format!(
                    "a video lasts 1 to {MAX_CREATIVE_SECONDS} seconds, got {}",
                    cr.duration_s
                ),
            ),
            Format::Display if cr.duration_s != 0 => err(
                &format!("creatives[{i}].duration_s"),
                "a display creative has no duration".into(),
            ),
            _ => {}
        }
        for (name, codes) in [("markets", &cr.markets), ("languages", &cr.languages)] {
            if codes.len() > MAX_CREATIVE_CODES {
                err(
                    &format!("creatives[{i}].{name}"),
                    format!("more than {MAX_CREATIVE_CODES} codes"),
                );
            }
            if let Some(bad) = codes.iter().find(|c| {
                c.is_empty()
                    || c.len() > crate::creative::MAX_CODE_LEN
                    || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }) {
                err(
                    &format!("creatives[{i}].{name}"),
                    format!("{bad:?} is not a code of 1 to 8 letters, digits or '-'"),
                );
            }
        }
        if cr.targeting.len() > MAX_TARGETING_LEN {
            err(
                &format!("creatives[{i}].targeting"),
                format!("longer than {MAX_TARGETING_LEN} bytes"),
            );
        }
    }
    match c.rotation {
        Rotation::Optimized { exploration, .. }
            if !(exploration.is_finite() && (0.0..=1.0).contains(&exploration)) =>
        {
            err(
                "rotation.exploration",
                format!("must be in [0, 1], got {exploration}"),
            )
        }
        Rotation::Weighted if c.creatives.iter().all(|cr| cr.weight == 0) => err(
            "rotation",
            "weighted rotation needs a creative of positive weight".into(),
        ),
        _ => {}
    }
    if !(c.holdout.is_finite() && (0.0..1.0).contains(&c.holdout)) {
        err("holdout", format!("must be in [0, 1), got {}", c.holdout));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(id: u64) -> Campaign {
        Campaign {
            id: CampaignId::new(id),
            advertiser: AdvertiserId::new(id % 7 + 1),
            advertiser_domain: format!("adv{}.example", id % 7 + 1),
            budget: Budget {
                daily: Some(Money::from_micros(50_000_000)),
                lifetime: Some(Money::from_micros(500_000_000)),
            },
            flight: Flight {
                start: Timestamp::from_millis(0),
                end: Timestamp::from_millis(10 * 86_400_000),
            },
            pacing: PacingMode::Asap,
            bid: Bid::Cpm(Cpm::from_micros(5_000_000)),
            tier: Tier::OPEN,
            deals: vec![],
            frequency_caps: vec![],
            categories: vec!["IAB2".into()],
            targeting: "segment in (1, 2)".into(),
            creatives: vec![Creative::video(id * 10, 15)],
            rotation: Rotation::Even,
            holdout: 0.0,
        }
    }

    #[test]
    fn a_good_campaign_passes() {
        assert!(validate_all(&[sample(1), sample(2)]).is_empty());
    }

    #[test]
    fn every_error_is_reported_with_its_campaign_and_field() {
        let mut a = sample(1);
        a.budget = Budget::default();
        a.flight.end = a.flight.start;
        a.holdout = f64::NAN;
        let mut b = sample(2);
        b.bid = Bid::Cpc(Money::ZERO);
        b.creatives.push(b.creatives[0].clone());
        b.frequency_caps.push(FrequencyCap {
            scope: adloop_pacing::CapScope::Campaign,
            identity: adloop_pacing::IdentityKind::User,
            max_impressions: 1,
            window: adloop_pacing::CapWindow::Fixed {
                window: DurationMs::ZERO,
            },
        });
        let dup = sample(2);
        let errors = validate_all(&[a, b, dup]);
        let got: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.campaign.get(), e.field.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "budget"),
                (1, "flight"),
                (1, "holdout"),
                (2, "bid.cpc"),
                (2, "frequency_caps[0]"),
                (2, "creatives[1].id"),
                (2, "id"),
            ]
        );
        assert!(errors[0].to_string().starts_with("campaign 1: budget:"));
    }

    #[test]
    fn campaigns_round_trip_through_json() {
        let c = sample(3);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Campaign>(&json).unwrap(), c);
        let minimal = r#"{"id":4,"advertiser":1,"budget":{"daily":1000000},
            "flight":{"start":0,"end":1000},"bid":{"cpm":2000000},
            "targeting":"true","creatives":[{"id":1,"duration_s":30}]}"#;
        let m: Campaign = serde_json::from_str(minimal).unwrap();
        assert_eq!(m.tier, Tier::OPEN);
        assert!(validate_all(&[m]).is_empty());
    }
}
