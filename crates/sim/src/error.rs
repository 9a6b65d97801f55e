use std::path::PathBuf;

/// Everything that can go wrong in `adloop-sim`.
///
/// Generators reject out-of-range parameters up front (a negative sigma, a probability
/// above one, an empty segment domain), so sampling itself never fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration parameter is out of its documented range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter, as named in the docs (`sigma`, `segments.domain`, …).
        name: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The plotting backend failed while drawing a chart.
    #[error("plot `{title}` failed: {reason}")]
    Plot {
        /// The chart's title.
        title: String,
        /// The backend's message.
        reason: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not a well-formed SVG (see [`check_svg`](crate::check_svg)).
    #[error("invalid svg at byte {offset}: {reason}")]
    InvalidSvg {
        /// Byte offset of the problem in the checked text.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

impl SimError {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        SimError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Checks that `value` is a finite number in `[low, high]`.
pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    low: f64,
    high: f64,
) -> Result<f64, SimError> {
    if value.is_finite() && value >= low && value <= high {
        Ok(value)
    } else {
        Err(SimError::invalid(
            name,
            format!("{value} is not a finite number in [{low}, {high}]"),
        ))
    }
}
