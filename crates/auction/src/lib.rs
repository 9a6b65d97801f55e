//! The auction core of adloop: given one opportunity (a single slot, ranked slots, or a
//! CTV ad pod) and its candidates, decide who shows and what each pays, in exact integer
//! money, and say why every other candidate lost.
//!
//! A pure library: no shared state, no I/O, no clock. A researcher can use it alone; the
//! adloop engine calls it once per request.
//!
//! # Overview
//! - [`Candidate`]: a caller key, campaign / creative / advertiser ids, a priority
//!   [`Tier`], a [`Bid`] (CPM, or CPC / CPA with a predicted rate, turned into an eCPM by
//!   [`Candidate::effective_ecpm`], which documents the rounding), a pacing multiplier,
//!   an optional [`Deal`] (floor, fixed price), competitive [`Categories`], an
//!   [`AdvertiserDomain`] and a video duration.
//! - [`AuctionConfig`] → [`Auction`]: first or second price ([`PriceMode`]), the
//!   increment, the [`SameAdvertiserRule`], the [`RankedPricing`] (GSP / VCG) and
//!   [`PodPricing`] (GSP / VCG) rules, and the [`TierPolicy`]. Built once, reused.
//! - [`Opportunity`]: a single slot with [`Floors`] (hard and soft), [`RankedSlots`] with
//!   value factors α₁ > α₂ > …, or a [`PodSpec`] (max ads, max seconds, required
//!   durations, per-second floor, [`Separation`] rules).
//! - [`Outcome`]: [`Placement`]s (slot, key, price as [`Cpm`](adloop_core::Cpm) and per
//!   impression as [`Money`](adloop_core::Money)) and one [`Loss`] with a [`LossReason`]
//!   for every other candidate.
//!
//! The formulas (second price, GSP, VCG, the pod search and its pricing) are in
//! `docs/auction.md` and on [`Auction::run_single`], [`Auction::run_ranked`] and
//! [`Auction::run_pod`].
//!
//! # Example
//! ```
//! use adloop_auction::{Auction, AuctionConfig, Bid, Candidate, Floors, Outcome, LossReason, Tier};
//! use adloop_core::{AdvertiserId, CampaignId, Cpm, CreativeId, Money};
//!
//! let cpm = |units: i64| Cpm::new(Money::from_units(units).unwrap());
//! let cand = |key: u32, advertiser: u64, bid: Bid| {
//!     Candidate::new(key, CampaignId(key.into()), CreativeId(key.into()), AdvertiserId(advertiser), bid)
//! };
//! let candidates = [
//!     cand(0, 1, Bid::Cpm(cpm(8))),
//!     // $2 per click at a predicted 0.5% CTR: eCPM 2 × 0.005 × 1000 = 10.00.
//!     cand(1, 2, Bid::Cpc { per_click: Money::from_units(2).unwrap(), ctr: 0.005 }),
//!     cand(2, 3, Bid::Cpm(cpm(3))),
//!     cand(3, 4, Bid::Cpm(cpm(1))).with_tier(Tier::HOUSE),
//! ];
//! let auction = Auction::new(AuctionConfig::default())?;
//! let mut outcome = Outcome::new();
//! auction.run_single(&Floors::hard(cpm(2)), &candidates, 42, &mut outcome)?;
//!
//! // Key 1 wins and pays the second price 8.00 plus the one-cent increment.
//! let winner = outcome.winner().unwrap();
//! assert_eq!((winner.key, winner.price), (1, Cpm::from_micros(8_010_000)));
//! assert_eq!(winner.price_per_impression, Money::from_micros(8_010));
//! assert_eq!(outcome.loss_reason(0), Some(LossReason::Outbid));
//! assert_eq!(outcome.loss_reason(3), Some(LossReason::BelowFloor));
//! # Ok::<(), adloop_auction::Error>(())
//! ```
//!
//! # Concurrency
//! [`Auction`] is an immutable `Copy` value: share it freely. Each call works only on its
//! arguments and the caller's [`Outcome`]; there is no shared or global state, no lock,
//! no atomic.
//!
//! # Performance
//! - Single slot: one validation pass that also finds the winner (ties by reservoir
//!   sampling, so the RNG runs only on ties), one pass for the price and loss reasons.
//! - Ranked slots and pods sort eligible candidates by a packed 128-bit key.
//! - Pods: exact branch and bound with a lexicographic greedy bound over a lazily
//!   materialized ranking (the best 64 candidates selected and sorted first, more only as
//!   the search reaches them), separation checked against the ads on the current path
//!   and, where ads crowd into few advertisers, domains, creatives or categories, inside
//!   the bound too (one ad per group), which keeps such pods from going exponential;
//!   VCG pricing re-runs the search once per placed ad, starting from the known pod minus
//!   that ad. A search that runs long (past 256 nodes) skips, at each node, candidates
//!   dominated by one it branched on there (the same conflicts, ranked no lower, no
//!   longer: a rate card's copies); one that reaches the node budget (2¹², plus 2¹⁰ per
//!   VCG re-run) keeps the best pod found, feasible and never worse than the greedy
//!   fill, and [`Outcome::truncated`] says it is not proven optimal.
//! - Up to 32 candidates nothing touches the heap: every scratch buffer and the
//!   [`Outcome`] are `SmallVec`s with inline capacity 32 or more. Larger auctions spill
//!   to the heap once: the [`Outcome`] keeps the grown buffers, so a reused outcome
//!   allocates nothing in steady state at any candidate count (integration tests count
//!   allocations for both).
//!
//! Measured figures and how to reproduce them are in `docs/auction.md`.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

mod auction;
mod candidate;
mod config;
mod error;
mod opportunity;
mod outcome;
mod pod;
mod ranked;
#[cfg(test)]
mod test_support;

pub use crate::{
    auction::Auction,
    candidate::{
        AdvertiserDomain, Bid, Candidate, Categories, Deal, MAX_BID_MULTIPLIER, MAX_CATEGORIES,
        MAX_ECPM, Tier,
    },
    config::{AuctionConfig, PodPricing, PriceMode, RankedPricing, SameAdvertiserRule, TierPolicy},
    error::Error,
    opportunity::{
        Floors, MAX_CANDIDATES, MAX_POD_CANDIDATES, MAX_POD_SLOTS, MAX_RANKED_SLOTS,
        MAX_REQUIRED_DURATIONS, Opportunity, PodSpec, RankedSlots, Separation,
    },
    outcome::{Loss, LossReason, Outcome, Placement},
};

#[cfg(test)]
mod auto_traits {
    use super::*;

    fn assert_traits<T: Send + Sync + Unpin + std::panic::UnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        assert_traits::<Auction>();
        assert_traits::<AuctionConfig>();
        assert_traits::<Candidate>();
        assert_traits::<Bid>();
        assert_traits::<Deal>();
        assert_traits::<Categories>();
        assert_traits::<AdvertiserDomain>();
        assert_traits::<Tier>();
        assert_traits::<Floors>();
        assert_traits::<RankedSlots<'static>>();
        assert_traits::<PodSpec<'static>>();
        assert_traits::<Opportunity<'static>>();
        assert_traits::<Separation>();
        assert_traits::<Outcome>();
        assert_traits::<Placement>();
        assert_traits::<Loss>();
        assert_traits::<LossReason>();
        assert_traits::<Error>();
    }
}
