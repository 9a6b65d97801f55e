//! Public-API tests of adloop-auction: plain reference implementations compared with the
//! fast paths (sort-based single slot, formula-by-formula ranked pricing, exhaustive pod
//! search), property invariants, truthfulness, determinism, and an allocation count.

use adloop_auction::{
    AdvertiserDomain, Auction, AuctionConfig, Bid, Candidate, Categories, Deal, Floors, LossReason,
    Outcome, PodPricing, PodSpec, PriceMode, RankedPricing, RankedSlots, SameAdvertiserRule,
    Separation, Tier, TierPolicy,
};
use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId, DealId};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

// ---------------------------------------------------------------------------------------
// Allocation counting (per thread, so parallel tests do not disturb each other).

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------------------------------
// Generators.

fn cents(c: i64) -> Cpm {
    Cpm::from_micros(c * 10_000)
}

#[derive(Clone, Copy, Debug)]
struct Gen {
    adv: u64,
    tier: u8,
    bid_cents: i64,
    mult: u8,
    deal_floor: Option<i64>,
    fixed: Option<i64>,
    cats: u8,
    domain: Option<u64>,
    dur: u32,
    creative: u64,
    cpc: bool,
}

fn gen_candidate() -> impl Strategy<Value = Gen> {
    (
        (0u64..5, 0u8..3, -20i64..2_000, 0u8..4),
        (
            prop::option::weighted(0.15, 0i64..1_500),
            prop::option::weighted(0.1, 0i64..1_500),
        ),
        (
            0u8..32,
            prop::option::weighted(0.5, 0u64..3),
            prop::sample::select(vec![0u32, 10, 15, 30, 45, 60]),
        ),
        (0u64..8, prop::bool::weighted(0.2)),
    )
        .prop_map(
            |(
                (adv, tier, bid_cents, mult),
                (deal_floor, fixed),
                (cats, domain, dur),
                (creative, cpc),
            )| Gen {
                adv,
                tier,
                bid_cents,
                mult,
                deal_floor,
                fixed,
                cats,
                domain,
                dur,
                creative,
                cpc,
            },
        )
}

fn build(gens: &[Gen]) -> Vec<Candidate> {
    gens.iter()
        .enumerate()
        .map(|(i, g)| {
            let bid = if g.cpc {
                // per click = bid × 50 at a 2% CTR: the same eCPM, through the CPC path.
                Bid::Cpc {
                    per_click: cents(g.bid_cents * 50).amount().checked_div(1000).unwrap(),
                    ctr: 0.02,
                }
            } else {
                Bid::Cpm(cents(g.bid_cents))
            };
            let ids: Vec<u32> = (0..5).filter(|b| g.cats >> b & 1 == 1).take(4).collect();
            let mut c = Candidate::new(
                i as u32,
                CampaignId(i as u64),
                CreativeId(g.creative),
                AdvertiserId(g.adv),
                bid,
            )
            .with_tier([Tier::OPEN, Tier::DEAL, Tier::GUARANTEED][usize::from(g.tier)])
            .with_multiplier([1.0, 0.5, 1.25, 0.9][usize::from(g.mult)])
            .with_categories(Categories::new(&ids).unwrap())
            .with_duration_s(g.dur);
            if let Some(d) = g.domain {
                c = c.with_domain(AdvertiserDomain::new(d));
            }
            if g.deal_floor.is_some() || g.fixed.is_some() {
                c = c.with_deal(Deal {
                    id: DealId(i as u64),
                    floor: cents(g.deal_floor.unwrap_or(0)),
                    fixed_price: g.fixed.map(cents),
                });
            }
            c
        })
        .collect()
}

fn gen_config() -> impl Strategy<Value = AuctionConfig> {
    (
        0u8..2,
        0i64..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(mode, inc, compete, vcg_ranked, vcg_pod, price_only)| AuctionConfig {
                mode: if mode == 0 {
                    PriceMode::SecondPrice
                } else {
                    PriceMode::FirstPrice
                },
                increment: cents(inc),
                same_advertiser: if compete {
                    SameAdvertiserRule::Compete
                } else {
                    SameAdvertiserRule::Exclude
                },
                ranked_pricing: if vcg_ranked {
                    RankedPricing::Vcg
                } else {
                    RankedPricing::Gsp
                },
                pod_pricing: if vcg_pod {
                    PodPricing::Vcg
                } else {
                    PodPricing::Gsp
                },
                tiers: if price_only {
                    TierPolicy::PriceOnly
                } else {
                    TierPolicy::Strict
                },
            },
        )
}

