//! GitOps: rendered manifests become commits in a GitOps repository, through git2 only.
//!
//! * [`layout`] decides what segplan owns in the repository (pure);
//! * [`readme`] and [`sync`] generate the per-environment README and the Argo CD / Flux objects
//!   (pure);
//! * [`tree`] builds the new tree in the object database, reusing unchanged subtrees;
//! * [`commit`] builds the commit in memory and writes it as one pack, then moves the branch
//!   with a compare-and-swap (the commit point) and updates the working tree;
//! * [`message`] writes the reviewable commit message and its trailers;
//! * [`push`] pushes the branch, fast-forward only.
//!
//! The entry point is [`commit_rendered`] (or [`prepare`] then [`Prepared::finish`] to run the
//! two phases separately). See `docs/gitops.md` for the layout and the guarantees.

pub mod commit;
mod folder;
pub mod identity;
pub mod index;
pub mod layout;
pub mod message;
pub mod pack;
pub mod push;
pub mod readme;
pub mod status;
pub mod sync;
pub mod tree;
pub mod worktree;

use std::path::{Path, PathBuf};

use git2::Oid;

pub use commit::Prepared;
pub use identity::Identity;
pub use message::Summary;
pub use push::{PushOutcome, push};

use crate::model::Model;
use crate::render::Rendered;

/// Everything that can go wrong, or make segplan refuse, in a commit.
#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    #[error("cannot open the repository {}: {}", path.display(), source.message())]
    Open { path: PathBuf, source: git2::Error },
    #[error("git: cannot {context}: {}", source.message())]
    Git {
        context: String,
        source: git2::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("HEAD is detached; segplan only commits to a branch")]
    DetachedHead,
    #[error("`{0}` is not a valid branch name")]
    InvalidBranch(String),
    #[error("branch `{branch}` moved while segplan was working ({detail}); nothing was committed")]
    BranchMoved { branch: String, detail: String },
    #[error("another process holds the index lock {}", path.display())]
    IndexLocked { path: PathBuf },
    #[error("another process holds the lock on branch `{branch}` ({}); nothing was committed", path.display())]
    BranchLocked { branch: String, path: PathBuf },
    #[error(
        "the working tree has uncommitted changes in paths segplan owns: {}",
        list(paths)
    )]
    Dirty { paths: Vec<String> },
    #[error("invalid identity: {0}")]
    Identity(String),
    #[error("commit {commit} was created, but the working tree could not be updated: {reason}")]
    WorktreeUpdate { commit: Oid, reason: String },
    #[error("push of `{branch}` to `{remote}` was rejected: {reason}")]
    PushRejected {
        remote: String,
        branch: String,
        reason: String,
    },
    #[error("push to `{remote}` failed: {reason}")]
    Push { remote: String, reason: String },
}

fn list(paths: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut s = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        s.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    s
}

impl GitopsError {
    /// Whether the error is the user's input (a bad flag value) rather than the repository.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            GitopsError::InvalidBranch(_) | GitopsError::Identity(_)
        )
    }

    /// A hint on what to do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            GitopsError::DetachedHead => "check out a branch, or pass --branch to a bare repository".into(),
            GitopsError::BranchMoved { .. } => "run segplan commit again: it rebuilds on the new tip".into(),
            GitopsError::IndexLocked { path } | GitopsError::BranchLocked { path, .. } => format!(
                "wait for the other git process to finish; if none is running, remove {}",
                path.display()
            ),
            GitopsError::Dirty { .. } => {
                "commit, stash or discard those changes (`git status`), then run segplan commit again".into()
            }
            GitopsError::WorktreeUpdate { .. } => {
                "the branch is correct; run `git checkout -- clusters envs` to update the files".into()
            }
            GitopsError::PushRejected { .. } => {
                "fetch the remote branch and integrate it (the local commit is kept), then push again".into()
            }
            _ => return None,
        })
    }
}

/// Reads an environment variable.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

/// Options of one commit.
pub struct CommitOptions {
    /// Branch to commit to; default the branch HEAD points at.
    pub branch: Option<String>,
    /// Subject line replacing the generated one (the summary and trailers are kept).
    pub message: Option<String>,
    pub author: Option<Identity>,
    pub committer: Option<Identity>,
    /// Remove folders of environments no longer in the topology.
    pub prune_unknown: bool,
    /// URL Argo CD and Flux clone from; default the `origin` remote's URL.
    pub repo_url: Option<String>,
    /// Reads an environment variable (identity and dates); injectable for tests.
    pub env: EnvLookup,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            branch: None,
            message: None,
            author: None,
            committer: None,
            prune_unknown: false,
            repo_url: None,
            env: Box::new(|k| std::env::var(k).ok()),
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone)]
pub enum CommitOutcome {
    /// The tree did not change; the branch stays at `head`.
    NothingToCommit { branch: String, head: Option<Oid> },
    /// A new commit on `branch`.
    Committed {
        branch: String,
        commit: Oid,
        parent: Option<Oid>,
        summary: Summary,
        message: String,
        /// Objects written (blobs, trees, the commit), all in one pack.
        objects: usize,
    },
}

/// Builds the commit of `rendered` in memory (phase one; nothing is written).
pub fn prepare(
    repo_path: &Path,
    model: &Model,
    rendered: &[Rendered],
    opts: &CommitOptions,
) -> Result<Prepared, GitopsError> {
    let repo = commit::open_or_init(repo_path, opts.branch.as_deref())?;
    let branch_for_sync = match &opts.branch {
        Some(b) => b.clone(),
        None => repo
            .find_reference("HEAD")
            .ok()
            .and_then(|h| h.symbolic_target().ok().flatten().map(str::to_string))
            .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_string))
            .unwrap_or_else(|| "main".into()),
    };
    let has_management = rendered.iter().any(|r| {
        model
            .environment(&r.environment)
            .is_some_and(|e| e.kind == crate::model::EnvKind::Management)
    });
    let repo_url = match &opts.repo_url {
        Some(url) => url.clone(),
        None if has_management => default_repo_url(&repo),
        None => String::new(),
    };
    let desired = layout::desired(
        model,
        rendered,
        &layout::LayoutOptions {
            repo_url,
            branch: branch_for_sync,
            prune_unknown: opts.prune_unknown,
        },
    );
    let inputs = commit::Inputs {
        environments: desired.environments.iter().cloned().collect(),
        desired,
        topology_hash: &model.topology_hash,
        source: source_commit(&model.dir),
    };
    commit::prepare(repo, inputs, opts)
}

/// Commits `rendered` into the repository at `repo_path` (both phases).
pub fn commit_rendered(
    repo_path: &Path,
    model: &Model,
    rendered: &[Rendered],
    opts: &CommitOptions,
) -> Result<CommitOutcome, GitopsError> {
    prepare(repo_path, model, rendered, opts)?.finish()
}

/// The URL of the repository's `origin` remote, or its path as a `file://` URL.
fn default_repo_url(repo: &git2::Repository) -> String {
    if let Ok(r) = repo.find_remote("origin")
        && let Ok(url) = r.url()
    {
        return url.to_string();
    }
    let path = repo.workdir().unwrap_or(repo.path());
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    tracing::warn!(
        "no `origin` remote: Argo CD and Flux objects point at file://{} (pass --repo-url)",
        path.display()
    );
    format!(
        "file://{}",
        path.display().to_string().trim_end_matches('/')
    )
}

/// The HEAD commit of the git repository the topology directory lives in, if any.
pub fn source_commit(topology_dir: &Path) -> Option<String> {
    let repo = git2::Repository::discover(topology_dir).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    Some(head.id().to_string())
}
