//! Attribution throughput: events per second through the streaming join, per model, and
//! bytes per stored touch, with a nested-loop join beside it.
//!
//! # What's measured / workload model
//! A seeded stream of ten events per household over two days (a CTV household sees some
//! ten to twenty ads a day): 96% impressions, 3% clicks (on an impression of the last few
//! thousand), 1% conversions (10% with a repeated order id). Households are drawn uniformly;
//! each household is in market for 3 of 50 advertisers (campaigns target), 10 campaigns per
//! advertiser. Events arrive in time order with up to 10 minutes of jitter (inside the
//! 1-hour allowed lateness).
//!
//! - criterion group `attribution/stream`: 1M events over 100k households per iteration,
//!   one [`Attributor`] per model fed through `ingest_all` in blocks of 65,536 events
//!   (attributions drained between blocks), single-threaded (the 10M / 1M scaled
//!   down ten times so an iteration fits criterion's sampling); `last-touch/per-event`
//!   feeds the same stream one `ingest` call at a time.
//! - criterion group `attribution/vs_nested_loop`: 20k events over 2k households through the
//!   streaming join and through a nested-loop join (every conversion scans every touch),
//!   the baseline, on the same input.
//! - After criterion: one timed pass of the full 10M events over 1M households per model
//!   (last-touch first, in a fresh process, and once more at the end in a warm one),
//!   printing events/s by the wall clock and per CPU-second of this process (the machine
//!   may be shared; Linux only, else `n/a`), and the bytes per stored touch at 90% of the
//!   stream and the most seen between blocks over the stream's second half (the store is
//!   full from about 52% on; tables that grew while it filled are tightened by later
//!   rebuilds): everything the touch store holds by capacity (arenas, key table,
//!   impression index) over the touches stored (skip with `ADLOOP_BENCH_QUICK=1`).
//!   Every model runs with the default configuration, whose tables grow as the store
//!   fills. Last-touch also runs with the capacity hint (`Config::expected_keys`,
//!   `Config::expected_impressions`) a deployment would set from one day of its own
//!   logs: the distinct (household, advertiser) pairs and the impressions of the
//!   stream's first day (the view keep time is one day), counted before the pass. Both
//!   last-touch configurations also run first in a fresh process of their own (this
//!   binary, re-run for that one pass), the cold figure.
//!
//! `cargo bench --bench attribution -- --warm-up-time 1 --measurement-time 3`

use adloop::attribution::{Attributor, Config, Event, Model, ModelSet};
use adloop::attribution::{Click, Conversion, ConversionKind, Impression, OrderId};
use adloop::core::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Instant;

const DAY: i64 = 86_400_000;

