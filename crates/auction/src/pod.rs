//! Optimal CTV ad pods: exact branch and bound over candidates in rank order.
//!
//! # Search
//! Eligible candidates are sorted by (tier, eCPM, seeded tie-break), descending. A pod's
//! score is a vector with one entry per tier present, highest tier first; an ad adds
//! `32 · eCPM + 1` to its tier's entry (value first, then, at equal value, more ads: a
//! pod holds at most 16 ads, so the count never carries into the value). Scores compare
//! lexicographically.
//!
//! The depth-first search adds candidates in rank order (the first leaf it reaches is
//! the greedy fill, a good incumbent) and, before each branch, bounds what the rest of
//! the pod can add: the best `min(slots left, seconds left / shortest remaining
//! duration)` candidates that are not blocked and fit the seconds left, each ignoring
//! the others. Because candidates are in rank order and every ad adds a positive amount
//! to exactly one entry, that greedy sum is the lexicographic maximum of any allowed
//! completion, so the bound is valid; and since it only shrinks along the list, the
//! loop stops at the first branch that cannot beat the incumbent.
//!
//! Separation conflicts are bit rows over the candidate list, computed lazily the first
//! time a candidate enters a pod (only entries after it are needed), as word-wide
//! comparisons over struct-of-arrays copies of advertiser, domain, creative and
//! categories.

use crate::auction::{SplitMix64, key_index, rank_key, tier_rank, winner_price};
use crate::candidate::{Eval, evaluate};
use crate::{
    AuctionConfig, Candidate, Error, LossReason, MAX_CATEGORIES, MAX_POD_SLOTS, Outcome,
    PodPricing, PodSpec, SameAdvertiserRule, Separation, TierPolicy,
};
use smallvec::SmallVec;

/// The most distinct tiers one pod auction ranks.
pub(crate) const MAX_POD_TIERS: usize = 8;

type Score = [i64; MAX_POD_TIERS];

const NO_CATEGORY: u64 = u64::MAX;

#[inline]
fn item_weight(value: i64) -> i64 {
    value * 32 + 1
}

