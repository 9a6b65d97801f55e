//! The decide path: snapshot → targeting → eligibility → bids → auction → reservation.
//!
//! Everything a decision needs to grow lives in a per-thread [`Scratch`] (targeting
//! scratch, key and candidate buffers, the auction outcome), so a steady-state decision
//! allocates only its own answer.

use crate::engine::{Compiled, Engine, Hot, Snapshot, identity};
use crate::request::{
    AdRequest, Decision, Fate, Ghost, Opportunity, Placement, Receipt, Trace, TraceEntry,
};
use adloop_attribution::Group;
use adloop_auction::{
    AdvertiserDomain, Bid as AuctionBid, Candidate, Deal, Floors, LossReason, MAX_POD_CANDIDATES,
    Opportunity as AuctionOpportunity, Outcome, PodSpec, RankedSlots, Separation,
};
use adloop_core::{Cpm, ImpressionId, Money, Timestamp};
use adloop_pacing::{FrequencyStore, Identities, PacingController};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use smallvec::SmallVec;
use std::cell::RefCell;
use std::sync::atomic::Ordering;

use crate::campaign::{Bid, Format, Rotation};
use crate::creative::{Facts, Slot};
use adloop_pacing::AdLoadStore;

/// How many times an opportunity is auctioned: after the first, again each time a winner
/// cannot be served (a holdout control-group winner, recorded as a ghost, or a winner whose
/// budget another thread spent first) and leaves.
const AUCTION_ROUNDS: u64 = 4;

/// Per-thread buffers of the decide path.
pub(crate) struct Scratch {
    targeting: adloop_targeting::Scratch,
    keys: Vec<u32>,
    candidates: Vec<Candidate>,
    control: Vec<u32>,
    dropped: SmallVec<[(u32, Fate); 4]>,
    outcome: Outcome,
    /// Trace only: the fate of each candidate that did not reach the auction.
    fates: Vec<(u32, Fate)>,
    blocked_categories: SmallVec<[u32; 8]>,
    blocked_domains: SmallVec<[AdvertiserDomain; 8]>,
    /// The request's market and language codes (for creative eligibility).
    facts: Facts,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            targeting: Default::default(),
            keys: Vec::new(),
            candidates: Vec::new(),
            control: Vec::new(),
            dropped: SmallVec::new(),
            outcome: Outcome::default(),
            fates: Vec::new(),
            blocked_categories: SmallVec::new(),
            blocked_domains: SmallVec::new(),
            facts: Facts::NONE,
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[cfg(test)]
thread_local! {
    /// Tests only: decide every campaign through its `Compiled` entry, as if each
    /// [`Hot`] flag were set and the campaign had several creatives (see `hot_vs_cold`).
    static FORCE_COLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod hot_vs_cold;

/// SplitMix64 finalizer: spreads request ids into independent seeds.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fate_of(reason: LossReason) -> Fate {
    match reason {
        LossReason::BelowFloor => Fate::BelowFloor,
        LossReason::BelowDealFloor => Fate::BelowDealFloor,
        LossReason::LowerTier => Fate::LowerTier,
        LossReason::Outbid => Fate::Outbid,
        LossReason::TieBreak => Fate::TieBreak,
        LossReason::SameAdvertiser | LossReason::SameAdvertiserDomain => Fate::SameAdvertiser,
        LossReason::CompetitiveCategory => Fate::CategoryConflict,
        LossReason::SameCreative => Fate::SameCreative,
        LossReason::DurationDoesNotFit => Fate::DurationDoesNotFit,
        LossReason::PodFull => Fate::PodFull,
        _ => Fate::InvalidBid,
    }
}

impl Engine {
    /// Decides which ads fill `request` at `now`.
    ///
    /// Lock-free: reads the current snapshot, matches targeting, checks flight, publisher
    /// blocks, deals, creatives, frequency caps, pacing and budget, turns CPC and CPA bids
    /// into eCPMs with the measured rates, runs the auction and reserves each winner's
    /// price. Every placement carries a [`Receipt`] to hand back to
    /// [`Engine::record`](crate::Engine::record). The same request against the same state
    /// and seed gives the same decision.
    pub fn decide(&self, request: &AdRequest, now: Timestamp) -> Decision {
        let mut out = Decision::default();
        self.decide_into(request, now, &mut out);
        out
    }

