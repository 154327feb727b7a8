//! The segmentation plan of one cluster, decided in Rust.
//!
//! Every decision about who may talk to whom is made here; templates receive these structures
//! (the template context, documented in `docs/templates.md`) and only shape them into YAML.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::{
    Cluster, Environment, Mesh, Model, Namespace, Origin, PortSpec, Protocol, Sensitivity,
    non_public_ranges, non_public_ranges_v6,
};

/// Version of the template context; bumped on any incompatible change.
pub const CONTEXT_VERSION: u32 = 1;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_ZONE: &str = "segplan.io/zone";
pub const LABEL_ENV: &str = "segplan.io/environment";
pub const LABEL_CLUSTER: &str = "segplan.io/cluster";
pub const LABEL_TEAM: &str = "segplan.io/team";
pub const LABEL_NODE_POOL: &str = "segplan.io/node-pool";
pub const ANNOTATION_SOURCE: &str = "segplan.io/source";
/// Prefix of the one label per compliance tag (`compliance.segplan.io/pci-dss: "true"`).
pub const COMPLIANCE_LABEL_PREFIX: &str = "compliance.segplan.io/";

/// Object metadata as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A NetworkPolicy port: protocol, port and optional inclusive end port.
#[derive(Debug, Clone, Serialize)]
pub struct Port {
    pub protocol: &'static str,
    pub port: u16,
    pub end_port: Option<u16>,
}

impl From<&PortSpec> for Port {
    fn from(p: &PortSpec) -> Self {
        Port {
            protocol: p.protocol.as_str(),
            port: p.port,
            end_port: p.end_port,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IpBlock {
    pub cidr: String,
    pub except: Vec<String>,
}

/// One NetworkPolicy peer. `kind` says which shape it has:
/// `pods` (podSelector only: this namespace), `namespaces` (namespaceSelector only),
/// `namespace_pods` (both, ANDed) or `ip_block`. Empty label maps select everything.
#[derive(Debug, Clone, Serialize)]
pub struct Peer {
    pub kind: &'static str,
    pub namespace_labels: BTreeMap<String, String>,
    pub pod_labels: BTreeMap<String, String>,
    pub ip_block: Option<IpBlock>,
}

impl Peer {
    pub fn pods(labels: BTreeMap<String, String>) -> Self {
        Peer {
            kind: "pods",
            namespace_labels: BTreeMap::new(),
            pod_labels: labels,
            ip_block: None,
        }
    }
    pub fn namespaces(labels: BTreeMap<String, String>) -> Self {
        Peer {
            kind: "namespaces",
            namespace_labels: labels,
            pod_labels: BTreeMap::new(),
            ip_block: None,
        }
    }
    pub fn namespace_pods(ns: BTreeMap<String, String>, pods: BTreeMap<String, String>) -> Self {
        Peer {
            kind: "namespace_pods",
            namespace_labels: ns,
            pod_labels: pods,
            ip_block: None,
        }
    }
    pub fn ip_block(cidr: String, except: Vec<String>) -> Self {
        Peer {
            kind: "ip_block",
            namespace_labels: BTreeMap::new(),
            pod_labels: BTreeMap::new(),
            ip_block: Some(IpBlock { cidr, except }),
        }
    }
}

/// One ingress or egress rule: peers (never empty) and ports (empty = all ports).
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<Port>,
    /// Why the rule exists (the flow's reason), rendered as a comment.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkPolicy {
    pub meta: Meta,
    /// `Ingress` and/or `Egress`, always explicit.
    pub policy_types: Vec<&'static str>,
    /// Rules per direction; a direction in `policy_types` without rules denies everything.
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceObj {
    pub meta: Meta,
}

/// A CEL validation of a ValidatingAdmissionPolicy.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub expression: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdmissionPolicy {
    pub meta: Meta,
    pub validations: Vec<Validation>,
}

/// A label selector: matchLabels and `In`/`NotIn` expressions.
#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    pub key: String,
    pub operator: &'static str,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdmissionBinding {
    pub meta: Meta,
    pub policy_name: String,
    pub namespace_match_labels: BTreeMap<String, String>,
    pub namespace_match_expressions: Vec<Expr>,
}

/// An Istio source or operation clause.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MeshRuleCtx {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    /// Shared by every rule naming the same zone's namespaces (a list per namespace and zone
    /// flow would copy the whole zone into every namespace's plan).
    pub namespaces: std::sync::Arc<[String]>,
    pub ip_blocks: Vec<String>,
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
    pub not_paths: Vec<String>,
    pub ports: Vec<String>,
    pub not_ports: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationPolicy {
    pub meta: Meta,
    /// `ALLOW` or `DENY`.
    pub action: &'static str,
    /// Workload labels; empty = every workload of the namespace.
    pub selector: BTreeMap<String, String>,
    /// Empty with action ALLOW = allow nothing (deny by default).
    pub rules: Vec<MeshRuleCtx>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerAuthentication {
    pub meta: Meta,
    pub mode: &'static str,
}

/// One object of the plan, with the template that shapes it.
#[derive(Debug, Clone)]
pub enum Object {
    Namespace(NamespaceObj),
    NetworkPolicy(NetworkPolicy),
    AdmissionPolicy(AdmissionPolicy),
    AdmissionBinding(AdmissionBinding),
    AuthorizationPolicy(AuthorizationPolicy),
    PeerAuthentication(PeerAuthentication),
}

impl Object {
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Namespace(o) => &o.meta,
            Object::NetworkPolicy(o) => &o.meta,
            Object::AdmissionPolicy(o) => &o.meta,
            Object::AdmissionBinding(o) => &o.meta,
            Object::AuthorizationPolicy(o) => &o.meta,
            Object::PeerAuthentication(o) => &o.meta,
        }
    }

