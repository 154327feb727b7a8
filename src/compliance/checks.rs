//! The built-in checks. Each takes the context and the scope of the profile that runs it and
//! returns one [`Hit`] per object that breaks it. Plan-level checks read the reachability
//! views of the rendered policies; model-level checks read the validated topology.

use std::collections::BTreeMap;

use super::context::{Cx, Hit, Scope, policy_list, src};
use super::net::Conns;
use super::reach::{ClusterView, Edge, Node};
use crate::model::{EnvKind, Environment, Mesh, Namespace, Sensitivity};

fn ns_hit(env: &Environment, cluster: Option<&str>, ns: &Namespace) -> Hit {
    Hit {
        environment: Some(env.name.clone()),
        cluster: cluster.map(str::to_string),
        namespace: Some(ns.name.clone()),
        object: format!("namespace {}/{}", env.name, ns.name),
        message: String::new(),
        evidence: Vec::new(),
        source: Some(src(&ns.origin)),
    }
}

/// Namespaces of a view with their model entry, filtered by `keep`.
fn subjects<'a>(
    cx: &'a Cx,
    keep: impl Fn(&Environment, &Namespace) -> bool + 'a,
) -> impl Iterator<Item = (&'a Environment, &'a ClusterView, &'a Namespace)> + 'a {
    cx.selected_views().flat_map(move |(env, view)| {
        let keep = &keep;
        view.namespaces
            .iter()
            .filter_map(move |n| env.namespaces.get(n))
            .filter(move |ns| keep(env, ns))
            .map(move |ns| (env, view, ns))
            .collect::<Vec<_>>()
    })
}

fn edge_hit(cx: &Cx, env: &Environment, view: &ClusterView, ns: &Namespace, edge: &Edge) -> Hit {
    let mut h = ns_hit(env, Some(&view.cluster), ns);
    h.source = Some(cx.edge_source(view, edge, ns));
    h
}

/// The public-internet edges of one namespace and direction, merged: external ranges are
/// split at every boundary policies and clusters name, so one "internet" is many ranges.
struct Internet<'a> {
    conns: Conns,
    policies: Vec<String>,
    ranges: Vec<String>,
    first: &'a Edge,
}

fn internet<'a>(
    cx: &Cx,
    edges: impl Iterator<Item = &'a Edge>,
    outside: fn(&Edge) -> &Node,
) -> Option<Internet<'a>> {
    let mut out: Option<Internet<'a>> = None;
    for e in edges {
        let Some(r) = outside(e).external() else {
            continue;
        };
        if !cx.is_public(r) {
            continue;
        }
        let i = out.get_or_insert_with(|| Internet {
            conns: Conns::none(),
            policies: Vec::new(),
            ranges: Vec::new(),
            first: e,
        });
        i.conns.union_with(&e.conns);
        i.policies.extend(e.policies.iter().cloned());
        i.ranges.push(r.to_string());
    }
    if let Some(i) = &mut out {
        i.policies.sort();
        i.policies.dedup();
    }
    out
}

impl Internet<'_> {
    fn evidence(&self) -> Vec<String> {
        vec![
            format!(
                "public ranges ({}): {}",
                self.ranges.len(),
                self.ranges.join("; ")
            ),
            format!("policies: {}", policy_list(&self.policies)),
        ]
    }
}

// ---------------------------------------------------------------- default deny

/// Every namespace's pods are isolated for ingress and egress.
pub fn default_deny(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |e, n| scope.ns_scoped(e, n)) {
        let iso = view.isolation.get(&ns.name).cloned().unwrap_or_default();
        let mut open = Vec::new();
        if iso.ingress.is_empty() {
            open.push("ingress");
        }
        if iso.egress.is_empty() {
            open.push("egress");
        }
        if open.is_empty() {
            continue;
        }
        let mut h = ns_hit(env, Some(&view.cluster), ns);
        h.message = format!(
            "namespace {} on cluster {} is not default-deny for {}: no policy selecting every pod isolates it",
            ns.name,
            view.cluster,
            open.join(" and ")
        );
        h.evidence.push(format!(
            "ingress isolated by: {}",
            if iso.ingress.is_empty() {
                "nothing".into()
            } else {
                iso.ingress.join(", ")
            }
        ));
        h.evidence.push(format!(
            "egress isolated by: {}",
            if iso.egress.is_empty() {
                "nothing".into()
            } else {
                iso.egress.join(", ")
            }
        ));
        out.push(h);
    }
    out
}

