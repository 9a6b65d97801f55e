//! Creative decisioning and member ad load through the engine's public API: every
//! eligibility rule, every rotation mode, every ad-load cap, per-variant reports, and a
//! property test that no decision violates any cap.

use adloop::attribution::{Conversion, ConversionKind};
use adloop::core::{
    AdvertiserId, CampaignId, ConversionId, Cpm, CreativeId, DurationMs, HouseholdId, Money,
    Timestamp, UserId,
};
use adloop::pacing::{AdLoadPolicy, PacingMode};
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, Decision, Engine, Event, Fate, Flight, Opportunity,
    Pod, Rotation, RotationGoal,
};
use proptest::prelude::*;
use std::collections::HashMap;

const T0: i64 = 1_764_400_000_000;
const MIN: i64 = 60_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

fn campaign(id: u64, cpm: i64, creatives: Vec<Creative>, rotation: Rotation) -> Campaign {
    Campaign {
        id: CampaignId::new(id),
        advertiser: AdvertiserId::new(id),
        advertiser_domain: format!("brand{id}.example"),
        budget: Budget {
            daily: None,
            lifetime: Some(Money::from_micros(1_000_000_000_000)),
        },
        flight: Flight {
            start: at(-86_400_000),
            end: at(30 * 86_400_000),
        },
        pacing: PacingMode::Asap,
        bid: Bid::Cpm(Cpm::from_micros(cpm)),
        tier: Default::default(),
        deals: vec![],
        frequency_caps: vec![],
        categories: vec![],
        targeting: "true".into(),
        creatives,
        rotation,
        holdout: 0.0,
    }
}

fn request(id: u64, household: u64, country: &str, language: &str) -> AdRequest {
    let mut r = AdRequest {
        id,
        user: Some(UserId::new(household * 10)),
        household: Some(HouseholdId::new(household)),
        trace: true,
        ..AdRequest::default()
    };
    r.attributes.push_str("geo.country", country);
    r.attributes.push_str("content.language", language);
    r
}

fn pod(max_slots: u32, max_duration_s: u32) -> Opportunity {
    Opportunity::Pod(Pod {
        max_slots,
        max_duration_s,
        required_durations_s: vec![],
    })
}

fn show(engine: &Engine, d: &Decision, time: Timestamp) {
    for p in &d.placements {
        engine
            .record(Event::Impression {
                receipt: p.receipt,
                time,
            })
            .unwrap();
    }
}

#[test]
fn a_campaign_without_a_fitting_creative_stays_out_of_the_auction() {
    let engine = Engine::builder().seed(1).build().unwrap();
    engine
        .publish(vec![
            campaign(
                1,
                9_000_000,
                vec![
                    Creative::video(11, 30)
                        .markets(["DE", "AT"])
                        .languages(["de"]),
                    Creative::video(12, 30).markets(["FR"]).languages(["fr"]),
                    Creative::video(13, 15)
                        .markets(["DE"])
                        .targeting("device.type = 3"),
                ],
                Rotation::Even,
            ),
            campaign(2, 2_000_000, vec![Creative::video(21, 30)], Rotation::Even),
        ])
        .unwrap();
    let fate = |d: &Decision, c: u64| d.trace.as_ref().unwrap().fate(CampaignId::new(c));

    // Market: a US request fits none of campaign 1's variants.
    let d = engine.decide(&request(1, 1, "US", "en"), at(0));
    assert_eq!(fate(&d, 1), Some(Fate::NoFittingCreative));
    assert_eq!(d.placements[0].campaign, CampaignId::new(2));
    // Market and language (any case): the German cut.
    let d = engine.decide(&request(2, 1, "de", "DE"), at(0));
    assert_eq!(d.placements[0].creative, CreativeId::new(11));
    // Language: French market, German audio track: nothing of campaign 1 fits.
    let d = engine.decide(&request(3, 1, "FR", "de"), at(0));
    assert_eq!(fate(&d, 1), Some(Fate::NoFittingCreative));
    // Length: a 20-second slot takes only the 15-second cut, which needs a TV.
    let mut r = request(4, 1, "DE", "de");
    r.opportunity = Opportunity::Single {
        format: adloop::Format::Video,
        max_duration_s: 20,
    };
    assert_eq!(
        fate(&engine.decide(&r, at(0)), 1),
        Some(Fate::NoFittingCreative)
    );
    r.attributes.push_int("device.type", 3);
    let d = engine.decide(&r, at(0));
    assert_eq!(d.placements[0].creative, CreativeId::new(13));
    assert_eq!(d.placements[0].duration_s, 15);
    // Format: a banner fits no video.
    r.opportunity = Opportunity::Single {
        format: adloop::Format::Display,
        max_duration_s: 0,
    };
    assert_eq!(
        fate(&engine.decide(&r, at(0)), 1),
        Some(Fate::NoFittingCreative)
    );
    // A bad creative targeting expression is refused at publish with its field.
    let bad = campaign(
        3,
        1_000_000,
        vec![Creative::video(31, 15).targeting("device.type = ")],
        Rotation::Even,
    );
    let err = engine.publish(vec![bad]).unwrap_err().to_string();
    assert!(err.contains("creatives[0].targeting"), "{err}");
}

