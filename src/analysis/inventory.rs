//! The inventory: namespaces, endpoints (workloads or representatives) and policies, built
//! from plain Kubernetes objects.
//!
//! * A workload object (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
//!   ReplicationController) is one endpoint with its pod template's labels and container ports.
//! * A Pod is grouped under its controlling owner (`ownerReferences[].controller: true`,
//!   except `Node`, which marks a static pod): `ns/owner[OwnerKind]`; a pod without one is
//!   its own endpoint `ns/pod[Pod]`. Pods of one owner with different labels or ports keep
//!   each variant; the endpoint's connections are the union over its variants.
//! * Every namespace carries the implied label `kubernetes.io/metadata.name: <name>`.
//!   Namespaces come from Namespace objects and from the namespaces objects live in.
//! * Objects without a namespace are in `default`. Other kinds (Service, ConfigMap, ...)
//!   are ignored.
//!
//! ## Representative endpoints
//!
//! When no workload is known for a namespace (a rendered plan holds only Namespaces and
//! policies), [`Representatives`] may give it one endpoint `ns/*[Namespace]` standing for
//! "a pod of this namespace". It is evaluated as a concrete pod **with no labels and no
//! container ports** in a namespace with the namespace's labels, so:
//! * a policy's `podSelector: {}` selects (isolates) it; any selector that requires a label
//!   (`matchLabels`, `In`, `Exists`) does not, while `NotIn` and `DoesNotExist` do;
//! * a rule peer `podSelector: {}` / a bare `namespaceSelector` reaches it; a peer that
//!   requires pod labels does not;
//! * named ports never resolve on it (it has no container ports).
//!
//! The answers are therefore exact for an unlabelled pod of the namespace, which is what
//! namespace-wide rules (the ones segplan renders) talk about. A flow written for specific
//! pod labels does not show up on a representative. Unlike workloads, a representative's
//! connection to itself is reported: it stands for many pods that may talk to each other.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::policy::{Policy, parse_policy, scalar_string};
use super::ports::Protocol;
use super::selector::Labels;
use super::{AnalysisError, ObjectRef};

/// The label every namespace carries implicitly.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The kinds read as workloads, with where their pod template lives.
const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("Deployment", "/spec/template"),
    ("StatefulSet", "/spec/template"),
    ("DaemonSet", "/spec/template"),
    ("ReplicaSet", "/spec/template"),
    ("ReplicationController", "/spec/template"),
    ("Job", "/spec/template"),
    ("CronJob", "/spec/jobTemplate/spec/template"),
];

/// When to give namespaces without workloads a representative endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Representatives {
    /// Only when the inventory holds no workload at all (a rendered plan): then every
    /// namespace gets one. This matches the outside judge on real manifests.
    #[default]
    Auto,
    /// Every namespace that has no workload gets one, even when others have workloads.
    EmptyNamespaces,
    /// Never: only real workloads are endpoints.
    Never,
}

/// A namespace and its labels (including the implied name label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The name.
    pub name: String,
    /// The labels.
    pub labels: Labels,
}

/// A named container port of a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerPort {
    /// `name`, if any.
    pub name: Option<String>,
    /// `containerPort`.
    pub port: u16,
    /// `protocol` (TCP when missing).
    pub protocol: Protocol,
}

/// One variant of the pods behind an endpoint: their labels and container ports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodShape {
    /// The pod labels.
    pub labels: Labels,
    /// The container ports.
    pub ports: Vec<ContainerPort>,
}

impl PodShape {
    /// The port number and protocol of the container port called `name`.
    pub fn named_port(&self, name: &str) -> Option<(Protocol, u16)> {
        self.ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| (p.protocol, p.port))
    }
}

/// Something that sends and receives traffic: a workload, a bare pod, or a representative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The namespace.
    pub namespace: String,
    /// The workload (or pod) name; `*` for a representative.
    pub name: String,
    /// `Deployment`, `Pod`, ... ; `Namespace` for a representative.
    pub kind: String,
    /// The distinct pod variants (at least one).
    pub shapes: Vec<PodShape>,
    /// Whether this stands for "any pod in the namespace".
    pub representative: bool,
}

impl Endpoint {
    /// `namespace/name[Kind]`, the form the outside judge prints.
    pub fn display_name(&self) -> String {
        format!("{}/{}[{}]", self.namespace, self.name, self.kind)
    }
}

/// Everything the engine needs.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Namespaces by name.
    pub namespaces: Vec<Namespace>,
    /// Endpoints, sorted by display name.
    pub endpoints: Vec<Endpoint>,
    /// NetworkPolicies, in input order.
    pub policies: Vec<Policy>,
}

impl Inventory {
    /// Builds the inventory with [`Representatives::Auto`].
    pub fn from_objects(objects: &[Value]) -> Result<Inventory, AnalysisError> {
        Self::from_objects_with(objects, Representatives::Auto)
    }

