//! Building the new tree straight in the object database, from the old tree and a set of edits.
//!
//! A folder segplan replaces is first hashed the way git hashes it ([`Hashed`]): the blob id of
//! every file and the tree id of every sub-folder, computed in memory from the desired bytes
//! (SHA-1, as git; nothing read or written). Where the old tree has that very id at that path,
//! nothing below it changed and nothing more is done: an unchanged folder costs one hash of its
//! bytes and no object read. Elsewhere the old and the new entries are merged in git's order;
//! new blobs and trees go to the object database, which hashes them again (with libgit2's
//! collision detection: a different id is an error), and every file added, changed or removed
//! is recorded as a [`FileChange`] (the commit message and the working-tree update use them).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::io::Write;

use git2::{ObjectType, Oid, Repository, Tree};
use sha1::{Digest, Sha1};

use super::GitopsError;
use super::status::{git_order, push_tree_entry};

/// A folder segplan replaces as a whole: its files, laid out when the tree is built.
pub trait Folder {
    /// Relative path (`/`-separated) -> text, every file of the folder.
    fn files(&self) -> BTreeMap<String, Cow<'_, str>>;
}

/// What to do with one entry of a directory.
pub enum Edit<'a> {
    /// Replace the entry with a file of exactly this text.
    File(Cow<'a, str>),
    /// Replace the entry with a folder of exactly these files.
    Folder(&'a dyn Folder),
    /// Remove the entry (and everything below it).
    Remove,
    /// Keep the directory, editing some of its entries.
    Edit(BTreeMap<String, Edit<'a>>),
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    Added,
    Changed,
    Removed,
}

/// One file added, changed or removed, with its full path in the repository.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
    /// The new blob and its contents (added and changed files).
    pub new: Option<(Oid, Vec<u8>)>,
    /// The blob at this path before (changed and removed files).
    pub old: Option<Oid>,
}

pub(crate) const BLOB: i32 = 0o100644;
pub(crate) const TREE: i32 = 0o040000;

/// The id git gives an object of this kind and content: SHA-1 over `<kind> <length>\0<bytes>`.
pub(crate) fn object_id(kind: ObjectType, bytes: &[u8]) -> Oid {
    // Formatted on the stack: this runs for every file.
    let mut header = [0u8; 32];
    let mut free = &mut header[..];
    write!(free, "{} {}\0", kind.str(), bytes.len()).expect("32 bytes hold the header");
    let used = 32 - free.len();
    let mut h = Sha1::new();
    h.update(&header[..used]);
    h.update(bytes);
    Oid::from_bytes(&h.finalize()).expect("SHA-1 output is an object id")
}

/// The blob id of a file's bytes (no filters: what segplan writes is what it compares).
pub(crate) fn file_id(path: &std::path::Path) -> std::io::Result<Oid> {
    Ok(object_id(ObjectType::Blob, &std::fs::read(path)?))
}

/// A folder's files with every blob and tree id computed, as git would store them.
pub struct Hashed<'f> {
    /// Every directory; the folder itself is the first.
    dirs: Vec<HashedDir<'f>>,
}

struct HashedDir<'f> {
    id: Oid,
    /// In git's order.
    entries: Vec<HashedEntry<'f>>,
}

struct HashedEntry<'f> {
    name: &'f str,
    id: Oid,
    /// A file (index into the file list) or a directory (index into `dirs`).
    node: HashedNode,
}

#[derive(Clone, Copy)]
enum HashedNode {
    File(usize),
    Dir(usize),
}

impl HashedEntry<'_> {
    fn mode(&self) -> i32 {
        match self.node {
            HashedNode::File(_) => BLOB,
            HashedNode::Dir(_) => TREE,
        }
    }
}

