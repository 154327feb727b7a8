//! `segplan commit --env ENV --repo PATH [--branch NAME] [--message TEXT] [--push REMOTE]
//! [--author "Name <email>"]`: render and commit into a GitOps repository.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::gitops::{self, CommitOptions, CommitOutcome, GitopsError, Identity, PushOutcome};
use crate::render::RenderOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment(s) to commit (repeat the flag for several).
    #[arg(long = "env", value_name = "ENV", required_unless_present = "all_envs")]
    pub env: Vec<String>,
    /// Commit every environment, and remove folders of environments no longer in the topology.
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,
    /// The GitOps repository (created with `git init` semantics if it does not exist).
    #[arg(long, value_name = "PATH")]
    pub repo: PathBuf,
    /// Branch to commit to [default: the branch HEAD points at].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
    /// Subject line of the commit (the per-cluster summary and trailers are always added).
    #[arg(short, long, value_name = "TEXT")]
    pub message: Option<String>,
    /// Push the branch to this remote (name or URL) afterwards, fast-forward only.
    #[arg(long, value_name = "REMOTE")]
    pub push: Option<String>,
    /// Author of the commit [default: GIT_AUTHOR_NAME/EMAIL, then user.name/user.email].
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
    /// URL Argo CD and Flux clone the repository from [default: the `origin` remote's URL].
    #[arg(long, value_name = "URL")]
    pub repo_url: Option<String>,
    /// Templates overriding the embedded ones, file by file.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, &args.env)?;
    let envs: Vec<String> = if args.all_envs {
        model.environments.keys().cloned().collect()
    } else {
        let mut e = args.env.clone();
        e.sort();
        e.dedup();
        e
    };
    let author = args
        .author
        .as_deref()
        .map(Identity::parse)
        .transpose()
        .map_err(gitops_error)?;
    let render_opts = RenderOptions {
        templates: args.templates.clone(),
        cluster: None,
    };
    let mut rendered = Vec::new();
    for env in &envs {
        rendered.push(
            crate::render::render(&model, env, &render_opts)
                .map_err(super::render::render_error)?,
        );
    }
    let opts = CommitOptions {
        branch: args.branch.clone(),
        message: args.message.clone(),
        author,
        prune_unknown: args.all_envs,
        repo_url: args.repo_url.clone(),
        ..CommitOptions::default()
    };
    let outcome =
        gitops::commit_rendered(&args.repo, &model, &rendered, &opts).map_err(gitops_error)?;
    let branch = match &outcome {
        CommitOutcome::NothingToCommit { branch, head } => {
            output::print(&format!(
                "nothing to commit: `{branch}` already matches the topology{}\n",
                head.map(|h| format!(" (at {})", short(&h)))
                    .unwrap_or_default()
            ))?;
            branch.clone()
        }
        CommitOutcome::Committed {
            branch,
            commit,
            summary,
            message,
            objects,
            ..
        } => {
            let mut text = format!(
                "[{branch} {}] {}\n",
                short(commit),
                message.lines().next().unwrap_or_default()
            );
            for (cluster, c) in &summary.clusters {
                let state = if c.folder_removed {
                    " (folder removed)"
                } else if c.new_folder {
                    " (new folder)"
                } else {
                    ""
                };
                text.push_str(&format!(
                    "  {cluster}{state}: {} added, {} changed, {} removed\n",
                    c.added.len(),
                    c.changed.len(),
                    c.removed.len()
                ));
            }
            for (path, kind) in &summary.other {
                text.push_str(&format!("  {path}: {kind}\n"));
            }
            text.push_str(&format!(
                "  {} files changed, {objects} objects written in one pack\n",
                summary.files
            ));
            output::print(&text)?;
            branch.clone()
        }
    };
    if let Some(remote) = &args.push {
        let repo = git2::Repository::open(&args.repo).map_err(|e| {
            CliError::external(format!(
                "cannot open {}: {}",
                args.repo.display(),
                e.message()
            ))
        })?;
        match gitops::push(&repo, remote, &branch).map_err(gitops_error)? {
            PushOutcome::Pushed { from, to } => output::print(&format!(
                "pushed `{branch}` to `{remote}`: {} -> {}\n",
                from.map(|f| short(&f))
                    .unwrap_or_else(|| "(new branch)".into()),
                short(&to)
            ))?,
            PushOutcome::UpToDate { to } => output::print(&format!(
                "`{remote}` already has `{branch}` at {}\n",
                short(&to)
            ))?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn short(oid: &git2::Oid) -> String {
    oid.to_string()[..10].to_string()
}

/// Maps a gitops error to the CLI's error kinds: bad flag values are input errors (exit 2),
/// refusals and git failures are external (exit 3).
fn gitops_error(e: GitopsError) -> CliError {
    let hint = e.hint();
    let mut err = if e.is_input() {
        CliError::input(e.to_string())
    } else {
        CliError::external(e.to_string())
    };
    if let Some(h) = hint {
        err = err.hint(h);
    }
    err
}
