//! Attribution: the streaming join against a nested-loop reference on arbitrary event
//! sequences, and the join's persisted state from arbitrary bytes.
//!
//! The first input byte picks the mode:
//! - **differential** (most inputs): events on an hourly grid (so window edges and equal
//!   times are common) arrive in an arbitrary order, with arbitrary `advance` calls and a
//!   save / restore through [`Attributor::to_bytes`] in the middle. Every event the
//!   attributor accepts (is not late for) goes to a nested-loop reference written from
//!   the documented semantics (windows inclusive, clicks beat views, dedup by order id,
//!   five models); the finalized attributions, the orphan-click count and the late
//!   counts must agree, and [`attribute_batch`] on the accepted events must agree too.
//! - **chaos**: arbitrary times (extremes included), repeated ids, ghosts, holdouts,
//!   tiny limits and odd windows: no panic, every accepted conversion finalized exactly
//!   once, credits in `(0, 1]` summing to 1, reports and lift computable.
//! - **state**: arbitrary bytes, and arbitrary payloads sealed in a valid frame, through
//!   [`Attributor::from_bytes`]: an error or a working attributor, never a panic.

use adloop_attribution::{
    Attribution, Attributor, Click, Config, Conversion, ConversionKind, Event, Impression, Ingest,
    JoinKey, Model, OrderId, Outcome, attribute_batch, reference_attribution,
};
use adloop_core::{
    AdvertiserId, CampaignId, ConversionId, CreativeId, DurationMs, HouseholdId, ImpressionId,
    Money, Timestamp, UserId, codec,
};
use arbitrary::{Result, Unstructured};
use std::collections::BTreeMap;

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let u = &mut Unstructured::new(rest);
    let _ = match mode % 8 {
        0 => chaos(u),
        1 => state(rest),
        _ => differential(u),
    };
}

const H: i64 = 3_600_000;
/// A fixed origin well inside the `i64` range.
const T0: i64 = 1_700_000_000_000;

fn model(u: &mut Unstructured<'_>) -> Result<Model> {
    Ok(*u.choose(&Model::ALL)?)
}

#[derive(Clone, Copy, Debug)]
struct Params {
    click_window: i64,
    view_window: i64,
    half_life: i64,
    max_click_delay: i64,
    lateness: i64,
    by_user: bool,
    model: Model,
}

impl Params {
    fn config(&self) -> Config {
        Config::default()
            .click_window(DurationMs::from_millis(self.click_window))
            .view_window(DurationMs::from_millis(self.view_window))
            .half_life(DurationMs::from_millis(self.half_life))
            .max_click_delay(DurationMs::from_millis(self.max_click_delay))
            .allowed_lateness(DurationMs::from_millis(self.lateness))
            // Longer than any stream here, so dedup never forgets.
            .dedup_window(DurationMs::from_days(400))
            .join_key(if self.by_user {
                JoinKey::User
            } else {
                JoinKey::Household
            })
            .model(self.model)
    }
}

fn hours(u: &mut Unstructured<'_>, max: i64) -> Result<i64> {
    Ok(u.int_in_range(0..=max)? * H)
}

/// Events on an hourly grid over ten days, sometimes a millisecond off; unique
/// impression and conversion ids; clicks on known and unknown impressions.
fn grid_events(u: &mut Unstructured<'_>) -> Result<Vec<Event>> {
    let n = u.int_in_range(0..=48)?;
    let mut events = Vec::with_capacity(n);
    let mut next_imp = 0u64;
    for k in 0..n {
        let t = T0 + hours(u, 240)? + i64::from(u.int_in_range(-1i8..=1)?);
        let hh = u.int_in_range(0..=3)?;
        let user = UserId(hh * 10 + u.int_in_range(0..=1)?);
        let adv = u.int_in_range(0..=1)?;
        events.push(match u.int_in_range(0u8..=9)? {
            0..=4 => {
                next_imp += 1;
                Event::Impression(Impression {
                    id: ImpressionId(next_imp),
                    time: Timestamp::from_millis(t),
                    user,
                    household: HouseholdId(hh),
                    advertiser: AdvertiserId(adv),
                    campaign: CampaignId(adv * 10 + u.int_in_range(0..=3)?),
                    creative: CreativeId(1),
                    cost: Money::from_micros(10_000),
                    ghost: u.ratio(1u8, 12)?,
                })
            }
            5..=6 => Event::Click(Click {
                impression: ImpressionId(u.int_in_range(0..=next_imp + 2)?),
                time: Timestamp::from_millis(t),
            }),
            _ => Event::Conversion(Conversion {
                id: ConversionId(k as u64),
                time: Timestamp::from_millis(t),
                user,
                household: HouseholdId(hh),
                advertiser: AdvertiserId(adv),
                kind: ConversionKind::Purchase,
                value: Some(Money::from_micros(1_000_000)),
                order_id: if u.ratio(1u8, 3)? {
                    Some(OrderId(u.int_in_range(0..=2)?))
                } else {
                    None
                },
            }),
        });
    }
    Ok(events)
}

