//! The engine: immutable snapshots behind an `ArcSwap`, mutable state keyed by campaign id.
//!
//! # Synchronization
//! - `current: ArcSwap<Snapshot>`: decisions `load()` it (no lock, no wait); `publish` builds
//!   a whole new snapshot aside and installs it with `compare_and_swap` against the snapshot
//!   it read its generation from, retrying the (cheap) install step if another publish won
//!   the race, so generations only grow and no publish is lost.
//! - Mutable state lives in the components' own lock-free stores, keyed by campaign id and
//!   shared by every snapshot: budget ledgers in [`InProcessBudgetStore`] (each snapshot
//!   also holds the `Arc<BudgetLedger>` of each campaign, so the decide path never looks
//!   one up), pacing controllers, the frequency store and the attribution service. Their
//!   protocols are documented in their crates.
//! - `next_impression: AtomicU64`: receipt numbers, `fetch_add` with `Relaxed` (uniqueness
//!   only; nothing else is published through it).

use crate::campaign::{Bid, Campaign, Creative, Flight, FrequencyCap, validate_all};
use crate::error::{CampaignError, CampaignErrors, Error};
use crate::openrtb::{self, AdInfo, RtbLimits, RtbRequest};
use crate::request::{Decision, Receipt};
use adloop_attribution::{
    AttributionService, Click, Config as AttributionConfig, Impression, Model, Report,
    ServiceConfig, ServiceState,
};
use adloop_auction::{AdvertiserDomain, Auction, AuctionConfig, Categories, Tier};
use adloop_core::{
    AdvertiserId, CampaignId, DealId, DurationMs, HouseholdId, ImpressionId, Money, Timestamp,
    UserId, codec,
};
use adloop_pacing::{BudgetConfig, BudgetLedger, BudgetStoreSnapshot, InProcessBudgetStore};
use adloop_targeting::{Expr, Index};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of a published snapshot: 0 before the first publish, then 1, 2, …
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Generation(pub u64);

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "generation {}", self.0)
    }
}

/// Configures and builds an [`Engine`] (or loads one from saved state).
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    pub(crate) seed: u64,
    pub(crate) currency: String,
    pub(crate) seat: String,
    pub(crate) auction: AuctionConfig,
    pub(crate) utc_offset: DurationMs,
    pub(crate) reservation_ttl: DurationMs,
    pub(crate) max_outstanding: u32,
    pub(crate) rtb_limits: RtbLimits,
    pub(crate) state_limit: usize,
    pub(crate) attribution: AttributionConfig,
    pub(crate) attribution_queues: ServiceConfig,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            currency: "USD".into(),
            seat: "adloop".into(),
            auction: AuctionConfig::default(),
            utc_offset: DurationMs::ZERO,
            reservation_ttl: DurationMs::from_mins(5),
            max_outstanding: 64,
            rtb_limits: RtbLimits::default(),
            state_limit: 1 << 30,
            attribution: AttributionConfig::default(),
            attribution_queues: ServiceConfig::default(),
        }
    }
}

impl EngineBuilder {
    /// A builder with the defaults: seed 0, USD, second price with a one-cent increment,
    /// UTC days, reservations expiring after 5 minutes, 64 outstanding reservations per
    /// campaign.
    pub fn new() -> Self {
        Self::default()
    }

    /// Seed of every random choice (mixed with each request's id).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The currency of every amount (ISO 4217), checked against OpenRTB floors.
    pub fn currency(mut self, currency: &str) -> Self {
        self.currency = currency.to_owned();
        self
    }

    /// The seat name written in OpenRTB responses.
    pub fn seat(mut self, seat: &str) -> Self {
        self.seat = seat.to_owned();
        self
    }

    /// The auction rules (price mode, increment, pod and ranked pricing, tier policy).
    pub fn auction(mut self, config: AuctionConfig) -> Self {
        self.auction = config;
        self
    }

    /// Offset of the budget day from UTC: daily budgets reset at local midnight.
    pub fn utc_offset(mut self, offset: DurationMs) -> Self {
        self.utc_offset = offset;
        self
    }

    /// How long a chosen ad's reserved money waits for its impression before
    /// [`Engine::tick`] returns it to the budget.
    pub fn reservation_ttl(mut self, ttl: DurationMs) -> Self {
        self.reservation_ttl = ttl;
        self
    }