pub(crate) fn run(
    cfg: &AuctionConfig,
    spec: &PodSpec<'_>,
    candidates: &[Candidate],
    seed: u64,
    out: &mut Outcome,
) -> Result<(), Error> {
    let strict = cfg.tiers == TierPolicy::Strict;
    let hard = spec.floors.hard.micros();
    let per_second = spec.floor_per_second.micros();
    let mut rng = SplitMix64::new(seed);

    let mut evals: SmallVec<[Eval; 32]> = SmallVec::with_capacity(candidates.len());
    let mut order: SmallVec<[u128; 32]> = SmallVec::new();
    for (i, c) in candidates.iter().enumerate() {
        let d = c.duration_s;
        let mut e = if d == 0 {
            Eval {
                ecpm: 0,
                floor: hard,
                fixed: -1,
                reason: Some(LossReason::InvalidDuration),
            }
        } else {
            evaluate(c, hard.max(per_second.saturating_mul(i64::from(d))))
        };
        if e.eligible()
            && (d > spec.max_duration_s
                || (!spec.required_durations_s.is_empty()
                    && !spec.required_durations_s.contains(&d)))
        {
            e.reason = Some(LossReason::DurationDoesNotFit);
        }
        if e.eligible() {
            order.push(rank_key(tier_rank(strict, c), e.ecpm, rng.next_u64(), i));
        }
        evals.push(e);
    }
    order.sort_unstable_by(|a, b| b.cmp(a));

    let mut search = Search::build(candidates, &evals, &order, spec, strict)?;
    search.run(None);
    let best_len = search.best_len;
    let best_set = search.best_set;
    let best_score = search.best;

    // Prices.
    let soft = spec.floors.soft.map(|s| s.micros());
    let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
    let mut used_s: u64 = 0;
    for (slot, &p) in best_set[..best_len].iter().enumerate() {
        let p = usize::from(p);
        let i = search.index[p];
        let c = &candidates[i];
        let e = &evals[i];
        used_s += u64::from(c.duration_s);
        let price = match cfg.pod_pricing {
            PodPricing::Gsp => {
                let mut competitor = 0;
                for q in p + 1..search.m {
                    if search.rank[q] != search.rank[p] {
                        break;
                    }
                    if exclude && search.adv[q] == search.adv[p] {
                        continue;
                    }
                    competitor = search.value[q];
                    break;
                }
                winner_price(cfg, e, soft, competitor, cfg.increment.micros())
            }
            PodPricing::Vcg => {
                let t = usize::from(search.rank[p]);
                let mut without = best_score;
                without[t] -= item_weight(search.value[p]);
                search.best = without;
                search.best_len = 0;
                for &q in &best_set[..best_len] {
                    if usize::from(q) != p {
                        search.best_set[search.best_len] = q;
                        search.best_len += 1;
                    }
                }
                search.run(Some(p));
                let value_of = |set: &[u16]| -> i64 {
                    set.iter()
                        .map(|&q| usize::from(q))
                        .filter(|&q| q != p && usize::from(search.rank[q]) == t)
                        .map(|q| search.value[q])
                        .sum()
                };
                let others_without = value_of(&search.best_set[..search.best_len]);
                let others_with = value_of(&best_set[..best_len]);
                let externality = (others_without - others_with).clamp(0, e.ecpm);
                winner_price(cfg, e, soft, externality, 0)
            }
        };
        out.place(slot, c.key, c.tier, e.ecpm, price, c.duration_s);
    }

    // Loss reasons, in candidate order.
    let placed = &best_set[..best_len];
    let sep = spec.separation;
    let full = best_len == usize::from(spec.max_slots);
    let left_s = u64::from(spec.max_duration_s).saturating_sub(used_s);
    let mut is_placed: SmallVec<[bool; 32]> = SmallVec::from_elem(false, candidates.len());
    for &p in placed {
        is_placed[search.index[usize::from(p)]] = true;
    }
    for (i, (c, e)) in candidates.iter().zip(&evals).enumerate() {
        if is_placed[i] {
            continue;
        }
        let reason = e.reason.unwrap_or_else(|| {
            let conflict = |test: &dyn Fn(&Candidate) -> bool| {
                placed
                    .iter()
                    .any(|&p| test(&candidates[search.index[usize::from(p)]]))
            };
            if sep.advertiser && conflict(&|o| o.advertiser == c.advertiser) {
                LossReason::SameAdvertiser
            } else if sep.domain && c.domain.is_some() && conflict(&|o| o.domain == c.domain) {
                LossReason::SameAdvertiserDomain
            } else if sep.creative && conflict(&|o| o.creative == c.creative) {
                LossReason::SameCreative
            } else if sep.category && conflict(&|o| o.categories.intersects(&c.categories)) {
                LossReason::CompetitiveCategory
            } else if full {
                LossReason::PodFull
            } else if u64::from(c.duration_s) > left_s {
                LossReason::DurationDoesNotFit
            } else {
                LossReason::Outbid
            }
        });
        out.lose(c.key, reason);
    }
    Ok(())
}

/// The branch-and-bound state, over eligible candidates in rank order.
struct Search {
    m: usize,
    words: usize,
    max_slots: usize,
    max_duration_s: u32,
    sep: Separation,
    /// Candidate index of each ranked entry.
    index: SmallVec<[usize; 32]>,
    value: SmallVec<[i64; 32]>,
    rank: SmallVec<[u8; 32]>,
    dur: SmallVec<[u32; 32]>,
    /// Shortest duration from each entry to the end.
    min_dur_from: SmallVec<[u32; 33]>,
    adv: SmallVec<[u64; 32]>,
    dom: SmallVec<[u64; 32]>,
    has_dom: SmallVec<[bool; 32]>,
    cre: SmallVec<[u64; 32]>,
    /// `MAX_CATEGORIES` entries per candidate, `NO_CATEGORY` for unused ones.
    cats: SmallVec<[u64; 128]>,
    /// Conflict rows: bit `i` of row `j` set when `i > j` may not share a pod with `j`.
    rows: SmallVec<[u64; 32]>,
    row_ready: SmallVec<[bool; 32]>,
    /// Blocked entries at each depth (`words` per depth).
    masks: SmallVec<[u64; 17]>,
    cur: [u16; MAX_POD_SLOTS],
    best: Score,
    best_set: [u16; MAX_POD_SLOTS],
    best_len: usize,
}

