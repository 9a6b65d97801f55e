use crate::{Error, LossReason};
use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId, DealId, Money};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest effective eCPM an auction accepts: one million currency units per thousand
/// impressions. A bid above it is excluded as [`LossReason::InvalidBid`].
///
/// The cap keeps every sum the auction forms (a pod of 16 ads, a VCG payment weighted by
/// slot factors) exact in 64- or 128-bit integers.
pub const MAX_ECPM: Cpm = Cpm::from_micros(1_000_000_000_000);

/// The largest pacing bid multiplier accepted; larger, negative or non-finite multipliers
/// exclude the candidate as [`LossReason::InvalidMultiplier`].
pub const MAX_BID_MULTIPLIER: f64 = 100.0;

/// The most competitive categories one candidate can carry.
pub const MAX_CATEGORIES: usize = 4;

/// A priority tier: an ordered number, higher wins.
///
/// Under [`TierPolicy::Strict`](crate::TierPolicy::Strict) (the default) a candidate of a
/// higher tier beats every candidate of a lower tier whatever the bids, and only
/// candidates of the same tier set each other's price. The constants name the usual
/// ladder; any `u8` works, so a caller can insert its own levels between them.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Tier(pub u8);

impl Tier {
    /// House ads: fill only when nothing else does.
    pub const HOUSE: Tier = Tier(10);
    /// Open auction.
    pub const OPEN: Tier = Tier(20);
    /// Private-marketplace deals.
    pub const DEAL: Tier = Tier(30);
    /// Guaranteed (reserved) campaigns.
    pub const GUARANTEED: Tier = Tier(40);
    /// Sponsorships: own the break.
    pub const SPONSORSHIP: Tier = Tier(50);
}

/// What a candidate offers to pay.
///
/// Every kind is turned into an eCPM (expected price per thousand impressions) at one
/// place, [`Candidate::effective_ecpm`], which documents the rounding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Bid {
    /// A price per thousand impressions.
    Cpm(Cpm),
    /// A price per click and the predicted click-through rate in `[0, 1]`.
    Cpc {
        /// Price of one click.
        per_click: Money,
        /// Predicted clicks per impression.
        ctr: f64,
    },
    /// A price per action (conversion) and the predicted actions per impression in `[0, 1]`.
    Cpa {
        /// Price of one action.
        per_action: Money,
        /// Predicted actions per impression.
        rate: f64,
    },
}

/// A deal the candidate bids through: its own floor and, for programmatic-guaranteed
/// style deals, a fixed price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deal {
    /// The deal id.
    pub id: DealId,
    /// The deal's floor: the candidate is excluded as [`LossReason::BelowDealFloor`] when
    /// its eCPM is below it.
    pub floor: Cpm,
    /// A fixed price: when set, a winner pays exactly this and the candidate needs an
    /// eCPM of at least this price to take part. It must not be below `floor`
    /// ([`LossReason::InvalidDeal`] otherwise), and it must clear the opportunity's hard
    /// floor to fill ([`LossReason::BelowFloor`] otherwise).
    pub fixed_price: Option<Cpm>,
}

/// An advertiser domain (`ford.com`) as a 64-bit id, for pod separation.
///
/// The caller may intern domains itself ([`AdvertiserDomain::new`]) or hash the text with
/// [`AdvertiserDomain::from_domain`] (FNV-1a 64 of the lowercased ASCII text: stable
/// across runs and platforms; two different domains collide with probability about
/// 2⁻⁶⁴ per pair).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AdvertiserDomain(pub u64);

impl AdvertiserDomain {
    /// Wraps a caller-interned domain id.
    pub const fn new(raw: u64) -> Self {
        AdvertiserDomain(raw)
    }

    /// The stable hash of a domain name, ASCII case-insensitive.
    pub fn from_domain(domain: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in domain.bytes() {
            h ^= u64::from(b.to_ascii_lowercase());
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        AdvertiserDomain(h)
    }
}

/// A small set of competitive-category ids (IAB content categories, "auto", "telecom"…)
/// with at most [`MAX_CATEGORIES`] members, stored inline.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Categories {
    len: u8,
    ids: [u32; MAX_CATEGORIES],
}

