//! Targeting: how fast the compiled index finds every matching expression for a request,
//! next to a compiled brute-force scan over the same expressions.
//!
//! # What's measured
//! - `targeting/<profile>/index/<n>`: [`Index::matches`] for one request (requests
//!   cycle through 1,024 pre-generated ones); throughput is requests per second.
//! - `targeting/<profile>/brute_force/<n>`: the same answers from a brute-force scan:
//!   an index built with `max_conjunctions(0)`, so every expression goes through the
//!   compiled, dictionary-encoded fallback evaluator, one expression after another.
//! - `targeting/<profile>/bitset_only/<n>`: the index with its anchored partition off
//!   (`anchor_threshold_ppm(0)`: every conjunction in the bitset lanes), the design
//!   before anchoring, for the ablation.
//! - `targeting/<profile>/portable/<n>`: the index with `cpu_kernels(false)`, its
//!   inner loops compiled for the target's baseline only (no BMI, no AVX-512), for the
//!   ratio of the CPU-specific copies in the same run.
//! - `targeting/build/<n>`: [`Index::build`] from parsed expressions.
//! - Printed before the criterion runs: for each workload, the build time (one build),
//!   heap bytes per expression, rows (and how many are anchored), fallback expressions
//!   and the mean share of
//!   expressions that match, after checking that index and brute force agree on 200
//!   requests.
//!
//! # Workload model (seeded, `StdRng::seed_from_u64(2024)`)
//! 20 attributes: `segment` (ids 0..9,999, or 0..99,999 for the 1M workload; a request
//! carries 5–50, Zipf-skewed with s = 0.9), `content.category` (0..399, 1–4 per request,
//! Zipf) and 18 single-valued scalars (`geo.country`, `geo.region`, `geo.dma`,
//! `device.type`, `device.os`, `device.make`, `content.genre`, `content.rating`,
//! `content.language`, `publisher`, `site`, `connection`, `gender`, `income`,
//! `household`, `hour` 0..23, `day_of_week` 0..6, `age` 18..80), strings or integers,
//! each drawn Zipf-skewed (s = 1.0) except hour, day and age (uniform).
//!
//! An expression is a conjunction of 2–6 predicates on distinct attributes, `segment`
//! in 70% of them; `in` lists and `not in` lists over values drawn from the same skewed
//! distributions, `between` windows for hour and age; 10% wrap one predicate in `not`,
//! 5% join two predicates with `or`, 1% carry a segment list of 1,000–3,000 ids.
//! - *audience*: segment lists of 1–6 ids, scalar `in` lists of 1–2 values (1 for
//!   domains under 6), predicates per expression drawn from 2, 3, 3, 4, 4, 5, 5, 6, 6, 6;
//!   about 0.3% of expressions match a request.
//! - *broad*: segment lists of 80–300 ids, scalar `in` lists covering up to two thirds
//!   of the domain (at most 24 values), 2–5 predicates uniformly; about 4% of
//!   expressions match a request (3.8% measured; until this revision lists of 50–200
//!   and 2–6 predicates gave 2.6%, under the 4%).
//!
//! - *decide*: the engine's workload, identical in distribution to `benches/decide.rs`
//!   (its own seed, `StdRng::seed_from_u64(42 + n)`): every expression is
//!   `segment in (s1, s2, s3) and geo.country = "C" and device.type in (d, (d + 1) % 4)`
//!   with segment ids `floor(u² × 10,000)` for uniform `u` (density ∝ 1/√id, so a few
//!   ids are in many expressions *and* many requests), `C` one of 4 countries, `d` in
//!   0..4; a request carries 5–50 such segment draws (duplicates kept, as the engine
//!   bench pushes them), one country and one device type. About 0.3% match.
//!
//! Set `ADLOOP_TARGETING_QUICK=1` to run only the 10k workloads (and skip the build
//! group); `ADLOOP_TARGETING_PROFILES=decide,broad` runs only the named profiles. Set
//! `ADLOOP_TARGETING_WRITE=DIR` to also write the 10k and 100k workloads as
//! `DIR/<profile>-<n>.tsv` (expressions) and `DIR/<profile>-<n>.jsonl` (requests) for
//! `cargo run --release --example match`.

use std::{fmt::Write as _, hint::black_box, time::Instant};

