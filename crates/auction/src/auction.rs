use crate::candidate::{Eval, evaluate};
use crate::outcome::{keep, lend};
use crate::{
    AuctionConfig, Candidate, Error, Floors, LossReason, MAX_CANDIDATES, Opportunity, Outcome,
    PodSpec, PriceMode, RankedSlots, SameAdvertiserRule, TierPolicy,
};
use smallvec::SmallVec;

/// A configured auction: the rules, validated once, then applied to any number of
/// opportunities. It holds no state between calls, so one value can be shared by every
/// thread.
///
/// Each `run*` method takes the candidates and a `seed` for tie-breaks (derive it from
/// the request id to make replays exact: same inputs and seed, same outcome), and
/// writes an [`Outcome`]: one [`Placement`](crate::Placement) per sold slot and one
/// [`Loss`](crate::Loss) per other candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Auction {
    config: AuctionConfig,
}

impl Auction {
    /// An auction with `config`, or an error if the configuration is invalid.
    pub fn new(config: AuctionConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Auction { config })
    }

    /// The configuration.
    pub fn config(&self) -> &AuctionConfig {
        &self.config
    }

    /// Runs the auction for `opportunity` and returns a fresh outcome.
    pub fn run(
        &self,
        opportunity: &Opportunity<'_>,
        candidates: &[Candidate],
        seed: u64,
    ) -> Result<Outcome, Error> {
        let mut out = Outcome::new();
        self.run_into(opportunity, candidates, seed, &mut out)?;
        Ok(out)
    }

    /// Runs the auction for `opportunity`, overwriting `out` (reuse it across calls).
    /// On error `out` is left empty.
    pub fn run_into(
        &self,
        opportunity: &Opportunity<'_>,
        candidates: &[Candidate],
        seed: u64,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        match opportunity {
            Opportunity::Single(floors) => self.run_single(floors, candidates, seed, out),
            Opportunity::Ranked(slots) => self.run_ranked(slots, candidates, seed, out),
            Opportunity::Pod(pod) => self.run_pod(pod, candidates, seed, out),
        }
    }

    /// One slot: the highest tier present wins, within it the highest effective eCPM
    /// (equal bids: seeded tie-break).
    ///
    /// Price, in this order: a fixed-price deal pays its deal price; first-price mode pays
    /// the bid; a winner below the soft floor pays its bid; otherwise
    /// `min(max(best other same-tier eCPM, floor, soft floor) + increment, bid)`, where
    /// under [`SameAdvertiserRule::Exclude`] the winner's own advertiser does not count
    /// as "other", and `floor` is the larger of the hard floor and the winner's deal floor.
    pub fn run_single(
        &self,
        floors: &Floors,
        candidates: &[Candidate],
        seed: u64,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        out.clear();
        floors.validate()?;
        check_count(candidates.len(), MAX_CANDIDATES)?;
        let mut evals = lend(&mut out.scratch.evals);
        let result = self.single(floors, candidates, seed, &mut evals, out);
        keep(&mut out.scratch.evals, evals);
        result
    }

    /// [`Auction::run_single`] after validation, with its evaluation buffer.
    fn single(
        &self,
        floors: &Floors,
        candidates: &[Candidate],
        seed: u64,
        evals: &mut SmallVec<[Eval; 32]>,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        let cfg = &self.config;
        let strict = cfg.tiers == TierPolicy::Strict;
        let hard = floors.hard.micros();
        evals.reserve(candidates.len());
        let mut rng = SplitMix64::new(seed);
        let mut best = usize::MAX;
        let mut best_key = (0u8, 0i64);
        let mut ties = 0u64;
        // Keys below 64 are checked for repeats on the way; any larger key defers to the
        // general check after the loop.
        let mut seen_keys = 0u64;
        let mut large_keys = false;
        for (i, c) in candidates.iter().enumerate() {
            if c.key < 64 {
                let bit = 1u64 << c.key;
                if seen_keys & bit != 0 {
                    return Err(Error::DuplicateKey {
                        key: c.key,
                        index: i,
                    });
                }
                seen_keys |= bit;
            } else {
                large_keys = true;
            }
            let e = evaluate(c, hard);
            if e.eligible() {
                let key = (tier_rank(strict, c), e.ecpm);
                if best == usize::MAX || key > best_key {
                    best = i;
                    best_key = key;
                    ties = 1;
                } else if key == best_key {
                    // Reservoir sampling: each of the tied candidates wins with 1/ties.
                    ties += 1;
                    if rng.below(ties) == 0 {
                        best = i;
                    }
                }
            }
            evals.push(e);
        }
        if large_keys {
            check_unique_keys(candidates)?;
        }
        if best == usize::MAX {
            for (c, e) in candidates.iter().zip(evals.iter()) {
                out.lose(c.key, e.reason.unwrap_or(LossReason::Outbid));
            }
            return Ok(());
        }
        let w = &candidates[best];
        let we = evals[best];
        let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
        let mut competitor = 0i64;
        for (j, (c, e)) in candidates.iter().zip(evals.iter()).enumerate() {
            if j == best {
                continue;
            }
            let reason = match e.reason {
                Some(r) => r,
                None => {
                    let same_adv = c.advertiser == w.advertiser;
                    if tier_rank(strict, c) < best_key.0 {
                        LossReason::LowerTier
                    } else if exclude && same_adv {
                        LossReason::SameAdvertiser
                    } else {
                        competitor = competitor.max(e.ecpm);
                        if e.ecpm == we.ecpm {
                            LossReason::TieBreak
                        } else {
                            LossReason::Outbid
                        }
                    }
                }
            };
            out.lose(c.key, reason);
        }
        let price = winner_price(
            cfg,
            &we,
            floors.soft.map(|s| s.micros()),
            competitor,
            cfg.increment.micros(),
        );
        out.place(0, w.key, w.tier, we.ecpm, price, w.duration_s);
        Ok(())
    }

    /// Ranked slots with value factors α₁ > α₂ > …: candidates are ranked by tier, then
    /// eCPM (seeded tie-break); under [`SameAdvertiserRule::Exclude`] an advertiser keeps
    /// only its best candidate. Slot k goes to the k-th ranked.
    ///
    /// Prices per unit of factor (like bids), with `v'` the eCPM of the next ranked
    /// candidate when it is of the same tier and zero otherwise:
    /// - GSP: `min(max(v'_{k+1}, floor) + increment, v_k)`;
    /// - VCG: `max(Σ_{j≥k} (α_j − α_{j+1}) · v'_{j+1} / α_k, floor)` (α past the last
    ///   slot is 0), rounded toward zero, at most `v_k`.
    ///
    /// Fixed-price deals, first-price mode and soft floors apply as in
    /// [`run_single`](Auction::run_single).
    pub fn run_ranked(
        &self,
        slots: &RankedSlots<'_>,
        candidates: &[Candidate],
        seed: u64,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        out.clear();
        slots.validate()?;
        check_count(candidates.len(), MAX_CANDIDATES)?;
        check_unique_keys(candidates)?;
        crate::ranked::run(&self.config, slots, candidates, seed, out)
    }

    /// A CTV ad pod: the set of ads of greatest value under the slot count, the total
    /// duration, the accepted durations and the separation rules, found by an exact
    /// branch-and-bound search, then priced by the configured [`PodPricing`](crate::PodPricing).
    ///
    /// Value is lexicographic by tier under [`TierPolicy::Strict`]: first the total eCPM
    /// of the highest tier, then of the next; within a tier, at equal value, more ads.
    /// Placements are listed in rank order (tier, then eCPM).
    pub fn run_pod(
        &self,
        pod: &PodSpec<'_>,
        candidates: &[Candidate],
        seed: u64,
        out: &mut Outcome,
    ) -> Result<(), Error> {
        out.clear();
        pod.validate()?;
        check_count(candidates.len(), crate::MAX_POD_CANDIDATES)?;
        check_unique_keys(candidates)?;
        let r = crate::pod::run(&self.config, pod, candidates, seed, out);
        if r.is_err() {
            out.clear();
        }
        r
    }
}

