//! Auction invariants on arbitrary candidates, configurations and opportunities.
//!
//! Eligibility is recomputed here from the documented rules, independently of the
//! crate. Then, for every call:
//! - the call fails exactly when the opportunity, configuration or key list is invalid;
//! - every candidate is either placed once or has one loss, in candidate order;
//! - no ineligible candidate places, and an eligible one never gets a "malformed" or
//!   "below floor" reason;
//! - every price lies in `[floor, effective bid]`, the effective bid is at most
//!   `bid × multiplier`, a fixed-price deal pays its price, first price pays the bid;
//! - single slot: the winner is a best eligible candidate and pays exactly the
//!   documented second price;
//! - ranked slots: the placed candidates are the top of the ranking, one per advertiser
//!   when the rule says so;
//! - pods: slots, seconds, accepted durations and every separation rule hold, and the
//!   pod's lexicographic value equals an exhaustive search's (up to 12 eligible ads);
//! - the same inputs and seed give the same outcome, also into a reused [`Outcome`].

use adloop_auction::Floors;
use adloop_auction::{
    AdvertiserDomain, Auction, AuctionConfig, Bid, Candidate, Categories, Deal, LossReason,
    MAX_BID_MULTIPLIER, MAX_ECPM, Opportunity, Outcome, PodPricing, PodSpec, PriceMode,
    RankedPricing, RankedSlots, SameAdvertiserRule, Separation, Tier, TierPolicy,
};
use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId, DealId, Money};
use arbitrary::{Result, Unstructured};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let _ = check(&mut Unstructured::new(data));
}

const CENT: i64 = 10_000;

fn money_micros(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0u8..=19)? {
        0 => u.arbitrary()?,
        1 => -CENT * i64::from(u.int_in_range(1u8..=50)?),
        2 => MAX_ECPM.micros() + i64::from(u.int_in_range(-2i8..=2)?),
        3 => i64::MAX,
        // Cents on a coarse grid so that equal bids (tie-breaks) are common.
        _ => CENT * 25 * i64::from(u.int_in_range(0u8..=40)?),
    })
}

fn rate(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=11)? {
        0 => f64::NAN,
        1 => -0.001,
        2 => 1.5,
        3 => u.arbitrary()?,
        4 => 1.0,
        5 => 0.0,
        _ => f64::from(u.int_in_range(1u16..=2000)?) / 10_000.0,
    })
}

fn multiplier(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => -0.5,
        3 => MAX_BID_MULTIPLIER,
        4 => MAX_BID_MULTIPLIER + 0.5,
        5 => u.arbitrary()?,
        6 => 0.0,
        7..=9 => f64::from(u.int_in_range(1u8..=40)?) / 8.0,
        _ => 1.0,
    })
}

fn tier(u: &mut Unstructured<'_>) -> Result<Tier> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => Tier(u.arbitrary()?),
        1 => Tier::HOUSE,
        2 => Tier::DEAL,
        3 => Tier::GUARANTEED,
        4 => Tier::SPONSORSHIP,
        _ => Tier::OPEN,
    })
}

fn duration(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => 0,
        1 => u.arbitrary()?,
        _ => *u.choose(&[5, 10, 15, 15, 30, 30, 45, 60])?,
    })
}

