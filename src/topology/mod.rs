//! Reading a topology directory: `segplan.toml` plus one `<env>.toml` per environment.
//!
//! This stage only reads files and parses TOML into the span-carrying shapes of [`raw`]. It
//! reports every syntax error, unknown key and type error it can find, each with its file and
//! line; semantic checks (unknown zones, CIDRs, ...) belong to [`crate::model`].

pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::diag::{Diagnostic, Diagnostics, Location, SourceFile};

/// The project file's name inside a topology directory.
pub const PROJECT_FILE: &str = "segplan.toml";

/// Files larger than this are refused before they are read into memory.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// One environment file, parsed.
#[derive(Debug)]
pub struct EnvSource {
    /// The environment's name: the file name without `.toml`.
    pub name: String,
    pub file: Arc<SourceFile>,
    pub raw: raw::EnvFile,
}

/// A topology directory, parsed but not validated.
#[derive(Debug)]
pub struct Topology {
    pub dir: PathBuf,
    pub project_file: Arc<SourceFile>,
    pub project: raw::ProjectFile,
    /// Environments in name order.
    pub environments: Vec<EnvSource>,
}

impl Topology {
    /// Every source file of the topology, project file first.
    pub fn files(&self) -> impl Iterator<Item = &Arc<SourceFile>> {
        std::iter::once(&self.project_file).chain(self.environments.iter().map(|e| &e.file))
    }
}

/// Reads and parses a topology directory. `Ok` carries the topology and problems that do not
/// stop validation (unknown keys); `Err` every diagnostic when a file cannot be read or parsed.
pub fn load(dir: &Path) -> Result<(Topology, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut soft = Diagnostics::default();
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => {
            diags.push(
                Diagnostic::error(
                    "topology::missing-dir",
                    format!("cannot read topology directory: {e}"),
                )
                .in_file(dir)
                .hint("pass --topology DIR or set SEGPLAN_TOPOLOGY; `segplan init DIR` writes an example"),
            );
            return Err(diags);
        }
    };
    if !meta.is_dir() {
        diags.push(
            Diagnostic::error("topology::not-a-dir", "the topology must be a directory")
                .in_file(dir)
                .hint("point --topology at the directory that holds segplan.toml"),
        );
        return Err(diags);
    }

    let project_path = dir.join(PROJECT_FILE);
    let project = read_source(&project_path, &mut diags).map(|file| {
        let raw = parse::<raw::ProjectFile>(&file, FileKind::Project, &mut diags, &mut soft)
            .unwrap_or_default();
        (file, raw)
    });

    let mut env_paths = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    if path.extension().is_some_and(|e| e == "toml") {
                        diags.push(
                            Diagnostic::error("topology::invalid-name", "file name is not valid UTF-8")
                                .in_file(&path)
                                .hint("an environment's name is its file name; use lowercase letters, digits and `-`"),
                        );
                    }
                    continue;
                };
                if name == PROJECT_FILE || !name.ends_with(".toml") || name.starts_with('.') {
                    continue;
                }
                env_paths.push(path);
            }
        }
        Err(e) => diags.push(
            Diagnostic::error(
                "topology::unreadable-dir",
                format!("cannot list directory: {e}"),
            )
            .in_file(dir),
        ),
    }
    env_paths.sort();

    let mut environments = Vec::new();
    for path in env_paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if let Some(file) = read_source(&path, &mut diags) {
            let raw = parse::<raw::EnvFile>(&file, FileKind::Environment, &mut diags, &mut soft)
                .unwrap_or_default();
            environments.push(EnvSource { name, file, raw });
        }
    }

    if environments.is_empty() && project.is_some() && !diags.has_errors() {
        diags.push(
            Diagnostic::error(
                "topology::no-environments",
                "the topology has no environment files",
            )
            .in_file(dir)
            .hint("add one `<env>.toml` per environment next to segplan.toml"),
        );
    }

    match project {
        Some((project_file, project)) if !diags.has_errors() => Ok((
            Topology {
                dir: dir.to_path_buf(),
                project_file,
                project,
                environments,
            },
            soft,
        )),
        _ => {
            diags.extend(soft);
            Err(diags)
        }
    }
}

/// Which of the two file shapes a file has, for the keys it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Project,
    Environment,
}

