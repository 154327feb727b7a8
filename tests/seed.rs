//! Each YAML example of the seed document (`../shared/seed-network-segmentation.txt`) has a
//! rendered counterpart in the bundled example that allows exactly the same traffic. This test
//! states which object maps to which seed example and checks the fields that matter.

use assert_cmd::Command;
use serde_json::{Value, json};

fn objects(env: &str, cluster: &str) -> Vec<Value> {
    let out = Command::cargo_bin("segplan")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("SEGPLAN_TOPOLOGY")
        .args(["render", "--env", env, "--cluster", cluster, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["items"].as_array().unwrap().clone()
}

fn find<'a>(objs: &'a [Value], kind: &str, ns: Option<&str>, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"].get("namespace").and_then(Value::as_str) == ns
        })
        .unwrap_or_else(|| panic!("no {kind} {ns:?}/{name}"))
}

/// Every NetworkPolicy rule of a namespace in one direction, as (peers, ports) pairs.
fn rules(objs: &[Value], ns: &str, dir: &str) -> Vec<(Value, Value)> {
    let key = if dir == "ingress" { "from" } else { "to" };
    let mut out = Vec::new();
    for o in objs
        .iter()
        .filter(|o| o["kind"] == "NetworkPolicy" && o["metadata"]["namespace"] == ns)
    {
        assert_eq!(
            o["spec"]["podSelector"],
            json!({}),
            "every segplan policy selects all pods"
        );
        for r in o["spec"][dir].as_array().into_iter().flatten() {
            out.push((
                r[key].clone(),
                r.get("ports").cloned().unwrap_or(Value::Null),
            ));
        }
    }
    out
}

