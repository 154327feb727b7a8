//! One test per networking.k8s.io/v1 rule the engine implements, on small inventories.

use serde_json::{Value, json};

use segplan::analysis::{self, Inventory, Representatives};

fn ns(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn deploy(ns: &str, name: &str, labels: Value, ports: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "ports": ports}]}}}})
}

fn policy(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// Every connection as `src => dst : conn`.
fn lines(objects: &[Value]) -> Vec<String> {
    let inv = Inventory::from_objects(objects).expect("valid inventory");
    let r = analysis::analyze(&inv);
    r.connections
        .iter()
        .map(|c| {
            format!(
                "{} => {} : {}",
                r.peer_name(&c.src),
                r.peer_name(&c.dst),
                c.conns
            )
        })
        .collect()
}

/// The connection from `src` to `dst` (display names), or `None`.
fn conn(objects: &[Value], src: &str, dst: &str) -> Option<String> {
    let prefix = format!("{src} => {dst} : ");
    lines(objects)
        .into_iter()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

const EXT: &str = "0.0.0.0-255.255.255.255[External]";

fn two_apps() -> Vec<Value> {
    vec![
        ns("a", json!({})),
        deploy(
            "a",
            "web",
            json!({"app": "web"}),
            json!([{"name": "http", "containerPort": 8080}]),
        ),
        deploy(
            "a",
            "db",
            json!({"app": "db"}),
            json!([{"name": "sql", "containerPort": 5432}]),
        ),
    ]
}

#[test]
fn no_policy_allows_everything_but_not_self() {
    let l = lines(&two_apps());
    assert_eq!(
        l,
        [
            format!("{EXT} => a/db[Deployment] : All Connections"),
            format!("{EXT} => a/web[Deployment] : All Connections"),
            format!("a/db[Deployment] => {EXT} : All Connections"),
            "a/db[Deployment] => a/web[Deployment] : All Connections".to_string(),
            format!("a/web[Deployment] => {EXT} : All Connections"),
            "a/web[Deployment] => a/db[Deployment] : All Connections".to_string(),
        ]
    );
}

#[test]
fn isolation_is_per_direction() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "deny-in",
        json!({"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", "a/db[Deployment]"),
        None,
        "db ingress isolated"
    );
    assert_eq!(conn(&o, EXT, "a/db[Deployment]"), None);
    assert_eq!(
        conn(&o, "a/db[Deployment]", "a/web[Deployment]").as_deref(),
        Some("All Connections"),
        "db egress untouched"
    );
}

#[test]
fn rules_of_all_policies_are_unioned() {
    let mut o = two_apps();
    let sel = json!({"matchLabels": {"app": "db"}});
    o.push(policy(
        "a",
        "p1",
        json!({"podSelector": sel, "ingress": [{"ports": [{"port": 5432}]}]}),
    ));
    o.push(policy(
        "a",
        "p2",
        json!({"podSelector": sel, "ingress": [{"ports": [{"port": 9000, "protocol": "UDP"}]}]}),
    ));
    o.push(policy(
        "a",
        "p3",
        json!({"podSelector": {}, "ingress": [{"ports": [{"port": 5433}]}]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", "a/db[Deployment]").as_deref(),
        Some("TCP 5432-5433,UDP 9000")
    );
}

#[test]
fn both_sides_must_allow() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "web-out",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": 5000, "endPort": 5500}]}]}),
    ));
    o.push(policy(
        "a",
        "db-in",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"ports": [{"port": 5432}, {"port": 6000}]}]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", "a/db[Deployment]").as_deref(),
        Some("TCP 5432")
    );
    let r = analysis::analyze(&Inventory::from_objects(&o).unwrap());
    let c = r
        .connections
        .iter()
        .find(|c| {
            r.peer_name(&c.src) == "a/web[Deployment]" && r.peer_name(&c.dst) == "a/db[Deployment]"
        })
        .unwrap();
    assert!(c.egress.isolated && c.ingress.isolated);
    assert_eq!(r.policies[c.egress.policies[0]], "a/web-out");
    assert_eq!(r.policies[c.ingress.policies[0]], "a/db-in");
}

#[test]
fn policy_types_default_egress_only_with_egress_rules() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "only-in",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", EXT).as_deref(),
        Some("All Connections")
    );
    let mut o = two_apps();
    o.push(policy(
        "a",
        "with-egress",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", EXT).as_deref(),
        Some("UDP 53"),
        "egress rules isolate egress"
    );
    assert_eq!(
        conn(&o, "a/db[Deployment]", "a/web[Deployment]"),
        None,
        "and ingress is isolated too"
    );
}

