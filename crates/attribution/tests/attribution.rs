//! Public-API tests: a nested-loop reference join, proptests of the streaming join against
//! it, the contract's edge cases, the lift simulation, and the concurrent service.

use adloop_attribution::*;
use adloop_core::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

fn imp(id: u64, t: i64, hh: u64, adv: u64, campaign: u64) -> Event {
    Event::Impression(Impression {
        id: ImpressionId(id),
        time: Timestamp::from_millis(t),
        user: UserId(hh * 10),
        household: HouseholdId(hh),
        advertiser: AdvertiserId(adv),
        campaign: CampaignId(campaign),
        creative: CreativeId(1),
        cost: Money::from_micros(10_000),
        ghost: false,
    })
}

fn click(imp: u64, t: i64) -> Event {
    Event::Click(Click {
        impression: ImpressionId(imp),
        time: Timestamp::from_millis(t),
    })
}

fn conv(id: u64, t: i64, hh: u64, adv: u64, order: Option<u64>) -> Event {
    Event::Conversion(Conversion {
        id: ConversionId(id),
        time: Timestamp::from_millis(t),
        user: UserId(hh * 10),
        household: HouseholdId(hh),
        advertiser: AdvertiserId(adv),
        kind: ConversionKind::Purchase,
        value: Some(Money::from_micros(1_000_000)),
        order_id: order.map(OrderId),
    })
}

// ---- the nested-loop reference ---------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Params {
    click_window: i64,
    view_window: i64,
    half_life: i64,
    max_click_delay: i64,
    by_user: bool,
    lateness: i64,
}

impl Params {
    fn config(&self, model: Model) -> Config {
        Config::default()
            .click_window(DurationMs::from_millis(self.click_window))
            .view_window(DurationMs::from_millis(self.view_window))
            .half_life(DurationMs::from_millis(self.half_life))
            .max_click_delay(DurationMs::from_millis(self.max_click_delay))
            .allowed_lateness(DurationMs::from_millis(self.lateness))
            .join_key(if self.by_user {
                JoinKey::User
            } else {
                JoinKey::Household
            })
            .model(model)
    }
}

/// The crate's nested-loop reference (`reference_attribution`), in the shape the tests
/// compare.
type RefResult = ReferenceResult;

fn reference(events: &[Event], p: Params, model: Model) -> RefResult {
    reference_attribution(events, &p.config(model))
}

fn summarize(attributions: &[Attribution], orphan_clicks: u64) -> RefResult {
    let mut conversions = BTreeMap::new();
    for a in attributions {
        let mut credits = BTreeMap::new();
        for c in &a.credits {
            *credits.entry(c.campaign.0).or_default() += c.credit;
        }
        conversions.insert(a.conversion.id.0, (a.outcome, credits));
    }
    RefResult {
        conversions,
        orphan_clicks,
    }
}

fn assert_same(got: &RefResult, want: &RefResult) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.orphan_clicks, want.orphan_clicks);
    prop_assert_eq!(got.conversions.len(), want.conversions.len());
    for (id, (outcome, credits)) in &want.conversions {
        let (g_outcome, g_credits) = &got.conversions[id];
        prop_assert_eq!(g_outcome, outcome, "conversion {}", id);
        prop_assert_eq!(
            g_credits.keys().collect::<Vec<_>>(),
            credits.keys().collect::<Vec<_>>(),
            "conversion {}",
            id
        );
        for (c, x) in credits {
            prop_assert!(
                (g_credits[c] - x).abs() < 1e-9,
                "conversion {} campaign {}",
                id,
                c
            );
        }
    }
    Ok(())
}

/// Events on an hourly grid (so window edges and equal times are common), unique
/// impression ids, some clicks on unknown impressions, some repeated order ids.
/// Advertiser and campaign ids as generated (small: the id index's dense array) or spread
/// over the 64-bit range (its hashed table), keeping distinct ids distinct.
fn wide_ids(wide: bool) -> impl Fn(u64) -> u64 {
    move |x| {
        if wide {
            x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 1 << 63
        } else {
            x
        }
    }
}

