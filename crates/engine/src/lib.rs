//! adloop: programmatic ad decisioning for a streaming ad tier.
//!
//! The facade composes the component crates into one [`Engine`] shared by every request
//! thread: publish campaigns, decide, record what happened, tick the controllers, save and
//! load the whole state, and speak OpenRTB 2.6.
//!
//! # Overview
//! - [`EngineBuilder`] → [`Engine`]: [`Engine::publish`], [`Engine::decide`],
//!   [`Engine::record`], [`Engine::tick`], [`Engine::save`], [`Engine::load`].
//! - [`Campaign`]: the serde campaign model.
//! - [`AdRequest`] → [`Decision`] with [`Placement`]s, each carrying a [`Receipt`].
//! - [`openrtb`]: BidRequest JSON → [`AdRequest`]s, [`Decision`]s → BidResponse JSON.
//! - The components, re-exported as modules: [`targeting`], [`auction`], [`pacing`],
//!   [`attribution`], and the shared vocabulary [`core`].
#![deny(missing_docs)]

pub use adloop_attribution as attribution;
pub use adloop_auction as auction;
pub use adloop_core as core;
pub use adloop_pacing as pacing;
pub use adloop_targeting as targeting;

pub mod openrtb;

mod campaign;
mod decide;
mod engine;
mod error;
mod request;

pub use crate::{
    campaign::{
        Bid, Budget, Campaign, Creative, Flight, Format, MAX_CAMPAIGNS, MAX_CATEGORIES,
        MAX_CREATIVE_SECONDS, MAX_CREATIVES, MAX_DEALS, MAX_FREQUENCY_CAPS, MAX_NAME_LEN,
        MAX_TARGETING_LEN,
    },
    engine::{
        CampaignSummary, Engine, EngineBuilder, Event, Generation, MemoryReport, SpendReport,
    },
    error::{CampaignError, CampaignErrors, Error},
    request::{
        AdRequest, DealOffer, Decision, Fate, Ghost, MAX_SLOTS, Opportunity, Placement, Pod,
        Receipt, Trace, TraceEntry,
    },
};

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
