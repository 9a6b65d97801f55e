//! The shared vocabulary of adloop: identifiers, exact integer money, prices per
//! mille, caller-supplied time, and the one codec every persisted state goes through.
//!
//! Every other adloop crate speaks in these types, so a campaign id from the targeting
//! index, a price from the auction and a charge in the pacing ledger can never be mixed
//! up with a bare integer of another meaning.
//!
//! # Overview
//! - Identifiers: [`CampaignId`], [`CreativeId`], [`AdvertiserId`], [`DealId`],
//!   [`UserId`], [`HouseholdId`], [`SegmentId`], [`ImpressionId`], [`ConversionId`]:
//!   `u64` newtypes, serialized as plain integers.
//! - [`Money`]: signed micro-units (`i64`, one unit = 1,000,000 micros). Arithmetic is
//!   checked (`checked_*` returns `None` on overflow) or saturating (the operators and
//!   `saturating_*`); nothing panics.
//! - [`Cpm`]: a price per thousand impressions, with exact conversion to a per-impression
//!   [`Money`] ([`Cpm::per_impression`]) and to the cost of any number of impressions
//!   ([`Cpm::cost_of`]).
//! - [`Timestamp`] (milliseconds since the Unix epoch) and [`DurationMs`]: time is always
//!   passed in by the caller, so simulations and replays are deterministic.
//! - [`codec`]: serde-based binary encoding and a framed container (magic number, format
//!   version, length and CRC-32 checksum) for persisted state.
//!
//! # Example
//! ```
//! use adloop_core::{Cpm, Money, Timestamp, DurationMs};
//!
//! let cpm: Cpm = "12.50".parse::<Money>()?.into();
//! assert_eq!(cpm.per_impression(), Money::from_micros(12_500));
//! assert_eq!(cpm.cost_of(1_000), Some(Money::from_units(12).unwrap() + Money::from_cents(50).unwrap()));
//! assert_eq!(cpm.to_string(), "12.50");
//!
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let later = now + DurationMs::from_hours(2);
//! assert_eq!(later.duration_since(now), DurationMs::from_hours(2));
//! # Ok::<(), adloop_core::Error>(())
//! ```
//!
//! # Concurrency
//! Every type here is an immutable `Copy` value (or a pure function); all are
//! `Send + Sync`.
//!
//! # Performance
//! All arithmetic is branch-light integer code; [`Cpm::cost_of`] widens to `i128` so that
//! no intermediate product can overflow.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

pub mod codec;
mod error;
mod id;
mod money;
mod time;

pub use crate::{
    error::Error,
    id::{
        AdvertiserId, CampaignId, ConversionId, CreativeId, DealId, HouseholdId, ImpressionId,
        SegmentId, UserId,
    },
    money::{Cpm, Money},
    time::{DurationMs, Timestamp},
};

#[cfg(test)]
mod auto_traits {
    use super::*;

    fn assert_traits<T: Send + Sync + Unpin + std::panic::UnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        assert_traits::<Money>();
        assert_traits::<Cpm>();
        assert_traits::<Timestamp>();
        assert_traits::<DurationMs>();
        assert_traits::<Error>();
        assert_traits::<CampaignId>();
        assert_traits::<CreativeId>();
        assert_traits::<AdvertiserId>();
        assert_traits::<DealId>();
        assert_traits::<UserId>();
        assert_traits::<HouseholdId>();
        assert_traits::<SegmentId>();
        assert_traits::<ImpressionId>();
        assert_traits::<ConversionId>();
        assert_traits::<codec::FrameInfo>();
    }
}
