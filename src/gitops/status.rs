//! A `git status` limited to the paths segplan owns, built for large owned trees.
//!
//! libgit2's status with pathspecs matches every file against every pathspec and evaluates
//! ignore rules everywhere; with tens of thousands of owned files that dominates a small commit.
//! This check does what git does, directly, for each owned path:
//!
//! * HEAD vs index: the tree ids the owned index entries would form (one SHA-1 per folder, no
//!   object read) against the ids HEAD has there. Only when they differ are HEAD's blobs listed,
//!   to name the paths that differ.
//! * index vs working tree: one walk of the owned folders in git's path order, merged with the
//!   sorted index entries (no map of paths). A file whose stat data (size, mtime) matches its
//!   index entry and that is not racily clean is unchanged; any other file is hashed.
//! * untracked files: files the walk finds without an index entry; ignore rules are consulted
//!   only for those.
//!
//! The index is read by [`super::index`] (libgit2 for the formats it leaves alone); each folder
//! is opened and its files stat'ed relative to its parent (`src/gitops/folder.rs`). The owned
//! folders are walked on up to [`WORKERS`] threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{ObjectType, Oid, Repository, Tree};

use super::GitopsError;
use super::folder::{FileStat, Folder};
use super::index::IndexFile;
use super::tree::git;

/// Threads walking the owned folders.
const WORKERS: usize = 2;

/// Index entry data needed to decide whether a file changed.
struct Entry<'i> {
    path: &'i [u8],
    id: Oid,
    mode: u32,
    size: u32,
    mtime: (i32, u32),
    stage: u16,
}

/// Paths under `owned` (folders or files, repository-relative) whose working-tree file or index
/// entry differs from the tree `head` (the branch tip's root tree; `None` for an unborn
/// branch), plus untracked, non-ignored files there. Sorted. Also returns the index as read
/// ([`IndexFile`]; `None` when it is in a format left to libgit2, which `repo` then holds), for
/// the working-tree update after the commit.
pub fn dirty_owned(
    repo: &Repository,
    owned: &[String],
    head: Option<&Tree<'_>>,
) -> Result<(Vec<String>, Option<IndexFile>), GitopsError> {
    let Some(workdir) = repo.workdir() else {
        return Ok((Vec::new(), None));
    };
    if owned.is_empty() {
        return Ok((Vec::new(), None));
    }
    let started = std::time::Instant::now();
    let own = IndexFile::read(repo.path())?;
    // The index file's mtime is taken before it is read: a rewrite in between only makes more
    // files look racy, never fewer.
    let (index_mtime, libgit2) = match &own {
        Some(index) => (index.stamp.map(|s| s.mtime), Vec::new()),
        None => {
            let mtime = std::fs::metadata(repo.path().join("index"))
                .ok()
                .map(|m| super::index::mtime(&m))
                .map(|(s, ns)| (i64::from(s), ns));
            let index = repo.index().map_err(git("read the index"))?;
            (mtime, index.iter().collect::<Vec<_>>())
        }
    };
    tracing::debug!("status: read the index in {:?}", started.elapsed());
    let entries: Box<dyn Iterator<Item = Entry<'_>>> = match &own {
        Some(index) => Box::new(index.entries().map(|e| Entry {
            path: e.path,
            id: e.id(),
            mode: e.mode(),
            size: e.size(),
            mtime: e.mtime(),
            stage: e.stage(),
        })),
        None => Box::new(libgit2.iter().map(|e| Entry {
            path: &e.path,
            id: e.id,
            mode: e.mode,
            size: e.file_size,
            mtime: (e.mtime.seconds(), e.mtime.nanoseconds()),
            stage: (e.flags >> 12) & 0x3,
        })),
    };

    // The index entries of each owned path, in path order.
    let roots: HashMap<&[u8], usize> = owned
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_bytes(), i))
        .collect();
    let mut groups: Vec<Vec<Entry<'_>>> = owned.iter().map(|_| Vec::new()).collect();
    for e in entries {
        if let Some(root) = owning_root(&roots, e.path) {
            groups[root].push(e);
        }
    }
    for g in &mut groups {
        g.sort_unstable_by(|a, b| a.path.cmp(b.path).then(a.stage.cmp(&b.stage)));
    }

    tracing::debug!(
        "status: grouped the index entries at {:?}",
        started.elapsed()
    );
    // What HEAD has at each owned path.
    let in_head: Vec<Option<(Oid, u32)>> = owned
        .iter()
        .map(|p| {
            head.and_then(|t| t.get_path(Path::new(p)).ok())
                .map(|e| (e.id(), e.filemode() as u32))
        })
        .collect();

    // Per owned path, on the workers: HEAD vs index (staged changes, additions, deletions and
    // conflicts), index vs working tree, and untracked files.
    let next = AtomicUsize::new(0);
    let walk_all = || -> Result<Walked, GitopsError> {
        let mut out = Walked::default();
        let (dirty, untracked) = (&mut out.dirty, &mut out.untracked);
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(root) = owned.get(i) else { break };
            if !same_as_head(in_head[i], root, &groups[i])? {
                out.staged.push(i);
            }
            let mut w = Walk {
                entries: &groups[i],
                next: 0,
                index_mtime,
                dirty,
                untracked,
            };
            w.root(workdir, root)?;
        }
        Ok(out)
    };
    let workers = WORKERS.min(owned.len());
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers).map(|_| scope.spawn(walk_all)).collect();
        let mut results = vec![walk_all()];
        results.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("a status walker does not panic")),
        );
        results
    });
    tracing::debug!(
        "status: walked the owned folders at {:?}",
        started.elapsed()
    );
    let (mut dirty, mut untracked) = (Vec::new(), Vec::new());
    for r in results {
        let r = r?;
        dirty.extend(r.dirty);
        untracked.extend(r.untracked);
        for i in r.staged {
            staged(repo, in_head[i], &owned[i], &groups[i], &mut dirty)?;
        }
    }
    for path in untracked {
        let ignored = std::str::from_utf8(&path)
            .ok()
            .and_then(|p| repo.status_should_ignore(Path::new(p)).ok())
            .unwrap_or(false);
        if !ignored {
            dirty.push(path);
        }
    }
    let mut dirty: Vec<String> = dirty
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .collect();
    dirty.sort();
    dirty.dedup();
    drop(groups);
    Ok((dirty, own))
}

