//! Diff logic against the in-memory cluster.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::live::compare::FieldChange;
use crate::live::kinds::{AUTHORIZATION_POLICY, NAMESPACE, NETWORK_POLICY};
use crate::live::memory::MemoryCluster;

pub(crate) fn labels() -> Value {
    json!({"app.kubernetes.io/managed-by": "segplan", "segplan.io/environment": "prod",
           "segplan.io/cluster": "c1"})
}

pub(crate) fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels()}})
}

pub(crate) fn np(ns: &str, name: &str, port: u16) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": labels()},
        "spec": {"podSelector": {"matchLabels": {"app": name}},
                 "ingress": [{"ports": [{"port": port, "protocol": "TCP"}]}]}})
}

pub(crate) fn deny(ns: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": ns, "labels": labels()},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
}

pub(crate) fn plan(objects: Vec<Value>, mesh: bool) -> ClusterPlan {
    let objects = objects
        .into_iter()
        .map(|v| {
            let spec = crate::live::kinds::kind_spec(
                v["apiVersion"].as_str().unwrap(),
                v["kind"].as_str().unwrap(),
            )
            .unwrap();
            DesiredObject {
                key: ObjectKey::of(&spec, &v).unwrap(),
                spec,
                value: v,
            }
        })
        .collect();
    ClusterPlan {
        cluster: "c1".into(),
        environment: "prod".into(),
        mesh,
        objects,
    }
}

pub(crate) async fn applied(mem: &MemoryCluster, plan: &ClusterPlan) {
    for o in &plan.objects {
        mem.apply(&o.spec, &o.value, ApplyOptions::default())
            .await
            .unwrap();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn freshly_applied_plan_is_in_sync_and_costs_only_lists() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let p = plan(vec![ns("app"), np("app", "web", 80), deny("app")], false);
        applied(&mem, &p).await;
        mem.log.lock().unwrap().clear();
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        assert!(d.in_sync(), "{:?}", d.objects);
        assert_eq!(d.unchanged.len(), 3);
        assert_eq!(d.owned_live, 3);
        let log = mem.log.lock().unwrap().clone();
        assert!(log.iter().all(|l| l.starts_with("LIST")), "{log:?}");
        // 4 non-mesh kinds by label + NetworkPolicies of the one managed namespace
        assert_eq!(log.len(), 5, "{log:?}");
    });
}

#[test]
fn each_drift_kind_is_classified() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let old = plan(
            vec![
                ns("app"),
                np("app", "web", 80),
                np("app", "gone", 81),
                deny("app"),
            ],
            false,
        );
        applied(&mem, &old).await;
        // drift: someone widens the web policy
        let mut web = mem.get(&NETWORK_POLICY, Some("app"), "web").unwrap();
        web["spec"]["ingress"]
            .as_array_mut()
            .unwrap()
            .push(json!({"ports": [{"port": 22}]}));
        mem.objects.lock().unwrap().insert(
            ("networkpolicies".into(), Some("app".into()), "web".into()),
            web,
        );
        // an unmanaged policy in the managed namespace
        mem.seed(
            &NETWORK_POLICY,
            json!({"metadata": {"name": "hand-made", "namespace": "app"},
                   "spec": {"podSelector": {}, "ingress": [{}]}}),
            "kubectl",
        );
        // a policy with segplan's labels that segplan never applied
        let mut fake = np("app", "imposter", 1);
        fake.as_object_mut().unwrap().remove("apiVersion");
        mem.seed(&NETWORK_POLICY, fake, "kubectl");
        let new = plan(
            vec![
                ns("app"),
                np("app", "web", 80),
                np("app", "new", 82),
                deny("app"),
            ],
            false,
        );
        let d = diff_cluster(Arc::clone(&mem), &new, DiffOptions::default())
            .await
            .unwrap();
        let got: Vec<(Change, String)> = d
            .objects
            .iter()
            .map(|o| (o.change, o.key.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Change::Added, "NetworkPolicy app/new".into()),
                (Change::Changed, "NetworkPolicy app/web".into()),
                (Change::Removed, "NetworkPolicy app/gone".into()),
                (Change::Unmanaged, "NetworkPolicy app/hand-made".into()),
                (Change::Unmanaged, "NetworkPolicy app/imposter".into()),
            ]
        );
        let web = &d.objects[1];
        assert_eq!(web.fields[0].path, ".spec.ingress");
        assert_eq!(web.fields[0].change, FieldChange::Length);
        // the extra port-22 rule opens nothing the analysis can see: every other pod of the
        // namespace is egress-isolated by default-deny, and no external range is named
        assert_eq!(web.effect, Some(Effect::Unknown));
        // the dry run result is what is shown: one rule, as planned
        assert_eq!(
            web.after.as_ref().unwrap()["spec"]["ingress"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(
            d.objects[4]
                .note
                .as_deref()
                .unwrap()
                .contains("never applied")
        );
        assert_eq!(d.unchanged.len(), 2);
        assert!(!d.in_sync());
    });
}

