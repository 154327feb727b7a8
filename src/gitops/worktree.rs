//! The working tree and index of a non-bare repository: the safety checks before a commit and
//! the update after it.
//!
//! Before: the index must not be locked, and no path segplan owns may differ from HEAD (staged,
//! unstaged or untracked; see [`super::status`]); just before the commit point, the files the
//! commit touches are checked again ([`touched_since`]). After the branch moved, only the files
//! the commit changed are written or deleted, and only their index entries are replaced (with
//! fresh stat data, so `git status` needs no re-hash); staged work elsewhere in the index is kept
//! as it is. The index is rewritten by [`super::index`] when it is in a format segplan handles,
//! by libgit2 otherwise.

use std::path::{Path, PathBuf};

use git2::{IndexEntry, IndexTime, Repository};

use super::GitopsError;
use super::index::{IndexFile, Written};
use super::tree::{ChangeKind, FileChange, git};

/// The index lock file of a repository.
pub fn index_lock(repo: &Repository) -> PathBuf {
    repo.path().join("index.lock")
}

/// Refuses when another process holds the index lock.
pub fn check_index_lock(repo: &Repository) -> Result<(), GitopsError> {
    let lock = index_lock(repo);
    if lock.exists() {
        return Err(GitopsError::IndexLocked { path: lock });
    }
    Ok(())
}

/// The changed paths whose working-tree file or index entry no longer matches the old commit
/// (edited, staged, created or deleted since the full check). Costs one stat and hash per
/// changed file, so it can run just before the commit point. `index` is the index the check
/// read (read again if it changed since; `None`: libgit2's, which `repo` holds); returned as
/// it is now.
pub fn touched_since(
    repo: &Repository,
    index: Option<IndexFile>,
    changes: &[FileChange],
) -> Result<(Vec<String>, Option<IndexFile>), GitopsError> {
    let Some(workdir) = repo.workdir() else {
        return Ok((Vec::new(), index));
    };
    let own = match index {
        Some(index) => index.current()?,
        None => None,
    };
    let libgit2 = match own {
        Some(_) => None,
        None => {
            let mut index = repo.index().map_err(git("read the index"))?;
            // Re-read only if the file changed since the working-tree check read it.
            index.read(false).map_err(git("read the index"))?;
            Some(index)
        }
    };
    let mut touched = Vec::new();
    for c in changes {
        let full = workdir.join(&c.path);
        let on_disk = if full.is_file() {
            Some(
                super::tree::file_id(&full).map_err(|source| GitopsError::Io {
                    path: full.clone(),
                    source,
                })?,
            )
        } else if full.exists() {
            Some(git2::Oid::ZERO_SHA1) // a folder where the file should be
        } else {
            None
        };
        let staged = match (&own, &libgit2) {
            (Some(own), _) => own.id_of(c.path.as_bytes()),
            (None, Some(index)) => index.get_path(Path::new(&c.path), 0).map(|e| e.id),
            (None, None) => unreachable!("one of the two indexes is read"),
        };
        if on_disk != c.old || staged != c.old {
            touched.push(c.path.clone());
        }
    }
    Ok((touched, own))
}

/// Brings the working tree and the index in line with the commit for the changed paths.
/// `index` is the index as [`touched_since`] returned it (`None`: libgit2's).
pub fn update(
    repo: &Repository,
    index: Option<IndexFile>,
    changes: &[FileChange],
) -> Result<(), GitopsError> {
    let Some(workdir) = repo.workdir().map(Path::to_path_buf) else {
        return Ok(());
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitopsError::Io { path, source }
    };
    // Removals first: a file may become a folder of the same name.
    let mut removed = Vec::new();
    for c in changes.iter().filter(|c| c.kind == ChangeKind::Removed) {
        let full = workdir.join(&c.path);
        match std::fs::remove_file(&full) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&full)(e)),
        }
        prune_empty_parents(&workdir, &full);
        removed.push(c.path.as_str());
    }
    let mut written = Vec::new();
    for c in changes {
        let Some((id, bytes)) = &c.new else { continue };
        let full = workdir.join(&c.path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if full.is_dir() {
            std::fs::remove_dir_all(&full).map_err(io(&full))?;
        }
        std::fs::write(&full, bytes).map_err(io(&full))?;
        let meta = std::fs::metadata(&full).map_err(io(&full))?;
        written.push(Written {
            path: &c.path,
            id: *id,
            meta,
        });
    }
    if let Some(index) = index
        && index.rewrite(&workdir, &removed, &written)?.is_some()
    {
        return Ok(());
    }
    // The index is in a format segplan leaves to libgit2.
    let mut index = repo.index().map_err(git("read the index"))?;
    index.read(false).map_err(git("read the index"))?;
    for path in removed {
        index
            .remove_path(Path::new(path))
            .map_err(git("remove an index entry"))?;
    }
    for w in &written {
        index
            .add(&entry(w.path, w.id, &w.meta))
            .map_err(git("update an index entry"))?;
    }
    index.write().map_err(|source| {
        if source.code() == git2::ErrorCode::Locked {
            GitopsError::IndexLocked {
                path: index_lock(repo),
            }
        } else {
            git("write the index")(source)
        }
    })
}

fn prune_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(unix)]
fn entry(path: &str, id: git2::Oid, meta: &std::fs::Metadata) -> IndexEntry {
    use std::os::unix::fs::MetadataExt;
    IndexEntry {
        ctime: IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
        mtime: IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: 0o100644,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.len() as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

#[cfg(not(unix))]
fn entry(path: &str, id: git2::Oid, meta: &std::fs::Metadata) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: meta.len() as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}
