//! The index after `segplan commit`, in every format git writes: what segplan rewrites itself
//! (versions 2 and 3) and what it leaves to libgit2 (version 4), checked with the git CLI.

mod gitops_support;

use std::path::Path;

use gitops_support::*;
use segplan::gitops::{self, CommitOutcome, GitopsError};
use segplan::render::Rendered;

fn commit(repo: &Path, rendered: &[Rendered]) -> Result<CommitOutcome, GitopsError> {
    hermetic();
    gitops::commit_rendered(repo, &model(), rendered, &opts())
}

fn clusters(variant: u32) -> Vec<Rendered> {
    let mut eu = cluster("prod", "prod-eu-1", 3, 2);
    eu.manifests[1] = manifest("ns-0000", "policy-1", variant);
    vec![rendered(
        "prod",
        vec![eu, cluster("prod", "prod-us-1", 2, 2)],
    )]
}

/// A user's repository with segplan's first commit in it (the directory lives as long as the
/// returned guard).
fn committed_repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &clusters(0)).unwrap();
    (tmp, repo)
}

fn index_version(repo: &Path) -> u32 {
    let bytes = std::fs::read(repo.join(".git/index")).unwrap();
    u32::from_be_bytes(bytes[4..8].try_into().unwrap())
}

/// Everything the index holds outside `clusters/` and `envs/`, with stat data.
fn user_entries(repo: &Path) -> String {
    git(repo, &["ls-files", "--stage", "--debug"])
        .split("\n")
        .collect::<Vec<_>>()
        .chunks(6)
        .filter(|e| !e[0].contains("\tclusters/") && !e[0].contains("\tenvs/"))
        .map(|e| e.join("\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn staged_work_outside_the_owned_paths_survives_the_index_rewrite() {
    let (_tmp, repo) = committed_repo();
    // Staged work of every kind: a changed file, an intent-to-add (an extended flag: version 3),
    // and a conflict (three stages of one path).
    std::fs::write(repo.join("docs/notes.txt"), "hand-written, edited\n").unwrap();
    git(&repo, &["add", "docs/notes.txt"]);
    std::fs::write(repo.join("docs/new.txt"), "new\n").unwrap();
    git(&repo, &["add", "-N", "docs/new.txt"]);
    let blob = git(&repo, &["hash-object", "-w", "README.md"]);
    let blob = blob.trim();
    let stages: String = (1..=3)
        .map(|s| format!("100644 {blob} {s}\tdocs/conflict.txt\n"))
        .collect();
    let mut child = git_cmd(&repo)
        .args(["update-index", "--index-info"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stages.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(index_version(&repo), 3);
    let before = user_entries(&repo);
    let staged_before = git(&repo, &["diff", "--cached", "--name-status"]);

    let out = commit(&repo, &clusters(1)).unwrap();
    assert!(matches!(out, CommitOutcome::Committed { .. }), "{out:?}");
    assert_eq!(user_entries(&repo), before, "entries outside clusters/");
    assert_eq!(
        git(&repo, &["diff", "--cached", "--name-status"]),
        staged_before
    );
    assert_eq!(index_version(&repo), 3);
    assert_eq!(
        git(
            &repo,
            &[
                "status",
                "--porcelain",
                "--untracked-files=all",
                "clusters",
                "envs"
            ]
        ),
        "",
        "the owned paths match the new commit"
    );
    assert_eq!(
        git(&repo, &["diff", "--stat", "HEAD~1", "HEAD"])
            .lines()
            .filter(|l| l.contains('|'))
            .count(),
        1,
        "the changed policy (its name, so the kustomization, stays)"
    );
    assert_fsck(&repo);
}

#[test]
fn a_racily_clean_user_file_still_shows_as_modified_after_the_rewrite() {
    let (_tmp, repo) = committed_repo();
    // A same-size edit in the clock tick the index was written in: the stat data in the index
    // still matches. Only the index's own mtime (not older than the file) says "look closer";
    // a rewritten index is newer, so it must smudge the entry, as git does.
    let file = "docs/notes.txt";
    edit_racily(&repo, file, "HAND-WRITTEN\n");

    commit(&repo, &clusters(1)).unwrap();
    // Read before any git command: `git status` may refresh and rewrite the index itself.
    let entry = git2::Repository::open(&repo)
        .unwrap()
        .index()
        .unwrap()
        .get_path(Path::new(file), 0)
        .unwrap();
    assert_eq!(entry.file_size, 0, "smudged");
    assert_eq!(
        git(&repo, &["status", "--porcelain", "--untracked-files=all"]),
        format!(" M {file}\n")
    );
}

#[test]
fn an_index_in_version_4_is_left_to_libgit2_and_stays_version_4() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    git(&repo, &["update-index", "--index-version", "4"]);
    commit(&repo, &clusters(0)).unwrap();
    commit(&repo, &clusters(1)).unwrap();
    assert_eq!(index_version(&repo), 4);
    assert_eq!(status(&repo), "");
    assert_eq!(commit_count(&repo), 3);
    assert_fsck(&repo);
}

#[test]
fn a_corrupt_index_refuses_with_libgit2s_message_and_changes_nothing() {
    let (_tmp, repo) = committed_repo();
    let index = repo.join(".git/index");
    let mut bytes = std::fs::read(&index).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&index, &bytes).unwrap();
    let head = head(&repo);
    let err = commit(&repo, &clusters(1)).unwrap_err();
    assert!(err.to_string().contains("index"), "names the index: {err}");
    assert_eq!(gitops_support::head(&repo), head);
    assert_eq!(
        std::fs::read(&index).unwrap(),
        bytes,
        "the index is untouched"
    );
}

#[test]
fn a_split_index_refuses_before_anything_is_written() {
    // Neither libgit2 nor segplan writes a split index: refuse, naming the index.
    let (_tmp, repo) = committed_repo();
    git(&repo, &["update-index", "--split-index"]);
    let head = head(&repo);
    let err = commit(&repo, &clusters(1)).unwrap_err();
    assert!(err.to_string().contains("index"), "{err}");
    assert_eq!(gitops_support::head(&repo), head);
    assert_eq!(status(&repo), "");
}