    /// `(apiVersion, kind, template file)`.
    pub fn type_info(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Object::Namespace(_) => ("v1", "Namespace", "namespace.yaml"),
            Object::NetworkPolicy(_) => (
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "networkpolicy.yaml",
            ),
            Object::AdmissionPolicy(_) => (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
                "validatingadmissionpolicy.yaml",
            ),
            Object::AdmissionBinding(_) => (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicyBinding",
                "validatingadmissionpolicybinding.yaml",
            ),
            Object::AuthorizationPolicy(_) => (
                "security.istio.io/v1",
                "AuthorizationPolicy",
                "authorizationpolicy.yaml",
            ),
            Object::PeerAuthentication(_) => (
                "security.istio.io/v1",
                "PeerAuthentication",
                "peerauthentication.yaml",
            ),
        }
    }
}

/// The plan of one cluster: its objects in a stable order.
#[derive(Debug, Clone)]
pub struct ClusterPlan {
    pub cluster: String,
    pub environment: String,
    pub objects: Vec<Object>,
}

struct Builder<'a> {
    model: &'a Model,
    env: &'a Environment,
    cluster: &'a Cluster,
    /// Namespaces of this cluster by zone.
    by_zone: BTreeMap<&'a str, Vec<&'a Namespace>>,
    /// Their names, for Istio source rules.
    names_by_zone: BTreeMap<&'a str, std::sync::Arc<[String]>>,
    objects: Vec<Object>,
}

/// Computes the plan of one cluster of an environment.
pub fn cluster_plan(model: &Model, env: &Environment, cluster: &Cluster) -> ClusterPlan {
    let mut by_zone: BTreeMap<&str, Vec<&Namespace>> = BTreeMap::new();
    for ns in env.namespaces_on(&cluster.name) {
        by_zone.entry(ns.zone.as_str()).or_default().push(ns);
    }
    let names_by_zone = by_zone
        .iter()
        .map(|(z, nss)| (*z, nss.iter().map(|n| n.name.clone()).collect()))
        .collect();
    let mut b = Builder {
        model,
        env,
        cluster,
        by_zone,
        names_by_zone,
        objects: Vec::new(),
    };
    for ns in env.namespaces_on(&cluster.name) {
        b.namespace(ns);
    }
    b.node_pools();
    ClusterPlan {
        cluster: cluster.name.clone(),
        environment: env.name.clone(),
        objects: b.objects,
    }
}

fn origins(list: &[&Origin]) -> String {
    let mut v: Vec<String> = list.iter().map(|o| o.to_string()).collect();
    v.dedup();
    v.join(", ")
}