fn candidate(u: &mut Unstructured<'_>, key: u32) -> Result<Candidate> {
    let bid = match u.int_in_range(0u8..=5)? {
        0 => Bid::Cpc {
            per_click: Money::from_micros(money_micros(u)?),
            ctr: rate(u)?,
        },
        1 => Bid::Cpa {
            per_action: Money::from_micros(money_micros(u)?),
            rate: rate(u)?,
        },
        _ => Bid::Cpm(Cpm::from_micros(money_micros(u)?)),
    };
    let mut c = Candidate::new(
        key,
        CampaignId(u64::from(key)),
        CreativeId(u.int_in_range(0..=9)?),
        AdvertiserId(u.int_in_range(0..=5)?),
        bid,
    );
    c.tier = tier(u)?;
    c.multiplier = multiplier(u)?;
    if u.ratio(1u8, 4)? {
        c.deal = Some(Deal {
            id: DealId(u.int_in_range(0..=3)?),
            floor: Cpm::from_micros(money_micros(u)?),
            fixed_price: if u.arbitrary()? {
                Some(Cpm::from_micros(money_micros(u)?))
            } else {
                None
            },
        });
    }
    if u.arbitrary()? {
        c.domain = Some(AdvertiserDomain::new(u.int_in_range(0..=4)?));
    }
    let n = u.int_in_range(0..=4)?;
    let ids = (0..n)
        .map(|_| u.int_in_range(0u32..=6))
        .collect::<Result<Vec<_>>>()?;
    c.categories = Categories::new(&ids).expect("at most four ids");
    c.duration_s = duration(u)?;
    Ok(c)
}

fn floors(u: &mut Unstructured<'_>) -> Result<Floors> {
    let hard = Cpm::from_micros(if u.ratio(1u8, 3)? {
        0
    } else {
        money_micros(u)?
    });
    Ok(if u.ratio(1u8, 3)? {
        Floors::with_soft(hard, Cpm::from_micros(money_micros(u)?))
    } else {
        Floors::hard(hard)
    })
}

fn floors_valid(f: &Floors) -> bool {
    let max = MAX_ECPM.micros();
    (0..=max).contains(&f.hard.micros()) && f.soft.is_none_or(|s| s >= f.hard && s.micros() <= max)
}

/// What this check knows about one candidate before the auction runs.
#[derive(Clone, Copy, Debug)]
struct Expect {
    /// Effective eCPM in micros, when the bid is valid.
    ecpm: Option<i64>,
    /// The floor the price may not go below.
    floor: i64,
    /// The fixed deal price, if any.
    fixed: Option<i64>,
    /// Eligible to place at all.
    eligible: bool,
}

/// The eCPM in micros as a real number, after the documented rounding of the inputs
/// (predicted rate to the nearest 10⁻⁹, multiplier to the nearest 10⁻⁶) and before the
/// final rounding down.
fn documented_ecpm(c: &Candidate) -> f64 {
    let rounded_rate = |r: f64| (r * 1e9).round() / 1e9;
    let base = match c.bid {
        Bid::Cpm(cpm) => cpm.micros() as f64,
        Bid::Cpc { per_click, ctr } => per_click.micros() as f64 * rounded_rate(ctr) * 1000.0,
        Bid::Cpa { per_action, rate } => per_action.micros() as f64 * rounded_rate(rate) * 1000.0,
    };
    let m = if c.multiplier == 1.0 {
        1.0
    } else {
        (c.multiplier * 1e6).round() / 1e6
    };
    base * m
}

