//! Creative rotation in simulation: one campaign with 20 variants of known true conversion
//! rates, served for a simulated week through the engine (decide → impression →
//! conversion → attribution → tick), once with `optimized` rotation (Thompson sampling
//! over attributed CVR) and once with `even` rotation, on the same seeded traffic.
//!
//! Prints cumulative conversions and regret (expected conversions lost against always
//! showing the best variant) per day for both, and writes `shares.svg`: each variant's
//! share under the optimized rotation over the week (checked with `adloop_sim::check_svg`).
//!
//! `cargo run --release --example creatives -- --seed 7`

use adloop::attribution::{Conversion, ConversionKind};
use adloop::core::{
    AdvertiserId, CampaignId, ConversionId, Cpm, DurationMs, HouseholdId, Money, Timestamp, UserId,
};
use adloop::pacing::PacingMode;
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, Engine, Event, Flight, Rotation, RotationGoal,
};
use adloop_sim::{LineChart, check_svg};
use clap::Parser;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "Optimized vs even creative rotation in simulation (adloop)")]
struct Args {
    /// Seed of every random draw (true rates, traffic, conversions, the engine).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Impressions per simulated hour.
    #[arg(long, default_value_t = 400)]
    per_hour: u64,
    /// Simulated days.
    #[arg(long, default_value_t = 7)]
    days: i64,
    /// Exploration floor of the optimized rotation.
    #[arg(long, default_value_t = 0.1)]
    exploration: f64,
    /// Output folder for the SVG.
    #[arg(long, default_value = "target/adloop-report/creatives")]
    out: PathBuf,
}

const VARIANTS: u64 = 20;
const T0: i64 = 1_764_400_000_000;
const HOUR: i64 = 3_600_000;

fn campaign(rotation: Rotation) -> Campaign {
    Campaign {
        id: CampaignId::new(1),
        advertiser: AdvertiserId::new(1),
        advertiser_domain: "streamer.example".into(),
        budget: Budget {
            daily: None,
            lifetime: Some(Money::from_units(1_000_000).expect("a budget in range")),
        },
        flight: Flight {
            start: Timestamp::from_millis(T0),
            end: Timestamp::from_millis(T0 + 30 * 24 * HOUR),
        },
        pacing: PacingMode::Asap,
        bid: Bid::Cpm(Cpm::from_micros(20_000_000)),
        tier: Default::default(),
        deals: vec![],
        frequency_caps: vec![],
        categories: vec![],
        targeting: "true".into(),
        creatives: (0..VARIANTS)
            .map(|i| Creative::video(100 + i, 30))
            .collect(),
        rotation,
        holdout: 0.0,
    }
}

/// One run: conversions and expected regret per hour, and the shares over time.
struct Run {
    name: &'static str,
    conversions: u64,
    regret: f64,
    daily: Vec<(u64, f64)>,
    shares: Vec<Vec<(f64, f64)>>,
}

