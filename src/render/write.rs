//! `render --out DIR`: atomic file writes that never touch files segplan did not write.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::Rendered;

/// The list of files segplan wrote into a cluster folder, kept to remove stale ones later.
pub const INDEX_FILE: &str = ".segplan-files";

/// What `write_out` did.
#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// Writes each cluster to `dir/<cluster>/`. Files segplan wrote before and no longer renders
/// are removed; any other file is left alone.
pub fn write_out(rendered: &Rendered, dir: &Path) -> std::io::Result<WriteReport> {
    let mut report = WriteReport::default();
    for cluster in &rendered.clusters {
        let cdir = safe_join(dir, &cluster.name)?;
        std::fs::create_dir_all(&cdir)?;
        let files = cluster.files();
        let previous: BTreeSet<String> = std::fs::read_to_string(cdir.join(INDEX_FILE))
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default();
        for (rel, contents) in &files {
            let path = safe_join(&cdir, rel)?;
            if std::fs::read(&path).is_ok_and(|old| old == contents.as_bytes()) {
                report.unchanged += 1;
                continue;
            }
            atomic_write(&path, contents.as_bytes())?;
            report.written += 1;
        }
        for stale in previous.iter().filter(|p| !files.contains_key(*p)) {
            if let Ok(path) = safe_join(&cdir, stale)
                && path.is_file()
            {
                std::fs::remove_file(&path)?;
                report.removed += 1;
            }
        }
        let mut index: String = files.keys().map(|k| format!("{k}\n")).collect();
        if index.is_empty() {
            index.push('\n');
        }
        atomic_write(&cdir.join(INDEX_FILE), index.as_bytes())?;
    }
    Ok(report)
}

/// Joins a relative path made from names, refusing anything that could leave `base`.
pub fn safe_join(base: &Path, rel: &str) -> std::io::Result<PathBuf> {
    let rel_path = Path::new(rel);
    let ok = !rel.is_empty()
        && rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing path {rel:?}: it would leave {}", base.display()),
        ));
    }
    Ok(base.join(rel_path))
}

fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = parent.join(format!(".{file_name}.segplan-tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_refuses_escapes() {
        let base = Path::new("/out");
        assert!(safe_join(base, "a/b.yaml").is_ok());
        assert!(safe_join(base, "../x").is_err());
        assert!(safe_join(base, "/etc/passwd").is_err());
        assert!(safe_join(base, "a/../../x").is_err());
        assert!(safe_join(base, "").is_err());
    }
}