/// The owned path `path` is, or lies under.
fn owning_root(roots: &HashMap<&[u8], usize>, path: &[u8]) -> Option<usize> {
    if let Some(&i) = roots.get(path) {
        return Some(i);
    }
    path.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .find_map(|(at, _)| roots.get(&path[..at]).copied())
}

/// What a worker found.
#[derive(Default)]
struct Walked {
    dirty: Vec<Vec<u8>>,
    untracked: Vec<Vec<u8>>,
    /// Owned paths whose index entries differ from HEAD.
    staged: Vec<usize>,
}

const TREE_MODE: u32 = 0o040000;

/// Whether the index entries `group` of the owned path `root` hold exactly what HEAD has there
/// (`in_head`: id and mode), with no conflict. One SHA-1 per folder, no object read.
fn same_as_head(
    in_head: Option<(Oid, u32)>,
    root: &str,
    group: &[Entry<'_>],
) -> Result<bool, GitopsError> {
    if group.iter().any(|e| e.stage != 0) {
        return Ok(false);
    }
    Ok(match in_head {
        None => group.is_empty(),
        Some((id, TREE_MODE)) => {
            let under = group.iter().all(|e| e.path.get(root.len()) == Some(&b'/'));
            under && !group.is_empty() && tree_id(group, root.len() + 1)? == id
        }
        Some((id, mode)) => {
            group.len() == 1
                && group[0].path == root.as_bytes()
                && group[0].id == id
                && group[0].mode == mode
        }
    })
}

/// Records the paths under `root` whose index entry differs from HEAD's (`in_head`: what HEAD
/// has at `root`), listing HEAD's blobs there.
fn staged(
    repo: &Repository,
    in_head: Option<(Oid, u32)>,
    root: &str,
    group: &[Entry<'_>],
    dirty: &mut Vec<Vec<u8>>,
) -> Result<(), GitopsError> {
    let mut head_blobs: Vec<(Vec<u8>, Oid, u32)> = Vec::new();
    match in_head {
        Some((id, TREE_MODE)) => {
            let t = repo.find_tree(id).map_err(git("read a tree"))?;
            list_blobs(repo, &t, root.as_bytes(), &mut head_blobs)?;
        }
        Some((id, mode)) => head_blobs.push((root.as_bytes().to_vec(), id, mode)),
        None => {}
    }
    head_blobs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let (mut i, mut j) = (0, 0);
    while i < head_blobs.len() || j < group.len() {
        let h = head_blobs.get(i);
        let e = group.get(j);
        match (h, e) {
            (Some(h), Some(e)) if h.0 == e.path => {
                if e.stage != 0 || e.id != h.1 || e.mode != h.2 {
                    dirty.push(e.path.to_vec());
                }
                i += 1;
                j += 1;
            }
            (Some(h), Some(e)) if h.0.as_slice() > e.path => {
                dirty.push(e.path.to_vec());
                j += 1;
            }
            (Some(h), _) => {
                dirty.push(h.0.clone());
                i += 1;
            }
            (None, Some(e)) => {
                dirty.push(e.path.to_vec());
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    Ok(())
}

/// The id of the tree the index entries `entries` (sorted, stage 0, all under one folder whose
/// path is the first `base` bytes of theirs, `/` included) form.
fn tree_id(entries: &[Entry<'_>], base: usize) -> Result<Oid, GitopsError> {
    let mut buf = Vec::with_capacity(entries.len() * 64);
    let mut i = 0;
    while i < entries.len() {
        let rest = &entries[i].path[base..];
        match rest.iter().position(|b| *b == b'/') {
            None => {
                push_tree_entry(&mut buf, entries[i].mode, rest, entries[i].id);
                i += 1;
            }
            Some(len) => {
                let prefix = &entries[i].path[..base + len + 1];
                let end = i + entries[i..].partition_point(|e| e.path.starts_with(prefix));
                let id = tree_id(&entries[i..end], base + len + 1)?;
                push_tree_entry(&mut buf, TREE_MODE, &rest[..len], id);
                i = end;
            }
        }
    }
    Ok(super::tree::object_id(ObjectType::Tree, &buf))
}

/// Appends one entry in git's tree format (`<octal mode> <name>\0<binary id>`).
pub(crate) fn push_tree_entry(buf: &mut Vec<u8>, mode: u32, name: &[u8], id: Oid) {
    match mode {
        0o100644 => buf.extend_from_slice(b"100644 "),
        0o040000 => buf.extend_from_slice(b"40000 "),
        _ => {
            use std::io::Write;
            let _ = write!(buf, "{mode:o} ");
        }
    }
    buf.extend_from_slice(name);
    buf.push(0);
    buf.extend_from_slice(id.as_bytes());
}

/// Every blob (and other non-tree entry) under `tree`, with full paths and modes.
fn list_blobs(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &[u8],
    out: &mut Vec<(Vec<u8>, Oid, u32)>,
) -> Result<(), GitopsError> {
    for e in tree.iter() {
        let mut path = prefix.to_vec();
        path.push(b'/');
        path.extend_from_slice(e.name_bytes());
        if e.kind() == Some(ObjectType::Tree) {
            let sub = repo.find_tree(e.id()).map_err(git("read a tree"))?;
            list_blobs(repo, &sub, &path, out)?;
        } else {
            out.push((path, e.id(), e.filemode() as u32));
        }
    }
    Ok(())
}

/// One owned path's walk of the working tree, merged with its sorted index entries.
struct Walk<'a> {
    entries: &'a [Entry<'a>],
    /// The first entry not yet matched with a working-tree file.
    next: usize,
    /// The index file's mtime (seconds, nanoseconds); files as new or newer are racily clean.
    index_mtime: Option<(i64, u32)>,
    dirty: &'a mut Vec<Vec<u8>>,
    untracked: &'a mut Vec<Vec<u8>>,
}

impl Walk<'_> {
    fn root(&mut self, workdir: &Path, root: &str) -> Result<(), GitopsError> {
        let full = workdir.join(root);
        match std::fs::symlink_metadata(&full) {
            Err(_) => {} // missing: every entry is reported as deleted below
            Ok(meta) if meta.is_dir() => {
                if std::fs::symlink_metadata(full.join(".git")).is_ok() {
                    self.dirty.push(format!("{root}/").into_bytes()); // a nested repository
                } else {
                    let mut rel = root.as_bytes().to_vec();
                    let folder = Folder::open(&full).map_err(|source| GitopsError::Io {
                        path: full.clone(),
                        source,
                    })?;
                    self.dir(folder, &full, &mut rel)?;
                }
            }
            Ok(meta) => {
                let stat = FileStat {
                    is_file: meta.is_file(),
                    len: meta.len(),
                    mtime: super::index::mtime(&meta),
                };
                self.file(root.as_bytes(), &|| full.clone(), Ok(stat))?
            }
        }
        for e in &self.entries[self.next..] {
            self.dirty.push(e.path.to_vec()); // deleted in the working tree
        }
        self.next = self.entries.len();
        Ok(())
    }

    /// Walks `folder` (at `full`, repository path `rel`), in git's order: a folder sorts as its
    /// name followed by `/`, so the files come out in the index's byte order.
    fn dir(
        &mut self,
        mut folder: Folder,
        full: &Path,
        rel: &mut Vec<u8>,
    ) -> Result<(), GitopsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| GitopsError::Io { path, source }
        };
        let mut items = folder.list().map_err(io(full))?;
        if items.iter().any(|(name, _)| name == b".git") {
            let mut path = rel.clone();
            path.push(b'/');
            self.dirty.push(path); // a nested repository
            return Ok(());
        }
        items.sort_unstable_by(|a, b| git_order(&a.0, a.1, &b.0, b.1));
        let len = rel.len();
        let child = |name: &[u8]| full.join(String::from_utf8_lossy(name).as_ref());
        for (name, is_dir) in items {
            rel.push(b'/');
            rel.extend_from_slice(&name);
            if is_dir {
                let sub = folder.sub(&name).map_err(|e| io(&child(&name))(e))?;
                self.dir(sub, &child(&name), rel)?;
            } else {
                self.file(rel, &|| child(&name), folder.stat(&name))?;
            }
            rel.truncate(len);
        }
        Ok(())
    }

    /// A file (or symlink, or other non-folder) found in the working tree.
    fn file(
        &mut self,
        rel: &[u8],
        full: &dyn Fn() -> PathBuf,
        meta: std::io::Result<FileStat>,
    ) -> Result<(), GitopsError> {
        while let Some(e) = self.entries.get(self.next)
            && e.path < rel
        {
            self.dirty.push(e.path.to_vec()); // deleted in the working tree
            self.next += 1;
        }
        let Some(e) = self.entries.get(self.next).filter(|e| e.path == rel) else {
            self.untracked.push(rel.to_vec());
            return Ok(());
        };
        while self.entries.get(self.next).is_some_and(|n| n.path == rel) {
            self.next += 1; // one path can have several (conflict) stages
        }
        let meta = match meta {
            Ok(m) if m.is_file => m,
            // Gone since the folder was read, or a symlink or special file where a blob is
            // tracked.
            _ => {
                self.dirty.push(rel.to_vec());
                return Ok(());
            }
        };
        let (secs, nanos) = meta.mtime;
        // Racily clean (git's term): written in the same clock tick as the index, so a later
        // edit could keep size and mtime. The file system's clock is coarse (a few ms), so
        // comparing nanoseconds, as git and libgit2 do, is safe.
        let racy = self
            .index_mtime
            .is_none_or(|i| (i64::from(secs), nanos) >= i);
        if !racy && e.size as u64 == meta.len && e.mtime == (secs, nanos) {
            return Ok(());
        }
        let id = super::tree::file_id(&full()).map_err(|source| GitopsError::Io {
            path: full(),
            source,
        })?;
        if id != e.id {
            self.dirty.push(rel.to_vec());
        }
        Ok(())
    }
}

/// Git's order of the entries of one folder: names compared as bytes, a folder's name as if it
/// ended with `/`.
pub(crate) fn git_order(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> std::cmp::Ordering {
    let a_tail: &[u8] = if a_dir { b"/" } else { b"" };
    let b_tail: &[u8] = if b_dir { b"/" } else { b"" };
    a.iter().chain(a_tail).cmp(b.iter().chain(b_tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_order_sorts_folders_as_if_they_ended_with_a_slash() {
        let mut names = [
            ("a", true),
            ("a-b", false),
            ("a0", false),
            ("a.yaml", false),
        ];
        names.sort_by(|a, b| git_order(a.0.as_bytes(), a.1, b.0.as_bytes(), b.1));
        assert_eq!(
            names.iter().map(|n| n.0).collect::<Vec<_>>(),
            ["a-b", "a.yaml", "a", "a0"]
        );
    }
}