fn arb_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (
        0u8..10,
        0i64..(6 * 24),
        0u64..4,
        0u64..2,
        0u64..4,
        0u64..14,
        0u64..4,
        0i64..3,
    );
    (prop::collection::vec(one, 1..60), any::<bool>()).prop_map(|(raw, wide)| {
        let w = wide_ids(wide);
        let mut events = Vec::new();
        let mut next_imp = 0u64;
        for (n, (kind, hour, hh, adv, campaign, target, order, jitter)) in
            raw.into_iter().enumerate()
        {
            // Mostly on the hour, sometimes a millisecond off to probe the edges.
            let t = hour * H + (jitter - 1).max(0) * if hour % 2 == 0 { 1 } else { -1 };
            match kind {
                0..=4 => {
                    events.push(imp(next_imp, t, hh, w(adv), w(adv * 10 + campaign)));
                    next_imp += 1;
                }
                5..=6 => events.push(click(target, t)),
                _ => events.push(conv(n as u64, t, hh, w(adv), (order < 2).then_some(order))),
            }
        }
        events
    })
}

fn params(by_user: bool) -> Params {
    Params {
        click_window: 2 * D,
        view_window: D,
        half_life: D,
        max_click_delay: 12 * H,
        by_user,
        lateness: 3 * H,
    }
}

/// Arrival order within the allowed lateness (3 h): each event arrives at its time plus a
/// jitter of at most 3 h, so no event is ever behind the watermark.
fn shuffle_within_lateness(events: &[Event], seed: u64) -> Vec<Event> {
    shuffle_within(events, seed, 3 * H)
}

/// Arrival order: each event arrives at its time plus a jitter of at most `lateness`.
fn shuffle_within(events: &[Event], seed: u64, lateness: i64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut keyed: Vec<(i64, Event)> = events
        .iter()
        .map(|e| (e.time().as_millis() + rng.random_range(0..=lateness), *e))
        .collect();
    keyed.sort_by_key(|k| k.0);
    keyed.into_iter().map(|k| k.1).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn streaming_join_equals_the_nested_loop_reference(
        events in arb_events(),
        seed in any::<u64>(),
        by_user in any::<bool>(),
    ) {
        let p = params(by_user);
        let arrival = shuffle_within_lateness(&events, seed);
        for model in Model::ALL {
            let want = reference(&events, p, model);
            let mut a = Attributor::new(p.config(model)).unwrap();
            for (k, e) in arrival.iter().enumerate() {
                prop_assert_eq!(a.ingest(*e), Ingest::Accepted);
                if k % 7 == 3 {
                    // Advancing to the latest time seen never makes a later arrival late.
                    a.advance(Timestamp::from_millis(a.watermark().as_millis().max(0)));
                }
            }
            a.finish();
            let got = summarize(&a.take_attributions(), a.stats().orphan_clicks);
            assert_same(&got, &want)?;
            // Batch gives the same answer as the stream.
            let batch = attribute_batch(p.config(model), events.clone()).unwrap();
            let b = summarize(&batch.attributions, batch.report.stats.orphan_clicks);
            assert_same(&b, &want)?;
            // Report columns add up to the per-conversion credits.
            let total: f64 = batch.report.campaigns.iter().map(|c| c.counts.attributed_conversions(model)).sum();
            let want_total = want.conversions.values().filter(|c| c.0 == Outcome::Attributed).count() as f64;
            prop_assert!((total - want_total).abs() < 1e-9);
        }
    }
}

const M: i64 = 60_000;

