//! Tests of the Kubernetes-API-compatible test server (`tests/support/kubeapi`),
//! driven over real HTTP by the real `kube::Client`, built from a kubeconfig
//! the server writes.

#[path = "support/kubeapi/mod.rs"]
mod kubeapi;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig as KubeKubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use kubeapi::{ADMIN_TOKEN, Fault, KubeApi, Kubeconfig, Options, Rule, User};
use serde_json::{Value, json};

async fn client_for(path: &std::path::Path, context: &str) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = KubeKubeconfig::read_from(path).expect("kubeconfig parses");
    let opts = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .expect("config");
    // Faults are tested as a client sees them, without kube's retry layer.
    config.default_retry = false;
    kube::Client::try_from(config).expect("client")
}

async fn client(api: &KubeApi, token: &str) -> kube::Client {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    api.write_kubeconfig(&path, "test", token).unwrap();
    client_for(&path, "test").await
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn netpol(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "segplan"}},
           "spec": spec})
}

fn managed(obj: &Value, manager: &str) -> Option<Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
        .cloned()
}

#[tokio::test]
async fn discovery_with_and_without_istio() {
    let api = KubeApi::start(Options::default());
    let c = client(&api, ADMIN_TOKEN).await;
    let v = c.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));

    for aggregated in [false, true] {
        let d = Discovery::new(c.clone());
        let d = if aggregated {
            d.run_aggregated().await
        } else {
            d.run().await
        }
        .unwrap();
        let gvk = GroupVersionKind::gvk("networking.k8s.io", "v1", "NetworkPolicy");
        let (ar, caps) = d.resolve_gvk(&gvk).expect("networkpolicies discovered");
        assert_eq!(ar.plural, "networkpolicies");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        let vap = GroupVersionKind::gvk(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
        );
        assert_eq!(
            d.resolve_gvk(&vap).unwrap().1.scope,
            kube::discovery::Scope::Cluster
        );
        assert!(
            d.resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
                .is_some()
        );
        assert!(
            !d.has_group("security.istio.io"),
            "no Istio CRDs by default"
        );
    }
    let groups = c
        .list_api_group_resources("security.istio.io/v1")
        .await
        .unwrap_err();
    assert_eq!(api_error(groups).code, 404);

    api.set_istio_crds(true);
    let d = Discovery::new(c.clone()).run().await.unwrap();
    let ap = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    assert_eq!(
        d.resolve_gvk(&ap).unwrap().0.plural,
        "authorizationpolicies"
    );
    let list = c
        .list_api_group_resources("security.istio.io/v1")
        .await
        .unwrap();
    let names: Vec<&str> = list.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["authorizationpolicies", "peerauthentications"]);
}

#[tokio::test]
async fn namespace_defaults_and_metadata() {
    let api = KubeApi::start(Options::default());
    let c = client(&api, ADMIN_TOKEN).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let rv0 = api.resource_version();
    let created = nss
        .create(
            &PostParams::default(),
            &serde_json::from_value(ns("team-a")).unwrap(),
        )
        .await
        .unwrap();
    let m = &created.metadata;
    assert_eq!(
        m.labels.as_ref().unwrap()["kubernetes.io/metadata.name"],
        "team-a"
    );
    assert_eq!(created.spec.unwrap().finalizers.unwrap(), ["kubernetes"]);
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        m.resource_version.as_deref(),
        Some((rv0 + 1).to_string().as_str())
    );
    assert!(m.uid.is_some() && m.creation_timestamp.is_some());
    assert_eq!(m.generation, None, "namespaces have no generation");
    // An Update by the creator records fields it set, `.` marks the new labels map.
    let raw = api.get("v1", "Namespace", None, "team-a").unwrap();
    let entry = &raw["metadata"]["managedFields"][0];
    assert_eq!(entry["operation"], "Update");
    assert_eq!(
        entry["fieldsV1"]["f:metadata"]["f:labels"][".".to_string()],
        json!({})
    );
    let again = nss
        .create(
            &PostParams::default(),
            &serde_json::from_value(ns("team-a")).unwrap(),
        )
        .await
        .unwrap_err();
    let e = api_error(again);
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "namespaces \"team-a\" already exists");
    let missing = api_error(nss.get("nope").await.unwrap_err());
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
}