fn expect(c: &Candidate, hard: i64, pod: Option<&PodSpec<'_>>) -> Expect {
    let mut floor = hard;
    if let Some(spec) = pod {
        floor = floor.max(
            spec.floor_per_second
                .micros()
                .saturating_mul(i64::from(c.duration_s)),
        );
    }
    let ecpm = c.effective_ecpm().ok().map(Cpm::micros);
    if let Some(e) = ecpm {
        // Valid inputs only, and never above the offer (rounding: rate to 1e-9,
        // multiplier to 1e-6, then down).
        let price_ok = match c.bid {
            Bid::Cpm(p) => p.micros() >= 0,
            Bid::Cpc {
                per_click: p,
                ctr: r,
            }
            | Bid::Cpa {
                per_action: p,
                rate: r,
            } => p.micros() >= 0 && (0.0..=1.0).contains(&r),
        };
        assert!(price_ok, "{c:?}: invalid bid accepted");
        assert!(
            c.multiplier == 1.0 || (0.0..=MAX_BID_MULTIPLIER).contains(&c.multiplier),
            "{c:?}: invalid multiplier accepted"
        );
        assert!(
            (0..=MAX_ECPM.micros()).contains(&e),
            "{c:?}: eCPM {e} out of range"
        );
        let exact = documented_ecpm(c);
        // f64 error only, plus the two roundings down (eCPM, then × multiplier).
        let slack = exact.abs() * 1e-12 + 1.0;
        assert!(
            (e as f64) <= exact + slack,
            "{c:?}: eCPM {e} above bid × multiplier {exact}"
        );
        assert!(
            (e as f64) >= exact - slack - 1.0 - c.multiplier.max(1.0),
            "{c:?}: eCPM {e} far below bid × multiplier {exact}"
        );
    }
    let mut eligible = ecpm.is_some();
    let mut fixed = None;
    if let (Some(e), Some(d)) = (ecpm, &c.deal) {
        let f = d.fixed_price.map(Cpm::micros);
        let valid = d.floor.micros() >= 0
            && f.is_none_or(|f| f >= d.floor.micros() && f <= MAX_ECPM.micros());
        if valid {
            fixed = f;
            let deal_floor = d.floor.micros().max(f.unwrap_or(-1));
            eligible &= e >= deal_floor && f.is_none_or(|f| f >= floor);
            floor = floor.max(deal_floor);
        } else {
            eligible = false;
        }
    }
    if let Some(e) = ecpm {
        eligible &= e >= floor;
    }
    if let Some(spec) = pod {
        let d = c.duration_s;
        eligible &= d > 0
            && d <= spec.max_duration_s
            && (spec.required_durations_s.is_empty() || spec.required_durations_s.contains(&d));
    }
    Expect {
        ecpm,
        floor,
        fixed,
        eligible,
    }
}

fn is_static_reason(r: LossReason) -> bool {
    r.is_invalid_input() || matches!(r, LossReason::BelowFloor | LossReason::BelowDealFloor)
}

fn rank(strict: bool, c: &Candidate, x: &Expect) -> (u8, i64) {
    (if strict { c.tier.0 } else { 0 }, x.ecpm.unwrap_or(-1))
}

