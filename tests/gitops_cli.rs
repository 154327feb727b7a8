//! `segplan commit` end to end: the binary on the bundled example, real repositories checked
//! with the git CLI.

mod gitops_support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use gitops_support::*;

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    topology: PathBuf,
    repo: PathBuf,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let topology = root.join("topology");
    segplan(&root)
        .args(["init", topology.to_str().unwrap()])
        .assert()
        .success();
    let repo = user_repo(&root);
    Env {
        _tmp: tmp,
        root,
        topology,
        repo,
    }
}

fn segplan(home: &Path) -> Command {
    let mut c = Command::cargo_bin("segplan").unwrap();
    c.env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "segplan bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.org")
        .env("GIT_AUTHOR_DATE", "@1767323045 +0000")
        .env("GIT_COMMITTER_NAME", "segplan bot")
        .env("GIT_COMMITTER_EMAIL", "bot@example.org")
        .env("GIT_COMMITTER_DATE", "@1767323045 +0000")
        .env("NO_COLOR", "1")
        .env_remove("SEGPLAN_LOG")
        .env_remove("SEGPLAN_TOPOLOGY");
    c
}

impl Env {
    fn commit(&self, args: &[&str]) -> Command {
        let mut c = segplan(&self.root);
        c.args([
            "--topology",
            self.topology.to_str().unwrap(),
            "commit",
            "--repo",
        ])
        .arg(&self.repo)
        .args(["--repo-url", "https://git.example.org/acme/gitops.git"])
        .args(args);
        c
    }
}

fn stdout(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn first_commit_then_nothing_to_commit() {
    let e = setup();
    let out = stdout(&mut e.commit(&["--all-envs"]));
    insta::assert_snapshot!("cli_first_commit_stdout", out);
    let commit = git(
        &e.repo,
        &["log", "-1", "--format=%an <%ae> %ad%n%B", "--date=raw"],
    );
    let commit = commit.replace(&model_hash(&e.topology), "<topology hash>");
    insta::assert_snapshot!("cli_first_commit_message", commit);
    assert_eq!(status(&e.repo), "");
    assert_fsck(&e.repo);
    let files = git(&e.repo, &["ls-tree", "-r", "--name-only", "HEAD"]);
    insta::assert_snapshot!("cli_first_commit_files", files);

    let again = stdout(&mut e.commit(&["--all-envs"]));
    assert!(
        again.starts_with("nothing to commit: `main` already matches the topology"),
        "{again}"
    );
    assert_eq!(commit_count(&e.repo), 2);
}

fn model_hash(topology: &Path) -> String {
    segplan::model::load(topology).unwrap().0.topology_hash
}

#[test]
fn a_topology_change_makes_one_commit_touching_only_that_environment() {
    let e = setup();
    stdout(&mut e.commit(&["--all-envs"]));
    let before = head(&e.repo);
    let prod = e.topology.join("prod.toml");
    let mut text = std::fs::read_to_string(&prod).unwrap();
    text.push_str(
        "\n[namespaces.reports]\nzone = \"app\"\nteam = \"bi\"\nclusters = [\"prod-us-1\"]\n",
    );
    std::fs::write(&prod, text).unwrap();
    // The topology lives in a git repository: its HEAD becomes the Segplan-Source trailer.
    git(&e.topology, &["init", "-q", "-b", "main"]);
    git(&e.topology, &["add", "-A"]);
    git(&e.topology, &["commit", "-q", "-m", "topology"]);
    let source = head(&e.topology);
    let out = stdout(&mut e.commit(&["--env", "prod", "-m", "Add the reports namespace"]));
    assert!(out.contains("] Add the reports namespace\n"), "{out}");
    assert_eq!(commit_count(&e.repo), 3);
    assert_eq!(git(&e.repo, &["rev-parse", "HEAD~1"]).trim(), before);
    let changed = git(
        &e.repo,
        &["diff", "--no-renames", "--name-status", "HEAD~1", "HEAD"],
    );
    assert!(
        changed.contains("A\tclusters/prod-us-1/reports/networkpolicy-default-deny.yaml\n"),
        "{changed}"
    );
    assert!(
        changed.contains("A\tclusters/prod-us-1/_cluster/namespace-reports.yaml\n"),
        "{changed}"
    );
    for line in changed.lines() {
        let path = line.split('\t').nth(1).unwrap();
        assert!(
            path.starts_with("clusters/prod-us-1/") || path == "envs/prod/README.md",
            "unexpected change {line}"
        );
    }
    let readme = git(&e.repo, &["show", "HEAD:envs/prod/README.md"]);
    assert!(
        readme.contains("`checkout`, `frontend`, `reports`"),
        "{readme}"
    );
    let body = git(&e.repo, &["log", "-1", "--format=%B"]);
    assert!(body.contains("prod-us-1: "), "{body}");
    assert_eq!(
        git(
            &e.repo,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Segplan-Source,valueonly)"
            ]
        )
        .trim(),
        source
    );
    assert_eq!(
        git(
            &e.repo,
            &[
                "log",
                "-1",
                "--format=%(trailers:key=Segplan-Topology,valueonly)"
            ]
        )
        .trim(),
        model_hash(&e.topology)
    );
    assert!(
        body.contains("  + reports/networkpolicy-default-deny.yaml\n"),
        "{body}"
    );
    assert_eq!(
        git(&e.repo, &["show", "HEAD:README.md"]),
        "# our gitops repo\n"
    );
    assert_eq!(status(&e.repo), "");
    assert_fsck(&e.repo);
}