use adloop::targeting::{BuildOptions, Expr, Index, Request, Scratch, parse};
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// Samples `0..n` with probability proportional to `1 / (i + 1)^s`.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|i| {
                acc += 1.0 / ((i + 1) as f64).powf(s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Zipf exponent of the values expressions name (requests use 0.9–1.0).
const FLAT: f64 = 0.0;
/// One scalar predicate in this many is a `not in`.
const NOT_IN_ONE_IN: u32 = 12;

#[derive(Clone, Copy)]
enum Dist {
    Zipf,
    Uniform,
}

struct Attr {
    name: &'static str,
    /// Values are `offset..offset + domain`; strings are `"<prefix><i>"`.
    domain: usize,
    offset: i64,
    string: bool,
    dist: Dist,
    /// Weight when choosing which attributes an expression constrains.
    weight: u32,
}

const fn attr(name: &'static str, domain: usize, string: bool, weight: u32) -> Attr {
    Attr {
        name,
        domain,
        offset: 0,
        string,
        dist: Dist::Zipf,
        weight,
    }
}

const SCALARS: [Attr; 18] = [
    attr("geo.country", 60, true, 6),
    attr("geo.region", 1000, false, 4),
    attr("geo.dma", 210, false, 4),
    attr("device.type", 6, true, 2),
    attr("device.os", 8, true, 2),
    attr("device.make", 40, true, 3),
    attr("content.genre", 25, true, 4),
    attr("content.rating", 5, true, 1),
    attr("content.language", 30, true, 2),
    attr("publisher", 2000, false, 5),
    attr("site", 5000, false, 4),
    attr("connection", 4, true, 1),
    attr("gender", 3, true, 1),
    attr("income", 10, false, 1),
    attr("household", 6, false, 1),
    Attr {
        name: "hour",
        domain: 24,
        offset: 0,
        string: false,
        dist: Dist::Uniform,
        weight: 3,
    },
    Attr {
        name: "day_of_week",
        domain: 7,
        offset: 0,
        string: false,
        dist: Dist::Uniform,
        weight: 1,
    },
    Attr {
        name: "age",
        domain: 63,
        offset: 18,
        string: false,
        dist: Dist::Uniform,
        weight: 3,
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Profile {
    Audience,
    Broad,
    Decide,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Audience => "audience",
            Profile::Broad => "broad",
            Profile::Decide => "decide",
        }
    }
}

struct Generator {
    rng: StdRng,
    /// Request-side distributions (skewed) and expression-side ones (flatter: campaigns
    /// aim at niches as well as at the popular values).
    segments: Zipf,
    categories: Zipf,
    scalars: Vec<Zipf>,
    segments_flat: Zipf,
    categories_flat: Zipf,
    scalars_flat: Vec<Zipf>,
}

impl Generator {
    fn new(segment_domain: usize, seed: u64) -> Self {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            segments: Zipf::new(segment_domain, 0.9),
            categories: Zipf::new(400, 1.0),
            scalars: SCALARS.iter().map(|a| Zipf::new(a.domain, 1.0)).collect(),
            segments_flat: Zipf::new(segment_domain, FLAT),
            categories_flat: Zipf::new(400, FLAT),
            scalars_flat: SCALARS.iter().map(|a| Zipf::new(a.domain, FLAT)).collect(),
        }
    }

    fn scalar_value(&mut self, i: usize, flat: bool) -> String {
        let a = &SCALARS[i];
        let v = match a.dist {
            Dist::Zipf if flat => self.scalars_flat[i].sample(&mut self.rng),
            Dist::Zipf => self.scalars[i].sample(&mut self.rng),
            Dist::Uniform => self.rng.random_range(0..a.domain),
        } as i64
            + a.offset;
        if a.string {
            format!("\"{}{v}\"", &a.name[..2])
        } else {
            v.to_string()
        }
    }

    fn list(&mut self, n: usize, mut draw: impl FnMut(&mut Self) -> String) -> String {
        let mut items: Vec<String> = (0..n).map(|_| draw(self)).collect();
        items.sort();
        items.dedup();
        format!("({})", items.join(", "))
    }

    fn segment_predicate(&mut self, profile: Profile) -> String {
        let n = if self.rng.random_range(0..100) == 0 {
            self.rng.random_range(1000..3000)
        } else {
            match profile {
                Profile::Audience => self.rng.random_range(1..=6),
                Profile::Broad | Profile::Decide => self.rng.random_range(80..=300),
            }
        };
        let list = self.list(n, |g| g.segments_flat.sample(&mut g.rng).to_string());
        if self.rng.random_range(0..20) == 0 {
            format!("segment not in {list}")
        } else {
            format!("segment in {list}")
        }
    }

    fn scalar_predicate(&mut self, i: usize, profile: Profile) -> String {
        let a = &SCALARS[i];
        let name = a.name;
        if matches!(name, "hour" | "age") {
            let width = match profile {
                Profile::Audience => self.rng.random_range(2..=a.domain / 3),
                Profile::Broad | Profile::Decide => {
                    self.rng.random_range(a.domain / 3..=a.domain * 3 / 4)
                }
            };
            let lo = self.rng.random_range(0..=a.domain - width) as i64 + a.offset;
            return format!("{name} between {lo} and {}", lo + width as i64 - 1);
        }
        let max = match profile {
            Profile::Audience => 2.min(a.domain / 3).max(1),
            Profile::Broad | Profile::Decide => (a.domain * 2 / 3).clamp(1, 24),
        };
        let n = self.rng.random_range(1..=max);
        let list = self.list(n, |g| g.scalar_value(i, true));
        if self.rng.random_range(0..NOT_IN_ONE_IN) == 0 {
            format!("{name} not in {list}")
        } else {
            format!("{name} in {list}")
        }
    }

    fn category_predicate(&mut self, profile: Profile) -> String {
        let n = match profile {
            Profile::Audience => self.rng.random_range(1..=5),
            Profile::Broad | Profile::Decide => self.rng.random_range(10..=60),
        };
        let list = self.list(n, |g| g.categories_flat.sample(&mut g.rng).to_string());
        format!("content.category in {list}")
    }

    fn expression(&mut self, profile: Profile) -> String {
        // Audience campaigns stack more conditions: predicates per expression are drawn
        // from 2, 3, 3, 4, 4, 5, 5, 6, 6, 6; broad ones uniformly from 2..=5.
        let k = match profile {
            Profile::Audience => [2, 3, 3, 4, 4, 5, 5, 6, 6, 6][self.rng.random_range(0..10)],
            Profile::Broad | Profile::Decide => self.rng.random_range(2..=5),
        };
        let mut preds = Vec::with_capacity(k);
        if self.rng.random_range(0..10) < 7 {
            preds.push(self.segment_predicate(profile));
        }
        let mut used = [false; 19];
        let total: u32 = SCALARS.iter().map(|a| a.weight).sum::<u32>() + 3;
        while preds.len() < k {
            let mut pick = self.rng.random_range(0..total);
            let mut chosen = 18;
            for (i, a) in SCALARS.iter().enumerate() {
                if pick < a.weight {
                    chosen = i;
                    break;
                }
                pick -= a.weight;
            }
            if used[chosen] {
                continue;
            }
            used[chosen] = true;
            let p = if chosen == 18 {
                self.category_predicate(profile)
            } else {
                self.scalar_predicate(chosen, profile)
            };
            preds.push(p);
        }
        if self.rng.random_range(0..10) == 0 {
            let i = self.rng.random_range(0..preds.len());
            preds[i] = format!("not {}", paren(&preds[i]));
        }
        if preds.len() >= 3 && self.rng.random_range(0..20) == 0 {
            let b = preds.pop().unwrap_or_default();
            let a = preds.pop().unwrap_or_default();
            preds.push(format!("({a} or {b})"));
        }
        preds.join(" and ")
    }

    fn request(&mut self, into: &mut Request, json: Option<&mut String>) {
        into.clear();
        let mut obj = String::from("{");
        let n = self.rng.random_range(5..=50);
        let mut segs: Vec<i64> = (0..n)
            .map(|_| self.segments.sample(&mut self.rng) as i64)
            .collect();
        segs.sort_unstable();
        segs.dedup();
        for &s in &segs {
            into.push_int("segment", s);
        }
        let _ = write!(obj, "\"segment\": {segs:?}");
        for _ in 0..self.rng.random_range(1..=4) {
            let c = self.categories.sample(&mut self.rng) as i64;
            into.push_int("content.category", c);
        }
        let cats: Vec<String> = into
            .values("content.category")
            .map(|v| v.to_string())
            .collect();
        let _ = write!(obj, ", \"content.category\": [{}]", cats.join(", "));
        for (i, scalar) in SCALARS.iter().enumerate() {
            let v = self.scalar_value(i, false);
            let name = scalar.name;
            match v.strip_prefix('"') {
                Some(s) => into.push_str(name, s.trim_end_matches('"')),
                None => into.push_int(name, v.parse().unwrap_or_default()),
            }
            let _ = write!(obj, ", \"{name}\": {v}");
        }
        obj.push('}');
        if let Some(json) = json {
            json.push_str(&obj);
            json.push('\n');
        }
    }
}

