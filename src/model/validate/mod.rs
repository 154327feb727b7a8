//! The checks that turn a parsed [`Topology`] into a [`Model`].
//!
//! One context ([`Cx`]) collects every diagnostic while the parts run: the project file
//! ([`project`]: zones, flows, profiles, exemptions), each environment file ([`environment`]:
//! clusters, node pools, namespaces), mesh rules ([`mesh`]) and cross-cluster flows
//! ([`cross`]), which reference things of several files.

mod cross;
mod environment;
mod mesh;
mod project;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::names::{dns_label_problem, is_dns_label, is_label_key, is_label_value};
use super::*;
use crate::diag::{Diagnostic, Diagnostics, Location, SourceFile, did_you_mean};
use crate::topology::raw::{self, S};
use crate::topology::{EnvSource, KeyIndex, Topology, keyed};

/// Validates the topology. `Ok` carries the model and any warnings; `Err` every diagnostic.
/// `earlier` carries the parsing stage's diagnostics (unknown keys, environment files that
/// could not be parsed); checks that would report the missing environments' absence as
/// errors of their own are skipped while any is missing.
pub fn build(
    topology: &Topology,
    earlier: Diagnostics,
) -> Result<(Model, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut cx = Cx {
        diags: earlier,
        dir: topology.dir.clone(),
        failed: topology.failed_environments.clone(),
    };
    let model = cx.model(topology);
    let diags = cx.diags;
    if diags.has_errors() {
        Err(diags.into_sorted())
    } else {
        Ok((model, diags.into_sorted()))
    }
}

struct Cx {
    diags: Diagnostics,
    dir: std::path::PathBuf,
    /// Environments whose file did not parse: references to them are not "unknown".
    failed: Vec<String>,
}

impl Cx {
    fn loc<T>(&self, file: &Arc<SourceFile>, s: &S<T>) -> Location {
        Location::new(file, s.span())
    }

    fn origin<T>(&self, file: &Arc<SourceFile>, s: &S<T>) -> Origin {
        let location = self.loc(file, s);
        let file_name = file
            .path
            .strip_prefix(&self.dir)
            .unwrap_or(&file.path)
            .display()
            .to_string();
        Origin {
            file: file_name,
            line: location.line(),
            location,
        }
    }

    fn err(
        &mut self,
        code: &'static str,
        file: &Arc<SourceFile>,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags
            .push_mut(Diagnostic::error(code, msg).at(Location::new(file, span)))
    }

    fn name(&mut self, file: &Arc<SourceFile>, name: &S<String>, what: &str) -> bool {
        if is_dns_label(name.get_ref()) {
            true
        } else {
            let problem = dns_label_problem(name.get_ref());
            let suggestion = name
                .get_ref()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            let suggestion = suggestion.trim_matches('-').to_string();
            let d = self.err(
                "topology::invalid-name",
                file,
                name.span(),
                format!("invalid {what} name: {problem}"),
            );
            d.label = Some("not a DNS-1123 label".into());
            // Suggest only what keeps every letter (no `ünï` -> `n`).
            if name.get_ref().is_ascii() && is_dns_label(&suggestion) {
                d.hint = Some(format!("try `{suggestion}`"));
            }
            false
        }
    }

    fn ports(&mut self, file: &Arc<SourceFile>, ports: &[S<String>]) -> Vec<PortSpec> {
        let mut out = Vec::new();
        for p in ports {
            match p.get_ref().parse::<PortSpec>() {
                Ok(spec) => {
                    if out.contains(&spec) {
                        self.err(
                            "topology::duplicate-port",
                            file,
                            p.span(),
                            format!("port `{spec}` is listed twice"),
                        )
                        .hint = Some("remove the repeated entry".into());
                    } else {
                        out.push(spec);
                    }
                }
                Err(e) => {
                    let hint = match &e {
                        PortError::Protocol(pr)
                            if ["TCP", "UDP", "SCTP"].contains(&pr.to_uppercase().as_str()) =>
                        {
                            Some(format!(
                                "protocols are upper case: `{}`",
                                p.get_ref().to_uppercase()
                            ))
                        }
                        PortError::MissingProtocol => Some(format!("write `{}/TCP`", p.get_ref())),
                        _ => Some("ports look like `443/TCP` or `8000-8100/TCP`".into()),
                    };
                    self.err(
                        "topology::invalid-port",
                        file,
                        p.span(),
                        format!("invalid port `{}`: {e}", p.get_ref()),
                    )
                    .hint = hint;
                }
            }
        }
        out
    }

    fn labels(
        &mut self,
        file: &Arc<SourceFile>,
        keys: &KeyIndex,
        labels: &BTreeMap<String, S<String>>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in &keyed(keys, labels) {
            if !is_label_key(k.get_ref()) {
                self.err(
                    "topology::invalid-label",
                    file,
                    k.span(),
                    format!("`{}` is not a valid label key", k.get_ref()),
                )
                .hint = Some(format!(
                    "a label key is `[prefix/]name`, the name at most 63 of letters, digits, `-`, `_` and `.`{}",
                    label_suggestion(k.get_ref())
                ));
            }
            if !is_label_value(v.get_ref()) {
                self.err(
                    "topology::invalid-label",
                    file,
                    v.span(),
                    format!("{:?} is not a valid label value (at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends)", v.get_ref()),
                )
                .hint = label_suggestion_hint(v.get_ref());
            }
            out.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        out
    }

    fn unknown(
        &mut self,
        code: &'static str,
        file: &Arc<SourceFile>,
        name: &S<String>,
        what: &str,
        known: &[&str],
    ) {
        let hint = did_you_mean(name.get_ref(), known.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .or_else(|| {
                (!known.is_empty()).then(|| format!("known {}: {}", plural(what), known.join(", ")))
            });
        let d = self.err(
            code,
            file,
            name.span(),
            format!("unknown {what} `{}`", name.get_ref()),
        );
        d.hint = hint;
        d.label = Some(format!("no such {what}"));
    }
}

/// `; try `x`` for a string that becomes a valid label name once cleaned up, else nothing.
fn label_suggestion(s: &str) -> String {
    label_suggestion_hint(s)
        .map(|h| format!("; {h}"))
        .unwrap_or_default()
}

fn label_suggestion_hint(s: &str) -> Option<String> {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    (cleaned != s && is_label_key(&cleaned) && (!cleaned.contains('/') || s.contains('/')))
        .then(|| format!("try `{cleaned}`"))
}

/// The plural of a noun of this module's messages (`zone` -> `zones`, `sensitivity` ->
/// `sensitivities`, `mesh` -> `meshes`).
fn plural(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix('y') {
        format!("{stem}ies")
    } else if noun.ends_with('s') || noun.ends_with("sh") {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
