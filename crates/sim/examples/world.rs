//! Generates the marketplace example's default world and times each generator.
//!
//! `cargo run --release -p adloop-sim --example world -- [seed] [out_dir]`
//!
//! Prints the time of each phase and a few distribution checks, and writes
//! `traffic.svg` (the diurnal curve and one day's per-minute counts) to `out_dir`
//! (default `target/adloop-sim/`).

use std::time::Instant;

use adloop_core::{DurationMs, Timestamp};
use adloop_sim::{
    CampaignConfig, ConversionConfig, ConversionModel, DiurnalCurve, LineChart, OpenAuction,
    Population, PopulationConfig, check_svg, generate_campaigns,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(42);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "target/adloop-sim".into()));
    std::fs::create_dir_all(&out)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let day = Timestamp::from_millis(1_699_833_600_000);

    let t = Instant::now();
    let population = Population::generate(&PopulationConfig::default(), &mut rng)?;
    let memberships: usize = population.users().iter().map(|u| u.segments.len()).sum();
    println!(
        "population: {} users, {} households, {:.1} segments/user   {:>8.1} ms",
        population.users().len(),
        population.households().len(),
        memberships as f64 / population.users().len() as f64,
        t.elapsed().as_secs_f64() * 1e3
    );
    let counts = population.members_by_rank();
    let head: u64 = counts[..100].iter().sum();
    println!(
        "  top 1% of segments hold {:.1}% of memberships",
        100.0 * head as f64 / memberships as f64
    );

    let t = Instant::now();
    let config = CampaignConfig {
        period_start: day,
        ..CampaignConfig::default()
    }
    .sized_for(2_000_000, 1.0);
    let campaigns = generate_campaigns(&config, &population, &mut rng)?;
    println!(
        "campaigns: {}   {:>8.1} ms",
        campaigns.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for c in campaigns.iter().take(3) {
        println!(
            "  {} {:?} {}  {}",
            c.id, c.tier, c.daily_budget, c.targeting
        );
    }

    let t = Instant::now();
    let model = ConversionModel::new(
        &ConversionConfig::default(),
        &population,
        &campaigns,
        &mut rng,
    )?;
    println!(
        "conversion model   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let curve = DiurnalCurve::streaming();
    let t = Instant::now();
    let ops = population.day_of_opportunities(&curve, day, DurationMs::ZERO, 2_000_000, &mut rng);
    println!(
        "2M opportunities   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let attrs: usize = ops
        .iter()
        .take(200_000)
        .map(|o| o.attributes(&population).len())
        .sum();
    println!(
        "attributes of 200k opportunities ({:.1} each)   {:>8.1} ms",
        attrs as f64 / 200_000.0,
        t.elapsed().as_secs_f64() * 1e3
    );

    let open = OpenAuction::ctv_default();
    let t = Instant::now();
    let bids = ops
        .iter()
        .filter_map(|_| open.highest_competing_cpm(&mut rng))
        .count();
    println!(
        "2M competing bids ({bids} present)   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let baseline = model.baseline_conversions(&population, day, day + DurationMs::DAY, &mut rng);
    println!(
        "baseline conversions: {}   {:>8.1} ms",
        baseline.len(),
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let per_minute = curve.sample_counts(2_000_000, DurationMs::MINUTE, &mut rng)?;
    let per_second = curve.sample_counts(2_000_000, DurationMs::SECOND, &mut rng)?;
    println!(
        "per-minute + per-second counts   {:>8.1} ms  (peak second {} requests)",
        t.elapsed().as_secs_f64() * 1e3,
        per_second.iter().max().copied().unwrap_or(0)
    );
    let mean_per_minute = 2_000_000.0 / 1_440.0;
    let path = out.join("traffic.svg");
    LineChart::new("Requests per minute, one simulated day")
        .x_label("hour of day")
        .y_label("requests per minute")
        .series(
            "sampled",
            per_minute
                .iter()
                .enumerate()
                .map(|(m, &c)| (m as f64 / 60.0, c as f64)),
        )
        .dashed_series(
            "expected",
            (0..=288).map(|i| {
                let h = i as f64 / 12.0;
                (h, curve.weight_at_hour(h) * mean_per_minute)
            }),
        )
        .write_svg(&path)?;
    check_svg(&std::fs::read_to_string(&path)?)?;
    println!("wrote {}", path.display());
    Ok(())
}
