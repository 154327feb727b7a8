//! Namespace-level summary of a connectivity result, for `verify` and `graph`: which
//! namespace may reach which on which ports, which external ranges each namespace may reach
//! or be reached from, and on each side the policies that allow it.

use std::collections::{BTreeMap, BTreeSet};

use super::engine::{Connection, Connectivity, Peer};
use super::ip::{self, IpRange};
use super::ports::ConnSet;

/// Traffic allowed from one namespace to another (or to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceFlow {
    /// The source namespace.
    pub src: String,
    /// The destination namespace.
    pub dst: String,
    /// The union of what any endpoint of `src` may open to any endpoint of `dst`.
    pub conns: ConnSet,
    /// Policies (`ns/name`) whose egress rules allow part of it.
    pub egress_policies: BTreeSet<String>,
    /// Policies whose ingress rules allow part of it.
    pub ingress_policies: BTreeSet<String>,
    /// Part of it is allowed on egress only because no policy isolates the source.
    pub egress_by_default: bool,
    /// Part of it is allowed on ingress only because no policy isolates the destination.
    pub ingress_by_default: bool,
}

/// Traffic between a namespace and an external range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFlow {
    /// The namespace.
    pub namespace: String,
    /// The external addresses (maximal: touching ranges with equal ports are merged).
    pub range: IpRange,
    /// What is allowed.
    pub conns: ConnSet,
    /// Policies of the namespace's side that allow part of it.
    pub policies: BTreeSet<String>,
    /// Part of it is allowed only because no policy isolates the namespace's side.
    pub by_default: bool,
}

/// A connectivity result folded to namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceSummary {
    /// Namespace to namespace, sorted by (src, dst).
    pub flows: Vec<NamespaceFlow>,
    /// Namespace to external ranges (egress), sorted by namespace then range.
    pub to_external: Vec<ExternalFlow>,
    /// External ranges to namespace (ingress), sorted by namespace then range.
    pub from_external: Vec<ExternalFlow>,
}

impl NamespaceSummary {
    /// The flow from `src` to `dst`, if any traffic is allowed.
    pub fn flow(&self, src: &str, dst: &str) -> Option<&NamespaceFlow> {
        self.flows
            .binary_search_by(|f| (f.src.as_str(), f.dst.as_str()).cmp(&(src, dst)))
            .ok()
            .map(|i| &self.flows[i])
    }
}

#[derive(Default)]
struct Acc {
    conns: ConnSet,
    egress: BTreeSet<usize>,
    ingress: BTreeSet<usize>,
    egress_by_default: bool,
    ingress_by_default: bool,
}

impl Acc {
    fn add(&mut self, x: &Connection) {
        self.conns.union_with(&x.conns);
        self.egress.extend(&x.egress.policies);
        self.ingress.extend(&x.ingress.policies);
        self.egress_by_default |= !x.egress.isolated;
        self.ingress_by_default |= !x.ingress.isolated;
    }
}

/// Folds `c` into namespace flows.
pub fn summarize(c: &Connectivity) -> NamespaceSummary {
    let names = |set: &BTreeSet<usize>| -> BTreeSet<String> {
        set.iter().map(|&i| c.policies[i].clone()).collect()
    };
    let ns = |i: &usize| c.endpoints[*i].namespace.as_str();
    let mut flows: BTreeMap<(&str, &str), Acc> = BTreeMap::new();
    let mut to_ext: BTreeMap<(&str, IpRange), Acc> = BTreeMap::new();
    let mut from_ext: BTreeMap<(&str, IpRange), Acc> = BTreeMap::new();
    for x in &c.connections {
        match (&x.src, &x.dst) {
            (Peer::Endpoint(s), Peer::Endpoint(d)) => {
                flows.entry((ns(s), ns(d))).or_default().add(x)
            }
            (Peer::Endpoint(s), Peer::External(r)) => to_ext.entry((ns(s), *r)).or_default().add(x),
            (Peer::External(r), Peer::Endpoint(d)) => {
                from_ext.entry((ns(d), *r)).or_default().add(x)
            }
            (Peer::External(_), Peer::External(_)) => {}
        }
    }
    let external = |map: BTreeMap<(&str, IpRange), Acc>, egress: bool| -> Vec<ExternalFlow> {
        map.into_iter()
            .map(|((n, range), a)| ExternalFlow {
                namespace: n.to_string(),
                range,
                policies: names(if egress { &a.egress } else { &a.ingress }),
                by_default: if egress {
                    a.egress_by_default
                } else {
                    a.ingress_by_default
                },
                conns: a.conns,
            })
            .collect()
    };
    NamespaceSummary {
        flows: flows
            .into_iter()
            .map(|((s, d), a)| NamespaceFlow {
                src: s.to_string(),
                dst: d.to_string(),
                egress_policies: names(&a.egress),
                ingress_policies: names(&a.ingress),
                egress_by_default: a.egress_by_default,
                ingress_by_default: a.ingress_by_default,
                conns: a.conns,
            })
            .collect(),
        to_external: merge_ranges(external(to_ext, true)),
        from_external: merge_ranges(external(from_ext, false)),
    }
}

/// Merges touching ranges of one namespace that allow the same connections.
fn merge_ranges(list: Vec<ExternalFlow>) -> Vec<ExternalFlow> {
    let mut groups: BTreeMap<(String, String), Vec<ExternalFlow>> = BTreeMap::new();
    for f in list {
        groups
            .entry((f.namespace.clone(), f.conns.to_string()))
            .or_default()
            .push(f);
    }
    let mut out = Vec::new();
    for (_, fs) in groups {
        for r in ip::merge(fs.iter().map(|f| f.range).collect()) {
            let parts: Vec<&ExternalFlow> = fs.iter().filter(|f| r.contains(&f.range)).collect();
            out.push(ExternalFlow {
                namespace: parts[0].namespace.clone(),
                range: r,
                conns: parts[0].conns.clone(),
                policies: parts
                    .iter()
                    .flat_map(|f| f.policies.iter().cloned())
                    .collect(),
                by_default: parts.iter().any(|f| f.by_default),
            });
        }
    }
    out.sort_by(|a, b| (&a.namespace, a.range).cmp(&(&b.namespace, b.range)));
    out
}
