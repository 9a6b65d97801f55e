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
//! - `truncated_pods: AtomicU64`: a statistics counter, `fetch_add`/`load` `Relaxed`,
//!   touched only by the rare decision whose pod search hit its node budget.
//! - `Snapshot::budget_ok: [AtomicBool]`: one budget hint per campaign slot, so the decide
//!   path skips exhausted campaigns without touching their ledgers (a dense byte array stays
//!   in cache; 100k ledgers do not). Written `Relaxed` by publish and tick (recomputed from
//!   the ledgers) and by a decision whose reservation failed; read `Relaxed`. A stale hint
//!   costs at most one extra auction round or one skipped campaign until the next tick;
//!   the ledger's reservation CAS alone guards money.
//! - `last_tick: AtomicI64`: the latest tick time, `fetch_max`/`load` `Relaxed`; only the
//!   time base for a new snapshot's hints.
//! - `last_sweep: AtomicI64`: the time of the latest reclamation sweep; a `Relaxed` CAS elects
//!   one tick per `sweep_interval` to sweep (sweeps are idempotent and only free memory).

use crate::campaign::{Bid, Campaign, Creative, Flight, Format, validate_all};
use crate::creative::{
    ClickRing, Codes, CreativeReport, Creatives, RotationState, Touches, VariantStats,
};
use crate::error::{CampaignError, CampaignErrors, Error};
use crate::openrtb::{self, AdInfo, RtbLimits, RtbRequest};
use crate::request::{Decision, Receipt};
use adloop_attribution::{
    AttributionService, Click, Config as AttributionConfig, Impression, Model, Report,
    ServiceConfig, ServiceState,
};
use adloop_auction::{AdvertiserDomain, Auction, AuctionConfig, Categories, Tier};
use adloop_core::{
    AdvertiserId, CampaignId, Cpm, CreativeId, DealId, DurationMs, HouseholdId, ImpressionId,
    Money, Timestamp, UserId, codec,
};
use adloop_pacing::{
    AdLoadPolicy, AdLoadSnapshot, AdLoadStore, BudgetConfig, BudgetLedger, BudgetStoreSnapshot,
    FrequencyCap, FrequencySnapshot, FrequencyStore, Identities, InProcessAdLoadStore,
    InProcessBudgetStore, InProcessFrequencyStore, Observation, Pacer, PacerState,
    PacingController, PacingMode, ShownAd,
};
use adloop_targeting::{Expr, Index};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

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
    pub(crate) frequency_max_keys: usize,
    pub(crate) ad_load: AdLoadPolicy,
    pub(crate) ad_load_max_keys: usize,
    pub(crate) touch_max_keys: usize,
    pub(crate) touch_ttl: DurationMs,
    pub(crate) click_ring_log2: u32,
    pub(crate) sweep_interval: DurationMs,
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
            frequency_max_keys: 4_000_000,
            ad_load: AdLoadPolicy::default(),
            ad_load_max_keys: 4_000_000,
            touch_max_keys: 4_000_000,
            touch_ttl: DurationMs::from_days(7),
            click_ring_log2: 16,
            sweep_interval: DurationMs::from_mins(5),
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

    /// Most frequency-cap entries tracked at once (about 80 bytes each; one per identity
    /// and cap seen within its window).
    pub fn frequency_max_keys(mut self, keys: usize) -> Self {
        self.frequency_max_keys = keys;
        self
    }

    /// Member ad-load caps (ad seconds per hour and per session, pods per hour, one
    /// campaign at most N times per stream), enforced per household or user: a decision
    /// then returns fewer or shorter ads. Default: uncapped.
    pub fn ad_load(mut self, policy: AdLoadPolicy) -> Self {
        self.ad_load = policy;
        self
    }

    /// Most ad-load entries tracked at once (about 136 bytes per member, 80 per campaign
    /// per active stream).
    pub fn ad_load_max_keys(mut self, keys: usize) -> Self {
        self.ad_load_max_keys = keys;
        self
    }

    /// Per-creative feedback memory: at most `max_keys` (household, campaign) latest
    /// touches (about 64 bytes each), kept for `ttl` (default 7 days, the default click
    /// window), to credit conversions to creatives; and a ring of `2^ring_log2`
    /// recent impressions (8 bytes each, default 2¹⁶) to credit clicks.
    pub fn creative_feedback(mut self, max_keys: usize, ttl: DurationMs, ring_log2: u32) -> Self {
        self.touch_max_keys = max_keys;
        self.touch_ttl = ttl;
        self.click_ring_log2 = ring_log2;
        self
    }

    /// How often (in caller time) [`Engine::tick`] reclaims expired per-identity state
    /// (frequency counters, member ad load, creative touches); default 5 minutes.
    ///
    /// A sweep walks every tracked identity, so running it on every tick of a busy engine
    /// costs more than the pacing step itself. Sweeping only frees memory: caps and windows
    /// are evaluated on read, so a longer interval never changes a decision, it only keeps
    /// expired entries a little longer.
    pub fn sweep_interval(mut self, interval: DurationMs) -> Self {
        self.sweep_interval = interval;
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
        let frequency = InProcessFrequencyStore::new(self.utc_offset, self.frequency_max_keys);
        let ad_load = InProcessAdLoadStore::new(self.ad_load, self.ad_load_max_keys)
            .map_err(|e| component("pacing", e))?;
        self.assemble(
            InProcessBudgetStore::new(),
            frequency,
            ad_load,
            attribution,
            1,
        )
    }

    fn assemble(
        self,
        budgets: InProcessBudgetStore,
        frequency: InProcessFrequencyStore,
        ad_load: InProcessAdLoadStore,
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
            frequency,
            ad_load,
            variants: papaya::HashMap::new(),
            variants_by_number: papaya::HashMap::new(),
            next_variant: AtomicU32::new(1),
            rotations: papaya::HashMap::new(),
            clicks: ClickRing::new(self.click_ring_log2),
            touches: Touches::new(self.touch_max_keys),
            pacers: papaya::HashMap::new(),
            attribution,
            next_impression: CachePadded::new(AtomicU64::new(next_impression)),
            truncated_pods: CachePadded::new(AtomicU64::new(0)),
            last_tick: AtomicI64::new(i64::MIN),
            last_sweep: AtomicI64::new(i64::MIN),
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
        let campaigns: Vec<Campaign> = serde_json::from_str(&saved.campaigns_json)
            .map_err(|e| Error::InconsistentState(format!("campaigns: {e}")))?;
        let budgets = InProcessBudgetStore::from_snapshot(&saved.budgets)
            .map_err(|e| Error::InconsistentState(format!("budgets: {e}")))?;
        let attribution = AttributionService::from_state(
            self.attribution.clone(),
            self.attribution_queues,
            saved.attribution,
        )
        .map_err(|e| Error::InconsistentState(format!("attribution: {e}")))?;
        let frequency = InProcessFrequencyStore::from_snapshot(&saved.frequency)
            .map_err(|e| Error::InconsistentState(format!("frequency: {e}")))?;
        let ad_load = InProcessAdLoadStore::from_snapshot(&saved.ad_load)
            .map_err(|e| Error::InconsistentState(format!("ad load: {e}")))?;
        let engine = self.assemble(
            budgets,
            frequency,
            ad_load,
            attribution,
            saved.next_impression,
        )?;
        for v in &saved.variants {
            let stats = engine.variant_stats(v.campaign, v.creative);
            // Relaxed: nothing runs on this engine yet.
            stats.impressions.store(v.impressions, Ordering::Relaxed);
            stats.clicks.store(v.clicks, Ordering::Relaxed);
            stats
                .conversions_micro
                .store(v.conversions_micro, Ordering::Relaxed);
            stats.value_micros.store(v.value_micros, Ordering::Relaxed);
            stats.weight.store(v.weight, Ordering::Relaxed);
        }
        let numbers: HashMap<(CampaignId, adloop_core::CreativeId), u32> = saved
            .variants
            .iter()
            .map(|v| {
                (
                    (v.campaign, v.creative),
                    engine.variant_stats(v.campaign, v.creative).number,
                )
            })
            .collect();
        let touches: Vec<(u64, CampaignId, u64)> = saved
            .touches
            .iter()
            .filter_map(|(h, c, creative, secs)| {
                numbers
                    .get(&(*c, *creative))
                    .map(|n| (*h, *c, u64::from(*n) << 32 | u64::from(*secs)))
            })
            .collect();
        engine.touches.restore(&touches);
        for p in &saved.pacers {
            let Some(c) = campaigns.iter().find(|c| c.id == p.campaign) else {
                return Err(Error::InconsistentState(format!(
                    "pacing state for unknown campaign {}",
                    p.campaign
                )));
            };
            let entry = engine
                .pacer_entry(c)
                .map_err(|e| Error::InconsistentState(format!("pacing: {e}")))?;
            let state: PacerState = serde_json::from_str(&p.state_json)
                .map_err(|e| Error::InconsistentState(format!("pacing: {e}")))?;
            entry
                .pacer
                .import_state(&state)
                .map_err(|e| Error::InconsistentState(format!("pacing: {e}")))?;
            // Relaxed: nothing runs on this engine yet.
            entry
                .opportunities
                .store(p.opportunities, Ordering::Relaxed);
            entry.impressions.store(p.impressions, Ordering::Relaxed);
            entry
                .impressions_day
                .store(p.impressions_day, Ordering::Relaxed);
            engine.pacers.pin().insert(c.id, entry);
        }
        let snapshot = engine
            .compile(campaigns)
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
const STATE_VERSION: u32 = 2;

/// Everything [`Engine::save`] writes.
///
/// Campaigns and controller states hold internally tagged serde enums (`PacingMode`,
/// `CapWindow`, `PacerState`), which bincode cannot decode; they travel as JSON text inside
/// the framed, checksummed bincode payload.
#[derive(Serialize, Deserialize)]
struct SavedState {
    generation: u64,
    next_impression: u64,
    campaigns_json: String,
    budgets: BudgetStoreSnapshot,
    frequency: FrequencySnapshot,
    pacers: Vec<SavedPacer>,
    attribution: ServiceState,
    ad_load: AdLoadSnapshot,
    variants: Vec<SavedVariant>,
    /// (household, campaign, creative, seconds since the epoch) of each latest touch.
    touches: Vec<(u64, CampaignId, adloop_core::CreativeId, u32)>,
}

#[derive(Serialize, Deserialize)]
struct SavedVariant {
    campaign: CampaignId,
    creative: adloop_core::CreativeId,
    impressions: u64,
    clicks: u64,
    conversions_micro: u64,
    value_micros: i64,
    weight: u32,
}

#[derive(Serialize, Deserialize)]
struct SavedPacer {
    campaign: CampaignId,
    state_json: String,
    opportunities: u64,
    impressions: u64,
    impressions_day: u64,
}

/// A campaign's pacing controller with the counters its observations need. Shared by every
/// snapshot that holds the campaign (and kept in the engine's registry across publishes).
///
/// # Synchronization
/// `opportunities` (`fetch_add` on the decide path), `impressions` and `impressions_day`
/// (`day << 40 | count`, CAS on record) are `Relaxed` counters read by `tick`; nothing is
/// published through them. The controller's own atomics are the pacing crate's.
#[derive(Debug)]
pub(crate) struct PacerEntry {
    mode: PacingMode,
    budget: BudgetConfig,
    pub(crate) pacer: Pacer,
    pub(crate) opportunities: CachePadded<AtomicU64>,
    impressions: AtomicU64,
    impressions_day: AtomicU64,
}

const DAY_SHIFT: u32 = 40;

impl PacerEntry {
    fn count_impression(&self, day: i64) {
        // Relaxed: a counter read by tick; see the type's `# Synchronization`.
        self.impressions.fetch_add(1, Ordering::Relaxed);
        let day = (day as u64) & ((1 << (64 - DAY_SHIFT)) - 1);
        // Relaxed: the day and its count change together in one word.
        let _ = self
            .impressions_day
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some(if w >> DAY_SHIFT == day {
                    w + 1
                } else {
                    day << DAY_SHIFT | 1
                })
            });
    }

    fn observation(&self, ledger: &BudgetLedger, now: Timestamp, day: i64) -> Observation {
        let day = (day as u64) & ((1 << (64 - DAY_SHIFT)) - 1);
        // Relaxed: counters; see the type's `# Synchronization`.
        let word = self.impressions_day.load(Ordering::Relaxed);
        Observation {
            spend: ledger.spend(now),
            impressions_today: if word >> DAY_SHIFT == day {
                word & ((1 << DAY_SHIFT) - 1)
            } else {
                0
            },
            impressions_lifetime: self.impressions.load(Ordering::Relaxed),
            opportunities: self.opportunities.load(Ordering::Relaxed),
        }
    }
}

