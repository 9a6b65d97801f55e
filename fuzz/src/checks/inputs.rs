//! Input generators shared by several checks: targeting expressions over a chosen
//! vocabulary, and small helpers on top of [`Unstructured`].

use adloop_targeting::{Expr, Op, Value};
use arbitrary::{Result, Unstructured};

/// The words the targeting lexer reads as keywords (case-insensitively); a generated
/// attribute name must not be one of them.
const KEYWORDS: [&str; 8] = ["or", "and", "not", "in", "all", "between", "true", "false"];

/// Which attributes and values generated expressions use.
#[derive(Clone, Copy, Debug)]
pub struct Vocabulary {
    /// Fixed attribute names to pick from.
    pub attributes: &'static [&'static str],
    /// Also invent new attribute names (valid identifiers that are not keywords).
    pub invent_attributes: bool,
    /// Fixed strings to pick from.
    pub strings: &'static [&'static str],
    /// Also use arbitrary strings (any Unicode, quotes and backslashes included).
    pub wild_strings: bool,
    /// Integers are mostly drawn from `-small..=small` (plus a few extremes).
    pub small: i64,
    /// Most values in one list.
    pub max_list: usize,
    /// Deepest nesting of `and` / `or` / `not` nodes.
    pub max_depth: u32,
    /// Most children of one `and` / `or` node.
    pub max_children: usize,
}

/// The vocabulary of the differential index target: few attributes and values, so that
/// expressions and requests overlap and both matching and non-matching cases are common.
pub const NARROW: Vocabulary = Vocabulary {
    attributes: &["seg", "geo", "hour", "device", "genre"],
    invent_attributes: false,
    strings: &["US", "FR", "tv", "phone", "5", ""],
    wild_strings: false,
    small: 6,
    max_list: 5,
    max_depth: 5,
    max_children: 4,
};

/// The vocabulary of the print → parse target: invented names and arbitrary strings.
pub const WIDE: Vocabulary = Vocabulary {
    attributes: &["segment", "geo.country", "device.type", "hour", "_x9"],
    invent_attributes: true,
    strings: &["US", "a\"b", "back\\slash", "é", "", "line\nbreak"],
    wild_strings: true,
    small: 100,
    max_list: 6,
    max_depth: 8,
    max_children: 5,
};

/// An integer: usually small, sometimes an extreme of the 64-bit range.
pub fn int(u: &mut Unstructured<'_>, small: i64) -> Result<i64> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => i64::MIN,
        1 => i64::MAX,
        2 => u.arbitrary()?,
        _ => u.int_in_range(-small..=small)?,
    })
}

/// An attribute name from the vocabulary (or invented, when it allows).
pub fn attribute(u: &mut Unstructured<'_>, v: &Vocabulary) -> Result<String> {
    if v.invent_attributes && u.ratio(1u8, 4)? {
        const START: &[u8] = b"abcxyzABZ_";
        const CONT: &[u8] = b"abz09_.AZ";
        let mut name = String::new();
        name.push(char::from(*u.choose(START)?));
        for _ in 0..u.int_in_range(0..=8)? {
            name.push(char::from(*u.choose(CONT)?));
        }
        if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&name)) {
            name.push('_');
        }
        return Ok(name);
    }
    Ok((*u.choose(v.attributes)?).to_owned())
}

/// A value: an integer or a string.
pub fn value(u: &mut Unstructured<'_>, v: &Vocabulary) -> Result<Value> {
    if u.arbitrary()? {
        return Ok(Value::Int(int(u, v.small)?));
    }
    if v.wild_strings && u.ratio(1u8, 3)? {
        let s: String = u.arbitrary()?;
        return Ok(Value::Str(s.chars().take(12).collect()));
    }
    Ok(Value::Str((*u.choose(v.strings)?).to_owned()))
}

fn values(u: &mut Unstructured<'_>, v: &Vocabulary) -> Result<Vec<Value>> {
    let n = u.int_in_range(1..=v.max_list)?;
    (0..n).map(|_| value(u, v)).collect()
}

/// One predicate operator with its operands (lists are never empty: the language has no
/// empty list).
pub fn op(u: &mut Unstructured<'_>, v: &Vocabulary) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => Op::In(values(u, v)?),
        1 => Op::NotIn(values(u, v)?),
        2 => Op::All(values(u, v)?),
        3 => Op::Eq(value(u, v)?),
        4 => Op::Ne(value(u, v)?),
        5 => Op::Lt(int(u, v.small)?),
        6 => Op::Le(int(u, v.small)?),
        7 => Op::Gt(int(u, v.small)?),
        8 => Op::Ge(int(u, v.small)?),
        _ => Op::Between(int(u, v.small)?, int(u, v.small)?),
    })
}

/// An expression tree of at most `v.max_depth` levels.
pub fn expr(u: &mut Unstructured<'_>, v: &Vocabulary) -> Result<Expr> {
    expr_at(u, v, 1)
}

fn expr_at(u: &mut Unstructured<'_>, v: &Vocabulary, depth: u32) -> Result<Expr> {
    let leaf_only = depth >= v.max_depth || u.is_empty();
    let choice = if leaf_only {
        0
    } else {
        u.int_in_range(0u8..=5)?
    };
    Ok(match choice {
        0..=2 => match u.int_in_range(0u8..=15)? {
            0 => Expr::True,
            1 => Expr::False,
            _ => Expr::pred(attribute(u, v)?, op(u, v)?),
        },
        3 => Expr::Not(Box::new(expr_at(u, v, depth + 1)?)),
        kind => {
            let n = u.int_in_range(0..=v.max_children)?;
            let items = (0..n)
                .map(|_| expr_at(u, v, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            if kind == 4 {
                Expr::And(items)
            } else {
                Expr::Or(items)
            }
        }
    })
}

/// The expression the printer's output parses back to: an empty `and` / `or` is printed
/// as `true` / `false`, and a one-child `and` / `or` as its child.
pub fn canonical(e: &Expr) -> Expr {
    match e {
        Expr::And(items) | Expr::Or(items) => {
            let and = matches!(e, Expr::And(_));
            let mut items: Vec<Expr> = items.iter().map(canonical).collect();
            match items.len() {
                0 if and => Expr::True,
                0 => Expr::False,
                1 => items.pop().expect("one item"),
                _ if and => Expr::And(items),
                _ => Expr::Or(items),
            }
        }
        Expr::Not(inner) => Expr::Not(Box::new(canonical(inner))),
        other => other.clone(),
    }
}