#[inline]
pub(crate) fn tier_rank(strict: bool, c: &Candidate) -> u8 {
    if strict { c.tier.0 } else { 0 }
}

/// The price of a winner with evaluation `e`, given the competing price `competitor`
/// (0 when none) and the increment to add to it.
#[inline]
pub(crate) fn winner_price(
    cfg: &AuctionConfig,
    e: &Eval,
    soft: Option<i64>,
    competitor: i64,
    increment: i64,
) -> i64 {
    if e.fixed >= 0 {
        return e.fixed;
    }
    if cfg.mode == PriceMode::FirstPrice {
        return e.ecpm;
    }
    let reserve = match soft {
        Some(s) if e.ecpm < s => return e.ecpm,
        Some(s) => e.floor.max(s),
        None => e.floor,
    };
    competitor
        .max(reserve)
        .saturating_add(increment)
        .min(e.ecpm)
}

pub(crate) fn check_count(count: usize, limit: usize) -> Result<(), Error> {
    if count > limit {
        return Err(Error::TooManyCandidates { count, limit });
    }
    Ok(())
}

/// Rejects repeated keys: a one-word bitset for keys below 64, a 4096-bit one below
/// 4096, a sort otherwise.
pub(crate) fn check_unique_keys(candidates: &[Candidate]) -> Result<(), Error> {
    if candidates.len() < 2 {
        return Ok(());
    }
    // Callers that build candidates from an ordered match (the engine does) pass keys in
    // ascending order: one pass proves them distinct.
    if candidates.windows(2).all(|w| w[0].key < w[1].key) {
        return Ok(());
    }
    let max = candidates.iter().map(|c| c.key).max().unwrap_or(0);
    let dup = |index: usize| {
        Err(Error::DuplicateKey {
            key: candidates[index].key,
            index,
        })
    };
    if max < 64 {
        let mut seen = 0u64;
        for (i, c) in candidates.iter().enumerate() {
            let bit = 1u64 << c.key;
            if seen & bit != 0 {
                return dup(i);
            }
            seen |= bit;
        }
    } else if max < 4096 {
        let mut seen = [0u64; 64];
        for (i, c) in candidates.iter().enumerate() {
            let (w, bit) = ((c.key >> 6) as usize, 1u64 << (c.key & 63));
            if seen[w] & bit != 0 {
                return dup(i);
            }
            seen[w] |= bit;
        }
    } else {
        let mut keys: SmallVec<[(u32, u32); 32]> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key, i as u32))
            .collect();
        keys.sort_unstable();
        if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
            return dup(w[1].1 as usize);
        }
    }
    Ok(())
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, well-mixed generator, enough for
/// tie-breaks. Kept private so no RNG crate appears in the public API.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for n < 2³²).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A sort key: tier (8 bits), eCPM (40 bits, below `MAX_ECPM` < 2⁴⁰), 48 random bits
/// for the tie-break, candidate index (32 bits). Sorting keys descending ranks candidates.
#[inline]
pub(crate) fn rank_key(tier: u8, ecpm: i64, random: u64, index: usize) -> u128 {
    (u128::from(tier) << 120)
        | ((ecpm as u128) << 80)
        | (u128::from(random >> 16) << 32)
        | index as u128
}

