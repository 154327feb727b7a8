//! Reading a directory of manifests: the only I/O of the analysis.
//!
//! Every `.yaml`, `.yml` and `.json` file under the directory (recursively, in path order)
//! is read; YAML files may hold several documents. `List` objects (`List`, `PodList`,
//! `NamespaceList`, ...) are flattened into their items; an item without `kind` takes it from
//! the list (`PodList` -> `Pod`). Documents that are not Kubernetes objects (no `kind`) are
//! skipped with a debug log.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Objects read from files, each with the file it came from.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The objects, in file order then document order.
    pub objects: Vec<Value>,
    /// `sources[i]` is the file `objects[i]` came from.
    pub sources: Vec<PathBuf>,
}

/// A manifest directory that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
}

/// Reads every manifest under `dir`.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut out = Loaded::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Io {
            path: f.clone(),
            source,
        })?;
        for v in parse_text(&f, &text)? {
            flatten(v, None, &f, &mut out);
        }
    }
    Ok(out)
}

/// Parses one file's text: JSON for `.json`, multi-document YAML otherwise.
pub fn parse_text(path: &Path, text: &str) -> Result<Vec<Value>, LoadError> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    if is_json {
        let v: Value = serde_json::from_str(text).map_err(|e| LoadError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        return Ok(vec![v]);
    }
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| LoadError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(path);
        }
    }
    Ok(())
}

fn flatten(mut v: Value, item_kind: Option<&str>, file: &Path, out: &mut Loaded) {
    let Value::Object(map) = &mut v else {
        tracing::debug!(
            "{}: skipping a document that is not an object",
            file.display()
        );
        return;
    };
    if !map.contains_key("kind")
        && let Some(k) = item_kind
    {
        map.insert("kind".into(), Value::String(k.to_string()));
    }
    let kind = map.get("kind").and_then(Value::as_str).map(str::to_string);
    match kind {
        Some(kind) if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) => {
            let inner = kind
                .strip_suffix("List")
                .filter(|k| !k.is_empty())
                .map(str::to_string);
            if let Some(Value::Array(items)) = map.remove("items") {
                for item in items {
                    flatten(item, inner.as_deref(), file, out);
                }
            }
        }
        Some(_) => {
            out.objects.push(v);
            out.sources.push(file.to_path_buf());
        }
        None => tracing::debug!("{}: skipping a document without `kind`", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_documents_are_flattened() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "kind: Namespace\nmetadata: {name: a}\n---\n---\nkind: PodList\nitems:\n- metadata: {name: p}\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/b.json"),
            r#"{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "q"}}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("c.json"), r#"[{"src": "x"}]"#).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kind: Pod").unwrap();
        let l = load_dir(dir.path()).unwrap();
        let kinds: Vec<&str> = l
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Namespace", "Pod", "Pod"]);
        assert!(l.sources[2].ends_with("sub/b.json"));
    }

    #[test]
    fn parse_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed\n").unwrap();
        let e = load_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("bad.yaml"), "{e}");
        assert!(load_dir(&dir.path().join("missing")).is_err());
    }
}
