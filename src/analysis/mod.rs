//! Reachability analysis: from NetworkPolicies alone, which endpoints may reach which, on
//! which protocols and ports, and how two such results differ.
//!
//! Everything here is pure except [`load`], which reads a directory of manifests.
//!
//! # API
//!
//! ```no_run
//! use segplan::analysis::{self, Inventory};
//! # fn objects() -> Vec<serde_json::Value> { Vec::new() }
//! // 1. An inventory from plain Kubernetes objects (Namespaces, Pods, workloads, policies).
//! let inventory = Inventory::from_objects(&objects())?;
//! // 2. Every allowed connection `src => dst : conns`, with the policies behind each side.
//! let result = analysis::analyze(&inventory);
//! for c in &result.connections {
//!     println!("{} => {} : {}", result.peer_name(&c.src), result.peer_name(&c.dst), c.conns);
//! }
//! // 3. Namespace to namespace, and to/from external ranges (for `verify` and `graph`).
//! let summary = analysis::summarize(&result);
//! // 4. What changed between two results (for `review` and `diff`).
//! let changes = analysis::compare(&result, &result);
//! assert!(changes.is_empty());
//! # let _ = summary;
//! # Ok::<(), analysis::AnalysisError>(())
//! ```
//!
//! * [`Inventory::from_objects`] / [`Inventory::from_objects_with`] build the input; see
//!   [`inventory`] for how workloads become endpoints and how a namespace without workloads
//!   gets a representative endpoint ([`Representatives`]).
//! * [`analyze`] computes a [`Connectivity`]: endpoints, policy names, and
//!   [`Connection`]s, each with the [`Side`] verdicts (isolated or not, and which policies
//!   allow it) of the source's egress and the destination's ingress.
//! * [`summarize`] folds it into a [`NamespaceSummary`].
//! * [`compare`] gives a [`ConnectivityDiff`]: connections opened, closed or changed.
//! * [`format`] prints a result or a diff as text, JSON, CSV, Markdown or DOT.
//!
//! # Semantics
//!
//! networking.k8s.io/v1 as the API server defines it (see [`policy`] for the defaults):
//! isolation per direction, union of rules across policies, both sides must allow, and
//! external ranges split at every CIDR boundary a policy mentions. Output conventions follow
//! np-guard's netpol-analyzer, the outside judge in `tests/conformance/`: a workload's
//! connection to itself is not listed, ipBlocks never match pods, IPv4 ranges only unless a
//! policy names an IPv6 block.

pub mod diff;
mod engine;
pub mod format;
pub mod inventory;
pub mod ip;
pub mod load;
pub mod policy;
pub mod ports;
pub mod selector;
pub mod sides;
mod summary;

pub use diff::{Change, ChangeKind, ConnectivityDiff, compare};
pub use engine::{Connection, Connectivity, Peer, Side, analyze};
pub use inventory::{Endpoint, Inventory, Namespace, Representatives};
pub use ports::{ConnSet, PortSet, Protocol};
pub use summary::{ExternalFlow, NamespaceFlow, NamespaceSummary, summarize};

/// The object an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its position in the input slice.
    pub index: usize,
    /// `Kind namespace/name` (or as much of it as is known).
    pub description: String,
}

impl ObjectRef {
    pub(crate) fn of(index: usize, obj: &serde_json::Value) -> Self {
        let s = |p: &str| obj.pointer(p).and_then(serde_json::Value::as_str);
        let kind = s("/kind").unwrap_or("object");
        let name = s("/metadata/name").unwrap_or("<unnamed>");
        let description = match (kind, s("/metadata/namespace")) {
            ("Namespace", _) => format!("Namespace {name}"),
            (_, Some(ns)) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
            _ => format!("{kind} {name}"),
        };
        Self { index, description }
    }
}

/// Why objects cannot be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// One object is invalid.
    #[error("{}: {message}", object.description)]
    Object {
        /// Which object.
        object: ObjectRef,
        /// What is wrong, with the field path.
        message: String,
    },
}

impl AnalysisError {
    pub(crate) fn object(object: ObjectRef, message: impl Into<String>) -> Self {
        AnalysisError::Object {
            object,
            message: message.into(),
        }
    }

    /// The index of the offending object in the input.
    pub fn index(&self) -> usize {
        match self {
            AnalysisError::Object { object, .. } => object.index,
        }
    }
}
