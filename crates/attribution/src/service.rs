//! The thread-safe attribution service the engine holds in an `Arc`.
//!
//! # Synchronization
//! - Recording goes through [`EventQueue`]s (see that module's protocol): no lock.
//! - `feedback` and `holdouts` are `ArcSwap`s: readers `load` without a lock; `tick` and
//!   `set_holdout` build a new table aside and `store` it whole.
//! - `recorded` / `refused` (`AtomicU64`, cache-padded): `Relaxed` counters, read only for
//!   reporting.
//! - The [`Attributor`] sits behind a `Mutex` taken only by `tick`, reports and state
//!   export, never by recording or by the decide-path reads.

use crate::config::Config;
use crate::error::Error;
use crate::event::{Click, Conversion, Event, Impression};
use crate::feedback::{FeedbackTable, Rates};
use crate::holdout::{Group, LiftReport, holdout};
use crate::join::{Attribution, Attributor, AttributorState, MemoryUsage, Stats};
use crate::queue::EventQueue;
use crate::report::Report;
use adloop_core::{CampaignId, HouseholdId, Timestamp, UserId, codec};
use arc_swap::ArcSwap;
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Sizes of the service's recording queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Number of queues; each recording thread has a home queue (default 8).
    pub queues: usize,
    /// Events per queue, a power of two (default 16,384; 88 bytes each).
    pub queue_capacity: usize,
    /// Finalized attributions kept for [`AttributionService::drain_attributions`]; beyond it
    /// the oldest are discarded and counted in [`Stats::discarded_attributions`]
    /// (default 1,000,000).
    pub max_buffered_attributions: usize,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            queues: 8,
            queue_capacity: 16_384,
            max_buffered_attributions: 1_000_000,
        }
    }
}

/// What one [`AttributionService::tick`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickSummary {
    /// Events taken from the queues.
    pub drained: u64,
    /// Of those, late ones (counted and logged, not joined).
    pub late: u64,
    /// Conversions finalized during the tick.
    pub finalized: u64,
    /// The watermark after the tick.
    pub watermark: Timestamp,
}

/// Persisted service state: the attributor state plus holdout fractions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceState {
    attributor: AttributorState,
    holdouts: Vec<(CampaignId, f64)>,
}

const MAGIC: &[u8; 8] = b"ADLATSV1";
const VERSION: u32 = 1;

#[derive(Debug)]
struct Core {
    attributor: Attributor,
    scratch: Vec<Event>,
}

/// Attribution for concurrent ad serving: request threads [`record`](Self::record) events
/// into bounded lock-free queues; a maintenance thread calls [`tick`](Self::tick) to drain
/// them into the join, finalize conversions past the watermark and publish feedback that the
/// decide path reads without locks ([`feedback`](Self::feedback)).
///
/// Nothing recorded is lost: an event is either queued (and joined at the next tick) or
/// handed back in [`Error::QueueFull`].
#[derive(Debug)]
pub struct AttributionService {
    queues: Box<[EventQueue]>,
    core: Mutex<Core>,
    feedback: ArcSwap<FeedbackTable>,
    holdouts: ArcSwap<HashMap<CampaignId, f64>>,
    config: Config,
    service: ServiceConfig,
    recorded: CachePadded<AtomicU64>,
    refused: CachePadded<AtomicU64>,
}

static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn home_queue() -> usize {
    HOME.with(|h| {
        let mut v = h.get();
        if v == usize::MAX {
            // Relaxed: only spreads threads over queues.
            v = NEXT_HOME.fetch_add(1, Ordering::Relaxed);
            h.set(v);
        }
        v
    })
}

impl AttributionService {
    /// A new service.
    pub fn new(config: Config, service: ServiceConfig) -> Result<AttributionService, Error> {
        let attributor = Attributor::new(config.clone())?;
        AttributionService::with_attributor(config, service, attributor, HashMap::new())
    }

