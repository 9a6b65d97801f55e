//! Member ad load: how many ads one household (or user) sees, capped to protect the
//! viewing experience.
//!
//! An [`AdLoadPolicy`] caps, per identity ([`IdentityKind`]):
//! - ad seconds in the last hour and ad pods (breaks) in the last hour,
//! - ad seconds in the current viewing session,
//! - how often one campaign may appear in one stream (an episode, a film, a live event).
//!
//! [`AdLoadStore::allowance`] says what the member may still see now — a number of ad
//! seconds and whether another pod may start — so the engine can shrink a pod or a slot
//! and return fewer or shorter ads; [`AdLoadStore::stream_allows`] checks the per-stream
//! campaign cap; [`AdLoadStore::record`] counts a shown ad.
//!
//! # Windows
//! - **Hour**: six ten-minute buckets in a ring; the hour is the current bucket and the
//!   five before it (50 to 60 minutes, never longer than an hour), so a member cannot get
//!   twice the cap across a clock-hour boundary as with one fixed hourly bucket.
//! - **Session**: the caller's session id when it gives one; otherwise viewing with gaps
//!   shorter than [`AdLoadPolicy::session_idle`]. A new id or a longer gap starts a new
//!   session with zero seconds.
//! - **Stream**: counts per (identity, stream, campaign), forgotten once the stream has
//!   been idle for `session_idle`.
//! - **Pods**: a pod is counted once: every ad recorded with the same pod key
//!   ([`ShownAd::pod`], e.g. the decision's first impression number) belongs to one pod.
//!
//! # Memory
//! One member entry per identity seen within the hour or session: 96 bytes of counters
//! plus its key and papaya's node and slot (about 40 bytes): **about 136 bytes per
//! identity**. One stream entry per (identity, stream, campaign) shown: a 24-byte key,
//! 16 bytes of counters and the node, about **80 bytes per campaign per active stream**.
//! [`AdLoadStore::sweep`] drops members idle for an hour and a session and idle streams;
//! `max_keys` bounds both maps together (a full store refuses new identities with
//! [`Error::AdLoadStoreFull`] and keeps counting the known ones).
//!
//! # Synchronization
//! Entries live in `papaya::HashMap`s (lock-free reads) in blocking-resize mode, like the
//! frequency store. Every counter is self-contained and nothing is published through it,
//! so every access is `Relaxed`:
//! - `buckets[i]: AtomicU64` = `bucket index (32) | seconds (20) | pods (12)`, updated by a
//!   CAS loop so a bucket's index and counts change together;
//! - `session: AtomicU64` = `session tag (32) | seconds (32)`, CAS loop;
//! - `last_seen_ms: AtomicI64` (`fetch_max`) and `last_pod: AtomicU64` (`swap`);
//! - stream `count: AtomicU32` (`fetch_add`) and `last_seen_ms: AtomicI64` (`fetch_max`).
//!
//! As with frequency caps, check and record are separate steps: two decisions racing for
//! one household may both pass `allowance` before either ad is recorded (ads are counted
//! when shown). Hourly, pod and stream counts are never lost; a record that starts a new
//! session while another record of the same member races it may leave that one's seconds
//! out of the new session.

use crate::error::Error;
use crate::frequency::{Identities, IdentityKind};
use crate::sync::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use adloop_core::{CampaignId, DurationMs, Timestamp};
use serde::{Deserialize, Serialize};

const BUCKET_MS: i64 = 600_000;
const BUCKETS: usize = 6;
const SECONDS_BITS: u32 = 20;
const PODS_BITS: u32 = 12;
const SECONDS_MAX: u64 = (1 << SECONDS_BITS) - 1;
const PODS_MAX: u64 = (1 << PODS_BITS) - 1;

fn default_identity() -> IdentityKind {
    IdentityKind::Household
}

fn default_session_idle() -> DurationMs {
    DurationMs::from_mins(30)
}

