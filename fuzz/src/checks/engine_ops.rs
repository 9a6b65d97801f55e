//! Engine operation sequences: publish, decide, record, tick and save / load in an
//! arbitrary order, with valid and invalid campaigns, forged and repeated receipts, and
//! a clock that mostly moves forward.
//!
//! After every operation:
//! - no panic; a rejected publish changes nothing, an accepted one adds one generation;
//! - each campaign's spend equals the sum of the charges of the impressions the engine
//!   accepted (a receipt is charged once; a refused record charges nothing), spend and
//!   reservations are never negative, and spend plus reservations never exceed the
//!   largest lifetime budget the campaign was ever published with;
//! - every placement belongs to a published campaign in flight, matches its receipt, has
//!   a non-negative price equal to its CPM per impression, fills a distinct slot the
//!   opportunity has, and pods respect their slot and second limits; impression numbers
//!   are never reused, also across save / load;
//! - save → load gives an engine with the same generation, campaigns and spend.

use adloop::attribution::ServiceConfig;
use adloop::auction::Tier;
use adloop::core::{
    AdvertiserId, CampaignId, Cpm, DealId, DurationMs, HouseholdId, ImpressionId, Money, Timestamp,
    UserId,
};
use adloop::pacing::{CapScope, CapWindow, FrequencyCap, IdentityKind, PacingMode, TargetCurve};
use adloop::{
    AdRequest, Bid, Budget, Campaign, Creative, DealOffer, Decision, Engine, EngineBuilder, Error,
    Event, Flight, Format, Opportunity, Placement, Pod, Receipt,
};
use arbitrary::{Result, Unstructured};
use std::collections::{BTreeMap, HashSet};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let _ = check(&mut Unstructured::new(data));
}

pub(crate) const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// The engine under test: small attribution queues (the defaults allocate 11 MiB per
/// engine, which would dominate every run).
pub(crate) fn builder() -> EngineBuilder {
    EngineBuilder::new()
        .seed(7)
        .attribution_queues(ServiceConfig {
            queues: 2,
            queue_capacity: 64,
            max_buffered_attributions: 1_000,
        })
}

fn money(u: &mut Unstructured<'_>, grid_micros: i64, max_steps: i64) -> Result<Money> {
    Ok(Money::from_micros(
        grid_micros * u.int_in_range(0..=max_steps)?,
    ))
}

/// A creative from its file form, so that fields the model gains later take their
/// defaults here too.
pub(crate) fn creative(id: u64, format: Format, duration_s: u32) -> Creative {
    let format = if format == Format::Display {
        "display"
    } else {
        "video"
    };
    serde_json::from_value(serde_json::json!({
        "id": id, "format": format, "duration_s": duration_s,
    }))
    .expect("a creative in file form")
}

/// A valid campaign in file form (every optional field at its default): targeted at
/// everyone, a $1,000 lifetime budget, a $10 CPM, one 15 s video creative, in flight for
/// 30 days from a day before `T0`.
pub(crate) fn base_campaign(id: u64) -> Campaign {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "advertiser": id,
        "advertiser_domain": format!("brand{id}.example"),
        "budget": {"lifetime": 1_000_000_000},
        "flight": {"start": T0 - DAY, "end": T0 + 29 * DAY},
        "bid": {"cpm": 10_000_000},
        "targeting": "true",
        "creatives": [{"id": id * 10, "format": "video", "duration_s": 15}],
    }))
    .expect("a campaign in file form")
}