// ---- the nested-loop reference (the crate's) ---------------------------------------------

/// conversion id → (outcome, campaign → credit)
type Conversions = BTreeMap<u64, (Outcome, BTreeMap<u64, f64>)>;

fn reference(events: &[Event], p: &Params) -> (Conversions, u64) {
    let r = reference_attribution(events, &p.config());
    (r.conversions, r.orphan_clicks)
}

fn summarize(attributions: &[Attribution]) -> Conversions {
    let mut conversions = BTreeMap::new();
    for a in attributions {
        let mut credits = BTreeMap::new();
        for c in &a.credits {
            *credits.entry(c.campaign.0).or_default() += c.credit;
        }
        let old = conversions.insert(a.conversion.id.0, (a.outcome, credits));
        assert!(
            old.is_none(),
            "conversion {} finalized twice",
            a.conversion.id.0
        );
    }
    conversions
}

fn assert_same(what: &str, got: &Conversions, want: &Conversions) {
    let ids = |c: &Conversions| c.keys().copied().collect::<Vec<_>>();
    assert_eq!(ids(got), ids(want), "{what}: finalized conversions");
    for (id, (outcome, credits)) in want {
        let (g_outcome, g_credits) = &got[id];
        assert_eq!(g_outcome, outcome, "{what}: conversion {id} outcome");
        let campaigns = |c: &BTreeMap<u64, f64>| c.keys().copied().collect::<Vec<_>>();
        assert_eq!(
            campaigns(g_credits),
            campaigns(credits),
            "{what}: conversion {id} credited"
        );
        for (c, x) in credits {
            assert!(
                (g_credits[c] - x).abs() < 1e-9,
                "{what}: conversion {id} campaign {c}: {} vs {x}",
                g_credits[c]
            );
        }
    }
}

fn assert_credits_well_formed(a: &Attribution) {
    match a.outcome {
        Outcome::Attributed => {
            assert!(!a.credits.is_empty(), "attributed without credits: {a:?}");
            let sum: f64 = a.credits.iter().map(|c| c.credit).sum();
            assert!((sum - 1.0).abs() < 1e-9, "credits sum to {sum}: {a:?}");
            for c in &a.credits {
                assert!(
                    c.credit > 0.0 && c.credit <= 1.0 + 1e-12,
                    "credit out of range: {a:?}"
                );
            }
        }
        _ => assert!(a.credits.is_empty(), "credits on a {:?}: {a:?}", a.outcome),
    }
}

