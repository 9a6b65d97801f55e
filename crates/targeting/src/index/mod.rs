//! The compiled index: anchored conjunctions and bitset rows, built once, matched many
//! times.
//!
//! # Layout
//! Every expression is normalized to at most [`BuildOptions::max_conjunctions`] conjunctions; each
//! conjunction is a *row*. Expressions beyond the caps go to the [`Fallback`] evaluator.
//! A row with a selective positive `in` list (at most 16 values, estimated selectivity
//! at most [`BuildOptions::anchor_threshold_ppm`]) goes to the [`Anchored`] partition:
//! it is posted under each value of that list, in a group of the rows that share its
//! two most selective short `in` lists (the gate), and checked only for requests
//! carrying the value and passing the gate. The other rows are bit positions in the
//! lanes described next.
//!
//! Within a conjunction, the `j`-th literal on attribute `a`
//! belongs to *lane* `(a, j)`, so each row has at most one literal per lane, and a row
//! matches exactly when every lane it appears in is satisfied.
//!
//! For a lane, let `m0` be the rows satisfied when the request has no value for the
//! attribute (rows not in the lane, and rows whose literal is negated) and `H` the rows
//! whose atom is true for the request's values. The lane is satisfied by exactly
//! `m0 XOR H`, because `H` only holds rows of the lane, and a negated literal is
//! satisfied where its atom is not. `H` is the OR, over the request's values, of a
//! posting per value: a sparse list of row bits, or, for values hit by many rows, a
//! dense bitset stored pre-folded as `m0 XOR P(v)` so that the common single-valued
//! case is one AND pass. Integer ranges are bucketed at their endpoints, one posting per
//! bucket.
//!
//! Rows are sorted by their lane signature (lanes ranked by how many rows use them), so
//! the rows of a lane sit in few runs of words; a lane stores and touches only the words
//! of its runs. Matching ANDs each lane into a result bitset, maps surviving rows to key
//! ordinals in a second bitset (which also removes duplicates from multi-row
//! expressions), adds the anchored partition's and the fallback's answers (both skip
//! keys already found), and emits keys in ascending order.

mod anchored;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod fallback;
mod normalize;

use std::collections::hash_map::Entry;

use ahash::AHashMap;

use crate::{
    ast::{Expr, Value},
    error::Error,
    request::{Request, Stored},
};

use self::{
    anchored::{
        Anchored, AnchoredRow, GROUP_PAYLOAD, anchorable, anchored_cost, body_words, selectivity,
    },
    fallback::Fallback,
    normalize::{Atom, DEFAULT_MAX_CONJUNCTIONS, Lit, MAX_CONJUNCTIONS, to_dnf},
};

/// Most words between two runs of a lane's rows that are joined into one run (for
/// lanes of at most 7 distinct values; fewer for lanes of more).
const MAX_RUN_GAP: usize = 6;
/// Lanes whose runs average fewer words than this are walked word by word (see
/// `Lane::word_of`).
const SHORT_RUN: usize = 8;
/// Keys emitted per block in [`Index::matches`] (at least 128, a power of two).
const EMIT_BLOCK: usize = 256;
/// Entries of `Index::row_key` per word of 64 rows: one per row, then the sink.
const ROW_KEY_STRIDE: usize = 65;
/// The dictionary id of a request value that no expression mentions.
pub(crate) const NO_ID: u32 = u32::MAX;
/// Deepest expression (in [`Expr::depth`] terms) an index accepts.
const MAX_BUILD_DEPTH: usize = 256;
/// Most lanes per attribute: a conjunction with more literals on one attribute goes to
/// the fallback evaluator.
const MAX_LANES_PER_ATTRIBUTE: usize = 8;
/// Longest `in` list a conjunction may be anchored on (filed once per value).
const MAX_ANCHOR_VALUES: usize = 16;
/// Default [`BuildOptions::anchor_threshold_ppm`]: 3/100. With gated groups
/// (callgrind instructions per request) it beats 1/100 by 6% on the audience workload
/// at 10k and 100k expressions and leaves broad and decide unchanged; 1/1 is no better
/// (the expected-work cap then decides).
const DEFAULT_ANCHOR_THRESHOLD_PPM: u32 = 30_000;
/// Most estimated checking work per request (presence probes; see
/// `anchored::anchored_cost`) of an anchored row: a row whose anchor is selective but
/// whose other literals are long lists is cheaper in the bitset lanes. Measured: broad
/// rows with 80-300-id segment lists cost about 1, audience rows below 0.1.
const MAX_ANCHORED_COST: f64 = 0.25;
/// [`MAX_ANCHORED_COST`] when the lanes run their AVX-512 copies and would hold at
/// least [`LARGE_BITSET_ROWS`] rows anyway. Measured, alternating indexes in one
/// process: broad 100k (85k bitset rows) 3-7% faster with 10.6k anchored rows instead
/// of 19.0k; the same cap on audience 10k (500 bitset rows) was 2% slower, and with
/// the portable kernels 5% slower.
const MAX_ANCHORED_COST_LARGE_AVX512: f64 = 0.1;
/// Bitset rows (at [`MAX_ANCHORED_COST`]) from which [`MAX_ANCHORED_COST_LARGE_AVX512`]
/// applies.
const LARGE_BITSET_ROWS: usize = 8192;
/// Most expressions per index (rows are numbered with `u32` bit positions).
const MAX_EXPRESSIONS: usize = (u32::MAX / 2 / MAX_CONJUNCTIONS as u32) as usize;

/// Options for [`Index::build_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Most conjunctions (bitset rows) one expression may expand into when normalized
    /// to an OR of ANDs; an expression needing more is answered by the exact fallback
    /// evaluator. Default 16, at most 64. `0` sends every expression to the fallback
    /// evaluator, which makes the index a compiled brute-force scan (a baseline).
    pub max_conjunctions: usize,
    /// Anchoring threshold, in parts per million. A conjunction with a positive `in`
    /// list of at most 16 values whose estimated selectivity (list length over the
    /// distinct values expressions name for that attribute) is at most this share is
    /// filed under each of that list's values and checked only for requests that
    /// carry one of them; others stay in the bitset rows. Default 30,000 (3/100); `0`
    /// keeps every conjunction in the bitset rows, `1_000_000` anchors every
    /// conjunction that has such a list.
    pub anchor_threshold_ppm: u32,
    /// Whether matching may run the copies of its inner loops compiled for this CPU's
    /// extensions (on x86-64: BMI1/BMI2/POPCNT, and AVX-512 with VBMI2), chosen once at
    /// build when the CPU has them. Default `true`; `false` keeps the portable code
    /// (for comparison: answers are the same either way). With AVX-512, a large bitset
    /// partition also takes some rows the other copies would anchor, so
    /// [`IndexStats::anchored_rows`] and the index's size can differ too.
    pub cpu_kernels: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            max_conjunctions: DEFAULT_MAX_CONJUNCTIONS,
            anchor_threshold_ppm: DEFAULT_ANCHOR_THRESHOLD_PPM,
            cpu_kernels: true,
        }
    }
}

impl BuildOptions {
    /// The default options.
    pub fn new() -> Self {
        BuildOptions::default()
    }

    /// Sets [`BuildOptions::max_conjunctions`] (clamped to 64).
    pub fn max_conjunctions(mut self, cap: usize) -> Self {
        self.max_conjunctions = cap.min(MAX_CONJUNCTIONS);
        self
    }

    /// Sets [`BuildOptions::anchor_threshold_ppm`] (clamped to 1,000,000).
    pub fn anchor_threshold_ppm(mut self, ppm: u32) -> Self {
        self.anchor_threshold_ppm = ppm.min(1_000_000);
        self
    }

    /// Sets [`BuildOptions::cpu_kernels`].
    pub fn cpu_kernels(mut self, on: bool) -> Self {
        self.cpu_kernels = on;
        self
    }
}

/// Per-attribute value dictionaries, shared by the rows and the fallback evaluator.
#[derive(Debug, Default)]
pub(crate) struct Dictionaries {
    by_name: AHashMap<Box<str>, u32>,
    /// Attribute names by id, to confirm a [`Scratch`]'s cached name lookups.
    names: Vec<Box<str>>,
    attrs: Vec<Dict>,
}

#[derive(Debug, Default)]
struct Dict {
    ints: AHashMap<i64, u32>,
    /// Direct table `value - dense_min → id` when the integer values are compact.
    dense: Vec<u32>,
    dense_min: i64,
    strs: AHashMap<Box<str>, u32>,
    next: u32,
    lanes: Vec<u32>,
}

