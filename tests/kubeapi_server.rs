//! Tests of the Kubernetes-API-compatible test server (`tests/support/kubeapi`),
//! driven over real HTTP by the real `kube::Client`, built from a kubeconfig
//! the server writes.

#[path = "support/kubeapi/mod.rs"]
mod kubeapi;

#[path = "kubeapi_server/access.rs"]
mod access;
#[path = "kubeapi_server/ssa.rs"]
mod ssa;

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

#[tokio::test]
async fn list_items_and_collections_like_the_real_server() {
    let api = KubeApi::start(Options::default().with_istio());
    api.seed(ns("a"));
    api.seed(netpol("a", "p", json!({})));
    api.seed(
        json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "deny", "namespace": "a", "labels": {"x": "1"}}, "spec": {}}),
    );
    let c = client(&api, ADMIN_TOKEN).await;
    let raw = |path: &str| {
        let req = axum::http::Request::get(path).body(Vec::new()).unwrap();
        let c = c.clone();
        async move { serde_json::from_str::<Value>(&c.request_text(req).await.unwrap()).unwrap() }
    };
    let np_list = raw("/apis/networking.k8s.io/v1/networkpolicies").await;
    assert_eq!(np_list["kind"], "NetworkPolicyList");
    assert!(
        np_list["items"][0].get("kind").is_none(),
        "built-in list items carry no kind"
    );
    let ap_list = raw("/apis/security.istio.io/v1/namespaces/a/authorizationpolicies").await;
    assert_eq!(
        ap_list["items"][0]["kind"], "AuthorizationPolicy",
        "custom resources keep their kind"
    );
    assert_eq!(ap_list["items"][0]["metadata"]["generation"], 1);

    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    let aps: Api<DynamicObject> =
        Api::namespaced_with(c.clone(), "a", &ApiResource::from_gvk(&gvk));
    aps.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("x=1"),
    )
    .await
    .unwrap();
    assert!(
        api.list("security.istio.io/v1", "AuthorizationPolicy", None)
            .is_empty()
    );
    api.set_istio_crds(false);
    let e = api_error(aps.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(e.code, 404);
    let p = Api::<NetworkPolicy>::namespaced(c, "a")
        .get("p")
        .await
        .unwrap();
    assert_eq!(
        p.metadata.name.as_deref(),
        Some("p"),
        "built-in kinds are unaffected"
    );
}

#[tokio::test]
async fn unrouted_paths_and_methods() {
    let api = KubeApi::start(Options::default());
    let c = client(&api, ADMIN_TOKEN).await;
    let send = |method: &str, path: &str, json_body: bool| {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(if json_body {
                b"{}".to_vec()
            } else {
                Vec::new()
            })
            .unwrap();
        let c = c.clone();
        async move { c.request_text(req).await }
    };
    let e = api_error(
        send("GET", "/apis/nope.example.com/v1/things", false)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404, "unknown group: plain-text 404 page not found");
    let e = api_error(
        send("GET", "/apis/networking.k8s.io/v1/things", false)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (404, "the server could not find the requested resource")
    );
    let e = api_error(
        send("POST", "/apis/networking.k8s.io/v1/networkpolicies", true)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
    let e = api_error(send("PUT", "/api/v1/namespaces", true).await.unwrap_err());
    assert_eq!(e.code, 405);
    let e = api_error(
        send("GET", "/api/v1/namespaces/x/networkpolicies", false)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404, "networkpolicies are not in the core group");
    let e = api_error(
        send("GET", "/api/v1/pods?watch=true", false)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400, "watch is refused, not faked");

    let json = KubeApi::start(Options {
        json_404: true,
        ..Options::default()
    });
    let c = client(&json, ADMIN_TOKEN).await;
    let req = axum::http::Request::get("/apis/nope.example.com/v1")
        .body(Vec::new())
        .unwrap();
    let e = api_error(c.request_text(req).await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn health_and_unreachable_clusters() {
    let api = KubeApi::start(Options::default());
    let c = client(&api, ADMIN_TOKEN).await;
    let req = axum::http::Request::get("/readyz")
        .body(Vec::new())
        .unwrap();
    assert_eq!(c.request_text(req).await.unwrap(), "ok");
    let bad = client(&api, "not-a-token").await;
    let req = axum::http::Request::get("/readyz")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        api_error(bad.request_text(req).await.unwrap_err()).code,
        401
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    Kubeconfig::new()
        .context_url("gone", &KubeApi::unreachable_url(), ADMIN_TOKEN)
        .write(&path)
        .unwrap();
    let gone = client_for(&path, "gone").await;
    let err = gone.apiserver_version().await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
}