    fn with_attributor(
        config: Config,
        service: ServiceConfig,
        attributor: Attributor,
        holdouts: HashMap<CampaignId, f64>,
    ) -> Result<AttributionService, Error> {
        if service.queues == 0 || service.queues > 1_024 {
            return Err(Error::InvalidConfig {
                field: "queues",
                reason: "must be in 1..=1024",
            });
        }
        if !service.queue_capacity.is_power_of_two()
            || !(2..=1 << 24).contains(&service.queue_capacity)
        {
            return Err(Error::InvalidConfig {
                field: "queue_capacity",
                reason: "must be a power of two in 2..=16777216",
            });
        }
        let feedback = attributor.feedback_table();
        Ok(AttributionService {
            queues: (0..service.queues)
                .map(|_| EventQueue::new(service.queue_capacity))
                .collect(),
            core: Mutex::new(Core {
                attributor,
                scratch: Vec::new(),
            }),
            feedback: ArcSwap::from_pointee(feedback),
            holdouts: ArcSwap::from_pointee(holdouts),
            config,
            service,
            recorded: CachePadded::new(AtomicU64::new(0)),
            refused: CachePadded::new(AtomicU64::new(0)),
        })
    }

    /// The attribution configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Records one event without a lock or an allocation. The calling thread's home queue
    /// is tried first, then each other queue once; if all are full the event comes back in
    /// [`Error::QueueFull`] (nothing was recorded): call [`tick`](Self::tick) and retry, or
    /// spill it elsewhere.
    pub fn record(&self, event: impl Into<Event>) -> Result<(), Error> {
        let event = event.into();
        let words = event.to_words();
        let n = self.queues.len();
        let home = home_queue();
        for i in 0..n {
            if self.queues[(home + i) % n].push(&words) {
                // Relaxed: a counter for reporting.
                self.recorded.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
        // Relaxed: a counter for reporting.
        self.refused.fetch_add(1, Ordering::Relaxed);
        Err(Error::QueueFull {
            event: Box::new(event),
            capacity: self.service.queue_capacity,
        })
    }

    /// Records an impression (or ghost impression); see [`record`](Self::record).
    pub fn record_impression(&self, impression: Impression) -> Result<(), Error> {
        self.record(impression)
    }

    /// Records a click; see [`record`](Self::record).
    pub fn record_click(&self, click: Click) -> Result<(), Error> {
        self.record(click)
    }

    /// Records a conversion; see [`record`](Self::record).
    pub fn record_conversion(&self, conversion: Conversion) -> Result<(), Error> {
        self.record(conversion)
    }

    /// Events recorded so far, and events refused with [`Error::QueueFull`].
    pub fn recorded_and_refused(&self) -> (u64, u64) {
        // Relaxed: reporting counters.
        (
            self.recorded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    /// Events waiting in the queues (approximate while threads record).
    pub fn queued(&self) -> usize {
        self.queues.iter().map(EventQueue::len).sum()
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock cannot leave the join half-updated in a way that
        // matters more than losing the service, so poison is ignored.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drain_into(&self, core: &mut Core) -> (u64, u64) {
        let Core {
            attributor,
            scratch,
        } = core;
        scratch.clear();
        for q in self.queues.iter() {
            // At most one queue's worth per call, so producers cannot keep a tick busy.
            for _ in 0..q.capacity() {
                match q.pop().and_then(|w| Event::from_words(&w)) {
                    Some(e) => scratch.push(e),
                    None => break,
                }
            }
        }
        // Queues are drained one after another; sorting restores time order so an event
        // is late only if it was recorded late, not because of which queue held it.
        scratch.sort_by_key(Event::time);
        let drained = scratch.len() as u64;
        let late = attributor.ingest_all(scratch.drain(..));
        (drained, late)
    }

    /// Drains the queues into the join (in time order), moves the watermark to
    /// `now − allowed lateness`, finalizes the conversions it passes and publishes fresh
    /// feedback. Call it from one maintenance thread, e.g. every second.
    pub fn tick(&self, now: Timestamp) -> TickSummary {
        let mut core = self.lock();
        let before = core.attributor.stats().finalized_conversions;
        let (drained, late) = self.drain_into(&mut core);
        core.attributor.advance(now);
        core.attributor
            .discard_oldest_attributions(self.service.max_buffered_attributions);
        self.feedback
            .store(Arc::new(core.attributor.feedback_table()));
        let s = core.attributor.stats();
        TickSummary {
            drained,
            late,
            finalized: s.finalized_conversions - before,
            watermark: core.attributor.watermark(),
        }
    }

    /// Drains the queues and finalizes everything (end of stream, e.g. before shutdown).
    pub fn finish(&self) {
        let mut core = self.lock();
        self.drain_into(&mut core);
        core.attributor.finish();
        self.feedback
            .store(Arc::new(core.attributor.feedback_table()));
    }

    /// Smoothed CTR and CVR of `campaign` from the last tick. Lock-free (an `ArcSwap`
    /// load and a hash lookup).
    #[inline]
    pub fn feedback(&self, campaign: CampaignId) -> Rates {
        self.feedback.load().get(campaign)
    }

    /// The whole feedback table of the last tick (hold it for a batch of lookups).
    pub fn feedback_table(&self) -> Arc<FeedbackTable> {
        self.feedback.load_full()
    }

    /// Registers a holdout of `fraction` for `campaign` (lift is measured from now on).
    pub fn set_holdout(&self, campaign: CampaignId, fraction: f64) -> Result<(), Error> {
        self.lock().attributor.set_holdout(campaign, fraction)?;
        self.holdouts.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(campaign, fraction);
            m
        });
        Ok(())
    }

    /// The arm of this viewer for `campaign` under its registered holdout (treatment when
    /// none). Lock-free. For control, serve nothing and record a ghost impression.
    #[inline]
    pub fn holdout_group(
        &self,
        user: UserId,
        household: HouseholdId,
        campaign: CampaignId,
    ) -> Group {
        let fraction = self.holdouts.load().get(&campaign).copied().unwrap_or(0.0);
        self.assign(user, household, campaign, fraction)
    }

    /// The arm of this viewer for `campaign` with an explicit holdout `fraction` (for callers
    /// that keep fractions in their own campaign snapshot). Lock-free, stable.
    #[inline]
    pub fn assign(
        &self,
        user: UserId,
        household: HouseholdId,
        campaign: CampaignId,
        fraction: f64,
    ) -> Group {
        holdout(
            self.config.join_key.identity(user, household),
            campaign,
            fraction,
            self.config.holdout_salt,
        )
    }

    /// The report as of the last tick.
    pub fn report(&self) -> Report {
        self.lock().attributor.report()
    }

    /// The lift of one campaign with a holdout, as of the last tick.
    pub fn lift(&self, campaign: CampaignId) -> Option<LiftReport> {
        self.lock().attributor.lift(campaign)
    }

    /// Lift of every campaign with a holdout.
    pub fn lifts(&self) -> Vec<LiftReport> {
        self.lock().attributor.lifts()
    }

    /// Stream counters as of the last tick.
    pub fn stats(&self) -> Stats {
        self.lock().attributor.stats().clone()
    }

    /// Memory of the touch store.
    pub fn memory(&self) -> MemoryUsage {
        self.lock().attributor.memory()
    }

    /// Moves finalized attributions into `out`.
    pub fn drain_attributions(&self, out: &mut Vec<Attribution>) {
        self.lock().attributor.drain_attributions(out);
    }

    /// Late events logged since the last call.
    pub fn drain_late_events(&self) -> Vec<Event> {
        self.lock().attributor.drain_late_events()
    }

    /// Drains the queues into the join (without moving the watermark) and returns the
    /// state. Events recorded concurrently after the drain stay queued and are not in the
    /// snapshot: stop recording first for an exact one.
    pub fn export_state(&self) -> ServiceState {
        let mut core = self.lock();
        self.drain_into(&mut core);
        let mut holdouts: Vec<(CampaignId, f64)> =
            self.holdouts.load().iter().map(|(c, f)| (*c, *f)).collect();
        holdouts.sort_by_key(|x| x.0);
        ServiceState {
            attributor: core.attributor.export_state(),
            holdouts,
        }
    }

    /// A service resuming from `state` (the `config` must be the one it was written with).
    pub fn from_state(
        config: Config,
        service: ServiceConfig,
        state: ServiceState,
    ) -> Result<AttributionService, Error> {
        let attributor = Attributor::from_state(config.clone(), state.attributor)?;
        let holdouts = state.holdouts.into_iter().collect();
        AttributionService::with_attributor(config, service, attributor, holdouts)
    }

    /// [`export_state`](Self::export_state) in the framed binary format.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        Ok(codec::encode_framed(MAGIC, VERSION, &self.export_state())?)
    }

    /// Reads [`to_bytes`](Self::to_bytes) output; `limit` caps the payload in bytes.
    pub fn from_bytes(
        config: Config,
        service: ServiceConfig,
        bytes: &[u8],
        limit: usize,
    ) -> Result<AttributionService, Error> {
        let state: ServiceState = codec::decode_framed(MAGIC, VERSION, bytes, limit)?;
        AttributionService::from_state(config, service, state)
    }
}