impl Dictionaries {
    pub(crate) fn attribute(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.attrs.len() as u32;
        self.by_name.insert(name.into(), id);
        self.names.push(name.into());
        self.attrs.push(Dict::default());
        id
    }

    pub(crate) fn intern(&mut self, attr: u32, value: &Value) -> u32 {
        let d = &mut self.attrs[attr as usize];
        let next = d.next;
        let id = match value {
            Value::Int(v) => *d.ints.entry(*v).or_insert(next),
            Value::Str(s) => match d.strs.get(s.as_str()) {
                Some(&id) => id,
                None => {
                    d.strs.insert(s.as_str().into(), next);
                    next
                }
            },
        };
        if id == next {
            d.next += 1;
        }
        id
    }

    fn finish(&mut self) {
        for d in &mut self.attrs {
            let (Some(&min), Some(&max)) = (d.ints.keys().min(), d.ints.keys().max()) else {
                continue;
            };
            let span = (max as i128 - min as i128) as u128;
            if span < 4 * d.ints.len() as u128 + 1024 {
                d.dense = vec![NO_ID; span as usize + 1];
                d.dense_min = min;
                for (&v, &id) in &d.ints {
                    d.dense[(v - min) as usize] = id;
                }
                d.ints = AHashMap::new();
            }
        }
    }

    pub(crate) fn attr_count(&self) -> usize {
        self.attrs.len()
    }

    /// Distinct values expressions name for `attr` (its dictionary ids are `0..count`).
    pub(crate) fn value_count(&self, attr: u32) -> usize {
        self.attrs[attr as usize].next as usize
    }

    /// The id of an attribute already added.
    pub(crate) fn attribute_id(&self, name: &str) -> u32 {
        self.by_name[name]
    }

    pub(crate) fn lookup_int(&self, attr: u32, v: i64) -> u32 {
        let d = &self.attrs[attr as usize];
        if d.dense.is_empty() {
            d.ints.get(&v).copied().unwrap_or(NO_ID)
        } else {
            // `v - dense_min` modulo 2^64: below the table's length exactly when `v` is
            // in the table's span (which ends at most at `i64::MAX`).
            let off = v.wrapping_sub(d.dense_min) as u64;
            usize::try_from(off)
                .ok()
                .and_then(|off| d.dense.get(off))
                .copied()
                .unwrap_or(NO_ID)
        }
    }

    pub(crate) fn lookup_str(&self, attr: u32, s: &str) -> u32 {
        self.attrs[attr as usize]
            .strs
            .get(s)
            .copied()
            .unwrap_or(NO_ID)
    }

    fn heap_bytes(&self) -> usize {
        let map = |n: usize, entry: usize| n * (entry + 1) * 8 / 7;
        self.by_name
            .keys()
            .map(|k| 2 * (k.len() + 24))
            .sum::<usize>()
            + self
                .attrs
                .iter()
                .map(|d| {
                    map(d.ints.capacity(), 12)
                        + d.dense.capacity() * 4
                        + map(d.strs.capacity(), 20)
                        + d.strs.keys().map(|k| k.len()).sum::<usize>()
                        + d.lanes.capacity() * 4
                })
                .sum::<usize>()
    }
}

/// A request encoded against one index: per attribute, its dictionary ids and its
/// integers.
#[derive(Debug)]
pub(crate) struct Encoded<'a> {
    ids: &'a [u32],
    ints: &'a [i64],
    spans: &'a [Span],
}

impl Encoded<'_> {
    pub(crate) fn ids(&self, attr: u32) -> &[u32] {
        let s = self.spans[attr as usize];
        &self.ids[s.ids_start as usize..s.ids_end as usize]
    }

    pub(crate) fn ints(&self, attr: u32) -> &[i64] {
        let s = self.spans[attr as usize];
        &self.ints[s.ints_start as usize..s.ints_end as usize]
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Span {
    ids_start: u32,
    ids_end: u32,
    ints_start: u32,
    ints_end: u32,
}

/// Where a value's (or range bucket's) rows are: `len == 0` none, `DENSE` flag set:
/// `dense[start..start + words]` holds `m0 XOR P`; otherwise `entries[start..start + len]`
/// holds local bit numbers.
#[derive(Debug, Clone, Copy, Default)]
struct Plan {
    start: u32,
    len: u32,
}

const DENSE: u32 = 1 << 31;

#[derive(Debug, Clone, Copy)]
struct Run {
    /// First word of the run in the result bitset.
    word: u32,
    len: u32,
    /// First word of the run in the lane's compact bitsets.
    local: u32,
}

#[derive(Debug, Default)]
struct Lane {
    attr: u32,
    runs: Vec<Run>,
    /// For a lane of many short runs, the result word of each lane-local word: one
    /// loop over the lane's words instead of a loop per run, whose varying lengths
    /// mispredict about once or twice per run. Empty for lanes of long runs.
    word_of: Vec<u32>,
    words: usize,
    m0: Vec<u64>,
    by_value: Vec<Plan>,
    entries: Vec<u32>,
    dense: Vec<u64>,
    /// Sorted bucket starts; bucket `i` is `[bounds[i], bounds[i + 1])`.
    bounds: Vec<i64>,
    bucket_plans: Vec<Plan>,
    /// Ranges answered by scanning, when bucketing them would cost too much memory:
    /// `(lo, hi, sparse entry)`.
    scan: Vec<(i64, i64, u32)>,
}

impl Lane {
    fn heap_bytes(&self) -> usize {
        self.runs.capacity() * 12
            + self.word_of.capacity() * 4
            + self.m0.capacity() * 8
            + self.by_value.capacity() * 8
            + self.entries.capacity() * 4
            + self.dense.capacity() * 8
            + self.bounds.capacity() * 8
            + self.bucket_plans.capacity() * 8
            + self.scan.capacity() * 24
    }

    fn bucket_plan(&self, x: i64) -> Plan {
        let i = self.bounds.partition_point(|&b| b <= x);
        if i == 0 {
            Plan::default()
        } else {
            self.bucket_plans[i - 1]
        }
    }
}

/// Size and shape of a built [`Index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexStats {
    /// Expressions added.
    pub expressions: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Conjunctions (rows) the expressions were normalized into, in the bitset lanes
    /// and the anchored partition together.
    pub rows: usize,
    /// Conjunctions in the anchored partition: found through the values of one
    /// selective `in` list, then checked literal by literal.
    pub anchored_rows: usize,
    /// Anchor postings: each anchored conjunction once per value of its anchor list.
    pub anchor_entries: usize,
    /// Expressions answered by the fallback evaluator.
    pub fallback_expressions: usize,
    /// Lanes (attribute, position) the rows are split over.
    pub lanes: usize,
    /// Heap memory held by the index, in bytes (hash tables estimated).
    pub heap_bytes: usize,
    /// 64-bit words of the result bitset.
    pub result_words: usize,
    /// Words all lanes together AND into the result per request (the bitset work of one
    /// match; `lanes × result_words` without the row clustering).
    pub lane_words: usize,
    /// Which compiled copies of matching's inner loops the index runs: `"avx512"`,
    /// `"avx512-lanes"` (AVX-512 without VBMI2: the lane pass and list scan, BMI output
    /// loops), `"bmi"` or `"portable"` (see [`BuildOptions::cpu_kernels`]).
    pub kernels: &'static str,
}

/// A compiled, immutable index over `(key, expression)` pairs that returns exactly the
/// keys whose expression is true for a request.
///
/// Build it once per campaign snapshot with [`Index::build`]; call [`Index::matches`]
/// from any number of threads, each with its own [`Scratch`]. A key added with several
/// expressions matches when any of them does.
///
/// ```
/// use adloop_targeting::{parse, Index, Request, Scratch};
/// let a = parse(r#"segment in (1, 2) and device != "tv""#)?;
/// let b = parse("hour between 18 and 23 or segment all (7, 8)")?;
/// let index = Index::build([(10, &a), (20, &b)])?;
///
/// let mut req = Request::new();
/// req.push_int("segment", 2);
/// req.push_int("hour", 20);
/// let (mut scratch, mut out) = (Scratch::new(), Vec::new());
/// index.matches(&req, &mut scratch, &mut out);
/// assert_eq!(out, [10, 20]);
/// # Ok::<(), adloop_targeting::Error>(())
/// ```
#[derive(Debug)]
pub struct Index {
    dicts: Dictionaries,
    lanes: Vec<Lane>,
    rows: usize,
    /// All-ones over real rows, zero past the last row.
    valid: Vec<u64>,
    /// Key ordinal per row, [`ROW_KEY_STRIDE`] entries per word of 64 rows: the
    /// word's 64 rows (zeros past the last row), then the sink (the first ordinal past
    /// the real key words), where the
    /// branch-free steps of `rows_to_keys` past a word's last set bit land.
    row_key: Vec<u32>,
    /// Distinct keys, ascending; key ordinals index this. Padded with zeros to whole
    /// words of 64 (the first `key_count` are real).
    keys: Vec<u32>,
    key_count: usize,
    /// `Some(keys[0])` when the keys are consecutive integers (the usual numbering of a
    /// snapshot's campaigns), so a key ordinal converts to its key by an addition.
    first_key: Option<u32>,
    /// Which copies of matching's inner loops this CPU runs (checked once, at build).
    kernels: Kernels,
    fallback: Fallback,
    anchored: Anchored,
    expressions: usize,
    max_lane_words: usize,
}