    /// Builds the inventory, choosing when namespaces get representative endpoints.
    pub fn from_objects_with(
        objects: &[Value],
        reps: Representatives,
    ) -> Result<Inventory, AnalysisError> {
        let mut ns_labels: BTreeMap<String, Labels> = BTreeMap::new();
        let mut ns_seen: BTreeSet<String> = BTreeSet::new();
        let mut endpoints: BTreeMap<(String, String, String), BTreeSet<PodShape>> = BTreeMap::new();
        let mut policies = Vec::new();
        let mut policy_names = BTreeSet::new();
        for (index, obj) in objects.iter().enumerate() {
            let Some(kind) = obj.get("kind").and_then(Value::as_str) else {
                continue;
            };
            let oref = || ObjectRef::of(index, obj);
            let namespace = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            let name = || -> Result<String, AnalysisError> {
                obj.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| AnalysisError::object(oref(), "metadata.name is missing"))
            };
            match kind {
                "Namespace" => {
                    let n = name()?;
                    let labels = labels_at(obj, "/metadata/labels");
                    ns_labels.entry(n).or_default().extend(labels);
                }
                "NetworkPolicy" => {
                    let p = parse_policy(obj).map_err(|e| AnalysisError::object(oref(), e.0))?;
                    if !policy_names.insert(p.full_name()) {
                        return Err(AnalysisError::object(
                            oref(),
                            format!("a second NetworkPolicy named {}", p.full_name()),
                        ));
                    }
                    ns_seen.insert(p.namespace.clone());
                    policies.push(p);
                }
                "Pod" => {
                    let shape = pod_shape(obj, "/metadata/labels", "/spec", &oref)?;
                    let (owner_kind, owner_name) =
                        controller_owner(obj).unwrap_or(("Pod".into(), name()?));
                    ns_seen.insert(namespace.clone());
                    endpoints
                        .entry((namespace, owner_name, owner_kind))
                        .or_default()
                        .insert(shape);
                }
                _ => {
                    if let Some((_, template)) = WORKLOAD_KINDS.iter().find(|(k, _)| *k == kind) {
                        let shape = pod_shape(
                            obj,
                            &format!("{template}/metadata/labels"),
                            &format!("{template}/spec"),
                            &oref,
                        )?;
                        ns_seen.insert(namespace.clone());
                        endpoints
                            .entry((namespace, name()?, kind.to_string()))
                            .or_default()
                            .insert(shape);
                    }
                }
            }
        }
        for n in ns_seen {
            ns_labels.entry(n).or_default();
        }
        let namespaces: Vec<Namespace> = ns_labels
            .into_iter()
            .map(|(name, mut labels)| {
                labels
                    .entry(NAMESPACE_NAME_LABEL.to_string())
                    .or_insert_with(|| name.clone());
                Namespace { name, labels }
            })
            .collect();
        let with_workloads: BTreeSet<&str> =
            endpoints.keys().map(|(ns, _, _)| ns.as_str()).collect();
        let want_reps = match reps {
            Representatives::Auto => endpoints.is_empty(),
            Representatives::EmptyNamespaces => true,
            Representatives::Never => false,
        };
        let mut list: Vec<Endpoint> = Vec::new();
        if want_reps {
            for ns in &namespaces {
                if !with_workloads.contains(ns.name.as_str()) {
                    list.push(Endpoint {
                        namespace: ns.name.clone(),
                        name: "*".into(),
                        kind: "Namespace".into(),
                        shapes: vec![PodShape {
                            labels: Labels::new(),
                            ports: Vec::new(),
                        }],
                        representative: true,
                    });
                }
            }
        }
        for ((namespace, name, kind), shapes) in endpoints {
            list.push(Endpoint {
                namespace,
                name,
                kind,
                shapes: shapes.into_iter().collect(),
                representative: false,
            });
        }
        list.sort_by_cached_key(Endpoint::display_name);
        Ok(Inventory {
            namespaces,
            endpoints: list,
            policies,
        })
    }

    /// The namespace called `name`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }
}

fn labels_at(obj: &Value, pointer: &str) -> Labels {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), scalar_string(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn controller_owner(obj: &Value) -> Option<(String, String)> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind == "Node" {
        return None;
    }
    let name = owner.get("name").and_then(Value::as_str)?;
    let kind = if kind.is_empty() { "Pod" } else { kind };
    Some((kind.to_string(), name.to_string()))
}