/// Caps on what one member sees; `None` leaves a dimension uncapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdLoadPolicy {
    /// Whose load is capped: the household (default: TV is watched together) or the user.
    #[serde(default = "default_identity")]
    pub identity: IdentityKind,
    /// Most ad seconds in the last hour.
    #[serde(default)]
    pub max_ad_seconds_per_hour: Option<u32>,
    /// Most ad seconds in one viewing session.
    #[serde(default)]
    pub max_ad_seconds_per_session: Option<u32>,
    /// Most ad pods (breaks) started in the last hour.
    #[serde(default)]
    pub max_pods_per_hour: Option<u32>,
    /// Most times one campaign may be shown in one stream.
    #[serde(default)]
    pub max_per_campaign_per_stream: Option<u32>,
    /// A gap in viewing longer than this ends a session (when the caller gives no session
    /// id) and a stream's counts; default 30 minutes.
    #[serde(default = "default_session_idle")]
    pub session_idle: DurationMs,
}

impl Default for AdLoadPolicy {
    fn default() -> Self {
        AdLoadPolicy {
            identity: default_identity(),
            max_ad_seconds_per_hour: None,
            max_ad_seconds_per_session: None,
            max_pods_per_hour: None,
            max_per_campaign_per_stream: None,
            session_idle: default_session_idle(),
        }
    }
}

impl AdLoadPolicy {
    /// Whether any cap is set (an uncapped policy costs nothing on the decide path).
    pub fn is_capped(&self) -> bool {
        self.max_ad_seconds_per_hour.is_some()
            || self.max_ad_seconds_per_session.is_some()
            || self.max_pods_per_hour.is_some()
            || self.max_per_campaign_per_stream.is_some()
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), Error> {
        if self.session_idle < DurationMs::SECOND || self.session_idle > DurationMs::DAY {
            return Err(Error::InvalidConfig {
                field: "ad_load.session_idle",
                reason: "must be between one second and one day",
            });
        }
        if self.max_ad_seconds_per_hour.is_some_and(|s| s > 3_600) {
            return Err(Error::InvalidConfig {
                field: "ad_load.max_ad_seconds_per_hour",
                reason: "an hour has 3600 seconds",
            });
        }
        if self
            .max_pods_per_hour
            .is_some_and(|p| u64::from(p) > PODS_MAX)
        {
            return Err(Error::InvalidConfig {
                field: "ad_load.max_pods_per_hour",
                reason: "at most 4095",
            });
        }
        Ok(())
    }

    fn key(&self, who: Identities) -> Option<u64> {
        match self.identity {
            IdentityKind::User => who.user.map(|u| u.get()),
            IdentityKind::Household => who.household.map(|h| h.get()),
        }
    }
}

/// What a member may still see now (see [`AdLoadStore::allowance`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Ad seconds left under the hourly and session caps (`u32::MAX`: uncapped).
    pub ad_seconds: u32,
    /// Whether another pod may start under the hourly pod cap.
    pub pod: bool,
}

impl Allowance {
    /// No cap applies.
    pub const UNLIMITED: Allowance = Allowance {
        ad_seconds: u32::MAX,
        pod: true,
    };
}

/// Where member ad load is counted, behind a trait so a shared store can replace the
/// in-process one. `allowance` and `stream_allows` are on the decide path and must not
/// block.
pub trait AdLoadStore: Send + Sync {
    /// The policy enforced.
    fn policy(&self) -> &AdLoadPolicy;
    /// What `who` may still see at `now` in `session` (see [`Allowance`]).
    fn allowance(&self, who: Identities, session: Option<u64>, now: Timestamp) -> Allowance;
    /// Whether `campaign` may be shown again to `who` in `stream`.
    fn stream_allows(
        &self,
        who: Identities,
        stream: Option<u64>,
        campaign: CampaignId,
        now: Timestamp,
    ) -> bool;
    /// Counts one shown ad of `ad_seconds`; ads recorded with the same pod key count as
    /// one pod.
    fn record(&self, ad: ShownAd, now: Timestamp) -> Result<(), Error>;
    /// Drops idle state; returns how many entries were dropped.
    fn sweep(&self, now: Timestamp) -> usize;
}