// ---------------------------------------------------------------- flows

/// Every zone flow and cross-cluster flow has a `reason`.
pub fn flow_reason(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    let zone_in_scope = |zone: &str| {
        cx.envs().any(|e| {
            e.namespaces
                .values()
                .any(|n| n.zone == zone && scope.ns_scoped(e, n))
        })
    };
    for f in &cx.model.flows {
        if f.reason.is_some() || !(zone_in_scope(&f.from) || zone_in_scope(&f.to)) {
            continue;
        }
        out.push(Hit {
            environment: None,
            cluster: None,
            namespace: None,
            object: format!("flow {} -> {}", f.from, f.to),
            message: format!(
                "flow {} -> {} has no `reason`: every allowed path must say why it exists",
                f.from, f.to
            ),
            evidence: vec![format!("ports: {}", ports_text(&f.ports))],
            source: Some(src(&f.origin)),
        });
    }
    for f in &cx.model.cross_cluster_flows {
        let touched = [&f.from.environment, &f.to.environment]
            .into_iter()
            .any(|e| {
                cx.selected.contains(e)
                    && cx
                        .model
                        .environments
                        .get(e)
                        .is_some_and(|env| scope.env_touched(env))
            });
        if f.reason.is_some() || !touched {
            continue;
        }
        out.push(Hit {
            environment: Some(f.declared_in.clone()),
            cluster: None,
            namespace: None,
            object: format!(
                "cross-cluster flow {}/{} -> {}/{}",
                f.from.environment, f.from.zone, f.to.environment, f.to.zone
            ),
            message:
                "cross-cluster flow has no `reason`: every allowed path must say why it exists"
                    .into(),
            evidence: vec![format!("ports: {}", ports_text(&f.ports))],
            source: Some(src(&f.origin)),
        });
    }
    out
}

fn ports_text(p: &[crate::model::PortSpec]) -> String {
    if p.is_empty() {
        "all".into()
    } else {
        p.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// No policy rule between different namespaces (or to another cluster) allows every port of
/// a protocol, or every protocol.
pub fn no_all_ports(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |e, n| scope.ns_scoped(e, n)) {
        let here = Node::Namespace(ns.name.clone());
        let sides = view
            .egress_side
            .iter()
            .filter(|e| e.src == here)
            .map(|e| ("egress to", &e.dst, e))
            .chain(
                view.ingress_side
                    .iter()
                    .filter(|e| e.dst == here)
                    .map(|e| ("ingress from", &e.src, e)),
            );
        for (dir, peer, edge) in sides {
            // Not isolated at all is the default-deny rule's finding, not this one.
            if edge.policies.is_empty() || peer == &here {
                continue;
            }
            let between = match peer {
                Node::Namespace(_) | Node::Pod { .. } => true,
                Node::External(r) => !cx.clusters_in(r).is_empty(),
            };
            let wide: Vec<&str> = super::net::PROTOCOLS
                .iter()
                .filter(|p| edge.conns.all_ports_of(**p))
                .map(|p| p.as_str())
                .collect();
            if !between || wide.is_empty() {
                continue;
            }
            let mut h = edge_hit(cx, env, view, ns, edge);
            h.message = format!(
                "namespace {} allows {dir} {peer} on every port of {}",
                ns.name,
                wide.join(", ")
            );
            h.evidence.push(format!("allowed: {}", edge.conns));
            h.evidence
                .push(format!("policies: {}", policy_list(&edge.policies)));
            out.push(h);
        }
    }
    out
}

/// Egress beyond DNS, same-namespace traffic and declared flows.
pub fn dns_only_egress(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |e, n| scope.ns_scoped(e, n)) {
        let here = Node::Namespace(ns.name.clone());
        for edge in view.egress_side.iter().filter(|e| e.src == here) {
            if edge.policies.is_empty() {
                continue;
            }
            let extra = edge
                .conns
                .minus(&cx.declared_egress(view, &ns.name, &edge.dst));
            if extra.is_empty() {
                continue;
            }
            let mut h = edge_hit(cx, env, view, ns, edge);
            h.message = format!(
                "namespace {} may send to {} on {extra}, which is neither DNS nor a declared flow",
                ns.name, edge.dst
            );
            h.evidence.push(format!("egress allowed: {}", edge.conns));
            h.evidence
                .push(format!("policies: {}", policy_list(&edge.policies)));
            out.push(h);
        }
    }
    out
}

// ---------------------------------------------------------------- PCI DSS

