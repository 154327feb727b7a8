//! Reachability benchmarks: a generated 2,000-namespace plan with 10,000 policies, and every
//! conformance case. Run with `cargo bench --bench analysis`; figures in docs/performance.md.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use segplan::analysis::{self, Inventory, load};

fn main() {
    divan::main();
}

/// 2,000 namespaces in 20 zones of 100, five policies each (10,000 in all), in the shape
/// segplan renders: default deny both ways, allow ingress from the own zone, allow DNS to
/// `ns-0`, allow TCP 443/5432 egress to the next zone, and allow egress to an external range.
pub fn generated(namespaces: usize) -> Vec<Value> {
    let mut objs = Vec::with_capacity(namespaces * 6);
    for i in 0..namespaces {
        let name = format!("ns-{i}");
        let zone = format!("z{}", i / 100);
        let next = format!("z{}", (i / 100 + 1) % namespaces.div_ceil(100));
        objs.push(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"zone": zone, "tier": if i % 2 == 0 { "web" } else { "data" }}}}));
        let p = |suffix: &str, spec: Value| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": format!("{name}-{suffix}"), "namespace": name}, "spec": spec})
        };
        objs.push(p(
            "default-deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ));
        objs.push(p(
            "same-zone",
            json!({"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": zone}}}]}]}),
        ));
        objs.push(p("dns", json!({"podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns-0"}}}],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]})));
        objs.push(p("next-zone", json!({"podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "zone", "operator": "In", "values": [zone, next]}]}}],
                "ports": [{"port": 443}, {"port": 5432}]}]})));
        objs.push(p("external", json!({"podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": format!("203.0.{}.0/24", i % 50)}}], "ports": [{"port": 443}]}]})));
    }
    objs
}

#[divan::bench(sample_count = 10)]
fn plan_2000_namespaces_10000_policies(bencher: divan::Bencher) {
    let objs = generated(2000);
    bencher.bench(|| {
        let inv = Inventory::from_objects(divan::black_box(&objs)).unwrap();
        analysis::analyze(&inv).connections.len()
    });
}

#[divan::bench(sample_count = 10)]
fn plan_2000_namespaces_inventory_only(bencher: divan::Bencher) {
    let objs = generated(2000);
    bencher.bench(|| {
        Inventory::from_objects(divan::black_box(&objs))
            .unwrap()
            .endpoints
            .len()
    });
}

#[divan::bench(sample_count = 10)]
fn plan_2000_namespaces_analyze_only(bencher: divan::Bencher) {
    let inv = Inventory::from_objects(&generated(2000)).unwrap();
    bencher.bench(|| analysis::analyze(divan::black_box(&inv)).connections.len());
}

#[divan::bench(sample_count = 10)]
fn plan_2000_namespaces_summary(bencher: divan::Bencher) {
    let inv = Inventory::from_objects(&generated(2000)).unwrap();
    let result = analysis::analyze(&inv);
    bencher.bench(|| analysis::summarize(divan::black_box(&result)).flows.len());
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/netpol-analyzer/cases")
}

fn case_names() -> Vec<&'static str> {
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect()
}

/// One conformance case, files already read: inventory, analysis and txt output.
#[divan::bench(args = case_names(), sample_count = 20)]
fn conformance_case(bencher: divan::Bencher, case: &str) {
    let loaded = load::load_dir(&cases_dir().join(case)).unwrap();
    bencher.bench(|| {
        let inv = Inventory::from_objects(divan::black_box(&loaded.objects)).unwrap();
        analysis::format::connectivity(&analysis::analyze(&inv), analysis::format::Format::Txt)
            .len()
    });
}
