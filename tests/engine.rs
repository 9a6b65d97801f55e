//! Integration tests of the engine's public API: the whole loop, concurrency, persistence and
//! OpenRTB.

use adloop::attribution::{Conversion, ConversionKind};
use adloop::core::{
    AdvertiserId, CampaignId, ConversionId, Cpm, CreativeId, DealId, DurationMs, HouseholdId,
    Money, Timestamp, UserId,
};
use adloop::openrtb::RtbLimits;
use adloop::pacing::{CapScope, CapWindow, FrequencyCap, IdentityKind, PacingMode};
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, DealOffer, Decision, Engine, Error, Event, Fate,
    Flight, Format, Opportunity, Pod,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_764_400_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn campaign(id: u64, cpm_micros: i64, targeting: &str) -> Campaign {
    Campaign {
        id: CampaignId::new(id),
        advertiser: AdvertiserId::new(id),
        advertiser_domain: format!("brand{id}.example"),
        budget: Budget {
            daily: None,
            lifetime: Some(Money::from_micros(1_000_000_000)),
        },
        flight: Flight {
            start: at(-DAY),
            end: at(30 * DAY),
        },
        pacing: PacingMode::Asap,
        bid: Bid::Cpm(Cpm::from_micros(cpm_micros)),
        tier: Default::default(),
        deals: vec![],
        frequency_caps: vec![],
        categories: vec![format!("IAB{}", id % 20 + 1)],
        targeting: targeting.into(),
        creatives: vec![Creative::video(id * 100, 15)],
        rotation: Default::default(),
        holdout: 0.0,
    }
}

fn request(id: u64, household: u64, segments: &[i64]) -> AdRequest {
    let mut r = AdRequest {
        id,
        user: Some(UserId::new(household * 10)),
        household: Some(HouseholdId::new(household)),
        ..AdRequest::default()
    };
    for s in segments {
        r.attributes.push_int("segment", *s);
    }
    r.attributes.push_str("geo.country", "US");
    r
}

fn engine() -> Engine {
    Engine::builder().seed(7).build().unwrap()
}

#[test]
fn the_whole_loop() {
    let engine = engine();
    let generation = engine
        .publish(vec![
            campaign(1, 6_000_000, "segment in (12, 40)"),
            campaign(2, 4_000_000, "segment = 12"),
            campaign(3, 9_000_000, "segment = 99"),
        ])
        .unwrap();
    assert_eq!(generation.0, 1);

    let mut req = request(1, 501, &[12]);
    req.trace = true;
    let decision = engine.decide(&req, at(0));
    assert_eq!(decision.placements.len(), 1);
    let p = &decision.placements[0];
    assert_eq!(p.campaign, CampaignId::new(1));
    // Second price: the runner-up's 4.00 CPM plus the default one-cent increment.
    assert_eq!(p.price_cpm, Cpm::from_micros(4_010_000));
    assert_eq!(p.price, Cpm::from_micros(4_010_000).per_impression());
    let trace = decision.trace.as_ref().unwrap();
    assert_eq!(trace.fate(CampaignId::new(1)), Some(Fate::Won));
    assert_eq!(trace.fate(CampaignId::new(2)), Some(Fate::Outbid));
    assert_eq!(trace.fate(CampaignId::new(3)), Some(Fate::NotTargeted));

    // Nothing is spent until the impression is recorded; then exactly the price.
    let before = engine.spend(CampaignId::new(1)).unwrap();
    assert_eq!(before.spent, Money::ZERO);
    engine
        .record(Event::Impression {
            receipt: p.receipt,
            time: at(1_000),
        })
        .unwrap();
    assert_eq!(engine.spend(CampaignId::new(1)).unwrap().spent, p.price);

    // The same receipt again is an error and charges nothing.
    let again = engine.record(Event::Impression {
        receipt: p.receipt,
        time: at(1_000),
    });
    assert!(
        matches!(again, Err(Error::RepeatedReceipt { .. })),
        "{again:?}"
    );
    assert_eq!(engine.spend(CampaignId::new(1)).unwrap().spent, p.price);

    // A forged receipt is unknown.
    let mut forged = p.receipt;
    forged.impression = adloop::core::ImpressionId::new(9_999_999);
    assert!(
        engine
            .record(Event::Impression {
                receipt: forged,
                time: at(1_000)
            })
            .is_err()
    );

    engine
        .record(Event::Click {
            impression: p.receipt.impression,
            time: at(5_000),
        })
        .unwrap();
    engine
        .record(Event::Conversion(Conversion {
            id: ConversionId::new(1),
            time: at(60_000),
            user: UserId::new(5010),
            household: HouseholdId::new(501),
            advertiser: AdvertiserId::new(1),
            kind: ConversionKind::Subscription,
            value: Some(Money::from_micros(9_990_000)),
            order_id: None,
        }))
        .unwrap();
    // Past the attribution lateness, the conversion is final and credited.
    engine.tick(at(2 * 3_600_000));
    let summary = engine.summary(CampaignId::new(1)).unwrap();
    assert_eq!(summary.impressions, 1);
    assert_eq!(summary.clicks, 1);
    assert!(
        (summary.attributed_conversions - 1.0).abs() < 1e-9,
        "{summary:?}"
    );
    assert_eq!(summary.spent, p.price);
}

