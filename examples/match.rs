//! Match requests against targeting expressions with the compiled index.
//!
//! ```text
//! cargo run --release --example match -- EXPRESSIONS REQUESTS [--repeat N] [--anchor-ppm P] [--portable] [--compare]
//! ```
//!
//! - EXPRESSIONS: one `key<TAB>expression` per line; the key is a non-negative integer
//!   (`u32`). Blank lines and lines starting with `#` are ignored.
//! - REQUESTS: JSON Lines; each line is an object mapping an attribute to an array of
//!   values (integers or strings) or to a single value.
//!
//! Output: one line per request line, the matching keys in ascending order separated by
//! single spaces (an empty line when none). A malformed expression or request line is
//! reported on stderr with its line number and the reason; the other lines are still
//! processed, and a bad request line prints an empty line.
//!
//! On stderr, one line gives the build time, the time to match all requests (excluding
//! reading and printing; with `--repeat N`, the best of N rounds) and requests per
//! second, so the index's speed can be compared on any workload. `--anchor-ppm P` sets
//! `BuildOptions::anchor_threshold_ppm` (0: bitset rows only), for comparing designs;
//! `--portable` builds with `BuildOptions::cpu_kernels(false)` (no BMI or AVX-512
//! copies of the inner loops), for comparing those on this CPU. `--compare` builds that
//! portable index as well, checks that it gives the same answers, and times the two
//! alternately, round by round, in one process: on a machine whose speed drifts (a
//! shared VM), that ratio is the figure to trust, not two separate runs.
//!
//! The first pass over the requests collects the answers (untimed); the timed rounds
//! only match.

use std::{
    io::{BufWriter, Write},
    process::ExitCode,
    time::Instant,
};

