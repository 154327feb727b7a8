//! Throughput of the test API server (`tests/support/kubeapi`) as the real
//! kube-rs client sees it, so end-to-end benchmarks of `segplan diff`/`apply`
//! know how much of their time is the server's.
//!
//! Run: `cargo bench --bench kubeapi`.

#[path = "../tests/support/kubeapi/mod.rs"]
mod kubeapi;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kubeapi::{ADMIN_TOKEN, KubeApi, Options};
use serde_json::{Value, json};

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    divan::main();
}

const OBJECTS: usize = 5_000;

fn policy(i: usize) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": format!("allow-{i}"), "namespace": "team",
                     "labels": {"app.kubernetes.io/managed-by": "segplan", "segplan.io/cluster": "prod-eu-1"}},
        "spec": {"podSelector": {"matchLabels": {"app": format!("svc-{i}")}},
                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "dmz"}}}],
                              "ports": [{"port": 8443}]}]}})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn client(api: &KubeApi) -> kube::Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    api.write_kubeconfig(&path, "bench", ADMIN_TOKEN).unwrap();
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn seeded() -> KubeApi {
    let api = KubeApi::start(Options::default());
    api.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    for i in 0..OBJECTS {
        api.apply_as("segplan", policy(i), false).unwrap();
    }
    api
}

/// 5,000 server-side applies creating NetworkPolicies, one request each.
#[divan::bench(sample_count = 3)]
fn apply_5000_new(bencher: divan::Bencher) {
    let rt = runtime();
    bencher
        .with_inputs(|| {
            let api = KubeApi::start(Options::default());
            api.seed(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
            );
            api
        })
        .bench_local_values(|api| {
            rt.block_on(async {
                let nps: Api<NetworkPolicy> = Api::namespaced(client(&api).await, "team");
                let pp = PatchParams::apply("segplan");
                for i in 0..OBJECTS {
                    nps.patch(&format!("allow-{i}"), &pp, &Patch::Apply(&policy(i)))
                        .await
                        .unwrap();
                }
            });
            api
        });
}

/// 5,000 server-side applies that change nothing (no-op detection, no resourceVersion bump).
#[divan::bench(sample_count = 3)]
fn apply_5000_unchanged(bencher: divan::Bencher) {
    let rt = runtime();
    let api = seeded();
    let c = rt.block_on(client(&api));
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "team");
    let pp = PatchParams::apply("segplan");
    bencher.bench_local(|| {
        rt.block_on(async {
            for i in 0..OBJECTS {
                nps.patch(&format!("allow-{i}"), &pp, &Patch::Apply(&policy(i)))
                    .await
                    .unwrap();
            }
        })
    });
}

/// Listing 5,000 NetworkPolicies by label selector in pages of 500.
#[divan::bench(sample_count = 10)]
fn list_5000_paginated(bencher: divan::Bencher) {
    let rt = runtime();
    let api = seeded();
    let c = rt.block_on(client(&api));
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "team");
    bencher.bench_local(|| {
        rt.block_on(async {
            let mut n = 0;
            let mut token: Option<String> = None;
            loop {
                let mut lp = ListParams::default()
                    .limit(500)
                    .labels("app.kubernetes.io/managed-by=segplan");
                if let Some(t) = &token {
                    lp = lp.continue_token(t);
                }
                let page = nps.list(&lp).await.unwrap();
                n += page.items.len();
                token = page.metadata.continue_.filter(|t| !t.is_empty());
                if token.is_none() {
                    break;
                }
            }
            assert_eq!(n, OBJECTS);
        })
    });
}
