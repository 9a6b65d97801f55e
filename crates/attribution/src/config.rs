use crate::error::Error;
use adloop_core::{DurationMs, HouseholdId, UserId};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// An attribution model: how one conversion's credit (summing to 1) is split among its
/// eligible touches.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// All credit to the latest eligible click, or if there is none, the latest view;
    /// equal times → the higher impression id. The default.
    LastTouch,
    /// All credit to the earliest eligible click, or if there is none, the earliest view;
    /// equal times → the lower impression id.
    FirstTouch,
    /// `1/n` to each of the `n` eligible touches.
    Linear,
    /// Weight `2^(−Δt/half_life)` per touch (`Δt` = conversion time − touch time), normalized.
    TimeDecay,
    /// 40% to the first touch, 40% to the last, 20% shared by the middle ones
    /// (one touch: 100%; two: 50/50).
    PositionBased,
}

impl Model {
    /// Every model, in a fixed order (the order of report columns).
    pub const ALL: [Model; 5] = [
        Model::LastTouch,
        Model::FirstTouch,
        Model::Linear,
        Model::TimeDecay,
        Model::PositionBased,
    ];

    /// The model's name as the CLI spells it (`last-touch`, `first-touch`, `linear`,
    /// `time-decay`, `position-based`).
    pub fn name(self) -> &'static str {
        match self {
            Model::LastTouch => "last-touch",
            Model::FirstTouch => "first-touch",
            Model::Linear => "linear",
            Model::TimeDecay => "time-decay",
            Model::PositionBased => "position-based",
        }
    }

    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = Error;

    fn from_str(s: &str) -> Result<Model, Error> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or(Error::InvalidConfig {
                field: "model",
                reason: "must be last-touch, first-touch, linear, time-decay or position-based",
            })
    }
}

/// A set of models, for the report columns computed per conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelSet(u8);

impl ModelSet {
    /// No model.
    pub const fn none() -> ModelSet {
        ModelSet(0)
    }

    /// All five models.
    pub const fn all() -> ModelSet {
        ModelSet(0b1_1111)
    }

    /// Only `model`.
    pub const fn only(model: Model) -> ModelSet {
        ModelSet(1 << model as u8)
    }

    /// This set plus `model`.
    pub const fn with(self, model: Model) -> ModelSet {
        ModelSet(self.0 | 1 << model as u8)
    }

    /// `true` if `model` is in the set.
    pub const fn contains(self, model: Model) -> bool {
        self.0 & (1 << model as u8) != 0
    }

    /// The models in the set, in [`Model::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Model> {
        Model::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// A person or household key produced by an [`IdentityResolver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityKey(pub u64);

impl IdentityKey {
    /// The fallback key of a household the resolver does not know: the household id with the
    /// top bit set, so it never equals a caller's person key (those are below 2⁶³).
    pub const fn from_household(household: HouseholdId) -> IdentityKey {
        IdentityKey(household.0 | 1 << 63)
    }
}

/// Maps the ids on events to the person or household whose touches and conversions are
/// joined. Identity resolution is the caller's data; adloop only applies it.
pub trait IdentityResolver: Send + Sync + fmt::Debug {
    /// The join identity of an event with this user and household.
    fn resolve(&self, user: UserId, household: HouseholdId) -> IdentityKey;
}

/// A ready-made [`IdentityResolver`] from explicit maps: a user listed maps to its person
/// key; otherwise a listed household maps to its key; otherwise the household itself
/// ([`IdentityKey::from_household`]).
#[derive(Clone, Debug, Default)]
pub struct IdentityMap {
    users: HashMap<UserId, u64>,
    households: HashMap<HouseholdId, u64>,
}

impl IdentityMap {
    /// An empty map (every event resolves to its household).
    pub fn new() -> IdentityMap {
        IdentityMap::default()
    }

    /// Maps `user` to person key `person` (which must be below 2⁶³).
    pub fn insert_user(&mut self, user: UserId, person: u64) -> Result<(), Error> {
        check_person(person)?;
        self.users.insert(user, person);
        Ok(())
    }

    /// Maps `household` to person key `person` (which must be below 2⁶³).
    pub fn insert_household(&mut self, household: HouseholdId, person: u64) -> Result<(), Error> {
        check_person(person)?;
        self.households.insert(household, person);
        Ok(())
    }
}

fn check_person(key: u64) -> Result<(), Error> {
    if key >> 63 != 0 {
        return Err(Error::ReservedIdentityKey { key });
    }
    Ok(())
}

impl IdentityResolver for IdentityMap {
    fn resolve(&self, user: UserId, household: HouseholdId) -> IdentityKey {
        if let Some(&p) = self.users.get(&user) {
            return IdentityKey(p);
        }
        if let Some(&p) = self.households.get(&household) {
            return IdentityKey(p);
        }
        IdentityKey::from_household(household)
    }
}

/// Which identity joins touches to conversions.
#[derive(Clone, Debug, Default)]
pub enum JoinKey {
    /// The household id (the default: TV is watched together).
    #[default]
    Household,
    /// The user (profile) id.
    User,
    /// A caller-supplied resolver (an identity graph).
    Resolver(Arc<dyn IdentityResolver>),
}

impl JoinKey {
    #[inline]
    pub(crate) fn identity(&self, user: UserId, household: HouseholdId) -> u64 {
        match self {
            JoinKey::Household => household.0,
            JoinKey::User => user.0,
            JoinKey::Resolver(r) => r.resolve(user, household).0,
        }
    }
}

/// A Beta(α, β) prior for a rate; the smoothed estimate after `s` successes in `n` trials is
/// `(s + α) / (n + α + β)`: the prior mean `α/(α+β)` with the weight of `α+β` trials.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BetaPrior {
    /// Pseudo-successes.
    pub alpha: f64,
    /// Pseudo-failures.
    pub beta: f64,
}