impl<'f> Hashed<'f> {
    /// Hashes `files` (relative paths sorted as bytes, each once, and their bytes). Sorted full
    /// paths list each folder's entries in git's order already: a folder's name is always
    /// followed by `/` in them, which is how git sorts a folder.
    pub fn new(files: &[(&'f str, &'f [u8])]) -> Result<Hashed<'f>, GitopsError> {
        let mut hashed = Hashed { dirs: Vec::new() };
        hashed.dir(files, 0, files.len(), 0)?;
        Ok(hashed)
    }

    /// The folder's tree id.
    pub fn id(&self) -> Oid {
        self.dirs[0].id
    }

    /// Hashes the directory of `files[lo..hi]`, whose paths share their first `base` bytes.
    fn dir(
        &mut self,
        files: &[(&'f str, &'f [u8])],
        lo: usize,
        hi: usize,
        base: usize,
    ) -> Result<usize, GitopsError> {
        let at = self.dirs.len();
        self.dirs.push(HashedDir {
            id: Oid::ZERO_SHA1,
            entries: Vec::new(),
        });
        let mut entries = Vec::new();
        let mut i = lo;
        while i < hi {
            let path = files[i].0;
            let rest = &path[base..];
            match rest.find('/') {
                None => {
                    check_name(rest)?;
                    entries.push(HashedEntry {
                        name: rest,
                        id: object_id(ObjectType::Blob, files[i].1),
                        node: HashedNode::File(i),
                    });
                    i += 1;
                }
                Some(len) => {
                    let name = &rest[..len];
                    check_name(name)?;
                    let as_file = &path[..base + len];
                    if files[lo..i].binary_search_by(|f| f.0.cmp(as_file)).is_ok() {
                        return Err(invalid(&format!("`{as_file}` is both a file and a folder")));
                    }
                    let prefix = &path[..base + len + 1];
                    let end = i + files[i..hi].partition_point(|f| f.0.starts_with(prefix));
                    let sub = self.dir(files, i, end, base + len + 1)?;
                    entries.push(HashedEntry {
                        name,
                        id: self.dirs[sub].id,
                        node: HashedNode::Dir(sub),
                    });
                    i = end;
                }
            }
        }
        let id = object_id(ObjectType::Tree, &serialise(&entries));
        self.dirs[at] = HashedDir { id, entries };
        Ok(at)
    }
}

/// A tree object's bytes (entries in git's order).
fn serialise(entries: &[HashedEntry<'_>]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(entries.len() * 64);
    for e in entries {
        push_tree_entry(&mut buf, e.mode() as u32, e.name.as_bytes(), e.id);
    }
    buf
}

/// Refuses the names libgit2's tree builder refuses.
fn check_name(name: &str) -> Result<(), GitopsError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.eq_ignore_ascii_case(".git")
        || name.bytes().any(|b| b == b'/' || b == 0);
    if bad {
        return Err(invalid(&format!("invalid tree entry name `{name}`")));
    }
    Ok(())
}

fn invalid(message: &str) -> GitopsError {
    git("add a tree entry")(git2::Error::from_str(message))
}

/// Writes trees and blobs into `repo`'s object database and records changes.
pub struct TreeWriter<'r> {
    repo: &'r Repository,
    odb: git2::Odb<'r>,
    /// Every file change, in path order per directory.
    pub changes: Vec<FileChange>,
    /// Objects written (blobs with their path, trees), in write order: exactly what the pack
    /// of this commit must hold.
    pub written: Vec<(Oid, Option<String>)>,
    /// Folders replaced whole ([`Edit::Folder`]).
    pub folders: usize,
    /// Directories of those folders that differ from the old tree (and were merged with it).
    pub new_dirs: usize,
}

impl<'r> TreeWriter<'r> {
    pub fn new(repo: &'r Repository) -> Result<Self, GitopsError> {
        Ok(TreeWriter {
            repo,
            odb: repo.odb().map_err(git("open the object database"))?,
            changes: Vec::new(),
            written: Vec::new(),
            folders: 0,
            new_dirs: 0,
        })
    }

    /// Applies `edits` to `old` (the directory at `prefix`), returning the new tree id, or
    /// `None` when the directory ends up empty.
    pub fn edit(
        &mut self,
        prefix: &str,
        old: Option<&Tree<'_>>,
        edits: BTreeMap<String, Edit<'_>>,
    ) -> Result<Option<Oid>, GitopsError> {
        let mut entries: BTreeMap<String, (Oid, i32)> = BTreeMap::new();
        if let Some(old) = old {
            for e in old.iter() {
                let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
                entries.insert(name, (e.id(), e.filemode()));
            }
        }
        let before = entries.clone();
        for (name, edit) in edits {
            let path = join(prefix, &name);
            let old_entry = before.get(&name).copied();
            let result = match edit {
                Edit::Remove => {
                    if let Some((id, mode)) = old_entry {
                        self.removed(&path, id, mode)?;
                    }
                    None
                }
                Edit::File(text) => Some(self.file(&path, old_entry, text.as_bytes())?),
                Edit::Folder(folder) => self.folder(&path, old_entry, folder)?,
                Edit::Edit(sub) => {
                    let old_tree = self.subtree(old_entry)?;
                    if old_tree.is_none()
                        && let Some((id, mode)) = old_entry
                    {
                        self.removed(&path, id, mode)?;
                    }
                    self.edit(&path, old_tree.as_ref(), sub)?
                        .map(|id| (id, TREE))
                }
            };
            match result {
                Some(e) => entries.insert(name, e),
                None => entries.remove(&name),
            };
        }
        if entries.is_empty() {
            return Ok(None);
        }
        if let Some(old) = old
            && before == entries
        {
            return Ok(Some(old.id()));
        }
        let mut sorted: Vec<(&String, &(Oid, i32))> = entries.iter().collect();
        sorted.sort_by(|a, b| {
            git_order(a.0.as_bytes(), a.1.1 == TREE, b.0.as_bytes(), b.1.1 == TREE)
        });
        let mut buf = Vec::with_capacity(entries.len() * 64);
        for (name, (id, mode)) in sorted {
            check_name(name)?;
            push_tree_entry(&mut buf, *mode as u32, name.as_bytes(), *id);
        }
        let id = self.write(ObjectType::Tree, &buf, prefix)?;
        self.written.push((id, None));
        Ok(Some(id))
    }