#[test]
fn publish_reports_every_error_at_once() {
    let engine = engine();
    let mut bad_budget = campaign(1, 1_000_000, "segment = 1");
    bad_budget.budget = Budget::default();
    let bad_targeting = campaign(2, 1_000_000, "segment in (1,");
    let err = engine
        .publish(vec![bad_budget, bad_targeting, campaign(3, 1, "true")])
        .unwrap_err();
    let Error::InvalidCampaigns(errors) = err else {
        panic!("{err}")
    };
    let ids: Vec<u64> = errors.0.iter().map(|e| e.campaign.get()).collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(errors.0[1].field, "targeting");
    assert!(errors.0[1].message.contains("line 1"), "{}", errors.0[1]);
    assert_eq!(engine.generation().0, 0, "nothing was installed");
}

#[test]
fn trace_explains_every_fate() {
    let engine = engine();
    let mut out_of_flight = campaign(2, 5_000_000, "segment = 1");
    out_of_flight.flight.start = at(DAY);
    let mut capped = campaign(3, 7_000_000, "segment = 1");
    capped.frequency_caps = vec![FrequencyCap {
        scope: CapScope::Campaign,
        identity: IdentityKind::Household,
        max_impressions: 1,
        window: CapWindow::Fixed {
            window: DurationMs::from_hours(1),
        },
    }];
    let mut poor = campaign(4, 5_000_000, "segment = 1");
    poor.budget.lifetime = Some(Money::from_micros(1));
    let cheap = campaign(5, 500_000, "segment = 1");
    let mut display = campaign(6, 5_000_000, "segment = 1");
    display.creatives[0].format = Format::Display;
    display.creatives[0].duration_s = 0;
    let mut blocked = campaign(7, 5_000_000, "segment = 1");
    blocked.categories = vec!["IAB25".into()];
    engine
        .publish(vec![
            campaign(1, 2_000_000, "segment = 2"),
            out_of_flight,
            capped,
            poor,
            cheap,
            display,
            blocked,
            campaign(8, 3_000_000, "segment = 1"),
        ])
        .unwrap();
    let mut req = request(1, 77, &[1]);
    req.trace = true;
    req.floor = Cpm::from_micros(1_000_000);
    req.blocked_categories = vec!["IAB25".into()];
    let first = engine.decide(&req, at(0));
    assert_eq!(first.placements[0].campaign, CampaignId::new(3));
    engine
        .record(Event::Impression {
            receipt: first.placements[0].receipt,
            time: at(0),
        })
        .unwrap();
    let d = engine.decide(&req, at(10));
    let trace = d.trace.unwrap();
    let fate = |id| trace.fate(CampaignId::new(id)).unwrap();
    assert_eq!(fate(1), Fate::NotTargeted);
    assert_eq!(fate(2), Fate::OutOfFlight);
    assert_eq!(fate(3), Fate::FrequencyCapped);
    assert_eq!(fate(4), Fate::BudgetExhausted);
    assert_eq!(fate(5), Fate::BelowFloor);
    assert_eq!(fate(6), Fate::NoFittingCreative);
    assert_eq!(fate(7), Fate::Blocked);
    assert_eq!(fate(8), Fate::Won);
    assert_eq!(trace.entries.len(), 8);
}

