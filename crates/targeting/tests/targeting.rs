//! Public-API tests: the index against the reference evaluator, the printer against the
//! parser, and the contract's semantics on hand-written cases.

use adloop_targeting::{BuildOptions, Error, Expr, Index, Op, Request, Scratch, Value, parse};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng, rngs::StdRng};

const ATTRS: [&str; 5] = ["seg", "geo.c", "n", "hour", "dev_type"];

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..12).prop_map(Value::Int),
        2 => prop::sample::select(vec!["a", "b", "c", "q\"x", "5", "\\"]).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::Int),
    ]
}

fn list() -> impl Strategy<Value = Vec<Value>> {
    prop_oneof![
        6 => prop::collection::vec(value(), 1..5),
        1 => (300usize..2000, 0i64..4).prop_map(|(n, off)| (0..n as i64).map(|i| Value::Int(i * 3 + off)).collect()),
    ]
}

fn bound() -> impl Strategy<Value = i64> {
    prop_oneof![8 => -2i64..14, 1 => Just(i64::MIN), 1 => Just(i64::MAX)]
}

fn predicate() -> impl Strategy<Value = Expr> {
    let op = prop_oneof![
        3 => list().prop_map(Op::In),
        2 => list().prop_map(Op::NotIn),
        1 => prop::collection::vec(value(), 1..4).prop_map(Op::All),
        1 => value().prop_map(Op::Eq),
        1 => value().prop_map(Op::Ne),
        1 => bound().prop_map(Op::Lt),
        1 => bound().prop_map(Op::Le),
        1 => bound().prop_map(Op::Gt),
        1 => bound().prop_map(Op::Ge),
        2 => (bound(), bound()).prop_map(|(a, b)| Op::Between(a, b)),
    ];
    (prop::sample::select(ATTRS.to_vec()), op).prop_map(|(a, op)| Expr::pred(a, op))
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![20 => predicate(), 1 => Just(Expr::True), 1 => Just(Expr::False)];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            3 => prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
            2 => prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

fn request() -> impl Strategy<Value = Request> {
    let attr_values = prop::option::weighted(0.7, prop::collection::vec(value(), 0..6));
    prop::collection::vec(attr_values, ATTRS.len()).prop_map(|per_attr| {
        let mut req = Request::new();
        for (name, values) in ATTRS.iter().zip(per_attr) {
            for v in values.into_iter().flatten() {
                req.push(name, &v);
            }
        }
        req
    })
}

/// `attr in (100, …, 299)`: 200 more distinct values for the attribute's dictionary.
fn filler(attr: &str) -> Expr {
    Expr::pred(attr, Op::In((100..300).map(Value::Int).collect()))
}

fn reference(pairs: &[(u32, Expr)], req: &Request) -> Vec<u32> {
    let mut keys: Vec<u32> = pairs
        .iter()
        .filter(|(_, e)| e.matches(req))
        .map(|(k, _)| *k)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_reference(
        exprs in prop::collection::vec((0u32..40, expr()), 0..40),
        requests in prop::collection::vec(request(), 1..8),
        wide_dictionaries in any::<bool>(),
    ) {
        let mut exprs = exprs;
        if wide_dictionaries {
            // Many distinct values per attribute make short `in` lists selective, so the
            // default options anchor them.
            exprs.extend(ATTRS.iter().map(|a| (41, filler(a))));
        }
        let pairs = || exprs.iter().map(|(k, e)| (*k, e));
        let index = Index::build(pairs()).unwrap();
        let scan = Index::build_with(pairs(), &BuildOptions::new().max_conjunctions(0)).unwrap();
        let bitset_only =
            Index::build_with(pairs(), &BuildOptions::new().anchor_threshold_ppm(0)).unwrap();
        let all_anchored =
            Index::build_with(pairs(), &BuildOptions::new().anchor_threshold_ppm(1_000_000))
                .unwrap();
        let portable = Index::build_with(pairs(), &BuildOptions::new().cpu_kernels(false)).unwrap();
        let (mut scratch, mut out) = (Scratch::new(), Vec::new());
        for req in &requests {
            let want = reference(&exprs, req);
            for ix in [&index, &scan, &bitset_only, &all_anchored, &portable] {
                ix.matches(req, &mut scratch, &mut out);
                prop_assert_eq!(&out, &want);
            }
        }
    }

    #[test]
    fn print_then_parse_is_identity(e in expr()) {
        let text = e.to_string();
        prop_assert_eq!(parse(&text).unwrap(), e);
    }

    #[test]
    fn parser_never_panics(text in "[a-z ()=!<>,\"\\\\0-9.-]{0,60}") {
        let _ = parse(&text);
    }
}

/// A larger seeded workload: lanes span many words, so sparse and dense postings,
/// multi-word runs, multi-row keys and the fallback all take part.
#[test]
fn index_equals_reference_on_a_seeded_workload() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut pairs = Vec::new();
    for i in 0..2500u32 {
        let mut parts = Vec::new();
        for _ in 0..rng.random_range(1..5) {
            let attr = ATTRS[rng.random_range(0..ATTRS.len())];
            let neg = if rng.random_range(0..10) == 0 {
                "not "
            } else {
                ""
            };
            let p = match rng.random_range(0..6) {
                0 | 1 => {
                    let n = if rng.random_range(0..20) == 0 {
                        500
                    } else {
                        rng.random_range(1..6)
                    };
                    let vals: Vec<String> = (0..n)
                        .map(|_| rng.random_range(0..60).to_string())
                        .collect();
                    format!("{attr} in ({})", vals.join(", "))
                }
                2 => format!(
                    "{attr} not in ({}, {})",
                    rng.random_range(0..60),
                    rng.random_range(0..60)
                ),
                3 => format!(
                    "{attr} all ({}, {})",
                    rng.random_range(0..8),
                    rng.random_range(0..8)
                ),
                4 => {
                    let lo = rng.random_range(0..60);
                    format!("{attr} between {lo} and {}", lo + rng.random_range(0..20))
                }
                _ => format!(
                    "({attr} = {} or {attr} >= {} or {attr} = \"s{}\")",
                    rng.random_range(0..60),
                    rng.random_range(40..60),
                    rng.random_range(0..3)
                ),
            };
            parts.push(format!("{neg}{p}"));
        }
        let text = parts.join(if rng.random_range(0..8) == 0 {
            " or "
        } else {
            " and "
        });
        pairs.push((i % 2000, parse(&text).unwrap()));
    }
    // 1/50: one-value lists over these ~60-value dictionaries are anchored, longer
    // ones stay in the bitset lanes.
    let index = Index::build_with(
        pairs.iter().map(|(k, e)| (*k, e)),
        &BuildOptions::new().anchor_threshold_ppm(20_000),
    )
    .unwrap();
    let stats = index.stats();
    assert!(stats.fallback_expressions > 0, "{stats:?}");
    assert!(
        stats.anchored_rows > 0 && stats.anchored_rows < stats.rows,
        "both partitions should take part: {stats:?}"
    );
    let all_anchored = Index::build_with(
        pairs.iter().map(|(k, e)| (*k, e)),
        &BuildOptions::new().anchor_threshold_ppm(1_000_000),
    )
    .unwrap();
    let default = Index::build(pairs.iter().map(|(k, e)| (*k, e))).unwrap();
    let mut other = Vec::new();
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    let mut req = Request::new();
    let mut total = 0;
    for _ in 0..150 {
        req.clear();
        for attr in ATTRS {
            for _ in 0..rng.random_range(0..8) {
                if rng.random_range(0..10) == 0 {
                    req.push_str(attr, &format!("s{}", rng.random_range(0..3)));
                } else {
                    req.push_int(attr, rng.random_range(0..60));
                }
            }
        }
        index.matches(&req, &mut scratch, &mut out);
        let want = reference(&pairs, &req);
        assert_eq!(out, want);
        for ix in [&all_anchored, &default] {
            ix.matches(&req, &mut scratch, &mut other);
            assert_eq!(other, want);
        }
        total += out.len();
    }
    assert!(total > 150, "workload should match something: {total}");
}

