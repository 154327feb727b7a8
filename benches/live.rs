//! Live diff and apply against the test API server: 5,000 objects across 2 clusters.
//!
//! `cargo bench --bench live`. Each cluster gets 10 Namespaces with 250 NetworkPolicies each
//! (2,510 objects; 5,020 in all). Measured: a fresh apply, a no-op re-apply, and a diff of the
//! unchanged clusters; the request counts are printed once (unchanged objects must cost no
//! request of their own).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use segplan::live::apply::{ApplySettings, plan_apply};
use segplan::live::diff::DesiredObject;
use segplan::live::kinds::{NAMESPACE, NETWORK_POLICY, ObjectKey};
use segplan::live::run::{KubeConnector, Target, apply_all, diff_all};
use segplan::live::{ClusterPlan, DiffOptions};

#[path = "../tests/support/kubeapi/mod.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
mod kubeapi;

const NAMESPACES: usize = 10;
const POLICIES: usize = 250;
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    // `SEGPLAN_LOG=segplan=debug` shows each list's size and time.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SEGPLAN_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    segplan::live::install_crypto_provider();
    divan::main();
}

fn labels(cluster: &str) -> Value {
    json!({"app.kubernetes.io/managed-by": "segplan", "segplan.io/environment": "bench",
           "segplan.io/cluster": cluster})
}

fn plan(cluster: &str) -> ClusterPlan {
    let mut objects = Vec::new();
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        let v = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": labels(cluster)}});
        objects.push(DesiredObject {
            key: ObjectKey::of(&NAMESPACE, &v).unwrap(),
            spec: NAMESPACE,
            value: v,
        });
        for p in 0..POLICIES {
            let v = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": format!("allow-{p}"), "namespace": ns, "labels": labels(cluster),
                             "annotations": {"segplan.io/source": "bench.toml:1"}},
                "spec": {"podSelector": {"matchLabels": {"app": format!("app-{p}")}},
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                      "ports": [{"port": 8000 + p as u16}]}]}});
            objects.push(DesiredObject {
                key: ObjectKey::of(&NETWORK_POLICY, &v).unwrap(),
                spec: NETWORK_POLICY,
                value: v,
            });
        }
    }
    ClusterPlan {
        cluster: cluster.into(),
        environment: "bench".into(),
        mesh: false,
        objects,
    }
}

struct World {
    servers: Vec<kubeapi::KubeApi>,
    targets: Vec<Target>,
    connector: Arc<KubeConnector>,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl World {
    fn new() -> Self {
        let servers: Vec<_> = (0..2)
            .map(|_| kubeapi::KubeApi::start(kubeapi::Options::default().with_tls()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        kubeapi::Kubeconfig::new()
            .context("c1", &servers[0], kubeapi::ADMIN_TOKEN)
            .context("c2", &servers[1], kubeapi::ADMIN_TOKEN)
            .write(&path)
            .unwrap();
        let targets = ["c1", "c2"]
            .iter()
            .map(|c| Target {
                plan: plan(c),
                context: c.to_string(),
                api_server: None,
            })
            .collect();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        World {
            servers,
            targets,
            connector: Arc::new(KubeConnector::new(Some(path), TIMEOUT)),
            _dir: dir,
            rt,
        }
    }

    /// diff + apply, as `segplan apply --yes` does; returns objects created/updated.
    fn apply(&self) -> usize {
        let s = ApplySettings::default();
        self.rt.block_on(async {
            let diffed = diff_all(
                Arc::clone(&self.connector),
                &self.targets,
                2,
                TIMEOUT,
                DiffOptions {
                    dry_run_added: false,
                },
            )
            .await;
            let work = diffed
                .into_iter()
                .map(|d| {
                    let (diff, api) = d.result.expect("diff");
                    (plan_apply(&diff, &s).unwrap(), api)
                })
                .collect();
            let reports = apply_all(work, s, 2, |_| None).await;
            reports
                .iter()
                .map(|r| {
                    assert!(r.ok(), "{r:?}");
                    r.created + r.updated
                })
                .sum()
        })
    }

    /// A diff; returns the number of differing objects.
    fn diff(&self) -> usize {
        self.rt.block_on(async {
            let diffed = diff_all(
                Arc::clone(&self.connector),
                &self.targets,
                2,
                TIMEOUT,
                DiffOptions::default(),
            )
            .await;
            diffed
                .iter()
                .map(|d| d.result.as_ref().expect("diff").0.objects.len())
                .sum()
        })
    }

    fn requests(&self) -> (usize, usize) {
        let all: Vec<_> = self.servers.iter().flat_map(|s| s.requests()).collect();
        let per_object = all
            .iter()
            .filter(|r| r.method != "GET" || is_object_path(&r.path))
            .count();
        (all.len(), per_object)
    }

    fn clear(&self) {
        for s in &self.servers {
            s.clear_requests();
        }
    }
}

/// Whether a path names one object (`.../<plural>/<name>`), not a list or discovery.
fn is_object_path(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segs.first() {
        Some(&"api") => &segs[2.min(segs.len())..],
        Some(&"apis") => &segs[3.min(segs.len())..],
        _ => return false,
    };
    !rest.is_empty() && rest.len() % 2 == 0
}

#[divan::bench(sample_count = 3)]
fn apply_5000_fresh(b: divan::Bencher) {
    b.with_inputs(World::new).bench_local_values(|w| {
        let n = w.apply();
        assert_eq!(n, 2 * (NAMESPACES + NAMESPACES * POLICIES));
        w
    });
}

#[divan::bench(sample_count = 5)]
fn reapply_5000_noop(b: divan::Bencher) {
    let w = World::new();
    w.apply();
    w.clear();
    b.bench_local(|| assert_eq!(w.apply(), 0));
    let (total, writes) = w.requests();
    eprintln!(
        "\nno-op re-apply: {total} requests over all samples, {writes} writes or per-object requests"
    );
    assert_eq!(writes, 0);
}

#[divan::bench(sample_count = 5)]
fn diff_5000_unchanged(b: divan::Bencher) {
    let w = World::new();
    w.apply();
    w.clear();
    assert_eq!(w.diff(), 0);
    let (total, per_object) = w.requests();
    eprintln!(
        "\ndiff of {} unchanged objects: {total} requests, {per_object} per-object",
        2 * (NAMESPACES + NAMESPACES * POLICIES)
    );
    assert_eq!(per_object, 0);
    b.bench_local(|| assert_eq!(w.diff(), 0));
}