    /// [`Engine::decide`] into a reused [`Decision`], keeping its allocations.
    pub fn decide_into(&self, request: &AdRequest, now: Timestamp, out: &mut Decision) {
        let snap = self.current.load();
        out.generation = snap.generation;
        out.placements.clear();
        out.ghosts.clear();
        out.trace = None;
        out.truncated = false;
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.decide_with(&snap, request, now, &mut scratch, out),
            // Only reachable if a decision re-entered itself on this thread.
            Err(_) => self.decide_with(&snap, request, now, &mut Scratch::default(), out),
        });
    }

    fn decide_with(
        &self,
        snap: &Snapshot,
        req: &AdRequest,
        now: Timestamp,
        s: &mut Scratch,
        out: &mut Decision,
    ) {
        s.keys.clear();
        s.candidates.clear();
        s.control.clear();
        s.fates.clear();
        snap.index
            .matches(&req.attributes, &mut s.targeting, &mut s.keys);

        s.blocked_categories.clear();
        for name in &req.blocked_categories {
            if let Some(&id) = snap.category_ids.get(name) {
                s.blocked_categories.push(id);
            }
        }
        s.blocked_domains.clear();
        s.blocked_domains.extend(
            req.blocked_domains
                .iter()
                .map(|d| AdvertiserDomain::from_domain(d)),
        );
        let seed = mix64(self.config.seed ^ mix64(req.id));
        s.facts = if snap.any_restricted {
            snap.codes.facts(&req.attributes)
        } else {
            Facts::NONE
        };

        // The slot every creative must fit, shortened to what the member's ad load
        // still allows; with nothing left, no ad is shown at all.
        let mut slot = slot_of(&req.opportunity);
        if slot.format == Format::Video {
            let allowance = self.ad_load.allowance(
                Identities {
                    user: req.user,
                    household: req.household,
                },
                req.session,
                now,
            );
            if !allowance.pod || allowance.ad_seconds == 0 {
                if req.trace {
                    s.fates
                        .extend(s.keys.iter().map(|&k| (k, Fate::AdLoadCapped)));
                }
                s.keys.clear();
            }
            slot.max_s = slot.max_s.min(allowance.ad_seconds);
        }

        // Touch every targeted campaign's funnel entry first in a loop with no
        // dependencies, so the CPU overlaps the cache misses (at 100k campaigns the entries
        // live far beyond L2) instead of taking them one by one inside the checks below.
        let mut touched = 0i64;
        for &key in &s.keys {
            if let Some(h) = snap.hot.get(key as usize) {
                // Both cache lines of the entry (see `Hot`).
                touched ^= h.flight.start.as_millis() ^ i64::from(h.flags);
            }
        }
        std::hint::black_box(touched);

        for i in 0..s.keys.len() {
            let key = s.keys[i];
            let Some(hot) = snap.hot.get(key as usize) else {
                continue;
            };
            #[cfg(test)]
            let forced = Hot {
                flags: Hot::DEALS | Hot::CAPS | Hot::PACER | Hot::HOLDOUT | Hot::COLD_BID,
                ..*hot
            };
            #[cfg(test)]
            let hot = if FORCE_COLD.get() { &forced } else { hot };
            match self.candidate(snap, hot, key, seed, &slot, req, now, s) {
                Ok(candidate) => s.candidates.push(candidate),
                Err(fate) => {
                    if req.trace {
                        s.fates.push((key, fate));
                    }
                }
            }
        }

        let floors = Floors::hard(req.floor);
        let opportunity = match &req.opportunity {
            Opportunity::Single { .. } => AuctionOpportunity::Single(floors),
            Opportunity::Ranked { factors, .. } => {
                AuctionOpportunity::Ranked(RankedSlots { factors, floors })
            }
            Opportunity::Pod(pod) => {
                if s.candidates.len() > MAX_POD_CANDIDATES {
                    self.keep_best(s, MAX_POD_CANDIDATES, req.trace);
                }
                AuctionOpportunity::Pod(PodSpec {
                    max_slots: pod.max_slots.min(u32::from(u16::MAX)) as u16,
                    max_duration_s: pod.max_duration_s.min(slot.max_s),
                    required_durations_s: &pod.required_durations_s,
                    floors,
                    floor_per_second: Cpm::ZERO,
                    separation: Separation::ALL,
                })
            }
        };

        let mut invalid_request = false;
        for round in 0..AUCTION_ROUNDS {
            out.placements.clear();
            if s.candidates.is_empty() {
                s.outcome.clear();
                break;
            }
            if self
                .auction
                .run_into(&opportunity, &s.candidates, seed ^ round, &mut s.outcome)
                .is_err()
            {
                invalid_request = true;
                s.outcome.clear();
                break;
            }
            let last_round = round + 1 == AUCTION_ROUNDS;
            // Winners that cannot be served leave the auction, which then runs again:
            // control-group winners (recorded as ghosts) and winners whose reservation
            // failed (another thread spent the budget first).
            s.dropped.clear();
            for p in s.outcome.placements() {
                let c = &snap.compiled[p.key as usize];
                let Some(cand) = s.candidates.iter().find(|x| x.key == p.key) else {
                    continue;
                };
                if s.control.contains(&p.key) {
                    let impression = self.next_impression();
                    self.record_ghost(c, cand.creative, req.user, req.household, impression, now);
                    out.ghosts.push(Ghost {
                        campaign: c.id,
                        impression,
                    });
                    s.dropped.push((p.key, Fate::HeldOut));
                    continue;
                }
                // A free (zero-price) impression still reserves one micro so its receipt
                // can be checked; the commit charges the real price.
                let amount = p.price_per_impression.max(Money::from_micros(1));
                match c.ledger.try_reserve(amount, now) {
                    Ok(reservation) => out.placements.push(Placement {
                        slot: u32::from(p.slot),
                        campaign: c.id,
                        creative: cand.creative,
                        advertiser: c.advertiser,
                        price: p.price_per_impression,
                        price_cpm: p.price,
                        deal: cand.deal.map(|d| d.id),
                        duration_s: cand.duration_s,
                        receipt: Receipt {
                            impression: ImpressionId::new(0),
                            campaign: c.id,
                            creative: cand.creative,
                            advertiser: c.advertiser,
                            price: p.price_per_impression,
                            user: req.user,
                            household: req.household,
                            decided_at: now,
                            reservation,
                            session: req.session,
                            stream: req.stream,
                            pod: 0,
                        },
                    }),
                    Err(e) => {
                        let fate = match e {
                            adloop_pacing::Error::BudgetExhausted { .. } => {
                                snap.set_budget_hint(p.key, false);
                                Fate::BudgetExhausted
                            }
                            _ => Fate::ReservationFailed,
                        };
                        s.dropped.push((p.key, fate));
                    }
                }
            }
            if s.dropped.is_empty() || last_round {
                if req.trace {
                    s.fates.extend_from_slice(&s.dropped);
                }
                break;
            }
            // Prices and pod composition change without the dropped winners: give back
            // this round's reservations and auction again.
            for p in out.placements.drain(..) {
                if let Some(c) = snap.get(p.campaign) {
                    let _ = c.ledger.release(&p.receipt.reservation);
                }
            }
            let dropped = &s.dropped;
            s.candidates
                .retain(|c| !dropped.iter().any(|(k, _)| *k == c.key));
            if req.trace {
                s.fates.extend_from_slice(&s.dropped);
            }
        }
        if s.outcome.truncated() && !out.placements.is_empty() {
            out.truncated = true;
            // Relaxed: a statistics counter; nothing is published through it.
            self.truncated_pods.fetch_add(1, Ordering::Relaxed);
        }
        let mut pod = 0;
        for p in &mut out.placements {
            p.receipt.impression = self.next_impression();
            if pod == 0 {
                pod = p.receipt.impression.get();
            }
            p.receipt.pod = pod;
        }
        if req.trace {
            for p in s.outcome.placements() {
                if out.placements.iter().any(|x| x.slot == u32::from(p.slot)) {
                    s.fates.push((p.key, Fate::Won));
                }
            }
        }
        // Renumber slots densely when a reservation failed in the middle.
        for (i, p) in out.placements.iter_mut().enumerate() {
            if !matches!(req.opportunity, Opportunity::Ranked { .. }) {
                p.slot = i as u32;
            }
        }

        if req.trace {
            out.trace = Some(self.build_trace(snap, s, invalid_request));
        }
    }

    /// Eligibility of one targeted campaign, in delivery-funnel order; the auction
    /// candidate when it passes. Reads `hot` and, only where its flags say the campaign
    /// needs more, the campaign's [`Compiled`] entry.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn candidate(
        &self,
        snap: &Snapshot,
        hot: &Hot,
        key: u32,
        seed: u64,
        slot: &Slot<'_>,
        req: &AdRequest,
        now: Timestamp,
        s: &mut Scratch,
    ) -> Result<Candidate, Fate> {
        if !hot.flight.contains(now) {
            return Err(Fate::OutOfFlight);
        }
        if (!s.blocked_categories.is_empty()
            && hot
                .categories
                .as_slice()
                .iter()
                .any(|id| s.blocked_categories.contains(id)))
            || (!s.blocked_domains.is_empty()
                && hot.domain.is_some_and(|d| s.blocked_domains.contains(&d)))
        {
            return Err(Fate::Blocked);
        }
        let cold = || &snap.compiled[key as usize];
        let deal = (hot.has(Hot::DEALS) && !req.deals.is_empty())
            .then(|| {
                let deals = &cold().deals;
                req.deals.iter().find(|offer| deals.contains(&offer.id))
            })
            .flatten()
            .map(|offer| Deal {
                id: offer.id,
                floor: offer.floor,
                fixed_price: offer.fixed_price,
            });
        if req.private_auction && deal.is_none() {
            return Err(Fate::NotInDeal);
        }
        let (creative, duration_s) = if hot.has(Hot::ONE_CREATIVE) {
            // Every rotation picks the only variant; it need only fit.
            if !slot.admits(hot.format, hot.duration_s) {
                return Err(Fate::NoFittingCreative);
            }
            (hot.creative, hot.duration_s)
        } else {
            let c = cold();
            let last_shown = match c.creatives.rotation {
                Rotation::Sequential => {
                    identity(req.user, req.household).and_then(|(_, household)| {
                        self.touches
                            .last(household.get(), c.id, now, self.touch_ttl_secs())
                    })
                }
                _ => None,
            };
            let draw = mix64(seed ^ c.id.get().rotate_left(29) ^ 0x5eed_c4ea_71fe);
            let v = c
                .creatives
                .choose(slot, s.facts, &req.attributes, draw, last_shown)
                .ok_or(Fate::NoFittingCreative)?;
            (v.id, v.duration_s)
        };
        if hot.has(Hot::CAPS) && !self.frequency_allows(cold(), req, now) {
            return Err(Fate::FrequencyCapped);
        }
        if req.stream.is_some()
            && !self.ad_load.stream_allows(
                Identities {
                    user: req.user,
                    household: req.household,
                },
                req.stream,
                hot.id,
                now,
            )
        {
            return Err(Fate::FrequencyCapped);
        }
        let multiplier = if hot.has(Hot::PACER) {
            self.pacing_multiplier(cold(), seed, now)
                .ok_or(Fate::PacedOut)?
        } else {
            1.0
        };
        let bid = if hot.has(Hot::COLD_BID) {
            self.auction_bid(cold())
        } else {
            AuctionBid::Cpm(hot.cpm)
        };
        if !snap.budget_hint(key) {
            return Err(Fate::BudgetExhausted);
        }
        if hot.has(Hot::HOLDOUT) && self.in_control_group(cold(), req) {
            s.control.push(key);
        }
        Ok(Candidate {
            key,
            campaign: hot.id,
            creative,
            advertiser: hot.advertiser,
            domain: hot.domain,
            tier: hot.tier,
            bid,
            multiplier,
            deal,
            categories: hot.categories,
            duration_s,
        })
    }

    /// Whether the request's viewer is in `c`'s holdout control group.
    fn in_control_group(&self, c: &Compiled, req: &AdRequest) -> bool {
        c.holdout > 0.0
            && identity(req.user, req.household).is_some_and(|(user, household)| {
                self.attribution.assign(user, household, c.id, c.holdout) == Group::Control
            })
    }

    fn predicted_ctr(&self, c: &Compiled) -> f64 {
        self.attribution.feedback(c.id).ctr
    }

    fn predicted_cvr(&self, c: &Compiled) -> f64 {
        self.attribution.feedback(c.id).cvr
    }

    fn frequency_allows(&self, c: &Compiled, req: &AdRequest, now: Timestamp) -> bool {
        c.caps.is_empty() || {
            let who = Identities {
                user: req.user,
                household: req.household,
            };
            self.frequency.check(who, c.id, c.advertiser, &c.caps, now)
        }
    }

    /// The pacing admission: `None` when the controller skips this opportunity, else the
    /// bid multiplier. Seeded per (decision, campaign), so replays admit alike.
    fn pacing_multiplier(&self, c: &Compiled, seed: u64, now: Timestamp) -> Option<f64> {
        let Some(p) = &c.pacer else {
            return Some(1.0);
        };
        // Relaxed: an opportunity counter read by tick; see `PacerEntry`.
        p.opportunities.fetch_add(1, Ordering::Relaxed);
        let mut rng = SmallRng::seed_from_u64(mix64(seed ^ c.id.get()));
        let admission = p.pacer.admit(now, &mut rng);
        admission.participate.then_some(admission.bid_multiplier)
    }

    /// Whether `c`'s budget can still pay its own bid for one impression (CPC and CPA
    /// bids: one micro) at `now`: the hint [`Snapshot::budget_hint`] caches.
    pub(crate) fn budget_allows(c: &Compiled, now: Timestamp) -> bool {
        let amount = match c.bid {
            Bid::Cpm(cpm) => cpm.per_impression(),
            _ => Money::ZERO,
        }
        .max(Money::from_micros(1));
        let spend = c.ledger.spend(now);
        c.daily_limit
            .is_none_or(|limit| spend.used_today.saturating_add(amount) <= limit)
            && c.lifetime_limit
                .is_none_or(|limit| spend.used_lifetime.saturating_add(amount) <= limit)
    }

    fn auction_bid(&self, c: &Compiled) -> AuctionBid {
        match c.bid {
            Bid::Cpm(cpm) => AuctionBid::Cpm(cpm),
            Bid::Cpc(per_click) => AuctionBid::Cpc {
                per_click,
                ctr: self.predicted_ctr(c),
            },
            Bid::Cpa(per_action) => AuctionBid::Cpa {
                per_action,
                rate: self.predicted_cvr(c),
            },
        }
    }

    /// Keeps the `limit` candidates of highest (tier, eCPM); the rest are outbid.
    fn keep_best(&self, s: &mut Scratch, limit: usize, trace: bool) {
        s.candidates.sort_by_key(|c| {
            let ecpm = c.effective_ecpm().map_or(0, |e| e.micros());
            (std::cmp::Reverse(c.tier), std::cmp::Reverse(ecpm), c.key)
        });
        if trace {
            for c in &s.candidates[limit..] {
                s.fates.push((c.key, Fate::Outbid));
            }
        }
        s.candidates.truncate(limit);
    }

    fn build_trace(&self, snap: &Snapshot, s: &Scratch, invalid_request: bool) -> Trace {
        let mut fates = vec![Fate::NotTargeted; snap.compiled.len()];
        for c in &s.candidates {
            fates[c.key as usize] = if invalid_request {
                Fate::InvalidRequest
            } else {
                Fate::Outbid
            };
        }
        for loss in s.outcome.losses() {
            fates[loss.key as usize] = fate_of(loss.reason);
        }
        for &(key, fate) in &s.fates {
            fates[key as usize] = fate;
        }
        Trace {
            entries: snap
                .compiled
                .iter()
                .zip(fates)
                .map(|(c, fate)| TraceEntry {
                    campaign: c.id,
                    fate,
                })
                .collect(),
        }
    }
}

