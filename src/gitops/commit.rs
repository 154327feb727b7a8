//! One commit, in two phases.
//!
//! [`prepare`] opens (or creates) the repository, reads the branch tip once, checks that the
//! working tree is safe to update, and builds blobs, trees and the commit in an in-memory object
//! store (libgit2's mempack), then packs exactly those new objects into one pack
//! ([`super::pack`], fed the ids the tree writer wrote). Nothing is written to disk.
//!
//! [`Prepared::finish`] writes that pack into `objects/pack/` (pack file first, index last, the
//! order git uses, so no reader ever sees an index without its pack), then moves the branch with
//! a compare-and-swap against the tip read in `prepare`. The ref update is the commit point: a
//! process killed before it leaves the branch where it was (at worst an unreferenced pack that
//! `git gc` prunes), and killed after it leaves a complete commit. Only then are the working tree
//! and the index of a non-bare repository updated.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::layout::{self, CLUSTERS_DIR, Desired, ENVS_DIR, MARKER_FILE, README_FILE};
use super::message::{self, Summary};
use super::tree::{Edit, FileChange, TreeWriter, git};
use super::{CommitOptions, CommitOutcome, GitopsError, worktree};

/// Priority of the in-memory backend: above the loose (1) and pack (2) backends, so every new
/// object goes to memory.
const MEMPACK_PRIORITY: i32 = 1000;

/// A commit built in memory, ready to be written.
pub struct Prepared {
    repo: Repository,
    refname: String,
    branch: String,
    /// The branch tip read in `prepare` (`None`: unborn branch).
    old: Option<Oid>,
    /// The commit and its pack; `None` when the tree did not change.
    new: Option<(Oid, Vec<u8>)>,
    /// Whether the branch is checked out in a working tree segplan must update.
    update_worktree: bool,
    changes: Vec<FileChange>,
    summary: Summary,
    message: String,
    /// Objects in the pack.
    objects: usize,
    /// The handle the working-tree check used; it holds the index it read when libgit2 read
    /// it.
    worktree_repo: Option<Repository>,
    /// The index as the working-tree check read it (`None`: read by libgit2).
    index: Option<super::index::IndexFile>,
}

/// What the working-tree check hands back: its repository handle, the dirty paths, the index.
type Checked = (Repository, Vec<String>, Option<super::index::IndexFile>);

/// What `prepare` needs besides the layout.
pub(crate) struct Inputs<'a> {
    pub desired: Desired<'a>,
    pub topology_hash: &'a str,
    pub source: Option<String>,
    pub environments: Vec<String>,
}

/// Opens the repository, or creates it (`git init`) when `path` does not exist or is empty.
pub fn open_or_init(path: &Path, branch: Option<&str>) -> Result<Repository, GitopsError> {
    let empty_dir = path.is_dir()
        && std::fs::read_dir(path)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
    if !path.exists() || empty_dir {
        let mut opts = git2::RepositoryInitOptions::new();
        opts.mkpath(true).initial_head(branch.unwrap_or("main"));
        tracing::info!("creating repository {}", path.display());
        return Repository::init_opts(path, &opts).map_err(|source| GitopsError::Open {
            path: path.to_path_buf(),
            source,
        });
    }
    Repository::open(path).map_err(|source| GitopsError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// The branch to commit to and whether HEAD points at it.
fn resolve_branch(repo: &Repository, wanted: Option<&str>) -> Result<(String, bool), GitopsError> {
    let head = repo.find_reference("HEAD").map_err(git("read HEAD"))?;
    let head_branch = head
        .symbolic_target()
        .ok()
        .flatten()
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .map(str::to_string);
    let bare = repo.is_bare();
    let branch = match (wanted, &head_branch) {
        (_, None) if !bare => return Err(GitopsError::DetachedHead),
        (Some(b), _) => b.to_string(),
        (None, Some(b)) => b.clone(),
        (None, None) => return Err(GitopsError::DetachedHead),
    };
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(GitopsError::InvalidBranch(branch));
    }
    let checked_out = !bare && head_branch.as_deref() == Some(branch.as_str());
    Ok((branch, checked_out))
}

fn read_ref(repo: &Repository, refname: &str) -> Result<Option<Oid>, GitopsError> {
    match repo.refname_to_id(refname) {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git("read the branch")(e)),
    }
}

