//! What every check reads: the model, the rendered plan and its reachability views, the
//! environments selected, and the scope a profile applies to.

use std::collections::{BTreeMap, BTreeSet};

use super::net::{Conns, IpRange};
use super::reach::{ClusterView, Edge, Node};
use super::types::SourceRef;
use crate::model::{
    Cluster, Environment, Model, Namespace, Origin, Zone, non_public_ranges, non_public_ranges_v6,
};
use crate::render::Rendered;

/// A check's raw result: one object that breaks the rule.
#[derive(Debug, Clone)]
pub struct Hit {
    pub environment: Option<String>,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub object: String,
    pub message: String,
    pub evidence: Vec<String>,
    pub source: Option<SourceRef>,
}

/// The namespaces and environments a rule applies to.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `None`: everything. Otherwise the compliance tags that put an object in scope.
    pub tags: Option<BTreeSet<String>>,
}

impl Scope {
    /// Everything.
    pub fn all() -> Self {
        Scope { tags: None }
    }

    /// Objects carrying one of these tags.
    pub fn tagged(tags: impl IntoIterator<Item = String>) -> Self {
        Scope {
            tags: Some(tags.into_iter().collect()),
        }
    }

    fn hit(&self, list: &[String]) -> bool {
        match &self.tags {
            None => true,
            Some(t) => list.iter().any(|x| t.contains(x)),
        }
    }

    /// The namespace itself carries a tag (PCI cardholder data, HIPAA ePHI).
    pub fn ns_tagged(&self, ns: &Namespace) -> bool {
        self.hit(&ns.compliance)
    }

    /// The environment carries a tag.
    pub fn env_tagged(&self, env: &Environment) -> bool {
        self.hit(&env.compliance)
    }

    /// The namespace or its environment carries a tag (SOC 2 scopes whole environments).
    pub fn ns_scoped(&self, env: &Environment, ns: &Namespace) -> bool {
        self.env_tagged(env) || self.ns_tagged(ns)
    }

    /// The environment or any of its namespaces carries a tag.
    pub fn env_touched(&self, env: &Environment) -> bool {
        self.env_tagged(env) || env.namespaces.values().any(|n| self.ns_tagged(n))
    }
}

/// Everything the checks read.
pub struct Cx<'a> {
    pub model: &'a Model,
    /// Environments whose objects are reported on.
    pub selected: BTreeSet<String>,
    /// The rendered plan of every environment (cross-environment rules need all of them).
    pub rendered: BTreeMap<String, Rendered>,
    /// The reachability view of every cluster, by cluster name.
    pub views: BTreeMap<String, ClusterView>,
}

/// The source of an origin.
pub fn src(o: &Origin) -> SourceRef {
    SourceRef {
        file: o.file.clone(),
        line: o.line,
    }
}

impl<'a> Cx<'a> {
    /// Selected environments, in name order.
    pub fn envs(&self) -> impl Iterator<Item = &'a Environment> + '_ {
        self.model
            .environments
            .values()
            .filter(|e| self.selected.contains(&e.name))
    }

    /// Views of the selected environments' clusters, with their environment.
    pub fn selected_views(&self) -> impl Iterator<Item = (&'a Environment, &ClusterView)> + '_ {
        self.views.values().filter_map(|v| {
            let env = self.model.environments.get(&v.environment)?;
            self.selected.contains(&env.name).then_some((env, v))
        })
    }

    pub fn namespace(&self, env: &str, ns: &str) -> Option<&'a Namespace> {
        self.model.environments.get(env)?.namespaces.get(ns)
    }

