//! The validated model: every name checked, every reference resolved, every port parsed.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::Serialize;

use crate::diag::Location;

/// Where a model item was declared: the topology file and line, for provenance annotations.
#[derive(Debug, Clone)]
pub struct Origin {
    /// File path relative to the topology directory (e.g. `prod.toml`).
    pub file: String,
    pub line: usize,
    pub location: Location,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A transport protocol as NetworkPolicy knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    /// The name as written in the topology (and in manifests).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port or port range with its protocol: `443/TCP`, `8000-8100/TCP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortSpec {
    pub protocol: Protocol,
    pub port: u16,
    /// Inclusive end of a range; `None` for a single port.
    pub end_port: Option<u16>,
}

impl PortSpec {
    /// The last port of the range (the port itself for a single port).
    pub fn end(&self) -> u16 {
        self.end_port.unwrap_or(self.port)
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end_port {
            Some(end) => write!(f, "{}-{}/{}", self.port, end, self.protocol),
            None => write!(f, "{}/{}", self.port, self.protocol),
        }
    }
}

/// Why a port string is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// No `/PROTOCOL`.
    MissingProtocol,
    /// A protocol other than TCP, UDP and SCTP.
    Protocol(String),
    /// Not a number between 1 and 65535.
    Number(String),
    /// A range that ends before it starts.
    Range(u16, u16),
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::MissingProtocol => write!(f, "a port needs a protocol, like `443/TCP`"),
            PortError::Protocol(p) => {
                write!(f, "unknown protocol `{p}`: expected TCP, UDP or SCTP")
            }
            PortError::Number(n) => write!(f, "`{n}` is not a port number between 1 and 65535"),
            PortError::Range(a, b) => write!(f, "port range {a}-{b} ends before it starts"),
        }
    }
}

impl FromStr for PortSpec {
    type Err = PortError;
    fn from_str(s: &str) -> Result<Self, PortError> {
        let (ports, proto) = s.trim().split_once('/').ok_or(PortError::MissingProtocol)?;
        let protocol = match proto {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => return Err(PortError::Protocol(other.to_string())),
        };
        let num = |n: &str| -> Result<u16, PortError> {
            match n.parse::<u16>() {
                Ok(v) if v >= 1 && n.chars().all(|c| c.is_ascii_digit()) => Ok(v),
                _ => Err(PortError::Number(n.to_string())),
            }
        };
        let (port, end_port) = match ports.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(PortError::Range(a, b));
                }
                (a, if a == b { None } else { Some(b) })
            }
            None => (num(ports)?, None),
        };
        Ok(PortSpec {
            protocol,
            port,
            end_port,
        })
    }
}

/// How sensitive a zone's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Public,
    Internal,
    Restricted,
}

impl Sensitivity {
    /// Every sensitivity, as written in the topology.
    pub const NAMES: [&'static str; 3] = ["public", "internal", "restricted"];
    /// Parses the name as written in the topology.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(Self::Public),
            "internal" => Some(Self::Internal),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }
    /// The name as written in the topology (and in manifests).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Restricted => "restricted",
        }
    }
}

/// What an environment is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvKind {
    Production,
    NonProduction,
    Management,
}

impl EnvKind {
    /// Every kind, as written in the topology.
    pub const NAMES: [&'static str; 3] = ["production", "non-production", "management"];
    /// Parses the name as written in the topology.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "production" => Some(Self::Production),
            "non-production" => Some(Self::NonProduction),
            "management" => Some(Self::Management),
            _ => None,
        }
    }
    /// The name as written in the topology (and in manifests).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::NonProduction => "non-production",
            Self::Management => "management",
        }
    }
}

/// The service mesh of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mesh {
    None,
    Istio,
}

/// A security zone of `segplan.toml`.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub description: Option<String>,
    pub sensitivity: Sensitivity,
    pub internet_ingress: Vec<PortSpec>,
    pub internet_egress: bool,
    pub same_namespace: bool,
    pub origin: Origin,
}

