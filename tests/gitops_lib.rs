//! The gitops library on real repositories in temp dirs, checked with the git CLI.

mod gitops_support;

use std::path::Path;

use gitops_support::*;
use segplan::gitops::{self, CommitOutcome, GitopsError};
use segplan::render::Rendered;

fn commit(repo: &Path, rendered: &[Rendered]) -> Result<CommitOutcome, GitopsError> {
    hermetic();
    gitops::commit_rendered(repo, &model(), rendered, &opts())
}

fn two_clusters() -> Vec<Rendered> {
    vec![rendered(
        "prod",
        vec![
            cluster("prod", "prod-eu-1", 3, 2),
            cluster("prod", "prod-us-1", 2, 2),
        ],
    )]
}

/// Everything `git` can see of a repository's state, to prove a refusal changed nothing.
fn snapshot(dir: &Path) -> (String, String, String) {
    (
        git(dir, &["rev-parse", "HEAD"]),
        status(dir),
        git(dir, &["ls-files", "--stage"]),
    )
}

#[test]
fn first_commit_keeps_user_files_and_second_run_commits_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    let loose_before = loose_objects(&repo);
    let out = commit(&repo, &two_clusters()).unwrap();
    let CommitOutcome::Committed {
        summary, message, ..
    } = out
    else {
        panic!("expected a commit, got {out:?}");
    };
    assert_eq!(commit_count(&repo), 2);
    assert_eq!(status(&repo), "", "working tree and index match the commit");
    assert_fsck(&repo);
    assert_eq!(loose_objects(&repo), loose_before, "new objects are packed");
    assert_eq!(
        git(&repo, &["show", "HEAD:README.md"]),
        "# our gitops repo\n"
    );
    assert_eq!(
        git(&repo, &["show", "HEAD:docs/notes.txt"]),
        "hand-written\n"
    );
    assert_eq!(summary.clusters["prod-eu-1"].added.len(), 6);
    assert!(summary.clusters["prod-eu-1"].new_folder);
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"]);
    for f in [
        "clusters/prod-eu-1/.segplan.toml",
        "clusters/prod-eu-1/kustomization.yaml",
        "clusters/prod-eu-1/ns-0002/networkpolicy-policy-1.yaml",
        "clusters/prod-us-1/ns-0001/networkpolicy-policy-0.yaml",
        "envs/prod/README.md",
    ] {
        assert!(files.lines().any(|l| l == f), "{f} missing from\n{files}");
    }
    assert_eq!(
        std::fs::read_to_string(
            repo.join("clusters/prod-eu-1/ns-0000/networkpolicy-policy-0.yaml")
        )
        .unwrap(),
        manifest("ns-0000", "policy-0", 0).yaml()
    );
    let body = git(&repo, &["log", "-1", "--format=%B"]);
    assert_eq!(body.trim_end(), message.trim_end());
    let trailers = git(
        &repo,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Segplan-Topology,valueonly)",
        ],
    );
    assert_eq!(trailers.trim(), model().topology_hash);

    let again = commit(&repo, &two_clusters()).unwrap();
    assert!(
        matches!(again, CommitOutcome::NothingToCommit { .. }),
        "{again:?}"
    );
    assert_eq!(commit_count(&repo), 2);
}