/// Bitset lanes over few values: many rows, so lanes of rarely used attributes fall in
/// runs a few words apart that the index joins, and requests carry several values per
/// attribute, so dense postings are ORed one to several at a time. Keys consecutive
/// and not (the emission's two paths).
#[test]
fn index_equals_reference_on_joined_runs_and_multi_value_lanes() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut texts = Vec::new();
    for _ in 0..3000 {
        let mut parts = Vec::new();
        for attr in ATTRS {
            if rng.random_range(0..3) != 0 {
                continue;
            }
            let domain = if attr == "seg" { 200 } else { 5 };
            let vals: Vec<String> = (0..rng.random_range(1..4))
                .map(|_| rng.random_range(0..domain).to_string())
                .collect();
            let not = if rng.random_range(0..8) == 0 {
                "not "
            } else {
                ""
            };
            parts.push(format!("{attr} {not}in ({})", vals.join(", ")));
        }
        if parts.is_empty() {
            parts.push("n in (1)".to_owned());
        }
        texts.push(parts.join(" and "));
    }
    let exprs: Vec<Expr> = texts.iter().map(|t| parse(t).unwrap()).collect();
    for step in [1u32, 3] {
        let pairs: Vec<(u32, Expr)> = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u32 * step + 5, e.clone()))
            .collect();
        let bitset_only = Index::build_with(
            pairs.iter().map(|(k, e)| (*k, e)),
            &BuildOptions::new().anchor_threshold_ppm(0),
        )
        .unwrap();
        let default = Index::build(pairs.iter().map(|(k, e)| (*k, e))).unwrap();
        // The same index with its inner loops compiled for the baseline only: the
        // CPU-specific copies (AVX-512 or BMI where the CPU has them) must agree.
        let portable = Index::build_with(
            pairs.iter().map(|(k, e)| (*k, e)),
            &BuildOptions::new().cpu_kernels(false),
        )
        .unwrap();
        assert_eq!(portable.stats().kernels, "portable");
        let (mut scratch, mut out) = (Scratch::new(), Vec::new());
        let mut req = Request::new();
        let mut total = 0;
        for _ in 0..60 {
            req.clear();
            for attr in ATTRS {
                let domain = if attr == "seg" { 200 } else { 5 };
                for _ in 0..rng.random_range(0..6) {
                    req.push_int(attr, rng.random_range(0..domain));
                }
            }
            let want = reference(&pairs, &req);
            for ix in [&bitset_only, &default, &portable] {
                ix.matches(&req, &mut scratch, &mut out);
                assert_eq!(out, want);
            }
            total += want.len();
        }
        assert!(total > 60, "workload should match something: {total}");
    }
}

