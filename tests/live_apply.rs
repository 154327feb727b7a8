//! End-to-end: `segplan apply` (the binary) against the test API server.

mod live_support;

use live_support::*;
use serde_json::json;

const NP: &str = "networking.k8s.io/v1";

/// Write requests that changed something (not dry runs).
fn writes(s: &KubeApi) -> Vec<kubeapi::RecordedRequest> {
    s.writes().into_iter().filter(|r| !r.dry_run).collect()
}

fn in_sync(w: &World) {
    let (code, out, err) = w.run(&["diff", "--env", "prod", "--exit-code"]);
    assert_eq!(code, 0, "diff after apply must show nothing\n{out}\n{err}");
}

#[test]
fn fresh_apply_then_reapply_is_a_no_op() {
    let w = World::new(true);
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("prod-eu-1: 55 created, 0 updated, 0 deleted, 0 unchanged, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("prod-us-1: 25 created, 0 updated, 0 deleted, 0 unchanged, 0 failed"),
        "{out}"
    );
    assert!(
        w.eu.get(NP, "NetworkPolicy", Some("payments"), "default-deny")
            .is_some()
    );
    for r in writes(&w.eu) {
        assert_eq!(r.method, "PATCH", "{r:?}");
        assert_eq!(r.field_manager.as_deref(), Some("segplan"));
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
    }
    in_sync(&w);
    w.eu.clear_requests();
    w.us.clear_requests();
    let (code, out, _) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("prod-eu-1: 0 created, 0 updated, 0 deleted, 55 unchanged, 0 failed"),
        "{out}"
    );
    assert!(
        writes(&w.eu).is_empty() && writes(&w.us).is_empty(),
        "re-apply wrote: {:?}",
        writes(&w.eu)
    );
}

#[test]
fn writes_go_namespaces_then_allow_then_deny_then_admission_then_mesh() {
    let w = World::new(true);
    w.apply_all();
    let writes: Vec<String> = writes(&w.eu).into_iter().map(|r| r.path).collect();
    let pos = |pred: &dyn Fn(&str) -> bool| -> Vec<usize> {
        writes
            .iter()
            .enumerate()
            .filter(|(_, p)| pred(p))
            .map(|(i, _)| i)
            .collect()
    };
    let namespaces =
        pos(&|p| p.starts_with("/api/v1/namespaces/") && !p.contains("/networkpolicies"));
    let allow = pos(&|p| p.contains("/networkpolicies/") && !p.ends_with("/default-deny"));
    let deny = pos(&|p| p.ends_with("/networkpolicies/default-deny"));
    let admission = pos(&|p| p.starts_with("/apis/admissionregistration.k8s.io/"));
    let mesh = pos(&|p| p.starts_with("/apis/security.istio.io/"));
    assert!(
        !namespaces.is_empty()
            && !allow.is_empty()
            && !deny.is_empty()
            && !admission.is_empty()
            && !mesh.is_empty(),
        "{writes:#?}"
    );
    let last = |v: &[usize]| *v.iter().max().unwrap();
    let first = |v: &[usize]| *v.iter().min().unwrap();
    assert!(last(&namespaces) < first(&allow), "{writes:#?}");
    assert!(
        last(&allow) < first(&deny),
        "allow rules must land before default-deny: {writes:#?}"
    );
    assert!(last(&deny) < first(&admission), "{writes:#?}");
    assert!(last(&admission) < first(&mesh), "{writes:#?}");
}

#[test]
fn drift_is_repaired() {
    let w = World::new(true);
    w.apply_all();
    w.eu.delete(NP, "NetworkPolicy", Some("checkout"), "allow-dns")
        .unwrap();
    // an older plan applied by segplan itself had an extra rule
    let mut np =
        w.eu.get(NP, "NetworkPolicy", Some("data"), "ingress-from-app")
            .unwrap();
    np["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
        .push(json!({"ports": [{"port": 22, "protocol": "TCP"}]}));
    let obj = json!({"apiVersion": NP, "kind": "NetworkPolicy",
        "metadata": {"name": "ingress-from-app", "namespace": "data", "labels": np["metadata"]["labels"]},
        "spec": np["spec"]});
    w.eu.apply_as("segplan", obj, false).unwrap();
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("prod-eu-1: 1 created, 1 updated, 0 deleted, 53 unchanged, 0 failed"),
        "{out}"
    );
    let np =
        w.eu.get(NP, "NetworkPolicy", Some("data"), "ingress-from-app")
            .unwrap();
    assert!(!np["spec"].to_string().contains("22"), "{np}");
    in_sync(&w);
}

