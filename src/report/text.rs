//! Plain text for terminals and logs: one line per rule, findings indented below.

use super::{plural, summary};
use crate::compliance::{Outcome, Report};

/// The report as text.
pub fn text(r: &Report) -> String {
    let mut out = format!("segplan check: {}\n\n", r.environments.join(", "));
    for res in &r.results {
        let status = match res.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Exempted => "exempt",
        };
        out.push_str(&format!(
            "{status:<6} {} [{}] {}\n",
            res.rule.id, res.rule.control, res.rule.title
        ));
        for f in &res.findings {
            let cluster = f
                .cluster
                .as_ref()
                .map(|c| format!(" (cluster {c})"))
                .unwrap_or_default();
            match &f.exempted {
                None => out.push_str(&format!(
                    "  {}: {}{cluster}: {}\n",
                    f.severity.as_str(),
                    f.object,
                    f.message
                )),
                Some(_) => out.push_str(&format!(
                    "  exempted {}: {}{cluster}: {}\n",
                    f.severity.as_str(),
                    f.object,
                    f.message
                )),
            }
            if let Some(s) = &f.source {
                out.push_str(&format!("    --> {}:{}\n", r.repo_path(&s.file), s.line));
            }
            for e in &f.evidence {
                out.push_str(&format!("    evidence: {e}\n"));
            }
            if let Some(x) = &f.exempted {
                out.push_str(&format!(
                    "    justification ({}): {}\n",
                    r.repo_path(&x.source.file) + ":" + &x.source.line.to_string(),
                    x.justification
                ));
            }
        }
    }
    for u in &r.unused_exemptions {
        out.push_str(&format!(
            "\nnote: the exemption of `{}` at {}:{} matched no finding\n",
            u.rule,
            r.repo_path(&u.source.file),
            u.source.line
        ));
    }
    let s = summary(r);
    out.push_str(&format!(
        "\n{}: {} passed, {} failed, {} exempted; {}, {}, {} exempted\n",
        plural(s.rules, "rule"),
        s.passed,
        s.failed,
        s.exempted,
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
        plural(s.exempted_findings, "finding"),
    ));
    out
}
