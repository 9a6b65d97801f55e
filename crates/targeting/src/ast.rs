//! The expression tree and its printer.

use std::fmt::{self, Write as _};

/// A value in an expression or a request: an integer or a string.
///
/// `Int(5)` and `Str("5")` are different values and never match each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// A 64-bit signed integer.
    Int(i64),
    /// A string.
    Str(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl fmt::Display for Value {
    /// Prints the value as the language writes it: integers bare, strings quoted with
    /// `"` and `\` escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Str(s) => {
                f.write_char('"')?;
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                f.write_char('"')
            }
        }
    }
}

/// The test a [`Predicate`] applies to the values a request has for its attribute.
///
/// A request maps each attribute to a set of values; an attribute the request lacks has
/// the empty set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// `attr in (v, …)`: some request value is in the list.
    In(Vec<Value>),
    /// `attr not in (v, …)`: no request value is in the list.
    NotIn(Vec<Value>),
    /// `attr all (v, …)`: every listed value is among the request's values.
    All(Vec<Value>),
    /// `attr = v`: the same as `in` with one value.
    Eq(Value),
    /// `attr != v`: the same as `not in` with one value.
    Ne(Value),
    /// `attr < n`: some integer value is less than `n`.
    Lt(i64),
    /// `attr <= n`: some integer value is at most `n`.
    Le(i64),
    /// `attr > n`: some integer value is greater than `n`.
    Gt(i64),
    /// `attr >= n`: some integer value is at least `n`.
    Ge(i64),
    /// `attr between lo and hi`: some integer value lies in `[lo, hi]`.
    Between(i64, i64),
}

/// One test on one attribute, such as `geo.country in ("US", "CA")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    /// The attribute name (case-sensitive).
    pub attribute: String,
    /// The test applied to the attribute's values.
    pub op: Op,
}

/// A targeting expression: a boolean formula over [`Predicate`]s.
///
/// Parse one with [`parse`](crate::parse); print one with `Display` (the printed text
/// parses back to the same expression); evaluate one against a request with
/// [`Expr::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// Always true.
    True,
    /// Always false.
    False,
    /// A single predicate.
    Pred(Predicate),
    /// Negation.
    Not(Box<Expr>),
    /// Conjunction; an empty conjunction is true.
    And(Vec<Expr>),
    /// Disjunction; an empty disjunction is false.
    Or(Vec<Expr>),
}

impl Expr {
    /// A predicate expression.
    pub fn pred(attribute: impl Into<String>, op: Op) -> Expr {
        Expr::Pred(Predicate {
            attribute: attribute.into(),
            op,
        })
    }

    /// How deeply the expression nests (a predicate has depth 1). Iterative, so it is
    /// safe on expressions of any depth.
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            match e {
                Expr::Not(inner) => stack.push((inner, d + 1)),
                Expr::And(items) | Expr::Or(items) => {
                    stack.extend(items.iter().map(|i| (i, d + 1)));
                }
                Expr::True | Expr::False | Expr::Pred(_) => {}
            }
        }
        max
    }

    fn write_at(&self, f: &mut fmt::Formatter<'_>, level: u8) -> fmt::Result {
        // Levels: 0 = or, 1 = and, 2 = unary. A child printed at a tighter level than
        // its own needs parentheses; same-kind children get them too, so that printing
        // and parsing again rebuilds the same tree shape.
        match self {
            Expr::True => f.write_str("true"),
            Expr::False => f.write_str("false"),
            Expr::Pred(p) => write!(f, "{p}"),
            Expr::Not(inner) => {
                f.write_str("not ")?;
                inner.write_at(f, 2)
            }
            Expr::And(items) => write_list(f, items, level, 1, " and ", "true"),
            Expr::Or(items) => write_list(f, items, level, 0, " or ", "false"),
        }
    }
}

fn write_list(
    f: &mut fmt::Formatter<'_>,
    items: &[Expr],
    level: u8,
    own: u8,
    sep: &str,
    empty: &str,
) -> fmt::Result {
    match items {
        [] => f.write_str(empty),
        [only] => only.write_at(f, level),
        _ => {
            let parens = level > own;
            if parens {
                f.write_char('(')?;
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                item.write_at(f, own + 1)?;
            }
            if parens {
                f.write_char(')')?;
            }
            Ok(())
        }
    }
}

impl fmt::Display for Expr {
    /// Prints the expression in the targeting language with the fewest parentheses that
    /// keep its shape; the result parses back to an equal expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, 0)
    }
}

fn write_values(f: &mut fmt::Formatter<'_>, values: &[Value]) -> fmt::Result {
    f.write_char('(')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_char(')')
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.attribute;
        match &self.op {
            Op::In(vs) => {
                write!(f, "{a} in ")?;
                write_values(f, vs)
            }
            Op::NotIn(vs) => {
                write!(f, "{a} not in ")?;
                write_values(f, vs)
            }
            Op::All(vs) => {
                write!(f, "{a} all ")?;
                write_values(f, vs)
            }
            Op::Eq(v) => write!(f, "{a} = {v}"),
            Op::Ne(v) => write!(f, "{a} != {v}"),
            Op::Lt(n) => write!(f, "{a} < {n}"),
            Op::Le(n) => write!(f, "{a} <= {n}"),
            Op::Gt(n) => write!(f, "{a} > {n}"),
            Op::Ge(n) => write!(f, "{a} >= {n}"),
            Op::Between(lo, hi) => write!(f, "{a} between {lo} and {hi}"),
        }
    }
}

impl serde::Serialize for Expr {
    /// Serializes as the expression's text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Expr {
    /// Deserializes from text, parsed with the default limits.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        crate::parse::parse(&text).map_err(serde::de::Error::custom)
    }
}
