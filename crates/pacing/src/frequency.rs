//! Frequency caps: at most N impressions per identity (user or household) per campaign
//! or advertiser within a window.
//!
//! # Windows
//! - [`CapWindow::Fixed`]: calendar-aligned buckets (`window` long, aligned to the
//!   store's local midnight for windows that divide a day); the count resets when a new
//!   bucket starts. One `u64` per key.
//! - [`CapWindow::Sliding`]: the last `window` before `now`, exact: the key keeps the
//!   times of its last N impressions (N ≤ [`MAX_SLIDING_CAP`]) in a ring.
//! - [`CapWindow::Lifetime`]: never resets (remove the state with
//!   [`InProcessFrequencyStore::forget_scope`] when the campaign ends).
//!
//! # Memory
//! One entry per (identity, scope, window) actually seen. An entry costs its key
//! (32 bytes) and counter (16 bytes, plus 8·N bytes for a sliding ring) inside a papaya
//! node (header and table slot, about 32 bytes): about **80 bytes per identity per
//! fixed or lifetime cap, 80 + 8·N per sliding cap**. [`InProcessFrequencyStore::sweep`]
//! drops every entry whose window has passed, and `max_keys` bounds the total.
//!
//! # Synchronization
//! Entries live in a `papaya::HashMap` (lock-free reads) in blocking-resize mode: with
//! incremental resizing, a read-mostly map was measured 5–10× slower per lookup after a
//! bulk of inserts (reads kept probing an unfinished copy). Counters:
//! - fixed (`AtomicU64` = `bucket << 32 | count`): `check` is one `Relaxed` load,
//!   `record` a `Relaxed` CAS loop (the count and its bucket change together);
//! - sliding: `cursor` (`AtomicU32`, `Relaxed` `fetch_add` hands each record its own ring
//!   slot) and the ring of `AtomicI64` times (`Relaxed` stores and loads).
//!
//! Nothing is published through these counters, so `Relaxed` suffices. Check and record
//! are separate steps: two decisions racing for the same identity may both pass `check`
//! before either impression is recorded (caps are counted on impression, as in every
//! ad server); the count itself is never lost.

use crate::error::Error;
use crate::sync::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use adloop_core::{AdvertiserId, CampaignId, DurationMs, HouseholdId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// Largest `max_impressions` of a sliding-window cap (the ring holds that many times).
pub const MAX_SLIDING_CAP: u32 = 64;

/// Which identity a cap counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A viewer profile.
    User,
    /// A household (all its viewers together).
    Household,
}

/// What a cap counts impressions of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapScope {
    /// The campaign.
    Campaign,
    /// Every campaign of the advertiser.
    Advertiser,
}

/// The window of a cap (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CapWindow {
    /// Calendar-aligned buckets of `window` (at least one second).
    Fixed {
        /// Bucket length.
        window: DurationMs,
    },
    /// The `window` before now (at least one second), exact.
    Sliding {
        /// Window length.
        window: DurationMs,
    },
    /// The whole life of the campaign.
    Lifetime,
}

/// At most `max_impressions` per identity per scope within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrequencyCap {
    /// Campaign or advertiser.
    pub scope: CapScope,
    /// User or household.
    pub identity: IdentityKind,
    /// Impressions allowed in the window (0 blocks everything).
    pub max_impressions: u32,
    /// The window.
    pub window: CapWindow,
}

impl FrequencyCap {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), Error> {
        match self.window {
            CapWindow::Fixed { window } | CapWindow::Sliding { window }
                if window < DurationMs::SECOND =>
            {
                Err(Error::InvalidConfig {
                    field: "frequency_cap.window",
                    reason: "must be at least one second",
                })
            }
            CapWindow::Sliding { .. } if self.max_impressions > MAX_SLIDING_CAP => {
                Err(Error::InvalidConfig {
                    field: "frequency_cap.max_impressions",
                    reason: "sliding windows allow at most 64",
                })
            }
            _ => Ok(()),
        }
    }
}

/// The identities known for a request; a cap whose identity is unknown does not apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identities {
    /// The viewer, when known.
    pub user: Option<UserId>,
    /// The household, when known.
    pub household: Option<HouseholdId>,
}

/// Where frequency counts are kept, behind a trait so a shared store can replace the
/// in-process one. `check` is on the decide path and must not block.
pub trait FrequencyStore: Send + Sync {
    /// `true` if every cap still allows an impression for `who` at `now`.
    fn check(
        &self,
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        caps: &[FrequencyCap],
        now: Timestamp,
    ) -> bool;
    /// Counts one impression against every cap.
    fn record(
        &self,
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        caps: &[FrequencyCap],
        now: Timestamp,
    ) -> Result<(), Error>;
    /// Drops state whose window has passed; returns how many entries were dropped.
    fn sweep(&self, now: Timestamp) -> usize;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Key {
    identity: u64,
    scope_id: u64,
    window_ms: i64,
    kind: IdentityKind,
    scope: CapScope,
    sliding: bool,
}

#[derive(Debug)]
enum Counter {
    Fixed(AtomicU64),
    Sliding {
        cursor: AtomicU32,
        times: Box<[AtomicI64]>,
    },
}

/// Persistent state of one counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum CounterState {
    Fixed { bucket: u32, count: u32 },
    Sliding { cursor: u32, times: Vec<i64> },
}