#[test]
fn empty_versus_missing_rules() {
    let web = json!({"matchLabels": {"app": "web"}});
    let from = |spec: Value| {
        let mut o = two_apps();
        o.push(policy("a", "p", spec));
        conn(&o, "a/db[Deployment]", "a/web[Deployment]")
    };
    assert_eq!(
        from(json!({"podSelector": web, "ingress": []})),
        None,
        "ingress: [] denies all"
    );
    assert_eq!(
        from(json!({"podSelector": web})),
        None,
        "missing ingress denies all"
    );
    assert_eq!(
        from(json!({"podSelector": web, "ingress": [{}]})).as_deref(),
        Some("All Connections")
    );
    assert_eq!(
        from(json!({"podSelector": web, "ingress": [{"from": []}]})).as_deref(),
        Some("All Connections")
    );
    assert_eq!(
        from(json!({"podSelector": web, "ingress": [{"ports": []}]})).as_deref(),
        Some("All Connections")
    );
    assert_eq!(
        from(json!({"podSelector": web, "ingress": [{"from": [{"podSelector": {}}]}]})).as_deref(),
        Some("All Connections"),
        "empty podSelector: every pod of the namespace"
    );
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": web, "ingress": [{"from": [{"podSelector": {}}]}]}),
    ));
    assert_eq!(
        conn(&o, EXT, "a/web[Deployment]"),
        None,
        "a pod selector never matches external IPs"
    );
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": web, "ingress": [{}]}),
    ));
    assert_eq!(
        conn(&o, EXT, "a/web[Deployment]").as_deref(),
        Some("All Connections"),
        "a rule without from matches IPs"
    );
}

fn two_namespaces() -> Vec<Value> {
    vec![
        ns("a", json!({"zone": "x"})),
        ns("b", json!({"zone": "y"})),
        deploy("a", "web", json!({"app": "web"}), json!([])),
        deploy("b", "web", json!({"app": "web"}), json!([])),
        deploy("b", "job", json!({"app": "job"}), json!([])),
        deploy("a", "db", json!({"app": "db"}), json!([])),
    ]
}

#[test]
fn pod_selector_only_peers_mean_the_policy_namespace() {
    let mut o = two_namespaces();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
    ));
    assert!(conn(&o, "a/web[Deployment]", "a/db[Deployment]").is_some());
    assert_eq!(conn(&o, "b/web[Deployment]", "a/db[Deployment]"), None);
}

#[test]
fn namespace_and_pod_selector_in_one_peer_are_anded() {
    let db = json!({"matchLabels": {"app": "db"}});
    let mut and = two_namespaces();
    and.push(policy("a", "p", json!({"podSelector": db, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"zone": "y"}}, "podSelector": {"matchLabels": {"app": "web"}}}]}]})));
    assert!(conn(&and, "b/web[Deployment]", "a/db[Deployment]").is_some());
    assert_eq!(conn(&and, "b/job[Deployment]", "a/db[Deployment]"), None);
    assert_eq!(conn(&and, "a/web[Deployment]", "a/db[Deployment]"), None);
    let mut or = two_namespaces();
    or.push(policy("a", "p", json!({"podSelector": db, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"zone": "y"}}}, {"podSelector": {"matchLabels": {"app": "web"}}}]}]})));
    assert!(
        conn(&or, "b/job[Deployment]", "a/db[Deployment]").is_some(),
        "two peers are ored"
    );
    assert!(conn(&or, "a/web[Deployment]", "a/db[Deployment]").is_some());
    let mut all = two_namespaces();
    all.push(policy(
        "a",
        "p",
        json!({"podSelector": db, "ingress": [{"from": [{"namespaceSelector": {}}]}]}),
    ));
    assert!(
        conn(&all, "b/job[Deployment]", "a/db[Deployment]").is_some(),
        "empty namespaceSelector: all namespaces"
    );
    assert_eq!(conn(&all, EXT, "a/db[Deployment]"), None);
}

#[test]
fn match_expressions_in_policies() {
    let mut o = two_namespaces();
    o.push(policy("a", "p", json!({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
        "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
            "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["job", "web"]}]}}]}]})));
    assert!(conn(&o, "b/job[Deployment]", "a/db[Deployment]").is_some());
    assert_eq!(conn(&o, "a/db[Deployment]", "a/db[Deployment]"), None);
    assert!(
        conn(&o, "b/job[Deployment]", "a/web[Deployment]").is_some(),
        "web is not selected (NotIn)"
    );
    let mut none = two_namespaces();
    none.push(policy("a", "p", json!({"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}}]}]})));
    assert_eq!(conn(&none, "b/job[Deployment]", "a/db[Deployment]"), None);
}

#[test]
fn metadata_name_label_is_implied() {
    let mut o = two_namespaces();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}]}]}),
    ));
    assert!(conn(&o, "b/web[Deployment]", "a/db[Deployment]").is_some());
    assert_eq!(conn(&o, "a/web[Deployment]", "a/db[Deployment]"), None);
}

