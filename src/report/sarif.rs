//! SARIF 2.1.0 for code-scanning UIs: one run, the rules as `tool.driver.rules`, one result
//! per finding located at the topology line to fix. Exempted findings carry an external
//! suppression with the justification.

use serde_json::{Value, json};

use crate::compliance::{Report, Severity};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The report as a SARIF 2.1.0 log.
pub fn sarif(r: &Report) -> String {
    let rules: Vec<Value> = r
        .results
        .iter()
        .map(|res| {
            json!({
                "id": res.rule.id,
                "name": res.rule.id.replace(['.', '-'], "_"),
                "shortDescription": { "text": res.rule.title },
                "fullDescription": { "text": format!("{} ({})", res.rule.title, res.rule.control) },
                "defaultConfiguration": { "level": level(res.rule.severity) },
                "properties": {
                    "tags": [res.rule.profile, "compliance"],
                    "control": res.rule.control,
                    "check": res.rule.check,
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for (index, res) in r.results.iter().enumerate() {
        for f in &res.findings {
            let mut evidence = String::new();
            for e in &f.evidence {
                evidence.push_str("\n- ");
                evidence.push_str(e);
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "kind": "fail",
                "message": { "text": format!("{}: {}{}", f.object, f.message, evidence) },
                "properties": {
                    "control": f.control,
                    "profile": f.profile,
                    "object": f.object,
                    "evidence": f.evidence,
                },
            });
            let props = &mut result["properties"];
            for (k, v) in [
                ("environment", &f.environment),
                ("cluster", &f.cluster),
                ("namespace", &f.namespace),
            ] {
                if let Some(v) = v {
                    props[k] = json!(v);
                }
            }
            if let Some(s) = &f.source {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": { "uri": r.repo_path(&s.file) },
                        "region": { "startLine": s.line },
                    },
                }]);
            }
            if let Some(x) = &f.exempted {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": x.justification,
                    "location": {
                        "physicalLocation": {
                            "artifactLocation": { "uri": r.repo_path(&x.source.file) },
                            "region": { "startLine": x.source.line },
                        },
                    },
                }]);
            }
            results.push(result);
        }
    }
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "segplan",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&log).unwrap_or_default();
    s.push('\n');
    s
}