/// Persistent state of an [`InProcessFrequencyStore`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencySnapshot {
    utc_offset: DurationMs,
    max_keys: usize,
    entries: Vec<(Key, CounterState)>,
}

impl FrequencySnapshot {
    /// Number of tracked entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The in-process [`FrequencyStore`]: lock-free checks, bounded memory (see the module
/// docs for windows and bytes per identity).
pub struct InProcessFrequencyStore {
    map: papaya::HashMap<Key, Counter, ahash::RandomState>,
    utc_offset: DurationMs,
    max_keys: usize,
}

impl std::fmt::Debug for InProcessFrequencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessFrequencyStore")
            .field("entries", &self.map.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

fn bucket(now: Timestamp, window: CapWindow, utc_offset: DurationMs) -> u32 {
    match window {
        CapWindow::Fixed { window } => now
            .as_millis()
            .saturating_add(utc_offset.as_millis())
            .div_euclid(window.as_millis().max(1)) as u32,
        _ => 0,
    }
}

impl InProcessFrequencyStore {
    /// A store whose fixed windows align to local midnight at `utc_offset`, tracking at
    /// most `max_keys` entries.
    pub fn new(utc_offset: DurationMs, max_keys: usize) -> Self {
        InProcessFrequencyStore {
            map: papaya::HashMap::builder()
                .hasher(ahash::RandomState::new())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            utc_offset,
            max_keys,
        }
    }

    /// Entries tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn key(
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        cap: &FrequencyCap,
    ) -> Option<Key> {
        let identity = match cap.identity {
            IdentityKind::User => who.user?.get(),
            IdentityKind::Household => who.household?.get(),
        };
        let (window_ms, sliding) = match cap.window {
            CapWindow::Fixed { window } => (window.as_millis(), false),
            CapWindow::Sliding { window } => (window.as_millis(), true),
            CapWindow::Lifetime => (i64::MAX, false),
        };
        Some(Key {
            identity,
            scope_id: match cap.scope {
                CapScope::Campaign => campaign.get(),
                CapScope::Advertiser => advertiser.get(),
            },
            window_ms,
            kind: cap.identity,
            scope: cap.scope,
            sliding,
        })
    }

    fn count(&self, c: &Counter, cap: &FrequencyCap, now: Timestamp) -> u32 {
        match (c, cap.window) {
            (Counter::Fixed(word), w) => {
                // Relaxed: a self-contained counter (module docs).
                let v = word.load(Ordering::Relaxed);
                if (v >> 32) as u32 == bucket(now, w, self.utc_offset) {
                    v as u32
                } else {
                    0
                }
            }
            (Counter::Sliding { times, .. }, CapWindow::Sliding { window }) => {
                let from = now.as_millis().saturating_sub(window.as_millis());
                times
                    .iter()
                    // Relaxed: a self-contained value (module docs).
                    .filter(|t| t.load(Ordering::Relaxed) > from)
                    .count() as u32
            }
            _ => 0,
        }
    }

    /// Impressions counted for `who` under `cap` at `now` (0 when the identity is
    /// unknown).
    pub fn impressions(
        &self,
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        cap: &FrequencyCap,
        now: Timestamp,
    ) -> u32 {
        let Some(key) = Self::key(who, campaign, advertiser, cap) else {
            return 0;
        };
        let map = self.map.pin();
        map.get(&key).map_or(0, |c| self.count(c, cap, now))
    }

    /// Forgets every entry of one campaign's (or advertiser's) scope, e.g. when it ends.
    pub fn forget_scope(&self, scope: CapScope, id: u64) -> usize {
        let before = self.map.len();
        self.map
            .pin()
            .retain(|k, _| !(k.scope == scope && k.scope_id == id));
        before.saturating_sub(self.map.len())
    }

    /// A serde snapshot (each counter read atomically; entries racing it may be missed).
    pub fn snapshot(&self) -> FrequencySnapshot {
        let map = self.map.pin();
        let mut entries: Vec<(Key, CounterState)> = map
            .iter()
            .map(|(k, c)| {
                let s = match c {
                    Counter::Fixed(w) => {
                        // Relaxed: a self-contained counter.
                        let v = w.load(Ordering::Relaxed);
                        CounterState::Fixed {
                            bucket: (v >> 32) as u32,
                            count: v as u32,
                        }
                    }
                    Counter::Sliding { cursor, times } => CounterState::Sliding {
                        // Relaxed: a self-contained counter.
                        cursor: cursor.load(Ordering::Relaxed),
                        // Relaxed: self-contained values.
                        times: times.iter().map(|t| t.load(Ordering::Relaxed)).collect(),
                    },
                };
                (*k, s)
            })
            .collect();
        entries.sort_by_key(|(k, _)| (k.scope_id, k.identity, k.window_ms, k.sliding));
        FrequencySnapshot {
            utc_offset: self.utc_offset,
            max_keys: self.max_keys,
            entries,
        }
    }

    /// A store rebuilt from a snapshot (validated; nothing partial is returned).
    pub fn from_snapshot(s: &FrequencySnapshot) -> Result<Self, Error> {
        if s.entries.len() > s.max_keys {
            return Err(Error::InvalidSnapshot {
                what: "frequency",
                reason: "more entries than max_keys",
            });
        }
        let store = Self::new(s.utc_offset, s.max_keys);
        {
            let map = store.map.pin();
            for (k, c) in &s.entries {
                let counter = match c {
                    CounterState::Fixed { bucket, count } if !k.sliding => {
                        Counter::Fixed(AtomicU64::new(u64::from(*bucket) << 32 | u64::from(*count)))
                    }
                    CounterState::Sliding { cursor, times }
                        if k.sliding
                            && !times.is_empty()
                            && times.len() <= MAX_SLIDING_CAP as usize =>
                    {
                        Counter::Sliding {
                            cursor: AtomicU32::new(*cursor),
                            times: times.iter().map(|t| AtomicI64::new(*t)).collect(),
                        }
                    }
                    _ => {
                        return Err(Error::InvalidSnapshot {
                            what: "frequency",
                            reason: "counter does not match its window",
                        });
                    }
                };
                if map.insert(*k, counter).is_some() {
                    return Err(Error::InvalidSnapshot {
                        what: "frequency",
                        reason: "entry listed twice",
                    });
                }
            }
        }
        Ok(store)
    }
}

impl FrequencyStore for InProcessFrequencyStore {
    fn check(
        &self,
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        caps: &[FrequencyCap],
        now: Timestamp,
    ) -> bool {
        if caps.is_empty() {
            return true;
        }
        let map = self.map.pin();
        caps.iter().all(|cap| {
            let Some(key) = Self::key(who, campaign, advertiser, cap) else {
                return true;
            };
            let seen = map.get(&key).map_or(0, |c| self.count(c, cap, now));
            seen < cap.max_impressions
        })
    }

