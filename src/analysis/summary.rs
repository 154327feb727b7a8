//! Namespace-level summary of a connectivity result, for `verify` and `graph`: which
//! namespace may reach which on which ports, which external ranges each namespace may reach
//! or be reached from, and on each side the policies that allow it.

use std::collections::{BTreeMap, BTreeSet};

use super::engine::{Connection, Connectivity, Peer, Side};
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

fn names(c: &Connectivity, side: &Side) -> impl Iterator<Item = String> {
    side.policies.iter().map(|&i| c.policies[i].clone())
}

/// Folds `c` into namespace flows.
pub fn summarize(c: &Connectivity) -> NamespaceSummary {
    let mut flows: BTreeMap<(String, String), NamespaceFlow> = BTreeMap::new();
    type ExtKey = (String, IpRange);
    let mut to_ext: BTreeMap<ExtKey, ExternalFlow> = BTreeMap::new();
    let mut from_ext: BTreeMap<ExtKey, ExternalFlow> = BTreeMap::new();
    let ext = |map: &mut BTreeMap<ExtKey, ExternalFlow>,
               ns: &str,
               r: IpRange,
               x: &Connection,
               side: &Side| {
        let e = map
            .entry((ns.to_string(), r))
            .or_insert_with(|| ExternalFlow {
                namespace: ns.to_string(),
                range: r,
                conns: ConnSet::none(),
                policies: BTreeSet::new(),
                by_default: false,
            });
        e.conns.union_with(&x.conns);
        e.policies.extend(names(c, side));
        e.by_default |= !side.isolated;
    };
    for x in &c.connections {
        match (&x.src, &x.dst) {
            (Peer::Endpoint(s), Peer::Endpoint(d)) => {
                let (s, d) = (&c.endpoints[*s].namespace, &c.endpoints[*d].namespace);
                let f = flows
                    .entry((s.clone(), d.clone()))
                    .or_insert_with(|| NamespaceFlow {
                        src: s.clone(),
                        dst: d.clone(),
                        conns: ConnSet::none(),
                        egress_policies: BTreeSet::new(),
                        ingress_policies: BTreeSet::new(),
                        egress_by_default: false,
                        ingress_by_default: false,
                    });
                f.conns.union_with(&x.conns);
                f.egress_policies.extend(names(c, &x.egress));
                f.ingress_policies.extend(names(c, &x.ingress));
                f.egress_by_default |= !x.egress.isolated;
                f.ingress_by_default |= !x.ingress.isolated;
            }
            (Peer::Endpoint(s), Peer::External(r)) => {
                ext(&mut to_ext, &c.endpoints[*s].namespace, *r, x, &x.egress);
            }
            (Peer::External(r), Peer::Endpoint(d)) => {
                ext(&mut from_ext, &c.endpoints[*d].namespace, *r, x, &x.ingress);
            }
            (Peer::External(_), Peer::External(_)) => {}
        }
    }
    NamespaceSummary {
        flows: flows.into_values().collect(),
        to_external: merge_ranges(to_ext.into_values().collect()),
        from_external: merge_ranges(from_ext.into_values().collect()),
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
