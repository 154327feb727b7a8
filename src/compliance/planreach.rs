//! Namespace-level NetworkPolicy evaluation of a rendered plan, backing [`Reachability`].
//!
//! Written for `segplan check` while the general engine (`crate::analysis`) was being built;
//! it implements the networking.k8s.io/v1 semantics that matter for a plan without
//! workloads:
//! * every managed namespace has one representative pod **without labels**: a policy's
//!   `podSelector` selects it when it requires no label (empty, `NotIn`, `DoesNotExist`);
//! * `kube-system` has a representative and the cluster DNS pods (labelled as the topology's
//!   `dns_pod_labels` say), so DNS rules resolve;
//! * policyTypes default to `Ingress`, plus `Egress` when the policy has egress rules;
//!   isolation is per direction, rules of all selecting policies are unioned, and a
//!   connection needs both sides (external ranges are never isolated);
//! * a missing or empty `from`/`to` matches everything, missing or empty `ports` every port;
//!   a port without protocol is TCP, without number every port, `endPort` closes a range;
//!   named ports never resolve (the representative has no container ports);
//! * peers: `podSelector` alone means the policy's namespace, `namespaceSelector` and
//!   `podSelector` in one peer are ANDed, `ipBlock` (with `except`) matches external ranges
//!   only; every namespace carries `kubernetes.io/metadata.name`.
//!
//! External ranges are split at every CIDR a policy names and at the cuts the caller gives.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::net::{Conns, IpRange, atoms};
use super::reach::{ClusterView, Edge, Isolation, Node, ReachError, Reachability};
use crate::model::Protocol;
use crate::render::RenderedCluster;

/// The label every namespace carries implicitly.
const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The plan evaluator. `dns_pod_labels` are the labels of the cluster DNS pods.
#[derive(Debug, Clone)]
pub struct PlanReach {
    pub dns_pod_labels: BTreeMap<String, String>,
}

type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct Selector {
    match_labels: Labels,
    exprs: Vec<(String, String, Vec<String>)>,
}

