//! [`Reachability`] backed by the analysis engine ([`crate::analysis`]): what `segplan check`
//! uses. The engine answers for both sides; the one-sided views come from running it on the
//! objects with one direction of every NetworkPolicy removed.
//!
//! The rendered objects get two synthetic pods in `kube-system`: the cluster DNS pods
//! (labelled as the topology's `dns_pod_labels`) and an unlabelled pod standing for the rest
//! of kube-system, so DNS rules resolve and a DNS rule that opens more of kube-system shows.
//! External ranges are split further at the caller's cuts, so each classifies cleanly.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::net::{Conns, IpRange, atoms};
use super::reach::{ClusterView, Edge, Isolation, Node, ReachError, Reachability};
use crate::analysis::{self, Inventory, Representatives};
use crate::render::RenderedCluster;

/// The engine adapter. `dns_pod_labels` are the labels of the cluster DNS pods.
#[derive(Debug, Clone)]
pub struct EngineReach {
    pub dns_pod_labels: BTreeMap<String, String>,
}

const DNS_POD: &str = "segplan-dns";
const OTHER_POD: &str = "segplan-kube-system";

fn conns(c: &analysis::ConnSet) -> Conns {
    let mut out = Conns::none();
    for (p, ports) in c.iter() {
        let proto = match p {
            analysis::Protocol::Tcp => crate::model::Protocol::Tcp,
            analysis::Protocol::Udp => crate::model::Protocol::Udp,
            analysis::Protocol::Sctp => crate::model::Protocol::Sctp,
        };
        for &(a, b) in ports.ranges() {
            out.add(proto, a, b);
        }
    }
    out
}