/// Long streams (two days) against short windows (1 h views, 3 h clicks, 20 min
/// lateness): the touch store seals a chunk every 7.5 minutes of views and drops chunks
/// all along, keys and impression-index entries go stale and are reused, and both tables
/// rebuild several times, so eviction boundaries, chunk drops, stale-bucket reuse and
/// table rebuilds all run under the reference. Equal times are common (minute grid).
fn arb_long_events() -> impl Strategy<Value = Vec<Event>> {
    let one = (
        0u8..20,
        0u64..30,
        0u64..3,
        0u64..3,
        0u64..40,
        0u64..3,
        0i64..3,
    );
    (prop::collection::vec(one, 150..500), 0i64..3, any::<bool>()).prop_map(
        |(raw, stretch, wide)| {
            let w = wide_ids(wide);
            let mut events = Vec::new();
            let mut next_imp = 0u64;
            let mut minute = 0i64;
            for (n, (kind, hh, adv, campaign, back, order, jitter)) in raw.into_iter().enumerate() {
                // Time moves forward 0-10 minutes per event (two days over ~400 events).
                minute += (n as i64 * 7 + stretch) % 11;
                let t = minute * M + (jitter - 1);
                match kind {
                    0..=12 => {
                        events.push(imp(next_imp, t, hh, w(adv), w(adv * 10 + campaign)));
                        next_imp += 1;
                    }
                    13..=16 => {
                        // Mostly a recent impression; sometimes one long gone or unknown.
                        let target = next_imp.saturating_sub(1 + back);
                        events.push(click(target, t + (back as i64 % 5) * M));
                    }
                    _ => events.push(conv(
                        n as u64,
                        t,
                        hh,
                        w(adv),
                        (order < 1).then_some(n as u64 % 7),
                    )),
                }
            }
            events
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn long_streams_with_eviction_equal_the_reference(
        events in arb_long_events(),
        seed in any::<u64>(),
        by_user in any::<bool>(),
        hint in (0usize..80, 0usize..400),
    ) {
        let p = Params {
            click_window: 3 * H,
            view_window: H,
            half_life: H,
            max_click_delay: 45 * M,
            by_user,
            lateness: 20 * M,
        };
        let arrival = shuffle_within(&events, seed, p.lateness);
        for model in Model::ALL {
            let want = reference(&events, p, model);
            // Event by event, with a save/load round trip halfway.
            let mut a = Attributor::new(p.config(model)).unwrap();
            let mut out = Vec::new();
            for (k, e) in arrival.iter().enumerate() {
                prop_assert_eq!(a.ingest(*e), Ingest::Accepted);
                if k == arrival.len() / 2 {
                    let bytes = a.to_bytes().unwrap();
                    a.drain_attributions(&mut out);
                    a = Attributor::from_bytes(p.config(model), &bytes, 1 << 24).unwrap();
                    a.take_attributions();
                }
            }
            a.finish();
            a.drain_attributions(&mut out);
            let got = summarize(&out, a.stats().orphan_clicks);
            assert_same(&got, &want)?;
            prop_assert!(a.stats().evicted_touches > 0);
            // In groups (ingest_all): the same answer.
            let mut b = Attributor::new(p.config(model)).unwrap();
            prop_assert_eq!(b.ingest_all(arrival.iter().copied()), 0);
            b.finish();
            let got = summarize(&b.take_attributions(), b.stats().orphan_clicks);
            assert_same(&got, &want)?;
            prop_assert_eq!(a.stats(), b.stats());
            // With a capacity hint (from none to several times the live keys and
            // impressions, so floors meet growth, turnover and reuse): the same answer.
            let hinted = p
                .config(model)
                .expected_keys(hint.0)
                .expected_impressions(hint.1);
            let mut c = Attributor::new(hinted).unwrap();
            prop_assert_eq!(c.ingest_all(arrival.iter().copied()), 0);
            c.finish();
            let got = summarize(&c.take_attributions(), c.stats().orphan_clicks);
            assert_same(&got, &want)?;
            prop_assert_eq!(a.stats(), c.stats());
        }
    }
}

// ---- the contract's edge cases ---------------------------------------------------------

/// Streams `events` in time order (stable) and finishes.
fn run(config: Config, mut events: Vec<Event>) -> (Vec<Attribution>, Stats) {
    events.sort_by_key(Event::time);
    let mut a = Attributor::new(config).unwrap();
    for e in events {
        a.ingest(e);
    }
    a.finish();
    (a.take_attributions(), a.stats().clone())
}

fn credited(a: &Attribution) -> Vec<(u64, f64)> {
    a.credits.iter().map(|c| (c.campaign.0, c.credit)).collect()
}

#[test]
fn window_edges_are_inclusive() {
    let c = 10 * D;
    let (out, _) = run(
        Config::default(),
        vec![
            imp(1, c - 7 * D - 1, 1, 1, 1), // clicked 1 ms too early
            click(1, c - 7 * D - 1),
            conv(1, c, 1, 1, None),
            imp(2, c - 7 * D, 2, 1, 2), // clicked exactly 7 days before
            click(2, c - 7 * D),
            conv(2, c, 2, 1, None),
            imp(3, c - D, 3, 1, 3), // viewed exactly 1 day before
            conv(3, c, 3, 1, None),
            imp(4, c - D - 1, 4, 1, 4), // viewed 1 ms too early
            conv(4, c, 4, 1, None),
            imp(5, c, 5, 1, 5), // at the conversion's own time
            conv(5, c, 5, 1, None),
            imp(6, c + 1, 6, 1, 6), // after the conversion
            conv(6, c, 6, 1, None),
        ],
    );
    let by_id: BTreeMap<u64, &Attribution> = out.iter().map(|a| (a.conversion.id.0, a)).collect();
    assert_eq!(by_id[&1].outcome, Outcome::Unattributed);
    assert_eq!(credited(by_id[&2]), vec![(2, 1.0)]);
    assert_eq!(credited(by_id[&3]), vec![(3, 1.0)]);
    assert_eq!(by_id[&4].outcome, Outcome::Unattributed);
    assert_eq!(credited(by_id[&5]), vec![(5, 1.0)]);
    assert_eq!(by_id[&6].outcome, Outcome::Unattributed);
}

#[test]
fn click_beats_a_later_view_and_other_advertisers_are_ignored() {
    let (out, _) = run(
        Config::default(),
        vec![
            imp(1, 0, 1, 1, 10),
            click(1, 60_000),
            imp(2, 2 * H, 1, 1, 20),
            imp(3, 3 * H, 1, 2, 30), // another advertiser, later still
            conv(1, 4 * H, 1, 1, None),
        ],
    );
    assert_eq!(credited(&out[0]), vec![(10, 1.0)]);
    let (out, _) = run(
        Config::default().model(Model::FirstTouch),
        vec![
            imp(1, 0, 1, 1, 10),
            imp(2, H, 1, 1, 20),
            click(2, 2 * H),
            conv(1, 4 * H, 1, 1, None),
        ],
    );
    assert_eq!(
        credited(&out[0]),
        vec![(20, 1.0)],
        "first touch also prefers clicks"
    );
}

#[test]
fn dedup_keeps_the_earliest_then_lowest_id() {
    let (out, stats) = run(
        Config::default(),
        vec![
            imp(1, 0, 1, 1, 10),
            conv(9, 2 * H, 1, 1, Some(77)),
            conv(8, 2 * H, 1, 1, Some(77)), // same time, lower id: this one counts
            conv(5, 3 * H, 1, 1, Some(77)), // later: duplicate
            conv(6, 3 * H, 1, 2, Some(77)), // other advertiser: not a duplicate
            conv(7, 3 * H, 1, 1, None),     // no order id: never a duplicate
            conv(4, 3 * H, 1, 1, None),
        ],
    );
    let by_id: BTreeMap<u64, Outcome> =
        out.iter().map(|a| (a.conversion.id.0, a.outcome)).collect();
    assert_eq!(by_id[&8], Outcome::Attributed);
    assert_eq!(by_id[&9], Outcome::Duplicate);
    assert_eq!(by_id[&5], Outcome::Duplicate);
    assert_eq!(by_id[&6], Outcome::Unattributed);
    assert_eq!(by_id[&7], Outcome::Attributed);
    assert_eq!(by_id[&4], Outcome::Attributed);
    assert_eq!(stats.duplicate_conversions, 2);
}

#[test]
fn late_events_are_counted_logged_and_not_joined() {
    let mut a = Attributor::new(Config::default()).unwrap();
    assert_eq!(a.ingest(imp(1, 10 * H, 1, 1, 10)), Ingest::Accepted);
    // Within the hour of lateness: fine.
    assert_eq!(a.ingest(conv(1, 9 * H + 1, 1, 1, None)), Ingest::Accepted);
    assert_eq!(a.ingest(imp(2, 9 * H, 1, 1, 20)), Ingest::Accepted);
    // More than an hour behind the latest event: late.
    assert_eq!(a.ingest(imp(3, 9 * H - 1, 1, 1, 30)), Ingest::Late);
    assert_eq!(a.ingest(conv(2, 8 * H, 1, 1, None)), Ingest::Late);
    assert_eq!(a.ingest(click(1, 0)), Ingest::Late);
    a.advance(Timestamp::from_millis(20 * H));
    // The watermark now is 19 h: conversion 1 is final, credited to the 9 h view.
    let out = a.take_attributions();
    assert_eq!(out.len(), 1);
    assert_eq!(credited(&out[0]), vec![(20, 1.0)]);
    let s = a.stats();
    assert_eq!(
        (s.late_impressions, s.late_conversions, s.late_clicks),
        (1, 1, 1)
    );
    let late = a.drain_late_events();
    assert_eq!(late.len(), 3);
    assert_eq!(late[1], conv(2, 8 * H, 1, 1, None));
    // After advance(now), an event older than now − lateness is late too.
    assert_eq!(a.ingest(conv(3, 19 * H - 1, 1, 1, None)), Ingest::Late);
}

#[test]
fn conversions_wait_for_the_watermark() {
    let mut a = Attributor::new(Config::default()).unwrap();
    a.ingest(conv(1, 5 * H, 1, 1, None));
    a.ingest(imp(1, 5 * H + 30 * 60_000, 1, 1, 10));
    assert_eq!(a.pending_conversions(), 1);
    // A touch at the conversion's time may still arrive: not final at watermark == time.
    a.advance(Timestamp::from_millis(6 * H));
    assert_eq!(a.pending_conversions(), 1);
    a.ingest(imp(2, 5 * H, 1, 1, 20));
    a.advance(Timestamp::from_millis(6 * H + 1));
    assert_eq!(a.pending_conversions(), 0);
    assert_eq!(credited(&a.take_attributions()[0]), vec![(20, 1.0)]);
}

#[test]
fn orphan_clicks_are_counted() {
    let (_, stats) = run(
        Config::default(),
        vec![
            imp(1, 10 * H, 1, 1, 10),
            click(99, 10 * H),        // unknown impression
            click(1, 10 * H - 1),     // before its impression
            click(1, 10 * H + D + 1), // after the max click delay
            click(1, 10 * H + D),     // exactly at the delay: fine
        ],
    );
    assert_eq!(stats.orphan_clicks, 3);
    assert_eq!(stats.clicks, 4);
}

#[test]
fn eviction_bounds_memory_without_changing_answers() {
    let mut a = Attributor::new(Config::default()).unwrap();
    let mut id = 0;
    for day in 0..40 {
        for hh in 0..500u64 {
            a.ingest(imp(id, day * D + hh as i64 * 1_000, hh, 1, 10 + hh % 3));
            if hh % 10 == 0 {
                a.ingest(click(id, day * D + hh as i64 * 1_000 + 5_000));
            }
            id += 1;
        }
    }
    let m = a.memory();
    // Views live ~1 day (plus a chunk span), clicks 7 days: far fewer than the 20,000
    // impressions and 2,000 clicks recorded.
    assert!(m.touches < 2 * 500 + 8 * 50 + 1_000, "{m:?}");
    assert!(a.stats().evicted_touches > 15_000);
    assert!(m.bytes_per_touch() < 200.0, "{m:?}");
    // A conversion still sees the click from 6 days ago but not the view from 2 days ago.
    a.ingest(conv(1, 39 * D + 100_000, 0, 1, None));
    a.finish();
    let out = a.take_attributions();
    assert_eq!(out[0].outcome, Outcome::Attributed);
    // Household 0's latest click is day 39's, at 5 s.
    assert_eq!(credited(&out[0]), vec![(10, 1.0)]);
}

#[test]
fn equal_times_order_by_impression_then_view_before_click_whatever_the_arrival() {
    // Arrival: the click first (it waits for its impression), then the impressions in
    // descending id order; all three touches at the same millisecond.
    let t = 10 * H;
    let events = vec![
        click(3, t),
        imp(5, t, 1, 1, 50),
        imp(3, t, 1, 1, 30),
        conv(1, t + H, 1, 1, None),
    ];
    let run_model = |model: Model| {
        let mut a = Attributor::new(Config::default().model(model)).unwrap();
        for e in &events {
            a.ingest(*e);
        }
        a.finish();
        credited(&a.take_attributions()[0])
    };
    // Touch order: (t, 3, view), (t, 3, click), (t, 5, view).
    assert_eq!(run_model(Model::LastTouch), vec![(30, 1.0)]);
    assert_eq!(run_model(Model::FirstTouch), vec![(30, 1.0)]);
    let pb = run_model(Model::PositionBased);
    assert_eq!(pb.len(), 2);
    assert!(
        (pb[0].1 - 0.6).abs() < 1e-12 && (pb[1].1 - 0.4).abs() < 1e-12,
        "{pb:?}"
    );
}

#[test]
fn per_key_touch_limit_keeps_the_newest_and_counts_the_rest() {
    let config = Config::default()
        .model(Model::Linear)
        .max_touches_per_key(3);
    let mut events: Vec<Event> = (0..6)
        .map(|i| imp(i, H + i as i64 * M, 1, 1, 10 + i))
        .collect();
    // Another key of the same identity (another advertiser) is not affected.
    events.push(imp(100, H, 1, 2, 99));
    events.push(conv(1, 2 * H, 1, 1, None));
    events.push(conv(2, 2 * H, 1, 2, None));
    let (out, stats) = run(config, events);
    let mut got = credited(&out[0]);
    got.sort_by_key(|c| c.0);
    assert_eq!(
        got.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![13, 14, 15]
    );
    assert_eq!(credited(&out[1]), vec![(99, 1.0)]);
    assert_eq!(stats.dropped_touches, 3);
}

#[test]
fn finish_finalizes_the_last_millisecond_and_extreme_click_delays_are_orphans() {
    let mut a = Attributor::new(Config::default()).unwrap();
    a.ingest(imp(1, -1, 1, 1, 10));
    a.ingest(click(1, i64::MAX)); // 292 million years after its impression
    a.ingest(conv(1, i64::MAX, 1, 1, None));
    a.ingest(click(77, i64::MAX)); // its impression never comes
    a.finish();
    assert_eq!(a.pending_conversions(), 0);
    let out = a.take_attributions();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].outcome, Outcome::Unattributed);
    assert_eq!(a.stats().orphan_clicks, 2);
}

