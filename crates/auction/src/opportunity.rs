use crate::Error;
use adloop_core::Cpm;
use serde::{Deserialize, Serialize};

/// The most ranked slots one auction sells.
pub const MAX_RANKED_SLOTS: usize = 64;
/// The most slots one pod may hold.
pub const MAX_POD_SLOTS: usize = 16;
/// The most required durations one pod may list.
pub const MAX_REQUIRED_DURATIONS: usize = 32;
/// The most candidates a single-slot or ranked auction accepts.
pub const MAX_CANDIDATES: usize = 65_536;
/// The most candidates a pod auction accepts (the optimal fill is a search).
pub const MAX_POD_CANDIDATES: usize = 4_096;

/// Reserve prices.
///
/// - Hard floor: nothing below it fills.
/// - Soft floor (optional, at or above the hard floor): a winner whose eCPM is at least
///   the soft floor pays `max(second price, soft floor)`; a winner between the hard and
///   the soft floor pays its own bid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Floors {
    /// The hard floor.
    pub hard: Cpm,
    /// The soft floor, if any.
    pub soft: Option<Cpm>,
}

impl Floors {
    /// No floors.
    pub const NONE: Floors = Floors {
        hard: Cpm::ZERO,
        soft: None,
    };

    /// A hard floor only.
    pub const fn hard(floor: Cpm) -> Self {
        Floors {
            hard: floor,
            soft: None,
        }
    }

    /// A hard and a soft floor.
    pub const fn with_soft(hard: Cpm, soft: Cpm) -> Self {
        Floors {
            hard,
            soft: Some(soft),
        }
    }

    /// Checks that floors are non-negative, within [`MAX_ECPM`](crate::MAX_ECPM), and the
    /// soft floor is not below the hard floor.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason| Err(Error::InvalidFloors { reason });
        if self.hard.micros() < 0 || self.hard > crate::MAX_ECPM {
            return bad("hard floor must be between zero and MAX_ECPM");
        }
        if let Some(soft) = self.soft
            && (soft < self.hard || soft > crate::MAX_ECPM)
        {
            return bad("soft floor must be between the hard floor and MAX_ECPM");
        }
        Ok(())
    }
}

/// Positions of decreasing value sold at once (a page of tiles, sequenced placements):
/// slot k delivers `factors[k]` units of exposure (a CTR, a viewability weight), and a
/// bid is a price per unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankedSlots<'a> {
    /// Value factors α₁ > α₂ > … > 0, one per slot (at most [`MAX_RANKED_SLOTS`]).
    pub factors: &'a [u32],
    /// Floors for every slot.
    pub floors: Floors,
}

impl RankedSlots<'_> {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.factors.is_empty() {
            return Err(Error::InvalidSlotFactors {
                position: 0,
                reason: "no slots",
            });
        }
        if self.factors.len() > MAX_RANKED_SLOTS {
            return Err(Error::InvalidSlotFactors {
                position: MAX_RANKED_SLOTS,
                reason: "more slots than MAX_RANKED_SLOTS",
            });
        }
        for (i, &a) in self.factors.iter().enumerate() {
            if a == 0 {
                return Err(Error::InvalidSlotFactors {
                    position: i,
                    reason: "factor must be positive",
                });
            }
            if i > 0 && a >= self.factors[i - 1] {
                return Err(Error::InvalidSlotFactors {
                    position: i,
                    reason: "factors must be strictly decreasing",
                });
            }
        }
        self.floors.validate()
    }
}

/// Which pairs of ads may not share a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Separation {
    /// No two ads of one advertiser.
    pub advertiser: bool,
    /// No two ads of one advertiser domain.
    pub domain: bool,
    /// No two ads sharing a competitive category.
    pub category: bool,
    /// No creative twice.
    pub creative: bool,
}

impl Separation {
    /// Every separation rule on (the default).
    pub const ALL: Separation = Separation {
        advertiser: true,
        domain: true,
        category: true,
        creative: true,
    };
    /// No separation.
    pub const NONE: Separation = Separation {
        advertiser: false,
        domain: false,
        category: false,
        creative: false,
    };
}

impl Default for Separation {
    fn default() -> Self {
        Separation::ALL
    }
}

/// A CTV ad pod (an ad break), in OpenRTB 2.6 terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodSpec<'a> {
    /// Most ads in the pod (`maxseq`), 1 to [`MAX_POD_SLOTS`].
    pub max_slots: u16,
    /// Most total seconds (`poddur`), at least 1.
    pub max_duration_s: u32,
    /// Accepted ad durations in seconds (`rqddurs`); empty accepts any duration up to
    /// `max_duration_s`.
    pub required_durations_s: &'a [u32],
    /// Floors per ad.
    pub floors: Floors,
    /// A floor per second of ad (`mincpmpersec`): an ad of `d` seconds must bid at least
    /// `d × floor_per_second` (and the hard floor). Zero for none.
    pub floor_per_second: Cpm,
    /// Separation rules.
    pub separation: Separation,
}

impl<'a> PodSpec<'a> {
    /// A pod of `max_slots` ads and `max_duration_s` seconds, any duration, no floors, all
    /// separation rules on.
    pub const fn new(max_slots: u16, max_duration_s: u32) -> Self {
        PodSpec {
            max_slots,
            max_duration_s,
            required_durations_s: &[],
            floors: Floors::NONE,
            floor_per_second: Cpm::ZERO,
            separation: Separation::ALL,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |field, reason| Err(Error::InvalidPod { field, reason });
        if self.max_slots == 0 || usize::from(self.max_slots) > MAX_POD_SLOTS {
            return bad("max_slots", "must be between 1 and MAX_POD_SLOTS");
        }
        if self.max_duration_s == 0 {
            return bad("max_duration_s", "must be positive");
        }
        if self.required_durations_s.len() > MAX_REQUIRED_DURATIONS {
            return bad(
                "required_durations_s",
                "more than MAX_REQUIRED_DURATIONS entries",
            );
        }
        if self.required_durations_s.contains(&0) {
            return bad("required_durations_s", "durations must be positive");
        }
        if self.floor_per_second.micros() < 0 || self.floor_per_second > crate::MAX_ECPM {
            return bad("floor_per_second", "must be between zero and MAX_ECPM");
        }
        self.floors.validate()
    }
}

/// What is being sold in one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opportunity<'a> {
    /// One slot with floors.
    Single(Floors),
    /// Ranked slots with value factors.
    Ranked(RankedSlots<'a>),
    /// A video ad pod.
    Pod(PodSpec<'a>),
}
