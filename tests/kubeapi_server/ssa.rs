//! Server-side apply: creation, defaulting, managed fields, pruning, conflicts, dry run.

use super::*;

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
    let deletes: Vec<_> = recorded.iter().filter(|r| r.method == "DELETE").collect();
    assert!(
        deletes.len() == 1 && deletes[0].dry_run,
        "dryRun in DeleteOptions is recorded"
    );
    assert_eq!(
        recorded.iter().filter(|r| !r.dry_run).count(),
        1,
        "only the real apply"
    );
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
async fn apply_accepts_yaml_bodies_and_merge_patch_is_an_update() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: yaml-np\n  namespace: a\n  labels:\n    team: blue\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
    let req = axum::http::Request::patch(
        "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/yaml-np?fieldManager=segplan",
    )
    .header("content-type", "application/apply-patch+yaml")
    .body(yaml.as_bytes().to_vec())
    .unwrap();
    let out: Value = serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap();
    assert_eq!(out["metadata"]["labels"]["team"], "blue");
    assert_eq!(out["kind"], "NetworkPolicy");

    let nps: Api<NetworkPolicy> = Api::namespaced(c, "a");
    let pp = PatchParams {
        field_manager: Some("kubectl-label".into()),
        ..Default::default()
    };
    let patch = json!({"metadata": {"labels": {"team": null, "owner": "ops"}}});
    let out = nps
        .patch("yaml-np", &pp, &Patch::Merge(&patch))
        .await
        .unwrap();
    let labels = out.metadata.labels.clone().unwrap();
    assert!(!labels.contains_key("team") && labels["owner"] == "ops");
    let raw = serde_json::to_value(out).unwrap();
    let entry = managed(&raw, "kubectl-label").unwrap();
    assert_eq!(entry["operation"], "Update");
    assert_eq!(
        entry["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:owner": {}}}})
    );
    let e = api_error(
        nps.patch(
            "yaml-np",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 415);
}

#[tokio::test]
async fn workloads_use_associative_lists_keyed_by_name() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:1", "ports": [{"containerPort": 80}]}]}}}});
    let out = api.apply_as("segplan", deploy.clone(), false).unwrap();
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let fields = &managed(&out, "segplan").unwrap()["fieldsV1"];
    assert_eq!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({
            "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
        })
    );
    // Another manager adds a sidecar container: both containers survive segplan's re-apply.
    api.apply_as("mesh", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}}), false).unwrap();
    let mut bumped = deploy.clone();
    bumped["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:2");
    let out = api.apply_as("segplan", bumped, false).unwrap();
    let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "proxy"]);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "a"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    let e = api.apply_as("segplan", bad, false).unwrap_err();
    assert!(
        e.message
            .contains("`selector` does not match template `labels`"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn yaml_1_1_booleans_are_rejected_like_go_yaml() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let yaml = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: y\n  namespace: a\nspec: {}\n";
    let req = axum::http::Request::patch(
        "/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/y?fieldManager=segplan",
    )
    .header("content-type", "application/apply-patch+yaml")
    .body(yaml.as_bytes().to_vec())
    .unwrap();
    let e = api_error(c.request_text(req).await.unwrap_err());
    assert_eq!(e.code, 400);
    assert!(e.message.contains("cannot unmarshal bool"), "{}", e.message);
}

#[tokio::test]
async fn unknown_fields_are_dropped_with_a_warning_or_rejected_when_strict() {
    let api = KubeApi::start(Options::default());
    api.seed(ns("a"));
    let c = client(&api, ADMIN_TOKEN).await;
    let body = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "typo", "namespace": "a"},
        "spec": {"podselector": {}, "ingress": [{"ports": [{"port": 80, "prot": "TCP"}]}]}});
    let send = |query: &str| {
        let req = axum::http::Request::patch(format!("/apis/networking.k8s.io/v1/namespaces/a/networkpolicies/typo?fieldManager=segplan{query}"))
            .header("content-type", "application/apply-patch+yaml")
            .body(kube::client::Body::from(body.to_string().into_bytes()))
            .unwrap();
        let c = c.clone();
        async move { c.send(req).await.unwrap() }
    };
    let resp = send("&fieldValidation=Strict").await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        api.get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "typo")
            .is_none()
    );
    let resp = send("").await;
    assert_eq!(resp.status().as_u16(), 201);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|h| h.to_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        [
            r#"299 - "unknown field \"spec.podselector\"""#,
            r#"299 - "unknown field \"spec.ingress[0].ports[0].prot\"""#
        ]
    );
    let stored = api
        .get("networking.k8s.io/v1", "NetworkPolicy", Some("a"), "typo")
        .unwrap();
    assert_eq!(
        stored["spec"],
        json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}]}], "policyTypes": ["Ingress"]})
    );
}

#[test]
fn managed_fields_time_moves_only_when_the_write_changes_the_object() {
    let api = KubeApi::start(Options::default().fixed_time("2026-01-01T00:00:00Z"));
    api.seed(ns("a"));
    let np = netpol("a", "p", json!({"ingress": [{"ports": [{"port": 80}]}]}));
    api.apply_as("segplan", np.clone(), false).unwrap();
    api.set_time(Some("2026-02-02T00:00:00Z"));
    let rv = api.resource_version();
    // Same configuration; the defaulted protocol inside the atomic list is not a change.
    let same = api.apply_as("segplan", np.clone(), false).unwrap();
    assert_eq!(
        managed(&same, "segplan").unwrap()["time"],
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(api.resource_version(), rv, "no-op apply is not stored");
    let mut changed = np;
    changed["spec"]["ingress"][0]["ports"][0]["port"] = json!(81);
    let out = api.apply_as("segplan", changed, false).unwrap();
    assert_eq!(
        managed(&out, "segplan").unwrap()["time"],
        "2026-02-02T00:00:00Z",
        "same field set, new value"
    );
    assert_eq!(api.resource_version(), rv + 1);
}
