//! Negation normal form and bounded disjunctive normal form.
//!
//! An expression becomes a list of conjunctions of literals; each literal is an atom
//! (`attr in list`, or `attr` has an integer in `[lo, hi]`) or its negation. `all`
//! becomes a conjunction of one-value `in`s, `not all` a disjunction of one-value
//! `not in`s, comparisons become ranges. An expression whose normal form would exceed
//! the conjunction cap or [`MAX_LITERALS`] gives `None` and is answered by the fallback
//! evaluator instead.

use crate::ast::{Expr, Op, Value};

/// Most conjunctions (index rows) one expression may expand into by default.
pub(crate) const DEFAULT_MAX_CONJUNCTIONS: usize = 16;
/// Ceiling on the configurable cap.
pub(crate) const MAX_CONJUNCTIONS: usize = 64;
/// Most literals one conjunction may hold.
pub(crate) const MAX_LITERALS: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Atom<'a> {
    In(&'a [Value]),
    Range(i64, i64),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Lit<'a> {
    pub(crate) attr: &'a str,
    pub(crate) negated: bool,
    pub(crate) atom: Atom<'a>,
}

pub(crate) type Conj<'a> = Vec<Lit<'a>>;

/// The expression as an OR of conjunctions (empty: never true), or `None` when over
/// the caps. The caller guarantees the depth is bounded.
pub(crate) fn to_dnf(expr: &Expr, cap: usize) -> Option<Vec<Conj<'_>>> {
    let conjs = dnf(expr, false, cap)?;
    (conjs.len() <= cap).then_some(conjs)
}

fn always(value: bool) -> Vec<Conj<'static>> {
    if value { vec![Vec::new()] } else { Vec::new() }
}

fn dnf(expr: &Expr, negated: bool, cap: usize) -> Option<Vec<Conj<'_>>> {
    match expr {
        Expr::True => Some(always(!negated)),
        Expr::False => Some(always(negated)),
        Expr::Not(inner) => dnf(inner, !negated, cap),
        Expr::And(items) if !negated => product(items, negated, cap),
        Expr::Or(items) if negated => product(items, negated, cap),
        Expr::And(items) | Expr::Or(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(dnf(item, negated, cap)?);
                if out.len() > cap {
                    return None;
                }
            }
            Some(out)
        }
        Expr::Pred(p) => {
            let attr = p.attribute.as_str();
            let lit = |neg: bool, atom| {
                Some(vec![vec![Lit {
                    attr,
                    negated: neg,
                    atom,
                }]])
            };
            let range = |lo: Option<i64>, hi: Option<i64>| match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => lit(negated, Atom::Range(lo, hi)),
                _ => Some(always(negated)),
            };
            match &p.op {
                Op::In(list) if list.is_empty() => Some(always(negated)),
                Op::NotIn(list) if list.is_empty() => Some(always(!negated)),
                Op::In(list) => lit(negated, Atom::In(list)),
                Op::NotIn(list) => lit(!negated, Atom::In(list)),
                Op::Eq(v) => lit(negated, Atom::In(std::slice::from_ref(v))),
                Op::Ne(v) => lit(!negated, Atom::In(std::slice::from_ref(v))),
                Op::All(list) if !negated => {
                    if list.len() > MAX_LITERALS {
                        return None;
                    }
                    let conj = list
                        .iter()
                        .map(|v| Lit {
                            attr,
                            negated: false,
                            atom: Atom::In(std::slice::from_ref(v)),
                        })
                        .collect();
                    Some(vec![conj])
                }
                Op::All(list) => {
                    if list.len() > cap {
                        return None;
                    }
                    // An empty `all` is true, so its negation is false: no conjunctions.
                    Some(
                        list.iter()
                            .map(|v| {
                                vec![Lit {
                                    attr,
                                    negated: true,
                                    atom: Atom::In(std::slice::from_ref(v)),
                                }]
                            })
                            .collect(),
                    )
                }
                Op::Lt(n) => range(Some(i64::MIN), n.checked_sub(1)),
                Op::Le(n) => range(Some(i64::MIN), Some(*n)),
                Op::Gt(n) => range(n.checked_add(1), Some(i64::MAX)),
                Op::Ge(n) => range(Some(*n), Some(i64::MAX)),
                Op::Between(lo, hi) => range(Some(*lo), Some(*hi)),
            }
        }
    }
}

fn product(items: &[Expr], negated: bool, cap: usize) -> Option<Vec<Conj<'_>>> {
    let mut acc: Vec<Conj<'_>> = vec![Vec::new()];
    for item in items {
        let d = dnf(item, negated, cap)?;
        if d.is_empty() {
            return Some(Vec::new());
        }
        if acc.len().saturating_mul(d.len()) > cap {
            return None;
        }
        let mut next = Vec::with_capacity(acc.len() * d.len());
        for a in &acc {
            for b in &d {
                if a.len() + b.len() > MAX_LITERALS {
                    return None;
                }
                let mut c = a.clone();
                c.extend_from_slice(b);
                next.push(c);
            }
        }
        acc = next;
    }
    Some(acc)
}
