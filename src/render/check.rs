//! Every rendered document is parsed back and checked before anything uses it.

use serde_json::Value;

use super::fast_yaml::{self, Node};

/// One YAML document as JSON: through the fast reader when the document is in its subset,
/// through serde-saphyr otherwise (see [`super::fast_yaml`]).
pub fn parse(yaml: &str) -> Result<Value, String> {
    match fast_yaml::parse(yaml) {
        Some(v) => Ok(v),
        None => parse_slow(yaml),
    }
}

fn parse_slow(yaml: &str) -> Result<Value, String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| format!("not valid YAML: {e}"))?;
    match <[Value; 1]>::try_from(docs) {
        Ok([v]) => Ok(v),
        Err(docs) => Err(format!("expected one YAML document, got {}", docs.len())),
    }
}

/// Parses one YAML document and checks apiVersion, kind, name and namespace, and that known
/// kinds deserialize into their k8s-openapi types.
pub fn parse_and_check(
    yaml: &str,
    api_version: &str,
    kind: &str,
    name: &str,
    namespace: Option<&str>,
) -> Result<(), String> {
    // The fast reader's tree when it can read the document, else serde-saphyr's JSON seen as
    // a tree: one check for both.
    let slow;
    let value = match fast_yaml::parse_tree(yaml) {
        Some(tree) => tree,
        None => {
            slow = parse_slow(yaml)?;
            Node::from_value(&slow)
        }
    };
    let field = |path: &[&str]| -> Option<&str> {
        let mut v = &value;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str()
    };
    if field(&["apiVersion"]) != Some(api_version) {
        return Err(format!(
            "apiVersion must be `{api_version}`, got {:?}",
            field(&["apiVersion"])
        ));
    }
    if field(&["kind"]) != Some(kind) {
        return Err(format!("kind must be `{kind}`, got {:?}", field(&["kind"])));
    }
    if field(&["metadata", "name"]) != Some(name) {
        return Err(format!(
            "metadata.name must be `{name}`, got {:?}",
            field(&["metadata", "name"])
        ));
    }
    if field(&["metadata", "namespace"]) != namespace {
        return Err(match namespace {
            Some(ns) => format!(
                "metadata.namespace must be `{ns}`, got {:?}",
                field(&["metadata", "namespace"])
            ),
            None => "a cluster-scoped object cannot have metadata.namespace".into(),
        });
    }
    let labels = value.get("metadata").and_then(|m| m.get("labels"));
    for key in [
        "app.kubernetes.io/managed-by",
        "segplan.io/environment",
        "segplan.io/cluster",
    ] {
        if labels
            .and_then(|l| l.get(key))
            .and_then(Node::as_str)
            .is_none()
        {
            return Err(format!("the ownership label `{key}` is missing"));
        }
    }
    use k8s_openapi::api::admissionregistration::v1 as adm;
    use serde::Deserialize;
    let typed = match kind {
        "Namespace" => k8s_openapi::api::core::v1::Namespace::deserialize(&value).map(drop),
        "NetworkPolicy" => {
            k8s_openapi::api::networking::v1::NetworkPolicy::deserialize(&value).map(drop)
        }
        "ValidatingAdmissionPolicy" => {
            adm::ValidatingAdmissionPolicy::deserialize(&value).map(drop)
        }
        "ValidatingAdmissionPolicyBinding" => {
            adm::ValidatingAdmissionPolicyBinding::deserialize(&value).map(drop)
        }
        _ => Ok(()),
    };
    typed.map_err(|e| format!("does not match the {kind} schema: {e}"))
}