/// One campaign, usually valid, sometimes not (bad budget, flight, targeting, holdout).
pub(crate) fn campaign(u: &mut Unstructured<'_>, id: u64) -> Result<Campaign> {
    let invalid = u.ratio(1u8, 16)?;
    let lifetime = match u.int_in_range(0u8..=5)? {
        0 => None,
        1 => Some(Money::from_micros(50_000)),
        2 => Some(money(u, 10_000, 500)?),
        _ => Some(Money::from_micros(1_000_000_000)),
    };
    let daily = match u.int_in_range(0u8..=3)? {
        0 => Some(money(u, 100_000, 50)?),
        _ if lifetime.is_none() => Some(Money::from_micros(5_000_000)),
        _ => None,
    };
    let start = T0 - DAY * i64::from(u.int_in_range(0u8..=2)?);
    let end = start + DAY * i64::from(u.int_in_range(1u8..=30)?);
    let pacing = match u.int_in_range(0u8..=5)? {
        0 => PacingMode::Throttle {
            curve: TargetCurve::Even,
            settings: Default::default(),
        },
        1 => PacingMode::BidShading {
            curve: TargetCurve::Even,
            settings: Default::default(),
        },
        2 => PacingMode::Pid {
            curve: TargetCurve::Even,
            settings: Default::default(),
        },
        _ => PacingMode::Asap,
    };
    let bid = match u.int_in_range(0u8..=5)? {
        0 => Bid::Cpc(money(u, 50_000, 40)?),
        1 => Bid::Cpa(money(u, 1_000_000, 40)?),
        _ => Bid::Cpm(Cpm::new(money(u, 250_000, 80)?)),
    };
    let targeting = (*u.choose(&[
        "true",
        "true",
        "segment in (1, 2)",
        "geo.country = \"US\"",
        "not segment = 3",
        "segment all (1, 2) or geo.country != \"FR\"",
    ])?)
    .to_owned();
    let mut creatives = Vec::new();
    for k in 0..u.int_in_range(1u64..=2)? {
        let format = if u.ratio(1u8, 4)? {
            Format::Display
        } else {
            Format::Video
        };
        let duration_s = if format == Format::Display {
            0
        } else {
            *u.choose(&[15, 15, 30, 60])?
        };
        creatives.push(creative(id * 10 + k, format, duration_s));
    }
    let frequency_caps = if u.ratio(1u8, 4)? {
        vec![FrequencyCap {
            scope: if u.arbitrary()? {
                CapScope::Campaign
            } else {
                CapScope::Advertiser
            },
            identity: if u.arbitrary()? {
                IdentityKind::Household
            } else {
                IdentityKind::User
            },
            max_impressions: u.int_in_range(1..=3)?,
            window: if u.arbitrary()? {
                CapWindow::Lifetime
            } else {
                CapWindow::Sliding {
                    window: DurationMs::from_hours(1),
                }
            },
        }]
    } else {
        Vec::new()
    };
    let mut c = base_campaign(id);
    c.advertiser = AdvertiserId::new(u.int_in_range(1..=3)?);
    c.budget = Budget { daily, lifetime };
    c.flight = Flight {
        start: Timestamp::from_millis(start),
        end: Timestamp::from_millis(end),
    };
    c.pacing = pacing;
    c.bid = bid;
    c.tier = *u.choose(&[Tier::OPEN, Tier::OPEN, Tier::DEAL, Tier::HOUSE])?;
    if u.ratio(1u8, 4)? {
        c.deals = vec![DealId::new(1)];
    }
    c.frequency_caps = frequency_caps;
    if u.arbitrary()? {
        c.categories = vec![format!("IAB{}", u.int_in_range(1..=3)?)];
    }
    c.targeting = targeting;
    c.creatives = creatives;
    c.holdout = *u.choose(&[0.0, 0.0, 0.0, 0.25])?;
    if invalid {
        match u.int_in_range(0u8..=4)? {
            0 => c.budget = Budget::default(),
            1 => c.flight.end = c.flight.start,
            2 => c.targeting = "segment in (".into(),
            3 => c.holdout = f64::NAN,
            _ => c.creatives.clear(),
        }
    }
    Ok(c)
}

