use crate::Tier;
use crate::candidate::Eval;
use crate::pod::Entry;
use adloop_core::{Cpm, Money};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;

/// Why a candidate did not win a placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LossReason {
    /// The bid price is negative or the effective eCPM exceeds [`MAX_ECPM`](crate::MAX_ECPM).
    InvalidBid,
    /// The predicted rate is NaN or outside `[0, 1]`.
    InvalidRate,
    /// The pacing multiplier is non-finite, negative or too large.
    InvalidMultiplier,
    /// The deal has a negative floor, or a fixed price below its floor.
    InvalidDeal,
    /// A zero-second video in a pod.
    InvalidDuration,
    /// The eCPM is below the opportunity's hard floor (or the per-second pod floor), or a
    /// fixed deal price is.
    BelowFloor,
    /// The eCPM is below the deal's floor or fixed price.
    BelowDealFloor,
    /// A higher tier took the slot(s).
    LowerTier,
    /// A higher bid took the slot(s).
    Outbid,
    /// An equal bid took the slot after the seeded tie-break.
    TieBreak,
    /// An ad of the same advertiser won.
    SameAdvertiser,
    /// An ad of the same advertiser domain is in the pod.
    SameAdvertiserDomain,
    /// An ad sharing a competitive category is in the pod.
    CompetitiveCategory,
    /// The same creative is already in the pod.
    SameCreative,
    /// The duration is not accepted by the pod, or does not fit the time left.
    DurationDoesNotFit,
    /// Every pod slot is taken.
    PodFull,
}

impl LossReason {
    /// A short lowercase label (`"below floor"`), for logs and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            LossReason::InvalidBid => "invalid bid",
            LossReason::InvalidRate => "invalid predicted rate",
            LossReason::InvalidMultiplier => "invalid bid multiplier",
            LossReason::InvalidDeal => "invalid deal",
            LossReason::InvalidDuration => "invalid duration",
            LossReason::BelowFloor => "below floor",
            LossReason::BelowDealFloor => "below deal floor",
            LossReason::LowerTier => "lower tier",
            LossReason::Outbid => "outbid",
            LossReason::TieBreak => "lost tie-break",
            LossReason::SameAdvertiser => "same advertiser excluded",
            LossReason::SameAdvertiserDomain => "same advertiser domain excluded",
            LossReason::CompetitiveCategory => "competitive category conflict",
            LossReason::SameCreative => "same creative excluded",
            LossReason::DurationDoesNotFit => "duration does not fit",
            LossReason::PodFull => "pod full",
        }
    }

    /// `true` for the reasons that mean the candidate itself was malformed.
    pub const fn is_invalid_input(self) -> bool {
        matches!(
            self,
            LossReason::InvalidBid
                | LossReason::InvalidRate
                | LossReason::InvalidMultiplier
                | LossReason::InvalidDeal
                | LossReason::InvalidDuration
        )
    }
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sold slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The slot: 0 for a single slot; the position for ranked slots; the position in the
    /// pod (in rank order: highest tier, then highest eCPM first) for a pod.
    pub slot: u16,
    /// The winning candidate's key.
    pub key: u32,
    /// Its tier.
    pub tier: Tier,
    /// Its effective eCPM (bid × rate × multiplier): the price never exceeds it.
    pub bid: Cpm,
    /// The price as a CPM. For ranked slots it is per unit of the slot's factor, like the
    /// bid.
    pub price: Cpm,
    /// The price of one impression, `price / 1000` rounded toward zero (see [`Cpm`]).
    pub price_per_impression: Money,
    /// The creative duration (pods; copied from the candidate otherwise).
    pub duration_s: u32,
}

/// A candidate that did not win, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Loss {
    /// The candidate's key.
    pub key: u32,
    /// Why it lost.
    pub reason: LossReason,
}

/// The result of one auction: placements, and a loss reason for every other candidate.
///
/// Holds up to 16 placements and 32 losses inline, so an auction of up to 32 candidates
/// fills it without touching the heap. Reuse one `Outcome` across calls
/// ([`Auction::run_into`](crate::Auction::run_into)) to keep any grown capacity: it also
/// keeps the auction's working buffers for larger candidate lists, so a reused `Outcome`
/// reaches a steady state with no allocation at any candidate count.
///
/// Two outcomes are equal when their placements, losses and [`truncated`](Self::truncated)
/// flag are; cloning copies those only (not the working buffers).
#[derive(Default)]
pub struct Outcome {
    pub(crate) placements: SmallVec<[Placement; 16]>,
    pub(crate) losses: SmallVec<[Loss; 32]>,
    pub(crate) truncated: bool,
    pub(crate) scratch: Scratch,
}

