use adloop_core::{CampaignId, ImpressionId};
use std::fmt;
use thiserror::Error;

/// One problem with one campaign, found by [`Engine::publish`](crate::Engine::publish).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignError {
    /// The campaign at fault.
    pub campaign: CampaignId,
    /// The field at fault, as a path (`budget.daily`, `creatives[1].id`).
    pub field: String,
    /// What is wrong, lowercase.
    pub message: String,
}

impl CampaignError {
    pub(crate) fn new(campaign: CampaignId, field: &str, message: impl Into<String>) -> Self {
        Self {
            campaign,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for CampaignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign {}: {}: {}",
            self.campaign, self.field, self.message
        )
    }
}

impl std::error::Error for CampaignError {}

/// The campaigns of one rejected publish, every error at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignErrors(pub Vec<CampaignError>);

impl fmt::Display for CampaignErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} invalid campaign field(s)", self.0.len())?;
        for e in &self.0 {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A publish was rejected; nothing was installed.
    #[error("publish rejected: {0}")]
    InvalidCampaigns(CampaignErrors),
    /// An OpenRTB document could not be mapped.
    #[error("openrtb: {path}: {message}")]
    OpenRtb {
        /// JSON path of the offending value, e.g. `imp[0].video.poddur`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A receipt names an impression this engine never issued or no longer knows.
    #[error("unknown receipt for impression {impression}: {reason}")]
    UnknownReceipt {
        /// The receipt's impression.
        impression: ImpressionId,
        /// Why it is unknown.
        reason: String,
    },
    /// A receipt was already recorded; nothing was charged again.
    #[error("repeated receipt for impression {impression}: already recorded, not charged again")]
    RepeatedReceipt {
        /// The receipt's impression.
        impression: ImpressionId,
    },
    /// Persisted state could not be written or read; nothing partial was loaded.
    #[error("engine state: {0}")]
    State(#[from] adloop_core::Error),
    /// Persisted state decoded but is inconsistent.
    #[error("engine state: {0}")]
    InconsistentState(String),
    /// A component rejected an operation.
    #[error("{component}: {message}")]
    Component {
        /// The component crate (`pacing`, `attribution`, …).
        component: &'static str,
        /// Its error message.
        message: String,
    },
}

impl Error {
    pub(crate) fn rtb(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::OpenRtb {
            path: path.into(),
            message: message.into(),
        }
    }
}
