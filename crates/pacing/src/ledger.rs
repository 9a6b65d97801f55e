//! The budget ledger: reserve, commit, release and expire money on one campaign's daily
//! and lifetime budgets without a lock.
//!
//! # Synchronization
//! All counters live in one cache-padded block ([`Counters`]) because every operation
//! touches several of them; reservation slots live in a separate array.
//!
//! - `daily_used` (`AtomicU64`): `day_tag << 48 | micros`, reserved + committed money of the
//!   local day whose index modulo 2¹⁶ is `day_tag`. Reserve is a CAS loop that either adds
//!   to the current day or starts a new day (rollover) and refuses to pass the daily limit;
//!   settle subtracts only when the tag still names the reservation's day. Packing the day
//!   with the amount makes the rollover and the limit check one atomic step.
//! - `lifetime_used` (`AtomicI64`): reserved + committed micros over the flight; reserve
//!   is a CAS loop that refuses to pass the lifetime limit, settle is a `fetch_sub`.
//! - `daily_committed` (`AtomicU64`, same packing) and `committed`, `reserved`,
//!   `released`, `expired` (`AtomicI64`): monotonic statistics. One exception to
//!   `Relaxed` below: `expire` skips a ledger whose `lifetime_used − committed` (the money
//!   outstanding) is zero, reading `committed` with `Acquire` first, paired with the
//!   commit's `Release` `fetch_add`, so the two loads cannot mix a newer commit with an
//!   older `lifetime_used` (see `may_have_outstanding`).
//!
//!   The budget invariant (`used ≤ limit`) is a property of each counter's own
//!   modification order, which every atomic read-modify-write respects whatever its
//!   ordering, so the counter operations are `Relaxed` (but for the one pair above).
//! - Each [`Slot`] has `state: AtomicU64` = `generation << 3 | status`. The reserving
//!   thread claims a free slot by CAS to `CLAIMING` with a new generation, writes
//!   `amount`, `expires_at` and `day_tag` (`Relaxed`), then publishes them with a
//!   `Release` store of `LIVE`. A settler (commit, release, expire) takes ownership with an
//!   `Acquire` CAS from exactly `(generation, LIVE)` to `SETTLING`, so it sees the fields
//!   and at most one settler ever wins, then returns the money and stores the final status
//!   with `Release` (read by the next claimer's CAS). The generation only grows, so a
//!   token whose slot was reused can never match again (no ABA).
//!
//! The loom models in `tests/pacing.rs` explore reserve/commit/release/expire on a tiny
//! budget under every interleaving.

use crate::error::Error;
use crate::sync::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use adloop_core::{CampaignId, DurationMs, Money, Timestamp};
use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

const USED_BITS: u32 = 48;
const USED_MASK: u64 = (1 << USED_BITS) - 1;

/// The largest daily budget and the largest single reservation: 2⁴⁸ − 1 micros
/// (about 281 million units of currency), the range of the packed daily counter.
pub const MAX_DAILY_BUDGET: Money = Money::from_micros(USED_MASK as i64);

/// The most reservation slots one ledger may have.
pub const MAX_OUTSTANDING_LIMIT: u32 = 1 << 22;

const EMPTY: u64 = 0;
const CLAIMING: u64 = 1;
const LIVE: u64 = 2;
const SETTLING: u64 = 3;
const COMMITTED: u64 = 4;
const RELEASED: u64 = 5;
const EXPIRED: u64 = 6;
const STATUS_BITS: u32 = 3;
const STATUS_MASK: u64 = (1 << STATUS_BITS) - 1;
/// Generations are `epoch << EPOCH_SHIFT | count`: a restore starts a new epoch, so no
/// token issued before it (even one missing from the snapshot) can match a new claim.
const EPOCH_SHIFT: u32 = 40;
const MAX_EPOCH: u64 = (1 << (64 - STATUS_BITS - EPOCH_SHIFT)) - 1;

#[inline]
fn pack_day(tag: u16, used: u64) -> u64 {
    (u64::from(tag) << USED_BITS) | (used & USED_MASK)
}

#[inline]
fn unpack_day(word: u64) -> (u16, u64) {
    ((word >> USED_BITS) as u16, word & USED_MASK)
}

/// `true` when day tag `a` is later than `b` (wrapping comparison over 2¹⁶ days).
#[inline]
fn tag_after(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) > 0
}

#[inline]
fn free(status: u64) -> bool {
    matches!(status, EMPTY | COMMITTED | RELEASED | EXPIRED)
}

/// A campaign's flight: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flight {
    /// First instant money may be reserved.
    pub start: Timestamp,
    /// First instant after the flight.
    pub end: Timestamp,
}

impl Flight {
    /// A flight from `start` (inclusive) to `end` (exclusive).
    pub const fn new(start: Timestamp, end: Timestamp) -> Self {
        Flight { start, end }
    }

    /// A flight that never ends.
    pub const ALWAYS: Flight = Flight {
        start: Timestamp::MIN,
        end: Timestamp::MAX,
    };

    /// `true` if `now` is within the flight.
    #[inline]
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }
}

/// The budget of one campaign: what [`BudgetLedger::new`] builds a ledger from.
///
/// Serialized with serde; every field but the budgets has a default, so
/// `{"daily": 100000000}` is a complete configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Daily budget (`None`: no daily limit beyond [`MAX_DAILY_BUDGET`]).
    #[serde(default)]
    pub daily: Option<Money>,
    /// Lifetime budget over the flight (`None`: unlimited).
    #[serde(default)]
    pub lifetime: Option<Money>,
    /// The flight; reservations outside it are refused.
    #[serde(default = "default_flight")]
    pub flight: Flight,
    /// Offset of the campaign's time zone from UTC; the daily budget resets at local
    /// midnight.
    #[serde(default)]
    pub utc_offset: DurationMs,
    /// How long a reservation may stay uncommitted before [`BudgetLedger::expire`]
    /// returns its money.
    #[serde(default = "default_ttl")]
    pub reservation_ttl: DurationMs,
    /// Reservation slots (the most reservations outstanding at once); 32 bytes each.
    #[serde(default = "default_outstanding")]
    pub max_outstanding: u32,
}

fn default_flight() -> Flight {
    Flight::ALWAYS
}
fn default_ttl() -> DurationMs {
    DurationMs::from_mins(5)
}
fn default_outstanding() -> u32 {
    1024
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            daily: None,
            lifetime: None,
            flight: Flight::ALWAYS,
            utc_offset: DurationMs::ZERO,
            reservation_ttl: default_ttl(),
            max_outstanding: default_outstanding(),
        }
    }
}

