//! What the ad server asks ([`AdRequest`]) and what the engine answers ([`Decision`]).

use crate::campaign::Format;
use adloop_core::{
    AdvertiserId, CampaignId, Cpm, CreativeId, DealId, HouseholdId, ImpressionId, Money, Timestamp,
    UserId,
};
use adloop_pacing::Reservation;
use adloop_targeting::Request;
use serde::{Deserialize, Serialize};

/// Most slots one ranked request or pod may ask for.
pub const MAX_SLOTS: usize = 8;

/// One ad opportunity: who is watching, where, and what can be filled.
///
/// Built by the caller or by [`openrtb::parse_bid_request`](crate::openrtb::parse_bid_request).
#[derive(Clone, Debug, Default)]
pub struct AdRequest {
    /// Request id; with the engine seed it seeds every random choice of the decision, so the
    /// same request against the same state gives the same answer.
    pub id: u64,
    /// The viewer, when known.
    pub user: Option<UserId>,
    /// The viewer's household, when known.
    pub household: Option<HouseholdId>,
    /// Targeting facts (segments, geo, device, content), matched by campaign expressions.
    /// Reuse one request (with [`Request::clear`]) to avoid allocating per decision.
    pub attributes: Request,
    /// The slots to fill.
    pub opportunity: Opportunity,
    /// Floor price for the open auction.
    pub floor: Cpm,
    /// Private-marketplace deals offered on this opportunity.
    pub deals: Vec<DealOffer>,
    /// When true, only campaigns bidding in one of `deals` may fill.
    pub private_auction: bool,
    /// Competitive categories the publisher blocks (`bcat`).
    pub blocked_categories: Vec<String>,
    /// Advertiser domains the publisher blocks (`badv`).
    pub blocked_domains: Vec<String>,
    /// When true, the decision carries a [`Trace`] of every campaign's fate.
    pub trace: bool,
    /// The viewing session, when the player knows it (member ad-load caps per session;
    /// without one, a session is viewing without long gaps).
    pub session: Option<u64>,
    /// The stream being watched (an episode, a film, a live event), for the per-stream
    /// campaign cap.
    pub stream: Option<u64>,
}

/// The slots a request asks to fill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Opportunity {
    /// One slot.
    Single {
        /// Video or display.
        format: Format,
        /// Longest video that fits, in seconds (0: no limit).
        max_duration_s: u32,
    },
    /// Ranked positions priced by GSP or VCG; `factors` are the positions' relative values,
    /// strictly decreasing, first one largest.
    Ranked {
        /// Video or display.
        format: Format,
        /// Position value factors (α₁ > α₂ > … > 0), at most [`MAX_SLOTS`].
        factors: Vec<u32>,
    },
    /// A video ad pod (a CTV break).
    Pod(Pod),
}

impl Default for Opportunity {
    fn default() -> Self {
        Opportunity::Single {
            format: Format::Video,
            max_duration_s: 0,
        }
    }
}

impl Opportunity {
    /// The creative format the opportunity accepts.
    pub fn format(&self) -> Format {
        match self {
            Opportunity::Single { format, .. } | Opportunity::Ranked { format, .. } => *format,
            Opportunity::Pod(_) => Format::Video,
        }
    }
}

/// A video ad pod in OpenRTB 2.6 terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    /// Most ads in the pod (`maxseq`), at most [`MAX_SLOTS`].
    pub max_slots: u32,
    /// Total seconds available (`poddur`).
    pub max_duration_s: u32,
    /// When not empty, every ad must last exactly one of these (`rqddurs`).
    pub required_durations_s: Vec<u32>,
}

/// A private-marketplace deal offered on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealOffer {
    /// The deal.
    pub id: DealId,
    /// The deal's floor.
    pub floor: Cpm,
    /// When set, the deal clears at this fixed price (programmatic guaranteed / preferred).
    pub fixed_price: Option<Cpm>,
}

/// The engine's answer to one [`AdRequest`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The snapshot generation the decision was made against.
    pub generation: crate::Generation,
    /// The ads to show, in slot order.
    pub placements: Vec<Placement>,
    /// Holdout (control-group) wins recorded as ghost impressions instead of being shown.
    pub ghosts: Vec<Ghost>,
    /// Every campaign's fate, when the request asked for a trace.
    pub trace: Option<Trace>,
    /// The pod search stopped at its node budget (see the auction's
    /// `Outcome::truncated`), in the auction round whose placements were served: the
    /// pod is feasible and fills at least as well as the greedy fill, but is not proven
    /// optimal; or, with VCG pod pricing, only a re-run that prices one ad stopped, and
    /// that ad's price may be low. Always `false` outside pods. Counted in
    /// [`Engine::truncated_pods`](crate::Engine::truncated_pods).
    pub truncated: bool,
}

impl Decision {
    /// Whether nothing filled.
    pub fn is_empty(&self) -> bool {
        self.placements.is_empty()
    }
}

/// One ad to show.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// Slot index (0-based; pod position for pods).
    pub slot: u32,
    /// The winning campaign.
    pub campaign: CampaignId,
    /// Its chosen creative.
    pub creative: CreativeId,
    /// Its advertiser.
    pub advertiser: AdvertiserId,
    /// Price per impression.
    pub price: Money,
    /// The same price per thousand impressions.
    pub price_cpm: Cpm,
    /// The deal it cleared through, if any.
    pub deal: Option<DealId>,
    /// The creative's length in seconds (0 for display).
    pub duration_s: u32,
    /// Hand this back to [`Engine::record`](crate::Engine::record) when the ad is shown.
    pub receipt: Receipt,
}