impl BetaPrior {
    /// The prior mean `α/(α+β)`.
    pub fn mean(self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// The posterior mean after `successes` in `trials`.
    pub fn posterior_mean(self, successes: f64, trials: f64) -> f64 {
        (successes + self.alpha) / (trials + self.alpha + self.beta)
    }

    fn validate(self, field: &'static str) -> Result<(), Error> {
        if !(self.alpha > 0.0 && self.beta > 0.0 && self.alpha.is_finite() && self.beta.is_finite())
        {
            return Err(Error::InvalidConfig {
                field,
                reason: "needs finite alpha > 0 and beta > 0",
            });
        }
        Ok(())
    }
}

/// Attribution settings. Start from [`Config::default`] and change what differs:
///
/// | setting | default |
/// |---|---|
/// | join key | household |
/// | click window / view window | 7 days / 1 day (both edges inclusive) |
/// | time-decay half-life | 7 days |
/// | allowed lateness | 1 hour |
/// | max click delay (impression → click) | 1 day |
/// | dedup memory (same advertiser and order id) | 30 days |
/// | model (emitted attributions, feedback CVR) | last-touch |
/// | report models | all five |
/// | max views / clicks per identity and advertiser | 4,096 each |
/// | late-event log | 10,000 events (counters are never capped) |
/// | CTR prior / CVR prior | Beta(1, 99) / Beta(1, 999) |
/// | capacity hint: expected live keys / impressions | none (tables grow as the store fills) |
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) join_key: JoinKey,
    pub(crate) click_window: DurationMs,
    pub(crate) view_window: DurationMs,
    pub(crate) half_life: DurationMs,
    pub(crate) allowed_lateness: DurationMs,
    pub(crate) max_click_delay: DurationMs,
    pub(crate) dedup_window: DurationMs,
    pub(crate) model: Model,
    pub(crate) report_models: ModelSet,
    pub(crate) max_touches_per_key: usize,
    pub(crate) max_late_log: usize,
    pub(crate) collect_attributions: bool,
    pub(crate) ctr_prior: BetaPrior,
    pub(crate) cvr_prior: BetaPrior,
    pub(crate) report_utc_offset: DurationMs,
    pub(crate) holdout_salt: u64,
    pub(crate) expected_keys: usize,
    pub(crate) expected_impressions: usize,
}

/// The largest capacity hint accepted (per table): 2²⁶, about 67M keys or impressions,
/// whose tables (allocated and written up front: 1.7 GB of keys, 0.75 GB of index) are
/// already far beyond what one attributor holds at 10M events per pass; a larger value
/// is far more likely a mistake than a plan, and would allocate tens of GB in
/// `Attributor::new` instead of failing validation.
pub(crate) const MAX_CAPACITY_HINT: usize = 1 << 26;

impl Default for Config {
    fn default() -> Config {
        Config {
            join_key: JoinKey::Household,
            click_window: DurationMs::from_days(7),
            view_window: DurationMs::from_days(1),
            half_life: DurationMs::from_days(7),
            allowed_lateness: DurationMs::from_hours(1),
            max_click_delay: DurationMs::from_days(1),
            dedup_window: DurationMs::from_days(30),
            model: Model::LastTouch,
            report_models: ModelSet::all(),
            max_touches_per_key: 4_096,
            max_late_log: 10_000,
            collect_attributions: true,
            ctr_prior: BetaPrior {
                alpha: 1.0,
                beta: 99.0,
            },
            cvr_prior: BetaPrior {
                alpha: 1.0,
                beta: 999.0,
            },
            report_utc_offset: DurationMs::ZERO,
            holdout_salt: 0,
            expected_keys: 0,
            expected_impressions: 0,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident : $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Config {
                self.$name = value;
                self
            }
        )*
    };
}