#[test]
fn a_change_touches_only_the_affected_files_and_reuses_subtrees() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &two_clusters()).unwrap();

    // One object changes content: blob, namespace tree, cluster tree, clusters/, root, commit.
    let in_pack = || {
        let out = git(&repo, &["count-objects", "-v"]);
        out.lines()
            .find_map(|l| l.strip_prefix("in-pack: "))
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    let packed_before = in_pack();
    let mut r = two_clusters();
    r[0].clusters[0].manifests[3] = manifest("ns-0001", "policy-1", 1);
    let CommitOutcome::Committed {
        objects, summary, ..
    } = commit(&repo, &r).unwrap()
    else {
        panic!("expected a commit");
    };
    assert_eq!(objects, 6, "only the changed path is written");
    assert_eq!(
        in_pack(),
        packed_before + 6,
        "the new pack holds only the new objects"
    );
    assert_eq!(summary.clusters.len(), 1);
    assert_eq!(
        summary.clusters["prod-eu-1"].changed,
        ["ns-0001/networkpolicy-policy-1.yaml"]
    );
    assert_eq!(
        git(
            &repo,
            &["diff", "--no-renames", "--name-status", "HEAD~1", "HEAD"]
        ),
        "M\tclusters/prod-eu-1/ns-0001/networkpolicy-policy-1.yaml\n"
    );
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD~1:clusters/prod-us-1"]),
        git(&repo, &["rev-parse", "HEAD:clusters/prod-us-1"])
    );

    // One added, one removed: the kustomization follows.
    r[0].clusters[1].manifests.remove(0);
    r[0].clusters[1]
        .manifests
        .push(manifest("ns-0001", "policy-9", 0));
    commit(&repo, &r).unwrap();
    assert_eq!(
        git(
            &repo,
            &["diff", "--no-renames", "--name-status", "HEAD~1", "HEAD"]
        ),
        "M\tclusters/prod-us-1/kustomization.yaml\n\
         D\tclusters/prod-us-1/ns-0000/networkpolicy-policy-0.yaml\n\
         A\tclusters/prod-us-1/ns-0001/networkpolicy-policy-9.yaml\n"
    );
    let msg = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(
        msg.contains("prod-us-1: 1 added, 0 changed, 1 removed\n"),
        "{msg}"
    );
    assert!(
        msg.contains("  + ns-0001/networkpolicy-policy-9.yaml\n"),
        "{msg}"
    );
    assert!(
        msg.contains("  - ns-0000/networkpolicy-policy-0.yaml\n"),
        "{msg}"
    );
    assert!(
        !repo
            .join("clusters/prod-us-1/ns-0000/networkpolicy-policy-0.yaml")
            .exists()
    );
    assert!(
        repo.join("clusters/prod-us-1/ns-0001/networkpolicy-policy-9.yaml")
            .exists()
    );
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
}

#[test]
fn removed_clusters_go_and_foreign_folders_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    // A hand-made folder without a marker, and a staging folder with its marker.
    std::fs::create_dir_all(repo.join("clusters/handmade")).unwrap();
    std::fs::write(repo.join("clusters/handmade/app.yaml"), "kind: ConfigMap\n").unwrap();
    let staging = vec![rendered(
        "staging",
        vec![cluster("staging", "staging-eu-1", 1, 1)],
    )];
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "handmade"]);
    commit(&repo, &staging).unwrap();
    commit(&repo, &two_clusters()).unwrap();

    let only_eu = vec![rendered("prod", vec![cluster("prod", "prod-eu-1", 3, 2)])];
    let CommitOutcome::Committed { summary, .. } = commit(&repo, &only_eu).unwrap() else {
        panic!("expected a commit");
    };
    assert!(summary.clusters["prod-us-1"].folder_removed);
    assert_eq!(summary.clusters["prod-us-1"].removed.len(), 4);
    let changed = git(&repo, &["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert!(
        changed
            .lines()
            .all(|l| l.starts_with("clusters/prod-us-1/")),
        "{changed}"
    );
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(files.contains("clusters/handmade/app.yaml"));
    assert!(files.contains("clusters/staging-eu-1/.segplan.toml"));
    assert!(!files.contains("clusters/prod-us-1"));
    assert!(
        !repo.join("clusters/prod-us-1").exists(),
        "empty folders are pruned"
    );
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
}

#[test]
fn untracked_file_in_an_owned_folder_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &two_clusters()).unwrap();
    std::fs::write(repo.join("clusters/prod-eu-1/mine.yaml"), "kind: Secret\n").unwrap();
    let before = snapshot(&repo);
    let mut r = two_clusters();
    r[0].clusters[0].manifests.pop();
    match commit(&repo, &r) {
        Err(GitopsError::Dirty { paths }) => assert_eq!(paths, ["clusters/prod-eu-1/mine.yaml"]),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(snapshot(&repo), before);
    assert_fsck(&repo);
}

