//! Apply ordering, prune rules and execution against the in-memory cluster.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::live::diff::tests::{applied, deny, np, ns, plan};
use crate::live::diff::{DiffOptions, diff_cluster};
use crate::live::kinds::NETWORK_POLICY;
use crate::live::memory::MemoryCluster;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn everything() -> ApplySettings {
    ApplySettings {
        prune: true,
        ..Default::default()
    }
}

#[test]
fn phases_classify_allow_and_deny() {
    let key = |name: &str| ObjectKey {
        api_version: "networking.k8s.io/v1".into(),
        kind: "NetworkPolicy".into(),
        namespace: Some("a".into()),
        name: name.into(),
    };
    assert_eq!(phase(&key("default-deny"), &deny("a")), Phase::DenyPolicy);
    assert_eq!(
        phase(&key("x"), &json!({"spec": {"podSelector": {}}})),
        Phase::DenyPolicy
    );
    assert_eq!(phase(&key("web"), &np("a", "web", 80)), Phase::AllowPolicy);
    // an empty selector with rules allows something
    assert_eq!(
        phase(
            &key("x"),
            &json!({"spec": {"podSelector": {}, "egress": [{}]}})
        ),
        Phase::AllowPolicy
    );
    let ap_key = ObjectKey {
        api_version: "security.istio.io/v1".into(),
        kind: "AuthorizationPolicy".into(),
        namespace: Some("a".into()),
        name: "p".into(),
    };
    let ap = |v: serde_json::Value| phase(&ap_key, &v);
    assert_eq!(ap(json!({"spec": {"rules": [{}]}})), Phase::MeshAllow);
    assert_eq!(ap(json!({"spec": {}})), Phase::MeshDeny);
    assert_eq!(
        ap(json!({"spec": {"action": "DENY", "rules": [{}]}})),
        Phase::MeshDeny
    );
}

#[test]
fn fresh_apply_orders_namespaces_allow_then_deny_and_reapply_writes_nothing() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let p = plan(vec![ns("app"), deny("app"), np("app", "web", 80)], false);
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        let ap = plan_apply(&d, &everything()).unwrap();
        let r = execute(Arc::clone(&mem), &ap, &everything(), None).await;
        assert!(r.ok(), "{r:?}");
        assert_eq!((r.created, r.updated, r.deleted), (3, 0, 0));
        assert_eq!(
            mem.writes(),
            vec![
                "APPLY namespaces app",
                "APPLY networkpolicies app/web",
                "APPLY networkpolicies app/default-deny"
            ]
        );
        mem.log.lock().unwrap().clear();
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        assert!(d.in_sync());
        let ap = plan_apply(&d, &everything()).unwrap();
        assert!(ap.is_noop());
        let r = execute(Arc::clone(&mem), &ap, &everything(), None).await;
        assert_eq!((r.created, r.updated, r.unchanged), (0, 0, 3));
        assert!(mem.writes().is_empty());
    });
}

#[test]
fn deletions_remove_deny_before_allow_and_namespaces_need_their_flag() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let keep: Vec<_> = (0..6).map(|i| np("keep", &format!("k{i}"), 80)).collect();
        let mut all = vec![ns("keep"), ns("old"), deny("old"), np("old", "web", 80)];
        all.extend(keep.clone());
        applied(&mem, &plan(all, false)).await;
        let mut now = vec![ns("keep")];
        now.extend(keep);
        let d = diff_cluster(Arc::clone(&mem), &plan(now, false), DiffOptions::default())
            .await
            .unwrap();
        assert_eq!(d.count(Change::Removed), 3);

        // without --prune nothing is deleted
        let ap = plan_apply(&d, &ApplySettings::default()).unwrap();
        assert!(ap.deletes.is_empty());
        assert_eq!(ap.kept.len(), 3);

        let ap = plan_apply(&d, &everything()).unwrap();
        let order: Vec<String> = ap.deletes.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(
            order,
            vec!["NetworkPolicy old/default-deny", "NetworkPolicy old/web"]
        );
        assert!(ap.kept[0].1.contains("--prune-namespaces"));

        let s = ApplySettings {
            prune_namespaces: true,
            ..everything()
        };
        let ap = plan_apply(&d, &s).unwrap();
        assert_eq!(ap.deletes.last().unwrap().key.to_string(), "Namespace old");
        let r = execute(Arc::clone(&mem), &ap, &s, None).await;
        assert_eq!(r.deleted, 3, "{r:?}");
        assert!(mem.get(&NETWORK_POLICY, Some("old"), "web").is_none());
    });
}

