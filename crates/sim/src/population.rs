//! Viewers in households, their audience segments and attributes, and the ad
//! opportunities they generate.

use adloop_core::{DurationMs, HouseholdId, SegmentId, Timestamp, UserId};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal, Poisson, Zipf};

use crate::diurnal::DiurnalCurve;
use crate::error::{SimError, check_range};
use crate::sampling::{AliasTable, pick_weighted};
use crate::vocab::{self, attr};

/// Most users a population may hold.
pub const MAX_USERS: usize = 50_000_000;
/// Largest segment domain.
pub const MAX_SEGMENT_DOMAIN: u32 = 10_000_000;

/// How to generate a [`Population`].
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationConfig {
    /// Number of viewers (`1..=50,000,000`).
    pub users: usize,
    /// Mean household size; sizes are `1 + Poisson(mean − 1)`, capped at 8 (`[1, 8]`).
    pub mean_household_size: f64,
    /// Segment ids are `0..segment_domain` (`1..=10,000,000`).
    pub segment_domain: u32,
    /// Zipf exponent `s` of segment popularity by rank (`[0, 4]`; 1.0 is classic Zipf).
    pub zipf_exponent: f64,
    /// Fewest and most segments a viewer draws for themself (inclusive; uniform).
    pub segments_per_user: (u32, u32),
    /// Segments every member of a household shares (household-level data such as income
    /// band or in-market status), drawn from the same Zipf law.
    pub segments_per_household: u32,
    /// σ of the lognormal (mean 1) activity weight: how unequally viewers generate
    /// requests (`[0, 3]`).
    pub activity_sigma: f64,
}

impl Default for PopulationConfig {
    /// 200,000 viewers, households of 2.3 on average, 10,000 segments with Zipf
    /// exponent 1.0, 5–45 own segments plus 4 household segments, activity σ 0.8.
    fn default() -> Self {
        PopulationConfig {
            users: 200_000,
            mean_household_size: 2.3,
            segment_domain: 10_000,
            zipf_exponent: 1.0,
            segments_per_user: (5, 45),
            segments_per_household: 4,
            activity_sigma: 0.8,
        }
    }
}

impl PopulationConfig {
    fn validate(&self) -> Result<(), SimError> {
        if self.users == 0 || self.users > MAX_USERS {
            return Err(SimError::invalid(
                "population.users",
                format!("{} is not in 1..={MAX_USERS}", self.users),
            ));
        }
        check_range(
            "population.mean_household_size",
            self.mean_household_size,
            1.0,
            8.0,
        )?;
        if self.segment_domain == 0 || self.segment_domain > MAX_SEGMENT_DOMAIN {
            return Err(SimError::invalid(
                "population.segment_domain",
                format!("{} is not in 1..={MAX_SEGMENT_DOMAIN}", self.segment_domain),
            ));
        }
        check_range("population.zipf_exponent", self.zipf_exponent, 0.0, 4.0)?;
        let (lo, hi) = self.segments_per_user;
        if lo > hi || hi > 1_000 {
            return Err(SimError::invalid(
                "population.segments_per_user",
                format!("({lo}, {hi}) must satisfy min <= max <= 1000"),
            ));
        }
        if self.segments_per_household > 1_000 {
            return Err(SimError::invalid(
                "population.segments_per_household",
                format!("{} is above 1000", self.segments_per_household),
            ));
        }
        check_range("population.activity_sigma", self.activity_sigma, 0.0, 3.0)?;
        Ok(())
    }
}

/// One viewer.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Id (`index + 1`).
    pub id: UserId,
    /// The household the viewer belongs to.
    pub household: HouseholdId,
    /// Audience segments, sorted and distinct (own draws ∪ the household's).
    pub segments: Vec<SegmentId>,
    /// `geo.country` (shared by the household).
    pub country: &'static str,
    /// `geo.region` (shared by the household).
    pub region: &'static str,
    /// `device.type` of the viewer's device.
    pub device_type: &'static str,
    /// `device.os` of the viewer's device.
    pub os: &'static str,
    /// `publisher`: the service app on that device.
    pub publisher: &'static str,
    /// Relative request rate (lognormal, population mean ≈ 1).
    pub activity: f64,
    /// Viewing preference over [`vocab::GENRES`] (same order), summing to 1.
    pub genre_weights: [f64; 10],
}