struct RowBuild<'a> {
    key_ord: u32,
    lits: Vec<(u32, Lit<'a>)>,
}

impl Index {
    /// Compiles an index over `(key, expression)` pairs.
    ///
    /// Fails only on expressions built in code deeper than 256 levels
    /// ([`Error::ExpressionTooDeep`]) or on more than about 250 million expressions;
    /// every other expression is indexed, as bitset rows or through the exact fallback
    /// evaluator.
    pub fn build<'a, I>(pairs: I) -> Result<Index, Error>
    where
        I: IntoIterator<Item = (u32, &'a Expr)>,
    {
        Index::build_with(pairs, &BuildOptions::default())
    }

    /// [`Index::build`] with explicit [`BuildOptions`].
    pub fn build_with<'a, I>(pairs: I, options: &BuildOptions) -> Result<Index, Error>
    where
        I: IntoIterator<Item = (u32, &'a Expr)>,
    {
        let cap = options.max_conjunctions.min(MAX_CONJUNCTIONS);
        let pairs: Vec<(u32, &Expr)> = pairs.into_iter().collect();
        if pairs.len() > MAX_EXPRESSIONS {
            return Err(Error::TooManyExpressions {
                limit: MAX_EXPRESSIONS,
            });
        }
        let mut keys: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        keys.sort_unstable();
        keys.dedup();
        let key_ord = |k: u32| keys.binary_search(&k).unwrap_or(0) as u32;

        let mut dicts = Dictionaries::default();
        let mut fallback = Fallback::default();
        let mut rows: Vec<RowBuild<'_>> = Vec::new();
        // (attr, j) -> lane id
        let mut lane_of: AHashMap<(u32, u32), u32> = AHashMap::new();
        let mut lane_attr: Vec<u32> = Vec::new();
        let mut per_attr_count: Vec<u32> = Vec::new();

        for &(key, expr) in &pairs {
            if expr.depth() > MAX_BUILD_DEPTH {
                return Err(Error::ExpressionTooDeep {
                    key,
                    limit: MAX_BUILD_DEPTH,
                });
            }
            let ord = key_ord(key);
            let conjs = to_dnf(expr, cap).filter(|conjs| {
                conjs.iter().all(|c| {
                    c.iter().enumerate().all(|(i, l)| {
                        c[..i].iter().filter(|o| o.attr == l.attr).count() < MAX_LANES_PER_ATTRIBUTE
                    })
                })
            });
            let Some(conjs) = conjs else {
                fallback.add(ord, expr, &mut dicts);
                continue;
            };
            for conj in conjs {
                let mut lits = Vec::with_capacity(conj.len());
                for lit in conj {
                    let attr = dicts.attribute(lit.attr);
                    if per_attr_count.len() < dicts.attrs.len() {
                        per_attr_count.resize(dicts.attrs.len(), 0);
                    }
                    let j = per_attr_count[attr as usize];
                    per_attr_count[attr as usize] += 1;
                    let lane = match lane_of.entry((attr, j)) {
                        Entry::Occupied(e) => *e.get(),
                        Entry::Vacant(e) => {
                            lane_attr.push(attr);
                            dicts.attrs[attr as usize]
                                .lanes
                                .push(lane_attr.len() as u32 - 1);
                            *e.insert(lane_attr.len() as u32 - 1)
                        }
                    };
                    if let Atom::In(values) = lit.atom {
                        for v in values {
                            dicts.intern(attr, v);
                        }
                    }
                    lits.push((lane, lit));
                }
                for (_, lit) in &lits {
                    let attr = dicts.by_name[lit.attr];
                    per_attr_count[attr as usize] = 0;
                }
                rows.push(RowBuild { key_ord: ord, lits });
            }
        }
        dicts.finish();

        let kernels = if options.cpu_kernels {
            Kernels::detect(rows.len(), keys.len())
        } else {
            Kernels::Portable
        };
        #[cfg(test)]
        let kernels = tests::FORCE_KERNELS.get().unwrap_or(kernels);
        // Conjunctions with a selective positive `in` list go to the anchored partition.
        // Per row: its anchor literal and estimated checking work, when it has an
        // anchor selective enough.
        let max_p = options.anchor_threshold_ppm.min(1_000_000) as f64 / 1e6;
        let encodable = anchorable(&dicts);
        let plans: Vec<Option<(f64, usize)>> = rows
            .iter()
            .map(|row| {
                row.lits
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, l))| {
                        matches!(l.atom, Atom::In(v) if !l.negated && v.len() <= MAX_ANCHOR_VALUES)
                    })
                    .map(|(i, (_, l))| (selectivity(&dicts, dicts.attribute_id(l.attr), l), i))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|&(p, _)| p <= max_p && encodable)
                    .map(|(p, anchor)| (anchored_cost(p, &row.lits, anchor), anchor))
            })
            .collect();
        let max_cost = match kernels {
            // A large bitset partition shares each lane's per-request setup among many
            // rows, and the AVX-512 lanes are cheaper per word: a costly anchored row
            // is then better as one more bitset row.
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx512 | Kernels::Avx512Lanes
                if plans
                    .iter()
                    .filter(|p| !p.is_some_and(|(cost, _)| cost <= MAX_ANCHORED_COST))
                    .count()
                    >= LARGE_BITSET_ROWS =>
            {
                MAX_ANCHORED_COST_LARGE_AVX512
            }
            _ => MAX_ANCHORED_COST,
        };
        let mut anchored_rows: Vec<AnchoredRow<'_>> = Vec::new();
        // Body offsets and postings fit a group's 28-bit payload: bodies take at most
        // `body_words` each, postings at most two words (count, entry) per anchor value.
        let (mut anchored_words, mut anchored_postings) = (0usize, 0usize);
        let mut bitset_rows: Vec<RowBuild<'_>> = Vec::with_capacity(rows.len());
        for (row, plan) in rows.into_iter().zip(plans) {
            let fits = plan
                .filter(|&(cost, _)| cost <= max_cost)
                .map(|(_, anchor)| {
                    let values = match row.lits[anchor].1.atom {
                        Atom::In(v) => v.len(),
                        Atom::Range(..) => 0,
                    };
                    (anchor, body_words(&row.lits), 2 * values)
                })
                .filter(|&(_, w, p)| {
                    anchored_words + w <= GROUP_PAYLOAD as usize
                        && anchored_postings + p <= GROUP_PAYLOAD as usize
                });
            match fits {
                Some((anchor, w, p)) => {
                    anchored_words += w;
                    anchored_postings += p;
                    anchored_rows.push(AnchoredRow {
                        key_ord: row.key_ord,
                        anchor,
                        lits: row.lits,
                    });
                }
                None => bitset_rows.push(row),
            }
        }
        let rows = bitset_rows;
        let mut anchored = Anchored::build(anchored_rows, &dicts);
        #[cfg(target_arch = "x86_64")]
        if matches!(kernels, Kernels::Avx512 | Kernels::Avx512Lanes) {
            anchored.set_simd_lists();
        }

        // Rank lanes by use, most used first, and sort rows by their ranked signature
        // so that each lane's rows cluster into few runs of words.
        let mut lane_use = vec![0usize; lane_attr.len()];
        for r in &rows {
            for (lane, _) in &r.lits {
                lane_use[*lane as usize] += 1;
            }
        }
        let mut by_use: Vec<u32> = (0..lane_attr.len() as u32).collect();
        by_use.sort_by_key(|&l| (std::cmp::Reverse(lane_use[l as usize]), l));
        let mut rank = vec![0u32; lane_attr.len()];
        for (r, &l) in by_use.iter().enumerate() {
            rank[l as usize] = r as u32;
        }
        // The signature keeps the 128 most used lanes, which is all clustering needs.
        let mut order: Vec<(std::cmp::Reverse<u128>, u32, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let sig = r
                    .lits
                    .iter()
                    .map(|(l, _)| rank[*l as usize])
                    .filter(|&r| r < 128)
                    .fold(0u128, |acc, r| acc | 1 << (127 - r));
                (std::cmp::Reverse(sig), r.key_ord, i as u32)
            })
            .collect();
        order.sort_unstable();
        let n = rows.len();
        let words = n.div_ceil(64);

        // Members of each lane in row order: (row position, literal).
        let mut members: Vec<Vec<(u32, Lit<'_>)>> = vec![Vec::new(); lane_attr.len()];
        let key_words = keys.len().div_ceil(64);
        let sink = (key_words * 64) as u32;
        let mut row_key = Vec::with_capacity(words * ROW_KEY_STRIDE);
        for (pos, (_, key_ord, i)) in order.iter().enumerate() {
            row_key.push(*key_ord);
            if pos % 64 == 63 {
                row_key.push(sink);
            }
            for (lane, lit) in &rows[*i as usize].lits {
                members[*lane as usize].push((pos as u32, *lit));
            }
        }
        drop(order);
        drop(rows);

        let mut local_of = vec![u32::MAX; words];
        let mut lanes = Vec::with_capacity(lane_attr.len());
        for (lane_id, mem) in members.into_iter().enumerate() {
            if mem.is_empty() {
                continue;
            }
            lanes.push(build_lane(lane_attr[lane_id], &mem, &mut local_of, &dicts));
        }

        let mut valid = vec![!0u64; words];
        if !n.is_multiple_of(64) {
            valid[words - 1] = (1u64 << (n % 64)) - 1;
        }
        let max_lane_words = lanes.iter().map(|l| l.words).max().unwrap_or(0);
        if !n.is_multiple_of(64) {
            row_key.resize(words * ROW_KEY_STRIDE - 1, 0);
            row_key.push(sink);
        }
        let key_count = keys.len();
        let first_key = keys.first().copied().filter(|&k0| {
            keys.iter()
                .enumerate()
                .all(|(i, &k)| k as u64 == k0 as u64 + i as u64)
        });
        keys.resize(key_count.div_ceil(64) * 64, 0);
        Ok(Index {
            dicts,
            lanes,
            rows: n,
            valid,
            row_key,
            keys,
            key_count,
            first_key,
            kernels,
            fallback,
            anchored,
            expressions: pairs.len(),
            max_lane_words,
        })
    }

    /// Size and shape of the index.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            expressions: self.expressions,
            keys: self.key_count,
            rows: self.rows + self.anchored.rows(),
            anchored_rows: self.anchored.rows(),
            anchor_entries: self.anchored.entries(),
            fallback_expressions: self.fallback.len(),
            lanes: self.lanes.len(),
            heap_bytes: self.heap_bytes(),
            result_words: self.valid.len(),
            lane_words: self.lanes.iter().map(|l| l.words).sum(),
            kernels: self.kernels.name(),
        }
    }

    /// Heap memory held by the index, in bytes (hash tables estimated from capacity).
    pub fn heap_bytes(&self) -> usize {
        self.dicts.heap_bytes()
            + self.lanes.iter().map(Lane::heap_bytes).sum::<usize>()
            + self.valid.capacity() * 8
            + self.row_key.capacity() * 4
            + self.keys.capacity() * 4
            + self.fallback.heap_bytes()
            + self.anchored.heap_bytes()
    }

    /// Number of expressions the index was built from.
    pub fn len(&self) -> usize {
        self.expressions
    }

    /// Whether the index was built from no expressions.
    pub fn is_empty(&self) -> bool {
        self.expressions == 0
    }

    /// Writes into `out` (cleared first) every key whose expression is true for
    /// `request`, in ascending order, each once.
    ///
    /// `scratch` is working space owned by the caller (keep one per thread); it grows to
    /// fit the largest index it has served and is then reused, so steady-state matching
    /// allocates nothing beyond `out`'s own growth.
    pub fn matches(&self, request: &Request, scratch: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        scratch.fit(self);
        let Scratch {
            result,
            h,
            keybits,
            ids,
            ints,
            spans,
            patches,
            presence,
            epoch,
            names,
        } = scratch;
        encode(&self.dicts, request, ids, ints, spans, names);
        let enc = Encoded { ids, ints, spans };

        if self.rows > 0 {
            result.copy_from_slice(&self.valid);
            for lane in &self.lanes {
                match self.kernels {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `Kernels::Avx512` and `Kernels::Avx512Lanes` are chosen
                    // only when the CPU has the features `avx512::apply_lane` is
                    // compiled for (`avx512::lanes_available`).
                    Kernels::Avx512 | Kernels::Avx512Lanes => unsafe {
                        avx512::apply_lane(lane, &enc, result, h, patches)
                    },
                    _ => apply_lane(lane, &enc, result, h, patches),
                }
            }
            match self.kernels {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Kernels::Avx512` is chosen only when the CPU has the
                // features of every function in `avx512` (`avx512::available`).
                Kernels::Avx512 => unsafe { avx512::rows_to_keys(result, &self.row_key, keybits) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Kernels::Bmi` and `Kernels::Avx512Lanes` are chosen only
                // when the CPU has BMI1, BMI2 and POPCNT, the features
                // `rows_to_keys_bmi` is compiled for.
                Kernels::Bmi | Kernels::Avx512Lanes => unsafe {
                    rows_to_keys_bmi(result, &self.row_key, keybits)
                },
                Kernels::Portable => rows_to_keys(result, &self.row_key, keybits),
            }
            // The sink word (just past the real key words) collects the bits of
            // steps past a word's last row; nothing reads it, but a larger index
            // sharing this scratch would.
            keybits[self.keys.len() / 64] = 0;
        }
        if self.anchored.rows() > 0 {
            *epoch = epoch.wrapping_add(1);
            if *epoch == 0 {
                presence.fill(0);
                *epoch = 1;
            }
            self.anchored.mark(&enc, presence, *epoch);
            self.anchored.run(&enc, presence, *epoch, keybits);
        }
        for &(k, root) in &self.fallback.roots {
            let k = k as usize;
            if keybits[k >> 6] & (1 << (k & 63)) == 0 && self.fallback.eval(root, &enc) {
                keybits[k >> 6] |= 1 << (k & 63);
            }
        }
        match self.kernels {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `avx512::rows_to_keys` above.
            Kernels::Avx512 => unsafe { avx512::emit(keybits, &self.keys, self.first_key, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as for `rows_to_keys_bmi` above.
            Kernels::Bmi | Kernels::Avx512Lanes => unsafe {
                emit_bmi(keybits, &self.keys, self.first_key, out)
            },
            Kernels::Portable => emit(keybits, &self.keys, self.first_key, out),
        }
    }
}

/// The copies of matching's inner loops an index runs, chosen once at build from the
/// CPU's features: the output loops (`rows_to_keys`, `emit`) in every copy, and with
/// AVX-512 also the lane pass and the anchored list scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernels {
    /// Compiled for the target's baseline.
    Portable,
    /// Compiled for BMI1, BMI2 and POPCNT (`tzcnt`, `blsr`, `popcnt`).
    #[cfg(target_arch = "x86_64")]
    Bmi,
    /// AVX-512 with VBMI2's byte compress (`avx512` module).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX-512 without VBMI2: the `avx512` module's lane pass and list scan, the BMI
    /// output loops.
    #[cfg(target_arch = "x86_64")]
    Avx512Lanes,
}