#[test]
fn ghost_impressions_are_not_touches() {
    let mut g = imp(1, 0, 1, 1, 10);
    if let Event::Impression(i) = &mut g {
        i.ghost = true;
    }
    let (out, stats) = run(
        Config::default(),
        vec![g, click(1, 1_000), conv(1, H, 1, 1, None)],
    );
    assert_eq!(out[0].outcome, Outcome::Unattributed);
    assert_eq!(stats.orphan_clicks, 1);
}

#[test]
fn resolver_joins_user_to_person() {
    let mut map = IdentityMap::new();
    // Users 10 (household 1) and 20 (household 2) are one person.
    map.insert_user(UserId(10), 7).unwrap();
    map.insert_user(UserId(20), 7).unwrap();
    assert!(map.insert_user(UserId(30), 1 << 63).is_err());
    let config = Config::default().join_key(JoinKey::Resolver(Arc::new(map)));
    let (out, _) = run(config, vec![imp(1, 0, 1, 1, 10), conv(1, H, 2, 1, None)]);
    assert_eq!(credited(&out[0]), vec![(10, 1.0)]);
    let (out, _) = run(
        Config::default(),
        vec![imp(1, 0, 1, 1, 10), conv(1, H, 2, 1, None)],
    );
    assert_eq!(out[0].outcome, Outcome::Unattributed);
}