    /// Most reservations one campaign may have outstanding at once (32 bytes each, held by
    /// every campaign): a campaign at the limit sits out until impressions or expiry free a
    /// slot.
    pub fn max_outstanding_per_campaign(mut self, slots: u32) -> Self {
        self.max_outstanding = slots;
        self
    }

    /// Limits on OpenRTB documents.
    pub fn rtb_limits(mut self, limits: RtbLimits) -> Self {
        self.rtb_limits = limits;
        self
    }

    /// Attribution rules: join key, windows, model, lateness, priors (see
    /// [`attribution::Config`](adloop_attribution::Config)).
    pub fn attribution(mut self, config: AttributionConfig) -> Self {
        self.attribution = config;
        self
    }

    /// Sizes of the attribution service's lock-free recording queues.
    pub fn attribution_queues(mut self, config: ServiceConfig) -> Self {
        self.attribution_queues = config;
        self
    }

    /// Largest state file [`EngineBuilder::load`] accepts, in bytes.
    pub fn state_limit(mut self, bytes: usize) -> Self {
        self.state_limit = bytes;
        self
    }

    /// Builds an engine with no campaigns (generation 0), or says which setting is
    /// invalid.
    pub fn build(self) -> Result<Engine, Error> {
        let attribution =
            AttributionService::new(self.attribution.clone(), self.attribution_queues)
                .map_err(|e| component("attribution", e))?;
        self.assemble(InProcessBudgetStore::new(), attribution, 1)
    }

    fn assemble(
        self,
        budgets: InProcessBudgetStore,
        attribution: AttributionService,
        next_impression: u64,
    ) -> Result<Engine, Error> {
        if self.max_outstanding == 0 || self.max_outstanding > adloop_pacing::MAX_OUTSTANDING_LIMIT
        {
            return Err(Error::Component {
                component: "pacing",
                message: format!(
                    "max_outstanding_per_campaign must be in 1..={}",
                    adloop_pacing::MAX_OUTSTANDING_LIMIT
                ),
            });
        }
        Ok(Engine {
            current: ArcSwap::from_pointee(Snapshot::empty()),
            budgets,
            attribution,
            next_impression: CachePadded::new(AtomicU64::new(next_impression)),
            auction: Auction::new(self.auction).map_err(|e| component("auction", e))?,
            config: self,
        })
    }

    /// Builds an engine from state written by [`Engine::save`].
    ///
    /// The file is checked whole (magic, version, length, checksum) and every component
    /// state is validated before anything is built: a truncated, corrupt or inconsistent
    /// file is an error and no engine is returned.
    pub fn load(self, bytes: &[u8]) -> Result<Engine, Error> {
        let saved: SavedState =
            codec::decode_framed(STATE_MAGIC, STATE_VERSION, bytes, self.state_limit)?;
        let budgets = InProcessBudgetStore::from_snapshot(&saved.budgets)
            .map_err(|e| Error::InconsistentState(format!("budgets: {e}")))?;
        let attribution = AttributionService::from_state(
            self.attribution.clone(),
            self.attribution_queues,
            saved.attribution,
        )
        .map_err(|e| Error::InconsistentState(format!("attribution: {e}")))?;
        let engine = self.assemble(budgets, attribution, saved.next_impression)?;
        let snapshot = engine
            .compile(saved.campaigns)
            .map_err(|e| Error::InconsistentState(e.to_string()))?;
        let snapshot = Snapshot {
            generation: Generation(saved.generation),
            ..snapshot
        };
        engine.current.store(Arc::new(snapshot));
        Ok(engine)
    }
}

const STATE_MAGIC: &[u8; 8] = b"ADLOOPE1";
const STATE_VERSION: u32 = 1;

/// Everything [`Engine::save`] writes.
#[derive(Serialize, Deserialize)]
struct SavedState {
    generation: u64,
    next_impression: u64,
    campaigns: Vec<Campaign>,
    budgets: BudgetStoreSnapshot,
    attribution: ServiceState,
}

/// A campaign as the decide path needs it: dense, copied out of the model at publish.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) id: CampaignId,
    pub(crate) advertiser: AdvertiserId,
    pub(crate) domain: Option<AdvertiserDomain>,
    pub(crate) tier: Tier,
    pub(crate) bid: Bid,
    pub(crate) flight: Flight,
    pub(crate) categories: Categories,
    pub(crate) deals: SmallVec<[DealId; 2]>,
    pub(crate) creatives: SmallVec<[Creative; 2]>,
    pub(crate) caps: SmallVec<[FrequencyCap; 1]>,
    pub(crate) holdout: f64,
    pub(crate) ledger: Arc<BudgetLedger>,
    pub(crate) daily_limit: Option<Money>,
    pub(crate) lifetime_limit: Option<Money>,
}

