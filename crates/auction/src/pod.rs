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
//! Separation is checked directly: an entry is blocked when it conflicts (advertiser,
//! domain, creative, a shared category) with one of the at most `slots` entries chosen on
//! the current path, or is the entry a VCG re-run leaves out. Where the plain bound does
//! not prune, each separation rule tightens it to one ad per group (see
//! `Search::may_improve`): without that, ads crowded into a few categories made the search
//! exponential.
//!
//! # Materialized on demand
//! A 100k-campaign engine hands the pod auction hundreds of candidates, of which the
//! search usually visits a few dozen. So the ranked list is materialized lazily: the best
//! [`PREFIX`] (or `8 × slots`) are selected (`select_nth_unstable`), sorted and copied into
//! search entries, and whenever the search, a bound or a GSP price reaches past them the
//! next block (doubling) follows. Past the materialized block a bound assumes the
//! shortest duration of all candidates (a valid, if looser, cap on how many ads it may
//! count); since the search keeps the first best pod in depth-first order, its answer does
//! not depend on how tight a valid bound is. A test compares small and whole prefixes
//! outcome for outcome.

use crate::auction::{SplitMix64, key_index, rank_key, tier_rank, winner_price};
use crate::candidate::{Eval, evaluate};
use crate::outcome::{keep, lend};
use crate::{
    AuctionConfig, Candidate, Error, LossReason, MAX_CATEGORIES, MAX_POD_SLOTS, Outcome,
    PodPricing, PodSpec, SameAdvertiserRule, Separation, TierPolicy,
};
use smallvec::SmallVec;

/// The most distinct tiers one pod auction ranks.
pub(crate) const MAX_POD_TIERS: usize = 8;

type Score = [i64; MAX_POD_TIERS];

/// The ranked prefix searched first (see the module docs).
pub(crate) const PREFIX: usize = 64;

/// The most nodes the pod search visits: 2¹², about a millisecond at worst. A node is a
/// distinct subset, so every instance of up to 12 eligible ads is searched in full; past
/// the budget the pod is the best found (never worse than the greedy fill, which is the
/// first leaf), not proven optimal, and [`Outcome::truncated`] says so. Exact pods with
/// separation are NP-hard (a knapsack on seconds plus a conflict graph): the bounds make
/// ordinary instances take tens of nodes, the budget caps the pathological ones.
pub(crate) const NODE_BUDGET: u32 = 1 << 12;

/// The budget of each VCG re-run (one per placed ad).
pub(crate) const RERUN_BUDGET: u32 = 1 << 10;

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
    let prefix = PREFIX.max(8 * usize::from(spec.max_slots));
    run_with_prefix(cfg, spec, candidates, seed, out, prefix)
}

/// Sorts `order[from..to]` descending, given that `order[..from]` is sorted descending
/// and holds the greatest keys: afterwards `order[..to]` is the sorted top `to`.
fn sort_prefix(order: &mut [u128], from: usize, to: usize) {
    let tail = &mut order[from..];
    let n = to - from;
    if n < tail.len() {
        tail.select_nth_unstable_by(n, |a, b| b.cmp(a));
    }
    tail[..n].sort_unstable_by(|a, b| b.cmp(a));
}

/// [`run`] with the first ranked prefix of `prefix` entries (at least one).
pub(crate) fn run_with_prefix(
    cfg: &AuctionConfig,
    spec: &PodSpec<'_>,
    candidates: &[Candidate],
    seed: u64,
    out: &mut Outcome,
    prefix: usize,
) -> Result<(), Error> {
    let mut bufs = Buffers {
        evals: lend(&mut out.scratch.evals),
        order: lend(&mut out.scratch.order),
        entries: lend(&mut out.scratch.entries),
        twins: std::mem::take(&mut out.scratch.twins),
    };
    let result = search_and_price(cfg, spec, candidates, seed, out, prefix, &mut bufs);
    let s = &mut out.scratch;
    keep(&mut s.evals, bufs.evals);
    keep(&mut s.order, bufs.order);
    keep(&mut s.entries, bufs.entries);
    s.twins = bufs.twins;
    result
}

/// The pod auction's working buffers, lent by the [`Outcome`] (see `outcome::lend`).
struct Buffers {
    evals: SmallVec<[Eval; 64]>,
    order: SmallVec<[u128; 64]>,
    entries: SmallVec<[Entry; 64]>,
    /// Entry indices for [`Search::find_twins`] (empty unless a search ran that long).
    twins: Vec<u16>,
}