    /// Writes `folder` at `path`, replacing `old` entirely; `None` if it has no files.
    fn folder(
        &mut self,
        path: &str,
        old: Option<(Oid, i32)>,
        folder: &dyn Folder,
    ) -> Result<Option<(Oid, i32)>, GitopsError> {
        let files = folder.files();
        if files.is_empty() {
            if let Some((id, mode)) = old {
                self.removed(path, id, mode)?;
            }
            return Ok(None);
        }
        let list: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_bytes()))
            .collect();
        let hashed = Hashed::new(&list)?;
        self.folders += 1;
        self.dir(path, old, &hashed, 0, &list)?;
        Ok(Some((hashed.id(), TREE)))
    }

    /// Makes the directory `dirs[at]` of `hashed` exist at `path`, where `old` was.
    fn dir(
        &mut self,
        path: &str,
        old: Option<(Oid, i32)>,
        hashed: &Hashed<'_>,
        at: usize,
        files: &[(&str, &[u8])],
    ) -> Result<(), GitopsError> {
        let dir = &hashed.dirs[at];
        if old == Some((dir.id, TREE)) {
            // The very tree the old commit has here: nothing below it changed.
            return Ok(());
        }
        self.new_dirs += 1;
        let old_tree = self.subtree(old)?;
        if old_tree.is_none()
            && let Some((id, mode)) = old
        {
            self.removed(path, id, mode)?;
        }
        let old_len = old_tree.as_ref().map_or(0, Tree::len);
        let (mut i, mut j) = (0, 0);
        while i < dir.entries.len() || j < old_len {
            let new = dir.entries.get(i);
            let prev = old_tree.as_ref().and_then(|t| t.get(j));
            let order = match (new, &prev) {
                (Some(n), Some(p)) => git_order(
                    n.name.as_bytes(),
                    n.mode() == TREE,
                    p.name_bytes(),
                    p.filemode() == TREE,
                ),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match (order, new, prev) {
                (Ordering::Greater, _, Some(p)) => {
                    let name = String::from_utf8_lossy(p.name_bytes()).into_owned();
                    self.removed(&join(path, &name), p.id(), p.filemode())?;
                    j += 1;
                }
                (order, Some(n), prev) => {
                    let same = order == Ordering::Equal;
                    let prev = prev.filter(|_| same).map(|p| (p.id(), p.filemode()));
                    let child = join(path, n.name);
                    match n.node {
                        HashedNode::File(f) if prev != Some((n.id, BLOB)) => {
                            self.blob(&child, n.id, files[f].1, prev.map(|p| p.0))?;
                        }
                        HashedNode::File(_) => {}
                        HashedNode::Dir(d) => self.dir(&child, prev, hashed, d, files)?,
                    }
                    i += 1;
                    j += usize::from(same);
                }
                _ => unreachable!("the loop runs while an entry is left"),
            }
        }
        let written = self.write(ObjectType::Tree, &serialise(&dir.entries), path)?;
        if written != dir.id {
            return Err(disagree(path, dir.id, written));
        }
        self.written.push((written, None));
        Ok(())
    }

    /// Writes a single file at `path` where `old` was.
    fn file(
        &mut self,
        path: &str,
        old: Option<(Oid, i32)>,
        bytes: &[u8],
    ) -> Result<(Oid, i32), GitopsError> {
        let id = object_id(ObjectType::Blob, bytes);
        match old {
            Some(prev) if prev == (id, BLOB) => {}
            Some((old_id, TREE)) => {
                self.removed(path, old_id, TREE)?;
                self.blob(path, id, bytes, None)?;
            }
            Some((old_id, _)) => self.blob(path, id, bytes, Some(old_id))?,
            None => self.blob(path, id, bytes, None)?,
        }
        Ok((id, BLOB))
    }

    /// Writes a blob whose id is `id` and records it as added (`old` is `None`) or changed.
    fn blob(
        &mut self,
        path: &str,
        id: Oid,
        bytes: &[u8],
        old: Option<Oid>,
    ) -> Result<(), GitopsError> {
        let written = self.write(ObjectType::Blob, bytes, path)?;
        if written != id {
            return Err(disagree(path, id, written));
        }
        self.written.push((id, Some(path.to_string())));
        self.changes.push(FileChange {
            path: path.to_string(),
            kind: if old.is_some() {
                ChangeKind::Changed
            } else {
                ChangeKind::Added
            },
            new: Some((id, bytes.to_vec())),
            old,
        });
        Ok(())
    }

    fn write(&self, kind: ObjectType, bytes: &[u8], path: &str) -> Result<Oid, GitopsError> {
        self.odb
            .write(kind, bytes)
            .map_err(|source| GitopsError::Git {
                context: format!("write `{}`", if path.is_empty() { "/" } else { path }),
                source,
            })
    }

    /// Records the removal of a blob, or of every blob under a tree.
    fn removed(&mut self, path: &str, id: Oid, mode: i32) -> Result<(), GitopsError> {
        if mode != TREE {
            self.changes.push(FileChange {
                path: path.to_string(),
                kind: ChangeKind::Removed,
                new: None,
                old: Some(id),
            });
            return Ok(());
        }
        let tree = self.repo.find_tree(id).map_err(git("read a tree"))?;
        for e in tree.iter() {
            let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
            self.removed(&join(path, &name), e.id(), e.filemode())?;
        }
        Ok(())
    }

    fn subtree(&self, entry: Option<(Oid, i32)>) -> Result<Option<Tree<'r>>, GitopsError> {
        match entry {
            Some((id, mode)) if mode == TREE => {
                Ok(Some(self.repo.find_tree(id).map_err(git("read a tree"))?))
            }
            _ => Ok(None),
        }
    }
}

