//! The resource table: which group/version/resources the server serves, and
//! the discovery documents (`/api`, `/apis`, per-group resource lists, and the
//! aggregated `apidiscovery.k8s.io/v2` form) built from it.

use serde_json::{Value, json};

/// One served resource (a group/version/plural), as the API server knows it.
#[derive(Debug)]
pub struct ResourceDef {
    /// API group; `""` for the core group.
    pub group: &'static str,
    /// Version, e.g. `v1`.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular resource name.
    pub singular: &'static str,
    /// Kind of a single object.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names advertised by discovery.
    pub short_names: &'static [&'static str],
    /// Served through a CustomResourceDefinition (Istio), toggled at run time.
    pub crd: bool,
    /// Whether `metadata.generation` is maintained for this kind.
    pub has_generation: bool,
    /// Discovery categories.
    pub categories: &'static [&'static str],
}

impl ResourceDef {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The qualified resource used in error messages: `networkpolicies.networking.k8s.io`.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The qualified kind used in `Invalid` messages: `NetworkPolicy.networking.k8s.io`.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// Every resource the server knows, in discovery order.
pub static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        crd: false,
        has_generation: false,
        categories: NONE,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        crd: false,
        has_generation: false,
        categories: ALL,
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        plural: "daemonsets",
        singular: "daemonset",
        kind: "DaemonSet",
        namespaced: true,
        short_names: &["ds"],
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "apps",
        version: "v1",
        plural: "statefulsets",
        singular: "statefulset",
        kind: "StatefulSet",
        namespaced: true,
        short_names: &["sts"],
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "batch",
        version: "v1",
        plural: "cronjobs",
        singular: "cronjob",
        kind: "CronJob",
        namespaced: true,
        short_names: &["cj"],
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short_names: NONE,
        crd: false,
        has_generation: true,
        categories: ALL,
    },
    ResourceDef {
        group: "networking.k8s.io",
        version: "v1",
        plural: "networkpolicies",
        singular: "networkpolicy",
        kind: "NetworkPolicy",
        namespaced: true,
        short_names: &["netpol"],
        crd: false,
        has_generation: true,
        categories: NONE,
    },
    ResourceDef {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicies",
        singular: "validatingadmissionpolicy",
        kind: "ValidatingAdmissionPolicy",
        namespaced: false,
        short_names: &["vap"],
        crd: false,
        has_generation: true,
        categories: &["api-extensions"],
    },
    ResourceDef {
        group: "admissionregistration.k8s.io",
        version: "v1",
        plural: "validatingadmissionpolicybindings",
        singular: "validatingadmissionpolicybinding",
        kind: "ValidatingAdmissionPolicyBinding",
        namespaced: false,
        short_names: &["vapb"],
        crd: false,
        has_generation: true,
        categories: &["api-extensions"],
    },
    ResourceDef {
        group: "security.istio.io",
        version: "v1",
        plural: "authorizationpolicies",
        singular: "authorizationpolicy",
        kind: "AuthorizationPolicy",
        namespaced: true,
        short_names: &["ap"],
        crd: true,
        has_generation: true,
        categories: &["istio-io", "security-istio-io"],
    },
    ResourceDef {
        group: "security.istio.io",
        version: "v1",
        plural: "peerauthentications",
        singular: "peerauthentication",
        kind: "PeerAuthentication",
        namespaced: true,
        short_names: &["pa"],
        crd: true,
        has_generation: true,
        categories: &["istio-io", "security-istio-io"],
    },
];

/// Index of a resource in [`RESOURCES`].
pub type ResId = usize;

/// Finds a served resource by group, version and plural (CRDs only when installed).
pub fn find(group: &str, version: &str, plural: &str, crds: bool) -> Option<ResId> {
    RESOURCES.iter().position(|r| {
        r.group == group && r.version == version && r.plural == plural && (crds || !r.crd)
    })
}

/// Finds a resource by `apiVersion` and `kind`.
pub fn find_kind(api_version: &str, kind: &str) -> Option<ResId> {
    RESOURCES
        .iter()
        .position(|r| r.api_version() == api_version && r.kind == kind)
}

/// Whether a group/version is served at all (used to answer unknown paths like kube-apiserver).
pub fn group_version_served(group: &str, version: &str, crds: bool) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version && (crds || !r.crd))
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn resource_entry(r: &ResourceDef) -> Value {
    let mut v = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": VERBS,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    v
}

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `GET /api` (legacy form).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

/// Distinct non-core groups in table order, with their versions.
fn groups(crds: bool) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| !r.group.is_empty() && (crds || !r.crd))
    {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// `GET /apis` (legacy form).
pub fn group_list(crds: bool) -> Value {
    let groups: Vec<Value> = groups(crds)
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1` or `GET /apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str, crds: bool) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && (crds || !r.crd))
        .map(resource_entry)
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn aggregated_group(group: &str, version: &str, crds: bool) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version && (crds || !r.crd))
        .map(|r| {
            let mut v = json!({
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": VERBS,
            });
            if !r.short_names.is_empty() {
                v["shortNames"] = json!(r.short_names);
            }
            if !r.categories.is_empty() {
                v["categories"] = json!(r.categories);
            }
            v
        })
        .collect();
    json!({
        "metadata": {"name": group, "creationTimestamp": null},
        "versions": [{"version": version, "resources": resources, "freshness": "Current"}]
    })
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`) for `/api` (`core = true`) or `/apis`.
pub fn aggregated(core: bool, crds: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![aggregated_group("", "v1", crds)]
    } else {
        groups(crds)
            .into_iter()
            .map(|(g, v)| aggregated_group(g, v, crds))
            .collect()
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

/// The content type of an aggregated discovery response.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.first() == Some(&"application/json")
            && params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}