/// One household: a contiguous run of users.
#[derive(Clone, Debug, PartialEq)]
pub struct Household {
    /// Id (`index + 1`).
    pub id: HouseholdId,
    /// Indices of the members in [`Population::users`].
    pub members: std::ops::Range<usize>,
    /// `geo.country`.
    pub country: &'static str,
    /// `geo.region`.
    pub region: &'static str,
}

/// A targeting attribute value as the simulator produces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// An integer (`segment`, `hour`, `dow`).
    Int(i64),
    /// A string (countries, devices, genres, publishers).
    Str(&'static str),
}

/// One ad opportunity: a viewer watching something at some instant.
///
/// The viewer's segments live in the population; [`Opportunity::attributes`] lists
/// every targeting attribute of the request (see [`vocab::attr`] for the names).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Opportunity {
    /// When it happens.
    pub at: Timestamp,
    /// Index of the viewer in [`Population::users`].
    pub user_index: usize,
    /// The viewer.
    pub user: UserId,
    /// The viewer's household.
    pub household: HouseholdId,
    /// `content.genre` of what is being watched.
    pub genre: &'static str,
    /// Local `hour` (0–23).
    pub hour: u8,
    /// Local `dow` (0 = Monday … 6 = Sunday).
    pub dow: u8,
}

impl Opportunity {
    /// The viewer's segments.
    pub fn segments<'p>(&self, population: &'p Population) -> &'p [SegmentId] {
        &population.users[self.user_index].segments
    }

    /// Every targeting attribute of this request as `(name, value)` pairs: one pair per
    /// segment, then `geo.country`, `geo.region`, `device.type`, `device.os`,
    /// `content.genre`, `hour`, `dow`, `publisher`.
    pub fn attributes(&self, population: &Population) -> Vec<(&'static str, AttrValue)> {
        let user = &population.users[self.user_index];
        let mut out = Vec::with_capacity(user.segments.len() + 8);
        out.extend(
            user.segments
                .iter()
                .map(|s| (attr::SEGMENT, AttrValue::Int(s.get() as i64))),
        );
        out.extend([
            (attr::COUNTRY, AttrValue::Str(user.country)),
            (attr::REGION, AttrValue::Str(user.region)),
            (attr::DEVICE_TYPE, AttrValue::Str(user.device_type)),
            (attr::DEVICE_OS, AttrValue::Str(user.os)),
            (attr::GENRE, AttrValue::Str(self.genre)),
            (attr::HOUR, AttrValue::Int(i64::from(self.hour))),
            (attr::DOW, AttrValue::Int(i64::from(self.dow))),
            (attr::PUBLISHER, AttrValue::Str(user.publisher)),
        ]);
        out
    }
}

/// A seeded population of viewers in households.
///
/// Segment popularity follows a Zipf law over ranks; rank `r` (1-based) is mapped to a
/// segment id by a seeded permutation ([`Population::segment_by_rank`]), so popular
/// segments are spread over the id space as in real taxonomies.
#[derive(Clone, Debug)]
pub struct Population {
    config: PopulationConfig,
    users: Vec<User>,
    households: Vec<Household>,
    segment_of_rank: Vec<SegmentId>,
    activity: AliasTable,
}

