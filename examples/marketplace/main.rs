//! The marketplace: one simulated day of a streaming ad tier through the real `Engine`.
//!
//! `cargo run --release --example marketplace -- [--seed N] [--scale X] [--threads N] [--out DIR]`
//!
//! `adloop-sim` generates 200,000 viewers in households, 2,000,000 ad opportunities on a
//! streaming day's traffic curve and 500 campaigns (budgets, bids, targeting, frequency
//! caps, holdouts, pacing), plus the open market's competing bids and the ground truth of
//! which conversions the ads caused; `--scale` multiplies all three sizes. The engine
//! decides every opportunity from several threads, records impressions, clicks and
//! conversions, and ticks every simulated minute. The report compares what the engine
//! measured with what the simulator knows to be true, checks the acceptance properties
//! and writes plots and a per-campaign CSV (see `docs/reproducing.md`).

mod sim;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// One simulated day of a streaming ad tier through adloop's engine.
#[derive(Debug, Parser)]
#[command(name = "marketplace")]
struct Args {
    /// Seed of the world, the engine and every worker.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Multiplies the default world (200k viewers, 2M opportunities, 500 campaigns).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Decide threads (default: the machine's parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// Simulated seconds between engine ticks (pacing control steps, attribution).
    #[arg(long, default_value_t = 60)]
    tick_secs: u32,
    /// Where plots and the CSV go.
    #[arg(long, default_value = "target/adloop-report")]
    out: PathBuf,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    if !(args.scale.is_finite() && args.scale > 0.0) {
        return Err(format!("--scale must be a positive number, got {}", args.scale).into());
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let mut config = sim::SimConfig::scaled(args.scale, args.seed, threads);
    config.step = adloop::core::DurationMs::from_secs(i64::from(args.tick_secs.clamp(1, 3_600)));
    println!(
        "simulating one day: {} viewers, {} opportunities, {} campaigns, seed {}, {} threads",
        config.users, config.opportunities, config.campaigns, config.seed, config.threads
    );

    let bar = ProgressBar::new(config.opportunities);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} opportunities ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    let outcome = sim::run(&config, &mut |done| bar.set_position(done))?;
    bar.finish_and_clear();

    print!("{}", sim::report_text(&outcome));
    let plots = sim::write_files(&outcome, &args.out)?;
    println!(
        "\nwrote {} plots, campaigns.csv and hourly.csv to {}",
        plots.len(),
        args.out.display()
    );

    println!("\n== acceptance");
    let checks = sim::acceptance(&outcome, &plots);
    for c in &checks {
        println!(
            "[{}] {}: {}",
            if c.passed { "ok" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    Ok(checks.iter().all(|c| c.passed))
}
