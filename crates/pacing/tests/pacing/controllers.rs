//! Controller properties on synthetic traffic: no NaN, knobs in range, no windup, and
//! concurrent ticks that never corrupt state.

use adloop_core::{DurationMs, Money, Timestamp};
use adloop_pacing::{
    BidShadingSettings, BudgetConfig, Flight, ImpressionGoalSettings, Observation, Pacer,
    PacingController, PacingMode, PidSettings, Spend, TargetCurve, ThrottleSettings,
};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use std::sync::Arc;

const DAY0: Timestamp = Timestamp::from_millis(1_700_006_400_000);

fn modes() -> Vec<PacingMode> {
    let curves = [
        TargetCurve::Even,
        TargetCurve::traffic_shaped(),
        TargetCurve::FrontLoaded { exponent: 2.0 },
        TargetCurve::Custom {
            points: vec![[0.0, 0.0], [0.3, 0.6], [1.0, 1.0]],
        },
    ];
    let mut out = vec![PacingMode::Asap];
    for c in curves {
        out.push(PacingMode::Throttle {
            curve: c.clone(),
            settings: ThrottleSettings::default(),
        });
        out.push(PacingMode::BidShading {
            curve: c.clone(),
            settings: BidShadingSettings::default(),
        });
        out.push(PacingMode::Pid {
            curve: c.clone(),
            settings: PidSettings::default(),
        });
        out.push(PacingMode::ImpressionGoal {
            goal: 10_000,
            curve: c,
            settings: ImpressionGoalSettings::default(),
        });
    }
    out
}

fn config() -> BudgetConfig {
    BudgetConfig {
        daily: Some(Money::from_units(1_000).unwrap()),
        flight: Flight::new(DAY0, DAY0 + DurationMs::from_days(2)),
        ..BudgetConfig::default()
    }
}

fn assert_sane(mode: &PacingMode, pacer: &Pacer) {
    let rate = pacer.participation_rate();
    let m = pacer.bid_multiplier();
    assert!((0.0..=1.0).contains(&rate), "rate {rate} for {mode:?}");
    assert!(m.is_finite() && m > 0.0, "multiplier {m} for {mode:?}");
    match mode {
        PacingMode::Asap | PacingMode::Throttle { .. } => assert_eq!(m, 1.0),
        PacingMode::BidShading { settings, .. } => {
            assert!(m <= 1.0 && m >= 1.0 / (1.0 + settings.max_mu) - 1e-12)
        }
        PacingMode::Pid { settings, .. } => {
            assert!(m >= settings.min_multiplier - 1e-9 && m <= settings.max_multiplier + 1e-9)
        }
        PacingMode::ImpressionGoal { settings, .. } => {
            assert!((1.0..=settings.max_boost + 1e-9).contains(&m))
        }
        _ => {}
    }
}

/// Drives a pacer through a synthetic day: `traffic[i]` opportunities in minute `i`,
/// each bought with probability `win` at `price` when admitted (the admission itself is
/// modelled by the pacer's rate and multiplier).
fn drive(mode: &PacingMode, traffic: &[u32], win: f64, price: i64) -> Pacer {
    let cfg = config();
    let pacer = mode.build(&cfg).unwrap();
    let mut spent = 0i64;
    let mut imps = 0u64;
    let mut opps = 0u64;
    let budget = cfg.daily.unwrap().micros();
    for (i, &n) in traffic.iter().enumerate() {
        let now = DAY0 + DurationMs::from_mins(i as i64 + 1);
        let admitted = (n as f64 * pacer.participation_rate()).round();
        let won = (admitted * (win * pacer.bid_multiplier()).min(1.0)).floor() as i64;
        let cost = (won * price).min(budget - spent);
        spent += cost.max(0);
        imps += won.max(0) as u64;
        opps += u64::from(n);
        let obs = Observation {
            spend: Spend {
                used_today: Money::from_micros(spent),
                committed_today: Money::from_micros(spent),
                used_lifetime: Money::from_micros(spent),
                committed_lifetime: Money::from_micros(spent),
            },
            impressions_today: imps,
            impressions_lifetime: imps,
            opportunities: opps,
        };
        pacer.tick(now, &obs);
        assert_sane(mode, &pacer);
    }
    pacer
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn knobs_stay_in_range_on_random_traffic(
        traffic in prop::collection::vec(0u32..5_000, 1..300),
        win in 0.0f64..1.0,
        price in 1i64..50_000,
    ) {
        for mode in modes() {
            let pacer = drive(&mode, &traffic, win, price);
            // State survives a round trip through serde.
            let state = pacer.export_state();
            let json = serde_json::to_string(&state).unwrap();
            let back = serde_json::from_str(&json).unwrap();
            let fresh = mode.build(&config()).unwrap();
            fresh.import_state(&back).unwrap();
            // (serde_json's float parsing may differ in the last bit.)
            prop_assert!((fresh.bid_multiplier() - pacer.bid_multiplier()).abs() < 1e-12);
        }
    }
}