    fn record(
        &self,
        who: Identities,
        campaign: CampaignId,
        advertiser: AdvertiserId,
        caps: &[FrequencyCap],
        now: Timestamp,
    ) -> Result<(), Error> {
        let map = self.map.pin();
        for cap in caps {
            cap.validate()?;
            let Some(key) = Self::key(who, campaign, advertiser, cap) else {
                continue;
            };
            let counter = match map.get(&key) {
                Some(c) => c,
                None => {
                    if map.len() >= self.max_keys {
                        return Err(Error::FrequencyStoreFull {
                            capacity: self.max_keys,
                        });
                    }
                    map.get_or_insert_with(key, || match cap.window {
                        CapWindow::Sliding { .. } => Counter::Sliding {
                            cursor: AtomicU32::new(0),
                            times: (0..cap.max_impressions.max(1))
                                .map(|_| AtomicI64::new(i64::MIN))
                                .collect(),
                        },
                        _ => Counter::Fixed(AtomicU64::new(0)),
                    })
                }
            };
            match counter {
                Counter::Fixed(word) => {
                    let b = bucket(now, cap.window, self.utc_offset);
                    // Relaxed: a self-contained counter (module docs).
                    let mut cur = word.load(Ordering::Relaxed);
                    loop {
                        let next = if (cur >> 32) as u32 == b {
                            cur.saturating_add(1)
                                .min(u64::from(b) << 32 | u64::from(u32::MAX))
                        } else {
                            u64::from(b) << 32 | 1
                        };
                        // Relaxed: a self-contained counter (module docs).
                        match word.compare_exchange_weak(
                            cur,
                            next,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        ) {
                            Ok(_) => break,
                            Err(a) => cur = a,
                        }
                    }
                }
                Counter::Sliding { cursor, times } => {
                    // Relaxed: only hands out distinct ring slots (module docs).
                    let i = cursor.fetch_add(1, Ordering::Relaxed) as usize % times.len();
                    // Relaxed: a self-contained value (module docs).
                    times[i].store(now.as_millis(), Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    fn sweep(&self, now: Timestamp) -> usize {
        let before = self.map.len();
        let offset = self.utc_offset;
        self.map.pin().retain(|k, c| match c {
            Counter::Fixed(word) => {
                if k.window_ms == i64::MAX {
                    return true; // lifetime
                }
                // Relaxed: a self-contained counter.
                let v = word.load(Ordering::Relaxed);
                let window = CapWindow::Fixed {
                    window: DurationMs::from_millis(k.window_ms),
                };
                (v >> 32) as u32 == bucket(now, window, offset)
            }
            Counter::Sliding { times, .. } => {
                let from = now.as_millis().saturating_sub(k.window_ms);
                // Relaxed: self-contained values.
                times.iter().any(|t| t.load(Ordering::Relaxed) > from)
            }
        });
        before.saturating_sub(self.map.len())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_700_006_400_000);

    fn who(u: u64, h: u64) -> Identities {
        Identities {
            user: Some(UserId(u)),
            household: Some(HouseholdId(h)),
        }
    }

    #[test]
    fn fixed_sliding_and_advertiser_caps() {
        let s = InProcessFrequencyStore::new(DurationMs::ZERO, 1_000);
        let (c1, c2, adv) = (CampaignId(1), CampaignId(2), AdvertiserId(9));
        let daily = FrequencyCap {
            scope: CapScope::Campaign,
            identity: IdentityKind::User,
            max_impressions: 2,
            window: CapWindow::Fixed {
                window: DurationMs::DAY,
            },
        };
        let hh_hour = FrequencyCap {
            scope: CapScope::Advertiser,
            identity: IdentityKind::Household,
            max_impressions: 3,
            window: CapWindow::Sliding {
                window: DurationMs::HOUR,
            },
        };
        let caps = [daily, hh_hour];
        let a = who(1, 100);
        assert!(s.check(a, c1, adv, &caps, T0));
        s.record(a, c1, adv, &caps, T0).unwrap();
        s.record(a, c1, adv, &caps, T0 + DurationMs::MINUTE)
            .unwrap();
        // The user hit the campaign's daily cap; another campaign of the advertiser
        // still works until the household's advertiser cap (3/hour) is reached.
        assert!(!s.check(a, c1, adv, &caps, T0 + DurationMs::from_mins(2)));
        assert!(s.check(a, c2, adv, &caps, T0 + DurationMs::from_mins(2)));
        let b = who(2, 100); // same household, other user
        s.record(b, c2, adv, &caps, T0 + DurationMs::from_mins(3))
            .unwrap();
        assert!(!s.check(b, c2, adv, &caps, T0 + DurationMs::from_mins(4)));
        // The sliding hour frees up an hour after the first impression.
        let later = T0 + DurationMs::HOUR + DurationMs::SECOND;
        assert!(s.check(b, c2, adv, &caps, later));
        // Next day, the daily cap is reset too.
        assert!(s.check(a, c1, adv, &caps, T0 + DurationMs::DAY));
        assert_eq!(s.impressions(a, c1, adv, &daily, T0), 2);
        // Unknown identity: the cap does not apply.
        assert!(s.check(Identities::default(), c1, adv, &caps, T0));
        // Sweeping after the windows drops the state.
        let snap = s.snapshot();
        assert_eq!(snap.len(), 3);
        let back = InProcessFrequencyStore::from_snapshot(&snap).unwrap();
        assert_eq!(back.snapshot(), snap);
        assert_eq!(s.sweep(T0 + DurationMs::from_days(2)), 3);
        assert!(s.is_empty());
    }

    #[test]
    fn capacity_and_validation() {
        let s = InProcessFrequencyStore::new(DurationMs::ZERO, 2);
        let cap = FrequencyCap {
            scope: CapScope::Campaign,
            identity: IdentityKind::User,
            max_impressions: 1,
            window: CapWindow::Lifetime,
        };
        for u in 0..2 {
            s.record(who(u, u), CampaignId(1), AdvertiserId(1), &[cap], T0)
                .unwrap();
        }
        assert!(matches!(
            s.record(who(5, 5), CampaignId(1), AdvertiserId(1), &[cap], T0),
            Err(Error::FrequencyStoreFull { capacity: 2 })
        ));
        assert!(!s.check(
            who(0, 0),
            CampaignId(1),
            AdvertiserId(1),
            &[cap],
            T0 + DurationMs::from_days(900)
        ));
        assert_eq!(s.sweep(T0 + DurationMs::from_days(900)), 0);
        assert_eq!(s.forget_scope(CapScope::Campaign, 1), 2);
        let bad = FrequencyCap {
            max_impressions: 65,
            window: CapWindow::Sliding {
                window: DurationMs::HOUR,
            },
            ..cap
        };
        assert!(bad.validate().is_err());
    }
}