pub(crate) fn request(u: &mut Unstructured<'_>) -> Result<AdRequest> {
    let mut r = AdRequest {
        id: u.arbitrary()?,
        user: if u.ratio(3u8, 4)? {
            Some(UserId::new(u.int_in_range(1..=4)?))
        } else {
            None
        },
        household: if u.ratio(3u8, 4)? {
            Some(HouseholdId::new(u.int_in_range(1..=3)?))
        } else {
            None
        },
        ..AdRequest::default()
    };
    for _ in 0..u.int_in_range(0..=3)? {
        r.attributes.push_int("segment", u.int_in_range(1..=3)?);
    }
    if u.arbitrary()? {
        r.attributes
            .push_str("geo.country", u.choose(&["US", "FR"])?);
    }
    let format = if u.ratio(1u8, 4)? {
        Format::Display
    } else {
        Format::Video
    };
    r.opportunity = match u.int_in_range(0u8..=3)? {
        0 => Opportunity::Ranked {
            format,
            factors: vec![100, 60, 30][..u.int_in_range(1..=3)?].to_vec(),
        },
        1 => Opportunity::Pod(Pod {
            max_slots: u.int_in_range(1..=4)?,
            max_duration_s: *u.choose(&[15, 30, 60, 90])?,
            required_durations_s: if u.arbitrary()? { vec![] } else { vec![15, 30] },
        }),
        _ => Opportunity::Single {
            format,
            max_duration_s: *u.choose(&[0, 15, 30])?,
        },
    };
    r.floor = Cpm::new(money(u, 250_000, 8)?);
    if u.ratio(1u8, 4)? {
        let floor = Cpm::new(money(u, 250_000, 8)?);
        r.deals.push(DealOffer {
            id: DealId::new(1),
            floor,
            fixed_price: if u.arbitrary()? { Some(floor) } else { None },
        });
        r.private_auction = u.arbitrary()?;
    }
    r.trace = u.arbitrary()?;
    Ok(r)
}

/// What the check knows about the engine it drives.
#[derive(Default)]
struct Model {
    generation: u64,
    /// Expected spend per campaign: the charges of accepted impressions.
    spent: BTreeMap<CampaignId, Money>,
    /// Largest lifetime budget each campaign was published with (`None`: some version had
    /// none, so no bound is checked).
    max_lifetime: BTreeMap<CampaignId, Option<Money>>,
    /// Campaigns of the current generation.
    published: BTreeMap<CampaignId, Campaign>,
    /// Receipts handed out and not yet recorded.
    receipts: Vec<Receipt>,
    /// Receipts recorded successfully.
    recorded: Vec<Receipt>,
    impressions: HashSet<ImpressionId>,
}

fn check_placements(model: &mut Model, request: &AdRequest, decision: &Decision, now: Timestamp) {
    let placements: &[Placement] = &decision.placements;
    let mut slots = HashSet::new();
    let mut seconds = 0u64;
    for p in placements {
        let c = model
            .published
            .get(&p.campaign)
            .unwrap_or_else(|| panic!("placement of unpublished campaign {}", p.campaign));
        assert!(
            c.flight.contains(now),
            "campaign {} placed outside its flight",
            p.campaign
        );
        assert!(slots.insert(p.slot), "slot {} filled twice", p.slot);
        assert!(p.price.micros() >= 0, "negative price {p:?}");
        assert_eq!(p.price_cpm.per_impression(), p.price, "price vs CPM: {p:?}");
        assert_eq!(p.receipt.campaign, p.campaign, "receipt campaign");
        assert_eq!(p.receipt.price, p.price, "receipt price");
        assert_eq!(p.receipt.decided_at, now, "receipt time");
        assert!(
            c.creatives.iter().any(|k| k.id == p.creative),
            "creative {} is not the campaign's",
            p.creative
        );
        assert!(
            model.impressions.insert(p.receipt.impression),
            "impression number {} reused",
            p.receipt.impression
        );
        seconds += u64::from(p.duration_s);
        model.receipts.push(p.receipt);
    }
    match &request.opportunity {
        Opportunity::Single { .. } => assert!(placements.len() <= 1, "two ads in one slot"),
        Opportunity::Ranked { factors, .. } => {
            assert!(
                placements.len() <= factors.len(),
                "more ads than ranked slots"
            );
            assert!(placements.iter().all(|p| (p.slot as usize) < factors.len()));
        }
        Opportunity::Pod(pod) => {
            assert!(
                placements.len() <= pod.max_slots as usize,
                "pod over its slots"
            );
            assert!(
                seconds <= u64::from(pod.max_duration_s),
                "pod over its seconds"
            );
        }
        _ => {}
    }
}

