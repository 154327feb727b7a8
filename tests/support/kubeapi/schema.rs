//! The slice of each kind's OpenAPI schema that server-side apply needs: which
//! maps are atomic, and which lists are atomic, sets or associative (with their
//! keys). Everything not listed follows the structural-schema defaults used
//! for CRDs: objects are granular maps, lists are atomic.
//!
//! Sources (k8s.io/api v1.33 markers): `metav1.LabelSelector` is
//! `+structType=atomic`; NetworkPolicySpec `ingress`, `egress`, `policyTypes`
//! and every nested list are `+listType=atomic`; `admissionregistration/v1`
//! `MatchResources`, `ParamKind`, `ParamRef` are `+structType=atomic`,
//! `matchConditions` is a map list keyed by `name`, `validationActions` is a
//! set; ObjectMeta `finalizers` is a set and `ownerReferences` a map list keyed
//! by `uid`; PodSpec containers/volumes/env are map lists keyed by `name`.

use serde_json::Value;

use super::resources::ResourceDef;

/// How server-side apply treats a node of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A scalar (string, number, bool, null).
    Leaf,
    /// A struct or map whose fields are owned one by one.
    Granular,
    /// A struct or map owned as a whole.
    AtomicMap,
    /// A list owned as a whole.
    AtomicList,
    /// A list of scalars with set semantics (`v:` elements).
    SetList,
    /// A list of objects identified by the given key fields (`k:` elements).
    AssocList(&'static [&'static str]),
}

/// Overrides for paths inside a PodSpec (relative to the PodSpec).
fn pod_spec_override(rel: &str) -> Option<Shape> {
    Some(match rel {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets" => Shape::AssocList(&["name"]),
        "containers[].ports" | "initContainers[].ports" => {
            Shape::AssocList(&["containerPort", "protocol"])
        }
        "containers[].env" | "initContainers[].env" => Shape::AssocList(&["name"]),
        "containers[].volumeMounts" | "initContainers[].volumeMounts" => {
            Shape::AssocList(&["mountPath"])
        }
        _ => return None,
    })
}

fn pod_spec_prefix(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("spec."),
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            Some("spec.template.spec.")
        }
        "CronJob" => Some("spec.jobTemplate.spec.template.spec."),
        _ => None,
    }
}

fn override_at(res: &ResourceDef, pattern: &str) -> Option<Shape> {
    match pattern {
        "metadata.finalizers" => return Some(Shape::SetList),
        "metadata.ownerReferences" => return Some(Shape::AssocList(&["uid"])),
        _ => {}
    }
    match (res.kind, pattern) {
        ("NetworkPolicy", "spec.podSelector") => return Some(Shape::AtomicMap),
        ("ValidatingAdmissionPolicy", "spec.paramKind" | "spec.matchConstraints") => {
            return Some(Shape::AtomicMap);
        }
        ("ValidatingAdmissionPolicy", "spec.matchConditions") => {
            return Some(Shape::AssocList(&["name"]));
        }
        ("ValidatingAdmissionPolicyBinding", "spec.paramRef" | "spec.matchResources") => {
            return Some(Shape::AtomicMap);
        }
        ("ValidatingAdmissionPolicyBinding", "spec.validationActions") => {
            return Some(Shape::SetList);
        }
        ("Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job", "spec.selector") => {
            return Some(Shape::AtomicMap);
        }
        ("CronJob", "spec.jobTemplate.spec.selector") => return Some(Shape::AtomicMap),
        _ => {}
    }
    let prefix = pod_spec_prefix(res.kind)?;
    pattern.strip_prefix(prefix).and_then(pod_spec_override)
}

/// The shape of `value` found at `pattern` (dotted field names, `[]` after a list element).
pub fn shape(res: &ResourceDef, pattern: &str, value: &Value) -> Shape {
    if let Some(s) = override_at(res, pattern) {
        // An override only applies when the value has the matching JSON type.
        let fits = match s {
            Shape::AtomicMap | Shape::Granular => value.is_object(),
            Shape::AtomicList | Shape::SetList | Shape::AssocList(_) => value.is_array(),
            Shape::Leaf => true,
        };
        if fits {
            return s;
        }
    }
    match value {
        Value::Object(_) => Shape::Granular,
        Value::Array(_) => Shape::AtomicList,
        _ => Shape::Leaf,
    }
}

/// Appends a field name to a pattern.
pub fn child_pattern(pattern: &str, field: &str) -> String {
    if pattern.is_empty() {
        field.to_string()
    } else {
        format!("{pattern}.{field}")
    }
}

/// The pattern of a list element.
pub fn item_pattern(pattern: &str) -> String {
    format!("{pattern}[]")
}