#[test]
fn reports_have_cpa_roas_and_days() {
    let batch = attribute_batch(
        Config::default(),
        vec![
            imp(1, 0, 1, 1, 10),
            imp(2, D + 1, 2, 1, 10),
            conv(1, D + 2, 2, 1, None),
        ],
    )
    .unwrap();
    let c = &batch.report.campaigns[0].counts;
    assert_eq!(c.impressions, 2);
    assert_eq!(c.spend, Money::from_micros(20_000));
    assert_eq!(c.cpa(Model::LastTouch), Some(Money::from_micros(20_000)));
    assert_eq!(c.roas(Model::Linear), Some(50.0));
    assert_eq!(batch.report.days.len(), 2);
    assert_eq!(batch.report.days[1].counts.touched_conversions, 1);
    assert!(
        Config::default()
            .half_life(DurationMs::ZERO)
            .validate()
            .is_err()
    );
    // A capacity hint past 2^26 is refused before anything is allocated.
    assert!(
        Config::default()
            .expected_keys((1 << 26) + 1)
            .validate()
            .is_err()
    );
    assert!(Attributor::new(Config::default().expected_impressions(1 << 27)).is_err());
    assert!(Config::default().expected_keys(1 << 26).validate().is_ok());
    assert!("nope".parse::<Model>().is_err());
    assert_eq!("time-decay".parse::<Model>().unwrap(), Model::TimeDecay);
}