fn simulate(
    args: &Args,
    rotation: Rotation,
    name: &'static str,
    cvr: &[f64],
) -> anyhow::Result<Run> {
    let engine = Engine::builder().seed(args.seed).build()?;
    engine.publish(vec![campaign(rotation)])?;
    let best = cvr.iter().copied().fold(0.0, f64::max);
    // The same traffic and the same conversion draws for both runs: one uniform per
    // impression decides whether a variant of rate r converts (u < r).
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    let mut run = Run {
        name,
        conversions: 0,
        regret: 0.0,
        daily: Vec::new(),
        shares: vec![Vec::new(); VARIANTS as usize],
    };
    let mut request = AdRequest::default();
    let mut next = 0u64;
    for hour in 0..args.days * 24 {
        for k in 0..args.per_hour {
            next += 1;
            let now =
                Timestamp::from_millis(T0 + hour * HOUR + (k * HOUR as u64 / args.per_hour) as i64);
            request.id = next;
            request.user = Some(UserId::new(next));
            request.household = Some(HouseholdId::new(next));
            let decision = engine.decide(&request, now);
            let u: f64 = rng.random();
            let Some(ad) = decision.placements.first() else {
                continue;
            };
            engine.record(Event::Impression {
                receipt: ad.receipt,
                time: now,
            })?;
            let rate = cvr[(ad.creative.get() - 100) as usize];
            run.regret += best - rate;
            if u < rate {
                run.conversions += 1;
                engine.record(Event::Conversion(Conversion {
                    id: ConversionId::new(next),
                    time: now + DurationMs::from_mins(10),
                    user: UserId::new(next),
                    household: HouseholdId::new(next),
                    advertiser: AdvertiserId::new(1),
                    kind: ConversionKind::Subscription,
                    value: Some(Money::from_micros(9_990_000)),
                    order_id: None,
                }))?;
            }
        }
        // Hourly maintenance; attribution finalizes conversions an hour (its allowed
        // lateness) behind, and the bandit learns from them.
        engine.tick(Timestamp::from_millis(T0 + (hour + 1) * HOUR));
        for r in engine.creative_report(CampaignId::new(1)) {
            let i = (r.creative.get() - 100) as usize;
            run.shares[i].push(((hour + 1) as f64, r.share));
        }
        if (hour + 1) % 24 == 0 {
            run.daily.push((run.conversions, run.regret));
        }
    }
    Ok(run)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    // True conversion rates: most variants between 1% and 3%, a few better ones.
    let cvr: Vec<f64> = (0..VARIANTS)
        .map(|i| {
            let base = 0.01 + 0.02 * rng.random::<f64>();
            if i % 7 == 3 { base + 0.015 } else { base }
        })
        .collect();
    let best = (0..cvr.len())
        .max_by(|a, b| cvr[*a].total_cmp(&cvr[*b]))
        .unwrap_or(0);
    println!(
        "20 variants, true CVR {:.2}%..{:.2}% (best: creative {} at {:.2}%), {} impressions/hour for {} days",
        cvr.iter().copied().fold(1.0, f64::min) * 100.0,
        cvr[best] * 100.0,
        100 + best,
        cvr[best] * 100.0,
        args.per_hour,
        args.days
    );
    let optimized = simulate(
        &args,
        Rotation::Optimized {
            goal: RotationGoal::Cvr,
            exploration: args.exploration,
        },
        "optimized",
        &cvr,
    )?;
    let even = simulate(&args, Rotation::Even, "even", &cvr)?;

    println!("\nday | optimized: conversions  regret | even: conversions  regret");
    for (day, (o, e)) in optimized.daily.iter().zip(&even.daily).enumerate() {
        println!(
            "{:>3} | {:>22} {:>7.1} | {:>17} {:>7.1}",
            day + 1,
            o.0,
            o.1,
            e.0,
            e.1
        );
    }
    let gain = optimized.conversions as f64 / even.conversions.max(1) as f64 - 1.0;
    println!(
        "\n{}: {} conversions, regret {:.1}; {}: {} conversions, regret {:.1}; optimized delivers {:+.1}%",
        optimized.name,
        optimized.conversions,
        optimized.regret,
        even.name,
        even.conversions,
        even.regret,
        gain * 100.0
    );
    let finals: Vec<f64> = optimized
        .shares
        .iter()
        .map(|points| points.last().map_or(0.0, |p| p.1))
        .collect();
    let top = (0..finals.len())
        .max_by(|a, b| finals[*a].total_cmp(&finals[*b]))
        .unwrap_or(0);
    println!(
        "the bandit's final shares: creative {} (true CVR {:.2}%) {:.1}%, the best variant {:.1}% \
         (even: {:.1}% each)",
        100 + top,
        cvr[top] * 100.0,
        finals[top] * 100.0,
        finals[best] * 100.0,
        100.0 / VARIANTS as f64
    );

    let mut chart = LineChart::new("Optimized rotation: each variant's share over the week")
        .x_label("hour")
        .y_label("share of the campaign's traffic");
    for (i, points) in optimized.shares.iter().enumerate() {
        chart.add_series(
            format!("creative {} ({:.1}%)", 100 + i, cvr[i] * 100.0),
            points.iter().copied(),
            false,
        );
    }
    let svg = chart.to_svg_string()?;
    check_svg(&svg)?;
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("shares.svg");
    std::fs::write(&path, svg)?;
    println!("wrote {}", path.display());
    anyhow::ensure!(
        optimized.conversions > even.conversions && optimized.regret < 0.7 * even.regret,
        "optimized rotation should clearly beat even rotation"
    );
    Ok(())
}