#[test]
fn absent_attributes_follow_the_contract() {
    let req = Request::new();
    for (text, want) in [
        ("a in (1)", false),
        ("a = 1", false),
        ("a all (1)", false),
        ("a < 5", false),
        ("a between 0 and 9", false),
        ("a not in (1)", true),
        ("a != 1", true),
        ("not a all (1)", true),
        ("not a >= 0", true),
    ] {
        let e = parse(text).unwrap();
        assert_eq!(e.matches(&req), want, "{text}");
        let index = Index::build([(3, &e)]).unwrap();
        let mut out = Vec::new();
        index.matches(&req, &mut Scratch::new(), &mut out);
        assert_eq!(out.is_empty(), !want, "{text}");
    }
}

#[test]
fn ints_and_strings_are_different_values() {
    let mut req = Request::new();
    req.push_str("a", "5");
    assert!(!parse("a = 5").unwrap().matches(&req));
    assert!(parse("a = \"5\"").unwrap().matches(&req));
    assert!(!parse("a > 1").unwrap().matches(&req));
}

#[test]
fn multi_valued_semantics() {
    let mut req = Request::new();
    for s in [3, 9, 40] {
        req.push_int("seg", s);
    }
    let yes = [
        "seg in (1, 9)",
        "seg all (3, 40)",
        "seg > 39 and seg < 4",
        "seg between 5 and 10",
        "seg not in (1, 2)",
    ];
    let no = [
        "seg all (3, 4)",
        "seg not in (40)",
        "seg between 10 and 39",
        "seg != 3",
    ];
    let exprs: Vec<Expr> = yes.iter().chain(&no).map(|t| parse(t).unwrap()).collect();
    let index = Index::build(exprs.iter().enumerate().map(|(i, e)| (i as u32, e))).unwrap();
    let mut out = Vec::new();
    index.matches(&req, &mut Scratch::new(), &mut out);
    assert_eq!(out, (0..yes.len() as u32).collect::<Vec<_>>());
}