#[test]
fn protocol_defaults_to_tcp_and_sctp_never_opens_tcp() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"ports": [{"port": 5432}, {"port": 7000, "protocol": "SCTP"}]}]}),
    ));
    let c = conn(&o, "a/web[Deployment]", "a/db[Deployment]").unwrap();
    assert_eq!(c, "SCTP 7000,TCP 5432");
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"ports": [{"protocol": "SCTP"}]}]}),
    ));
    assert_eq!(
        conn(&o, "a/web[Deployment]", "a/db[Deployment]").as_deref(),
        Some("SCTP 1-65535")
    );
}

#[test]
fn end_port_makes_a_range() {
    let mut o = two_apps();
    o.push(policy("a", "p", json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"ports": [{"port": 32000, "endPort": 32768}, {"port": 32769, "endPort": 32770, "protocol": "TCP"}]}]})));
    assert_eq!(
        conn(&o, "a/web[Deployment]", "a/db[Deployment]").as_deref(),
        Some("TCP 32000-32770")
    );
}

#[test]
fn named_ports_resolve_per_destination_pod() {
    let o = vec![
        ns("a", json!({})),
        deploy("a", "client", json!({"app": "client"}), json!([])),
        deploy(
            "a",
            "s1",
            json!({"tier": "s"}),
            json!([{"name": "api", "containerPort": 8001}]),
        ),
        deploy(
            "a",
            "s2",
            json!({"tier": "s"}),
            json!([{"name": "api", "containerPort": 8002}]),
        ),
        deploy(
            "a",
            "s3",
            json!({"tier": "s"}),
            json!([{"name": "api", "containerPort": 8003, "protocol": "UDP"}]),
        ),
        deploy(
            "a",
            "s4",
            json!({"tier": "s"}),
            json!([{"name": "other", "containerPort": 8004}]),
        ),
        policy(
            "a",
            "p",
            json!({"podSelector": {"matchLabels": {"tier": "s"}}, "ingress": [{"ports": [{"port": "api"}]}]}),
        ),
    ];
    assert_eq!(
        conn(&o, "a/client[Deployment]", "a/s1[Deployment]").as_deref(),
        Some("TCP 8001")
    );
    assert_eq!(
        conn(&o, "a/client[Deployment]", "a/s2[Deployment]").as_deref(),
        Some("TCP 8002")
    );
    assert_eq!(
        conn(&o, "a/client[Deployment]", "a/s3[Deployment]"),
        None,
        "named port on another protocol"
    );
    assert_eq!(
        conn(&o, "a/client[Deployment]", "a/s4[Deployment]"),
        None,
        "no such named port"
    );
    // Egress named ports resolve against the destination too.
    let mut e = o.clone();
    e.pop();
    e.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "api"}]}]}),
    ));
    assert_eq!(
        conn(&e, "a/client[Deployment]", "a/s2[Deployment]").as_deref(),
        Some("TCP 8002")
    );
    assert_eq!(
        conn(&e, "a/client[Deployment]", EXT),
        None,
        "named ports never match external IPs"
    );
}

#[test]
fn ip_blocks_split_external_ranges_and_never_match_pods() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]}),
    ));
    let l: Vec<String> = lines(&o)
        .into_iter()
        .filter(|l| l.starts_with("a/web"))
        .collect();
    assert_eq!(
        l,
        [
            "a/web[Deployment] => 10.0.0.0-10.0.255.255[External] : All Connections",
            "a/web[Deployment] => 10.2.0.0-10.255.255.255[External] : All Connections",
        ],
        "only the pieces inside the block, not the exception, and not db"
    );
    let sources: Vec<String> = lines(&o)
        .into_iter()
        .filter(|l| l.contains("[External] =>"))
        .collect();
    assert_eq!(
        sources.len(),
        2,
        "ingress ranges are not split by egress blocks: {sources:?}"
    );
}