enum Kind {
    Single(Floors),
    Ranked(Vec<u32>, Floors),
    Pod {
        slots: u16,
        seconds: u32,
        durations: Vec<u32>,
        floors: Floors,
        per_second: Cpm,
        separation: Separation,
    },
}

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let config = AuctionConfig {
        mode: if u.ratio(1u8, 4)? {
            PriceMode::FirstPrice
        } else {
            PriceMode::SecondPrice
        },
        increment: Cpm::from_micros(match u.int_in_range(0u8..=5)? {
            0 => 0,
            1 => money_micros(u)?,
            _ => CENT,
        }),
        same_advertiser: if u.arbitrary()? {
            SameAdvertiserRule::Exclude
        } else {
            SameAdvertiserRule::Compete
        },
        ranked_pricing: if u.arbitrary()? {
            RankedPricing::Gsp
        } else {
            RankedPricing::Vcg
        },
        pod_pricing: if u.arbitrary()? {
            PodPricing::Gsp
        } else {
            PodPricing::Vcg
        },
        tiers: if u.ratio(1u8, 4)? {
            TierPolicy::PriceOnly
        } else {
            TierPolicy::Strict
        },
    };
    let kind = match u.int_in_range(0u8..=2)? {
        0 => Kind::Single(floors(u)?),
        1 => {
            let n = u.int_in_range(0..=6)?;
            let mut factors: Vec<u32> = Vec::with_capacity(n);
            let mut next = u.int_in_range(1u32..=1000)?;
            for _ in 0..n {
                factors.push(next);
                next = next.saturating_sub(u.int_in_range(0u32..=300)?);
            }
            if u.ratio(1u8, 10)? {
                factors.reverse();
            }
            Kind::Ranked(factors, floors(u)?)
        }
        _ => {
            let n = u.int_in_range(0..=3)?;
            Kind::Pod {
                slots: u.int_in_range(0u16..=17)?,
                seconds: *u.choose(&[0, 15, 30, 60, 90, 120, 600])?,
                durations: (0..n).map(|_| duration(u)).collect::<Result<_>>()?,
                floors: floors(u)?,
                per_second: Cpm::from_micros(if u.arbitrary()? {
                    0
                } else {
                    CENT * i64::from(u.int_in_range(0u8..=20)?)
                }),
                separation: Separation {
                    advertiser: u.arbitrary()?,
                    domain: u.arbitrary()?,
                    category: u.arbitrary()?,
                    creative: u.arbitrary()?,
                },
            }
        }
    };
    let n = u.int_in_range(0..=16)?;
    let mut candidates = Vec::with_capacity(n);
    for i in 0..n {
        let key = if u.ratio(1u8, 40)? {
            u.int_in_range(0..=3)?
        } else {
            i as u32 * 7 + 1
        };
        candidates.push(candidate(u, key)?);
    }
    let seed: u64 = u.arbitrary()?;

    let opportunity = match &kind {
        Kind::Single(f) => Opportunity::Single(*f),
        Kind::Ranked(factors, f) => Opportunity::Ranked(RankedSlots {
            factors,
            floors: *f,
        }),
        Kind::Pod {
            slots,
            seconds,
            durations,
            floors,
            per_second,
            separation,
        } => Opportunity::Pod(PodSpec {
            max_slots: *slots,
            max_duration_s: *seconds,
            required_durations_s: durations,
            floors: *floors,
            floor_per_second: *per_second,
            separation: *separation,
        }),
    };

    let auction = Auction::new(config);
    let increment_ok = (0..=MAX_ECPM.micros()).contains(&config.increment.micros());
    assert_eq!(
        auction.is_ok(),
        increment_ok,
        "config validation: {config:?}"
    );
    let Ok(auction) = auction else {
        return Ok(());
    };
    let result = auction.run(&opportunity, &candidates, seed);

    // Whether the call may fail.
    let mut keys: Vec<u32> = candidates.iter().map(|c| c.key).collect();
    keys.sort_unstable();
    let unique = keys.windows(2).all(|w| w[0] != w[1]);
    let (valid, hard, pod) = match &opportunity {
        Opportunity::Single(f) => (floors_valid(f), f.hard.micros(), None),
        Opportunity::Ranked(r) => {
            let ok = !r.factors.is_empty()
                && r.factors.len() <= adloop_auction::MAX_RANKED_SLOTS
                && r.factors.iter().all(|&a| a > 0)
                && r.factors.windows(2).all(|w| w[1] < w[0]);
            (ok && floors_valid(&r.floors), r.floors.hard.micros(), None)
        }
        Opportunity::Pod(p) => {
            let ok = (1..=adloop_auction::MAX_POD_SLOTS).contains(&usize::from(p.max_slots))
                && p.max_duration_s > 0
                && !p.required_durations_s.contains(&0)
                && (0..=MAX_ECPM.micros()).contains(&p.floor_per_second.micros());
            (
                ok && floors_valid(&p.floors),
                p.floors.hard.micros(),
                Some(p),
            )
        }
        _ => unreachable!("only the three kinds are built"),
    };
    let strict = config.tiers == TierPolicy::Strict;
    let expects: Vec<Expect> = candidates.iter().map(|c| expect(c, hard, pod)).collect();
    let outcome = match result {
        Ok(o) => {
            assert!(
                valid && unique,
                "invalid input accepted: {opportunity:?} keys {keys:?}"
            );
            o
        }
        Err(adloop_auction::Error::TooManyTiers { .. }) if pod.is_some() => {
            let mut tiers: Vec<u8> = candidates
                .iter()
                .zip(&expects)
                .filter(|(_, x)| x.eligible)
                .map(|(c, _)| if strict { c.tier.0 } else { 0 })
                .collect();
            tiers.sort_unstable();
            tiers.dedup();
            assert!(tiers.len() > 8, "TooManyTiers with {} tiers", tiers.len());
            return Ok(());
        }
        Err(err) => {
            assert!(
                !(valid && unique),
                "valid input rejected: {err} ({opportunity:?})"
            );
            return Ok(());
        }
    };

    // Determinism, also into a reused outcome whose buffers an auction of more
    // candidates than their inline capacities (up to 64) grew and left holding stale data.
    let mut reused = Outcome::new();
    if !candidates.is_empty() {
        let big: Vec<Candidate> = (0..80)
            .map(|j| {
                let mut c = candidates[j % candidates.len()];
                c.key = 1_000 + j as u32;
                c
            })
            .collect();
        let _ = auction.run_into(&opportunity, &big, seed ^ 2, &mut reused);
    }
    let other = Opportunity::Single(Floors::NONE);
    let _ = auction.run_into(
        &other,
        &candidates[..candidates.len() / 2],
        seed ^ 1,
        &mut reused,
    );
    auction
        .run_into(&opportunity, &candidates, seed, &mut reused)
        .expect("same input, same result");
    assert_eq!(reused, outcome, "not deterministic");

    // Every candidate placed once or lost once, losses in candidate order.
    let mut seen = vec![0u8; candidates.len()];
    let index_of = |key: u32| {
        candidates
            .iter()
            .position(|c| c.key == key)
            .expect("known key")
    };
    for p in outcome.placements() {
        seen[index_of(p.key)] += 1;
    }
    let mut last = None;
    for l in outcome.losses() {
        let i = index_of(l.key);
        seen[i] += 1;
        assert!(last.is_none_or(|j| j < i), "losses out of candidate order");
        last = Some(i);
    }
    assert!(
        seen.iter().all(|&s| s == 1),
        "placed-or-lost counts {seen:?}"
    );

    for (c, x) in candidates.iter().zip(&expects) {
        match outcome.loss_reason(c.key) {
            Some(r) if x.eligible => {
                assert!(!is_static_reason(r), "eligible {c:?} lost as {r:?} ({x:?})");
            }
            Some(r) => {
                let dynamic_ok = pod.is_some() && r == LossReason::DurationDoesNotFit;
                assert!(
                    is_static_reason(r) || dynamic_ok,
                    "ineligible {c:?} lost as {r:?} ({x:?})"
                );
            }
            None => assert!(x.eligible, "ineligible {c:?} placed ({x:?})"),
        }
    }

    for p in outcome.placements() {
        let i = index_of(p.key);
        let (c, x) = (&candidates[i], &expects[i]);
        let ecpm = x.ecpm.expect("placed means valid");
        assert_eq!(p.bid.micros(), ecpm, "{c:?}: placement bid");
        assert_eq!(p.tier, c.tier);
        let price = p.price.micros();
        assert!(price <= ecpm, "{c:?}: price {price} above bid {ecpm}");
        assert!(
            price >= x.floor,
            "{c:?}: price {price} below floor {}",
            x.floor
        );
        assert_eq!(p.price_per_impression, p.price.per_impression());
        if let Some(f) = x.fixed {
            assert_eq!(price, f, "{c:?}: fixed-price deal");
        } else if config.mode == PriceMode::FirstPrice {
            assert_eq!(price, ecpm, "{c:?}: first price");
        }
    }

    let eligible: Vec<usize> = (0..candidates.len())
        .filter(|&i| expects[i].eligible)
        .collect();
    match &opportunity {
        Opportunity::Single(f) => single(&config, f, &candidates, &expects, &eligible, &outcome),
        Opportunity::Ranked(r) => ranked(&config, r, &candidates, &expects, &eligible, &outcome),
        Opportunity::Pod(p) => pod_checks(&config, p, &candidates, &expects, &eligible, &outcome),
        _ => {}
    }
    Ok(())
}

