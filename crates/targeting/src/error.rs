use std::fmt;

use thiserror::Error;

/// A place in the source text of an expression: 1-based line and column (columns count
/// characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number in characters, starting at 1.
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The kind of value an attribute holds, as declared in a [`Schema`](crate::Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// 64-bit signed integers (segment ids, hour of day, age).
    Int,
    /// Strings (country codes, device types, genres).
    Str,
    /// Either kind; values are compared exactly (`5` and `"5"` differ).
    Any,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Int => "integer",
            Kind::Str => "string",
            Kind::Any => "any value",
        })
    }
}

/// Everything that can go wrong in `adloop-targeting`: parsing and validating an
/// expression, and building an index.
///
/// Every variant that concerns a place in the text carries its [`Position`]; the
/// message reads like `line 1, column 12: expected a value, found ")"`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not follow the grammar.
    #[error("{at}: expected {expected}, found {found}")]
    Syntax {
        /// Where the unexpected token starts.
        at: Position,
        /// What the grammar allows here.
        expected: &'static str,
        /// The token found, quoted, or `end of input`.
        found: String,
    },
    /// An integer literal does not fit in an `i64`.
    #[error("{at}: integer {literal} is out of the 64-bit range")]
    IntegerOutOfRange {
        /// Where the literal starts.
        at: Position,
        /// The literal (cut to 32 characters).
        literal: String,
    },
    /// A string literal contains an escape other than `\"` and `\\`, or is not closed.
    #[error("{at}: {reason}")]
    BadString {
        /// Where the problem is.
        at: Position,
        /// What was wrong.
        reason: &'static str,
    },
    /// The text is longer than [`Limits::max_text_bytes`](crate::Limits::max_text_bytes).
    #[error("expression is {length} bytes, over the limit of {limit}")]
    TextTooLong {
        /// Length of the text in bytes.
        length: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Parentheses and `not` nest deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("{at}: expression nests deeper than the limit of {limit}")]
    TooDeep {
        /// Where the limit was crossed (unknown for expressions built in code).
        at: Position,
        /// The depth limit.
        limit: usize,
    },
    /// A value list is longer than [`Limits::max_list_len`](crate::Limits::max_list_len).
    #[error("{at}: list has more than {limit} values")]
    ListTooLong {
        /// Where the value past the limit starts.
        at: Position,
        /// The limit on values per list.
        limit: usize,
    },
    /// The expression has more predicates than
    /// [`Limits::max_predicates`](crate::Limits::max_predicates).
    #[error("{at}: expression has more than {limit} predicates")]
    TooManyPredicates {
        /// Where the predicate past the limit starts.
        at: Position,
        /// The limit on predicates per expression.
        limit: usize,
    },
    /// Schema validation: the attribute is not declared.
    #[error("{at}: unknown attribute {attribute:?}")]
    UnknownAttribute {
        /// Where the attribute name starts.
        at: Position,
        /// The attribute name.
        attribute: String,
    },
    /// Schema validation: a value of the wrong kind for its attribute.
    #[error("{at}: attribute {attribute:?} holds {expected} values, found {found}")]
    KindMismatch {
        /// Where the offending value (or operator) starts.
        at: Position,
        /// The attribute name.
        attribute: String,
        /// The declared kind.
        expected: Kind,
        /// The kind found in the expression.
        found: Kind,
    },
    /// Index building: an expression built in code is deeper than the build limit.
    #[error("expression for key {key} nests deeper than the limit of {limit}")]
    ExpressionTooDeep {
        /// The key the expression was added under.
        key: u32,
        /// The depth limit.
        limit: usize,
    },
    /// Index building: more expressions than an index can hold.
    #[error("index holds at most {limit} expressions")]
    TooManyExpressions {
        /// The limit on expressions per index.
        limit: usize,
    },
}
