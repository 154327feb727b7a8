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
        let raw = parse::<raw::ProjectFile>(&file, &mut diags, &mut soft).unwrap_or_default();
        (file, raw)
    });

    let mut env_paths = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
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
            let raw = parse::<raw::EnvFile>(&file, &mut diags, &mut soft).unwrap_or_default();
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

/// Reads one file as UTF-8 text, refusing huge files before reading them.
fn read_source(path: &Path, diags: &mut Diagnostics) -> Option<Arc<SourceFile>> {
    use std::io::Read;
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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
                None,
            );
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
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
            "file grew past the size limit while being read".into(),
            None,
        );
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some(SourceFile::new(path.to_path_buf(), text)),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let (line, col) = SourceFile::new(path.to_path_buf(), text).line_col(offset);
            fail(
                diags,
                "topology::not-utf8",
                format!("file is not valid UTF-8 (byte {offset}, line {line}, column {col})"),
                Some("TOML files must be UTF-8 encoded"),
            )
        }
    }
}

/// Parses TOML into `T`, reporting syntax errors, type errors and every unknown key.
fn parse<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    diags: &mut Diagnostics,
    soft: &mut Diagnostics,
) -> Option<T> {
    let de = match toml::de::Deserializer::parse(&file.text) {
        Ok(de) => de,
        Err(e) => {
            diags.push(toml_error(file, &e));
            return None;
        }
    };
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    for path in unknown {
        let path = path.replace("$__serde_spanned_private_value.", "");
        let span = key_span(&file.text, &path);
        let key = path.rsplit('.').next().unwrap_or(&path).to_string();
        let d = Diagnostic::error("topology::unknown-key", format!("unknown key `{path}`"))
            .at_opt(span.map(|s| Location::new(file, s)))
            .label("not a segplan key")
            .hint_opt(known_key_hint(&key).map(|k| format!("did you mean `{k}`?")))
            .in_file(&file.path);
        soft.push(d);
    }
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(toml_error(file, &e));
            None
        }
    }
}

fn toml_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    Diagnostic::error("topology::toml", format!("invalid TOML: {message}"))
        .at_opt(e.span().map(|s| Location::new(file, s)))
        .in_file(&file.path)
}

/// Every key segplan knows, for "did you mean" on unknown keys.
const KNOWN_KEYS: &[&str] = &[
    "project",
    "name",
    "templates",
    "dns_pod_labels",
    "zones",
    "description",
    "sensitivity",
    "internet_ingress",
    "internet_egress",
    "same_namespace",
    "flows",
    "from",
    "to",
    "ports",
    "reason",
    "profiles",
    "extends",
    "rules",
    "id",
    "check",
    "control",
    "severity",
    "exemptions",
    "rule",
    "justification",
    "namespace",
    "environment",
    "kind",
    "compliance",
    "clusters",
    "context",
    "api_server",
    "pod_cidr",
    "node_cidr",
    "service_cidr",
    "mesh",
    "node_pools",
    "labels",
    "taints",
    "key",
    "value",
    "effect",
    "namespaces",
    "zone",
    "team",
    "node_pool",
    "service_accounts",
    "annotations",
    "mesh_rules",
    "workload",
    "methods",
    "paths",
    "cross_cluster_flows",
    "cluster",
];

fn known_key_hint(key: &str) -> Option<String> {
    crate::diag::did_you_mean(key, KNOWN_KEYS.iter().copied())
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