/// Builds the commit in memory. Writes nothing to disk.
pub(crate) fn prepare(
    repo: Repository,
    inputs: Inputs<'_>,
    opts: &CommitOptions,
) -> Result<Prepared, GitopsError> {
    let (branch, update_worktree) = resolve_branch(&repo, opts.branch.as_deref())?;
    let refname = format!("refs/heads/{branch}");
    let old = read_ref(&repo, &refname)?;
    if update_worktree {
        worktree::check_index_lock(&repo)?;
    }
    let author = super::identity::resolve(
        opts.author.as_ref(),
        super::identity::Role::Author,
        &opts.env,
        &repo,
    )?;
    let committer = super::identity::resolve(
        opts.committer.as_ref(),
        super::identity::Role::Committer,
        &opts.env,
        &repo,
    )?;

    let started = std::time::Instant::now();
    let built = {
        let old_commit = old
            .map(|id| repo.find_commit(id))
            .transpose()
            .map_err(git("read the branch tip"))?;
        let old_tree = old_commit
            .as_ref()
            .map(|c| c.tree())
            .transpose()
            .map_err(git("read the branch tree"))?;
        let (edits, owned, existed) = plan_edits(&repo, old_tree.as_ref(), &inputs.desired)?;
        tracing::debug!("planned edits in {:?}", started.elapsed());
        let odb = repo.odb().map_err(git("open the object database"))?;
        let mempack = odb
            .add_new_mempack_backend(MEMPACK_PRIORITY)
            .map_err(git("add the in-memory object store"))?;
        let mut writer = TreeWriter::new(&repo)?;
        // The working-tree check (a stat of every owned file) runs on a second thread, with its
        // own repository handle, while this one hashes files and builds trees in memory.
        let workdir = repo.workdir().map(Path::to_path_buf);
        let (dirty, root) = std::thread::scope(|scope| {
            let check = workdir.filter(|_| update_worktree).map(|workdir| {
                let owned = &owned;
                scope.spawn(move || -> Result<Checked, GitopsError> {
                    let repo = Repository::open(&workdir).map_err(git("open the repository"))?;
                    let old_tree = old
                        .map(|id| repo.find_commit(id).and_then(|c| c.tree()))
                        .transpose()
                        .map_err(git("read the branch tree"))?;
                    let (dirty, index) =
                        super::status::dirty_owned(&repo, owned, old_tree.as_ref())?;
                    tracing::debug!("checked the working tree in {:?}", started.elapsed());
                    drop(old_tree);
                    Ok((repo, dirty, index))
                })
            });
            let root = writer.edit("", old_tree.as_ref(), edits);
            tracing::debug!("built the tree in {:?}", started.elapsed());
            let dirty = check.map(|h| h.join().expect("the status thread does not panic"));
            (dirty, root)
        });
        let (mut worktree_repo, mut index) = (None, None);
        if let Some(checked) = dirty {
            let (checked_repo, dirty, read) = checked?;
            index = read;
            if !dirty.is_empty() {
                return Err(GitopsError::Dirty { paths: dirty });
            }
            worktree_repo = Some(checked_repo);
        }
        let root = match root? {
            Some(id) => id,
            None => {
                let tb = repo.treebuilder(None).map_err(git("start a tree"))?;
                tb.write().map_err(git("write a tree"))?
            }
        };
        let changes = std::mem::take(&mut writer.changes);
        tracing::debug!(
            "{} objects, {} file changes, {} folders replaced ({} directories differ)",
            writer.written.len(),
            changes.len(),
            writer.folders,
            writer.new_dirs,
        );
        let summary = Summary::new(&changes, &|c| existed.contains_key(c), &|c| {
            inputs.desired.clusters.contains_key(c)
        });
        let unchanged = match &old_tree {
            Some(t) => t.id() == root,
            None => changes.is_empty(),
        };
        if unchanged {
            mempack
                .reset()
                .map_err(git("reset the in-memory object store"))?;
            (
                None,
                changes,
                summary,
                String::new(),
                0,
                worktree_repo,
                index,
            )
        } else {
            let message = message::message(
                opts.message.as_deref(),
                &inputs.environments,
                &summary,
                inputs.topology_hash,
                inputs.source.as_deref(),
            );
            let tree = repo.find_tree(root).map_err(git("read the new tree"))?;
            let parents: Vec<&git2::Commit<'_>> = old_commit.iter().collect();
            let commit = repo
                .commit(
                    None,
                    &author.signature()?,
                    &committer.signature()?,
                    &message,
                    &tree,
                    &parents,
                )
                .map_err(git("write the commit"))?;
            // Pack exactly the new objects. (`Mempack::dump` would pack everything reachable from
            // the commit, i.e. the whole tree again on every commit.)
            let (pack, objects) = super::pack::write(
                &odb,
                writer.written.iter().map(|(id, _)| *id).chain([commit]),
            )?;
            tracing::debug!("packed {objects} objects in {:?}", started.elapsed());
            mempack
                .reset()
                .map_err(git("reset the in-memory object store"))?;
            (
                Some((commit, pack)),
                changes,
                summary,
                message,
                objects,
                worktree_repo,
                index,
            )
        }
    };
    let (new, changes, summary, message, objects, worktree_repo, index) = built;
    Ok(Prepared {
        repo,
        refname,
        branch,
        old,
        new,
        update_worktree,
        changes,
        summary,
        message,
        objects,
        worktree_repo,
        index,
    })
}