#[test]
fn pods_fill_several_slots_with_separation() {
    let engine = engine();
    let mut campaigns: Vec<Campaign> = (1..=6)
        .map(|i| campaign(i, 3_000_000 + i as i64 * 1_000_000, "segment = 5"))
        .collect();
    // Two campaigns of one advertiser: at most one may run in the pod.
    campaigns[5].advertiser = campaigns[4].advertiser;
    engine.publish(campaigns).unwrap();
    let mut req = request(3, 9, &[5]);
    req.opportunity = Opportunity::Pod(Pod {
        max_slots: 4,
        max_duration_s: 60,
        required_durations_s: vec![],
    });
    let d = engine.decide(&req, at(0));
    assert_eq!(d.placements.len(), 4);
    let mut advertisers: Vec<_> = d.placements.iter().map(|p| p.advertiser).collect();
    advertisers.dedup();
    assert_eq!(advertisers.len(), 4);
    let total: u32 = d.placements.iter().map(|p| p.duration_s).sum();
    assert!(total <= 60);
}

#[test]
fn a_pod_stopped_at_the_search_budget_is_flagged_and_counted() {
    // A rate card of near-equal bids (each copy a micro apart) in mixed durations with
    // overlapping categories: a knapsack no bound separates (the auction's unit tests
    // have the same base). Each campaign also has a category of its own, so no two
    // conflict with exactly the same others and none dominates another. The search
    // stops at its node budget; the decision says so and the engine counts it.
    let engine = engine();
    let base: [(i64, u32, &[u32]); 9] = [
        (150, 60, &[]),
        (225, 60, &[]),
        (225, 15, &[3, 0]),
        (650, 60, &[3, 6, 5]),
        (225, 60, &[]),
        (225, 60, &[]),
        (225, 30, &[5, 0, 1]),
        (950, 45, &[]),
        (225, 60, &[]),
    ];
    let campaigns: Vec<Campaign> = (1..=54u64)
        .map(|id| {
            let (cpm, secs, cats) = base[id as usize % base.len()];
            let mut c = campaign(id, cpm * 10_000 + id as i64 / 9, "true");
            c.categories = cats.iter().map(|k| format!("IAB{}", k + 1)).collect();
            c.categories.push(format!("OWN{id}"));
            c.creatives = vec![Creative::video(id * 100, secs)];
            c
        })
        .collect();
    engine.publish(campaigns).unwrap();
    let mut req = request(5, 3, &[]);
    req.opportunity = Opportunity::Pod(Pod {
        max_slots: 14,
        max_duration_s: 600,
        required_durations_s: vec![],
    });
    assert_eq!(engine.truncated_pods(), 0);
    let d = engine.decide(&req, at(0));
    assert!(d.truncated);
    assert_eq!(engine.truncated_pods(), 1);
    // Still a valid pod: within slots and seconds, no shared category.
    assert!(!d.placements.is_empty() && d.placements.len() <= 14);
    assert!(d.placements.iter().map(|p| p.duration_s).sum::<u32>() <= 600);
    let cats = |p: &adloop::Placement| base[p.campaign.get() as usize % base.len()].2;
    for (i, a) in d.placements.iter().enumerate() {
        for b in &d.placements[i + 1..] {
            assert!(!cats(a).iter().any(|c| cats(b).contains(c)));
        }
    }
    // A small pod is searched in full: not flagged, not counted.
    let mut small = request(6, 3, &[]);
    small.opportunity = Opportunity::Pod(Pod {
        max_slots: 2,
        max_duration_s: 60,
        required_durations_s: vec![],
    });
    let d = engine.decide(&small, at(1));
    assert!(!d.truncated && !d.placements.is_empty());
    assert_eq!(engine.truncated_pods(), 1);
}

#[test]
fn deals_clear_at_their_fixed_price() {
    let engine = engine();
    let mut deal_campaign = campaign(1, 30_000_000, "true");
    deal_campaign.deals = vec![DealId::new(77)];
    engine
        .publish(vec![deal_campaign, campaign(2, 50_000_000, "true")])
        .unwrap();
    let mut req = request(4, 1, &[]);
    req.private_auction = true;
    req.deals = vec![DealOffer {
        id: DealId::new(77),
        floor: Cpm::from_micros(20_000_000),
        fixed_price: Some(Cpm::from_micros(20_000_000)),
    }];
    req.trace = true;
    let d = engine.decide(&req, at(0));
    assert_eq!(d.placements.len(), 1);
    assert_eq!(d.placements[0].campaign, CampaignId::new(1));
    assert_eq!(d.placements[0].deal, Some(DealId::new(77)));
    assert_eq!(d.placements[0].price_cpm, Cpm::from_micros(20_000_000));
    assert_eq!(
        d.trace.unwrap().fate(CampaignId::new(2)),
        Some(Fate::NotInDeal)
    );
}