fn differential(u: &mut Unstructured<'_>) -> Result<()> {
    let p = Params {
        click_window: hours(u, 72)?,
        view_window: hours(u, 48)?,
        half_life: hours(u, 48)?.max(H / 2),
        max_click_delay: hours(u, 30)?,
        lateness: hours(u, 6)?,
        by_user: u.arbitrary()?,
        model: model(u)?,
    };
    let events = grid_events(u)?;
    // Arrival: event time plus a jitter up to a chosen spread (0 = in time order;
    // beyond the lateness some events arrive late), ties kept in generation order.
    let spread = *u.choose(&[0, p.lateness, p.lateness + 2 * H, 48 * H])?;
    let mut arrival: Vec<(i64, usize)> = Vec::with_capacity(events.len());
    for (k, e) in events.iter().enumerate() {
        let jitter = if spread == 0 {
            0
        } else {
            u.int_in_range(0..=spread)?
        };
        arrival.push((e.time().as_millis() + jitter, k));
    }
    arrival.sort_unstable();
    let save_at = u.int_in_range(0..=events.len())?;

    let config = p.config();
    let mut a = Attributor::new(config.clone()).expect("valid config");
    let mut accepted: Vec<Event> = Vec::new();
    let mut late = 0u64;
    let mut out = Vec::new();
    for (n, &(_, k)) in arrival.iter().enumerate() {
        if n == save_at {
            let bytes = a.to_bytes().expect("state encodes");
            // Byte equality is not asked for: maps serialize in their own hash order.
            a = Attributor::from_bytes(config.clone(), &bytes, bytes.len())
                .expect("own state decodes");
        }
        let e = events[k];
        let watermark = a.watermark();
        let r = a.ingest(e);
        assert_eq!(
            r == Ingest::Late,
            e.time() < watermark,
            "late iff behind the watermark"
        );
        if r == Ingest::Late {
            late += 1;
        } else {
            accepted.push(e);
        }
        if u.ratio(1u8, 6)? {
            let ahead = *u.choose(&[0, H, p.lateness, 5 * H, 30 * H])?;
            let now = Timestamp::from_millis(e.time().as_millis() + ahead);
            a.advance(now);
        }
        a.drain_attributions(&mut out);
        // Finalized means behind the watermark.
        for x in &out {
            assert!(x.conversion.time < a.watermark(), "finalized early: {x:?}");
        }
    }
    a.finish();
    a.drain_attributions(&mut out);
    for x in &out {
        assert_credits_well_formed(x);
    }
    let stats = a.stats();
    assert_eq!(
        stats.late_impressions + stats.late_clicks + stats.late_conversions,
        late,
        "late counters"
    );
    let (want, want_orphans) = reference(&accepted, &p);
    assert_same("stream", &summarize(&out), &want);
    assert_eq!(stats.orphan_clicks, want_orphans, "orphan clicks");

    let batch = attribute_batch(config, accepted).expect("valid config");
    assert_same("batch", &summarize(&batch.attributions), &want);
    assert_eq!(
        batch.report.stats.orphan_clicks, want_orphans,
        "batch orphan clicks"
    );
    Ok(())
}

// ---- chaos -------------------------------------------------------------------------------

/// A time: usually within 2,000 hours of the input's `base`, sometimes anywhere in the
/// `i64` range (so that both ends meet in one stream).
fn time(u: &mut Unstructured<'_>, base: i64) -> Result<i64> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => u.arbitrary()?,
        _ => base.saturating_add(hours(u, 2000)? - 1000 * H),
    })
}

fn duration(u: &mut Unstructured<'_>) -> Result<DurationMs> {
    Ok(DurationMs::from_millis(match u.int_in_range(0u8..=7)? {
        0 => 0,
        1 => 1,
        2 => u.arbitrary()?,
        3 => DurationMs::from_days(3_650).as_millis(),
        _ => hours(u, 200)?,
    }))
}