#[tokio::test]
async fn apply_creates_defaults_and_records_managed_fields() {
    let api = KubeApi::start(Options::default().fixed_time("2026-01-02T03:04:05Z"));
    api.seed(ns("team-a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        "team-a",
        &ApiResource::erase::<NetworkPolicy>(&()),
    );
    let desired = netpol(
        "team-a",
        "allow-web",
        json!({
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"ports": [{"port": 8080}]}]
        }),
    );
    let pp = PatchParams::apply("segplan");
    let out = nps
        .patch("allow-web", &pp, &Patch::Apply(&desired))
        .await
        .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(
        out["spec"]["policyTypes"],
        json!(["Ingress"]),
        "policyTypes defaulted"
    );
    assert_eq!(
        out["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP",
        "protocol defaulted"
    );
    assert_eq!(out["metadata"]["generation"], 1);
    let entries = out["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0],
        json!({
            "manager": "segplan", "operation": "Apply", "apiVersion": "networking.k8s.io/v1",
            "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app.kubernetes.io/managed-by": {}}},
                "f:spec": {"f:ingress": {}, "f:podSelector": {}}
            }
        })
    );
    let rv = out["metadata"]["resourceVersion"].clone();

    // Re-applying the same configuration is a no-op: no new resourceVersion.
    let before = api.resource_version();
    let again = serde_json::to_value(
        nps.patch("allow-web", &pp, &Patch::Apply(&desired))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(again["metadata"]["resourceVersion"], rv);
    assert_eq!(api.resource_version(), before);

    // A changed spec bumps resourceVersion and generation; a label change only the former.
    let mut changed = desired.clone();
    changed["spec"]["ingress"][0]["ports"][0]["port"] = json!(9090);
    let out = serde_json::to_value(
        nps.patch("allow-web", &pp, &Patch::Apply(&changed))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["generation"], 2);
    assert_ne!(out["metadata"]["resourceVersion"], rv);
    changed["metadata"]["labels"]["extra"] = json!("x");
    let out = serde_json::to_value(
        nps.patch("allow-web", &pp, &Patch::Apply(&changed))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["generation"], 2);
    assert_eq!(out["metadata"]["labels"]["extra"], "x");

    // Applying into a namespace that does not exist: 404 for the namespace.
    let other: Api<DynamicObject> =
        Api::namespaced_with(c, "ghost", &ApiResource::erase::<NetworkPolicy>(&()));
    let e = api_error(
        other
            .patch(
                "allow-web",
                &pp,
                &Patch::Apply(&netpol("ghost", "allow-web", json!({}))),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "namespaces \"ghost\" not found")
    );
}

#[tokio::test]
async fn apply_prunes_fields_the_manager_dropped_unless_someone_else_owns_them() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let mut v1 = netpol("a", "p", json!({"podSelector": {}}));
    v1["metadata"]["labels"] = json!({"one": "1", "two": "2"});
    v1["metadata"]["annotations"] = json!({"note": "x"});
    api.apply_as("segplan", v1.clone(), false).unwrap();
    // Someone else takes co-ownership of label "two" with the same value.
    api.apply_as(
        "other",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "a", "labels": {"two": "2"}}}),
        false,
    )
    .unwrap();
    let mut v2 = v1.clone();
    v2["metadata"]["labels"] = json!({"one": "1"});
    v2["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let out = api.apply_as("segplan", v2, false).unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"one": "1", "two": "2"}),
        "two is still owned by other"
    );
    assert!(
        out["metadata"].get("annotations").is_none(),
        "annotation owned only by segplan is removed"
    );
    let mine = managed(&out, "segplan").unwrap();
    assert_eq!(
        mine["fieldsV1"]["f:metadata"],
        json!({"f:labels": {"f:one": {}}})
    );
}

