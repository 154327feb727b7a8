//! Reading a topology directory: `segplan.toml` plus one `<env>.toml` per environment.
//!
//! This stage only reads files and parses TOML into the span-carrying shapes of [`raw`]. It
//! reports every syntax error, unknown key and type error it can find, each with its file and
//! line; semantic checks (unknown zones, CIDRs, ...) belong to [`crate::model`].

mod keys;
pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::diag::{Diagnostic, Diagnostics, Location, SourceFile};

pub use keys::{KeyIndex, keyed};

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
    /// Where each key of the file is.
    pub keys: KeyIndex,
}

/// A topology directory, parsed but not validated.
#[derive(Debug)]
pub struct Topology {
    pub dir: PathBuf,
    pub project_file: Arc<SourceFile>,
    pub project: raw::ProjectFile,
    /// Where each key of the project file is.
    pub project_keys: KeyIndex,
    /// Environments in name order.
    pub environments: Vec<EnvSource>,
    /// Environments whose file could not be read or parsed (their errors are among the
    /// diagnostics [`load`] returns); checks that would miss them are skipped.
    pub failed_environments: Vec<String>,
}

impl Topology {
    /// Every source file of the topology, project file first.
    pub fn files(&self) -> impl Iterator<Item = &Arc<SourceFile>> {
        std::iter::once(&self.project_file).chain(self.environments.iter().map(|e| &e.file))
    }
}

/// Reads and parses a topology directory.
///
/// `Ok` carries the topology and every problem found so far: unknown keys, and the errors of
/// environment files that could not be read or parsed, which are left out of the topology and
/// named in [`Topology::failed_environments`], so the other files are still validated. `Err`
/// carries every diagnostic when `segplan.toml` cannot be read or parsed, or the directory has
/// no environment file.
pub fn load(dir: &Path) -> Result<(Topology, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
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

    tracing::debug!("reading topology directory {}", dir.display());
    let project = read_source(&dir.join(PROJECT_FILE), &mut diags);

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
                if is_env_file_name(name) {
                    env_paths.push(path);
                }
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
    let env_files = env_paths
        .into_iter()
        .map(|path| {
            let file = read_source(&path, &mut diags);
            (path, file)
        })
        .collect();
    assemble(dir, project, env_files, diags)
}

/// Parses a topology given as in-memory files (`(file name, bytes)`), exactly as [`load`]
/// would parse a directory `dir` holding them. Files that [`load`] would skip (not `*.toml`,
/// hidden) are skipped here too. For tests and tools that build topologies without a disk.
pub fn load_files(
    dir: &Path,
    files: &[(&str, &[u8])],
) -> Result<(Topology, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut files: Vec<&(&str, &[u8])> = files.iter().collect();
    files.sort_by_key(|(name, _)| *name);
    let project_path = dir.join(PROJECT_FILE);
    let project = match files.iter().find(|(name, _)| *name == PROJECT_FILE) {
        Some((_, bytes)) => decode(&project_path, bytes.to_vec(), &mut diags),
        None => {
            diags.push(missing_project_file(&project_path));
            None
        }
    };
    let env_files = files
        .iter()
        .filter(|(name, _)| is_env_file_name(name))
        .map(|(name, bytes)| {
            let path = dir.join(name);
            let file = decode(&path, bytes.to_vec(), &mut diags);
            (path, file)
        })
        .collect();
    assemble(dir, project, env_files, diags)
}

/// Whether a directory entry is an environment file: `*.toml`, not hidden, not segplan.toml.
fn is_env_file_name(name: &str) -> bool {
    name != PROJECT_FILE && name.ends_with(".toml") && !name.starts_with('.')
}

fn missing_project_file(path: &Path) -> Diagnostic {
    Diagnostic::error("topology::missing-file", "file not found")
        .in_file(path)
        .hint("every topology directory needs a segplan.toml; `segplan init DIR` writes one")
}

