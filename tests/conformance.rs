//! The outside judge: every case of `tests/conformance/netpol-analyzer/` (np-guard's
//! netpol-analyzer test data, see its README) run through `segplan connectivity`, compared
//! with the expected output line for line. Each test runs every case and names every failing
//! one before failing. A case whose expected output is known to be wrong would be listed in
//! `tests/conformance/marked.txt` (`<expected file name>: <reason>`); a marked case must still
//! differ, so a mark cannot outlive its reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/netpol-analyzer")
}

fn marked() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/marked.txt");
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Runs segplan; returns (stdout, exit code) or the stderr on failure to run.
fn segplan(args: &[&str]) -> (String, i32, String) {
    let out = Command::cargo_bin("segplan")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn same(actual: &str, expected: &str) -> bool {
    actual.trim_end_matches('\n') == expected.trim_end_matches('\n')
}

/// Checks one expected file; returns a failure description, if any.
fn check(name: &str, args: &[&str], expected_file: &Path, expected_code: i32) -> Option<String> {
    let expected = std::fs::read_to_string(expected_file).unwrap();
    let (out, code, stderr) = segplan(args);
    let marks = marked();
    let ok = same(&out, &expected) && code == expected_code;
    match (marks.get(name), ok) {
        (None, true) => None,
        (Some(_), false) => None,
        (Some(reason), true) => Some(format!(
            "{name}: marked wrong ({reason}) but now matches; drop the mark"
        )),
        (None, false) => {
            let first_diff = out
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .map_or_else(
                    || {
                        format!(
                            "{} lines vs {} expected",
                            out.lines().count(),
                            expected.lines().count()
                        )
                    },
                    |i| {
                        format!(
                            "line {}: got `{}`, expected `{}`",
                            i + 1,
                            out.lines().nth(i).unwrap_or(""),
                            expected.lines().nth(i).unwrap_or("")
                        )
                    },
                );
            Some(format!(
                "{name}: exit {code} (want {expected_code}); {first_diff}; stderr: {}",
                stderr.trim()
            ))
        }
    }
}

fn report(kind: &str, total: usize, failures: Vec<String>) {
    assert!(
        total > 0,
        "no {kind} cases found under {}",
        root().display()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} {kind} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_prints_the_expected_connlist() {
    let cases = files("expected/connlist", "_connlist_output.txt");
    assert_eq!(cases.len(), 42, "the judge has 42 connlist cases");
    let mut failures = Vec::new();
    for exp in &cases {
        let file = exp.file_name().unwrap().to_string_lossy().into_owned();
        let case = file.strip_suffix("_connlist_output.txt").unwrap();
        let dir = root().join("cases").join(case);
        failures.extend(check(
            &file,
            &["connectivity", "--dir", dir.to_str().unwrap()],
            exp,
            0,
        ));
    }
    report("connlist", cases.len(), failures);
}

#[test]
fn other_formats_match() {
    let mut cases = Vec::new();
    for ext in ["json", "csv", "md", "dot"] {
        cases.extend(files(
            "expected/connlist",
            &format!("_connlist_output.{ext}"),
        ));
    }
    assert_eq!(cases.len(), 8);
    let mut failures = Vec::new();
    for exp in &cases {
        let file = exp.file_name().unwrap().to_string_lossy().into_owned();
        let (case, ext) = file.rsplit_once("_connlist_output.").unwrap();
        let dir = root().join("cases").join(case);
        failures.extend(check(
            &file,
            &["connectivity", "--dir", dir.to_str().unwrap(), "-o", ext],
            exp,
            0,
        ));
    }
    report("format", cases.len(), failures);
}

#[test]
fn every_diff_pair_prints_the_expected_diff() {
    let mut cases = files("expected/diff", ".txt");
    cases.extend(files("expected/diff", ".csv"));
    cases.extend(files("expected/diff", ".md"));
    assert_eq!(
        cases.len(),
        20,
        "the judge has 18 diff pairs, one in three formats"
    );
    let mut failures = Vec::new();
    for exp in &cases {
        let file = exp.file_name().unwrap().to_string_lossy().into_owned();
        let (stem, ext) = file.rsplit_once('.').unwrap();
        let pair = stem.strip_prefix("diff_between_").unwrap();
        // `diff_between_<new>_and_<old>`: case names contain `_`, so find the split that
        // names two existing cases.
        let (new, old) = pair
            .match_indices("_and_")
            .map(|(i, _)| (&pair[..i], &pair[i + 5..]))
            .find(|(n, o)| {
                root().join("cases").join(n).is_dir() && root().join("cases").join(o).is_dir()
            })
            .unwrap_or_else(|| panic!("{file}: cannot find its two cases"));
        let expected_code = if std::fs::read_to_string(exp).unwrap().is_empty() {
            0
        } else {
            1
        };
        let new_dir = root().join("cases").join(new);
        let old_dir = root().join("cases").join(old);
        let args = [
            "connectivity",
            "--dir",
            new_dir.to_str().unwrap(),
            "--base",
            old_dir.to_str().unwrap(),
            "-o",
            ext,
        ];
        failures.extend(check(&file, &args, exp, expected_code));
    }
    report("diff", cases.len(), failures);
}