/// One published campaign set: immutable, shared by every decision that loaded it.
pub(crate) struct Snapshot {
    pub(crate) generation: Generation,
    pub(crate) campaigns: Vec<Campaign>,
    pub(crate) compiled: Vec<Compiled>,
    pub(crate) by_id: HashMap<CampaignId, u32>,
    pub(crate) index: Index,
    /// Competitive category name → the id the auction separates on.
    pub(crate) category_ids: HashMap<String, u32>,
}

impl Snapshot {
    fn empty() -> Self {
        Self {
            generation: Generation(0),
            campaigns: Vec::new(),
            compiled: Vec::new(),
            by_id: HashMap::new(),
            index: Index::build(std::iter::empty::<(u32, &Expr)>())
                .unwrap_or_else(|_| unreachable!("an empty index always builds")),
            category_ids: HashMap::new(),
        }
    }

    pub(crate) fn get(&self, id: CampaignId) -> Option<&Compiled> {
        self.by_id
            .get(&id)
            .and_then(|&i| self.compiled.get(i as usize))
    }
}

/// What a campaign has spent and holds in reservations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendReport {
    /// Charged for recorded impressions over the flight.
    pub spent: Money,
    /// Held by reservations of chosen ads not yet recorded.
    pub reserved: Money,
    /// Returned by reservations that expired unrecorded.
    pub expired: Money,
}

/// Something that happened after a decision, reported with [`Engine::record`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The ad of a placement was shown: charges its reservation.
    Impression {
        /// The placement's receipt.
        receipt: Receipt,
        /// When it was shown.
        time: Timestamp,
    },
    /// A shown ad was clicked.
    Click {
        /// The impression (the receipt's number).
        impression: ImpressionId,
        /// When it was clicked.
        time: Timestamp,
    },
    /// A subscription, purchase or other conversion reported by an advertiser.
    Conversion(adloop_attribution::Conversion),
}

/// The ad decisioning engine. `Send + Sync`: share one through an `Arc` across request
/// threads.
pub struct Engine {
    pub(crate) current: ArcSwap<Snapshot>,
    pub(crate) budgets: InProcessBudgetStore,
    pub(crate) attribution: AttributionService,
    pub(crate) next_impression: CachePadded<AtomicU64>,
    pub(crate) auction: Auction,
    pub(crate) config: EngineBuilder,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.current.load();
        f.debug_struct("Engine")
            .field("generation", &snap.generation)
            .field("campaigns", &snap.campaigns.len())
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// The generation of the snapshot decisions currently use.
    pub fn generation(&self) -> Generation {
        self.current.load().generation
    }

    /// The published campaigns, in publish order.
    pub fn campaigns(&self) -> Vec<Campaign> {
        self.current.load().campaigns.clone()
    }

    /// One published campaign.
    pub fn campaign(&self, id: CampaignId) -> Option<Campaign> {
        let snap = self.current.load();
        snap.by_id
            .get(&id)
            .map(|&i| snap.campaigns[i as usize].clone())
    }

    /// What `campaign` has spent and holds, or `None` if it was never published.
    pub fn spend(&self, campaign: CampaignId) -> Option<SpendReport> {
        let t = self.budgets.ledger(campaign)?.totals();
        Some(SpendReport {
            spent: t.committed,
            reserved: t.outstanding,
            expired: t.expired,
        })
    }