impl Population {
    /// Generates a population.
    ///
    /// # Errors
    /// [`SimError::InvalidParameter`] when a config field is out of its documented range.
    pub fn generate<R: Rng + ?Sized>(
        config: &PopulationConfig,
        rng: &mut R,
    ) -> Result<Self, SimError> {
        config.validate()?;
        let domain = config.segment_domain;
        let mut segment_of_rank: Vec<SegmentId> =
            (0..u64::from(domain)).map(SegmentId::new).collect();
        segment_of_rank.shuffle(rng);
        let zipf = Zipf::new(f64::from(domain), config.zipf_exponent)
            .map_err(|e| SimError::invalid("population.zipf_exponent", e.to_string()))?;
        let extra_members = Poisson::new(config.mean_household_size - 1.0).ok();
        let activity_dist =
            LogNormal::new(-config.activity_sigma.powi(2) / 2.0, config.activity_sigma)
                .map_err(|e| SimError::invalid("population.activity_sigma", e.to_string()))?;
        let genre_taste =
            LogNormal::new(0.0, 1.0).map_err(|e| SimError::invalid("genre", e.to_string()))?;
        // No more distinct segments than half the domain, so rejection sampling ends fast.
        let cap = (domain as usize / 2).max(1);

        let mut users = Vec::with_capacity(config.users);
        let mut households = Vec::with_capacity(config.users / 2 + 1);
        let mut scratch: Vec<u32> = Vec::new();
        while users.len() < config.users {
            let extra = extra_members.as_ref().map_or(0.0, |p| p.sample(rng));
            let size = (1 + extra as usize).min(8).min(config.users - users.len());
            let household = HouseholdId::new(households.len() as u64 + 1);
            let (country_index, country) = pick_weighted(&vocab::COUNTRIES, rng);
            let (_, region) = pick_weighted(vocab::REGIONS[country_index], rng);
            let shared = draw_ranks(
                &zipf,
                config.segments_per_household as usize,
                cap,
                rng,
                &mut scratch,
            );
            let start = users.len();
            for _ in 0..size {
                let (lo, hi) = config.segments_per_user;
                let own = rng.random_range(lo..=hi) as usize;
                let mut ranks = draw_ranks(&zipf, own, cap, rng, &mut scratch);
                ranks.extend_from_slice(&shared);
                let mut segments: Vec<SegmentId> = ranks
                    .iter()
                    .map(|&r| segment_of_rank[r as usize - 1])
                    .collect();
                segments.sort_unstable();
                segments.dedup();
                let (device_index, device_type) = pick_weighted(&vocab::DEVICE_TYPES, rng);
                let (_, os) = pick_weighted(vocab::OPERATING_SYSTEMS[device_index], rng);
                let mut genre_weights = [0.0; 10];
                for (w, (_, base)) in genre_weights.iter_mut().zip(vocab::GENRES.iter()) {
                    *w = base * genre_taste.sample(rng);
                }
                let sum: f64 = genre_weights.iter().sum();
                for w in &mut genre_weights {
                    *w /= sum;
                }
                users.push(User {
                    id: UserId::new(users.len() as u64 + 1),
                    household,
                    segments,
                    country,
                    region,
                    device_type,
                    os,
                    publisher: vocab::PUBLISHERS[device_index],
                    activity: activity_dist.sample(rng),
                    genre_weights,
                });
            }
            households.push(Household {
                id: household,
                members: start..users.len(),
                country,
                region,
            });
        }
        let weights: Vec<f64> = users.iter().map(|u| u.activity).collect();
        let activity = AliasTable::new(&weights).ok_or_else(|| {
            SimError::invalid("population.activity_sigma", "activity weights degenerate")
        })?;
        Ok(Population {
            config: config.clone(),
            users,
            households,
            segment_of_rank,
            activity,
        })
    }

    /// The config it was generated from.
    pub fn config(&self) -> &PopulationConfig {
        &self.config
    }

    /// All viewers; `users()[i].id == UserId(i + 1)`.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// All households; `households()[i].id == HouseholdId(i + 1)`.
    pub fn households(&self) -> &[Household] {
        &self.households
    }

    /// The viewer with this id.
    pub fn user(&self, id: UserId) -> Option<&User> {
        id.get()
            .checked_sub(1)
            .and_then(|i| self.users.get(i as usize))
    }

    /// The household with this id.
    pub fn household(&self, id: HouseholdId) -> Option<&Household> {
        id.get()
            .checked_sub(1)
            .and_then(|i| self.households.get(i as usize))
    }

    /// The segment at popularity rank `rank` (1 = most popular), if `rank` is in
    /// `1..=segment_domain`.
    pub fn segment_by_rank(&self, rank: u32) -> Option<SegmentId> {
        (rank as usize)
            .checked_sub(1)
            .and_then(|i| self.segment_of_rank.get(i).copied())
    }

    /// Draws a segment with the population's Zipf popularity law (for generating
    /// audiences that exist).
    pub fn sample_segment<R: Rng + ?Sized>(&self, rng: &mut R) -> SegmentId {
        let rank = Zipf::new(
            f64::from(self.config.segment_domain),
            self.config.zipf_exponent,
        )
        .map_or(1.0, |z| z.sample(rng));
        self.segment_of_rank[(rank as usize).clamp(1, self.segment_of_rank.len()) - 1]
    }