impl Categories {
    /// No categories.
    pub const EMPTY: Categories = Categories {
        len: 0,
        ids: [0; MAX_CATEGORIES],
    };

    /// The set of `ids` (duplicates are kept once), or an error when there are more than
    /// [`MAX_CATEGORIES`] distinct ids.
    pub fn new(ids: &[u32]) -> Result<Self, Error> {
        let mut set = Categories::EMPTY;
        for &id in ids {
            if set.contains(id) {
                continue;
            }
            if usize::from(set.len) == MAX_CATEGORIES {
                return Err(Error::TooManyCategories {
                    count: ids.len(),
                    limit: MAX_CATEGORIES,
                });
            }
            set.ids[usize::from(set.len)] = id;
            set.len += 1;
        }
        Ok(set)
    }

    /// The ids, in insertion order.
    pub fn as_slice(&self) -> &[u32] {
        &self.ids[..usize::from(self.len)]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// `true` when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `true` if `id` is in the set.
    pub fn contains(&self, id: u32) -> bool {
        self.as_slice().contains(&id)
    }

    /// `true` if the two sets share an id.
    pub fn intersects(&self, other: &Categories) -> bool {
        self.as_slice().iter().any(|&id| other.contains(id))
    }
}

impl fmt::Debug for Categories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_slice()).finish()
    }
}

/// One bidder in one auction.
///
/// `key` is the caller's opaque handle (an index into its own candidate table): outcomes
/// report placements and losses by key, and keys must be unique within one call.
///
/// Fields are public so a caller can fill them directly; [`Candidate::new`] sets the
/// neutral defaults (open tier, multiplier 1, no deal, no categories, no domain, no
/// duration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The caller's key for this candidate, unique within one auction call.
    pub key: u32,
    /// The campaign (line item).
    pub campaign: CampaignId,
    /// The creative.
    pub creative: CreativeId,
    /// The advertiser.
    pub advertiser: AdvertiserId,
    /// The advertiser's domain, for pod separation; `None` separates from nothing.
    pub domain: Option<AdvertiserDomain>,
    /// The priority tier.
    pub tier: Tier,
    /// The bid.
    pub bid: Bid,
    /// The pacing bid multiplier applied to the eCPM (1.0 = unchanged), in
    /// `[0, MAX_BID_MULTIPLIER]`.
    pub multiplier: f64,
    /// The deal the candidate bids through, if any.
    pub deal: Option<Deal>,
    /// Competitive categories, for pod separation.
    pub categories: Categories,
    /// Creative duration in whole seconds for video (0 for display; a pod excludes it).
    pub duration_s: u32,
}

impl Candidate {
    /// A candidate with neutral defaults: [`Tier::OPEN`], multiplier 1.0, no deal, no
    /// domain, no categories, duration 0.
    pub fn new(
        key: u32,
        campaign: CampaignId,
        creative: CreativeId,
        advertiser: AdvertiserId,
        bid: Bid,
    ) -> Self {
        Candidate {
            key,
            campaign,
            creative,
            advertiser,
            domain: None,
            tier: Tier::OPEN,
            bid,
            multiplier: 1.0,
            deal: None,
            categories: Categories::EMPTY,
            duration_s: 0,
        }
    }

    /// Sets the tier.
    pub fn with_tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// Sets the pacing bid multiplier.
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the deal.
    pub fn with_deal(mut self, deal: Deal) -> Self {
        self.deal = Some(deal);
        self
    }

    /// Sets the competitive categories.
    pub fn with_categories(mut self, categories: Categories) -> Self {
        self.categories = categories;
        self
    }

