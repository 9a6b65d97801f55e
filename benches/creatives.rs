//! What creative choice adds to a decision.
//!
//! # What's measured / workload model
//! - **Engine**: one engine per case with 1 or 10 campaigns, all targeted by every request
//!   (`true`), CPM bids 1–10 (seeded, `StdRng::seed_from_u64(42)`), huge lifetime budgets,
//!   ASAP pacing, 30 s video creatives; single-slot video requests without viewer ids (so
//!   the storyline lookup is skipped and nothing reaches attribution).
//! - **Cases** (same campaigns, same requests; only the creatives and rotation differ):
//!   - `1 creative` — the baseline: one unrestricted creative, which the engine only
//!     checks against the slot (no rotation);
//!   - `20 variants, first fit` — 20 creatives, sequential rotation with no history: the
//!     first variant that fits is taken;
//!   - `20 variants, even` / `weighted` / `optimized` — the rotation modes; `optimized`
//!     after a tick has published Thompson shares from seeded counts;
//!   - `20 variants, optimized, localized` — each variant also lists 2 markets and a
//!     language, so the request's country and language are encoded once per decision
//!     and each campaign's market and language masks intersected.
//! - **Loop**: batches of 256 decisions are timed; their impressions are then recorded
//!   outside the timed region (so reservations never pile up), as in `benches/decide.rs`.
//! - **Reported**: time per decision; the difference to `1 creative` is what creative
//!   choice adds (the target: under 100 ns with 20 variants). After criterion's figures
//!   the bench prints the differences measured in this run: 15 rounds, each timing every
//!   case once in turn (10,000 decisions); per case its fastest round and the difference
//!   to the baseline's fastest round (the least disturbed by other work on a shared
//!   machine), and the median over rounds of the difference to the same round's
//!   baseline.
//!
//! `cargo bench --bench creatives -- --warm-up-time 1 --measurement-time 3`
//!
//! Instruction counts (deterministic, for a loaded machine): `ADLOOP_CREATIVES_ONLY=
//! <campaigns>:<case>` runs 10,000 decisions (`ADLOOP_CREATIVES_DECISIONS`) of one case
//! (cases from 0 in the order above) in `counted_decisions`, recording impressions in
//! `record`, and prints the ads shown and the time per decision; under
//! `valgrind --tool=callgrind --toggle-collect='*counted_decisions*'
//! --toggle-collect='*creatives::record*'` the total counts the decisions only.

use adloop::core::{AdvertiserId, CampaignId, Cpm, Money, Timestamp};
use adloop::pacing::PacingMode;
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, Decision, Engine, Event, Flight, Rotation,
    RotationGoal,
};
use criterion::{Criterion, criterion_group};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::{Duration, Instant};

const T0: i64 = 1_764_400_000_000;

fn campaigns(
    n: u64,
    creatives: &dyn Fn(u64) -> Vec<Creative>,
    rotation: Rotation,
) -> Vec<Campaign> {
    let mut rng = StdRng::seed_from_u64(42);
    (1..=n)
        .map(|id| Campaign {
            id: CampaignId::new(id),
            advertiser: AdvertiserId::new(id),
            advertiser_domain: format!("adv{id}.example"),
            budget: Budget {
                daily: None,
                lifetime: Some(Money::from_micros(1_000_000_000_000_000)),
            },
            flight: Flight {
                start: Timestamp::from_millis(T0 - 86_400_000),
                end: Timestamp::from_millis(T0 + 30 * 86_400_000),
            },
            pacing: PacingMode::Asap,
            bid: Bid::Cpm(Cpm::from_micros(rng.random_range(1_000_000..10_000_000))),
            tier: Default::default(),
            deals: vec![],
            frequency_caps: vec![],
            categories: vec![],
            targeting: "true".into(),
            creatives: creatives(id),
            rotation,
            holdout: 0.0,
        })
        .collect()
}

fn engine(n: u64, variants: u64, localized: bool, rotation: Rotation) -> Engine {
    let engine = Engine::builder()
        .seed(1)
        .max_outstanding_per_campaign(1_024)
        .build()
        .expect("an engine");
    let creatives = move |id: u64| -> Vec<Creative> {
        (0..variants)
            .map(|v| {
                let c = Creative::video(id * 100 + v, 30).weight(v as u32 + 1);
                if localized {
                    c.markets(["US", "CA"]).languages(["en"])
                } else {
                    c
                }
            })
            .collect()
    };
    engine
        .publish(campaigns(n, &creatives, rotation))
        .expect("valid campaigns");
    // Seeded counts so the optimized shares are not uniform, then one tick to publish them.
    let mut rng = StdRng::seed_from_u64(7);
    let mut request = request();
    let now = Timestamp::from_millis(T0);
    for i in 0..2_000 {
        request.id = i;
        let d = engine.decide(&request, now);
        for p in &d.placements {
            if rng.random::<f64>() < 0.9 {
                engine
                    .record(Event::Impression {
                        receipt: p.receipt,
                        time: now,
                    })
                    .expect("a fresh receipt");
            }
        }
    }
    engine.tick(now);
    engine
}

fn request() -> AdRequest {
    let mut r = AdRequest::default();
    r.attributes.push_str("geo.country", "US");
    r.attributes.push_str("content.language", "en");
    r
}

const BATCH: u64 = 256;

/// Times `iters` decisions in batches; records each batch's impressions untimed.
fn timed_decisions(
    engine: &Engine,
    request: &mut AdRequest,
    out: &mut Decision,
    receipts: &mut Vec<adloop::Receipt>,
    now: Timestamp,
    iters: u64,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        receipts.clear();
        let start = Instant::now();
        for _ in 0..n {
            request.id = request.id.wrapping_add(1);
            engine.decide_into(request, now, out);
            receipts.extend(out.placements.iter().map(|p| p.receipt));
        }
        elapsed += start.elapsed();
        for r in receipts.iter() {
            let _ = black_box(engine.record(Event::Impression {
                receipt: *r,
                time: now,
            }));
        }
        left -= n;
    }
    elapsed
}

