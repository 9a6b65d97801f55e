//! The decide path: snapshot → targeting → eligibility → bids → auction → reservation.
//!
//! Everything a decision needs to grow lives in a per-thread [`Scratch`] (targeting
//! scratch, key and candidate buffers, the auction outcome), so a steady-state decision
//! allocates only its own answer.

use crate::engine::{Compiled, Engine, Snapshot, identity};
use crate::request::{
    AdRequest, Decision, Fate, Ghost, Opportunity, Placement, Receipt, Trace, TraceEntry,
};
use adloop_attribution::Group;
use adloop_auction::{
    AdvertiserDomain, Bid as AuctionBid, Candidate, Deal, Floors, LossReason, MAX_POD_CANDIDATES,
    Opportunity as AuctionOpportunity, Outcome, PodSpec, RankedSlots, Separation,
};
use adloop_core::{Cpm, Money, Timestamp};
use smallvec::SmallVec;
use std::cell::RefCell;

use crate::campaign::{Bid, Creative, Format};

/// How many times a pod or slot is re-auctioned after holdout (control-group) winners are
/// recorded as ghosts and taken out.
const HOLDOUT_ROUNDS: u64 = 3;

/// Per-thread buffers of the decide path.
#[derive(Default)]
pub(crate) struct Scratch {
    targeting: adloop_targeting::Scratch,
    keys: Vec<u32>,
    candidates: Vec<Candidate>,
    control: Vec<u32>,
    outcome: Outcome,
    /// Trace only: the fate of each candidate that did not reach the auction.
    fates: Vec<(u32, Fate)>,
    blocked_categories: SmallVec<[u32; 8]>,
    blocked_domains: SmallVec<[AdvertiserDomain; 8]>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

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