impl BudgetConfig {
    /// A daily budget with default flight, offset and reservation settings.
    pub fn daily(budget: Money) -> Self {
        BudgetConfig {
            daily: Some(budget),
            ..Self::default()
        }
    }

    /// A lifetime budget over `flight`.
    pub fn lifetime(budget: Money, flight: Flight) -> Self {
        BudgetConfig {
            lifetime: Some(budget),
            flight,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(d) = self.daily {
            if d.is_negative() {
                return Err(Error::InvalidConfig {
                    field: "budget.daily",
                    reason: "must not be negative",
                });
            }
            if d > MAX_DAILY_BUDGET {
                return Err(Error::InvalidConfig {
                    field: "budget.daily",
                    reason: "over MAX_DAILY_BUDGET (2^48-1 micros)",
                });
            }
        }
        if self.lifetime.is_some_and(Money::is_negative) {
            return Err(Error::InvalidConfig {
                field: "budget.lifetime",
                reason: "must not be negative",
            });
        }
        if self.flight.end <= self.flight.start {
            return Err(Error::InvalidConfig {
                field: "budget.flight",
                reason: "end must be after start",
            });
        }
        if self.utc_offset.as_millis().abs() > DurationMs::from_hours(18).as_millis() {
            return Err(Error::InvalidConfig {
                field: "budget.utc_offset",
                reason: "must be within ±18 hours",
            });
        }
        if self.reservation_ttl.as_millis() <= 0 {
            return Err(Error::InvalidConfig {
                field: "budget.reservation_ttl",
                reason: "must be positive",
            });
        }
        if self.max_outstanding == 0 || self.max_outstanding > MAX_OUTSTANDING_LIMIT {
            return Err(Error::InvalidConfig {
                field: "budget.max_outstanding",
                reason: "must be in 1..=4194304",
            });
        }
        Ok(())
    }

    fn daily_limit(&self) -> u64 {
        self.daily.unwrap_or(MAX_DAILY_BUDGET).micros() as u64
    }

    fn lifetime_limit(&self) -> i64 {
        self.lifetime.unwrap_or(Money::MAX).micros()
    }
}

/// A claim on budget money, returned by [`BudgetLedger::try_reserve`] and settled exactly
/// once by [`BudgetLedger::commit`], [`BudgetLedger::release`] or expiry.
///
/// 32 bytes, `Copy` and serde-serializable, so it can travel inside a decision receipt
/// and come back with the impression. It is validated on settlement: a token for
/// another campaign, a forged one or one already settled is an error, never a charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reservation {
    /// The campaign whose budget holds the money.
    pub campaign: CampaignId,
    /// The amount held.
    pub amount: Money,
    /// Slot generation: changes every time the slot is reused.
    pub generation: u64,
    /// Slot index in the ledger.
    pub slot: u32,
}

/// What one ledger has spent, as seen at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// Committed today plus reservations made today that are still outstanding.
    pub used_today: Money,
    /// Committed today (impressions charged).
    pub committed_today: Money,
    /// Committed over the flight plus every outstanding reservation.
    pub used_lifetime: Money,
    /// Committed over the flight.
    pub committed_lifetime: Money,
}

/// Money that moved through a ledger since it was created (or restored), to the micro.
///
/// At any quiescent point `reserved == committed + released + expired + outstanding`,
/// where `released` counts explicit releases *and* the unspent part of each commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerTotals {
    /// Every reservation granted.
    pub reserved: Money,
    /// Charged by commits.
    pub committed: Money,
    /// Returned by releases and by commits below the reserved amount.
    pub released: Money,
    /// Returned by expiry.
    pub expired: Money,
    /// Held by reservations not yet settled.
    pub outstanding: Money,
}

/// What one call of [`BudgetLedger::expire`] returned to the budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expired {
    /// Reservations expired.
    pub count: u64,
    /// Money returned.
    pub amount: Money,
}

impl Expired {
    /// Adds another summary to this one.
    pub fn merge(&mut self, other: Expired) {
        self.count += other.count;
        self.amount = self.amount.saturating_add(other.amount);
    }
}

#[derive(Debug)]
struct Counters {
    daily_used: AtomicU64,
    lifetime_used: AtomicI64,
    daily_committed: AtomicU64,
    committed: AtomicI64,
    reserved: AtomicI64,
    released: AtomicI64,
    expired: AtomicI64,
    cursor: AtomicUsize,
}

#[derive(Debug)]
struct Limits {
    daily: AtomicU64,
    lifetime: AtomicI64,
    flight_start: AtomicI64,
    flight_end: AtomicI64,
    ttl_ms: AtomicI64,
}

#[derive(Debug)]
struct Slot {
    state: AtomicU64,
    amount: AtomicI64,
    expires_at: AtomicI64,
    day_tag: AtomicU64,
}

impl Slot {
    fn new() -> Self {
        Slot {
            state: AtomicU64::new(EMPTY),
            amount: AtomicI64::new(0),
            expires_at: AtomicI64::new(0),
            day_tag: AtomicU64::new(0),
        }
    }
}

/// One campaign's budget: lock-free reservation, commit, release and expiry of money
/// against a daily and a lifetime limit.
///
/// Share it with `Arc<BudgetLedger>`; every method takes `&self`.
///
/// # Guarantees
/// - At every instant, reserved + committed money of the current day is at most the
///   daily budget, and over the flight at most the lifetime budget, whatever the number
///   of threads.
/// - A reservation is settled exactly once: by [`commit`](Self::commit) (charging at
///   most the reserved amount and returning the rest), [`release`](Self::release), or
///   [`expire`](Self::expire) once its time-to-live has passed. A second settlement is
///   [`Error::AlreadySettled`] and moves no money.
/// - A reservation is charged to the local day it was made on; after a rollover its
///   commit or release no longer touches the new day's counter.
#[derive(Debug)]
pub struct BudgetLedger {
    campaign: CampaignId,
    utc_offset: DurationMs,
    counters: CachePadded<Counters>,
    limits: CachePadded<Limits>,
    slots: Box<[Slot]>,
    /// Restores so far; generations claimed now start at `epoch << EPOCH_SHIFT`.
    epoch: u64,
}