#[test]
fn refusals_exit_3_and_leave_the_repo_unchanged() {
    let e = setup();
    stdout(&mut e.commit(&["--all-envs"]));
    let file = e.repo.join("clusters/staging-eu-1/kustomization.yaml");
    std::fs::write(&file, "edited\n").unwrap();
    let before = (head(&e.repo), status(&e.repo));
    let out = e.commit(&["--env", "staging"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "uncommitted changes in paths segplan owns: clusters/staging-eu-1/kustomization.yaml"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!((head(&e.repo), status(&e.repo)), before);
    git(&e.repo, &["checkout", "--", "."]);

    std::fs::write(e.repo.join(".git/index.lock"), "").unwrap();
    let out = e.commit(&["--env", "staging"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("index lock"));
    std::fs::remove_file(e.repo.join(".git/index.lock")).unwrap();

    git(&e.repo, &["checkout", "-q", "--detach"]);
    let out = e.commit(&["--env", "staging"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HEAD is detached"));
    assert_eq!(head(&e.repo), before.0);
    assert_fsck(&e.repo);

    let out = e
        .commit(&["--env", "staging", "--author", "nobody"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad flag value is an input error"
    );
}

#[test]
fn push_to_a_bare_remote_and_reject_non_fast_forward() {
    let e = setup();
    let remote = e.root.join("remote.git");
    std::fs::create_dir(&remote).unwrap();
    git(&remote, &["init", "-q", "--bare", "-b", "main"]);
    let r = remote.to_str().unwrap();
    let out = stdout(&mut e.commit(&["--all-envs", "--push", r]));
    assert!(
        out.contains(&format!("pushed `main` to `{r}`: (new branch) -> ")),
        "{out}"
    );
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        git(&e.repo, &["rev-parse", "main"])
    );

    let out = stdout(&mut e.commit(&["--all-envs", "--push", r]));
    assert!(
        out.contains("nothing to commit") && out.contains("already has `main`"),
        "{out}"
    );

    let other = e.root.join("other");
    git(&e.root, &["clone", "-q", r, other.to_str().unwrap()]);
    git(&other, &["commit", "-q", "--allow-empty", "-m", "theirs"]);
    git(&other, &["push", "-q", "origin", "main"]);
    let theirs = git(&remote, &["rev-parse", "main"]);
    let staging = e.topology.join("staging.toml");
    let text = std::fs::read_to_string(&staging)
        .unwrap()
        .replace("team = \"frontend\"", "team = \"web\"");
    std::fs::write(&staging, text).unwrap();
    let out = e
        .commit(&["--env", "staging", "--push", r])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was rejected: non-fast-forward"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: fetch the remote branch"), "{stderr}");
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        theirs,
        "remote unchanged"
    );
    assert_eq!(commit_count(&e.repo), 3, "the local commit is kept");
    assert_fsck(&remote);
}

#[test]
fn a_missing_repository_is_created() {
    let e = setup();
    let repo = e.root.join("fresh");
    let mut c = segplan(&e.root);
    c.args([
        "--topology",
        e.topology.to_str().unwrap(),
        "commit",
        "--env",
        "prod",
        "--repo",
    ])
    .arg(&repo);
    stdout(&mut c);
    assert_eq!(git(&repo, &["rev-list", "--count", "main"]), "1\n");
    assert_eq!(loose_objects(&repo), 0);
    assert_eq!(status(&repo), "");
    assert_fsck(&repo);
}