#[test]
fn a_removed_namespace_is_pruned_only_with_the_flags() {
    let w = World::new(true);
    w.apply_all();
    let l = labels("prod-us-1");
    w.us.apply_as(
        "segplan",
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "legacy", "labels": l}}),
        false,
    )
    .unwrap();
    w.us.apply_as(
        "segplan",
        widening_policy("legacy", "old", Some(labels("prod-us-1"))),
        false,
    )
    .unwrap();
    let exists = |ns: &str, kind: &str, name: &str| {
        let api = if kind == "Namespace" { "v1" } else { NP };
        let ns = if kind == "Namespace" { None } else { Some(ns) };
        w.us.get(api, kind, ns, name).is_some()
    };

    let (code, out, _) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("kept NetworkPolicy legacy/old: no longer planned; kept without --prune"),
        "{out}"
    );
    assert!(exists("legacy", "NetworkPolicy", "old") && exists("", "Namespace", "legacy"));

    let (code, out, _) = w.run(&["apply", "--env", "prod", "--yes", "--prune"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("prod-us-1: 0 created, 0 updated, 1 deleted"),
        "{out}"
    );
    assert!(
        out.contains(
            "kept Namespace legacy: Namespace no longer planned; kept without --prune-namespaces"
        ),
        "{out}"
    );
    assert!(!exists("legacy", "NetworkPolicy", "old") && exists("", "Namespace", "legacy"));

    w.us.clear_requests();
    let (code, out, _) = w.run(&[
        "apply",
        "--env",
        "prod",
        "--yes",
        "--prune",
        "--prune-namespaces",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(!exists("", "Namespace", "legacy"));
    // deletes carry the resourceVersion precondition
    let del = writes(&w.us)
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect::<Vec<_>>();
    assert_eq!(del.len(), 1);
    assert!(del[0].body.contains("resourceVersion"), "{:?}", del[0]);
    in_sync(&w);
}

#[test]
fn a_policy_with_segplan_labels_but_no_segplan_manager_is_never_deleted() {
    let w = World::new(true);
    w.apply_all();
    w.eu.seed(widening_policy(
        "frontend",
        "looks-like-ours",
        Some(labels("prod-eu-1")),
    ));
    let (code, out, err) = w.run(&[
        "apply",
        "--env",
        "prod",
        "--yes",
        "--prune",
        "--prune-namespaces",
        "--allow-mass-prune",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("! unmanaged NetworkPolicy frontend/looks-like-ours (left alone)"),
        "{out}"
    );
    assert!(
        w.eu.get(NP, "NetworkPolicy", Some("frontend"), "looks-like-ours")
            .is_some()
    );
    assert!(!writes(&w.eu).iter().any(|r| r.method == "DELETE"));
}

#[test]
fn mass_prune_is_refused_unless_allowed() {
    let w = World::new(true);
    w.apply_all();
    for i in 0..30 {
        w.us.apply_as(
            "segplan",
            widening_policy("frontend", &format!("stale-{i}"), Some(labels("prod-us-1"))),
            false,
        )
        .unwrap();
    }
    w.us.clear_requests();
    let (code, _, err) = w.run(&[
        "apply",
        "--env",
        "prod",
        "--cluster",
        "prod-us-1",
        "--yes",
        "--prune",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cluster prod-us-1: pruning would delete 30 of the 55 objects segplan owns there; refusing without --allow-mass-prune"), "{err}");
    assert!(writes(&w.us).is_empty());
    let (code, out, _) = w.run(&[
        "apply",
        "--env",
        "prod",
        "--cluster",
        "prod-us-1",
        "--yes",
        "--prune",
        "--allow-mass-prune",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("30 deleted"), "{out}");
}

#[test]
fn a_conflict_is_reported_with_the_other_manager_then_forced() {
    let w = World::new(true);
    w.apply_all();
    let mut np =
        w.eu.get(NP, "NetworkPolicy", Some("data"), "ingress-from-app")
            .unwrap();
    np["spec"]["ingress"]
        .as_array_mut()
        .unwrap()
        .push(json!({}));
    np["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    w.eu.update_as("kubectl-edit", np).unwrap();
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("failed NetworkPolicy data/ingress-from-app: conflict with field manager \"kubectl-edit\""), "{out}");
    assert!(out.contains("--force-conflicts"), "{out}");
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes", "--force-conflicts"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(writes(&w.eu).iter().any(|r| r.force && r.method == "PATCH"));
    in_sync(&w);
}

#[test]
fn a_stale_plan_hash_is_refused() {
    let w = World::new(true);
    w.apply_all();
    w.eu.delete(NP, "NetworkPolicy", Some("checkout"), "allow-dns")
        .unwrap();
    let (_, out, _) = w
        .segplan(&["diff", "--env", "prod", "-o", "json"])
        .output()
        .map(|o| (0, String::from_utf8_lossy(&o.stdout).into_owned(), ()))
        .unwrap();
    let hash = json_of(&out)["plan_hash"].as_str().unwrap().to_string();
    assert!(hash.starts_with("sha256:"));
    // the cluster moves after approval
    w.eu.delete(NP, "NetworkPolicy", Some("data"), "allow-dns")
        .unwrap();
    w.eu.clear_requests();
    let (code, _, err) = w.run(&["apply", "--env", "prod", "--yes", "--plan-hash", &hash]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the plan changed since it was approved"),
        "{err}"
    );
    assert!(writes(&w.eu).is_empty());
    // a fresh approval goes through
    let out = w
        .segplan(&["diff", "--env", "prod", "-o", "json"])
        .output()
        .unwrap();
    let hash = json_of(&String::from_utf8_lossy(&out.stdout))["plan_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes", "--plan-hash", &hash]);
    assert_eq!(code, 0, "{out}\n{err}");
    in_sync(&w);
}

#[test]
fn dry_run_changes_nothing() {
    let w = World::new(true);
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("prod-us-1: dry run: 25 created"), "{out}");
    assert_eq!(w.eu.object_count() + w.us.object_count(), 0);
    assert!(!w.us.writes().is_empty() && w.us.writes().iter().all(|r| r.dry_run));
}

#[test]
fn without_yes_a_non_interactive_run_is_refused() {
    let w = World::new(true);
    let (code, _, err) = w.run(&["apply", "--env", "prod"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("refusing to apply without confirmation"),
        "{err}"
    );
    assert!(writes(&w.eu).is_empty() && writes(&w.us).is_empty());
}

#[test]
fn a_fault_mid_apply_is_reported_and_a_second_apply_finishes() {
    let w = World::new(true);
    w.eu.inject(Fault::fail_nth_write(10));
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    let line = out.lines().find(|l| l.starts_with("prod-eu-1:")).unwrap();
    assert!(line.contains("failed"), "{out}");
    assert!(
        out.contains("failed NetworkPolicy ") && out.contains("server error (HTTP 500"),
        "{out}"
    );
    assert!(
        out.contains("prod-us-1: 25 created, 0 updated, 0 deleted, 0 unchanged, 0 failed"),
        "{out}"
    );
    assert!(
        err.contains("1 of 2 clusters did not reach the plan"),
        "{err}"
    );
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    in_sync(&w);
}

#[test]
fn missing_istio_crds_fail_only_the_mesh_objects() {
    let w = World::new(false);
    let (code, out, err) = w.run(&["apply", "--env", "prod", "--yes"]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        out.contains("finding: Istio CRDs are not installed"),
        "{out}"
    );
    assert!(out.contains("x cannot create AuthorizationPolicy payments/deny-by-default: security.istio.io/v1 is not served by this cluster"), "{out}");
    assert!(
        out.contains(
            "skipped PeerAuthentication payments/strict-mtls: not applied: a mesh-policy step before it failed"
        ),
        "{out}"
    );
    assert!(
        out.contains("prod-us-1: 25 created, 0 updated, 0 deleted, 0 unchanged, 0 failed"),
        "{out}"
    );
    // everything but the mesh objects landed, default-deny included
    assert!(
        w.eu.get(NP, "NetworkPolicy", Some("payments"), "default-deny")
            .is_some()
    );
    assert!(
        writes(&w.eu)
            .iter()
            .all(|r| !r.path.contains("security.istio.io"))
    );
}
