//! `segplan verify --live`: reachability of everything in the live clusters (including
//! policies segplan does not own) against the topology, over real HTTP to the test servers.

mod live_support;

use live_support::{World, json_of, widening_policy};

#[test]
fn applied_plan_verifies_and_a_hand_made_policy_is_found() {
    let w = World::new(true);
    // Before apply, nothing is isolated: the live clusters allow far more than the topology.
    let (code, out, _) = w.run(&["verify", "--env", "prod", "--live", "-o", "json"]);
    assert_eq!(code, 1, "{out}");
    w.apply_all();
    let (code, out, err) = w.run(&["verify", "--env", "prod", "--live"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("verified 2 cluster(s): 0 finding(s)"), "{out}");

    // Someone opens the data namespace to everything, by hand.
    w.us.seed(widening_policy("data", "debug-open", None));
    let (code, out, err) = w.run(&["verify", "--env", "prod", "--live", "-o", "json"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v = json_of(&out);
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        assert_eq!(f["kind"], "unexpected", "{f}");
        assert_eq!(f["cluster"], "prod-us-1");
        assert_eq!(f["dst"], "data");
        assert_eq!(f["policies"], serde_json::json!(["data/debug-open"]));
    }
    // Every source outside the cluster reaches data now; managed namespaces do not, because
    // their own egress is still isolated (both sides must allow).
    assert!(
        findings
            .iter()
            .any(|f| f["src"] == "0.0.0.0-255.255.255.255"),
        "{out}"
    );
    assert!(
        findings
            .iter()
            .all(|f| f["src"] != "ingress" && f["src"] != "checkout"),
        "{out}"
    );
}

#[test]
fn an_unreachable_cluster_is_reported_and_exits_3() {
    let w = World::new(true);
    w.apply_all();
    w.kubeconfig(
        live_support::Kubeconfig::new()
            .context("prod-eu-1", &w.eu, live_support::ADMIN_TOKEN)
            .context_url(
                "prod-us-1",
                &live_support::KubeApi::unreachable_url(),
                live_support::ADMIN_TOKEN,
            ),
    );
    let (code, out, err) = w.run(&["verify", "--env", "prod", "--live"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("cluster prod-us-1"), "{err}");
    assert!(
        out.contains("verified 1 cluster(s)"),
        "the other cluster still reports: {out}"
    );
}