/// libgit2 stored an object under another id than segplan computed (its SHA-1 detects
/// collision attacks and would then differ): never commit a tree that names a missing object.
fn disagree(path: &str, ours: Oid, theirs: Oid) -> GitopsError {
    invalid(&format!(
        "`{path}`: segplan computed the object id {ours}, libgit2 stored {theirs}"
    ))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// Wraps a git2 error with what segplan was doing.
pub(crate) fn git(context: &'static str) -> impl Fn(git2::Error) -> GitopsError {
    move |source| GitopsError::Git {
        context: context.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree libgit2's tree builder writes for `files`, for comparison.
    fn libgit2_tree(repo: &Repository, files: &[(&str, &str)], prefix: &str) -> Oid {
        let mut tb = repo.treebuilder(None).unwrap();
        let mut subdirs: BTreeMap<&str, ()> = BTreeMap::new();
        for (path, text) in files {
            let Some(rest) = path.strip_prefix(prefix) else {
                continue;
            };
            match rest.split_once('/') {
                None => {
                    tb.insert(rest, repo.blob(text.as_bytes()).unwrap(), BLOB)
                        .unwrap();
                }
                Some((dir, _)) => {
                    subdirs.insert(dir, ());
                }
            }
        }
        for dir in subdirs.keys() {
            let id = libgit2_tree(repo, files, &format!("{prefix}{dir}/"));
            tb.insert(dir, id, TREE).unwrap();
        }
        tb.write().unwrap()
    }

    #[test]
    fn folder_ids_are_the_ids_libgit2_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        // `a` is a folder: git sorts it as `a/`, after `a-b` and `a.yaml`, before `a0`.
        let mut files = vec![
            ("a/x.yaml", "1\n"),
            ("a/b/c", ""),
            ("a-b", "2\n"),
            ("a.yaml", "3\n"),
            ("a0", "4\n"),
            ("b/a", "5\n"),
            ("b/a-", "6\n"),
            ("b/a.b/c", "7\n"),
            ("kustomization.yaml", "resources: []\n"),
        ];
        files.sort();
        let list: Vec<(&str, &[u8])> = files.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
        let hashed = Hashed::new(&list).unwrap();
        assert_eq!(hashed.id(), libgit2_tree(&repo, &files, ""));
        for bytes in [&b""[..], b"1\n", &[7; 10], &[0; 1234567]] {
            assert_eq!(
                object_id(ObjectType::Blob, bytes),
                Oid::hash_object(ObjectType::Blob, bytes).unwrap()
            );
        }
        for bad in [
            &[("", "x")][..],
            &[(".git/config", "x")],
            &[("a/.GIT", "x")],
            &[("a/../b", "x")],
            &[("a//b", "x")],
            &[("a", "x"), ("a-b", "y"), ("a/b", "z")],
        ] {
            let list: Vec<(&str, &[u8])> = bad.iter().map(|(p, t)| (*p, t.as_bytes())).collect();
            assert!(Hashed::new(&list).is_err(), "{bad:?}");
        }
    }
}