fn paren(p: &str) -> String {
    if p.starts_with('(') {
        p.to_owned()
    } else {
        format!("({p})")
    }
}

struct Workload {
    exprs: Vec<Expr>,
    texts: Vec<String>,
    requests: Vec<Request>,
    jsonl: String,
}

/// The engine bench's segment draw: `floor(u² × 10,000)`, density ∝ 1/√id.
fn decide_segment(rng: &mut StdRng) -> i64 {
    let u: f64 = rng.random();
    ((u * u) * 10_000.0) as i64
}

const DECIDE_COUNTRIES: [&str; 4] = ["US", "CA", "GB", "DE"];

/// The `decide` profile: `benches/decide.rs`'s campaigns and requests.
fn decide_workload(n: usize) -> Workload {
    let mut rng = StdRng::seed_from_u64(42 + n as u64);
    let texts: Vec<String> = (0..n)
        .map(|_| {
            let segs: Vec<String> = (0..3)
                .map(|_| decide_segment(&mut rng).to_string())
                .collect();
            let d = rng.random_range(0..4);
            format!(
                "segment in ({}) and geo.country = \"{}\" and device.type in ({}, {})",
                segs.join(", "),
                DECIDE_COUNTRIES[rng.random_range(0..4)],
                d,
                (d + 1) % 4
            )
        })
        .collect();
    let exprs = texts
        .iter()
        .map(|t| parse(t).expect("generated expressions parse"))
        .collect();
    let mut jsonl = String::new();
    let requests = (0..1024)
        .map(|_| {
            let mut r = Request::new();
            let segs: Vec<i64> = (0..rng.random_range(5..=50))
                .map(|_| decide_segment(&mut rng))
                .collect();
            for &s in &segs {
                r.push_int("segment", s);
            }
            let country = DECIDE_COUNTRIES[rng.random_range(0..4)];
            let device = rng.random_range(0..4i64);
            r.push_str("geo.country", country);
            r.push_int("device.type", device);
            let _ = writeln!(
                jsonl,
                "{{\"segment\": {segs:?}, \"geo.country\": \"{country}\", \"device.type\": {device}}}"
            );
            r
        })
        .collect();
    Workload {
        exprs,
        texts,
        requests,
        jsonl,
    }
}

