//! Auction theory, checked by simulation through adloop's public auction API.
//!
//! `cargo run --release --example auction_theory [-- --trials N --seed S]`
//!
//! Every row runs `--trials` seeded auctions (default 200,000) and compares the mean
//! revenue with its closed form:
//! - second price, n i.i.d. U[0,1] bidders: (n−1)/(n+1);
//! - second price with reserve r = 1/2 (Myerson's optimal reserve for U[0,1]):
//!   2n(1 − r^{n+1})/(n+1) − (1 − r^n), 5/12 for n = 2;
//! - first price with the symmetric equilibrium bids b(v) = (n−1)/n·v, and with reserve
//!   1/2, b(v) = v − (v^n − r^n)/(n·v^{n−1}): the same revenues (revenue equivalence);
//! - ranked slots, n U[0,1] bidders: VCG revenue Σ_j (α_j − α_{j+1})·j·E[v_(j+1)],
//!   truthful GSP Σ_k α_k·E[v_(k+1)], and GSP at the Edelman–Ostrovsky–Schwarz
//!   envy-free equilibrium (bidder k+1 bids VCG price of slot k / α_k), which earns the
//!   VCG revenue; E[v_(j)] = (n+1−j)/(n+1);
//! - the textbook examples, exactly (up to per-unit prices rounded down to a micro-unit):
//!   values 10, 4, 2 with α = 200, 100 (VCG 800, truthful GSP 1000) and values 10, 4, 2, 1
//!   with α = 300, 200, 100 (VCG 1100, GSP 1700).
//!
//! The interval is a *simultaneous* 95% confidence interval around the simulated mean:
//! mean ± z·s/√N with z from a Bonferroni correction over all simulated rows, so the
//! chance that any true value falls outside its interval is at most 5%. The program
//! exits with an error if a closed form lands outside its interval.

use adloop::auction::{
    Auction, AuctionConfig, Bid, Candidate, Floors, Outcome, PriceMode, RankedPricing, RankedSlots,
};
use adloop::core::{AdvertiserId, CampaignId, Cpm, CreativeId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Values in [0, 1] become CPMs of that many currency units, exact to a micro-unit.
fn cpm(units: f64) -> Cpm {
    Cpm::from_micros((units * 1e6).floor() as i64)
}

fn units(c: Cpm) -> f64 {
    c.micros() as f64 / 1e6
}

fn bidders(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|k| {
            Candidate::new(
                k as u32,
                CampaignId(k as u64),
                CreativeId(k as u64),
                AdvertiserId(k as u64),
                Bid::Cpm(Cpm::ZERO),
            )
        })
        .collect()
}