fn workload(events: usize, households: u64, seed: u64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let span = 2 * DAY;
    let step = span / events as i64;
    let mut out = Vec::with_capacity(events);
    let mut next_imp = 0u64;
    for k in 0..events {
        let t = 1_700_000_000_000 + k as i64 * step + rng.random_range(0..600_000);
        let hh = rng.random_range(0..households);
        // The household's r-th advertiser in market: a fixed hash of (household, r).
        let r = rng.random_range(0..3u64);
        let adv = (hh.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ r.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            .wrapping_mul(0x94d0_49bb_1331_11eb)
            >> 58;
        let adv = adv % 50;
        let roll = rng.random_range(0..100);
        let e = if roll < 96 || next_imp == 0 {
            next_imp += 1;
            Event::Impression(Impression {
                id: ImpressionId(next_imp),
                time: Timestamp::from_millis(t),
                user: UserId(hh * 4),
                household: HouseholdId(hh),
                advertiser: AdvertiserId(adv),
                campaign: CampaignId(adv * 10 + rng.random_range(0..10)),
                creative: CreativeId(1),
                cost: Money::from_micros(25_000),
                ghost: false,
            })
        } else if roll < 99 {
            let back = rng.random_range(0..next_imp.min(5_000));
            Event::Click(Click {
                impression: ImpressionId(next_imp - back),
                time: Timestamp::from_millis(t + 600_000),
            })
        } else {
            Event::Conversion(Conversion {
                id: ConversionId(k as u64),
                time: Timestamp::from_millis(t),
                user: UserId(hh * 4),
                household: HouseholdId(hh),
                advertiser: AdvertiserId(adv),
                kind: ConversionKind::Purchase,
                value: Some(Money::from_micros(9_990_000)),
                order_id: (rng.random_range(0..10) == 0)
                    .then(|| OrderId(rng.random_range(0..1_000))),
            })
        };
        out.push(e);
    }
    // Generation order is arrival order; the jitter makes times up to 10 min out of order.
    out
}

fn config(model: Model) -> Config {
    Config::default()
        .model(model)
        .report_models(ModelSet::only(model))
}

/// The capacity hint from the stream's first day (one view keep time): distinct
/// (household, advertiser) pairs with an impression, and impressions.
fn day_one_hint(events: &[Event]) -> (usize, usize) {
    let t0 = events
        .iter()
        .map(|e| e.time())
        .min()
        .map_or(0, |t| t.as_millis());
    let mut keys = std::collections::HashSet::new();
    let mut imps = 0;
    for e in events {
        if let Event::Impression(i) = e
            && i.time.as_millis() - t0 < DAY
        {
            keys.insert((i.household.0, i.advertiser.0));
            imps += 1;
        }
    }
    (keys.len(), imps)
}

const BLOCK: usize = 65_536;

/// The fast path: blocks through `ingest_all`, attributions drained between blocks.
fn stream(model: Model, events: &[Event]) -> Attributor {
    let mut a = Attributor::new(config(model)).expect("valid config");
    let mut buf = Vec::new();
    for block in events.chunks(BLOCK) {
        a.ingest_all(block.iter().copied());
        a.drain_attributions(&mut buf);
        buf.clear();
    }
    a.finish();
    a
}

/// One `ingest` call per event.
fn stream_per_event(model: Model, events: &[Event]) -> Attributor {
    let mut a = Attributor::new(config(model)).expect("valid config");
    let mut buf = Vec::new();
    for (k, e) in events.iter().enumerate() {
        a.ingest(*e);
        if k % BLOCK == 0 {
            a.drain_attributions(&mut buf);
            buf.clear();
        }
    }
    a.finish();
    a
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, in clock ticks of
/// 1/100 s); `None` elsewhere.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The baseline: collect touches, then for every conversion scan all of them.
fn nested_loop(events: &[Event]) -> f64 {
    let click_w = 7 * DAY;
    let view_w = DAY;
    let mut touches: Vec<(i64, u64, u64, u64, u8, u64)> = Vec::new(); // time, hh, adv, campaign, kind, imp
    for e in events {
        match e {
            Event::Impression(i) => touches.push((
                i.time.as_millis(),
                i.household.0,
                i.advertiser.0,
                i.campaign.0,
                0,
                i.id.0,
            )),
            Event::Click(c) => {
                if let Some(t) = touches.iter().find(|t| t.5 == c.impression.0 && t.4 == 0) {
                    let t = *t;
                    touches.push((c.time.as_millis(), t.1, t.2, t.3, 1, t.5));
                }
            }
            Event::Conversion(_) => {}
        }
    }
    let mut credited = 0.0;
    for e in events {
        if let Event::Conversion(c) = e {
            let ct = c.time.as_millis();
            let mut best: Option<(u8, i64, u64)> = None;
            for t in &touches {
                let w = if t.4 == 1 { click_w } else { view_w };
                if t.1 == c.household.0 && t.2 == c.advertiser.0 && t.0 <= ct && ct - t.0 <= w {
                    let k = (t.4, t.0, t.5);
                    if best.is_none_or(|b| k > b) {
                        best = Some(k);
                    }
                }
            }
            if best.is_some() {
                credited += 1.0;
            }
        }
    }
    credited
}

fn bench_stream(c: &mut Criterion) {
    let events = workload(1_000_000, 100_000, 1);
    let mut g = c.benchmark_group("attribution/stream");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    for model in Model::ALL {
        g.bench_with_input(BenchmarkId::from_parameter(model), &events, |b, ev| {
            b.iter(|| black_box(stream(model, ev).stats().attributed_conversions))
        });
    }
    g.bench_with_input(
        BenchmarkId::from_parameter("last-touch/per-event"),
        &events,
        |b, ev| {
            b.iter(|| {
                black_box(
                    stream_per_event(Model::LastTouch, ev)
                        .stats()
                        .attributed_conversions,
                )
            })
        },
    );
    g.finish();
}

fn bench_vs_nested_loop(c: &mut Criterion) {
    let events = workload(20_000, 2_000, 2);
    let mut g = c.benchmark_group("attribution/vs_nested_loop");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("stream_last_touch", |b| {
        b.iter(|| {
            black_box(
                stream(Model::LastTouch, &events)
                    .stats()
                    .attributed_conversions,
            )
        })
    });
    g.bench_function("stream_last_touch_per_event", |b| {
        b.iter(|| {
            black_box(
                stream_per_event(Model::LastTouch, &events)
                    .stats()
                    .attributed_conversions,
            )
        })
    });
    g.bench_function("nested_loop_last_touch", |b| {
        b.iter(|| black_box(nested_loop(&events)))
    });
    g.finish();
}

/// Set in the environment of a re-run of this binary for one cold pass: `default` or
/// `hint` (last-touch).
const ONE_PASS: &str = "ADLOOP_BENCH_ONE_PASS";

/// Re-runs this binary for one last-touch pass in a fresh process (the cold figure).
fn fresh_process_pass(which: &str) {
    let status = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env(ONE_PASS, which)
            .status()
    });
    if !status.as_ref().is_ok_and(|s| s.success()) {
        println!("  (the fresh-process {which} pass did not run: {status:?})");
    }
}

