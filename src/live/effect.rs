//! Whether a drift widens or narrows access, answered by the reachability engine
//! ([`crate::analysis`]).
//!
//! For a NetworkPolicy that differs (Changed) or that segplan does not own (Unmanaged), the
//! cluster's reachability is computed twice from its live Namespaces and NetworkPolicies: as
//! the plan wants it (the planned version in place of the drifted one; the unmanaged one
//! absent) and as it is live. Live allowing a connection the plan does not is *widens*; the
//! reverse is *narrows*. The diff reads no workloads, so the pods are stood in for: one pod per
//! distinct label set a policy selects (its `podSelector`, and peer `podSelector`s), plus one
//! "any pod" endpoint per namespace without such a pod. When that finds no change the answer is
//! *unknown*, not *none*: pods the policies do not name could still be affected. Other kinds
//! (mesh, admission) stay *unknown*.

use std::collections::BTreeSet;

use serde_json::Value;

use super::diff::{Change, Effect, ObjectDiff};
use super::kinds::ObjectKey;
use crate::analysis::{Inventory, Representatives, analyze, compare};

/// The effect of one differing object given the cluster's live Namespaces and
/// NetworkPolicies (`live`, each with apiVersion and kind).
pub fn effect(live: &[(ObjectKey, Value)], o: &ObjectDiff) -> Effect {
    if o.key.kind != "NetworkPolicy" || !matches!(o.change, Change::Changed | Change::Unmanaged) {
        return Effect::Unknown;
    }
    let live_objects: Vec<Value> = live.iter().map(|(_, v)| v.clone()).collect();
    let mut planned: Vec<Value> = Vec::with_capacity(live.len());
    for (k, v) in live {
        if *k == o.key {
            if o.change == Change::Changed
                && let Some(d) = &o.desired
            {
                planned.push(d.clone());
            }
        } else {
            planned.push(v.clone());
        }
    }
    let pods = stand_in_pods(live_objects.iter().chain(&planned));
    let mut live_objects = live_objects;
    live_objects.extend(pods.iter().cloned());
    planned.extend(pods);
    let reps = Representatives::EmptyNamespaces;
    let (Ok(live_inv), Ok(plan_inv)) = (
        Inventory::from_objects_with(&live_objects, reps),
        Inventory::from_objects_with(&planned, reps),
    ) else {
        return Effect::Unknown;
    };
    let d = compare(&analyze(&plan_inv), &analyze(&live_inv));
    match (
        d.widening().next().is_some(),
        d.narrowing().next().is_some(),
    ) {
        (true, true) => Effect::Mixed,
        (true, false) => Effect::Widens,
        (false, true) => Effect::Narrows,
        (false, false) => Effect::Unknown,
    }
}