fn gen_floors() -> impl Strategy<Value = Floors> {
    (0i64..600, prop::option::weighted(0.3, 0i64..600)).prop_map(|(hard, soft)| Floors {
        hard: cents(hard),
        soft: soft.map(|s| cents(hard + s)),
    })
}

// ---------------------------------------------------------------------------------------
// Plain reference rules.

/// The floor that applies to `c` and whether it can take part, written out plainly.
fn reference_eligibility(c: &Candidate, hard: i64) -> Option<(i64, i64, Option<i64>)> {
    let ecpm = c.effective_ecpm().ok()?.micros();
    let mut floor = hard;
    let mut fixed = None;
    if let Some(d) = c.deal {
        if d.floor.micros() < 0 {
            return None;
        }
        floor = floor.max(d.floor.micros());
        if let Some(p) = d.fixed_price {
            if p < d.floor || p.micros() < hard {
                return None;
            }
            floor = floor.max(p.micros());
            fixed = Some(p.micros());
        }
    }
    (ecpm >= floor).then_some((ecpm, floor, fixed))
}

fn tier_of(config: &AuctionConfig, c: &Candidate) -> u8 {
    if config.tiers == TierPolicy::Strict {
        c.tier.0
    } else {
        0
    }
}

fn reference_price(
    config: &AuctionConfig,
    soft: Option<i64>,
    ecpm: i64,
    floor: i64,
    fixed: Option<i64>,
    competitor: i64,
    inc: i64,
) -> i64 {
    if let Some(f) = fixed {
        return f;
    }
    if config.mode == PriceMode::FirstPrice {
        return ecpm;
    }
    match soft {
        Some(s) if ecpm < s => ecpm,
        Some(s) => (competitor.max(floor).max(s) + inc).min(ecpm),
        None => (competitor.max(floor) + inc).min(ecpm),
    }
}

/// Pod score, as documented: per tier (highest first) Σ 32·eCPM + 1.
fn pod_score(config: &AuctionConfig, cands: &[Candidate], set: &[usize], tiers: &[u8]) -> Vec<i64> {
    let mut s = vec![0i64; tiers.len()];
    for &i in set {
        let t = tiers
            .iter()
            .position(|&t| t == tier_of(config, &cands[i]))
            .unwrap();
        s[t] += 32 * cands[i].effective_ecpm().unwrap().micros() + 1;
    }
    s
}

fn separated(sep: &Separation, a: &Candidate, b: &Candidate) -> bool {
    !((sep.advertiser && a.advertiser == b.advertiser)
        || (sep.domain && a.domain.is_some() && a.domain == b.domain)
        || (sep.creative && a.creative == b.creative)
        || (sep.category && a.categories.intersects(&b.categories)))
}

fn pod_eligible(spec: &PodSpec<'_>, c: &Candidate) -> bool {
    c.duration_s > 0
        && c.duration_s <= spec.max_duration_s
        && (spec.required_durations_s.is_empty()
            || spec.required_durations_s.contains(&c.duration_s))
        && reference_eligibility(
            c,
            spec.floors
                .hard
                .micros()
                .max(spec.floor_per_second.micros() * i64::from(c.duration_s)),
        )
        .is_some()
}

/// Exhaustive search: the best score over every allowed subset.
fn exhaustive_pod(config: &AuctionConfig, spec: &PodSpec<'_>, cands: &[Candidate]) -> Vec<i64> {
    let mut tiers: Vec<u8> = cands
        .iter()
        .filter(|c| pod_eligible(spec, c))
        .map(|c| tier_of(config, c))
        .collect();
    tiers.sort_unstable_by(|a, b| b.cmp(a));
    tiers.dedup();
    exhaustive_pod_scored(config, spec, cands, &tiers)
}

/// Exhaustive search scored against a given tier list (highest first).
fn exhaustive_pod_scored(
    config: &AuctionConfig,
    spec: &PodSpec<'_>,
    cands: &[Candidate],
    tiers: &[u8],
) -> Vec<i64> {
    let eligible: Vec<usize> = (0..cands.len())
        .filter(|&i| pod_eligible(spec, &cands[i]))
        .collect();
    let mut best = vec![0i64; tiers.len()];
    for mask in 0u32..(1 << eligible.len()) {
        let set: Vec<usize> = (0..eligible.len())
            .filter(|b| mask >> b & 1 == 1)
            .map(|b| eligible[b])
            .collect();
        if set.len() > usize::from(spec.max_slots) {
            continue;
        }
        if set.iter().map(|&i| cands[i].duration_s).sum::<u32>() > spec.max_duration_s {
            continue;
        }
        let ok = set.iter().enumerate().all(|(x, &i)| {
            set[x + 1..]
                .iter()
                .all(|&j| separated(&spec.separation, &cands[i], &cands[j]))
        });
        if ok {
            best = best.max(pod_score(config, cands, &set, tiers));
        }
    }
    best
}