/// An allowed path between two zones (`[[flows]]`).
#[derive(Debug, Clone)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub ports: Vec<PortSpec>,
    pub reason: Option<String>,
    pub origin: Origin,
}

/// A node pool's taint.
#[derive(Debug, Clone)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

/// A cluster's node pool namespaces can be pinned to.
#[derive(Debug, Clone)]
pub struct NodePool {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub origin: Origin,
}

/// A Kubernetes cluster of an environment.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub environment: String,
    pub context: String,
    pub api_server: Option<String>,
    pub pod_cidr: Option<IpNet>,
    pub node_cidr: Option<IpNet>,
    pub service_cidr: Option<IpNet>,
    pub mesh: Mesh,
    pub node_pools: BTreeMap<String, NodePool>,
    pub origin: Origin,
}

impl Cluster {
    /// The cluster's own address ranges (pods, nodes, services).
    pub fn cidrs(&self) -> impl Iterator<Item = IpNet> + '_ {
        [self.pod_cidr, self.node_cidr, self.service_cidr]
            .into_iter()
            .flatten()
    }
}

/// A namespace segplan manages, in one environment.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub zone: String,
    pub team: Option<String>,
    /// The namespace's compliance tags, sorted (the environment's tags scope the environment, not its namespaces).
    pub compliance: Vec<String>,
    pub node_pool: Option<String>,
    /// Clusters this namespace is placed on, in name order.
    pub clusters: Vec<String>,
    pub service_accounts: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub origin: Origin,
}

/// An identity allowed by a mesh rule: `namespace/serviceaccount`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Principal {
    pub namespace: String,
    pub service_account: String,
}

impl Principal {
    /// The SPIFFE-style principal Istio matches (`cluster.local/ns/<ns>/sa/<sa>`).
    pub fn istio(&self) -> String {
        format!(
            "cluster.local/ns/{}/sa/{}",
            self.namespace, self.service_account
        )
    }
}

/// An Istio authorization rule (`[[mesh_rules]]`).
#[derive(Debug, Clone)]
pub struct MeshRule {
    pub name: String,
    pub namespace: String,
    pub workload: BTreeMap<String, String>,
    pub from: Vec<Principal>,
    pub methods: Vec<String>,
    pub paths: Vec<String>,
    pub ports: Vec<PortSpec>,
    pub origin: Origin,
}

/// One end of a cross-cluster flow, resolved to concrete clusters.
#[derive(Debug, Clone)]
pub struct CrossEnd {
    pub environment: String,
    /// `None` means every cluster of the environment.
    pub cluster: Option<String>,
    pub zone: String,
}

/// A flow between clusters (`[[cross_cluster_flows]]`), rendered as ipBlock rules.
#[derive(Debug, Clone)]
pub struct CrossClusterFlow {
    pub from: CrossEnd,
    pub to: CrossEnd,
    pub ports: Vec<PortSpec>,
    pub reason: Option<String>,
    /// The environment file that declared it.
    pub declared_in: String,
    pub origin: Origin,
}

/// One `<env>.toml`: its clusters, namespaces and mesh rules.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub kind: EnvKind,
    pub compliance: Vec<String>,
    pub description: Option<String>,
    pub clusters: BTreeMap<String, Cluster>,
    pub namespaces: BTreeMap<String, Namespace>,
    pub mesh_rules: Vec<MeshRule>,
    pub origin: Origin,
}

impl Environment {
    /// Namespaces placed on a cluster, in name order.
    pub fn namespaces_on<'a>(&'a self, cluster: &'a str) -> impl Iterator<Item = &'a Namespace> {
        self.namespaces
            .values()
            .filter(move |n| n.clusters.iter().any(|c| c == cluster))
    }
}

/// A user-defined compliance profile rule.
#[derive(Debug, Clone)]
pub struct ProfileRule {
    pub id: String,
    pub check: String,
    pub control: Option<String>,
    pub severity: Option<String>,
    pub description: Option<String>,
    pub origin: Origin,
}

