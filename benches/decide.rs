//! `Engine::decide` latency and throughput.
//!
//! # What's measured / workload model
//! - **Campaigns**: 10k and 100k, seeded (`StdRng::seed_from_u64(42)`). Audience-style
//!   targeting: `segment in (3 ids) and geo.country = C and device.type in (2 of 4)`, with
//!   segment ids drawn Zipf-like from 0..9,999, 4 countries, 4 device types; about 0.3% of
//!   campaigns match a request (the bench prints the measured rate). CPM bids 1–20, huge
//!   lifetime budgets (nothing runs out while measuring), ASAP pacing, one 15 s or 30 s
//!   video creative, tiers mostly open with 5% guaranteed, one competitive category each.
//! - **Requests**: 5–50 segments (same Zipf-like draw), a country and a device type, a
//!   viewer and household id; 4,096 distinct requests cycled.
//! - **Loop**: each decision is followed by recording its impressions (charging the
//!   reservation), outside the timed region, and the engine ticks every 20k decisions so
//!   attribution queues drain — the steady state of a real server.
//! - **Reported**: criterion time per single-slot decision and per 4-slot pod decision;
//!   an HDR-histogram pass printing p50/p99/p99.9 of single-slot decisions; throughput with
//!   1 and 2 threads sharing one `Arc<Engine>`, beside the same engine behind a `Mutex`
//!   (the baseline a naive embedding would use); memory per campaign in the snapshot.
//!
//! `cargo bench --bench decide` (add `-- --quick` style criterion flags to shorten).

use adloop::core::{AdvertiserId, CampaignId, Cpm, HouseholdId, Money, Timestamp, UserId};
use adloop::pacing::PacingMode;
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, Decision, Engine, Event, Flight, Opportunity, Pod,
};
use criterion::{Criterion, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T0: i64 = 1_764_400_000_000;
const SEGMENTS: u64 = 10_000;
const COUNTRIES: [&str; 4] = ["US", "CA", "GB", "DE"];
const REQUESTS: usize = 4_096;

/// A Zipf-like segment id: popular ids are drawn more often (density ∝ 1/√rank).
fn segment(rng: &mut StdRng) -> i64 {
    let u: f64 = rng.random();
    ((u * u) * SEGMENTS as f64) as i64
}

fn campaigns(n: usize, rng: &mut StdRng) -> Vec<Campaign> {
    (0..n)
        .map(|i| {
            let segs: Vec<String> = (0..3).map(|_| segment(rng).to_string()).collect();
            let d = rng.random_range(0..4);
            let targeting = format!(
                "segment in ({}) and geo.country = \"{}\" and device.type in ({}, {})",
                segs.join(", "),
                COUNTRIES[rng.random_range(0..4)],
                d,
                (d + 1) % 4
            );
            let id = i as u64 + 1;
            Campaign {
                id: CampaignId::new(id),
                advertiser: AdvertiserId::new(id % 5_000 + 1),
                advertiser_domain: format!("adv{}.example", id % 5_000 + 1),
                budget: Budget {
                    daily: None,
                    lifetime: Some(Money::from_micros(1_000_000_000_000_000)),
                },
                flight: Flight {
                    start: Timestamp::from_millis(T0 - 86_400_000),
                    end: Timestamp::from_millis(T0 + 30 * 86_400_000),
                },
                pacing: PacingMode::Asap,
                bid: Bid::Cpm(Cpm::from_micros(rng.random_range(1_000_000..20_000_000))),
                tier: if rng.random_range(0..20) == 0 {
                    adloop::auction::Tier::GUARANTEED
                } else {
                    adloop::auction::Tier::OPEN
                },
                deals: vec![],
                frequency_caps: vec![],
                categories: vec![format!("IAB{}", rng.random_range(1..27))],
                targeting,
                creatives: vec![Creative::video(id, if rng.random() { 15 } else { 30 })],
                rotation: Default::default(),
                holdout: 0.0,
            }
        })
        .collect()
}

fn requests(rng: &mut StdRng, pod: bool) -> Vec<AdRequest> {
    (0..REQUESTS)
        .map(|i| {
            let mut r = AdRequest {
                id: i as u64,
                user: Some(UserId::new(i as u64)),
                household: Some(HouseholdId::new(i as u64 / 2)),
                ..AdRequest::default()
            };
            let seg = r.attributes.slot("segment");
            for _ in 0..rng.random_range(5..=50) {
                r.attributes.push_int_at(seg, segment(rng));
            }
            r.attributes
                .push_str("geo.country", COUNTRIES[rng.random_range(0..4)]);
            r.attributes.push_int("device.type", rng.random_range(0..4));
            if pod {
                r.opportunity = Opportunity::Pod(Pod {
                    max_slots: 4,
                    max_duration_s: 90,
                    required_durations_s: vec![],
                });
            }
            r
        })
        .collect()
}

struct Workload {
    engine: Arc<Engine>,
    single: Vec<AdRequest>,
    pods: Vec<AdRequest>,
}

fn workload(n: usize) -> Workload {
    let mut rng = StdRng::seed_from_u64(42);
    let engine = Engine::builder()
        .seed(1)
        .max_outstanding_per_campaign(16)
        .build()
        .expect("valid configuration");
    let built = Instant::now();
    engine
        .publish(campaigns(n, &mut rng))
        .expect("valid campaigns");
    let publish = built.elapsed();
    let single = requests(&mut rng, false);
    let pods = requests(&mut rng, true);
    let mut traced = single[0].clone();
    traced.trace = true;
    let mut targeted = 0usize;
    for r in single.iter().take(256) {
        let mut r = r.clone();
        r.trace = true;
        let d = engine.decide(&r, now(0));
        release(&engine, &d);
        targeted += d.trace.as_ref().map_or(0, |t| {
            t.entries
                .iter()
                .filter(|e| e.fate != adloop::Fate::NotTargeted)
                .count()
        });
    }
    let mem = engine.memory();
    eprintln!(
        "decide/{n}: publish {:.2}s, {:.3}% of campaigns targeted per request, snapshot {} bytes/campaign ({mem:?})",
        publish.as_secs_f64(),
        100.0 * targeted as f64 / (256.0 * n as f64),
        mem.bytes_per_campaign(),
    );
    Workload {
        engine: Arc::new(engine),
        single,
        pods,
    }
}

fn now(i: u64) -> Timestamp {
    Timestamp::from_millis(T0 + (i / 64) as i64)
}

/// Records every placement of `d` (the ad was shown), so budgets are charged and
/// reservation slots freed, as in a real server.
fn release(engine: &Engine, d: &Decision) {
    for p in &d.placements {
        let _ = engine.record(Event::Impression {
            receipt: p.receipt,
            time: p.receipt.decided_at,
        });
    }
}

fn timed(engine: &Engine, requests: &[AdRequest], iters: u64, start: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut d = Decision::default();
    for i in start..start + iters {
        let r = &requests[i as usize % requests.len()];
        let t = Instant::now();
        engine.decide_into(r, now(i), &mut d);
        total += t.elapsed();
        black_box(&d);
        release(engine, &d);
        if i % 20_000 == 0 {
            engine.tick(now(i));
        }
    }
    total
}

fn hdr_pass(name: &str, w: &Workload, requests: &[AdRequest]) {
    let mut h = Histogram::<u64>::new(3).expect("valid precision");
    let mut d = Decision::default();
    for i in 0..100_000u64 {
        let r = &requests[i as usize % requests.len()];
        let t = Instant::now();
        w.engine.decide_into(r, now(i), &mut d);
        let ns = t.elapsed().as_nanos() as u64;
        black_box(&d);
        release(&w.engine, &d);
        if i % 20_000 == 0 {
            w.engine.tick(now(i));
        }
        if i >= 10_000 {
            h.record(ns.max(1)).expect("in range");
        }
    }
    eprintln!(
        "{name}: p50 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, mean {:.2} µs (HDR, 90k decisions)",
        h.value_at_quantile(0.50) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.value_at_quantile(0.999) as f64 / 1e3,
        h.mean() / 1e3,
    );
}

/// Decisions per second with `threads` threads sharing one engine, each deciding then
/// recording; `locked` puts the engine behind a `Mutex` (held for the decision and its
/// record, as a `Mutex<Engine>` would be).
fn throughput(w: &Workload, threads: usize, locked: bool) -> f64 {
    const PER_THREAD: u64 = 40_000;
    let mutexed = Arc::new(Mutex::new(()));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let engine = Arc::clone(&w.engine);
            let mutexed = Arc::clone(&mutexed);
            let requests = &w.single;
            scope.spawn(move || {
                let mut d = Decision::default();
                for i in 0..PER_THREAD {
                    let k = i + t as u64 * 7_919;
                    let r = &requests[k as usize % requests.len()];
                    if locked {
                        let _guard = mutexed.lock().unwrap_or_else(|e| e.into_inner());
                        engine.decide_into(r, now(i), &mut d);
                        release(&engine, &d);
                    } else {
                        engine.decide_into(r, now(i), &mut d);
                        release(&engine, &d);
                    }
                }
            });
        }
    });
    let rate = (threads as u64 * PER_THREAD) as f64 / start.elapsed().as_secs_f64();
    w.engine.tick(now(PER_THREAD));
    rate
}