/// Running mean and variance (Welford).
#[derive(Default)]
struct Stats {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Stats {
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
    fn std_error(&self) -> f64 {
        (self.m2 / (self.n - 1.0) / self.n).sqrt()
    }
}

struct Row {
    name: String,
    simulated: f64,
    std_error: f64,
    closed: f64,
}

/// Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9).
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Single-slot revenue: `bid(v)` maps a value to a bid; `floor` is the hard floor.
fn single_slot(
    auction: &Auction,
    rng: &mut StdRng,
    n: usize,
    trials: usize,
    floor: f64,
    bid: impl Fn(f64) -> f64,
) -> Stats {
    let mut cands = bidders(n);
    let mut out = Outcome::new();
    let floors = Floors::hard(cpm(floor));
    let mut stats = Stats::default();
    for t in 0..trials {
        for c in &mut cands {
            c.bid = Bid::Cpm(cpm(bid(rng.random::<f64>())));
        }
        auction
            .run_single(&floors, &cands, t as u64, &mut out)
            .expect("valid auction");
        stats.push(out.winner().map_or(0.0, |w| units(w.price)));
    }
    stats
}

/// Ranked-slot revenue Σ α_k · price_k with bids from `strategy(sorted values, α)`.
fn ranked(
    auction: &Auction,
    rng: &mut StdRng,
    n: usize,
    alphas: &[u32],
    trials: usize,
    eos: bool,
) -> Stats {
    let mut cands = bidders(n);
    let mut out = Outcome::new();
    let slots = RankedSlots {
        factors: alphas,
        floors: Floors::NONE,
    };
    let s = alphas.len();
    let alpha = |j: usize| alphas.get(j).map_or(0.0, |&a| f64::from(a));
    let mut stats = Stats::default();
    let mut values: Vec<(f64, usize)> = vec![(0.0, 0); n];
    for t in 0..trials {
        for (k, v) in values.iter_mut().enumerate() {
            *v = (rng.random::<f64>(), k);
        }
        for &(v, k) in &values {
            cands[k].bid = Bid::Cpm(cpm(v));
        }
        if eos {
            // Envy-free equilibrium: rank k+1 bids VCG payment of slot k / α_k.
            let mut sorted = values.clone();
            sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
            for k in 0..s.min(n - 1) {
                let payment: f64 = (k..s)
                    .map(|j| (alpha(j) - alpha(j + 1)) * sorted.get(j + 1).map_or(0.0, |x| x.0))
                    .sum();
                cands[sorted[k + 1].1].bid = Bid::Cpm(cpm(payment / alpha(k)));
            }
        }
        auction
            .run_ranked(&slots, &cands, t as u64, &mut out)
            .expect("valid auction");
        stats.push(
            out.placements()
                .iter()
                .map(|p| alpha(usize::from(p.slot)) * units(p.price))
                .sum(),
        );
    }
    stats
}

fn exact_ranked(auction: &Auction, values: &[f64], alphas: &[u32]) -> f64 {
    let mut cands = bidders(values.len());
    for (c, &v) in cands.iter_mut().zip(values) {
        c.bid = Bid::Cpm(cpm(v));
    }
    let out = auction
        .run(
            &adloop::auction::Opportunity::Ranked(RankedSlots {
                factors: alphas,
                floors: Floors::NONE,
            }),
            &cands,
            0,
        )
        .expect("valid auction");
    out.placements()
        .iter()
        .map(|p| f64::from(alphas[usize::from(p.slot)]) * units(p.price))
        .sum()
}

fn main() -> Result<(), String> {
    let mut trials = 200_000usize;
    let mut seed = 2026u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--trials" => trials = value()?.parse().map_err(|e| format!("--trials: {e}"))?,
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let started = std::time::Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    // Zero increment: the theory has none.
    let second = Auction::new(AuctionConfig {
        increment: Cpm::ZERO,
        ..AuctionConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let first = Auction::new(AuctionConfig {
        mode: PriceMode::FirstPrice,
        ..*second.config()
    })
    .map_err(|e| e.to_string())?;
    let vcg = Auction::new(AuctionConfig {
        ranked_pricing: RankedPricing::Vcg,
        ..*second.config()
    })
    .map_err(|e| e.to_string())?;
    let gsp = &second;

    let mut rows: Vec<Row> = Vec::new();
    let mut push = |name: String, s: Stats, closed: f64| {
        rows.push(Row {
            name,
            simulated: s.mean,
            std_error: s.std_error(),
            closed,
        })
    };
    let r: f64 = 0.5;
    for n in 2..=10usize {
        let nf = n as f64;
        push(
            format!("second price, n={n}"),
            single_slot(&second, &mut rng, n, trials, 0.0, |v| v),
            (nf - 1.0) / (nf + 1.0),
        );
    }
    let reserve_revenue = |n: usize| {
        let nf = n as f64;
        2.0 * nf * (1.0 - r.powi(n as i32 + 1)) / (nf + 1.0) - (1.0 - r.powi(n as i32))
    };
    for n in 2..=10usize {
        push(
            format!("second price, reserve 1/2, n={n}"),
            single_slot(&second, &mut rng, n, trials, r, |v| v),
            reserve_revenue(n),
        );
    }
    for n in 2..=10usize {
        let nf = n as f64;
        push(
            format!("first price, b=(n-1)/n·v, n={n}"),
            single_slot(&first, &mut rng, n, trials, 0.0, |v| (nf - 1.0) / nf * v),
            (nf - 1.0) / (nf + 1.0),
        );
    }
    for n in 2..=10usize {
        let nf = n as f64;
        let bid = |v: f64| {
            if v < r {
                0.0
            } else {
                v - (v.powi(n as i32) - r.powi(n as i32)) / (nf * v.powi(n as i32 - 1))
            }
        };
        push(
            format!("first price, reserve 1/2, n={n}"),
            single_slot(&first, &mut rng, n, trials, r, bid),
            reserve_revenue(n),
        );
    }
    let order_stat = |n: usize, j: usize| (n + 1 - j) as f64 / (n + 1) as f64;
    for (n, alphas) in [(5usize, &[200u32, 100][..]), (6, &[300, 200, 100][..])] {
        let a = |j: usize| alphas.get(j).map_or(0.0, |&x| f64::from(x));
        let s = alphas.len();
        let vcg_closed: f64 = (0..s)
            .map(|j| (a(j) - a(j + 1)) * (j + 1) as f64 * order_stat(n, j + 2))
            .sum();
        let gsp_closed: f64 = (0..s).map(|k| a(k) * order_stat(n, k + 2)).sum();
        push(
            format!("{s}-slot VCG, n={n}"),
            ranked(&vcg, &mut rng, n, alphas, trials, false),
            vcg_closed,
        );
        push(
            format!("{s}-slot GSP truthful, n={n}"),
            ranked(gsp, &mut rng, n, alphas, trials, false),
            gsp_closed,
        );
        push(
            format!("{s}-slot GSP envy-free eq., n={n}"),
            ranked(gsp, &mut rng, n, alphas, trials, true),
            vcg_closed,
        );
    }

    let simulated_rows = rows.len();
    let z = inverse_normal(1.0 - 0.05 / (2.0 * simulated_rows as f64));
    println!(
        "adloop auction theory: {trials} trials per row, seed {seed}; intervals are simultaneous 95% (Bonferroni over {simulated_rows} rows, z = {z:.3})\n"
    );
    println!(
        "{:<38} {:>10} {:>10} {:>23}  ok",
        "row", "simulated", "closed", "95% interval"
    );
    let mut failures = 0;
    for row in &rows {
        let (lo, hi) = (
            row.simulated - z * row.std_error,
            row.simulated + z * row.std_error,
        );
        let ok = (lo..=hi).contains(&row.closed);
        failures += usize::from(!ok);
        println!(
            "{:<38} {:>10.5} {:>10.5} [{:>10.5}, {:>10.5}]  {}",
            row.name,
            row.simulated,
            row.closed,
            lo,
            hi,
            if ok { "yes" } else { "NO" }
        );
    }

    println!("\nexact textbook examples (no simulation):");
    for (name, values, alphas, auction, closed) in [
        (
            "values 10,4,2; α=200,100; VCG",
            &[10.0, 4.0, 2.0][..],
            &[200u32, 100][..],
            &vcg,
            800.0,
        ),
        (
            "values 10,4,2; α=200,100; GSP truthful",
            &[10.0, 4.0, 2.0][..],
            &[200, 100][..],
            gsp,
            1000.0,
        ),
        (
            "values 10,4,2,1; α=300,200,100; VCG",
            &[10.0, 4.0, 2.0, 1.0][..],
            &[300, 200, 100][..],
            &vcg,
            1100.0,
        ),
        (
            "values 10,4,2,1; α=300,200,100; GSP",
            &[10.0, 4.0, 2.0, 1.0][..],
            &[300, 200, 100][..],
            gsp,
            1700.0,
        ),
    ] {
        let got = exact_ranked(auction, values, alphas);
        // Per-unit prices are rounded down to a micro-unit, so a total may fall short of
        // the formula by less than Σ α_k micro-units.
        let tolerance = alphas.iter().map(|&a| f64::from(a)).sum::<f64>() * 1e-6;
        let ok = got <= closed + 1e-9 && closed - got < tolerance;
        failures += usize::from(!ok);
        println!(
            "{name:<44} {got:>12.6} {closed:>8.2}  {}",
            if ok { "yes" } else { "NO" }
        );
    }
    println!(
        "\n{} rows, {failures} outside their interval, {:.1} s",
        rows.len() + 4,
        started.elapsed().as_secs_f64()
    );
    if failures > 0 {
        return Err(format!("{failures} rows outside their interval"));
    }
    Ok(())
}
