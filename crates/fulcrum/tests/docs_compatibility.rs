//! docs/COMPATIBILITY.md names, in the `tests` column of its tables, the tests that prove each row. This test keeps
//! the table honest: every named test must exist, and every `supported` row must name one.
//!
//! A reference is a code span in one of two forms (the rule is also written at the top of COMPATIBILITY.md):
//! - `crates/CRATE/PATH.rs::FUNCTION`: FUNCTION is a test (`#[test]`, `#[tokio::test]`, a proptest) in that file,
//!   an integration test under `tests/` or a unit test under `src/`;
//! - `reg-tests/DIR/NAME.vtc`: one of HAProxy's regression tests, listed in conformance/passing.txt (which
//!   `make test` keeps passing).
//!
//! Every table with a `status` column also has a `tests` column holding only such references; a status is one of
//! `supported`, `partial`, `stricter` or `not yet`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The statuses a row may have.
const STATUSES: [&str; 4] = ["supported", "partial", "stricter", "not yet"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What was checked, for the sanity assertions.
#[derive(Debug, Default)]
struct Tally {
    rows: usize,
    supported: usize,
    references: usize,
}

/// Splits a table line into its cells: `|` separates them unless escaped as `\|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = vec![String::new()];
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            '|' if !escaped => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
        escaped = c == '\\';
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The code spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// Whether `name` is a test function in `source`: `fn name(` preceded by attributes, one of them a test attribute.
fn has_test_fn(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let l = line.trim_start();
        let l = l.strip_prefix("async ").unwrap_or(l);
        let Some(rest) = l.strip_prefix("fn ").and_then(|r| r.strip_prefix(name)) else {
            return false;
        };
        if !rest.starts_with('(') {
            return false;
        }
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
            .any(|l| l.starts_with("#[") && l.contains("test"))
    })
}

/// Checks one reference; returns the problem, if any.
fn check_reference(repo: &Path, passing: &BTreeSet<String>, r: &str) -> Option<String> {
    if let Some(vtc) = r.strip_prefix("reg-tests/") {
        return (!passing.contains(vtc))
            .then(|| format!("`{r}` is not listed in conformance/passing.txt"));
    }
    let Some((file, name)) = r.split_once(".rs::") else {
        return Some(format!(
            "`{r}` is not a test reference (`crates/CRATE/PATH.rs::FUNCTION` or `reg-tests/DIR/NAME.vtc`)"
        ));
    };
    let file = format!("{file}.rs");
    if !file.starts_with("crates/")
        || name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Some(format!(
            "`{r}` is not a test reference (`crates/CRATE/PATH.rs::FUNCTION`, the function name only)"
        ));
    }
    match std::fs::read_to_string(repo.join(&file)) {
        Err(e) => Some(format!("`{r}`: cannot read {file}: {e}")),
        Ok(source) if !has_test_fn(&source, name) => {
            Some(format!("`{r}`: {file} has no test function `{name}`"))
        }
        Ok(_) => None,
    }
}