/// A campaign as the decide path needs it, copied out of the model at publish. The funnel
/// reads its [`Hot`] entry first and this one only for what the entry's flags point to
/// (deals, caps, pacer, holdout, CPC/CPA bids, creative rotation), for winners and for
/// traces. The auction's separation data (categories, domain) and the tier live only in
/// [`Hot`].
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) flight: Flight,
    pub(crate) bid: Bid,
    pub(crate) id: CampaignId,
    pub(crate) advertiser: AdvertiserId,
    pub(crate) holdout: f64,
    pub(crate) creatives: Creatives,
    pub(crate) deals: SmallVec<[DealId; 2]>,
    pub(crate) caps: SmallVec<[FrequencyCap; 1]>,
    /// `None` for ASAP campaigns: they skip the controller entirely.
    pub(crate) pacer: Option<Arc<PacerEntry>>,
    pub(crate) ledger: Arc<BudgetLedger>,
    pub(crate) daily_limit: Option<Money>,
    pub(crate) lifetime_limit: Option<Money>,
}

/// What the decide funnel reads of every targeted campaign, kept apart from the cold rest
/// of [`Compiled`] in one dense array of two adjacent cache lines per campaign.
///
/// At 100k campaigns a request targets about 300 of them, and each entry is a cache miss
/// (the snapshot's campaigns far outgrow L2); the funnel therefore reads only this entry
/// for a campaign without deals, caps, a pacing controller, a holdout, a CPC/CPA bid or
/// more than one (or a restricted) creative, and the matching [`Compiled`] entry only for
/// what [`Hot::flags`] says it has. Built at publish beside [`Compiled`];
/// `size_of::<Hot>()` is 128 bytes (asserted in the tests).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(128))]
pub(crate) struct Hot {
    pub(crate) flight: Flight,
    pub(crate) id: CampaignId,
    pub(crate) advertiser: AdvertiserId,
    pub(crate) domain: Option<AdvertiserDomain>,
    /// The bid when it is a CPM (else [`Hot::COLD_BID`] is set and this is zero).
    pub(crate) cpm: Cpm,
    /// The one creative, when [`Hot::ONE_CREATIVE`] is set.
    pub(crate) creative: CreativeId,
    /// Its duration in seconds.
    pub(crate) duration_s: u32,
    pub(crate) categories: Categories,
    pub(crate) tier: Tier,
    /// Its format.
    pub(crate) format: Format,
    pub(crate) flags: u8,
}

