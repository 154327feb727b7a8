//! Building the new tree straight in the object database, from the old tree and a set of edits.
//!
//! Every folder of the desired content carries a key, a SHA-256 of its names and bytes
//! ([`Dir::key`]). When the tree-id cache ([`super::idcache`]) maps that key to the very tree the
//! old tree has at that path, the folder is unchanged and costs nothing more: no object is read,
//! no file hashed. Otherwise blobs are hashed in memory and only written when the old tree does
//! not already hold that exact blob at that path; a directory whose entries all match the old
//! directory keeps the old tree's id and writes nothing. Trees are serialised here and written
//! to the object database directly. Every file added, changed or removed is recorded as a
//! [`FileChange`] (the commit message and the working-tree update use them).

use std::collections::BTreeMap;

use git2::{ObjectType, Oid, Repository, Tree};
use sha2::{Digest, Sha256};

use super::GitopsError;
use super::idcache::{IdCache, Key};

/// Desired contents of a path: a file or a directory.
#[derive(Debug, Clone)]
pub enum Node {
    File(Vec<u8>),
    Dir(Dir),
}

/// A desired directory and the key of its content.
#[derive(Debug, Clone)]
pub struct Dir {
    pub entries: BTreeMap<String, Node>,
    key: Key,
}

impl Dir {
    /// A directory of `entries`, keyed by a SHA-256 over every entry's kind, name and content
    /// (a file's bytes, a sub-directory's key), each length-prefixed: equal keys mean equal
    /// trees.
    pub fn new(entries: BTreeMap<String, Node>) -> Dir {
        let mut dir = Dir {
            entries,
            key: [0; 32],
        };
        dir.seal();
        dir
    }

    /// Computes the key (the entries' keys must be computed already).
    fn seal(&mut self) {
        let mut h = Sha256::new();
        h.update(b"segplan folder v1\0");
        for (name, node) in &self.entries {
            let (kind, content): (u8, &[u8]) = match node {
                Node::File(bytes) => (b'f', bytes),
                Node::Dir(d) => (b'd', &d.key),
            };
            h.update([kind]);
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((content.len() as u64).to_le_bytes());
            h.update(content);
        }
        self.key = h.finalize().into();
    }

    /// The key of this directory's content.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

impl Node {
    /// A directory from `relative/path -> contents`.
    pub fn from_files(files: BTreeMap<String, String>) -> Node {
        let mut root = Dir {
            entries: BTreeMap::new(),
            key: [0; 32],
        };
        for (path, text) in files {
            insert(&mut root, &path, text.into_bytes());
        }
        seal_all(&mut root);
        Node::Dir(root)
    }
}

/// Inserts a file; the directories on its way get their keys later ([`seal_all`]).
fn insert(dir: &mut Dir, path: &str, bytes: Vec<u8>) {
    match path.split_once('/') {
        None => {
            dir.entries.insert(path.to_string(), Node::File(bytes));
        }
        Some((head, rest)) => {
            let entry = match dir.entries.get_mut(head) {
                Some(e) => e,
                None => dir
                    .entries
                    .entry(head.to_string())
                    .or_insert(Node::File(Vec::new())),
            };
            if let Node::File(_) = entry {
                *entry = Node::Dir(Dir {
                    entries: BTreeMap::new(),
                    key: [0; 32],
                });
            }
            if let Node::Dir(sub) = entry {
                insert(sub, rest, bytes);
            }
        }
    }
}

fn seal_all(dir: &mut Dir) {
    for node in dir.entries.values_mut() {
        if let Node::Dir(sub) = node {
            seal_all(sub);
        }
    }
    dir.seal();
}

/// What to do with one entry of a directory.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the entry with exactly this content.
    Replace(Node),
    /// Replace the entry with a directory of exactly these files (`relative/path -> bytes`).
    /// The directory is built (and keyed) when the writer gets to it.
    ReplaceFiles(BTreeMap<String, String>),
    /// Remove the entry (and everything below it).
    Remove,
    /// Keep the directory, editing some of its entries.
    Edit(BTreeMap<String, Edit>),
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

/// Writes trees and blobs into `repo`'s object database and records changes.
pub struct TreeWriter<'r> {
    repo: &'r Repository,
    odb: git2::Odb<'r>,
    /// Tree ids by folder key: read from the repository, and recorded for this commit.
    pub cache: IdCache,
    /// Every file change, in path order per directory.
    pub changes: Vec<FileChange>,
    /// Objects written (blobs with their path, trees), in write order: exactly what the pack
    /// of this commit must hold.
    pub written: Vec<(Oid, Option<String>)>,
}