#[test]
fn mass_prune_is_refused_unless_allowed() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        applied(
            &mem,
            &plan(vec![ns("a"), np("a", "x", 1), np("a", "y", 2)], false),
        )
        .await;
        let d = diff_cluster(
            Arc::clone(&mem),
            &plan(vec![ns("a")], false),
            DiffOptions::default(),
        )
        .await
        .unwrap();
        let e = plan_apply(&d, &everything()).unwrap_err();
        assert_eq!((e.deleting, e.owned), (2, 3));
        assert!(e.to_string().contains("--allow-mass-prune"));
        let ok = plan_apply(
            &d,
            &ApplySettings {
                allow_mass_prune: true,
                ..everything()
            },
        )
        .unwrap();
        assert_eq!(ok.deletes.len(), 2);
    });
}

#[test]
fn labelled_objects_without_segplan_manager_are_never_deleted() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let p = plan(
            vec![ns("a"), np("a", "x", 1), np("a", "y", 2), np("a", "z", 3)],
            false,
        );
        applied(&mem, &p).await;
        mem.seed(&NETWORK_POLICY, np("a", "imposter", 9), "kubectl");
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        let s = ApplySettings {
            allow_mass_prune: true,
            prune_namespaces: true,
            ..everything()
        };
        let ap = plan_apply(&d, &s).unwrap();
        assert!(ap.is_noop());
        execute(Arc::clone(&mem), &ap, &s, None).await;
        assert!(mem.get(&NETWORK_POLICY, Some("a"), "imposter").is_some());
    });
}

#[test]
fn conflicts_fail_the_object_then_force_takes_ownership() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        applied(&mem, &plan(vec![ns("a"), np("a", "web", 80)], false)).await;
        mem.conflicts.lock().unwrap().insert("web".into(), "kubectl-edit".into());
        let p = plan(vec![ns("a"), np("a", "web", 443), deny("a")], false);
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default()).await.unwrap();
        let ap = plan_apply(&d, &everything()).unwrap();
        let r = execute(Arc::clone(&mem), &ap, &everything(), None).await;
        assert_eq!((r.failed, r.skipped), (1, 1), "{r:?}");
        let (key, outcome) = &r.problems[0];
        assert_eq!(key, "NetworkPolicy a/web");
        assert!(matches!(outcome, Outcome::Failed(m) if m.contains("\"kubectl-edit\"") && m.contains("--force-conflicts")));
        // the deny policy was not applied after its allow rule failed
        assert!(matches!(&r.problems[1].1, Outcome::Skipped(_)));
        let forced = ApplySettings { force_conflicts: true, ..everything() };
        let r = execute(Arc::clone(&mem), &ap, &forced, None).await;
        assert!(r.ok(), "{r:?}");
        assert_eq!((r.updated, r.created), (1, 1));
    });
}

#[test]
fn dry_run_changes_nothing() {
    rt().block_on(async {
        let mem = Arc::new(MemoryCluster::new(false));
        let p = plan(vec![ns("a"), np("a", "web", 80)], false);
        applied(&mem, &plan(vec![ns("a")], false)).await;
        let d = diff_cluster(Arc::clone(&mem), &p, DiffOptions::default())
            .await
            .unwrap();
        let s = ApplySettings {
            dry_run: true,
            ..everything()
        };
        let r = execute(Arc::clone(&mem), &plan_apply(&d, &s).unwrap(), &s, None).await;
        assert_eq!(r.created, 1);
        assert!(r.dry_run);
        assert!(mem.get(&NETWORK_POLICY, Some("a"), "web").is_none());
    });
}