// ---- lift ------------------------------------------------------------------------------

/// One seeded experiment: `n` households, holdout `h`, control rate `base`, true lift
/// `lift`; returns the measured report.
fn simulate_lift(seed: u64, n: u64, h: f64, base: f64, lift: f64) -> LiftReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut a = Attributor::new(Config::default().holdout_salt(seed)).unwrap();
    let campaign = CampaignId(5);
    a.set_holdout(campaign, h).unwrap();
    let mut events = Vec::new();
    for hh in 0..n {
        let t = (hh as i64) * 1_000;
        let group = a.holdout_group(UserId(hh * 10), HouseholdId(hh), campaign);
        let Event::Impression(mut i) = imp(hh, t, hh, 1, 5) else {
            unreachable!()
        };
        i.ghost = group == Group::Control;
        events.push(Event::Impression(i));
        let p = if group == Group::Control {
            base
        } else {
            base * (1.0 + lift)
        };
        if rng.random::<f64>() < p {
            events.push(conv(hh, t + H, hh, 1, None));
        }
    }
    events.sort_by_key(Event::time);
    for e in events {
        a.ingest(e);
    }
    a.finish();
    a.lift(campaign).unwrap()
}

#[test]
fn lift_interval_covers_the_true_effect() {
    let truth = 0.3;
    let mut covered = 0;
    for seed in 0..100 {
        let r = simulate_lift(seed, 3_000, 0.3, 0.10, truth);
        let l = r.lift().unwrap();
        if l.low <= truth && truth <= l.high {
            covered += 1;
        }
        assert!(r.control.identities > 700 && r.treatment.identities > 1_800);
    }
    assert!(covered >= 90, "covered {covered}/100");
}