#[test]
fn keys_come_out_ascending_and_once() {
    let e1 = parse("a = 1 or b = 1").unwrap();
    let e2 = parse("true").unwrap();
    let index = Index::build([(900, &e1), (7, &e2), (900, &e2), (u32::MAX, &e1)]).unwrap();
    let mut req = Request::new();
    req.push_int("a", 1);
    req.push_int("b", 1);
    let mut out = Vec::new();
    index.matches(&req, &mut Scratch::new(), &mut out);
    assert_eq!(out, [7, 900, u32::MAX]);
}

#[test]
fn hard_expressions_go_to_the_fallback_and_stay_exact() {
    // 5^4 conjunctions: far past the normal-form cap.
    let wide = parse(
        "(a = 1 or b = 1 or c = 1 or d = 1 or e = 1) and (a = 2 or b = 2 or c = 2 or d = 2 or e = 2) \
         and (a = 3 or b = 3 or c = 3 or d = 3 or e = 3) and (a = 4 or b = 4 or c = 4 or d = 4 or e = 4)",
    )
    .unwrap();
    let not_all = parse(&format!(
        "not s all ({})",
        (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    ))
    .unwrap();
    let index = Index::build([(1, &wide), (2, &not_all)]).unwrap();
    assert_eq!(index.stats().fallback_expressions, 2);
    let mut req = Request::new();
    for (a, v) in [("a", 1), ("b", 2), ("c", 3), ("e", 4)] {
        req.push_int(a, v);
    }
    let mut out = Vec::new();
    let mut scratch = Scratch::new();
    index.matches(&req, &mut scratch, &mut out);
    assert_eq!(out, [1, 2]);
    for i in 0..100 {
        req.push_int("s", i);
    }
    req.push_int("d", 9);
    index.matches(&req, &mut scratch, &mut out);
    assert_eq!(out, [1]);
}

#[test]
fn deep_expressions_built_in_code_are_rejected_not_overflowed() {
    let mut e = Expr::True;
    for _ in 0..300 {
        e = Expr::Not(Box::new(e));
    }
    let err = Index::build([(4, &e)]).unwrap_err();
    assert_eq!(err, Error::ExpressionTooDeep { key: 4, limit: 256 });
    assert_eq!(
        err.to_string(),
        "expression for key 4 nests deeper than the limit of 256"
    );
}

#[test]
fn request_reuse_and_slots() {
    let mut req = Request::new();
    let seg = req.slot("segment");
    assert_eq!(req.slot("segment"), seg);
    req.push_int_at(seg, 4);
    req.push_str("segment", "x");
    let got: Vec<String> = req.values("segment").map(|v| v.to_string()).collect();
    assert_eq!(got, ["4", "\"x\""]);
    req.clear();
    assert_eq!(req.values("segment").count(), 0);
    assert_eq!(req.attributes().count(), 0);
    assert_eq!(req.slot("segment"), seg);
}

#[test]
fn one_scratch_serves_indexes_of_any_size() {
    let small = parse("a = 1").unwrap();
    let exprs: Vec<Expr> = (0..500)
        .map(|i| parse(&format!("a = {}", i % 3)).unwrap())
        .collect();
    let big = Index::build(exprs.iter().enumerate().map(|(i, e)| (i as u32 * 2, e))).unwrap();
    let little = Index::build([(5, &small)]).unwrap();
    let mut req = Request::new();
    req.push_int("a", 1);
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    big.matches(&req, &mut scratch, &mut out);
    assert_eq!(out.len(), 167);
    little.matches(&req, &mut scratch, &mut out);
    assert_eq!(out, [5]);
    big.matches(&req, &mut scratch, &mut out);
    assert_eq!(out.len(), 167);
}

#[test]
fn expressions_serialize_as_text() {
    let e = parse("a in (1, \"x\") and not b > 2").unwrap();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(json, r#""a in (1, \"x\") and not b > 2""#);
    assert_eq!(serde_json::from_str::<Expr>(&json).unwrap(), e);
    let bad = serde_json::from_str::<Expr>(r#""a in (""#).unwrap_err();
    assert!(bad.to_string().contains("line 1, column 7"), "{bad}");
}

/// The engine's workload shape (`segment in (3 ids) and country = C and device in (d,
/// d + 1)`), over small domains so that many conjunctions share an anchor value and
/// gate: gated groups of one and of many conjunctions, with and without checks left
/// after the gate (an extra literal, sometimes negated), one- and two-value gates.
#[test]
fn gated_anchor_groups_equal_reference() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut pairs = Vec::new();
    for i in 0..3000u32 {
        let segs: Vec<String> = (0..rng.random_range(1..4))
            .map(|_| {
                let u: f64 = rng.random();
                ((u * u) * 400.0) as i64
            })
            .map(|s| s.to_string())
            .collect();
        let d = rng.random_range(0..4);
        let mut text = format!(
            "seg in ({}) and geo.c = \"c{}\" and dev_type in ({d}, {})",
            segs.join(", "),
            rng.random_range(0..4),
            (d + 1) % 4
        );
        match rng.random_range(0..6) {
            0 => text.push_str(&format!(
                " and hour between {} and 20",
                rng.random_range(0..12)
            )),
            1 => text.push_str(&format!(" and n not in ({})", rng.random_range(0..3))),
            2 => text = text.replace(" and geo.c", " and not geo.c"),
            3 => text.push_str(&format!(" and n = {}", rng.random_range(0..3))),
            _ => {}
        }
        pairs.push((i % 2500, parse(&text).unwrap()));
    }
    let index = Index::build(pairs.iter().map(|(k, e)| (*k, e))).unwrap();
    assert!(index.stats().anchored_rows > 2000, "{:?}", index.stats());
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    let mut req = Request::new();
    let mut total = 0;
    for _ in 0..200 {
        req.clear();
        for _ in 0..rng.random_range(0..30) {
            let u: f64 = rng.random();
            req.push_int("seg", ((u * u) * 400.0) as i64);
        }
        for _ in 0..rng.random_range(0..3) {
            req.push_str("geo.c", &format!("c{}", rng.random_range(0..4)));
        }
        for _ in 0..rng.random_range(0..3) {
            req.push_int("dev_type", rng.random_range(0..4));
        }
        req.push_int("hour", rng.random_range(0..24));
        req.push_int("n", rng.random_range(0..3));
        index.matches(&req, &mut scratch, &mut out);
        assert_eq!(out, reference(&pairs, &req));
        total += out.len();
    }
    assert!(total > 200, "workload should match something: {total}");
}

/// Anchored rows whose bodies end in long `in` lists (some negated), with requests
/// that reach hundreds of bodies: exact through both list tests, the binary search
/// (few request values) and the presence scan (many).
#[test]
fn blocked_anchored_checks_with_long_lists_equal_reference() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut pairs = Vec::new();
    for i in 0..4000u32 {
        let segs: Vec<String> = (0..rng.random_range(5..80))
            .map(|_| rng.random_range(0..400).to_string())
            .collect();
        let neg = if rng.random_range(0..5) == 0 {
            "not "
        } else {
            ""
        };
        let mut text = format!(
            "site = {} and seg {neg}in ({})",
            rng.random_range(0..3000),
            segs.join(", ")
        );
        if rng.random_range(0..3) == 0 {
            text.push_str(&format!(" and n in ({}, {})", rng.random_range(0..4), 4));
        }
        if rng.random_range(0..3) == 0 {
            text.push_str(&format!(
                " and hour between {} and 20",
                rng.random_range(0..12)
            ));
        }
        pairs.push((i, parse(&text).unwrap()));
    }
    let index = Index::build(pairs.iter().map(|(k, e)| (*k, e))).unwrap();
    assert!(index.stats().anchored_rows > 3000, "{:?}", index.stats());
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    let mut req = Request::new();
    let mut total = 0;
    for _ in 0..100 {
        req.clear();
        for _ in 0..rng.random_range(100..400) {
            req.push_int("site", rng.random_range(0..3000));
        }
        // Few segments: lists are binary-searched; many: scanned.
        let segs = if rng.random() { 1..6 } else { 30..120 };
        for _ in 0..rng.random_range(segs) {
            req.push_int("seg", rng.random_range(0..400));
        }
        req.push_int("n", rng.random_range(0..5));
        req.push_int("hour", rng.random_range(0..24));
        index.matches(&req, &mut scratch, &mut out);
        assert_eq!(out, reference(&pairs, &req));
        total += out.len();
    }
    assert!(total > 100, "workload should match something: {total}");
}

/// One scratch serving two indexes whose attribute ids differ, and requests of
/// different shapes: the scratch's cached attribute lookups never mislead.
#[test]
fn scratch_shared_across_indexes_and_request_shapes() {
    let a = parse(r#"seg in (1) and geo.c = "x""#).unwrap();
    let b = parse(r#"geo.c = "x" and n = 3"#).unwrap();
    let first = Index::build([(1, &a)]).unwrap();
    let second = Index::build([(2, &b)]).unwrap();
    let mut one = Request::new();
    one.push_int("seg", 1);
    one.push_str("geo.c", "x");
    one.push_int("n", 3);
    let mut other = Request::new();
    other.push_int("n", 3);
    other.push_str("geo.c", "x");
    other.push_int("seg", 1);
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    for _ in 0..2 {
        for req in [&one, &other] {
            first.matches(req, &mut scratch, &mut out);
            assert_eq!(out, [1]);
            second.matches(req, &mut scratch, &mut out);
            assert_eq!(out, [2]);
        }
    }
}

/// One scratch serving a small index, then a larger one: the small index's row-to-key
/// step parks bits past its last key word (in a word the larger index uses for real
/// keys), which must not leak into the larger index's answers.
#[test]
fn scratch_shared_by_a_small_and_a_large_index() {
    let hit = parse("n in (1) and seg not in (9)").unwrap();
    let miss = parse("n in (2) and seg not in (9)").unwrap();
    let small: Vec<(u32, Expr)> = (0..10).map(|k| (k, hit.clone())).collect();
    let large: Vec<(u32, Expr)> = (0..1000)
        .map(|k| {
            (
                k,
                if k % 100 == 99 {
                    hit.clone()
                } else {
                    miss.clone()
                },
            )
        })
        .collect();
    let small_ix = Index::build(small.iter().map(|(k, e)| (*k, e))).unwrap();
    let large_ix = Index::build(large.iter().map(|(k, e)| (*k, e))).unwrap();
    let mut req = Request::new();
    req.push_int("n", 1);
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    large_ix.matches(&req, &mut scratch, &mut out);
    assert_eq!(out, reference(&large, &req));
    for _ in 0..3 {
        small_ix.matches(&req, &mut scratch, &mut out);
        assert_eq!(out, reference(&small, &req));
        large_ix.matches(&req, &mut scratch, &mut out);
        assert_eq!(out, reference(&large, &req));
    }
}

/// Builds `(key, expression)` pairs from texts numbered from 0.
fn numbered(texts: &[String]) -> Vec<(u32, Expr)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32, parse(t).unwrap()))
        .collect()
}

