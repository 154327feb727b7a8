//! Crash safety: `segplan commit` killed with SIGKILL at random points, many times. After every
//! kill the repository must pass `git fsck`, and the branch must point at either the old commit
//! or a complete new commit whose parent is the old one.

mod gitops_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_support::*;

const RUNS: usize = 30;

fn segplan_commit(topology: &Path, repo: &Path, home: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("segplan"));
    c.args([
        "--topology",
        topology.to_str().unwrap(),
        "-q",
        "commit",
        "--env",
        "big",
        "--repo",
    ])
    .arg(repo)
    .env("HOME", home)
    .env("GIT_CONFIG_GLOBAL", "/dev/null")
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("GIT_AUTHOR_NAME", "segplan bot")
    .env("GIT_AUTHOR_EMAIL", "bot@example.org")
    .env("GIT_COMMITTER_NAME", "segplan bot")
    .env("GIT_COMMITTER_EMAIL", "bot@example.org")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    c
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_random_points_never_corrupts_the_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let topology = tmp.path().join("topology");
    let repo = user_repo(tmp.path());
    topology::write(&topology, 2, 40, "run 0");

    // Calibrate: an uninterrupted first commit, then a timed second one (a changed topology)
    // gives the time window to kill in.
    assert!(
        segplan_commit(&topology, &repo, tmp.path())
            .status()
            .unwrap()
            .success()
    );
    topology::write(&topology, 2, 40, "calibration");
    let start = Instant::now();
    let st = segplan_commit(&topology, &repo, tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let full = start.elapsed();
    eprintln!("one uninterrupted commit: {full:?}");
    assert_fsck(&repo);

    let mut rng = Rng(0x5eed_0000_0000_0001);
    let mut window = full * 3 / 2;
    let (mut kept_old, mut moved, mut finished, mut locked) = (0, 0, 0, 0);
    for run in 1..=RUNS {
        let old = head(&repo);
        topology::write(&topology, 2, 40, &format!("run {run}"));
        // A random delay over the window; the window grows while runs die before the commit
        // point (spawn times vary a lot on a loaded machine), so kills land on every phase.
        let delay = Duration::from_micros(rng.next() % (window.as_micros() as u64 + 1));
        let mut child = segplan_commit(&topology, &repo, tmp.path())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let done = child.try_wait().unwrap().is_some();
        if !done {
            child.kill().unwrap(); // SIGKILL on unix
        }
        let exit = child.wait().unwrap();
        if done {
            finished += 1;
            assert!(exit.success(), "run {run}: uninterrupted commit failed");
        }

        assert_fsck(&repo);
        let now = head(&repo);
        if now == old {
            kept_old += 1;
            window = window * 5 / 4;
        } else {
            moved += 1;
            assert_eq!(
                git(&repo, &["rev-parse", "HEAD~1"]).trim(),
                old,
                "run {run}: new commit's parent"
            );
            // The new tree is complete: every blob is readable.
            git(&repo, &["ls-tree", "-r", "HEAD"]);
            git(&repo, &["cat-file", "--batch-all-objects", "--batch-check"]);
        }
        // A kill between the ref update and the working-tree update leaves the files behind
        // the branch (never the other way round); a kill while segplan writes the index can
        // leave its lock file, as with git itself, but never a half-written index (it is
        // written to the lock file and renamed). Bring the working tree back for the next run.
        git(&repo, &["ls-files", "--stage", "--debug"]);
        let _ = std::fs::remove_file(repo.join(".git/index.lock"));
        // A kill while the branch is being moved leaves its lock, as with git: the next run
        // refuses, naming it, and changes nothing.
        let branch_lock = repo.join(".git/refs/heads/main.lock");
        if branch_lock.exists() {
            locked += 1;
            let out = segplan_commit(&topology, &repo, tmp.path())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(3), "run {run}: a held branch lock");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("refs/heads/main.lock"),
                "run {run}: {stderr}"
            );
            assert_eq!(head(&repo), now, "run {run}: the branch stays");
            std::fs::remove_file(&branch_lock).unwrap();
        }
        git(&repo, &["reset", "-q", "--hard"]);
        assert_eq!(status(&repo), "");
    }
    eprintln!(
        "{RUNS} runs: {kept_old} kept the old commit, {moved} moved to a new one ({finished} finished, {locked} left the branch lock)"
    );
    assert!(
        kept_old > 0,
        "no run was killed before the commit point: the test proves nothing"
    );
    assert!(moved > 0, "no run reached the commit point");

    // The repository still works: a final uninterrupted run commits normally.
    topology::write(&topology, 2, 40, "final");
    assert!(
        segplan_commit(&topology, &repo, tmp.path())
            .status()
            .unwrap()
            .success()
    );
    assert_fsck(&repo);
    assert_eq!(status(&repo), "");
}