/// The edits for the owned paths, the owned paths themselves (for the dirty check), and the
/// cluster folders that existed before (name -> marker environment, if any).
#[allow(clippy::type_complexity)]
fn plan_edits<'a>(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    desired: &'a Desired<'a>,
) -> Result<
    (
        BTreeMap<String, Edit<'a>>,
        Vec<String>,
        BTreeMap<String, Option<String>>,
    ),
    GitopsError,
> {
    let mut existed: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut readmes_before: Vec<String> = Vec::new();
    if let Some(old) = old {
        for (name, marker) in file_in_each_folder(repo, old, CLUSTERS_DIR, MARKER_FILE)? {
            existed.insert(name, marker.and_then(|t| layout::parse_marker(&t)));
        }
        for (name, readme) in file_in_each_folder(repo, old, ENVS_DIR, README_FILE)? {
            if readme.is_some_and(|t| layout::is_generated_readme(&t)) {
                readmes_before.push(name);
            }
        }
    }
    let mut owned = Vec::new();
    let mut cluster_edits = BTreeMap::new();
    for (name, c) in &desired.clusters {
        owned.push(format!("{CLUSTERS_DIR}/{name}"));
        cluster_edits.insert(name.clone(), Edit::Folder(c));
    }
    for (name, marker) in &existed {
        if let Some(env) = marker
            && desired.removes_folder(name, env)
        {
            owned.push(format!("{CLUSTERS_DIR}/{name}"));
            cluster_edits.insert(name.clone(), Edit::Remove);
        }
    }
    let mut env_edits = BTreeMap::new();
    for (env, text) in &desired.readmes {
        owned.push(format!("{ENVS_DIR}/{env}/{README_FILE}"));
        env_edits.insert(
            env.clone(),
            Edit::Edit(BTreeMap::from([(
                README_FILE.to_string(),
                Edit::File(text.as_str().into()),
            )])),
        );
    }
    for env in readmes_before.iter().filter(|e| desired.removes_readme(e)) {
        owned.push(format!("{ENVS_DIR}/{env}/{README_FILE}"));
        env_edits.insert(
            env.clone(),
            Edit::Edit(BTreeMap::from([(README_FILE.to_string(), Edit::Remove)])),
        );
    }
    let mut root = BTreeMap::new();
    if !cluster_edits.is_empty() {
        root.insert(CLUSTERS_DIR.to_string(), Edit::Edit(cluster_edits));
    }
    if !env_edits.is_empty() {
        root.insert(ENVS_DIR.to_string(), Edit::Edit(env_edits));
    }
    Ok((root, owned, existed))
}

fn subtree<'r>(
    repo: &'r Repository,
    tree: &git2::Tree<'_>,
    name: &str,
) -> Result<Option<git2::Tree<'r>>, GitopsError> {
    match tree.get_name(name) {
        Some(e) if e.kind() == Some(git2::ObjectType::Tree) => {
            Ok(Some(repo.find_tree(e.id()).map_err(git("read a tree"))?))
        }
        _ => Ok(None),
    }
}

/// For each folder directly under `dir` of `tree`: its name and the text of its `file`, if any.
fn file_in_each_folder(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    dir: &str,
    file: &str,
) -> Result<Vec<(String, Option<String>)>, GitopsError> {
    let Some(dir) = subtree(repo, tree, dir)? else {
        return Ok(Vec::new());
    };
    dir.iter()
        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
        .map(|e| {
            let folder = repo.find_tree(e.id()).map_err(git("read a folder"))?;
            let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
            Ok((name, read_blob(repo, &folder, file)?))
        })
        .collect()
}

fn read_blob(
    repo: &Repository,
    tree: &git2::Tree<'_>,
    name: &str,
) -> Result<Option<String>, GitopsError> {
    match tree.get_name(name) {
        Some(e) if e.kind() == Some(git2::ObjectType::Blob) => {
            let blob = repo.find_blob(e.id()).map_err(git("read a blob"))?;
            Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
        }
        _ => Ok(None),
    }
}

