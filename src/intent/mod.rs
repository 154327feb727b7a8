//! Intent versus reachability: `verify` compares what the policies of a cluster allow (from the
//! analysis engine) with what the topology declares, and `graph` draws the zone diagram from
//! the policies themselves.
//!
//! Both are pure: they take a cluster's objects (rendered or live) and the model.

pub mod graph;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::analysis::ip::{IpRange, IpSet};
use crate::analysis::sides::{Direction, keep_only};
use crate::analysis::{self, AnalysisError, ConnSet, Inventory, PortSet, Protocol};
use crate::model::{Cluster, Environment, Model, PortSpec};

/// What a finding says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The policies allow a connection no flow declares.
    Unexpected,
    /// A declared flow is not open (on one side or both).
    Missing,
}

/// One difference between intent and reachability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub cluster: String,
    /// Source: a namespace, or an external range (`0.0.0.0/0`, `10.30.0.0/16`, ...).
    pub src: String,
    /// Destination: a namespace, or an external range.
    pub dst: String,
    /// The connections concerned, e.g. `TCP 5432`.
    pub conns: String,
    /// What is wrong, in a sentence.
    pub message: String,
    /// Policies that open the connection (unexpected findings).
    pub policies: Vec<String>,
    /// The topology rule involved (`file:line`), when there is one.
    pub origin: Option<String>,
}

/// Converts topology ports into the engine's connection set; no ports means all.
pub fn conns_of(ports: &[PortSpec]) -> ConnSet {
    if ports.is_empty() {
        return ConnSet::all();
    }
    let mut c = ConnSet::none();
    for p in ports {
        let proto = match p.protocol {
            crate::model::Protocol::Tcp => Protocol::Tcp,
            crate::model::Protocol::Udp => Protocol::Udp,
            crate::model::Protocol::Sctp => Protocol::Sctp,
        };
        c.add(proto, &PortSet::range(p.port, p.end()));
    }
    c
}

struct Expected {
    /// (src ns, dst ns) -> conns, with the origins of the flows.
    pairs: BTreeMap<(String, String), (ConnSet, Vec<String>)>,
    /// ns -> [(allowed source ranges, conns, origin)]
    from_external: BTreeMap<String, Vec<(IpSet, ConnSet, String)>>,
    /// ns -> [(allowed destination ranges, conns, origin)]
    to_external: BTreeMap<String, Vec<(IpSet, ConnSet, String)>>,
}

fn cluster_cidr_set(c: &Cluster) -> Vec<String> {
    [c.pod_cidr, c.node_cidr]
        .into_iter()
        .flatten()
        .map(|n| n.to_string())
        .collect()
}

