//! The reference evaluator: a direct reading of the language's semantics, used by the
//! tests as the oracle for the index and by callers that test a few expressions.

use crate::{
    ast::{Expr, Op, Predicate},
    request::{Request, ValueRef},
};

impl Expr {
    /// Whether the expression is true for `request`, evaluated directly from the tree.
    ///
    /// This is the plain reference semantics: fine for a handful of expressions (such as
    /// creative-level targeting); use an [`Index`](crate::Index) for many. Recursion
    /// follows the tree, so the expression should be within the parser's depth limit.
    pub fn matches(&self, request: &Request) -> bool {
        match self {
            Expr::True => true,
            Expr::False => false,
            Expr::Pred(p) => p.matches(request),
            Expr::Not(inner) => !inner.matches(request),
            Expr::And(items) => items.iter().all(|e| e.matches(request)),
            Expr::Or(items) => items.iter().any(|e| e.matches(request)),
        }
    }
}

impl Predicate {
    /// Whether this predicate is true for `request`.
    pub fn matches(&self, request: &Request) -> bool {
        let mut values = request.values(&self.attribute);
        let some_int = |values: &mut dyn Iterator<Item = ValueRef<'_>>,
                        test: &dyn Fn(i64) -> bool| {
            values
                .filter_map(|v| {
                    if let ValueRef::Int(i) = v {
                        Some(i)
                    } else {
                        None
                    }
                })
                .any(test)
        };
        match &self.op {
            Op::In(list) => values.any(|v| list.iter().any(|l| v.equals(l))),
            Op::NotIn(list) => !values.any(|v| list.iter().any(|l| v.equals(l))),
            Op::All(list) => list
                .iter()
                .all(|l| request.values(&self.attribute).any(|v| v.equals(l))),
            Op::Eq(x) => values.any(|v| v.equals(x)),
            Op::Ne(x) => !values.any(|v| v.equals(x)),
            Op::Lt(n) => some_int(&mut values, &|i| i < *n),
            Op::Le(n) => some_int(&mut values, &|i| i <= *n),
            Op::Gt(n) => some_int(&mut values, &|i| i > *n),
            Op::Ge(n) => some_int(&mut values, &|i| i >= *n),
            Op::Between(lo, hi) => some_int(&mut values, &|i| *lo <= i && i <= *hi),
        }
    }
}