/// The slot an opportunity offers each creative: format, longest video (`u32::MAX`: no
/// limit) and required durations.
pub(crate) fn slot_of(opportunity: &Opportunity) -> Slot<'_> {
    let unlimited = |s: u32| if s == 0 { u32::MAX } else { s };
    match opportunity {
        Opportunity::Single {
            format,
            max_duration_s,
        } => Slot {
            format: *format,
            max_s: unlimited(*max_duration_s),
            required: &[],
        },
        Opportunity::Ranked { format, .. } => Slot {
            format: *format,
            max_s: u32::MAX,
            required: &[],
        },
        Opportunity::Pod(pod) => Slot {
            format: Format::Video,
            max_s: unlimited(pod.max_duration_s),
            required: &pod.required_durations_s,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Pod;

    #[test]
    fn creatives_must_fit_format_length_and_required_durations() {
        use crate::campaign::Creative;
        use crate::creative::{Codes, Creatives, VariantStats};
        use std::sync::Arc;
        let all = [
            Creative::display(1),
            Creative::video(2, 30),
            Creative::video(3, 15),
        ];
        let mut codes = Codes::default();
        let set = Creatives::compile(
            &all,
            Rotation::Sequential,
            Arc::default(),
            &mut codes,
            |id| Arc::new(VariantStats::new(1, adloop_core::CampaignId::new(1), id)),
        )
        .unwrap();
        let request = adloop_targeting::Request::new();
        // Sequential with no history: the first that fits, in list order.
        let pick = |o: &Opportunity| {
            set.choose(&slot_of(o), Facts::NONE, &request, 0, None)
                .map(|c| c.id.get())
        };
        let single = |format, max_duration_s| Opportunity::Single {
            format,
            max_duration_s,
        };
        assert_eq!(pick(&single(Format::Display, 0)), Some(1));
        assert_eq!(pick(&single(Format::Video, 0)), Some(2));
        assert_eq!(pick(&single(Format::Video, 20)), Some(3));
        assert_eq!(pick(&single(Format::Video, 10)), None);
        let pod = |required: Vec<u32>| {
            Opportunity::Pod(Pod {
                max_slots: 2,
                max_duration_s: 60,
                required_durations_s: required,
            })
        };
        assert_eq!(pick(&pod(vec![15])), Some(3));
        assert_eq!(pick(&pod(vec![6])), None);
    }

    #[test]
    fn every_auction_loss_has_a_fate() {
        assert_eq!(fate_of(LossReason::BelowFloor), Fate::BelowFloor);
        assert_eq!(
            fate_of(LossReason::SameAdvertiserDomain),
            Fate::SameAdvertiser
        );
        assert_eq!(
            fate_of(LossReason::CompetitiveCategory),
            Fate::CategoryConflict
        );
        assert_eq!(fate_of(LossReason::InvalidRate), Fate::InvalidBid);
        assert_eq!(fate_of(LossReason::PodFull), Fate::PodFull);
    }

    #[test]
    fn seeds_spread() {
        assert_ne!(mix64(1), mix64(2));
        assert_ne!(mix64(0), 0);
    }
}