impl BudgetLedger {
    /// A new, unspent ledger.
    pub fn new(campaign: CampaignId, config: BudgetConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self::build(campaign, &config, 0))
    }

    fn build(campaign: CampaignId, config: &BudgetConfig, epoch: u64) -> Self {
        let slots = (0..config.max_outstanding).map(|_| Slot::new()).collect();
        BudgetLedger {
            campaign,
            utc_offset: config.utc_offset,
            counters: CachePadded::new(Counters {
                daily_used: AtomicU64::new(0),
                lifetime_used: AtomicI64::new(0),
                daily_committed: AtomicU64::new(0),
                committed: AtomicI64::new(0),
                reserved: AtomicI64::new(0),
                released: AtomicI64::new(0),
                expired: AtomicI64::new(0),
                cursor: AtomicUsize::new(0),
            }),
            limits: CachePadded::new(Limits {
                daily: AtomicU64::new(config.daily_limit()),
                lifetime: AtomicI64::new(config.lifetime_limit()),
                flight_start: AtomicI64::new(config.flight.start.as_millis()),
                flight_end: AtomicI64::new(config.flight.end.as_millis()),
                ttl_ms: AtomicI64::new(config.reservation_ttl.as_millis()),
            }),
            slots,
            epoch,
        }
    }

    /// The campaign this ledger belongs to.
    pub fn campaign(&self) -> CampaignId {
        self.campaign
    }

    /// The current configuration.
    pub fn config(&self) -> BudgetConfig {
        // Relaxed: limits are independent values; a reader racing `update_config` sees
        // each field either old or new, as documented there.
        let daily = self.limits.daily.load(Ordering::Relaxed);
        let lifetime = self.limits.lifetime.load(Ordering::Relaxed);
        BudgetConfig {
            daily: (daily != USED_MASK).then_some(Money::from_micros(daily as i64)),
            lifetime: (lifetime != i64::MAX).then_some(Money::from_micros(lifetime)),
            flight: Flight::new(
                // Relaxed: as above.
                Timestamp::from_millis(self.limits.flight_start.load(Ordering::Relaxed)),
                // Relaxed: as above.
                Timestamp::from_millis(self.limits.flight_end.load(Ordering::Relaxed)),
            ),
            utc_offset: self.utc_offset,
            // Relaxed: as above.
            reservation_ttl: DurationMs::from_millis(self.limits.ttl_ms.load(Ordering::Relaxed)),
            max_outstanding: self.slots.len() as u32,
        }
    }

    /// Changes budgets, flight and reservation time-to-live in place; spend and
    /// outstanding reservations are kept (a campaign edit never resets spend). Lowering a
    /// budget below what is used refuses new reservations; it never claws back money.
    ///
    /// Each field switches atomically on its own; a reservation racing the update may
    /// see the new daily limit with the old lifetime limit. `utc_offset` and
    /// `max_outstanding` cannot change (they shape the state): build a new ledger.
    pub fn update_config(&self, config: BudgetConfig) -> Result<(), Error> {
        config.validate()?;
        if config.utc_offset != self.utc_offset {
            return Err(Error::InvalidConfig {
                field: "budget.utc_offset",
                reason: "cannot change on a live ledger",
            });
        }
        if config.max_outstanding as usize != self.slots.len() {
            return Err(Error::InvalidConfig {
                field: "budget.max_outstanding",
                reason: "cannot change on a live ledger",
            });
        }
        // Relaxed: see `config`.
        self.limits
            .daily
            .store(config.daily_limit(), Ordering::Relaxed);
        // Relaxed: see `config`.
        self.limits
            .lifetime
            .store(config.lifetime_limit(), Ordering::Relaxed);
        // Relaxed: see `config`.
        self.limits
            .flight_start
            .store(config.flight.start.as_millis(), Ordering::Relaxed);
        // Relaxed: see `config`.
        self.limits
            .flight_end
            .store(config.flight.end.as_millis(), Ordering::Relaxed);
        // Relaxed: see `config`.
        self.limits
            .ttl_ms
            .store(config.reservation_ttl.as_millis(), Ordering::Relaxed);
        Ok(())
    }

    #[inline]
    fn day_tag(&self, now: Timestamp) -> u16 {
        now.day_index(self.utc_offset) as u16
    }

    /// Reserves `amount` at `now`, or says why not.
    ///
    /// Lock-free: two CAS loops (daily, then lifetime; the daily claim is rolled back if
    /// the lifetime one fails) and one slot claim. Fails with
    /// [`Error::BudgetExhausted`], [`Error::OutsideFlight`],
    /// [`Error::TooManyReservations`] or [`Error::InvalidAmount`].
    pub fn try_reserve(&self, amount: Money, now: Timestamp) -> Result<Reservation, Error> {
        if !amount.is_positive() || amount > MAX_DAILY_BUDGET {
            return Err(Error::InvalidAmount {
                amount,
                what: "reservation",
            });
        }
        // Relaxed: see `config`.
        let start = self.limits.flight_start.load(Ordering::Relaxed);
        // Relaxed: see `config`.
        let end = self.limits.flight_end.load(Ordering::Relaxed);
        if now.as_millis() < start || now.as_millis() >= end {
            return Err(Error::OutsideFlight {
                campaign: self.campaign,
                now,
            });
        }
        let micros = amount.micros();
        let tag = self.reserve_daily(self.day_tag(now), micros as u64, amount)?;
        if let Err(e) = self.reserve_lifetime(micros, amount) {
            self.sub_daily(tag, micros as u64);
            return Err(e);
        }
        // Relaxed: see `config`.
        let ttl = self.limits.ttl_ms.load(Ordering::Relaxed);
        let expires = now.as_millis().saturating_add(ttl);
        match self.claim_slot(micros, expires, tag) {
            Some((slot, generation)) => {
                // Relaxed: statistics counter (module docs).
                self.counters.reserved.fetch_add(micros, Ordering::Relaxed);
                Ok(Reservation {
                    campaign: self.campaign,
                    amount,
                    generation,
                    slot,
                })
            }
            None => {
                self.sub_daily(tag, micros as u64);
                // Relaxed: budget counter (module docs).
                self.counters
                    .lifetime_used
                    .fetch_sub(micros, Ordering::Relaxed);
                Err(Error::TooManyReservations {
                    campaign: self.campaign,
                    capacity: self.slots.len() as u32,
                })
            }
        }
    }

    fn reserve_daily(&self, today: u16, micros: u64, amount: Money) -> Result<u16, Error> {
        // Relaxed: see `config`.
        let limit = self.limits.daily.load(Ordering::Relaxed);
        // Relaxed: budget counter; the CAS below is the synchronization (module docs).
        let mut cur = self.counters.daily_used.load(Ordering::Relaxed);
        loop {
            let (tag, used) = unpack_day(cur);
            // A later day resets the count (rollover); a caller whose clock lags behind a
            // rollover is charged to the newer day, which is conservative.
            let (charge, base) = if tag_after(today, tag) {
                (today, 0)
            } else {
                (tag, used)
            };
            let next = base + micros;
            if next > limit {
                return Err(Error::BudgetExhausted {
                    campaign: self.campaign,
                    which: "daily",
                    requested: amount,
                    remaining: Money::from_micros(limit.saturating_sub(base) as i64),
                });
            }
            match self.counters.daily_used.compare_exchange_weak(
                cur,
                pack_day(charge, next),
                // Relaxed: the limit check only needs this counter's modification order.
                Ordering::Relaxed,
                // Relaxed: retried with the fresh value.
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(charge),
                Err(actual) => cur = actual,
            }
        }
    }

    fn reserve_lifetime(&self, micros: i64, amount: Money) -> Result<(), Error> {
        // Relaxed: see `config`.
        let limit = self.limits.lifetime.load(Ordering::Relaxed);
        // Relaxed: budget counter; the CAS below is the synchronization (module docs).
        let mut cur = self.counters.lifetime_used.load(Ordering::Relaxed);
        loop {
            let next = match cur.checked_add(micros) {
                Some(n) if n <= limit => n,
                _ => {
                    return Err(Error::BudgetExhausted {
                        campaign: self.campaign,
                        which: "lifetime",
                        requested: amount,
                        remaining: Money::from_micros(limit.saturating_sub(cur).max(0)),
                    });
                }
            };
            match self.counters.lifetime_used.compare_exchange_weak(
                cur,
                next,
                // Relaxed: the limit check only needs this counter's modification order.
                Ordering::Relaxed,
                // Relaxed: retried with the fresh value.
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Removes `micros` from the daily counter if it still counts day `tag`.
    fn sub_daily(&self, tag: u16, micros: u64) {
        if micros == 0 {
            return;
        }
        // Relaxed: budget counter (module docs).
        let mut cur = self.counters.daily_used.load(Ordering::Relaxed);
        loop {
            let (t, used) = unpack_day(cur);
            if t != tag {
                return; // that day is over: its money left the daily counter at rollover
            }
            let next = pack_day(t, used.saturating_sub(micros));
            match self.counters.daily_used.compare_exchange_weak(
                cur,
                next,
                // Relaxed: as in `reserve_daily`.
                Ordering::Relaxed,
                // Relaxed: retried with the fresh value.
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds `micros` committed on day `tag` to the daily committed statistic.
    fn add_daily_committed(&self, tag: u16, micros: u64) {
        // Relaxed: statistics counter (module docs).
        let mut cur = self.counters.daily_committed.load(Ordering::Relaxed);
        loop {
            let (t, sum) = unpack_day(cur);
            let next = if t == tag {
                pack_day(t, sum.saturating_add(micros).min(USED_MASK))
            } else if tag_after(tag, t) {
                pack_day(tag, micros)
            } else {
                return; // a commit for a day already rolled over
            };
            match self.counters.daily_committed.compare_exchange_weak(
                cur,
                next,
                // Relaxed: statistics counter.
                Ordering::Relaxed,
                // Relaxed: retried with the fresh value.
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    fn claim_slot(&self, micros: i64, expires: i64, tag: u16) -> Option<(u32, u64)> {
        let n = self.slots.len();
        // Relaxed: only a hint where a free slot probably is (a plain load and store, not
        // a read-modify-write: two threads starting at the same slot cost one failed CAS).
        let mut idx = self.counters.cursor.load(Ordering::Relaxed) % n;
        for _ in 0..n {
            let slot = &self.slots[idx];
            // Relaxed: the CAS below re-checks the word.
            let cur = slot.state.load(Ordering::Relaxed);
            if free(cur & STATUS_MASK) {
                let generation = ((cur >> STATUS_BITS) + 1).max(self.epoch << EPOCH_SHIFT);
                if slot
                    .state
                    .compare_exchange(
                        cur,
                        generation << STATUS_BITS | CLAIMING,
                        // Acquire: pairs with the previous settler's Release store, so its
                        // reads of the fields happen before our writes below.
                        Ordering::Acquire,
                        // Relaxed: we move on to another slot.
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    // Relaxed: published by the Release store of LIVE below.
                    slot.amount.store(micros, Ordering::Relaxed);
                    // Relaxed: published by the Release store of LIVE below.
                    slot.expires_at.store(expires, Ordering::Relaxed);
                    // Relaxed: published by the Release store of LIVE below.
                    slot.day_tag.store(u64::from(tag), Ordering::Relaxed);
                    slot.state.store(
                        generation << STATUS_BITS | LIVE,
                        // Release: pairs with the settler's Acquire CAS.
                        Ordering::Release,
                    );
                    // Relaxed: the hint above; the next claim starts past this slot.
                    self.counters.cursor.store(idx + 1, Ordering::Relaxed);
                    return Some((idx as u32, generation));
                }
            }
            idx += 1;
            if idx == n {
                idx = 0;
            }
        }
        None
    }

    /// Takes ownership of the reservation's slot (LIVE → SETTLING) or explains why not.
    fn acquire(&self, r: &Reservation) -> Result<&Slot, Error> {
        let unknown = Error::UnknownReservation {
            campaign: r.campaign,
            slot: r.slot,
            generation: r.generation,
        };
        if r.campaign != self.campaign || r.generation == 0 || r.generation >> 61 != 0 {
            return Err(unknown);
        }
        let slot = self.slots.get(r.slot as usize).ok_or(unknown)?;
        let expected = r.generation << STATUS_BITS | LIVE;
        match slot.state.compare_exchange(
            expected,
            r.generation << STATUS_BITS | SETTLING,
            // Acquire: pairs with the claimer's Release store of LIVE (fields visible).
            Ordering::Acquire,
            // Relaxed: only the status is inspected on failure.
            Ordering::Relaxed,
        ) {
            Ok(_) => {
                // Relaxed: published by the claimer's Release store, acquired above.
                let amount = slot.amount.load(Ordering::Relaxed);
                if amount != r.amount.micros() {
                    slot.state.store(
                        expected,
                        // Release: hands the slot back unchanged (pairs with Acquire CAS).
                        Ordering::Release,
                    );
                    return Err(unknown);
                }
                Ok(slot)
            }
            Err(actual) if actual >> STATUS_BITS == r.generation => {
                let state = match actual & STATUS_MASK {
                    COMMITTED => "committed",
                    RELEASED => "released",
                    EXPIRED => "expired",
                    SETTLING => "being settled",
                    _ => return Err(unknown),
                };
                Err(Error::AlreadySettled {
                    campaign: r.campaign,
                    slot: r.slot,
                    state,
                })
            }
            // The slot moved on to a later generation: this reservation was settled
            // (committed, released or expired) and its slot reused.
            Err(actual) if actual >> STATUS_BITS > r.generation => Err(Error::AlreadySettled {
                campaign: r.campaign,
                slot: r.slot,
                state: "settled",
            }),
            Err(_) => Err(unknown),
        }
    }

    /// Returns `micros` of a settled reservation of day `tag` to both budgets.
    fn give_back(&self, tag: u16, micros: i64) {
        if micros > 0 {
            self.sub_daily(tag, micros as u64);
            // Relaxed: budget counter (module docs).
            self.counters
                .lifetime_used
                .fetch_sub(micros, Ordering::Relaxed);
        }
    }

    /// Charges `actual` (at most the reserved amount; zero is a free impression) and
    /// returns the rest of the reservation to the budget.
    pub fn commit(&self, reservation: &Reservation, actual: Money) -> Result<(), Error> {
        if actual.is_negative() {
            return Err(Error::InvalidAmount {
                amount: actual,
                what: "commit",
            });
        }
        if actual > reservation.amount {
            return Err(Error::CommitExceedsReservation {
                campaign: reservation.campaign,
                reserved: reservation.amount,
                actual,
            });
        }
        let slot = self.acquire(reservation)?;
        // Relaxed: published by the claimer's Release store, acquired in `acquire`.
        let tag = slot.day_tag.load(Ordering::Relaxed) as u16;
        let actual = actual.micros();
        let rest = reservation.amount.micros() - actual;
        self.give_back(tag, rest);
        // Release: `expire`'s skip check reads this with Acquire and then `lifetime_used`,
        // which must then include this reservation's addition (`may_have_outstanding`).
        self.counters.committed.fetch_add(actual, Ordering::Release);
        // Relaxed: statistics counter (module docs).
        self.counters.released.fetch_add(rest, Ordering::Relaxed);
        if actual > 0 {
            self.add_daily_committed(tag, actual as u64);
        }
        slot.state.store(
            reservation.generation << STATUS_BITS | COMMITTED,
            // Release: pairs with the next claimer's Acquire CAS.
            Ordering::Release,
        );
        Ok(())
    }

    /// Returns the whole reservation to the budget (the ad was not shown).
    pub fn release(&self, reservation: &Reservation) -> Result<(), Error> {
        let slot = self.acquire(reservation)?;
        // Relaxed: published by the claimer's Release store, acquired in `acquire`.
        let tag = slot.day_tag.load(Ordering::Relaxed) as u16;
        let micros = reservation.amount.micros();
        self.give_back(tag, micros);
        // Relaxed: statistics counter (module docs).
        self.counters.released.fetch_add(micros, Ordering::Relaxed);
        slot.state.store(
            reservation.generation << STATUS_BITS | RELEASED,
            // Release: pairs with the next claimer's Acquire CAS.
            Ordering::Release,
        );
        Ok(())
    }

    /// Expires every reservation whose time-to-live ended at or before `now`, returning
    /// its money. Call it from the pacing tick; it may run concurrently with everything
    /// else. A ledger with no money outstanding (the common case: most campaigns hold no
    /// reservation between ticks) costs two loads; otherwise it scans all slots
    /// (`max_outstanding` loads).
    pub fn expire(&self, now: Timestamp) -> Expired {
        let mut out = Expired::default();
        if !self.may_have_outstanding() {
            return out;
        }
        for slot in self.slots.iter() {
            // Acquire: pairs with the claimer's Release store of LIVE, so `expires_at`
            // below is the value of this generation.
            let cur = slot.state.load(Ordering::Acquire);
            if cur & STATUS_MASK != LIVE {
                continue;
            }
            // Relaxed: published by the Release store acquired above.
            if slot.expires_at.load(Ordering::Relaxed) > now.as_millis() {
                continue;
            }
            let generation = cur >> STATUS_BITS;
            if slot
                .state
                .compare_exchange(
                    cur,
                    generation << STATUS_BITS | SETTLING,
                    // Acquire: as in `acquire`.
                    Ordering::Acquire,
                    // Relaxed: someone else settled it first.
                    Ordering::Relaxed,
                )
                .is_err()
            {
                continue;
            }
            // Relaxed: published by the claimer's Release store, acquired above.
            let micros = slot.amount.load(Ordering::Relaxed);
            // Relaxed: as above.
            let tag = slot.day_tag.load(Ordering::Relaxed) as u16;
            self.give_back(tag, micros);
            // Relaxed: statistics counter (module docs).
            self.counters.expired.fetch_add(micros, Ordering::Relaxed);
            slot.state.store(
                generation << STATUS_BITS | EXPIRED,
                // Release: pairs with the next claimer's Acquire CAS.
                Ordering::Release,
            );
            out.count += 1;
            out.amount = out.amount.saturating_add(Money::from_micros(micros));
        }
        out
    }

    /// False only when no reservation that was made before this call (in happens-before
    /// order) is still unsettled, so `expire` may skip the slots.
    ///
    /// Every reservation adds its amount (> 0) to `lifetime_used` before its slot goes
    /// LIVE; settling removes it (release, expiry) or all but the charged part, which a
    /// commit then adds to `committed`. So `lifetime_used − committed` is the money
    /// outstanding, and it stays positive while any reservation is, if the two loads
    /// do not mix times: `committed` is read first, with `Acquire` pairing with the
    /// commit's `Release` `fetch_add`, so every commit it counts has its reservation's
    /// addition (and, by coherence, anything before it in `lifetime_used`'s order)
    /// visible to the second load. A reservation made before this call is counted in
    /// `lifetime_used` by coherence as well. Racing settlements only make the
    /// difference larger than the outstanding money (a scan, never a missed slot).
    fn may_have_outstanding(&self) -> bool {
        // Acquire: pairs with `commit`'s Release `fetch_add` (see above).
        let committed = self.counters.committed.load(Ordering::Acquire);
        // Relaxed: ordered after the Acquire load above (see above).
        let used = self.counters.lifetime_used.load(Ordering::Relaxed);
        used > committed
    }

    /// What has been spent, as seen at `now` (today is the local day of `now`).
    pub fn spend(&self, now: Timestamp) -> Spend {
        let today = self.day_tag(now);
        let day_value = |word: u64| {
            let (tag, v) = unpack_day(word);
            if tag == today || tag_after(tag, today) {
                Money::from_micros(v as i64)
            } else {
                Money::ZERO
            }
        };
        Spend {
            // Relaxed: a statistic read; no other memory depends on it.
            used_today: day_value(self.counters.daily_used.load(Ordering::Relaxed)),
            // Relaxed: as above.
            committed_today: day_value(self.counters.daily_committed.load(Ordering::Relaxed)),
            // Relaxed: as above.
            used_lifetime: Money::from_micros(self.counters.lifetime_used.load(Ordering::Relaxed)),
            // Relaxed: as above.
            committed_lifetime: Money::from_micros(self.counters.committed.load(Ordering::Relaxed)),
        }
    }

    /// Money moved through the ledger. Exact when no operation is in flight (for
    /// example after joining the threads that use it).
    pub fn totals(&self) -> LedgerTotals {
        let outstanding: i64 = self
            .slots
            .iter()
            .filter(|s| {
                // Relaxed: a statistic read.
                let st = s.state.load(Ordering::Relaxed) & STATUS_MASK;
                st == LIVE || st == SETTLING || st == CLAIMING
            })
            // Relaxed: a statistic read.
            .map(|s| s.amount.load(Ordering::Relaxed))
            .sum();
        LedgerTotals {
            // Relaxed: statistics reads.
            reserved: Money::from_micros(self.counters.reserved.load(Ordering::Relaxed)),
            // Relaxed: as above.
            committed: Money::from_micros(self.counters.committed.load(Ordering::Relaxed)),
            // Relaxed: as above.
            released: Money::from_micros(self.counters.released.load(Ordering::Relaxed)),
            // Relaxed: as above.
            expired: Money::from_micros(self.counters.expired.load(Ordering::Relaxed)),
            outstanding: Money::from_micros(outstanding),
        }
    }

    /// Number of reservations currently outstanding.
    pub fn outstanding(&self) -> usize {
        self.slots
            .iter()
            // Relaxed: a statistic read.
            .filter(|s| s.state.load(Ordering::Relaxed) & STATUS_MASK == LIVE)
            .count()
    }

    /// A serde snapshot of the ledger for persistence.
    ///
    /// Exact when no operation is in flight. Taken under load it is conservative: the
    /// slots are read before the counters, so a settlement racing the snapshot may be
    /// counted both as outstanding and as committed (restored spend too high by at most
    /// the in-flight amounts), never as neither. A reservation made after its slot was
    /// read is absent, and its token will not validate after a restore.
    pub fn snapshot(&self) -> LedgerSnapshot {
        let mut reservations = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            // Acquire: pairs with the claimer's Release store of LIVE (fields visible).
            let cur = slot.state.load(Ordering::Acquire);
            if cur & STATUS_MASK == LIVE {
                reservations.push(ReservationState {
                    slot: i as u32,
                    generation: cur >> STATUS_BITS,
                    // Relaxed: published by the Release store acquired above; a racing
                    // reuse would need a new generation, which the restore tolerates.
                    amount: Money::from_micros(slot.amount.load(Ordering::Relaxed)),
                    // Relaxed: as above.
                    expires_at: Timestamp::from_millis(slot.expires_at.load(Ordering::Relaxed)),
                    // Relaxed: as above.
                    day_tag: slot.day_tag.load(Ordering::Relaxed) as u16,
                });
            }
        }
        // Relaxed: statistics reads (see the method docs for the order argument).
        let (day_tag, _) = unpack_day(self.counters.daily_used.load(Ordering::Relaxed));
        // Relaxed: as above.
        let (committed_tag, committed_today) =
            unpack_day(self.counters.daily_committed.load(Ordering::Relaxed));
        let day_tag = if tag_after(committed_tag, day_tag) {
            committed_tag
        } else {
            day_tag
        };
        let t = self.totals();
        LedgerSnapshot {
            campaign: self.campaign,
            config: self.config(),
            day_tag,
            committed_today: if committed_tag == day_tag {
                Money::from_micros(committed_today as i64)
            } else {
                Money::ZERO
            },
            committed_lifetime: t.committed,
            reserved_total: t.reserved,
            released_total: t.released,
            expired_total: t.expired,
            epoch: self.epoch,
            reservations,
        }
    }

    /// Rebuilds a ledger from a snapshot, validating every field. Outstanding
    /// reservations keep their tokens; the restored ledger starts a new generation epoch,
    /// so no other token issued before the restore can ever settle.
    pub fn from_snapshot(snapshot: &LedgerSnapshot) -> Result<Self, Error> {
        let bad = |what, reason| Error::InvalidSnapshot { what, reason };
        snapshot.config.validate()?;
        if snapshot.epoch >= MAX_EPOCH {
            return Err(bad("epoch", "out of range"));
        }
        let epoch = snapshot.epoch + 1;
        for (what, m) in [
            ("committed_today", snapshot.committed_today),
            ("committed_lifetime", snapshot.committed_lifetime),
            ("reserved_total", snapshot.reserved_total),
            ("released_total", snapshot.released_total),
            ("expired_total", snapshot.expired_total),
        ] {
            if m.is_negative() {
                return Err(bad(what, "negative amount"));
            }
        }
        if snapshot.committed_today > MAX_DAILY_BUDGET {
            return Err(bad("committed_today", "over MAX_DAILY_BUDGET"));
        }
        let ledger = Self::build(snapshot.campaign, &snapshot.config, epoch);
        let mut lifetime = snapshot.committed_lifetime.micros();
        let mut today = snapshot.committed_today.micros();
        let mut seen = vec![false; ledger.slots.len()];
        for r in &snapshot.reservations {
            let i = r.slot as usize;
            if i >= seen.len() {
                return Err(bad("reservations", "slot out of range"));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(bad("reservations", "slot listed twice"));
            }
            if r.generation == 0 || r.generation >= epoch << EPOCH_SHIFT {
                return Err(bad("reservations", "generation from a later epoch"));
            }
            if !r.amount.is_positive() || r.amount > MAX_DAILY_BUDGET {
                return Err(bad("reservations", "invalid amount"));
            }
            let m = r.amount.micros();
            lifetime = lifetime
                .checked_add(m)
                .ok_or(bad("reservations", "total overflows"))?;
            if r.day_tag == snapshot.day_tag {
                today = today
                    .checked_add(m)
                    .ok_or(bad("reservations", "total overflows"))?;
            }
            let slot = &ledger.slots[i];
            // Relaxed: the ledger is not shared yet.
            slot.amount.store(m, Ordering::Relaxed);
            // Relaxed: as above.
            slot.expires_at
                .store(r.expires_at.as_millis(), Ordering::Relaxed);
            // Relaxed: as above.
            slot.day_tag.store(u64::from(r.day_tag), Ordering::Relaxed);
            // Relaxed: as above (publication happens when the ledger is shared).
            slot.state
                .store(r.generation << STATUS_BITS | LIVE, Ordering::Relaxed);
        }
        if today as u64 > USED_MASK {
            return Err(bad("reservations", "daily total over MAX_DAILY_BUDGET"));
        }
        let c = &ledger.counters;
        // Relaxed: the ledger is not shared yet.
        c.daily_used
            .store(pack_day(snapshot.day_tag, today as u64), Ordering::Relaxed);
        // Relaxed: as above.
        c.daily_committed.store(
            pack_day(snapshot.day_tag, snapshot.committed_today.micros() as u64),
            Ordering::Relaxed,
        );
        // Relaxed: as above.
        c.lifetime_used.store(lifetime, Ordering::Relaxed);
        // Relaxed: as above.
        c.committed
            .store(snapshot.committed_lifetime.micros(), Ordering::Relaxed);
        // Relaxed: as above.
        c.reserved
            .store(snapshot.reserved_total.micros(), Ordering::Relaxed);
        // Relaxed: as above.
        c.released
            .store(snapshot.released_total.micros(), Ordering::Relaxed);
        // Relaxed: as above.
        c.expired
            .store(snapshot.expired_total.micros(), Ordering::Relaxed);
        Ok(ledger)
    }
}

/// One outstanding reservation inside a [`LedgerSnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationState {
    /// Slot index.
    pub slot: u32,
    /// Slot generation (the token's).
    pub generation: u64,
    /// Amount held.
    pub amount: Money,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Local day (index modulo 2¹⁶) it is charged to.
    pub day_tag: u16,
}

/// Persistent state of one [`BudgetLedger`] (see [`BudgetLedger::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    /// The campaign.
    pub campaign: CampaignId,
    /// Its budget configuration.
    pub config: BudgetConfig,
    /// Local day (index modulo 2¹⁶) of the daily counters.
    pub day_tag: u16,
    /// Committed on that day.
    pub committed_today: Money,
    /// Committed over the flight.
    pub committed_lifetime: Money,
    /// Statistics: every reservation granted.
    pub reserved_total: Money,
    /// Statistics: released (including unspent parts of commits).
    pub released_total: Money,
    /// Statistics: expired.
    pub expired_total: Money,
    /// Restores the ledger went through; the restored ledger starts epoch `epoch + 1`.
    pub epoch: u64,
    /// Outstanding reservations.
    pub reservations: Vec<ReservationState>,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn m(micros: i64) -> Money {
        Money::from_micros(micros)
    }

    fn ledger(daily: i64, lifetime: Option<i64>) -> BudgetLedger {
        BudgetLedger::new(
            CampaignId(7),
            BudgetConfig {
                daily: Some(m(daily)),
                lifetime: lifetime.map(m),
                max_outstanding: 4,
                ..BudgetConfig::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn reserve_commit_release_account_exactly() {
        let l = ledger(100, None);
        let a = l.try_reserve(m(60), T0).unwrap();
        assert!(matches!(
            l.try_reserve(m(41), T0),
            Err(Error::BudgetExhausted { which: "daily", .. })
        ));
        let b = l.try_reserve(m(40), T0).unwrap();
        l.commit(&a, m(50)).unwrap();
        assert_eq!(l.spend(T0).used_today, m(90));
        l.release(&b).unwrap();
        let s = l.spend(T0);
        assert_eq!((s.used_today, s.committed_today), (m(50), m(50)));
        let t = l.totals();
        assert_eq!(t.reserved, m(100));
        assert_eq!(t.committed + t.released + t.expired, t.reserved);
    }

    #[test]
    fn double_settlement_is_an_error_not_a_charge() {
        let l = ledger(100, None);
        let a = l.try_reserve(m(30), T0).unwrap();
        l.commit(&a, m(30)).unwrap();
        assert!(matches!(
            l.commit(&a, m(30)),
            Err(Error::AlreadySettled {
                state: "committed",
                ..
            })
        ));
        assert!(l.release(&a).is_err());
        assert_eq!(l.spend(T0).committed_lifetime, m(30));
        // Forged or foreign tokens.
        let b = l.try_reserve(m(10), T0).unwrap();
        let forged = Reservation { amount: m(5), ..b };
        assert!(matches!(
            l.commit(&forged, m(5)),
            Err(Error::UnknownReservation { .. })
        ));
        let foreign = Reservation {
            campaign: CampaignId(8),
            ..b
        };
        assert!(l.release(&foreign).is_err());
        let far = Reservation { slot: 99, ..b };
        assert!(l.release(&far).is_err());
        assert!(matches!(
            l.commit(&b, m(11)),
            Err(Error::CommitExceedsReservation { .. })
        ));
        l.release(&b).unwrap();
    }

    #[test]
    fn expiry_returns_money_once() {
        let l = ledger(100, None);
        let a = l.try_reserve(m(70), T0).unwrap();
        assert_eq!(l.expire(T0).count, 0);
        let later = T0 + DurationMs::from_mins(5);
        let e = l.expire(later);
        assert_eq!((e.count, e.amount), (1, m(70)));
        assert_eq!(l.expire(later).count, 0);
        assert!(matches!(
            l.commit(&a, m(1)),
            Err(Error::AlreadySettled {
                state: "expired",
                ..
            })
        ));
        assert_eq!(l.spend(later).used_today, Money::ZERO);
        assert_eq!(l.totals().expired, m(70));
    }

    #[test]
    fn expire_skips_only_ledgers_with_nothing_outstanding() {
        let l = ledger(1_000, None);
        assert!(!l.may_have_outstanding());
        let a = l.try_reserve(m(70), T0).unwrap();
        let b = l.try_reserve(m(30), T0).unwrap();
        assert!(l.may_have_outstanding());
        l.commit(&a, m(70)).unwrap(); // a full commit: both counters move by 70
        assert!(l.may_have_outstanding(), "b is still outstanding");
        l.commit(&b, m(10)).unwrap();
        assert!(!l.may_have_outstanding());
        let c = l.try_reserve(m(5), T0).unwrap();
        assert!(l.may_have_outstanding());
        l.release(&c).unwrap();
        assert!(!l.may_have_outstanding());
        // A restored outstanding reservation counts as well, and still expires.
        let d = l.try_reserve(m(5), T0).unwrap();
        let restored = BudgetLedger::from_snapshot(&l.snapshot()).unwrap();
        assert!(restored.may_have_outstanding());
        let e = restored.expire(T0 + DurationMs::from_mins(5));
        assert_eq!((e.count, e.amount), (1, m(5)));
        assert!(!restored.may_have_outstanding());
        l.release(&d).unwrap();
    }

    #[test]
    fn daily_rollover_and_lifetime_limit() {
        let l = ledger(100, Some(150));
        let a = l.try_reserve(m(100), T0).unwrap();
        assert!(l.try_reserve(m(1), T0).is_err());
        let tomorrow = T0 + DurationMs::DAY;
        // New day: the daily counter rolls over, the lifetime limit still binds.
        assert!(matches!(
            l.try_reserve(m(60), tomorrow),
            Err(Error::BudgetExhausted {
                which: "lifetime",
                ..
            })
        ));
        let b = l.try_reserve(m(50), tomorrow).unwrap();
        // Yesterday's reservation is released: lifetime gets it back, today does not.
        l.release(&a).unwrap();
        assert_eq!(l.spend(tomorrow).used_today, m(50));
        assert_eq!(l.spend(tomorrow).used_lifetime, m(50));
        l.commit(&b, m(50)).unwrap();
        assert_eq!(l.spend(tomorrow).committed_today, m(50));
        // The daily rollover respects the UTC offset.
        let l = BudgetLedger::new(
            CampaignId(1),
            BudgetConfig {
                daily: Some(m(10)),
                utc_offset: DurationMs::from_hours(-5),
                ..BudgetConfig::default()
            },
        )
        .unwrap();
        let utc_midnight = T0.start_of_day(DurationMs::ZERO) + DurationMs::DAY;
        l.try_reserve(m(10), utc_midnight - DurationMs::from_hours(1))
            .unwrap();
        assert!(
            l.try_reserve(m(1), utc_midnight + DurationMs::from_hours(1))
                .is_err()
        );
        assert!(
            l.try_reserve(m(1), utc_midnight + DurationMs::from_hours(5))
                .is_ok()
        );
    }

    #[test]
    fn flight_slots_and_amounts_are_checked() {
        let cfg = BudgetConfig {
            lifetime: Some(m(1_000)),
            flight: Flight::new(T0, T0 + DurationMs::HOUR),
            max_outstanding: 2,
            ..BudgetConfig::default()
        };
        let l = BudgetLedger::new(CampaignId(3), cfg).unwrap();
        assert!(matches!(
            l.try_reserve(m(1), T0 - DurationMs::SECOND),
            Err(Error::OutsideFlight { .. })
        ));
        assert!(l.try_reserve(m(1), T0 + DurationMs::HOUR).is_err());
        assert!(l.try_reserve(m(0), T0).is_err());
        assert!(l.try_reserve(m(-5), T0).is_err());
        let _a = l.try_reserve(m(1), T0).unwrap();
        let _b = l.try_reserve(m(1), T0).unwrap();
        assert!(matches!(
            l.try_reserve(m(1), T0),
            Err(Error::TooManyReservations { capacity: 2, .. })
        ));
        // The refused reservation took nothing.
        assert_eq!(l.spend(T0).used_lifetime, m(2));
        assert!(
            BudgetLedger::new(
                CampaignId(3),
                BudgetConfig {
                    max_outstanding: 0,
                    ..cfg
                }
            )
            .is_err()
        );
        assert!(
            BudgetLedger::new(
                CampaignId(3),
                BudgetConfig {
                    flight: Flight::new(T0, T0),
                    ..cfg
                }
            )
            .is_err()
        );
    }

    #[test]
    fn update_config_keeps_spend() {
        let l = ledger(100, None);
        let r = l.try_reserve(m(80), T0).unwrap();
        let mut cfg = l.config();
        cfg.daily = Some(m(50));
        l.update_config(cfg).unwrap();
        assert!(l.try_reserve(m(1), T0).is_err());
        l.commit(&r, m(80)).unwrap();
        assert_eq!(l.config().daily, Some(m(50)));
        assert_eq!(l.spend(T0).committed_today, m(80));
        cfg.utc_offset = DurationMs::HOUR;
        assert!(l.update_config(cfg).is_err());
    }

    #[test]
    fn snapshot_round_trip_keeps_tokens_valid_and_stale_ones_dead() {
        let l = ledger(1_000, Some(5_000));
        let settled = l.try_reserve(m(10), T0).unwrap();
        l.commit(&settled, m(7)).unwrap();
        let live = l.try_reserve(m(100), T0).unwrap();
        let snap = l.snapshot();
        let json = serde_json::to_string(&snap).unwrap();
        let back: LedgerSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        let r = BudgetLedger::from_snapshot(&back).unwrap();
        assert_eq!(r.spend(T0), l.spend(T0));
        assert_eq!(r.totals(), l.totals());
        // A stale token of a reused slot must not settle a new reservation.
        for _ in 0..4 {
            let x = r.try_reserve(m(1), T0);
            if let Ok(x) = x {
                assert!(x.generation > live.generation);
            }
        }
        assert!(r.commit(&settled, m(1)).is_err());
        r.commit(&live, m(100)).unwrap();
        // Corrupt snapshots are errors.
        let mut bad = snap.clone();
        bad.reservations.push(bad.reservations[0]);
        assert!(BudgetLedger::from_snapshot(&bad).is_err());
        let mut bad = snap.clone();
        bad.reservations[0].slot = 1_000;
        assert!(BudgetLedger::from_snapshot(&bad).is_err());
        let mut bad = snap;
        bad.committed_lifetime = m(-1);
        assert!(BudgetLedger::from_snapshot(&bad).is_err());
    }
}