#[tokio::test]
async fn conflicts_name_the_other_manager_and_force_takes_ownership() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    let base = netpol(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}}),
    );
    nps.patch("p", &PatchParams::apply("segplan"), &Patch::Apply(&base))
        .await
        .unwrap();
    // kubectl edit changes the pod selector (an Update: it now owns .spec.podSelector).
    let mut edited = api
        .get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
        .unwrap();
    edited["spec"]["podSelector"] = json!({"matchLabels": {"app": "db"}});
    edited["spec"]["policyTypes"] = json!(["Ingress", "Egress"]);
    let pp = PostParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    nps.replace("p", &pp, &serde_json::from_value(edited).unwrap())
        .await
        .unwrap();
    let raw = api
        .get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
        .unwrap();
    let edit = managed(&raw, "kubectl-edit").unwrap();
    assert_eq!(edit["operation"], "Update");
    assert_eq!(
        edit["fieldsV1"],
        json!({"f:spec": {"f:podSelector": {}, "f:policyTypes": {}}})
    );
    assert!(
        managed(&raw, "segplan").unwrap()["fieldsV1"]["f:spec"]
            .get("f:podSelector")
            .is_none()
    );

    let e = api_error(
        nps.patch("p", &PatchParams::apply("segplan"), &Patch::Apply(&base))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        e.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using networking.k8s.io/v1: .spec.podSelector"
    );

    let mut both = base.clone();
    both["spec"]["policyTypes"] = json!(["Ingress"]);
    let e = api_error(
        nps.patch("p", &PatchParams::apply("segplan"), &Patch::Apply(&both))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using networking.k8s.io/v1:\n- .spec.podSelector\n- .spec.policyTypes"
    );

    let forced = nps
        .patch(
            "p",
            &PatchParams::apply("segplan").force(),
            &Patch::Apply(&base),
        )
        .await
        .unwrap();
    assert_eq!(
        forced
            .spec
            .unwrap()
            .pod_selector
            .unwrap()
            .match_labels
            .unwrap()["app"],
        "web"
    );
    let raw = api
        .get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
        .unwrap();
    assert_eq!(
        managed(&raw, "kubectl-edit").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:policyTypes": {}}})
    );
    assert_eq!(
        managed(&raw, "segplan").unwrap()["fieldsV1"]["f:spec"],
        json!({"f:podSelector": {}})
    );
}

#[tokio::test]
async fn update_is_optimistic_and_delete_reports_not_found() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    let created = nps
        .create(
            &PostParams::default(),
            &serde_json::from_value(netpol("a", "p", json!({}))).unwrap(),
        )
        .await
        .unwrap();
    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "2".into());
    nps.replace("p", &PostParams::default(), &fresh)
        .await
        .unwrap();
    stale
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "3".into());
    let e = api_error(
        nps.replace("p", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(e.message.starts_with("Operation cannot be fulfilled on networkpolicies.networking.k8s.io \"p\": the object has been modified"));
    let deleted = nps.delete("p", &DeleteParams::default()).await.unwrap();
    assert!(
        deleted.is_right(),
        "NetworkPolicy deletion answers with a Success Status"
    );
    let e = api_error(nps.delete("p", &DeleteParams::default()).await.unwrap_err());
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "networkpolicies.networking.k8s.io \"p\" not found")
    );
}

#[tokio::test]
async fn dry_run_validates_but_stores_nothing() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    let rv = api.resource_version();
    let pp = PatchParams::apply("segplan").dry_run();
    let out = nps
        .patch(
            "p",
            &pp,
            &Patch::Apply(&netpol("a", "p", json!({"egress": [{}]}))),
        )
        .await
        .unwrap();
    assert_eq!(
        out.spec.unwrap().policy_types.unwrap(),
        ["Ingress", "Egress"]
    );
    assert_eq!(out.metadata.resource_version, None);
    assert_eq!(api.resource_version(), rv);
    assert!(
        api.get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
            .is_none()
    );

    nps.patch(
        "p",
        &PatchParams::apply("segplan"),
        &Patch::Apply(&netpol("a", "p", json!({}))),
    )
    .await
    .unwrap();
    let rv = api.resource_version();
    let out = nps
        .patch(
            "p",
            &pp,
            &Patch::Apply(&netpol("a", "p", json!({"ingress": [{}]}))),
        )
        .await
        .unwrap();
    assert_eq!(
        out.spec.unwrap().ingress.unwrap().len(),
        1,
        "response shows the change"
    );
    let stored = api
        .get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
        .unwrap();
    assert!(stored["spec"].get("ingress").is_none(), "store unchanged");
    nps.delete(
        "p",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        api.get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "p")
            .is_some()
    );
    // Validation and conflicts still run in dry run.
    let bad = netpol("a", "p", json!({"ingress": [{"ports": [{"port": 70000}]}]}));
    let e = api_error(nps.patch("p", &pp, &Patch::Apply(&bad)).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(api.resource_version(), rv);
    let recorded = api.writes();
    assert!(recorded.iter().filter(|r| r.dry_run).count() >= 3);
    assert!(
        recorded
            .iter()
            .all(|r| r.method != "PATCH" || r.field_manager.as_deref() == Some("segplan"))
    );
    assert!(
        recorded
            .iter()
            .any(|r| r.content_type.as_deref() == Some("application/apply-patch+yaml"))
    );
}

