use crate::candidate::{Eval, evaluate};
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
        check_unique_keys(candidates)?;
        let cfg = &self.config;
        let strict = cfg.tiers == TierPolicy::Strict;
        let hard = floors.hard.micros();
        let mut evals: SmallVec<[Eval; 32]> = SmallVec::with_capacity(candidates.len());
        let mut rng = SplitMix64::new(seed);
        let mut best = usize::MAX;
        let mut best_key = (0u8, 0i64);
        let mut ties = 0u64;
        for (i, c) in candidates.iter().enumerate() {
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
        if best == usize::MAX {
            for (c, e) in candidates.iter().zip(&evals) {
                out.lose(c.key, e.reason.unwrap_or(LossReason::Outbid));
            }
            return Ok(());
        }
        let w = &candidates[best];
        let we = evals[best];
        let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
        let mut competitor = 0i64;
        for (j, (c, e)) in candidates.iter().zip(&evals).enumerate() {
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