/// An OpenRTB request's market (alpha-3 `geo.country`) and language (`content.langb`, else
/// `device.language`) choose the localized variant.
#[test]
fn openrtb_country_and_language_choose_the_localized_variant() {
    let engine = Engine::builder().seed(5).build().unwrap();
    engine
        .publish(vec![campaign(
            1,
            9_000_000,
            vec![
                Creative::video(31, 30)
                    .markets(["DE", "AT"])
                    .languages(["de"]),
                Creative::video(32, 30).markets(["US"]).languages(["en"]),
                Creative::video(33, 30).markets(["AT"]).languages(["en"]),
            ],
            Rotation::Even,
        )])
        .unwrap();
    let path = format!(
        "{}/tests/fixtures/openrtb/localized.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let chosen = |json: &serde_json::Value| -> Vec<u64> {
        let rtb = engine.parse_openrtb(json.to_string().as_bytes()).unwrap();
        (0..20)
            .map(|i| {
                let mut r = rtb.imps[0].request.clone();
                r.id = r.id.wrapping_add(i);
                let d = engine.decide(&r, at(0));
                for p in &d.placements {
                    engine
                        .record(Event::Impression {
                            receipt: p.receipt,
                            time: at(0),
                        })
                        .unwrap();
                }
                d.placements.first().map_or(0, |p| p.creative.get())
            })
            .collect()
    };
    // Austria ("AUT"), content in German ("de-AT"): only the German cut fits.
    assert_eq!(chosen(&fixture), vec![31; 20]);
    // No content language: the device's English picks the Austrian English cut.
    let mut no_content_language = fixture.clone();
    no_content_language["app"]["content"]
        .as_object_mut()
        .unwrap()
        .remove("langb");
    assert_eq!(chosen(&no_content_language), vec![33; 20]);
    // The United States ("USA"), English device: the US cut.
    let mut us = no_content_language.clone();
    us["device"]["geo"]["country"] = "USA".into();
    assert_eq!(chosen(&us), vec![32; 20]);
    // French content in Austria: nothing fits, nothing is shown.
    let mut french = fixture.clone();
    french["app"]["content"]["langb"] = "fr-FR".into();
    assert_eq!(chosen(&french), vec![0; 20]);
}

