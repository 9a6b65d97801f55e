use crate::event::Event;
use thiserror::Error;

/// Everything that can go wrong in `adloop-attribution`.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of its allowed range.
    #[error("invalid config: {field} {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A holdout fraction is outside `0.0..=1.0` (or not a number).
    #[error("invalid holdout fraction {fraction} for campaign {campaign}: must be in 0..=1")]
    InvalidHoldout {
        /// The campaign.
        campaign: u64,
        /// The fraction given.
        fraction: f64,
    },
    /// Every recording queue is full: the event was not recorded and is handed back so the
    /// caller can drain (`tick`) and retry, spill it, or count it as shed.
    #[error("attribution queues are full ({capacity} events each): event not recorded")]
    QueueFull {
        /// The event that was not recorded.
        event: Box<Event>,
        /// Capacity of each queue.
        capacity: usize,
    },
    /// A caller-supplied identity key is outside the range reserved for person keys.
    #[error("identity key {key} is reserved: person keys must be below 2^63")]
    ReservedIdentityKey {
        /// The key given.
        key: u64,
    },
    /// Persisted state could not be read or written.
    #[error("attribution state: {0}")]
    State(#[from] adloop_core::Error),
    /// Persisted state decoded but is internally inconsistent.
    #[error("attribution state is inconsistent: {0}")]
    CorruptState(&'static str),
}
