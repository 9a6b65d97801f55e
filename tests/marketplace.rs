//! The marketplace example's acceptance properties at a small scale, run by the very code
//! the example runs (`examples/marketplace/sim.rs`): no campaign overspends, every
//! impression is charged exactly once, the holdout lift intervals cover the true lift,
//! and every plot is a valid SVG.

#[allow(dead_code)]
#[path = "../examples/marketplace/sim.rs"]
mod sim;

#[test]
fn a_small_day_meets_the_examples_acceptance_properties() {
    // 1/40 of the default world with more holdouts, so several lifts are measurable.
    let mut config = sim::SimConfig::scaled(0.025, 7, 2);
    config.campaigns = 40;
    config.holdout_share = 0.3;
    let mut steps = 0u32;
    let mut last = 0u64;
    let outcome = sim::run(&config, &mut |done| {
        assert!(done >= last, "progress went backwards");
        last = done;
        steps += 1;
    })
    .expect("the simulation runs");
    assert_eq!(steps, 1_440, "one tick per simulated minute");
    assert_eq!(last, config.opportunities);

    // The day actually happened: the engine filled most opportunities, charged money,
    // and the truth model saw ad-caused conversions.
    assert_eq!(outcome.opportunities, config.opportunities);
    assert!(
        outcome.filled > outcome.opportunities / 4,
        "{}",
        outcome.filled
    );
    assert!(outcome.revenue.is_positive());
    assert!(outcome.incremental_conversions > 0);
    assert_eq!(outcome.latency_ns.len(), config.opportunities);
    assert!(
        outcome
            .rows
            .iter()
            .any(|r| r.holdout > 0.0 && r.impressions > 0)
    );

    let dir = std::env::temp_dir().join(format!("adloop-marketplace-test-{}", std::process::id()));
    let plots = sim::write_files(&outcome, &dir).expect("files are written");
    assert_eq!(plots.len(), 3);
    assert!(dir.join("campaigns.csv").exists() && dir.join("hourly.csv").exists());
    let csv = std::fs::read_to_string(dir.join("campaigns.csv")).expect("csv is readable");
    assert_eq!(
        csv.lines().count(),
        config.campaigns + 1,
        "a header and one row per campaign"
    );

    let report = sim::report_text(&outcome);
    for needle in [
        "fill rate",
        "eCPM",
        "decide latency",
        "last-touch",
        "holdout lift",
    ] {
        assert!(
            report.contains(needle),
            "report lacks {needle:?}:\n{report}"
        );
    }

    let checks = sim::acceptance(&outcome, &plots);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(checks.len(), 4);
    for c in &checks {
        assert!(c.passed, "{}: {}\n{report}", c.name, c.detail);
    }
}