#[test]
fn rotations_even_weighted_and_storyline() {
    let engine = Engine::builder().seed(2).build().unwrap();
    let three = |w: [u32; 3]| {
        (0..3)
            .map(|i| Creative::video(100 + i as u64, 15).weight(w[i]))
            .collect::<Vec<_>>()
    };
    engine
        .publish(vec![campaign(
            1,
            5_000_000,
            three([1, 1, 8]),
            Rotation::Weighted,
        )])
        .unwrap();
    let mut n = HashMap::new();
    for i in 0..2_000 {
        let d = engine.decide(&request(i, i, "US", "en"), at(0));
        *n.entry(d.placements[0].creative.get()).or_insert(0) += 1;
        engine
            .record(Event::Impression {
                receipt: d.placements[0].receipt,
                time: at(0),
            })
            .unwrap();
    }
    assert!(n[&102] > 1_450 && n[&102] < 1_750, "{n:?}");
    let report = engine.creative_report(CampaignId::new(1));
    assert_eq!(report.iter().map(|r| r.impressions).sum::<u64>(), 2_000);
    assert!((report[2].share - 0.8).abs() < 1e-9);

    // Sequential: each household sees 100, 101, 102, 100, … whatever the request id.
    engine
        .publish(vec![campaign(
            1,
            5_000_000,
            three([1, 1, 1]),
            Rotation::Sequential,
        )])
        .unwrap();
    for household in [7_001, 7_002] {
        let mut seen = Vec::new();
        for i in 0..4 {
            let d = engine.decide(
                &request(household * 10 + i, household, "US", "en"),
                at(i as i64),
            );
            seen.push(d.placements[0].creative.get());
            show(&engine, &d, at(i as i64));
        }
        assert_eq!(seen, vec![100, 101, 102, 100]);
    }
}

#[test]
fn optimized_rotation_learns_from_clicks_and_conversions() {
    let engine = Engine::builder().seed(3).build().unwrap();
    let variants = (0..3).map(|i| Creative::video(200 + i, 15)).collect();
    let rotation = Rotation::Optimized {
        goal: RotationGoal::Cvr,
        exploration: 0.1,
    };
    engine
        .publish(vec![campaign(1, 5_000_000, variants, rotation)])
        .unwrap();
    let mut conversion_id = 0;
    for round in 0..6i64 {
        for i in 0..400u64 {
            let household = round as u64 * 1_000 + i;
            let now = at(round * 240 * MIN);
            let d = engine.decide(&request(household, household, "US", "en"), now);
            let p = &d.placements[0];
            show(&engine, &d, now);
            engine
                .record(Event::Click {
                    impression: p.receipt.impression,
                    time: now,
                })
                .unwrap();
            // Variant 201 converts every other viewer, the others almost never.
            let converts = match p.creative.get() {
                201 => i % 2 == 0,
                _ => i % 50 == 0,
            };
            if converts {
                conversion_id += 1;
                engine
                    .record(Event::Conversion(Conversion {
                        id: ConversionId::new(conversion_id),
                        time: now + DurationMs::MINUTE,
                        user: UserId::new(household * 10),
                        household: HouseholdId::new(household),
                        advertiser: AdvertiserId::new(1),
                        kind: ConversionKind::Subscription,
                        value: Some(Money::from_micros(10_000_000)),
                        order_id: None,
                    }))
                    .unwrap();
            }
        }
        engine.tick(at(round * 240 * MIN + 180 * MIN));
    }
    let report = engine.creative_report(CampaignId::new(1));
    let best = &report[1];
    assert_eq!(best.creative, CreativeId::new(201));
    assert!(best.share > 0.8, "{report:?}");
    assert!(
        report.iter().all(|r| r.share >= 0.1 / 3.0 - 1e-6),
        "{report:?}"
    );
    assert!(best.impressions > report[0].impressions + report[2].impressions);
    assert!(best.cvr() > 0.4, "{report:?}");
    assert_eq!(best.clicks, best.impressions);
    assert!(best.attributed_value > Money::ZERO);
    // Every attributed conversion landed on some variant.
    let credited: f64 = report.iter().map(|r| r.conversions).sum();
    assert!((credited - conversion_id as f64).abs() < 1e-3, "{credited}");
    // Save and load keep the counts and shares.
    let back = Engine::builder()
        .seed(3)
        .load(&engine.save().unwrap())
        .unwrap();
    assert_eq!(back.creative_report(CampaignId::new(1)), report);
}

fn caps() -> AdLoadPolicy {
    AdLoadPolicy {
        max_ad_seconds_per_hour: Some(90),
        max_ad_seconds_per_session: Some(150),
        max_pods_per_hour: Some(3),
        max_per_campaign_per_stream: Some(2),
        ..AdLoadPolicy::default()
    }
}