const BLOB: i32 = 0o100644;
const TREE: i32 = 0o040000;

impl<'r> TreeWriter<'r> {
    pub fn new(repo: &'r Repository, cache: IdCache) -> Result<Self, GitopsError> {
        Ok(TreeWriter {
            repo,
            odb: repo.odb().map_err(git("open the object database"))?,
            cache,
            changes: Vec::new(),
            written: Vec::new(),
        })
    }

    /// Applies `edits` to `old` (the directory at `prefix`), returning the new tree id, or
    /// `None` when the directory ends up empty.
    pub fn edit(
        &mut self,
        prefix: &str,
        old: Option<&Tree<'_>>,
        edits: BTreeMap<String, Edit>,
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
                Edit::Replace(node) => self.node(&path, old_entry, node)?,
                Edit::ReplaceFiles(files) => {
                    self.node(&path, old_entry, Node::from_files(files))?
                }
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
        self.finish_dir(old, &before, entries)
    }

    /// Writes `node` at `path`, replacing `old` entirely.
    fn node(
        &mut self,
        path: &str,
        old: Option<(Oid, i32)>,
        node: Node,
    ) -> Result<Option<(Oid, i32)>, GitopsError> {
        match node {
            Node::File(bytes) => {
                let id = Oid::hash_object(ObjectType::Blob, &bytes).map_err(git("hash a blob"))?;
                match old {
                    Some((old_id, mode)) if old_id == id && mode == BLOB => {}
                    Some((old_id, mode)) if mode == TREE => {
                        self.removed(path, old_id, mode)?;
                        self.write_blob(path, id, bytes, ChangeKind::Added)?;
                    }
                    Some((old_id, _)) => {
                        self.write_blob(path, id, bytes, ChangeKind::Changed)?;
                        if let Some(c) = self.changes.last_mut() {
                            c.old = Some(old_id);
                        }
                    }
                    None => self.write_blob(path, id, bytes, ChangeKind::Added)?,
                }
                Ok(Some((id, BLOB)))
            }
            Node::Dir(dir) => {
                let key = *dir.key();
                if let Some((old_id, TREE)) = old
                    && self.cache.get(&key) == Some(old_id)
                {
                    // The very tree the old commit has here: unchanged, nothing to read.
                    self.cache.record(key, old_id);
                    return Ok(Some((old_id, TREE)));
                }
                let old_tree = self.subtree(old)?;
                if old_tree.is_none()
                    && let Some((id, mode)) = old
                {
                    self.removed(path, id, mode)?;
                }
                let before: BTreeMap<String, (Oid, i32)> = old_tree
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|e| {
                        (
                            String::from_utf8_lossy(e.name_bytes()).into_owned(),
                            (e.id(), e.filemode()),
                        )
                    })
                    .collect();
                let mut entries = BTreeMap::new();
                for (name, child) in dir.entries {
                    let child_path = join(path, &name);
                    if let Some(e) = self.node(&child_path, before.get(&name).copied(), child)? {
                        entries.insert(name, e);
                    }
                }
                for (name, (id, mode)) in &before {
                    if !entries.contains_key(name) {
                        self.removed(&join(path, name), *id, *mode)?;
                    }
                }
                let id = self.finish_dir(old_tree.as_ref(), &before, entries)?;
                if let Some(id) = id {
                    self.cache.record(key, id);
                }
                Ok(id.map(|id| (id, TREE)))
            }
        }
    }

    /// Reuses the old tree when nothing changed, otherwise writes a new one.
    fn finish_dir(
        &mut self,
        old: Option<&Tree<'_>>,
        before: &BTreeMap<String, (Oid, i32)>,
        entries: BTreeMap<String, (Oid, i32)>,
    ) -> Result<Option<Oid>, GitopsError> {
        if entries.is_empty() {
            return Ok(None);
        }
        if let Some(old) = old
            && *before == entries
        {
            return Ok(Some(old.id()));
        }
        let id = write_tree(&self.odb, &entries)?;
        self.written.push((id, None));
        Ok(Some(id))
    }

    fn write_blob(
        &mut self,
        path: &str,
        id: Oid,
        bytes: Vec<u8>,
        kind: ChangeKind,
    ) -> Result<(), GitopsError> {
        let written = self
            .odb
            .write(ObjectType::Blob, &bytes)
            .map_err(git("write a blob"))?;
        debug_assert_eq!(written, id);
        self.written.push((id, Some(path.to_string())));
        self.changes.push(FileChange {
            path: path.to_string(),
            kind,
            new: Some((id, bytes)),
            old: None,
        });
        Ok(())
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

/// Serialises a tree (entries in git's order) and writes it to `odb`. Names are checked as
/// libgit2's tree builder checks them.
fn write_tree(
    odb: &git2::Odb<'_>,
    entries: &BTreeMap<String, (Oid, i32)>,
) -> Result<Oid, GitopsError> {
    let mut sorted: Vec<(&String, &(Oid, i32))> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        super::status::git_order(a.0.as_bytes(), a.1.1 == TREE, b.0.as_bytes(), b.1.1 == TREE)
    });
    let mut buf = Vec::with_capacity(entries.len() * 64);
    for (name, (id, mode)) in sorted {
        let bad = name.is_empty()
            || name == "."
            || name == ".."
            || name.eq_ignore_ascii_case(".git")
            || name.bytes().any(|b| b == b'/' || b == 0);
        if bad {
            return Err(git("add a tree entry")(git2::Error::from_str(&format!(
                "invalid tree entry name `{name}`"
            ))));
        }
        super::status::push_tree_entry(&mut buf, *mode as u32, name.as_bytes(), *id);
    }
    odb.write(ObjectType::Tree, &buf)
        .map_err(git("write a tree"))
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

    #[test]
    fn trees_are_written_in_gits_order_as_libgit2_writes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let blob = repo.blob(b"x\n").unwrap();
        let sub = {
            let mut tb = repo.treebuilder(None).unwrap();
            tb.insert("f", blob, BLOB).unwrap();
            tb.write().unwrap()
        };
        // `a` is a folder: git sorts it as `a/`, after `a-b` and `a.yaml`, before `a0`.
        let entries: BTreeMap<String, (Oid, i32)> = [
            ("a", (sub, TREE)),
            ("a-b", (blob, BLOB)),
            ("a.yaml", (blob, BLOB)),
            ("a0", (blob, BLOB)),
            ("b", (sub, TREE)),
        ]
        .into_iter()
        .map(|(n, e)| (n.to_string(), e))
        .collect();
        let ours = write_tree(&repo.odb().unwrap(), &entries).unwrap();
        let mut tb = repo.treebuilder(None).unwrap();
        for (name, (id, mode)) in &entries {
            tb.insert(name, *id, *mode).unwrap();
        }
        assert_eq!(ours, tb.write().unwrap());
        for bad in ["", ".git", ".GIT", "..", "a/b"] {
            let e = BTreeMap::from([(bad.to_string(), (blob, BLOB))]);
            assert!(write_tree(&repo.odb().unwrap(), &e).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn folder_keys_change_with_any_name_or_byte() {
        let files = |pairs: &[(&str, &str)]| -> Node {
            Node::from_files(
                pairs
                    .iter()
                    .map(|(p, c)| (p.to_string(), c.to_string()))
                    .collect(),
            )
        };
        let key = |n: &Node| match n {
            Node::Dir(d) => *d.key(),
            Node::File(_) => unreachable!(),
        };
        let base = key(&files(&[("a/x", "1"), ("b", "2")]));
        assert_eq!(
            base,
            key(&files(&[("b", "2"), ("a/x", "1")])),
            "order of input"
        );
        for other in [
            files(&[("a/x", "1"), ("b", "3")]),
            files(&[("a/y", "1"), ("b", "2")]),
            files(&[("a/x", "1"), ("c", "2")]),
            files(&[("a/x", "1b"), ("b", "")]),
            files(&[("ax", "1"), ("b", "2")]),
            files(&[("a/x", "1"), ("b", "2"), ("c", "")]),
        ] {
            assert_ne!(base, key(&other));
        }
    }
}