fn workload(profile: Profile, n: usize) -> Workload {
    if profile == Profile::Decide {
        return decide_workload(n);
    }
    let segment_domain = if n >= 1_000_000 { 100_000 } else { 10_000 };
    let mut g = Generator::new(segment_domain, 2024 + n as u64 + profile as u64);
    let texts: Vec<String> = (0..n).map(|_| g.expression(profile)).collect();
    let exprs = texts
        .iter()
        .map(|t| parse(t).expect("generated expressions parse"))
        .collect();
    let mut jsonl = String::new();
    let requests = (0..1024)
        .map(|_| {
            let mut r = Request::new();
            g.request(&mut r, Some(&mut jsonl));
            r
        })
        .collect();
    Workload {
        exprs,
        texts,
        requests,
        jsonl,
    }
}

fn build(w: &Workload, options: &BuildOptions) -> Index {
    Index::build_with(
        w.exprs.iter().enumerate().map(|(i, e)| (i as u32, e)),
        options,
    )
    .expect("index builds")
}

/// The index, the brute-force scan, and (up to 100k expressions) the bitset-only and
/// portable-kernel indexes.
type Built = (Index, Index, Option<Index>, Option<Index>);

fn summarize(profile: Profile, n: usize, w: &Workload) -> Built {
    let start = Instant::now();
    let index = build(w, &BuildOptions::default());
    let build_s = start.elapsed().as_secs_f64();
    let scan = build(w, &BuildOptions::new().max_conjunctions(0));
    let bitset_only =
        (n <= 100_000).then(|| build(w, &BuildOptions::new().anchor_threshold_ppm(0)));
    let portable = (n <= 100_000).then(|| build(w, &BuildOptions::new().cpu_kernels(false)));
    let (mut scratch, mut a, mut b) = (Scratch::new(), Vec::new(), Vec::new());
    let mut matched = 0usize;
    let checked = 200.min(w.requests.len());
    for r in &w.requests[..checked] {
        index.matches(r, &mut scratch, &mut a);
        if n <= 100_000 {
            scan.matches(r, &mut scratch, &mut b);
            assert_eq!(a, b, "index and brute force disagree");
            if let Some(bitset_only) = &bitset_only {
                bitset_only.matches(r, &mut scratch, &mut b);
                assert_eq!(a, b, "index and bitset-only index disagree");
            }
            if let Some(portable) = &portable {
                portable.matches(r, &mut scratch, &mut b);
                assert_eq!(a, b, "index and portable-kernel index disagree");
            }
        }
        matched += a.len();
    }
    let stats = index.stats();
    eprintln!(
        "targeting {:>8} {:>9} exprs: build {:>7.3} s, {:>6.1} bytes/expr, {} rows ({} anchored), {} fallback, {} lanes, {} of {} words, {:.3}% match ({:.0} keys/request), {} kernels",
        profile.name(),
        n,
        build_s,
        stats.heap_bytes as f64 / n as f64,
        stats.rows,
        stats.anchored_rows,
        stats.fallback_expressions,
        stats.lanes,
        stats.lane_words,
        stats.lanes * stats.result_words,
        100.0 * matched as f64 / (checked * n) as f64,
        matched as f64 / checked as f64,
        stats.kernels,
    );
    (index, scan, bitset_only, portable)
}

