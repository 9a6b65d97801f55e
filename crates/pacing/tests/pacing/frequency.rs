//! The frequency store against a plain reference: a list of impression times per key.

use adloop_core::{AdvertiserId, CampaignId, DurationMs, HouseholdId, Timestamp, UserId};
use adloop_pacing::{
    CapScope, CapWindow, FrequencyCap, FrequencyStore, Identities, IdentityKind,
    InProcessFrequencyStore,
};
use proptest::prelude::*;
use std::collections::HashMap;

const T0: Timestamp = Timestamp::from_millis(1_700_006_400_000);

fn reference_allows(
    log: &HashMap<(u64, u64), Vec<i64>>,
    ident: u64,
    scope: u64,
    cap: &FrequencyCap,
    now: i64,
) -> bool {
    let times = log.get(&(ident, scope)).map(Vec::as_slice).unwrap_or(&[]);
    let n = match cap.window {
        CapWindow::Fixed { window } => {
            let w = window.as_millis();
            times
                .iter()
                .filter(|t| t.div_euclid(w) == now.div_euclid(w))
                .count()
        }
        CapWindow::Sliding { window } => times
            .iter()
            .filter(|t| **t > now - window.as_millis())
            .count(),
        CapWindow::Lifetime => times.len(),
    };
    (n as u32) < cap.max_impressions
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_matches_reference(
        events in prop::collection::vec((0u64..4, 0u64..3, 0i64..600), 1..200),
        max in 1u32..6,
        window_s in 1i64..300,
        kind in 0u8..3,
        household in any::<bool>(),
    ) {
        let window = DurationMs::from_secs(window_s);
        let cap = FrequencyCap {
            scope: CapScope::Campaign,
            identity: if household { IdentityKind::Household } else { IdentityKind::User },
            max_impressions: max,
            window: match kind {
                0 => CapWindow::Fixed { window },
                1 => CapWindow::Sliding { window },
                _ => CapWindow::Lifetime,
            },
        };
        let store = InProcessFrequencyStore::new(DurationMs::ZERO, 10_000);
        let mut log: HashMap<(u64, u64), Vec<i64>> = HashMap::new();
        let mut events = events;
        events.sort_by_key(|e| e.2);
        for (ident, campaign, sec) in events {
            let now = T0 + DurationMs::from_secs(sec);
            let who = Identities {
                user: Some(UserId(ident)),
                household: Some(HouseholdId(ident)),
            };
            let got = store.check(who, CampaignId(campaign), AdvertiserId(0), &[cap], now);
            let want = reference_allows(&log, ident, campaign, &cap, now.as_millis());
            prop_assert_eq!(got, want);
            if got {
                store.record(who, CampaignId(campaign), AdvertiserId(0), &[cap], now).unwrap();
                log.entry((ident, campaign)).or_default().push(now.as_millis());
            }
        }
    }
}