/// Parses the files read (environment files in name order; `None` for a file that could not
/// be read) into a [`Topology`].
fn assemble(
    dir: &Path,
    project: Option<Arc<SourceFile>>,
    env_files: Vec<(PathBuf, Option<Arc<SourceFile>>)>,
    mut diags: Diagnostics,
) -> Result<(Topology, Diagnostics), Diagnostics> {
    let project = project.and_then(|file| {
        parse::<raw::ProjectFile>(&file, FileKind::Project, &mut diags)
            .map(|(raw, keys)| (file, raw, keys))
    });
    let no_files = env_files.is_empty();
    let mut environments = Vec::new();
    let mut failed_environments = Vec::new();
    for (path, file) in env_files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parsed = file.and_then(|file| {
            parse::<raw::EnvFile>(&file, FileKind::Environment, &mut diags)
                .map(|(raw, keys)| (file, raw, keys))
        });
        match parsed {
            Some((file, raw, keys)) => environments.push(EnvSource {
                name,
                file,
                raw,
                keys,
            }),
            None => failed_environments.push(name),
        }
    }

    if no_files && project.is_some() {
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
        Some((project_file, project, project_keys))
            if !environments.is_empty() || !failed_environments.is_empty() =>
        {
            Ok((
                Topology {
                    dir: dir.to_path_buf(),
                    project_file,
                    project,
                    project_keys,
                    environments,
                    failed_environments,
                },
                diags,
            ))
        }
        _ => Err(diags),
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
            diags.push(missing_project_file(path));
            return None;
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
    tracing::debug!("read {} ({} bytes)", path.display(), bytes.len());
    decode(path, bytes, diags)
}

/// Checks a file's size and decodes it as UTF-8.
fn decode(path: &Path, bytes: Vec<u8>, diags: &mut Diagnostics) -> Option<Arc<SourceFile>> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        diags.push(
            Diagnostic::error(
                "topology::too-large",
                format!(
                    "file is larger than the {} MiB a topology file may have",
                    MAX_FILE_BYTES / (1024 * 1024)
                ),
            )
            .in_file(path),
        );
        return None;
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

/// At most this many syntax errors are reported per file: after the first few, the parser's
/// recovery mostly finds echoes of them.
const MAX_SYNTAX_ERRORS: usize = 5;

/// Parses TOML into `T`, reporting syntax errors, type errors and every unknown key.
fn parse<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    kind: FileKind,
    diags: &mut Diagnostics,
) -> Option<(T, KeyIndex)> {
    let (table, errors) = toml::de::DeTable::parse_recoverable(&file.text);
    if !errors.is_empty() {
        for e in without_echoes(&file.text, &errors)
            .into_iter()
            .take(MAX_SYNTAX_ERRORS)
        {
            diags.push(syntax_error(file, e));
        }
        return None;
    }
    let keys = KeyIndex::of(table.get_ref());
    let de = toml::de::Deserializer::from(table);
    let mut unknown = Vec::new();
    let result: Result<T, _> =
        serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
    let paths = if unknown.is_empty() {
        Default::default()
    } else {
        keys::key_paths(&file.text)
    };
    for path in unknown {
        // serde_ignored names `Spanned` wrappers and `Option`s too; users never wrote those.
        let path: Vec<&str> = path
            .split('.')
            .filter(|p| *p != "$__serde_spanned_private_value" && *p != "?")
            .collect();
        let path = path.join(".");
        diags.push(unknown_key(file, paths.get(&path).cloned(), kind, &path));
    }
    match result {
        Ok(v) => Some((v, keys)),
        Err(e) => {
            diags.push(schema_error(file, &e));
            None
        }
    }
}

/// Drops the errors that only echo an earlier one: once a table header is a duplicate, every
/// key of its body is reported as a duplicate too.
fn without_echoes<'e>(text: &str, errors: &'e [toml::de::Error]) -> Vec<&'e toml::de::Error> {
    let line_at = |offset: usize| {
        let offset = offset.min(text.len());
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        (start, &text[start..end])
    };
    let mut sorted: Vec<&toml::de::Error> = errors.iter().collect();
    sorted.sort_by_key(|e| e.span().map(|s| s.start));
    let mut kept = Vec::new();
    let mut duplicate_table_since: Option<usize> = None;
    for e in sorted {
        let Some(span) = e.span() else {
            kept.push(e);
            continue;
        };
        let (line_start, line) = line_at(span.start);
        let is_header = line.trim_start().starts_with('[');
        let duplicate = e.message().starts_with("duplicate key");
        if let Some(since) = duplicate_table_since {
            let header_between = text[since..line_start]
                .lines()
                .skip(1)
                .any(|l| l.trim_start().starts_with('['));
            if duplicate && !is_header && !header_between {
                continue;
            }
        }
        duplicate_table_since = (duplicate && is_header).then_some(line_start);
        kept.push(e);
    }
    kept
}