#[cfg(unix)]
#[test]
fn symlinks_and_nested_repositories_in_owned_folders_refuse_and_are_not_followed() {
    use std::os::unix::fs::symlink;
    const FILE: &str = "clusters/prod-eu-1/ns-0000/networkpolicy-policy-0.yaml";
    const FOLDER: &str = "clusters/prod-us-1/ns-0001";
    type Setup = fn(&Path);
    let cases: [(&str, Setup, &str); 4] = [
        (
            "a symlink where a file is tracked",
            |repo| {
                std::fs::remove_file(repo.join(FILE)).unwrap();
                symlink("/etc/hostname", repo.join(FILE)).unwrap();
            },
            FILE,
        ),
        (
            "a symlink to a copy of a tracked folder",
            |repo| {
                let copy = repo.parent().unwrap().join("copy");
                std::fs::rename(repo.join(FOLDER), &copy).unwrap();
                symlink(&copy, repo.join(FOLDER)).unwrap();
            },
            FOLDER,
        ),
        (
            "a nested repository in an owned folder",
            |repo| {
                git(&repo.join(FOLDER), &["init", "-q"]);
            },
            "clusters/prod-us-1/ns-0001/",
        ),
        (
            "a folder where a file is tracked",
            |repo| {
                std::fs::remove_file(repo.join(FILE)).unwrap();
                std::fs::create_dir(repo.join(FILE)).unwrap();
                std::fs::write(repo.join(FILE).join("x"), "x\n").unwrap();
            },
            FILE,
        ),
    ];
    for (what, setup, reported) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let repo = user_repo(tmp.path());
        commit(&repo, &two_clusters()).unwrap();
        setup(&repo);
        let head_before = head(&repo);
        let err = commit(&repo, &two_clusters_changed()).unwrap_err();
        let GitopsError::Dirty { paths } = &err else {
            panic!("{what}: {err:?}");
        };
        assert!(
            paths.iter().any(|p| p.starts_with(reported)),
            "{what}: {paths:?}"
        );
        assert_eq!(head(&repo), head_before, "{what}");
    }
}

#[test]
fn modified_or_staged_owned_files_refuse_and_change_nothing() {
    for staged in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let repo = user_repo(tmp.path());
        commit(&repo, &two_clusters()).unwrap();
        let file = "clusters/prod-us-1/ns-0000/networkpolicy-policy-0.yaml";
        std::fs::write(repo.join(file), "edited by hand\n").unwrap();
        if staged {
            git(&repo, &["add", file]);
        }
        let before = snapshot(&repo);
        let mut r = two_clusters();
        r[0].clusters[1].manifests[0] = manifest("ns-0000", "policy-0", 7);
        let err = commit(&repo, &r).unwrap_err();
        assert!(
            matches!(&err, GitopsError::Dirty { paths } if paths == &[file]),
            "{err:?}"
        );
        assert_eq!(snapshot(&repo), before, "staged={staged}");
        assert_eq!(
            std::fs::read_to_string(repo.join(file)).unwrap(),
            "edited by hand\n"
        );
        assert_fsck(&repo);
    }
}

#[test]
fn work_outside_owned_paths_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    std::fs::write(repo.join("README.md"), "unstaged edit\n").unwrap();
    std::fs::write(repo.join("docs/notes.txt"), "staged edit\n").unwrap();
    git(&repo, &["add", "docs/notes.txt"]);
    std::fs::write(repo.join("scratch.txt"), "untracked\n").unwrap();
    commit(&repo, &two_clusters()).unwrap();
    assert_eq!(
        status(&repo),
        " M README.md\nM  docs/notes.txt\n?? scratch.txt\n"
    );
    assert_eq!(
        git(&repo, &["show", "HEAD:README.md"]),
        "# our gitops repo\n"
    );
    assert_fsck(&repo);
}

#[test]
fn detached_head_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    git(&repo, &["checkout", "-q", "--detach"]);
    let before = snapshot(&repo);
    assert!(matches!(
        commit(&repo, &two_clusters()),
        Err(GitopsError::DetachedHead)
    ));
    assert_eq!(snapshot(&repo), before);
    assert_eq!(git(&repo, &["rev-parse", "main"]), before.0);
}

/// How many files `.git/objects/pack` holds.
fn pack_files(repo: &std::path::Path) -> usize {
    std::fs::read_dir(repo.join(".git/objects/pack"))
        .unwrap()
        .count()
}

