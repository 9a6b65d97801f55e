//! The `match` example's contract (issue #3): expression and request files in, one
//! line of ascending keys per request line out, bad lines reported with their line
//! numbers on stderr while the others are still answered.

use std::{path::PathBuf, process::ExitCode};

#[path = "../examples/match.rs"]
#[allow(dead_code)]
mod match_example;

/// Writes `text` to a file of this test's own in the temporary directory.
fn file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("adloop-match-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temporary file");
    path
}

/// Runs the example on `args`; returns its exit code, stdout and stderr.
fn run(args: &[&str]) -> (ExitCode, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = match_example::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("utf-8"),
        String::from_utf8(err).expect("utf-8"),
    )
}

#[test]
fn answers_each_request_line_and_reports_bad_lines_where_they_are() {
    let exprs = file(
        "contract.tsv",
        "# campaigns\n\
         20\tsegment in (1, 2) and device != \"tv\"\n\
         \n\
         7\thour between 18 and 23 or segment all (7, 8)\n\
         9\tsegment in (\n\
         x\thour > 3\n\
         no tab here\n\
         3\tnot segment in (1)\n",
    );
    let requests = file(
        "contract.jsonl",
        "{\"segment\": [2, 7, 8], \"device\": \"phone\"}\n\
         {\"hour\": 20}\n\
         not json\n\
         {\"segment\": 1, \"device\": [\"tv\"]}\n\
         {\"segment\": [1.5]}\n",
    );
    let (e, r) = (exprs.to_str().unwrap(), requests.to_str().unwrap());
    for extra in [
        &[][..],
        &["--compare", "--repeat", "2"][..],
        &["--portable"][..],
    ] {
        let mut args = vec![e, r];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, ExitCode::SUCCESS, "{extra:?}: {err}");
        // Keys ascending, one line per request line: 3, 7 and 20 match the first
        // request (no segment 1; segments 7 and 8 both; segment 2 off TV), 3 and 7
        // the second (hour 20), nothing the fourth (segment 1 on a TV); the bad third
        // and fifth lines print empty lines.
        assert_eq!(out, "3 7 20\n3 7\n\n\n\n", "{extra:?}");
        for report in [
            ":5: line 1, column 13: expected a value",
            ":6: key \"x\" is not a non-negative integer",
            ":7: expected `key<TAB>expression`",
            ":3: invalid JSON",
            ":5: attribute \"segment\": 1.5 is not a 64-bit integer",
        ] {
            assert!(
                err.contains(report),
                "{extra:?}: missing {report:?} in\n{err}"
            );
        }
        assert!(err.contains("requests/s"), "{err}");
        if extra.contains(&"--compare") {
            assert!(err.contains("same answers"), "{err}");
        }
    }
    let _ = std::fs::remove_file(exprs);
    let _ = std::fs::remove_file(requests);
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        &["only-one-path"][..],
        &["a", "b", "--repeat", "0"][..],
        &["a", "b", "--anchor-ppm", "lots"][..],
        &["/nonexistent/adloop/e.tsv", "/nonexistent/adloop/r.jsonl"][..],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, ExitCode::from(2), "{args:?}");
        assert!(out.is_empty());
        assert!(err.contains("usage: match"), "{args:?}: {err}");
    }
}
