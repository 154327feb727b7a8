//! `segplan verify` and `segplan graph`: intent against reachability computed from policies.

use assert_cmd::Command;
use segplan::intent::{FindingKind, verify_cluster};
use segplan::render::{RenderOptions, render};
use serde_json::{Value, json};

fn example() -> segplan::model::Model {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
    segplan::model::load(&dir).expect("example is valid").0
}

fn objects(model: &segplan::model::Model, env: &str, cluster: &str) -> Vec<Value> {
    let r = render(
        model,
        env,
        &RenderOptions {
            cluster: Some(cluster.into()),
            ..Default::default()
        },
    )
    .unwrap();
    r.clusters[0]
        .manifests
        .iter()
        .map(|m| m.value().clone())
        .collect()
}

fn verify(
    model: &segplan::model::Model,
    env: &str,
    cluster: &str,
    objs: &[Value],
) -> Vec<segplan::intent::Finding> {
    let e = &model.environments[env];
    verify_cluster(model, e, &e.clusters[cluster], objs).unwrap()
}

#[test]
fn the_example_allows_exactly_its_flows() {
    let model = example();
    for (env, cluster) in [
        ("prod", "prod-eu-1"),
        ("prod", "prod-us-1"),
        ("staging", "staging-eu-1"),
        ("management", "mgmt-eu-1"),
    ] {
        let f = verify(&model, env, cluster, &objects(&model, env, cluster));
        assert!(f.is_empty(), "{cluster}: {f:#?}");
    }
    Command::cargo_bin("segplan")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["verify"])
        .assert()
        .success();
}

#[test]
fn missing_egress_side_is_reported_as_such() {
    let model = example();
    let objs: Vec<Value> = objects(&model, "prod", "prod-us-1")
        .into_iter()
        .filter(|o| {
            !(o["metadata"]["name"] == "egress-to-data" && o["metadata"]["namespace"] == "frontend")
        })
        .collect();
    let f = verify(&model, "prod", "prod-us-1", &objs);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, FindingKind::Missing);
    assert_eq!((f[0].src.as_str(), f[0].dst.as_str()), ("frontend", "data"));
    assert_eq!(f[0].conns, "TCP 5432,6379,8443");
    assert!(
        f[0].message.contains("frontend's egress does not allow it"),
        "{}",
        f[0].message
    );
    assert_eq!(
        f[0].origin.as_deref(),
        Some("segplan.toml:31, segplan.toml:37")
    );
}

#[test]
fn missing_ingress_side_is_reported_as_such() {
    let model = example();
    let objs: Vec<Value> = objects(&model, "prod", "prod-us-1")
        .into_iter()
        .filter(|o| {
            !(o["metadata"]["name"] == "ingress-from-dmz"
                && o["metadata"]["namespace"] == "checkout")
        })
        .collect();
    let f = verify(&model, "prod", "prod-us-1", &objs);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].src.as_str(), f[0].dst.as_str(), f[0].kind),
        ("ingress", "checkout", FindingKind::Missing)
    );
    assert!(
        f[0].message
            .contains("checkout's ingress does not allow it"),
        "{}",
        f[0].message
    );
}

#[test]
fn extra_policy_opening_the_internet_is_reported_with_its_name() {
    let model = example();
    let mut objs = objects(&model, "prod", "prod-us-1");
    objs.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "hotfix-egress", "namespace": "data"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}
    }));
    let f = verify(&model, "prod", "prod-us-1", &objs);
    assert!(!f.is_empty());
    for x in &f {
        assert_eq!(x.kind, FindingKind::Unexpected, "{x:#?}");
        assert_eq!(x.src, "data");
        assert_eq!(x.policies, vec!["data/hotfix-egress".to_string()]);
    }
    let dsts: Vec<&str> = f.iter().map(|x| x.dst.as_str()).collect();
    assert!(dsts.iter().any(|d| d.starts_with("0.0.0.0")), "{dsts:?}");
}

#[test]
fn a_flow_the_topology_forgot_is_unexpected() {
    let model = example();
    let mut objs = objects(&model, "prod", "prod-us-1");
    // Someone opened dmz -> data on PostgreSQL, on both sides.
    objs.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "ingress-direct-db", "namespace": "data"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"segplan.io/zone": "dmz"}}}], "ports": [{"port": 5432}]}]}
    }));
    objs.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "egress-direct-db", "namespace": "ingress"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"segplan.io/zone": "data"}}}], "ports": [{"port": 5432}]}]}
    }));
    let f = verify(&model, "prod", "prod-us-1", &objs);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (
            f[0].kind,
            f[0].src.as_str(),
            f[0].dst.as_str(),
            f[0].conns.as_str()
        ),
        (FindingKind::Unexpected, "ingress", "data", "TCP 5432")
    );
    assert_eq!(
        f[0].policies,
        vec![
            "data/ingress-direct-db".to_string(),
            "ingress/egress-direct-db".to_string()
        ]
    );
}

#[test]
fn verify_cli_exit_code_and_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let tpl = tmp.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    let np = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/networkpolicy.yaml"),
    )
    .unwrap();
    // A user template that forgets the egress rules of `egress-to-app` policies.
    std::fs::write(
        tpl.join("networkpolicy.yaml"),
        np.replace(
            "{%- if egress %}",
            "{%- if egress and meta.name != \"egress-to-app\" %}",
        ),
    )
    .unwrap();
    let topo = tmp.path().join("topo");
    std::fs::create_dir_all(&topo).unwrap();
    for f in ["segplan.toml", "staging.toml"] {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("environments")
            .join(f);
        let mut text = std::fs::read_to_string(src).unwrap();
        if f == "segplan.toml" {
            text = text.replace(
                "name = \"acme\"",
                &format!(
                    "name = \"acme\"\ntemplates = {:?}",
                    tpl.display().to_string()
                ),
            );
        }
        std::fs::write(topo.join(f), text).unwrap();
    }
    let out = Command::cargo_bin("segplan")
        .unwrap()
        .arg("--topology")
        .arg(&topo)
        .args(["verify", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = v["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["kind"], "missing");
    assert_eq!(f[0]["src"], "ingress");
    assert_eq!(f[0]["dst"], "frontend");
    let md = Command::cargo_bin("segplan")
        .unwrap()
        .arg("--topology")
        .arg(&topo)
        .args(["verify", "-o", "markdown"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&md.stdout)
            .contains("| staging-eu-1 | Missing | ingress | frontend |")
    );
}

#[test]
fn graph_is_computed_from_policies() {
    let out = Command::cargo_bin("segplan")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["graph", "--env", "prod"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("graph_prod_mermaid", text);
    let dot = Command::cargo_bin("segplan")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["graph", "--env", "staging", "-o", "dot"])
        .output()
        .unwrap();
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(
        dot.contains("\"dmz\" -> \"app\" [label=\"TCP 443\"];"),
        "{dot}"
    );
    assert!(!dot.contains("\"dmz\" -> \"data\""), "{dot}");

    // Removing the ingress side of a flow removes its edge: the picture follows the policies.
    let model = example();
    let env = &model.environments["staging"];
    let objs: Vec<Value> = objects(&model, "staging", "staging-eu-1")
        .into_iter()
        .filter(|o| o["metadata"]["name"] != "ingress-from-dmz")
        .collect();
    let g = segplan::intent::graph::build(&model, env, &[("staging-eu-1".into(), objs)]).unwrap();
    assert!(
        g.edges.iter().all(|e| !(e.from == "dmz" && e.to == "app")),
        "{:?}",
        g.edges
    );
    assert!(g.edges.iter().any(|e| e.from == "app" && e.to == "data"));
}