#[tokio::test]
async fn validation_returns_invalid_with_causes() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let e = api_error(
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(ns("Bad_Name")).unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.starts_with("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"), "{}", e.message);
    let nps: Api<DynamicObject> =
        Api::namespaced_with(c, "a", &ApiResource::erase::<NetworkPolicy>(&()));
    let bad = netpol(
        "a",
        "p",
        json!({"policyTypes": ["Sideways"], "ingress": [{"from": [{}], "ports": [{"port": 0, "protocol": "ICMP"}]}]}),
    );
    let e = api_error(
        nps.patch("p", &PatchParams::apply("segplan"), &Patch::Apply(&bad))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    for part in [
        "spec.policyTypes[0]: Unsupported value: \"Sideways\"",
        "spec.ingress[0].ports[0].protocol: Unsupported value: \"ICMP\"",
        "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ingress[0].from[0]: Required value: must specify a peer",
    ] {
        assert!(e.message.contains(part), "{part} missing in {}", e.message);
    }
    let no_manager = api_error(
        nps.patch(
            "p",
            &PatchParams::default(),
            &Patch::Apply(&netpol("a", "p", json!({}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(no_manager.code, 422);
    assert!(
        no_manager.message.contains("fieldManager: Required value"),
        "{}",
        no_manager.message
    );
}

#[tokio::test]
async fn admission_policy_defaults() {
    let api = KubeApi::start(Options::default());
    let vap = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "deny-open"},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["networkpolicies"]}]},
                 "validations": [{"expression": "true"}]}});
    let out = api.apply_as("segplan", vap, false).unwrap();
    assert_eq!(out["spec"]["failurePolicy"], "Fail");
    let mc = &out["spec"]["matchConstraints"];
    assert_eq!(
        (
            mc["matchPolicy"].clone(),
            mc["namespaceSelector"].clone(),
            mc["objectSelector"].clone()
        ),
        (json!("Equivalent"), json!({}), json!({}))
    );
    assert_eq!(mc["resourceRules"][0]["scope"], "*");
    let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "deny-open"}, "spec": {"policyName": "deny-open", "validationActions": ["Deny"], "matchResources": {}}});
    let out = api.apply_as("segplan", binding, false).unwrap();
    assert_eq!(out["spec"]["matchResources"]["matchPolicy"], "Equivalent");
    assert_eq!(
        managed(&out, "segplan").unwrap()["fieldsV1"]["f:spec"]["f:validationActions"],
        json!({"v:\"Deny\"": {}})
    );
}

