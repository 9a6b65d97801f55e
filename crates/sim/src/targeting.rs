//! Random targeting expressions over a population's segments and attributes.
//!
//! Expressions are written in adloop's targeting language:
//!
//! ```text
//! expr := or;  or := and ("or" and)*;  and := unary ("and" unary)*
//! unary := "not" unary | "(" expr ")" | "true" | "false" | pred
//! pred := attr "in" list | attr "not" "in" list | attr "all" list | attr "=" value
//!       | attr "!=" value | attr ("<"|"<="|">"|">=") int | attr "between" int "and" int
//! list := "(" value ("," value)* ")";  value := int | "string"
//! ```

use std::fmt::Write as _;

use adloop_core::SegmentId;
use rand::{Rng, RngExt};

use crate::population::Population;
use crate::sampling::{pick_distinct, pick_weighted};
use crate::vocab::{self, attr};

/// A generated targeting expression and the audience segments it names positively
/// (the advertiser's "in-market" audience, used by the conversion model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetingExpr {
    /// The expression text.
    pub text: String,
    /// Segments the expression selects for (in `segment in`/`all` predicates, not in
    /// exclusions), sorted and distinct.
    pub segments: Vec<SegmentId>,
}

/// Draws one targeting expression in the style of real campaign setups: an audience
/// (segment list, rarely a segment conjunction or an audience-or-genre union), often a
/// geo restriction, sometimes device, genre (incl. brand-safety exclusions), daypart,
/// day-of-week, publisher and segment exclusions; about 3 % are run-of-network (`true`).
/// Clauses are joined with `and`; each is one predicate or a parenthesised `or`.
pub fn targeting_expression<R: Rng + ?Sized>(
    population: &Population,
    rng: &mut R,
) -> TargetingExpr {
    let mut clauses: Vec<String> = Vec::new();
    let mut segments: Vec<SegmentId> = Vec::new();
    if rng.random_bool(0.03) {
        return TargetingExpr {
            text: "true".to_string(),
            segments,
        };
    }
    if rng.random_bool(0.75) {
        let roll = rng.random::<f64>();
        if roll < 0.85 {
            let k = rng.random_range(3..=20);
            let list = distinct_segments(population, k, rng);
            clauses.push(format!("{} in {}", attr::SEGMENT, int_list(&list)));
            segments.extend(list);
        } else if roll < 0.90 {
            // Two popular segments together (a conjunction of audiences).
            let list: Vec<SegmentId> = pick_ranks(rng.random_range(1..=30), 2, population, rng);
            clauses.push(format!("{} all {}", attr::SEGMENT, int_list(&list)));
            segments.extend(list);
        } else {
            let k = rng.random_range(2..=8);
            let list = distinct_segments(population, k, rng);
            let genres = str_list(&pick_names(&vocab::GENRES, rng.random_range(1..=2), rng));
            clauses.push(format!(
                "({} in {} or {} in {})",
                attr::SEGMENT,
                int_list(&list),
                attr::GENRE,
                genres
            ));
            segments.extend(list);
        }
    }
    if rng.random_bool(0.55) {
        let roll = rng.random::<f64>();
        if roll < 0.45 {
            let (_, country) = pick_weighted(&vocab::COUNTRIES, rng);
            clauses.push(format!("{} = {}", attr::COUNTRY, quoted(country)));
        } else if roll < 0.80 {
            let names = pick_names(&vocab::COUNTRIES, rng.random_range(2..=3), rng);
            clauses.push(format!("{} in {}", attr::COUNTRY, str_list(&names)));
        } else if roll < 0.92 {
            let (i, _) = pick_weighted(&vocab::COUNTRIES, rng);
            let names = pick_names(vocab::REGIONS[i], rng.random_range(1..=3), rng);
            clauses.push(format!("{} in {}", attr::REGION, str_list(&names)));
        } else {
            let names = pick_names(&vocab::COUNTRIES, 1, rng);
            clauses.push(format!("{} not in {}", attr::COUNTRY, str_list(&names)));
        }
    }
    if rng.random_bool(0.30) {
        let roll = rng.random::<f64>();
        if roll < 0.45 {
            let names = pick_names(&vocab::DEVICE_TYPES, rng.random_range(1..=2), rng);
            clauses.push(format!("{} in {}", attr::DEVICE_TYPE, str_list(&names)));
        } else if roll < 0.70 {
            clauses.push(format!("not {} = {}", attr::DEVICE_TYPE, quoted("phone")));
        } else if roll < 0.85 {
            clauses.push(format!("{} != {}", attr::DEVICE_TYPE, quoted("desktop")));
        } else {
            let names = pick_names(vocab::OPERATING_SYSTEMS[0], rng.random_range(1..=3), rng);
            clauses.push(format!("{} in {}", attr::DEVICE_OS, str_list(&names)));
        }
    }
    if rng.random_bool(0.25) {
        if rng.random_bool(0.5) {
            let names = pick_names(&vocab::GENRES, rng.random_range(1..=4), rng);
            clauses.push(format!("{} in {}", attr::GENRE, str_list(&names)));
        } else {
            // Brand safety: stay away from news (and sometimes kids' content).
            let list = if rng.random_bool(0.5) {
                vec!["news"]
            } else {
                vec!["news", "kids"]
            };
            clauses.push(format!("{} not in {}", attr::GENRE, str_list(&list)));
        }
    }
    if rng.random_bool(0.15) {
        match rng.random_range(0..3) {
            0 => clauses.push(format!("{} between 18 and 23", attr::HOUR)),
            1 => clauses.push(format!("{} >= 6", attr::HOUR)),
            _ => clauses.push(format!("{} < 22", attr::HOUR)),
        }
    }
    if rng.random_bool(0.05) {
        if rng.random_bool(0.5) {
            clauses.push(format!("{} in (5, 6)", attr::DOW));
        } else {
            clauses.push(format!("{} between 0 and 4", attr::DOW));
        }
    }
    if rng.random_bool(0.05) {
        if rng.random_bool(0.5) {
            clauses.push(format!(
                "{} in {}",
                attr::PUBLISHER,
                str_list(&["streamco.ctv"])
            ));
        } else {
            clauses.push(format!("{} != {}", attr::PUBLISHER, quoted("streamco.web")));
        }
    }
    if rng.random_bool(0.08) {
        let list = distinct_segments(population, rng.random_range(1..=4), rng);
        clauses.push(format!("not {} in {}", attr::SEGMENT, int_list(&list)));
    }
    if clauses.is_empty() {
        let list = distinct_segments(population, rng.random_range(3..=10), rng);
        clauses.push(format!("{} in {}", attr::SEGMENT, int_list(&list)));
        segments.extend(list);
    }
    segments.sort_unstable();
    segments.dedup();
    TargetingExpr {
        text: clauses.join(" and "),
        segments,
    }
}