    /// Validates `campaigns`, compiles a new snapshot aside and installs it atomically.
    ///
    /// Every problem of every campaign is reported at once, each with its campaign id; on
    /// error nothing changes. Spend, pacing, frequency and attribution state are keyed by
    /// campaign id and carry over; a campaign left out has its outstanding reservations
    /// released (its spend is kept, should it come back).
    pub fn publish(&self, campaigns: Vec<Campaign>) -> Result<Generation, Error> {
        let fresh = self.compile(campaigns)?;
        let mut fresh = Some(fresh);
        loop {
            let old = self.current.load_full();
            let Some(mut next) = fresh.take() else {
                unreachable!("the snapshot is put back after every failed swap")
            };
            next.generation = Generation(old.generation.0 + 1);
            let next = Arc::new(next);
            let prev = self.current.compare_and_swap(&old, Arc::clone(&next));
            if Arc::ptr_eq(&prev, &old) {
                drop(prev);
                self.retire_removed(&old, &next);
                self.register_holdouts(&old, &next)?;
                return Ok(next.generation);
            }
            drop(prev);
            fresh = Arc::into_inner(next);
            if fresh.is_none() {
                return Err(Error::InconsistentState(
                    "a snapshot was shared before it was installed".into(),
                ));
            }
        }
    }

    /// Releases the outstanding reservations of campaigns `old` had and `new` lacks.
    fn retire_removed(&self, old: &Snapshot, new: &Snapshot) {
        for c in &old.compiled {
            if !new.by_id.contains_key(&c.id) {
                // Expiring "as of the end of time" settles every live reservation once.
                c.ledger.expire(Timestamp::MAX);
            }
        }
    }

    /// Tells attribution about new or changed holdout fractions.
    fn register_holdouts(&self, old: &Snapshot, new: &Snapshot) -> Result<(), Error> {
        for c in &new.compiled {
            let before = old.get(c.id).map_or(0.0, |o| o.holdout);
            if c.holdout > 0.0 && c.holdout != before {
                self.attribution
                    .set_holdout(c.id, c.holdout)
                    .map_err(|e| component("attribution", e))?;
            }
        }
        Ok(())
    }

    /// Validates and compiles a snapshot (generation 0); links each campaign to its
    /// surviving state. Nothing is changed unless every campaign is valid.
    fn compile(&self, campaigns: Vec<Campaign>) -> Result<Snapshot, Error> {
        let mut errors = validate_all(&campaigns);
        let mut exprs = Vec::with_capacity(campaigns.len());
        let mut budgets = Vec::with_capacity(campaigns.len());
        for c in &campaigns {
            match adloop_targeting::parse(&c.targeting) {
                Ok(e) => exprs.push(e),
                Err(e) => {
                    errors.push(CampaignError::new(c.id, "targeting", e.to_string()));
                    exprs.push(Expr::False);
                }
            }
            let budget = self.budget_config(c);
            if let Err(e) = budget.validate() {
                errors.push(CampaignError::new(c.id, "budget", e.to_string()));
            }
            budgets.push(budget);
        }
        let index = if errors.is_empty() {
            match Index::build(exprs.iter().enumerate().map(|(i, e)| (i as u32, e))) {
                Ok(index) => Some(index),
                Err(e) => {
                    errors.push(CampaignError::new(
                        CampaignId::new(0),
                        "targeting",
                        format!("the index could not be built: {e}"),
                    ));
                    None
                }
            }
        } else {
            None
        };
        let Some(index) = index.filter(|_| errors.is_empty()) else {
            errors.sort_by_key(|e| e.campaign);
            return Err(Error::InvalidCampaigns(CampaignErrors(errors)));
        };

        let mut category_ids: HashMap<String, u32> = HashMap::new();
        let mut compiled = Vec::with_capacity(campaigns.len());
        let mut by_id = HashMap::with_capacity(campaigns.len());
        let mut seen = HashSet::with_capacity(campaigns.len());
        for (i, (c, budget)) in campaigns.iter().zip(budgets).enumerate() {
            let ids: SmallVec<[u32; 4]> = c
                .categories
                .iter()
                .map(|name| {
                    let next = category_ids.len() as u32;
                    *category_ids.entry(name.clone()).or_insert(next)
                })
                .collect();
            let categories = Categories::new(&ids).map_err(|e| {
                Error::InvalidCampaigns(CampaignErrors(vec![CampaignError::new(
                    c.id,
                    "categories",
                    e.to_string(),
                )]))
            })?;
            let ledger = self.budgets.upsert(c.id, budget).map_err(|e| {
                Error::InvalidCampaigns(CampaignErrors(vec![CampaignError::new(
                    c.id,
                    "budget",
                    e.to_string(),
                )]))
            })?;
            seen.insert(c.id);
            by_id.insert(c.id, i as u32);
            compiled.push(Compiled {
                id: c.id,
                advertiser: c.advertiser,
                domain: (!c.advertiser_domain.is_empty())
                    .then(|| AdvertiserDomain::from_domain(&c.advertiser_domain)),
                tier: c.tier,
                bid: c.bid,
                flight: c.flight,
                categories,
                deals: c.deals.iter().copied().collect(),
                creatives: c.creatives.iter().copied().collect(),
                caps: c.frequency_caps.iter().copied().collect(),
                holdout: c.holdout,
                ledger,
                daily_limit: c.budget.daily,
                lifetime_limit: c.budget.lifetime,
            });
        }
        Ok(Snapshot {
            generation: Generation(0),
            campaigns,
            compiled,
            by_id,
            index,
            category_ids,
        })
    }

