//! Checks of data namespaces and zones: PCI DSS, HIPAA and SOC 2's ingress and egress rules.

use super::{edge_hit, internet, ns_hit, subjects};
use crate::compliance::context::{Cx, Hit, Scope, policy_list, src};
use crate::compliance::net::IpRange;
use crate::compliance::reach::{Edge, Node};
use crate::model::{EnvKind, Mesh, Namespace, Sensitivity};
use std::collections::BTreeMap;

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
/// (internet -> X -> PCI), in the same cluster or from another cluster through a
/// cross-cluster flow: at least one internal tier sits between.
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
        // Across clusters: the namespace admits another cluster's range, and a namespace of
        // that cluster that accepts internet traffic may send to this cluster's range.
        let Some(me) = cx.model.cluster(&view.cluster) else {
            continue;
        };
        let my_ranges: Vec<IpRange> = [me.pod_cidr, me.node_cidr]
            .into_iter()
            .flatten()
            .map(|n| IpRange::of(&n))
            .collect();
        for edge in view.both.iter().filter(|e| e.dst == here) {
            let Some(r) = edge.src.external() else {
                continue;
            };
            for other in cx.clusters_in(r) {
                if other.name == view.cluster || !other.cidrs().any(|n| IpRange::of(&n).contains(r))
                {
                    continue;
                }
                let Some(ov) = cx.views.get(&other.name) else {
                    continue;
                };
                let exposed_there: BTreeMap<&str, &Edge> = ov
                    .both
                    .iter()
                    .filter(|e| e.src.external().is_some_and(|r| cx.is_public(r)))
                    .filter_map(|e| e.dst.namespace().map(|n| (n, e)))
                    .collect();
                for hop in &ov.both {
                    let (Some(x), Some(to)) = (hop.src.namespace(), hop.dst.external()) else {
                        continue;
                    };
                    let Some(inbound) = exposed_there.get(x) else {
                        continue;
                    };
                    let conns = hop.conns.intersect(&edge.conns);
                    if conns.is_empty() || !my_ranges.iter().any(|m| m.overlaps(to)) {
                        continue;
                    }
                    let mut h = edge_hit(cx, env, view, ns, edge);
                    h.message = format!(
                        "namespace {} is two hops from the internet: internet -> {}/{x} -> {}",
                        ns.name, other.name, ns.name
                    );
                    h.evidence.push(format!(
                        "the internet -> namespace {x} of cluster {} on {} via {}",
                        other.name,
                        inbound.conns,
                        policy_list(&inbound.policies)
                    ));
                    h.evidence.push(format!(
                        "namespace {x} of cluster {} -> namespace {} of cluster {} on {conns} via {}, {}",
                        other.name,
                        ns.name,
                        view.cluster,
                        policy_list(&hop.policies),
                        policy_list(&edge.policies)
                    ));
                    out.push(h);
                }
            }
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
                .value()
                .pointer("/spec/mtls/mode")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("UNSET")
                .to_string();
            let ports_weaker = m
                .value()
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