/// `k` distinct segments drawn with the population's popularity law.
fn distinct_segments<R: Rng + ?Sized>(
    population: &Population,
    k: usize,
    rng: &mut R,
) -> Vec<SegmentId> {
    let domain = population.config().segment_domain as usize;
    let k = k.min(domain);
    let mut out: Vec<SegmentId> = Vec::with_capacity(k);
    let mut attempts = 0;
    while out.len() < k && attempts < 100 * (k + 1) {
        attempts += 1;
        let s = population.sample_segment(rng);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        out.extend(population.segment_by_rank(1));
    }
    out
}

/// `k` distinct segments among the `top` most popular ranks.
fn pick_ranks<R: Rng + ?Sized>(
    top: u32,
    k: usize,
    population: &Population,
    rng: &mut R,
) -> Vec<SegmentId> {
    let top = top.max(k as u32).min(population.config().segment_domain);
    let mut out: Vec<SegmentId> = Vec::with_capacity(k);
    let mut attempts = 0;
    while out.len() < k && attempts < 1_000 {
        attempts += 1;
        if let Some(s) = population.segment_by_rank(rng.random_range(1..=top))
            && !out.contains(&s)
        {
            out.push(s);
        }
    }
    if out.is_empty() {
        out.extend(population.segment_by_rank(1));
    }
    out
}

fn pick_names<R: Rng + ?Sized>(
    table: &[(&'static str, f64)],
    k: usize,
    rng: &mut R,
) -> Vec<&'static str> {
    pick_distinct(table, k, rng)
        .into_iter()
        .map(|i| table[i].0)
        .collect()
}

fn quoted(value: &str) -> String {
    format!("\"{value}\"")
}

fn int_list(list: &[SegmentId]) -> String {
    let mut out = String::from("(");
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}", s.get());
    }
    out.push(')');
    out
}

fn str_list(list: &[&str]) -> String {
    let quoted: Vec<String> = list.iter().map(|v| quoted(v)).collect();
    format!("({})", quoted.join(", "))
}