/// [`run_with_prefix`] with its buffers.
fn search_and_price(
    cfg: &AuctionConfig,
    spec: &PodSpec<'_>,
    candidates: &[Candidate],
    seed: u64,
    out: &mut Outcome,
    prefix: usize,
    bufs: &mut Buffers,
) -> Result<(), Error> {
    let strict = cfg.tiers == TierPolicy::Strict;
    let hard = spec.floors.hard.micros();
    let per_second = spec.floor_per_second.micros();
    let mut rng = SplitMix64::new(seed);

    let Buffers {
        evals,
        order,
        entries,
        twins,
    } = bufs;
    evals.reserve(candidates.len());
    // The distinct tiers and the shortest duration among the eligible.
    let mut tier_set = [0u64; 4];
    let mut min_dur = u32::MAX;
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
            let t = tier_rank(strict, c);
            tier_set[usize::from(t / 64)] |= 1 << (t % 64);
            min_dur = min_dur.min(d);
            order.push(rank_key(t, e.ecpm, rng.next_u64(), i));
        }
        evals.push(e);
    }
    let tiers: usize = tier_set.iter().map(|w| w.count_ones() as usize).sum();
    if tiers > MAX_POD_TIERS {
        return Err(Error::TooManyTiers {
            count: tiers,
            limit: MAX_POD_TIERS,
        });
    }

    let mut search = Search::new(
        candidates, evals, order, entries, min_dur, spec, strict, twins,
    );
    search.extend(prefix.max(1));
    search.run(None);
    let mut priced: SmallVec<[(usize, i64); MAX_POD_SLOTS]> = SmallVec::new();
    price_pod(cfg, spec, &mut search, evals, &mut priced);
    out.truncated = search.truncated;
    let best_len = search.best_len;
    let best_set = search.best_set;
    let mut used_s: u64 = 0;
    for (slot, &(i, price)) in priced.iter().enumerate() {
        let c = &candidates[i];
        used_s += u64::from(c.duration_s);
        out.place(slot, c.key, c.tier, evals[i].ecpm, price, c.duration_s);
    }

    // Loss reasons, in candidate order.
    let placed = &best_set[..best_len];
    let sep = spec.separation;
    let full = best_len == usize::from(spec.max_slots);
    let left_s = u64::from(spec.max_duration_s).saturating_sub(used_s);
    // What the placed ads separate on, gathered once for every loser's check.
    let mut placed_adv: SmallVec<[u64; MAX_POD_SLOTS]> = SmallVec::new();
    let mut placed_dom: SmallVec<[u64; MAX_POD_SLOTS]> = SmallVec::new();
    let mut placed_cre: SmallVec<[u64; MAX_POD_SLOTS]> = SmallVec::new();
    let mut placed_cats: SmallVec<[u32; 4 * MAX_CATEGORIES]> = SmallVec::new();
    let mut placed_idx: SmallVec<[usize; MAX_POD_SLOTS]> = SmallVec::new();
    for &p in placed {
        let i = search.entries[usize::from(p)].index;
        placed_idx.push(i);
        let o = &candidates[i];
        placed_adv.push(o.advertiser.0);
        if let Some(d) = o.domain {
            placed_dom.push(d.0);
        }
        placed_cre.push(o.creative.0);
        placed_cats.extend_from_slice(o.categories.as_slice());
    }
    for (i, (c, e)) in candidates.iter().zip(evals.iter()).enumerate() {
        if placed_idx.contains(&i) {
            continue;
        }
        let reason = e.reason.unwrap_or_else(|| {
            if sep.advertiser && placed_adv.contains(&c.advertiser.0) {
                LossReason::SameAdvertiser
            } else if sep.domain && c.domain.is_some_and(|d| placed_dom.contains(&d.0)) {
                LossReason::SameAdvertiserDomain
            } else if sep.creative && placed_cre.contains(&c.creative.0) {
                LossReason::SameCreative
            } else if sep.category
                && c.categories
                    .as_slice()
                    .iter()
                    .any(|id| placed_cats.contains(id))
            {
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

/// Prices the pod `search` found, into `priced` as (candidate index, price) in slot
/// order. Leaves the search's best pod as it found it.
fn price_pod(
    cfg: &AuctionConfig,
    spec: &PodSpec<'_>,
    search: &mut Search<'_>,
    evals: &[Eval],
    priced: &mut SmallVec<[(usize, i64); MAX_POD_SLOTS]>,
) {
    let best_len = search.best_len;
    let best_set = search.best_set;
    let best_score = search.best;
    let soft = spec.floors.soft.map(|s| s.micros());
    let exclude = cfg.same_advertiser == SameAdvertiserRule::Exclude;
    for &p in &best_set[..best_len] {
        let p = usize::from(p);
        let i = search.entries[p].index;
        let e = &evals[i];
        let price = match cfg.pod_pricing {
            PodPricing::Gsp => {
                // The next bid of the same tier (of another advertiser under `Exclude`).
                let (rank, adv) = (search.entries[p].rank, search.entries[p].adv);
                let mut competitor = 0;
                let mut q = p + 1;
                while search.reach(q) {
                    let o = &search.entries[q];
                    if o.rank != rank {
                        break;
                    }
                    if !(exclude && o.adv == adv) {
                        competitor = o.value;
                        break;
                    }
                    q += 1;
                }
                winner_price(cfg, e, soft, competitor, cfg.increment.micros())
            }
            PodPricing::Vcg => {
                let t = usize::from(search.entries[p].rank);
                let mut without = best_score;
                without[t] -= item_weight(search.entries[p].value);
                search.best = without;
                search.best_len = 0;
                for &q in &best_set[..best_len] {
                    if usize::from(q) != p {
                        search.best_set[search.best_len] = q;
                        search.best_len += 1;
                    }
                }
                search.nodes_left = RERUN_BUDGET;
                search.run(Some(p));
                let value_of = |set: &[u16]| -> i64 {
                    set.iter()
                        .map(|&q| &search.entries[usize::from(q)])
                        .filter(|o| o.index != i && usize::from(o.rank) == t)
                        .map(|o| o.value)
                        .sum()
                };
                let others_without = value_of(&search.best_set[..search.best_len]);
                let others_with = value_of(&best_set[..best_len]);
                let externality = (others_without - others_with).clamp(0, e.ecpm);
                winner_price(cfg, e, soft, externality, 0)
            }
        };
        priced.push((i, price));
    }
    search.best = best_score;
    search.best_set = best_set;
    search.best_len = best_len;
}

/// One ranked candidate, as the search reads it.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    value: i64,
    adv: u64,
    /// The domain, or 0 with `has_dom` false.
    dom: u64,
    cre: u64,
    /// `NO_CATEGORY` for unused places.
    cats: [u32; MAX_CATEGORIES],
    /// Index into the candidates.
    index: usize,
    dur: u32,
    /// Shortest duration from this entry to the end of the materialized entries, or of
    /// all entries when more lie beyond. A bound caps how many ads it counts by this; a
    /// smaller value only loosens the bound, and the search's answer (the first best pod
    /// in depth-first order: the incumbent changes only on a strict improvement, which a
    /// valid bound never cuts) does not depend on how tight a valid bound is.
    min_dur_from: u32,
    /// 0 for the highest tier present, then 1, …
    rank: u8,
    has_dom: bool,
    /// Entries of one class conflict with exactly the same others (see
    /// [`Search::find_twins`]); [`NO_CLASS`] for an entry alone in its class, or before
    /// the classes are found.
    class: u32,
    /// [`Search::find_twins`]'s marks: bit 0, 1, 2 when another entry shares the
    /// advertiser, domain, creative.
    shared: u8,
}

#[cfg(not(test))]
#[inline]
fn twins_after() -> u32 {
    TWINS_AFTER
}

#[cfg(test)]
fn twins_after() -> u32 {
    tests::TWINS_AFTER_TEST.with(std::cell::Cell::get)
}

/// What makes two entries conflict with the same others (see [`Search::find_twins`]):
/// their categories and, per rule (advertiser, domain, creative), the group when another
/// entry shares it, else `None` (it conflicts with no other entry under that rule).
type TwinKey = ([u32; MAX_CATEGORIES], [Option<u64>; 3]);

fn twin_key(entries: &[Entry], i: u16) -> TwinKey {
    let e = &entries[usize::from(i)];
    let mut cats = e.cats;
    cats.sort_unstable();
    let per_rule = |bit: usize, rule: Rule| {
        if e.shared & (1 << bit) != 0 {
            e.group(rule)
        } else {
            None
        }
    };
    (
        cats,
        [
            per_rule(0, Rule::Advertiser),
            per_rule(1, Rule::Domain),
            per_rule(2, Rule::Creative),
        ],
    )
}

/// [`Entry::class`] of an entry alone in its class.
const NO_CLASS: u32 = u32::MAX;

/// Nodes a search visits before it looks for twins: ordinary pods finish in tens of
/// nodes and never pay for it.
const TWINS_AFTER: u32 = 256;

/// An unused category place.
const NO_CATEGORY: u32 = u32::MAX;

/// A separation rule seen as a partition of the candidates (see [`Search::may_improve`]).
#[derive(Clone, Copy, Debug)]
enum Rule {
    Advertiser,
    Domain,
    Creative,
    /// Grouped by an ad's first category: two ads in one pod share no category, so their
    /// first categories differ.
    Category,
}

impl Entry {
    /// The entry's group under `rule`; `None` when the rule never separates it.
    #[inline]
    fn group(&self, rule: Rule) -> Option<u64> {
        match rule {
            Rule::Advertiser => Some(self.adv),
            Rule::Domain => self.has_dom.then_some(self.dom),
            Rule::Creative => Some(self.cre),
            Rule::Category => (self.cats[0] != NO_CATEGORY).then_some(u64::from(self.cats[0])),
        }
    }
}

/// The branch-and-bound state over the ranked list, materialized (selected, sorted and
/// copied into `entries`) only as far as the search reaches.
struct Search<'a> {
    candidates: &'a [Candidate],
    evals: &'a [Eval],
    /// Rank keys: `order[..entries.len()]` sorted descending, the rest below them.
    order: &'a mut [u128],
    /// The materialized ranking, `entries.len()` long (lent by the outcome, emptied).
    entries: &'a mut SmallVec<[Entry; 64]>,
    /// [`Search::find_twins`]'s index buffer (lent by the outcome).
    twins: &'a mut Vec<u16>,
    strict: bool,
    last_tier: Option<u8>,
    tiers: u8,
    max_slots: usize,
    max_duration_s: u32,
    sep: Separation,
    /// The separation rules in force, for the grouped bounds.
    rules: SmallVec<[Rule; 4]>,
    /// The shortest duration of all entries: what a bound assumes past `entries`.
    min_dur: u32,
    /// The entry a VCG re-run leaves out.
    removed: Option<usize>,
    cur: [u16; MAX_POD_SLOTS],
    best: Score,
    best_set: [u16; MAX_POD_SLOTS],
    best_len: usize,
    /// Search nodes the current run may still visit ([`NODE_BUDGET`], or
    /// [`RERUN_BUDGET`] for a VCG re-run).
    nodes_left: u32,
    /// Whether a search stopped at the budget.
    truncated: bool,
    /// Nodes visited by every run of this search so far.
    visited: u32,
    /// When to look for twins: [`TWINS_AFTER`] (tests set other values).
    twins_after: u32,
}

impl<'a> Search<'a> {
    /// A search with nothing materialized yet: [`Search::extend`] the first block before
    /// running it.
    #[allow(clippy::too_many_arguments)] // the search's inputs and its lent buffers
    fn new(
        candidates: &'a [Candidate],
        evals: &'a [Eval],
        order: &'a mut [u128],
        entries: &'a mut SmallVec<[Entry; 64]>,
        min_dur: u32,
        spec: &PodSpec<'_>,
        strict: bool,
        twins: &'a mut Vec<u16>,
    ) -> Self {
        entries.clear();
        // The node guard counts one auction (its VCG re-runs included), not a whole
        // proptest run on one thread.
        #[cfg(test)]
        tests::NODES.with(|n| n.set(0));
        Search {
            twins,
            min_dur,
            candidates,
            evals,
            order,
            entries,
            strict,
            last_tier: None,
            tiers: 0,
            max_slots: usize::from(spec.max_slots),
            max_duration_s: spec.max_duration_s,
            sep: spec.separation,
            rules: [
                (spec.separation.category, Rule::Category),
                (spec.separation.advertiser, Rule::Advertiser),
                (spec.separation.domain, Rule::Domain),
                (spec.separation.creative, Rule::Creative),
            ]
            .into_iter()
            .filter_map(|(on, rule)| on.then_some(rule))
            .collect(),
            removed: None,
            cur: [0; MAX_POD_SLOTS],
            best: [0; MAX_POD_TIERS],
            best_set: [0; MAX_POD_SLOTS],
            best_len: 0,
            nodes_left: NODE_BUDGET,
            truncated: false,
            visited: 0,
            twins_after: twins_after(),
        }
    }

    /// Whether entry `i` exists, materializing more of the ranked list when needed.
    #[inline]
    fn reach(&mut self, i: usize) -> bool {
        if i < self.entries.len() {
            return true;
        }
        if i >= self.order.len() {
            return false;
        }
        // Double what is materialized (at least up to `i`): the total work stays within
        // twice that of sorting the whole list at once.
        self.extend((2 * self.entries.len()).max(i + 1));
        true
    }

    /// Materializes the ranked list up to `to` entries (at most all).
    fn extend(&mut self, to: usize) {
        let from = self.entries.len();
        let to = to.min(self.order.len());
        if to <= from {
            return;
        }
        sort_prefix(self.order, from, to);
        // Past the materialized entries a bound assumes the shortest duration of all: a
        // looser cap than the exact suffix minimum, but still a valid bound (see
        // `Entry::min_dur_from`).
        let mut min_dur = if to < self.order.len() {
            self.min_dur
        } else {
            u32::MAX
        };
        for &k in &self.order[from..to] {
            let i = key_index(k);
            let c = &self.candidates[i];
            let t = tier_rank(self.strict, c);
            if self.last_tier != Some(t) {
                // At most MAX_POD_TIERS: `run_with_prefix` checked the whole list.
                self.tiers += 1;
                self.last_tier = Some(t);
            }
            let ids = c.categories.as_slice();
            self.entries.push(Entry {
                value: self.evals[i].ecpm,
                adv: c.advertiser.0,
                dom: c.domain.map_or(0, |d| d.0),
                cre: c.creative.0,
                cats: std::array::from_fn(|s| ids.get(s).copied().unwrap_or(NO_CATEGORY)),
                index: i,
                dur: c.duration_s,
                min_dur_from: 0,
                rank: self.tiers - 1,
                has_dom: c.domain.is_some(),
                class: NO_CLASS,
                shared: 0,
            });
        }
        for e in self.entries[from..].iter_mut().rev() {
            min_dur = min_dur.min(e.dur);
            e.min_dur_from = min_dur;
        }
    }

    /// Runs the search from the current incumbent, with `removed` left out.
    fn run(&mut self, removed: Option<usize>) {
        self.removed = removed;
        self.dfs(
            0,
            0,
            self.max_slots,
            self.max_duration_s,
            [0; MAX_POD_TIERS],
        );
    }

    /// Whether entries `a` and `b` may not share a pod.
    #[inline]
    fn conflict(&self, a: &Entry, b: &Entry) -> bool {
        let sep = self.sep;
        (sep.advertiser && a.adv == b.adv)
            || (sep.domain && a.has_dom && b.has_dom && a.dom == b.dom)
            || (sep.creative && a.cre == b.cre)
            || (sep.category
                && a.cats
                    .iter()
                    .any(|&x| x != NO_CATEGORY && b.cats.contains(&x)))
    }

    /// Whether entry `i` cannot join the `depth` entries chosen so far.
    #[inline]
    fn blocked(&self, depth: usize, i: usize) -> bool {
        let e = &self.entries[i];
        self.removed == Some(i)
            || self.cur[..depth]
                .iter()
                .any(|&c| self.conflict(&self.entries[usize::from(c)], e))
    }

    fn dfs(&mut self, start: usize, depth: usize, slots_left: usize, dur_left: u32, score: Score) {
        if self.nodes_left == 0 {
            self.truncated = true;
            return;
        }
        self.nodes_left -= 1;
        self.visited += 1;
        if self.visited == self.twins_after {
            self.find_twins();
        }
        #[cfg(test)]
        tests::NODES.with(|n| {
            n.set(n.get() + 1);
            // A search gone exponential fails its test instead of hanging it.
            assert!(n.get() < 1_000_000, "the pod search exploded");
        });
        if score > self.best {
            self.best = score;
            self.best_set[..depth].copy_from_slice(&self.cur[..depth]);
            self.best_len = depth;
        }
        if slots_left == 0 {
            return;
        }
        // The classes branched on at this node, each with the shortest duration branched.
        let mut branched = [(NO_CLASS, 0u32); MAX_POD_SLOTS];
        let mut n_branched = 0;
        let mut j = start;
        while self.reach(j) {
            // Nothing from here on is short enough (the suffix minimum only grows).
            if dur_left < self.entries[j].min_dur_from {
                break;
            }
            if self.entries[j].dur > dur_left || self.blocked(depth, j) {
                j += 1;
                continue;
            }
            if !self.may_improve(score, j, depth, slots_left, dur_left) {
                break;
            }
            // An entry dominated by one already branched on here (same conflicts, ranked
            // no lower, no longer) adds nothing: every pod through it is, with the
            // other swapped in, one that branch already searched, scored no lower and
            // found earlier in depth-first order.
            let e = &self.entries[j];
            if e.class != NO_CLASS {
                let seen = branched[..n_branched]
                    .iter()
                    .position(|&(class, _)| class == e.class);
                match seen {
                    Some(k) if branched[k].1 <= e.dur => {
                        j += 1;
                        continue;
                    }
                    Some(k) => branched[k].1 = e.dur,
                    None if n_branched < branched.len() => {
                        branched[n_branched] = (e.class, e.dur);
                        n_branched += 1;
                    }
                    None => {}
                }
            }
            self.cur[depth] = j as u16;
            let mut next = score;
            let e = self.entries[j];
            next[usize::from(e.rank)] += item_weight(e.value);
            self.dfs(j + 1, depth + 1, slots_left - 1, dur_left - e.dur, next);
            j += 1;
        }
    }

    /// Whether a pod of `score` so far, completed from entry `j` on, may beat the
    /// incumbent: false only when an upper bound on every such completion is not above it.
    ///
    /// First the plain bound: the best `cap` entries that fit and are not blocked,
    /// ignoring conflicts among themselves. When that does not prune, each separation
    /// rule in force tightens it: a rule partitions the entries (same advertiser, same
    /// domain, same creative, same first category) and a completion holds at most one
    /// entry per group, which is never better than the group's first (best ranked)
    /// entry that fits and is not blocked. So the best `cap` of those *representatives*
    /// bound every completion too (each completion entry maps to its group's
    /// representative, distinct groups to distinct ones). Only one rule at a time:
    /// greedily honouring two partitions at once can fall below a completion. Like the
    /// plain bound, each only shrinks as `j` moves down the list, which lets the loop in
    /// `dfs` stop at the first branch that cannot improve. Without the grouped bounds,
    /// ads crowded into a few categories made the search exponential (a 300-candidate,
    /// 16-slot pod over 10 categories did not finish in 100 s).
    ///
    /// A grouped bound runs only where it can differ from the plain one (two of the plain
    /// bound's entries share a group), so diverse candidates pay a few comparisons.
    /// Which valid bounds run never changes the answer: the search keeps the first best
    /// pod in depth-first order, and no valid bound cuts it.
    #[inline]
    fn may_improve(
        &mut self,
        score: Score,
        j: usize,
        depth: usize,
        slots_left: usize,
        dur_left: u32,
    ) -> bool {
        let fit_by_time = (dur_left / self.entries[j].min_dur_from.max(1)) as usize;
        let cap = slots_left.min(fit_by_time);
        let mut bound = score;
        let mut picked = [0u16; MAX_POD_SLOTS];
        let mut taken = 0;
        let mut i = j;
        while taken < cap && self.reach(i) {
            let e = &self.entries[i];
            if e.dur <= dur_left && !self.blocked(depth, i) {
                bound[usize::from(e.rank)] += item_weight(e.value);
                picked[taken] = i as u16;
                taken += 1;
            }
            i += 1;
        }
        if bound <= self.best {
            return false;
        }
        for r in 0..self.rules.len() {
            let rule = self.rules[r];
            // When the plain bound's entries are in distinct groups they are their
            // groups' representatives, and the grouped bound is the same sum.
            if self.distinct_groups(rule, &picked[..taken]) {
                continue;
            }
            if !self.grouped_may_improve(rule, score, &picked[..taken], i, depth, cap, dur_left) {
                return false;
            }
        }
        true
    }

    /// Materializes every entry and gives entries that conflict with the same others a
    /// shared [`Entry::class`] (*twins*). That holds when two entries have the same
    /// categories and, under each of the advertiser, domain and creative rules in force,
    /// either share their group or both conflict with no other entry (a group of one, or
    /// no domain): then any third entry conflicts with both or with neither. So of two
    /// twins, the one ranked first (a higher tier, or the same tier and a value no lower)
    /// *dominates* the other if it is no longer: swapping it in keeps any pod allowed and
    /// scores it no lower, and `dfs` skips the dominated one at a node where it branched
    /// on the other. Runs once, only in searches past [`TWINS_AFTER`] nodes (many equal or
    /// near-equal bids, such as a rate card, where no bound separates the ties); it
    /// sorts every entry, in a buffer the outcome lends.
    fn find_twins(&mut self) {
        self.extend(self.order.len());
        let n = self.entries.len();
        let rules = [
            (self.sep.advertiser, Rule::Advertiser),
            (self.sep.domain, Rule::Domain),
            (self.sep.creative, Rule::Creative),
        ];
        let idx = &mut *self.twins;
        idx.clear();
        idx.extend(0..n as u16);
        // Per rule in force, mark the entries whose group holds another entry.
        for e in self.entries.iter_mut() {
            e.shared = 0;
        }
        for (bit, &(on, rule)) in rules.iter().enumerate() {
            if !on {
                continue;
            }
            let entries = &mut *self.entries;
            let group = |entries: &[Entry], i: u16| entries[usize::from(i)].group(rule);
            idx.sort_unstable_by_key(|&i| group(entries, i));
            for w in 0..n {
                let g = group(entries, idx[w]);
                let shared = g.is_some()
                    && ((w > 0 && group(entries, idx[w - 1]) == g)
                        || (w + 1 < n && group(entries, idx[w + 1]) == g));
                if shared {
                    entries[usize::from(idx[w])].shared |= 1 << bit;
                }
            }
        }
        // Group identical keys: categories and, per rule, the group when shared (else
        // "conflicts with none").
        let entries = &mut *self.entries;
        idx.sort_unstable_by_key(|&i| twin_key(entries, i));
        let mut class = 0u32;
        for w in 0..n {
            let k = twin_key(entries, idx[w]);
            let twin_before = w > 0 && twin_key(entries, idx[w - 1]) == k;
            let twin_after = w + 1 < n && twin_key(entries, idx[w + 1]) == k;
            entries[usize::from(idx[w])].class = if twin_before || twin_after {
                if !twin_before {
                    class += 1;
                }
                class
            } else {
                NO_CLASS
            };
        }
    }

    /// Whether no two of `picked` share a group under `rule`.
    #[inline]
    fn distinct_groups(&self, rule: Rule, picked: &[u16]) -> bool {
        let mut groups = [0u64; MAX_POD_SLOTS];
        let mut used = 0;
        for &p in picked {
            if let Some(g) = self.entries[usize::from(p)].group(rule) {
                if groups[..used].contains(&g) {
                    return false;
                }
                groups[used] = g;
                used += 1;
            }
        }
        true
    }

    /// Whether `score` plus the best `cap` representatives of `rule`'s groups from
    /// entry `j` on (see [`Search::may_improve`]) is above the incumbent. `picked` are
    /// the entries from `j` up to `resume` that fit and are not blocked (the plain
    /// bound's scan), so only the entries from `resume` on are checked again. Stops as
    /// soon as the partial sum is above the incumbent, or the rest cannot lift it there.
    #[allow(clippy::too_many_arguments)] // one scan's state, split between two loops
    fn grouped_may_improve(
        &mut self,
        rule: Rule,
        score: Score,
        picked: &[u16],
        resume: usize,
        depth: usize,
        cap: usize,
        dur_left: u32,
    ) -> bool {
        let mut g = Grouped {
            rule,
            cap,
            bound: score,
            groups: [0; MAX_POD_SLOTS],
            used: 0,
            taken: 0,
        };
        for &p in picked {
            if let Some(answer) = g.consider(self, usize::from(p), true) {
                return answer;
            }
        }
        let mut i = resume;
        while g.taken < cap && self.reach(i) {
            let fits = self.entries[i].dur <= dur_left && !self.blocked(depth, i);
            if let Some(answer) = g.consider(self, i, fits) {
                return answer;
            }
            i += 1;
        }
        g.bound > self.best
    }
}

/// A grouped bound being summed (see [`Search::grouped_may_improve`]).
struct Grouped {
    rule: Rule,
    cap: usize,
    bound: Score,
    groups: [u64; MAX_POD_SLOTS],
    used: usize,
    taken: usize,
}

impl Grouped {
    /// Takes entry `i` if it `fits` (and is not blocked) and its group is new. `None` to
    /// go on; `Some(answer)` once whether the bound is above the incumbent is known.
    #[inline]
    fn consider(&mut self, search: &Search<'_>, i: usize, fits: bool) -> Option<bool> {
        let e = &search.entries[i];
        // Every entry from `i` on ranks at or below `e`: it adds at most `e`'s weight to
        // `e`'s tier, or something to a lower tier. If even `cap - taken` times `e`'s
        // weight leaves the tiers down to `e`'s below the incumbent's, the lower tiers
        // cannot change the comparison.
        let t = usize::from(e.rank);
        let mut top = self.bound;
        top[t] = top[t].saturating_add((self.cap - self.taken) as i64 * item_weight(e.value));
        if top[..=t] < search.best[..=t] {
            return Some(false);
        }
        if !fits {
            return None;
        }
        if let Some(g) = e.group(self.rule) {
            if self.groups[..self.used].contains(&g) {
                return None;
            }
            self.groups[self.used] = g;
            self.used += 1;
        }
        self.bound[t] += item_weight(e.value);
        self.taken += 1;
        (self.bound > search.best).then_some(true)
    }
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

    thread_local! {
        /// Search nodes visited on this thread (counted in test builds only).
        pub(super) static NODES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        /// When searches look for twins (`u32::MAX`: never).
        pub(super) static TWINS_AFTER_TEST: std::cell::Cell<u32> =
            const { std::cell::Cell::new(super::TWINS_AFTER) };
    }

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
    fn ads_crowded_into_few_groups_do_not_explode_the_search() {
        // 300 candidates in 10 categories (and 300 in 40 advertisers), 16 slots of
        // 600 s: at most 10 (40) ads can share a pod. Without the grouped bounds the
        // search visited billions of nodes (it did not finish in 100 s); with them a few
        // thousand. Node counts, not time, so the test is deterministic.
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for (sep, groups) in [
            (
                Separation {
                    category: true,
                    ..Separation::NONE
                },
                10,
            ),
            (
                Separation {
                    advertiser: true,
                    ..Separation::NONE
                },
                12,
            ),
            (
                Separation {
                    creative: true,
                    ..Separation::NONE
                },
                6,
            ),
        ] {
            let cands: Vec<Candidate> = (0..300u32)
                .map(|k| {
                    let g = next(groups);
                    Candidate::new(
                        k,
                        adloop_core::CampaignId(k.into()),
                        adloop_core::CreativeId(if sep.creative { g } else { k.into() }),
                        adloop_core::AdvertiserId(if sep.advertiser { g } else { k.into() }),
                        crate::Bid::Cpm(Cpm::from_micros(10_000 * (100 + next(5000) as i64))),
                    )
                    .with_duration_s([15, 30, 45, 60][next(4) as usize])
                    .with_categories(
                        crate::Categories::new(&[if sep.category { g as u32 } else { k }]).unwrap(),
                    )
                })
                .collect();
            let spec = PodSpec {
                separation: sep,
                ..PodSpec::new(16, 600)
            };
            for config in [GSP, VCG] {
                NODES.with(|n| n.set(0));
                let out = run(config, &spec, &cands);
                let nodes = NODES.with(std::cell::Cell::get);
                assert_eq!(out.placements().len(), groups.min(16) as usize, "{sep:?}");
                assert!(nodes < 10_000, "{nodes} nodes with {sep:?}");
            }
        }
    }

    /// A rate card: 54 candidates, six copies of each of these (cents CPM, seconds,
    /// categories), each its own advertiser and creative.
    const RATE_CARD: [(i64, u32, &[u32]); 9] = [
        (150, 60, &[]),
        (225, 60, &[]),
        (225, 15, &[3, 0]),
        (650, 60, &[3, 6, 5]),
        (225, 60, &[]),
        (225, 60, &[]),
        (225, 30, &[5, 0, 1]),
        (950, 45, &[]),
        (225, 60, &[]),
    ];

    /// The rate card's candidates; `jitter` adds the copy number (0..6) in micros to each
    /// bid, so the ties become near-ties.
    fn rate_card(jitter: bool) -> Vec<Candidate> {
        (0..54u32)
            .map(|k| {
                let (c, d, cats) = RATE_CARD[k as usize % RATE_CARD.len()];
                let bump = if jitter { i64::from(k) / 9 } else { 0 };
                Candidate::new(
                    k,
                    adloop_core::CampaignId(k.into()),
                    adloop_core::CreativeId(k.into()),
                    adloop_core::AdvertiserId(k.into()),
                    crate::Bid::Cpm(Cpm::from_micros(c * 10_000 + bump)),
                )
                .with_duration_s(d)
                .with_categories(crate::Categories::new(cats).unwrap())
            })
            .collect()
    }

    fn bid_of(c: &Candidate) -> i64 {
        match c.bid {
            crate::Bid::Cpm(cpm) => cpm.micros(),
            _ => unreachable!("the rate card bids CPM"),
        }
    }

    /// Asserts `out` is a feasible pod of `cands` (14 slots, 600 s, category
    /// separation) worth at least the greedy fill, priced within the bids.
    fn assert_feasible_and_at_least_greedy(out: &Outcome, cands: &[Candidate]) {
        let clash = |a: &Candidate, b: &Candidate| {
            a.categories
                .as_slice()
                .iter()
                .any(|x| b.categories.as_slice().contains(x))
        };
        // The greedy fill, in rank order (value, then the seeded tie-break: any order of
        // equal values gives the same total here).
        let mut order: Vec<usize> = (0..cands.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(bid_of(&cands[i])));
        let (mut greedy, mut secs, mut taken) = (0i64, 0u32, Vec::<usize>::new());
        for i in order {
            let c = &cands[i];
            if taken.len() < 14
                && secs + c.duration_s <= 600
                && !taken.iter().any(|&t| clash(c, &cands[t]))
            {
                greedy += bid_of(c);
                secs += c.duration_s;
                taken.push(i);
            }
        }
        let placed: Vec<&Candidate> = out
            .placements()
            .iter()
            .map(|p| &cands[p.key as usize])
            .collect();
        assert!(placed.len() <= 14);
        assert!(placed.iter().map(|c| c.duration_s).sum::<u32>() <= 600);
        for (x, a) in placed.iter().enumerate() {
            for b in &placed[x + 1..] {
                assert!(!clash(a, b));
            }
        }
        let value: i64 = placed.iter().map(|c| bid_of(c)).sum();
        assert!(value >= greedy, "{value} < greedy {greedy}");
        for p in out.placements() {
            assert!(p.price.micros() <= bid_of(&cands[p.key as usize]));
        }
    }

    fn rate_card_spec() -> PodSpec<'static> {
        PodSpec {
            separation: Separation {
                category: true,
                ..Separation::NONE
            },
            ..PodSpec::new(14, 600)
        }
    }

    #[test]
    fn a_rate_card_pod_is_searched_in_full_thanks_to_twins() {
        // Equal bids in mixed durations: no bound separates the ties, and before twins
        // were recognized these 54 candidates took 0.24 s (GSP) and 4.5 s (VCG), then
        // hit the node budget. A copy dominated by one branched on at a node is skipped.
        // Near-ties too (each copy a micro apart): a copy ranked first dominates the
        // later ones of its type.
        for jitter in [false, true] {
            let cands = rate_card(jitter);
            for config in [GSP, VCG] {
                NODES.with(|n| n.set(0));
                let out = run(config, &rate_card_spec(), &cands);
                let nodes = NODES.with(std::cell::Cell::get);
                assert!(!out.truncated(), "{nodes} nodes");
                assert!(nodes < 4_000, "{nodes} nodes");
                assert_feasible_and_at_least_greedy(&out, &cands);
            }
        }
    }

    #[test]
    fn near_twins_that_differ_in_one_separation_field_are_not_twins() {
        use crate::test_support::video;
        // A and B bid the same for the same 30 s; X bids less for 15 s and conflicts
        // with A alone, through one field at a time (or, first, A lasts longer). A 45 s pod of two fits B + X (15)
        // but not A + B (20). Were A and B twins, a search branching on A first would
        // skip B and settle for A alone (10).
        let domain = |c: Candidate, d: u64| c.with_domain(crate::AdvertiserDomain::new(d));
        let creative = |c: Candidate, id: u64| Candidate {
            creative: adloop_core::CreativeId(id),
            ..c
        };
        let cases: [(Separation, [Candidate; 3]); 5] = [
            // No conflicts: A lasts 45 s, so B + X alone fit.
            (
                Separation::NONE,
                [
                    video(0, 1, 10, 45, &[]),
                    video(1, 2, 10, 30, &[]),
                    video(2, 3, 5, 15, &[]),
                ],
            ),
            (
                Separation {
                    category: true,
                    ..Separation::NONE
                },
                [
                    video(0, 1, 10, 30, &[0]),
                    video(1, 2, 10, 30, &[1]),
                    video(2, 3, 5, 15, &[0]),
                ],
            ),
            (
                Separation {
                    advertiser: true,
                    ..Separation::NONE
                },
                [
                    video(0, 7, 10, 30, &[]),
                    video(1, 2, 10, 30, &[]),
                    video(2, 7, 5, 15, &[]),
                ],
            ),
            (
                Separation {
                    domain: true,
                    ..Separation::NONE
                },
                [
                    domain(video(0, 1, 10, 30, &[]), 3),
                    video(1, 2, 10, 30, &[]),
                    domain(video(2, 3, 5, 15, &[]), 3),
                ],
            ),
            (
                Separation {
                    creative: true,
                    ..Separation::NONE
                },
                [
                    creative(video(0, 1, 10, 30, &[]), 9),
                    video(1, 2, 10, 30, &[]),
                    creative(video(2, 3, 5, 15, &[]), 9),
                ],
            ),
        ];
        TWINS_AFTER_TEST.with(|t| t.set(1));
        for (separation, cands) in cases {
            let spec = PodSpec {
                separation,
                ..PodSpec::new(2, 45)
            };
            // Several seeds, so A ranks before B in some (ties break by seed).
            for seed in 0..8 {
                let mut out = Outcome::new();
                super::run(&GSP, &spec, &cands, seed, &mut out).unwrap();
                let mut keys: Vec<u32> = out.placements().iter().map(|p| p.key).collect();
                keys.sort_unstable();
                assert_eq!(keys, [1, 2], "{separation:?}, seed {seed}");
            }
        }
    }

    #[test]
    fn a_pathological_pod_stops_at_the_budget_with_a_feasible_pod() {
        // The rate card with twins not recognized: no bound separates the ties and the
        // search stops after NODE_BUDGET nodes with the best pod found, which is feasible
        // and no worse than the greedy fill.
        let cands = rate_card(false);
        let spec = rate_card_spec();
        TWINS_AFTER_TEST.with(|t| t.set(u32::MAX));
        for config in [GSP, VCG] {
            NODES.with(|n| n.set(0));
            let out = run(config, &spec, &cands);
            let nodes = NODES.with(std::cell::Cell::get);
            assert!(out.truncated());
            assert!(nodes <= u64::from(super::NODE_BUDGET + 16 * super::RERUN_BUDGET));
            assert_feasible_and_at_least_greedy(&out, &cands);
        }
        // A small pod is searched in full.
        let out = run(GSP, &spec, &cands[..9]);
        assert!(!out.truncated());
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

#[cfg(test)]
mod prefix {
    use super::run_with_prefix;
    use crate::{
        AdvertiserDomain, AuctionConfig, Candidate, Categories, Floors, Outcome, PodPricing,
        PodSpec, SameAdvertiserRule, Separation, Tier,
    };
    use adloop_core::Cpm;
    use proptest::prelude::*;

    /// (bid cents, tier, advertiser, domain, category, duration index, creative, multiplier %)
    type Gen = (i64, u8, u64, Option<u64>, u32, usize, u64, u8);

    fn build(gens: &[Gen]) -> Vec<Candidate> {
        gens.iter()
            .enumerate()
            .map(|(k, &(bid, tier, adv, dom, cat, dur, cre, mult))| {
                let c = crate::test_support::cand(k as u32, adv, bid)
                    .with_tier([Tier::OPEN, Tier::DEAL, Tier::GUARANTEED][usize::from(tier)])
                    .with_categories(Categories::new(&[cat]).unwrap())
                    .with_duration_s([15, 30, 45, 60][dur])
                    .with_multiplier(f64::from(mult) / 100.0);
                let c = Candidate {
                    creative: adloop_core::CreativeId(cre),
                    ..c
                };
                match dom {
                    Some(d) => c.with_domain(AdvertiserDomain::new(d)),
                    None => c,
                }
            })
            .collect()
    }

    fn config_of(vcg: bool, exclude: bool) -> AuctionConfig {
        AuctionConfig {
            pod_pricing: if vcg {
                PodPricing::Vcg
            } else {
                PodPricing::Gsp
            },
            same_advertiser: if exclude {
                SameAdvertiserRule::Exclude
            } else {
                SameAdvertiserRule::Compete
            },
            ..AuctionConfig::default()
        }
    }

    fn separation_of(sep: [bool; 4]) -> Separation {
        Separation {
            advertiser: sep[0],
            domain: sep[1],
            category: sep[2],
            creative: sep[3],
        }
    }

    /// The outcome of a search that looks for twins after `after` nodes (`u32::MAX`:
    /// never), with a first block of `prefix` entries.
    fn run_twins(
        config: &AuctionConfig,
        spec: &PodSpec<'_>,
        cands: &[Candidate],
        seed: u64,
        after: u32,
        prefix: usize,
    ) -> Outcome {
        super::tests::TWINS_AFTER_TEST.with(|t| t.set(after));
        let mut out = Outcome::new();
        run_with_prefix(config, spec, cands, seed, &mut out, prefix).unwrap();
        super::tests::TWINS_AFTER_TEST.with(|t| t.set(super::TWINS_AFTER));
        out
    }

    #[test]
    fn a_gsp_price_past_the_prefix_widens_it() {
        use crate::test_support::video;
        // The winner's only rival outside its own advertiser ranks past a prefix of two.
        let cands = [
            video(0, 1, 1000, 30, &[1]),
            video(1, 1, 900, 30, &[2]),
            video(2, 2, 800, 30, &[3]),
        ];
        let spec = PodSpec::new(1, 60);
        let config = AuctionConfig::default();
        let (mut whole, mut part) = (Outcome::new(), Outcome::new());
        run_with_prefix(&config, &spec, &cands, 1, &mut whole, usize::MAX).unwrap();
        run_with_prefix(&config, &spec, &cands, 1, &mut part, 2).unwrap();
        // Second price against the other advertiser's 8.00, plus the increment.
        assert_eq!(whole.placements()[0].price.micros(), 8_010_000);
        assert_eq!(whole, part);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Searching a ranked prefix (widened on overflow) gives exactly the outcome of
        /// searching the whole list: placements, prices and every loss reason.
        #[test]
        fn a_prefix_search_is_the_whole_search(
            gens in prop::collection::vec(
                (1i64..60, 0u8..3, 0u64..12, prop::option::of(0u64..8), 0u32..6, 0usize..4, 0u64..40, 50u8..101),
                0..120,
            ),
            slots in 1u16..7,
            dur in 15u32..181,
            required in prop::sample::select(vec![vec![], vec![15, 30], vec![45]]),
            floor in 0i64..30,
            sep in any::<[bool; 4]>(),
            vcg in any::<bool>(),
            compete in any::<bool>(),
            prefix in 1usize..12,
            seed in any::<u64>(),
        ) {
            let cands = build(&gens);
            let config = config_of(vcg, !compete);
            let spec = PodSpec {
                required_durations_s: &required,
                floors: Floors::hard(Cpm::from_micros(floor * 10_000)),
                separation: separation_of(sep),
                ..PodSpec::new(slots, dur)
            };
            let (mut whole, mut part) = (Outcome::new(), Outcome::new());
            run_with_prefix(&config, &spec, &cands, seed, &mut whole, usize::MAX).unwrap();
            run_with_prefix(&config, &spec, &cands, seed, &mut part, prefix).unwrap();
            prop_assert_eq!(whole, part);
        }
    }

    proptest! {
        // Cheap cases (a few dozen candidates), and a wrong twin shows only in some.
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        /// Skipping twins changes nothing: a search that looks for them from its first
        /// node gives exactly the outcome of one that never does (placements, prices,
        /// loss reasons), over candidates made of a few types copied several times.
        #[test]
        fn twins_change_no_outcome(
            // Families share a bid, tier and duration; each variant changes one field of
            // the family's (category, shared advertiser, domain, shared creative), so
            // only that field of the twin key tells it from the others, or keeps the
            // conflicts and lowers the bid or changes the duration (dominance).
            families in prop::collection::vec(
                (
                    (1i64..60, 0u8..2, 0usize..4),
                    (0u32..3, any::<bool>(), prop::option::of(0u64..3), any::<bool>()),
                    prop::collection::vec((0usize..7, 0u64..3, 1usize..4), 1..4),
                ),
                1..4,
            ),
            singles in prop::collection::vec(
                (1i64..60, 0u8..2, 0u64..4, prop::option::of(0u64..3), 0u32..3, 0usize..4, 0u64..4, 100u8..101),
                0..4,
            ),
            slots in 1u16..6,
            dur in 15u32..151,
            sep in any::<[bool; 4]>(),
            vcg in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut gens: Vec<Gen> = singles;
            for (f, ((bid, tier, d), base, variants)) in families.iter().enumerate() {
                for (v, &(field, x, copies)) in variants.iter().enumerate() {
                    let (mut cat, mut shared_adv, mut dom, mut shared_cre) = *base;
                    match field {
                        0 => cat = x as u32,
                        1 => shared_adv = !shared_adv,
                        2 => dom = (x > 0).then_some(x),
                        3 => shared_cre = !shared_cre,
                        _ => {} // the same conflicts
                    }
                    // Fields 5 and 6: a lower bid or another duration (dominance).
                    let bid = if field == 5 { (*bid - x as i64).max(1) } else { *bid };
                    let d = if field == 6 { (*d + x as usize) % 4 } else { *d };
                    let t = (10 * f + v) as u64;
                    for c in 0..copies {
                        let k = 100 * t + c as u64;
                        let adv = if shared_adv { 50 + t } else { 1_000 + k };
                        let cre = if shared_cre { 50 + t } else { 1_000 + k };
                        gens.push((bid, *tier, adv, dom, cat, d, cre, 100));
                    }
                }
            }
            let cands = build(&gens);
            let config = config_of(vcg, false);
            let spec = PodSpec {
                separation: separation_of(sep),
                ..PodSpec::new(slots, dur)
            };
            let run = |after| run_twins(&config, &spec, &cands, seed, after, usize::MAX);
            let (with, without) = (run(1), run(u32::MAX));
            prop_assume!(!with.truncated() && !without.truncated());
            prop_assert_eq!(with, without);
        }

        /// Dominance changes no outcome in the wider space: ads of several categories
        /// (in either order), three tiers, required durations, `Exclude` pricing, twins
        /// found after 1 to 59 nodes, and a small first block of the ranking. Copies of a
        /// few types, each copy possibly with a lower bid, another duration, a higher
        /// tier, its own advertiser or creative, or no domain.
        #[test]
        fn dominance_changes_no_outcome_anywhere(
            types in prop::collection::vec(
                (
                    (1i64..40, 0u8..3, 0usize..4, prop::collection::vec(0u32..5, 0..3)),
                    (0u64..3, prop::option::of(0u64..3), 0u64..3),
                ),
                1..5,
            ),
            copies in prop::collection::vec(
                (0usize..5, (0i64..3, 0usize..2, 0u8..2), (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())),
                1..14,
            ),
            slots in 1u16..6,
            dur in 15u32..151,
            sep in any::<[bool; 4]>(),
            vcg in any::<bool>(),
            exclude in any::<bool>(),
            required in prop::sample::select(vec![vec![], vec![15, 30], vec![30, 45, 60]]),
            after in 1u32..60,
            prefix in 1usize..8,
            seed in any::<u64>(),
        ) {
            let mut cands = Vec::new();
            for (k, &(t, (lower, longer, higher), (reverse, own_adv, own_cre, no_dom))) in
                copies.iter().enumerate()
            {
                let ((bid, tier, d, ref cats), (adv, dom, cre)) = types[t % types.len()];
                let mut cats = cats.clone();
                if reverse {
                    cats.reverse();
                }
                let tier = (tier + higher).min(2);
                let adv = if own_adv { 1_000 + k as u64 } else { adv };
                let cre = if own_cre { 1_000 + k as u64 } else { cre };
                let c = crate::test_support::cand(k as u32, adv, (bid - lower).max(1))
                    .with_tier([Tier::OPEN, Tier::DEAL, Tier::GUARANTEED][usize::from(tier)])
                    .with_categories(Categories::new(&cats).unwrap())
                    .with_duration_s([15, 30, 45, 60][(d + longer) % 4]);
                let c = Candidate {
                    creative: adloop_core::CreativeId(cre),
                    ..c
                };
                cands.push(match dom {
                    Some(x) if !no_dom => c.with_domain(AdvertiserDomain::new(x)),
                    _ => c,
                });
            }
            let config = config_of(vcg, exclude);
            let spec = PodSpec {
                required_durations_s: &required,
                separation: separation_of(sep),
                ..PodSpec::new(slots, dur)
            };
            let run = |after, prefix| run_twins(&config, &spec, &cands, seed, after, prefix);
            let without = run(u32::MAX, usize::MAX);
            prop_assume!(!without.truncated());
            prop_assert_eq!(&run(after, prefix), &without);
            prop_assert_eq!(&run(1, usize::MAX), &without);
        }
    }
}