#[test]
fn removing_a_campaign_releases_its_reservations() {
    let engine = engine();
    engine
        .publish(vec![
            campaign(1, 5_000_000, "true"),
            campaign(2, 1_000_000, "true"),
        ])
        .unwrap();
    let d = engine.decide(&request(1, 1, &[]), at(0));
    let receipt = d.placements[0].receipt;
    assert_eq!(receipt.campaign, CampaignId::new(1));
    assert!(
        engine
            .spend(CampaignId::new(1))
            .unwrap()
            .reserved
            .is_positive()
    );
    engine
        .publish(vec![campaign(2, 1_000_000, "true")])
        .unwrap();
    let err = engine
        .record(Event::Impression {
            receipt,
            time: at(10),
        })
        .unwrap_err();
    assert!(matches!(err, Error::UnknownReceipt { .. }), "{err}");
    // Re-adding it finds its spend state, with nothing reserved or spent.
    engine
        .publish(vec![
            campaign(1, 5_000_000, "true"),
            campaign(2, 1_000_000, "true"),
        ])
        .unwrap();
    let s = engine.spend(CampaignId::new(1)).unwrap();
    assert_eq!((s.spent, s.reserved), (Money::ZERO, Money::ZERO));
}

/// Several threads decide and record while another publishes alternating campaign sets:
/// every decision sees one whole snapshot, and no budget is ever exceeded.
#[test]
fn publishes_during_decisions_never_show_a_half_built_snapshot() {
    let engine = Arc::new(engine());
    // Set A: campaigns 1..=40 target segment 1; set B: 21..=60 target segment 1 with a
    // different creative id scheme. Each campaign can afford about 30 impressions.
    let set = |lo: u64, hi: u64, creative_base: u64| -> Vec<Campaign> {
        (lo..=hi)
            .map(|i| {
                let mut c = campaign(i, 2_000_000 + (i as i64 % 7) * 100_000, "segment = 1");
                c.budget.lifetime = Some(Money::from_micros(30 * 2_700));
                c.creatives[0].id = CreativeId::new(creative_base + i);
                c
            })
            .collect()
    };
    let a = set(1, 40, 10_000);
    let b = set(21, 60, 20_000);
    engine.publish(a.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut deciders = Vec::new();
    for t in 0..3u64 {
        let engine = Arc::clone(&engine);
        let stop = Arc::clone(&stop);
        deciders.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let mut shown = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 200 {
                n += 1;
                let req = request(t << 32 | n, n % 500, &[1]);
                let d: Decision = engine.decide(&req, at(n as i64));
                for p in &d.placements {
                    // Odd generations are set A, even ones set B.
                    let base = if d.generation.0 % 2 == 1 {
                        10_000
                    } else {
                        20_000
                    };
                    assert_eq!(p.creative.get(), base + p.campaign.get(), "{d:?}");
                    if engine
                        .record(Event::Impression {
                            receipt: p.receipt,
                            time: at(n as i64),
                        })
                        .is_ok()
                    {
                        shown += 1;
                    }
                }
                if n > 20_000 {
                    break;
                }
            }
            shown
        }));
    }
    for g in 0..40 {
        engine
            .publish(if g % 2 == 0 { b.clone() } else { a.clone() })
            .unwrap();
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let shown: u64 = deciders.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(shown > 0);
    for id in 1..=60 {
        if let Some(s) = engine.spend(CampaignId::new(id)) {
            assert!(
                s.spent + s.reserved <= Money::from_micros(30 * 2_700),
                "campaign {id} overspent: {s:?}"
            );
        }
    }
}