/// How well this machine runs two threads at once right now: pure arithmetic on 1 and 2
/// threads. On a shared or oversubscribed machine this is well under 2×, and the engine's
/// 2-thread figures must be read against it.
fn machine_scaling() -> f64 {
    fn spin(n: u64) -> u64 {
        let mut x = 1u64;
        for i in 0..n {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
        }
        x
    }
    const N: u64 = 200_000_000;
    let t = Instant::now();
    black_box(spin(black_box(N)));
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| black_box(spin(black_box(N))));
        }
    });
    2.0 * one / t.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    eprintln!(
        "machine: 2 threads of pure arithmetic run {:.2}x one thread right now",
        machine_scaling()
    );
    for n in [10_000usize, 100_000] {
        let w = workload(n);
        let mut group = c.benchmark_group(format!("decide/{n}"));
        let mut next = 0u64;
        group.bench_function("single_slot", |b| {
            b.iter_custom(|iters| {
                let t = timed(&w.engine, &w.single, iters, next);
                next += iters;
                t
            })
        });
        group.bench_function("pod_4_slots", |b| {
            b.iter_custom(|iters| {
                let t = timed(&w.engine, &w.pods, iters, next);
                next += iters;
                t
            })
        });
        group.finish();
        hdr_pass(&format!("decide/{n}/single_slot"), &w, &w.single);
        hdr_pass(&format!("decide/{n}/pod_4_slots"), &w, &w.pods);
        let one = throughput(&w, 1, false);
        let two = throughput(&w, 2, false);
        let one_locked = throughput(&w, 1, true);
        let two_locked = throughput(&w, 2, true);
        eprintln!(
            "decide/{n}/throughput: 1 thread {one:.0}/s, 2 threads {two:.0}/s ({:.2}x); \
             Mutex engine 1 thread {one_locked:.0}/s, 2 threads {two_locked:.0}/s; \
             lock-free vs Mutex at 2 threads {:.2}x",
            two / one,
            two / two_locked,
        );
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
criterion_main!(benches);