/// No windup: six hours with no traffic at all saturate the PID and bid shading
/// controllers behind the curve; when traffic comes back in abundance, they must
/// recover quickly instead of overspending for hours on an integral built up in vain.
#[test]
fn no_windup_after_a_traffic_outage() {
    let mut traffic = vec![0u32; 360];
    traffic.extend(std::iter::repeat_n(20_000u32, 600));
    for mode in [
        PacingMode::Pid {
            curve: TargetCurve::Even,
            settings: PidSettings::default(),
        },
        PacingMode::BidShading {
            curve: TargetCurve::Even,
            settings: BidShadingSettings::default(),
        },
    ] {
        let cfg = config();
        let pacer = mode.build(&cfg).unwrap();
        let budget = cfg.daily.unwrap().micros() as f64;
        let (mut spent, mut opps) = (0.0f64, 0u64);
        let mut max_over = 0.0f64;
        for (i, &n) in traffic.iter().enumerate() {
            let now = DAY0 + DurationMs::from_mins(i as i64 + 1);
            // Spend per minute grows with the multiplier: a market where bidding up
            // buys more.
            let m = pacer.bid_multiplier();
            spent = (spent + n as f64 * 0.002 * m * m * 10_000.0).min(budget);
            opps += u64::from(n);
            let obs = Observation {
                spend: Spend {
                    used_today: Money::from_micros(spent as i64),
                    used_lifetime: Money::from_micros(spent as i64),
                    ..Spend::default()
                },
                opportunities: opps,
                ..Observation::default()
            };
            pacer.tick(now, &obs);
            let target = budget * (i as f64 + 1.0) / 1_440.0;
            if i >= 420 {
                max_over = max_over.max((spent - target) / budget);
            }
            assert_sane(&mode, &pacer);
        }
        if let Pacer::Pid(p) = &pacer {
            assert!(p.integral_term().abs() <= PidSettings::default().max_multiplier.ln() + 1e-9);
        }
        // An hour after traffic returns, spend is back within 5% of the curve.
        assert!(
            max_over < 0.05,
            "{mode:?} overshot the curve by {max_over:.3}"
        );
    }
}

#[test]
fn concurrent_ticks_do_not_corrupt_state() {
    for mode in modes() {
        let pacer = Arc::new(mode.build(&config()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pacer = Arc::clone(&pacer);
                std::thread::spawn(move || {
                    let mut rng = StdRng::seed_from_u64(t);
                    for i in 0..300u64 {
                        let now = DAY0 + DurationMs::from_secs(i as i64 * 30 + t as i64);
                        let spent = Money::from_micros((i * 1_000_000) as i64);
                        let obs = Observation {
                            spend: Spend {
                                used_today: spent,
                                used_lifetime: spent,
                                ..Spend::default()
                            },
                            impressions_today: i * 10,
                            impressions_lifetime: i * 10,
                            opportunities: i * 100,
                        };
                        pacer.tick(now, &obs);
                        let a = pacer.admit(now, &mut rng);
                        assert!(a.bid_multiplier.is_finite() && a.bid_multiplier > 0.0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_sane(&mode, &pacer);
    }
}

#[test]
fn admission_follows_the_rate_and_the_flight() {
    let cfg = config();
    let pacer = PacingMode::Asap.build(&cfg).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    assert!(pacer.admit(DAY0, &mut rng).participate);
    assert!(!pacer.admit(DAY0 - DurationMs::SECOND, &mut rng).participate);
    assert!(
        !pacer
            .admit(DAY0 + DurationMs::from_days(2), &mut rng)
            .participate
    );
    // A serde configuration builds the right controller.
    let mode: PacingMode =
        serde_json::from_str(r#"{"mode":"throttle","curve":{"curve":"traffic_shaped"}}"#).unwrap();
    assert!(matches!(mode.build(&cfg).unwrap(), Pacer::Throttle(_)));
    let bad: PacingMode = serde_json::from_str(r#"{"mode":"pid","settings":{"kp":-1.0}}"#).unwrap();
    assert!(bad.build(&cfg).is_err());
}

/// An unset bid-shading value scale takes the campaign's bid; a set one and other modes
/// are left alone; and the scale changes how fast μ moves.
#[test]
fn an_unset_value_scale_takes_the_campaign_bid() {
    let bid = Money::from_micros(2_000); // a $2 CPM
    let unset = PacingMode::BidShading {
        curve: TargetCurve::Even,
        settings: BidShadingSettings::default(),
    };
    let filled = unset.with_default_value_scale(bid);
    let PacingMode::BidShading { settings, .. } = &filled else {
        panic!("{filled:?}");
    };
    assert_eq!(settings.value_scale, Some(bid));
    // Already set: unchanged; other modes: unchanged.
    assert_eq!(
        filled.with_default_value_scale(Money::from_micros(9)),
        filled
    );
    assert_eq!(
        PacingMode::Asap.with_default_value_scale(bid),
        PacingMode::Asap
    );
    // Overspending at the bid's own price: a scale of the bid moves μ further than the
    // default one cent (5× the bid here) does.
    let traffic = vec![4_000u32; 120];
    let by_bid = drive(&filled, &traffic, 1.0, bid.micros());
    let by_default = drive(&unset, &traffic, 1.0, bid.micros());
    assert!(
        by_bid.bid_multiplier() < by_default.bid_multiplier(),
        "{} vs {}",
        by_bid.bid_multiplier(),
        by_default.bid_multiplier()
    );
}
