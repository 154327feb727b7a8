//! `segplan commit` against the obvious alternative, in the same run, on a generated
//! 10-cluster x 1,000-namespace topology rendered by the real renderer:
//!
//! * segplan: `gitops::commit_rendered` (blobs and trees in memory, one pack, ref CAS);
//! * alternative: `render --out` into a clone (`render::write_out`), then `git add -A && git commit`.
//!
//! Measured: the first commit, then commits after one namespace changed (its zone flips, so its
//! objects change on all ten clusters). Run with `cargo bench --bench gitops`
//! (`SEGPLAN_BENCH_CLUSTERS` / `SEGPLAN_BENCH_NAMESPACES` / `SEGPLAN_BENCH_ROUNDS` to resize).
//! Like the binary, the benchmark allocates through mimalloc, configured the same way.

#[path = "../tests/gitops_support/topology.rs"]
mod topology;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use segplan::gitops::{self, CommitOptions, Identity};
use segplan::render::{self, RenderOptions, Rendered};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org")
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn count_objects(dir: &Path) -> (usize, usize, usize) {
    let out = git(dir, &["count-objects", "-v"]);
    let get = |k: &str| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0)
    };
    (
        get("count:"),
        get("in-pack:"),
        get("size:") + get("size-pack:"),
    )
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn render_env(topology: &Path) -> (segplan::model::Model, Rendered, Duration) {
    let start = Instant::now();
    let (model, _) = segplan::model::load(topology).expect("generated topology is valid");
    let r = render::render(&model, "big", &RenderOptions::default()).expect("renders");
    (model, r, start.elapsed())
}

fn segplan_commit(repo: &Path, model: &segplan::model::Model, r: &Rendered) -> Duration {
    let id = Identity {
        name: "bench".into(),
        email: "bench@example.org".into(),
        time: None,
    };
    let opts = CommitOptions {
        author: Some(id.clone()),
        committer: Some(id),
        env: Box::new(|_| None),
        ..CommitOptions::default()
    };
    let start = Instant::now();
    let out = gitops::commit_rendered(repo, model, std::slice::from_ref(r), &opts).expect("commit");
    let t = start.elapsed();
    assert!(
        matches!(out, gitops::CommitOutcome::Committed { .. }),
        "{out:?}"
    );
    t
}

fn alternative_commit(clone: &Path, r: &Rendered) -> Duration {
    let start = Instant::now();
    render::write_out(r, &clone.join("clusters")).expect("write_out");
    git(clone, &["add", "-A"]);
    git(clone, &["commit", "-q", "-m", "render"]);
    start.elapsed()
}

/// After the alternative's first commit (67,525 loose objects) git starts `gc --auto` in the
/// background. Its time is not the alternative's (git detaches it), but it competes for both
/// cores with whatever runs next: wait for it to finish before measuring the rounds.
fn wait_for_background_gc(repo: &Path) -> Duration {
    let start = Instant::now();
    let pid = repo.join(".git/gc.pid");
    std::thread::sleep(Duration::from_millis(500));
    while pid.exists() && start.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    segplan::alloc::configure_mimalloc();
    // `cargo bench` passes `--bench`; any other run (`cargo test --benches`) is a quick smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    if std::env::var_os("SEGPLAN_BENCH_VERBOSE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("segplan=debug")
            .with_writer(std::io::stderr)
            .without_time()
            .try_init();
    }
    let clusters = env_usize("SEGPLAN_BENCH_CLUSTERS", if quick { 2 } else { 10 });
    let namespaces = env_usize("SEGPLAN_BENCH_NAMESPACES", if quick { 20 } else { 1000 });
    let rounds = env_usize("SEGPLAN_BENCH_ROUNDS", if quick { 1 } else { 5 });

    let tmp = tempfile::tempdir().unwrap();
    let topo = tmp.path().join("topology");
    topology::write(
        &topo,
        clusters,
        namespaces,
        "ingress controllers forward HTTPS",
    );
    let (model, rendered, render_time) = render_env(&topo);
    let files: usize = rendered.clusters.iter().map(|c| c.files().len()).sum();
    let bytes: usize = rendered
        .clusters
        .iter()
        .flat_map(|c| c.manifests.iter().map(|m| m.yaml().len()))
        .sum();
    println!(
        "topology: {clusters} clusters x {namespaces} namespaces -> {files} files, {:.1} MB of YAML (load+render {:.2?})",
        bytes as f64 / 1e6,
        render_time
    );

    let ours = tmp.path().join("segplan-repo");
    let theirs = tmp.path().join("alternative-repo");
    std::fs::create_dir(&theirs).unwrap();
    git(&theirs, &["init", "-q", "-b", "main"]);

    let first_ours = segplan_commit(&ours, &model, &rendered);
    let first_theirs = alternative_commit(&theirs, &rendered);
    let (loose_o, packed_o, size_o) = count_objects(&ours);
    let (loose_t, packed_t, size_t) = count_objects(&theirs);
    println!(
        "first commit:   segplan {first_ours:>10.2?}   alternative {first_theirs:>10.2?}   ratio {:.2}x",
        first_theirs.as_secs_f64() / first_ours.as_secs_f64()
    );
    println!(
        "  objects after: segplan {loose_o} loose / {packed_o} packed ({size_o} KiB); alternative {loose_t} loose / {packed_t} packed ({size_t} KiB)"
    );
    println!(
        "  waited {:.2?} for git's background gc in the alternative's repository",
        wait_for_background_gc(&theirs)
    );

    let (mut t_ours, mut t_theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Flip the zone of one namespace: its objects change on every cluster.
        let mut text = std::fs::read_to_string(topo.join("big.toml")).unwrap();
        let (from, to) = if round % 2 == 0 {
            ("app", "data")
        } else {
            ("data", "app")
        };
        text = text.replacen(
            &format!("[namespaces.ns-0001]\nzone = \"{from}\""),
            &format!("[namespaces.ns-0001]\nzone = \"{to}\""),
            1,
        );
        std::fs::write(topo.join("big.toml"), text).unwrap();
        let (model, rendered, _) = render_env(&topo);
        t_ours.push(segplan_commit(&ours, &model, &rendered));
        t_theirs.push(alternative_commit(&theirs, &rendered));
    }
    let (mo, mt) = (median(t_ours.clone()), median(t_theirs.clone()));
    println!(
        "one namespace:  segplan {mo:>10.2?}   alternative {mt:>10.2?}   ratio {:.2}x (median of {rounds}; segplan {t_ours:.2?}, alternative {t_theirs:.2?})",
        mt.as_secs_f64() / mo.as_secs_f64()
    );
    let (loose_o, packed_o, _) = count_objects(&ours);
    let (loose_t, packed_t, _) = count_objects(&theirs);
    let packs = std::fs::read_dir(ours.join(".git/objects/pack"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pack")
        })
        .count();
    println!(
        "  objects after: segplan {loose_o} loose / {packed_o} packed in {packs} packs; alternative {loose_t} loose / {packed_t} packed"
    );
}