/// The cases: name, variants per campaign, localized, rotation.
fn cases() -> [(&'static str, u64, bool, Rotation); 6] {
    let optimized = Rotation::Optimized {
        goal: RotationGoal::Ctr,
        exploration: 0.1,
    };
    [
        ("1 creative", 1, false, Rotation::Even),
        ("20 variants, first fit", 20, false, Rotation::Sequential),
        ("20 variants, even", 20, false, Rotation::Even),
        ("20 variants, weighted", 20, false, Rotation::Weighted),
        ("20 variants, optimized", 20, false, optimized),
        ("20 variants, optimized, localized", 20, true, optimized),
    ]
}

/// Rounds of the printed comparison; each round times every case once, in turn, so a
/// case and the baseline are compared within the same stretch of machine load.
const ROUNDS: usize = 15;
const PER_ROUND: u64 = 10_000;

fn bench(c: &mut Criterion) {
    let now = Timestamp::from_millis(T0);
    for campaigns in [1u64, 10] {
        let mut group = c.benchmark_group(format!("creatives/{campaigns} campaigns"));
        let mut setups: Vec<_> = cases()
            .into_iter()
            .map(|(name, variants, localized, rotation)| {
                (
                    name,
                    engine(campaigns, variants, localized, rotation),
                    request(),
                )
            })
            .collect();
        let mut out = Decision::default();
        let mut receipts = Vec::with_capacity(BATCH as usize);
        for (name, engine, request) in &mut setups {
            group.bench_function(*name, |b| {
                b.iter_custom(|iters| {
                    timed_decisions(engine, request, &mut out, &mut receipts, now, iters)
                })
            });
        }
        group.finish();
        // The printed differences: per round, each case minus the baseline of that round.
        let mut per_round = vec![Vec::new(); setups.len()];
        for _ in 0..ROUNDS {
            let ns: Vec<f64> = setups
                .iter_mut()
                .map(|(_, engine, request)| {
                    let t =
                        timed_decisions(engine, request, &mut out, &mut receipts, now, PER_ROUND);
                    t.as_nanos() as f64 / PER_ROUND as f64
                })
                .collect();
            for (i, t) in ns.iter().enumerate() {
                per_round[i].push((*t, t - ns[0]));
            }
        }
        let fastest: Vec<f64> = per_round
            .iter()
            .map(|r| r.iter().map(|x| x.0).fold(f64::INFINITY, f64::min))
            .collect();
        let per = campaigns as f64;
        for (((name, ..), rounds), fast) in setups.iter().zip(&mut per_round).zip(&fastest) {
            rounds.sort_by(|a, b| a.1.total_cmp(&b.1));
            let median = rounds[ROUNDS / 2].1;
            let added = fast - fastest[0];
            println!(
                "{campaigns:>2} campaign(s) | {name:<34} {fast:>6.0} ns/decision {added:+5.0} ns \
                 ({:+.0} per targeted campaign); median of rounds {median:+.0} ns",
                added / per
            );
        }
    }
}

/// Runs `decisions` decisions of one case, for an instruction count under callgrind:
/// `ADLOOP_CREATIVES_ONLY=<campaigns>:<case>` (case from 0, in the order of `cases`), e.g.
/// `valgrind --tool=callgrind --toggle-collect='*counted_decisions*' target/release/deps/creatives-* `.
fn count_only(spec: &str) {
    let parse = || -> Option<(u64, usize)> {
        let (campaigns, case) = spec.split_once(':')?;
        Some((campaigns.parse().ok()?, case.parse().ok()?))
    };
    let (campaigns, case) = parse().expect("ADLOOP_CREATIVES_ONLY=<campaigns>:<case>");
    let (name, variants, localized, rotation) = cases()[case];
    let engine = engine(campaigns, variants, localized, rotation);
    let mut request = request();
    let mut out = Decision::default();
    let mut receipts = Vec::with_capacity(BATCH as usize);
    let decisions = std::env::var("ADLOOP_CREATIVES_DECISIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000u64);
    let start = Instant::now();
    let shown = counted_decisions(&engine, &mut request, &mut out, &mut receipts, decisions);
    let ns = start.elapsed().as_nanos() as f64 / decisions as f64;
    println!(
        "{campaigns} campaign(s) | {name}: {decisions} decisions, {shown} ads shown, \
         {ns:.0} ns/decision (impressions recorded included)"
    );
}

#[inline(never)]
fn counted_decisions(
    engine: &Engine,
    request: &mut AdRequest,
    out: &mut Decision,
    receipts: &mut Vec<adloop::Receipt>,
    decisions: u64,
) -> usize {
    let mut shown = 0;
    for _ in 0..decisions {
        request.id = request.id.wrapping_add(1);
        engine.decide_into(request, Timestamp::from_millis(T0), out);
        shown += out.placements.len();
        receipts.extend(out.placements.iter().map(|p| p.receipt));
        if receipts.len() >= BATCH as usize {
            record(engine, receipts);
        }
    }
    shown
}

/// Records `receipts`' impressions (outside the counted function).
#[inline(never)]
fn record(engine: &Engine, receipts: &mut Vec<adloop::Receipt>) {
    for r in receipts.drain(..) {
        let _ = black_box(engine.record(Event::Impression {
            receipt: r,
            time: Timestamp::from_millis(T0),
        }));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}

fn main() {
    if let Ok(spec) = std::env::var("ADLOOP_CREATIVES_ONLY") {
        count_only(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