impl Hot {
    /// Exactly one creative, with no markets, languages or targeting: choosing it is
    /// checking that it fits the slot (every rotation picks the only variant).
    pub(crate) const ONE_CREATIVE: u8 = 1;
    /// The campaign lists deals.
    pub(crate) const DEALS: u8 = 1 << 1;
    /// The campaign has frequency caps.
    pub(crate) const CAPS: u8 = 1 << 2;
    /// The campaign has a pacing controller (every mode but ASAP).
    pub(crate) const PACER: u8 = 1 << 3;
    /// The campaign holds out a control group.
    pub(crate) const HOLDOUT: u8 = 1 << 4;
    /// The bid is CPC or CPA: its eCPM needs the measured rates.
    pub(crate) const COLD_BID: u8 = 1 << 5;

    /// The entry of `c`, with the auction's separation data (kept only here).
    fn of(
        c: &Compiled,
        categories: Categories,
        domain: Option<AdvertiserDomain>,
        tier: Tier,
    ) -> Hot {
        let one = match &*c.creatives.variants {
            [only] if !c.creatives.restricted => Some(only),
            _ => None,
        };
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        Hot {
            flight: c.flight,
            id: c.id,
            advertiser: c.advertiser,
            domain,
            cpm: match c.bid {
                Bid::Cpm(cpm) => cpm,
                _ => Cpm::ZERO,
            },
            creative: one.map_or(CreativeId::new(0), |v| v.id),
            duration_s: one.map_or(0, |v| v.duration_s),
            categories,
            tier,
            format: one.map_or(Format::Video, |v| v.format),
            flags: flag(one.is_some(), Hot::ONE_CREATIVE)
                | flag(!c.deals.is_empty(), Hot::DEALS)
                | flag(!c.caps.is_empty(), Hot::CAPS)
                | flag(c.pacer.is_some(), Hot::PACER)
                | flag(c.holdout > 0.0, Hot::HOLDOUT)
                | flag(!matches!(c.bid, Bid::Cpm(_)), Hot::COLD_BID),
        }
    }

