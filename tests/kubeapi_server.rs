//! Tests of the Kubernetes-API-compatible test server, driven by the real kube-rs client.

#[path = "support/kubeapi/mod.rs"]
mod kubeapi;

use kubeapi::{KubeApi, Options};

#[test]
fn starts() {
    let api = KubeApi::start(Options::default());
    assert!(api.url().starts_with("http://127.0.0.1:"));
}
