//! `segplan review`: the connectivity change between two revisions of a GitOps repository.

use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;

fn git(dir: &Path, args: &[&str]) {
    let out = Std::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn render_into(topo: &Path, repo: &Path) {
    Command::cargo_bin("segplan")
        .unwrap()
        .arg("--topology")
        .arg(topo)
        .args(["render", "--env", "staging", "--out"])
        .arg(repo.join("clusters"))
        .assert()
        .success();
}

#[test]
fn review_ranks_widening_and_narrowing_with_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let topo = tmp.path().join("topo");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&topo).unwrap();
    std::fs::create_dir_all(&repo).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    for f in ["segplan.toml", "staging.toml"] {
        std::fs::copy(src.join(f), topo.join(f)).unwrap();
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    render_into(&topo, &repo);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "one"]);

    // Open dmz -> data on PostgreSQL, and close Redis from app.
    let text = std::fs::read_to_string(topo.join("segplan.toml")).unwrap();
    let text = text.replace(
        "ports = [\"5432/TCP\", \"6379/TCP\"]",
        "ports = [\"5432/TCP\"]",
    ) + "\n[[flows]]\nfrom = \"dmz\"\nto = \"data\"\nports = [\"5432/TCP\"]\nreason = \"a shortcut nobody should take\"\n";
    std::fs::write(topo.join("segplan.toml"), text).unwrap();
    render_into(&topo, &repo);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "two"]);

    let out = Command::cargo_bin("segplan")
        .unwrap()
        .args([
            "review", "--from", "HEAD~1", "--to", "HEAD", "-o", "text", "--repo",
        ])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("review_text", text);
    assert!(
        text.contains(
            "widens opens ingress/*[Namespace] -> data/*[Namespace] on TCP 5432 (segplan.toml:43)"
        ),
        "{text}"
    );
    assert!(
        text.contains("narrows closes frontend/*[Namespace] -> data/*[Namespace] on TCP 6379"),
        "{text}"
    );

    let md = Command::cargo_bin("segplan")
        .unwrap()
        .args(["review", "--from", "HEAD~1", "--repo"])
        .arg(&repo)
        .output()
        .unwrap();
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("⚠️ widens"), "{md}");
    assert!(md.contains("✅ narrows"), "{md}");
    assert!(md.contains("segplan.toml:43"), "the new flow's line: {md}");

    // No change between a revision and itself.
    Command::cargo_bin("segplan")
        .unwrap()
        .args(["review", "--from", "HEAD", "--to", "HEAD", "--repo"])
        .arg(&repo)
        .assert()
        .success()
        .stdout(predicates::str::contains("No segmentation change"));
    // A bad revision is a usage error.
    Command::cargo_bin("segplan")
        .unwrap()
        .args(["review", "--from", "nope", "--repo"])
        .arg(&repo)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown revision `nope`"));
}
