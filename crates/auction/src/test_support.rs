//! Builders shared by the unit tests.

use crate::{Bid, Candidate, Categories, Outcome, Tier};
use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId};

/// Cents of CPM → micros.
pub(crate) const fn cents(c: i64) -> i64 {
    c * 10_000
}

/// An open-tier CPM candidate: key, advertiser, bid in cents of CPM. Creative = key.
pub(crate) fn cand(key: u32, adv: u64, bid_cents: i64) -> Candidate {
    Candidate::new(
        key,
        CampaignId(u64::from(key)),
        CreativeId(u64::from(key) + 1000),
        AdvertiserId(adv),
        Bid::Cpm(Cpm::from_micros(cents(bid_cents))),
    )
}

pub(crate) fn tiered(key: u32, adv: u64, bid_cents: i64, tier: Tier) -> Candidate {
    cand(key, adv, bid_cents).with_tier(tier)
}

/// A video candidate with duration and categories.
pub(crate) fn video(key: u32, adv: u64, bid_cents: i64, dur: u32, cats: &[u32]) -> Candidate {
    cand(key, adv, bid_cents)
        .with_duration_s(dur)
        .with_categories(Categories::new(cats).unwrap())
}

/// (slot, key, price micros) of every placement.
pub(crate) fn placed(out: &Outcome) -> Vec<(u16, u32, i64)> {
    out.placements()
        .iter()
        .map(|p| (p.slot, p.key, p.price.micros()))
        .collect()
}