impl Search {
    fn build(
        candidates: &[Candidate],
        evals: &[Eval],
        order: &[u128],
        spec: &PodSpec<'_>,
        strict: bool,
    ) -> Result<Self, Error> {
        let m = order.len();
        let words = m.div_ceil(64).max(1);
        let mut s = Search {
            m,
            words,
            max_slots: usize::from(spec.max_slots),
            max_duration_s: spec.max_duration_s,
            sep: spec.separation,
            index: SmallVec::with_capacity(m),
            value: SmallVec::with_capacity(m),
            rank: SmallVec::with_capacity(m),
            dur: SmallVec::with_capacity(m),
            min_dur_from: SmallVec::from_elem(u32::MAX, m + 1),
            adv: SmallVec::with_capacity(m),
            dom: SmallVec::with_capacity(m),
            has_dom: SmallVec::with_capacity(m),
            cre: SmallVec::with_capacity(m),
            cats: SmallVec::with_capacity(m * MAX_CATEGORIES),
            rows: SmallVec::from_elem(0, m * words),
            row_ready: SmallVec::from_elem(false, m),
            masks: SmallVec::from_elem(0, (usize::from(spec.max_slots) + 1) * words),
            cur: [0; MAX_POD_SLOTS],
            best: [0; MAX_POD_TIERS],
            best_set: [0; MAX_POD_SLOTS],
            best_len: 0,
        };
        let mut tiers = 0usize;
        let mut last_tier = None;
        for &k in order {
            let i = key_index(k);
            let c = &candidates[i];
            let t = tier_rank(strict, c);
            if last_tier != Some(t) {
                tiers += 1;
                last_tier = Some(t);
            }
            if tiers > MAX_POD_TIERS {
                return Err(Error::TooManyTiers {
                    count: count_tiers(candidates, order, strict),
                    limit: MAX_POD_TIERS,
                });
            }
            s.index.push(i);
            s.value.push(evals[i].ecpm);
            s.rank.push((tiers - 1) as u8);
            s.dur.push(c.duration_s);
            s.adv.push(c.advertiser.0);
            s.dom.push(c.domain.map_or(0, |d| d.0));
            s.has_dom.push(c.domain.is_some());
            s.cre.push(c.creative.0);
            let ids = c.categories.as_slice();
            for slot in 0..MAX_CATEGORIES {
                s.cats
                    .push(ids.get(slot).map_or(NO_CATEGORY, |&id| u64::from(id)));
            }
        }
        for p in (0..m).rev() {
            s.min_dur_from[p] = s.min_dur_from[p + 1].min(s.dur[p]);
        }
        Ok(s)
    }

    /// Runs the search from the current incumbent, with `removed` left out.
    fn run(&mut self, removed: Option<usize>) {
        let words = self.words;
        self.masks[..words].fill(0);
        if let Some(r) = removed {
            self.masks[r / 64] |= 1 << (r % 64);
        }
        self.dfs(
            0,
            0,
            self.max_slots,
            self.max_duration_s,
            [0; MAX_POD_TIERS],
        );
    }

    #[inline]
    fn blocked(&self, depth: usize, i: usize) -> bool {
        self.masks[depth * self.words + i / 64] >> (i % 64) & 1 != 0
    }