impl Selector {
    fn parse(v: &Value) -> Result<Self, String> {
        let mut s = Selector {
            match_labels: Labels::new(),
            exprs: Vec::new(),
        };
        if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
            for (k, val) in m {
                s.match_labels
                    .insert(k.clone(), val.as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(list) = v.get("matchExpressions").and_then(Value::as_array) {
            for e in list {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let op = e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !["In", "NotIn", "Exists", "DoesNotExist"].contains(&op) {
                    return Err(format!("unknown selector operator `{op}`"));
                }
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                s.exprs.push((key.to_string(), op.to_string(), values));
            }
        }
        Ok(s)
    }

    fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.exprs.iter().all(|(k, op, vals)| {
                let got = labels.get(k);
                match op.as_str() {
                    "In" => got.is_some_and(|g| vals.contains(g)),
                    "NotIn" => got.is_none_or(|g| !vals.contains(g)),
                    "Exists" => got.is_some(),
                    _ => got.is_none(),
                }
            })
    }
}

#[derive(Debug, Clone)]
enum Peer {
    Pods {
        namespaces: Option<Selector>,
        pods: Option<Selector>,
    },
    Block(Vec<IpRange>, Vec<IpRange>),
}

#[derive(Debug, Clone)]
struct Rule {
    /// `None`: every source or destination.
    peers: Option<Vec<Peer>>,
    conns: Conns,
}

#[derive(Debug, Clone)]
struct Policy {
    name: String,
    namespace: String,
    selector: Selector,
    ingress: Option<Vec<Rule>>,
    egress: Option<Vec<Rule>>,
}

/// A pod-like endpoint: its namespace, its labels, and the node it stands for.
struct Pod {
    namespace: String,
    labels: Labels,
    node: Node,
}

fn cidr(s: &str) -> Result<IpRange, String> {
    let net: ipnet::IpNet = s.parse().map_err(|_| format!("`{s}` is not a CIDR"))?;
    Ok(IpRange::of(&net.trunc()))
}

fn parse_rules(list: Option<&Value>, peer_key: &str) -> Result<Vec<Rule>, String> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| "rules must be a list".to_string())?;
    let mut out = Vec::new();
    for r in list {
        let peers = match r.get(peer_key).and_then(Value::as_array) {
            None => None,
            Some(a) if a.is_empty() => None,
            Some(a) => {
                let mut peers = Vec::new();
                for p in a {
                    if let Some(b) = p.get("ipBlock") {
                        let c = b.get("cidr").and_then(Value::as_str).unwrap_or_default();
                        let except = b
                            .get("except")
                            .and_then(Value::as_array)
                            .map(|e| {
                                e.iter()
                                    .map(|x| cidr(x.as_str().unwrap_or_default()))
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .transpose()?
                            .unwrap_or_default();
                        peers.push(Peer::Block(vec![cidr(c)?], except));
                    } else {
                        let sel = |k: &str| p.get(k).map(Selector::parse).transpose();
                        peers.push(Peer::Pods {
                            namespaces: sel("namespaceSelector")?,
                            pods: sel("podSelector")?,
                        });
                    }
                }
                Some(peers)
            }
        };
        let conns = match r.get("ports").and_then(Value::as_array) {
            None => Conns::all(),
            Some(a) if a.is_empty() => Conns::all(),
            Some(a) => {
                let mut c = Conns::none();
                for p in a {
                    let proto = match p.get("protocol").and_then(Value::as_str) {
                        None | Some("TCP") => Protocol::Tcp,
                        Some("UDP") => Protocol::Udp,
                        Some("SCTP") => Protocol::Sctp,
                        Some(other) => return Err(format!("unknown protocol `{other}`")),
                    };
                    match p.get("port") {
                        None => c.add(proto, 1, 65535),
                        Some(Value::Number(n)) => {
                            let port = n.as_u64().unwrap_or(0).clamp(1, 65535) as u16;
                            let end = p
                                .get("endPort")
                                .and_then(Value::as_u64)
                                .map(|e| e.clamp(1, 65535) as u16)
                                .unwrap_or(port);
                            c.add(proto, port, end.max(port));
                        }
                        // Named ports resolve on no representative.
                        Some(_) => {}
                    }
                }
                c
            }
        };
        out.push(Rule { peers, conns });
    }
    Ok(out)
}

fn parse_policy(v: &Value) -> Result<Policy, String> {
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let namespace = v
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let spec = v.get("spec").cloned().unwrap_or(Value::Null);
    let selector = Selector::parse(spec.get("podSelector").unwrap_or(&Value::Null))?;
    let types: Vec<String> = match spec.get("policyTypes").and_then(Value::as_array) {
        Some(t) => t
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        None => {
            let mut t = vec!["Ingress".to_string()];
            if spec.get("egress").is_some() {
                t.push("Egress".into());
            }
            t
        }
    };
    let ingress = types
        .iter()
        .any(|t| t == "Ingress")
        .then(|| parse_rules(spec.get("ingress"), "from"))
        .transpose()?;
    let egress = types
        .iter()
        .any(|t| t == "Egress")
        .then(|| parse_rules(spec.get("egress"), "to"))
        .transpose()?;
    Ok(Policy {
        name,
        namespace,
        selector,
        ingress,
        egress,
    })
}

impl Peer {
    fn matches_pod(
        &self,
        policy_ns: &str,
        pod: &Pod,
        ns_labels: &BTreeMap<String, Labels>,
    ) -> bool {
        match self {
            Peer::Block(..) => false,
            Peer::Pods { namespaces, pods } => {
                let ns_ok = match namespaces {
                    None => pod.namespace == policy_ns,
                    Some(sel) => ns_labels
                        .get(&pod.namespace)
                        .is_some_and(|l| sel.matches(l)),
                };
                ns_ok && pods.as_ref().is_none_or(|s| s.matches(&pod.labels))
            }
        }
    }

    fn matches_range(&self, r: &IpRange) -> bool {
        match self {
            Peer::Block(cidrs, except) => {
                cidrs.iter().any(|c| c.contains(r)) && !except.iter().any(|e| e.overlaps(r))
            }
            Peer::Pods { .. } => false,
        }
    }
}

/// One side's verdict for a peer: `None` when not isolated.
fn side(
    policies: &[&Policy],
    rules_of: impl Fn(&Policy) -> Option<&Vec<Rule>>,
    peer_matches: impl Fn(&Policy, &Peer) -> bool,
) -> Option<(Conns, Vec<String>)> {
    let mut isolated = false;
    let mut conns = Conns::none();
    let mut names = BTreeSet::new();
    for p in policies {
        let Some(rules) = rules_of(p) else { continue };
        isolated = true;
        for r in rules {
            let hit = match &r.peers {
                None => true,
                Some(peers) => peers.iter().any(|peer| peer_matches(p, peer)),
            };
            if hit && !r.conns.is_empty() {
                conns.union_with(&r.conns);
                names.insert(format!("{}/{}", p.namespace, p.name));
            }
        }
    }
    isolated.then(|| (conns, names.into_iter().collect()))
}

impl Reachability for PlanReach {
    fn view(&self, cluster: &RenderedCluster, cuts: &[IpRange]) -> Result<ClusterView, ReachError> {
        let mut ns_labels: BTreeMap<String, Labels> = BTreeMap::new();
        let mut policies = Vec::new();
        let mut sources = BTreeMap::new();
        for m in &cluster.manifests {
            if let Some(src) = m
                .value()
                .pointer("/metadata/annotations/segplan.io~1source")
                .and_then(Value::as_str)
                && let Some(ns) = &m.namespace
            {
                sources.insert(format!("{ns}/{}", m.name), src.to_string());
            }
            match m.kind.as_str() {
                "Namespace" => {
                    let mut labels: Labels = m
                        .value()
                        .pointer("/metadata/labels")
                        .and_then(Value::as_object)
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    labels.insert(NAME_LABEL.into(), m.name.clone());
                    ns_labels.insert(m.name.clone(), labels);
                }
                "NetworkPolicy" => {
                    let p = parse_policy(m.value()).map_err(|message| ReachError::Policy {
                        cluster: cluster.name.clone(),
                        policy: format!(
                            "{}/{}",
                            m.namespace.as_deref().unwrap_or("default"),
                            m.name
                        ),
                        message,
                    })?;
                    policies.push(p);
                }
                _ => {}
            }
        }
        let managed: Vec<String> = ns_labels.keys().cloned().collect();
        ns_labels
            .entry("kube-system".into())
            .or_insert_with(|| Labels::from([(NAME_LABEL.into(), "kube-system".into())]));

        let mut pods: Vec<Pod> = managed
            .iter()
            .map(|n| Pod {
                namespace: n.clone(),
                labels: Labels::new(),
                node: Node::Namespace(n.clone()),
            })
            .collect();
        if !managed.iter().any(|n| n == "kube-system") {
            pods.push(Pod {
                namespace: "kube-system".into(),
                labels: Labels::new(),
                node: Node::Namespace("kube-system".into()),
            });
        }
        pods.push(Pod {
            namespace: "kube-system".into(),
            labels: self.dns_pod_labels.clone(),
            node: Node::Pod {
                namespace: "kube-system".into(),
                name: "dns".into(),
            },
        });

        let mut all_cuts: Vec<IpRange> = cuts.to_vec();
        for p in &policies {
            for rules in [&p.ingress, &p.egress].into_iter().flatten() {
                for r in rules {
                    for peer in r.peers.iter().flatten() {
                        if let Peer::Block(c, e) = peer {
                            all_cuts.extend(c.iter().chain(e.iter()).copied());
                        }
                    }
                }
            }
        }
        let externals = atoms(&all_cuts);

        // Policies selecting each pod.
        let selecting = |pod: &Pod| -> Vec<&Policy> {
            policies
                .iter()
                .filter(|p| p.namespace == pod.namespace && p.selector.matches(&pod.labels))
                .collect()
        };
        let egress_of = |src: &Pod, dst: &Node| -> Option<(Conns, Vec<String>)> {
            let sel = selecting(src);
            side(
                &sel,
                |p| p.egress.as_ref(),
                |p, peer| match dst {
                    Node::External(r) => peer.matches_range(r),
                    _ => pods
                        .iter()
                        .find(|q| &q.node == dst)
                        .is_some_and(|q| peer.matches_pod(&p.namespace, q, &ns_labels)),
                },
            )
        };
        let ingress_of = |dst: &Pod, src: &Node| -> Option<(Conns, Vec<String>)> {
            let sel = selecting(dst);
            side(
                &sel,
                |p| p.ingress.as_ref(),
                |p, peer| match src {
                    Node::External(r) => peer.matches_range(r),
                    _ => pods
                        .iter()
                        .find(|q| &q.node == src)
                        .is_some_and(|q| peer.matches_pod(&p.namespace, q, &ns_labels)),
                },
            )
        };

        let mut view = ClusterView {
            cluster: cluster.name.clone(),
            environment: cluster.environment.clone(),
            namespaces: managed.clone(),
            sources,
            ..Default::default()
        };
        let others: Vec<Node> = pods
            .iter()
            .map(|p| p.node.clone())
            .chain(externals.iter().map(|r| Node::External(*r)))
            .collect();
        let open = || (Conns::all(), Vec::new());
        for pod in pods
            .iter()
            .filter(|p| matches!(p.node, Node::Namespace(_)) && managed.contains(&p.namespace))
        {
            let sel = selecting(pod);
            let names = |f: &dyn Fn(&Policy) -> bool| -> Vec<String> {
                sel.iter()
                    .filter(|p| f(p))
                    .map(|p| format!("{}/{}", p.namespace, p.name))
                    .collect()
            };
            view.isolation.insert(
                pod.namespace.clone(),
                Isolation {
                    ingress: names(&|p| p.ingress.is_some()),
                    egress: names(&|p| p.egress.is_some()),
                },
            );
            for other in &others {
                let (c, pol) = egress_of(pod, other).unwrap_or_else(open);
                if !c.is_empty() {
                    view.egress_side.push(Edge {
                        src: pod.node.clone(),
                        dst: other.clone(),
                        conns: c,
                        policies: pol,
                    });
                }
                let (c, pol) = ingress_of(pod, other).unwrap_or_else(open);
                if !c.is_empty() {
                    view.ingress_side.push(Edge {
                        src: other.clone(),
                        dst: pod.node.clone(),
                        conns: c,
                        policies: pol,
                    });
                }
            }
        }
        // Both sides: pods to pods (either end managed), externals to managed and back.
        for src in &pods {
            for dst in &others {
                let dst_pod = pods.iter().find(|q| &q.node == dst);
                let src_managed =
                    managed.contains(&src.namespace) && matches!(src.node, Node::Namespace(_));
                let dst_managed = dst_pod.is_some_and(|q| {
                    managed.contains(&q.namespace) && matches!(q.node, Node::Namespace(_))
                });
                if !src_managed && !dst_managed {
                    continue;
                }
                let (e, mut pe) = egress_of(src, dst).unwrap_or_else(open);
                let (i, pi) = match dst_pod {
                    Some(q) => ingress_of(q, &src.node).unwrap_or_else(open),
                    None => open(),
                };
                let c = e.intersect(&i);
                if !c.is_empty() {
                    pe.extend(pi);
                    pe.sort();
                    pe.dedup();
                    view.both.push(Edge {
                        src: src.node.clone(),
                        dst: dst.clone(),
                        conns: c,
                        policies: pe,
                    });
                }
            }
        }
        for r in &externals {
            let src = Node::External(*r);
            for pod in pods
                .iter()
                .filter(|p| managed.contains(&p.namespace) && matches!(p.node, Node::Namespace(_)))
            {
                let (c, pol) = ingress_of(pod, &src).unwrap_or_else(open);
                if !c.is_empty() {
                    view.both.push(Edge {
                        src: src.clone(),
                        dst: pod.node.clone(),
                        conns: c,
                        policies: pol,
                    });
                }
            }
        }
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::net::IpRange;

    fn bundled() -> (crate::model::Model, crate::render::Rendered) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        let (model, _) = crate::model::load(&dir).expect("bundled example is valid");
        let r = crate::render::render(&model, "prod", &Default::default()).unwrap();
        (model, r)
    }

    fn ns(n: &str) -> Node {
        Node::Namespace(n.into())
    }

    #[test]
    fn bundled_prod_views_match_the_flows() {
        let (model, rendered) = bundled();
        let eng = PlanReach {
            dns_pod_labels: model.dns_pod_labels.clone(),
        };
        let c = &rendered.clusters[0];
        assert_eq!(c.name, "prod-eu-1");
        let v = eng.view(c, &[]).unwrap();
        assert_eq!(
            v.namespaces,
            ["checkout", "data", "frontend", "ingress", "payments"]
        );
        for n in &v.namespaces {
            let iso = &v.isolation[n];
            assert!(
                iso.ingress.contains(&format!("{n}/default-deny")),
                "{n}: {iso:?}"
            );
            assert!(
                iso.egress.contains(&format!("{n}/allow-dns")),
                "{n}: {iso:?}"
            );
        }
        // checkout -> payments on the two data flows, both sides.
        let e = v
            .both
            .iter()
            .find(|e| e.src == ns("checkout") && e.dst == ns("payments"))
            .expect("checkout reaches payments");
        assert_eq!(e.conns.to_string(), "TCP 5432,6379,8443");
        assert!(
            e.policies
                .contains(&"payments/ingress-from-app".to_string())
        );
        assert!(e.policies.contains(&"checkout/egress-to-data".to_string()));
        // ingress -> payments: dmz has no flow into data.
        assert!(
            !v.both
                .iter()
                .any(|e| e.src == ns("ingress") && e.dst == ns("payments"))
        );
        // The internet reaches the ingress namespace on 443 only.
        let inet: Vec<&Edge> = v
            .both
            .iter()
            .filter(|e| e.src.external().is_some() && e.dst == ns("ingress"))
            .collect();
        assert!(!inet.is_empty());
        assert!(inet.iter().all(|e| e.conns.to_string() == "TCP 443"));
        assert!(
            !v.both
                .iter()
                .any(|e| e.src.external().is_some() && e.dst == ns("payments"))
        );
        // DNS: every namespace's egress admits the DNS pods on 53 and nothing in kube-system else.
        let dns = Node::Pod {
            namespace: "kube-system".into(),
            name: "dns".into(),
        };
        let d = v
            .egress_side
            .iter()
            .find(|e| e.src == ns("payments") && e.dst == dns)
            .unwrap();
        assert_eq!(d.conns.to_string(), "TCP 53; UDP 53");
        assert!(
            !v.egress_side
                .iter()
                .any(|e| e.src == ns("payments") && e.dst == ns("kube-system"))
        );
        // Management federation: checkout admits the mgmt cluster's pod range on 9090.
        let mgmt = IpRange::of(&"10.30.0.0/16".parse().unwrap());
        let m = v
            .ingress_side
            .iter()
            .find(|e| e.dst == ns("checkout") && e.src == Node::External(mgmt))
            .expect("mgmt range admitted");
        assert_eq!(m.conns.to_string(), "TCP 9090");
    }

    #[test]
    fn open_sides_and_defaults() {
        let objs = [
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"zone": "x"}}}),
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}),
            // Ingress only (policyTypes defaulted), from namespaces labelled zone=x on 80-90.
            serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "p", "namespace": "b"},
                "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "x"}}}],
                    "ports": [{"port": 80, "endPort": 90}, {"protocol": "UDP", "port": "dns"}]}]}}),
            // Selects labelled pods only: does not isolate the representative.
            serde_json::json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "q", "namespace": "a"},
                "spec": {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress", "Egress"]}}),
        ];
        let manifests = objs
            .iter()
            .map(|v| {
                crate::render::Manifest::from_value(
                    v["apiVersion"].as_str().unwrap().into(),
                    v["kind"].as_str().unwrap().into(),
                    v["metadata"]["name"].as_str().unwrap().into(),
                    v["metadata"]["namespace"].as_str().map(str::to_string),
                    String::new(),
                    v.clone(),
                )
            })
            .collect();
        let c = RenderedCluster {
            name: "c".into(),
            environment: "e".into(),
            manifests,
        };
        let v = PlanReach {
            dns_pod_labels: Labels::new(),
        }
        .view(&c, &[])
        .unwrap();
        assert!(v.isolation["a"].ingress.is_empty() && v.isolation["a"].egress.is_empty());
        assert_eq!(v.isolation["b"].ingress, ["b/p"]);
        assert!(v.isolation["b"].egress.is_empty());
        let ab = v
            .both
            .iter()
            .find(|e| e.src == ns("a") && e.dst == ns("b"))
            .unwrap();
        assert_eq!(ab.conns.to_string(), "TCP 80-90");
        assert!(!v.both.iter().any(|e| e.src == ns("b") && e.dst == ns("b")));
        let ba = v
            .both
            .iter()
            .find(|e| e.src == ns("b") && e.dst == ns("a"))
            .unwrap();
        assert!(ba.conns.is_all() && ba.policies.is_empty());
        // Externals reach the open namespace, not the isolated one.
        assert!(
            v.both
                .iter()
                .any(|e| e.src.external().is_some() && e.dst == ns("a"))
        );
        assert!(
            !v.both
                .iter()
                .any(|e| e.src.external().is_some() && e.dst == ns("b"))
        );
    }
}
