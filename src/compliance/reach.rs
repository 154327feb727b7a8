//! The reachability adapter: what the compliance checks need to know about one cluster's
//! plan, independent of how it is computed.
//!
//! A [`ClusterView`] holds, for every managed namespace (a representative pod standing for
//! "any pod of the namespace"), which directions its policies isolate and three edge sets:
//! what its egress policies admit ([`ClusterView::egress_side`]), what its ingress policies
//! admit ([`ClusterView::ingress_side`]) and what both sides together allow
//! ([`ClusterView::both`]). Checks read only this; [`Reachability`] produces it.
//! [`super::planreach::PlanReach`] is the implementation used by `segplan check`.

use std::collections::BTreeMap;

use super::net::{Conns, IpRange};
use crate::render::RenderedCluster;

/// One end of an edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// The representative pod of a namespace ("any pod of it").
    Namespace(String),
    /// A known pod outside the managed namespaces (the cluster DNS pods in kube-system).
    Pod { namespace: String, name: String },
    /// Addresses outside the cluster.
    External(IpRange),
}

impl Node {
    /// The namespace of a pod or representative.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Node::Namespace(n) | Node::Pod { namespace: n, .. } => Some(n),
            Node::External(_) => None,
        }
    }

    /// The external range, if this is one.
    pub fn external(&self) -> Option<&IpRange> {
        match self {
            Node::External(r) => Some(r),
            _ => None,
        }
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Namespace(n) => write!(f, "namespace {n}"),
            Node::Pod { namespace, name } => write!(f, "pod {namespace}/{name}"),
            Node::External(r) => write!(f, "external {r}"),
        }
    }
}

/// An allowed connection between two nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub src: Node,
    pub dst: Node,
    /// What is allowed (never empty).
    pub conns: Conns,
    /// `namespace/name` of the policies whose rules allow it, sorted. Empty when the side
    /// is not isolated at all (everything is allowed by default).
    pub policies: Vec<String>,
}

/// Which directions a namespace's policies isolate, and by which policies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Isolation {
    /// Policies isolating ingress of every pod (empty: ingress is open).
    pub ingress: Vec<String>,
    /// Policies isolating egress of every pod (empty: egress is open).
    pub egress: Vec<String>,
}

/// The reachability facts of one cluster's plan.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub cluster: String,
    pub environment: String,
    /// Managed namespaces (those the plan holds a Namespace object for), in name order.
    pub namespaces: Vec<String>,
    pub isolation: BTreeMap<String, Isolation>,
    /// What each managed namespace's egress policies admit, whatever the receiver says.
    pub egress_side: Vec<Edge>,
    /// What each managed namespace's ingress policies admit, whatever the sender says.
    pub ingress_side: Vec<Edge>,
    /// What both sides allow (external ranges are never isolated).
    pub both: Vec<Edge>,
    /// `namespace/name` -> the topology lines in its `segplan.io/source` annotation.
    pub sources: BTreeMap<String, String>,
}

/// Why a cluster's plan cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum ReachError {
    /// A rendered NetworkPolicy has a shape the analysis does not understand.
    #[error("cluster {cluster}: NetworkPolicy {policy}: {message}")]
    Policy {
        cluster: String,
        policy: String,
        message: String,
    },
}

/// Computes the [`ClusterView`] of a rendered cluster.
pub trait Reachability {
    /// `cuts` are address ranges the external ranges must be split at (known cluster CIDRs,
    /// private ranges), so each external range classifies cleanly.
    fn view(&self, cluster: &RenderedCluster, cuts: &[IpRange]) -> Result<ClusterView, ReachError>;
}
