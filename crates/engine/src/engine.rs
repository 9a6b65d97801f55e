//! The engine: immutable snapshots behind an `ArcSwap`, mutable state keyed by campaign id.
//!
//! # Synchronization
//! - `current: ArcSwap<Snapshot>`: decisions `load()` it (no lock, no wait); `publish` builds
//!   a whole new snapshot aside and installs it with `compare_and_swap` against the snapshot
//!   it linked state from, retrying the (cheap) linking step if another publish won the race,
//!   so two concurrent publishes never create two states for one campaign id.
//! - `next_impression: AtomicU64`: receipt numbers, `fetch_add` with `Relaxed` (uniqueness
//!   only; no other memory is published through it).

use crate::campaign::{Campaign, validate_all};
use crate::error::{CampaignErrors, Error};
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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

/// Configures and builds an [`Engine`].
#[derive(Clone, Debug)]
pub struct EngineBuilder {
    seed: u64,
    currency: String,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            currency: "USD".into(),
        }
    }
}

impl EngineBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Seed of every random choice (with each request's id).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The currency of every amount (ISO 4217), used to check OpenRTB floors.
    pub fn currency(mut self, currency: &str) -> Self {
        self.currency = currency.to_owned();
        self
    }

    /// Builds an engine with no campaigns (generation 0).
    pub fn build(self) -> Engine {
        Engine {
            current: ArcSwap::from_pointee(Snapshot::empty()),
            next_impression: AtomicU64::new(1),
            config: self,
        }
    }
}

pub(crate) struct Snapshot {
    pub(crate) generation: Generation,
    pub(crate) campaigns: Vec<Campaign>,
    pub(crate) by_id: HashMap<adloop_core::CampaignId, u32>,
}

impl Snapshot {
    fn empty() -> Self {
        Self {
            generation: Generation(0),
            campaigns: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

/// The ad decisioning engine. `Send + Sync`: share one through an `Arc` across request threads.
pub struct Engine {
    current: ArcSwap<Snapshot>,
    next_impression: AtomicU64,
    config: EngineBuilder,
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

    /// Validates `campaigns`, compiles a new snapshot aside and installs it atomically.
    ///
    /// Every problem of every campaign is reported at once; on error nothing changes.
    pub fn publish(&self, campaigns: Vec<Campaign>) -> Result<Generation, Error> {
        let errors = validate_all(&campaigns);
        if !errors.is_empty() {
            return Err(Error::InvalidCampaigns(CampaignErrors(errors)));
        }
        let by_id = campaigns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i as u32))
            .collect();
        let mut fresh = Snapshot {
            generation: Generation(0),
            campaigns,
            by_id,
        };
        loop {
            let old = self.current.load_full();
            fresh.generation = Generation(old.generation.0 + 1);
            let new = Arc::new(fresh);
            let prev = self.current.compare_and_swap(&old, Arc::clone(&new));
            if Arc::ptr_eq(&prev, &old) {
                return Ok(new.generation);
            }
            fresh = Arc::into_inner(new).ok_or_else(|| {
                Error::InconsistentState("a snapshot was shared before it was installed".into())
            })?;
        }
    }

    pub(crate) fn next_impression(&self) -> u64 {
        // Relaxed: only uniqueness matters; nothing else is published through the counter.
        self.next_impression.fetch_add(1, Ordering::Relaxed)
    }
}
