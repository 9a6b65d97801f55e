//! Targeting index vs reference: for arbitrary expressions and requests, the compiled
//! [`Index`] returns exactly the keys whose expression the reference evaluator
//! ([`Expr::matches`]) accepts, and that evaluator agrees with a third, plainer one
//! written here from the documented semantics.
//!
//! Two indexes are built (default options, and an arbitrary conjunction cap that sends
//! some or all expressions to the fallback evaluator) and queried through one shared
//! [`Scratch`], as a thread does across snapshot swaps.

use super::inputs::{self, NARROW};
use adloop_targeting::{BuildOptions, Expr, Index, Op, Request, Scratch, Value};
use arbitrary::{Result, Unstructured};

/// Runs the check on one fuzz input.
pub fn run(data: &[u8]) {
    let _ = check(&mut Unstructured::new(data));
}

/// A request as plain data: attribute → values, in push order (repeats allowed).
type Plain = Vec<(&'static str, Value)>;

fn plain_values<'a>(request: &'a Plain, attribute: &'a str) -> impl Iterator<Item = &'a Value> {
    request
        .iter()
        .filter(move |(a, _)| *a == attribute)
        .map(|(_, v)| v)
}

/// The semantics, read directly from the crate docs: an attribute has the set of values
/// the request pushed; a missing attribute has the empty set.
fn plain_matches(e: &Expr, r: &Plain) -> bool {
    match e {
        Expr::True => true,
        Expr::False => false,
        Expr::Not(inner) => !plain_matches(inner, r),
        Expr::And(items) => items.iter().all(|i| plain_matches(i, r)),
        Expr::Or(items) => items.iter().any(|i| plain_matches(i, r)),
        Expr::Pred(p) => {
            let has = |v: &Value| plain_values(r, &p.attribute).any(|x| x == v);
            let ints = || {
                plain_values(r, &p.attribute).filter_map(|v| match v {
                    Value::Int(i) => Some(*i),
                    Value::Str(_) => None,
                })
            };
            match &p.op {
                Op::In(vs) => vs.iter().any(has),
                Op::NotIn(vs) => !vs.iter().any(has),
                Op::All(vs) => vs.iter().all(has),
                Op::Eq(v) => has(v),
                Op::Ne(v) => !has(v),
                Op::Lt(n) => ints().any(|i| i < *n),
                Op::Le(n) => ints().any(|i| i <= *n),
                Op::Gt(n) => ints().any(|i| i > *n),
                Op::Ge(n) => ints().any(|i| i >= *n),
                Op::Between(lo, hi) => ints().any(|i| *lo <= i && i <= *hi),
            }
        }
    }
}

fn plain_request(u: &mut Unstructured<'_>) -> Result<Plain> {
    let n = u.int_in_range(0..=10)?;
    (0..n)
        .map(|_| Ok((*u.choose(NARROW.attributes)?, inputs::value(u, &NARROW)?)))
        .collect()
}

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let cap = match u.int_in_range(0u8..=3)? {
        0 => 0,
        1 => u.int_in_range(1..=4)?,
        _ => u.int_in_range(0..=80)?,
    };
    let n = u.int_in_range(0..=24)?;
    let mut pairs: Vec<(u32, Expr)> = Vec::with_capacity(n);
    for i in 0..n {
        // Mostly distinct keys; sometimes a repeat (a key matches if any of its
        // expressions does) or a large key.
        let key = match u.int_in_range(0u8..=7)? {
            0 => u.arbitrary()?,
            1 => u.int_in_range(0..=4)?,
            _ => i as u32 * 3,
        };
        pairs.push((key, inputs::expr(u, &NARROW)?));
    }
    let requests = (0..u.int_in_range(1..=6)?)
        .map(|_| plain_request(u))
        .collect::<Result<Vec<_>>>()?;

    let built = |options: &BuildOptions| {
        Index::build_with(pairs.iter().map(|(k, e)| (*k, e)), options)
            .unwrap_or_else(|err| panic!("index build failed: {err}"))
    };
    let default = built(&BuildOptions::new());
    let capped = built(&BuildOptions::new().max_conjunctions(cap));
    assert_eq!(default.len(), capped.len());

    let mut scratch = Scratch::new();
    let mut request = Request::new();
    let mut got = Vec::new();
    for plain in &requests {
        request.clear();
        for (a, v) in plain {
            request.push(a, v);
        }
        let mut want: Vec<u32> = Vec::new();
        for (key, e) in &pairs {
            let reference = e.matches(&request);
            assert_eq!(
                reference,
                plain_matches(e, plain),
                "Expr::matches disagrees with the plain semantics on `{e}` for {plain:?}"
            );
            if reference {
                want.push(*key);
            }
        }
        want.sort_unstable();
        want.dedup();
        for (name, index) in [("default", &default), ("capped", &capped)] {
            got.clear();
            got.push(u32::MAX); // matches must overwrite, not append
            index.matches(&request, &mut scratch, &mut got);
            if got != want {
                let texts: Vec<String> = pairs.iter().map(|(k, e)| format!("{k}: {e}")).collect();
                panic!(
                    "{name} index (cap {cap}) returned {got:?}, reference {want:?}\n\
                     request {plain:?}\nexpressions:\n{}",
                    texts.join("\n")
                );
            }
        }
    }
    Ok(())
}