fn range(r: &analysis::ip::IpRange) -> IpRange {
    IpRange {
        v6: r.family == analysis::ip::Family::V6,
        first: r.first,
        last: r.last,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Both,
    Ingress,
    Egress,
}

/// The objects as they are, or with only one side of every policy.
fn one_side(objects: &[Value], keep: Keep) -> Vec<Value> {
    use analysis::sides::{Direction, keep_only};
    match keep {
        Keep::Both => objects.to_vec(),
        Keep::Ingress => keep_only(objects, Direction::Ingress),
        Keep::Egress => keep_only(objects, Direction::Egress),
    }
}

struct Run {
    result: analysis::Connectivity,
}

impl Run {
    fn node(&self, p: &analysis::Peer) -> Option<Node> {
        match p {
            analysis::Peer::External(r) => Some(Node::External(range(r))),
            analysis::Peer::Endpoint(i) => {
                let e = &self.result.endpoints[*i];
                if e.representative {
                    Some(Node::Namespace(e.namespace.clone()))
                } else if e.namespace == "kube-system" && e.name == DNS_POD {
                    Some(Node::Pod {
                        namespace: "kube-system".into(),
                        name: "dns".into(),
                    })
                } else if e.namespace == "kube-system" && e.name == OTHER_POD {
                    Some(Node::Namespace("kube-system".into()))
                } else {
                    None
                }
            }
        }
    }

    fn names(&self, side: &analysis::Side) -> Vec<String> {
        side.policies
            .iter()
            .map(|&i| self.result.policies[i].clone())
            .collect()
    }
}

impl EngineReach {
    fn run(&self, objects: &[Value], keep: Keep, cluster: &str) -> Result<Run, ReachError> {
        let objs = one_side(objects, keep);
        let inv =
            Inventory::from_objects_with(&objs, Representatives::EmptyNamespaces).map_err(|e| {
                ReachError::Policy {
                    cluster: cluster.to_string(),
                    policy: objs
                        .get(e.index())
                        .and_then(|o| o.pointer("/metadata/name"))
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                    message: e.to_string(),
                }
            })?;
        Ok(Run {
            result: analysis::analyze(&inv),
        })
    }
}

/// Splits an edge with an external end at the cuts.
fn split(edge: Edge, pieces: &[IpRange]) -> Vec<Edge> {
    let r = match (&edge.src, &edge.dst) {
        (Node::External(r), _) | (_, Node::External(r)) => *r,
        _ => return vec![edge],
    };
    pieces
        .iter()
        .filter(|p| r.contains(p))
        .map(|p| {
            let mut e = edge.clone();
            match (&mut e.src, &mut e.dst) {
                (Node::External(x), _) | (_, Node::External(x)) => *x = *p,
                _ => {}
            }
            e
        })
        .collect()
}

impl Reachability for EngineReach {
    fn view(&self, cluster: &RenderedCluster, cuts: &[IpRange]) -> Result<ClusterView, ReachError> {
        let mut objects: Vec<Value> = cluster
            .manifests
            .iter()
            .map(|m| m.value().clone())
            .collect();
        let managed: Vec<String> = cluster
            .manifests
            .iter()
            .filter(|m| m.kind == "Namespace")
            .map(|m| m.name.clone())
            .collect();
        objects.push(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        );
        objects.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": DNS_POD, "namespace": "kube-system", "labels": self.dns_pod_labels}}));
        objects.push(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": OTHER_POD, "namespace": "kube-system"}}));

        // Every CIDR a policy names, plus the caller's cuts, so pieces classify cleanly.
        let mut all_cuts = cuts.to_vec();
        for m in cluster
            .manifests
            .iter()
            .filter(|m| m.kind == "NetworkPolicy")
        {
            collect_cidrs(m.value(), &mut all_cuts);
        }
        let pieces = atoms(&all_cuts);

        let is_managed = |n: &Node| matches!(n, Node::Namespace(x) if managed.contains(x));
        let mut sources = BTreeMap::new();
        for m in &cluster.manifests {
            if let (Some(ns), Some(src)) = (
                &m.namespace,
                m.value()
                    .pointer("/metadata/annotations/segplan.io~1source")
                    .and_then(Value::as_str),
            ) {
                sources.insert(format!("{ns}/{}", m.name), src.to_string());
            }
        }
        let mut view = ClusterView {
            cluster: cluster.name.clone(),
            environment: cluster.environment.clone(),
            namespaces: managed.clone(),
            sources,
            ..Default::default()
        };

        let full = self.run(&objects, Keep::Both, &cluster.name)?;
        for c in &full.result.connections {
            let (Some(src), Some(dst)) = (full.node(&c.src), full.node(&c.dst)) else {
                continue;
            };
            if !is_managed(&src) && !is_managed(&dst) {
                continue;
            }
            let mut policies = full.names(&c.egress);
            policies.extend(full.names(&c.ingress));
            policies.sort();
            policies.dedup();
            view.both.extend(split(
                Edge {
                    src,
                    dst,
                    conns: conns(&c.conns),
                    policies,
                },
                &pieces,
            ));
        }
        // Each side alone: what the sources' egress (or the destinations' ingress) admits.
        for keep in [Keep::Egress, Keep::Ingress] {
            let run = self.run(&objects, keep, &cluster.name)?;
            for c in &run.result.connections {
                let (Some(src), Some(dst)) = (run.node(&c.src), run.node(&c.dst)) else {
                    continue;
                };
                let (managed, side) = match keep {
                    Keep::Ingress => (is_managed(&dst), &c.ingress),
                    _ => (is_managed(&src), &c.egress),
                };
                if !managed {
                    continue;
                }
                let policies = if side.isolated {
                    run.names(side)
                } else {
                    Vec::new()
                };
                let edges = split(
                    Edge {
                        src,
                        dst,
                        conns: conns(&c.conns),
                        policies,
                    },
                    &pieces,
                );
                match keep {
                    Keep::Ingress => view.ingress_side.extend(edges),
                    _ => view.egress_side.extend(edges),
                }
            }
        }

        // Isolation: a side is open when some connection passes it without isolation (external
        // ranges are never isolated, so an open side always shows). The policies named are
        // those selecting every pod of the namespace for that direction.
        let inv = Inventory::from_objects_with(&objects, Representatives::EmptyNamespaces)
            .map_err(|e| ReachError::Policy {
                cluster: cluster.name.clone(),
                policy: "?".into(),
                message: e.to_string(),
            })?;
        let empty = crate::analysis::selector::Labels::new();
        for ns in &managed {
            let here = Node::Namespace(ns.clone());
            let open_in = full
                .result
                .connections
                .iter()
                .any(|c| full.node(&c.dst).as_ref() == Some(&here) && !c.ingress.isolated);
            let open_out = full
                .result
                .connections
                .iter()
                .any(|c| full.node(&c.src).as_ref() == Some(&here) && !c.egress.isolated);
            let names = |ingress: bool| -> Vec<String> {
                inv.policies
                    .iter()
                    .filter(|p| p.namespace == *ns && p.pod_selector.matches(&empty))
                    .filter(|p| {
                        if ingress {
                            p.ingress.is_some()
                        } else {
                            p.egress.is_some()
                        }
                    })
                    .map(|p| format!("{}/{}", p.namespace, p.name))
                    .collect()
            };
            view.isolation.insert(
                ns.clone(),
                Isolation {
                    ingress: if open_in { Vec::new() } else { names(true) },
                    egress: if open_out { Vec::new() } else { names(false) },
                },
            );
        }
        for list in [
            &mut view.both,
            &mut view.egress_side,
            &mut view.ingress_side,
        ] {
            list.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
        }
        Ok(view)
    }
}

fn collect_cidrs(v: &Value, out: &mut Vec<IpRange>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Object(b)) = m.get("ipBlock") {
                let mut push = |s: &Value| {
                    if let Some(net) = s.as_str().and_then(|s| s.parse::<ipnet::IpNet>().ok()) {
                        out.push(IpRange::of(&net.trunc()));
                    }
                };
                if let Some(c) = b.get("cidr") {
                    push(c);
                }
                for e in b
                    .get("except")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    push(e);
                }
            }
            for x in m.values() {
                collect_cidrs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_cidrs(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::planreach::PlanReach;

    fn norm(mut v: Vec<Edge>) -> Vec<(String, String, String, Vec<String>)> {
        v.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
        v.into_iter()
            .map(|e| {
                (
                    e.src.to_string(),
                    e.dst.to_string(),
                    e.conns.to_string(),
                    e.policies,
                )
            })
            .collect()
    }

    /// Two independent evaluators (the analysis engine and `planreach`) agree on every
    /// cluster of the bundled example and of every check test topology.
    #[test]
    fn engine_and_plan_evaluator_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("environments")];
        for e in std::fs::read_dir(root.join("tests/topologies/check")).unwrap() {
            dirs.push(e.unwrap().path());
        }
        dirs.sort();
        let mut clusters = 0;
        for dir in dirs {
            let Ok((model, _)) = crate::model::load(&dir) else {
                continue;
            };
            let engine = EngineReach {
                dns_pod_labels: model.dns_pod_labels.clone(),
            };
            let plan = PlanReach {
                dns_pod_labels: model.dns_pod_labels.clone(),
            };
            let cuts: Vec<IpRange> = crate::model::non_public_ranges()
                .iter()
                .chain(crate::model::non_public_ranges_v6().iter())
                .map(IpRange::of)
                .collect();
            for env in model.environments.keys() {
                let r = crate::render::render(&model, env, &Default::default()).unwrap();
                for c in &r.clusters {
                    let a = engine.view(c, &cuts).unwrap();
                    let b = plan.view(c, &cuts).unwrap();
                    let at = format!("{} {}", dir.display(), c.name);
                    assert_eq!(a.namespaces, b.namespaces, "{at}");
                    // IPv4 only: the engine leaves IPv6 out unless a policy names an IPv6 block.
                    let v4 = |v: Vec<Edge>| -> Vec<Edge> {
                        v.into_iter()
                            .filter(|e| {
                                ![&e.src, &e.dst]
                                    .iter()
                                    .any(|n| n.external().is_some_and(|r| r.v6))
                            })
                            .collect()
                    };
                    assert_eq!(
                        norm(v4(a.both.clone())),
                        norm(v4(b.both.clone())),
                        "{at}: both"
                    );
                    assert_eq!(
                        norm(v4(a.egress_side.clone())),
                        norm(v4(b.egress_side.clone())),
                        "{at}: egress"
                    );
                    assert_eq!(
                        norm(v4(a.ingress_side.clone())),
                        norm(v4(b.ingress_side.clone())),
                        "{at}: ingress"
                    );
                    for (ns, iso) in &a.isolation {
                        let other = &b.isolation[ns];
                        assert_eq!(
                            iso.ingress.is_empty(),
                            other.ingress.is_empty(),
                            "{at} {ns}"
                        );
                        assert_eq!(iso.egress.is_empty(), other.egress.is_empty(), "{at} {ns}");
                    }
                    clusters += 1;
                }
            }
        }
        assert!(clusters > 25, "{clusters}");
    }
}