#[test]
fn ipv6_blocks_add_the_ipv6_space() {
    let mut o = two_apps();
    o.push(policy(
        "a",
        "p",
        json!({"podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"ipBlock": {"cidr": "2001:db8::/32"}}]}]}),
    ));
    assert_eq!(
        conn(
            &o,
            "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff[External]",
            "a/web[Deployment]"
        )
        .as_deref(),
        Some("All Connections")
    );
    assert_eq!(conn(&o, EXT, "a/web[Deployment]"), None);
}

#[test]
fn representatives_stand_for_unlabelled_pods() {
    let o = vec![
        ns("a", json!({"zone": "x"})),
        ns("b", json!({"zone": "y"})),
        ns("c", json!({"zone": "y"})),
        policy(
            "a",
            "deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        policy(
            "a",
            "allow-y",
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "y"}}}],
            "ports": [{"port": 443}, {"port": "https"}]}]}),
        ),
        policy(
            "a",
            "allow-web",
            json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {},
            "podSelector": {"matchLabels": {"app": "web"}}}]}]}),
        ),
        policy(
            "b",
            "only-labelled",
            json!({"podSelector": {"matchLabels": {"app": "x"}}}),
        ),
    ];
    let inv = Inventory::from_objects_with(&o, Representatives::Auto).unwrap();
    assert_eq!(inv.endpoints.len(), 3);
    assert_eq!(
        conn(&o, "b/*[Namespace]", "a/*[Namespace]").as_deref(),
        Some("TCP 443"),
        "named port never resolves"
    );
    assert_eq!(
        conn(&o, "a/*[Namespace]", "b/*[Namespace]"),
        None,
        "a is egress isolated"
    );
    assert_eq!(
        conn(&o, "c/*[Namespace]", "b/*[Namespace]").as_deref(),
        Some("All Connections"),
        "a policy selecting labelled pods does not isolate the representative"
    );
    assert_eq!(
        conn(&o, "c/*[Namespace]", "c/*[Namespace]").as_deref(),
        Some("All Connections"),
        "self is reported"
    );
    assert_eq!(conn(&o, "a/*[Namespace]", "a/*[Namespace]"), None);
}

#[test]
fn summary_folds_to_namespaces_with_policies() {
    let mut o = two_namespaces();
    o.push(policy(
        "a",
        "db-in",
        json!({"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"zone": "y"}}}], "ports": [{"port": 5432}]}]}),
    ));
    o.push(policy("b", "out", json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"namespaceSelector": {"matchLabels": {"zone": "x"}}}]}, {"to": [{"ipBlock": {"cidr": "8.8.8.8/32"}}], "ports": [{"port": 53, "protocol": "UDP"}]}]})));
    let r = analysis::analyze(&Inventory::from_objects(&o).unwrap());
    let s = analysis::summarize(&r);
    let ba = s.flow("b", "a").expect("b reaches a");
    assert_eq!(
        ba.conns.to_string(),
        "All Connections",
        "b reaches a/web on everything"
    );
    assert!(ba.egress_policies.contains("b/out") && ba.ingress_policies.contains("a/db-in"));
    assert!(ba.ingress_by_default, "a/web is not isolated");
    assert!(!ba.egress_by_default);
    assert!(s.flow("b", "c").is_none());
    let ext: Vec<String> = s
        .to_external
        .iter()
        .filter(|f| f.namespace == "b")
        .map(|f| format!("{} {} {:?}", f.range, f.conns, f.policies))
        .collect();
    assert_eq!(ext, ["8.8.8.8-8.8.8.8 UDP 53 {\"b/out\"}"]);
    assert!(
        s.from_external
            .iter()
            .any(|f| f.namespace == "a" && f.by_default)
    );
}

#[test]
fn compare_reports_opened_and_closed() {
    let base = two_apps();
    let mut new = two_apps();
    new.push(policy("a", "db-in", json!({"podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]}]})));
    let analyse = |o: &[Value]| analysis::analyze(&Inventory::from_objects(o).unwrap());
    let d = analysis::compare(&analyse(&base), &analyse(&new));
    let text: Vec<String> = d
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {} -> {} closes {} opens {}",
                c.kind.as_str(),
                c.src,
                c.dst,
                c.closed(),
                c.opened()
            )
        })
        .collect();
    assert_eq!(
        text,
        [
            "changed a/web[Deployment] -> a/db[Deployment] closes SCTP 1-65535,TCP 1-5431,5433-65535,UDP 1-65535 opens No Connections",
            format!(
                "removed {EXT} -> a/db[Deployment] closes All Connections opens No Connections"
            )
            .as_str(),
        ]
    );
    assert!(d.changes.iter().all(|c| c.narrows() && !c.widens()));
    let back = analysis::compare(&analyse(&new), &analyse(&base));
    assert_eq!(back.widening().count(), 2);
    assert!(analysis::compare(&analyse(&new), &analyse(&new)).is_empty());
}