    /// Number of viewers in each segment, indexed by popularity rank − 1.
    pub fn members_by_rank(&self) -> Vec<u64> {
        let mut rank_of_segment = vec![0u32; self.segment_of_rank.len()];
        for (rank, seg) in self.segment_of_rank.iter().enumerate() {
            rank_of_segment[seg.get() as usize] = rank as u32;
        }
        let mut counts = vec![0u64; self.segment_of_rank.len()];
        for user in &self.users {
            for seg in &user.segments {
                counts[rank_of_segment[seg.get() as usize] as usize] += 1;
            }
        }
        counts
    }

    /// One opportunity at `at` (local time = UTC + `utc_offset`): a viewer drawn in
    /// proportion to activity, watching a genre drawn from their taste.
    pub fn opportunity_at<R: Rng + ?Sized>(
        &self,
        at: Timestamp,
        utc_offset: DurationMs,
        rng: &mut R,
    ) -> Opportunity {
        let user_index = self.activity.sample(rng);
        let user = &self.users[user_index];
        let mut u = rng.random::<f64>();
        let mut genre = vocab::GENRES[0].0;
        for (w, (name, _)) in user.genre_weights.iter().zip(vocab::GENRES.iter()) {
            genre = name;
            if u < *w {
                break;
            }
            u -= w;
        }
        // 1970-01-01 was a Thursday (dow 3 with Monday = 0).
        let dow = (at.day_index(utc_offset) + 3).rem_euclid(7) as u8;
        Opportunity {
            at,
            user_index,
            user: user.id,
            household: user.household,
            genre,
            hour: at.hour_of_day(utc_offset),
            dow,
        }
    }

    /// A whole day of `count` opportunities in time order, starting at `day_start`, with
    /// arrival times following `curve` (see [`DiurnalCurve::sample_arrivals`]).
    pub fn day_of_opportunities<R: Rng + ?Sized>(
        &self,
        curve: &DiurnalCurve,
        day_start: Timestamp,
        utc_offset: DurationMs,
        count: u64,
        rng: &mut R,
    ) -> Vec<Opportunity> {
        curve
            .sample_arrivals(count, rng)
            .into_iter()
            .map(|offset| self.opportunity_at(day_start.saturating_add(offset), utc_offset, rng))
            .collect()
    }
}