fn full_scale() {
    if std::env::var_os("ADLOOP_BENCH_QUICK").is_some() {
        return;
    }
    let one = std::env::var(ONE_PASS).ok();
    let events = workload(10_000_000, 1_000_000, 3);
    let (keys, imps) = day_one_hint(&events);
    let hinted = |model| config(model).expected_keys(keys).expected_impressions(imps);
    // (model, configuration, batched, label)
    let runs: Vec<(Model, Config, bool, &str)> = match one.as_deref() {
        Some("hint") => vec![(
            Model::LastTouch,
            hinted(Model::LastTouch),
            true,
            " (capacity hint, fresh process)",
        )],
        Some(_) => vec![(
            Model::LastTouch,
            config(Model::LastTouch),
            true,
            " (default, fresh process)",
        )],
        None => {
            println!(
                "full scale: {} events over 1,000,000 households, one pass per model; capacity hint from the first day: {keys} keys, {imps} impressions",
                events.len()
            );
            // A process's first pass takes fresh pages from the OS (page faults); later
            // passes reuse freed memory. So last-touch runs first in a fresh process of
            // its own for each configuration (the cold figures), then here (warm).
            fresh_process_pass("default");
            fresh_process_pass("hint");
            Model::ALL
                .into_iter()
                .map(|m| (m, config(m), true, ""))
                .chain([
                    (
                        Model::LastTouch,
                        hinted(Model::LastTouch),
                        true,
                        " (capacity hint)",
                    ),
                    (
                        Model::LastTouch,
                        config(Model::LastTouch),
                        false,
                        " (per-event)",
                    ),
                ])
                .collect()
        }
    };
    for (model, config, batched, label) in runs {
        let mut a = Attributor::new(config).expect("valid config");
        let mut buf = Vec::new();
        let mut peak = None;
        let mut worst: f64 = 0.0;
        let cpu0 = cpu_secs();
        let start = Instant::now();
        if batched {
            let at_90 = events.len() * 9 / 10 / BLOCK;
            for (k, block) in events.chunks(BLOCK).enumerate() {
                a.ingest_all(block.iter().copied());
                a.drain_attributions(&mut buf);
                buf.clear();
                if k == at_90 {
                    peak = Some(a.memory());
                }
                if k * BLOCK * 2 >= events.len() {
                    worst = worst.max(a.memory().bytes_per_touch());
                }
            }
        } else {
            for (k, e) in events.iter().enumerate() {
                a.ingest(*e);
                if k % BLOCK == 0 {
                    a.drain_attributions(&mut buf);
                    buf.clear();
                }
                if k == events.len() * 9 / 10 {
                    peak = Some(a.memory());
                }
                if k % BLOCK == 0 && k * 2 >= events.len() {
                    worst = worst.max(a.memory().bytes_per_touch());
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = cpu0.zip(cpu_secs()).map(|(a, b)| b - a);
        let m = peak.unwrap_or_else(|| a.memory());
        a.finish();
        let per_cpu = cpu.map_or("n/a".to_string(), |c| {
            format!("{:.2}", events.len() as f64 / c / 1e6)
        });
        println!(
            "  {:<42} {:>6.2} M events/s wall, {per_cpu:>5} M per CPU-s ({:.2} s)  {} touches at 90%, {:.1} bytes/touch (at most {:.1} in the second half), {} attributed",
            format!("{model}{label}"),
            events.len() as f64 / secs / 1e6,
            secs,
            m.touches,
            m.bytes_per_touch(),
            worst,
            a.stats().attributed_conversions
        );
    }
}

criterion_group!(benches, bench_stream, bench_vs_nested_loop);

fn main() {
    if std::env::var_os(ONE_PASS).is_some() {
        full_scale();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    full_scale();
}