    fn dfs(&mut self, start: usize, depth: usize, slots_left: usize, dur_left: u32, score: Score) {
        if score > self.best {
            self.best = score;
            self.best_set[..depth].copy_from_slice(&self.cur[..depth]);
            self.best_len = depth;
        }
        if slots_left == 0 {
            return;
        }
        for j in start..self.m {
            if self.dur[j] > dur_left || self.blocked(depth, j) {
                continue;
            }
            let mut bound = score;
            self.add_bound(&mut bound, j, depth, slots_left, dur_left);
            if bound <= self.best {
                break;
            }
            self.ensure_row(j);
            let w = self.words;
            for k in 0..w {
                self.masks[(depth + 1) * w + k] = self.masks[depth * w + k] | self.rows[j * w + k];
            }
            self.cur[depth] = j as u16;
            let mut next = score;
            next[usize::from(self.rank[j])] += item_weight(self.value[j]);
            self.dfs(
                j + 1,
                depth + 1,
                slots_left - 1,
                dur_left - self.dur[j],
                next,
            );
        }
    }

    /// Adds to `bound` the best completion from entry `j` on, ignoring conflicts between
    /// the added entries.
    #[inline]
    fn add_bound(
        &self,
        bound: &mut Score,
        j: usize,
        depth: usize,
        slots_left: usize,
        dur_left: u32,
    ) {
        let fit_by_time = (dur_left / self.min_dur_from[j].max(1)) as usize;
        let cap = slots_left.min(fit_by_time);
        let mut taken = 0;
        for i in j..self.m {
            if taken == cap {
                break;
            }
            if self.dur[i] > dur_left || self.blocked(depth, i) {
                continue;
            }
            bound[usize::from(self.rank[i])] += item_weight(self.value[i]);
            taken += 1;
        }
    }

    fn ensure_row(&mut self, j: usize) {
        if self.row_ready[j] {
            return;
        }
        self.row_ready[j] = true;
        let sep = self.sep;
        let (aj, dj, hj, cj) = (self.adv[j], self.dom[j], self.has_dom[j], self.cre[j]);
        let cats_j: [u64; MAX_CATEGORIES] =
            std::array::from_fn(|s| self.cats[j * MAX_CATEGORIES + s]);
        let row = &mut self.rows[j * self.words..(j + 1) * self.words];
        for i in j + 1..self.m {
            let mut hit = (sep.advertiser & (self.adv[i] == aj))
                | (sep.domain & hj & self.has_dom[i] & (self.dom[i] == dj))
                | (sep.creative & (self.cre[i] == cj));
            if sep.category {
                let ci = &self.cats[i * MAX_CATEGORIES..(i + 1) * MAX_CATEGORIES];
                for &a in &cats_j {
                    if a != NO_CATEGORY {
                        hit |= ci.contains(&a);
                    }
                }
            }
            row[i / 64] |= u64::from(hit) << (i % 64);
        }
    }
}