/// One Pod per distinct (namespace, matchLabels) the policies select or name as peers.
fn stand_in_pods<'a>(objects: impl Iterator<Item = &'a Value>) -> Vec<Value> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut add = |ns: &str, labels: Option<&Value>| {
        if let Some(l) = labels.and_then(Value::as_object).filter(|l| !l.is_empty()) {
            seen.insert((ns.to_string(), Value::Object(l.clone()).to_string()));
        }
    };
    for o in objects.filter(|o| o.get("kind").and_then(Value::as_str) == Some("NetworkPolicy")) {
        let ns = o
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        add(ns, o.pointer("/spec/podSelector/matchLabels"));
        for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
            let rules = o.pointer(&format!("/spec/{dir}")).and_then(Value::as_array);
            let peers = rules
                .into_iter()
                .flatten()
                .filter_map(|r| r.get(peers))
                .filter_map(Value::as_array)
                .flatten();
            for peer in peers {
                let pod = peer.pointer("/podSelector/matchLabels");
                match peer.get("namespaceSelector") {
                    None => add(ns, pod),
                    Some(sel) => {
                        let named = sel
                            .pointer("/matchLabels/kubernetes.io~1metadata.name")
                            .and_then(Value::as_str);
                        if let Some(n) = named {
                            add(n, pod);
                        }
                    }
                }
            }
        }
    }
    seen.into_iter()
        .enumerate()
        .map(|(i, (ns, labels))| {
            let labels: Value = serde_json::from_str(&labels).unwrap_or_default();
            serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("segplan-stand-in-{i}"), "namespace": ns, "labels": labels},
                "spec": {"containers": []}})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::kinds::{NAMESPACE, NETWORK_POLICY};
    use serde_json::json;

    fn with_kind(kind: &str, api: &str, mut v: Value) -> Value {
        v["kind"] = json!(kind);
        v["apiVersion"] = json!(api);
        v
    }

    fn world(extra: Option<Value>) -> Vec<(ObjectKey, Value)> {
        let mut out = Vec::new();
        for ns in ["a", "b"] {
            let v = with_kind("Namespace", "v1", json!({"metadata": {"name": ns}}));
            out.push((ObjectKey::of(&NAMESPACE, &v).unwrap(), v));
            let deny = with_kind(
                "NetworkPolicy",
                "networking.k8s.io/v1",
                json!({
                "metadata": {"name": "default-deny", "namespace": ns},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
            );
            out.push((ObjectKey::of(&NETWORK_POLICY, &deny).unwrap(), deny));
        }
        if let Some(v) = extra {
            out.push((ObjectKey::of(&NETWORK_POLICY, &v).unwrap(), v));
        }
        out
    }

    fn open(ns: &str, name: &str) -> Value {
        with_kind(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{}], "egress": [{}]}}),
        )
    }

    fn diff(change: Change, key: &ObjectKey, desired: Option<Value>) -> ObjectDiff {
        ObjectDiff {
            key: key.clone(),
            change,
            effect: None,
            fields: vec![],
            before: None,
            after: None,
            desired,
            resource_version: None,
            owner_labels: false,
            owner_manager: false,
            note: None,
            conflicts: vec![],
        }
    }

    #[test]
    fn an_unmanaged_allow_all_widens() {
        let p = open("a", "debug");
        let live = world(Some(p.clone()));
        let key = ObjectKey::of(&NETWORK_POLICY, &p).unwrap();
        assert_eq!(
            effect(&live, &diff(Change::Unmanaged, &key, None)),
            Effect::Widens
        );
    }

    #[test]
    fn a_policy_changed_to_deny_narrows_and_mesh_is_unknown() {
        let live_deny = with_kind(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            json!({
            "metadata": {"name": "web", "namespace": "a"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        );
        let live = world(Some(live_deny.clone()));
        let key = ObjectKey::of(&NETWORK_POLICY, &live_deny).unwrap();
        let planned = open("a", "web");
        assert_eq!(
            effect(&live, &diff(Change::Changed, &key, Some(planned))),
            Effect::Narrows
        );
        let mut mesh = key.clone();
        mesh.kind = "AuthorizationPolicy".into();
        assert_eq!(
            effect(&live, &diff(Change::Unmanaged, &mesh, None)),
            Effect::Unknown
        );
    }

    #[test]
    fn an_extra_rule_on_a_pod_specific_policy_widens() {
        let mk = |ports: Value| {
            with_kind(
                "NetworkPolicy",
                "networking.k8s.io/v1",
                json!({
            "metadata": {"name": "web", "namespace": "a"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                     "ingress": ports}}),
            )
        };
        let live_np = mk(json!([{"ports": [{"port": 80}]}, {"ports": [{"port": 22}]}]));
        let live = world(Some(live_np.clone()));
        let key = ObjectKey::of(&NETWORK_POLICY, &live_np).unwrap();
        let planned = mk(json!([{"ports": [{"port": 80}]}]));
        assert_eq!(
            effect(&live, &diff(Change::Changed, &key, Some(planned))),
            Effect::Widens
        );
    }

    #[test]
    fn a_policy_that_changes_nothing_visible_is_unknown() {
        let p = with_kind(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            json!({
            "metadata": {"name": "noop", "namespace": "a"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}),
        );
        let live = world(Some(p.clone()));
        let key = ObjectKey::of(&NETWORK_POLICY, &p).unwrap();
        assert_eq!(
            effect(&live, &diff(Change::Unmanaged, &key, None)),
            Effect::Unknown
        );
    }
}