#[test]
fn holdout_control_wins_become_ghosts_and_the_slot_goes_to_the_next_bidder() {
    let engine = engine();
    let mut held = campaign(1, 9_000_000, "true");
    held.holdout = 0.5;
    engine
        .publish(vec![held, campaign(2, 3_000_000, "true")])
        .unwrap();
    let (mut ghosts, mut shown) = (0, 0);
    for hh in 0..200u64 {
        let d = engine.decide(&request(hh, hh, &[]), at(hh as i64));
        assert_eq!(d.placements.len(), 1, "the slot is refilled");
        let p = &d.placements[0];
        if d.ghosts.is_empty() {
            assert_eq!(p.campaign, CampaignId::new(1));
            shown += 1;
        } else {
            // Control households never see the held-out campaign.
            assert_eq!(d.ghosts[0].campaign, CampaignId::new(1));
            assert_eq!(p.campaign, CampaignId::new(2));
            ghosts += 1;
        }
        engine
            .record(Event::Impression {
                receipt: p.receipt,
                time: at(hh as i64),
            })
            .unwrap();
    }
    assert!(
        (60..140).contains(&ghosts),
        "{ghosts} ghosts, {shown} shown"
    );
    engine.tick(at(3 * 3_600_000));
    let lift = engine.lift(CampaignId::new(1)).expect("holdout registered");
    assert_eq!(lift.control.identities + lift.treatment.identities, 200);
}

#[test]
fn cpc_bids_compete_with_the_measured_click_rate() {
    let engine = engine();
    let mut cpc = campaign(1, 1, "true");
    // 1.00 per click × the prior CTR of 1% = 10.00 CPM, above the 8.00 CPM rival.
    cpc.bid = Bid::Cpc(Money::from_micros(1_000_000));
    engine
        .publish(vec![cpc, campaign(2, 8_000_000, "true")])
        .unwrap();
    let d = engine.decide(&request(1, 1, &[]), at(0));
    assert_eq!(d.placements[0].campaign, CampaignId::new(1));
    assert_eq!(d.placements[0].price_cpm, Cpm::from_micros(8_010_000));
}

#[test]
fn ranked_slots_are_priced_by_gsp() {
    let engine = engine();
    engine
        .publish(vec![
            campaign(1, 10_000_000, "true"),
            campaign(2, 4_000_000, "true"),
            campaign(3, 2_000_000, "true"),
        ])
        .unwrap();
    let mut req = request(1, 1, &[]);
    req.opportunity = Opportunity::Ranked {
        format: Format::Video,
        factors: vec![200, 100],
    };
    let d = engine.decide(&req, at(0));
    let got: Vec<(u64, u32)> = d
        .placements
        .iter()
        .map(|p| (p.campaign.get(), p.slot))
        .collect();
    assert_eq!(got, vec![(1, 0), (2, 1)]);
    // GSP: each slot pays the next bid (plus the increment).
    assert_eq!(d.placements[0].price_cpm, Cpm::from_micros(4_010_000));
    assert_eq!(d.placements[1].price_cpm, Cpm::from_micros(2_010_000));
}

fn replay(engine: &Engine, from: u64, to: u64) -> Vec<String> {
    let mut out = Vec::new();
    for n in from..to {
        let mut req = request(n, n % 13, &[(n % 3) as i64]);
        if n % 4 == 0 {
            req.opportunity = Opportunity::Pod(Pod {
                max_slots: 3,
                max_duration_s: 45,
                required_durations_s: vec![],
            });
        }
        let d = engine.decide(&req, at(n as i64 * 1_000));
        for p in &d.placements {
            out.push(format!(
                "{n}:{}:{}:{}:{}",
                p.campaign, p.creative, p.price, p.receipt.impression
            ));
            if n % 3 != 0 {
                engine
                    .record(Event::Impression {
                        receipt: p.receipt,
                        time: at(n as i64 * 1_000 + 10),
                    })
                    .unwrap();
            }
        }
        if n % 50 == 0 {
            engine.tick(at(n as i64 * 1_000));
        }
    }
    out
}