impl Kernels {
    fn name(self) -> &'static str {
        match self {
            Kernels::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernels::Bmi => "bmi",
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx512Lanes => "avx512-lanes",
        }
    }

    /// The best copies this CPU runs for an index of at most `rows` rows and `keys`
    /// keys. The AVX-512 gathers index `row_key` and `keys` with 32-bit signed lanes, so
    /// an index past `i32::MAX` entries (over two billion rows) keeps the BMI output loops
    /// (`avx512-lanes` where the CPU has AVX-512).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn detect(rows: usize, keys: usize) -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            let lanes_fit = rows.div_ceil(64).saturating_mul(ROW_KEY_STRIDE) <= i32::MAX as usize
                && keys.div_ceil(64).saturating_mul(64) <= i32::MAX as usize;
            if lanes_fit && avx512::available() {
                return Kernels::Avx512;
            }
            if avx512::lanes_available() {
                return Kernels::Avx512Lanes;
            }
            if std::is_x86_feature_detected!("bmi1")
                && std::is_x86_feature_detected!("bmi2")
                && std::is_x86_feature_detected!("popcnt")
            {
                return Kernels::Bmi;
            }
        }
        Kernels::Portable
    }
}

/// Writes the keys whose bits are set in `keybits` to `out` in ascending order and
/// clears `keybits`; `keys` is padded to whole words of 64.
#[inline(never)]
fn emit(keybits: &mut [u64], keys: &[u32], first_key: Option<u32>, out: &mut Vec<u32>) {
    emit_body(keybits, keys, first_key, out);
}