fn bench_profile(c: &mut Criterion, profile: Profile, sizes: &[usize], write_dir: Option<&str>) {
    let mut group = c.benchmark_group(format!("targeting/{}", profile.name()));
    group.throughput(Throughput::Elements(1));
    for &n in sizes {
        let w = workload(profile, n);
        if let (Some(dir), 10_000 | 100_000) = (write_dir, n) {
            let tsv: String = w
                .texts
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{i}\t{t}\n"))
                .collect();
            let _ = std::fs::write(format!("{dir}/{}-{n}.tsv", profile.name()), tsv);
            let _ = std::fs::write(format!("{dir}/{}-{n}.jsonl", profile.name()), &w.jsonl);
        }
        let (index, scan, bitset_only, portable) = summarize(profile, n, &w);
        let (mut scratch, mut out, mut i) = (Scratch::new(), Vec::new(), 0usize);
        // One benchmark: `index` matching the workload's requests in turn.
        let mut bench = |group: &mut BenchmarkGroup<'_, WallTime>, name: &str, index: &Index| {
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    i = (i + 1) & 1023;
                    index.matches(black_box(&w.requests[i]), &mut scratch, &mut out);
                    black_box(out.len())
                })
            });
        };
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        bench(&mut group, "index", &index);
        if let Some(bitset_only) = &bitset_only {
            bench(&mut group, "bitset_only", bitset_only);
        }
        if let Some(portable) = &portable {
            bench(&mut group, "portable", portable);
        }
        if n <= 100_000 {
            group.sample_size(10);
            bench(&mut group, "brute_force", &scan);
            group.sample_size(100);
        }
    }
    group.finish();
}

fn bench_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("targeting/build");
    group.sample_size(10);
    for n in [10_000, 100_000] {
        let w = workload(Profile::Audience, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| build(&w, &BuildOptions::default()).stats().rows)
        });
    }
    group.finish();
}

fn main() {
    let write_dir = std::env::var("ADLOOP_TARGETING_WRITE").ok();
    let quick = std::env::var_os("ADLOOP_TARGETING_QUICK").is_some();
    let mut c = Criterion::default().configure_from_args();
    let only = std::env::var("ADLOOP_TARGETING_PROFILES").ok();
    let wanted = |p: Profile| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|name| name.trim() == p.name()))
    };
    let (audience, broad, decide): (&[usize], &[usize], &[usize]) = if quick {
        (&[10_000], &[10_000], &[10_000])
    } else {
        (
            &[10_000, 100_000, 1_000_000],
            &[100_000],
            &[10_000, 100_000],
        )
    };
    for (profile, sizes) in [
        (Profile::Audience, audience),
        (Profile::Broad, broad),
        (Profile::Decide, decide),
    ] {
        if wanted(profile) {
            bench_profile(&mut c, profile, sizes, write_dir.as_deref());
        }
    }
    if !quick && only.is_none() {
        bench_build(&mut c);
    }
    c.final_summary();
}