    fn budget_config(&self, c: &Campaign) -> BudgetConfig {
        BudgetConfig {
            daily: c.budget.daily,
            lifetime: c.budget.lifetime,
            flight: adloop_pacing::Flight::new(c.flight.start, c.flight.end),
            utc_offset: self.config.utc_offset,
            reservation_ttl: self.config.reservation_ttl,
            max_outstanding: self.config.max_outstanding,
        }
    }

    /// Records what happened to a decision.
    ///
    /// - `Impression`: commits the receipt's reservation (the budget is charged exactly
    ///   once), then counts frequency and journals the impression for attribution. An
    ///   unknown receipt (forged, expired, or of a campaign no longer published) is
    ///   [`Error::UnknownReceipt`]; one already recorded is [`Error::RepeatedReceipt`];
    ///   neither charges anything.
    /// - `Click` and `Conversion`: journaled for attribution.
    pub fn record(&self, event: Event) -> Result<(), Error> {
        match event {
            Event::Impression { receipt, time } => {
                let snap = self.current.load();
                let Some(c) = snap.get(receipt.campaign) else {
                    return Err(Error::UnknownReceipt {
                        impression: receipt.impression,
                        reason: format!("campaign {} is not published", receipt.campaign),
                    });
                };
                let charge = receipt
                    .price
                    .min(receipt.reservation.amount)
                    .max(Money::ZERO);
                c.ledger
                    .commit(&receipt.reservation, charge)
                    .map_err(|e| receipt_error(receipt.impression, e))?;
                if let Some((user, household)) = identity(receipt.user, receipt.household) {
                    self.attribution
                        .record_impression(Impression {
                            id: receipt.impression,
                            time,
                            user,
                            household,
                            advertiser: receipt.advertiser,
                            campaign: receipt.campaign,
                            creative: receipt.creative,
                            cost: charge,
                            ghost: false,
                        })
                        .map_err(|e| component("attribution", e))?;
                }
                Ok(())
            }
            Event::Click { impression, time } => self
                .attribution
                .record_click(Click { impression, time })
                .map_err(|e| component("attribution", e)),
            Event::Conversion(conversion) => self
                .attribution
                .record_conversion(conversion)
                .map_err(|e| component("attribution", e)),
        }
    }

    /// The measured report: impressions, clicks, conversions and attributed value per
    /// campaign and day under every model, as of the last [`tick`](Self::tick).
    pub fn report(&self) -> Report {
        self.attribution.report()
    }

    /// One campaign's delivery and outcomes: spend from its ledger, counts from
    /// attribution (as of the last tick), and the smoothed rates CPC/CPA bids use.
    pub fn summary(&self, campaign: CampaignId) -> Option<CampaignSummary> {
        let spend = self.spend(campaign)?;
        let rates = self.attribution.feedback(campaign);
        let model = self.config.attribution.get_model();
        Some(CampaignSummary {
            campaign,
            spent: spend.spent,
            reserved: spend.reserved,
            impressions: rates.impressions,
            clicks: rates.clicks,
            attributed_conversions: rates.conversions,
            model,
            ctr: rates.ctr,
            cvr: rates.cvr,
        })
    }

    /// The lift of a campaign with a holdout: conversion rates of the exposed and control
    /// groups with a 95% interval, as of the last tick.
    pub fn lift(&self, campaign: CampaignId) -> Option<adloop_attribution::LiftReport> {
        self.attribution.lift(campaign)
    }

