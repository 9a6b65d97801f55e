//! Optional schema validation: declared attributes and the kind of value each holds.

use std::collections::HashMap;

use crate::error::Kind;

/// The attributes an expression may use and the kind of value each holds.
///
/// Pass one to [`parse_with`](crate::parse_with) to reject unknown attributes
/// ([`Error::UnknownAttribute`](crate::Error::UnknownAttribute)) and values of the wrong
/// kind ([`Error::KindMismatch`](crate::Error::KindMismatch)), both with their position.
///
/// ```
/// use adloop_targeting::{parse_with, Kind, Limits, Schema};
/// let schema = Schema::new().with("segment", Kind::Int).with("geo.country", Kind::Str);
/// let err = parse_with("segment = \"x\"", &Limits::default(), Some(&schema)).unwrap_err();
/// assert_eq!(err.to_string(), "line 1, column 11: attribute \"segment\" holds integer values, found string");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Schema {
    kinds: HashMap<String, Kind>,
}

impl Schema {
    /// An empty schema (every attribute is unknown).
    pub fn new() -> Self {
        Schema::default()
    }

    /// Declares `attribute` as holding values of `kind`, replacing an earlier declaration.
    pub fn declare(&mut self, attribute: impl Into<String>, kind: Kind) -> &mut Self {
        self.kinds.insert(attribute.into(), kind);
        self
    }

    /// Builder form of [`Schema::declare`].
    pub fn with(mut self, attribute: impl Into<String>, kind: Kind) -> Self {
        self.declare(attribute, kind);
        self
    }

    /// The declared kind of `attribute`, or `None` if it is not declared.
    pub fn kind(&self, attribute: &str) -> Option<Kind> {
        self.kinds.get(attribute).copied()
    }
}