#[tokio::test]
async fn pagination_is_consistent_and_tokens_expire() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    for i in 0..25 {
        api.seed(netpol("a", &format!("p{i:02}"), json!({})));
    }
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    let first = nps.list(&ListParams::default().limit(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.metadata.remaining_item_count, Some(15));
    let token = first.metadata.continue_.clone().unwrap();
    api.seed(netpol("a", "p00a", json!({})));
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    let mut cont = Some(token.clone());
    while let Some(t) = cont {
        let page = nps
            .list(&ListParams::default().limit(10).continue_token(&t))
            .await
            .unwrap();
        assert_eq!(
            page.metadata.resource_version, first.metadata.resource_version,
            "one snapshot"
        );
        names.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        cont = page.metadata.continue_.filter(|c| !c.is_empty());
    }
    let expected: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
    assert_eq!(
        names, expected,
        "created-while-paging object not in the snapshot"
    );
    assert_eq!(
        nps.list(&ListParams::default()).await.unwrap().items.len(),
        26
    );
    api.expire_continue_tokens();
    let e = api_error(
        nps.list(&ListParams::default().limit(10).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn label_selectors() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    for (name, labels) in [
        ("x", json!({"tier": "web", "env": "prod"})),
        ("y", json!({"tier": "db"})),
        ("z", json!({})),
    ] {
        let mut p = netpol("a", name, json!({}));
        p["metadata"]["labels"] = labels;
        api.seed(p);
    }
    let c = client(&api, ADMIN_TOKEN).await;
    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    for (sel, want) in [
        ("tier=web", vec!["x"]),
        ("tier==db", vec!["y"]),
        ("tier!=web", vec!["y", "z"]),
        ("tier in (web, db)", vec!["x", "y"]),
        ("tier notin (web)", vec!["y", "z"]),
        ("env", vec!["x"]),
        ("!env", vec!["y", "z"]),
        ("tier,!env", vec!["y"]),
    ] {
        let got: Vec<String> = nps
            .list(&ListParams::default().labels(sel))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect();
        assert_eq!(got, want, "selector {sel}");
    }
    let e = api_error(
        nps.list(&ListParams::default().labels("tier in web"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let by_name = nps
        .list(&ListParams::default().fields("metadata.name=y"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
}

#[tokio::test]
async fn tokens_and_permissions() {
    let opts =
        Options::default().user(User::restricted("alice", "alice-token").allow(
            Rule::new(["get", "list", "patch"], ["networkpolicies"]).in_namespaces(["team-a"]),
        ));
    let api = KubeApi::start(opts);
    api.seed(ns("team-a"));
    api.seed(ns("team-b"));
    let bad = client(&api, "wrong").await;
    let e = api_error(
        Api::<Namespace>::all(bad)
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
    let alice = client(&api, "alice-token").await;
    Api::<NetworkPolicy>::namespaced(alice.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .unwrap();
    let e = api_error(
        Api::<NetworkPolicy>::namespaced(alice.clone(), "team-b")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "networkpolicies.networking.k8s.io is forbidden: User \"alice\" cannot list resource \"networkpolicies\" in API group \"networking.k8s.io\" in the namespace \"team-b\""
    );
    let e = api_error(
        Api::<NetworkPolicy>::all(alice.clone())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert!(e.message.ends_with("at the cluster scope"), "{}", e.message);
    let e = api_error(
        Api::<Namespace>::all(alice)
            .get("team-a")
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    let users: Vec<Option<String>> = api.requests().into_iter().map(|r| r.user).collect();
    assert_eq!(users[0], None);
    assert!(users[1..].iter().all(|u| u.as_deref() == Some("alice")));
}

#[tokio::test]
async fn injected_faults() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    api.inject(
        Fault::status(500)
            .times(2)
            .path_prefix("/api/v1/namespaces"),
    );
    for _ in 0..2 {
        let e = api_error(nss.get("a").await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    }
    nss.get("a").await.unwrap();
    api.clear_faults();

    api.inject(Fault::delay(Duration::from_millis(300)).times(1));
    let t = Instant::now();
    nss.get("a").await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));

    api.inject(Fault::drop_connection().times(1).method("GET"));
    let err = nss.get("a").await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a dropped connection is not an API answer: {err:?}"
    );
    nss.get("a").await.unwrap();

    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    api.inject(Fault::fail_nth_write(2));
    let pp = PatchParams::apply("segplan");
    nps.patch("one", &pp, &Patch::Apply(&netpol("a", "one", json!({}))))
        .await
        .unwrap();
    let e = api_error(
        nps.patch("two", &pp, &Patch::Apply(&netpol("a", "two", json!({}))))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 500);
    nps.patch(
        "three",
        &pp,
        &Patch::Apply(&netpol("a", "three", json!({}))),
    )
    .await
    .unwrap();
    assert!(
        api.get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "two")
            .is_none()
    );
    let statuses: Vec<Option<u16>> = api.writes().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses[statuses.len() - 3..],
        [Some(201), Some(500), Some(201)]
    );
}

#[tokio::test]
async fn one_kubeconfig_for_two_servers_and_namespace_deletion() {
    let (a, b) = (
        KubeApi::start(Options::default()),
        KubeApi::start(Options::default()),
    );
    a.seed(ns("only-a"));
    a.seed(netpol("only-a", "p", json!({})));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    Kubeconfig::new()
        .context("east", &a, ADMIN_TOKEN)
        .context("west", &b, ADMIN_TOKEN)
        .write(&path)
        .unwrap();
    let east = client_for(&path, "east").await;
    let west = client_for(&path, "west").await;
    Api::<Namespace>::all(east.clone())
        .get("only-a")
        .await
        .unwrap();
    assert_eq!(
        api_error(Api::<Namespace>::all(west).get("only-a").await.unwrap_err()).code,
        404
    );
    let resp = Api::<Namespace>::all(east)
        .delete("only-a", &DeleteParams::default())
        .await
        .unwrap();
    let ns_obj = resp
        .left()
        .expect("namespace deletion returns the Terminating namespace");
    assert_eq!(ns_obj.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(a.object_count(), 0, "namespace contents deleted with it");
}

#[tokio::test]
async fn tls_with_generated_ca_is_verified() {
    let api = KubeApi::start(Options::default().with_tls());
    assert!(api.url().starts_with("https://127.0.0.1:"));
    let c = client(&api, ADMIN_TOKEN).await;
    c.apiserver_version().await.unwrap();
    // A kubeconfig without the CA must fail TLS verification.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    Kubeconfig::new()
        .context_url("noca", api.url(), ADMIN_TOKEN)
        .write(&path)
        .unwrap();
    let untrusted = client_for(&path, "noca").await;
    let err = untrusted.apiserver_version().await.unwrap_err();
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );
}