impl Prepared {
    /// The branch this commit goes to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The repository.
    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Writes the pack, moves the branch (compare-and-swap) and updates the working tree.
    pub fn finish(mut self) -> Result<CommitOutcome, GitopsError> {
        let Some((commit, pack)) = &self.new else {
            return Ok(CommitOutcome::NothingToCommit {
                branch: self.branch.clone(),
                head: self.old,
            });
        };
        if self.update_worktree {
            worktree::check_index_lock(&self.repo)?;
            let (branch, checked_out) = resolve_branch(&self.repo, Some(&self.branch))?;
            if !checked_out {
                return Err(GitopsError::BranchMoved {
                    branch,
                    detail: "HEAD no longer points at it".into(),
                });
            }
            // Files may have been edited since `prepare`: check the ones this commit writes or
            // deletes again, just before the commit point.
            let index = self.index.take();
            let (dirty, index) = worktree::touched_since(self.index_repo(), index, &self.changes)?;
            self.index = index;
            if !dirty.is_empty() {
                return Err(GitopsError::Dirty { paths: dirty });
            }
        }
        let current = read_ref(&self.repo, &self.refname)?;
        if current != self.old {
            return Err(self.moved(current));
        }
        // A branch lock left by a killed git (or segplan) process: say so, before writing
        // anything (libgit2 would only report the ref update failing).
        if self.branch_lock().exists() {
            return Err(self.locked());
        }
        let started = std::time::Instant::now();
        write_pack(&self.repo, pack)?;
        tracing::debug!("wrote the pack in {:?}", started.elapsed());
        let reflog = format!(
            "segplan commit: {}",
            self.message.lines().next().unwrap_or_default()
        );
        let updated = match self.old {
            Some(old) => self
                .repo
                .reference_matching(&self.refname, *commit, true, old, &reflog),
            None => self.repo.reference(&self.refname, *commit, false, &reflog),
        };
        if let Err(e) = updated {
            return match e.code() {
                git2::ErrorCode::Locked => Err(self.locked()),
                git2::ErrorCode::Modified | git2::ErrorCode::Exists => {
                    Err(self.moved(read_ref(&self.repo, &self.refname).ok().flatten()))
                }
                _ => Err(git("move the branch")(e)),
            };
        }
        tracing::info!("{} -> {commit}", self.refname);
        remove_obsolete_cache(&self.repo);
        if self.update_worktree {
            let started = std::time::Instant::now();
            let index = self.index.take();
            let updated = worktree::update(self.index_repo(), index, &self.changes);
            tracing::debug!("updated the working tree in {:?}", started.elapsed());
            updated.map_err(|e| GitopsError::WorktreeUpdate {
                commit: *commit,
                reason: e.to_string(),
            })?;
        }
        Ok(CommitOutcome::Committed {
            branch: self.branch.clone(),
            commit: *commit,
            parent: self.old,
            summary: self.summary.clone(),
            message: self.message.clone(),
            objects: self.objects,
        })
    }

    /// The repository handle whose index the working-tree check read (re-read by the working
    /// tree functions only if the file changed since).
    fn index_repo(&self) -> &Repository {
        self.worktree_repo.as_ref().unwrap_or(&self.repo)
    }

    /// `<git dir>/refs/heads/<branch>.lock`, which git and libgit2 create to update the branch.
    fn branch_lock(&self) -> PathBuf {
        self.repo.path().join(format!("{}.lock", self.refname))
    }

    fn locked(&self) -> GitopsError {
        GitopsError::BranchLocked {
            branch: self.branch.clone(),
            path: self.branch_lock(),
        }
    }

    fn moved(&self, current: Option<Oid>) -> GitopsError {
        let show = |o: Option<Oid>| o.map(|o| o.to_string()).unwrap_or_else(|| "nothing".into());
        GitopsError::BranchMoved {
            branch: self.branch.clone(),
            detail: format!(
                "it was at {} and is now at {}",
                show(self.old),
                show(current)
            ),
        }
    }
}

/// Development builds before the first release kept a tree-id cache in `.git/segplan/`; the
/// ids are now computed from the rendered bytes, and the file is only dead weight.
fn remove_obsolete_cache(repo: &Repository) {
    let dir = repo.path().join("segplan");
    if std::fs::remove_file(dir.join("tree-ids")).is_ok() {
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Indexes `pack` into a private temporary folder, then moves the pack and then its index into
/// `objects/pack/` and makes the object database see them.
fn write_pack(repo: &Repository, pack: &[u8]) -> Result<(), GitopsError> {
    let odb = repo.odb().map_err(git("open the object database"))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = repo
        .path()
        .join(format!("segplan-pack-{}-{nanos}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GitopsError::Io { path, source }
    };
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let result = (|| {
        let mut indexer =
            git2::Indexer::new(Some(&odb), &tmp, 0o444, true).map_err(git("start the pack"))?;
        indexer.write_all(pack).map_err(io(&tmp))?;
        let name = indexer.commit().map_err(git("index the pack"))?;
        let dest: PathBuf = repo.path().join("objects").join("pack");
        std::fs::create_dir_all(&dest).map_err(io(&dest))?;
        for ext in ["pack", "idx"] {
            let from = tmp.join(format!("pack-{name}.{ext}"));
            let to = dest.join(format!("pack-{name}.{ext}"));
            std::fs::rename(&from, &to).map_err(io(&to))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result?;
    odb.refresh().map_err(git("refresh the object database"))?;
    Ok(())
}