use adloop::targeting::{BuildOptions, Expr, Index, Request, Scratch, parse};
use serde_json::Value as Json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = run(&args, &mut out, &mut std::io::stderr());
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// The whole program over `args` (without the program name), writing answers to
/// `stdout` and reports to `stderr`; `tests/match_example.rs` runs it on small files.
pub(crate) fn run(args: &[String], stdout: &mut dyn Write, stderr: &mut dyn Write) -> ExitCode {
    let (mut paths, mut repeat, mut compare) = (Vec::new(), 1usize, false);
    let mut options = BuildOptions::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--repeat" {
            match it.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => repeat = n,
                _ => return usage(stderr, "--repeat needs a positive integer"),
            }
        } else if a == "--anchor-ppm" {
            match it.next().and_then(|n| n.parse().ok()) {
                Some(ppm) => options = options.anchor_threshold_ppm(ppm),
                None => return usage(stderr, "--anchor-ppm needs an integer (parts per million)"),
            }
        } else if a == "--portable" {
            options = options.cpu_kernels(false);
        } else if a == "--compare" {
            compare = true;
        } else {
            paths.push(a);
        }
    }
    let [expressions, requests] = paths.as_slice() else {
        return usage(stderr, "expected two paths");
    };
    let (expr_text, req_text) = match (
        std::fs::read_to_string(expressions),
        std::fs::read_to_string(requests),
    ) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(e), _) => return usage(stderr, &format!("cannot read {expressions}: {e}")),
        (_, Err(e)) => return usage(stderr, &format!("cannot read {requests}: {e}")),
    };

    let mut pairs: Vec<(u32, Expr)> = Vec::new();
    for (i, line) in expr_text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, text)) = line.split_once('\t') else {
            let _ = writeln!(
                stderr,
                "{expressions}:{line_no}: expected `key<TAB>expression`"
            );
            continue;
        };
        let Ok(key) = key.trim().parse::<u32>() else {
            let _ = writeln!(
                stderr,
                "{expressions}:{line_no}: key {:?} is not a non-negative integer (u32)",
                key.trim()
            );
            continue;
        };
        match parse(text) {
            Ok(e) => pairs.push((key, e)),
            Err(e) => {
                let _ = writeln!(stderr, "{expressions}:{line_no}: {e}");
            }
        }
    }

    let requests_parsed: Vec<Option<Request>> = req_text
        .lines()
        .enumerate()
        .map(|(i, line)| match request_from_json(line) {
            Ok(r) => Some(r),
            Err(e) => {
                let _ = writeln!(stderr, "{requests}:{}: {e}", i + 1);
                None
            }
        })
        .collect();

    let start = Instant::now();
    let index = match Index::build_with(pairs.iter().map(|(k, e)| (*k, e)), &options) {
        Ok(index) => index,
        Err(e) => {
            let _ = writeln!(stderr, "{expressions}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let build_s = start.elapsed().as_secs_f64();

    let (mut scratch, mut out) = (Scratch::new(), Vec::new());
    let mut keys: Vec<u32> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(requests_parsed.len());
    for r in &requests_parsed {
        if let Some(r) = r {
            index.matches(r, &mut scratch, &mut out);
            keys.extend_from_slice(&out);
        }
        ends.push(keys.len());
    }
    let portable = if compare {
        match Index::build_with(
            pairs.iter().map(|(k, e)| (*k, e)),
            &options.cpu_kernels(false),
        ) {
            Ok(portable) => Some(portable),
            Err(e) => {
                let _ = writeln!(stderr, "{expressions}: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    if let Some(portable) = &portable {
        let mut at = 0;
        for (r, &end) in requests_parsed.iter().zip(&ends) {
            if let Some(r) = r {
                portable.matches(r, &mut scratch, &mut out);
                if out[..] != keys[at..end] {
                    let _ = writeln!(stderr, "match: the portable index answers differently");
                    return ExitCode::FAILURE;
                }
            }
            at = end;
        }
    }
    let mut time_pass = |index: &Index| {
        let start = Instant::now();
        for r in requests_parsed.iter().flatten() {
            index.matches(r, &mut scratch, &mut out);
        }
        start.elapsed().as_secs_f64()
    };
    let (mut best, mut best_portable) = (f64::INFINITY, f64::INFINITY);
    for round in 0..repeat {
        // Alternate which goes first, so neither always follows the other.
        if let Some(portable) = portable.as_ref().filter(|_| round % 2 == 1) {
            best_portable = best_portable.min(time_pass(portable));
        }
        best = best.min(time_pass(&index));
        if let Some(portable) = portable.as_ref().filter(|_| round % 2 == 0) {
            best_portable = best_portable.min(time_pass(portable));
        }
    }

    let mut from = 0;
    for &end in &ends {
        let line: Vec<String> = keys[from..end].iter().map(u32::to_string).collect();
        if writeln!(stdout, "{}", line.join(" ")).is_err() {
            return ExitCode::FAILURE;
        }
        from = end;
    }
    let stats = index.stats();
    let n = requests_parsed.len();
    let _ = writeln!(
        stderr,
        "match: built index of {} expressions ({} rows, {} anchored, {} fallback, {:.1} bytes/expression, {} kernels) in {:.3} ms; \
         matched {} requests in {:.3} ms ({:.2} µs/request, {:.0} requests/s)",
        stats.expressions,
        stats.rows,
        stats.anchored_rows,
        stats.fallback_expressions,
        stats.heap_bytes as f64 / stats.expressions.max(1) as f64,
        stats.kernels,
        build_s * 1e3,
        n,
        best * 1e3,
        best * 1e6 / n.max(1) as f64,
        n as f64 / best.max(f64::MIN_POSITIVE),
    );
    if portable.is_some() {
        let _ = writeln!(
            stderr,
            "match: portable kernels, alternating round by round: {:.2} µs/request ({:.2}x the {} index's time); same answers",
            best_portable * 1e6 / n.max(1) as f64,
            best_portable / best.max(f64::MIN_POSITIVE),
            stats.kernels,
        );
    }
    ExitCode::SUCCESS
}

fn usage(stderr: &mut dyn Write, problem: &str) -> ExitCode {
    let _ = writeln!(
        stderr,
        "match: {problem}\nusage: match EXPRESSIONS REQUESTS [--repeat N] [--anchor-ppm P] [--portable] [--compare]"
    );
    ExitCode::from(2)
}

/// One JSON object: attribute → array of values or a single value (integer or string).
fn request_from_json(line: &str) -> Result<Request, String> {
    let value: Json = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Json::Object(map) = value else {
        return Err("expected a JSON object mapping attributes to values".into());
    };
    let mut request = Request::new();
    for (name, v) in &map {
        let values = match v {
            Json::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        for item in values {
            match item {
                Json::Number(n) => match n.as_i64() {
                    Some(i) => request.push_int(name, i),
                    None => return Err(format!("attribute {name:?}: {n} is not a 64-bit integer")),
                },
                Json::String(s) => request.push_str(name, s),
                other => {
                    return Err(format!(
                        "attribute {name:?}: expected integers or strings, found {other}"
                    ));
                }
            }
        }
    }
    Ok(request)
}