fn expected(model: &Model, env: &Environment, cluster: &Cluster) -> Expected {
    let namespaces: Vec<&crate::model::Namespace> = env.namespaces_on(&cluster.name).collect();
    let mut pairs: BTreeMap<(String, String), (ConnSet, Vec<String>)> = BTreeMap::new();
    for s in &namespaces {
        for d in &namespaces {
            if s.name == d.name {
                continue;
            }
            for f in model
                .flows
                .iter()
                .filter(|f| f.from == s.zone && f.to == d.zone)
            {
                let e = pairs
                    .entry((s.name.clone(), d.name.clone()))
                    .or_insert_with(|| (ConnSet::none(), vec![]));
                e.0.union_with(&conns_of(&f.ports));
                e.1.push(f.origin.to_string());
            }
        }
    }
    let mut from_external: BTreeMap<String, Vec<(IpSet, ConnSet, String)>> = BTreeMap::new();
    let mut to_external: BTreeMap<String, Vec<(IpSet, ConnSet, String)>> = BTreeMap::new();
    let set = |cidr: &str, except: &[String]| IpSet::from_block(cidr, except).ok();
    for ns in &namespaces {
        let zone = &model.zones[&ns.zone];
        if !zone.internet_ingress.is_empty() {
            let c = conns_of(&zone.internet_ingress);
            for cidr in ["0.0.0.0/0", "::/0"] {
                if let Some(s) = set(cidr, &[]) {
                    from_external.entry(ns.name.clone()).or_default().push((
                        s,
                        c.clone(),
                        zone.origin.to_string(),
                    ));
                }
            }
        }
        if zone.internet_egress {
            let mut v4: Vec<String> = crate::model::non_public_ranges()
                .iter()
                .map(|n| n.to_string())
                .collect();
            let mut v6: Vec<String> = crate::model::non_public_ranges_v6()
                .iter()
                .map(|n| n.to_string())
                .collect();
            for n in cluster.cidrs() {
                match n {
                    ipnet::IpNet::V4(_) => v4.push(n.to_string()),
                    ipnet::IpNet::V6(_) => v6.push(n.to_string()),
                }
            }
            for (cidr, except) in [("0.0.0.0/0", v4), ("::/0", v6)] {
                if let Some(s) = set(cidr, &except) {
                    to_external.entry(ns.name.clone()).or_default().push((
                        s,
                        ConnSet::all(),
                        zone.origin.to_string(),
                    ));
                }
            }
        }
        for cf in &model.cross_cluster_flows {
            let here = |end: &crate::model::CrossEnd| {
                end.zone == ns.zone
                    && end.environment == env.name
                    && end.cluster.as_ref().is_none_or(|c| *c == cluster.name)
            };
            let others = |end: &crate::model::CrossEnd| -> Vec<&Cluster> {
                model
                    .environments
                    .get(&end.environment)
                    .map(|e| {
                        e.clusters
                            .values()
                            .filter(|c| {
                                end.cluster.as_ref().is_none_or(|n| *n == c.name)
                                    && c.name != cluster.name
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let c = conns_of(&cf.ports);
            if here(&cf.from) {
                for o in others(&cf.to) {
                    for cidr in cluster_cidr_set(o) {
                        if let Some(s) = set(&cidr, &[]) {
                            to_external.entry(ns.name.clone()).or_default().push((
                                s,
                                c.clone(),
                                cf.origin.to_string(),
                            ));
                        }
                    }
                }
            }
            if here(&cf.to) {
                for o in others(&cf.from) {
                    for cidr in cluster_cidr_set(o) {
                        if let Some(s) = set(&cidr, &[]) {
                            from_external.entry(ns.name.clone()).or_default().push((
                                s,
                                c.clone(),
                                cf.origin.to_string(),
                            ));
                        }
                    }
                }
            }
        }
    }
    Expected {
        pairs,
        from_external,
        to_external,
    }
}

fn range_name(r: &IpRange) -> String {
    r.to_string()
}

/// Compares one cluster's objects with the topology's intent.
pub fn verify_cluster(
    model: &Model,
    env: &Environment,
    cluster: &Cluster,
    objects: &[Value],
) -> Result<Vec<Finding>, AnalysisError> {
    let exp = expected(model, env, cluster);
    let summary = |objs: &[Value]| -> Result<analysis::NamespaceSummary, AnalysisError> {
        let inv = Inventory::from_objects_with(objs, analysis::Representatives::EmptyNamespaces)?;
        Ok(analysis::summarize(&analysis::analyze(&inv)))
    };
    let full = summary(objects)?;
    let ingress_only = summary(&keep_only(objects, Direction::Ingress))?;
    let egress_only = summary(&keep_only(objects, Direction::Egress))?;
    let managed: Vec<String> = env
        .namespaces_on(&cluster.name)
        .map(|n| n.name.clone())
        .collect();
    let mut findings = Vec::new();
    // DNS to kube-system is allowed to every managed namespace (the DNS pods are only seen on a
    // live cluster, so it is allowed, never required).
    let mut dns = ConnSet::none();
    dns.add(Protocol::Udp, &PortSet::range(53, 53));
    dns.add(Protocol::Tcp, &PortSet::range(53, 53));

    // Namespace to namespace: anything more than the flows is unexpected. Traffic between two
    // namespaces segplan does not manage is not its business.
    for f in &full.flows {
        if f.src == f.dst || (!managed.contains(&f.src) && !managed.contains(&f.dst)) {
            continue;
        }
        let mut allowed = exp
            .pairs
            .get(&(f.src.clone(), f.dst.clone()))
            .map(|e| e.0.clone())
            .unwrap_or_else(ConnSet::none);
        if f.dst == "kube-system" && managed.contains(&f.src) {
            allowed.union_with(&dns);
        }
        let extra = f.conns.minus(&allowed);
        if !extra.is_empty() {
            let mut policies: Vec<String> = f
                .egress_policies
                .iter()
                .chain(&f.ingress_policies)
                .cloned()
                .collect();
            policies.sort();
            policies.dedup();
            let by_default = match (f.egress_by_default, f.ingress_by_default) {
                (true, true) => " (neither side is isolated)",
                (true, false) => " (the source's egress is not isolated)",
                (false, true) => " (the destination's ingress is not isolated)",
                _ => "",
            };
            findings.push(Finding {
                kind: FindingKind::Unexpected,
                cluster: cluster.name.clone(),
                src: f.src.clone(),
                dst: f.dst.clone(),
                conns: extra.to_string(),
                message: format!(
                    "{} may reach {} on {extra}, which no flow declares{by_default}",
                    f.src, f.dst
                ),
                policies,
                origin: None,
            });
        }
    }
    // Every declared flow is open on both sides.
    for ((src, dst), (conns, origins)) in &exp.pairs {
        let found = |s: &analysis::NamespaceSummary| {
            s.flow(src, dst)
                .map(|f| f.conns.clone())
                .unwrap_or_else(ConnSet::none)
        };
        let missing = conns.minus(&found(&full));
        if missing.is_empty() {
            continue;
        }
        let no_egress = missing.minus(&found(&egress_only));
        let no_ingress = missing.minus(&found(&ingress_only));
        let side = match (no_egress.is_empty(), no_ingress.is_empty()) {
            (false, false) => format!("neither {src}'s egress nor {dst}'s ingress allows it"),
            (false, true) => format!("{src}'s egress does not allow it"),
            (true, false) => format!("{dst}'s ingress does not allow it"),
            (true, true) => "each side allows it, but not the same connections".into(),
        };
        findings.push(Finding {
            kind: FindingKind::Missing,
            cluster: cluster.name.clone(),
            src: src.clone(),
            dst: dst.clone(),
            conns: missing.to_string(),
            message: format!("declared flow {src} -> {dst} on {missing} is not open: {side}"),
            policies: vec![],
            origin: Some(origins.join(", ")),
        });
    }
    // External ranges, both directions.
    for (dir, found, expected) in [
        ("from", &full.from_external, &exp.from_external),
        ("to", &full.to_external, &exp.to_external),
    ] {
        for f in found {
            if !managed.contains(&f.namespace) {
                continue;
            }
            let exp_list: Vec<&(IpSet, ConnSet, String)> =
                expected.get(&f.namespace).into_iter().flatten().collect();
            for (piece, extra) in excess(&f.range, &f.conns, &exp_list) {
                let range = range_name(&piece);
                let (src, dst, msg) = if dir == "from" {
                    (
                        range.clone(),
                        f.namespace.clone(),
                        format!(
                            "{range} may reach {} on {extra}, which the topology does not declare",
                            f.namespace
                        ),
                    )
                } else {
                    (
                        f.namespace.clone(),
                        range.clone(),
                        format!(
                            "{} may reach {range} on {extra}, which the topology does not declare",
                            f.namespace
                        ),
                    )
                };
                findings.push(Finding {
                    kind: FindingKind::Unexpected,
                    cluster: cluster.name.clone(),
                    src,
                    dst,
                    conns: extra.to_string(),
                    message: msg,
                    policies: f.policies.iter().cloned().collect(),
                    origin: None,
                });
            }
        }
        for (ns, list) in expected {
            for (set, conns, origin) in list {
                for r in set.ranges() {
                    if covered(found, ns, r, conns) {
                        continue;
                    }
                    let range = range_name(r);
                    let (src, dst) = if dir == "from" {
                        (range.clone(), ns.clone())
                    } else {
                        (ns.clone(), range.clone())
                    };
                    findings.push(Finding {
                        kind: FindingKind::Missing,
                        cluster: cluster.name.clone(),
                        message: format!("declared flow {src} -> {dst} on {conns} is not open"),
                        src,
                        dst,
                        conns: conns.to_string(),
                        policies: vec![],
                        origin: Some(origin.clone()),
                    });
                }
            }
        }
    }
    findings.sort_by(|a, b| (a.kind, &a.src, &a.dst).cmp(&(b.kind, &b.src, &b.dst)));
    findings.dedup();
    Ok(findings)
}

/// Splits a found range at every boundary of the expected sets and returns the pieces whose
/// connections exceed what the expected sets containing them allow (adjacent pieces with the
/// same excess merged).
fn excess(
    range: &IpRange,
    conns: &ConnSet,
    expected: &[&(IpSet, ConnSet, String)],
) -> Vec<(IpRange, ConnSet)> {
    let mut cuts = vec![range.first];
    for (set, _, _) in expected {
        for r in set.ranges() {
            if r.family != range.family {
                continue;
            }
            if r.first > range.first && r.first <= range.last {
                cuts.push(r.first);
            }
            if r.last < range.last && r.last >= range.first {
                cuts.push(r.last + 1);
            }
        }
    }
    cuts.sort();
    cuts.dedup();
    let mut out: Vec<(IpRange, ConnSet)> = Vec::new();
    for (i, &first) in cuts.iter().enumerate() {
        let last = cuts.get(i + 1).map_or(range.last, |n| n - 1);
        let piece = IpRange {
            family: range.family,
            first,
            last,
        };
        let mut allowed = ConnSet::none();
        for (set, c, _) in expected {
            if set.contains_range(&piece) {
                allowed.union_with(c);
            }
        }
        let extra = conns.minus(&allowed);
        if extra.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((prev, e)) if *e == extra && prev.last + 1 == first => prev.last = last,
            _ => out.push((piece, extra)),
        }
    }
    out
}

/// Whether the found flows of `ns` cover every address of `r` with at least `conns`.
fn covered(found: &[analysis::ExternalFlow], ns: &str, r: &IpRange, conns: &ConnSet) -> bool {
    if conns.is_empty() {
        return true;
    }
    let mut parts: Vec<(u128, u128)> = found
        .iter()
        .filter(|f| f.namespace == ns && f.range.overlaps(r) && conns.is_subset_of(&f.conns))
        .map(|f| (f.range.first.max(r.first), f.range.last.min(r.last)))
        .collect();
    parts.sort();
    let mut next = r.first;
    for (a, b) in parts {
        if a > next {
            return false;
        }
        if b >= next {
            if b == u128::MAX || b >= r.last {
                return true;
            }
            next = b + 1;
        }
    }
    next > r.last
}