fn isolates(objs: &[Value], ns: &str, ty: &str) -> bool {
    objs.iter().any(|o| {
        o["kind"] == "NetworkPolicy"
            && o["metadata"]["namespace"] == ns
            && o["spec"]["policyTypes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == ty)
    })
}

fn zone_peer(zone: &str) -> Value {
    json!([{"namespaceSelector": {"matchLabels": {"segplan.io/zone": zone}}}])
}

fn dns_peer() -> Value {
    json!([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
}

fn tcp(ports: &[u16]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| json!({"protocol": "TCP", "port": p}))
            .collect(),
    )
}

/// Seed strategy 1, `data-zone-policy` (namespace data): ingress only from the internal tier on
/// TCP 5432; egress only to the same namespace and kube-system DNS.
/// Counterpart: namespace `data` (zone data) on prod-eu-1. The seed's `zone: internal` label
/// is segplan's `segplan.io/zone: app`. segplan also allows Redis (6379) and the payment API
/// (8443) from app, both declared flows, and DNS on TCP as well as UDP, to the DNS pods only.
#[test]
fn data_zone_policy() {
    let objs = objects("prod", "prod-eu-1");
    assert!(isolates(&objs, "data", "Ingress") && isolates(&objs, "data", "Egress"));
    let ingress = rules(&objs, "data", "ingress");
    assert_eq!(
        ingress,
        vec![
            (json!([{"podSelector": {}}]), Value::Null),
            (zone_peer("app"), tcp(&[5432, 6379])),
            (zone_peer("app"), tcp(&[8443])),
        ]
    );
    let egress = rules(&objs, "data", "egress");
    assert_eq!(
        egress,
        vec![
            (
                dns_peer(),
                json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
            ),
            (json!([{"podSelector": {}}]), Value::Null),
        ]
    );
}

/// Seed strategy 2, `app-tier-egress` (namespace app): egress to the data tier on TCP 5432 and
/// 6379, and DNS. Counterpart: every app-zone namespace (checkout, frontend), policy
/// `egress-to-data`, plus `allow-dns`.
#[test]
fn app_tier_egress() {
    let objs = objects("prod", "prod-us-1");
    for ns in ["checkout", "frontend"] {
        let np = find(&objs, "NetworkPolicy", Some(ns), "egress-to-data");
        assert_eq!(np["spec"]["policyTypes"], json!(["Egress"]));
        assert_eq!(np["spec"]["egress"][0]["to"], zone_peer("data"));
        assert_eq!(np["spec"]["egress"][0]["ports"], tcp(&[5432, 6379]));
        let egress = rules(&objs, ns, "egress");
        assert!(egress.contains(&(
            dns_peer(),
            json!([{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}])
        )));
        // Nothing else leaves an app namespace but the same namespace, the data tier and the
        // cross-cluster monitoring flow (ingress only, so not here).
        for (peers, _) in &egress {
            assert!(
                *peers == dns_peer()
                    || *peers == zone_peer("data")
                    || *peers == json!([{"podSelector": {}}]),
                "unexpected egress from {ns}: {peers}"
            );
        }
    }
}

/// Seed strategy 2, `data-tier-deny-external`: the data tier cannot reach the internet; egress
/// only to the same namespace and DNS. Counterpart: every data-zone namespace on every cluster.
#[test]
fn data_tier_deny_external() {
    for (env, cluster, namespaces) in [
        ("prod", "prod-eu-1", vec!["data", "payments"]),
        ("prod", "prod-us-1", vec!["data"]),
        ("staging", "staging-eu-1", vec!["data"]),
    ] {
        let objs = objects(env, cluster);
        for ns in namespaces {
            assert!(isolates(&objs, ns, "Egress"));
            for (peers, _) in rules(&objs, ns, "egress") {
                assert!(
                    peers == dns_peer() || peers == json!([{"podSelector": {}}]),
                    "{cluster}/{ns} egress must stay inside: {peers}"
                );
            }
        }
    }
}

/// Seed strategy 3, `payment-processor` pinned to the PCI pool: nodeSelector
/// `security-zone: pci` and a toleration for `security-zone=pci:NoSchedule`. Counterpart: the
/// payments namespace's PodNodeSelector/defaultTolerations annotations, and the admission
/// policies that reject pods without them and keep other namespaces off the pool.
#[test]
fn payment_processor_node_pinning() {
    let objs = objects("prod", "prod-eu-1");
    let ns = find(&objs, "Namespace", None, "payments");
    let ann = &ns["metadata"]["annotations"];
    assert_eq!(
        ann["scheduler.alpha.kubernetes.io/node-selector"],
        "security-zone=pci"
    );
    let tol: Value = serde_json::from_str(
        ann["scheduler.alpha.kubernetes.io/defaultTolerations"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        tol,
        json!([{"key": "security-zone", "operator": "Equal", "value": "pci", "effect": "NoSchedule"}])
    );
    assert_eq!(ns["metadata"]["labels"]["segplan.io/node-pool"], "pci");

    let pin = find(&objs, "ValidatingAdmissionPolicy", None, "segplan-pin-pci");
    let exprs: Vec<&str> = pin["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["expression"].as_str().unwrap())
        .collect();
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("object.spec.nodeSelector['security-zone'] == 'pci'")),
        "{exprs:?}"
    );
    assert!(
        exprs.iter().any(|e| e.contains("t.key == 'security-zone'")
            && e.contains("t.value == 'pci'")
            && e.contains("t.effect == 'NoSchedule'")),
        "{exprs:?}"
    );
    let bind = find(
        &objs,
        "ValidatingAdmissionPolicyBinding",
        None,
        "segplan-pin-pci",
    );
    assert_eq!(bind["spec"]["policyName"], "segplan-pin-pci");
    assert_eq!(bind["spec"]["validationActions"], json!(["Deny"]));
    assert_eq!(
        bind["spec"]["matchResources"]["namespaceSelector"]["matchLabels"],
        json!({"segplan.io/node-pool": "pci"})
    );

    let ex = find(
        &objs,
        "ValidatingAdmissionPolicy",
        None,
        "segplan-exclusive-pci",
    );
    let e = ex["spec"]["validations"][0]["expression"].as_str().unwrap();
    assert!(e.contains("t.key in ['security-zone']"), "{e}");
    let bind = find(
        &objs,
        "ValidatingAdmissionPolicyBinding",
        None,
        "segplan-exclusive-pci",
    );
    let exprs = &bind["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"];
    assert_eq!(
        exprs[0],
        json!({"key": "segplan.io/node-pool", "operator": "NotIn", "values": ["pci"]})
    );
    assert!(
        exprs[1]["values"]
            .as_array()
            .unwrap()
            .contains(&json!("kube-system"))
    );
    // The other cluster has no PCI pool and renders no node-pool policies.
    let us = objects("prod", "prod-us-1");
    assert!(us.iter().all(|o| o["kind"] != "ValidatingAdmissionPolicy"));
}

/// Seed strategy 5, `payment-access`: only `checkout-service` may POST /api/v1/charge on
/// `app: payment-api`. Counterpart: AuthorizationPolicy payments/payment-access (the seed's
/// namespace `production` is segplan's checkout namespace for the caller), plus a DENY guard so
/// namespace-level ALLOW rules cannot widen it.
#[test]
fn payment_access_authorization_policy() {
    let objs = objects("prod", "prod-eu-1");
    let ap = find(
        &objs,
        "AuthorizationPolicy",
        Some("payments"),
        "payment-access",
    );
    assert_eq!(ap["spec"]["action"], "ALLOW");
    assert_eq!(
        ap["spec"]["selector"],
        json!({"matchLabels": {"app": "payment-api"}})
    );
    assert_eq!(
        ap["spec"]["rules"],
        json!([{"from": [{"source": {"principals": ["cluster.local/ns/checkout/sa/checkout-service"]}}],
                "to": [{"operation": {"methods": ["POST"], "paths": ["/api/v1/charge"]}}]}])
    );
    let guard = find(
        &objs,
        "AuthorizationPolicy",
        Some("payments"),
        "payment-access-guard",
    );
    assert_eq!(guard["spec"]["action"], "DENY");
    assert_eq!(guard["spec"]["selector"], ap["spec"]["selector"]);
    assert_eq!(
        guard["spec"]["rules"],
        json!([{"from": [{"source": {"notPrincipals": ["cluster.local/ns/checkout/sa/checkout-service"]}}]},
               {"to": [{"operation": {"notMethods": ["POST"]}}]},
               {"to": [{"operation": {"notPaths": ["/api/v1/charge"]}}]}])
    );
    let deny_all = find(
        &objs,
        "AuthorizationPolicy",
        Some("payments"),
        "deny-by-default",
    );
    assert_eq!(deny_all["spec"], json!({}));
    let mtls = find(&objs, "PeerAuthentication", Some("payments"), "strict-mtls");
    assert_eq!(mtls["spec"]["mtls"]["mode"], "STRICT");
    // No mesh objects on the cluster without a mesh.
    let us = objects("prod", "prod-us-1");
    assert!(us.iter().all(|o| o["apiVersion"] != "security.istio.io/v1"));
}

/// Strategy 1: namespaces carry zone, environment, team, compliance and Pod Security labels,
/// and every object carries the ownership labels and a provenance annotation.
#[test]
fn labels_ownership_and_provenance() {
    let objs = objects("prod", "prod-eu-1");
    let ns = find(&objs, "Namespace", None, "payments");
    let l = &ns["metadata"]["labels"];
    assert_eq!(l["segplan.io/zone"], "data");
    assert_eq!(l["segplan.io/environment"], "prod");
    assert_eq!(l["segplan.io/team"], "payments");
    assert_eq!(l["compliance.segplan.io/pci-dss"], "true");
    assert_eq!(l["pod-security.kubernetes.io/enforce"], "restricted");
    let frontend = find(&objs, "Namespace", None, "frontend");
    assert_eq!(
        frontend["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "baseline"
    );
    for o in &objs {
        let l = &o["metadata"]["labels"];
        assert_eq!(
            l["app.kubernetes.io/managed-by"], "segplan",
            "{}",
            o["metadata"]["name"]
        );
        assert_eq!(l["segplan.io/cluster"], "prod-eu-1");
        let src = o["metadata"]["annotations"]["segplan.io/source"]
            .as_str()
            .unwrap();
        assert!(src.contains(".toml:"), "{src}");
    }
    let flow = find(&objs, "NetworkPolicy", Some("data"), "ingress-from-app");
    assert_eq!(
        flow["metadata"]["annotations"]["segplan.io/source"],
        "segplan.toml:31, segplan.toml:37"
    );
}

/// Strategy 4 and the cross-cluster flow: management's ops zone scrapes prod's app zone on
/// 9090, with ipBlocks of the other cluster's CIDRs on both sides.
#[test]
fn cross_cluster_monitoring_flow_both_sides() {
    let prod = objects("prod", "prod-us-1");
    let ing = find(
        &prod,
        "NetworkPolicy",
        Some("frontend"),
        "ingress-from-mgmt-eu-1-ops",
    );
    assert_eq!(
        ing["spec"]["ingress"][0]["from"],
        json!([{"ipBlock": {"cidr": "10.30.0.0/16"}}, {"ipBlock": {"cidr": "10.2.0.0/20"}}])
    );
    assert_eq!(ing["spec"]["ingress"][0]["ports"], tcp(&[9090]));
    let mgmt = objects("management", "mgmt-eu-1");
    let eg = find(
        &mgmt,
        "NetworkPolicy",
        Some("monitoring"),
        "egress-to-prod-us-1-app",
    );
    assert_eq!(
        eg["spec"]["egress"][0]["to"],
        json!([{"ipBlock": {"cidr": "10.11.0.0/16"}}, {"ipBlock": {"cidr": "10.0.16.0/20"}}])
    );
    assert_eq!(eg["spec"]["egress"][0]["ports"], tcp(&[9090]));
    // The data tier of prod is not a target of the flow.
    assert!(prod.iter().all(|o| !(o["metadata"]["namespace"] == "data"
        && o["metadata"]["name"].as_str().unwrap().contains("mgmt"))));
}

/// Internet ingress only where the zone declares it, from anywhere, on its ports.
#[test]
fn internet_ingress_only_into_dmz() {
    let objs = objects("prod", "prod-eu-1");
    let np = find(
        &objs,
        "NetworkPolicy",
        Some("ingress"),
        "ingress-from-internet",
    );
    assert_eq!(
        np["spec"]["ingress"][0]["from"],
        json!([{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}])
    );
    assert_eq!(np["spec"]["ingress"][0]["ports"], tcp(&[443]));
    let with_internet = objs
        .iter()
        .filter(|o| o["metadata"]["name"] == "ingress-from-internet")
        .count();
    assert_eq!(with_internet, 1);
}
