//! Renderings of a diff: text (summary lines, then unified YAML diffs, coloured on request),
//! JSON (the stable schema documented in `docs/live.md`) and markdown (pull-request comments).
//! Formatting only: the CLI decides where it goes.

use serde_json::{Map, Value, json};
use similar::{ChangeTag, TextDiff};

use super::LiveError;
use super::diff::{Change, ClusterDiff, ObjectDiff};

/// The version tag of the JSON schema.
pub const JSON_SCHEMA: &str = "segplan.diff/v1";

/// One cluster's outcome in a report.
pub struct ClusterOutcome<'a> {
    pub cluster: &'a str,
    pub environment: &'a str,
    pub result: Result<&'a ClusterDiff, &'a LiveError>,
}

/// A whole diff run.
pub struct DiffReport<'a> {
    pub plan_hash: &'a str,
    pub clusters: Vec<ClusterOutcome<'a>>,
}

impl DiffReport<'_> {
    /// Whether any cluster failed.
    pub fn has_errors(&self) -> bool {
        self.clusters.iter().any(|c| c.result.is_err())
    }

    /// Whether any cluster differs from the plan.
    pub fn differs(&self) -> bool {
        self.clusters
            .iter()
            .any(|c| c.result.is_ok_and(|d| !d.in_sync()))
    }
}

/// The one-line summary of a cluster.
pub fn summary_line(c: &ClusterOutcome<'_>) -> String {
    match c.result {
        Err(e) => format!("{} ({}): error: {e}", c.cluster, c.environment),
        Ok(d) => {
            let mut parts = Vec::new();
            for ch in [
                Change::Added,
                Change::Changed,
                Change::Removed,
                Change::Unmanaged,
            ] {
                let n = d.count(ch);
                if n > 0 {
                    parts.push(format!("{n} {}", ch.as_str()));
                }
            }
            parts.push(format!("{} unchanged", d.unchanged.len()));
            let state = if d.in_sync() { "in sync" } else { "differs" };
            format!(
                "{} ({}): {state}: {}",
                c.cluster,
                c.environment,
                parts.join(", ")
            )
        }
    }
}

struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn symbol(c: Change) -> &'static str {
    match c {
        Change::Added => "+",
        Change::Changed => "~",
        Change::Removed => "-",
        Change::Unmanaged => "!",
    }
}

/// The text report.
pub fn text(report: &DiffReport<'_>, color: bool) -> String {
    let st = Style { color };
    let mut out = String::new();
    for c in &report.clusters {
        let line = summary_line(c);
        let code = match c.result {
            Err(_) => "1;31",
            Ok(d) if d.in_sync() => "1;32",
            Ok(_) => "1;33",
        };
        out.push_str(&st.paint(code, &line));
        out.push('\n');
        if let Ok(d) = c.result {
            for f in &d.findings {
                out.push_str(&format!("  finding: {f}\n"));
            }
        }
    }
    for c in &report.clusters {
        let Ok(d) = c.result else { continue };
        for o in &d.objects {
            out.push('\n');
            out.push_str(&st.paint("1", &object_heading(c.cluster, o)));
            out.push('\n');
            for f in &o.fields {
                out.push_str(&format!("  {}: {}\n", f.path, field_change(f.change)));
            }
            if let Some(n) = &o.note {
                out.push_str(&format!("  note: {n}\n"));
            }
            for line in diff_text(o).lines() {
                let painted = if line.starts_with("+++") || line.starts_with("---") {
                    st.paint("1", line)
                } else if line.starts_with('+') {
                    st.paint("32", line)
                } else if line.starts_with('-') {
                    st.paint("31", line)
                } else if line.starts_with("@@") {
                    st.paint("36", line)
                } else {
                    line.to_string()
                };
                out.push_str(&painted);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!("\nplan hash: {}\n", report.plan_hash));
    out
}

fn object_heading(cluster: &str, o: &ObjectDiff) -> String {
    let mut s = format!(
        "{} {} {} [{cluster}]",
        symbol(o.change),
        o.change.as_str(),
        o.key
    );
    if let Some(e) = o.effect {
        s.push_str(&format!(" (access: {})", e.as_str()));
    }
    s
}

fn field_change(c: super::compare::FieldChange) -> &'static str {
    use super::compare::FieldChange::*;
    match c {
        Missing => "missing live",
        Differs => "differs",
        Length => "different number of items",
        Removed => "no longer planned (owned by segplan)",
    }
}

/// The unified diff of one object (YAML, keys sorted), `live` to `planned`. Unmanaged objects
/// show their whole live YAML as context.
pub fn diff_text(o: &ObjectDiff) -> String {
    let yaml = |v: Option<&Value>| {
        v.map(|v| to_yaml(&mask_secrets(&o.key.kind, v)))
            .unwrap_or_default()
    };
    let before = yaml(o.before.as_ref());
    match o.change {
        Change::Unmanaged => before.lines().map(|l| format!("  {l}\n")).collect(),
        _ => {
            let after = if o.change == Change::Removed {
                String::new()
            } else {
                yaml(o.after.as_ref().or(o.desired.as_ref()))
            };
            let d = TextDiff::from_lines(&before, &after);
            let mut u = d.unified_diff();
            u.context_radius(3).header("live", "planned");
            let s = u.to_string();
            let _ = ChangeTag::Equal;
            s
        }
    }
}

/// YAML with map keys sorted, so live and planned objects line up.
pub fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(&sorted(v)).unwrap_or_else(|e| format!("# unprintable: {e}\n"))
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Replaces the values of a Secret's `data` and `stringData` with `***` (segplan renders no
/// Secret; if one shows up, its content never reaches the output).
pub fn mask_secrets(kind: &str, v: &Value) -> Value {
    let mut v = v.clone();
    if kind == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
                for val in m.values_mut() {
                    *val = Value::String("***".into());
                }
            }
        }
        if let Some(a) = v
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    v
}