impl Clone for Outcome {
    fn clone(&self) -> Self {
        Outcome {
            placements: self.placements.clone(),
            losses: self.losses.clone(),
            truncated: self.truncated,
            scratch: Scratch::default(),
        }
    }
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        self.placements == other.placements
            && self.losses == other.losses
            && self.truncated == other.truncated
    }
}

impl Eq for Outcome {}

impl fmt::Debug for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcome")
            .field("placements", &self.placements)
            .field("losses", &self.losses)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// The heap buffers an auction over more candidates than its inline capacities used,
/// kept for the next call on the same [`Outcome`] (empty until one spills).
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) evals: Vec<Eval>,
    pub(crate) order: Vec<u128>,
    pub(crate) entries: Vec<Entry>,
    /// The pod search's twin index buffer (see `pod::Search::find_twins`).
    pub(crate) twins: Vec<u16>,
}

/// A buffer with `A`'s inline capacity that starts on `spare`'s heap allocation when
/// there is one (so a grown buffer is reused, not allocated again); empty either way.
pub(crate) fn lend<A: smallvec::Array>(spare: &mut Vec<A::Item>) -> SmallVec<A> {
    let mut v = std::mem::take(spare);
    v.clear();
    // Keeps the heap buffer when its capacity exceeds the inline one; `spare` only ever
    // holds such buffers (see `keep`), or nothing.
    SmallVec::from_vec(v)
}

/// Returns a lent buffer's heap allocation to `spare` (if it spilled) for the next call.
pub(crate) fn keep<A: smallvec::Array>(spare: &mut Vec<A::Item>, buf: SmallVec<A>) {
    if buf.spilled() {
        let mut v = buf.into_vec();
        v.clear();
        *spare = v;
    }
}

impl Outcome {
    /// An empty outcome.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the outcome, keeping its capacity.
    pub fn clear(&mut self) {
        self.placements.clear();
        self.losses.clear();
        self.truncated = false;
    }

    /// True when a pod search stopped at its node budget (2¹² nodes, 2¹⁰ per VCG
    /// re-run): the pod is feasible and at least as good as the greedy fill but not
    /// proven optimal, and a VCG price whose re-run stopped may be low. Never set for
    /// single or ranked slots, nor for pods of up to 11 eligible ads (a node is a distinct
    /// subset: 12 are searched in full, and each VCG re-run leaves one out of 11).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The placements, by slot.
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// The first placement (the winner of a single slot), if anything filled.
    pub fn winner(&self) -> Option<&Placement> {
        self.placements.first()
    }

    /// One entry per candidate that did not place, in candidate order.
    pub fn losses(&self) -> &[Loss] {
        &self.losses
    }

    /// The loss reason of `key`, or `None` if it placed or was not in the auction
    /// (a linear scan).
    pub fn loss_reason(&self, key: u32) -> Option<LossReason> {
        self.losses.iter().find(|l| l.key == key).map(|l| l.reason)
    }

    /// The placement of `key`, if it placed (a linear scan).
    pub fn placement(&self, key: u32) -> Option<&Placement> {
        self.placements.iter().find(|p| p.key == key)
    }

    /// Sum of the placements' per-impression prices.
    pub fn total_price_per_impression(&self) -> Money {
        self.placements.iter().map(|p| p.price_per_impression).sum()
    }

    #[inline]
    pub(crate) fn place(
        &mut self,
        slot: usize,
        key: u32,
        tier: Tier,
        bid: i64,
        price: i64,
        duration_s: u32,
    ) {
        let price = Cpm::from_micros(price);
        self.placements.push(Placement {
            slot: slot as u16,
            key,
            tier,
            bid: Cpm::from_micros(bid),
            price,
            price_per_impression: price.per_impression(),
            duration_s,
        });
    }

    #[inline]
    pub(crate) fn lose(&mut self, key: u32, reason: LossReason) {
        self.losses.push(Loss { key, reason });
    }
}