    /// Sets the advertiser domain.
    pub fn with_domain(mut self, domain: AdvertiserDomain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Sets the creative duration in seconds.
    pub fn with_duration_s(mut self, duration_s: u32) -> Self {
        self.duration_s = duration_s;
        self
    }

    /// The effective eCPM the candidate competes with: its bid as an eCPM, times its
    /// pacing multiplier. This is the one place where floats meet money.
    ///
    /// # Rounding
    /// - A predicted rate is first rounded to the nearest 10⁻⁹ and the multiplier to the
    ///   nearest 10⁻⁶ (exact for every value a caller would write, such as 0.25 or 1.0);
    /// - then `eCPM = price × rate × 1000` and `eCPM × multiplier` are computed exactly in
    ///   integers and each **rounded toward zero** (down, as all valid values are ≥ 0), so
    ///   a buyer is never ranked or charged above what it offered.
    ///
    /// # Errors
    /// A negative price ([`LossReason::InvalidBid`]), a rate that is NaN or outside
    /// `[0, 1]` ([`LossReason::InvalidRate`]), a multiplier that is non-finite, negative
    /// or above [`MAX_BID_MULTIPLIER`] ([`LossReason::InvalidMultiplier`]), or a result
    /// above [`MAX_ECPM`] ([`LossReason::InvalidBid`]).
    pub fn effective_ecpm(&self) -> Result<Cpm, LossReason> {
        effective_ecpm_micros(self).map(Cpm::from_micros)
    }
}

const PPB: i64 = 1_000_000_000;
const PPM: i64 = 1_000_000;

/// `price_micros × rate × 1000`, rate in parts per billion: `price × ppb / 10⁶`.
#[inline]
fn rate_ecpm(price: Money, rate: f64) -> Result<i64, LossReason> {
    let price = price.micros();
    if price < 0 {
        return Err(LossReason::InvalidBid);
    }
    // `!(0..=1).contains` is also true for NaN.
    if !(0.0..=1.0).contains(&rate) {
        return Err(LossReason::InvalidRate);
    }
    let ppb = round_non_negative(rate * PPB as f64);
    Ok(mul_div_floor(price, ppb, PPM))
}

/// Nearest integer (halves up) of a finite `x ≥ 0`; `f64::round` is a libm call on
/// baseline x86-64, this is one add and one truncating conversion.
#[inline]
fn round_non_negative(x: f64) -> i64 {
    (x + 0.5) as i64
}

/// `a × b / d` rounded toward zero for non-negative operands, i64 fast path, saturating.
#[inline]
fn mul_div_floor(a: i64, b: i64, d: i64) -> i64 {
    match a.checked_mul(b) {
        Some(p) => p / d,
        None => {
            let q = i128::from(a) * i128::from(b) / i128::from(d);
            i64::try_from(q).unwrap_or(i64::MAX)
        }
    }
}

#[inline]
pub(crate) fn effective_ecpm_micros(c: &Candidate) -> Result<i64, LossReason> {
    let base = match c.bid {
        Bid::Cpm(cpm) => {
            if cpm.micros() < 0 {
                return Err(LossReason::InvalidBid);
            }
            cpm.micros()
        }
        Bid::Cpc { per_click, ctr } => rate_ecpm(per_click, ctr)?,
        Bid::Cpa { per_action, rate } => rate_ecpm(per_action, rate)?,
    };
    let m = c.multiplier;
    let eff = if m == 1.0 {
        base
    } else {
        if !(0.0..=MAX_BID_MULTIPLIER).contains(&m) {
            return Err(LossReason::InvalidMultiplier);
        }
        let ppm = round_non_negative(m * PPM as f64);
        mul_div_floor(base, ppm, PPM)
    };
    if eff > MAX_ECPM.micros() {
        return Err(LossReason::InvalidBid);
    }
    Ok(eff)
}

/// A candidate's standing after validation and floors, in micros of CPM.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Eval {
    /// Effective eCPM (valid only when `reason` is `None`).
    pub(crate) ecpm: i64,
    /// The floor that applies to this candidate (opportunity floor, deal floor).
    pub(crate) floor: i64,
    /// The fixed deal price, or -1.
    pub(crate) fixed: i64,
    /// Why it cannot take part, if so.
    pub(crate) reason: Option<LossReason>,
}

