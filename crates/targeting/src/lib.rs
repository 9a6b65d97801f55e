//! Audience-segment matching for adloop: a small boolean targeting language and a
//! compiled index that finds every matching campaign for a request in microseconds.
//!
//! # Overview
//! - The language: `segment in (12, 40) and geo.country != "FR" or not hour between 0
//!   and 5`. [`parse`] / [`parse_with`] turn text into an [`Expr`] (with [`Limits`] on
//!   length, depth, list length and predicate count, and an optional [`Schema`]); errors
//!   are an [`Error`] carrying the line and column. `Display` on an [`Expr`] prints text
//!   that parses back to the same expression.
//! - A [`Request`] maps attributes to sets of values ([`ValueRef`]: integers or
//!   strings). It is filled per decision with `push_*` calls, by name or through a
//!   pre-resolved [`AttrSlot`], and reused with [`Request::clear`].
//! - [`Expr::matches`] is the reference evaluator: the semantics, read directly.
//! - [`Index`] compiles `(key, expression)` pairs once; [`Index::matches`] writes the
//!   matching keys (`u32`, ascending, each once) using caller-owned [`Scratch`] space.
//!
//! Keys are `u32` (the engine uses dense campaign slot numbers). Semantics: an attribute
//! the request lacks has the empty set, so `in`, `=`, `all`, comparisons and `between`
//! are false for it and their negations true; integer `5` and string `"5"` differ.
//!
//! # Example
//! ```
//! use adloop_targeting::{parse, Index, Request, Scratch};
//!
//! let campaigns = [
//!     (1, parse(r#"segment in (100, 200) and geo.country = "US""#)?),
//!     (2, parse(r#"device.type not in ("tv") and hour between 18 and 23"#)?),
//!     (3, parse("segment all (100, 300) or age >= 65")?),
//! ];
//! let index = Index::build(campaigns.iter().map(|(k, e)| (*k, e)))?;
//!
//! let mut request = Request::new();
//! request.push_int("segment", 100);
//! request.push_int("segment", 300);
//! request.push_str("geo.country", "US");
//! request.push_int("hour", 20);
//!
//! let (mut scratch, mut keys) = (Scratch::new(), Vec::new());
//! index.matches(&request, &mut scratch, &mut keys);
//! assert_eq!(keys, [1, 2, 3]);
//! assert!(campaigns[2].1.matches(&request)); // the reference evaluator agrees
//!
//! let err = parse("segment in (1, 2").unwrap_err();
//! assert_eq!(err.to_string(), "line 1, column 17: expected `,` or `)`, found end of input");
//! # Ok::<(), adloop_targeting::Error>(())
//! ```
//!
//! # Concurrency
//! [`Index`] is immutable after [`Index::build`] and `Send + Sync`: share it (in an
//! `Arc`, or inside a snapshot) across threads. Matching takes `&self` and writes only
//! to the caller's [`Scratch`] and output vector, so threads never contend; keep one
//! `Scratch` per thread. No locks, no atomics.
//!
//! # Performance
//! Expressions are normalized to at most 16 conjunctions (rows). A row with a short,
//! selective `in` list (a few segment ids, one publisher) is *anchored*: posted under
//! each value of that list and checked literal by literal, against a per-request
//! presence table, only when the request carries one of those values. Under each value
//! rows are grouped by their two most selective short `in` lists (say country and
//! device), so a request skips a whole group with three probes and sets the keys of a
//! group with nothing else to check directly: the rows a request looks at are a few
//! hundred postings instead of the whole index, even when the anchor values are
//! popular in requests. The
//! other rows are spread over per-attribute lanes, and each lane keeps, over only the
//! words where its rows live, a "satisfied when absent" bitset plus per-value postings
//! (dense and pre-folded for values many rows name, sparse lists otherwise; integer
//! ranges bucketed at their endpoints); each lane is ANDed into a result bitset.
//! Matching keys go through a key bitset that also orders and deduplicates them. The
//! two loops that fill and drain the key bitset have copies compiled for
//! BMI1/BMI2/POPCNT and for AVX-512 (with VBMI2's byte compress); with AVX-512 (F, BW
//! and VL suffice) the lane pass and the anchored check of long lists have their own
//! copies too. The best copies
//! the CPU runs are chosen once at build ([`BuildOptions::cpu_kernels`] turns them off).
//! Calling those copies, and the AVX-512 gathers, loads and block stores, are the
//! crate's only `unsafe`.
//! Expressions beyond the normalization caps are compiled into a dictionary-encoded
//! tree and evaluated exactly. Matching allocates nothing once the scratch space has
//! grown. See `docs/targeting.md` for measurements.
//!
//! # Crate features
//! None.
#![deny(missing_docs)]

mod ast;
mod error;
mod eval;
mod index;
mod parse;
mod request;
mod schema;

pub use crate::{
    ast::{Expr, Op, Predicate, Value},
    error::{Error, Kind, Position},
    index::{BuildOptions, Index, IndexStats, Scratch},
    parse::{Limits, parse, parse_with},
    request::{AttrSlot, Request, ValueRef},
    schema::Schema,
};

#[cfg(test)]
mod auto_traits {
    use super::*;

    fn assert_traits<T: Send + Sync + Unpin + std::panic::UnwindSafe>() {}

    #[test]
    fn public_types_are_send_sync_unpin() {
        assert_traits::<Expr>();
        assert_traits::<Op>();
        assert_traits::<Predicate>();
        assert_traits::<Value>();
        assert_traits::<Error>();
        assert_traits::<Kind>();
        assert_traits::<Position>();
        assert_traits::<Index>();
        assert_traits::<IndexStats>();
        assert_traits::<BuildOptions>();
        assert_traits::<Scratch>();
        assert_traits::<Limits>();
        assert_traits::<Request>();
        assert_traits::<AttrSlot>();
        assert_traits::<ValueRef<'static>>();
        assert_traits::<Schema>();
    }
}