/// [`emit`] compiled for BMI1, BMI2 and POPCNT (`tzcnt`, `blsr`, `popcnt` instead of
/// their generic sequences).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,popcnt")]
#[inline(never)]
fn emit_bmi(keybits: &mut [u64], keys: &[u32], first_key: Option<u32>, out: &mut Vec<u32>) {
    emit_body(keybits, keys, first_key, out);
}

#[inline(always)]
fn emit_body(keybits: &mut [u64], keys: &[u32], first_key: Option<u32>, out: &mut Vec<u32>) {
    // Keys go out through a small block, so each costs a few instructions (no
    // per-key capacity check); `keys` is padded to whole words of 64.
    let mut block = [0u32; EMIT_BLOCK];
    let mut n = 0usize;
    let key_words = keys.len() / 64;
    for (c, (chunk, keys)) in keybits[..key_words]
        .chunks_mut(64)
        .zip(keys.chunks(64 * 64))
        .enumerate()
    {
        // Which of these 64 words hold keys, found without a branch per word: the
        // walk below then visits only those, where a test per word mispredicts
        // about twice per non-empty word when few words hold keys.
        let live = live_words(chunk);
        let mut live = live;
        while live != 0 {
            let j = live.trailing_zeros() as usize;
            live &= live.wrapping_sub(1);
            let mut bits = chunk[j];
            chunk[j] = 0;
            if n > EMIT_BLOCK - 64 {
                out.extend_from_slice(&block[..n]);
                n = 0;
            }
            // `n < EMIT_BLOCK` in the loops: at most 64 writes follow a flush to
            // `n <= 192`. Four keys per step, written unconditionally (a write past
            // the last bit is overwritten or dropped), so the loop's exit is mostly
            // predicted.
            let end = n + bits.count_ones() as usize;
            if let Some(first) = first_key {
                // Keys `first, first + 1, …`: the ordinal gives the key (no load).
                let base = first + 64 * (64 * c + j) as u32;
                while bits != 0 {
                    for _ in 0..4 {
                        block[n % EMIT_BLOCK] = base.wrapping_add(bits.trailing_zeros());
                        n += 1;
                        bits &= bits.wrapping_sub(1);
                    }
                }
            } else {
                let keys = &keys[64 * j..64 * j + 64];
                while bits != 0 {
                    for _ in 0..4 {
                        block[n % EMIT_BLOCK] = keys[bits.trailing_zeros() as usize % 64];
                        n += 1;
                        bits &= bits.wrapping_sub(1);
                    }
                }
            }
            n = end;
        }
    }
    out.extend_from_slice(&block[..n]);
}

/// Bit `j` set when `words[j] != 0`, for at most 64 words: a fixed-length loop over
/// whole chunks (unrolled, no branch), then any tail.
#[inline(always)]
fn live_words(words: &[u64]) -> u64 {
    let mut live = 0u64;
    if let Ok(words) = <&[u64; 64]>::try_from(words) {
        for (j, &word) in words.iter().enumerate() {
            live |= ((word | word.wrapping_neg()) >> 63) << j;
        }
    } else {
        for (j, &word) in words.iter().enumerate() {
            live |= ((word | word.wrapping_neg()) >> 63) << j;
        }
    }
    live
}

#[inline(never)]
fn encode(
    dicts: &Dictionaries,
    request: &Request,
    ids: &mut Vec<u32>,
    ints: &mut Vec<i64>,
    spans: &mut [Span],
    names: &mut Vec<u32>,
) {
    ids.clear();
    ints.clear();
    spans.fill(Span::default());
    for (i, a) in request.attrs.iter().enumerate() {
        if a.values.is_empty() {
            continue;
        }
        // Requests of one shape name their attributes in the same order: the id found
        // for this position last time, confirmed by comparing the name, saves hashing it.
        let cached = names
            .get(i)
            .copied()
            .filter(|&id| dicts.names.get(id as usize).is_some_and(|n| **n == *a.name));
        let attr = match cached {
            Some(id) => id,
            None => {
                let Some(&attr) = dicts.by_name.get(&*a.name) else {
                    continue;
                };
                if names.len() <= i {
                    names.resize(i + 1, u32::MAX);
                }
                names[i] = attr;
                attr
            }
        };
        let (ids_start, ints_start) = (ids.len() as u32, ints.len() as u32);
        for &v in &a.values {
            let id = match v {
                Stored::Int(x) => {
                    ints.push(x);
                    dicts.lookup_int(attr, x)
                }
                Stored::Str { .. } => match request.resolve(v) {
                    crate::request::ValueRef::Str(s) => dicts.lookup_str(attr, s),
                    crate::request::ValueRef::Int(_) => NO_ID,
                },
            };
            if id != NO_ID {
                ids.push(id);
            }
        }
        spans[attr as usize] = Span {
            ids_start,
            ids_end: ids.len() as u32,
            ints_start,
            ints_end: ints.len() as u32,
        };
    }
}

/// Sets the key bit of every row set in `result`; `row_key` holds [`ROW_KEY_STRIDE`]
/// entries per word (64 rows, then the sink).
#[inline(never)]
fn rows_to_keys(result: &[u64], row_key: &[u32], keybits: &mut [u64]) {
    rows_to_keys_body(result, row_key, keybits);
}

/// [`rows_to_keys`] compiled for BMI1, BMI2 and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,popcnt")]
#[inline(never)]
fn rows_to_keys_bmi(result: &[u64], row_key: &[u32], keybits: &mut [u64]) {
    rows_to_keys_body(result, row_key, keybits);
}

#[inline(always)]
fn rows_to_keys_body(result: &[u64], row_key: &[u32], keybits: &mut [u64]) {
    let (row_key, _) = row_key.as_chunks::<ROW_KEY_STRIDE>();
    for (&word, row_key) in result.iter().zip(row_key) {
        let mut bits = word;
        // Four bits per step without a branch per bit: a step past the last bit
        // (`trailing_zeros` 64) sets the sink's bit, so no step needs a mask. At a
        // few bits per word the loop's exit is then mostly predicted, where a branch
        // per bit mispredicts about once per word.
        while bits != 0 {
            for _ in 0..4 {
                let k = row_key[bits.trailing_zeros() as usize] as usize;
                keybits[k >> 6] |= 1 << (k & 63);
                bits &= bits.wrapping_sub(1);
            }
        }
    }
}

/// `acc = (a ^ m) | (b ^ m) | (c ^ m) | (d ^ m)` (`init`) or `acc |= …` that, over
/// `acc.len()` words: the OR of four postings stored folded with the lane's `m0`.
///
/// Slices as arguments (not derived inside the caller) tell the compiler that `acc`
/// aliases none of the inputs, so the loop vectorizes.
#[inline(never)]
fn or4(acc: &mut [u64], init: bool, m: &[u64], a: &[u64], b: &[u64], c: &[u64], d: &[u64]) {
    or4_body(acc, init, m, a, b, c, d);
}

/// The body of [`or4`], inlined into each compiled copy.
#[inline(always)]
fn or4_body(acc: &mut [u64], init: bool, m: &[u64], a: &[u64], b: &[u64], c: &[u64], d: &[u64]) {
    let n = acc.len();
    let (m, a, b, c, d) = (&m[..n], &a[..n], &b[..n], &c[..n], &d[..n]);
    if init {
        for i in 0..n {
            acc[i] = (a[i] ^ m[i]) | (b[i] ^ m[i]) | (c[i] ^ m[i]) | (d[i] ^ m[i]);
        }
    } else {
        for i in 0..n {
            acc[i] |= (a[i] ^ m[i]) | (b[i] ^ m[i]) | (c[i] ^ m[i]) | (d[i] ^ m[i]);
        }
    }
}

