//! End-to-end: `segplan diff` (the binary) against the test API server.

mod live_support;

use live_support::*;
use serde_json::json;

#[test]
fn no_differences_right_after_apply_with_server_defaults_filled_in() {
    let w = World::new(true);
    w.apply_all();
    // The server filled in defaults segplan does not state.
    let ns = w.eu.get("v1", "Namespace", None, "checkout").unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "checkout"
    );
    w.eu.clear_requests();
    w.us.clear_requests();
    let (code, out, err) = w.run(&["diff", "--env", "prod", "--exit-code"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("prod-eu-1 (prod): in sync:"), "{out}");
    assert!(out.contains("prod-us-1 (prod): in sync:"), "{out}");
    // only lists and discovery: no per-object request
    for s in [&w.eu, &w.us] {
        let reqs = s.requests();
        assert!(reqs.iter().all(|r| r.method == "GET"), "{reqs:?}");
        assert!(
            !reqs.iter().any(|r| r.path.contains("/networkpolicies/")),
            "{reqs:?}"
        );
    }
}

/// Every drift kind on prod-eu-1: Added, Changed, Removed, Unmanaged (widening).
fn drifted() -> World {
    let w = World::new(true);
    w.apply_all();
    // Added: someone deleted a planned policy.
    w.eu.delete(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some("checkout"),
        "allow-dns",
    )
    .unwrap();
    // Changed: someone added a rule to a segplan policy.
    let mut np =
        w.eu.get(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            Some("data"),
            "ingress-from-app",
        )
        .unwrap();
    np["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
        .push(json!({"ports": [{"port": 22, "protocol": "TCP"}]}));
    np["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    w.eu.update_as("kubectl-edit", np).unwrap();
    // Removed: segplan applied it once, the plan no longer has it.
    w.eu.apply_as(
        "segplan",
        widening_policy("frontend", "old-rule", Some(labels("prod-eu-1"))),
        false,
    )
    .unwrap();
    // Unmanaged: a hand-made policy opening a managed namespace.
    w.eu.seed(widening_policy("payments", "debug-open-all", None));
    w
}

#[test]
fn each_drift_kind_is_detected_text() {
    let w = drifted();
    let (code, out, err) = w.run(&["diff", "--env", "prod", "--exit-code"]);
    assert_eq!(code, 1, "{out}\n{err}");
    insta::assert_snapshot!("drift_text", out);
}

#[test]
fn each_drift_kind_is_detected_json() {
    let w = drifted();
    let (code, out, _) = w.run(&["diff", "--env", "prod", "-o", "json"]);
    assert_eq!(code, 0, "without --exit-code differences exit 0");
    let v = json_of(&out);
    assert_eq!(v["schema"], "segplan.diff/v1");
    assert_eq!(v["summary"]["added"], 1);
    assert_eq!(v["summary"]["changed"], 1);
    assert_eq!(v["summary"]["removed"], 1);
    assert_eq!(v["summary"]["unmanaged"], 1);
    let unmanaged = v["clusters"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["change"] == "unmanaged")
        .unwrap();
    assert_eq!(unmanaged["name"], "debug-open-all");
    assert_eq!(unmanaged["namespace"], "payments");
    insta::assert_snapshot!("drift_json", out);
}

#[test]
fn each_drift_kind_is_detected_markdown() {
    let w = drifted();
    let (code, out, _) = w.run(&["diff", "--env", "prod", "-o", "markdown", "--exit-code"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("drift_markdown", out);
}

#[test]
fn the_dry_run_result_is_what_is_shown() {
    let w = drifted();
    w.eu.clear_requests();
    let (_, out, _) = w.run(&[
        "diff",
        "--env",
        "prod",
        "--cluster",
        "prod-eu-1",
        "-o",
        "json",
    ]);
    let v = json_of(&out);
    let dry: Vec<_> =
        w.eu.requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .collect();
    // one dry run per Added/Changed object, none for unchanged ones
    assert_eq!(dry.len(), 2, "{dry:?}");
    assert!(
        dry.iter()
            .all(|r| r.dry_run && r.field_manager.as_deref() == Some("segplan"))
    );
    assert!(w.eu.writes().iter().all(|r| r.dry_run));
    let changed = v["clusters"][0]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["change"] == "changed")
        .unwrap();
    let diff = changed["diff"].as_str().unwrap();
    assert!(diff.contains("-  - ports:\n-    - port: 22"), "{diff}");
}

#[test]
fn objects_in_a_missing_namespace_are_shown_as_created() {
    let w = World::new(true);
    let (code, out, err) = w.run(&[
        "diff",
        "--env",
        "prod",
        "--cluster",
        "prod-us-1",
        "-o",
        "json",
        "--exit-code",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let v = json_of(&out);
    let c = &v["clusters"][0];
    assert_eq!(c["status"], "differs");
    let objs = c["objects"].as_array().unwrap();
    assert!(objs.iter().all(|o| o["change"] == "added"));
    assert!(objs.iter().any(|o| {
        o["note"]
            .as_str()
            .is_some_and(|n| n.contains("does not exist yet"))
    }));
}

#[test]
fn missing_istio_crds_are_a_finding_not_a_crash() {
    let w = World::new(false);
    let (code, out, err) = w.run(&["diff", "--env", "prod", "--exit-code"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("finding: Istio CRDs are not installed"),
        "{out}"
    );
    assert!(out.contains("prod-us-1 (prod): differs"), "{out}");
}

#[test]
fn wrong_cluster_is_refused_and_the_other_still_reports() {
    let w = World::new(true);
    w.apply_all();
    // prod-us-1's context points at prod-eu-1's server
    w.kubeconfig(
        Kubeconfig::new()
            .context("prod-eu-1", &w.eu, ADMIN_TOKEN)
            .context("prod-us-1", &w.eu, ADMIN_TOKEN),
    );
    w.eu.clear_requests();
    let (code, out, err) = w.run(&["diff", "--env", "prod"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("prod-eu-1 (prod): in sync"), "{out}");
    assert!(out.contains("prod-us-1 (prod): error: context `prod-us-1` points at <eu-server>, but the topology declares api_server = <us-server>; refusing"), "{out}");
    // the refused cluster sent nothing: every request came from prod-eu-1's own diff
    let before = w.eu.requests().len();
    let (_, _, _) = w.run(&["diff", "--env", "prod", "--cluster", "prod-us-1"]);
    assert_eq!(w.eu.requests().len(), before);
}

fn error_case(setup: impl FnOnce(&World), expect: &str, extra: &[&str]) {
    let w = World::new(true);
    w.apply_all();
    setup(&w);
    let mut args = vec!["diff", "--env", "prod"];
    args.extend_from_slice(extra);
    let (code, out, err) = w.run(&args);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        out.contains("prod-eu-1 (prod): in sync"),
        "other cluster must still report:\n{out}"
    );
    let line = out.lines().find(|l| l.starts_with("prod-us-1")).unwrap();
    assert!(line.starts_with("prod-us-1 (prod): error: "), "{line}");
    assert!(line.contains(expect), "{line}");
    assert!(err.contains("1 of 2 clusters could not be diffed"), "{err}");
    assert!(
        !out.contains("bad-token") && !err.contains("bad-token"),
        "token leaked"
    );
}

#[test]
fn bad_token_is_a_clear_per_cluster_error() {
    error_case(
        |w| {
            w.kubeconfig(
                Kubeconfig::new()
                    .context("prod-eu-1", &w.eu, ADMIN_TOKEN)
                    .context("prod-us-1", &w.us, "bad-token"),
            )
        },
        "unauthorized (bad or expired credentials) (HTTP 401",
        &[],
    );
}

#[test]
fn forbidden_namespace_is_a_clear_per_cluster_error() {
    error_case(
        |w| {
            w.us.set_users(vec![
                User::restricted("dev", "dev-token")
                    .allow(Rule::all().in_namespaces(["checkout", "data", "frontend"]))
                    .allow(Rule::new(
                        ["*"],
                        [
                            "namespaces",
                            "validatingadmissionpolicies",
                            "validatingadmissionpolicybindings",
                        ],
                    )),
            ]);
            w.kubeconfig(
                Kubeconfig::new()
                    .context("prod-eu-1", &w.eu, ADMIN_TOKEN)
                    .context("prod-us-1", &w.us, "dev-token"),
            );
        },
        "forbidden (HTTP 403",
        &[],
    );
}

#[test]
fn server_error_is_a_clear_per_cluster_error() {
    error_case(
        |w| {
            w.us.inject(Fault::status(500).path_prefix("/apis/networking.k8s.io"))
        },
        "server error (HTTP 500",
        &[],
    );
}

#[test]
fn timeout_is_a_clear_per_cluster_error() {
    error_case(
        |w| {
            w.us.inject(Fault::delay(std::time::Duration::from_secs(30)))
        },
        "timed out after 4s",
        &["--timeout", "4"],
    );
}

#[test]
fn unknown_environment_is_bad_input() {
    let w = World::new(false);
    let (code, _, err) = w.run(&["diff", "--env", "prdo"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown environment `prdo`"), "{err}");
}

#[test]
fn colour_only_when_asked() {
    let w = drifted();
    let (_, plain, _) = w.run(&["diff", "--env", "prod", "--cluster", "prod-eu-1"]);
    assert!(!plain.contains('\x1b'), "no colour off a terminal");
    let (_, coloured, _) = w.run(&[
        "--color",
        "always",
        "diff",
        "--env",
        "prod",
        "--cluster",
        "prod-eu-1",
    ]);
    assert!(coloured.contains("\x1b[32m+"), "{coloured}");
    assert!(coloured.contains("\x1b[31m-"), "{coloured}");
}

#[test]
fn a_dropped_connection_is_a_clear_per_cluster_error() {
    error_case(
        |w| w.us.inject(Fault::drop_connection()),
        "listing namespaces (owned by segplan): ",
        &[],
    );
}