/// PCI namespaces (and PCI-tagged environments) only in production environments.
pub fn production_only(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for env in cx.envs().filter(|e| e.kind != EnvKind::Production) {
        if scope.tags.is_some() && scope.env_tagged(env) {
            out.push(Hit {
                environment: Some(env.name.clone()),
                cluster: None,
                namespace: None,
                object: format!("environment {}", env.name),
                message: format!(
                    "environment {} is tagged for this profile but is {}, not production",
                    env.name,
                    env.kind.as_str()
                ),
                evidence: vec![format!("compliance = {:?}", env.compliance)],
                source: Some(src(&env.origin)),
            });
        }
        for ns in env.namespaces.values().filter(|n| scope.ns_tagged(n)) {
            let mut h = ns_hit(env, None, ns);
            h.message = format!(
                "namespace {} holds in-scope data but environment {} is {}, not production",
                ns.name,
                env.name,
                env.kind.as_str()
            );
            h.evidence.push(format!("compliance = {:?}", ns.compliance));
            out.push(h);
        }
    }
    out
}

/// PCI namespaces run on a dedicated node pool with a NoSchedule taint that no other
/// namespace tolerates, enforced by the plan's admission policies.
pub fn dedicated_node_pool(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for env in cx.envs() {
        for ns in env.namespaces.values().filter(|n| scope.ns_tagged(n)) {
            let Some(pool_name) = &ns.node_pool else {
                let mut h = ns_hit(env, None, ns);
                h.message = format!(
                    "namespace {} is not pinned to a dedicated node pool",
                    ns.name
                );
                h.evidence.push("no `node_pool`".into());
                out.push(h);
                continue;
            };
            for cname in &ns.clusters {
                let Some(cluster) = env.clusters.get(cname) else {
                    continue;
                };
                let Some(pool) = cluster.node_pools.get(pool_name) else {
                    continue;
                };
                let mut h = ns_hit(env, Some(cname), ns);
                if !pool.taints.iter().any(|t| t.effect == "NoSchedule") {
                    h.message = format!(
                        "node pool {pool_name} of cluster {cname} has no NoSchedule taint, so other pods can land on its nodes"
                    );
                    h.evidence.push(format!(
                        "taints: {}",
                        if pool.taints.is_empty() {
                            "none".to_string()
                        } else {
                            pool.taints
                                .iter()
                                .map(|t| {
                                    format!(
                                        "{}={}:{}",
                                        t.key,
                                        t.value.as_deref().unwrap_or(""),
                                        t.effect
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ));
                    h.source = Some(src(&pool.origin));
                    out.push(h);
                    continue;
                }
                let sharers: Vec<&Namespace> = env
                    .namespaces_on(cname)
                    .filter(|o| {
                        o.name != ns.name
                            && o.node_pool.as_deref() == Some(pool_name)
                            && !scope.ns_tagged(o)
                    })
                    .collect();
                for o in sharers {
                    let mut h = ns_hit(env, Some(cname), o);
                    h.message = format!(
                        "namespace {} is out of scope but tolerates the taints of node pool {pool_name}, which is dedicated to {}",
                        o.name, ns.name
                    );
                    h.evidence
                        .push(format!("{}: node_pool = {pool_name:?}", o.name));
                    out.push(h);
                }
                let objects = cx
                    .rendered
                    .get(&env.name)
                    .and_then(|r| r.clusters.iter().find(|c| c.name == *cname));
                let has = |kind: &str, name: &str| {
                    objects.is_some_and(|c| {
                        c.manifests.iter().any(|m| m.kind == kind && m.name == name)
                    })
                };
                let mut missing = Vec::new();
                for name in [
                    format!("segplan-pin-{pool_name}"),
                    format!("segplan-exclusive-{pool_name}"),
                ] {
                    for kind in [
                        "ValidatingAdmissionPolicy",
                        "ValidatingAdmissionPolicyBinding",
                    ] {
                        if !has(kind, &name) {
                            missing.push(format!("{kind} {name}"));
                        }
                    }
                }
                if !missing.is_empty() {
                    h.message = format!(
                        "the plan of cluster {cname} does not enforce node pool {pool_name}"
                    );
                    h.evidence.push(format!("missing: {}", missing.join(", ")));
                    out.push(h);
                }
            }
        }
    }
    out
}

/// In-scope namespaces send nothing to the public internet.
pub fn no_internet_egress(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |_, n| scope.ns_tagged(n)) {
        let here = Node::Namespace(ns.name.clone());
        let edges = view.egress_side.iter().filter(|e| e.src == here);
        let Some(i) = internet(cx, edges, |e| &e.dst) else {
            continue;
        };
        let mut h = edge_hit(cx, env, view, ns, i.first);
        h.message = format!(
            "namespace {} may send to the internet on {}",
            ns.name, i.conns
        );
        h.evidence = i.evidence();
        out.push(h);
    }
    out
}

/// In-scope namespaces admit only declared peers on declared ports.
pub fn declared_ingress(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |_, n| scope.ns_tagged(n)) {
        let here = Node::Namespace(ns.name.clone());
        for edge in view.ingress_side.iter().filter(|e| e.dst == here) {
            let extra = edge
                .conns
                .minus(&cx.declared_ingress(view, &edge.src, &ns.name));
            if extra.is_empty() {
                continue;
            }
            let mut h = edge_hit(cx, env, view, ns, edge);
            h.message = format!(
                "namespace {} admits {} on {extra} without a declared flow",
                ns.name, edge.src
            );
            h.evidence.push(format!("ingress allowed: {}", edge.conns));
            h.evidence
                .push(format!("policies: {}", policy_list(&edge.policies)));
            out.push(h);
        }
    }
    out
}

/// In-scope namespaces accept nothing from the public internet.
pub fn no_internet_ingress(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |_, n| scope.ns_tagged(n)) {
        let here = Node::Namespace(ns.name.clone());
        let edges = view.both.iter().filter(|e| e.dst == here);
        let Some(i) = internet(cx, edges, |e| &e.src) else {
            continue;
        };
        let mut h = edge_hit(cx, env, view, ns, i.first);
        h.message = format!(
            "namespace {} accepts traffic from the internet on {}",
            ns.name, i.conns
        );
        h.evidence = i.evidence();
        out.push(h);
    }
    out
}

/// No namespace that accepts internet traffic reaches an in-scope namespace directly
/// (internet -> X -> PCI): at least one internal tier sits between.
pub fn no_internet_path(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |_, n| scope.ns_tagged(n)) {
        let here = Node::Namespace(ns.name.clone());
        // Namespaces of this cluster that accept internet traffic, with that edge.
        let mut exposed: BTreeMap<&str, &Edge> = BTreeMap::new();
        for e in &view.both {
            if let (Some(r), Some(dst)) = (e.src.external(), e.dst.namespace())
                && cx.is_public(r)
            {
                exposed.entry(dst).or_insert(e);
            }
        }
        for edge in view.both.iter().filter(|e| e.dst == here) {
            let Node::Namespace(x) = &edge.src else {
                continue;
            };
            if x == &ns.name {
                continue;
            }
            let Some(inbound) = exposed.get(x.as_str()) else {
                continue;
            };
            let mut h = edge_hit(cx, env, view, ns, edge);
            h.message = format!(
                "namespace {} is two hops from the internet: internet -> {x} -> {}",
                ns.name, ns.name
            );
            h.evidence.push(format!(
                "the internet -> namespace {x} on {} via {}",
                inbound.conns,
                policy_list(&inbound.policies)
            ));
            h.evidence.push(format!(
                "namespace {x} -> namespace {} on {} via {}",
                ns.name,
                edge.conns,
                policy_list(&edge.policies)
            ));
            out.push(h);
        }
    }
    out
}