/// The default index and one built with `cpu_kernels(false)`, from the same pairs.
fn default_and_portable(pairs: &[(u32, Expr)]) -> (Index, Index) {
    let index = Index::build(pairs.iter().map(|(k, e)| (*k, e))).unwrap();
    let portable = Index::build_with(
        pairs.iter().map(|(k, e)| (*k, e)),
        &BuildOptions::new().cpu_kernels(false),
    )
    .unwrap();
    (index, portable)
}

/// Matches `requests` with every index and compares each answer with the reference.
fn assert_all_agree(pairs: &[(u32, Expr)], indexes: &[&Index], requests: &[Request]) -> usize {
    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    let mut total = 0;
    for req in requests {
        let want = reference(pairs, req);
        for ix in indexes {
            ix.matches(req, &mut scratch, &mut out);
            assert_eq!(out, want);
        }
        total += want.len();
    }
    total
}

/// Anchored rows whose bodies hold `in` lists of 16-100 ids, checked against requests
/// of 1-8 values: the lists the AVX-512 copy scans 16 ids per gather (a very selective
/// anchor, one of 1,000 countries, keeps them anchored despite their long lists).
#[test]
fn anchored_rows_with_long_lists_equal_reference() {
    let mut rng = StdRng::seed_from_u64(23);
    let texts: Vec<String> = (0..1500)
        .map(|_| {
            let ids: Vec<String> = (0..rng.random_range(16..100))
                .map(|_| rng.random_range(0..400).to_string())
                .collect();
            let not = if rng.random_range(0..6) == 0 {
                "not "
            } else {
                ""
            };
            format!(
                "geo.c = {} and seg {not}in ({})",
                rng.random_range(0..1000),
                ids.join(", ")
            )
        })
        .collect();
    let pairs = numbered(&texts);
    let (index, portable) = default_and_portable(&pairs);
    assert!(index.stats().anchored_rows > 1000, "{:?}", index.stats());
    let requests: Vec<Request> = (0..300)
        .map(|_| {
            let mut req = Request::new();
            // Countries from a small range, so requests hit anchored rows often.
            req.push_int("geo.c", rng.random_range(0..20));
            for _ in 0..rng.random_range(1..9) {
                req.push_int("seg", rng.random_range(0..400));
            }
            req
        })
        .collect();
    let total = assert_all_agree(&pairs, &[&index, &portable], &requests);
    assert!(total > 50, "the workload should match something: {total}");
}

