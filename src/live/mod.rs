//! Live clusters: read them, diff them against the rendered plan, apply the plan, prune.
//!
//! The layers, from pure to I/O:
//!
//! * [`kinds`]: the kinds segplan renders, object keys, ownership labels;
//! * [`compare`]: the one comparison diff and apply share (subset match plus removals read
//!   from segplan's `managedFields`);
//! * [`diff`]: one cluster's diff, over the [`api::ClusterApi`] trait;
//! * [`effect`]: whether a differing policy widens or narrows access (the analysis engine);
//! * [`apply`]: ordering, prune rules and execution of one cluster's apply;
//! * [`hash`]: the plan hash that approvals refer to;
//! * [`format`]: text, JSON and markdown renderings of a diff;
//! * [`kube`]: the real [`api::ClusterApi`] over kube-rs, and kubeconfig handling;
//! * [`run`]: every cluster of an environment, concurrently, each with its own timeout.
//!
//! No templates and no git here; the CLI is the only place that prints.

pub mod api;
pub mod apply;
pub mod compare;
pub mod diff;
pub mod effect;
pub mod format;
pub mod hash;
pub mod kinds;
pub mod kube;
#[cfg(test)]
pub(crate) mod memory;
pub mod run;

use std::time::Duration;

pub use api::{ApiError, ApplyOptions, ClusterApi};
pub use diff::{Change, ClusterDiff, ClusterPlan, DiffOptions, Effect, ObjectDiff, diff_cluster};

/// Why a cluster could not be diffed or applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LiveError {
    /// The kubeconfig could not be read or does not hold the context.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The context's server is not the cluster's declared `api_server`.
    #[error(
        "context `{context}` points at {actual}, but the topology declares api_server = {expected}; refusing to touch the wrong cluster"
    )]
    WrongCluster {
        context: String,
        expected: String,
        actual: String,
    },
    /// A request failed.
    #[error("{during}: {error}")]
    Api { during: String, error: ApiError },
    /// The cluster did not finish in time.
    #[error("timed out after {}s", .0.as_secs_f64())]
    Timeout(Duration),
    /// A rendered object of a kind the live layer does not know.
    #[error("rendered object {kind} {name} ({api_version}) is not a kind segplan applies")]
    UnknownKind {
        api_version: String,
        kind: String,
        name: String,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LiveError {
    /// A failed request with what segplan was doing.
    pub fn api(during: impl Into<String>, error: ApiError) -> Self {
        LiveError::Api {
            during: during.into(),
            error,
        }
    }
}

/// Installs rustls' ring crypto provider once, if none is installed (kube's rustls build
/// panics without one).
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
