//! Writes kubeconfig files: one cluster, user (bearer token) and context per
//! entry, so one file can point at several test servers (several clusters).

use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

use super::KubeApi;

struct Entry {
    context: String,
    server: String,
    token: String,
    ca_pem: Option<String>,
    namespace: Option<String>,
}

/// A kubeconfig under construction.
#[derive(Default)]
pub struct Kubeconfig {
    entries: Vec<Entry>,
    current: Option<String>,
}

impl Kubeconfig {
    /// An empty kubeconfig.
    pub fn new() -> Self {
        Kubeconfig::default()
    }

    /// Adds a context (and its cluster and user) for `api`, authenticating with `token`.
    pub fn context(self, name: &str, api: &KubeApi, token: &str) -> Self {
        let ca = api.ca_pem().map(String::from);
        self.push(name, api.url(), token, ca)
    }

    /// Adds a context for an arbitrary server URL (e.g. a closed port, or a wrong cluster).
    pub fn context_url(self, name: &str, url: &str, token: &str) -> Self {
        self.push(name, url, token, None)
    }

    /// Sets the default namespace of the last added context.
    pub fn namespace(mut self, ns: &str) -> Self {
        if let Some(e) = self.entries.last_mut() {
            e.namespace = Some(ns.to_string());
        }
        self
    }

    /// Sets `current-context` (default: the first context).
    pub fn current(mut self, name: &str) -> Self {
        self.current = Some(name.to_string());
        self
    }

    fn push(mut self, name: &str, url: &str, token: &str, ca_pem: Option<String>) -> Self {
        self.entries.push(Entry {
            context: name.to_string(),
            server: url.to_string(),
            token: token.to_string(),
            ca_pem,
            namespace: None,
        });
        self
    }

    /// The kubeconfig as a JSON value.
    pub fn to_value(&self) -> Value {
        let clusters: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut cluster = json!({"server": e.server});
                if let Some(pem) = &e.ca_pem {
                    cluster["certificate-authority-data"] =
                        json!(base64::engine::general_purpose::STANDARD.encode(pem));
                }
                json!({"name": e.context, "cluster": cluster})
            })
            .collect();
        let users: Vec<Value> = self
            .entries
            .iter()
            .map(|e| json!({"name": format!("{}-user", e.context), "user": {"token": e.token}}))
            .collect();
        let contexts: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut ctx = json!({"cluster": e.context, "user": format!("{}-user", e.context)});
                if let Some(ns) = &e.namespace {
                    ctx["namespace"] = json!(ns);
                }
                json!({"name": e.context, "context": ctx})
            })
            .collect();
        let current = self
            .current
            .clone()
            .or_else(|| self.entries.first().map(|e| e.context.clone()))
            .unwrap_or_default();
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": clusters,
            "users": users,
            "contexts": contexts,
            "current-context": current,
        })
    }

    /// The kubeconfig as YAML.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(&self.to_value()).expect("kubeconfig serialises")
    }

    /// Writes the kubeconfig to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_yaml())
    }
}