/// Reads one file as UTF-8 text, refusing huge files before reading them.
fn read_source(path: &Path, diags: &mut Diagnostics) -> Option<Arc<SourceFile>> {
    use std::io::Read;
    let is_project = path.file_name().is_some_and(|n| n == PROJECT_FILE);
    let fail = |diags: &mut Diagnostics, code, msg: String, hint: Option<&str>| {
        let mut d = Diagnostic::error(code, msg).in_file(path);
        if let Some(h) = hint {
            d = d.hint(h);
        }
        diags.push(d);
        None
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_project => {
            return fail(
                diags,
                "topology::missing-file",
                "file not found".into(),
                Some(
                    "every topology directory needs a segplan.toml; `segplan init DIR` writes one",
                ),
            );
        }
        Err(e) => {
            return fail(
                diags,
                "topology::unreadable",
                format!("cannot read file: {e}"),
                Some(
                    "check that the file exists and is readable (a dangling symbolic link cannot be read)",
                ),
            );
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return fail(
                diags,
                "topology::unreadable",
                format!("cannot read file: {e}"),
                None,
            );
        }
    };
    if meta.is_dir() {
        return fail(
            diags,
            "topology::unreadable",
            "is a directory, not a file".into(),
            Some("every `*.toml` entry of the topology directory must be an environment file"),
        );
    }
    let len = meta.len();
    if len > MAX_FILE_BYTES {
        return fail(
            diags,
            "topology::too-large",
            format!(
                "file is {} MiB, more than the {} MiB a topology file may have",
                len / (1024 * 1024),
                MAX_FILE_BYTES / (1024 * 1024)
            ),
            Some("split the environment into several files, or check that this is the right file"),
        );
    }
    let mut bytes = Vec::with_capacity(len as usize);
    if let Err(e) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        return fail(
            diags,
            "topology::unreadable",
            format!("cannot read file: {e}"),
            None,
        );
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return fail(
            diags,
            "topology::too-large",
            format!(
                "file grew past the {} MiB limit while being read",
                MAX_FILE_BYTES / (1024 * 1024)
            ),
            None,
        );
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some(SourceFile::new(path.to_path_buf(), text)),
        Err(e) => {
            // Show the offending line, with the bad bytes replaced by U+FFFD. Everything before
            // the first bad byte is valid, so offsets up to it are the same in both texts.
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let shown = SourceFile::new(path.to_path_buf(), text);
            let width = '\u{FFFD}'.len_utf8();
            diags.push(
                Diagnostic::error(
                    "topology::not-utf8",
                    format!("file is not valid UTF-8 (byte {offset})"),
                )
                .at(Location::new(&shown, offset..offset + width))
                .label("not UTF-8")
                .hint("TOML files must be UTF-8 encoded; re-save the file as UTF-8")
                .in_file(path),
            );
            None
        }
    }
}

/// Parses TOML into `T`, reporting syntax errors, type errors and every unknown key.
fn parse<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    kind: FileKind,
    diags: &mut Diagnostics,
    soft: &mut Diagnostics,
) -> Option<T> {
    let de = match toml::de::Deserializer::parse(&file.text) {
        Ok(de) => de,
        Err(e) => {
            diags.push(syntax_error(file, &e));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    for path in unknown {
        let path = path.replace("$__serde_spanned_private_value.", "");
        soft.push(unknown_key(file, kind, &path));
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(schema_error(file, &e));
            None
        }
    }
}

/// A TOML syntax error: the file is not TOML at all.
fn syntax_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let mut message = e.message().trim().to_string();
    let duplicate = message.starts_with("duplicate key");
    if duplicate && let Some(key) = e.span().and_then(|s| file.text.get(s)) {
        message = format!("key `{}` is defined twice", key.trim_matches('"'));
    }
    let hint = duplicate
        .then_some("a table or key may appear only once in a file; merge the two definitions");
    Diagnostic::error("topology::toml", format!("invalid TOML: {message}"))
        .at_opt(e.span().map(|s| Location::new(file, s)))
        .hint_opt(hint.map(str::to_string))
        .in_file(&file.path)
}

/// A well-formed TOML file whose values do not have segplan's shape (a missing key, a string
/// where an array belongs).
fn schema_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let raw = e.message().trim();
    let mut message = raw
        .replace("missing field", "missing key")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table");
    // A missing key is reported on its table: name the table when it has a header.
    if raw.starts_with("missing field")
        && let Some(header) = e
            .span()
            .and_then(|s| file.text.get(s))
            .and_then(|t| t.lines().next())
            .map(str::trim)
            .filter(|l| l.starts_with('['))
    {
        message = format!("{message} in `{header}`");
    }
    let hint = if raw.contains("expected a boolean") {
        Some("write `true` or `false`, without quotes")
    } else if raw.contains("expected a sequence") {
        Some("put the values in brackets, e.g. `[\"443/TCP\"]`")
    } else if raw.contains("expected a string") {
        Some("quote the value, e.g. `\"443/TCP\"`")
    } else if raw.contains("missing field") {
        Some("see docs/topology.md for the keys each table needs")
    } else {
        None
    };
    Diagnostic::error("topology::schema", message)
        .at_opt(e.span().map(|s| Location::new(file, s)))
        .hint_opt(hint.map(str::to_string))
        .in_file(&file.path)
}

/// A key segplan does not know, with the keys its table accepts as the hint.
fn unknown_key(file: &Arc<SourceFile>, kind: FileKind, path: &str) -> Diagnostic {
    let span = key_span(&file.text, path);
    let parts: Vec<&str> = path.split('.').collect();
    let (key, table) = parts.split_last().unwrap_or((&"", &[]));
    let accepted = table_keys(kind, table);
    let hint = match crate::diag::did_you_mean(key, accepted.iter().copied()) {
        Some(k) => Some(format!("did you mean `{k}`?")),
        None if accepted.is_empty() => None,
        None => Some(format!("this table accepts: {}", accepted.join(", "))),
    };
    Diagnostic::error("topology::unknown-key", format!("unknown key `{path}`"))
        .at_opt(span.map(|s| Location::new(file, s)))
        .label("not a segplan key")
        .hint_opt(hint)
        .in_file(&file.path)
}