fn pod_shape(
    obj: &Value,
    labels_pointer: &str,
    spec_pointer: &str,
    oref: &dyn Fn() -> ObjectRef,
) -> Result<PodShape, AnalysisError> {
    let labels = labels_at(obj, labels_pointer);
    let mut ports = Vec::new();
    let containers = obj
        .pointer(&format!("{spec_pointer}/containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (ci, c) in containers.iter().enumerate() {
        let Some(list) = c.get("ports").and_then(Value::as_array) else {
            continue;
        };
        for (pi, p) in list.iter().enumerate() {
            let at = format!("containers[{ci}].ports[{pi}]");
            let Some(number) = p.get("containerPort").filter(|v| !v.is_null()) else {
                // The API server would reject it; Go readers match keys case-insensitively
                // and may read a misspelt `containerport`. Nothing can resolve to it here.
                tracing::warn!("{}: {at} has no containerPort; ignored", oref().description);
                continue;
            };
            let number = Some(number)
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .filter(|&n| (1..=65535).contains(&n))
                .ok_or_else(|| {
                    AnalysisError::object(
                        oref(),
                        format!("{at}.containerPort is not a port number"),
                    )
                })?;
            let protocol = match p.get("protocol").and_then(Value::as_str) {
                None => Protocol::Tcp,
                Some(s) => Protocol::parse(s).ok_or_else(|| {
                    AnalysisError::object(
                        oref(),
                        format!("{at}.protocol `{s}` is not TCP, UDP or SCTP"),
                    )
                })?,
            };
            ports.push(ContainerPort {
                name: p.get("name").and_then(Value::as_str).map(str::to_string),
                port: number as u16,
                protocol,
            });
        }
    }
    Ok(PodShape { labels, ports })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_group_under_their_controller() {
        let objs = [
            json!({"kind": "Pod", "metadata": {"name": "a-1", "namespace": "x", "labels": {"app": "a"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "a-77", "controller": true}]}}),
            json!({"kind": "Pod", "metadata": {"name": "a-2", "namespace": "x", "labels": {"app": "a"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "a-77", "controller": true}]}}),
            json!({"kind": "Pod", "metadata": {"name": "static", "namespace": "x",
                "ownerReferences": [{"kind": "Node", "name": "n1", "controller": true}]}}),
            json!({"kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"template": {"metadata": {"labels": {"app": "web", "n": 1}},
                "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]}}}}),
            json!({"kind": "CronJob", "metadata": {"name": "nightly", "namespace": "x"},
                "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"job": "n"}}}}}}}),
            json!({"kind": "Service", "metadata": {"name": "ignored"}}),
        ];
        let inv = Inventory::from_objects(&objs).unwrap();
        let names: Vec<String> = inv.endpoints.iter().map(Endpoint::display_name).collect();
        assert_eq!(
            names,
            [
                "default/web[Deployment]",
                "x/a-77[ReplicaSet]",
                "x/nightly[CronJob]",
                "x/static[Pod]"
            ]
        );
        let web = &inv.endpoints[0];
        assert_eq!(web.shapes[0].labels["n"], "1");
        assert_eq!(
            web.shapes[0].named_port("http"),
            Some((Protocol::Tcp, 8080))
        );
        assert_eq!(
            inv.endpoints[1].shapes.len(),
            1,
            "identical pods are one variant"
        );
        assert_eq!(
            inv.namespace("x").unwrap().labels[NAMESPACE_NAME_LABEL],
            "x"
        );
    }

    #[test]
    fn representatives_only_where_asked() {
        let objs = [
            json!({"kind": "Namespace", "metadata": {"name": "a", "labels": {"zone": "z"}}}),
            json!({"kind": "Namespace", "metadata": {"name": "b"}}),
        ];
        let inv = Inventory::from_objects(&objs).unwrap();
        let names: Vec<String> = inv.endpoints.iter().map(Endpoint::display_name).collect();
        assert_eq!(names, ["a/*[Namespace]", "b/*[Namespace]"]);
        assert!(inv.endpoints[0].shapes[0].labels.is_empty());

        let mut with_pod = objs.to_vec();
        with_pod.push(json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}));
        let auto = Inventory::from_objects(&with_pod).unwrap();
        assert_eq!(
            auto.endpoints.len(),
            1,
            "auto: real workloads only once any exist"
        );
        let each =
            Inventory::from_objects_with(&with_pod, Representatives::EmptyNamespaces).unwrap();
        let names: Vec<String> = each.endpoints.iter().map(Endpoint::display_name).collect();
        assert_eq!(names, ["a/p[Pod]", "b/*[Namespace]"]);
        let never = Inventory::from_objects_with(&objs, Representatives::Never).unwrap();
        assert!(never.endpoints.is_empty());
    }

    #[test]
    fn bad_objects_are_named() {
        let objs = [
            json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "n"},
            "spec": {"template": {"spec": {"containers": [{"ports": [{"containerPort": 0}]}]}}}}),
        ];
        let e = Inventory::from_objects(&objs).unwrap_err().to_string();
        assert!(
            e.contains("Deployment n/web") && e.contains("containerPort"),
            "{e}"
        );
    }
}