impl Eval {
    #[inline]
    pub(crate) fn eligible(&self) -> bool {
        self.reason.is_none()
    }
}

/// Validates `c` against `floor_micros` (the opportunity's hard floor for it).
#[inline]
pub(crate) fn evaluate(c: &Candidate, floor_micros: i64) -> Eval {
    let mut e = Eval {
        ecpm: 0,
        floor: floor_micros,
        fixed: -1,
        reason: None,
    };
    match effective_ecpm_micros(c) {
        Err(r) => e.reason = Some(r),
        Ok(ecpm) => {
            e.ecpm = ecpm;
            let mut deal_floor = -1;
            if let Some(d) = &c.deal {
                let fixed = d.fixed_price.map_or(-1, Cpm::micros);
                // A fixed price below the deal's own floor is a contradictory deal.
                if d.floor.micros() < 0
                    || d.fixed_price.is_some_and(|p| p < d.floor || p > MAX_ECPM)
                {
                    e.reason = Some(LossReason::InvalidDeal);
                    return e;
                }
                e.fixed = fixed;
                deal_floor = d.floor.micros().max(fixed);
            }
            if ecpm < floor_micros || (e.fixed >= 0 && e.fixed < floor_micros) {
                e.reason = Some(LossReason::BelowFloor);
            } else if ecpm < deal_floor {
                e.reason = Some(LossReason::BelowDealFloor);
            }
            e.floor = floor_micros.max(deal_floor);
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(bid: Bid) -> Candidate {
        Candidate::new(0, CampaignId(1), CreativeId(1), AdvertiserId(1), bid)
    }

    #[test]
    fn ecpm_conversion_table() {
        let m = Money::from_micros;
        let cases: &[(Bid, f64, Result<i64, LossReason>)] = &[
            // 2.50 CPM as is.
            (Bid::Cpm(Cpm::from_micros(2_500_000)), 1.0, Ok(2_500_000)),
            // $0.80 per click × 1% CTR × 1000 = 8.00 CPM.
            (
                Bid::Cpc {
                    per_click: m(800_000),
                    ctr: 0.01,
                },
                1.0,
                Ok(8_000_000),
            ),
            // $40 per action × 0.0001 × 1000 = 4.00 CPM.
            (
                Bid::Cpa {
                    per_action: m(40_000_000),
                    rate: 0.0001,
                },
                1.0,
                Ok(4_000_000),
            ),
            // $1 per click × 1/3: rate → 333_333_333 ppb; 1_000_000 × 333_333_333 / 10⁶
            // = 333_333_333 micros (333.333333 CPM), rounded down from 333.3333333….
            (
                Bid::Cpc {
                    per_click: m(1_000_000),
                    ctr: 1.0 / 3.0,
                },
                1.0,
                Ok(333_333_333),
            ),
            // 3.00 CPM × 0.5 multiplier = 1.50.
            (Bid::Cpm(Cpm::from_micros(3_000_000)), 0.5, Ok(1_500_000)),
            // 0.000007 CPM (7 micros) × 0.5 = 3.5 → 3 micros (toward zero).
            (Bid::Cpm(Cpm::from_micros(7)), 0.5, Ok(3)),
            (
                Bid::Cpm(Cpm::from_micros(-1)),
                1.0,
                Err(LossReason::InvalidBid),
            ),
            (
                Bid::Cpc {
                    per_click: m(-5),
                    ctr: 0.5,
                },
                1.0,
                Err(LossReason::InvalidBid),
            ),
            (
                Bid::Cpc {
                    per_click: m(5),
                    ctr: f64::NAN,
                },
                1.0,
                Err(LossReason::InvalidRate),
            ),
            (
                Bid::Cpc {
                    per_click: m(5),
                    ctr: 1.5,
                },
                1.0,
                Err(LossReason::InvalidRate),
            ),
            (
                Bid::Cpa {
                    per_action: m(5),
                    rate: -0.1,
                },
                1.0,
                Err(LossReason::InvalidRate),
            ),
            (
                Bid::Cpm(Cpm::from_micros(5)),
                f64::NAN,
                Err(LossReason::InvalidMultiplier),
            ),
            (
                Bid::Cpm(Cpm::from_micros(5)),
                -1.0,
                Err(LossReason::InvalidMultiplier),
            ),
            (
                Bid::Cpm(Cpm::from_micros(5)),
                f64::INFINITY,
                Err(LossReason::InvalidMultiplier),
            ),
            (
                Bid::Cpm(Cpm::from_micros(MAX_ECPM.micros() + 1)),
                1.0,
                Err(LossReason::InvalidBid),
            ),
            // Huge per-click price × rate 1 overflows i64 in the product: i128 path, capped.
            (
                Bid::Cpc {
                    per_click: Money::MAX,
                    ctr: 1.0,
                },
                1.0,
                Err(LossReason::InvalidBid),
            ),
        ];
        for (bid, mult, want) in cases {
            let got = effective_ecpm_micros(&cand(*bid).with_multiplier(*mult));
            assert_eq!(&got, want, "{bid:?} × {mult}");
        }
    }

    #[test]
    fn deal_and_floor_evaluation() {
        let base = cand(Bid::Cpm(Cpm::from_micros(5_000_000)));
        let deal = |floor, fixed: Option<i64>| Deal {
            id: DealId(9),
            floor: Cpm::from_micros(floor),
            fixed_price: fixed.map(Cpm::from_micros),
        };
        // Bid 5.00 vs hard floor 6.00 → below floor.
        assert_eq!(
            evaluate(&base, 6_000_000).reason,
            Some(LossReason::BelowFloor)
        );
        // Deal floor 5.50 above the 5.00 bid.
        let e = evaluate(&base.with_deal(deal(5_500_000, None)), 1_000_000);
        assert_eq!(e.reason, Some(LossReason::BelowDealFloor));
        // Deal floor 4.00 raises the applicable floor from 1.00 to 4.00.
        let e = evaluate(&base.with_deal(deal(4_000_000, None)), 1_000_000);
        assert_eq!((e.reason, e.floor), (None, 4_000_000));
        // Fixed price 3.00 with bid 5.00: eligible, floor becomes 3.00.
        let e = evaluate(&base.with_deal(deal(0, Some(3_000_000))), 1_000_000);
        assert_eq!((e.reason, e.floor, e.fixed), (None, 3_000_000, 3_000_000));
        // Fixed price 6.00 above the 5.00 bid: the buyer did not accept the deal price.
        let e = evaluate(&base.with_deal(deal(0, Some(6_000_000))), 0);
        assert_eq!(e.reason, Some(LossReason::BelowDealFloor));
        // Fixed price 2.00 below the 3.00 hard floor cannot fill.
        let e = evaluate(&base.with_deal(deal(0, Some(2_000_000))), 3_000_000);
        assert_eq!(e.reason, Some(LossReason::BelowFloor));
        let e = evaluate(&base.with_deal(deal(-1, None)), 0);
        assert_eq!(e.reason, Some(LossReason::InvalidDeal));
        // Fixed price 2.00 under the deal's own 3.00 floor: contradictory.
        let e = evaluate(&base.with_deal(deal(3_000_000, Some(2_000_000))), 0);
        assert_eq!(e.reason, Some(LossReason::InvalidDeal));
    }

    #[test]
    fn categories_dedup_and_limit() {
        let c = Categories::new(&[3, 1, 3]).unwrap();
        assert_eq!(c.as_slice(), &[3, 1]);
        assert!(c.intersects(&Categories::new(&[7, 1]).unwrap()));
        assert!(!c.intersects(&Categories::EMPTY));
        assert!(matches!(
            Categories::new(&[1, 2, 3, 4, 5]),
            Err(Error::TooManyCategories { count: 5, limit: 4 })
        ));
        assert_eq!(
            AdvertiserDomain::from_domain("Ford.com"),
            AdvertiserDomain::from_domain("ford.COM")
        );
        assert_ne!(
            AdvertiserDomain::from_domain("ford.com"),
            AdvertiserDomain::from_domain("gm.com")
        );
    }
}
