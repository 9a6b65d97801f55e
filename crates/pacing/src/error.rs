use adloop_core::{CampaignId, Money, Timestamp};
use thiserror::Error;

/// Everything that can go wrong in `adloop-pacing`.
///
/// The error is `Copy` and allocation-free, so returning one from the decide path
/// (a budget that is spent, a capped identity) costs nothing.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The reservation would take a budget past its limit.
    #[error(
        "campaign {campaign}: {which} budget exhausted (requested {requested}, remaining {remaining})"
    )]
    BudgetExhausted {
        /// The campaign.
        campaign: CampaignId,
        /// `"daily"` or `"lifetime"`.
        which: &'static str,
        /// The amount asked for.
        requested: Money,
        /// What was left when the request was refused.
        remaining: Money,
    },
    /// The instant lies outside the campaign's flight.
    #[error("campaign {campaign}: {now} is outside the flight")]
    OutsideFlight {
        /// The campaign.
        campaign: CampaignId,
        /// The instant asked about.
        now: Timestamp,
    },
    /// Every reservation slot of the ledger is held by an outstanding reservation.
    #[error("campaign {campaign}: all {capacity} reservation slots are outstanding")]
    TooManyReservations {
        /// The campaign.
        campaign: CampaignId,
        /// The ledger's `max_outstanding`.
        capacity: u32,
    },
    /// An amount was zero, negative or too large where that is not allowed.
    #[error("invalid amount {amount} for {what}")]
    InvalidAmount {
        /// The amount given.
        amount: Money,
        /// What it was for.
        what: &'static str,
    },
    /// A commit asked to charge more than was reserved.
    #[error("campaign {campaign}: commit of {actual} exceeds the reservation of {reserved}")]
    CommitExceedsReservation {
        /// The campaign.
        campaign: CampaignId,
        /// The reserved amount.
        reserved: Money,
        /// The amount the commit asked to charge.
        actual: Money,
    },
    /// The reservation token does not belong to this ledger or names no reservation
    /// (a forged token, a token from another ledger, or one whose slot was reused).
    #[error("campaign {campaign}: unknown reservation (slot {slot}, generation {generation})")]
    UnknownReservation {
        /// The campaign the token names.
        campaign: CampaignId,
        /// The token's slot.
        slot: u32,
        /// The token's generation.
        generation: u64,
    },
    /// The reservation was already settled; a second settlement is refused and charges
    /// nothing.
    #[error("campaign {campaign}: reservation (slot {slot}) was already {state}")]
    AlreadySettled {
        /// The campaign.
        campaign: CampaignId,
        /// The token's slot.
        slot: u32,
        /// `"committed"`, `"released"`, `"expired"`, `"being settled"` (another settler,
        /// usually expiry, holds it right now) or `"settled"` (settled and its slot
        /// reused, so how is no longer known).
        state: &'static str,
    },
    /// The campaign is not known to the store.
    #[error("unknown campaign {0}")]
    UnknownCampaign(CampaignId),
    /// A configuration value is invalid.
    #[error("invalid configuration: {field}: {reason}")]
    InvalidConfig {
        /// The field (dotted path).
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A persisted state could not be restored.
    #[error("invalid snapshot: {what}: {reason}")]
    InvalidSnapshot {
        /// Which part of the snapshot.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The frequency store tracks its maximum number of keys and none has expired.
    #[error("frequency store full: {capacity} keys tracked")]
    FrequencyStoreFull {
        /// The configured maximum.
        capacity: usize,
    },
    /// The ad-load store tracks its maximum number of keys and none has expired.
    #[error("ad-load store full: {capacity} keys tracked")]
    AdLoadStoreFull {
        /// The configured maximum.
        capacity: usize,
    },
}