#[inline]
pub(crate) fn key_index(key: u128) -> usize {
    (key & 0xFFFF_FFFF) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::{Bid, Deal, Tier};
    use adloop_core::{Cpm, DealId, Money};

    fn cpm(c: i64) -> Cpm {
        Cpm::from_micros(cents(c))
    }

    struct Case {
        name: &'static str,
        config: AuctionConfig,
        floors: Floors,
        candidates: Vec<Candidate>,
        /// (winner key, price in micros of CPM), or `None` for no fill.
        want: Option<(u32, i64)>,
        /// Expected loss reasons by key.
        losses: Vec<(u32, LossReason)>,
    }

    fn cases() -> Vec<Case> {
        let d = AuctionConfig::default();
        let first = AuctionConfig {
            mode: PriceMode::FirstPrice,
            ..d
        };
        let compete = AuctionConfig {
            same_advertiser: SameAdvertiserRule::Compete,
            ..d
        };
        let price_only = AuctionConfig {
            tiers: TierPolicy::PriceOnly,
            ..d
        };
        let no_inc = AuctionConfig {
            increment: Cpm::ZERO,
            ..d
        };
        use LossReason::*;
        vec![
            Case {
                name: "second price",
                config: d,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 500), cand(1, 2, 300), cand(2, 3, 100)],
                // max(3.00, floor 0) + 0.01 = 3.01
                want: Some((0, cents(301))),
                losses: vec![(1, Outbid), (2, Outbid)],
            },
            Case {
                name: "hard floor sets the price",
                config: d,
                floors: Floors::hard(cpm(200)),
                candidates: vec![cand(0, 1, 500), cand(1, 2, 100)],
                // the 1.00 bid is below the floor: max(0, 2.00) + 0.01 = 2.01
                want: Some((0, cents(201))),
                losses: vec![(1, BelowFloor)],
            },
            Case {
                name: "nothing clears the hard floor",
                config: d,
                floors: Floors::hard(cpm(200)),
                candidates: vec![cand(0, 1, 100), cand(1, 2, 150)],
                want: None,
                losses: vec![(0, BelowFloor), (1, BelowFloor)],
            },
            Case {
                name: "bid exactly at the floor fills",
                config: d,
                floors: Floors::hard(cpm(200)),
                candidates: vec![cand(0, 1, 200)],
                // max(0, 2.00) + 0.01 = 2.01, capped at the 2.00 bid
                want: Some((0, cents(200))),
                losses: vec![],
            },
            Case {
                name: "increment never lifts the price above the bid",
                config: d,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 500), {
                    let mut c = cand(1, 2, 0);
                    c.bid = Bid::Cpm(Cpm::from_micros(4_995_000));
                    c
                }],
                // 4.995 + 0.01 = 5.005 > 5.00 → 5.00
                want: Some((0, cents(500))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "first price pays the bid",
                config: first,
                floors: Floors::hard(cpm(100)),
                candidates: vec![cand(0, 1, 500), cand(1, 2, 300)],
                want: Some((0, cents(500))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "soft floor: winner between hard and soft pays its bid",
                config: d,
                floors: Floors::with_soft(cpm(100), cpm(400)),
                candidates: vec![cand(0, 1, 300), cand(1, 2, 200)],
                // 3.00 < soft 4.00 → pays 3.00
                want: Some((0, cents(300))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "soft floor: winner above soft pays max(second, soft)",
                config: d,
                floors: Floors::with_soft(cpm(100), cpm(400)),
                candidates: vec![cand(0, 1, 600), cand(1, 2, 200)],
                // max(2.00, 4.00) + 0.01 = 4.01
                want: Some((0, cents(401))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "same advertiser does not set the price",
                config: d,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 500), cand(1, 1, 400), cand(2, 2, 200)],
                // key 1 is excluded: max(2.00, 0) + 0.01 = 2.01
                want: Some((0, cents(201))),
                losses: vec![(1, SameAdvertiser), (2, Outbid)],
            },
            Case {
                name: "same advertiser competes when configured",
                config: compete,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 500), cand(1, 1, 400), cand(2, 2, 200)],
                // 4.00 + 0.01 = 4.01
                want: Some((0, cents(401))),
                losses: vec![(1, Outbid), (2, Outbid)],
            },
            Case {
                name: "higher tier wins whatever the bids",
                config: d,
                floors: Floors::NONE,
                candidates: vec![
                    tiered(0, 1, 900, Tier::OPEN),
                    tiered(1, 2, 200, Tier::GUARANTEED),
                ],
                // no other guaranteed bid: max(0, 0) + 0.01 = 0.01
                want: Some((1, cents(1))),
                losses: vec![(0, LowerTier)],
            },
            Case {
                name: "price-only tiers",
                config: price_only,
                floors: Floors::NONE,
                candidates: vec![
                    tiered(0, 1, 900, Tier::OPEN),
                    tiered(1, 2, 200, Tier::GUARANTEED),
                ],
                // 2.00 + 0.01 = 2.01
                want: Some((0, cents(201))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "fixed-price deal pays the deal price",
                config: d,
                floors: Floors::hard(cpm(100)),
                candidates: vec![
                    cand(0, 1, 700).with_deal(Deal {
                        id: DealId(1),
                        floor: Cpm::ZERO,
                        fixed_price: Some(cpm(600)),
                    }),
                    cand(1, 2, 300),
                ],
                // fixed 6.00, whatever the competition
                want: Some((0, cents(600))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "deal floor raises the reserve",
                config: d,
                floors: Floors::hard(cpm(100)),
                candidates: vec![
                    cand(0, 1, 500).with_deal(Deal {
                        id: DealId(1),
                        floor: cpm(450),
                        fixed_price: None,
                    }),
                    cand(1, 2, 200),
                ],
                // max(2.00, max(1.00, 4.50)) + 0.01 = 4.51
                want: Some((0, cents(451))),
                losses: vec![(1, Outbid)],
            },
            Case {
                name: "cpc bid competes on ecpm",
                config: d,
                floors: Floors::NONE,
                candidates: vec![
                    // a zero bid is valid and ranks last
                    cand(0, 1, 0),
                    {
                        // $0.50 per click × 2% × 1000 = 10.00 CPM
                        let mut c = cand(1, 2, 0);
                        c.bid = Bid::Cpc {
                            per_click: Money::from_micros(500_000),
                            ctr: 0.02,
                        };
                        c
                    },
                    cand(2, 3, 400),
                ],
                // 4.00 + 0.01 = 4.01
                want: Some((1, cents(401))),
                losses: vec![(0, Outbid), (2, Outbid)],
            },
            Case {
                name: "pacing multiplier scales the bid",
                config: d,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 1000).with_multiplier(0.5), cand(1, 2, 600)],
                // 10.00 × 0.5 = 5.00 loses to 6.00, which pays 5.00 + 0.01 = 5.01
                want: Some((1, cents(501))),
                losses: vec![(0, Outbid)],
            },
            Case {
                name: "invalid candidates are excluded with a reason",
                config: d,
                floors: Floors::NONE,
                candidates: vec![
                    cand(0, 1, -100),
                    {
                        let mut c = cand(1, 2, 0);
                        c.bid = Bid::Cpc {
                            per_click: Money::from_micros(1),
                            ctr: f64::NAN,
                        };
                        c
                    },
                    cand(2, 3, 100).with_multiplier(f64::INFINITY),
                    cand(3, 4, 100),
                ],
                // alone: max(0, 0) + 0.01 = 0.01
                want: Some((3, cents(1))),
                losses: vec![(0, InvalidBid), (1, InvalidRate), (2, InvalidMultiplier)],
            },
            Case {
                name: "zero increment, no competition, no floor: free",
                config: no_inc,
                floors: Floors::NONE,
                candidates: vec![cand(0, 1, 100)],
                want: Some((0, 0)),
                losses: vec![],
            },
            Case {
                name: "lower-tier bids never set a higher tier's price",
                config: d,
                floors: Floors::hard(cpm(50)),
                candidates: vec![
                    tiered(0, 1, 300, Tier::DEAL),
                    tiered(1, 2, 250, Tier::DEAL),
                    tiered(2, 3, 900, Tier::OPEN),
                ],
                // 2.50 + 0.01 = 2.51; the 9.00 open bid is ignored
                want: Some((0, cents(251))),
                losses: vec![(1, Outbid), (2, LowerTier)],
            },
        ]
    }

    #[test]
    fn single_slot_table() {
        for case in cases() {
            let auction = Auction::new(case.config).unwrap();
            let mut out = Outcome::new();
            auction
                .run_single(&case.floors, &case.candidates, 7, &mut out)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let got = out.winner().map(|w| (w.key, w.price.micros()));
            assert_eq!(got, case.want, "{}", case.name);
            let mut losses: Vec<_> = out.losses().iter().map(|l| (l.key, l.reason)).collect();
            losses.sort_by_key(|l| l.0);
            assert_eq!(losses, case.losses, "{}", case.name);
            assert_eq!(
                out.placements().len() + out.losses().len(),
                case.candidates.len(),
                "{}: every candidate accounted for",
                case.name
            );
        }
    }

    #[test]
    fn ties_are_broken_by_the_seed() {
        let auction = Auction::default();
        let cands = [cand(0, 1, 500), cand(1, 2, 500), cand(2, 3, 500)];
        let mut wins = [0u32; 3];
        for seed in 0..300 {
            let out = auction
                .run(&Opportunity::Single(Floors::NONE), &cands, seed)
                .unwrap();
            let w = out.winner().unwrap();
            // tie: 5.00 + 0.01 capped at the 5.00 bid
            assert_eq!(w.price.micros(), cents(500));
            assert!(
                out.losses()
                    .iter()
                    .all(|l| l.reason == LossReason::TieBreak)
            );
            wins[w.key as usize] += 1;
            let again = auction
                .run(&Opportunity::Single(Floors::NONE), &cands, seed)
                .unwrap();
            assert_eq!(out, again, "same seed, same outcome");
        }
        // Each of three tied bidders wins about 100 of 300 times.
        assert!(wins.iter().all(|&w| (60..=140).contains(&w)), "{wins:?}");
    }

    #[test]
    fn malformed_calls_are_typed_errors() {
        let auction = Auction::default();
        let mut out = Outcome::new();
        let dup = [cand(3, 1, 100), cand(3, 2, 100)];
        assert_eq!(
            auction.run_single(&Floors::NONE, &dup, 0, &mut out),
            Err(Error::DuplicateKey { key: 3, index: 1 })
        );
        let dup_big = [cand(1 << 20, 1, 100), cand(5, 1, 1), cand(1 << 20, 2, 100)];
        assert_eq!(
            auction.run_single(&Floors::NONE, &dup_big, 0, &mut out),
            Err(Error::DuplicateKey {
                key: 1 << 20,
                index: 2
            })
        );
        let dup_mid = [cand(100, 1, 100), cand(100, 2, 100)];
        assert!(matches!(
            auction.run_single(&Floors::NONE, &dup_mid, 0, &mut out),
            Err(Error::DuplicateKey { key: 100, .. })
        ));
        let bad_soft = Floors::with_soft(cpm(200), cpm(100));
        assert!(matches!(
            auction.run_single(&bad_soft, &[], 0, &mut out),
            Err(Error::InvalidFloors { .. })
        ));
        assert!(matches!(
            auction.run_single(&Floors::hard(cpm(-1)), &[], 0, &mut out),
            Err(Error::InvalidFloors { .. })
        ));
        assert!(matches!(
            Auction::new(AuctionConfig {
                increment: cpm(-1),
                ..AuctionConfig::default()
            }),
            Err(Error::InvalidConfig {
                field: "increment",
                ..
            })
        ));
        auction.run_single(&Floors::NONE, &[], 0, &mut out).unwrap();
        assert!(out.placements().is_empty() && out.losses().is_empty());
    }
}