impl Config {
    setters! {
        /// Sets the join key.
        join_key: JoinKey;
        /// Sets the click window (a click at most this long before the conversion is eligible).
        click_window: DurationMs;
        /// Sets the view window (an impression at most this long before the conversion is eligible).
        view_window: DurationMs;
        /// Sets the time-decay half-life (must be positive).
        half_life: DurationMs;
        /// Sets how late (behind the latest event time seen) an event may arrive and still count.
        allowed_lateness: DurationMs;
        /// Sets the longest impression → click delay: a later click is orphaned, and
        /// impressions are remembered for clicks this long.
        max_click_delay: DurationMs;
        /// Sets how long an (advertiser, order id) is remembered for dedup.
        dedup_window: DurationMs;
        /// Sets the model of emitted attributions and of the CVR feedback.
        model: Model;
        /// Sets the models computed for reports (the emitted model is always added).
        report_models: ModelSet;
        /// Sets the most views, and the most clicks, kept per (identity, advertiser): when a
        /// conversion's walk finds more, the newest (by arrival) stay and the older ones are
        /// dropped and counted in [`crate::Stats::dropped_touches`].
        max_touches_per_key: usize;
        /// Sets how many late events are kept for [`crate::Attributor::drain_late_events`].
        max_late_log: usize;
        /// Whether finalized conversions are kept for draining (`false`: reports only).
        collect_attributions: bool;
        /// Sets the CTR prior.
        ctr_prior: BetaPrior;
        /// Sets the CVR prior.
        cvr_prior: BetaPrior;
        /// Sets the time zone of per-day reports (offset ahead of UTC).
        report_utc_offset: DurationMs;
        /// Sets the salt mixed into every holdout assignment (change it to re-randomize).
        holdout_salt: u64;
        /// Capacity hint, like `HashMap::with_capacity`: the (identity, advertiser) keys
        /// expected to hold touches at once, i.e. the distinct pairs seen within the
        /// longer of the view window and the max click delay, e.g. counted over a day of
        /// logs ([`crate::MemoryUsage::keys`] in steady state is an upper bound: it
        /// counts keys gone stale too). The key table is created at 8/5 buckets per key
        /// (a little roomier than a rebuild leaves it: shorter probes) and never shrinks
        /// below that, so a store filling up to that scale does not rebuild it to grow
        /// (each rebuild also rewrites every stored touch's key slot). 0 (the default):
        /// no hint, the table grows as keys arrive. An overestimate costs 25.6 bytes per
        /// key of excess (16-byte buckets). An underestimate costs growth rebuilds, by
        /// 5/4 steps up to twice the hinted size (one for a hint ~12% low, three for one
        /// half the real count), then by the unhinted steps. At most 2²⁶; allocated and
        /// written up front.
        expected_keys: usize;
        /// Capacity hint for the impression index: the impressions expected to be stored
        /// at once (those of the last view window or max click delay, whichever is
        /// longer). Sized like [`Config::expected_keys`]: no growth rebuilds up to that
        /// many, never shrunk below it; an overestimate costs 11.2 bytes per impression
        /// of excess (8-byte entries at load 5/7); an underestimate grows it like the key
        /// table. 0 (the default): no hint. At most 2²⁶.
        expected_impressions: usize;
    }

    /// The join key.
    pub fn get_join_key(&self) -> &JoinKey {
        &self.join_key
    }

    /// The model of emitted attributions.
    pub fn get_model(&self) -> Model {
        self.model
    }

    /// The allowed lateness.
    pub fn get_allowed_lateness(&self) -> DurationMs {
        self.allowed_lateness
    }

    /// Checks every setting; [`crate::Attributor::new`] calls it.
    pub fn validate(&self) -> Result<(), Error> {
        let non_negative = [
            (self.click_window, "click_window"),
            (self.view_window, "view_window"),
            (self.allowed_lateness, "allowed_lateness"),
            (self.max_click_delay, "max_click_delay"),
            (self.dedup_window, "dedup_window"),
        ];
        for (d, field) in non_negative {
            if d.is_negative() {
                return Err(Error::InvalidConfig {
                    field,
                    reason: "must not be negative",
                });
            }
            if d.as_millis() > DurationMs::from_days(3_650).as_millis() {
                return Err(Error::InvalidConfig {
                    field,
                    reason: "must be at most 10 years",
                });
            }
        }
        if self.half_life.as_millis() <= 0 {
            return Err(Error::InvalidConfig {
                field: "half_life",
                reason: "must be positive",
            });
        }
        if self.max_touches_per_key == 0 || self.max_touches_per_key > 1 << 20 {
            return Err(Error::InvalidConfig {
                field: "max_touches_per_key",
                reason: "must be in 1..=1048576",
            });
        }
        for (n, field) in [
            (self.expected_keys, "expected_keys"),
            (self.expected_impressions, "expected_impressions"),
        ] {
            if n > MAX_CAPACITY_HINT {
                return Err(Error::InvalidConfig {
                    field,
                    reason: "must be at most 2^26",
                });
            }
        }
        self.ctr_prior.validate("ctr_prior")?;
        self.cvr_prior.validate("cvr_prior")?;
        Ok(())
    }

    /// How long view touches are kept: the view window, or longer if clicks may come later.
    pub(crate) fn view_keep_ms(&self) -> i64 {
        self.view_window
            .as_millis()
            .max(self.max_click_delay.as_millis())
    }
}
