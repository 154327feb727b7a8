//! The built-in checks. Each takes the context and the scope of the profile that runs it and
//! returns one [`Hit`] per object that breaks it. Plan-level checks read the reachability
//! views of the rendered policies; model-level checks read the validated topology.

use super::context::{Cx, Hit, policy_list, src};
use super::reach::{ClusterView, Edge, Node};
use crate::compliance::net::Conns;
use crate::model::{Environment, Namespace};

pub(super) fn ns_hit(env: &Environment, cluster: Option<&str>, ns: &Namespace) -> Hit {
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
pub(super) fn subjects<'a>(
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

pub(super) fn edge_hit(
    cx: &Cx,
    env: &Environment,
    view: &ClusterView,
    ns: &Namespace,
    edge: &Edge,
) -> Hit {
    let mut h = ns_hit(env, Some(&view.cluster), ns);
    h.source = Some(cx.edge_source(view, edge, ns));
    h
}

/// The public-internet edges of one namespace and direction, merged: external ranges are
/// split at every boundary policies and clusters name, so one "internet" is many ranges.
pub(super) struct Internet<'a> {
    pub(super) conns: Conns,
    pub(super) policies: Vec<String>,
    pub(super) ranges: Vec<String>,
    pub(super) first: &'a Edge,
}

pub(super) fn internet<'a>(
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
    pub(super) fn evidence(&self) -> Vec<String> {
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

mod baseline;
mod clusters;
mod data;

pub use baseline::*;
pub use clusters::*;
pub use data::*;
