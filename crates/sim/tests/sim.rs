//! Integration tests of adloop-sim's public API.

use adloop_core::{Cpm, DurationMs, Money};
use adloop_sim::{
    DayNoise, DiurnalCurve, IntervalChart, LineChart, LogNormalMoney, OpenAuction, SimError,
    check_svg,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn assert_traits<T: Send + Sync + Unpin>() {}

#[test]
fn public_types_are_send_sync_unpin() {
    assert_traits::<DiurnalCurve>();
    assert_traits::<DayNoise>();
    assert_traits::<LogNormalMoney>();
    assert_traits::<OpenAuction>();
    assert_traits::<LineChart>();
    assert_traits::<IntervalChart>();
    assert_traits::<SimError>();
}

#[test]
fn traffic_is_deterministic_per_seed() {
    let curve = DiurnalCurve::streaming();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let day = curve.noisy_day(&DayNoise::TYPICAL, &mut rng).unwrap();
        let total = DayNoise::TYPICAL.daily_total(200_000, &mut rng).unwrap();
        day.sample_counts(total, DurationMs::MINUTE, &mut rng)
            .unwrap()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}

#[test]
fn competing_bids_are_deterministic_per_seed() {
    let bids = LogNormalMoney::new(Money::from_micros(3_000_000), 0.7).unwrap();
    let open = OpenAuction::new(Cpm::from_micros(12_000_000), 0.5).unwrap();
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..50)
            .map(|_| (bids.sample(&mut rng), open.highest_competing_cpm(&mut rng)))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn charts_write_valid_svg_files() {
    let dir = std::env::temp_dir().join(format!("adloop-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let curve = DiurnalCurve::streaming();
    let line = dir.join("traffic.svg");
    LineChart::new("Requests by hour")
        .x_label("hour")
        .y_label("relative rate")
        .series(
            "streaming",
            (0..=96).map(|q| (q as f64 / 4.0, curve.weight_at_hour(q as f64 / 4.0))),
        )
        .dashed_series("daily mean", vec![(0.0, 1.0), (24.0, 1.0)])
        .write_svg(&line)
        .unwrap();
    let lift = dir.join("lift.svg");
    IntervalChart::new("Lift")
        .y_label("lift")
        .interval("a", 0.1, 0.0, 0.2, Some(0.12))
        .write_svg(&lift)
        .unwrap();
    for path in [&line, &lift] {
        let text = std::fs::read_to_string(path).unwrap();
        check_svg(&text).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
