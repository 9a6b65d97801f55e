//! Pacing in simulation: every controller over one diurnal day, and the adaptive-pacing
//! benchmark of Balseiro & Gur.
//!
//! `cargo run --release --example pacing -- --out target/adloop-report/pacing`
//!
//! a) One day at one-second resolution. Requests follow the streaming-day curve of
//!    `adloop-sim` (quiet nights, prime-time peak around 21:00), Poisson per second; the
//!    highest competing bid of each request is lognormal. Every controller runs the same
//!    day (same requests, same competing bids) against its own `BudgetLedger`; wins pay
//!    the second price, reserved then committed. The traffic-shaped curve starts from a
//!    forecast learned over `--history-days` earlier days. Prints utilisation, overspend,
//!    pacing error (RMSE of cumulative spend vs the controller's own target curve, in %
//!    of budget, sampled each minute), average CPM and impressions, and writes
//!    `spend.svg` (cumulative spend vs target).
//! b) Balseiro & Gur: value and highest competing bid both U[0,1], second price,
//!    budget ρ·T. Adaptive bid pacing (bid v/(1+μ), fixed ρ, ε = `--step-size`, default
//!    1/√T) against adaptive throttling, beside the fluid optimum a* = √(6ρ),
//!    μ* = 1/a* − 1, utility (a* − a*²/2)/3 per round; writes `mu.svg`.
//!
//! The acceptance lines of the pacing issue are printed at the end; the process exits
//! non-zero if one fails.

use adloop::core::{CampaignId, Cpm, DurationMs, Money, Timestamp};
use adloop::pacing::{
    BidShadingSettings, BudgetConfig, BudgetLedger, Flight, ImpressionGoalSettings, Observation,
    Pacer, PacingController, PacingMode, PidSettings, TargetCurve, ThrottleSettings,
    TrafficForecast,
};
use adloop_sim::{DiurnalCurve, LineChart, LogNormalMoney};
use clap::Parser;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "Pacing controllers in simulation (adloop)")]
struct Args {
    /// Seed of every random draw.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output folder for the SVG plots.
    #[arg(long, default_value = "target/adloop-report/pacing")]
    out: PathBuf,
    /// a) Expected requests over the day (Poisson per second).
    #[arg(long, default_value_t = 864_000.0)]
    daily_requests: f64,
    /// a) Daily budget, in currency units.
    #[arg(long, default_value = "2500")]
    budget: String,
    /// a) The campaign's bid, CPM.
    #[arg(long, default_value = "12.00")]
    bid_cpm: String,
    /// a) Median of the highest competing bid, CPM.
    #[arg(long, default_value = "10.00")]
    competitor_median_cpm: String,
    /// a) σ of the log of the highest competing bid.
    #[arg(long, default_value_t = 0.5)]
    competitor_sigma: f64,
    /// a) Seconds between controller ticks.
    #[arg(long, default_value_t = 60)]
    tick_secs: i64,
    /// a) Earlier days the traffic forecast learns from.
    #[arg(long, default_value_t = 7)]
    history_days: i64,
    /// a) Forecast bins per day.
    #[arg(long, default_value_t = 96)]
    forecast_bins: u32,
    /// a) Forecast smoothing across days (weight of each new day).
    #[arg(long, default_value_t = 0.3)]
    forecast_smoothing: f64,
    /// a) Exponent of the front-loaded curve.
    #[arg(long, default_value_t = 1.5)]
    front_exponent: f64,
    /// a) Impression goal of the guaranteed campaign (0: what the budget buys at the
    ///    market's median price, which the run itself does not know).
    #[arg(long, default_value_t = 0)]
    goal_impressions: u64,
    /// a) Bid-shading step size per unit of bid value.
    #[arg(long, default_value_t = 0.001)]
    shading_step: f64,
    /// a) PID proportional gain.
    #[arg(long, default_value_t = 15.0)]
    pid_kp: f64,
    /// a) PID integral gain (per hour).
    #[arg(long, default_value_t = 4.0)]
    pid_ki: f64,
    /// a) PID largest bid multiplier.
    #[arg(long, default_value_t = 4.0)]
    pid_max_multiplier: f64,
    /// b) Target spend per round ρ.
    #[arg(long, default_value_t = 0.05)]
    rho: f64,
    /// b) Rounds T.
    #[arg(long, default_value_t = 100_000)]
    rounds: u64,
    /// b) Step size ε (0: 1/√T).
    #[arg(long, default_value_t = 0.0)]
    step_size: f64,
}

