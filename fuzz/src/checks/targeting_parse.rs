//! Targeting language: the parser never panics on any text, respects every limit it is
//! given, validates against a schema, and printing round-trips.
//!
//! The first input byte picks the mode:
//! - text: the rest is UTF-8 text, parsed with default and with arbitrary small limits;
//! - tree: an expression tree is generated, printed and parsed back.

use super::inputs::{self, WIDE};
use adloop_targeting::{Error, Expr, Kind, Limits, Op, Schema, Value, parse, parse_with};
use arbitrary::{Result, Unstructured};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            check_text(text, rest);
        }
    } else {
        let _ = check_tree(&mut Unstructured::new(rest));
    }
}

/// Counts predicates and the longest value list.
fn shape(e: &Expr) -> (usize, usize) {
    let (mut predicates, mut longest) = (0, 0);
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Pred(p) => {
                predicates += 1;
                if let Op::In(vs) | Op::NotIn(vs) | Op::All(vs) = &p.op {
                    longest = longest.max(vs.len());
                }
            }
            Expr::Not(inner) => stack.push(inner),
            Expr::And(items) | Expr::Or(items) => stack.extend(items),
            Expr::True | Expr::False => {}
        }
    }
    (predicates, longest)
}

fn assert_round_trip(e: &Expr, origin: &str) {
    let printed = e.to_string();
    match parse(&printed) {
        Ok(again) => {
            assert_eq!(
                &again, e,
                "{origin} printed as {printed:?} parsed differently"
            );
            assert_eq!(again.to_string(), printed, "printing is not stable");
        }
        Err(err) => panic!("{origin} printed as {printed:?} does not parse: {err}"),
    }
}

fn check_text(text: &str, raw: &[u8]) {
    if let Ok(e) = parse(text) {
        assert_round_trip(&e, &format!("{text:?}"));
        // Printing never needs more nesting, predicates or values than the source had.
        let depth = printed_nesting(&e, 0);
        if depth > 0 {
            let shallower = Limits {
                max_depth: depth - 1,
                ..Limits::default()
            };
            assert!(
                matches!(
                    parse_with(text, &shallower, None),
                    Err(Error::TooDeep { .. })
                ),
                "{text:?} parsed with less nesting than its printed form needs"
            );
        }
        assert_limits_are_exact(&e);
    }

    // Arbitrary small limits, chosen from the tail of the input.
    let mut u = Unstructured::new(raw.get(raw.len().saturating_sub(4)..).unwrap_or(&[]));
    let limits = Limits {
        max_text_bytes: usize::from(u.arbitrary::<u8>().unwrap_or(255)) * 4,
        max_depth: usize::from(u.arbitrary::<u8>().unwrap_or(8) % 12),
        max_list_len: usize::from(u.arbitrary::<u8>().unwrap_or(8) % 8),
        max_predicates: usize::from(u.arbitrary::<u8>().unwrap_or(8) % 16),
    };
    match parse_with(text, &limits, None) {
        Ok(e) => {
            assert!(text.len() <= limits.max_text_bytes, "text limit ignored");
            let (predicates, longest) = shape(&e);
            assert!(
                predicates <= limits.max_predicates,
                "{text:?}: predicate limit ignored"
            );
            assert!(
                longest <= limits.max_list_len,
                "{text:?}: list limit ignored"
            );
            assert!(
                printed_nesting(&e, 0) <= limits.max_depth,
                "{text:?}: depth limit {} ignored",
                limits.max_depth
            );
            // Each level of nesting adds at most `or`, `and` and `not` / `(` nodes.
            assert!(
                e.depth() <= 3 * limits.max_depth + 3,
                "{text:?}: tree too deep"
            );
            assert_eq!(parse(text).as_ref(), Ok(&e), "limits changed the result");
        }
        Err(Error::TextTooLong { length, limit }) => {
            assert_eq!((length, limit), (text.len(), limits.max_text_bytes));
            assert!(length > limit);
        }
        Err(_) => {}
    }

    // A schema: whatever parses obeys it.
    let schema = Schema::new()
        .with("segment", Kind::Int)
        .with("hour", Kind::Int)
        .with("geo.country", Kind::Str)
        .with("device.type", Kind::Str)
        .with("tag", Kind::Any);
    if let Ok(e) = parse_with(text, &Limits::default(), Some(&schema)) {
        assert_eq!(parse(text).as_ref(), Ok(&e), "schema changed the result");
        obeys_schema(&e, &schema, text);
    }
}