fn chaos(u: &mut Unstructured<'_>) -> Result<()> {
    let config = Config::default()
        .click_window(duration(u)?)
        .view_window(duration(u)?)
        .half_life(duration(u)?)
        .max_click_delay(duration(u)?)
        .allowed_lateness(duration(u)?)
        .dedup_window(duration(u)?)
        .max_touches_per_key(u.int_in_range(0..=5)?)
        .max_late_log(u.int_in_range(0..=3)?)
        .join_key(if u.arbitrary()? {
            JoinKey::User
        } else {
            JoinKey::Household
        })
        .model(model(u)?);
    let Ok(mut a) = Attributor::new(config.clone()) else {
        return Ok(());
    };
    let base = *u.choose(&[
        i64::MIN,
        i64::MIN + 3000 * H,
        T0,
        i64::MAX - 3000 * H,
        i64::MAX,
    ])?;
    let n = u.int_in_range(0..=40)?;
    let mut accepted_conversions: Vec<Conversion> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..n {
        let t = Timestamp::from_millis(time(u, base)?);
        let campaign = CampaignId(u.int_in_range(0..=3)?);
        let user = UserId(u.int_in_range(0..=2)?);
        let household = HouseholdId(u.int_in_range(0..=2)?);
        let advertiser = AdvertiserId(u.int_in_range(0..=1)?);
        let e = match u.int_in_range(0u8..=12)? {
            0..=4 => Event::Impression(Impression {
                id: ImpressionId(u.int_in_range(0..=6)?),
                time: t,
                user,
                household,
                advertiser,
                campaign,
                creative: CreativeId(1),
                cost: Money::from_micros(u.arbitrary()?),
                ghost: u.ratio(1u8, 4)?,
            }),
            5..=6 => Event::Click(Click {
                impression: ImpressionId(u.int_in_range(0..=6)?),
                time: t,
            }),
            7..=9 => Event::Conversion(Conversion {
                id: ConversionId(u.int_in_range(0..=6)?),
                time: t,
                user,
                household,
                advertiser,
                kind: ConversionKind::Custom(u.arbitrary()?),
                value: if u.arbitrary()? {
                    Some(Money::from_micros(u.arbitrary()?))
                } else {
                    None
                },
                order_id: if u.arbitrary()? {
                    Some(OrderId(u.int_in_range(0..=2)?))
                } else {
                    None
                },
            }),
            10 => {
                let fraction = *u.choose(&[0.0, 0.5, 1.0, -1.0, f64::NAN, 0.25])?;
                let ok = a.set_holdout(campaign, fraction).is_ok();
                assert_eq!(
                    ok,
                    (0.0..=1.0).contains(&fraction),
                    "holdout fraction {fraction}"
                );
                let _ = a.holdout_group(user, household, campaign);
                continue;
            }
            11 => {
                a.advance(t);
                continue;
            }
            _ => {
                let bytes = a.to_bytes().expect("state encodes");
                a = Attributor::from_bytes(config.clone(), &bytes, bytes.len())
                    .expect("own state decodes");
                continue;
            }
        };
        if a.ingest(e) == Ingest::Accepted
            && let Event::Conversion(c) = e
        {
            accepted_conversions.push(c);
        }
        a.drain_attributions(&mut out);
    }
    a.finish();
    a.drain_attributions(&mut out);
    assert_eq!(
        out.len(),
        accepted_conversions.len(),
        "every accepted conversion finalized once; accepted {accepted_conversions:?}, \
         finalized {out:?}, {} still pending",
        a.pending_conversions()
    );
    for x in &out {
        assert_credits_well_formed(x);
    }
    let _ = a.report();
    let _ = a.lifts();
    let _ = a.feedback_table();
    let _ = a.memory();
    Ok(())
}

// ---- state -------------------------------------------------------------------------------

fn state(raw: &[u8]) -> Result<()> {
    let config = Config::default();
    let limit = 1 << 20;
    if let Ok(mut a) = Attributor::from_bytes(config.clone(), raw, limit) {
        exercise(&mut a);
    }
    // The same bytes as the payload of a well-formed frame, so decoding itself is fuzzed
    // past the checksum.
    let header = Attributor::new(config.clone())
        .expect("default config")
        .to_bytes()
        .expect("state encodes");
    let magic: [u8; 8] = header[..8].try_into().expect("8 bytes");
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let sealed = codec::seal(&magic, version, raw);
    if let Ok(mut a) = Attributor::from_bytes(config, &sealed, limit) {
        exercise(&mut a);
    }
    Ok(())
}

/// Drives a restored attributor through every operation; it must not panic.
fn exercise(a: &mut Attributor) {
    let t = a.watermark().as_millis().max(T0);
    let user = UserId(1);
    let household = HouseholdId(1);
    for (k, e) in [
        Event::Impression(Impression {
            id: ImpressionId(1),
            time: Timestamp::from_millis(t),
            user,
            household,
            advertiser: AdvertiserId(0),
            campaign: CampaignId(0),
            creative: CreativeId(1),
            cost: Money::from_micros(1),
            ghost: false,
        }),
        Event::Click(Click {
            impression: ImpressionId(1),
            time: Timestamp::from_millis(t),
        }),
        Event::Conversion(Conversion {
            id: ConversionId(1),
            time: Timestamp::from_millis(t),
            user,
            household,
            advertiser: AdvertiserId(0),
            kind: ConversionKind::Purchase,
            value: None,
            order_id: Some(OrderId(1)),
        }),
    ]
    .into_iter()
    .enumerate()
    {
        a.ingest(e);
        if k == 1 {
            a.advance(Timestamp::from_millis(t.saturating_add(H)));
        }
    }
    a.finish();
    // The decoded state may carry any attributions at all; only no panic is asked.
    let _ = a.take_attributions();
    let _ = a.report();
    let _ = a.lifts();
    let _ = a.feedback_table();
    let _ = a.memory();
    let _ = a.to_bytes();
}