        for i in 0..s.keys.len() {
            let key = s.keys[i];
            let Some(c) = snap.compiled.get(key as usize) else {
                continue;
            };
            match self.candidate(c, key, req, now, s) {
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
                    max_duration_s: pod.max_duration_s,
                    required_durations_s: &pod.required_durations_s,
                    floors,
                    floor_per_second: Cpm::ZERO,
                    separation: Separation::ALL,
                })
            }
        };

        let mut invalid_request = false;
        for round in 0..HOLDOUT_ROUNDS {
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
                break;
            }
            // Control-group winners become ghosts and leave the auction; the rest re-run.
            let mut held = false;
            for p in s.outcome.placements() {
                if s.control.contains(&p.key) {
                    held = true;
                    let c = &snap.compiled[p.key as usize];
                    let impression = self.next_impression();
                    let creative = s
                        .candidates
                        .iter()
                        .find(|x| x.key == p.key)
                        .map_or_else(Default::default, |x| x.creative);
                    self.record_ghost(c, creative, req.user, req.household, impression, now);
                    out.ghosts.push(Ghost {
                        campaign: c.id,
                        impression,
                    });
                    if req.trace {
                        s.fates.push((p.key, Fate::HeldOut));
                    }
                }
            }
            if !held {
                break;
            }
            let control = &s.control;
            let placed: SmallVec<[u32; 16]> =
                s.outcome.placements().iter().map(|p| p.key).collect();
            s.candidates
                .retain(|c| !(control.contains(&c.key) && placed.contains(&c.key)));
            if round + 1 == HOLDOUT_ROUNDS {
                s.outcome.clear();
            }
        }

        for p in s.outcome.placements() {
            if s.control.contains(&p.key) {
                continue;
            }
            let c = &snap.compiled[p.key as usize];
            let Some(cand) = s.candidates.iter().find(|x| x.key == p.key) else {
                continue;
            };
            // A free (zero-price) impression still reserves one micro so its receipt can
            // be checked; the commit charges the real price.
            let amount = p.price_per_impression.max(Money::from_micros(1));
            match c.ledger.try_reserve(amount, now) {
                Ok(reservation) => {
                    let impression = self.next_impression();
                    out.placements.push(Placement {
                        slot: u32::from(p.slot),
                        campaign: c.id,
                        creative: cand.creative,
                        advertiser: c.advertiser,
                        price: p.price_per_impression,
                        price_cpm: p.price,
                        deal: cand.deal.map(|d| d.id),
                        duration_s: cand.duration_s,
                        receipt: Receipt {
                            impression,
                            campaign: c.id,
                            creative: cand.creative,
                            advertiser: c.advertiser,
                            price: p.price_per_impression,
                            user: req.user,
                            household: req.household,
                            decided_at: now,
                            reservation,
                        },
                    });
                    if req.trace {
                        s.fates.push((p.key, Fate::Won));
                    }
                }
                Err(_) => {
                    if req.trace {
                        s.fates.push((p.key, Fate::ReservationFailed));
                    }
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
    /// candidate when it passes.
    fn candidate(
        &self,
        c: &Compiled,
        key: u32,
        req: &AdRequest,
        now: Timestamp,
        s: &mut Scratch,
    ) -> Result<Candidate, Fate> {
        if !c.flight.contains(now) {
            return Err(Fate::OutOfFlight);
        }
        if c.categories
            .as_slice()
            .iter()
            .any(|id| s.blocked_categories.contains(id))
            || c.domain.is_some_and(|d| s.blocked_domains.contains(&d))
        {
            return Err(Fate::Blocked);
        }
        let deal = req
            .deals
            .iter()
            .find(|offer| c.deals.contains(&offer.id))
            .map(|offer| Deal {
                id: offer.id,
                floor: offer.floor,
                fixed_price: offer.fixed_price,
            });
        if req.private_auction && deal.is_none() {
            return Err(Fate::NotInDeal);
        }
        let creative =
            choose_creative(&c.creatives, &req.opportunity).ok_or(Fate::NoFittingCreative)?;
        if !self.frequency_allows(c, req, now) {
            return Err(Fate::FrequencyCapped);
        }
        let multiplier = self.pacing_multiplier(c, req, now).ok_or(Fate::PacedOut)?;
        let bid = self.auction_bid(c);
        // The most the auction can charge is the bid (a fixed deal price at most); a
        // budget that cannot cover it sits out rather than win a slot it cannot pay for.
        let most = match (deal.and_then(|d| d.fixed_price), bid) {
            (Some(fixed), _) => fixed.per_impression(),
            (None, AuctionBid::Cpm(cpm)) => cpm.per_impression(),
            (None, _) => Money::from_micros(1),
        };
        if !self.budget_allows(c, most.max(Money::from_micros(1)), now) {
            return Err(Fate::BudgetExhausted);
        }
        if c.holdout > 0.0 && self.in_control_group(c, req) {
            s.control.push(key);
        }
        Ok(Candidate {
            key,
            campaign: c.id,
            creative: creative.id,
            advertiser: c.advertiser,
            domain: c.domain,
            tier: c.tier,
            bid,
            multiplier,
            deal,
            categories: c.categories,
            duration_s: creative.duration_s,
        })
    }

    /// Whether the request's viewer is in `c`'s holdout control group.
    fn in_control_group(&self, c: &Compiled, req: &AdRequest) -> bool {
        identity(req.user, req.household).is_some_and(|(user, household)| {
            self.attribution.assign(user, household, c.id, c.holdout) == Group::Control
        })
    }

    fn predicted_ctr(&self, c: &Compiled) -> f64 {
        self.attribution.feedback(c.id).ctr
    }

    fn predicted_cvr(&self, c: &Compiled) -> f64 {
        self.attribution.feedback(c.id).cvr
    }

    fn frequency_allows(&self, _c: &Compiled, _req: &AdRequest, _now: Timestamp) -> bool {
        true
    }

    fn pacing_multiplier(&self, _c: &Compiled, _req: &AdRequest, _now: Timestamp) -> Option<f64> {
        Some(1.0)
    }

    fn budget_allows(&self, c: &Compiled, amount: Money, now: Timestamp) -> bool {
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

/// The first creative that fits the opportunity's format and duration rules.
fn choose_creative<'c>(
    creatives: &'c [Creative],
    opportunity: &Opportunity,
) -> Option<&'c Creative> {
    let format = opportunity.format();
    let (max_s, required): (u32, &[u32]) = match opportunity {
        Opportunity::Single { max_duration_s, .. } => (*max_duration_s, &[]),
        Opportunity::Ranked { .. } => (0, &[]),
        Opportunity::Pod(pod) => (pod.max_duration_s, &pod.required_durations_s),
    };
    creatives.iter().find(|cr| {
        cr.format == format
            && (format == Format::Display
                || ((max_s == 0 || cr.duration_s <= max_s)
                    && (required.is_empty() || required.contains(&cr.duration_s))))
    })
}