    pub(crate) fn record_ghost(
        &self,
        c: &Compiled,
        creative: adloop_core::CreativeId,
        user: Option<UserId>,
        household: Option<HouseholdId>,
        impression: ImpressionId,
        now: Timestamp,
    ) {
        if let Some((user, household)) = identity(user, household) {
            // A full queue drops the ghost; the service counts refusals, and lift is then
            // measured on slightly fewer control opportunities.
            let _ = self.attribution.record_impression(Impression {
                id: impression,
                time: now,
                user,
                household,
                advertiser: c.advertiser,
                campaign: c.id,
                creative,
                cost: Money::ZERO,
                ghost: true,
            });
        }
    }

    /// One control step: expires reservations whose time-to-live has passed. Any thread,
    /// any time; concurrent ticks are safe.
    pub fn tick(&self, now: Timestamp) {
        use adloop_pacing::BudgetStore;
        self.budgets.expire(now);
        self.attribution.tick(now);
    }

    /// Writes the whole engine state (campaigns, ledgers, pacing, frequency, attribution)
    /// as one framed, checksummed file; read it back with [`EngineBuilder::load`].
    ///
    /// Taken while decisions run, each component's part is consistent on its own; for an
    /// exact cut, save while no decision or record is in flight.
    pub fn save(&self) -> Result<Vec<u8>, Error> {
        let snap = self.current.load();
        let state = SavedState {
            generation: snap.generation.0,
            // Relaxed: a statistic of the counter's own modification order.
            next_impression: self.next_impression.load(Ordering::Relaxed),
            campaigns: snap.campaigns.clone(),
            budgets: self.budgets.snapshot(),
            attribution: self.attribution.export_state(),
        };
        Ok(codec::encode_framed(STATE_MAGIC, STATE_VERSION, &state)?)
    }

    /// Parses an OpenRTB 2.6 BidRequest with this engine's currency and limits.
    pub fn parse_openrtb(&self, json: &[u8]) -> Result<RtbRequest, Error> {
        openrtb::parse_bid_request(json, &self.config.currency, &self.config.rtb_limits)
    }

    /// Writes the OpenRTB BidResponse for `request` from one decision per opportunity,
    /// reading each winner's domain and categories from the current snapshot.
    pub fn bid_response(&self, request: &RtbRequest, decisions: &[Decision]) -> String {
        let snap = self.current.load();
        openrtb::write_bid_response(
            request,
            decisions,
            &self.config.seat,
            &self.config.currency,
            |id| {
                snap.by_id.get(&id).map(|&i| {
                    let c = &snap.campaigns[i as usize];
                    AdInfo {
                        domain: c.advertiser_domain.clone(),
                        categories: c.categories.clone(),
                    }
                })
            },
        )
    }

    pub(crate) fn next_impression(&self) -> ImpressionId {
        // Relaxed: only uniqueness matters; nothing else is published through the counter.
        ImpressionId::new(self.next_impression.fetch_add(1, Ordering::Relaxed))
    }
}

/// One campaign's delivery and outcomes (see [`Engine::summary`]).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct CampaignSummary {
    /// The campaign.
    pub campaign: CampaignId,
    /// Charged for recorded impressions.
    pub spent: Money,
    /// Held by outstanding reservations.
    pub reserved: Money,
    /// Impressions joined by attribution.
    pub impressions: u64,
    /// Clicks joined by attribution.
    pub clicks: u64,
    /// Conversions credited under `model`.
    pub attributed_conversions: f64,
    /// The attribution model of `attributed_conversions`.
    pub model: Model,
    /// Smoothed click-through rate per impression.
    pub ctr: f64,
    /// Smoothed conversion rate per impression.
    pub cvr: f64,
}

/// The attribution identity of a viewer: both ids, each standing in for the other when
/// only one is known.
pub(crate) fn identity(
    user: Option<UserId>,
    household: Option<HouseholdId>,
) -> Option<(UserId, HouseholdId)> {
    match (user, household) {
        (Some(u), Some(h)) => Some((u, h)),
        (Some(u), None) => Some((u, HouseholdId::new(u.get()))),
        (None, Some(h)) => Some((UserId::new(h.get()), h)),
        (None, None) => None,
    }
}

fn component(name: &'static str, e: impl fmt::Display) -> Error {
    Error::Component {
        component: name,
        message: e.to_string(),
    }
}

fn receipt_error(impression: ImpressionId, e: adloop_pacing::Error) -> Error {
    match e {
        adloop_pacing::Error::AlreadySettled {
            state: "committed", ..
        } => Error::RepeatedReceipt { impression },
        other => Error::UnknownReceipt {
            impression,
            reason: other.to_string(),
        },
    }
}