#[test]
fn held_index_lock_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    std::fs::write(repo.join(".git/index.lock"), "").unwrap();
    let before_head = head(&repo);
    let packs_before = pack_files(&repo);
    let err = commit(&repo, &two_clusters()).unwrap_err();
    assert!(matches!(err, GitopsError::IndexLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("index.lock"));
    assert_eq!(pack_files(&repo), packs_before);
    std::fs::remove_file(repo.join(".git/index.lock")).unwrap();
    assert_eq!(head(&repo), before_head);
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
}

#[test]
fn held_branch_lock_refuses_and_names_it() {
    // A git process killed while updating the branch leaves `refs/heads/main.lock` behind.
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    let lock = repo.join(".git/refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let before = snapshot(&repo);
    let packs_before = pack_files(&repo);
    let err = commit(&repo, &two_clusters()).unwrap_err();
    assert!(matches!(err, GitopsError::BranchLocked { .. }), "{err:?}");
    assert!(err.to_string().contains("refs/heads/main.lock"), "{err}");
    assert!(err.hint().unwrap().contains("main.lock"));
    assert_eq!(
        pack_files(&repo),
        packs_before,
        "nothing is written before the commit point"
    );
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(snapshot(&repo), before);
    assert_fsck(&repo);
    commit(&repo, &two_clusters()).expect("commits once the lock is gone");
}

#[test]
fn branch_moved_between_read_and_update_refuses() {
    hermetic();
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    let prepared = gitops::prepare(&repo, &model(), &two_clusters(), &opts()).unwrap();
    git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "someone else"],
    );
    let before = snapshot(&repo);
    let packs_before = std::fs::read_dir(repo.join(".git/objects/pack"))
        .unwrap()
        .count();
    let err = prepared.finish().unwrap_err();
    assert!(matches!(err, GitopsError::BranchMoved { .. }), "{err:?}");
    assert!(err.to_string().contains("nothing was committed"));
    assert_eq!(snapshot(&repo), before);
    assert_eq!(git(&repo, &["log", "-1", "--format=%s"]), "someone else\n");
    assert_eq!(
        std::fs::read_dir(repo.join(".git/objects/pack"))
            .unwrap()
            .count(),
        packs_before
    );
    assert_fsck(&repo);
}

#[test]
fn new_path_is_initialised_and_stays_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("new/gitops");
    let big = vec![rendered(
        "prod",
        vec![
            cluster("prod", "prod-eu-1", 50, 6),
            cluster("prod", "prod-us-1", 50, 6),
        ],
    )];
    commit(&repo, &big).unwrap();
    assert_eq!(git(&repo, &["symbolic-ref", "HEAD"]), "refs/heads/main\n");
    assert_eq!(commit_count(&repo), 1);
    assert_eq!(loose_objects(&repo), 0);
    let files = git(&repo, &["ls-files"]);
    assert_eq!(files.lines().filter(|l| l.ends_with(".yaml")).count(), 602);
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
}

#[test]
fn bare_repository_with_branch() {
    hermetic();
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("bare.git");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "--bare", "-b", "main"]);
    let mut o = opts();
    o.branch = Some("gitops".into());
    gitops::commit_rendered(&repo, &model(), &two_clusters(), &o).unwrap();
    assert_eq!(git(&repo, &["rev-list", "--count", "gitops"]), "1\n");
    assert!(
        git(&repo, &["ls-tree", "-r", "--name-only", "gitops"])
            .contains("clusters/prod-us-1/kustomization.yaml")
    );
    let again = gitops::commit_rendered(&repo, &model(), &two_clusters(), &o).unwrap();
    assert!(matches!(again, CommitOutcome::NothingToCommit { .. }));
    assert_fsck(&repo);
}

#[test]
fn management_environment_gets_sync_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    let mgmt = vec![rendered(
        "management",
        vec![cluster("management", "mgmt-eu-1", 1, 1)],
    )];
    commit(&repo, &mgmt).unwrap();
    let appset = git(
        &repo,
        &[
            "show",
            "HEAD:clusters/mgmt-eu-1/gitops/argocd/applicationset.yaml",
        ],
    );
    assert!(appset.contains("repoURL: \"https://git.example.org/acme/gitops.git\""));
    assert!(appset.contains("targetRevision: \"main\""));
    let flux = git(
        &repo,
        &[
            "show",
            "HEAD:clusters/mgmt-eu-1/gitops/flux/kustomization-prod-eu-1.yaml",
        ],
    );
    assert!(flux.contains("path: \"./clusters/prod-eu-1\""));
    let readme = git(&repo, &["show", "HEAD:envs/management/README.md"]);
    assert!(readme.contains("```mermaid"));
}

