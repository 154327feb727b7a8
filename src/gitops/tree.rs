//! Building the new tree straight in the object database, from the old tree and a set of edits.
//!
//! Blobs are hashed in memory first and only written when the old tree does not already hold
//! that exact blob at that path; a directory whose entries all match the old directory keeps
//! the old tree's id and writes nothing, so an unchanged cluster costs one hash per file and no
//! object. Every file added, changed or removed is recorded as a [`FileChange`] (the commit
//! message and the working-tree update use them).

use std::collections::BTreeMap;

use git2::{ObjectType, Oid, Repository, Tree};

use super::GitopsError;

/// Desired contents of a path: a file or a directory.
#[derive(Debug, Clone)]
pub enum Node {
    File(Vec<u8>),
    Dir(BTreeMap<String, Node>),
}

impl Node {
    /// A directory from `relative/path -> contents`.
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Node {
        let mut root = BTreeMap::new();
        for (path, bytes) in files {
            insert(&mut root, &path, bytes);
        }
        Node::Dir(root)
    }
}

fn insert(dir: &mut BTreeMap<String, Node>, path: &str, bytes: Vec<u8>) {
    match path.split_once('/') {
        None => {
            dir.insert(path.to_string(), Node::File(bytes));
        }
        Some((head, rest)) => {
            let entry = dir
                .entry(head.to_string())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            if let Node::File(_) = entry {
                *entry = Node::Dir(BTreeMap::new());
            }
            if let Node::Dir(sub) = entry {
                insert(sub, rest, bytes);
            }
        }
    }
}

/// What to do with one entry of a directory.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the entry with exactly this content.
    Replace(Node),
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
    /// Every file change, in path order per directory.
    pub changes: Vec<FileChange>,
    /// Objects written (blobs with their path, trees), in write order: exactly what the pack
    /// of this commit must hold.
    pub written: Vec<(Oid, Option<String>)>,
}

const BLOB: i32 = 0o100644;
const TREE: i32 = 0o040000;

impl<'r> TreeWriter<'r> {
    pub fn new(repo: &'r Repository) -> Self {
        TreeWriter {
            repo,
            changes: Vec::new(),
            written: Vec::new(),
        }
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
            Node::Dir(children) => {
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
                for (name, child) in children {
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
                Ok(self
                    .finish_dir(old_tree.as_ref(), &before, entries)?
                    .map(|id| (id, TREE)))
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
        let mut tb = self.repo.treebuilder(None).map_err(git("start a tree"))?;
        for (name, (id, mode)) in &entries {
            tb.insert(name, *id, *mode)
                .map_err(git("add a tree entry"))?;
        }
        let id = tb.write().map_err(git("write a tree"))?;
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
        let written = self.repo.blob(&bytes).map_err(git("write a blob"))?;
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

/// Reads every blob under `tree` into `path -> blob id` (used to list owned folders).
pub fn blobs(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, Oid>,
) -> Result<(), GitopsError> {
    for e in tree.iter() {
        let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
        let path = join(prefix, &name);
        if e.filemode() == TREE {
            let sub = repo.find_tree(e.id()).map_err(git("read a tree"))?;
            blobs(repo, &sub, &path, out)?;
        } else {
            out.insert(path, e.id());
        }
    }
    Ok(())
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
