//! Unknown-field handling (`fieldValidation`): kube-apiserver drops fields its
//! schema does not declare and, by default (`Warn`), says so in a `Warning`
//! header; `Strict` rejects the request; `Ignore` drops silently. The schema
//! here covers the top level, ObjectMeta, and the NetworkPolicy and Namespace
//! kinds completely (a typo in a rendered NetworkPolicy must not pass
//! unnoticed); other kinds keep whatever they are sent (see docs/testing.md).

use serde_json::Value;

/// A node of the declared schema.
enum Node {
    /// Any value (a scalar, or a map/list not described further).
    Any,
    /// An object with exactly these fields.
    Struct(&'static [(&'static str, Node)]),
    /// A list whose items are this node.
    List(&'static Node),
}

use Node::{Any, List, Struct};

const LABEL_SELECTOR: Node = Struct(&[
    ("matchLabels", Any),
    (
        "matchExpressions",
        List(&Struct(&[("key", Any), ("operator", Any), ("values", Any)])),
    ),
]);

const OBJECT_META: Node = Struct(&[
    ("name", Any),
    ("generateName", Any),
    ("namespace", Any),
    ("selfLink", Any),
    ("uid", Any),
    ("resourceVersion", Any),
    ("generation", Any),
    ("creationTimestamp", Any),
    ("deletionTimestamp", Any),
    ("deletionGracePeriodSeconds", Any),
    ("labels", Any),
    ("annotations", Any),
    ("ownerReferences", Any),
    ("finalizers", Any),
    ("managedFields", Any),
]);

const NP_PORT: Node = Struct(&[("protocol", Any), ("port", Any), ("endPort", Any)]);

const NP_PEER: Node = Struct(&[
    ("podSelector", LABEL_SELECTOR),
    ("namespaceSelector", LABEL_SELECTOR),
    ("ipBlock", Struct(&[("cidr", Any), ("except", Any)])),
]);

const NETWORK_POLICY: Node = Struct(&[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", OBJECT_META),
    (
        "spec",
        Struct(&[
            ("podSelector", LABEL_SELECTOR),
            (
                "ingress",
                List(&Struct(&[
                    ("ports", List(&NP_PORT)),
                    ("from", List(&NP_PEER)),
                ])),
            ),
            (
                "egress",
                List(&Struct(&[
                    ("ports", List(&NP_PORT)),
                    ("to", List(&NP_PEER)),
                ])),
            ),
            ("policyTypes", Any),
        ]),
    ),
]);

const NAMESPACE: Node = Struct(&[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", OBJECT_META),
    ("spec", Struct(&[("finalizers", Any)])),
    ("status", Any),
]);

fn schema(kind: &str) -> Option<&'static Node> {
    match kind {
        "NetworkPolicy" => Some(&NETWORK_POLICY),
        "Namespace" => Some(&NAMESPACE),
        _ => None,
    }
}

fn walk(node: &Node, v: &mut Value, path: &str, found: &mut Vec<String>) {
    match (node, v) {
        (Struct(fields), Value::Object(m)) => {
            let unknown: Vec<String> = m
                .keys()
                .filter(|k| !fields.iter().any(|(f, _)| f == k))
                .cloned()
                .collect();
            for k in unknown {
                m.remove(&k);
                found.push(if path.is_empty() {
                    k
                } else {
                    format!("{path}.{k}")
                });
            }
            for (f, child) in fields.iter() {
                if let Some(cv) = m.get_mut(*f) {
                    let p = if path.is_empty() {
                        f.to_string()
                    } else {
                        format!("{path}.{f}")
                    };
                    walk(child, cv, &p, found);
                }
            }
        }
        (List(item), Value::Array(a)) => {
            for (i, iv) in a.iter_mut().enumerate() {
                walk(item, iv, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Removes fields the kind's schema does not declare; returns their paths
/// (`spec.ingress[0].prots`), empty for kinds without a full schema here.
pub fn prune_unknown(kind: &str, obj: &mut Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(node) = schema(kind) {
        walk(node, obj, "", &mut found);
    }
    found
}
