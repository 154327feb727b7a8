//! Checks across clusters and environments: shared clusters, CIDRs, cross-environment reach.

use super::edge_hit;
use crate::compliance::context::{Cx, Hit, Scope, policy_list, src};
use crate::model::{EnvKind, Environment};

fn cluster_identity(c: &crate::model::Cluster) -> Option<&str> {
    c.api_server.as_deref()
}

/// Production and non-production environments never share a cluster (same API server).
pub fn prod_nonprod_separation(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    shared_clusters(
        cx,
        |a, b| {
            (a.kind == EnvKind::Production) != (b.kind == EnvKind::Production)
                && (scope.env_touched(a) || scope.env_touched(b))
        },
        "production and non-production environments share a cluster",
    )
}

/// A cluster (its API server) belongs to one environment.
pub fn one_environment(cx: &Cx, _scope: &Scope) -> Vec<Hit> {
    shared_clusters(
        cx,
        |_, _| true,
        "one cluster is declared in two environments",
    )
}

fn shared_clusters(
    cx: &Cx,
    pair: impl Fn(&Environment, &Environment) -> bool,
    what: &str,
) -> Vec<Hit> {
    let mut out = Vec::new();
    let envs: Vec<&Environment> = cx.model.environments.values().collect();
    for (i, a) in envs.iter().enumerate() {
        for b in envs.iter().skip(i + 1) {
            if !(cx.selected.contains(&a.name) || cx.selected.contains(&b.name)) || !pair(a, b) {
                continue;
            }
            for ca in a.clusters.values() {
                for cb in b.clusters.values() {
                    let (Some(x), Some(y)) = (cluster_identity(ca), cluster_identity(cb)) else {
                        continue;
                    };
                    if x != y {
                        continue;
                    }
                    let (env, c, other, oenv) = if cx.selected.contains(&b.name) {
                        (b, cb, ca, a)
                    } else {
                        (a, ca, cb, b)
                    };
                    out.push(Hit {
                        environment: Some(env.name.clone()),
                        cluster: Some(c.name.clone()),
                        namespace: None,
                        object: format!("cluster {}/{}", env.name, c.name),
                        message: format!(
                            "{what}: cluster {} ({}) and cluster {} ({}) are the same API server",
                            c.name, env.name, other.name, oenv.name
                        ),
                        evidence: vec![
                            format!("api_server = {x:?}"),
                            format!("{} declared at {}", other.name, other.origin),
                        ],
                        source: Some(src(&c.origin)),
                    });
                }
            }
        }
    }
    out
}

