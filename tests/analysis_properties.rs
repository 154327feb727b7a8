//! Properties of the engine on random inventories: adding a policy that only isolates (no
//! rules) never widens reachability, and adding an allow rule to a policy never narrows it.

use proptest::prelude::*;
use serde_json::{Value, json};

use segplan::analysis::{self, Connectivity, Inventory, Representatives};

const KEYS: [&str; 2] = ["app", "tier"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const CIDRS: [&str; 4] = ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24", "0.0.0.0/0"];
const PORT_NAMES: [&str; 2] = ["http", "dns"];

fn labels() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(&KEYS[..]),
        prop::sample::select(&VALUES[..]),
        0..=2,
    )
    .prop_map(|m| json!(m))
}

fn selector() -> impl Strategy<Value = Value> {
    let expr = (
        prop::sample::select(&KEYS[..]),
        prop::sample::select(&["In", "NotIn", "Exists", "DoesNotExist"][..]),
        prop::collection::vec(prop::sample::select(&VALUES[..]), 1..=2),
    )
        .prop_map(|(k, op, vs)| {
            if op == "Exists" || op == "DoesNotExist" {
                json!({"key": k, "operator": op})
            } else {
                json!({"key": k, "operator": op, "values": vs})
            }
        });
    (labels(), prop::collection::vec(expr, 0..=1))
        .prop_map(|(ml, exprs)| json!({"matchLabels": ml, "matchExpressions": exprs}))
}

fn peer() -> impl Strategy<Value = Value> {
    prop_oneof![
        selector().prop_map(|s| json!({"podSelector": s})),
        selector().prop_map(|s| json!({"namespaceSelector": s})),
        (selector(), selector())
            .prop_map(|(n, p)| json!({"namespaceSelector": n, "podSelector": p})),
        (
            prop::sample::select(&CIDRS[..]),
            prop::option::of(prop::sample::select(&CIDRS[1..3]))
        )
            .prop_map(|(c, e)| match e {
                Some(e) if c == "0.0.0.0/0" || (c == "10.0.0.0/8" && e == "10.1.0.0/16") =>
                    json!({"ipBlock": {"cidr": c, "except": [e]}}),
                _ => json!({"ipBlock": {"cidr": c}}),
            }),
    ]
}

fn port() -> impl Strategy<Value = Value> {
    let proto = prop::option::of(prop::sample::select(&["TCP", "UDP", "SCTP"][..]));
    prop_oneof![
        (proto.clone(), 1u16..100, prop::option::of(0u16..20)).prop_map(|(p, n, e)| {
            let mut v = json!({"port": n});
            if let Some(p) = p {
                v["protocol"] = json!(p);
            }
            if let Some(e) = e {
                v["endPort"] = json!(n + e);
            }
            v
        }),
        (proto.clone(), prop::sample::select(&PORT_NAMES[..])).prop_map(|(p, n)| match p {
            Some(p) => json!({"port": n, "protocol": p}),
            None => json!({"port": n}),
        }),
        proto.prop_map(|p| json!({"protocol": p.unwrap_or("TCP")})),
    ]
}

fn rule(peers_key: &'static str) -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::collection::vec(peer(), 0..=2)),
        prop::option::of(prop::collection::vec(port(), 0..=2)),
    )
        .prop_map(move |(peers, ports)| {
            let mut r = json!({});
            if let Some(p) = peers {
                r[peers_key] = json!(p);
            }
            if let Some(p) = ports {
                r["ports"] = json!(p);
            }
            r
        })
}

fn policy_spec() -> impl Strategy<Value = Value> {
    (
        selector(),
        prop::option::of(prop::collection::vec(rule("from"), 0..=2)),
        prop::option::of(prop::collection::vec(rule("to"), 0..=2)),
        prop::option::of(prop::sample::subsequence(vec!["Ingress", "Egress"], 1..=2)),
    )
        .prop_map(|(sel, ing, eg, types)| {
            let mut spec = json!({"podSelector": sel});
            if let Some(i) = ing {
                spec["ingress"] = json!(i);
            }
            if let Some(e) = eg {
                spec["egress"] = json!(e);
            }
            if let Some(t) = types {
                spec["policyTypes"] = json!(t);
            }
            spec
        })
}

const NAMESPACES: [&str; 3] = ["n0", "n1", "n2"];