fn check_ledgers(engine: &Engine, model: &Model) {
    for (id, bound) in &model.max_lifetime {
        let Some(s) = engine.spend(*id) else {
            continue;
        };
        let want = model.spent.get(id).copied().unwrap_or(Money::ZERO);
        assert_eq!(
            s.spent, want,
            "campaign {id}: spent vs accepted impressions"
        );
        assert!(
            s.reserved.micros() >= 0 && s.expired.micros() >= 0,
            "{id}: {s:?}"
        );
        if let Some(limit) = bound {
            assert!(
                s.spent.saturating_add(s.reserved) <= *limit,
                "campaign {id}: spent {} + reserved {} over the lifetime budget {limit}",
                s.spent,
                s.reserved
            );
        }
    }
}

/// A receipt as the ad server hands it back: usually as issued, sometimes altered.
/// Returns the receipt and whether the engine must refuse it.
fn forge(u: &mut Unstructured<'_>, mut r: Receipt) -> Result<(Receipt, bool)> {
    Ok(match u.int_in_range(0u8..=11)? {
        // A different price: the engine charges at most the reservation, so it may accept.
        0 => {
            r.price = Money::from_micros(r.price.micros().saturating_mul(3).saturating_add(1));
            (r, false)
        }
        1 => {
            r.price = Money::from_micros(r.price.micros() / 2);
            (r, false)
        }
        2 => {
            r.price = Money::from_micros(-1);
            (r, false)
        }
        // A campaign that was never published.
        3 => {
            r.campaign = CampaignId::new(99);
            (r, true)
        }
        // A reservation generation no slot will reach. (Adding 2⁴⁰ is not enough: a
        // restored ledger starts its generations at the next multiple of 2⁴⁰, so that
        // can name another placement's live reservation, a valid token.)
        4 => {
            r.reservation.generation |= 1 << 60;
            (r, true)
        }
        _ => (r, false),
    })
}

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let mut engine = builder().build().expect("default engine");
    let mut model = Model::default();
    let pool: Vec<Campaign> = (1..=4).map(|id| campaign(u, id)).collect::<Result<_>>()?;
    let requests: Vec<AdRequest> = (0..3).map(|_| request(u)).collect::<Result<_>>()?;
    let mut now = T0;
    let steps = u.int_in_range(1..=40)?;
    for _ in 0..steps {
        now += match u.int_in_range(0u8..=9)? {
            0 => -HOUR,
            1 => DAY,
            2 => HOUR,
            3 => 60_000,
            _ => 1_000,
        };
        let at = Timestamp::from_millis(now);
        match u.int_in_range(0u8..=12)? {
            0 => {
                // Publish a subset of the pool, maybe with one campaign changed.
                let mut set: Vec<Campaign> = pool
                    .iter()
                    .filter(|_| u.ratio(3u8, 4).unwrap_or(true))
                    .cloned()
                    .collect();
                if !set.is_empty() && u.ratio(1u8, 3)? {
                    let k = u.choose_index(set.len())?;
                    let id = set[k].id.get();
                    set[k] = campaign(u, id)?;
                }
                if u.ratio(1u8, 20)? && !set.is_empty() {
                    set.push(set[0].clone()); // a duplicate id
                }
                let before = engine.campaigns();
                match engine.publish(set.clone()) {
                    Ok(g) => {
                        model.generation += 1;
                        assert_eq!(g.0, model.generation, "generation after publish");
                        model.published = set.iter().map(|c| (c.id, c.clone())).collect();
                        for c in &set {
                            let bound = model.max_lifetime.entry(c.id).or_insert(c.budget.lifetime);
                            *bound = match (*bound, c.budget.lifetime) {
                                (Some(a), Some(b)) => Some(a.max(b)),
                                _ => None,
                            };
                        }
                    }
                    Err(Error::InvalidCampaigns(errors)) => {
                        assert!(!errors.0.is_empty(), "rejected without a reason");
                        assert_eq!(
                            engine.campaigns(),
                            before,
                            "a rejected publish changed campaigns"
                        );
                        assert_eq!(engine.generation().0, model.generation);
                    }
                    Err(e) => panic!("publish failed unexpectedly: {e}"),
                }
            }
            1..=4 => {
                let r = &requests[u.choose_index(requests.len())?];
                let decision = engine.decide(r, at);
                assert_eq!(
                    decision.generation.0, model.generation,
                    "decision generation"
                );
                check_placements(&mut model, r, &decision, at);
            }
            5..=7 if !model.receipts.is_empty() => {
                let k = u.choose_index(model.receipts.len())?;
                let (receipt, must_refuse) = forge(u, model.receipts[k])?;
                let before = engine.spend(receipt.campaign);
                let result = engine.record(Event::Impression { receipt, time: at });
                match result {
                    Ok(()) => {
                        assert!(!must_refuse, "a forged receipt was accepted: {receipt:?}");
                        // The documented charge: the receipt's price, capped by its
                        // reservation, never negative.
                        let charge = receipt
                            .price
                            .min(receipt.reservation.amount)
                            .max(Money::ZERO);
                        let spent = model.spent.entry(receipt.campaign).or_insert(Money::ZERO);
                        *spent = spent.saturating_add(charge);
                        model.recorded.push(model.receipts.swap_remove(k));
                    }
                    Err(_) => {
                        assert_eq!(
                            engine.spend(receipt.campaign),
                            before,
                            "a refused record charged"
                        );
                    }
                }
            }
            8 if !model.recorded.is_empty() => {
                // A receipt recorded before: refused, not charged again.
                let receipt = model.recorded[u.choose_index(model.recorded.len())?];
                let before = engine.spend(receipt.campaign);
                let result = engine.record(Event::Impression { receipt, time: at });
                assert!(result.is_err(), "a receipt was recorded twice");
                assert_eq!(
                    engine.spend(receipt.campaign),
                    before,
                    "a repeated receipt charged"
                );
                let click = Event::Click {
                    impression: receipt.impression,
                    time: at,
                };
                let _ = engine.record(click);
            }
            9 => {
                let conversion = adloop::attribution::Conversion {
                    id: adloop::core::ConversionId::new(u.arbitrary()?),
                    time: at,
                    user: UserId::new(u.int_in_range(1..=4)?),
                    household: HouseholdId::new(u.int_in_range(1..=3)?),
                    advertiser: AdvertiserId::new(u.int_in_range(1..=3)?),
                    kind: adloop::attribution::ConversionKind::Purchase,
                    value: Some(Money::from_micros(1_000_000)),
                    order_id: None,
                };
                let _ = engine.record(Event::Conversion(conversion));
            }
            10 | 11 => {
                engine.tick(at);
                let _ = engine.report();
                for id in model.published.keys() {
                    let _ = engine.summary(*id);
                    let _ = engine.lift(*id);
                }
            }
            _ => {
                let bytes = engine.save().expect("state saves");
                let loaded = builder()
                    .load(&bytes)
                    .unwrap_or_else(|e| panic!("a saved state does not load: {e}"));
                assert_eq!(
                    loaded.generation(),
                    engine.generation(),
                    "generation after load"
                );
                assert_eq!(
                    loaded.campaigns(),
                    engine.campaigns(),
                    "campaigns after load"
                );
                for id in model.max_lifetime.keys() {
                    assert_eq!(
                        loaded.spend(*id),
                        engine.spend(*id),
                        "spend of {id} after load"
                    );
                }
                engine = loaded;
            }
        }
        check_ledgers(&engine, &model);
    }
    let _ = engine.memory();
    Ok(())
}