fn cel_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl<'a> Builder<'a> {
    fn meta(&self, name: String, namespace: Option<&str>, source: String) -> Meta {
        let labels = BTreeMap::from([
            (MANAGED_BY.to_string(), "segplan".to_string()),
            (LABEL_ENV.to_string(), self.env.name.clone()),
            (LABEL_CLUSTER.to_string(), self.cluster.name.clone()),
        ]);
        Meta {
            name,
            namespace: namespace.map(str::to_string),
            labels,
            annotations: BTreeMap::from([(ANNOTATION_SOURCE.to_string(), source)]),
        }
    }

    fn zone_selector(zone: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(LABEL_ZONE.to_string(), zone.to_string())])
    }

    fn netpol(
        &mut self,
        ns: &Namespace,
        name: String,
        source: String,
        ingress: Option<Vec<Rule>>,
        egress: Option<Vec<Rule>>,
    ) {
        let mut policy_types = Vec::new();
        if ingress.is_some() {
            policy_types.push("Ingress");
        }
        if egress.is_some() {
            policy_types.push("Egress");
        }
        let meta = self.meta(name, Some(&ns.name), source);
        self.objects.push(Object::NetworkPolicy(NetworkPolicy {
            meta,
            policy_types,
            ingress: ingress.unwrap_or_default(),
            egress: egress.unwrap_or_default(),
        }));
    }

    fn namespace(&mut self, ns: &'a Namespace) {
        let zone = &self.model.zones[&ns.zone];
        let src = ns.origin.to_string();

        // 1. The Namespace, with zone, ownership, team, compliance and Pod Security labels.
        let mut meta = self.meta(ns.name.clone(), None, src.clone());
        meta.labels.extend(ns.labels.clone());
        meta.labels.insert(LABEL_ZONE.into(), ns.zone.clone());
        if let Some(team) = &ns.team {
            meta.labels.insert(LABEL_TEAM.into(), team.clone());
        }
        for tag in &ns.compliance {
            meta.labels
                .insert(format!("{COMPLIANCE_LABEL_PREFIX}{tag}"), "true".into());
        }
        let enforce = match zone.sensitivity {
            Sensitivity::Restricted => "restricted",
            _ if !ns.compliance.is_empty() => "restricted",
            _ => "baseline",
        };
        meta.labels
            .insert("pod-security.kubernetes.io/enforce".into(), enforce.into());
        meta.labels.insert(
            "pod-security.kubernetes.io/audit".into(),
            "restricted".into(),
        );
        meta.labels.insert(
            "pod-security.kubernetes.io/warn".into(),
            "restricted".into(),
        );
        meta.annotations.extend(ns.annotations.clone());
        if let Some(pool) = ns
            .node_pool
            .as_ref()
            .and_then(|p| self.cluster.node_pools.get(p))
        {
            meta.labels
                .insert(LABEL_NODE_POOL.into(), pool.name.clone());
            let selector: Vec<String> = pool
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            meta.annotations.insert(
                "scheduler.alpha.kubernetes.io/node-selector".into(),
                selector.join(","),
            );
            let tolerations: Vec<serde_json::Value> = pool
                .taints
                .iter()
                .map(|t| {
                    let mut m = serde_json::Map::new();
                    m.insert("key".into(), t.key.clone().into());
                    match &t.value {
                        Some(v) => {
                            m.insert("operator".into(), "Equal".into());
                            m.insert("value".into(), v.clone().into());
                        }
                        None => {
                            m.insert("operator".into(), "Exists".into());
                        }
                    }
                    m.insert("effect".into(), t.effect.clone().into());
                    serde_json::Value::Object(m)
                })
                .collect();
            if !tolerations.is_empty() {
                meta.annotations.insert(
                    "scheduler.alpha.kubernetes.io/defaultTolerations".into(),
                    serde_json::Value::Array(tolerations).to_string(),
                );
            }
        }
        self.objects.push(Object::Namespace(NamespaceObj { meta }));

        // 2. Default deny, both directions.
        self.netpol(
            ns,
            "default-deny".into(),
            src.clone(),
            Some(vec![]),
            Some(vec![]),
        );

        // 3. DNS: egress to the cluster DNS pods in kube-system, UDP and TCP 53.
        let dns = Rule {
            peers: vec![Peer::namespace_pods(
                BTreeMap::from([(
                    "kubernetes.io/metadata.name".to_string(),
                    "kube-system".to_string(),
                )]),
                self.model.dns_pod_labels.clone(),
            )],
            ports: vec![
                Port {
                    protocol: "UDP",
                    port: 53,
                    end_port: None,
                },
                Port {
                    protocol: "TCP",
                    port: 53,
                    end_port: None,
                },
            ],
            reason: Some("cluster DNS".into()),
        };
        self.netpol(ns, "allow-dns".into(), src.clone(), None, Some(vec![dns]));

        // 4. Same-namespace traffic.
        if zone.same_namespace {
            let same = || Rule {
                peers: vec![Peer::pods(BTreeMap::new())],
                ports: vec![],
                reason: Some(format!("pods of namespace {} talk to each other", ns.name)),
            };
            self.netpol(
                ns,
                "allow-same-namespace".into(),
                zone.origin.to_string(),
                Some(vec![same()]),
                Some(vec![same()]),
            );
        }

        // 5. Zone flows, both ends: ingress here from zone A, egress here to zone B.
        let mut ingress_by_zone: BTreeMap<&str, (Vec<Rule>, Vec<&Origin>)> = BTreeMap::new();
        let mut egress_by_zone: BTreeMap<&str, (Vec<Rule>, Vec<&Origin>)> = BTreeMap::new();
        for flow in &self.model.flows {
            let rule = |peer_zone: &str| Rule {
                peers: vec![Peer::namespaces(Self::zone_selector(peer_zone))],
                ports: flow.ports.iter().map(Port::from).collect(),
                reason: flow.reason.clone(),
            };
            if flow.to == ns.zone && self.by_zone.contains_key(flow.from.as_str()) {
                let e = ingress_by_zone.entry(&flow.from).or_default();
                e.0.push(rule(&flow.from));
                e.1.push(&flow.origin);
            }
            if flow.from == ns.zone && self.by_zone.contains_key(flow.to.as_str()) {
                let e = egress_by_zone.entry(&flow.to).or_default();
                e.0.push(rule(&flow.to));
                e.1.push(&flow.origin);
            }
        }
        for (z, (rules, o)) in ingress_by_zone {
            self.netpol(
                ns,
                format!("ingress-from-{z}"),
                origins(&o),
                Some(rules),
                None,
            );
        }
        for (z, (rules, o)) in egress_by_zone {
            self.netpol(ns, format!("egress-to-{z}"), origins(&o), None, Some(rules));
        }

        // 6. Internet.
        if !zone.internet_ingress.is_empty() {
            let peers = ["0.0.0.0/0", "::/0"]
                .iter()
                .map(|c| Peer::ip_block(c.to_string(), vec![]))
                .collect();
            let rule = Rule {
                peers,
                ports: zone.internet_ingress.iter().map(Port::from).collect(),
                reason: zone.description.clone(),
            };
            self.netpol(
                ns,
                "ingress-from-internet".into(),
                zone.origin.to_string(),
                Some(vec![rule]),
                None,
            );
        }
        if zone.internet_egress {
            let rule = Rule {
                peers: self.public_peers(),
                ports: vec![],
                reason: Some(
                    "public internet only: private, link-local and cluster ranges excluded".into(),
                ),
            };
            self.netpol(
                ns,
                "egress-to-internet".into(),
                zone.origin.to_string(),
                None,
                Some(vec![rule]),
            );
        }

        // 7. Cross-cluster flows: egress here when this cluster is a source, ingress when a target.
        for cf in &self.model.cross_cluster_flows {
            let ports: Vec<Port> = cf.ports.iter().map(Port::from).collect();
            let matches = |end: &crate::model::CrossEnd, c: &Cluster| {
                end.environment == c.environment
                    && end.cluster.as_ref().is_none_or(|n| *n == c.name)
            };
            // Egress here toward the target when this cluster is a source; ingress here from
            // the source when it is a target.
            for (here, there, prefix, ingress) in [
                (&cf.from, &cf.to, "egress-to", false),
                (&cf.to, &cf.from, "ingress-from", true),
            ] {
                if here.zone != ns.zone || !matches(here, self.cluster) {
                    continue;
                }
                for other in self.clusters_of(there) {
                    if other.name == self.cluster.name {
                        continue;
                    }
                    let rule = vec![Rule {
                        peers: cidr_peers(other),
                        ports: ports.clone(),
                        reason: cf.reason.clone(),
                    }];
                    let name = format!("{prefix}-{}-{}", other.name, there.zone);
                    let (ingress, egress) = if ingress {
                        (Some(rule), None)
                    } else {
                        (None, Some(rule))
                    };
                    self.netpol(ns, name, cf.origin.to_string(), ingress, egress);
                }
            }
        }

        // 9. Service mesh.
        if self.cluster.mesh == Mesh::Istio {
            self.mesh(ns);
        }
    }

    fn clusters_of(&self, end: &crate::model::CrossEnd) -> Vec<&'a Cluster> {
        let Some(env) = self.model.environments.get(&end.environment) else {
            return vec![];
        };
        env.clusters
            .values()
            .filter(|c| end.cluster.as_ref().is_none_or(|n| *n == c.name))
            .collect()
    }

    /// ipBlock peers for the public internet: everything but private, link-local and this
    /// cluster's own ranges.
    fn public_peers(&self) -> Vec<Peer> {
        let mut v4: Vec<IpNet> = non_public_ranges();
        let mut v6: Vec<IpNet> = non_public_ranges_v6();
        for net in self.cluster.cidrs() {
            let list = match net {
                IpNet::V4(_) => &mut v4,
                IpNet::V6(_) => &mut v6,
            };
            if !list.iter().any(|n| n.contains(&net)) {
                list.push(net);
            }
        }
        v4.sort();
        v6.sort();
        vec![
            Peer::ip_block(
                "0.0.0.0/0".into(),
                v4.iter().map(|n| n.to_string()).collect(),
            ),
            Peer::ip_block("::/0".into(), v6.iter().map(|n| n.to_string()).collect()),
        ]
    }

    fn mesh(&mut self, ns: &'a Namespace) {
        let zone = &self.model.zones[&ns.zone];
        let src = ns.origin.to_string();
        let authz = |b: &Self, name: String, source: String, action, selector, rules| {
            Object::AuthorizationPolicy(AuthorizationPolicy {
                meta: b.meta(name, Some(&ns.name), source),
                action,
                selector,
                rules,
            })
        };
        let mut objs = vec![authz(
            self,
            "deny-by-default".into(),
            src.clone(),
            "ALLOW",
            BTreeMap::new(),
            vec![],
        )];
        if zone.same_namespace {
            objs.push(authz(
                self,
                "allow-same-namespace".into(),
                zone.origin.to_string(),
                "ALLOW",
                BTreeMap::new(),
                vec![MeshRuleCtx {
                    namespaces: [ns.name.clone()].into(),
                    ..Default::default()
                }],
            ));
        }
        // Zone flows as namespace-level ALLOW rules (TCP ports only: Istio sees TCP).
        let mut by_zone: BTreeMap<&str, (Vec<String>, Vec<&Origin>)> = BTreeMap::new();
        for flow in &self.model.flows {
            if flow.to != ns.zone {
                continue;
            }
            if let Some(sources) = self.by_zone.get(flow.from.as_str()) {
                let e = by_zone.entry(&flow.from).or_default();
                e.0.extend(tcp_ports(&flow.ports));
                e.1.push(&flow.origin);
                let _ = sources;
            }
        }
        for (z, (ports, o)) in by_zone {
            let namespaces = self.names_by_zone[z].clone();
            objs.push(authz(
                self,
                format!("allow-from-{z}"),
                origins(&o),
                "ALLOW",
                BTreeMap::new(),
                vec![MeshRuleCtx {
                    namespaces,
                    ports,
                    ..Default::default()
                }],
            ));
        }
        if !zone.internet_ingress.is_empty() {
            objs.push(authz(
                self,
                "allow-from-internet".into(),
                zone.origin.to_string(),
                "ALLOW",
                BTreeMap::new(),
                vec![MeshRuleCtx {
                    ports: tcp_ports(&zone.internet_ingress),
                    ..Default::default()
                }],
            ));
        }
        for cf in &self.model.cross_cluster_flows {
            if cf.to.zone != ns.zone
                || cf.to.environment != self.env.name
                || cf
                    .to
                    .cluster
                    .as_ref()
                    .is_some_and(|c| *c != self.cluster.name)
            {
                continue;
            }
            for other in self.clusters_of(&cf.from) {
                let ip_blocks = other.cidrs().map(|n| n.to_string()).collect();
                objs.push(authz(
                    self,
                    format!("allow-from-{}-{}", other.name, cf.from.zone),
                    cf.origin.to_string(),
                    "ALLOW",
                    BTreeMap::new(),
                    vec![MeshRuleCtx {
                        ip_blocks,
                        ports: tcp_ports(&cf.ports),
                        ..Default::default()
                    }],
                ));
            }
        }
        // Mesh rules: one ALLOW each, and per workload a DENY guard so that namespace-level
        // ALLOW rules cannot widen what the mesh rules grant.
        let rules: Vec<_> = self
            .env
            .mesh_rules
            .iter()
            .filter(|r| r.namespace == ns.name)
            .collect();
        let mut by_workload: BTreeMap<&BTreeMap<String, String>, Vec<&crate::model::MeshRule>> =
            BTreeMap::new();
        for r in &rules {
            objs.push(authz(
                self,
                r.name.clone(),
                r.origin.to_string(),
                "ALLOW",
                r.workload.clone(),
                vec![MeshRuleCtx {
                    principals: r.from.iter().map(|p| p.istio()).collect(),
                    methods: r.methods.clone(),
                    paths: r.paths.clone(),
                    ports: tcp_ports(&r.ports),
                    ..Default::default()
                }],
            ));
            by_workload.entry(&r.workload).or_default().push(r);
        }
        for (workload, rs) in by_workload {
            let name = format!("{}-guard", rs[0].name);
            let o: Vec<&Origin> = rs.iter().map(|r| &r.origin).collect();
            objs.push(authz(
                self,
                name,
                origins(&o),
                "DENY",
                workload.clone(),
                guard_rules(&rs),
            ));
        }
        if zone.sensitivity == Sensitivity::Restricted || !ns.compliance.is_empty() {
            objs.push(Object::PeerAuthentication(PeerAuthentication {
                meta: self.meta("strict-mtls".into(), Some(&ns.name), src),
                mode: "STRICT",
            }));
        }
        self.objects.extend(objs);
    }

    /// Node-level segmentation: per dedicated pool used on this cluster, an admission policy
    /// that pins the pool's namespaces to it and one that keeps other namespaces off it.
    fn node_pools(&mut self) {
        let mut used: BTreeMap<&str, Vec<&Namespace>> = BTreeMap::new();
        for ns in self.env.namespaces_on(&self.cluster.name) {
            if let Some(p) = &ns.node_pool {
                used.entry(p.as_str()).or_default().push(ns);
            }
        }
        for (pool_name, namespaces) in used {
            let Some(pool) = self.cluster.node_pools.get(pool_name) else {
                continue;
            };
            let src = pool.origin.to_string();
            let mut pin = Vec::new();
            for (k, v) in &pool.labels {
                pin.push(Validation {
                    expression: format!(
                        "has(object.spec.nodeSelector) && {k} in object.spec.nodeSelector && object.spec.nodeSelector[{k}] == {v}",
                        k = cel_str(k),
                        v = cel_str(v)
                    ),
                    message: format!("pods in namespaces of node pool {pool_name} must set nodeSelector {k}={v}"),
                });
            }
            for t in &pool.taints {
                let value = match &t.value {
                    Some(v) => format!("has(t.value) && t.value == {}", cel_str(v)),
                    None => "has(t.operator) && t.operator == 'Exists'".into(),
                };
                pin.push(Validation {
                    expression: format!(
                        "has(object.spec.tolerations) && object.spec.tolerations.exists(t, has(t.key) && t.key == {} && {value} && has(t.effect) && t.effect == {})",
                        cel_str(&t.key),
                        cel_str(&t.effect)
                    ),
                    message: format!(
                        "pods in namespaces of node pool {pool_name} must tolerate {}={}:{}",
                        t.key,
                        t.value.as_deref().unwrap_or(""),
                        t.effect
                    ),
                });
            }
            let pin_name = format!("segplan-pin-{pool_name}");
            let meta = self.meta(pin_name.clone(), None, src.clone());
            self.objects.push(Object::AdmissionPolicy(AdmissionPolicy {
                meta,
                validations: pin,
            }));
            let meta = self.meta(pin_name.clone(), None, src.clone());
            self.objects
                .push(Object::AdmissionBinding(AdmissionBinding {
                    meta,
                    policy_name: pin_name,
                    namespace_match_labels: BTreeMap::from([(
                        LABEL_NODE_POOL.to_string(),
                        pool_name.to_string(),
                    )]),
                    namespace_match_expressions: vec![],
                }));
            let _ = namespaces;

            if pool.taints.is_empty() {
                continue;
            }
            // Other namespaces must not tolerate the pool's taints (nor every taint at once).
            let keys: Vec<String> = pool.taints.iter().map(|t| cel_str(&t.key)).collect();
            let exclusive = vec![Validation {
                expression: format!(
                    "!has(object.spec.tolerations) || !object.spec.tolerations.exists(t, (has(t.key) && t.key in [{}]) || ((!has(t.key) || t.key == '') && has(t.operator) && t.operator == 'Exists'))",
                    keys.join(", ")
                ),
                message: format!(
                    "only namespaces of node pool {pool_name} may tolerate its taints"
                ),
            }];
            let ex_name = format!("segplan-exclusive-{pool_name}");
            let meta = self.meta(ex_name.clone(), None, src.clone());
            self.objects.push(Object::AdmissionPolicy(AdmissionPolicy {
                meta,
                validations: exclusive,
            }));
            let meta = self.meta(ex_name.clone(), None, src);
            self.objects
                .push(Object::AdmissionBinding(AdmissionBinding {
                    meta,
                    policy_name: ex_name,
                    namespace_match_labels: BTreeMap::new(),
                    namespace_match_expressions: vec![
                        Expr {
                            key: LABEL_NODE_POOL.into(),
                            operator: "NotIn",
                            values: vec![pool_name.to_string()],
                        },
                        Expr {
                            key: "kubernetes.io/metadata.name".into(),
                            operator: "NotIn",
                            values: crate::model::RESERVED_NAMESPACES
                                .iter()
                                .map(|s| s.to_string())
                                .collect(),
                        },
                    ],
                }));
        }
    }
}