fn obeys_schema(e: &Expr, schema: &Schema, text: &str) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Pred(p) => {
                let kind = schema.kind(&p.attribute);
                assert!(
                    kind.is_some(),
                    "{text:?}: undeclared attribute {:?}",
                    p.attribute
                );
                let int_only = matches!(
                    p.op,
                    Op::Lt(_) | Op::Le(_) | Op::Gt(_) | Op::Ge(_) | Op::Between(..)
                );
                let values: &[Value] = match &p.op {
                    Op::In(vs) | Op::NotIn(vs) | Op::All(vs) => vs,
                    Op::Eq(v) | Op::Ne(v) => std::slice::from_ref(v),
                    _ => &[],
                };
                match kind {
                    Some(Kind::Int) => {
                        assert!(
                            values.iter().all(|v| matches!(v, Value::Int(_))),
                            "{text:?}"
                        );
                    }
                    Some(Kind::Str) => {
                        assert!(!int_only, "{text:?}: comparison on a string attribute");
                        assert!(
                            values.iter().all(|v| matches!(v, Value::Str(_))),
                            "{text:?}"
                        );
                    }
                    _ => {}
                }
            }
            Expr::Not(inner) => stack.push(inner),
            Expr::And(items) | Expr::Or(items) => stack.extend(items),
            Expr::True | Expr::False => {}
        }
    }
}

/// How deeply the printed form of `e` nests `not` and `(` tokens, as the parser counts
/// depth: it mirrors the printer, which writes the fewest parentheses that keep the shape.
fn printed_nesting(e: &Expr, level: u8) -> usize {
    match e {
        Expr::True | Expr::False | Expr::Pred(_) => 0,
        Expr::Not(inner) => 1 + printed_nesting(inner, 2),
        Expr::And(items) | Expr::Or(items) => {
            let own = u8::from(matches!(e, Expr::And(_)));
            match items.as_slice() {
                [] => 0,
                [only] => printed_nesting(only, level),
                _ => {
                    let inner = items.iter().map(|i| printed_nesting(i, own + 1)).max();
                    usize::from(level > own) + inner.unwrap_or(0)
                }
            }
        }
    }
}

/// The printed form of `e` parses under limits exactly as tight as its shape, and fails
/// with the matching error when any one of them is one less.
fn assert_limits_are_exact(e: &Expr) {
    let printed = e.to_string();
    let (predicates, longest) = shape(e);
    let depth = printed_nesting(e, 0);
    let tight = Limits {
        max_text_bytes: printed.len(),
        max_depth: depth,
        max_list_len: longest,
        max_predicates: predicates,
    };
    match parse_with(&printed, &tight, None) {
        Ok(again) => assert_eq!(&again, e, "{printed:?} under tight limits"),
        Err(err) => panic!("{printed:?} fails under limits of its own shape {tight:?}: {err}"),
    }
    let fails = |limits: Limits, ok: fn(&Error) -> bool| match parse_with(&printed, &limits, None) {
        Err(err) => assert!(
            ok(&err),
            "{printed:?} under {limits:?}: unexpected error {err}"
        ),
        Ok(_) => panic!("{printed:?} parsed under {limits:?}, past a limit"),
    };
    if depth > 0 && depth <= 256 {
        fails(
            Limits {
                max_depth: depth - 1,
                ..tight
            },
            |e| matches!(e, Error::TooDeep { .. }),
        );
    }
    if longest > 0 {
        fails(
            Limits {
                max_list_len: longest - 1,
                ..tight
            },
            |e| matches!(e, Error::ListTooLong { .. }),
        );
    }
    if predicates > 0 {
        fails(
            Limits {
                max_predicates: predicates - 1,
                ..tight
            },
            |e| matches!(e, Error::TooManyPredicates { .. }),
        );
    }
    fails(
        Limits {
            max_text_bytes: printed.len().wrapping_sub(1),
            ..tight
        },
        |e| matches!(e, Error::TextTooLong { .. }),
    );
}

fn check_tree(u: &mut Unstructured<'_>) -> Result<()> {
    let e = inputs::expr(u, &WIDE)?;
    let want = inputs::canonical(&e);
    let printed = e.to_string();
    match parse(&printed) {
        Ok(got) => assert_eq!(got, want, "{e:?} printed as {printed:?}"),
        Err(err) => panic!("{e:?} printed as {printed:?} does not parse: {err}"),
    }
    assert_round_trip(&want, &format!("{want:?}"));
    if printed.len() < 4096 {
        assert_limits_are_exact(&want);
    }
    Ok(())
}