    pub fn zone_of(&self, env: &str, ns: &str) -> Option<&'a Zone> {
        let n = self.namespace(env, ns)?;
        self.model.zones.get(&n.zone)
    }

    /// Every cluster of the topology.
    pub fn clusters(&self) -> impl Iterator<Item = &'a Cluster> {
        self.model
            .environments
            .values()
            .flat_map(|e| e.clusters.values())
    }

    /// The ranges external addresses are split at: private ranges and every cluster CIDR.
    pub fn cuts(&self) -> Vec<IpRange> {
        let mut v: Vec<IpRange> = non_public_ranges()
            .iter()
            .chain(non_public_ranges_v6().iter())
            .map(IpRange::of)
            .collect();
        for c in self.clusters() {
            v.extend(c.cidrs().map(|n| IpRange::of(&n)));
        }
        v
    }

    /// Whether a range holds public internet addresses: outside private ranges and outside
    /// every known cluster.
    pub fn is_public(&self, r: &IpRange) -> bool {
        !non_public_ranges()
            .iter()
            .chain(non_public_ranges_v6().iter())
            .any(|n| IpRange::of(n).overlaps(r))
            && !self
                .clusters()
                .any(|c| c.cidrs().any(|n| IpRange::of(&n).overlaps(r)))
    }

    /// Clusters whose address ranges overlap `r`.
    pub fn clusters_in(&self, r: &IpRange) -> Vec<&'a Cluster> {
        self.clusters()
            .filter(|c| c.cidrs().any(|n| IpRange::of(&n).overlaps(r)))
            .collect()
    }

    /// Where to fix an edge: the topology line of the first policy behind it, else the
    /// namespace's declaration.
    pub fn edge_source(&self, view: &ClusterView, edge: &Edge, ns: &Namespace) -> SourceRef {
        edge.policies
            .iter()
            .find_map(|p| view.sources.get(p))
            .and_then(|s| parse_source(s))
            .unwrap_or_else(|| src(&ns.origin))
    }

    /// What the topology declares from namespace `ns` (of `view`'s cluster) to `dst`.
    pub fn declared_egress(&self, view: &ClusterView, ns: &str, dst: &Node) -> Conns {
        let env = &view.environment;
        let (Some(n), Some(zone)) = (self.namespace(env, ns), self.zone_of(env, ns)) else {
            return Conns::none();
        };
        let mut c = Conns::none();
        match dst {
            Node::Namespace(m) if m == ns => {
                if zone.same_namespace {
                    c = Conns::all();
                }
            }
            Node::Pod { namespace, name } if namespace == "kube-system" && name == "dns" => {
                c.add(crate::model::Protocol::Udp, 53, 53);
                c.add(crate::model::Protocol::Tcp, 53, 53);
            }
            Node::Namespace(m) => {
                if let Some(other) = self.namespace(env, m) {
                    for f in &self.model.flows {
                        if f.from == n.zone && f.to == other.zone {
                            c.union_with(&Conns::from_specs(&f.ports));
                        }
                    }
                }
            }
            Node::Pod { .. } => {}
            Node::External(r) => {
                for f in &self.model.cross_cluster_flows {
                    if f.from.zone != n.zone
                        || f.from.environment != *env
                        || f.from.cluster.as_ref().is_some_and(|x| *x != view.cluster)
                    {
                        continue;
                    }
                    if self
                        .end_clusters(&f.to)
                        .any(|t| t.name != view.cluster && in_cluster(t, r))
                    {
                        c.union_with(&Conns::from_specs(&f.ports));
                    }
                }
                if zone.internet_egress && self.is_public(r) {
                    c = Conns::all();
                }
            }
        }
        c
    }

    /// What the topology declares from `src` into namespace `ns` (of `view`'s cluster).
    pub fn declared_ingress(&self, view: &ClusterView, src: &Node, ns: &str) -> Conns {
        let env = &view.environment;
        let (Some(n), Some(zone)) = (self.namespace(env, ns), self.zone_of(env, ns)) else {
            return Conns::none();
        };
        let mut c = Conns::none();
        match src {
            Node::Namespace(m) if m == ns => {
                if zone.same_namespace {
                    c = Conns::all();
                }
            }
            Node::Namespace(m) => {
                if let Some(other) = self.namespace(env, m) {
                    for f in &self.model.flows {
                        if f.to == n.zone && f.from == other.zone {
                            c.union_with(&Conns::from_specs(&f.ports));
                        }
                    }
                }
            }
            Node::Pod { .. } => {}
            Node::External(r) => {
                for f in &self.model.cross_cluster_flows {
                    if f.to.zone != n.zone
                        || f.to.environment != *env
                        || f.to.cluster.as_ref().is_some_and(|x| *x != view.cluster)
                    {
                        continue;
                    }
                    if self
                        .end_clusters(&f.from)
                        .any(|t| t.name != view.cluster && in_cluster(t, r))
                    {
                        c.union_with(&Conns::from_specs(&f.ports));
                    }
                }
                if !zone.internet_ingress.is_empty() {
                    c.union_with(&Conns::from_specs(&zone.internet_ingress));
                }
            }
        }
        c
    }

    fn end_clusters<'b>(
        &'b self,
        end: &'b crate::model::CrossEnd,
    ) -> impl Iterator<Item = &'a Cluster> + 'b {
        self.model
            .environments
            .get(&end.environment)
            .into_iter()
            .flat_map(|e| e.clusters.values())
            .filter(move |c| end.cluster.as_ref().is_none_or(|n| *n == c.name))
    }
}

/// Whether `r` lies inside the pod or node range of a cluster (what cross-cluster ipBlocks name).
fn in_cluster(c: &Cluster, r: &IpRange) -> bool {
    [c.pod_cidr, c.node_cidr]
        .into_iter()
        .flatten()
        .any(|n| IpRange::of(&n).contains(r))
}

/// `prod.toml:33, segplan.toml:12` -> the first `file:line`.
pub fn parse_source(s: &str) -> Option<SourceRef> {
    let first = s.split(',').next()?.trim();
    let (file, line) = first.rsplit_once(':')?;
    Some(SourceRef {
        file: file.to_string(),
        line: line.parse().ok()?,
    })
}

/// `namespace/name` of a policy list, for evidence.
pub fn policy_list(p: &[String]) -> String {
    if p.is_empty() {
        "no policy isolates this side".to_string()
    } else {
        p.join(", ")
    }
}