fn single(
    config: &AuctionConfig,
    floors: &Floors,
    candidates: &[Candidate],
    expects: &[Expect],
    eligible: &[usize],
    outcome: &Outcome,
) {
    let strict = config.tiers == TierPolicy::Strict;
    let placements = outcome.placements();
    if eligible.is_empty() {
        assert!(placements.is_empty(), "a winner with no eligible candidate");
        return;
    }
    assert_eq!(
        placements.len(),
        1,
        "one slot, eligible candidates, no single winner"
    );
    let p = placements[0];
    assert_eq!(p.slot, 0);
    let w = eligible
        .iter()
        .copied()
        .find(|&i| candidates[i].key == p.key)
        .expect("winner is eligible");
    let best = eligible
        .iter()
        .map(|&i| rank(strict, &candidates[i], &expects[i]))
        .max()
        .expect("non-empty");
    let wr = rank(strict, &candidates[w], &expects[w]);
    assert_eq!(wr, best, "winner is not a best candidate");

    // The documented price.
    let (wc, wx) = (&candidates[w], &expects[w]);
    let ecpm = wx.ecpm.expect("eligible");
    let exclude = config.same_advertiser == SameAdvertiserRule::Exclude;
    let competitor = eligible
        .iter()
        .filter(|&&i| i != w)
        .filter(|&&i| rank(strict, &candidates[i], &expects[i]).0 == wr.0)
        .filter(|&&i| !(exclude && candidates[i].advertiser == wc.advertiser))
        .map(|&i| expects[i].ecpm.expect("eligible"))
        .max()
        .unwrap_or(0);
    let want = if let Some(f) = wx.fixed {
        f
    } else if config.mode == PriceMode::FirstPrice {
        ecpm
    } else {
        match floors.soft.map(Cpm::micros) {
            Some(s) if ecpm < s => ecpm,
            soft => competitor
                .max(wx.floor)
                .max(soft.unwrap_or(0))
                .saturating_add(config.increment.micros())
                .min(ecpm),
        }
    };
    assert_eq!(
        p.price.micros(),
        want,
        "second price of {wc:?} (competitor {competitor})"
    );
}

