//! The one comparison diff and apply share: does the live object hold what segplan states?
//!
//! No per-field normalisation of server defaults. Instead:
//!
//! * [`compare`]: every field of the desired object must hold the same value live (a subset
//!   match). Maps are compared key by key; lists by their merge keys where the Kubernetes schema
//!   gives them ([`list_type`]), sets by membership, every other list element by element with
//!   equal length (so an extra rule in a segplan policy is a difference).
//! * [`removals`]: every field segplan's field manager owns live (its `managedFields` entry, in
//!   the `fieldsV1` format) that the desired object no longer states is a removal.
//!
//! Server-populated metadata never counts: segplan never states it, and [`strip_server_fields`]
//! drops it before objects are shown.

use serde_json::{Map, Value};

use super::kinds::FIELD_MANAGER;

/// One field that differs between the desired and the live object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldDiff {
    /// A dotted path like `.spec.ingress[0].ports` or `.metadata.labels.team`.
    pub path: String,
    pub change: FieldChange,
}

/// How a field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldChange {
    /// segplan states it; the live object lacks it.
    Missing,
    /// Both have it with different values.
    Differs,
    /// A list segplan states whole has a different length live.
    Length,
    /// segplan's manager owns it live but the plan no longer states it.
    Removed,
}

/// How a list is merged, from the Kubernetes schema (`x-kubernetes-list-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// Replaced whole: compared element by element, equal length.
    Atomic,
    /// Elements identified by these keys.
    Map(&'static [&'static str]),
    /// Elements are scalars identified by value.
    Set,
}

/// The list type at a path (field names only, no indices) of a kind.
///
/// Only lists segplan renders or that metadata carries are listed; everything else in the
/// kinds segplan renders is atomic (NetworkPolicy rules and ports, CRD lists).
pub fn list_type(kind: &str, path: &[&str]) -> ListType {
    match (kind, path) {
        (_, ["metadata", "ownerReferences"]) => ListType::Map(&["uid"]),
        (_, ["metadata", "finalizers"]) => ListType::Set,
        ("ValidatingAdmissionPolicy", ["spec", "matchConditions"]) => ListType::Map(&["name"]),
        ("ValidatingAdmissionPolicyBinding", ["spec", "validationActions"]) => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// Whether the map at a path is an atomic label selector (`x-kubernetes-map-type: atomic`):
/// replaced whole, so an extra key live (say `matchLabels` added to an empty `podSelector`) is
/// a difference. Other atomic maps (admission `matchConstraints`, `matchResources`) are
/// compared as subsets: the server fills defaults into them (`matchPolicy`, empty selectors).
pub fn atomic_map(path: &[&str]) -> bool {
    matches!(
        path.last(),
        Some(&"podSelector" | &"namespaceSelector" | &"objectSelector")
    )
}

/// A value with nulls and empty maps/lists dropped, as the API server's decoding does
/// (`omitempty`).
fn pruned(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let out: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| pruned(v).map(|v| (k.clone(), v)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(Value::Array(a.iter().filter_map(pruned).collect())),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::Number(n.clone()),
        }),
        other => Some(other.clone()),
    }
}

/// Compares `desired` against `live` as a subset match; returns every differing field.
pub fn compare(kind: &str, desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(
        kind,
        desired,
        Some(live),
        &mut path,
        &mut String::new(),
        &mut out,
    );
    out
}

