//! Authentication, authorization, injected faults and the request record.

use super::*;

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