fn pod_campaigns() -> Vec<Campaign> {
    (1..=6)
        .map(|id| {
            campaign(
                id,
                1_000_000 * id as i64,
                vec![
                    Creative::video(id * 10, 30),
                    Creative::video(id * 10 + 1, 15),
                ],
                Rotation::Even,
            )
        })
        .collect()
}

#[test]
fn ad_load_shortens_pods_then_stops_them() {
    let engine = Engine::builder()
        .seed(4)
        .ad_load(AdLoadPolicy {
            max_ad_seconds_per_hour: Some(90),
            ..AdLoadPolicy::default()
        })
        .build()
        .unwrap();
    engine.publish(pod_campaigns()).unwrap();
    let mut r = request(1, 9, "US", "en");
    r.opportunity = pod(4, 120);
    let d = engine.decide(&r, at(0));
    let seconds: u32 = d.placements.iter().map(|p| p.duration_s).sum();
    assert!(seconds <= 90 && seconds > 0, "{seconds}");
    show(&engine, &d, at(0));
    // What is left this hour bounds the next pod; then nothing until the hour slides.
    let left = 90 - seconds;
    r.id = 2;
    let d = engine.decide(&r, at(MIN));
    assert!(d.placements.iter().map(|p| p.duration_s).sum::<u32>() <= left);
    show(&engine, &d, at(MIN));
    let used: u32 = engine.ad_load().last_hour(r_who(&r), at(MIN)).0;
    if used + 15 > 90 {
        let d = engine.decide(&r, at(2 * MIN));
        assert!(d.is_empty());
        let trace = d.trace.unwrap();
        assert_eq!(trace.fate(CampaignId::new(6)), Some(Fate::AdLoadCapped));
    }
    assert!(!engine.decide(&r, at(70 * MIN)).is_empty());
}

fn r_who(r: &AdRequest) -> adloop::pacing::Identities {
    adloop::pacing::Identities {
        user: r.user,
        household: r.household,
    }
}

#[test]
fn pods_per_hour_session_seconds_and_stream_caps() {
    let engine = Engine::builder()
        .seed(5)
        .ad_load(AdLoadPolicy {
            max_pods_per_hour: Some(2),
            max_ad_seconds_per_session: Some(45),
            max_per_campaign_per_stream: Some(1),
            ..AdLoadPolicy::default()
        })
        .build()
        .unwrap();
    engine.publish(pod_campaigns()).unwrap();
    let mut r = request(1, 3, "US", "en");
    r.session = Some(77);
    r.stream = Some(500);
    r.opportunity = pod(1, 30);
    let d1 = engine.decide(&r, at(0));
    let first = d1.placements[0].campaign;
    show(&engine, &d1, at(0));
    // Per stream: the same campaign is not shown again in stream 500.
    r.id = 2;
    let d2 = engine.decide(&r, at(MIN));
    assert_eq!(
        d2.trace.as_ref().unwrap().fate(first),
        Some(Fate::FrequencyCapped)
    );
    assert_ne!(d2.placements[0].campaign, first);
    assert!(d2.placements[0].duration_s <= 45 - d1.placements[0].duration_s);
    show(&engine, &d2, at(MIN));
    // Two pods this hour: the third is refused, whatever the session.
    r.id = 3;
    r.session = Some(78);
    let d3 = engine.decide(&r, at(2 * MIN));
    assert!(d3.is_empty());
    // A new session an hour later starts afresh, and a new stream allows `first` again.
    r.id = 4;
    r.stream = Some(501);
    let d4 = engine.decide(&r, at(65 * MIN));
    assert!(!d4.is_empty());
    assert_eq!(
        d4.trace
            .as_ref()
            .unwrap()
            .fate(first)
            .map(|f| f != Fate::FrequencyCapped),
        Some(true)
    );
}