// ---------------------------------------------------------------------------------------
// Single slot.

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn single_slot_matches_reference_and_invariants(
        gens in prop::collection::vec(gen_candidate(), 0..12),
        config in gen_config(),
        floors in gen_floors(),
        seed in any::<u64>(),
    ) {
        let cands = build(&gens);
        let auction = Auction::new(config).unwrap();
        let mut out = Outcome::new();
        auction.run_single(&floors, &cands, seed, &mut out).unwrap();
        let hard = floors.hard.micros();
        let soft = floors.soft.map(|s| s.micros());

        // Every candidate is accounted for exactly once.
        prop_assert_eq!(out.placements().len() + out.losses().len(), cands.len());
        prop_assert!(out.placements().len() <= 1);

        let eligible: Vec<usize> = (0..cands.len()).filter(|&i| reference_eligibility(&cands[i], hard).is_some()).collect();
        match out.winner() {
            None => prop_assert!(eligible.is_empty()),
            Some(w) => {
                let wi = w.key as usize;
                let (ecpm, floor, fixed) = reference_eligibility(&cands[wi], hard).unwrap();
                let wt = tier_of(&config, &cands[wi]);
                // Sort-based reference: the top (tier, eCPM) pair.
                let mut ranked: Vec<(u8, i64)> = eligible.iter().map(|&i| (tier_of(&config, &cands[i]), cands[i].effective_ecpm().unwrap().micros())).collect();
                ranked.sort_unstable_by(|a, b| b.cmp(a));
                prop_assert_eq!((wt, ecpm), ranked[0], "winner is a top candidate");
                // Higher tiers always win; winner's eCPM ≥ every same-tier loser's.
                for &i in &eligible {
                    let t = tier_of(&config, &cands[i]);
                    prop_assert!(t <= wt);
                    if t == wt { prop_assert!(cands[i].effective_ecpm().unwrap().micros() <= ecpm); }
                }
                let competitor = eligible.iter().filter(|&&i| i != wi && tier_of(&config, &cands[i]) == wt
                    && !(config.same_advertiser == SameAdvertiserRule::Exclude && cands[i].advertiser == cands[wi].advertiser))
                    .map(|&i| cands[i].effective_ecpm().unwrap().micros()).max().unwrap_or(0);
                let want = reference_price(&config, soft, ecpm, floor, fixed, competitor, config.increment.micros());
                prop_assert_eq!(w.price.micros(), want);
                prop_assert!(w.price.micros() <= ecpm, "price ≤ bid × multiplier");
                prop_assert!(w.price.micros() >= floor && w.price.micros() >= hard, "price ≥ floor");
                prop_assert_eq!(w.bid.micros(), ecpm);
                prop_assert_eq!(w.price_per_impression, w.price.per_impression());
            }
        }
        // Loss reasons agree with the reference eligibility.
        for l in out.losses() {
            let c = &cands[l.key as usize];
            let eligible = reference_eligibility(c, hard).is_some();
            prop_assert_eq!(eligible, !matches!(l.reason,
                LossReason::InvalidBid | LossReason::InvalidRate | LossReason::InvalidMultiplier
                | LossReason::InvalidDeal | LossReason::BelowFloor | LossReason::BelowDealFloor), "{:?}", l);
        }
        // Determinism.
        let again = auction.run(&adloop_auction::Opportunity::Single(floors), &cands, seed).unwrap();
        prop_assert_eq!(&out, &again);
    }

    /// Second price with a hard floor: on random instances, no other bid by any bidder
    /// raises its utility (value − price when it wins, 0 otherwise). With a positive
    /// increment the auction is truthful up to the increment: bidding exactly a rival's
    /// bid and winning the tie saves at most the increment.
    #[test]
    fn single_slot_second_price_is_truthful(
        values in prop::collection::vec(0i64..1_000, 1..8),
        floor in 0i64..300,
        inc in 0i64..3,
        bidder in any::<prop::sample::Index>(),
        deviations in prop::collection::vec(0i64..1_200, 1..6),
        seed in any::<u64>(),
    ) {
        let auction = Auction::new(AuctionConfig { increment: cents(inc), ..AuctionConfig::default() }).unwrap();
        let floors = Floors::hard(cents(floor));
        let i = bidder.index(values.len());
        let make = |own: i64| -> Vec<Candidate> {
            values.iter().enumerate().map(|(k, &v)| {
                let bid = if k == i { own } else { v };
                Candidate::new(k as u32, CampaignId(k as u64), CreativeId(k as u64), AdvertiserId(k as u64), Bid::Cpm(cents(bid)))
            }).collect()
        };
        let utility = |own: i64| -> i64 {
            let out = auction.run(&adloop_auction::Opportunity::Single(floors), &make(own), seed).unwrap();
            match out.winner() {
                Some(w) if w.key as usize == i => cents(values[i]).micros() - w.price.micros(),
                _ => 0,
            }
        };
        let truthful = utility(values[i]);
        prop_assert!(truthful >= 0);
        let mut others: Vec<i64> = deviations.clone();
        others.extend(values.iter().flat_map(|&v| [v - 1, v, v + 1]).filter(|&v| v >= 0));
        for b in others {
            prop_assert!(utility(b) <= truthful + cents(inc).micros(), "bid {} beats truthful {}", b, values[i]);
            if inc == 0 {
                prop_assert!(utility(b) <= truthful, "bid {} beats truthful {}", b, values[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Ranked slots.

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn ranked_matches_formulas(
        gens in prop::collection::vec(gen_candidate(), 0..12),
        config in gen_config(),
        floors in gen_floors(),
        slot_count in 1usize..5,
        seed in any::<u64>(),
    ) {
        let cands = build(&gens);
        let hard = floors.hard.micros();
        let soft = floors.soft.map(|s| s.micros());
        let factors: Vec<u32> = (0..slot_count as u32).map(|k| 1000 - 150 * k).collect();
        // Keep instances tie-free so the ranking is unique.
        let mut seen = std::collections::HashSet::new();
        for c in &cands {
            if reference_eligibility(c, hard).is_some() {
                prop_assume!(seen.insert((tier_of(&config, c), c.effective_ecpm().unwrap())));
            }
        }
        let auction = Auction::new(config).unwrap();
        let mut out = Outcome::new();
        auction.run_ranked(&RankedSlots { factors: &factors, floors }, &cands, seed, &mut out).unwrap();
        prop_assert_eq!(out.placements().len() + out.losses().len(), cands.len());

        // Reference: rank, dedup advertisers, price by formula.
        let mut ranked: Vec<usize> = (0..cands.len()).filter(|&i| reference_eligibility(&cands[i], hard).is_some()).collect();
        ranked.sort_by_key(|&i| std::cmp::Reverse((tier_of(&config, &cands[i]), cands[i].effective_ecpm().unwrap())));
        let mut kept: Vec<usize> = Vec::new();
        for i in ranked {
            if config.same_advertiser == SameAdvertiserRule::Exclude && kept.iter().any(|&k| cands[k].advertiser == cands[i].advertiser) {
                continue;
            }
            kept.push(i);
        }
        let v = |j: usize, k: usize| -> i128 {
            kept.get(j).filter(|&&i| tier_of(&config, &cands[i]) == tier_of(&config, &cands[kept[k]]))
                .map_or(0, |&i| i128::from(cands[i].effective_ecpm().unwrap().micros()))
        };
        let placed = kept.len().min(slot_count);
        prop_assert_eq!(out.placements().len(), placed);
        for (k, p) in out.placements().iter().enumerate() {
            prop_assert_eq!(p.key as usize, kept[k]);
            let (ecpm, floor, fixed) = reference_eligibility(&cands[kept[k]], hard).unwrap();
            let want = match config.ranked_pricing {
                RankedPricing::Gsp => reference_price(&config, soft, ecpm, floor, fixed, v(k + 1, k) as i64, config.increment.micros()),
                _ => {
                    let mut total = 0i128;
                    for j in k..slot_count {
                        let next = factors.get(j + 1).copied().unwrap_or(0);
                        total += i128::from(factors[j] - next) * v(j + 1, k);
                    }
                    reference_price(&config, soft, ecpm, floor, fixed, (total / i128::from(factors[k])) as i64, 0)
                }
            };
            prop_assert_eq!(p.price.micros(), want, "slot {}", k);
            prop_assert!(p.price.micros() <= ecpm && p.price.micros() >= floor);
        }
        // Higher tiers always win: no placed candidate has a lower tier than a loser
        // that could have taken its place.
        if placed == slot_count {
            let lowest = out.placements().iter().map(|p| tier_of(&config, &cands[p.key as usize])).min().unwrap();
            for l in out.losses() {
                if reference_eligibility(&cands[l.key as usize], hard).is_some() && l.reason != LossReason::SameAdvertiser {
                    prop_assert!(tier_of(&config, &cands[l.key as usize]) <= lowest);
                }
            }
        }
        let again = auction.run(&adloop_auction::Opportunity::Ranked(RankedSlots { factors: &factors, floors }), &cands, seed).unwrap();
        prop_assert_eq!(&out, &again);
    }
}

// ---------------------------------------------------------------------------------------
// Pods.

fn gen_pod() -> impl Strategy<Value = (u16, u32, Vec<u32>, Floors, i64, Separation)> {
    (
        1u16..5,
        prop::sample::select(vec![30u32, 45, 60, 90, 120]),
        prop::option::weighted(
            0.3,
            prop::sample::subsequence(vec![10u32, 15, 30, 45, 60], 1..4),
        ),
        gen_floors(),
        prop::option::weighted(0.3, 0i64..20),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|(slots, dur, req, floors, fps, (a, d, cat, cr))| {
            (
                slots,
                dur,
                req.unwrap_or_default(),
                floors,
                fps.unwrap_or(0),
                Separation {
                    advertiser: a,
                    domain: d,
                    category: cat,
                    creative: cr,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn pod_is_optimal_and_respects_constraints(
        gens in prop::collection::vec(gen_candidate(), 0..10),
        config in gen_config(),
        (slots, dur, req, floors, fps, sep) in gen_pod(),
        seed in any::<u64>(),
    ) {
        let cands = build(&gens);
        let spec = PodSpec {
            max_slots: slots,
            max_duration_s: dur,
            required_durations_s: &req,
            floors,
            floor_per_second: cents(fps),
            separation: sep,
        };
        let auction = Auction::new(config).unwrap();
        let mut out = Outcome::new();
        auction.run_pod(&spec, &cands, seed, &mut out).unwrap();
        prop_assert_eq!(out.placements().len() + out.losses().len(), cands.len());
        prop_assert!(!out.truncated(), "up to 12 eligible ads are searched in full");

        // Constraints.
        let set: Vec<usize> = out.placements().iter().map(|p| p.key as usize).collect();
        prop_assert!(set.len() <= usize::from(slots));
        prop_assert!(set.iter().map(|&i| cands[i].duration_s).sum::<u32>() <= dur);
        for (x, &i) in set.iter().enumerate() {
            prop_assert!(pod_eligible(&spec, &cands[i]));
            for &j in &set[x + 1..] {
                prop_assert!(separated(&sep, &cands[i], &cands[j]), "{} and {} share a pod", i, j);
            }
        }
        // Optimality against exhaustive search.
        let eligible: Vec<usize> = (0..cands.len()).filter(|&i| pod_eligible(&spec, &cands[i])).collect();
        let mut tiers: Vec<u8> = eligible.iter().map(|&i| tier_of(&config, &cands[i])).collect();
        tiers.sort_unstable_by(|a, b| b.cmp(a));
        tiers.dedup();
        prop_assert_eq!(pod_score(&config, &cands, &set, &tiers), exhaustive_pod(&config, &spec, &cands));

        // Prices: within [floor, bid]; rank order.
        for (k, p) in out.placements().iter().enumerate() {
            let c = &cands[p.key as usize];
            let floor_here = spec.floors.hard.micros().max(spec.floor_per_second.micros() * i64::from(c.duration_s));
            let (ecpm, floor, _) = reference_eligibility(c, floor_here).unwrap();
            prop_assert_eq!(usize::from(p.slot), k);
            prop_assert!(p.price.micros() <= ecpm, "price ≤ bid");
            prop_assert!(p.price.micros() >= floor, "price ≥ floor");
            if k > 0 {
                let prev = &out.placements()[k - 1];
                prop_assert!((tier_of(&config, &cands[prev.key as usize]), prev.bid) >= (tier_of(&config, c), p.bid));
            }
        }
        // Pricing against the documented rules.
        let soft = spec.floors.soft.map(|s| s.micros());
        let values: Vec<(u8, i64)> = eligible.iter().map(|&i| (tier_of(&config, &cands[i]), cands[i].effective_ecpm().unwrap().micros())).collect();
        let tie_free = values.iter().enumerate().all(|(x, v)| !values[x + 1..].contains(v));
        for p in out.placements() {
            let k = p.key as usize;
            let c = &cands[k];
            let floor_here = spec.floors.hard.micros().max(spec.floor_per_second.micros() * i64::from(c.duration_s));
            let (ecpm, floor, fixed) = reference_eligibility(c, floor_here).unwrap();
            let t = tier_of(&config, c);
            let want = match config.pod_pricing {
                PodPricing::Gsp => {
                    if !tie_free { continue; }
                    // Next lower same-tier eCPM among all eligible (other advertiser under Exclude).
                    let competitor = eligible.iter().filter(|&&j| j != k && tier_of(&config, &cands[j]) == t
                        && !(config.same_advertiser == SameAdvertiserRule::Exclude && cands[j].advertiser == c.advertiser))
                        .map(|&j| cands[j].effective_ecpm().unwrap().micros()).filter(|&v| v < ecpm).max().unwrap_or(0);
                    reference_price(&config, soft, ecpm, floor, fixed, competitor, config.increment.micros())
                }
                _ => {
                    // VCG within the tier: best pod without k (exhaustive) minus the rest of the chosen pod.
                    let mut without = cands.clone();
                    without[k].duration_s = 0; // ineligible in a pod
                    let best = exhaustive_pod_scored(&config, &spec, &without, &tiers);
                    let ti = tiers.iter().position(|&x| x == t).unwrap();
                    let others_without = best.get(ti).map_or(0, |s| s / 32);
                    let others_with: i64 = set.iter().filter(|&&j| j != k && tier_of(&config, &cands[j]) == t).map(|&j| cands[j].effective_ecpm().unwrap().micros()).sum();
                    prop_assert!(others_without >= others_with && others_without - others_with <= ecpm);
                    reference_price(&config, soft, ecpm, floor, fixed, others_without - others_with, 0)
                }
            };
            prop_assert_eq!(p.price.micros(), want, "pod price of key {}", k);
        }

        let again = auction.run(&adloop_auction::Opportunity::Pod(spec), &cands, seed).unwrap();
        prop_assert_eq!(&out, &again);
    }
}

// ---------------------------------------------------------------------------------------
// Larger pods: branch and bound against exhaustive search at 16 candidates.

/// Candidates crowded into few groups for every separation rule (3 advertisers, 2
/// domains, 4 creatives, categories among 3), where the pod search's grouped bounds
/// prune: the regime in which a bound that is too tight would drop the best pod.
fn gen_crowded() -> impl Strategy<Value = Gen> {
    (
        (
            0u64..3,
            prop::sample::select(vec![0u8, 0, 0, 1]),
            50i64..2_000,
        ),
        (1u8..8, prop::option::weighted(0.6, 0u64..2)),
        (prop::sample::select(vec![15u32, 30, 45, 60]), 0u64..4),
    )
        .prop_map(
            |((adv, tier, bid_cents), (cats, domain), (dur, creative))| Gen {
                adv,
                tier,
                bid_cents,
                mult: 0,
                deal_floor: None,
                fixed: None,
                cats,
                domain,
                dur,
                creative,
                cpc: false,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn pod_with_crowded_groups_is_optimal(
        gens in prop::collection::vec(gen_crowded(), 6..13),
        config in gen_config(),
        slots in 2u16..9,
        dur in prop::sample::select(vec![60u32, 120, 240]),
        (a, d, cat, cr) in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        seed in any::<u64>(),
    ) {
        let cands = build(&gens);
        let sep = Separation { advertiser: a, domain: d, category: cat, creative: cr };
        let spec = PodSpec { separation: sep, ..PodSpec::new(slots, dur) };
        let mut out = Outcome::new();
        Auction::new(config).unwrap().run_pod(&spec, &cands, seed, &mut out).unwrap();
        prop_assert!(!out.truncated(), "up to 12 eligible ads are searched in full");
        let set: Vec<usize> = out.placements().iter().map(|p| p.key as usize).collect();
        for (x, &i) in set.iter().enumerate() {
            for &j in &set[x + 1..] {
                prop_assert!(separated(&sep, &cands[i], &cands[j]), "{} and {} share a pod", i, j);
            }
        }
        let mut tiers: Vec<u8> = cands
            .iter()
            .filter(|c| pod_eligible(&spec, c))
            .map(|c| tier_of(&config, c))
            .collect();
        tiers.sort_unstable_by(|a, b| b.cmp(a));
        tiers.dedup();
        prop_assert_eq!(pod_score(&config, &cands, &set, &tiers), exhaustive_pod(&config, &spec, &cands));
    }
}

#[test]
fn pod_matches_exhaustive_on_sixteen_candidates() {
    let mut state = 0x1234_5678_u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for round in 0..40 {
        let cands: Vec<Candidate> = (0..16)
            .map(|k| {
                let cats = Categories::new(&[next(6) as u32]).unwrap();
                Candidate::new(
                    k,
                    CampaignId(k.into()),
                    CreativeId(k.into()),
                    AdvertiserId(next(10)),
                    Bid::Cpm(cents(100 + next(3000) as i64)),
                )
                .with_duration_s([15, 30, 45, 60][next(4) as usize])
                .with_categories(cats)
                .with_tier(if next(8) == 0 { Tier::DEAL } else { Tier::OPEN })
            })
            .collect();
        let spec = PodSpec::new(4 + (round % 3) as u16, 120);
        let config = AuctionConfig::default();
        let out = Auction::new(config)
            .unwrap()
            .run(&adloop_auction::Opportunity::Pod(spec), &cands, round)
            .unwrap();
        let set: Vec<usize> = out.placements().iter().map(|p| p.key as usize).collect();
        let mut tiers: Vec<u8> = cands.iter().map(|c| c.tier.0).collect();
        tiers.sort_unstable_by(|a, b| b.cmp(a));
        tiers.dedup();
        assert_eq!(
            pod_score(&config, &cands, &set, &tiers),
            exhaustive_pod(&config, &spec, &cands),
            "round {round}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// No heap allocation up to 32 candidates; none in steady state with a reused outcome.

fn alloc_gens(n: u64) -> Vec<Gen> {
    (0..n)
        .map(|k| Gen {
            adv: k % 11,
            tier: (k % 3) as u8,
            bid_cents: 100 + (k as i64 * 37) % 900,
            mult: (k % 4) as u8,
            deal_floor: None,
            fixed: None,
            cats: (k % 7) as u8,
            domain: Some(k % 5),
            dur: [15, 30, 45][(k % 3) as usize],
            creative: k,
            cpc: k % 5 == 0,
        })
        .collect()
}

fn alloc_configs() -> [AuctionConfig; 2] {
    [
        AuctionConfig::default(),
        AuctionConfig {
            ranked_pricing: RankedPricing::Vcg,
            pod_pricing: PodPricing::Vcg,
            ..AuctionConfig::default()
        },
    ]
}

/// Runs a single slot, four ranked slots and a pod of six into `out` for each seed;
/// returns how many heap allocations that took on this thread.
fn allocations_of_rounds(
    auction: &Auction,
    cands: &[Candidate],
    seeds: std::ops::Range<u64>,
    out: &mut Outcome,
) -> u64 {
    let factors = [500, 300, 200, 100];
    let pod = PodSpec::new(6, 120);
    let before = allocations();
    for seed in seeds {
        auction
            .run_single(&Floors::hard(cents(150)), cands, seed, out)
            .unwrap();
        assert!(out.winner().is_some());
        auction
            .run_ranked(
                &RankedSlots {
                    factors: &factors,
                    floors: Floors::NONE,
                },
                cands,
                seed,
                out,
            )
            .unwrap();
        assert_eq!(out.placements().len(), 4);
        auction.run_pod(&pod, cands, seed, out).unwrap();
        assert!(!out.placements().is_empty());
        assert_eq!(
            out.placements().len() + out.losses().len(),
            cands.len(),
            "every candidate placed or lost"
        );
    }
    allocations() - before
}

#[test]
fn no_heap_allocation_up_to_32_candidates() {
    let cands = build(&alloc_gens(32));
    for config in alloc_configs() {
        let auction = Auction::new(config).unwrap();
        let mut out = Outcome::new();
        assert_eq!(
            allocations_of_rounds(&auction, &cands, 0..20, &mut out),
            0,
            "heap allocations with {config:?}"
        );
        let before = allocations();
        for seed in 0..20 {
            let fresh = auction
                .run(
                    &adloop_auction::Opportunity::Single(Floors::NONE),
                    &cands,
                    seed,
                )
                .unwrap();
            assert_eq!(fresh.losses().len(), 31);
        }
        assert_eq!(allocations() - before, 0, "a fresh outcome with {config:?}");
    }
}

#[test]
fn a_reused_outcome_stops_allocating_at_any_candidate_count() {
    // 300 candidates spill every inline buffer (evaluations, ranking, pod entries,
    // losses); the first rounds grow the outcome's buffers, later rounds reuse them.
    let cands = build(&alloc_gens(300));
    for config in alloc_configs() {
        let auction = Auction::new(config).unwrap();
        let mut out = Outcome::new();
        let warm_up = allocations_of_rounds(&auction, &cands, 0..3, &mut out);
        assert!(warm_up > 0, "300 candidates must spill the inline buffers");
        assert_eq!(
            allocations_of_rounds(&auction, &cands, 3..23, &mut out),
            0,
            "steady-state heap allocations with {config:?}"
        );
        // A clone carries the answer, not the buffers, and compares equal.
        let copy = out.clone();
        assert_eq!(copy, out);
    }
}

#[test]
fn pod_of_eight_from_hundreds_is_exact_and_quick() {
    // 300 candidates, 8 slots, 180 s: finishes and respects constraints (optimality at
    // this size is covered by the bound's proof and the small-instance comparisons).
    let mut state = 42u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let cands: Vec<Candidate> = (0..300)
        .map(|k| {
            Candidate::new(
                k,
                CampaignId(k.into()),
                CreativeId(k.into()),
                AdvertiserId(next(120)),
                Bid::Cpm(cents(100 + next(5000) as i64)),
            )
            .with_duration_s([15, 30, 45, 60][next(4) as usize])
            .with_categories(Categories::new(&[next(40) as u32]).unwrap())
        })
        .collect();
    let spec = PodSpec::new(8, 180);
    let out = Auction::default()
        .run(&adloop_auction::Opportunity::Pod(spec), &cands, 1)
        .unwrap();
    assert!(out.placements().len() >= 3);
    assert!(out.placements().iter().map(|p| p.duration_s).sum::<u32>() <= 180);
    assert_eq!(out.placements().len() + out.losses().len(), 300);
}

// ---------------------------------------------------------------------------------------
// Hostile input: any numbers at all never panic, and every candidate is accounted for.

fn hostile_candidate() -> impl Strategy<Value = Candidate> {
    (
        (any::<u64>(), any::<u64>(), any::<u8>(), any::<i64>()),
        (any::<f64>(), any::<f64>(), 0u8..3),
        (
            prop::option::of((any::<i64>(), prop::option::of(any::<i64>()))),
            any::<u32>(),
            prop::collection::vec(any::<u32>(), 0..4),
        ),
    )
        .prop_map(
            |((adv, creative, tier, amount), (rate, mult, kind), (deal, dur, cats))| {
                let bid = match kind {
                    0 => Bid::Cpm(Cpm::from_micros(amount)),
                    1 => Bid::Cpc {
                        per_click: adloop_core::Money::from_micros(amount),
                        ctr: rate,
                    },
                    _ => Bid::Cpa {
                        per_action: adloop_core::Money::from_micros(amount),
                        rate,
                    },
                };
                let mut c = Candidate::new(
                    0,
                    CampaignId(adv),
                    CreativeId(creative),
                    AdvertiserId(adv % 7),
                    bid,
                )
                .with_tier(Tier(tier))
                .with_multiplier(mult)
                .with_duration_s(dur % 200)
                .with_categories(Categories::new(&cats).unwrap());
                if let Some((floor, fixed)) = deal {
                    c = c.with_deal(Deal {
                        id: DealId(1),
                        floor: Cpm::from_micros(floor),
                        fixed_price: fixed.map(Cpm::from_micros),
                    });
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_never_panics(
        mut cands in prop::collection::vec(hostile_candidate(), 0..10),
        config in gen_config(),
        seed in any::<u64>(),
    ) {
        for (k, c) in cands.iter_mut().enumerate() {
            c.key = k as u32 * 1_000_003;
        }
        let auction = Auction::new(config).unwrap();
        let factors = [9, 5, 2];
        let spec = PodSpec::new(3, 90);
        for opportunity in [
            adloop_auction::Opportunity::Single(Floors::NONE),
            adloop_auction::Opportunity::Ranked(RankedSlots { factors: &factors, floors: Floors::NONE }),
            adloop_auction::Opportunity::Pod(spec),
        ] {
            match auction.run(&opportunity, &cands, seed) {
                Ok(out) => {
                    prop_assert_eq!(out.placements().len() + out.losses().len(), cands.len());
                    for p in out.placements() {
                        prop_assert!(p.price.micros() >= 0 && p.price <= p.bid);
                    }
                }
                // Only the tier limit can reject this input (256 possible tiers in a pod).
                Err(e) => prop_assert!(matches!(e, adloop_auction::Error::TooManyTiers { .. }), "{}", e),
            }
        }
    }
}