fn count_tiers(candidates: &[Candidate], order: &[u128], strict: bool) -> usize {
    let mut n = 0;
    let mut last = None;
    for &k in order {
        let t = tier_rank(strict, &candidates[key_index(k)]);
        if last != Some(t) {
            n += 1;
            last = Some(t);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use crate::test_support::*;
    use crate::{
        AdvertiserDomain, Auction, AuctionConfig, Candidate, Error, Floors, LossReason, Outcome,
        PodPricing, PodSpec, Separation, Tier,
    };
    use LossReason::*;
    use adloop_core::Cpm;

    const GSP: AuctionConfig = crate::config::DEFAULT_CONFIG;
    const VCG: AuctionConfig = AuctionConfig {
        pod_pricing: PodPricing::Vcg,
        ..crate::config::DEFAULT_CONFIG
    };

    fn run(config: AuctionConfig, spec: &PodSpec<'_>, cands: &[Candidate]) -> Outcome {
        let mut out = Outcome::new();
        Auction::new(config)
            .unwrap()
            .run_pod(spec, cands, 5, &mut out)
            .unwrap();
        out
    }

    fn keys(out: &Outcome) -> Vec<u32> {
        out.placements().iter().map(|p| p.key).collect()
    }

    #[test]
    fn optimal_fill_beats_greedy() {
        // 60 s pod. Greedy by value takes the 60 s ad worth 50 and stops; the optimum is
        // the two 30 s ads worth 30 + 29 = 59.
        let cands = [
            video(0, 1, 5000, 60, &[]),
            video(1, 2, 3000, 30, &[]),
            video(2, 3, 2900, 30, &[]),
        ];
        let spec = PodSpec::new(4, 60);
        let out = run(GSP, &spec, &cands);
        assert_eq!(keys(&out), vec![1, 2]);
        // GSP: key 1 pays the next lower same-tier bid 29.00 + 0.01 = 29.01; key 2 has no
        // lower bid: 0 + 0.01 = 0.01.
        assert_eq!(placed(&out), vec![(0, 1, cents(2901)), (1, 2, cents(1))]);
        assert_eq!(out.loss_reason(0), Some(DurationDoesNotFit));

        // VCG: without key 1 the best pod is {0} worth 50, the rest of the chosen pod is
        // worth 29 → key 1 pays 50 − 29 = 21.00; without key 2: 50 − 30 = 20.00.
        let out = run(VCG, &spec, &cands);
        assert_eq!(placed(&out), vec![(0, 1, cents(2100)), (1, 2, cents(2000))]);
    }

    #[test]
    fn separation_rules_each_give_their_reason() {
        let dom = AdvertiserDomain::from_domain("cars.example");
        let cands = [
            video(0, 1, 10000, 15, &[7]).with_domain(dom),
            video(1, 1, 900, 15, &[]), // same advertiser as 0
            video(2, 2, 800, 15, &[]).with_domain(dom), // same domain as 0
            video(3, 3, 700, 15, &[7, 9]), // shares category 7 with 0
            {
                let mut c = video(4, 4, 600, 15, &[]);
                c.creative = cands_creative_of_0();
                c
            },
            video(5, 5, 500, 15, &[]),
        ];
        let out = run(GSP, &PodSpec::new(6, 120), &cands);
        assert_eq!(keys(&out), vec![0, 5]);
        assert_eq!(out.loss_reason(1), Some(SameAdvertiser));
        assert_eq!(out.loss_reason(2), Some(SameAdvertiserDomain));
        assert_eq!(out.loss_reason(3), Some(CompetitiveCategory));
        assert_eq!(out.loss_reason(4), Some(SameCreative));
        // key 0 (100.00; the other four together are worth only 30.00): next lower same-tier bid from another advertiser is key 2 (8.00)
        // → 8.01; key 5: nothing lower → 0.01.
        assert_eq!(placed(&out), vec![(0, 0, cents(801)), (1, 5, cents(1))]);

        // With separation off, all six fit.
        let spec = PodSpec {
            separation: Separation::NONE,
            ..PodSpec::new(6, 120)
        };
        assert_eq!(run(GSP, &spec, &cands).placements().len(), 6);
    }

    fn cands_creative_of_0() -> adloop_core::CreativeId {
        video(0, 1, 0, 1, &[]).creative
    }

    #[test]
    fn durations_floors_and_full_pods() {
        let required = [15, 30];
        let spec = PodSpec {
            required_durations_s: &required,
            floor_per_second: Cpm::from_micros(cents(20)),
            ..PodSpec::new(2, 60)
        };
        let cands = [
            video(0, 1, 1000, 30, &[]),
            video(1, 2, 900, 15, &[]),
            video(2, 3, 800, 15, &[]),  // fits, but two ads already
            video(3, 4, 5000, 20, &[]), // 20 s not accepted
            video(4, 5, 5000, 90, &[]), // longer than the pod
            video(5, 6, 5000, 0, &[]),  // zero-length video
            video(6, 7, 500, 30, &[]),  // 30 s × 0.20/s = 6.00 floor > 5.00
        ];
        let out = run(GSP, &spec, &cands);
        assert_eq!(keys(&out), vec![0, 1]);
        // key 0: floor 30 × 0.20 = 6.00; next lower bid 9.00 → 9.01.
        // key 1: floor 15 × 0.20 = 3.00; next lower bid 8.00 → 8.01.
        assert_eq!(placed(&out), vec![(0, 0, cents(901)), (1, 1, cents(801))]);
        assert_eq!(out.loss_reason(2), Some(PodFull));
        assert_eq!(out.loss_reason(3), Some(DurationDoesNotFit));
        assert_eq!(out.loss_reason(4), Some(DurationDoesNotFit));
        assert_eq!(out.loss_reason(5), Some(InvalidDuration));
        assert_eq!(out.loss_reason(6), Some(BelowFloor));
    }

    #[test]
    fn higher_tier_is_never_displaced() {
        // A 60 s sponsorship worth 1.00 takes the whole pod over two 30 s open ads worth
        // 40.00 each.
        let cands = [
            video(0, 1, 100, 60, &[]).with_tier(Tier::SPONSORSHIP),
            video(1, 2, 4000, 30, &[]),
            video(2, 3, 4000, 30, &[]),
        ];
        let out = run(GSP, &PodSpec::new(3, 60), &cands);
        assert_eq!(keys(&out), vec![0]);
        // No other sponsorship: 0 + 0.01.
        assert_eq!(placed(&out), vec![(0, 0, cents(1))]);
        assert_eq!(out.loss_reason(1), Some(DurationDoesNotFit));
    }

    #[test]
    fn zero_value_house_ads_still_fill() {
        let cands = [
            video(0, 1, 1000, 30, &[]),
            video(1, 2, 0, 30, &[]).with_tier(Tier::HOUSE),
        ];
        let out = run(GSP, &PodSpec::new(2, 60), &cands);
        // Open ad: no lower open bid → 0.01; house ad: 0 + 0.01 capped at its 0 bid → 0.
        assert_eq!(placed(&out), vec![(0, 0, cents(1)), (1, 1, 0)]);
    }

    #[test]
    fn soft_floor_and_fixed_price_in_pods() {
        let spec = PodSpec {
            floors: Floors::with_soft(Cpm::from_micros(cents(100)), Cpm::from_micros(cents(500))),
            ..PodSpec::new(3, 90)
        };
        let cands = [
            video(0, 1, 900, 30, &[]),
            video(1, 2, 400, 30, &[]),
            video(2, 3, 300, 30, &[]).with_deal(crate::Deal {
                id: adloop_core::DealId(1),
                floor: Cpm::ZERO,
                fixed_price: Some(Cpm::from_micros(cents(250))),
            }),
        ];
        let out = run(GSP, &spec, &cands);
        // key 0 above soft: max(4.00, 5.00) + 0.01 = 5.01; key 1 below soft pays its 4.00;
        // key 2 pays its fixed 2.50.
        assert_eq!(
            placed(&out),
            vec![(0, 0, cents(501)), (1, 1, cents(400)), (2, 2, cents(250))]
        );
    }

    #[test]
    fn bad_pod_specs_are_rejected() {
        let auction = Auction::default();
        let mut out = Outcome::new();
        let zero = [0];
        for spec in [
            PodSpec::new(0, 60),
            PodSpec::new(17, 60),
            PodSpec::new(2, 0),
            PodSpec {
                required_durations_s: &zero,
                ..PodSpec::new(2, 60)
            },
            PodSpec {
                floor_per_second: Cpm::from_micros(-1),
                ..PodSpec::new(2, 60)
            },
        ] {
            assert!(matches!(
                auction.run_pod(&spec, &[], 0, &mut out),
                Err(Error::InvalidPod { .. })
            ));
        }
        // Nine distinct tiers cannot be ranked lexicographically.
        let cands: Vec<_> = (0..9)
            .map(|k| video(k, k.into(), 100, 10, &[]).with_tier(Tier(k as u8)))
            .collect();
        assert!(matches!(
            auction.run_pod(&PodSpec::new(2, 60), &cands, 0, &mut out),
            Err(Error::TooManyTiers { count: 9, limit: 8 })
        ));
    }
}