/// `result &= m0 ^ p` over the lane's runs (`m0` and `p` in lane-local words).
fn and_xor_runs(result: &mut [u64], runs: &[Run], m0: &[u64], p: &[u64]) {
    for r in runs {
        let dst = &mut result[r.word as usize..(r.word + r.len) as usize];
        let lo = r.local as usize;
        let hi = lo + r.len as usize;
        for ((d, &z), &p) in dst.iter_mut().zip(&m0[lo..hi]).zip(&p[lo..hi]) {
            *d &= z ^ p;
        }
    }
}

/// `result[word_of[l]] &= src[l]` for every lane-local word `l`.
fn and_words(result: &mut [u64], word_of: &[u32], src: &[u64]) {
    for (&w, &s) in word_of.iter().zip(src) {
        result[w as usize] &= s;
    }
}

/// `result[word_of[l]] &= m0[l] ^ p[l]` for every lane-local word `l`.
fn and_xor_words(result: &mut [u64], word_of: &[u32], m0: &[u64], p: &[u64]) {
    for ((&w, &z), &p) in word_of.iter().zip(m0).zip(p) {
        result[w as usize] &= z ^ p;
    }
}

fn and_runs(result: &mut [u64], runs: &[Run], src: &[u64]) {
    for r in runs {
        let dst = &mut result[r.word as usize..(r.word + r.len) as usize];
        let src = &src[r.local as usize..(r.local + r.len) as usize];
        for (d, s) in dst.iter_mut().zip(src) {
            *d &= *s;
        }
    }
}

/// A sparse posting entry: the global row number, with [`NEGATED`] set when the row's
/// literal in this lane is negated.
const NEGATED: u32 = 1 << 31;

/// Per-lane working lists, reused across lanes and requests.
#[derive(Debug, Default, Clone)]
struct Patches {
    /// Rows of positive literals whose atom is hit: (word, bits alive before the pass).
    keep: Vec<(u32, u64)>,
    /// Rows of negated literals whose atom is hit: (word, bit to clear).
    kill: Vec<(u32, u64)>,
    /// Dense plans that contribute (their `start`).
    dense: Vec<u32>,
}

impl Patches {
    fn sparse(&mut self, entries: &[u32], result: &[u64]) {
        for &e in entries {
            let row = e & !NEGATED;
            let (w, bit) = (row >> 6, 1u64 << (row & 63));
            if e & NEGATED == 0 {
                self.keep.push((w, result[w as usize] & bit));
            } else {
                self.kill.push((w, bit));
            }
        }
    }
}

/// ANDs the lane's satisfied set `m0 XOR H` into `result`.
///
/// Sparse postings are applied as patches around one pass over the lane's words: for a
/// hit row the lane's answer is `!m0`, so a positive row keeps the bit it had before the
/// pass and a negated row loses it. Dense postings take part in the pass itself.
#[inline(never)]
fn apply_lane(
    lane: &Lane,
    enc: &Encoded<'_>,
    result: &mut [u64],
    h: &mut [u64],
    patches: &mut Patches,
) {
    apply_lane_body(lane, enc, result, h, patches, or4);
}

/// The body of [`apply_lane`], inlined into each compiled copy, with the copy's
/// multi-posting OR kernel.
#[inline(always)]
fn apply_lane_body(
    lane: &Lane,
    enc: &Encoded<'_>,
    result: &mut [u64],
    h: &mut [u64],
    patches: &mut Patches,
    or4: impl Fn(&mut [u64], bool, &[u64], &[u64], &[u64], &[u64], &[u64]),
) {
    patches.keep.clear();
    patches.kill.clear();
    patches.dense.clear();
    let ids = enc.ids(lane.attr);
    // Inlined: called once per request value (dozens per lane for segment lists),
    // a call's register saves cost as much as its body.
    #[inline(always)]
    fn take(p: Plan, entries: &[u32], patches: &mut Patches, result: &[u64]) {
        if p.len & DENSE != 0 {
            patches.dense.push(p.start);
        } else if p.len != 0 {
            patches.sparse(
                &entries[p.start as usize..(p.start + p.len) as usize],
                result,
            );
        }
    }
    for &id in ids {
        if let Some(&p) = lane.by_value.get(id as usize) {
            take(p, &lane.entries, patches, result);
        }
    }
    if !lane.bounds.is_empty() || !lane.scan.is_empty() {
        for &x in enc.ints(lane.attr) {
            if !lane.bounds.is_empty() {
                take(lane.bucket_plan(x), &lane.entries, patches, result);
            }
            for &(lo, hi, e) in &lane.scan {
                if lo <= x && x <= hi {
                    patches.sparse(std::slice::from_ref(&e), result);
                }
            }
        }
    }
    let m = lane.words;
    let dense = |start: u32| &lane.dense[start as usize..start as usize + m];
    match patches.dense.as_slice() {
        [] if !lane.word_of.is_empty() => and_words(result, &lane.word_of, &lane.m0),
        [one] if !lane.word_of.is_empty() => and_words(result, &lane.word_of, dense(*one)),
        [] => and_runs(result, &lane.runs, &lane.m0),
        [one] => and_runs(result, &lane.runs, dense(*one)),
        several => {
            // Postings are stored as `d = m0 ^ P(v)`; `H` is the OR of the `d ^ m0`,
            // four per pass (the first pass initializes the accumulator).
            let acc = &mut h[..m];
            let m0 = &lane.m0[..];
            for (i, group) in several.chunks(4).enumerate() {
                let init = i == 0;
                match *group {
                    [a, b, c, d] => or4(acc, init, m0, dense(a), dense(b), dense(c), dense(d)),
                    [a, b, c] => or4(acc, init, m0, dense(a), dense(b), dense(c), dense(c)),
                    [a, b] => or4(acc, init, m0, dense(a), dense(b), dense(b), dense(b)),
                    [a] => or4(acc, init, m0, dense(a), dense(a), dense(a), dense(a)),
                    _ => {}
                }
            }
            if lane.word_of.is_empty() {
                and_xor_runs(result, &lane.runs, m0, acc);
            } else {
                and_xor_words(result, &lane.word_of, m0, acc);
            }
        }
    }
    for &(w, bits) in &patches.keep {
        result[w as usize] |= bits;
    }
    for &(w, bit) in &patches.kill {
        result[w as usize] &= !bit;
    }
}

/// Builds the posting plan for one value (or range bucket) from its rows, given as
/// `(local bit, sparse entry)` pairs: dense (pre-folded with `m0`) when the value hits at
/// least half as many rows as the lane has words, sparse entries otherwise.
fn plan_group(
    rows: &[(u32, u32)],
    m0: &[u64],
    entries: &mut Vec<u32>,
    dense: &mut Vec<u64>,
) -> Plan {
    let m = m0.len();
    if rows.len() * 2 >= m {
        let start = dense.len();
        dense.extend_from_slice(m0);
        for &(b, _) in rows {
            dense[start + (b >> 6) as usize] ^= 1 << (b & 63);
        }
        Plan {
            start: start as u32,
            len: DENSE | 1,
        }
    } else {
        let start = entries.len();
        entries.extend(rows.iter().map(|r| r.1));
        Plan {
            start: start as u32,
            len: rows.len() as u32,
        }
    }
}