const DAY0: Timestamp = Timestamp::from_millis(1_700_006_400_000); // a UTC midnight

struct Run {
    name: &'static str,
    curve: Option<TargetCurve>,
    pacer: Pacer,
    ledger: BudgetLedger,
    rng: StdRng,
    impressions: u64,
    paid: Money,
    cumulative: Vec<(f64, f64)>,
    target: Vec<(f64, f64)>,
}

fn money(text: &str, what: &str) -> anyhow::Result<Money> {
    text.parse::<Money>()
        .map_err(|e| anyhow::anyhow!("--{what}: {e}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let mut ok = true;
    ok &= part_a(&args)?;
    ok &= part_b(&args)?;
    if !ok {
        anyhow::bail!("an acceptance line failed");
    }
    Ok(())
}

fn part_a(args: &Args) -> anyhow::Result<bool> {
    let budget = money(&args.budget, "budget")?;
    let bid = Cpm::new(money(&args.bid_cpm, "bid-cpm")?);
    let competitor = LogNormalMoney::new(
        money(&args.competitor_median_cpm, "competitor-median-cpm")?,
        args.competitor_sigma,
    )?;
    let traffic = DiurnalCurve::streaming();
    let mut rng = StdRng::seed_from_u64(args.seed);

    // The forecast learns from earlier days of the same kind of traffic (minute counts).
    let mut forecast = TrafficForecast::new(
        args.forecast_bins,
        args.forecast_smoothing,
        DurationMs::ZERO,
    )?;
    for d in (1..=args.history_days).rev() {
        let start = DAY0 - DurationMs::from_days(d);
        let counts =
            traffic.sample_poisson_counts(args.daily_requests, DurationMs::MINUTE, &mut rng)?;
        for (m, &n) in counts.iter().enumerate() {
            let t = start + DurationMs::from_mins(m as i64);
            forecast.observe(t, t + DurationMs::MINUTE, n as f64);
        }
    }
    // Close the last history day so it is folded in.
    forecast.observe(DAY0, DAY0 + DurationMs::from_millis(1), 0.0);
    let per_second =
        traffic.sample_poisson_counts(args.daily_requests, DurationMs::SECOND, &mut rng)?;

    let config = BudgetConfig {
        daily: Some(budget),
        flight: Flight::new(DAY0, DAY0 + DurationMs::DAY),
        ..BudgetConfig::default()
    };
    let goal = if args.goal_impressions > 0 {
        args.goal_impressions
    } else {
        (budget.micros()
            / Cpm::new(competitor.median())
                .per_impression()
                .micros()
                .max(1)) as u64
    };
    let traffic_curve = TargetCurve::TrafficShaped {
        bins_per_day: args.forecast_bins,
        smoothing: args.forecast_smoothing,
    };
    let throttle = ThrottleSettings {
        interval: DurationMs::from_secs(args.tick_secs),
        ..ThrottleSettings::default()
    };
    let custom = TargetCurve::Custom {
        points: vec![[0.0, 0.0], [0.5, 0.25], [0.75, 0.5], [1.0, 1.0]],
    };
    let modes: Vec<(&'static str, Option<TargetCurve>, PacingMode)> = vec![
        ("asap", None, PacingMode::Asap),
        (
            "even throttle",
            Some(TargetCurve::Even),
            PacingMode::Throttle {
                curve: TargetCurve::Even,
                settings: throttle,
            },
        ),
        (
            "traffic-shaped",
            Some(traffic_curve.clone()),
            PacingMode::Throttle {
                curve: traffic_curve.clone(),
                settings: throttle,
            },
        ),
        (
            "front-loaded",
            Some(TargetCurve::FrontLoaded {
                exponent: args.front_exponent,
            }),
            PacingMode::Throttle {
                curve: TargetCurve::FrontLoaded {
                    exponent: args.front_exponent,
                },
                settings: throttle,
            },
        ),
        (
            "custom curve",
            Some(custom.clone()),
            PacingMode::Throttle {
                curve: custom,
                settings: throttle,
            },
        ),
        (
            "bid shading",
            Some(traffic_curve.clone()),
            PacingMode::BidShading {
                curve: traffic_curve.clone(),
                settings: BidShadingSettings {
                    step_size: args.shading_step,
                    value_scale: Some(bid.per_impression()),
                    ..BidShadingSettings::default()
                },
            },
        ),
        (
            "pid",
            Some(traffic_curve.clone()),
            PacingMode::Pid {
                curve: traffic_curve.clone(),
                settings: PidSettings {
                    kp: args.pid_kp,
                    ki: args.pid_ki,
                    max_multiplier: args.pid_max_multiplier,
                    ..PidSettings::default()
                },
            },
        ),
        (
            "impression goal",
            Some(traffic_curve.clone()),
            PacingMode::ImpressionGoal {
                goal,
                curve: traffic_curve.clone(),
                settings: ImpressionGoalSettings {
                    throttle,
                    ..ImpressionGoalSettings::default()
                },
            },
        ),
    ];
    let mut runs = Vec::new();
    for (i, (name, curve, mode)) in modes.into_iter().enumerate() {
        // The guaranteed campaign is bound by its goal; give it budget headroom.
        let cfg = if name == "impression goal" {
            BudgetConfig {
                daily: Some(budget.saturating_mul(2)),
                ..config
            }
        } else {
            config
        };
        runs.push(Run {
            name,
            curve,
            pacer: mode.build_with_forecast(&cfg, Some(forecast.clone()))?,
            ledger: BudgetLedger::new(CampaignId(i as u64 + 1), cfg)?,
            rng: StdRng::seed_from_u64(args.seed ^ 0xadad),
            impressions: 0,
            paid: Money::ZERO,
            cumulative: vec![(0.0, 0.0)],
            target: vec![(0.0, 0.0)],
        });
    }

    // Common random numbers: every controller sees the same competing bids.
    let mut market = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mut opportunities = 0u64;
    let mut bids = Vec::new();
    for (second, &count) in per_second.iter().enumerate() {
        let now = DAY0 + DurationMs::from_secs(second as i64);
        bids.clear();
        bids.extend((0..count).map(|_| competitor.sample(&mut market)));
        opportunities += count;
        for run in &mut runs {
            for &price_cpm in &bids {
                let adm = run.pacer.admit(now, &mut run.rng);
                if !adm.participate {
                    continue;
                }
                // The one float → money conversion: the shaded bid.
                let my_bid = (bid.micros() as f64 * adm.bid_multiplier) as i64;
                if my_bid <= price_cpm.micros() {
                    continue;
                }
                let price = Cpm::new(price_cpm).per_impression();
                if !price.is_positive() {
                    continue;
                }
                if let Ok(r) = run.ledger.try_reserve(price, now) {
                    run.ledger.commit(&r, price)?;
                    run.impressions += 1;
                    run.paid += price;
                }
            }
        }
        let next = now + DurationMs::SECOND;
        if (second as i64 + 1) % args.tick_secs == 0 {
            for run in &mut runs {
                let obs = Observation {
                    spend: run.ledger.spend(now),
                    impressions_today: run.impressions,
                    impressions_lifetime: run.impressions,
                    opportunities,
                };
                run.pacer.tick(next, &obs);
                run.ledger.expire(next);
            }
        }
        if (second + 1) % 60 == 0 {
            let hour = (second + 1) as f64 / 3600.0;
            for run in &mut runs {
                let spent = run.ledger.spend(now).committed_today;
                let pct = 100.0 * spent.micros() as f64 / budget.micros() as f64;
                run.cumulative.push((hour, pct));
                let due = run.curve.as_ref().map_or(f64::NAN, |c| {
                    c.fraction_due(Some(&forecast), DAY0, DAY0 + DurationMs::DAY, next)
                });
                run.target.push((hour, 100.0 * due));
            }
        }
    }

    println!(
        "a) one day, {} requests, daily budget {budget}, bid {bid} CPM",
        opportunities
    );
    println!(
        "{:<16} {:>8} {:>10} {:>12} {:>9} {:>11}",
        "controller", "util %", "overspend", "rmse % bud", "avg CPM", "impressions"
    );
    let mut ok = true;
    let mut rmse_of = std::collections::HashMap::new();
    for run in &runs {
        let committed = run.ledger.spend(DAY0).committed_today;
        let util = 100.0 * committed.micros() as f64 / budget.micros() as f64;
        let overspend =
            (committed - run.ledger.config().daily.unwrap_or(Money::MAX)).max(Money::ZERO);
        let rmse = if run.name == "impression goal" {
            // Delivery vs the goal's curve, in % of the goal.
            f64::NAN
        } else {
            rmse(&run.cumulative, &run.target)
        };
        rmse_of.insert(run.name, rmse);
        let cpm = if run.impressions > 0 {
            Money::from_micros(run.paid.micros() * 1_000 / run.impressions as i64)
        } else {
            Money::ZERO
        };
        println!(
            "{:<16} {:>8.2} {:>10} {:>12} {:>9} {:>11}",
            run.name,
            util,
            overspend,
            if rmse.is_nan() {
                "-".to_owned()
            } else {
                format!("{rmse:.2}")
            },
            cpm,
            run.impressions
        );
        if run.name == "asap" {
            continue;
        }
        if run.name == "impression goal" {
            let delivered = 100.0 * run.impressions as f64 / goal as f64;
            ok &= accept(
                &format!(
                    "impression goal delivers 97–100% of {goal} impressions ({delivered:.2}%), zero overspend"
                ),
                (97.0..=100.0).contains(&delivered) && overspend.is_zero(),
            );
        } else {
            ok &= accept(
                &format!(
                    "{} ends at 97–100% of budget ({util:.2}%) with zero overspend",
                    run.name
                ),
                (97.0..=100.0).contains(&util) && overspend.is_zero(),
            );
        }
    }
    let (ts, even) = (rmse_of["traffic-shaped"], rmse_of["even throttle"]);
    ok &= accept(
        &format!("traffic-shaped pacing error {ts:.2} ≤ 1/3 of even throttling {even:.2}"),
        ts <= even / 3.0,
    );

    let mut chart = LineChart::new("Cumulative spend vs target (one diurnal day)")
        .x_label("hour of day")
        .y_label("% of daily budget");
    for run in &runs {
        chart.add_series(run.name, run.cumulative.iter().copied(), false);
    }
    for name in ["even throttle", "traffic-shaped"] {
        if let Some(run) = runs.iter().find(|r| r.name == name) {
            chart.add_series(format!("target: {name}"), run.target.iter().copied(), true);
        }
    }
    let path = args.out.join("spend.svg");
    chart.write_svg(&path)?;
    println!("wrote {}", path.display());
    Ok(ok)
}

fn rmse(actual: &[(f64, f64)], target: &[(f64, f64)]) -> f64 {
    let n = actual.len().min(target.len()).max(1);
    let sum: f64 = actual
        .iter()
        .zip(target)
        .map(|((_, a), (_, t))| (a - t) * (a - t))
        .sum();
    (sum / n as f64).sqrt()
}

fn accept(line: &str, pass: bool) -> bool {
    println!("  [{}] {line}", if pass { "PASS" } else { "FAIL" });
    pass
}

struct Outcome {
    used: f64,
    utility_per_round: f64,
    mean_mu: f64,
    trace: Vec<(f64, f64)>,
}

/// One run of the Balseiro & Gur benchmark with `mode`; values in units of 1.0 = one
/// currency unit.
fn benchmark(args: &Args, mode: &PacingMode, tick_every: u64) -> anyhow::Result<Outcome> {
    let t = args.rounds;
    let start = Timestamp::from_millis(0);
    let budget = Money::from_micros((args.rho * t as f64 * 1e6) as i64);
    let cfg = BudgetConfig {
        lifetime: Some(budget),
        flight: Flight::new(start, start + DurationMs::from_millis(t as i64)),
        ..BudgetConfig::default()
    };
    let ledger = BudgetLedger::new(CampaignId(1), cfg)?;
    let pacer = mode.build(&cfg)?;
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0xb6);
    let mut admit_rng = StdRng::seed_from_u64(args.seed ^ 0xa1);
    let (mut utility, mut mu_sum, mut mu_n) = (0.0, 0.0, 0u64);
    let mut trace = Vec::new();
    for i in 0..t {
        let now = start + DurationMs::from_millis(i as i64);
        let v: f64 = rng.random();
        let d: f64 = rng.random();
        let adm = pacer.admit(now, &mut admit_rng);
        if adm.participate && v * adm.bid_multiplier > d {
            // The one float → money conversion of the benchmark: the price paid.
            let price = Money::from_micros((d * 1e6) as i64);
            if price.is_positive()
                && ledger
                    .try_reserve(price, now)
                    .and_then(|r| ledger.commit(&r, price))
                    .is_ok()
            {
                utility += v - d;
            }
        }
        if (i + 1) % tick_every == 0 {
            let obs = Observation {
                spend: ledger.spend(now),
                opportunities: i + 1,
                ..Observation::default()
            };
            pacer.tick(now + DurationMs::from_millis(1), &obs);
        }
        let mu = 1.0 / pacer.bid_multiplier() - 1.0;
        if i >= t / 4 && i < 3 * t / 4 {
            mu_sum += mu;
            mu_n += 1;
        }
        if i % (t / 500).max(1) == 0 {
            trace.push((i as f64, mu));
        }
    }
    Ok(Outcome {
        used: 100.0 * ledger.spend(start).committed_lifetime.micros() as f64
            / budget.micros() as f64,
        utility_per_round: utility / t as f64,
        mean_mu: mu_sum / mu_n.max(1) as f64,
        trace,
    })
}

fn part_b(args: &Args) -> anyhow::Result<bool> {
    let rho = args.rho;
    anyhow::ensure!(rho > 0.0 && rho < 1.0 / 6.0, "--rho must be in (0, 1/6)");
    anyhow::ensure!(args.rounds >= 1_000, "--rounds must be at least 1000");
    let a_star = (6.0 * rho).sqrt();
    let mu_star = 1.0 / a_star - 1.0;
    let fluid_utility = (a_star - a_star * a_star / 2.0) / 3.0;
    let eps = if args.step_size > 0.0 {
        args.step_size
    } else {
        1.0 / (args.rounds as f64).sqrt()
    };
    let pacing = PacingMode::BidShading {
        curve: TargetCurve::Even,
        settings: BidShadingSettings {
            step_size: eps,
            max_mu: 1.0 / rho,
            initial_mu: 0.0,
            value_scale: Some(Money::from_micros(1_000_000)),
            target_per_opportunity: Some(Money::from_micros((rho * 1e6) as i64)),
        },
    };
    let throttling = PacingMode::Throttle {
        curve: TargetCurve::Even,
        settings: ThrottleSettings {
            interval: DurationMs::from_millis(100),
            catch_up: DurationMs::from_millis(5_000),
            ..ThrottleSettings::default()
        },
    };
    let p = benchmark(args, &pacing, 1)?;
    let th = benchmark(args, &throttling, 100)?;
    println!();
    println!(
        "b) Balseiro & Gur: v, d ~ U[0,1], second price, rho {rho}, T {}, eps {eps:.5}",
        args.rounds
    );
    println!(
        "{:<20} {:>10} {:>14} {:>18}",
        "", "budget %", "mean mu (mid)", "utility / round"
    );
    println!(
        "{:<20} {:>10.2} {:>14.4} {:>18.4}",
        "adaptive pacing", p.used, p.mean_mu, p.utility_per_round
    );
    println!(
        "{:<20} {:>10.2} {:>14} {:>18.4}",
        "adaptive throttling", th.used, "-", th.utility_per_round
    );
    println!(
        "{:<20} {:>10} {:>14.4} {:>18.4}",
        "fluid optimum", "100.00", mu_star, fluid_utility
    );
    println!(
        "{:<20} {:>10} {:>14} {:>18.4}",
        "optimal throttling", "100.00", "-", rho
    );
    let mut ok = accept(
        &format!("budget used {:.2}% ∈ [99%, 100%]", p.used),
        (99.0..=100.0).contains(&p.used),
    );
    ok &= accept(
        &format!(
            "mean mu {:.4} within ±0.03 of the fluid optimum {mu_star:.4}",
            p.mean_mu
        ),
        (p.mean_mu - mu_star).abs() <= 0.03,
    );
    let ratio = p.utility_per_round / th.utility_per_round;
    ok &= accept(
        &format!(
            "pacing utility {:.4} ≥ 2.4× throttling {:.4} ({ratio:.2}×)",
            p.utility_per_round, th.utility_per_round
        ),
        ratio >= 2.4,
    );
    let chart = LineChart::new("Adaptive pacing: multiplier mu per round")
        .x_label("round")
        .y_label("mu")
        .series("mu", p.trace)
        .dashed_series(
            "fluid optimum",
            vec![(0.0, mu_star), (args.rounds as f64, mu_star)],
        );
    let path = args.out.join("mu.svg");
    chart.write_svg(&path)?;
    println!("wrote {}", path.display());
    Ok(ok)
}