/// A bitset partition of more than 8,192 rows: with AVX-512 the index takes the
/// costlier anchored rows into it (a lower cap than the other copies); the answers must
/// not change.
#[test]
fn a_large_bitset_partition_takes_costly_anchored_rows() {
    let mut rng = StdRng::seed_from_u64(29);
    let mut texts: Vec<String> = (0..9000)
        .map(|_| {
            format!(
                "n in ({}, {}) and dev_type != {}",
                rng.random_range(0..6),
                rng.random_range(0..6),
                rng.random_range(0..4)
            )
        })
        .collect();
    // Anchored on one of 800 countries (all named by the first expression) with a body
    // of about 150 ids: an estimated checking work of about 0.15 presence probes per
    // request, between the two caps.
    let countries: Vec<String> = (0..800).map(|c| c.to_string()).collect();
    texts.push(format!("geo.c in ({})", countries.join(", ")));
    texts.extend((0..600).map(|_| {
        let ids: Vec<String> = (0..150)
            .map(|_| rng.random_range(0..2000).to_string())
            .collect();
        format!(
            "geo.c = {} and seg in ({})",
            rng.random_range(0..800),
            ids.join(", ")
        )
    }));
    let pairs = numbered(&texts);
    let (index, portable) = default_and_portable(&pairs);
    assert!(
        portable.stats().anchored_rows >= 500,
        "{:?}",
        portable.stats()
    );
    if index.stats().kernels == "avx512" {
        assert!(
            index.stats().anchored_rows < portable.stats().anchored_rows / 2,
            "{:?} against {:?}",
            index.stats(),
            portable.stats()
        );
    }
    let requests: Vec<Request> = (0..40)
        .map(|_| {
            let mut req = Request::new();
            req.push_int("geo.c", rng.random_range(0..800));
            req.push_int("n", rng.random_range(0..6));
            req.push_int("dev_type", rng.random_range(0..4));
            for _ in 0..rng.random_range(1..30) {
                req.push_int("seg", rng.random_range(0..2000));
            }
            req
        })
        .collect();
    let total = assert_all_agree(&pairs, &[&index, &portable], &requests);
    assert!(total > 40, "the workload should match something: {total}");
}