#[test]
fn push_fast_forward_and_rejection() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    let remote = tmp.path().join("remote.git");
    std::fs::create_dir(&remote).unwrap();
    git(&remote, &["init", "-q", "--bare", "-b", "main"]);
    commit(&repo, &two_clusters()).unwrap();
    let r = git2::Repository::open(&repo).unwrap();
    let out = gitops::push(&r, remote.to_str().unwrap(), "main").unwrap();
    assert!(
        matches!(out, gitops::PushOutcome::Pushed { from: None, .. }),
        "{out:?}"
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&repo, &["rev-parse", "main"])
    );
    let out = gitops::push(&r, remote.to_str().unwrap(), "main").unwrap();
    assert!(
        matches!(out, gitops::PushOutcome::UpToDate { .. }),
        "{out:?}"
    );

    // Someone else pushes; our next push is not a fast-forward.
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    git(&other, &["commit", "-q", "--allow-empty", "-m", "theirs"]);
    git(&other, &["push", "-q", "origin", "main"]);
    let theirs = git(&remote, &["rev-parse", "main"]);
    let mut changed = two_clusters();
    changed[0].clusters[0].manifests.pop();
    commit(&repo, &changed).unwrap();
    let err = gitops::push(&r, remote.to_str().unwrap(), "main").unwrap_err();
    assert!(matches!(err, GitopsError::PushRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("non-fast-forward"), "{err}");
    assert_eq!(git(&remote, &["rev-parse", "main"]), theirs);
    assert_fsck(&remote);
}

#[test]
fn owned_paths_match_whole_folder_names_only() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    // `clusters/prod-eu-10` is not `clusters/prod-eu-1`: work there does not block a commit.
    std::fs::create_dir_all(repo.join("clusters/prod-eu-10")).unwrap();
    std::fs::write(
        repo.join("clusters/prod-eu-10/wip.yaml"),
        "kind: ConfigMap\n",
    )
    .unwrap();
    commit(&repo, &two_clusters()).unwrap();
    assert_eq!(status(&repo), "?? clusters/prod-eu-10/wip.yaml\n");
}

#[test]
fn an_edit_between_prepare_and_finish_refuses() {
    hermetic();
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &two_clusters()).unwrap();
    let mut r = two_clusters();
    r[0].clusters[0].manifests[0] = manifest("ns-0000", "policy-0", 3);
    let prepared = gitops::prepare(&repo, &model(), &r, &opts()).unwrap();
    let file = repo.join("clusters/prod-eu-1/ns-0000/networkpolicy-policy-0.yaml");
    std::fs::write(&file, "my edit\n").unwrap();
    let before = snapshot(&repo);
    let err = prepared.finish().unwrap_err();
    assert!(matches!(err, GitopsError::Dirty { .. }), "{err:?}");
    assert_eq!(snapshot(&repo), before);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "my edit\n");
}

#[test]
fn deleted_owned_files_refuse_and_ignored_files_do_not() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    std::fs::write(repo.join(".gitignore"), "*.swp\n").unwrap();
    git(&repo, &["add", ".gitignore"]);
    git(&repo, &["commit", "-q", "-m", "ignore swap files"]);
    commit(&repo, &two_clusters()).unwrap();
    std::fs::write(repo.join("clusters/prod-eu-1/ns-0000/.x.swp"), "editor\n").unwrap();
    let mut r = two_clusters();
    r[0].clusters[0].manifests.pop();
    commit(&repo, &r).expect("an ignored file does not block");

    let gone = "clusters/prod-us-1/ns-0001/networkpolicy-policy-1.yaml";
    std::fs::remove_file(repo.join(gone)).unwrap();
    let before = snapshot(&repo);
    r[0].clusters[1].manifests[0] = manifest("ns-0000", "policy-0", 5);
    let err = commit(&repo, &r).unwrap_err();
    assert!(
        matches!(&err, GitopsError::Dirty { paths } if paths == &[gone]),
        "{err:?}"
    );
    assert_eq!(snapshot(&repo), before);
}