/// A TOML syntax error: the file is not TOML at all.
fn syntax_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let mut message = e.message().trim().to_string();
    let duplicate = message.starts_with("duplicate key");
    if duplicate && let Some(key) = e.span().and_then(|s| file.text.get(s)) {
        message = format!("key `{}` is defined twice", key.trim_matches('"'));
    }
    let hint = if duplicate {
        Some("a table or key may appear only once in a file; merge the two definitions".to_string())
    } else if message.contains("must be quoted") {
        e.span()
            .and_then(|s| file.text.get(s))
            .map(|v| format!("write `\"{}\"`", v.trim()))
    } else {
        None
    };
    Diagnostic::error("topology::toml", format!("invalid TOML: {message}"))
        .at_opt(e.span().map(|s| Location::new(file, s)))
        .hint_opt(hint)
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
fn unknown_key(
    file: &Arc<SourceFile>,
    span: Option<std::ops::Range<usize>>,
    kind: FileKind,
    path: &str,
) -> Diagnostic {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table whose keys [`table_keys`] knows, with both file kinds.
    const TABLES: &[(FileKind, &[&str])] = &[
        (FileKind::Project, &[]),
        (FileKind::Project, &["project"]),
        (FileKind::Project, &["zones", "z"]),
        (FileKind::Project, &["flows", "0"]),
        (FileKind::Project, &["profiles", "p"]),
        (FileKind::Project, &["profiles", "p", "rules", "0"]),
        (FileKind::Project, &["exemptions", "0"]),
        (FileKind::Environment, &[]),
        (FileKind::Environment, &["environment"]),
        (FileKind::Environment, &["clusters", "c"]),
        (FileKind::Environment, &["clusters", "c", "node_pools", "p"]),
        (
            FileKind::Environment,
            &["clusters", "c", "node_pools", "p", "taints", "0"],
        ),
        (FileKind::Environment, &["namespaces", "n"]),
        (FileKind::Environment, &["mesh_rules", "0"]),
        (FileKind::Environment, &["cross_cluster_flows", "0"]),
        (FileKind::Environment, &["cross_cluster_flows", "0", "from"]),
    ];

    /// The keys of the unknown-key hints are the documented ones, and each of them is used by
    /// the valid corpus's `full` topology, which validates without an unknown key (so serde
    /// accepts it: see tests/validate.rs).
    #[test]
    fn accepted_keys_are_documented_and_used() {
        let doc = include_str!("../../docs/topology.md");
        let full = [
            include_str!("../../tests/topologies/valid/full/segplan.toml"),
            include_str!("../../tests/topologies/valid/full/prod.toml"),
            include_str!("../../tests/topologies/valid/full/mgmt.toml"),
        ]
        .concat();
        for (kind, table) in TABLES {
            let keys = table_keys(*kind, table);
            assert!(!keys.is_empty(), "{kind:?} {table:?}");
            for key in keys {
                let documented = doc.contains(&format!("| `{key}` |"))
                    || doc.contains(&format!("### `[{key}"))
                    || doc.contains(&format!("### `[[{key}"));
                assert!(
                    documented,
                    "`{key}` has no row or section in docs/topology.md"
                );
                // `templates` needs a directory of templates; the loader tests cover it.
                if *key != "templates" {
                    let used = full.lines().any(|l| {
                        let l = l.trim_start().trim_start_matches('[');
                        l.starts_with(&format!("{key} ="))
                            || l.starts_with(&format!("{key}."))
                            || l.starts_with(&format!("{key}]"))
                            || l.contains(&format!(" {key} = "))
                            || l.contains(&format!("{{ {key} = "))
                            || l.contains(&format!(".{key}]"))
                            || l.contains(&format!(".{key}."))
                    });
                    assert!(
                        used,
                        "`{key}` ({kind:?} {table:?}) is not used by the full corpus"
                    );
                }
            }
        }
    }
}
