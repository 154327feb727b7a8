//! A `git status` limited to the paths segplan owns, built for large owned trees.
//!
//! libgit2's status with pathspecs matches every file against every pathspec and evaluates
//! ignore rules everywhere; with tens of thousands of owned files that dominates a small commit.
//! This check does what git does, directly: HEAD vs index by blob id, index vs working tree by
//! stat data (hashing only files whose stat changed or that are racily clean), and a walk of
//! the owned folders for untracked files (ignore rules are consulted only for those).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use git2::{Oid, Repository};

use super::GitopsError;
use super::tree::git;

/// Index entry data needed to decide whether a file changed.
struct Entry {
    id: Oid,
    size: u32,
    mtime: (i32, u32),
    stage: u16,
}

/// Paths under `owned` (folders or files, repository-relative) whose working-tree file or index
/// entry differs from `head` (`path -> blob id` of the HEAD tree under those paths), plus
/// untracked, non-ignored files there. Sorted.
pub fn dirty_owned(
    repo: &Repository,
    owned: &[String],
    head: &BTreeMap<String, Oid>,
) -> Result<Vec<String>, GitopsError> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    if owned.is_empty() {
        return Ok(Vec::new());
    }
    let is_owned = |path: &str| {
        owned.iter().any(|p| {
            path == p
                || (path.starts_with(p.as_str()) && path.as_bytes().get(p.len()) == Some(&b'/'))
        })
    };
    let index = repo.index().map_err(git("read the index"))?;
    let index_mtime = std::fs::metadata(repo.path().join("index"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    for e in index.iter() {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        if is_owned(&path) {
            entries.insert(
                path,
                Entry {
                    id: e.id,
                    size: e.file_size,
                    mtime: (e.mtime.seconds(), e.mtime.nanoseconds()),
                    stage: (e.flags >> 12) & 0x3,
                },
            );
        }
    }
    let mut dirty: Vec<String> = Vec::new();
    // HEAD vs index: staged changes, additions and deletions.
    for (path, id) in head {
        match entries.get(path) {
            Some(e) if e.id == *id && e.stage == 0 => {}
            _ => dirty.push(path.clone()),
        }
    }
    for (path, e) in &entries {
        if e.stage != 0 || !head.contains_key(path) {
            dirty.push(path.clone());
        }
    }
    // Index vs working tree, and untracked files.
    let mut seen: HashSet<String> = HashSet::new();
    for p in owned {
        walk(
            repo,
            workdir,
            p,
            &entries,
            index_mtime,
            &mut seen,
            &mut dirty,
        )?;
    }
    for path in entries.keys() {
        if !seen.contains(path) {
            dirty.push(path.clone()); // deleted in the working tree
        }
    }
    dirty.sort();
    dirty.dedup();
    Ok(dirty)
}

fn walk(
    repo: &Repository,
    workdir: &Path,
    rel: &str,
    entries: &HashMap<String, Entry>,
    index_mtime: Option<i64>,
    seen: &mut HashSet<String>,
    dirty: &mut Vec<String>,
) -> Result<(), GitopsError> {
    let full = workdir.join(rel);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) => m,
        Err(_) => return Ok(()), // missing: reported as deleted if tracked
    };
    let io = |source| GitopsError::Io {
        path: full.clone(),
        source,
    };
    if meta.is_dir() {
        if full.join(".git").exists() {
            dirty.push(format!("{rel}/")); // a nested repository
            return Ok(());
        }
        let mut names: Vec<String> = std::fs::read_dir(&full)
            .map_err(io)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            walk(
                repo,
                workdir,
                &format!("{rel}/{name}"),
                entries,
                index_mtime,
                seen,
                dirty,
            )?;
        }
        return Ok(());
    }
    seen.insert(rel.to_string());
    let Some(e) = entries.get(rel) else {
        if !repo.status_should_ignore(Path::new(rel)).unwrap_or(false) {
            dirty.push(rel.to_string());
        }
        return Ok(());
    };
    if !meta.is_file() {
        dirty.push(rel.to_string()); // a symlink or special file where a blob is tracked
        return Ok(());
    }
    let (secs, nanos) = mtime(&meta);
    let racy = index_mtime.is_none_or(|i| i64::from(secs) >= i);
    if !racy && e.size as u64 == meta.len() && e.mtime == (secs, nanos) {
        return Ok(());
    }
    let id = Oid::hash_file(git2::ObjectType::Blob, &full).map_err(git("hash a file"))?;
    if id != e.id {
        dirty.push(rel.to_string());
    }
    Ok(())
}

#[cfg(unix)]
fn mtime(meta: &std::fs::Metadata) -> (i32, u32) {
    use std::os::unix::fs::MetadataExt;
    (meta.mtime() as i32, meta.mtime_nsec() as u32)
}

#[cfg(not(unix))]
fn mtime(meta: &std::fs::Metadata) -> (i32, u32) {
    let d = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    (d.as_secs() as i32, d.subsec_nanos())
}