/// The keys a table accepts, by its path inside the file (names and indices are wildcards).
/// Keep in step with [`raw`].
fn table_keys(kind: FileKind, table: &[&str]) -> &'static [&'static str] {
    match (kind, table) {
        (FileKind::Project, []) => &["project", "zones", "flows", "profiles", "exemptions"],
        (FileKind::Project, ["project"]) => &["name", "templates", "dns_pod_labels"],
        (FileKind::Project, ["zones", _]) => &[
            "description",
            "sensitivity",
            "internet_ingress",
            "internet_egress",
            "same_namespace",
        ],
        (FileKind::Project, ["flows", _]) => &["from", "to", "ports", "reason"],
        (FileKind::Project, ["profiles", _]) => &["description", "extends", "rules"],
        (FileKind::Project, ["profiles", _, "rules", _]) => {
            &["id", "check", "control", "severity", "description"]
        }
        (FileKind::Project, ["exemptions", _]) => {
            &["rule", "justification", "namespace", "environment"]
        }
        (FileKind::Environment, []) => &[
            "environment",
            "clusters",
            "namespaces",
            "mesh_rules",
            "cross_cluster_flows",
        ],
        (FileKind::Environment, ["environment"]) => &["kind", "compliance", "description"],
        (FileKind::Environment, ["clusters", _]) => &[
            "context",
            "api_server",
            "pod_cidr",
            "node_cidr",
            "service_cidr",
            "mesh",
            "node_pools",
        ],
        (FileKind::Environment, ["clusters", _, "node_pools", _]) => &["labels", "taints"],
        (FileKind::Environment, ["clusters", _, "node_pools", _, "taints", _]) => {
            &["key", "value", "effect"]
        }
        (FileKind::Environment, ["namespaces", _]) => &[
            "zone",
            "team",
            "compliance",
            "node_pool",
            "clusters",
            "service_accounts",
            "labels",
            "annotations",
        ],
        (FileKind::Environment, ["mesh_rules", _]) => &[
            "name",
            "namespace",
            "workload",
            "from",
            "methods",
            "paths",
            "ports",
        ],
        (FileKind::Environment, ["cross_cluster_flows", _]) => &["from", "to", "ports", "reason"],
        (FileKind::Environment, ["cross_cluster_flows", _, "from" | "to"]) => {
            &["environment", "cluster", "zone"]
        }
        _ => &[],
    }
}

/// Finds the span of the key at a serde_ignored path (`a.b.0.c`) in a TOML document.
fn key_span(text: &str, path: &str) -> Option<std::ops::Range<usize>> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let parts: Vec<&str> = path.split('.').collect();
    let mut table = root.get_ref();
    let mut i = 0;
    loop {
        let part = parts.get(i)?;
        let (key, value) = table.get_key_value(*part)?;
        if i + 1 == parts.len() {
            return Some(key.span());
        }
        let mut value = value.get_ref();
        i += 1;
        // Array indices.
        while let DeValue::Array(items) = value {
            let idx: usize = parts.get(i)?.parse().ok()?;
            value = items.get(idx)?.get_ref();
            i += 1;
        }
        match value {
            DeValue::Table(t) => table = t,
            _ => return Some(key.span()),
        }
    }
}

/// Pairs each key of a table with its span in the file, found from its value's span: on a
/// `[table.key]` header the key's last mention in the header, else its last mention before the
/// value on the same line.
pub fn keyed<'a, V>(
    file: &SourceFile,
    map: &'a std::collections::BTreeMap<String, raw::S<V>>,
) -> Vec<(raw::S<String>, &'a raw::S<V>)> {
    map.iter()
        .map(|(k, v)| {
            (
                raw::S::new(key_span_near(&file.text, v.span().start, k), k.clone()),
                v,
            )
        })
        .collect()
}

fn key_span_near(text: &str, value_start: usize, key: &str) -> std::ops::Range<usize> {
    let value_start = value_start.min(text.len());
    let line_start = text[..value_start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[value_start..]
        .find('\n')
        .map_or(text.len(), |i| value_start + i);
    let line = &text[line_start..line_end];
    let haystack = if line.trim_start().starts_with('[') {
        line
    } else {
        &text[line_start..value_start]
    };
    match haystack.rfind(key) {
        Some(i) => line_start + i..line_start + i + key.len(),
        None => value_start..value_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_span_follows_tables_and_arrays() {
        let text = "[zones.dmz]\ncolour = 1\n[[flows]]\nfrom='a'\n[[flows]]\nfrom='b'\nbogus=2\n";
        let s = key_span(text, "zones.dmz.colour").unwrap();
        assert_eq!(&text[s], "colour");
        let s = key_span(text, "flows.1.bogus").unwrap();
        assert_eq!(&text[s], "bogus");
        assert!(key_span(text, "flows.7.bogus").is_none());
    }
}