fn inventory() -> impl Strategy<Value = Vec<Value>> {
    let namespaces = prop::collection::vec(labels(), 3).prop_map(|ls| {
        ls.into_iter()
            .enumerate()
            .map(|(i, l)| json!({"kind": "Namespace", "metadata": {"name": NAMESPACES[i], "labels": l}}))
            .collect::<Vec<_>>()
    });
    let workload = (
        prop::sample::select(&NAMESPACES[..]),
        labels(),
        prop::collection::vec(
            (
                prop::sample::select(&PORT_NAMES[..]),
                1u16..100,
                prop::sample::select(&["TCP", "UDP"][..]),
            ),
            0..=2,
        ),
    );
    let policy = (prop::sample::select(&NAMESPACES[..]), policy_spec());
    (
        namespaces,
        prop::collection::vec(workload, 1..=5),
        prop::collection::vec(policy, 0..=4),
    )
        .prop_map(|(mut objs, workloads, policies)| {
            for (i, (ns, labels, ports)) in workloads.into_iter().enumerate() {
                let ports: Vec<Value> = ports
                    .into_iter()
                    .map(|(n, p, proto)| json!({"name": n, "containerPort": p, "protocol": proto}))
                    .collect();
                objs.push(json!({"kind": "Deployment", "metadata": {"name": format!("w{i}"), "namespace": ns},
                    "spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [{"ports": ports}]}}}}));
            }
            for (i, (ns, spec)) in policies.into_iter().enumerate() {
                objs.push(json!({"kind": "NetworkPolicy", "metadata": {"name": format!("p{i}"), "namespace": ns}, "spec": spec}));
            }
            objs
        })
}

fn analyse(objs: &[Value]) -> Connectivity {
    let inv = Inventory::from_objects_with(objs, Representatives::EmptyNamespaces)
        .expect("generated objects are valid");
    analysis::analyze(&inv)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn an_isolating_policy_never_widens(
        objs in inventory(),
        ns in prop::sample::select(&NAMESPACES[..]),
        sel in selector(),
        types in prop::sample::subsequence(vec!["Ingress", "Egress"], 1..=2),
    ) {
        let before = analyse(&objs);
        let mut more = objs.clone();
        more.push(json!({"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": ns},
            "spec": {"podSelector": sel, "policyTypes": types}}));
        let after = analyse(&more);
        let d = analysis::compare(&before, &after);
        let widened: Vec<String> = d.widening().map(|c| format!("{} -> {}: {}", c.src, c.dst, c.opened())).collect();
        prop_assert!(widened.is_empty(), "a deny-only policy opened {:?}", widened);
    }

    #[test]
    fn an_allow_rule_never_narrows(
        objs in inventory(),
        which in any::<prop::sample::Index>(),
        ingress in any::<bool>(),
        extra in prop_oneof![rule("from"), rule("to")],
    ) {
        let policies: Vec<usize> = objs.iter().enumerate()
            .filter(|(_, o)| o["kind"] == "NetworkPolicy").map(|(i, _)| i).collect();
        prop_assume!(!policies.is_empty());
        let target = policies[which.index(policies.len())];
        let before = analyse(&objs);
        let mut more = objs.clone();
        let spec = &mut more[target]["spec"];
        // Add the rule to a direction the policy already isolates, so the rule cannot
        // change which pods are isolated: it can only allow more.
        let isolates = |dir: &str, spec: &Value| -> bool {
            match spec.get("policyTypes") {
                Some(Value::Array(t)) if !t.is_empty() => t.iter().any(|x| x == dir),
                _ => dir == "Ingress" || spec.get("egress").and_then(Value::as_array).is_some_and(|e| !e.is_empty()),
            }
        };
        let (dir, key, peers) = if ingress { ("Ingress", "ingress", "from") } else { ("Egress", "egress", "to") };
        prop_assume!(isolates(dir, spec));
        let mut rule = extra.clone();
        // The generated rule may use either peer key; use the direction's.
        if let Some(p) = rule.as_object_mut().and_then(|r| r.remove("from").or_else(|| r.remove("to"))) {
            rule[peers] = p;
        }
        match spec.get_mut(key).and_then(Value::as_array_mut) {
            Some(list) => list.push(rule),
            None => spec[key] = json!([rule]),
        }
        let after = analyse(&more);
        let d = analysis::compare(&before, &after);
        let narrowed: Vec<String> = d.narrowing().map(|c| format!("{} -> {}: {}", c.src, c.dst, c.closed())).collect();
        prop_assert!(narrowed.is_empty(), "an allow rule closed {:?}", narrowed);
    }
}