    /// Whether `flag` is set.
    #[inline]
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// One published campaign set: immutable, shared by every decision that loaded it.
pub(crate) struct Snapshot {
    pub(crate) generation: Generation,
    pub(crate) campaigns: Vec<Campaign>,
    pub(crate) compiled: Vec<Compiled>,
    /// The funnel's view of `compiled`, index for index.
    pub(crate) hot: Box<[Hot]>,
    pub(crate) by_id: HashMap<CampaignId, u32>,
    pub(crate) index: Index,
    /// Competitive category name → the id the auction separates on.
    pub(crate) category_ids: HashMap<String, u32>,
    /// Market and language codes of the creatives.
    pub(crate) codes: Codes,
    /// Whether any creative lists markets, languages or targeting.
    pub(crate) any_restricted: bool,
    /// Per campaign slot: whether its budget can still pay for an impression. A hint kept
    /// dense so the decide path never touches an exhausted campaign's ledger; the
    /// reservation stays authoritative (see the module's `# Synchronization`).
    pub(crate) budget_ok: Box<[AtomicBool]>,
}

impl Snapshot {
    fn empty() -> Self {
        Self {
            generation: Generation(0),
            campaigns: Vec::new(),
            compiled: Vec::new(),
            hot: Box::new([]),
            by_id: HashMap::new(),
            index: Index::build(std::iter::empty::<(u32, &Expr)>())
                .unwrap_or_else(|_| unreachable!("an empty index always builds")),
            category_ids: HashMap::new(),
            codes: Codes::default(),
            any_restricted: false,
            budget_ok: Box::new([]),
        }
    }

    #[inline]
    pub(crate) fn budget_hint(&self, key: u32) -> bool {
        // Relaxed: a hint; the ledger's own atomics decide every reservation.
        self.budget_ok
            .get(key as usize)
            .is_some_and(|b| b.load(Ordering::Relaxed))
    }

    pub(crate) fn set_budget_hint(&self, key: u32, ok: bool) {
        if let Some(b) = self.budget_ok.get(key as usize) {
            // Relaxed: a hint; see `budget_hint`.
            b.store(ok, Ordering::Relaxed);
        }
    }

