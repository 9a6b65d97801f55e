use thiserror::Error;

/// Everything that makes an auction call fail as a whole.
///
/// Problems with one candidate (a negative bid, a NaN predicted rate, a zero-length video
/// in a pod) never fail the call: that candidate is excluded and its
/// [`LossReason`](crate::LossReason) says why. An `Error` means the opportunity, the
/// configuration or the candidate list itself is malformed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// More candidates than the auction accepts.
    #[error("too many candidates: {count} given, at most {limit} accepted")]
    TooManyCandidates {
        /// Candidates given.
        count: usize,
        /// The limit for this kind of opportunity.
        limit: usize,
    },
    /// Two candidates carry the same caller key, so an outcome could not be mapped back.
    #[error("duplicate candidate key {key} at candidate index {index}")]
    DuplicateKey {
        /// The repeated key.
        key: u32,
        /// Index (in the candidate slice) of the second occurrence.
        index: usize,
    },
    /// A floor is negative, or the soft floor is below the hard floor.
    #[error("invalid floors: {reason}")]
    InvalidFloors {
        /// What was wrong.
        reason: &'static str,
    },
    /// The ranked-slot value factors are empty, too many, zero or not strictly decreasing.
    #[error("invalid slot factors at position {position}: {reason}")]
    InvalidSlotFactors {
        /// Index of the offending factor.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The pod specification is out of range.
    #[error("invalid pod spec field {field}: {reason}")]
    InvalidPod {
        /// The offending field.
        field: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A pod auction saw more distinct priority tiers than it can rank lexicographically.
    #[error("too many distinct tiers in one pod auction: {count}, at most {limit}")]
    TooManyTiers {
        /// Distinct tiers among eligible candidates.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The auction configuration is invalid.
    #[error("invalid auction config field {field}: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// Too many competitive categories were given for one candidate.
    #[error("too many competitive categories: {count}, at most {limit}")]
    TooManyCategories {
        /// Categories given.
        count: usize,
        /// The limit.
        limit: usize,
    },
}