#[test]
fn lift_report_has_increments_and_iroas() {
    let r = simulate_lift(1, 3_000, 0.5, 0.10, 0.5);
    assert!(r.incremental_conversions().unwrap() > 0.0);
    assert!(r.iroas().unwrap() > 0.0);
    assert_eq!(r.arm_conflicts, 0);
}

// ---- the concurrent service ------------------------------------------------------------

fn workload(seed: u64, n: usize) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut t = D;
    for k in 0..n as u64 {
        t += rng.random_range(0..20_000);
        let hh = rng.random_range(0..200u64);
        match rng.random_range(0..20) {
            0 => out.push(conv(k, t, hh, 1, Some(rng.random_range(0..50)))),
            1..=2 if k > 0 => out.push(click(rng.random_range(0..k), t)),
            _ => out.push(imp(k, t, hh, 1, 10 + hh % 4)),
        }
    }
    out
}

#[test]
fn service_records_from_many_threads_and_loses_nothing() {
    let events = workload(3, 20_000);
    let service = Arc::new(
        AttributionService::new(
            Config::default(),
            ServiceConfig {
                queues: 2,
                queue_capacity: 256,
                ..ServiceConfig::default()
            },
        )
        .unwrap(),
    );
    let threads = 4;
    let chunk = events.len().div_ceil(threads);
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let handles: Vec<_> = events
        .chunks(chunk)
        .map(|part| {
            let part = part.to_vec();
            let service = Arc::clone(&service);
            let refused = Arc::clone(&refused);
            std::thread::spawn(move || {
                for e in part {
                    let mut e = e;
                    loop {
                        match service.record(e) {
                            Ok(()) => break,
                            Err(adloop_attribution::Error::QueueFull { event, .. }) => {
                                // Back-pressure: the event came back; drain and retry.
                                refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                e = *event;
                                service.tick(Timestamp::EPOCH);
                            }
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    service.finish();
    let s = service.stats();
    let late = s.late_impressions + s.late_clicks + s.late_conversions;
    assert_eq!(
        s.impressions + s.clicks + s.conversions + late,
        events.len() as u64,
        "every recorded event reached the join"
    );
    let (recorded, refused_count) = service.recorded_and_refused();
    assert_eq!(recorded, events.len() as u64);
    assert_eq!(
        refused_count,
        refused.load(std::sync::atomic::Ordering::Relaxed)
    );
    // Feedback is published and readable without a lock.
    let r = service.feedback(CampaignId(10));
    assert!(r.impressions > 0);
}

#[test]
fn service_matches_the_attributor_and_round_trips_its_state() {
    let events = workload(7, 6_000);
    let service = AttributionService::new(Config::default(), ServiceConfig::default()).unwrap();
    let (first, second) = events.split_at(3_000);
    for e in first {
        service.record(*e).unwrap();
    }
    service.tick(first.last().unwrap().time());
    let bytes = service.to_bytes().unwrap();
    let restored = AttributionService::from_bytes(
        Config::default(),
        ServiceConfig::default(),
        &bytes,
        1 << 26,
    )
    .unwrap();
    for s in [&service, &restored] {
        for e in second {
            s.record(*e).unwrap();
        }
        s.finish();
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    service.drain_attributions(&mut a);
    restored.drain_attributions(&mut b);
    let batch = attribute_batch(Config::default(), events.clone()).unwrap();
    assert_eq!(a, batch.attributions);
    assert_eq!(b, batch.attributions);
    assert_eq!(service.report().campaigns, batch.report.campaigns);
    // Corrupt or truncated state is an error, never a panic.
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(
        AttributionService::from_bytes(Config::default(), ServiceConfig::default(), &bad, 1 << 26)
            .is_err()
    );
    assert!(
        AttributionService::from_bytes(
            Config::default(),
            ServiceConfig::default(),
            &bytes[..bytes.len() / 2],
            1 << 26
        )
        .is_err()
    );
    // Holdout assignment is lock-free and stable.
    service.set_holdout(CampaignId(10), 0.2).unwrap();
    let g = service.holdout_group(UserId(1), HouseholdId(1), CampaignId(10));
    assert_eq!(g, holdout(1, CampaignId(10), 0.2, 0));
    assert!(service.set_holdout(CampaignId(10), 1.5).is_err());
}

#[test]
fn privatized_report_suppresses_small_cells() {
    let batch = attribute_batch(Config::default(), workload(9, 5_000)).unwrap();
    let policy = PrivacyPolicy {
        min_count: 50,
        epsilon: 0.5,
        seed: 1,
        value_sensitivity: Money::from_units(1).unwrap(),
    };
    let p = batch.report.privatize(&policy).unwrap();
    for (row, truth) in p.campaigns.iter().zip(&batch.report.campaigns) {
        assert_eq!(
            row.conversions.is_some(),
            truth.counts.touched_conversions >= 50
        );
        assert_eq!(row.impressions.is_some(), truth.counts.impressions >= 50);
    }
    assert_eq!(p, batch.report.privatize(&policy).unwrap());
}