#[derive(Clone, Debug)]
struct Step {
    household: u64,
    gap_min: i64,
    session: Option<u64>,
    stream: u64,
    slots: u32,
    pod_s: u32,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u64..4,
        0i64..12,
        prop::option::of(0u64..3),
        0u64..3,
        1u32..=4,
        prop::sample::select(vec![15u32, 30, 45, 60, 120]),
    )
        .prop_map(|(household, gap_min, session, stream, slots, pod_s)| Step {
            household,
            gap_min,
            session,
            stream,
            slots,
            pod_s,
        })
}

/// (household, time ms, seconds, pod id, session key, stream, campaign) of a shown ad.
type Shown = (u64, i64, u32, u64, (Option<u64>, u64), u64, u64);

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Decide and record in sequence for a few households; the reference model recounts
    /// every shown ad and checks each cap after every decision.
    #[test]
    fn no_decision_violates_any_cap(steps in prop::collection::vec(step(), 1..60)) {
        let policy = caps();
        let engine = Engine::builder().seed(6).ad_load(policy).build().unwrap();
        engine.publish(pod_campaigns()).unwrap();
        // (household, time ms, seconds, pod id, session key, stream, campaign)
        let mut shown: Vec<Shown> = Vec::new();
        let mut now = 0i64;
        let mut last_seen: HashMap<u64, i64> = HashMap::new();
        let mut session_no: HashMap<u64, u64> = HashMap::new();
        let mut last_tag: HashMap<u64, Option<u64>> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            now += s.gap_min * MIN;
            let mut r = request(i as u64, s.household, "US", "en");
            r.session = s.session;
            r.stream = Some(s.stream);
            r.opportunity = pod(s.slots, s.pod_s);
            let d = engine.decide(&r, at(now));
            // Same campaign at most once per pod.
            let mut campaigns: Vec<u64> = d.placements.iter().map(|p| p.campaign.get()).collect();
            campaigns.sort_unstable();
            campaigns.dedup();
            prop_assert_eq!(campaigns.len(), d.placements.len());
            show(&engine, &d, at(now));
            // The reference's notion of a session: the same id as the last ad's (without
            // an id, no gap over 30 minutes); anything else starts a new one.
            let idle = last_seen.get(&s.household).is_none_or(|t| now - t > 30 * MIN);
            let continuing = last_tag.get(&s.household) == Some(&s.session)
                && (s.session.is_some() || !idle);
            if !d.placements.is_empty() {
                if !continuing {
                    *session_no.entry(s.household).or_insert(0) += 1;
                }
                last_seen.insert(s.household, now);
                last_tag.insert(s.household, s.session);
            }
            let session_key = (s.session, session_no.get(&s.household).copied().unwrap_or(0));
            for p in &d.placements {
                shown.push((s.household, now, p.duration_s, i as u64, session_key, s.stream, p.campaign.get()));
            }
            let h = s.household;
            // The store's hour: this ten-minute bucket (of absolute time) and the five before.
            let bucket = (T0 + now).div_euclid(10 * MIN);
            let in_hour = |t: i64| bucket - (T0 + t).div_euclid(10 * MIN) < 6;
            let hour: Vec<_> = shown.iter().filter(|x| x.0 == h && in_hour(x.1)).collect();
            let seconds: u32 = hour.iter().map(|x| x.2).sum();
            prop_assert!(seconds <= policy.max_ad_seconds_per_hour.unwrap(), "hour seconds {}", seconds);
            let mut pods: Vec<u64> = hour.iter().filter(|x| x.2 > 0).map(|x| x.3).collect();
            pods.dedup();
            prop_assert!(pods.len() as u32 <= policy.max_pods_per_hour.unwrap());
            let session: u32 = shown.iter().filter(|x| x.0 == h && x.4 == session_key).map(|x| x.2).sum();
            prop_assert!(session <= policy.max_ad_seconds_per_session.unwrap(), "session seconds {}", session);
            for p in &d.placements {
                // Within one stream (streams idle for 30 minutes restart).
                let n = shown
                    .iter()
                    .filter(|x| x.0 == h && x.5 == s.stream && x.6 == p.campaign.get() && now - x.1 <= 30 * MIN)
                    .count();
                prop_assert!(n as u32 <= policy.max_per_campaign_per_stream.unwrap(), "stream count {}", n);
            }
        }
    }
}
