//! JUnit XML for CI dashboards: one `<testsuite>` per profile, one `<testcase>` per rule; a
//! failing rule has one `<failure>` listing its findings, a fully exempted one `<skipped>`.

use crate::compliance::{Outcome, Report};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML.
pub fn junit(r: &Report) -> String {
    let mut profiles: Vec<&str> = Vec::new();
    for res in &r.results {
        if !profiles.contains(&res.rule.profile.as_str()) {
            profiles.push(&res.rule.profile);
        }
    }
    let count = |o: Outcome, p: Option<&str>| {
        r.results
            .iter()
            .filter(|x| x.outcome == o && p.is_none_or(|p| x.rule.profile == p))
            .count()
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"segplan check\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
        r.results.len(),
        count(Outcome::Fail, None),
        count(Outcome::Exempted, None)
    ));
    for p in profiles {
        let tests = r.results.iter().filter(|x| x.rule.profile == p).count();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
            esc(p),
            count(Outcome::Fail, Some(p)),
            count(Outcome::Exempted, Some(p))
        ));
        for res in r.results.iter().filter(|x| x.rule.profile == p) {
            let open = format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(p),
                esc(&res.rule.id)
            );
            let mut body = String::new();
            for f in &res.findings {
                body.push_str(&format!(
                    "{}: {}: {}",
                    f.severity.as_str(),
                    f.object,
                    f.message
                ));
                if let Some(s) = &f.source {
                    body.push_str(&format!(" ({}:{})", r.repo_path(&s.file), s.line));
                }
                if let Some(x) = &f.exempted {
                    body.push_str(&format!(" [exempted: {}]", x.justification));
                }
                body.push('\n');
                for e in &f.evidence {
                    body.push_str(&format!("  evidence: {e}\n"));
                }
            }
            match res.outcome {
                Outcome::Pass => out.push_str(&format!("{open}/>\n")),
                Outcome::Fail => {
                    let active = res.findings.iter().filter(|f| f.is_active()).count();
                    out.push_str(&format!(
                        "{open}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                        esc(&res.rule.control),
                        esc(&format!("{active} finding(s): {}", res.rule.title)),
                        esc(&body)
                    ));
                }
                Outcome::Exempted => {
                    let why: Vec<&str> = res
                        .findings
                        .iter()
                        .filter_map(|f| f.exempted.as_ref().map(|x| x.justification.as_str()))
                        .collect();
                    out.push_str(&format!(
                        "{open}>\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    </testcase>\n",
                        esc(&format!("exempted: {}", why.join("; "))),
                        esc(&body)
                    ));
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