fn walk<'a>(
    kind: &str,
    desired: &'a Value,
    live: Option<&Value>,
    names: &mut Vec<&'a str>,
    shown: &mut String,
    out: &mut Vec<FieldDiff>,
) {
    let Some(live) = live else {
        out.push(FieldDiff {
            path: display(shown),
            change: FieldChange::Missing,
        });
        return;
    };
    match desired {
        Value::Null => {}
        Value::Object(d) => {
            let Some(l) = live.as_object() else {
                out.push(diff(shown, FieldChange::Differs));
                return;
            };
            if atomic_map(names) {
                if pruned(desired) != pruned(live) {
                    out.push(diff(shown, FieldChange::Differs));
                }
                return;
            }
            for (k, dv) in d {
                // apiVersion and kind are part of the key; status is the server's.
                if names.is_empty() && (k == "apiVersion" || k == "kind" || k == "status") {
                    continue;
                }
                if dv.is_null() {
                    continue;
                }
                let len = shown.len();
                push_field(shown, k);
                names.push(k.as_str());
                walk(kind, dv, l.get(k), names, shown, out);
                names.pop();
                shown.truncate(len);
            }
        }
        Value::Array(d) => {
            let Some(l) = live.as_array() else {
                out.push(diff(shown, FieldChange::Differs));
                return;
            };
            match list_type(kind, names) {
                ListType::Atomic => {
                    if d.len() != l.len() {
                        out.push(diff(shown, FieldChange::Length));
                        return;
                    }
                    for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                        let len = shown.len();
                        shown.push_str(&format!("[{i}]"));
                        walk(kind, dv, Some(lv), names, shown, out);
                        shown.truncate(len);
                    }
                }
                ListType::Set => {
                    for dv in d {
                        if !l.iter().any(|lv| scalar_eq(dv, lv)) {
                            let len = shown.len();
                            shown.push_str(&format!("[{}]", compact(dv)));
                            out.push(diff(shown, FieldChange::Missing));
                            shown.truncate(len);
                        }
                    }
                }
                ListType::Map(keys) => {
                    for (i, dv) in d.iter().enumerate() {
                        let found = l.iter().find(|lv| {
                            keys.iter()
                                .all(|k| dv.get(*k).is_some_and(|x| lv.get(*k) == Some(x)))
                        });
                        let len = shown.len();
                        let label = keys
                            .iter()
                            .map(|k| format!("{k}={}", dv.get(*k).map(compact).unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",");
                        shown.push_str(&format!(
                            "[{}]",
                            if label.is_empty() {
                                i.to_string()
                            } else {
                                label
                            }
                        ));
                        walk(kind, dv, found, names, shown, out);
                        shown.truncate(len);
                    }
                }
            }
        }
        _ => {
            if !scalar_eq(desired, live) {
                out.push(diff(shown, FieldChange::Differs));
            }
        }
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

fn diff(shown: &str, change: FieldChange) -> FieldDiff {
    FieldDiff {
        path: display(shown),
        change,
    }
}

fn display(shown: &str) -> String {
    if shown.is_empty() {
        ".".to_string()
    } else {
        shown.to_string()
    }
}

fn push_field(shown: &mut String, k: &str) {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        shown.push('.');
        shown.push_str(k);
    } else {
        shown.push_str(&format!("[{}]", Value::String(k.to_string())));
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `fieldsV1` set segplan's manager owns through server-side apply, if any.
pub fn owned_fields(live: &Value) -> Option<&Value> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
        })?
        .get("fieldsV1")
}

/// Fields segplan's manager owns in `live` that `desired` no longer states.
pub fn removals(desired: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    if let Some(fields) = owned_fields(live) {
        owned_walk(fields, Some(desired), &mut String::new(), true, &mut out);
    }
    out
}

