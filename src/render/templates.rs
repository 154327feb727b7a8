//! The Tera engine: embedded default templates, user overrides, and the filters that keep
//! user strings from injecting YAML.
//!
//! Every `{{ value }}` is passed through an escape function that writes it as a JSON string
//! (a valid YAML double-quoted scalar), so a label value holding `"\n: "` stays one string.
//! Numbers must go through `| num`, structures through `| json`; both refuse anything else.
//! `| safe` is disabled: it would bypass the quoting.

use std::path::{Path, PathBuf};

use tera::{Kwargs, State, Tera, Value};

use super::RenderError;

/// The default templates, embedded in the binary.
pub const DEFAULTS: &[(&str, &str)] = &[
    (
        "_metadata.yaml",
        include_str!("../../templates/_metadata.yaml"),
    ),
    ("_peer.yaml", include_str!("../../templates/_peer.yaml")),
    ("_ports.yaml", include_str!("../../templates/_ports.yaml")),
    (
        "namespace.yaml",
        include_str!("../../templates/namespace.yaml"),
    ),
    (
        "networkpolicy.yaml",
        include_str!("../../templates/networkpolicy.yaml"),
    ),
    (
        "validatingadmissionpolicy.yaml",
        include_str!("../../templates/validatingadmissionpolicy.yaml"),
    ),
    (
        "validatingadmissionpolicybinding.yaml",
        include_str!("../../templates/validatingadmissionpolicybinding.yaml"),
    ),
    (
        "authorizationpolicy.yaml",
        include_str!("../../templates/authorizationpolicy.yaml"),
    ),
    (
        "peerauthentication.yaml",
        include_str!("../../templates/peerauthentication.yaml"),
    ),
];

/// The loaded templates, and where each came from (for error messages).
pub struct Templates {
    pub(crate) tera: Tera,
    sources: Vec<(String, Option<PathBuf>)>,
}

impl Templates {
    /// The path of a template overridden from disk, or `templates/<name> (embedded)`.
    pub fn origin(&self, name: &str) -> String {
        match self.sources.iter().find(|(n, _)| n == name) {
            Some((_, Some(p))) => p.display().to_string(),
            _ => format!("templates/{name} (embedded)"),
        }
    }
}

/// Writes a string as a YAML scalar that reads back as exactly that string: plain when it is
/// a conservative identifier-like word YAML 1.1 cannot mistake for a bool, null or number,
/// else a JSON (double-quoted YAML) string.
pub fn escape_yaml(input: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    // Plain exactly when the fast reader reads it back as this string: one rule for both.
    if super::fast_yaml::is_plain_string(input) {
        out.write_all(input.as_bytes())
    } else {
        serde_json::to_writer(&mut *out, input).map_err(std::io::Error::other)
    }
}

fn num(value: Value, _: Kwargs, _: &State) -> tera::TeraResult<Value> {
    if value.is_number() {
        Ok(value.mark_safe())
    } else {
        Err(tera::Error::message(format!(
            "`num` expects a number, got `{value}`"
        )))
    }
}

fn json(value: Value, _: Kwargs, _: &State) -> tera::TeraResult<Value> {
    let s = serde_json::to_string(&value).map_err(|e| tera::Error::message(e.to_string()))?;
    Ok(Value::safe_string(&s))
}

fn no_safe(_: Value, _: Kwargs, _: &State) -> tera::TeraResult<Value> {
    Err(tera::Error::message(
        "the `safe` filter is disabled in segplan templates: it would let user strings inject YAML; use `json` for structures",
    ))
}

/// Loads the embedded templates, then the files of `dir` (if any) over them, name by name.
pub fn load(dir: Option<&Path>) -> Result<Templates, RenderError> {
    let mut tera = Tera::default();
    tera.autoescape_on([".yaml"]);
    tera.set_escape_fn(escape_yaml);
    tera.register_filter("num", num);
    tera.register_filter("json", json);
    tera.register_filter("safe", no_safe);
    let mut sources: Vec<(String, Option<PathBuf>)> = Vec::new();
    let mut texts: Vec<(String, String)> = DEFAULTS
        .iter()
        .map(|(n, t)| (n.to_string(), t.trim_end().to_string()))
        .collect();
    for (n, _) in DEFAULTS {
        sources.push((n.to_string(), None));
    }
    if let Some(dir) = dir {
        let entries = std::fs::read_dir(dir).map_err(|e| RenderError::TemplateDir {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if !name.ends_with(".yaml") {
                continue;
            }
            if !DEFAULTS.iter().any(|(n, _)| *n == name) {
                let known: Vec<&str> = DEFAULTS.iter().map(|(n, _)| *n).collect();
                return Err(RenderError::UnknownTemplate {
                    path,
                    known: known.join(", "),
                });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| RenderError::TemplateDir {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if let Some(t) = texts.iter_mut().find(|(n, _)| *n == name) {
                t.1 = text.trim_end().to_string();
            }
            if let Some(s) = sources.iter_mut().find(|(n, _)| *n == name) {
                s.1 = Some(path);
            }
        }
    }
    let templates_for_error = Templates {
        tera: Tera::default(),
        sources: sources.clone(),
    };
    tera.add_raw_templates(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .map_err(|e| RenderError::Template {
            template: templates_for_error.origin(&failing_template(&e, &texts)),
            message: tera_message(&e),
        })?;
    Ok(Templates { tera, sources })
}

/// Which template an error is about, from the name Tera puts in its report.
fn failing_template(e: &tera::Error, texts: &[(String, String)]) -> String {
    let msg = format!("{e}");
    texts
        .iter()
        .map(|(n, _)| n)
        .find(|n| msg.contains(n.as_str()))
        .cloned()
        .unwrap_or_else(|| "?".into())
}

/// Tera's full report: its message, the template, line and a snippet.
pub fn tera_message(e: &tera::Error) -> String {
    use std::error::Error;
    let mut msg = format!("{e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = Vec::new();
        escape_yaml(s, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_only_when_yaml_cannot_misread_it() {
        assert_eq!(esc("payments"), "payments");
        assert_eq!(esc("segplan.io/zone"), "segplan.io/zone");
        for tricky in [
            "on", "yes", "No", "y", "1_000", "0777", "1e3", "true", "null", "", "a: b", "x\ny",
            "-x", ".inf", "~",
        ] {
            let e = esc(tricky);
            assert!(e.starts_with('"'), "{tricky:?} must be quoted, got {e}");
            let back: String = serde_saphyr::from_str(&format!("v: {e}"))
                .map(|m: std::collections::BTreeMap<String, String>| m["v"].clone())
                .unwrap();
            assert_eq!(back, tricky);
        }
    }
}