#[test]
fn a_label_segplan_stopped_stating_is_a_removal() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let mut with = ns("app");
        with["metadata"]["labels"]["team"] = json!("a");
        applied(&mem, &plan(vec![with], false)).await;
        let d = diff_cluster(
            Arc::clone(&mem),
            &plan(vec![ns("app")], false),
            DiffOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(d.objects.len(), 1);
        assert_eq!(d.objects[0].change, Change::Changed);
        assert_eq!(d.objects[0].fields[0].path, ".metadata.labels.team");
        assert_eq!(d.objects[0].fields[0].change, FieldChange::Removed);
    });
}

#[test]
fn objects_in_missing_namespaces_are_added_without_failing() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let p = plan(vec![ns("new"), np("new", "web", 80)], false);
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        assert_eq!(d.count(Change::Added), 2);
        let web = d
            .objects
            .iter()
            .find(|o| o.key.kind == "NetworkPolicy")
            .unwrap();
        assert!(
            web.note
                .as_deref()
                .unwrap()
                .contains("namespace new does not exist yet")
        );
        assert_eq!(web.after, web.desired);
    });
}

#[test]
fn missing_istio_crds_are_a_finding() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let ap = json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "p", "namespace": "app", "labels": labels()}, "spec": {}});
        let p = plan(vec![ns("app"), ap], true);
        applied(&mem, &plan(vec![ns("app")], false)).await;
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
        assert!(d.findings[0].contains("Istio CRDs are not installed"));
        assert!(d.findings[0].contains("1 planned mesh object cannot"));
        let o = &d.objects[0];
        assert_eq!(
            (o.change, o.key.kind.as_str()),
            (Change::Added, "AuthorizationPolicy")
        );
        assert!(o.note.as_deref().unwrap().contains("not served"));
        // no request went to the missing kind
        assert!(
            !mem.log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(AUTHORIZATION_POLICY.plural))
        );
    });
}

#[test]
fn a_conflicting_dry_run_names_the_other_manager() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        applied(&mem, &plan(vec![ns("app"), np("app", "web", 80)], false)).await;
        mem.conflicts
            .lock()
            .unwrap()
            .insert("web".into(), "kubectl-edit".into());
        let d = diff_cluster(
            Arc::clone(&mem),
            &plan(vec![ns("app"), np("app", "web", 443)], false),
            DiffOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(d.objects[0].conflicts, vec!["kubectl-edit".to_string()]);
        assert!(
            d.objects[0]
                .note
                .as_deref()
                .unwrap()
                .contains("\"kubectl-edit\"")
        );
        let _ = NAMESPACE;
    });
}

#[test]
fn server_errors_fail_the_cluster() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        applied(&mem, &plan(vec![ns("app"), np("app", "web", 80)], false)).await;
        mem.fail_writes.lock().unwrap().push("web".into());
        let e = diff_cluster(Arc::clone(&mem), &plan(vec![ns("app"), np("app", "web", 443)], false), DiffOptions::default())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dry-run apply of NetworkPolicy app/web: server error (HTTP 500, InternalError): injected"
        );
    });
}
