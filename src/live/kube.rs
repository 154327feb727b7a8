//! The real [`ClusterApi`]: kube-rs over the cluster's kubeconfig context.
//!
//! The kubeconfig comes from `--kubeconfig`, then `KUBECONFIG` (a list of files, merged as
//! kubectl does), then `~/.kube/config`. The cluster's `context` selects server and user; exec
//! credential plugins and client certificates work as kube-rs supports them. If the cluster
//! declares `api_server`, the context's server URL must match it ([`server_matches`]) or the
//! cluster is refused before any request. TLS is always verified: a kubeconfig's
//! `insecure-skip-tls-verify` is ignored with a warning.

use std::path::Path;
use std::time::Duration;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, Preconditions,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

use super::LiveError;
use super::api::{ApiError, ApplyOptions, ClusterApi, conflict_managers};
use super::kinds::{FIELD_MANAGER, KindSpec};

/// Page size of list requests.
pub const PAGE_SIZE: u32 = 500;

/// Reads the kubeconfig: `explicit`, else `KUBECONFIG`, else `~/.kube/config`.
pub fn load_kubeconfig(explicit: Option<&Path>) -> Result<Kubeconfig, LiveError> {
    match explicit {
        Some(p) => Kubeconfig::read_from(p)
            .map_err(|e| LiveError::Kubeconfig(format!("{}: {e}", p.display()))),
        None => Kubeconfig::read().map_err(|e| LiveError::Kubeconfig(e.to_string())),
    }
}

/// The server URL a context points at, if the kubeconfig has that context and its cluster.
pub fn context_server(kubeconfig: &Kubeconfig, context: &str) -> Result<String, LiveError> {
    let ctx = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| {
            let known: Vec<&str> = kubeconfig
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            LiveError::Kubeconfig(format!(
                "no context `{context}` (contexts: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })?;
    kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| {
            LiveError::Kubeconfig(format!(
                "context `{context}` names cluster `{}`, which has no server",
                ctx.cluster
            ))
        })
}

/// Whether two API server URLs name the same endpoint (scheme, host, port; default ports
/// filled in, case and a trailing slash ignored).
pub fn server_matches(expected: &str, actual: &str) -> bool {
    fn norm(s: &str) -> Option<(String, String, u16, String)> {
        let (scheme, rest) = s.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().ok()?)),
            _ => (authority, None),
        };
        if host.is_empty() || !(scheme == "http" || scheme == "https") {
            return None;
        }
        let port = port.unwrap_or(if scheme == "http" { 80 } else { 443 });
        Some((
            scheme,
            host.to_ascii_lowercase(),
            port,
            path.trim_end_matches('/').to_string(),
        ))
    }
    match (norm(expected), norm(actual)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// One cluster's API through kube-rs.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
    timeout: Duration,
}

impl KubeCluster {
    /// Connects to `context` of `kubeconfig`, refusing it when `api_server` is set and differs.
    pub async fn connect(
        kubeconfig: &Kubeconfig,
        context: &str,
        api_server: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, LiveError> {
        super::install_crypto_provider();
        let server = context_server(kubeconfig, context)?;
        if let Some(expected) = api_server
            && !server_matches(expected, &server)
        {
            return Err(LiveError::WrongCluster {
                context: context.to_string(),
                expected: expected.to_string(),
                actual: server,
            });
        }
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .map_err(|e| LiveError::Kubeconfig(format!("context `{context}`: {e}")))?;
        if config.accept_invalid_certs {
            tracing::warn!(
                context,
                "the kubeconfig sets insecure-skip-tls-verify; segplan ignores it and verifies TLS"
            );
            config.accept_invalid_certs = false;
        }
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let client = kube::Client::try_from(config)
            .map_err(|e| LiveError::Kubeconfig(format!("context `{context}`: {e}")))?;
        Ok(Self { client, timeout })
    }

    fn api(&self, kind: &KindSpec, namespace: Option<&str>) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(kind.group, kind.version, kind.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, kind.plural);
        match namespace {
            Some(ns) if kind.namespaced => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        }
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(api_error),
            Err(_) => Err(ApiError::Timeout(self.timeout)),
        }
    }
}

/// Maps a kube error to what the logic distinguishes.
fn api_error(e: kube::Error) -> ApiError {
    match e {
        kube::Error::Api(s) => {
            let mut managers = conflict_managers(&s.message);
            if let Some(d) = &s.details {
                for c in &d.causes {
                    for m in conflict_managers(&c.message) {
                        if !managers.contains(&m) {
                            managers.push(m);
                        }
                    }
                }
            }
            ApiError::Status {
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
                managers,
            }
        }
        other => ApiError::Transport(describe_transport(&other)),
    }
}

/// A transport error with its causes, once each.
fn describe_transport(e: &kube::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn to_value(obj: DynamicObject) -> Result<Value, ApiError> {
    serde_json::to_value(obj).map_err(|e| ApiError::Transport(format!("decoding object: {e}")))
}

impl ClusterApi for KubeCluster {
    async fn resources(&self, api_version: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self
            .timed(self.client.list_api_group_resources(api_version))
            .await
        {
            Ok(list) => Ok(Some(list.resources.into_iter().map(|r| r.name).collect())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let api = self.api(kind, namespace);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(PAGE_SIZE);
            if let Some(s) = selector {
                lp = lp.labels(s);
            }
            if let Some(t) = &token {
                lp = lp.continue_token(t);
            }
            let page = self.timed(api.list(&lp)).await?;
            token = page.metadata.continue_.filter(|t| !t.is_empty());
            for item in page.items {
                out.push(to_value(item)?);
            }
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    async fn apply(
        &self,
        kind: &KindSpec,
        object: &Value,
        options: ApplyOptions,
    ) -> Result<Value, ApiError> {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let api = self.api(kind, namespace);
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        if options.force {
            pp = pp.force();
        }
        if options.dry_run {
            pp = pp.dry_run();
        }
        let obj = self
            .timed(api.patch(name, &pp, &Patch::Apply(object)))
            .await?;
        to_value(obj)
    }

    async fn delete(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let api = self.api(kind, namespace);
        let dp = DeleteParams {
            dry_run,
            preconditions: resource_version.map(|rv| Preconditions {
                resource_version: Some(rv.to_string()),
                uid: None,
            }),
            ..Default::default()
        };
        self.timed(api.delete(name, &dp)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_match_loosely_but_not_across_hosts() {
        assert!(server_matches(
            "https://a.example:6443",
            "https://A.example:6443/"
        ));
        assert!(server_matches("https://a.example", "https://a.example:443"));
        assert!(!server_matches(
            "https://a.example:6443",
            "https://b.example:6443"
        ));
        assert!(!server_matches(
            "https://a.example:6443",
            "http://a.example:6443"
        ));
        assert!(!server_matches(
            "https://a.example:6443",
            "https://a.example:6444"
        ));
        assert!(!server_matches("not a url", "not a url"));
    }

    #[test]
    fn contexts_resolve_to_servers() {
        let kc = Kubeconfig::from_yaml(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x:6443\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: secret-token\n",
        )
        .unwrap();
        assert_eq!(context_server(&kc, "ctx").unwrap(), "https://x:6443");
        let e = context_server(&kc, "nope").unwrap_err().to_string();
        assert!(e.contains("no context `nope`") && e.contains("ctx"), "{e}");
        assert!(!e.contains("secret-token"));
    }
}