fn paced_campaigns() -> Vec<Campaign> {
    (1..=12)
        .map(|i| {
            let mut c = campaign(i, 1_000_000 + i as i64 * 250_000, "segment in (0, 1, 2)");
            c.pacing = if i % 2 == 0 {
                serde_json::from_str(r#"{"mode": "throttle"}"#).unwrap()
            } else {
                PacingMode::Asap
            };
            c.budget.daily = Some(Money::from_micros(200_000));
            c.frequency_caps = vec![FrequencyCap {
                scope: CapScope::Campaign,
                identity: IdentityKind::Household,
                max_impressions: 3,
                window: CapWindow::Sliding {
                    window: DurationMs::from_mins(5),
                },
            }];
            c
        })
        .collect()
}

#[test]
fn save_then_load_gives_identical_later_decisions() {
    let original = engine();
    original.publish(paced_campaigns()).unwrap();
    replay(&original, 0, 300);
    let saved = original.save().unwrap();
    let loaded = Engine::builder().seed(7).load(&saved).unwrap();
    assert_eq!(loaded.generation(), original.generation());
    let a = replay(&original, 300, 600);
    let b = replay(&loaded, 300, 600);
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn damaged_state_is_a_clear_error_and_nothing_loads() {
    let engine = engine();
    engine.publish(paced_campaigns()).unwrap();
    replay(&engine, 0, 50);
    let saved = engine.save().unwrap();
    for cut in [0, 10, saved.len() / 2, saved.len() - 1] {
        let err = Engine::builder().load(&saved[..cut]).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    let mut corrupt = saved.clone();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0x10;
    let err = Engine::builder().load(&corrupt).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let mut foreign = saved;
    foreign[0] = b'X';
    assert!(Engine::builder().load(&foreign).is_err());
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/openrtb/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn rtb_engine() -> Engine {
    let engine = engine();
    let mut deal = campaign(10, 25_000_000, "true");
    deal.deals = vec![DealId::new(77)];
    deal.tier = adloop::auction::Tier::DEAL;
    let mut pg = campaign(11, 20_000_000, "true");
    pg.deals = vec![DealId::new(adloop::openrtb::deal_id("PG-2026-001").get())];
    pg.tier = adloop::auction::Tier::GUARANTEED;
    let mut banner = campaign(12, 3_000_000, "segment = 12 and device.type = 3");
    banner.creatives[0].format = Format::Display;
    banner.creatives[0].duration_s = 0;
    let mut blocked = campaign(13, 9_000_000, "true");
    blocked.advertiser_domain = "blocked.example".into();
    blocked.creatives[0].format = Format::Display;
    blocked.creatives[0].duration_s = 0;
    let mut pod: Vec<Campaign> = (20..26)
        .map(|i| {
            let mut c = campaign(i, 10_000_000 + i as i64 * 100_000, "segment = 12");
            c.creatives[0].duration_s = if i % 2 == 0 { 15 } else { 30 };
            c
        })
        .collect();
    pod.extend([deal, pg, banner, blocked]);
    engine.publish(pod).unwrap();
    engine
}

fn respond(engine: &Engine, name: &str) -> serde_json::Value {
    let rtb = engine.parse_openrtb(&fixture(name)).unwrap();
    let decisions: Vec<Decision> = rtb
        .imps
        .iter()
        .map(|imp| engine.decide(&imp.request, at(0)))
        .collect();
    serde_json::from_str(&engine.bid_response(&rtb, &decisions)).unwrap()
}

#[test]
fn openrtb_banner() {
    let engine = rtb_engine();
    let resp = respond(&engine, "banner.json");
    assert_eq!(resp["id"], "req-banner-1");
    assert_eq!(resp["cur"], "USD");
    let bid = &resp["seatbid"][0]["bid"][0];
    assert_eq!(bid["impid"], "1");
    assert_eq!(bid["cid"], "12");
    assert_eq!(bid["crid"], "1200");
    assert_eq!(bid["adomain"][0], "brand12.example");
    assert_eq!(bid["cat"][0], "IAB13");
    // Alone above the 1.25 floor: pays floor + increment.
    assert_eq!(bid["price"], 1.26);
    let losses = resp["ext"]["adloop"]["losses"].as_array().unwrap();
    let blocked = losses.iter().find(|l| l["cid"] == "13").unwrap();
    assert_eq!(blocked["lossreason"], 205);
}

#[test]
fn openrtb_video_pods() {
    let engine = rtb_engine();
    let rtb = engine.parse_openrtb(&fixture("video_pod.json")).unwrap();
    assert_eq!(rtb.imps.len(), 2);
    assert_eq!(rtb.imps[1].imp_ids, vec!["s1", "s2", "s3"]);
    let resp = respond(&engine, "video_pod.json");
    let bids = resp["seatbid"][0]["bid"].as_array().unwrap();
    let dynamic: Vec<_> = bids.iter().filter(|b| b["impid"] == "break-1").collect();
    assert!(dynamic.len() >= 2, "{resp}");
    let total: u64 = dynamic.iter().map(|b| b["dur"].as_u64().unwrap()).sum();
    assert!(total <= 60);
    for b in &dynamic {
        assert!([15, 30].contains(&b["dur"].as_u64().unwrap()));
        assert!(b["price"].as_f64().unwrap() >= 8.0);
        assert!(b["slotinpod"].as_u64().is_some());
    }
    let structured: Vec<_> = bids
        .iter()
        .filter(|b| b["impid"].as_str().unwrap().starts_with('s'))
        .collect();
    assert!(!structured.is_empty());
    assert_eq!(structured[0]["impid"], "s1");
}

#[test]
fn openrtb_deals() {
    let engine = rtb_engine();
    let resp = respond(&engine, "deals.json");
    let bid = &resp["seatbid"][0]["bid"][0];
    // The guaranteed tier wins the private auction at its fixed deal price.
    assert_eq!(bid["cid"], "11");
    assert_eq!(bid["dealid"], "PG-2026-001");
    assert_eq!(bid["price"], 20.0);
    assert_eq!(resp["seatbid"][0]["bid"].as_array().unwrap().len(), 1);
}

#[test]
fn openrtb_errors_name_the_path() {
    let engine = engine();
    let err = engine
        .parse_openrtb(br#"{"id":"x","imp":[{"id":"1","video":{"rqddurs":[15,"x"]}}]}"#)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openrtb: imp[0].video.rqddurs[1]: expected a positive integer"
    );
    let limits = RtbLimits {
        max_bytes: 10,
        ..RtbLimits::default()
    };
    let engine = Engine::builder().rtb_limits(limits).build().unwrap();
    assert!(engine.parse_openrtb(&fixture("banner.json")).is_err());
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync + Unpin>() {}
    check::<Engine>();
    check::<AdRequest>();
    check::<Decision>();
    check::<Campaign>();
    check::<Error>();
    check::<Event>();
}

mod reference {
    use super::*;
    use proptest::prelude::*;

    fn expression() -> impl Strategy<Value = String> {
        let pred = prop_oneof![
            proptest::collection::vec(0i64..12, 1..4).prop_map(|s| format!(
                "segment in ({})",
                s.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
            )),
            prop_oneof![Just("US"), Just("CA")].prop_map(|c| format!("geo.country = \"{c}\"")),
            (0i64..4).prop_map(|d| format!("device.type != {d}")),
        ];
        proptest::collection::vec(pred, 1..3).prop_map(|p| p.join(" and "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// The engine's funnel against plain code: a campaign is "not targeted" exactly
        /// when the reference evaluator says its expression is false, and the winner is a
        /// targeted campaign whose bid no other targeted campaign beats, paying at most
        /// its bid and at least the floor.
        #[test]
        fn decide_matches_the_reference(
            specs in proptest::collection::vec((expression(), 1i64..40), 1..25),
            segments in proptest::collection::vec(0i64..12, 0..6),
            country in prop_oneof![Just("US"), Just("CA"), Just("GB")],
            device in 0i64..4,
            floor in 0i64..10,
        ) {
            let engine = engine();
            let campaigns: Vec<Campaign> = specs
                .iter()
                .enumerate()
                .map(|(i, (expr, cpm))| campaign(i as u64 + 1, cpm * 500_000, expr))
                .collect();
            engine.publish(campaigns.clone()).unwrap();
            let mut req = request(1, 1, &segments);
            req.attributes = adloop::targeting::Request::new();
            for s in &segments {
                req.attributes.push_int("segment", *s);
            }
            req.attributes.push_str("geo.country", country);
            req.attributes.push_int("device.type", device);
            req.floor = Cpm::from_micros(floor * 1_000_000);
            req.trace = true;
            let d = engine.decide(&req, at(0));
            let trace = d.trace.clone().unwrap();
            let mut best = None;
            for c in &campaigns {
                let targeted = adloop::targeting::parse(&c.targeting).unwrap().matches(&req.attributes);
                let fate = trace.fate(c.id).unwrap();
                prop_assert_eq!(fate == Fate::NotTargeted, !targeted, "campaign {}", c.id);
                if targeted {
                    let Bid::Cpm(cpm) = c.bid else { unreachable!() };
                    best = best.max(Some(cpm));
                }
            }
            match d.placements.first() {
                Some(p) => {
                    let Bid::Cpm(won) = campaigns[p.campaign.get() as usize - 1].bid else { unreachable!() };
                    prop_assert_eq!(Some(won), best);
                    prop_assert!(p.price_cpm <= won && p.price_cpm >= req.floor);
                }
                None => prop_assert!(best.is_none_or(|b| b < req.floor), "{best:?}"),
            }
        }
    }
}
