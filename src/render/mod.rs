//! Rendering: the model becomes each cluster's plan (decided in Rust, [`plan`]) and the plan
//! becomes Kubernetes manifests through Tera templates ([`templates`]).
//!
//! The output is deterministic: clusters, namespaces and objects come in name order, and the
//! same topology gives the same bytes on every run and machine.

use std::collections::BTreeMap;

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `apiVersion`, e.g. `networking.k8s.io/v1`.
    pub api_version: String,
    /// `kind`, e.g. `NetworkPolicy`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The YAML document exactly as rendered (no leading `---`), ending with a newline.
    pub yaml: String,
    /// The same document parsed back into JSON.
    pub value: serde_json::Value,
}

impl Manifest {
    /// The path of this object inside its cluster's folder:
    /// `<namespace or _cluster>/<kind>-<name>.yaml`, lowercased kind.
    pub fn file_path(&self) -> String {
        format!(
            "{}/{}-{}.yaml",
            self.namespace.as_deref().unwrap_or("_cluster"),
            self.kind.to_ascii_lowercase(),
            self.name
        )
    }
}

/// Every object of one cluster, in apply order within each namespace (Namespace first).
#[derive(Debug, Clone)]
pub struct RenderedCluster {
    pub name: String,
    pub environment: String,
    pub manifests: Vec<Manifest>,
}

impl RenderedCluster {
    /// The cluster's files (relative path -> bytes), including its `kustomization.yaml`,
    /// exactly as `render --out` and `commit` lay them out under `<cluster>/`.
    pub fn files(&self) -> BTreeMap<String, String> {
        let mut files: BTreeMap<String, String> = self
            .manifests
            .iter()
            .map(|m| (m.file_path(), m.yaml.clone()))
            .collect();
        let mut k = String::from(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        for path in files.keys() {
            k.push_str(&format!("- {}\n", serde_json::Value::String(path.clone())));
        }
        files.insert("kustomization.yaml".to_string(), k);
        files
    }
}

/// The rendered plan of one environment.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub environment: String,
    /// Clusters in name order.
    pub clusters: Vec<RenderedCluster>,
}
