//! Shared helpers of the gitops tests: hermetic git CLI runs, synthetic rendered clusters, fixed
//! identities.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use segplan::gitops::{CommitOptions, Identity};
use segplan::model::Model;
use segplan::render::{Manifest, Rendered, RenderedCluster};

/// A fixed commit time: 2026-01-02T03:04:05Z.
pub const TIME: (i64, i32) = (1_767_323_045, 0);

/// Makes libgit2 ignore the user's global and system configuration (once per test binary).
pub fn hermetic() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let empty = std::env::temp_dir().join("segplan-gitops-tests-empty-config");
        std::fs::create_dir_all(&empty).unwrap();
        for level in [
            git2::ConfigLevel::Global,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::System,
            git2::ConfigLevel::ProgramData,
        ] {
            // SAFETY: called once, before any other libgit2 use in this test binary.
            unsafe { git2::opts::set_search_path(level, &empty).unwrap() };
        }
    });
}

/// A git CLI command in `dir` with a hermetic environment.
pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Test User")
        .env("GIT_AUTHOR_EMAIL", "user@example.org")
        .env("GIT_COMMITTER_NAME", "Test User")
        .env("GIT_COMMITTER_EMAIL", "user@example.org")
        .env("GIT_AUTHOR_DATE", "@1767323045 +0000")
        .env("GIT_COMMITTER_DATE", "@1767323045 +0000")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    c
}

/// Runs git and returns stdout, failing the test on a non-zero exit.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git fsck --full --strict` must be clean (no output on stdout or stderr besides progress).
pub fn assert_fsck(dir: &Path) {
    let out = git_cmd(dir)
        .args([
            "fsck",
            "--full",
            "--strict",
            "--no-progress",
            "--no-dangling",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "git fsck failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "git fsck output");
    assert!(
        !stderr.contains("error") && !stderr.contains("missing"),
        "{stderr}"
    );
}

/// `git status --porcelain` output.
pub fn status(dir: &Path) -> String {
    git(dir, &["status", "--porcelain", "--untracked-files=all"])
}

/// Rewrites `file` (repository-relative) with `text`, of the same length, and makes it racily
/// clean (git's term): the file and the index file get the mtime the file's index entry
/// records, so its stat data still matches and only its bytes tell.
pub fn edit_racily(repo: &Path, file: &str, text: &str) {
    let entry = git2::Repository::open(repo)
        .unwrap()
        .index()
        .unwrap()
        .get_path(Path::new(file), 0)
        .unwrap();
    let old = std::fs::read_to_string(repo.join(file)).unwrap();
    assert!(old.len() == text.len() && old != text, "a same-size edit");
    let tick = std::time::UNIX_EPOCH
        + std::time::Duration::new(entry.mtime.seconds() as u64, entry.mtime.nanoseconds());
    std::fs::write(repo.join(file), text).unwrap();
    for f in [repo.join(file), repo.join(".git/index")] {
        let f = std::fs::File::options().write(true).open(f).unwrap();
        f.set_modified(tick).unwrap();
    }
}

/// Commit count on HEAD's branch.
pub fn commit_count(dir: &Path) -> usize {
    git(dir, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

pub fn head(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Loose objects in the repository (`git count-objects`).
pub fn loose_objects(dir: &Path) -> usize {
    let out = git(dir, &["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// The bundled example model.
pub fn model() -> Model {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    segplan::model::load(&dir).expect("example is valid").0
}

/// A NetworkPolicy-like manifest of about 1 KB.
pub fn manifest(ns: &str, name: &str, variant: u32) -> Manifest {
    let yaml = format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n  \
         labels:\n    app.kubernetes.io/managed-by: segplan\n    segplan.io/variant: \"{variant}\"\n  annotations:\n    \
         segplan.io/reason: \"{}\"\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    \
         - namespaceSelector:\n        matchLabels:\n          segplan.io/zone: app\n    ports:\n    - port: 443\n      protocol: TCP\n",
        "x".repeat(600)
    );
    Manifest::from_value(
        "networking.k8s.io/v1".into(),
        "NetworkPolicy".into(),
        name.into(),
        Some(ns.into()),
        yaml,
        serde_json::json!({"kind": "NetworkPolicy"}),
    )
}

/// A synthetic cluster: `namespaces` namespaces of `per_ns` policies each.
pub fn cluster(env: &str, name: &str, namespaces: usize, per_ns: usize) -> RenderedCluster {
    let mut manifests = Vec::new();
    for n in 0..namespaces {
        let ns = format!("ns-{n:04}");
        for p in 0..per_ns {
            manifests.push(manifest(&ns, &format!("policy-{p}"), 0));
        }
    }
    RenderedCluster {
        name: name.into(),
        environment: env.into(),
        manifests,
    }
}

pub fn rendered(env: &str, clusters: Vec<RenderedCluster>) -> Rendered {
    Rendered {
        environment: env.into(),
        clusters,
    }
}

/// Options with a fixed identity and time and no environment lookups.
pub fn opts() -> CommitOptions {
    let id = Identity {
        name: "segplan test".into(),
        email: "segplan@example.org".into(),
        time: Some(TIME),
    };
    CommitOptions {
        author: Some(id.clone()),
        committer: Some(id),
        env: Box::new(|_| None),
        repo_url: Some("https://git.example.org/acme/gitops.git".into()),
        ..CommitOptions::default()
    }
}

/// A fresh non-bare repository with one user commit (README.md and docs/notes.txt).
pub fn user_repo(tmp: &Path) -> PathBuf {
    let dir = tmp.join("gitops");
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "# our gitops repo\n").unwrap();
    std::fs::write(dir.join("docs/notes.txt"), "hand-written\n").unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "user commit"]);
    dir
}

pub mod topology;