fn tcp_ports(ports: &[PortSpec]) -> Vec<String> {
    let mut out = Vec::new();
    for p in ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
        for port in p.port..=p.end() {
            out.push(port.to_string());
        }
    }
    out
}

fn cidr_peers(c: &Cluster) -> Vec<Peer> {
    [c.pod_cidr, c.node_cidr]
        .into_iter()
        .flatten()
        .map(|n| Peer::ip_block(n.to_string(), vec![]))
        .collect()
}

/// DENY rules equal to "matches none of the mesh rules": NOT(r1 OR r2 ...) expanded into
/// a union of conjunctions, one negated clause picked from each rule.
fn guard_rules(rules: &[&crate::model::MeshRule]) -> Vec<MeshRuleCtx> {
    #[derive(Clone, Copy)]
    enum Clause {
        Principals,
        Methods,
        Paths,
        Ports,
    }
    let clauses = |r: &crate::model::MeshRule| {
        let mut v = vec![Clause::Principals];
        if !r.methods.is_empty() {
            v.push(Clause::Methods);
        }
        if !r.paths.is_empty() {
            v.push(Clause::Paths);
        }
        if r.ports.iter().any(|p| p.protocol == Protocol::Tcp) {
            v.push(Clause::Ports);
        }
        v
    };
    let mut combos: Vec<MeshRuleCtx> = vec![MeshRuleCtx::default()];
    for r in rules {
        let mut next = Vec::new();
        for combo in &combos {
            for c in clauses(r) {
                let mut m = combo.clone();
                match c {
                    Clause::Principals => m.not_principals.extend(r.from.iter().map(|p| p.istio())),
                    Clause::Methods => m.not_methods.extend(r.methods.iter().cloned()),
                    Clause::Paths => m.not_paths.extend(r.paths.iter().cloned()),
                    Clause::Ports => m.not_ports.extend(tcp_ports(&r.ports)),
                }
                for l in [
                    &mut m.not_principals,
                    &mut m.not_methods,
                    &mut m.not_paths,
                    &mut m.not_ports,
                ] {
                    l.sort();
                    l.dedup();
                }
                next.push(m);
            }
        }
        combos = next;
    }
    combos
}