fn peer_auth_modes(cx: &Cx, env: &str, cluster: &str, ns: &str) -> Vec<(String, String)> {
    let Some(c) = cx
        .rendered
        .get(env)
        .and_then(|r| r.clusters.iter().find(|c| c.name == cluster))
    else {
        return Vec::new();
    };
    c.manifests
        .iter()
        .filter(|m| m.kind == "PeerAuthentication" && m.namespace.as_deref() == Some(ns))
        .map(|m| {
            let mode = m
                .value
                .pointer("/spec/mtls/mode")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("UNSET")
                .to_string();
            let ports_weaker = m
                .value
                .pointer("/spec/portLevelMtls")
                .and_then(serde_json::Value::as_object)
                .is_some_and(|o| {
                    o.values().any(|v| {
                        v.pointer("/mode").and_then(serde_json::Value::as_str) != Some("STRICT")
                    })
                });
            (
                m.name.clone(),
                if ports_weaker {
                    format!("{mode} (weaker per port)")
                } else {
                    mode
                },
            )
        })
        .collect()
}

fn strict_mtls_impl(cx: &Cx, scope: &Scope, require_mesh: bool) -> Vec<Hit> {
    let mut out = Vec::new();
    for env in cx.envs() {
        for ns in env.namespaces.values().filter(|n| scope.ns_tagged(n)) {
            for cname in &ns.clusters {
                let Some(cluster) = env.clusters.get(cname) else {
                    continue;
                };
                let mut h = ns_hit(env, Some(cname), ns);
                if cluster.mesh == Mesh::None {
                    if require_mesh {
                        h.message = format!(
                            "namespace {} runs on cluster {cname} without a service mesh: NetworkPolicy cannot encrypt, so traffic is not protected in transit",
                            ns.name
                        );
                        h.evidence.push(format!("cluster {cname}: mesh = none"));
                        h.source = Some(src(&cluster.origin));
                        out.push(h);
                    }
                    continue;
                }
                let modes = peer_auth_modes(cx, &env.name, cname, &ns.name);
                let strict = !modes.is_empty() && modes.iter().all(|(_, m)| m == "STRICT");
                if !strict {
                    h.message = format!(
                        "namespace {} on cluster {cname} does not require STRICT mTLS",
                        ns.name
                    );
                    h.evidence.push(if modes.is_empty() {
                        "no PeerAuthentication in the namespace".to_string()
                    } else {
                        modes
                            .iter()
                            .map(|(n, m)| format!("PeerAuthentication {}/{n}: {m}", ns.name))
                            .collect::<Vec<_>>()
                            .join("; ")
                    });
                    out.push(h);
                }
            }
        }
    }
    out
}