fn owned_walk(
    fields: &Value,
    desired: Option<&Value>,
    shown: &mut String,
    top: bool,
    out: &mut Vec<FieldDiff>,
) {
    let Some(set) = fields.as_object() else {
        return;
    };
    for (k, child) in set {
        if k == "." {
            continue;
        }
        let len = shown.len();
        let next: Option<&Value> = if let Some(name) = k.strip_prefix("f:") {
            if top && (name == "status" || name == "apiVersion" || name == "kind") {
                continue;
            }
            push_field(shown, name);
            desired
                .and_then(Value::as_object)
                .and_then(|m| m.get(name))
                .filter(|v| !v.is_null())
        } else if let Some(key) = k.strip_prefix("k:") {
            let key: Map<String, Value> = match serde_json::from_str(key) {
                Ok(Value::Object(m)) => m,
                _ => continue,
            };
            let label = key
                .iter()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect::<Vec<_>>()
                .join(",");
            shown.push_str(&format!("[{label}]"));
            desired.and_then(Value::as_array).and_then(|items| {
                items.iter().find(|item| {
                    key.iter()
                        .all(|(k, v)| item.get(k).is_some_and(|x| scalar_eq(x, v)))
                })
            })
        } else if let Some(val) = k.strip_prefix("v:") {
            let Ok(val) = serde_json::from_str::<Value>(val) else {
                continue;
            };
            shown.push_str(&format!("[{}]", compact(&val)));
            desired
                .and_then(Value::as_array)
                .and_then(|items| items.iter().find(|item| scalar_eq(item, &val)))
        } else if let Some(idx) = k.strip_prefix("i:") {
            let Ok(i) = idx.parse::<usize>() else {
                continue;
            };
            shown.push_str(&format!("[{i}]"));
            desired
                .and_then(Value::as_array)
                .and_then(|items| items.get(i))
        } else {
            continue;
        };
        match next {
            None => out.push(diff(shown, FieldChange::Removed)),
            Some(d) => owned_walk(child, Some(d), shown, false, out),
        }
        shown.truncate(len);
    }
}

