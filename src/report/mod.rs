//! Formatting only: compliance reports as text, JSON, Markdown, SARIF 2.1.0 and JUnit XML.
//!
//! Every function here is pure and deterministic: the same [`Report`] gives the same bytes.
//! Locations are printed relative to the repository root ([`Report::repo_path`]), so SARIF
//! viewers and CI annotations find the topology line to fix.

mod junit;
mod markdown;
mod sarif;
mod text;

use serde::Serialize;

use crate::compliance::{Outcome, Report, Severity};

pub use junit::junit;
pub use markdown::markdown;
pub use sarif::sarif;
pub use text::text;

/// Counts over a report, shared by every format.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub rules: usize,
    pub passed: usize,
    pub failed: usize,
    pub exempted: usize,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    pub exempted_findings: usize,
}

/// Counts rules by outcome and active findings by severity.
pub fn summary(r: &Report) -> Summary {
    let by = |o: Outcome| r.results.iter().filter(|x| x.outcome == o).count();
    Summary {
        rules: r.results.len(),
        passed: by(Outcome::Pass),
        failed: by(Outcome::Fail),
        exempted: by(Outcome::Exempted),
        errors: r.count(Severity::Error),
        warnings: r.count(Severity::Warning),
        notes: r.count(Severity::Note),
        exempted_findings: r.findings().filter(|f| !f.is_active()).count(),
    }
}

/// The report as pretty JSON: `{ "summary", "environments", "results", "unused_exemptions" }`.
pub fn json(r: &Report) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        summary: Summary,
        #[serde(flatten)]
        report: &'a Report,
    }
    let mut s = serde_json::to_string_pretty(&Out {
        summary: summary(r),
        report: r,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}
