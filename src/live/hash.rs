//! The plan hash: what a user approves when they read a diff.
//!
//! It covers the rendered plan of every cluster (each desired object's identity and content)
//! and what apply would do about it (each differing object's change and the live
//! `resourceVersion` it was computed against). If either moves, the hash changes, and
//! `apply --plan-hash` refuses. Findings are left out: they depend on the credentials (a
//! read-only CI diff gets its dry runs refused), not on the plan.

use sha2::{Digest, Sha256};

use super::diff::{ClusterDiff, ClusterPlan};

/// The hash of a set of cluster plans and their diffs, as `sha256:<hex>`.
///
/// `diffs` are matched to `plans` by cluster name; a cluster without a diff (it failed)
/// contributes its plan only, so a hash from a partial diff never matches a complete one.
pub fn plan_hash(plans: &[ClusterPlan], diffs: &[&ClusterDiff]) -> String {
    let mut h = Sha256::new();
    let mut plans: Vec<&ClusterPlan> = plans.iter().collect();
    plans.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    for p in plans {
        field(&mut h, "cluster", &p.cluster);
        field(&mut h, "environment", &p.environment);
        for o in &p.objects {
            field(&mut h, "object", &o.key.to_string());
            field(&mut h, "api", &o.key.api_version);
            field(&mut h, "value", &o.value.to_string());
        }
        match diffs.iter().find(|d| d.cluster == p.cluster) {
            None => field(&mut h, "diff", "unavailable"),
            Some(d) => {
                for o in &d.objects {
                    field(&mut h, "change", o.change.as_str());
                    field(&mut h, "key", &o.key.to_string());
                    field(&mut h, "api", &o.key.api_version);
                    field(&mut h, "rv", o.resource_version.as_deref().unwrap_or("-"));
                }
            }
        }
    }
    let digest = h.finalize();
    let mut out = String::from("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn field(h: &mut Sha256, name: &str, value: &str) {
    h.update(name.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::diff::{Change, DesiredObject, ObjectDiff};
    use crate::live::kinds::{NAMESPACE, ObjectKey};
    use serde_json::json;

    fn plan(value: serde_json::Value) -> ClusterPlan {
        ClusterPlan {
            cluster: "c".into(),
            environment: "e".into(),
            mesh: false,
            objects: vec![DesiredObject {
                key: ObjectKey::of(&NAMESPACE, &value).unwrap(),
                spec: NAMESPACE,
                value,
            }],
        }
    }

    fn diff(rv: &str) -> ClusterDiff {
        let o = json!({"metadata": {"name": "a"}});
        let plan = plan(o.clone());
        let mut d = ObjectDiff {
            key: plan.objects[0].key.clone(),
            change: Change::Changed,
            effect: None,
            fields: vec![],
            before: None,
            after: None,
            desired: None,
            resource_version: Some(rv.into()),
            owner_labels: true,
            owner_manager: true,
            note: None,
            conflicts: vec![],
        };
        d.resource_version = Some(rv.into());
        ClusterDiff {
            cluster: "c".into(),
            environment: "e".into(),
            objects: vec![d],
            unchanged: vec![],
            findings: vec![],
            owned_live: 1,
            missing_kinds: vec![],
        }
    }

    #[test]
    fn hash_moves_with_plan_and_live_state() {
        let p = plan(json!({"metadata": {"name": "a"}}));
        let p2 = plan(json!({"metadata": {"name": "a", "labels": {"x": "y"}}}));
        let (d1, d2) = (diff("1"), diff("2"));
        let h = plan_hash(std::slice::from_ref(&p), &[&d1]);
        assert!(h.starts_with("sha256:") && h.len() == 7 + 64);
        assert_eq!(h, plan_hash(std::slice::from_ref(&p), &[&d1]));
        assert_ne!(h, plan_hash(std::slice::from_ref(&p), &[&d2]));
        assert_ne!(h, plan_hash(&[p2], &[&d1]));
        assert_ne!(h, plan_hash(&[p], &[]));
    }
}
