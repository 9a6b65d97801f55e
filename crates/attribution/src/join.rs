//! The streaming join: touches stored per (advertiser, identity) in the chunked touch
//! store ([`crate::store`]), conversions finalized once the watermark passes them, in
//! (time, id) order.

use crate::config::Config;
use crate::error::Error;
use crate::event::{Click, Conversion, Event, Impression};
use crate::feedback::{FeedbackTable, Rates};
use crate::holdout::{ArmTotals, Group, LiftReport, holdout};
use crate::intern::IdIndex;
use crate::model::{Credits, Touch, credit};
use crate::report::{CampaignReport, Counts, DayReport, Report};
use crate::store::{Loaded, NONE, Store};
use adloop_core::{AdvertiserId, CampaignId, HouseholdId, Money, Timestamp, UserId, codec};
use ahash::RandomState;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

type Map<K, V> = HashMap<K, V, RandomState>;

/// What [`Attributor::ingest`] did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingest {
    /// Taken into the join.
    Accepted,
    /// Older than the watermark: counted in [`Stats`] and kept in the late-event log, not
    /// joined.
    Late,
}

/// How a finalized conversion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Credited to at least one campaign.
    Attributed,
    /// No eligible touch.
    Unattributed,
    /// An earlier conversion had the same advertiser and order id.
    Duplicate,
}

/// One campaign's share of a conversion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its share, in `(0, 1]`; a conversion's credits sum to 1.
    pub credit: f64,
}

/// A finalized conversion and its credits under the configured model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// The conversion.
    pub conversion: Conversion,
    /// How it ended.
    pub outcome: Outcome,
    /// Credits per campaign (empty unless attributed), in first-credited order.
    pub credits: Vec<Credit>,
}

/// Stream counters. Late events are counted here, never silently dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Impressions accepted (ghosts included).
    pub impressions: u64,
    /// Clicks accepted.
    pub clicks: u64,
    /// Conversions accepted.
    pub conversions: u64,
    /// Impressions older than the watermark on arrival.
    pub late_impressions: u64,
    /// Clicks older than the watermark on arrival.
    pub late_clicks: u64,
    /// Conversions older than the watermark on arrival.
    pub late_conversions: u64,
    /// Late events beyond the late-event log's capacity (counted above, not logged).
    pub late_not_logged: u64,
    /// Clicks whose impression is unknown, a ghost, later than the click, or more than the
    /// max click delay before it.
    pub orphan_clicks: u64,
    /// Impressions whose id was already stored (ignored).
    pub duplicate_impressions: u64,
    /// Conversions finalized.
    pub finalized_conversions: u64,
    /// Finalized conversions that were duplicates by (advertiser, order id).
    pub duplicate_conversions: u64,
    /// Finalized conversions credited to some campaign.
    pub attributed_conversions: u64,
    /// Finalized conversions without an eligible touch.
    pub unattributed_conversions: u64,
    /// Touches evicted after leaving every window.
    pub evicted_touches: u64,
    /// Touches dropped because one (identity, advertiser) exceeded its touch limit (or,
    /// in a store past ~2·10⁹ live touches, to keep its 32-bit references valid).
    pub dropped_touches: u64,
    /// Attributions discarded because the service's output buffer was full.
    pub discarded_attributions: u64,
}

/// Memory held by the join state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Touches stored.
    pub touches: u64,
    /// Identity-advertiser lists holding them.
    pub keys: u64,
    /// Estimated heap bytes of the touch store: lists, key map and impression index
    /// (capacity, not length, so growth slack counts).
    pub bytes: u64,
}

