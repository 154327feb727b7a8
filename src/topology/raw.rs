//! The TOML shapes of `segplan.toml` and `<env>.toml`, exactly as users write them.
//!
//! Every value a later check may point at is `Spanned`, so diagnostics name the file, line and
//! column. Nothing here is validated beyond its TOML type: that is the model's job.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A value with its byte span in the file.
pub type S<T> = Spanned<T>;
/// A table of named items. Keys are plain strings (serde_ignored cannot see spanned keys);
/// [`crate::topology::keyed`] recovers each key's span from its value's.
pub type Map<V> = BTreeMap<String, S<V>>;

/// `segplan.toml`.
#[derive(Debug, Deserialize, Default)]
pub struct ProjectFile {
    pub project: Option<S<ProjectSection>>,
    #[serde(default)]
    pub zones: Map<Zone>,
    #[serde(default)]
    pub flows: Vec<S<Flow>>,
    #[serde(default)]
    pub profiles: Map<Profile>,
    #[serde(default)]
    pub exemptions: Vec<S<Exemption>>,
}

/// `[project]`.
#[derive(Debug, Deserialize, Default)]
pub struct ProjectSection {
    pub name: Option<S<String>>,
    /// A directory of templates that override the embedded ones, relative to the topology dir.
    pub templates: Option<S<String>>,
    /// Labels for the DNS pods in kube-system (default `k8s-app = "kube-dns"`).
    pub dns_pod_labels: Option<S<BTreeMap<String, S<String>>>>,
}

/// `[zones.<name>]`.
#[derive(Debug, Deserialize, Default)]
pub struct Zone {
    pub description: Option<S<String>>,
    pub sensitivity: Option<S<String>>,
    #[serde(default)]
    pub internet_ingress: Vec<S<String>>,
    pub internet_egress: Option<S<bool>>,
    /// Whether pods of one namespace of this zone may talk to each other (default true).
    pub same_namespace: Option<S<bool>>,
}

/// `[[flows]]`.
#[derive(Debug, Deserialize)]
pub struct Flow {
    pub from: S<String>,
    pub to: S<String>,
    #[serde(default)]
    pub ports: Vec<S<String>>,
    pub reason: Option<S<String>>,
}

/// A user-defined compliance profile.
#[derive(Debug, Deserialize, Default)]
pub struct Profile {
    pub description: Option<S<String>>,
    /// Built-in profiles whose rules this profile includes.
    #[serde(default)]
    pub extends: Vec<S<String>>,
    #[serde(default)]
    pub rules: Vec<S<ProfileRule>>,
}

/// A rule of a user-defined profile: a built-in check, given an id and a control of the user's.
#[derive(Debug, Deserialize)]
pub struct ProfileRule {
    pub id: S<String>,
    pub check: S<String>,
    pub control: Option<S<String>>,
    pub severity: Option<S<String>>,
    pub description: Option<S<String>>,
}

/// Switching a rule off, with a written justification the report shows.
#[derive(Debug, Deserialize)]
pub struct Exemption {
    pub rule: S<String>,
    pub justification: S<String>,
    pub namespace: Option<S<String>>,
    pub environment: Option<S<String>>,
}

/// `environments/<env>.toml`.
#[derive(Debug, Deserialize, Default)]
pub struct EnvFile {
    pub environment: Option<S<EnvironmentSection>>,
    #[serde(default)]
    pub clusters: Map<Cluster>,
    #[serde(default)]
    pub namespaces: Map<Namespace>,
    #[serde(default)]
    pub mesh_rules: Vec<S<MeshRule>>,
    #[serde(default)]
    pub cross_cluster_flows: Vec<S<CrossClusterFlow>>,
}

/// `[environment]`.
#[derive(Debug, Deserialize, Default)]
pub struct EnvironmentSection {
    pub kind: Option<S<String>>,
    #[serde(default)]
    pub compliance: Vec<S<String>>,
    pub description: Option<S<String>>,
}

/// `[clusters.<name>]`.
#[derive(Debug, Deserialize, Default)]
pub struct Cluster {
    pub context: Option<S<String>>,
    pub api_server: Option<S<String>>,
    pub pod_cidr: Option<S<String>>,
    pub node_cidr: Option<S<String>>,
    pub service_cidr: Option<S<String>>,
    pub mesh: Option<S<String>>,
    #[serde(default)]
    pub node_pools: Map<NodePool>,
}

/// `[clusters.<cluster>.node_pools.<name>]`.
#[derive(Debug, Deserialize, Default)]
pub struct NodePool {
    #[serde(default)]
    pub labels: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub taints: Vec<S<Taint>>,
}

/// One of a node pool's `taints`.
#[derive(Debug, Deserialize)]
pub struct Taint {
    pub key: S<String>,
    pub value: Option<S<String>>,
    pub effect: S<String>,
}

/// `[namespaces.<name>]`.
#[derive(Debug, Deserialize, Default)]
pub struct Namespace {
    pub zone: Option<S<String>>,
    pub team: Option<S<String>>,
    #[serde(default)]
    pub compliance: Vec<S<String>>,
    pub node_pool: Option<S<String>>,
    pub clusters: Option<S<Vec<S<String>>>>,
    #[serde(default)]
    pub service_accounts: Vec<S<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, S<String>>,
}

/// `[[mesh_rules]]`.
#[derive(Debug, Deserialize)]
pub struct MeshRule {
    pub name: Option<S<String>>,
    pub namespace: S<String>,
    #[serde(default)]
    pub workload: BTreeMap<String, S<String>>,
    #[serde(default)]
    pub from: Vec<S<String>>,
    #[serde(default)]
    pub methods: Vec<S<String>>,
    #[serde(default)]
    pub paths: Vec<S<String>>,
    #[serde(default)]
    pub ports: Vec<S<String>>,
}

/// `[[cross_cluster_flows]]`.
#[derive(Debug, Deserialize)]
pub struct CrossClusterFlow {
    pub from: S<Endpoint>,
    pub to: S<Endpoint>,
    #[serde(default)]
    pub ports: Vec<S<String>>,
    pub reason: Option<S<String>>,
}

/// One end of a cross-cluster flow: `{ environment, cluster, zone }`.
#[derive(Debug, Deserialize)]
pub struct Endpoint {
    pub environment: Option<S<String>>,
    pub cluster: Option<S<String>>,
    pub zone: S<String>,
}