/// A control-group win: the ad that would have shown, recorded for lift measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ghost {
    /// The held-out campaign.
    pub campaign: CampaignId,
    /// The identity's impression id in the attribution journal.
    pub impression: ImpressionId,
}

/// Proof that the engine chose an ad and reserved its price: the only way to charge a budget.
///
/// Serializable so it can travel in a tracking URL or a queue. Recording it twice is an error,
/// never a second charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The impression number the engine assigned.
    pub impression: ImpressionId,
    /// The campaign to charge.
    pub campaign: CampaignId,
    /// The creative shown.
    pub creative: CreativeId,
    /// The campaign's advertiser.
    pub advertiser: AdvertiserId,
    /// The reserved price per impression.
    pub price: Money,
    /// The viewer, when known.
    pub user: Option<UserId>,
    /// The household, when known.
    pub household: Option<HouseholdId>,
    /// When the decision was made.
    pub decided_at: Timestamp,
    /// The ledger reservation: validated when the impression is recorded.
    pub reservation: Reservation,
    /// The request's viewing session (member ad load).
    #[serde(default)]
    pub session: Option<u64>,
    /// The request's stream (member ad load).
    #[serde(default)]
    pub stream: Option<u64>,
    /// The first impression number of the decision: ads sharing it were one pod.
    #[serde(default)]
    pub pod: u64,
}

/// Why a campaign did or did not fill, in delivery-funnel order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fate {
    /// Its targeting expression is false for this request.
    NotTargeted,
    /// The request is outside its flight.
    OutOfFlight,
    /// A publisher block (`bcat`, `badv`) excludes it.
    Blocked,
    /// The request is a private auction and the campaign bids in none of its deals.
    NotInDeal,
    /// No creative fits the opportunity's format or duration.
    NoFittingCreative,
    /// A frequency cap is reached for this viewer (including the member ad-load policy's
    /// per-stream campaign cap).
    FrequencyCapped,
    /// The pacing controller skipped this opportunity.
    PacedOut,
    /// The budget has nothing left to reserve.
    BudgetExhausted,
    /// Its bid is below the floor.
    BelowFloor,
    /// Its bid is below the deal's floor.
    BelowDealFloor,
    /// A higher bid of its tier won.
    Outbid,
    /// A higher tier won.
    LowerTier,
    /// An ad of the same advertiser or advertiser domain won (or is in the pod).
    SameAdvertiser,
    /// The same creative is already in the pod.
    SameCreative,
    /// An equal bid took the slot after the seeded tie-break.
    TieBreak,
    /// An ad of a competing category already fills the pod.
    CategoryConflict,
    /// Its creative does not fit the pod's remaining duration.
    DurationDoesNotFit,
    /// The pod has no free slot.
    PodFull,
    /// The auction found its bid, rate, multiplier, deal or duration invalid.
    InvalidBid,
    /// It won the auction in the control group: recorded as a ghost, not shown.
    HeldOut,
    /// It won but the budget could not be reserved (another thread spent it first).
    ReservationFailed,
    /// The request itself is invalid for the auction (ranked factors not decreasing, a
    /// pod of zero seconds, …): nothing fills.
    InvalidRequest,
    /// It won a slot.
    Won,
    /// The member's ad load is used up (ad seconds this hour or session, or pods this
    /// hour): nothing is shown.
    AdLoadCapped,
}

impl Fate {
    /// The OpenRTB 2.6 loss reason code, where OpenRTB defines one.
    pub fn openrtb_loss_code(self) -> Option<u32> {
        Some(match self {
            Fate::Won => 0,
            Fate::BelowFloor => 100,
            Fate::BelowDealFloor => 101,
            Fate::Outbid | Fate::LowerTier | Fate::TieBreak => 102,
            Fate::NotInDeal => 213,
            Fate::Blocked | Fate::SameAdvertiser => 205,
            Fate::SameCreative => 200,
            Fate::CategoryConflict => 209,
            Fate::NoFittingCreative => 204,
            Fate::DurationDoesNotFit | Fate::PodFull => 200,
            Fate::InvalidBid => 3,
            _ => return None,
        })
    }
}

/// One campaign's line in a decision trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The campaign.
    pub campaign: CampaignId,
    /// What happened to it.
    pub fate: Fate,
}

/// The delivery funnel of one decision: every campaign of the snapshot with its fate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// One entry per campaign, in snapshot order.
    pub entries: Vec<TraceEntry>,
}

impl Trace {
    /// The fate of `campaign`, if it was in the snapshot.
    pub fn fate(&self, campaign: CampaignId) -> Option<Fate> {
        self.entries
            .iter()
            .find(|e| e.campaign == campaign)
            .map(|e| e.fate)
    }

    /// How many campaigns met each fate.
    pub fn funnel(&self) -> Vec<(Fate, usize)> {
        let mut counts: Vec<(Fate, usize)> = Vec::new();
        for e in &self.entries {
            match counts.iter_mut().find(|(f, _)| *f == e.fate) {
                Some((_, n)) => *n += 1,
                None => counts.push((e.fate, 1)),
            }
        }
        counts
    }
}