/// One shown ad, as [`AdLoadStore::record`] counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShownAd {
    /// The viewer.
    pub who: Identities,
    /// The viewing session, when the caller knows it.
    pub session: Option<u64>,
    /// The stream (episode, film, live event), when known.
    pub stream: Option<u64>,
    /// The campaign shown.
    pub campaign: CampaignId,
    /// Its length (0 for display).
    pub ad_seconds: u32,
    /// A key naming its pod (e.g. the decision's first impression number, never 0): ads
    /// sharing it are one pod. `None`: not in a pod (a display ad), no pod is counted.
    pub pod: Option<u64>,
}

#[derive(Debug)]
struct Member {
    buckets: [AtomicU64; BUCKETS],
    session: AtomicU64,
    last_seen_ms: AtomicI64,
    last_pod: AtomicU64,
}

impl Member {
    fn new() -> Self {
        Member {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            session: AtomicU64::new(0),
            last_seen_ms: AtomicI64::new(i64::MIN),
            last_pod: AtomicU64::new(0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct StreamKey {
    identity: u64,
    stream: u64,
    campaign: CampaignId,
}

#[derive(Debug)]
struct StreamCount {
    count: AtomicU32,
    last_seen_ms: AtomicI64,
}

/// Persistent state of one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct MemberState {
    identity: u64,
    buckets: [u64; BUCKETS],
    session: u64,
    last_seen_ms: i64,
    last_pod: u64,
}

/// Persistent state of an [`InProcessAdLoadStore`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdLoadSnapshot {
    policy: AdLoadPolicy,
    max_keys: usize,
    members: Vec<MemberState>,
    streams: Vec<(StreamKey, u32, i64)>,
}

impl AdLoadSnapshot {
    /// Number of tracked entries (members and streams).
    pub fn len(&self) -> usize {
        self.members.len() + self.streams.len()
    }

    /// `true` when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-process [`AdLoadStore`]: lock-free checks, bounded memory (see the module docs
/// for windows and bytes per identity).
pub struct InProcessAdLoadStore {
    policy: AdLoadPolicy,
    members: papaya::HashMap<u64, Member, ahash::RandomState>,
    streams: papaya::HashMap<StreamKey, StreamCount, ahash::RandomState>,
    max_keys: usize,
}

impl std::fmt::Debug for InProcessAdLoadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessAdLoadStore")
            .field("policy", &self.policy)
            .field("members", &self.members.len())
            .field("streams", &self.streams.len())
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

fn bucket_index(now: Timestamp) -> u32 {
    now.as_millis()
        .div_euclid(BUCKET_MS)
        .clamp(0, i64::from(u32::MAX)) as u32
}

fn unpack_bucket(word: u64) -> (u32, u64, u64) {
    (
        (word >> 32) as u32,
        (word >> PODS_BITS) & SECONDS_MAX,
        word & PODS_MAX,
    )
}

fn pack_bucket(index: u32, seconds: u64, pods: u64) -> u64 {
    u64::from(index) << 32 | seconds.min(SECONDS_MAX) << PODS_BITS | pods.min(PODS_MAX)
}

/// The 32-bit tag of a caller's session id (0 means "no id": sessions by idle gaps).
fn session_tag(session: Option<u64>) -> u32 {
    session.map_or(0, |s| {
        let h = (s.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32;
        h.max(1)
    })
}

impl InProcessAdLoadStore {
    /// A store enforcing `policy`, tracking at most `max_keys` entries.
    pub fn new(policy: AdLoadPolicy, max_keys: usize) -> Result<Self, Error> {
        policy.validate()?;
        Ok(InProcessAdLoadStore {
            policy,
            members: papaya::HashMap::builder()
                .hasher(ahash::RandomState::new())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            streams: papaya::HashMap::builder()
                .hasher(ahash::RandomState::new())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            max_keys,
        })
    }

    /// Entries tracked (members and streams).
    pub fn len(&self) -> usize {
        self.members.len() + self.streams.len()
    }

    /// `true` when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ad seconds and pods `who` saw in the hour before `now`.
    pub fn last_hour(&self, who: Identities, now: Timestamp) -> (u32, u32) {
        let Some(id) = self.policy.key(who) else {
            return (0, 0);
        };
        let map = self.members.pin();
        map.get(&id).map_or((0, 0), |m| Self::hour_totals(m, now))
    }

    /// Ad seconds `who` saw in the session current at `now`.
    pub fn session_seconds(&self, who: Identities, session: Option<u64>, now: Timestamp) -> u32 {
        let Some(id) = self.policy.key(who) else {
            return 0;
        };
        let map = self.members.pin();
        map.get(&id)
            .map_or(0, |m| self.current_session(m, session, now))
    }

    /// Times `campaign` was shown to `who` in `stream`.
    pub fn stream_count(
        &self,
        who: Identities,
        stream: Option<u64>,
        campaign: CampaignId,
        now: Timestamp,
    ) -> u32 {
        let (Some(identity), Some(stream)) = (self.policy.key(who), stream) else {
            return 0;
        };
        let map = self.streams.pin();
        map.get(&StreamKey {
            identity,
            stream,
            campaign,
        })
        .map_or(0, |s| self.live_stream_count(s, now))
    }

    fn hour_totals(m: &Member, now: Timestamp) -> (u32, u32) {
        let current = bucket_index(now);
        let (mut seconds, mut pods) = (0u64, 0u64);
        for b in &m.buckets {
            // Relaxed: a self-contained counter (module docs).
            let (index, s, p) = unpack_bucket(b.load(Ordering::Relaxed));
            if index <= current && current - index < BUCKETS as u32 && (s > 0 || p > 0) {
                seconds += s;
                pods += p;
            }
        }
        (seconds as u32, pods as u32)
    }

    fn current_session(&self, m: &Member, session: Option<u64>, now: Timestamp) -> u32 {
        // Relaxed: self-contained values (module docs).
        let word = m.session.load(Ordering::Relaxed);
        let last = m.last_seen_ms.load(Ordering::Relaxed);
        let same_tag = (word >> 32) as u32 == session_tag(session);
        let recent = now.as_millis().saturating_sub(last) <= self.policy.session_idle.as_millis();
        // A caller's session id keeps its session across gaps; without one, a gap ends it.
        if same_tag && (session.is_some() || recent) {
            word as u32
        } else {
            0
        }
    }

    fn live_stream_count(&self, s: &StreamCount, now: Timestamp) -> u32 {
        // Relaxed: self-contained values (module docs).
        let last = s.last_seen_ms.load(Ordering::Relaxed);
        if now.as_millis().saturating_sub(last) > self.policy.session_idle.as_millis() {
            0
        } else {
            s.count.load(Ordering::Relaxed)
        }
    }

    /// A serde snapshot (each counter read atomically; entries racing it may be missed).
    pub fn snapshot(&self) -> AdLoadSnapshot {
        let members = self.members.pin();
        let streams = self.streams.pin();
        // Relaxed: self-contained counters (module docs).
        let mut m: Vec<MemberState> = members
            .iter()
            .map(|(id, m)| MemberState {
                identity: *id,
                buckets: std::array::from_fn(|i| m.buckets[i].load(Ordering::Relaxed)),
                session: m.session.load(Ordering::Relaxed),
                last_seen_ms: m.last_seen_ms.load(Ordering::Relaxed),
                last_pod: m.last_pod.load(Ordering::Relaxed),
            })
            .collect();
        m.sort_by_key(|s| s.identity);
        let mut s: Vec<(StreamKey, u32, i64)> = streams
            .iter()
            .map(|(k, c)| {
                (
                    *k,
                    // Relaxed: self-contained counters (module docs).
                    c.count.load(Ordering::Relaxed),
                    c.last_seen_ms.load(Ordering::Relaxed),
                )
            })
            .collect();
        s.sort_by_key(|(k, _, _)| (k.identity, k.stream, k.campaign));
        AdLoadSnapshot {
            policy: self.policy,
            max_keys: self.max_keys,
            members: m,
            streams: s,
        }
    }

    /// A store rebuilt from a snapshot (validated; nothing partial is returned).
    pub fn from_snapshot(s: &AdLoadSnapshot) -> Result<Self, Error> {
        if s.len() > s.max_keys {
            return Err(Error::InvalidSnapshot {
                what: "ad load",
                reason: "more entries than max_keys",
            });
        }
        let store = Self::new(s.policy, s.max_keys)?;
        {
            let members = store.members.pin();
            for m in &s.members {
                let member = Member {
                    buckets: std::array::from_fn(|i| AtomicU64::new(m.buckets[i])),
                    session: AtomicU64::new(m.session),
                    last_seen_ms: AtomicI64::new(m.last_seen_ms),
                    last_pod: AtomicU64::new(m.last_pod),
                };
                if members.insert(m.identity, member).is_some() {
                    return Err(Error::InvalidSnapshot {
                        what: "ad load",
                        reason: "member listed twice",
                    });
                }
            }
            let streams = store.streams.pin();
            for (k, count, last) in &s.streams {
                let c = StreamCount {
                    count: AtomicU32::new(*count),
                    last_seen_ms: AtomicI64::new(*last),
                };
                if streams.insert(*k, c).is_some() {
                    return Err(Error::InvalidSnapshot {
                        what: "ad load",
                        reason: "stream listed twice",
                    });
                }
            }
        }
        Ok(store)
    }
}

impl AdLoadStore for InProcessAdLoadStore {
    fn policy(&self) -> &AdLoadPolicy {
        &self.policy
    }

    fn allowance(&self, who: Identities, session: Option<u64>, now: Timestamp) -> Allowance {
        let p = &self.policy;
        if p.max_ad_seconds_per_hour.is_none()
            && p.max_ad_seconds_per_session.is_none()
            && p.max_pods_per_hour.is_none()
        {
            return Allowance::UNLIMITED;
        }
        let Some(id) = p.key(who) else {
            return Allowance::UNLIMITED;
        };
        let map = self.members.pin();
        let Some(m) = map.get(&id) else {
            return Allowance {
                ad_seconds: p
                    .max_ad_seconds_per_hour
                    .unwrap_or(u32::MAX)
                    .min(p.max_ad_seconds_per_session.unwrap_or(u32::MAX)),
                pod: p.max_pods_per_hour.is_none_or(|cap| cap > 0),
            };
        };
        let (hour_seconds, hour_pods) = Self::hour_totals(m, now);
        let session_seconds = self.current_session(m, session, now);
        let left = |cap: Option<u32>, used: u32| cap.map_or(u32::MAX, |c| c.saturating_sub(used));
        Allowance {
            ad_seconds: left(p.max_ad_seconds_per_hour, hour_seconds)
                .min(left(p.max_ad_seconds_per_session, session_seconds)),
            pod: p.max_pods_per_hour.is_none_or(|cap| hour_pods < cap),
        }
    }

    fn stream_allows(
        &self,
        who: Identities,
        stream: Option<u64>,
        campaign: CampaignId,
        now: Timestamp,
    ) -> bool {
        match self.policy.max_per_campaign_per_stream {
            None => true,
            Some(cap) => self.stream_count(who, stream, campaign, now) < cap,
        }
    }

    fn record(&self, ad: ShownAd, now: Timestamp) -> Result<(), Error> {
        let p = &self.policy;
        let Some(identity) = p.key(ad.who) else {
            return Ok(());
        };
        let now_ms = now.as_millis();
        let members = self.members.pin();
        let m = match members.get(&identity) {
            Some(m) => m,
            None => {
                if self.len() >= self.max_keys {
                    return Err(Error::AdLoadStoreFull {
                        capacity: self.max_keys,
                    });
                }
                members.get_or_insert_with(identity, Member::new)
            }
        };
        // A new pod when this ad's pod differs from the last one counted.
        let new_pod = ad.pod.is_some_and(|pod| {
            // Relaxed: self-contained value (module docs).
            m.last_pod.swap(pod, Ordering::Relaxed) != pod
        });
        let index = bucket_index(now);
        let slot = &m.buckets[index as usize % BUCKETS];
        let seconds = u64::from(ad.ad_seconds);
        // Relaxed: a self-contained counter (module docs).
        let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            let (i, s, pods) = unpack_bucket(w);
            let (s, pods) = if i == index { (s, pods) } else { (0, 0) };
            Some(pack_bucket(index, s + seconds, pods + u64::from(new_pod)))
        });
        // Whether this ad continues the session in force (same id; without an id, a
        // short gap); otherwise it starts a new one.
        let continuing = self.current_session(m, ad.session, now) > 0;
        let tag = u64::from(session_tag(ad.session));
        // Relaxed: a self-contained counter (module docs).
        let _ = m
            .session
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let base = if continuing && w >> 32 == tag {
                    w as u32
                } else {
                    0
                };
                Some(tag << 32 | u64::from(base.saturating_add(ad.ad_seconds)))
            });
        // Relaxed: self-contained value (module docs).
        m.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);