fn tree_of(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", &format!("{rev}^{{tree}}")])
}

/// Two clusters with changes in both: a changed file in one, a removed one in the other.
fn two_clusters_changed() -> Vec<Rendered> {
    let mut r = two_clusters();
    r[0].clusters[0].manifests[3] = manifest("ns-0001", "policy-1", 1);
    r[0].clusters[1].manifests.pop();
    r
}

#[test]
fn a_tree_built_on_the_previous_one_is_the_tree_built_from_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // The reference: the final content committed straight away.
    let reference = user_repo(&tmp.path().join("reference"));
    commit(&reference, &two_clusters_changed()).unwrap();
    let expected = tree_of(&reference, "HEAD");

    // The same content reached through other commits: unchanged folders are recognised by
    // the ids segplan computes, changed ones are rebuilt.
    let repo = user_repo(&tmp.path().join("stepwise"));
    let mut other = two_clusters();
    other[0].clusters[1].manifests[0] = manifest("ns-0000", "policy-0", 7);
    for r in [two_clusters(), other, two_clusters_changed()] {
        commit(&repo, &r).unwrap();
    }
    assert_eq!(tree_of(&repo, "HEAD"), expected);
    assert_ne!(tree_of(&repo, "HEAD~1"), expected);
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
    // Every object the new tree names is in the repository.
    for line in git(&repo, &["ls-tree", "-r", "-t", "HEAD"]).lines() {
        let id = line.split_whitespace().nth(2).unwrap();
        git(&repo, &["cat-file", "-e", id]);
    }
    assert_eq!(
        git(
            &repo,
            &[
                "show",
                "HEAD:clusters/prod-eu-1/ns-0001/networkpolicy-policy-1.yaml"
            ]
        ),
        manifest("ns-0001", "policy-1", 1).yaml()
    );
}

#[test]
fn the_tree_id_cache_of_earlier_builds_is_removed_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = user_repo(&tmp.path().join("reference"));
    commit(&reference, &two_clusters()).unwrap();
    commit(&reference, &two_clusters_changed()).unwrap();

    let repo = user_repo(&tmp.path().join("repo"));
    commit(&repo, &two_clusters()).unwrap();
    let cache = repo.join(".git/segplan/tree-ids");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, vec![0x5a; 4096]).unwrap();
    commit(&repo, &two_clusters_changed()).unwrap();
    assert_eq!(tree_of(&repo, "HEAD"), tree_of(&reference, "HEAD"));
    assert!(!cache.exists() && !repo.join(".git/segplan").exists());
    assert_fsck(&repo);
}

#[test]
fn a_staged_mode_change_of_an_owned_file_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &two_clusters()).unwrap();
    let file = "clusters/prod-eu-1/ns-0000/networkpolicy-policy-0.yaml";
    git(&repo, &["update-index", "--chmod=+x", file]);
    let before = snapshot(&repo);
    let err = commit(&repo, &two_clusters_changed()).unwrap_err();
    assert!(
        matches!(&err, GitopsError::Dirty { paths } if paths == &[file]),
        "{err:?}"
    );
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_same_size_edit_in_the_clock_tick_of_the_index_is_still_seen() {
    // Racily clean: the stat data still matches; only the bytes tell.
    let tmp = tempfile::tempdir().unwrap();
    let repo = user_repo(tmp.path());
    commit(&repo, &two_clusters()).unwrap();
    let file = "clusters/prod-eu-1/ns-0000/networkpolicy-policy-0.yaml";
    let text = std::fs::read_to_string(repo.join(file)).unwrap();
    let edited = text.replacen("policy-0", "policy-X", 1);
    edit_racily(&repo, file, &edited);
    let (head_before, stage_before) = (head(&repo), git(&repo, &["ls-files", "--stage"]));
    let err = commit(&repo, &two_clusters_changed()).unwrap_err();
    assert!(
        matches!(&err, GitopsError::Dirty { paths } if paths == &[file]),
        "{err:?}"
    );
    assert_eq!(head(&repo), head_before);
    assert_eq!(git(&repo, &["ls-files", "--stage"]), stage_before);
    assert_eq!(std::fs::read_to_string(repo.join(file)).unwrap(), edited);
}