/// Sides of cross-cluster traffic between two environment kinds that go beyond declared
/// cross-cluster flows. `from_env(kind)` and `to_env(kind)` pick the two ends.
fn cross_env_excess(
    cx: &Cx,
    from_env: &dyn Fn(&Environment) -> bool,
    to_env: &dyn Fn(&Environment) -> bool,
    what: &str,
) -> Vec<Hit> {
    let mut out = Vec::new();
    let clusters_of = |f: &dyn Fn(&Environment) -> bool| -> Vec<&crate::model::Cluster> {
        cx.model
            .environments
            .values()
            .filter(|e| f(e))
            .flat_map(|e| e.clusters.values())
            .collect()
    };
    let targets = clusters_of(to_env);
    let sources = clusters_of(from_env);
    for (env, view) in cx.selected_views() {
        // Sending side: namespaces of a `from` environment towards `to` clusters.
        if from_env(env) {
            for edge in &view.egress_side {
                let (Some(nsn), Some(r)) = (edge.src.namespace(), edge.dst.external()) else {
                    continue;
                };
                if !targets.iter().any(|t| {
                    t.name != view.cluster
                        && t.cidrs()
                            .any(|n| crate::compliance::net::IpRange::of(&n).overlaps(r))
                }) {
                    continue;
                }
                let Some(ns) = env.namespaces.get(nsn) else {
                    continue;
                };
                let extra = edge.conns.minus(&cx.declared_egress(view, nsn, &edge.dst));
                if extra.is_empty() {
                    continue;
                }
                let mut h = edge_hit(cx, env, view, ns, edge);
                h.message = format!(
                    "{what}: namespace {nsn} may send to {} on {extra} without a declared cross-cluster flow",
                    edge.dst
                );
                h.evidence.push(format!(
                    "cluster(s) in range: {}",
                    cx.clusters_in(r)
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                h.evidence
                    .push(format!("policies: {}", policy_list(&edge.policies)));
                out.push(h);
            }
        }
        // Receiving side: namespaces of a `to` environment admitting `from` clusters.
        if to_env(env) {
            for edge in &view.ingress_side {
                let (Some(nsn), Some(r)) = (edge.dst.namespace(), edge.src.external()) else {
                    continue;
                };
                if !sources.iter().any(|t| {
                    t.name != view.cluster
                        && t.cidrs()
                            .any(|n| crate::compliance::net::IpRange::of(&n).overlaps(r))
                }) {
                    continue;
                }
                let Some(ns) = env.namespaces.get(nsn) else {
                    continue;
                };
                let extra = edge.conns.minus(&cx.declared_ingress(view, &edge.src, nsn));
                if extra.is_empty() {
                    continue;
                }
                let mut h = edge_hit(cx, env, view, ns, edge);
                h.message = format!(
                    "{what}: namespace {nsn} admits {} on {extra} without a declared cross-cluster flow",
                    edge.src
                );
                h.evidence.push(format!(
                    "cluster(s) in range: {}",
                    cx.clusters_in(r)
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                h.evidence
                    .push(format!("policies: {}", policy_list(&edge.policies)));
                out.push(h);
            }
        }
    }
    out
}

/// The management environment reaches other environments only through declared
/// cross-cluster flows, checked on both sides.
pub fn management_flows(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let in_scope = |e: &Environment| scope.env_touched(e);
    let mgmt = |e: &Environment| e.kind == EnvKind::Management;
    let any_mgmt_in_scope = cx
        .model
        .environments
        .values()
        .any(|e| mgmt(e) && in_scope(e));
    cross_env_excess(
        cx,
        &|e| mgmt(e) && (in_scope(e) || any_mgmt_in_scope),
        &|e| !mgmt(e) && (in_scope(e) || any_mgmt_in_scope),
        "management reaches beyond its declared flows",
    )
}

/// The management clusters are not reachable from production workloads except on declared
/// flows, checked on both sides.
pub fn mgmt_unreachable(cx: &Cx, _scope: &Scope) -> Vec<Hit> {
    cross_env_excess(
        cx,
        &|e| e.kind == EnvKind::Production,
        &|e| e.kind == EnvKind::Management,
        "production reaches the management cluster",
    )
}

/// Production clusters' CIDRs are disjoint from every other environment's clusters'.
pub fn disjoint_cidrs(cx: &Cx, _scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    let prod: Vec<(&Environment, &crate::model::Cluster)> = cx
        .model
        .environments
        .values()
        .filter(|e| e.kind == EnvKind::Production)
        .flat_map(|e| e.clusters.values().map(move |c| (e, c)))
        .collect();
    let others: Vec<(&Environment, &crate::model::Cluster)> = cx
        .model
        .environments
        .values()
        .filter(|e| e.kind != EnvKind::Production)
        .flat_map(|e| e.clusters.values().map(move |c| (e, c)))
        .collect();
    for (pe, pc) in &prod {
        for (oe, oc) in &others {
            if !(cx.selected.contains(&pe.name) || cx.selected.contains(&oe.name)) {
                continue;
            }
            for a in pc.cidrs() {
                for b in oc.cidrs() {
                    if crate::model::overlaps(&a, &b) {
                        let (env, c, other) = if cx.selected.contains(&oe.name) {
                            (oe, oc, pc)
                        } else {
                            (pe, pc, oc)
                        };
                        out.push(Hit {
                            environment: Some(env.name.clone()),
                            cluster: Some(c.name.clone()),
                            namespace: None,
                            object: format!("cluster {}/{}", env.name, c.name),
                            message: format!(
                                "production cluster {} ({a}) and {} cluster {} ({b}) have overlapping address ranges",
                                pc.name,
                                oe.kind.as_str(),
                                oc.name
                            ),
                            evidence: vec![format!("{} declared at {}", other.name, other.origin)],
                            source: Some(src(&c.origin)),
                        });
                    }
                }
            }
        }
    }
    out
}