/// Drops what the server populates (`status`, `metadata.managedFields`, `resourceVersion`,
/// `uid`, `generation`, `creationTimestamp`, `selfLink`, last-applied annotations) so two objects
/// can be shown and compared by content.
pub fn strip_server_fields(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(k);
            }
            if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("kubectl.kubernetes.io/last-applied-configuration");
                if a.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn np(ingress: Value) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "allow", "namespace": "app", "labels": {"team": "a"}},
            "spec": {"podSelector": {}, "ingress": ingress}})
    }

    #[test]
    fn server_defaults_are_not_differences() {
        let desired = np(json!([{"ports": [{"port": 443}]}]));
        let mut live = np(json!([{"ports": [{"port": 443, "protocol": "TCP"}]}]));
        live["spec"]["policyTypes"] = json!(["Ingress"]);
        live["metadata"]["resourceVersion"] = json!("12");
        live["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!("x");
        live["status"] = json!({});
        assert_eq!(compare("NetworkPolicy", &desired, &live), vec![]);
    }

    #[test]
    fn an_extra_rule_in_an_atomic_list_is_a_difference() {
        let desired = np(json!([{"ports": [{"port": 443}]}]));
        let live = np(json!([{"ports": [{"port": 443}]}, {"ports": [{"port": 22}]}]));
        assert_eq!(
            compare("NetworkPolicy", &desired, &live),
            vec![FieldDiff {
                path: ".spec.ingress".into(),
                change: FieldChange::Length
            }]
        );
    }

    #[test]
    fn value_and_missing_field_paths() {
        let desired = np(json!([{"ports": [{"port": 443}]}]));
        let mut live = np(json!([{"ports": [{"port": 8443}]}]));
        live["metadata"]["labels"] = json!({});
        let d = compare("NetworkPolicy", &desired, &live);
        assert_eq!(
            d,
            vec![
                FieldDiff {
                    path: ".metadata.labels.team".into(),
                    change: FieldChange::Missing
                },
                FieldDiff {
                    path: ".spec.ingress[0].ports[0].port".into(),
                    change: FieldChange::Differs
                },
            ]
        );
    }

    #[test]
    fn map_and_set_lists() {
        let desired = json!({"spec": {"matchConditions": [{"name": "b", "expression": "x"}]}});
        let live = json!({"spec": {"matchConditions": [
            {"name": "a", "expression": "other"}, {"name": "b", "expression": "x"}]}});
        assert!(compare("ValidatingAdmissionPolicy", &desired, &live).is_empty());
        let live2 = json!({"spec": {"matchConditions": [{"name": "b", "expression": "y"}]}});
        assert_eq!(
            compare("ValidatingAdmissionPolicy", &desired, &live2)[0].path,
            ".spec.matchConditions[name=b].expression"
        );
        let desired = json!({"spec": {"validationActions": ["Deny"]}});
        let live = json!({"spec": {"validationActions": ["Audit", "Deny"]}});
        assert!(compare("ValidatingAdmissionPolicyBinding", &desired, &live).is_empty());
        let live = json!({"spec": {"validationActions": ["Audit"]}});
        assert_eq!(
            compare("ValidatingAdmissionPolicyBinding", &desired, &live)[0].change,
            FieldChange::Missing
        );
    }

    #[test]
    fn selectors_are_atomic() {
        let desired = np(json!([]));
        let mut live = np(json!([]));
        assert!(compare("NetworkPolicy", &desired, &live).is_empty());
        live["spec"]["podSelector"] = json!({"matchLabels": {"app": "x"}});
        assert_eq!(
            compare("NetworkPolicy", &desired, &live),
            vec![FieldDiff {
                path: ".spec.podSelector".into(),
                change: FieldChange::Differs
            }]
        );
        // empty maps and lists are what the server drops, not differences
        live["spec"]["podSelector"] = json!({"matchExpressions": []});
        assert!(compare("NetworkPolicy", &desired, &live).is_empty());
        let peer =
            |sel: Value| json!({"spec": {"ingress": [{"from": [{"namespaceSelector": sel}]}]}});
        assert_eq!(
            compare(
                "NetworkPolicy",
                &peer(json!({"matchLabels": {"zone": "app"}})),
                &peer(json!({"matchLabels": {"zone": "app", "x": "y"}}))
            )[0]
            .path,
            ".spec.ingress[0].from[0].namespaceSelector"
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(compare("X", &json!({"a": 1}), &json!({"a": 1.0})).is_empty());
        assert_eq!(compare("X", &json!({"a": 1}), &json!({"a": "1"})).len(), 1);
        assert_eq!(
            compare("X", &json!({"a": {"b": 1}}), &json!({"a": 3}))[0].path,
            ".a"
        );
        // label keys with dots and slashes are quoted
        assert_eq!(
            compare("X", &json!({"l": {"a.io/b": "x"}}), &json!({"l": {}}))[0].path,
            ".l[\"a.io/b\"]"
        );
    }

    #[test]
    fn owned_fields_not_stated_are_removals() {
        let desired = json!({"metadata": {"labels": {"team": "a"}}, "spec": {"podSelector": {}}});
        let live = json!({"metadata": {"labels": {"team": "a", "old": "x"},
            "managedFields": [
                {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:labels": {"f:other": {}}}}},
                {"manager": "segplan", "operation": "Apply", "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:team": {}, "f:old": {}}},
                    "f:spec": {"f:podSelector": {}, "f:egress": {}}}}]},
            "spec": {"podSelector": {}, "egress": []}});
        let r = removals(&desired, &live);
        let paths: Vec<&str> = r.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, vec![".metadata.labels.old", ".spec.egress"]);
        assert!(r.iter().all(|d| d.change == FieldChange::Removed));
    }

    #[test]
    fn keyed_and_set_ownership() {
        let desired =
            json!({"spec": {"matchConditions": [{"name": "a"}], "validationActions": ["Deny"]}});
        let live = json!({"metadata": {"managedFields": [{"manager": "segplan", "operation": "Apply",
            "fieldsV1": {"f:spec": {
                "f:matchConditions": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}}, "k:{\"name\":\"b\"}": {".": {}}},
                "f:validationActions": {"v:\"Deny\"": {}, "v:\"Warn\"": {}}}}}]}});
        let paths: Vec<String> = removals(&desired, &live)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(
            paths,
            vec![
                ".spec.matchConditions[name=b]",
                ".spec.validationActions[Warn]"
            ]
        );
    }

    #[test]
    fn no_segplan_apply_entry_means_no_removals() {
        let live = json!({"metadata": {"managedFields": [{"manager": "segplan", "operation": "Update",
            "fieldsV1": {"f:spec": {"f:x": {}}}}]}});
        assert!(removals(&json!({}), &live).is_empty());
    }

    #[test]
    fn stripping_server_fields() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "1",
            "generation": 2, "creationTimestamp": "t", "managedFields": [],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "status": {}, "spec": {}});
        assert_eq!(
            strip_server_fields(&live),
            json!({"metadata": {"name": "a"}, "spec": {}})
        );
    }
}
