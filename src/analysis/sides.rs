//! One side of every policy: what the ingress (or egress) policies alone would allow. Used to
//! tell which end of a flow is missing (both sides must allow a connection).

use serde_json::Value;

/// A policy direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The objects with the other direction of every NetworkPolicy removed; a policy left with
/// no direction is dropped. Omitted `policyTypes` are defaulted as the API server does
/// (Ingress always, Egress when egress rules exist) before the other side is removed.
pub fn keep_only(objects: &[Value], keep: Direction) -> Vec<Value> {
    let (drop_type, drop_key) = match keep {
        Direction::Ingress => ("Egress", "egress"),
        Direction::Egress => ("Ingress", "ingress"),
    };
    objects
        .iter()
        .filter_map(|o| {
            if o.get("kind").and_then(Value::as_str) != Some("NetworkPolicy") {
                return Some(o.clone());
            }
            let mut o = o.clone();
            let spec = o.get_mut("spec")?.as_object_mut()?;
            let had_egress = spec.contains_key("egress");
            spec.remove(drop_key);
            let types: Vec<Value> = match spec.get("policyTypes").and_then(Value::as_array) {
                Some(t) => t
                    .iter()
                    .filter(|t| t.as_str() != Some(drop_type))
                    .cloned()
                    .collect(),
                None => match keep {
                    Direction::Ingress => vec![Value::from("Ingress")],
                    Direction::Egress if had_egress => vec![Value::from("Egress")],
                    Direction::Egress => vec![],
                },
            };
            if types.is_empty() {
                return None;
            }
            spec.insert("policyTypes".into(), Value::Array(types));
            Some(o)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaulted_types_follow_the_api_server() {
        let p = json!({"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
                       "spec": {"podSelector": {}, "egress": [{}], "ingress": [{}]}});
        let e = keep_only(std::slice::from_ref(&p), Direction::Egress);
        assert_eq!(e[0]["spec"]["policyTypes"], json!(["Egress"]));
        assert!(e[0]["spec"].get("ingress").is_none());
        let i = keep_only(std::slice::from_ref(&p), Direction::Ingress);
        assert_eq!(i[0]["spec"]["policyTypes"], json!(["Ingress"]));
        let only_ingress = json!({"kind": "NetworkPolicy", "spec": {"podSelector": {}}});
        assert!(keep_only(&[only_ingress], Direction::Egress).is_empty());
        let ns = json!({"kind": "Namespace", "metadata": {"name": "a"}});
        assert_eq!(
            keep_only(std::slice::from_ref(&ns), Direction::Egress),
            vec![ns]
        );
    }
}