impl MemoryUsage {
    /// Bytes per stored touch (0 when empty).
    pub fn bytes_per_touch(&self) -> f64 {
        if self.touches == 0 {
            0.0
        } else {
            self.bytes as f64 / self.touches as f64
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CampaignState {
    id: CampaignId,
    advertiser: AdvertiserId,
    /// `advertiser`'s interned index.
    adv: u32,
    counts: Counts,
    /// Sorted by day; the last entry is the usual hit.
    days: Vec<(i64, Counts)>,
}

impl CampaignState {
    #[inline]
    fn day(&mut self, day: i64) -> &mut Counts {
        let i = match self.days.last() {
            Some((d, _)) if *d == day => self.days.len() - 1,
            _ => self.day_slow(day),
        };
        &mut self.days[i].1
    }

    #[cold]
    #[inline(never)]
    fn day_slow(&mut self, day: i64) -> usize {
        match self.days.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => i,
            Err(i) => {
                self.days.insert(i, (day, Counts::default()));
                i
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Exposure {
    first_ms: i64,
    control: bool,
    converted: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Experiment {
    fraction: f64,
    advertiser: Option<u64>,
    exposures: Map<u64, Exposure>,
    treatment: ArmTotals,
    control: ArmTotals,
    conflicts: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    conversion: Conversion,
    seq: u64,
}

impl Pending {
    fn key(&self) -> (i64, u64, u64) {
        (
            self.conversion.time.as_millis(),
            self.conversion.id.0,
            self.seq,
        )
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The whole join state; serialized as is for persistence.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    watermark: i64,
    max_time: i64,
    /// Stored touches, their keys and the impression index.
    store: Store,
    /// Advertiser id → interned index (the store keys touches by it).
    advertisers: Map<u64, u32>,
    /// Clicks waiting for their impression: impression id → click times.
    pending_clicks: Map<u64, SmallVec<[i64; 1]>>,
    pending_click_times: BinaryHeap<Reverse<(i64, u64)>>,
    pending_conversions: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// (advertiser, order id) → time of the conversion that counted.
    seen_orders: Map<(u64, u64), i64>,
    seen_order_queue: VecDeque<(i64, u64, u64)>,
    campaigns: Vec<CampaignState>,
    campaign_index: Map<u64, u32>,
    experiments: BTreeMap<u64, Experiment>,
    experiments_by_advertiser: Map<u64, SmallVec<[u64; 2]>>,
    stats: Stats,
    late_log: Vec<Event>,
    output: Vec<Attribution>,
}

impl Default for State {
    fn default() -> State {
        State {
            watermark: i64::MIN,
            max_time: i64::MIN,
            store: Store::new(1, 1),
            advertisers: Map::default(),
            pending_clicks: Map::default(),
            pending_click_times: BinaryHeap::new(),
            pending_conversions: BinaryHeap::new(),
            seq: 0,
            seen_orders: Map::default(),
            seen_order_queue: VecDeque::new(),
            campaigns: Vec::new(),
            campaign_index: Map::default(),
            experiments: BTreeMap::new(),
            experiments_by_advertiser: Map::default(),
            stats: Stats::default(),
            late_log: Vec::new(),
            output: Vec::new(),
        }
    }
}

/// Persisted attributor state (everything but the [`Config`], which holds the caller's
/// identity resolver): serialize it with serde, or use [`Attributor::to_bytes`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttributorState(State);

/// How many events [`Attributor::ingest_all`] reads ahead of the one it joins: enough that
/// a prefetch issued that early has landed (some microseconds) and enough misses overlap.
const AHEAD: usize = 16;

const MAGIC: &[u8; 8] = b"ADLATTR1";
const VERSION: u32 = 2;

/// The single-threaded streaming join: feed events in any order within the allowed
/// lateness, read finalized [`Attribution`]s, reports, lift and feedback.
///
/// [`crate::AttributionService`] wraps one for concurrent recording.
#[derive(Debug)]
pub struct Attributor {
    config: Config,
    view_keep_ms: i64,
    click_window_ms: i64,
    view_window_ms: i64,
    half_life_ms: i64,
    lateness_ms: i64,
    max_click_delay_ms: i64,
    max_touches: usize,
    st: State,
    /// `st.campaign_index` and `st.advertisers` again, for the per-event lookups (the maps
    /// are the persisted form; these are rebuilt from them).
    campaign_ix: IdIndex,
    advertiser_ix: IdIndex,
    scratch: Vec<Touch>,
    credits: Credits,
    /// How far the next conversion due for finalization has been warmed (not persisted).
    warm: ConvWarm,
}

/// Warming of the conversion at the top of the pending heap (see
/// [`Attributor::warm_conversion`]).
#[derive(Clone, Copy, Debug)]
struct ConvWarm {
    /// `Pending::seq` of the conversion being warmed (0: none; sequence numbers start at 1).
    seq: u64,
    /// Steps taken: 0 key bucket prefetched, then one chain link per step.
    step: u8,
    /// Interned advertiser, for the key lookup of step 1.
    adv: u32,
    identity: u64,
    /// The view whose record was prefetched last ([`NONE`]: done).
    view: u32,
}

/// Chain links [`Attributor::warm_conversion`] prefetches ahead of a conversion's walk.
const WARM_LINKS: u8 = 6;

impl Attributor {
    /// A new, empty attributor (validates `config`).
    pub fn new(config: Config) -> Result<Attributor, Error> {
        Attributor::with_state(config, State::default())
    }

    fn with_state(config: Config, mut st: State) -> Result<Attributor, Error> {
        config.validate()?;
        let view_keep_ms = config.view_keep_ms();
        let click_window_ms = config.click_window.as_millis();
        // A chunk spans at most 1/8 of its horizon, so eviction keeps at most ~1/8 extra.
        st.store.set_spans(
            (view_keep_ms / 8).max(1_000),
            (click_window_ms / 8).max(1_000),
        );
        st.store
            .reserve(config.expected_keys, config.expected_impressions);
        Ok(Attributor {
            view_keep_ms,
            click_window_ms,
            view_window_ms: config.view_window.as_millis(),
            half_life_ms: config.half_life.as_millis(),
            lateness_ms: config.allowed_lateness.as_millis(),
            max_click_delay_ms: config.max_click_delay.as_millis(),
            max_touches: config.max_touches_per_key,
            config,
            campaign_ix: st.campaign_index.iter().collect(),
            advertiser_ix: st.advertisers.iter().collect(),
            st,
            scratch: Vec::new(),
            credits: Credits::new(),
            warm: ConvWarm {
                seq: 0,
                step: 0,
                adv: 0,
                identity: 0,
                view: NONE,
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Events older than this are late. It is the latest event time seen (or `now` given to
    /// [`Attributor::advance`]) minus the allowed lateness; it never moves back.
    pub fn watermark(&self) -> Timestamp {
        Timestamp::from_millis(self.st.watermark)
    }

    /// The join identity of an event with this user and household under the configured key.
    #[inline]
    pub fn identity(&self, user: UserId, household: HouseholdId) -> u64 {
        self.config.join_key.identity(user, household)
    }

    /// Registers (or changes) a holdout experiment for `campaign`: exposures and conversions
    /// of its treatment and control arms are counted from now on.
    pub fn set_holdout(&mut self, campaign: CampaignId, fraction: f64) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidHoldout {
                campaign: campaign.0,
                fraction,
            });
        }
        let advertiser = self
            .st
            .campaign_index
            .get(&campaign.0)
            .map(|&i| self.st.campaigns[i as usize].advertiser.0);
        let e = self
            .st
            .experiments
            .entry(campaign.0)
            .or_insert_with(|| Experiment {
                fraction,
                advertiser: None,
                exposures: Map::default(),
                treatment: ArmTotals::default(),
                control: ArmTotals::default(),
                conflicts: 0,
            });
        e.fraction = fraction;
        if e.advertiser.is_none()
            && let Some(a) = advertiser
        {
            e.advertiser = Some(a);
            self.st
                .experiments_by_advertiser
                .entry(a)
                .or_default()
                .push(campaign.0);
        }
        Ok(())
    }

    /// The arm of this identity for `campaign` (treatment when it has no holdout).
    pub fn holdout_group(
        &self,
        user: UserId,
        household: HouseholdId,
        campaign: CampaignId,
    ) -> Group {
        let fraction = self
            .st
            .experiments
            .get(&campaign.0)
            .map_or(0.0, |e| e.fraction);
        holdout(
            self.identity(user, household),
            campaign,
            fraction,
            self.config.holdout_salt,
        )
    }

    /// Takes one event. Returns [`Ingest::Late`] (and counts and logs it) when it is older
    /// than the watermark. May finalize conversions the event's time lets the watermark pass.
    pub fn ingest(&mut self, event: Event) -> Ingest {
        self.ingest_ref(&event)
    }

    /// [`Attributor::ingest`] by reference (an event is ~80 bytes; the batch path joins
    /// events where they lie in its ring).
    #[inline]
    fn ingest_ref(&mut self, event: &Event) -> Ingest {
        let t = event.time().as_millis();
        if t < self.st.watermark {
            let s = &mut self.st.stats;
            match event {
                Event::Impression(_) => s.late_impressions += 1,
                Event::Click(_) => s.late_clicks += 1,
                Event::Conversion(_) => s.late_conversions += 1,
            }
            if self.st.late_log.len() < self.config.max_late_log {
                self.st.late_log.push(*event);
            } else {
                s.late_not_logged += 1;
            }
            return Ingest::Late;
        }
        match event {
            Event::Impression(i) => self.on_impression(i),
            Event::Click(c) => self.on_click(*c),
            Event::Conversion(c) => {
                self.st.stats.conversions += 1;
                self.st.seq += 1;
                let seq = self.st.seq;
                self.st.pending_conversions.push(Reverse(Pending {
                    conversion: *c,
                    seq,
                }));
            }
        }
        if t > self.st.max_time {
            self.st.max_time = t;
            self.raise_watermark(t.saturating_sub(self.lateness_ms));
        }
        self.warm_conversion();
        Ingest::Accepted
    }

    /// Takes many events (see [`Attributor::ingest`]); returns how many were late. The
    /// same result as calling `ingest` on each in turn, but faster: a software pipeline
    /// reads 16 events ahead and asks the CPU to prefetch the key-table and
    /// impression-index buckets each will probe, so those cache misses are in flight
    /// (many at once) by the time the event is joined instead of stalling it.
    pub fn ingest_all<I: IntoIterator<Item = Event>>(&mut self, events: I) -> u64 {
        let mut ring = [None; AHEAD];
        let mut late = 0;
        let mut k = 0;
        for e in events {
            let at = k % AHEAD;
            if let Some(old) = &ring[at] {
                late += u64::from(self.ingest_ref(old) == Ingest::Late);
            }
            self.warm(&e);
            ring[at] = Some(e);
            k += 1;
        }
        for j in 0..AHEAD {
            if let Some(e) = &ring[(k + j) % AHEAD] {
                late += u64::from(self.ingest_ref(e) == Ingest::Late);
            }
        }
        late
    }

    /// Prefetches the key-table and impression-index buckets `e` will probe first. A hint
    /// only: a table rebuilt meanwhile just makes it useless.
    #[inline]
    fn warm(&self, e: &Event) {
        let store = &self.st.store;
        let (user, household, advertiser) = match e {
            Event::Impression(i) if !i.ghost => {
                store.warm_view(i.id.0);
                (i.user, i.household, i.advertiser)
            }
            Event::Click(c) => {
                store.warm_view(c.impression.0);
                return;
            }
            Event::Conversion(c) => (c.user, c.household, c.advertiser),
            Event::Impression(_) => return,
        };
        if !matches!(self.config.join_key, crate::config::JoinKey::Resolver(_))
            && let Some(adv) = self.advertiser_ix.get(advertiser.0)
        {
            store.warm_slot(self.identity(user, household), adv);
        }
    }

    /// Moves the watermark to at least `now − allowed lateness` and finalizes every
    /// conversion it passes.
    pub fn advance(&mut self, now: Timestamp) {
        self.raise_watermark(now.as_millis().saturating_sub(self.lateness_ms));
    }

    /// Ends the stream: finalizes every pending conversion and orphans every waiting click.
    /// Any later event is late.
    pub fn finish(&mut self) {
        self.raise_watermark(i64::MAX);
        // Events at the very last millisecond are not behind even that watermark.
        while let Some(Reverse(p)) = self.st.pending_conversions.pop() {
            self.finalize(p.conversion);
        }
        for (_, times) in self.st.pending_clicks.drain() {
            self.st.stats.orphan_clicks += times.len() as u64;
        }
        self.st.pending_click_times.clear();
    }

    /// Moves finalized conversions into `out` (in finalization order: time, then id).
    pub fn drain_attributions(&mut self, out: &mut Vec<Attribution>) {
        out.append(&mut self.st.output);
    }

    /// Finalized conversions not yet drained.
    pub fn take_attributions(&mut self) -> Vec<Attribution> {
        std::mem::take(&mut self.st.output)
    }

    /// Late events logged since the last call (up to the configured log size).
    pub fn drain_late_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.st.late_log)
    }

    /// The stream counters.
    pub fn stats(&self) -> &Stats {
        &self.st.stats
    }

    /// Keeps at most `keep` undrained attributions, discarding (and counting) the oldest.
    pub(crate) fn discard_oldest_attributions(&mut self, keep: usize) {
        let n = self.st.output.len();
        if n > keep {
            self.st.output.drain(..n - keep);
            self.st.stats.discarded_attributions += (n - keep) as u64;
        }
    }

    /// Conversions waiting for the watermark.
    pub fn pending_conversions(&self) -> usize {
        self.st.pending_conversions.len()
    }

    /// One campaign's counters.
    pub fn campaign_counts(&self, campaign: CampaignId) -> Option<&Counts> {
        let &i = self.st.campaign_index.get(&campaign.0)?;
        Some(&self.st.campaigns[i as usize].counts)
    }

    /// The report: per campaign and per campaign-day, sorted by campaign id (then day).
    pub fn report(&self) -> Report {
        let mut campaigns: Vec<&CampaignState> = self.st.campaigns.iter().collect();
        campaigns.sort_by_key(|c| c.id);
        Report {
            models: self.report_models().iter().collect(),
            campaigns: campaigns
                .iter()
                .map(|c| CampaignReport {
                    campaign: c.id,
                    advertiser: c.advertiser,
                    counts: c.counts.clone(),
                })
                .collect(),
            days: campaigns
                .iter()
                .flat_map(|c| {
                    c.days.iter().map(|(day, counts)| DayReport {
                        campaign: c.id,
                        day: *day,
                        counts: counts.clone(),
                    })
                })
                .collect(),
            stats: self.st.stats.clone(),
        }
    }

    /// The lift report of a campaign registered with [`Attributor::set_holdout`].
    pub fn lift(&self, campaign: CampaignId) -> Option<LiftReport> {
        let e = self.st.experiments.get(&campaign.0)?;
        let spend = self
            .campaign_counts(campaign)
            .map_or(Money::ZERO, |c| c.spend);
        Some(LiftReport {
            campaign,
            holdout_fraction: e.fraction,
            treatment: e.treatment,
            control: e.control,
            spend,
            arm_conflicts: e.conflicts,
        })
    }

    /// Lift reports of every registered experiment, by campaign id.
    pub fn lifts(&self) -> Vec<LiftReport> {
        self.st
            .experiments
            .keys()
            .filter_map(|&c| self.lift(CampaignId(c)))
            .collect()
    }

    /// Smoothed rates of one campaign (the priors' means for an unknown campaign).
    pub fn feedback(&self, campaign: CampaignId) -> Rates {
        let c = self.campaign_counts(campaign);
        Rates::from_counts(
            c,
            self.config.model,
            self.config.ctr_prior,
            self.config.cvr_prior,
        )
    }

    /// Smoothed rates of every campaign, for lock-free publication.
    pub fn feedback_table(&self) -> FeedbackTable {
        let rates = self
            .st
            .campaigns
            .iter()
            .map(|c| {
                (
                    c.id,
                    Rates::from_counts(
                        Some(&c.counts),
                        self.config.model,
                        self.config.ctr_prior,
                        self.config.cvr_prior,
                    ),
                )
            })
            .collect();
        FeedbackTable::new(rates, self.config.ctr_prior, self.config.cvr_prior)
    }

    /// Memory held by stored touches (see [`MemoryUsage`]).
    pub fn memory(&self) -> MemoryUsage {
        MemoryUsage {
            touches: self.st.store.touches(),
            keys: self.st.store.keys(),
            bytes: self.st.store.bytes(),
        }
    }

    /// The persisted form of the state (serde).
    pub fn export_state(&self) -> AttributorState {
        AttributorState(self.st.clone())
    }

    /// An attributor resuming from `state` with `config` (which must be the one it was
    /// written with, identity resolver included).
    pub fn from_state(config: Config, state: AttributorState) -> Result<Attributor, Error> {
        let st = state.0;
        let c = st.campaigns.len();
        if st.campaign_index.values().any(|&i| i as usize >= c)
            || st.store.max_campaign().is_some_and(|i| i as usize >= c)
        {
            return Err(Error::CorruptState("campaign index out of range"));
        }
        let a = st.advertisers.len();
        if st.advertisers.values().any(|&i| i as usize >= a)
            || st.campaigns.iter().any(|x| x.adv as usize >= a)
            || st.store.max_advertiser().is_some_and(|i| i as usize >= a)
        {
            return Err(Error::CorruptState("advertiser index out of range"));
        }
        Attributor::with_state(config, st)
    }

    /// The state in the framed binary format (magic, version, CRC-32).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(codec::encode_framed(MAGIC, VERSION, &self.st)?)
    }

    /// Reads [`Attributor::to_bytes`] output; `limit` caps the payload size in bytes.
    pub fn from_bytes(config: Config, bytes: &[u8], limit: usize) -> Result<Attributor, Error> {
        let st: State = codec::decode_framed(MAGIC, VERSION, bytes, limit)?;
        Attributor::from_state(config, AttributorState(st))
    }

    fn report_models(&self) -> crate::config::ModelSet {
        self.config.report_models.with(self.config.model)
    }

    // ---- ingestion -------------------------------------------------------------------

    #[inline]
    fn campaign(&mut self, id: CampaignId, advertiser: AdvertiserId) -> u32 {
        match self.campaign_ix.get(id.0) {
            Some(i) => i,
            None => self.new_campaign(id, advertiser),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_campaign(&mut self, id: CampaignId, advertiser: AdvertiserId) -> u32 {
        let i = self.st.campaigns.len() as u32;
        let adv = self.advertiser(advertiser);
        self.st.campaigns.push(CampaignState {
            id,
            advertiser,
            adv,
            counts: Counts::default(),
            days: Vec::new(),
        });
        self.st.campaign_index.insert(id.0, i);
        self.campaign_ix.insert(id.0, i);
        if let Some(e) = self.st.experiments.get_mut(&id.0)
            && e.advertiser.is_none()
        {
            e.advertiser = Some(advertiser.0);
            self.st
                .experiments_by_advertiser
                .entry(advertiser.0)
                .or_default()
                .push(id.0);
        }
        i
    }

    /// The interned index of `advertiser`.
    fn advertiser(&mut self, advertiser: AdvertiserId) -> u32 {
        if let Some(i) = self.advertiser_ix.get(advertiser.0) {
            return i;
        }
        let n = self.st.advertisers.len() as u32;
        self.st.advertisers.insert(advertiser.0, n);
        self.advertiser_ix.insert(advertiser.0, n);
        n
    }

    fn day(&self, ms: i64) -> i64 {
        Timestamp::from_millis(ms).day_index(self.config.report_utc_offset)
    }

    fn on_impression(&mut self, imp: &Impression) {
        self.st.stats.impressions += 1;
        // Ghosts are not stored: no vacancy.
        let vacancy = if imp.ghost {
            None
        } else {
            match self.st.store.probe_new_view(imp.id.0) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.st.stats.duplicate_impressions += 1;
                    return;
                }
            }
        };
        let t = imp.time.as_millis();
        let ci = self.campaign(imp.campaign, imp.advertiser);
        let day = self.day(t);
        let identity = self.identity(imp.user, imp.household);
        {
            let c = &mut self.st.campaigns[ci as usize];
            if imp.ghost {
                c.counts.ghost_impressions += 1;
            } else {
                c.counts.impressions += 1;
                c.counts.spend = c.counts.spend.saturating_add(imp.cost);
            }
            let d = c.day(day);
            if imp.ghost {
                d.ghost_impressions += 1;
            } else {
                d.impressions += 1;
                d.spend = d.spend.saturating_add(imp.cost);
            }
        }
        if !self.st.experiments.is_empty()
            && let Some(e) = self.st.experiments.get_mut(&imp.campaign.0)
        {
            match e.exposures.get_mut(&identity) {
                None => {
                    e.exposures.insert(
                        identity,
                        Exposure {
                            first_ms: t,
                            control: imp.ghost,
                            converted: false,
                        },
                    );
                    if imp.ghost {
                        e.control.identities += 1;
                    } else {
                        e.treatment.identities += 1;
                    }
                }
                Some(x) if x.control != imp.ghost => e.conflicts += 1,
                Some(x) => x.first_ms = x.first_ms.min(t),
            }
        }
        let Some(vacancy) = vacancy else {
            return;
        };
        let c = &self.st.campaigns[ci as usize];
        let adv = if c.advertiser == imp.advertiser {
            c.adv
        } else {
            self.advertiser(imp.advertiser)
        };
        let store = &mut self.st.store;
        let slot = store.slot_for(identity, adv);
        store.add_view_at(slot, t, imp.id.0, ci, vacancy);
        if store.forced_drops > 0 {
            self.st.stats.dropped_touches += std::mem::take(&mut store.forced_drops);
        }
        if !self.st.pending_clicks.is_empty()
            && let Some(times) = self.st.pending_clicks.remove(&imp.id.0)
        {
            let view = Loaded {
                time: t,
                impression: imp.id.0,
                campaign: ci,
                prev: 0,
                slot,
            };
            for ct in times {
                self.resolve_click(view, ct);
            }
        }
    }

    fn on_click(&mut self, click: Click) {
        self.st.stats.clicks += 1;
        let t = click.time.as_millis();
        if let Some(view) = self.st.store.find_view(click.impression.0) {
            self.resolve_click(view, t);
        } else {
            self.st
                .pending_clicks
                .entry(click.impression.0)
                .or_default()
                .push(t);
            self.st
                .pending_click_times
                .push(Reverse((t, click.impression.0)));
        }
    }

    /// A click at `t` on the stored `view`: a click touch, or an orphan if it is before the
    /// view or more than the max click delay after it.
    fn resolve_click(&mut self, view: Loaded, t: i64) {
        if t < view.time || t.saturating_sub(view.time) > self.max_click_delay_ms {
            self.st.stats.orphan_clicks += 1;
            return;
        }
        let day = self.day(t);
        let c = &mut self.st.campaigns[view.campaign as usize];
        c.counts.clicks += 1;
        c.day(day).clicks += 1;
        let store = &mut self.st.store;
        store.add_click(view.slot, t, view.impression, view.campaign);
        if store.forced_drops > 0 {
            self.st.stats.dropped_touches += std::mem::take(&mut store.forced_drops);
        }
    }

    // ---- the watermark and finalization ----------------------------------------------

    fn raise_watermark(&mut self, w: i64) {
        if w <= self.st.watermark {
            return;
        }
        self.st.watermark = w;
        while let Some(&Reverse((t, imp))) = self.st.pending_click_times.peek() {
            if t >= w {
                break;
            }
            self.st.pending_click_times.pop();
            if let Some(times) = self.st.pending_clicks.get_mut(&imp)
                && let Some(p) = times.iter().position(|&x| x == t)
            {
                times.swap_remove(p);
                if times.is_empty() {
                    self.st.pending_clicks.remove(&imp);
                }
                self.st.stats.orphan_clicks += 1;
            }
        }
        while self
            .st
            .pending_conversions
            .peek()
            .is_some_and(|p| p.0.conversion.time.as_millis() < w)
        {
            if let Some(Reverse(p)) = self.st.pending_conversions.pop() {
                self.finalize(p.conversion);
            }
        }
        let dedup_h = w.saturating_sub(self.config.dedup_window.as_millis());
        while let Some(&(t, a, o)) = self.st.seen_order_queue.front() {
            if t >= dedup_h {
                break;
            }
            self.st.seen_order_queue.pop_front();
            if self.st.seen_orders.get(&(a, o)) == Some(&t) {
                self.st.seen_orders.remove(&(a, o));
            }
        }
        // After finalizing: the conversions just finalized may use touches the new
        // horizons pass.
        self.st.stats.evicted_touches += self.st.store.evict(
            w.saturating_sub(self.view_keep_ms),
            w.saturating_sub(self.click_window_ms),
        );
    }

    /// Warms the walk of the conversion due next, one dependent step per accepted event
    /// (the next conversion is due some events later: at 1% conversions, ~100): first its key bucket is prefetched, then (the bucket now cached) the
    /// key's newest view, then each older view of the chain the walk will read. A
    /// conversion's walk is a chain of dependent cache misses (key bucket, then each view
    /// in a 128 MB arena at 10M events) that no pipeline hides otherwise. Hints only:
    /// reads nothing that finalization depends on, so results cannot change.
    #[inline]
    fn warm_conversion(&mut self) {
        let Some(Reverse(p)) = self.st.pending_conversions.peek() else {
            return;
        };
        let store = &self.st.store;
        let w = &mut self.warm;
        if w.seq != p.seq {
            let conv = &p.conversion;
            w.seq = p.seq;
            w.step = WARM_LINKS + 1;
            if matches!(self.config.join_key, crate::config::JoinKey::Resolver(_)) {
                return;
            }
            if let Some(adv) = self.advertiser_ix.get(conv.advertiser.0) {
                let identity = self.config.join_key.identity(conv.user, conv.household);
                store.warm_slot(identity, adv);
                *w = ConvWarm {
                    seq: p.seq,
                    step: 0,
                    adv,
                    identity,
                    view: NONE,
                };
            }
            return;
        }
        if w.step > WARM_LINKS {
            return;
        }
        w.step += 1;
        let r = if w.step == 1 {
            store
                .find_slot(w.identity, w.adv)
                .map_or(NONE, |slot| store.view_head(slot))
        } else {
            let stop = p
                .conversion
                .time
                .as_millis()
                .saturating_sub(self.view_window_ms)
                .saturating_sub(self.lateness_ms);
            store.prev_view_ref(w.view, stop)
        };
        if r == NONE {
            w.step = WARM_LINKS + 1;
        } else {
            store.warm_view_ref(r);
        }
        w.view = r;
    }

    fn finalize(&mut self, conv: Conversion) {
        self.st.stats.finalized_conversions += 1;
        let c = conv.time.as_millis();
        let adv = conv.advertiser.0;
        let collect = self.config.collect_attributions;
        if let Some(order) = conv.order_id {
            if self.st.seen_orders.contains_key(&(adv, order.0)) {
                self.st.stats.duplicate_conversions += 1;
                if collect {
                    self.st.output.push(Attribution {
                        conversion: conv,
                        outcome: Outcome::Duplicate,
                        credits: Vec::new(),
                    });
                }
                return;
            }
            self.st.seen_orders.insert((adv, order.0), c);
            self.st.seen_order_queue.push_back((c, adv, order.0));
        }
        let identity = self.identity(conv.user, conv.household);
        self.scratch.clear();
        if let Some(adv_index) = self.advertiser_ix.get(adv)
            && let Some(slot) = self.st.store.find_slot(identity, adv_index)
        {
            self.st.stats.dropped_touches += self.st.store.collect(
                slot,
                c,
                self.view_window_ms,
                self.click_window_ms,
                self.lateness_ms,
                self.max_touches,
                &mut self.scratch,
            );
            // Chains come newest first, per kind; the models want (time, id, kind) order.
            self.scratch.sort_unstable_by_key(Touch::order_key);
        }
        if !self.st.experiments.is_empty() {
            self.count_experiment_conversion(&conv, identity);
        }
        if self.scratch.is_empty() {
            self.st.stats.unattributed_conversions += 1;
            if collect {
                self.st.output.push(Attribution {
                    conversion: conv,
                    outcome: Outcome::Unattributed,
                    credits: Vec::new(),
                });
            }
            return;
        }
        self.st.stats.attributed_conversions += 1;
        let day = self.day(c);
        // Touched conversions: once per distinct campaign.
        let mut seen: SmallVec<[u32; 8]> = SmallVec::new();
        for t in &self.scratch {
            if !seen.contains(&t.campaign) {
                seen.push(t.campaign);
                let cs = &mut self.st.campaigns[t.campaign as usize];
                cs.counts.touched_conversions += 1;
                cs.day(day).touched_conversions += 1;
            }
        }
        let value = conv.value;
        let mut primary: Vec<Credit> = Vec::new();
        for model in self.report_models().iter() {
            credit(model, &self.scratch, self.half_life_ms, &mut self.credits);
            let m = model.index();
            for &(ci, share) in &self.credits {
                let credited = value.map_or(Money::ZERO, |v| money_share(v, share));
                let cs = &mut self.st.campaigns[ci as usize];
                cs.counts.attributed[m] += share;
                cs.counts.attributed_value[m] =
                    cs.counts.attributed_value[m].saturating_add(credited);
                let d = cs.day(day);
                d.attributed[m] += share;
                d.attributed_value[m] = d.attributed_value[m].saturating_add(credited);
            }
            if collect && model == self.config.model {
                primary = self
                    .credits
                    .iter()
                    .map(|&(ci, share)| Credit {
                        campaign: self.st.campaigns[ci as usize].id,
                        credit: share,
                    })
                    .collect();
            }
        }
        if collect {
            self.st.output.push(Attribution {
                conversion: conv,
                outcome: Outcome::Attributed,
                credits: primary,
            });
        }
    }

    fn count_experiment_conversion(&mut self, conv: &Conversion, identity: u64) {
        let Some(campaigns) = self.st.experiments_by_advertiser.get(&conv.advertiser.0) else {
            return;
        };
        let c = conv.time.as_millis();
        for campaign in campaigns {
            let Some(e) = self.st.experiments.get_mut(campaign) else {
                continue;
            };
            let Some(x) = e.exposures.get_mut(&identity) else {
                continue;
            };
            if x.first_ms > c {
                continue;
            }
            let arm = if x.control {
                &mut e.control
            } else {
                &mut e.treatment
            };
            arm.conversions += 1;
            if let Some(v) = conv.value {
                arm.value = arm.value.saturating_add(v);
            }
            if !x.converted {
                x.converted = true;
                arm.converters += 1;
            }
        }
    }
}

/// `value × share` in micros, rounded to the nearest micro: the one place attributed money
/// goes through a float (credits are fractions).
#[inline]
fn money_share(value: Money, share: f64) -> Money {
    Money::from_micros((value.micros() as f64 * share).round() as i64)
}

/// Everything a batch run produces.
#[derive(Clone, Debug)]
pub struct BatchOutput {
    /// Finalized conversions in (time, id) order.
    pub attributions: Vec<Attribution>,
    /// The report.
    pub report: Report,
}

/// Attributes a complete event set: sorts by time (stable), streams it through an
/// [`Attributor`] and finishes — the same answer as the sorted stream.
pub fn attribute_batch(config: Config, mut events: Vec<Event>) -> Result<BatchOutput, Error> {
    events.sort_by_key(Event::time);
    let mut a = Attributor::new(config)?;
    for e in events {
        a.ingest(e);
    }
    a.finish();
    Ok(BatchOutput {
        attributions: a.take_attributions(),
        report: a.report(),
    })
}
