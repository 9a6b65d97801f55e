//! The funnel's fast path against its general path.
//!
//! [`Hot`] lets a decision skip a campaign's [`Compiled`](crate::engine::Compiled) entry
//! when its flags say there is nothing there to check. Forcing every flag to "look it up"
//! (and "more than one creative", so every choice goes through `Creatives::choose`) must
//! not change a single decision: two engines with the same seed and campaigns, one forced
//! onto the general path, see the same requests and record the same impressions, and
//! every decision, trace included, must be identical.

use super::FORCE_COLD;
use crate::campaign::{Bid, Budget, Campaign, Creative, Flight, Format, Rotation};
use crate::engine::{Engine, Event};
use crate::request::{AdRequest, DealOffer, Opportunity, Pod};
use adloop_auction::Tier;
use adloop_core::{AdvertiserId, CampaignId, Cpm, DealId, DurationMs, HouseholdId, Money};
use adloop_core::{Timestamp, UserId};
use adloop_pacing::{CapScope, CapWindow, FrequencyCap, IdentityKind, PacingMode};
use proptest::prelude::*;

const T0: i64 = 1_764_400_000_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms)
}

/// One campaign from a vector of feature choices.
fn campaign(id: u64, f: [u8; 10]) -> Campaign {
    let day = 86_400_000;
    let creatives = match f[0] % 6 {
        0 => vec![Creative::video(id * 10, 15)],
        1 => vec![Creative::video(id * 10, 30)],
        2 => vec![Creative::display(id * 10)],
        3 => vec![
            Creative::video(id * 10, 15),
            Creative::video(id * 10 + 1, 30),
        ],
        4 => vec![Creative::video(id * 10, 15).markets(["US"])],
        _ => vec![Creative::video(id * 10, 30).languages(["en"])],
    };
    Campaign {
        id: CampaignId::new(id),
        advertiser: AdvertiserId::new(u64::from(f[1] % 4) + 1),
        advertiser_domain: format!("brand{}.example", f[1] % 4),
        budget: Budget {
            daily: None,
            // Some campaigns run out after a few impressions.
            lifetime: Some(Money::from_micros(if f[2].is_multiple_of(5) {
                30_000
            } else {
                1_000_000_000
            })),
        },
        flight: Flight {
            start: at(if f[3].is_multiple_of(7) { day } else { -day }),
            end: at(30 * day),
        },
        pacing: if f[4].is_multiple_of(3) {
            PacingMode::Throttle {
                curve: adloop_pacing::TargetCurve::Even,
                settings: Default::default(),
            }
        } else {
            PacingMode::Asap
        },
        bid: match f[5] % 5 {
            0 => Bid::Cpc(Money::from_micros(500_000)),
            1 => Bid::Cpa(Money::from_micros(20_000_000)),
            n => Bid::Cpm(Cpm::from_micros(
                i64::from(n) * 1_700_000 + i64::from(f[6]) * 10_000,
            )),
        },
        tier: if f[6].is_multiple_of(9) {
            Tier::GUARANTEED
        } else {
            Tier::OPEN
        },
        deals: if f[7].is_multiple_of(3) {
            vec![DealId::new(1)]
        } else {
            vec![]
        },
        frequency_caps: if f[8].is_multiple_of(3) {
            vec![FrequencyCap {
                scope: CapScope::Campaign,
                identity: IdentityKind::Household,
                max_impressions: 1,
                window: CapWindow::Sliding {
                    window: DurationMs::from_mins(60),
                },
            }]
        } else {
            vec![]
        },
        categories: vec![format!("IAB{}", f[9] % 3 + 1)],
        targeting: if f[9].is_multiple_of(4) {
            "segment = 1".into()
        } else {
            "true".into()
        },
        creatives,
        rotation: if f[0].is_multiple_of(2) {
            Rotation::Sequential
        } else {
            Rotation::Even
        },
        holdout: if f[8] % 4 == 1 { 0.5 } else { 0.0 },
    }
}

fn request(id: u64, f: [u8; 6]) -> AdRequest {
    let mut r = AdRequest {
        id,
        user: Some(UserId::new(u64::from(f[0] % 5) + 1)),
        household: Some(HouseholdId::new(u64::from(f[0] % 5) + 1)),
        opportunity: match f[1] % 5 {
            0 => Opportunity::Single {
                format: Format::Video,
                max_duration_s: 0,
            },
            1 => Opportunity::Single {
                format: Format::Video,
                max_duration_s: 20,
            },
            2 => Opportunity::Single {
                format: Format::Display,
                max_duration_s: 0,
            },
            3 => Opportunity::Pod(Pod {
                max_slots: 3,
                max_duration_s: 60,
                required_durations_s: vec![],
            }),
            _ => Opportunity::Pod(Pod {
                max_slots: 2,
                max_duration_s: 45,
                required_durations_s: vec![15],
            }),
        },
        floor: Cpm::from_micros(i64::from(f[2] % 4) * 1_000_000),
        private_auction: f[3].is_multiple_of(5),
        trace: true,
        stream: (f[4].is_multiple_of(2)).then_some(u64::from(f[4] % 3)),
        ..AdRequest::default()
    };
    if f[3].is_multiple_of(3) {
        r.deals.push(DealOffer {
            id: DealId::new(1),
            floor: Cpm::from_micros(500_000),
            fixed_price: None,
        });
    }
    if f[5].is_multiple_of(3) {
        r.blocked_categories.push(format!("IAB{}", f[5] % 3 + 1));
    }
    if f[5] % 4 == 1 {
        r.blocked_domains.push(format!("brand{}.example", f[5] % 4));
    }
    if f[4] % 2 == 1 {
        r.attributes.push_int("segment", 1);
    }
    r.attributes.push_str(
        "geo.country",
        if f[2].is_multiple_of(2) { "US" } else { "GB" },
    );
    r.attributes.push_str(
        "content.language",
        if f[5].is_multiple_of(2) { "en" } else { "de" },
    );
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_decides_exactly_like_the_general_path(
        campaigns in proptest::collection::vec(any::<[u8; 10]>(), 1..24),
        requests in proptest::collection::vec(any::<[u8; 6]>(), 1..24),
    ) {
        let campaigns: Vec<Campaign> = campaigns
            .iter()
            .enumerate()
            .map(|(i, f)| campaign(i as u64 + 1, *f))
            .collect();
        let fast = Engine::builder().seed(11).build().unwrap();
        let general = Engine::builder().seed(11).build().unwrap();
        fast.publish(campaigns.clone()).unwrap();
        general.publish(campaigns).unwrap();
        for (i, f) in requests.iter().enumerate() {
            let now = at(i as i64 * 60_000);
            let req = request(i as u64 + 1, *f);
            let a = fast.decide(&req, now);
            FORCE_COLD.set(true);
            let b = general.decide(&req, now);
            FORCE_COLD.set(false);
            prop_assert_eq!(&a, &b, "request {}", i);
            for (engine, d) in [(&fast, &a), (&general, &b)] {
                for p in &d.placements {
                    engine
                        .record(Event::Impression { receipt: p.receipt, time: now })
                        .unwrap();
                }
            }
            if i % 8 == 7 {
                fast.tick(now);
                general.tick(now);
            }
        }
    }
}
