//! The boundary between segplan's diff/apply logic and a Kubernetes API server.
//!
//! [`ClusterApi`] is all the logic needs: discovery of a group, paginated lists, server-side
//! apply (optionally dry-run and forced) and delete with a precondition. The real
//! implementation is [`super::kube::KubeCluster`]; tests stand in with an in-memory one.

use std::future::Future;

use serde_json::Value;

use super::kinds::KindSpec;

/// A failed request, as the logic needs to tell failures apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a `metav1.Status` failure.
    #[error("{}", status_text(*code, reason, message))]
    Status {
        code: u16,
        reason: String,
        message: String,
        /// For a 409 apply conflict: the other field managers named by the server.
        managers: Vec<String>,
    },
    /// The server could not be reached or the connection broke.
    #[error("{0}")]
    Transport(String),
    /// The request did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}

fn status_text(code: u16, reason: &str, message: &str) -> String {
    let what = match code {
        401 => "unauthorized (bad or expired credentials)",
        403 => "forbidden",
        404 => "not found",
        409 => "conflict",
        422 => "invalid",
        500..=599 => "server error",
        _ => "request failed",
    };
    let mut s = format!("{what} (HTTP {code}");
    if !reason.is_empty() {
        s.push_str(&format!(", {reason}"));
    }
    s.push(')');
    if !message.is_empty() {
        s.push_str(&format!(": {message}"));
    }
    s
}

impl ApiError {
    /// The HTTP status code, when the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            ApiError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// Whether this is a server-side apply conflict (409 with managers named).
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }
}

/// `field manager "a"` or `field managers "a", "b"`, as conflict messages name them.
pub fn field_managers(managers: &[String]) -> String {
    let names: Vec<String> = managers.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "field manager{} {}",
        if managers.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

/// Extracts the field managers named in a server-side apply conflict message, e.g.
/// `Apply failed with 1 conflict: conflict with "kubectl" using v1: .spec.x`.
pub fn conflict_managers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("conflict with \"") {
        rest = &rest[i + "conflict with \"".len()..];
        if let Some(j) = rest.find('"') {
            let m = rest[..j].to_string();
            if !out.contains(&m) {
                out.push(m);
            }
            rest = &rest[j..];
        } else {
            break;
        }
    }
    out
}

/// Options of one server-side apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `dryRun=All`: the server computes the result and persists nothing.
    pub dry_run: bool,
    /// `force=true`: take ownership of conflicting fields.
    pub force: bool,
}

/// What segplan needs from one cluster's API server.
pub trait ClusterApi: Send + Sync + 'static {
    /// The resources (plural names) served under `api_version`, or `None` when the group or
    /// version is not served (a CRD is not installed).
    fn resources(
        &self,
        api_version: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, ApiError>> + Send;

    /// Every object of `kind` (in `namespace`, or cluster-wide), optionally filtered by a label
    /// selector; the implementation follows `continue` tokens until the list is complete.
    fn list(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Value>, ApiError>> + Send;

    /// Server-side apply of `object` with field manager `segplan`; returns the resulting object.
    fn apply(
        &self,
        kind: &KindSpec,
        object: &Value,
        options: ApplyOptions,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// Deletes an object, only if its `resourceVersion` is still `resource_version`.
    fn delete(
        &self,
        kind: &KindSpec,
        namespace: Option<&str>,
        name: &str,
        resource_version: Option<&str>,
        dry_run: bool,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managers_from_conflict_messages() {
        let m = "Apply failed with 2 conflicts: conflict with \"kubectl-edit\" using networking.k8s.io/v1: .spec.ingress, conflict with \"helm\": .metadata.labels.x, conflict with \"kubectl-edit\": .spec.egress";
        assert_eq!(conflict_managers(m), vec!["kubectl-edit", "helm"]);
        assert!(conflict_managers("nothing").is_empty());
    }

    #[test]
    fn status_errors_read_well() {
        let e = ApiError::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "networkpolicies is forbidden in namespace payments".into(),
            managers: vec![],
        };
        assert_eq!(
            e.to_string(),
            "forbidden (HTTP 403, Forbidden): networkpolicies is forbidden in namespace payments"
        );
        assert!(!e.is_not_found());
    }
}