fn counts(d: &ClusterDiff) -> Value {
    json!({
        "added": d.count(Change::Added),
        "changed": d.count(Change::Changed),
        "removed": d.count(Change::Removed),
        "unmanaged": d.count(Change::Unmanaged),
        "unchanged": d.unchanged.len(),
    })
}

/// The JSON report (schema [`JSON_SCHEMA`]).
pub fn json(report: &DiffReport<'_>) -> Value {
    let mut totals = [0usize; 5];
    let mut errors = 0;
    let clusters: Vec<Value> = report
        .clusters
        .iter()
        .map(|c| match c.result {
            Err(e) => {
                errors += 1;
                json!({"name": c.cluster, "environment": c.environment, "status": "error",
                       "error": e.to_string(), "findings": [], "counts": null, "objects": []})
            }
            Ok(d) => {
                for (i, ch) in [
                    Change::Added,
                    Change::Changed,
                    Change::Removed,
                    Change::Unmanaged,
                ]
                .into_iter()
                .enumerate()
                {
                    totals[i] += d.count(ch);
                }
                totals[4] += d.unchanged.len();
                json!({
                    "name": c.cluster,
                    "environment": c.environment,
                    "status": if d.in_sync() { "in-sync" } else { "differs" },
                    "error": null,
                    "findings": d.findings,
                    "counts": counts(d),
                    "objects": d.objects.iter().map(object_json).collect::<Vec<_>>(),
                })
            }
        })
        .collect();
    json!({
        "schema": JSON_SCHEMA,
        "plan_hash": report.plan_hash,
        "in_sync": !report.has_errors() && !report.differs(),
        "summary": {
            "clusters": report.clusters.len(),
            "errors": errors,
            "added": totals[0], "changed": totals[1], "removed": totals[2],
            "unmanaged": totals[3], "unchanged": totals[4],
        },
        "clusters": clusters,
    })
}

fn object_json(o: &ObjectDiff) -> Value {
    json!({
        "change": o.change.as_str(),
        "apiVersion": o.key.api_version,
        "kind": o.key.kind,
        "namespace": o.key.namespace,
        "name": o.key.name,
        "effect": o.effect.map(|e| e.as_str()),
        "fields": o.fields,
        "note": o.note,
        "conflicts": o.conflicts,
        "resourceVersion": o.resource_version,
        "diff": diff_text(o),
    })
}

/// The markdown report.
pub fn markdown(report: &DiffReport<'_>) -> String {
    let mut out = String::from("## segplan diff\n\n");
    out.push_str(
        "| Cluster | Environment | Status | Added | Changed | Removed | Unmanaged | Unchanged |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
    for c in &report.clusters {
        match c.result {
            Err(_) => out.push_str(&format!(
                "| {} | {} | :x: error | | | | | |\n",
                c.cluster, c.environment
            )),
            Ok(d) => out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.cluster,
                c.environment,
                if d.in_sync() { "in sync" } else { "differs" },
                d.count(Change::Added),
                d.count(Change::Changed),
                d.count(Change::Removed),
                d.count(Change::Unmanaged),
                d.unchanged.len()
            )),
        }
    }
    for c in &report.clusters {
        match c.result {
            Err(e) => out.push_str(&format!(
                "\n### {}\n\n**Error:** {}\n",
                c.cluster,
                md_escape(&e.to_string())
            )),
            Ok(d) if d.in_sync() => {}
            Ok(d) => {
                out.push_str(&format!("\n### {}\n\n", c.cluster));
                for f in &d.findings {
                    out.push_str(&format!("> **Finding:** {}\n\n", md_escape(f)));
                }
                for o in &d.objects {
                    out.push_str(&format!("- **{}** `{}`", o.change.as_str(), o.key));
                    if let Some(e) = o.effect {
                        out.push_str(&format!(" (access: {})", e.as_str()));
                    }
                    out.push('\n');
                    if let Some(n) = &o.note {
                        out.push_str(&format!("  - {}\n", md_escape(n)));
                    }
                    for f in &o.fields {
                        out.push_str(&format!("  - `{}`: {}\n", f.path, field_change(f.change)));
                    }
                    out.push_str("\n  <details><summary>YAML</summary>\n\n  ```diff\n");
                    for l in diff_text(o).lines() {
                        out.push_str(&format!("  {}\n", l.replace("```", "'''")));
                    }
                    out.push_str("  ```\n\n  </details>\n\n");
                }
            }
        }
    }
    out.push_str(&format!("\nPlan hash: `{}`\n", report.plan_hash));
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked() {
        let s = json!({"kind": "Secret", "data": {"token": "c2VjcmV0"}, "stringData": {"a": "b"}});
        let m = mask_secrets("Secret", &s);
        assert_eq!(m["data"]["token"], "***");
        assert_eq!(m["stringData"]["a"], "***");
        assert!(!to_yaml(&m).contains("c2VjcmV0"));
        assert_eq!(mask_secrets("ConfigMap", &s), s);
    }

    #[test]
    fn yaml_is_sorted() {
        let y = to_yaml(&json!({"b": 1, "a": {"d": 2, "c": [true]}}));
        assert_eq!(y, "a:\n  c:\n  - true\n  d: 2\nb: 1\n");
    }
}