fn ranked(
    config: &AuctionConfig,
    slots: &RankedSlots<'_>,
    candidates: &[Candidate],
    expects: &[Expect],
    eligible: &[usize],
    outcome: &Outcome,
) {
    let strict = config.tiers == TierPolicy::Strict;
    let exclude = config.same_advertiser == SameAdvertiserRule::Exclude;
    let placements = outcome.placements();
    let mut advertisers: Vec<u64> = eligible
        .iter()
        .map(|&i| candidates[i].advertiser.0)
        .collect();
    advertisers.sort_unstable();
    advertisers.dedup();
    let fillable = if exclude {
        advertisers.len()
    } else {
        eligible.len()
    };
    assert_eq!(
        placements.len(),
        fillable.min(slots.factors.len()),
        "ranked fill count"
    );
    let mut prev: Option<(u8, i64)> = None;
    for (k, p) in placements.iter().enumerate() {
        assert_eq!(usize::from(p.slot), k, "ranked slots in order");
        let i = candidates
            .iter()
            .position(|c| c.key == p.key)
            .expect("known");
        let r = rank(strict, &candidates[i], &expects[i]);
        assert!(
            prev.is_none_or(|q| q >= r),
            "ranked placements out of rank order"
        );
        prev = Some(r);
        if exclude {
            let same = placements[..k]
                .iter()
                .filter(|q| {
                    let j = candidates
                        .iter()
                        .position(|c| c.key == q.key)
                        .expect("known");
                    candidates[j].advertiser == candidates[i].advertiser
                })
                .count();
            assert_eq!(same, 0, "two slots for one advertiser");
        }
    }
    // Nothing unplaced ranks above the last placed (unless excluded by advertiser).
    if let (Some(last), true) = (prev, placements.len() == slots.factors.len()) {
        for &i in eligible {
            let c = &candidates[i];
            if outcome.placement(c.key).is_none()
                && outcome.loss_reason(c.key) != Some(LossReason::SameAdvertiser)
            {
                assert!(
                    rank(strict, c, &expects[i]) <= last,
                    "{c:?} outranks a placement"
                );
            }
        }
    }
}

