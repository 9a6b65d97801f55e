//! Pacing benchmarks.
//!
//! What's measured / workload model:
//! - `admit`: one hot-path admission of a throttle at participation 0.5 (a rng draw and
//!   two relaxed loads) and of ASAP (no draw), seeded `StdRng`. Target: under 20 ns.
//! - `ledger_reserve`: one `try_reserve` + `release` pair of 1,000 micros on a ledger
//!   with an ample budget, uncontended and with 2 threads hammering the same ledger,
//!   beside two baselines: a `Mutex<i64>` doing only the check-and-add / subtract (a
//!   floor no real ledger reaches), and `booked_mutex`, the same bookkeeping as the
//!   ledger (day rollover, lifetime limit, flight, a 1,024-slot reservation table (the default `max_outstanding`) with
//!   generation tokens and expiry, statistics) behind one `Mutex`: the fair comparison.
//! - `ledger_expire`: the tick's sweep, `BudgetStore::expire` over 100,000 ledgers of 16
//!   slots with 1% holding a reservation not yet due.
//! - `frequency`: `check` and `record` of one fixed daily cap for identities drawn
//!   uniformly from 100,000 already-tracked users.

use adloop::core::{AdvertiserId, CampaignId, DurationMs, Money, Timestamp, UserId};
use adloop::pacing::{
    BudgetConfig, BudgetLedger, BudgetStore, CapScope, CapWindow, FrequencyCap, FrequencyStore,
    Identities, IdentityKind, InProcessBudgetStore, InProcessFrequencyStore, PacingController,
    PacingMode, TargetCurve, ThrottleSettings,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

const NOW: Timestamp = Timestamp::from_millis(1_700_006_400_000);

fn admit(c: &mut Criterion) {
    let cfg = BudgetConfig::daily(Money::from_units(1_000).unwrap());
    let throttle = PacingMode::Throttle {
        curve: TargetCurve::Even,
        settings: ThrottleSettings {
            initial_rate: 0.5,
            ..ThrottleSettings::default()
        },
    }
    .build(&cfg)
    .unwrap();
    let asap = PacingMode::Asap.build(&cfg).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("admit");
    g.bench_function("throttle_p0.5", |b| {
        b.iter(|| black_box(throttle.admit(black_box(NOW), &mut rng)))
    });
    g.bench_function("asap", |b| {
        b.iter(|| black_box(asap.admit(black_box(NOW), &mut rng)))
    });
    g.finish();
}

/// The baseline: a budget behind a mutex.
struct MutexLedger {
    used: Mutex<i64>,
    limit: i64,
}

impl MutexLedger {
    fn reserve(&self, amount: i64) -> bool {
        let mut used = self.used.lock().unwrap();
        if *used + amount > self.limit {
            return false;
        }
        *used += amount;
        true
    }

    fn release(&self, amount: i64) {
        *self.used.lock().unwrap() -= amount;
    }
}

/// The fair baseline: the bookkeeping [`BudgetLedger`] does, behind one mutex. A daily
/// counter that rolls over with the day, a lifetime counter, the flight check, a slot
/// table of reservations with generation tokens and expiry times (so a token is settled
/// at most once), and the statistics totals.
struct BookedMutexLedger {
    book: Mutex<Book>,
    daily_limit: i64,
    lifetime_limit: i64,
    flight: (i64, i64),
    ttl_ms: i64,
}

struct Book {
    day: i64,
    daily_used: i64,
    lifetime_used: i64,
    reserved: i64,
    released: i64,
    /// Per slot: (generation, amount, expires at, day); generation 0 = free.
    slots: Vec<(u64, i64, i64, i64)>,
    free: Vec<u32>,
    next_generation: u64,
}

impl BookedMutexLedger {
    fn new(slots: u32) -> Self {
        BookedMutexLedger {
            book: Mutex::new(Book {
                day: 0,
                daily_used: 0,
                lifetime_used: 0,
                reserved: 0,
                released: 0,
                slots: vec![(0, 0, 0, 0); slots as usize],
                free: (0..slots).rev().collect(),
                next_generation: 1,
            }),
            daily_limit: 1_000_000_000_000,
            lifetime_limit: i64::MAX / 2,
            flight: (i64::MIN, i64::MAX),
            ttl_ms: 60_000,
        }
    }

    /// A token `(slot, generation)`, or `None` when a limit or the slots refuse.
    fn reserve(&self, amount: i64, now: i64) -> Option<(u32, u64)> {
        if now < self.flight.0 || now >= self.flight.1 {
            return None;
        }
        let day = now.div_euclid(86_400_000);
        let mut b = self.book.lock().unwrap();
        if day != b.day {
            b.day = day;
            b.daily_used = 0;
        }
        if b.daily_used + amount > self.daily_limit
            || b.lifetime_used + amount > self.lifetime_limit
        {
            return None;
        }
        let slot = b.free.pop()?;
        let generation = b.next_generation;
        b.next_generation += 1;
        b.slots[slot as usize] = (generation, amount, now + self.ttl_ms, day);
        b.daily_used += amount;
        b.lifetime_used += amount;
        b.reserved += amount;
        Some((slot, generation))
    }

    fn release(&self, (slot, generation): (u32, u64)) -> bool {
        let mut b = self.book.lock().unwrap();
        let (g, amount, _expires, day) = b.slots[slot as usize];
        if g != generation {
            return false;
        }
        b.slots[slot as usize].0 = 0;
        b.free.push(slot);
        if day == b.day {
            b.daily_used -= amount;
        }
        b.lifetime_used -= amount;
        b.released += amount;
        true
    }
}

fn ledger() -> BudgetLedger {
    BudgetLedger::new(
        CampaignId(1),
        BudgetConfig {
            daily: Some(Money::from_units(1_000_000).unwrap()),
            ..BudgetConfig::default()
        },
    )
    .unwrap()
}

/// One benchmarked operation, shared by the threads that run it.
type Op = Arc<dyn Fn() + Send + Sync>;

/// Runs `iters` operations split over `threads` threads, returning the wall time.
fn threaded(threads: usize, iters: u64, op: Op) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (barrier, op) = (Arc::clone(&barrier), Arc::clone(&op));
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters / threads as u64 {
                    op();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn ledger_reserve(c: &mut Criterion) {
    let amount = Money::from_micros(1_000);
    let mut g = c.benchmark_group("ledger_reserve");
    let l = ledger();
    g.bench_function("lockfree_uncontended", |b| {
        b.iter(|| {
            let r = l.try_reserve(amount, NOW).unwrap();
            l.release(black_box(&r)).unwrap();
        })
    });
    let m = MutexLedger {
        used: Mutex::new(0),
        limit: i64::MAX / 2,
    };
    g.bench_function("mutex_uncontended", |b| {
        b.iter(|| {
            assert!(m.reserve(black_box(1_000)));
            m.release(black_box(1_000));
        })
    });
    let booked = BookedMutexLedger::new(1024);
    g.bench_function("booked_mutex_uncontended", |b| {
        b.iter(|| {
            let r = booked.reserve(black_box(1_000), NOW.as_millis()).unwrap();
            assert!(booked.release(black_box(r)));
        })
    });
    // Each contended variant runs the same pair of operations on one shared ledger from
    // two threads.
    let two_threads: [(&str, Op); 3] = [
        ("lockfree_2_threads", {
            let l = ledger();
            Arc::new(move || {
                let r = l.try_reserve(amount, NOW).unwrap();
                l.release(&r).unwrap();
            })
        }),
        ("mutex_2_threads", {
            let m = MutexLedger {
                used: Mutex::new(0),
                limit: i64::MAX / 2,
            };
            Arc::new(move || {
                assert!(m.reserve(1_000));
                m.release(1_000);
            })
        }),
        ("booked_mutex_2_threads", {
            let m = BookedMutexLedger::new(1024);
            Arc::new(move || {
                let r = m.reserve(1_000, NOW.as_millis()).unwrap();
                assert!(m.release(r));
            })
        }),
    ];
    for (name, op) in two_threads {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| threaded(2, iters, Arc::clone(&op)))
        });
    }
    g.finish();
}