/// `k` distinct Zipf ranks (at most `cap`), by rejection of repeats.
fn draw_ranks<R: Rng + ?Sized>(
    zipf: &Zipf<f64>,
    k: usize,
    cap: usize,
    rng: &mut R,
    scratch: &mut Vec<u32>,
) -> Vec<u32> {
    let k = k.min(cap);
    scratch.clear();
    let mut attempts = 0;
    while scratch.len() < k && attempts < 100 * (k + 1) {
        attempts += 1;
        let rank = zipf.sample(rng) as u32;
        if !scratch.contains(&rank) {
            scratch.push(rank);
        }
    }
    scratch.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn small() -> PopulationConfig {
        PopulationConfig {
            users: 5_000,
            ..PopulationConfig::default()
        }
    }

    #[test]
    fn same_seed_same_population() {
        let a = Population::generate(&small(), &mut StdRng::seed_from_u64(4)).unwrap();
        let b = Population::generate(&small(), &mut StdRng::seed_from_u64(4)).unwrap();
        let c = Population::generate(&small(), &mut StdRng::seed_from_u64(5)).unwrap();
        assert_eq!(a.users(), b.users());
        assert_eq!(a.households(), b.households());
        assert_ne!(a.users(), c.users());
    }

    #[test]
    fn households_partition_users_and_share_geo() {
        let pop = Population::generate(&small(), &mut StdRng::seed_from_u64(1)).unwrap();
        assert_eq!(pop.users().len(), 5_000);
        let mut next = 0;
        for h in pop.households() {
            assert_eq!(h.members.start, next);
            assert!((1..=8).contains(&h.members.len()));
            next = h.members.end;
            for u in &pop.users()[h.members.clone()] {
                assert_eq!(u.household, h.id);
                assert_eq!((u.country, u.region), (h.country, h.region));
                assert!(u.region.starts_with(u.country));
            }
        }
        assert_eq!(next, 5_000);
        let mean_size = 5_000.0 / pop.households().len() as f64;
        assert!((mean_size - 2.3).abs() < 0.1, "mean size {mean_size}");
        for (i, u) in pop.users().iter().enumerate() {
            assert_eq!(
                pop.user(u.id).map(|x| x.id),
                Some(UserId::new(i as u64 + 1))
            );
            assert!(u.segments.windows(2).all(|w| w[0] < w[1]));
            assert!(u.segments.iter().all(|s| s.get() < 10_000));
            assert!((u.genre_weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        assert!(pop.user(UserId::new(0)).is_none());
    }

    #[test]
    fn segment_popularity_is_zipf_skewed() {
        let pop = Population::generate(&small(), &mut StdRng::seed_from_u64(2)).unwrap();
        let counts = pop.members_by_rank();
        let total: u64 = counts.iter().sum();
        let head: u64 = counts[..100].iter().sum();
        // Top 1 % of segments hold a large share of memberships (≈ 40 % for s = 1 with
        // per-viewer dedup) while a uniform law would give 1 %.
        let share = head as f64 / total as f64;
        assert!(share > 0.3 && share < 0.6, "head share {share}");
        assert!(counts[0] > counts[9] && counts[9] > counts[99] && counts[99] > counts[999]);
        // Mid-ranks follow the power law: members(10) / members(1000) ≈ 100 for s = 1.
        let ratio = counts[5..15].iter().sum::<u64>() as f64
            / counts[995..1005].iter().sum::<u64>().max(1) as f64;
        assert!((40.0..200.0).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn opportunities_follow_activity_and_time() {
        let pop = Population::generate(&small(), &mut StdRng::seed_from_u64(3)).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        // 2023-11-13 was a Monday.
        let monday = Timestamp::from_millis(1_699_833_600_000);
        let ops = pop.day_of_opportunities(
            &DiurnalCurve::streaming(),
            monday,
            DurationMs::ZERO,
            20_000,
            &mut rng,
        );
        assert_eq!(ops.len(), 20_000);
        assert!(ops.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(ops.iter().all(|o| o.dow == 0));
        let prime = ops.iter().filter(|o| (20..23).contains(&o.hour)).count() as f64 / 20_000.0;
        assert!((0.24..0.32).contains(&prime), "prime share {prime}");
        let sunday = pop.opportunity_at(
            monday.saturating_add(DurationMs::from_hours(-1)),
            DurationMs::ZERO,
            &mut rng,
        );
        assert_eq!((sunday.dow, sunday.hour), (6, 23));
        let attrs = ops[0].attributes(&pop);
        let names: Vec<_> = attrs.iter().map(|(n, _)| *n).collect();
        for name in [
            "segment",
            "geo.country",
            "geo.region",
            "device.type",
            "device.os",
            "content.genre",
            "hour",
            "dow",
            "publisher",
        ] {
            assert!(names.contains(&name), "missing {name}");
        }
        // Heavier viewers get more opportunities.
        let mut by_user = vec![0u32; pop.users().len()];
        for o in &ops {
            by_user[o.user_index] += 1;
        }
        let (heavy, light): (Vec<_>, Vec<_>) = pop
            .users()
            .iter()
            .enumerate()
            .partition(|(_, u)| u.activity > 1.0);
        let rate = |group: &[(usize, &User)]| {
            group.iter().map(|(i, _)| by_user[*i] as f64).sum::<f64>() / group.len().max(1) as f64
        };
        assert!(rate(&heavy) > 2.0 * rate(&light));
    }

    #[test]
    fn rejects_bad_configs() {
        let mut rng = StdRng::seed_from_u64(1);
        for config in [
            PopulationConfig {
                users: 0,
                ..small()
            },
            PopulationConfig {
                segment_domain: 0,
                ..small()
            },
            PopulationConfig {
                segments_per_user: (9, 3),
                ..small()
            },
            PopulationConfig {
                zipf_exponent: f64::NAN,
                ..small()
            },
            PopulationConfig {
                mean_household_size: 0.5,
                ..small()
            },
        ] {
            assert!(Population::generate(&config, &mut rng).is_err());
        }
        // A tiny domain still works (segments capped at half the domain).
        let tiny = PopulationConfig {
            users: 10,
            segment_domain: 3,
            ..small()
        };
        let pop = Population::generate(&tiny, &mut rng).unwrap();
        assert!(pop.users().iter().all(|u| u.segments.len() <= 3));
    }
}