    /// Recomputes every budget hint from the ledgers.
    pub(crate) fn refresh_budget_hints(&self, now: Timestamp) {
        for (key, c) in self.compiled.iter().enumerate() {
            self.set_budget_hint(key as u32, Engine::budget_allows(c, now));
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
    pub(crate) frequency: InProcessFrequencyStore,
    /// Member ad load (per household or user).
    pub(crate) ad_load: InProcessAdLoadStore,
    /// Per-variant counters by (campaign, creative), surviving publishes.
    pub(crate) variants: papaya::HashMap<(CampaignId, adloop_core::CreativeId), Arc<VariantStats>>,
    /// The same counters by variant number (click ring and touch lookups).
    pub(crate) variants_by_number: papaya::HashMap<u32, Arc<VariantStats>>,
    pub(crate) next_variant: AtomicU32,
    /// Rotation state by campaign, surviving publishes.
    pub(crate) rotations: papaya::HashMap<CampaignId, Arc<RotationState>>,
    pub(crate) clicks: ClickRing,
    pub(crate) touches: Touches,
    /// Pacing controllers by campaign, surviving publishes (lock-free map; touched only by
    /// publish, load and save: snapshots hold each campaign's entry directly).
    pub(crate) pacers: papaya::HashMap<CampaignId, Arc<PacerEntry>>,
    pub(crate) attribution: AttributionService,
    pub(crate) next_impression: CachePadded<AtomicU64>,
    /// Decisions whose pod search stopped at its node budget (`Relaxed`; statistics).
    pub(crate) truncated_pods: CachePadded<AtomicU64>,
    /// The latest `now` passed to `tick` (ms), `i64::MIN` before the first.
    pub(crate) last_tick: AtomicI64,
    /// The `now` of the latest reclamation sweep (ms), `i64::MIN` before the first.
    pub(crate) last_sweep: AtomicI64,
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
    /// How many decisions so far filled a pod whose search stopped at the auction's node
    /// budget ([`Decision::truncated`]): feasible pods at least as good as the greedy
    /// fill, not proven optimal. A steadily rising count means pods with many equal bids
    /// in mixed durations; it is not persisted by [`Engine::save`].
    pub fn truncated_pods(&self) -> u64 {
        // Relaxed: a statistics counter (see `# Synchronization`).
        self.truncated_pods.load(Ordering::Relaxed)
    }

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

    /// Memory held by the current snapshot and the per-campaign ledgers.
    pub fn memory(&self) -> MemoryReport {
        let snap = self.current.load();
        let model_bytes: usize = snap
            .campaigns
            .iter()
            .map(|c| {
                std::mem::size_of::<Campaign>()
                    + c.targeting.capacity()
                    + c.advertiser_domain.capacity()
                    + c.creatives.capacity() * std::mem::size_of::<Creative>()
                    + c.creatives
                        .iter()
                        .map(|cr| {
                            cr.targeting.capacity()
                                + cr.markets
                                    .iter()
                                    .chain(&cr.languages)
                                    .map(|m| m.capacity() + 24)
                                    .sum::<usize>()
                        })
                        .sum::<usize>()
                    + c.deals.capacity() * std::mem::size_of::<DealId>()
                    + c.frequency_caps.capacity() * std::mem::size_of::<FrequencyCap>()
                    + c.categories
                        .iter()
                        .map(|s| s.capacity() + std::mem::size_of::<String>())
                        .sum::<usize>()
            })
            .sum();
        // HashMap entries: key, value and one control byte, at the map's capacity.
        let by_id_bytes = snap.by_id.capacity() * (std::mem::size_of::<(CampaignId, u32)>() + 1);
        let n = snap.compiled.len();
        MemoryReport {
            campaigns: n,
            index_bytes: snap.index.heap_bytes(),
            compiled_bytes: snap.compiled.capacity() * std::mem::size_of::<Compiled>()
                + snap.hot.len() * std::mem::size_of::<Hot>()
                + snap
                    .compiled
                    .iter()
                    .map(|c| c.creatives.heap_bytes())
                    .sum::<usize>()
                + by_id_bytes
                + snap.codes.heap_bytes(),
            creative_feedback_bytes: self.clicks.bytes() + self.touches.len() * 64,
            model_bytes,
            // Counters and limits (two cache-padded blocks) plus 32 bytes per slot.
            ledger_bytes: n
                * (std::mem::size_of::<BudgetLedger>()
                    + 256
                    + self.config.max_outstanding as usize * 32),
        }
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
            for (i, cr) in c.creatives.iter().enumerate() {
                if !cr.targeting.trim().is_empty()
                    && let Err(e) = adloop_targeting::parse(&cr.targeting)
                {
                    errors.push(CampaignError::new(
                        c.id,
                        &format!("creatives[{i}].targeting"),
                        e.to_string(),
                    ));
                }
            }
            let budget = self.budget_config(c);
            if let Err(e) = budget.validate() {
                errors.push(CampaignError::new(c.id, "budget", e.to_string()));
            } else if let Err(e) = c.pacing.build(&budget) {
                errors.push(CampaignError::new(c.id, "pacing", e.to_string()));
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
        let mut codes = Codes::default();
        let mut compiled = Vec::with_capacity(campaigns.len());
        let mut hot = Vec::with_capacity(campaigns.len());
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
            let pacer = match c.pacing {
                PacingMode::Asap => None,
                _ => Some(self.link_pacer(c).map_err(|e| {
                    Error::InvalidCampaigns(CampaignErrors(vec![CampaignError::new(
                        c.id,
                        "pacing",
                        e.to_string(),
                    )]))
                })?),
            };
            let creatives = Creatives::compile(
                &c.creatives,
                c.rotation,
                self.rotation_state(c.id),
                &mut codes,
                |creative| self.variant_stats(c.id, creative),
            )
            .map_err(|(i, e)| {
                Error::InvalidCampaigns(CampaignErrors(vec![CampaignError::new(
                    c.id,
                    &format!("creatives[{i}].targeting"),
                    e,
                )]))
            })?;
            seen.insert(c.id);
            by_id.insert(c.id, i as u32);
            let cold = Compiled {
                id: c.id,
                advertiser: c.advertiser,
                bid: c.bid,
                flight: c.flight,
                deals: c.deals.iter().copied().collect(),
                creatives,
                caps: c.frequency_caps.iter().copied().collect(),
                pacer,
                holdout: c.holdout,
                ledger,
                daily_limit: c.budget.daily,
                lifetime_limit: c.budget.lifetime,
            };
            let domain = (!c.advertiser_domain.is_empty())
                .then(|| AdvertiserDomain::from_domain(&c.advertiser_domain));
            hot.push(Hot::of(&cold, categories, domain, c.tier));
            compiled.push(cold);
        }
        let budget_ok = compiled
            .iter()
            .map(|c| AtomicBool::new(Engine::budget_allows(c, self.hint_time(c))))
            .collect();
        let any_restricted = compiled.iter().any(|c| c.creatives.restricted);
        Ok(Snapshot {
            generation: Generation(0),
            campaigns,
            compiled,
            hot: hot.into_boxed_slice(),
            by_id,
            index,
            category_ids,
            any_restricted,
            codes,
            budget_ok,
        })
    }

    /// The surviving counters of one variant, created (with the next number) when new.
    pub(crate) fn variant_stats(
        &self,
        campaign: CampaignId,
        creative: adloop_core::CreativeId,
    ) -> Arc<VariantStats> {
        let map = self.variants.pin();
        if let Some(v) = map.get(&(campaign, creative)) {
            return Arc::clone(v);
        }
        let v = map.get_or_insert_with((campaign, creative), || {
            // Relaxed: numbers need only be unique.
            let number = self.next_variant.fetch_add(1, Ordering::Relaxed);
            Arc::new(VariantStats::new(number, campaign, creative))
        });
        self.variants_by_number
            .pin()
            .insert(v.number, Arc::clone(v));
        Arc::clone(v)
    }

    fn rotation_state(&self, campaign: CampaignId) -> Arc<RotationState> {
        Arc::clone(
            self.rotations
                .pin()
                .get_or_insert_with(campaign, Arc::default),
        )
    }

    /// Delivery, outcomes and the rotation's current share of each creative variant of
    /// `campaign` (empty when it is not published). Conversions and value are as of the
    /// last [`tick`](Self::tick).
    pub fn creative_report(&self, campaign: CampaignId) -> Vec<CreativeReport> {
        let snap = self.current.load();
        snap.get(campaign).map_or_else(Vec::new, |c| {
            let shares = c.creatives.shares();
            c.creatives
                .variants
                .iter()
                .zip(shares)
                .map(|(v, share)| CreativeReport::of(v, c.creatives.rotation, share))
                .collect()
        })
    }

    /// [`creative_report`](Self::creative_report) for every published campaign.
    pub fn creative_reports(&self) -> Vec<CreativeReport> {
        let snap = self.current.load();
        snap.compiled
            .iter()
            .flat_map(|c| {
                let shares = c.creatives.shares();
                c.creatives
                    .variants
                    .iter()
                    .zip(shares)
                    .map(|(v, share)| CreativeReport::of(v, c.creatives.rotation, share))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The member ad-load store (what each household or user saw, and the policy).
    pub fn ad_load(&self) -> &InProcessAdLoadStore {
        &self.ad_load
    }

    /// A fresh controller entry for `c`.
    fn pacer_entry(&self, c: &Campaign) -> Result<Arc<PacerEntry>, adloop_pacing::Error> {
        let budget = self.budget_config(c);
        // A bid-shading controller measures spend in units of the campaign's own bid.
        let mode = match c.bid {
            Bid::Cpm(cpm) => c.pacing.with_default_value_scale(cpm.per_impression()),
            Bid::Cpc(_) | Bid::Cpa(_) => c.pacing.clone(),
        };
        Ok(Arc::new(PacerEntry {
            pacer: mode.build(&budget)?,
            mode: c.pacing.clone(),
            budget,
            opportunities: CachePadded::new(AtomicU64::new(0)),
            impressions: AtomicU64::new(0),
            impressions_day: AtomicU64::new(0),
        }))
    }

    /// The surviving controller of `c`, or a new one when it is new or its mode or budget
    /// changed (state carries over when the controller kind allows it).
    fn link_pacer(&self, c: &Campaign) -> Result<Arc<PacerEntry>, adloop_pacing::Error> {
        let map = self.pacers.pin();
        let budget = self.budget_config(c);
        if let Some(existing) = map.get(&c.id)
            && existing.mode == c.pacing
            && existing.budget == budget
        {
            return Ok(Arc::clone(existing));
        }
        let fresh = self.pacer_entry(c)?;
        if let Some(old) = map.get(&c.id) {
            let _ = fresh.pacer.import_state(&old.pacer.export_state());
            // Relaxed: publish-time copies of counters; see `PacerEntry`.
            for (to, from) in [
                (&*fresh.opportunities, &*old.opportunities),
                (&fresh.impressions, &old.impressions),
                (&fresh.impressions_day, &old.impressions_day),
            ] {
                to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        map.insert(c.id, Arc::clone(&fresh));
        Ok(fresh)
    }

    /// The instant a fresh snapshot's budget hints are computed at: the last tick, or the
    /// campaign's flight start before any tick (hints are refreshed by every tick).
    fn hint_time(&self, c: &Compiled) -> Timestamp {
        // Relaxed: a hint's time base; see `budget_hint`.
        let last = self.last_tick.load(Ordering::Relaxed);
        if last == i64::MIN {
            c.flight.start
        } else {
            Timestamp::from_millis(last)
        }
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
                if let Some(p) = &c.pacer {
                    p.count_impression(time.day_index(self.config.utc_offset));
                }
                if !c.caps.is_empty() {
                    let who = Identities {
                        user: receipt.user,
                        household: receipt.household,
                    };
                    self.frequency
                        .record(who, c.id, c.advertiser, &c.caps, time)
                        .map_err(|e| component("pacing", e))?;
                }
                let variant = c
                    .creatives
                    .position(receipt.creative)
                    .map(|i| &c.creatives.variants[i]);
                if let Some(v) = variant {
                    // Relaxed: a counter (see `creative`'s `# Synchronization`).
                    v.stats.impressions.fetch_add(1, Ordering::Relaxed);
                    self.clicks
                        .remember(receipt.impression.get(), v.stats.number);
                    if let Some((_, household)) = identity(receipt.user, receipt.household) {
                        self.touches
                            .touch(household.get(), c.id, v.stats.number, time);
                    }
                }
                if self.ad_load.policy().is_capped() {
                    let ad_seconds = variant.map_or(0, |v| v.duration_s);
                    self.ad_load
                        .record(
                            ShownAd {
                                who: Identities {
                                    user: receipt.user,
                                    household: receipt.household,
                                },
                                session: receipt.session,
                                stream: receipt.stream,
                                campaign: c.id,
                                ad_seconds,
                                pod: (ad_seconds > 0).then_some(receipt.pod.max(1)),
                            },
                            time,
                        )
                        .map_err(|e| component("pacing", e))?;
                }
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
            Event::Click { impression, time } => {
                self.attribution
                    .record_click(Click { impression, time })
                    .map_err(|e| component("attribution", e))?;
                if let Some(n) = self.clicks.variant_of(impression.get())
                    && let Some(v) = self.variants_by_number.pin().get(&n)
                {
                    // Relaxed: a counter (see `creative`'s `# Synchronization`).
                    v.clicks.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
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
        // Relaxed: only the hint time base; see `budget_hint`.
        self.last_tick.fetch_max(now.as_millis(), Ordering::Relaxed);
        self.budgets.expire(now);
        let snap = self.current.load();
        let day = now.day_index(self.config.utc_offset);
        for c in &snap.compiled {
            if let Some(p) = &c.pacer {
                p.pacer.tick(now, &p.observation(&c.ledger, now, day));
            }
        }
        snap.refresh_budget_hints(now);
        self.attribution.tick(now);
        self.credit_creatives(now);
        for c in &snap.compiled {
            c.creatives.update_shares(self.config.seed, c.id);
        }
        if self.claim_sweep(now) {
            self.frequency.sweep(now);
            self.ad_load.sweep(now);
            self.touches.sweep(now, self.touch_ttl_secs());
        }
    }

    pub(crate) fn touch_ttl_secs(&self) -> u64 {
        (self.config.touch_ttl.as_millis() / 1_000).max(0) as u64
    }

    /// Whether this tick runs the reclamation sweeps: at most once per `sweep_interval` of
    /// caller time, and by one of several concurrent ticks.
    fn claim_sweep(&self, now: Timestamp) -> bool {
        // Relaxed (both): `last_sweep` publishes nothing; the CAS only elects one tick per
        // interval. Sweeps are idempotent, so a lost race or a stale read costs at most one
        // skipped or one extra sweep.
        let last = self.last_sweep.load(Ordering::Relaxed);
        now.as_millis().saturating_sub(last) >= self.config.sweep_interval.as_millis()
            && self
                .last_sweep
                .compare_exchange(last, now.as_millis(), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Credits finalized conversions to the creative each household saw last of each
    /// credited campaign (see `creative`'s module docs).
    fn credit_creatives(&self, now: Timestamp) {
        let ttl_s = self.touch_ttl_secs();
        let mut finalized = Vec::new();
        self.attribution.drain_attributions(&mut finalized);
        let numbers = self.variants_by_number.pin();
        for a in &finalized {
            if a.outcome != adloop_attribution::Outcome::Attributed {
                continue;
            }
            for credit in &a.credits {
                let Some(n) =
                    self.touches
                        .last(a.conversion.household.get(), credit.campaign, now, ttl_s)
                else {
                    continue;
                };
                if let Some(v) = numbers.get(&n) {
                    v.credit(credit.credit, a.conversion.value);
                }
            }
        }
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
            campaigns_json: serde_json::to_string(&snap.campaigns)
                .map_err(|e| Error::InconsistentState(format!("campaigns: {e}")))?,
            budgets: self.budgets.snapshot(),
            frequency: self.frequency.snapshot(),
            pacers: snap
                .compiled
                .iter()
                .filter_map(|c| {
                    c.pacer.as_ref().map(|p| SavedPacer {
                        campaign: c.id,
                        state_json: serde_json::to_string(&p.pacer.export_state())
                            .unwrap_or_default(),
                        // Relaxed: counters; see `PacerEntry`.
                        opportunities: p.opportunities.load(Ordering::Relaxed),
                        impressions: p.impressions.load(Ordering::Relaxed),
                        impressions_day: p.impressions_day.load(Ordering::Relaxed),
                    })
                })
                .collect(),
            attribution: self.attribution.export_state(),
            ad_load: self.ad_load.snapshot(),
            variants: {
                let map = self.variants.pin();
                let mut v: Vec<SavedVariant> = map
                    .iter()
                    .map(|((campaign, creative), s)| SavedVariant {
                        campaign: *campaign,
                        creative: *creative,
                        // Relaxed: counters; see `creative`'s `# Synchronization`.
                        impressions: s.impressions.load(Ordering::Relaxed),
                        clicks: s.clicks.load(Ordering::Relaxed),
                        conversions_micro: s.conversions_micro.load(Ordering::Relaxed),
                        value_micros: s.value_micros.load(Ordering::Relaxed),
                        weight: s.weight.load(Ordering::Relaxed),
                    })
                    .collect();
                v.sort_by_key(|v| (v.campaign, v.creative));
                v
            },
            touches: {
                let numbers = self.variants_by_number.pin();
                self.touches
                    .entries()
                    .into_iter()
                    .filter_map(|(h, c, w)| {
                        numbers
                            .get(&((w >> 32) as u32))
                            .map(|v| (h, c, v.creative, w as u32))
                    })
                    .collect()
            },
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

/// Memory of a published snapshot, by part (see [`Engine::memory`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryReport {
    /// Campaigns in the snapshot.
    pub campaigns: usize,
    /// The compiled targeting index.
    pub index_bytes: usize,
    /// The dense per-campaign decide data and the id map.
    pub compiled_bytes: usize,
    /// The published campaign models (kept for save, lookups and responses).
    pub model_bytes: usize,
    /// Budget ledgers (counters and reservation slots).
    pub ledger_bytes: usize,
    /// Per-creative feedback, held once per engine (not in [`total`](Self::total)): the
    /// click ring and the households' latest touches (about 64 bytes each).
    pub creative_feedback_bytes: usize,
}

impl MemoryReport {
    /// Every part together.
    pub fn total(&self) -> usize {
        self.index_bytes + self.compiled_bytes + self.model_bytes + self.ledger_bytes
    }

    /// [`total`](Self::total) divided by the number of campaigns.
    pub fn bytes_per_campaign(&self) -> usize {
        self.total() / self.campaigns.max(1)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_funnel_entry_is_two_aligned_cache_lines() {
        assert_eq!(std::mem::size_of::<Hot>(), 128);
        assert_eq!(std::mem::align_of::<Hot>(), 128);
        // The prefetch loop in decide touches both lines through these two fields.
        assert_eq!(std::mem::offset_of!(Hot, flight), 0);
        assert!(std::mem::offset_of!(Hot, flags) >= 64);
    }

    #[test]
    fn sweeps_run_once_per_interval_of_caller_time() {
        let engine = EngineBuilder::new()
            .sweep_interval(DurationMs::from_mins(5))
            .build()
            .expect("engine");
        let t0 = Timestamp::from_millis(1_700_000_000_000);
        assert!(engine.claim_sweep(t0), "the first tick sweeps");
        assert!(!engine.claim_sweep(t0 + DurationMs::from_mins(4)));
        assert!(
            !engine.claim_sweep(t0 - DurationMs::HOUR),
            "time going back never sweeps"
        );
        assert!(engine.claim_sweep(t0 + DurationMs::from_mins(5)));
        assert!(!engine.claim_sweep(t0 + DurationMs::from_mins(9)));
        let every_tick = EngineBuilder::new()
            .sweep_interval(DurationMs::ZERO)
            .build()
            .expect("engine");
        assert!(every_tick.claim_sweep(t0));
        assert!(every_tick.claim_sweep(t0));
    }

    #[test]
    fn identities_stand_in_for_each_other() {
        let (u, h) = (Some(UserId::new(3)), Some(HouseholdId::new(9)));
        assert_eq!(identity(u, h), Some((UserId::new(3), HouseholdId::new(9))));
        assert_eq!(
            identity(u, None),
            Some((UserId::new(3), HouseholdId::new(3)))
        );
        assert_eq!(
            identity(None, h),
            Some((UserId::new(9), HouseholdId::new(9)))
        );
        assert_eq!(identity(None, None), None);
    }

    #[test]
    fn daily_impression_counts_roll_over_with_the_day() {
        let engine = EngineBuilder::new().build().unwrap();
        let c: Campaign = serde_json::from_str(
            r#"{"id": 1, "advertiser": 1, "budget": {"daily": 1000000},
                "flight": {"start": 0, "end": 864000000}, "bid": {"cpm": 1000000},
                "pacing": {"mode": "throttle"}, "targeting": "true",
                "creatives": [{"id": 1, "duration_s": 15}]}"#,
        )
        .unwrap();
        let entry = engine.pacer_entry(&c).unwrap();
        let ledger = BudgetLedger::new(c.id, engine.budget_config(&c)).unwrap();
        let now = Timestamp::from_millis(86_400_000 + 1_000);
        entry.count_impression(1);
        entry.count_impression(1);
        let o = entry.observation(&ledger, now, 1);
        assert_eq!((o.impressions_today, o.impressions_lifetime), (2, 2));
        entry.count_impression(2);
        let o = entry.observation(&ledger, now + DurationMs::DAY, 2);
        assert_eq!((o.impressions_today, o.impressions_lifetime), (1, 3));
        // Asked about a later day with nothing counted yet: zero today.
        assert_eq!(entry.observation(&ledger, now, 3).impressions_today, 0);
    }
}