fn build_lane(
    attr: u32,
    members: &[(u32, Lit<'_>)],
    local_of: &mut [u32],
    dicts: &Dictionaries,
) -> Lane {
    // Runs of words holding the lane's rows (members are in row order). Runs a few
    // words apart are joined (the words between hold no row of the lane: `m0` all
    // ones, postings zero, so they are satisfied): each run costs a loop's setup per
    // request, each joined word a few instructions per pass and a word of memory per
    // dense posting, so the gap allowed shrinks with the lane's values.
    let values = {
        let mut ids: Vec<u64> = Vec::new();
        for (_, lit) in members {
            match lit.atom {
                Atom::In(vs) => ids.extend(vs.iter().map(|v| {
                    let id = match v {
                        Value::Int(x) => dicts.lookup_int(attr, *x),
                        Value::Str(s) => dicts.lookup_str(attr, s),
                    };
                    u64::from(id)
                })),
                Atom::Range(lo, hi) => ids.extend([lo as u64 | 1 << 63, hi as u64 | 1 << 63]),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    };
    let max_gap = (MAX_RUN_GAP * 8 / (values + 1)).min(MAX_RUN_GAP) as u32;
    let mut runs: Vec<Run> = Vec::new();
    let mut local = 0u32;
    for &(row, _) in members {
        let w = row / 64;
        match runs.last_mut() {
            Some(r) if r.word + r.len - 1 == w => {}
            Some(r) if r.word + r.len + max_gap >= w => {
                local += w - (r.word + r.len);
                r.len = w + 1 - r.word;
                local_of[w as usize] = local;
                local += 1;
            }
            _ => {
                runs.push(Run {
                    word: w,
                    len: 1,
                    local,
                });
                local_of[w as usize] = local;
                local += 1;
            }
        }
    }
    let m = local as usize;
    let local_bit = |row: u32| local_of[(row / 64) as usize] * 64 + (row % 64);
    let mut m0 = vec![!0u64; m];
    let mut in_pairs: Vec<(u32, (u32, u32))> = Vec::new();
    let mut ranges: Vec<(i64, i64, (u32, u32))> = Vec::new();
    for &(row, lit) in members {
        let b = local_bit(row);
        if !lit.negated {
            m0[(b >> 6) as usize] &= !(1 << (b & 63));
        }
        let b = (b, if lit.negated { row | NEGATED } else { row });
        match lit.atom {
            Atom::In(values) => {
                for v in values {
                    let id = match v {
                        Value::Int(x) => dicts.lookup_int(attr, *x),
                        Value::Str(s) => dicts.lookup_str(attr, s),
                    };
                    in_pairs.push((id, b));
                }
            }
            Atom::Range(lo, hi) => ranges.push((lo, hi, b)),
        }
    }
    in_pairs.sort_unstable();
    in_pairs.dedup();

    // Runs of fewer than `SHORT_RUN` words on average: one loop over the words.
    let word_of = if runs.len() * SHORT_RUN > m {
        runs.iter().flat_map(|r| r.word..r.word + r.len).collect()
    } else {
        Vec::new()
    };
    let mut lane = Lane {
        attr,
        runs,
        word_of,
        words: m,
        ..Lane::default()
    };
    let dict_len = dicts.attrs[attr as usize].next as usize;
    lane.by_value = vec![Plan::default(); dict_len];
    let mut bits: Vec<(u32, u32)> = Vec::new();
    for group in in_pairs.chunk_by(|a, b| a.0 == b.0) {
        bits.clear();
        bits.extend(group.iter().map(|p| p.1));
        lane.by_value[group[0].0 as usize] =
            plan_group(&bits, &m0, &mut lane.entries, &mut lane.dense);
    }

    if !ranges.is_empty() {
        let mut bounds: Vec<i64> = Vec::with_capacity(ranges.len() * 2);
        for &(lo, hi, _) in &ranges {
            bounds.push(lo);
            if let Some(end) = hi.checked_add(1) {
                bounds.push(end);
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let bucket = |x: i64| bounds.partition_point(|&b| b <= x) - 1;
        let cover: usize = ranges
            .iter()
            .map(|&(lo, hi, _)| {
                let end = hi.checked_add(1).map_or(bounds.len(), &bucket);
                end - bucket(lo)
            })
            .sum();
        if cover <= 64 * ranges.len() + 4096 {
            let mut pairs: Vec<(u32, (u32, u32))> = Vec::with_capacity(cover);
            for &(lo, hi, b) in &ranges {
                let end = hi.checked_add(1).map_or(bounds.len(), &bucket);
                for i in bucket(lo)..end {
                    pairs.push((i as u32, b));
                }
            }
            pairs.sort_unstable();
            lane.bucket_plans = vec![Plan::default(); bounds.len()];
            for group in pairs.chunk_by(|a, b| a.0 == b.0) {
                bits.clear();
                bits.extend(group.iter().map(|p| p.1));
                lane.bucket_plans[group[0].0 as usize] =
                    plan_group(&bits, &m0, &mut lane.entries, &mut lane.dense);
            }
            lane.bounds = bounds;
        } else {
            lane.scan = ranges
                .into_iter()
                .map(|(lo, hi, (_, e))| (lo, hi, e))
                .collect();
        }
    }
    lane.m0 = m0;
    // Postings grow by doubling while the lane is built: without this up to half of
    // their allocation is spare capacity (broad 100k: 1,576 bytes per expression,
    // 1,034 after).
    lane.entries.shrink_to_fit();
    lane.dense.shrink_to_fit();
    lane
}

/// Working space for [`Index::matches`], owned by the caller: keep one per thread and
/// reuse it. It fits itself to each index it is used with, growing only when an index is
/// larger than any before.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    result: Vec<u64>,
    h: Vec<u64>,
    keybits: Vec<u64>,
    ids: Vec<u32>,
    ints: Vec<i64>,
    spans: Vec<Span>,
    patches: Patches,
    /// Per dictionary id, the last request (epoch) that had the value.
    presence: Vec<u32>,
    epoch: u32,
    /// Per request attribute position, the attribute id it had last time (a cache of
    /// name lookups, confirmed before use).
    names: Vec<u32>,
}

impl Scratch {
    /// Empty working space; it grows on first use.
    pub fn new() -> Self {
        Scratch::default()
    }

    fn fit(&mut self, index: &Index) {
        self.result.resize(index.valid.len(), 0);
        if self.h.len() < 2 * index.max_lane_words {
            self.h.resize(2 * index.max_lane_words, 0);
        }
        // The key words, then the sink word of `rows_to_keys`.
        let key_words = index.keys.len().div_ceil(64) + 1;
        if self.keybits.len() < key_words {
            self.keybits.resize(key_words, 0);
        }
        self.spans.resize(index.dicts.attrs.len(), Span::default());
        if self.presence.len() < index.anchored.presence_len() {
            self.presence.resize(index.anchored.presence_len(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;

    use super::*;

    thread_local! {
        /// Copies an index built on this thread runs instead of the best the CPU has
        /// (one of `available_kernels`).
        pub(super) static FORCE_KERNELS: Cell<Option<Kernels>> = const { Cell::new(None) };
    }

    /// A random bitset of `words` words, each word empty, sparse, dense or full.
    fn bitset(words: usize) -> impl Strategy<Value = Vec<u64>> {
        proptest::collection::vec(
            prop_oneof![
                Just(0u64),
                any::<u64>().prop_map(|w| w & w.rotate_left(17) & w.rotate_left(41)),
                any::<u64>(),
                Just(!0u64),
            ],
            words,
        )
    }

    /// Rows to key bits: every kernel sets exactly the bits a per-row loop sets.
    fn check_rows_to_keys(result: &[u64], ords: &[u32], key_count: usize) {
        let key_words = key_count.div_ceil(64);
        let sink = (key_words * 64) as u32;
        let mut row_key = Vec::new();
        for chunk in ords.chunks(64) {
            row_key.extend_from_slice(chunk);
            row_key.resize(row_key.len().next_multiple_of(ROW_KEY_STRIDE) - 1, 0);
            row_key.push(sink);
        }
        let mut want = vec![0u64; key_words];
        for (r, &ord) in ords.iter().enumerate() {
            if result[r / 64] >> (r % 64) & 1 == 1 {
                want[ord as usize / 64] |= 1 << (ord % 64);
            }
        }
        for kernels in available_kernels() {
            let mut got = vec![0u64; key_words + 1];
            match kernels {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `available_kernels` lists only what this CPU runs.
                Kernels::Avx512 => unsafe { avx512::rows_to_keys(result, &row_key, &mut got) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Kernels::Bmi | Kernels::Avx512Lanes => unsafe {
                    rows_to_keys_bmi(result, &row_key, &mut got)
                },
                Kernels::Portable => rows_to_keys(result, &row_key, &mut got),
            }
            assert_eq!(got[..key_words], want[..], "{kernels:?}");
        }
    }

    /// Every copy of the kernels this CPU runs, portable first.
    fn available_kernels() -> Vec<Kernels> {
        let mut all = vec![Kernels::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("bmi1")
                && std::is_x86_feature_detected!("bmi2")
                && std::is_x86_feature_detected!("popcnt")
            {
                all.push(Kernels::Bmi);
            }
            if avx512::lanes_available() {
                all.push(Kernels::Avx512Lanes);
            }
            if avx512::available() {
                all.push(Kernels::Avx512);
            }
        }
        all
    }

    /// Key bits to keys: every kernel appends exactly the set ordinals' keys, in
    /// order, and leaves the key bits cleared.
    fn check_emit(keybits: &[u64], keys: &[u32], first_key: Option<u32>) {
        let mut want = Vec::new();
        for (w, &word) in keybits.iter().enumerate() {
            for b in 0..64 {
                if word >> b & 1 == 1 {
                    want.push(keys[w * 64 + b]);
                }
            }
        }
        for kernels in available_kernels() {
            let mut bits = keybits.to_vec();
            // Appends: what `out` held before stays.
            let mut out = vec![7];
            match kernels {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `available_kernels` lists only what this CPU runs.
                Kernels::Avx512 => unsafe { avx512::emit(&mut bits, keys, first_key, &mut out) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above.
                Kernels::Bmi | Kernels::Avx512Lanes => unsafe {
                    emit_bmi(&mut bits, keys, first_key, &mut out)
                },
                Kernels::Portable => emit(&mut bits, keys, first_key, &mut out),
            }
            assert_eq!(out[0], 7, "{kernels:?}");
            assert_eq!(out[1..], want[..], "{kernels:?}");
            assert!(bits.iter().all(|&w| w == 0), "{kernels:?}");
        }
    }

    /// A word with `count` set bits spread over it (positions `37i mod 64`, distinct
    /// since 37 is odd).
    fn spread(count: u32) -> u64 {
        (0..count).fold(0u64, |w, i| w | 1 << (i * 37 % 64))
    }

    /// Every popcount around the AVX-512 loops' 16-lane steps, and runs of full words
    /// that end a row-to-key block (flushed past 960 positions, 1,024 at most) and an
    /// emission block (flushed past 192, 256 at most) exactly, one short and one over.
    #[test]
    fn kernels_agree_at_popcount_and_block_boundaries() {
        let counts = [0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64];
        let mut words: Vec<u64> = counts.iter().map(|&c| spread(c)).collect();
        for run in [2, 3, 4, 14, 15, 16, 17] {
            words.extend(std::iter::repeat_n(!0u64, run));
            words.extend([spread(64), spread(1), spread(16), 0, spread(17)]);
        }
        let key_count = 5000;
        let ords: Vec<u32> = (0..words.len() as u32 * 64)
            .map(|r| r * 7919 % key_count)
            .collect();
        check_rows_to_keys(&words, &ords, key_count as usize);
        // Keys past 2^31 and up to `u32::MAX` (the emission adds in 32-bit lanes).
        let last_first = u32::MAX - (words.len() as u32 * 64 - 1);
        for first in [0, 1 << 31, last_first] {
            let keys: Vec<u32> = (0..words.len() as u32 * 64).map(|o| first + o).collect();
            check_emit(&words, &keys, Some(first));
            let spaced: Vec<u32> = (0..words.len() as u32 * 64).map(|o| o * 3 + 1).collect();
            check_emit(&words, &spaced, None);
        }
    }

    /// Every combination of copies this CPU runs gives the portable index's answers on
    /// a workload with anchored long lists, multi-value lanes and a bitset partition
    /// large enough for the lower anchoring cap.
    #[test]
    fn every_kernel_combination_answers_the_same() {
        use rand::{RngExt, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        let mut next = |m: u64| rng.random_range(0..m);
        let mut texts = Vec::new();
        // Bitset rows: no anchor (two of six values is not selective, and a list of 17
        // or more is not anchored on).
        for _ in 0..9000 {
            let ids: Vec<String> = (0..17 + next(10)).map(|_| next(300).to_string()).collect();
            texts.push(format!(
                "n in ({}, {}) and seg in ({}) and d != {}",
                next(6),
                next(6),
                ids.join(", "),
                next(4)
            ));
        }
        let countries: Vec<String> = (0..800).map(|c| c.to_string()).collect();
        texts.push(format!("c in ({})", countries.join(", ")));
        for _ in 0..600 {
            let ids: Vec<String> = (0..20 + next(130)).map(|_| next(300).to_string()).collect();
            texts.push(format!("c = {} and seg in ({})", next(800), ids.join(", ")));
        }
        let exprs: Vec<Expr> = texts.iter().map(|t| crate::parse(t).unwrap()).collect();
        let pairs = || exprs.iter().enumerate().map(|(i, e)| (i as u32, e));
        let portable = Index::build_with(pairs(), &BuildOptions::new().cpu_kernels(false));
        let portable = portable.unwrap();
        let stats = portable.stats();
        assert!(
            stats.rows - stats.anchored_rows >= LARGE_BITSET_ROWS,
            "{stats:?}"
        );
        assert!(stats.anchored_rows >= 300, "{stats:?}");
        let mut requests = Vec::new();
        for _ in 0..60 {
            let mut req = Request::new();
            req.push_int("n", next(6) as i64);
            req.push_int("d", next(4) as i64);
            req.push_int("c", next(40) as i64);
            for _ in 0..1 + next(40) {
                req.push_int("seg", next(300) as i64);
            }
            requests.push(req);
        }
        let (mut scratch, mut want, mut got) = (Scratch::new(), Vec::new(), Vec::new());
        for kernels in available_kernels() {
            FORCE_KERNELS.set(Some(kernels));
            let index = Index::build(pairs()).unwrap();
            FORCE_KERNELS.set(None);
            assert_eq!(index.stats().kernels, kernels.name());
            #[cfg(target_arch = "x86_64")]
            if matches!(kernels, Kernels::Avx512 | Kernels::Avx512Lanes) {
                // The lower cap takes costly anchored rows into the bitset lanes.
                assert!(
                    index.stats().anchored_rows < stats.anchored_rows,
                    "{kernels:?}"
                );
            }
            let mut total = 0;
            for req in &requests {
                portable.matches(req, &mut scratch, &mut want);
                index.matches(req, &mut scratch, &mut got);
                assert_eq!(got, want, "{kernels:?}");
                total += got.len();
            }
            assert!(
                total > 60,
                "{kernels:?}: the workload should match: {total}"
            );
        }
    }

    /// The index picks the best copies this CPU runs.
    #[test]
    fn the_best_kernels_are_chosen() {
        let e = crate::parse("a in (1, 2)").unwrap();
        let index = Index::build([(1, &e)]).unwrap();
        let best = *available_kernels().last().unwrap();
        assert_eq!(index.stats().kernels, best.name());
        let portable = Index::build_with([(1, &e)], &BuildOptions::new().cpu_kernels(false));
        assert_eq!(portable.unwrap().stats().kernels, "portable");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn rows_to_keys_sets_each_surviving_rows_key(
            (result, ords, key_count) in (1usize..40).prop_flat_map(|words| {
                (1usize..3000).prop_flat_map(move |key_count| (
                    bitset(words),
                    proptest::collection::vec(0..key_count as u32, words * 64),
                    Just(key_count),
                ))
            })
        ) {
            check_rows_to_keys(&result, &ords, key_count);
        }

        #[cfg(target_arch = "x86_64")]
        #[test]
        fn simd_list_scan_finds_a_mark_at_every_position(
            len in 1usize..70,
            base in 0u32..8,
        ) {
            if !avx512::available() {
                return Ok(());
            }
            let list: Vec<u32> = (0..len as u32).map(|i| 3 * i + 1).collect();
            let mut presence = vec![0u32; (base + 3 * len as u32 + 2) as usize];
            // SAFETY: the CPU has the module's features (checked above).
            let scan = |presence: &[u32]| unsafe { avx512::any_marked(&list, base, presence, 5) };
            prop_assert!(!scan(&presence));
            for &id in &list {
                presence[(base + id) as usize] = 5;
                prop_assert!(scan(&presence), "mark on {}", id);
                // A neighbouring slot (not in the list) does not count.
                presence[(base + id) as usize] = 0;
                presence[(base + id + 1) as usize] = 5;
                prop_assert!(!scan(&presence), "mark beside {}", id);
                presence[(base + id + 1) as usize] = 0;
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[test]
        fn simd_list_scan_agrees_with_a_scalar_scan(
            list in proptest::collection::vec(0u32..400, 0..120),
            base in 0u32..64,
            presence in proptest::collection::vec(0u32..4, 1..420),
            epoch in 1u32..4,
        ) {
            // Ids past the presence table count as unmarked, as the scalar scan's
            // `get` has them.
            let want = list
                .iter()
                .any(|&id| presence.get((base + id) as usize) == Some(&epoch));
            if avx512::available() {
                // SAFETY: the CPU has the module's features (checked just above).
                let got = unsafe { avx512::any_marked(&list, base, &presence, epoch) };
                prop_assert_eq!(got, want);
            }
        }

        #[test]
        fn emission_writes_each_set_keys_key_in_order(
            keybits in (1usize..200).prop_flat_map(bitset),
            first in 0u32..1000,
            consecutive in any::<bool>(),
        ) {
            let keys: Vec<u32> = (0..keybits.len() as u32 * 64)
                .map(|o| if consecutive { first + o } else { first + 3 * o + o % 2 })
                .collect();
            check_emit(&keybits, &keys, consecutive.then_some(first));
        }
    }
}