/// Checks the tables of `doc`; returns every problem, each with its line number.
fn check(doc: &str, repo: &Path, passing: &BTreeSet<String>) -> (Vec<String>, Tally) {
    let mut problems = Vec::new();
    let mut tally = Tally::default();
    // The header of the table being read: (status column, tests column).
    let mut columns: Option<(Option<usize>, Option<usize>)> = None;
    let mut header: Option<Vec<String>> = None;
    for (i, line) in doc.lines().enumerate() {
        let n = i + 1;
        if !line.trim_start().starts_with('|') {
            columns = None;
            header = None;
            continue;
        }
        let row = cells(line);
        if row
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|c| "-: ".contains(c)))
        {
            // The separator: the line before it was the header.
            if let Some(h) = header.take() {
                let status = h.iter().position(|c| c == "status");
                let tests = h.iter().position(|c| c == "tests");
                if status.is_some() && tests.is_none() {
                    problems.push(format!(
                        "line {n}: a table with a status column needs a tests column"
                    ));
                }
                columns = Some((status, tests));
            }
            continue;
        }
        let Some((status_col, tests_col)) = columns else {
            header = Some(row);
            continue;
        };
        let Some(status_col) = status_col else {
            continue;
        };
        tally.rows += 1;
        let status = row.get(status_col).map_or("", String::as_str);
        if !STATUSES.contains(&status) {
            problems.push(format!(
                "line {n}: status '{status}' is not one of {}",
                STATUSES.join(", ")
            ));
        }
        let tests = tests_col
            .and_then(|c| row.get(c))
            .map_or("", String::as_str);
        let refs = code_spans(tests);
        let mut rest = tests.to_string();
        for r in &refs {
            rest = rest.replacen(&format!("`{r}`"), "", 1);
        }
        if rest.chars().any(|c| !matches!(c, ',' | ' ')) {
            problems.push(format!(
                "line {n}: the tests column holds only `references` separated by commas, not '{}'",
                rest.trim()
            ));
        }
        if status == "supported" {
            tally.supported += 1;
            if refs.is_empty() {
                problems.push(format!(
                    "line {n}: a supported row names no test: {}",
                    row.first().map_or("", String::as_str)
                ));
            }
        }
        for r in refs {
            tally.references += 1;
            if let Some(p) = check_reference(repo, passing, r) {
                problems.push(format!("line {n}: {p}"));
            }
        }
    }
    (problems, tally)
}

/// The reg-tests `make test` keeps passing (`DIR/NAME.vtc`).
fn passing(repo: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(repo.join("conformance/passing.txt"))
        .expect("conformance/passing.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn every_test_named_in_compatibility_md_exists() {
    let repo = repo();
    let doc = std::fs::read_to_string(repo.join("docs/COMPATIBILITY.md")).unwrap();
    let (problems, tally) = check(&doc, &repo, &passing(&repo));
    assert!(
        problems.is_empty(),
        "docs/COMPATIBILITY.md has {} problem(s) (see the rule at its top):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The parser found the tables.
    assert!(
        tally.rows > 100 && tally.supported > 50 && tally.references > tally.supported,
        "{tally:?}"
    );
}

/// The checker itself: what it reports on a small table.
#[test]
fn the_checker_reports_each_kind_of_problem() {
    let repo = repo();
    let passing: BTreeSet<String> = ["checks/ok.vtc".to_string()].into();
    let doc = "\
| feature | status | notes | tests |
|---|---|---|---|
| a \\| b | supported | fine | `crates/fulcrum/tests/docs_compatibility.rs::the_checker_reports_each_kind_of_problem`, `reg-tests/checks/ok.vtc` |
| b | supported | no test | |
| c | partial | | `crates/fulcrum/tests/docs_compatibility.rs::repo` |
| d | not yet | | `crates/fulcrum/tests/nowhere.rs::x` |
| e | supported | | `reg-tests/checks/failing.vtc` |
| f | suported | | see the notes |

| feature | status | notes |
|---|---|---|
| g | supported | |

| directory | pass / total |
|---|---|
| h | 1 / 2 |
";
    let (problems, tally) = check(doc, &repo, &passing);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(':').next().unwrap())
        .collect();
    assert_eq!(
        lines,
        ["line 4", "line 5", "line 6", "line 7", "line 8", "line 8", "line 11", "line 12"],
        "{problems:#?}"
    );
    assert!(problems[0].contains("names no test: b"), "{}", problems[0]);
    assert!(
        problems[1].contains("no test function `repo`"),
        "{}",
        problems[1]
    );
    assert!(problems[2].contains("cannot read"), "{}", problems[2]);
    assert!(problems[3].contains("passing.txt"), "{}", problems[3]);
    assert!(problems[4].contains("'suported'"), "{}", problems[4]);
    assert!(problems[5].contains("'see the notes'"), "{}", problems[5]);
    assert!(
        problems[6].contains("needs a tests column"),
        "{}",
        problems[6]
    );
    assert!(problems[7].contains("names no test: g"), "{}", problems[7]);
    assert_eq!((tally.rows, tally.supported, tally.references), (7, 4, 5));
}