/// A user-defined compliance profile (`[profiles.<name>]`).
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub extends: Vec<String>,
    pub rules: Vec<ProfileRule>,
    pub origin: Origin,
}

/// A compliance rule switched off, with its justification (`[[exemptions]]`).
#[derive(Debug, Clone)]
pub struct Exemption {
    pub rule: String,
    pub justification: String,
    pub namespace: Option<String>,
    pub environment: Option<String>,
    pub origin: Origin,
}

/// The whole validated topology.
#[derive(Debug, Clone)]
pub struct Model {
    pub project: String,
    /// Directory of user templates, resolved against the topology directory.
    pub templates: Option<std::path::PathBuf>,
    pub dns_pod_labels: BTreeMap<String, String>,
    pub zones: BTreeMap<String, Zone>,
    pub flows: Vec<Flow>,
    pub environments: BTreeMap<String, Environment>,
    pub cross_cluster_flows: Vec<CrossClusterFlow>,
    pub profiles: BTreeMap<String, Profile>,
    pub exemptions: Vec<Exemption>,
    /// SHA-256 over the topology files' names and bytes, hex.
    pub topology_hash: String,
    pub dir: std::path::PathBuf,
}

impl Model {
    /// The environment of that name.
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name)
    }

    /// The cluster of that name in any environment.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.environments
            .values()
            .find_map(|e| e.clusters.get(name))
    }
}

/// Public address space check used for internet egress: not private, not link-local, not loopback.
pub fn non_public_ranges() -> Vec<IpNet> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
    ]
    .iter()
    .map(|s| s.parse().expect("static CIDR"))
    .collect()
}

/// IPv6 ranges that are not public: unique local, link-local, loopback.
pub fn non_public_ranges_v6() -> Vec<IpNet> {
    ["fc00::/7", "fe80::/10", "::1/128"]
        .iter()
        .map(|s| s.parse().expect("static CIDR"))
        .collect()
}

/// Whether two networks share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Parses a CIDR strictly: the address must be the network address.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let net: IpNet = s
        .parse()
        .map_err(|_| format!("`{s}` is not a CIDR like 10.0.0.0/16"))?;
    if net.addr() != net.network() {
        return Err(format!(
            "`{s}` has host bits set; the network is {}",
            net.trunc()
        ));
    }
    let _: IpAddr = net.addr();
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse() {
        let p: PortSpec = "443/TCP".parse().unwrap();
        assert_eq!((p.port, p.end_port, p.protocol), (443, None, Protocol::Tcp));
        let p: PortSpec = "8000-8100/UDP".parse().unwrap();
        assert_eq!((p.port, p.end_port), (8000, Some(8100)));
        assert_eq!(p.to_string(), "8000-8100/UDP");
        assert_eq!("443".parse::<PortSpec>(), Err(PortError::MissingProtocol));
        assert_eq!(
            "443/tcp".parse::<PortSpec>(),
            Err(PortError::Protocol("tcp".into()))
        );
        assert_eq!(
            "0/TCP".parse::<PortSpec>(),
            Err(PortError::Number("0".into()))
        );
        assert_eq!(
            "70000/TCP".parse::<PortSpec>(),
            Err(PortError::Number("70000".into()))
        );
        assert_eq!(
            "+5/TCP".parse::<PortSpec>(),
            Err(PortError::Number("+5".into()))
        );
        assert_eq!("9-3/TCP".parse::<PortSpec>(), Err(PortError::Range(9, 3)));
    }

    #[test]
    fn cidrs_parse_strictly() {
        assert!(parse_cidr("10.0.0.0/16").is_ok());
        assert!(
            parse_cidr("10.0.0.1/16")
                .unwrap_err()
                .contains("10.0.0.0/16")
        );
        assert!(parse_cidr("10.0.0.0").is_err());
        assert!(parse_cidr("fd00::/8").is_ok());
        let a = parse_cidr("10.0.0.0/8").unwrap();
        let b = parse_cidr("10.10.0.0/16").unwrap();
        let c = parse_cidr("192.168.0.0/16").unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a) && !overlaps(&a, &c));
    }
}
