//! The ledger under 8 threads of interleaved reserve/commit/release/expire, with exact
//! accounting to the micro.

use adloop_core::{CampaignId, DurationMs, Money, Timestamp};
use adloop_pacing::{BudgetConfig, BudgetLedger, Error, Flight, Reservation};
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

const THREADS: usize = 8;
/// Full size in release builds (the 8 × 1M); debug builds run a tenth so that
/// `cargo test` stays fast.
const OPS_PER_THREAD: usize = if cfg!(debug_assertions) {
    100_000
} else {
    1_000_000
};
const T0: Timestamp = Timestamp::from_millis(1_700_000_040_000);

#[derive(Default)]
struct Tally {
    reserved: i64,
    committed: i64,
    released: i64,
    refused: u64,
    late: u64,
}

fn settle(ledger: &BudgetLedger, r: Reservation, rng: &mut StdRng, t: &mut Tally) {
    let outcome = if rng.random_bool(0.6) {
        let actual = Money::from_micros(rng.random_range(0..=r.amount.micros()));
        ledger.commit(&r, actual).map(|()| {
            t.committed += actual.micros();
            t.released += r.amount.micros() - actual.micros();
        })
    } else {
        ledger.release(&r).map(|()| t.released += r.amount.micros())
    };
    match outcome {
        Ok(()) => {}
        // The expirer got there first: its money is counted as expired.
        Err(Error::AlreadySettled {
            state: "expired" | "being settled" | "settled",
            ..
        }) => t.late += 1,
        Err(e) => panic!("unexpected settlement error: {e}"),
    }
}

#[test]
fn eight_threads_interleaved_exact_accounting() {
    // Average committed per reservation is about 0.6 × 500 = 300 micros; size the
    // lifetime budget so it is exhausted about two thirds of the way through.
    let budget = (THREADS * OPS_PER_THREAD) as i64 * 200;
    let ledger = Arc::new(
        BudgetLedger::new(
            CampaignId(1),
            BudgetConfig {
                daily: None,
                lifetime: Some(Money::from_micros(budget)),
                flight: Flight::ALWAYS,
                reservation_ttl: DurationMs::from_millis(50),
                max_outstanding: 256,
                ..BudgetConfig::default()
            },
        )
        .unwrap(),
    );
    let clock = Arc::new(AtomicI64::new(T0.as_millis()));
    let done = Arc::new(AtomicBool::new(false));

    // Watcher: reserved + committed never exceeds the budget, at any instant.
    let watcher = {
        let (ledger, done) = (Arc::clone(&ledger), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !done.load(Ordering::Relaxed) {
                let s = ledger.spend(T0);
                assert!(s.used_lifetime.micros() <= budget, "over budget: {s:?}");
                assert!(s.committed_lifetime <= s.used_lifetime || checks > 0);
                checks += 1;
                std::thread::yield_now();
            }
            checks
        })
    };
    // Expirer: advances the clock and expires abandoned reservations.
    let expirer = {
        let (ledger, done, clock) = (Arc::clone(&ledger), Arc::clone(&done), Arc::clone(&clock));
        std::thread::spawn(move || {
            let mut expired = 0u64;
            while !done.load(Ordering::Relaxed) {
                let now = clock.fetch_add(10, Ordering::Relaxed) + 10;
                expired += ledger.expire(Timestamp::from_millis(now)).count;
                std::thread::yield_now();
            }
            expired
        })
    };

    let workers: Vec<_> = (0..THREADS)
        .map(|id| {
            let (ledger, clock) = (Arc::clone(&ledger), Arc::clone(&clock));
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(0x5eed + id as u64);
                let mut held: Vec<Reservation> = Vec::with_capacity(8);
                let mut t = Tally::default();
                for _ in 0..OPS_PER_THREAD {
                    let now = Timestamp::from_millis(clock.load(Ordering::Relaxed));
                    let amount = Money::from_micros(rng.random_range(1..1_000));
                    match ledger.try_reserve(amount, now) {
                        Ok(r) => {
                            t.reserved += amount.micros();
                            // Abandon 1 in 50 (the expirer returns them); hold a few to
                            // interleave settlements with other reservations.
                            if rng.next_u32() % 50 != 0 {
                                held.push(r);
                            }
                        }
                        Err(Error::BudgetExhausted { .. } | Error::TooManyReservations { .. }) => {
                            t.refused += 1
                        }
                        Err(e) => panic!("unexpected reserve error: {e}"),
                    }
                    if held.len() >= 4 || (!held.is_empty() && rng.random_bool(0.5)) {
                        let i = rng.random_range(0..held.len());
                        let r = held.swap_remove(i);
                        settle(&ledger, r, &mut rng, &mut t);
                    }
                }
                for r in held.drain(..) {
                    settle(&ledger, r, &mut rng, &mut t);
                }
                t
            })
        })
        .collect();

    let mut total = Tally::default();
    for w in workers {
        let t = w.join().unwrap();
        total.reserved += t.reserved;
        total.committed += t.committed;
        total.released += t.released;
        total.refused += t.refused;
        total.late += t.late;
    }
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    expirer.join().unwrap();
    // Expire whatever was abandoned after the expirer stopped.
    ledger.expire(Timestamp::MAX);

    let totals = ledger.totals();
    assert_eq!(totals.outstanding, Money::ZERO);
    assert_eq!(totals.reserved.micros(), total.reserved);
    assert_eq!(totals.committed.micros(), total.committed);
    assert_eq!(totals.released.micros(), total.released);
    assert_eq!(
        totals.committed + totals.released + totals.expired,
        totals.reserved,
        "accounting must balance to the micro: {totals:?}"
    );
    assert!(totals.committed.micros() <= budget);
    let spend = ledger.spend(T0);
    assert_eq!(spend.used_lifetime, totals.committed);
    assert_eq!(spend.committed_lifetime, totals.committed);
    assert!(total.refused > 0, "the budget should have been exhausted");
    assert!(
        totals.expired.is_positive(),
        "some reservations should have expired"
    );
}
