//! Markdown for pull-request comments and audit evidence: a table of rules, then findings.

use super::{plural, summary};
use crate::compliance::{Outcome, Report};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let s = summary(r);
    let mut out = format!(
        "## segplan check: {}\n\n{}: {} passed, {} failed, {} exempted; {}, {}.\n\n",
        r.environments.join(", "),
        plural(s.rules, "rule"),
        s.passed,
        s.failed,
        s.exempted,
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
    );
    out.push_str(
        "| Result | Rule | Control | What must hold | Findings |\n|---|---|---|---|---|\n",
    );
    for res in &r.results {
        let status = match res.outcome {
            Outcome::Pass => "✅ pass",
            Outcome::Fail => "❌ fail",
            Outcome::Exempted => "⚪ exempted",
        };
        out.push_str(&format!(
            "| {status} | `{}` | {} | {} | {} |\n",
            res.rule.id,
            cell(&res.rule.control),
            cell(&res.rule.title),
            res.findings.len()
        ));
    }
    let failing: Vec<_> = r
        .results
        .iter()
        .filter(|x| !x.findings.is_empty())
        .collect();
    if !failing.is_empty() {
        out.push_str("\n### Findings\n");
    }
    for res in failing {
        out.push_str(&format!(
            "\n#### `{}` ({})\n\n",
            res.rule.id,
            cell(&res.rule.control)
        ));
        for f in &res.findings {
            let at = f
                .source
                .as_ref()
                .map(|x| format!(" (`{}:{}`)", r.repo_path(&x.file), x.line))
                .unwrap_or_default();
            let tag = if f.exempted.is_some() {
                "exempted "
            } else {
                ""
            };
            out.push_str(&format!(
                "- **{tag}{}** {}{at}: {}\n",
                f.severity.as_str(),
                cell(&f.object),
                cell(&f.message)
            ));
            for e in &f.evidence {
                out.push_str(&format!("  - {}\n", cell(e)));
            }
            if let Some(x) = &f.exempted {
                out.push_str(&format!(
                    "  - justification (`{}:{}`): {}\n",
                    r.repo_path(&x.source.file),
                    x.source.line,
                    cell(&x.justification)
                ));
            }
        }
    }
    for u in &r.unused_exemptions {
        out.push_str(&format!(
            "\n> The exemption of `{}` at `{}:{}` matched no finding.\n",
            u.rule,
            r.repo_path(&u.source.file),
            u.source.line
        ));
    }
    out
}