/// If a mesh is present, in-scope namespaces require STRICT mTLS.
pub fn strict_mtls_if_mesh(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    strict_mtls_impl(cx, scope, false)
}

/// In-scope namespaces run only on meshed clusters, with STRICT mTLS.
pub fn strict_mtls_required(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    strict_mtls_impl(cx, scope, true)
}

// ---------------------------------------------------------------- SOC 2

/// External (internet) ingress only into zones of sensitivity `public` (the DMZ).
pub fn external_ingress_dmz(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |e, n| scope.ns_scoped(e, n)) {
        let Some(zone) = cx.model.zones.get(&ns.zone) else {
            continue;
        };
        if zone.sensitivity == Sensitivity::Public {
            continue;
        }
        let here = Node::Namespace(ns.name.clone());
        // An ingress side no policy isolates is the default-deny rule's finding.
        let edges = view
            .both
            .iter()
            .filter(|e| e.dst == here && !e.policies.is_empty());
        let Some(i) = internet(cx, edges, |e| &e.src) else {
            continue;
        };
        let mut h = edge_hit(cx, env, view, ns, i.first);
        h.message = format!(
            "namespace {} in zone {} ({}) accepts internet traffic on {}; only public (DMZ) zones may",
            ns.name,
            zone.name,
            zone.sensitivity.as_str(),
            i.conns
        );
        h.evidence = i.evidence();
        out.push(h);
    }
    out
}

/// Internet egress only from zones that declare it, and never from restricted zones.
pub fn restricted_egress(cx: &Cx, scope: &Scope) -> Vec<Hit> {
    let mut out = Vec::new();
    for (env, view, ns) in subjects(cx, |e, n| scope.ns_scoped(e, n)) {
        let Some(zone) = cx.model.zones.get(&ns.zone) else {
            continue;
        };
        let why = if !zone.internet_egress {
            format!("zone {} does not declare `internet_egress`", zone.name)
        } else if zone.sensitivity == Sensitivity::Restricted {
            format!(
                "zone {} is restricted and may not send to the internet",
                zone.name
            )
        } else {
            continue;
        };
        let here = Node::Namespace(ns.name.clone());
        // An egress side no policy isolates is the default-deny rule's finding.
        let edges = view
            .egress_side
            .iter()
            .filter(|e| e.src == here && !e.policies.is_empty());
        let Some(i) = internet(cx, edges, |e| &e.dst) else {
            continue;
        };
        let mut h = edge_hit(cx, env, view, ns, i.first);
        h.message = format!(
            "namespace {} may send to the internet on {}: {why}",
            ns.name, i.conns
        );
        h.evidence = i.evidence();
        out.push(h);
    }
    out
}

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
                        && t.cidrs().any(|n| super::net::IpRange::of(&n).overlaps(r))
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
                        && t.cidrs().any(|n| super::net::IpRange::of(&n).overlaps(r))
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
