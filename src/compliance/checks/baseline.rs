//! Baseline checks every environment gets.

use super::{edge_hit, ns_hit, subjects};
use crate::compliance::context::{Cx, Hit, Scope, policy_list, src};
use crate::compliance::reach::Node;

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
            let wide: Vec<&str> = crate::compliance::net::PROTOCOLS
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