/// `BudgetStore::expire` over 100,000 ledgers of 16 slots (the engine's default), 1% of
/// them holding one reservation that is not yet due: the pacing tick's sweep.
fn expire(c: &mut Criterion) {
    const LEDGERS: u64 = 100_000;
    let store = InProcessBudgetStore::new();
    let config = BudgetConfig {
        daily: Some(Money::from_units(1_000).unwrap()),
        max_outstanding: 16,
        ..BudgetConfig::default()
    };
    for id in 0..LEDGERS {
        store.upsert(CampaignId(id), config).unwrap();
        if id % 100 == 0 {
            store
                .try_reserve(CampaignId(id), Money::from_micros(1_000), NOW)
                .unwrap();
        }
    }
    let mut g = c.benchmark_group("ledger_expire");
    g.bench_function("100k_ledgers_1pct_outstanding", |b| {
        b.iter(|| {
            let e = store.expire(black_box(NOW));
            assert_eq!(e.count, 0);
        })
    });
    g.finish();
}

fn frequency(c: &mut Criterion) {
    const USERS: u64 = 100_000;
    let store = InProcessFrequencyStore::new(DurationMs::ZERO, 1 << 20);
    let cap = [FrequencyCap {
        scope: CapScope::Campaign,
        identity: IdentityKind::User,
        max_impressions: 1_000_000,
        window: CapWindow::Fixed {
            window: DurationMs::DAY,
        },
    }];
    let who = |u: u64| Identities {
        user: Some(UserId(u)),
        household: None,
    };
    for u in 0..USERS {
        store
            .record(who(u), CampaignId(1), AdvertiserId(1), &cap, NOW)
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut g = c.benchmark_group("frequency");
    g.bench_function("check", |b| {
        b.iter(|| {
            let u = rng.random_range(0..USERS);
            black_box(store.check(who(u), CampaignId(1), AdvertiserId(1), &cap, NOW))
        })
    });
    g.bench_function("record", |b| {
        b.iter(|| {
            let u = rng.random_range(0..USERS);
            store
                .record(who(u), CampaignId(1), AdvertiserId(1), &cap, NOW)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, admit, ledger_reserve, expire, frequency);
criterion_main!(benches);