        if let (Some(stream), Some(_)) = (ad.stream, p.max_per_campaign_per_stream) {
            let key = StreamKey {
                identity,
                stream,
                campaign: ad.campaign,
            };
            let streams = self.streams.pin();
            let s = match streams.get(&key) {
                Some(s) => s,
                None => {
                    if self.len() >= self.max_keys {
                        return Err(Error::AdLoadStoreFull {
                            capacity: self.max_keys,
                        });
                    }
                    streams.get_or_insert_with(key, || StreamCount {
                        count: AtomicU32::new(0),
                        last_seen_ms: AtomicI64::new(now_ms),
                    })
                }
            };
            if self.live_stream_count(s, now) == 0 {
                // Relaxed: self-contained counter (module docs); an idle stream restarts.
                s.count.store(0, Ordering::Relaxed);
            }
            // Relaxed: self-contained counters (module docs).
            s.count.fetch_add(1, Ordering::Relaxed);
            s.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
        Ok(())
    }

    fn sweep(&self, now: Timestamp) -> usize {
        let before = self.len();
        let idle = self.policy.session_idle.as_millis();
        let now_ms = now.as_millis();
        self.members.pin().retain(|_, m| {
            // Relaxed: self-contained value (module docs).
            let last = m.last_seen_ms.load(Ordering::Relaxed);
            now_ms.saturating_sub(last) <= DurationMs::HOUR.as_millis().max(idle)
        });
        self.streams.pin().retain(|_, s| {
            // Relaxed: self-contained value (module docs).
            now_ms.saturating_sub(s.last_seen_ms.load(Ordering::Relaxed)) <= idle
        });
        before.saturating_sub(self.len())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use adloop_core::{HouseholdId, UserId};

    const T0: Timestamp = Timestamp::from_millis(1_700_006_400_000);

    fn who(h: u64) -> Identities {
        Identities {
            user: Some(UserId(h * 10)),
            household: Some(HouseholdId(h)),
        }
    }

    fn ad(h: u64, seconds: u32, pod: i64) -> ShownAd {
        ShownAd {
            who: who(h),
            session: None,
            stream: Some(5),
            campaign: CampaignId(1),
            ad_seconds: seconds,
            pod: Some(pod as u64 + 1),
        }
    }

    fn store(policy: AdLoadPolicy) -> InProcessAdLoadStore {
        InProcessAdLoadStore::new(policy, 1_000).unwrap()
    }

    #[test]
    fn hourly_seconds_and_pods_slide_in_ten_minute_steps() {
        let s = store(AdLoadPolicy {
            max_ad_seconds_per_hour: Some(120),
            max_pods_per_hour: Some(2),
            ..AdLoadPolicy::default()
        });
        assert_eq!(s.allowance(who(1), None, T0).ad_seconds, 120);
        s.record(ad(1, 30, 0), T0).unwrap();
        s.record(ad(1, 30, 0), T0).unwrap(); // same pod
        assert_eq!(s.last_hour(who(1), T0), (60, 1));
        let t = T0 + DurationMs::from_mins(20);
        s.record(ad(1, 45, 20 * 60_000), t).unwrap();
        let a = s.allowance(who(1), None, t);
        assert_eq!(
            a,
            Allowance {
                ad_seconds: 15,
                pod: false
            }
        );
        // Another household is untouched.
        assert_eq!(
            s.allowance(who(2), None, t),
            Allowance {
                ad_seconds: 120,
                pod: true
            }
        );
        // An hour after the first pod its bucket has left the window.
        let later = T0 + DurationMs::from_mins(61);
        assert_eq!(s.last_hour(who(1), later), (45, 1));
        assert_eq!(
            s.allowance(who(1), None, later),
            Allowance {
                ad_seconds: 75,
                pod: true
            }
        );
    }

    #[test]
    fn sessions_by_id_or_by_idle_gap() {
        let s = store(AdLoadPolicy {
            max_ad_seconds_per_session: Some(100),
            ..AdLoadPolicy::default()
        });
        let mut a = ad(1, 60, 0);
        s.record(a, T0).unwrap();
        assert_eq!(s.allowance(who(1), None, T0).ad_seconds, 40);
        // A 31-minute gap ends an id-less session.
        let gap = T0 + DurationMs::from_mins(31);
        assert_eq!(s.allowance(who(1), None, gap).ad_seconds, 100);
        // With an id, the session is the id's, across gaps.
        a.session = Some(9);
        s.record(a, gap).unwrap();
        let much_later = gap + DurationMs::from_hours(2);
        assert_eq!(s.session_seconds(who(1), Some(9), much_later), 60);
        assert_eq!(s.allowance(who(1), Some(9), much_later).ad_seconds, 40);
        assert_eq!(s.allowance(who(1), Some(10), much_later).ad_seconds, 100);
    }

    #[test]
    fn stream_caps_and_sweep() {
        let s = store(AdLoadPolicy {
            max_per_campaign_per_stream: Some(2),
            ..AdLoadPolicy::default()
        });
        let c = CampaignId(1);
        for i in 0..2 {
            assert!(s.stream_allows(who(1), Some(5), c, T0));
            s.record(ad(1, 15, i), T0).unwrap();
        }
        assert!(!s.stream_allows(who(1), Some(5), c, T0));
        assert!(s.stream_allows(who(1), Some(6), c, T0));
        assert!(s.stream_allows(who(1), Some(5), CampaignId(2), T0));
        assert!(s.stream_allows(who(1), None, c, T0));
        let snap = s.snapshot();
        assert_eq!(snap.len(), 2);
        let back = InProcessAdLoadStore::from_snapshot(&snap).unwrap();
        assert_eq!(back.snapshot(), snap);
        assert_eq!(s.sweep(T0 + DurationMs::from_hours(2)), 2);
        assert!(s.is_empty());
    }

    #[test]
    fn capacity_validation_and_unknown_identities() {
        let s = InProcessAdLoadStore::new(
            AdLoadPolicy {
                max_pods_per_hour: Some(0),
                ..AdLoadPolicy::default()
            },
            1,
        )
        .unwrap();
        assert!(!s.allowance(who(1), None, T0).pod);
        assert_eq!(
            s.allowance(Identities::default(), None, T0),
            Allowance::UNLIMITED
        );
        s.record(ad(1, 15, 0), T0).unwrap();
        assert!(matches!(
            s.record(ad(2, 15, 0), T0),
            Err(Error::AdLoadStoreFull { capacity: 1 })
        ));
        let bad = AdLoadPolicy {
            session_idle: DurationMs::ZERO,
            ..AdLoadPolicy::default()
        };
        assert!(InProcessAdLoadStore::new(bad, 10).is_err());
        assert!(!AdLoadPolicy::default().is_capped());
    }
}