/// The pod-value score of a set of candidates: per tier (highest first), the sum of
/// `32 · eCPM + 1`.
fn score(strict: bool, set: &[usize], candidates: &[Candidate], expects: &[Expect]) -> Vec<i128> {
    let mut tiers: Vec<(u8, i128)> = Vec::new();
    for &i in set {
        let t = if strict { candidates[i].tier.0 } else { 0 };
        let v = 32 * i128::from(expects[i].ecpm.expect("eligible")) + 1;
        match tiers.iter_mut().find(|(x, _)| *x == t) {
            Some((_, s)) => *s += v,
            None => tiers.push((t, v)),
        }
    }
    let mut full = vec![0i128; 256];
    for (t, s) in tiers {
        full[255 - usize::from(t)] = s;
    }
    full
}

fn conflict(sep: &Separation, a: &Candidate, b: &Candidate) -> bool {
    (sep.advertiser && a.advertiser == b.advertiser)
        || (sep.domain && a.domain.is_some() && a.domain == b.domain)
        || (sep.category && a.categories.intersects(&b.categories))
        || (sep.creative && a.creative == b.creative)
}

fn feasible(spec: &PodSpec<'_>, set: &[usize], candidates: &[Candidate]) -> bool {
    if set.len() > usize::from(spec.max_slots) {
        return false;
    }
    let seconds: u64 = set
        .iter()
        .map(|&i| u64::from(candidates[i].duration_s))
        .sum();
    if seconds > u64::from(spec.max_duration_s) {
        return false;
    }
    for (k, &i) in set.iter().enumerate() {
        for &j in &set[k + 1..] {
            if conflict(&spec.separation, &candidates[i], &candidates[j]) {
                return false;
            }
        }
    }
    true
}

fn pod_checks(
    config: &AuctionConfig,
    spec: &PodSpec<'_>,
    candidates: &[Candidate],
    expects: &[Expect],
    eligible: &[usize],
    outcome: &Outcome,
) {
    let strict = config.tiers == TierPolicy::Strict;
    let chosen: Vec<usize> = outcome
        .placements()
        .iter()
        .map(|p| {
            candidates
                .iter()
                .position(|c| c.key == p.key)
                .expect("known")
        })
        .collect();
    for (k, p) in outcome.placements().iter().enumerate() {
        assert_eq!(usize::from(p.slot), k, "pod slots in order");
        assert_eq!(p.duration_s, candidates[chosen[k]].duration_s);
    }
    assert!(
        feasible(spec, &chosen, candidates),
        "pod breaks its slot, duration or separation rules: {chosen:?}"
    );
    let ranks: Vec<(u8, i64)> = chosen
        .iter()
        .map(|&i| rank(strict, &candidates[i], &expects[i]))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "pod not in rank order"
    );
    if eligible.len() <= 12 {
        let got = score(strict, &chosen, candidates, expects);
        let mut best = score(strict, &[], candidates, expects);
        let mut set = Vec::with_capacity(16);
        for mask in 0u32..(1 << eligible.len()) {
            set.clear();
            set.extend(
                (0..eligible.len())
                    .filter(|b| mask >> b & 1 == 1)
                    .map(|b| eligible[b]),
            );
            if feasible(spec, &set, candidates) {
                let s = score(strict, &set, candidates, expects);
                if s > best {
                    best = s;
                }
            }
        }
        assert_eq!(got, best, "pod {chosen:?} is not optimal");
    }
}
