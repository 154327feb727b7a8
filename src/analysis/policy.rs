//! NetworkPolicy (networking.k8s.io/v1) parsed into the shape the engine evaluates.
//!
//! The defaults are the API server's:
//! * `policyTypes` missing: the policy isolates ingress always, and egress only when it has at
//!   least one egress rule;
//! * a direction that is isolated with no rules (`ingress` missing or `[]`) allows nothing;
//! * a rule with `from`/`to` missing or empty matches every peer (pods and external IPs);
//! * a rule with `ports` missing or empty matches every protocol and port;
//! * a port without `protocol` is TCP; without `port` it is every port of its protocol;
//!   `endPort` makes `port..=endPort`; a named port is resolved per destination pod;
//! * a peer with only `podSelector` means pods of the policy's own namespace; with
//!   `namespaceSelector` (and optionally `podSelector`) both must match;
//!   `ipBlock` is `cidr` minus `except` and never matches a pod.

use serde_json::Value;

use super::ip::IpSet;
use super::ports::{MAX_PORT, Protocol};
use super::selector::Selector;

/// One parsed NetworkPolicy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `metadata.namespace` (`default` when missing).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.podSelector`: the pods the policy applies to, in its namespace.
    pub pod_selector: Selector,
    /// Ingress rules when the policy isolates ingress, else `None`.
    pub ingress: Option<Vec<Rule>>,
    /// Egress rules when the policy isolates egress, else `None`.
    pub egress: Option<Vec<Rule>>,
}

impl Policy {
    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One ingress or egress rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The peers (`from` or `to`); `None` when missing or empty, i.e. every peer.
    pub peers: Option<Vec<PeerSpec>>,
    /// The ports; empty means every protocol and port.
    pub ports: Vec<PortSpec>,
}

/// One entry of `from` / `to`.
#[derive(Debug, Clone)]
pub enum PeerSpec {
    /// Pods chosen by selectors. `namespaces: None` means the policy's namespace;
    /// `pods: None` means every pod of the chosen namespaces.
    Pods {
        /// `namespaceSelector`.
        namespaces: Option<Selector>,
        /// `podSelector`.
        pods: Option<Selector>,
    },
    /// `ipBlock`: external addresses.
    Block(IpSet),
}

/// A port of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// The protocol (TCP when missing).
    pub protocol: Protocol,
    /// The port; `None` means every port of the protocol.
    pub port: Option<PortRef>,
    /// `endPort`, for a numeric `port`.
    pub end_port: Option<u16>,
}

/// A numeric or named port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// A port number.
    Number(u16),
    /// A container port name, resolved per destination pod.
    Name(String),
}

/// Why a policy cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

/// Parses a `NetworkPolicy` object.
pub fn parse_policy(obj: &Value) -> Result<Policy, PolicyError> {
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| err("metadata.name is missing"))?
        .to_string();
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    let pod_selector = match spec.get("podSelector") {
        None | Some(Value::Null) => Selector::everything(),
        Some(v) => parse_selector(v, "spec.podSelector")?,
    };
    let rules_of = |key: &str, peers_key: &str| -> Result<Vec<Rule>, PolicyError> {
        match spec.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(rules)) => rules
                .iter()
                .enumerate()
                .map(|(i, r)| parse_rule(r, peers_key, &format!("spec.{key}[{i}]")))
                .collect(),
            Some(_) => Err(err(format!("spec.{key} must be a list"))),
        }
    };
    let ingress_rules = rules_of("ingress", "from")?;
    let egress_rules = rules_of("egress", "to")?;
    let (isolates_ingress, isolates_egress) = match spec.get("policyTypes") {
        Some(Value::Array(types)) if !types.is_empty() => {
            let mut i = false;
            let mut e = false;
            for t in types {
                match t.as_str() {
                    Some("Ingress") => i = true,
                    Some("Egress") => e = true,
                    other => {
                        return Err(err(format!(
                            "spec.policyTypes has `{}` (expected Ingress or Egress)",
                            other.map_or_else(|| t.to_string(), str::to_string)
                        )));
                    }
                }
            }
            (i, e)
        }
        _ => (true, !egress_rules.is_empty()),
    };
    Ok(Policy {
        namespace,
        name,
        pod_selector,
        ingress: isolates_ingress.then_some(ingress_rules),
        egress: isolates_egress.then_some(egress_rules),
    })
}

fn parse_rule(rule: &Value, peers_key: &str, at: &str) -> Result<Rule, PolicyError> {
    let peers = match rule.get(peers_key) {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) if list.is_empty() => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .enumerate()
                .map(|(i, p)| parse_peer(p, &format!("{at}.{peers_key}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(err(format!("{at}.{peers_key} must be a list"))),
    };
    let ports = match rule.get("ports") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, p)| parse_port(p, &format!("{at}.ports[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(err(format!("{at}.ports must be a list"))),
    };
    Ok(Rule { peers, ports })
}

fn parse_peer(peer: &Value, at: &str) -> Result<PeerSpec, PolicyError> {
    let present = |k: &str| peer.get(k).is_some_and(|v| !v.is_null());
    let (has_pods, has_ns, has_ip) = (
        present("podSelector"),
        present("namespaceSelector"),
        present("ipBlock"),
    );
    if has_ip {
        if has_pods || has_ns {
            return Err(err(format!(
                "{at}: ipBlock cannot be combined with podSelector or namespaceSelector"
            )));
        }
        let block = &peer["ipBlock"];
        let cidr = block
            .get("cidr")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("{at}.ipBlock.cidr is missing")))?;
        let except: Vec<String> = match block.get("except") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| err(format!("{at}.ipBlock.except must hold CIDR strings")))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err(format!("{at}.ipBlock.except must be a list"))),
        };
        let set =
            IpSet::from_block(cidr, &except).map_err(|e| err(format!("{at}.ipBlock: {e}")))?;
        return Ok(PeerSpec::Block(set));
    }
    if !has_pods && !has_ns {
        return Err(err(format!(
            "{at}: a peer needs podSelector, namespaceSelector or ipBlock"
        )));
    }
    let namespaces = if has_ns {
        Some(parse_selector(
            &peer["namespaceSelector"],
            &format!("{at}.namespaceSelector"),
        )?)
    } else {
        None
    };
    let pods = if has_pods {
        Some(parse_selector(
            &peer["podSelector"],
            &format!("{at}.podSelector"),
        )?)
    } else {
        None
    };
    Ok(PeerSpec::Pods { namespaces, pods })
}

fn parse_port(port: &Value, at: &str) -> Result<PortSpec, PolicyError> {
    let protocol = match port.get("protocol") {
        None | Some(Value::Null) => Protocol::Tcp,
        Some(v) => v
            .as_str()
            .and_then(Protocol::parse)
            .ok_or_else(|| err(format!("{at}.protocol `{v}` is not TCP, UDP or SCTP")))?,
    };
    let number = |v: &Value, what: &str| -> Result<u16, PolicyError> {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|&n| (1..=u64::from(MAX_PORT)).contains(&n))
            .map(|n| n as u16)
            .ok_or_else(|| err(format!("{at}.{what} `{v}` is not a port number (1-65535)")))
    };
    let port_ref = match port.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.parse::<u64>().is_err() => Some(PortRef::Name(s.clone())),
        Some(v) => Some(PortRef::Number(number(v, "port")?)),
    };
    let end_port = match port.get("endPort") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let end = number(v, "endPort")?;
            match &port_ref {
                Some(PortRef::Number(start)) if end >= *start => Some(end),
                Some(PortRef::Number(start)) => {
                    return Err(err(format!("{at}.endPort {end} is below port {start}")));
                }
                _ => return Err(err(format!("{at}.endPort needs a numeric port"))),
            }
        }
    };
    Ok(PortSpec {
        protocol,
        port: port_ref,
        end_port,
    })
}

/// Parses a `LabelSelector` object (`matchLabels`, `matchExpressions`).
pub fn parse_selector(v: &Value, at: &str) -> Result<Selector, PolicyError> {
    let obj = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(Selector::everything()),
        _ => return Err(err(format!("{at} must be a mapping"))),
    };
    let mut labels = std::collections::BTreeMap::new();
    if let Some(ml) = obj.get("matchLabels").filter(|v| !v.is_null()) {
        let ml = ml
            .as_object()
            .ok_or_else(|| err(format!("{at}.matchLabels must be a mapping")))?;
        for (k, v) in ml {
            labels.insert(k.clone(), scalar_string(v));
        }
    }
    let mut exprs = Vec::new();
    if let Some(me) = obj.get("matchExpressions").filter(|v| !v.is_null()) {
        let me = me
            .as_array()
            .ok_or_else(|| err(format!("{at}.matchExpressions must be a list")))?;
        for (i, e) in me.iter().enumerate() {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("{at}.matchExpressions[{i}].key is missing")))?;
            let op = e
                .get("operator")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("{at}.matchExpressions[{i}].operator is missing")))?;
            let values: Vec<String> = match e.get("values") {
                Some(Value::Array(vs)) => vs.iter().map(scalar_string).collect(),
                _ => Vec::new(),
            };
            exprs.push((key.to_string(), op.to_string(), values));
        }
    }
    Selector::new(&labels, &exprs).map_err(|e| err(format!("{at}: {e}")))
}

/// A YAML scalar as the string Kubernetes would store (`1` -> "1", `true` -> "true").
pub(crate) fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: Value) -> Policy {
        parse_policy(&json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec})).unwrap()
    }

    #[test]
    fn policy_types_default_from_rules() {
        let p = policy(json!({"podSelector": {}}));
        assert!(
            p.ingress.as_ref().is_some_and(Vec::is_empty),
            "every policy isolates ingress"
        );
        assert!(p.egress.is_none(), "no egress rules: egress not isolated");
        let p = policy(json!({"podSelector": {}, "egress": [{}]}));
        assert!(p.egress.is_some(), "egress rules isolate egress");
        let p = policy(json!({"podSelector": {}, "egress": []}));
        assert!(p.egress.is_none(), "an empty egress list does not isolate");
        let p = policy(json!({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}));
        assert!(p.ingress.is_none(), "explicit policyTypes win");
        assert!(p.egress.as_ref().is_some_and(Vec::is_empty));
    }

    #[test]
    fn empty_from_and_ports_mean_everything() {
        let p = policy(json!({"podSelector": {}, "ingress": [{"from": [], "ports": []}, {}]}));
        let rules = p.ingress.unwrap();
        assert!(
            rules
                .iter()
                .all(|r| r.peers.is_none() && r.ports.is_empty())
        );
    }

    #[test]
    fn ports_default_to_tcp_and_take_end_port() {
        let p = policy(json!({"podSelector": {}, "ingress": [{"ports": [
            {"port": 80}, {"protocol": "UDP", "port": 53, "endPort": 54}, {"port": "http"}, {"protocol": "SCTP"}
        ]}]}));
        let ports = &p.ingress.unwrap()[0].ports;
        assert_eq!(
            ports[0],
            PortSpec {
                protocol: Protocol::Tcp,
                port: Some(PortRef::Number(80)),
                end_port: None
            }
        );
        assert_eq!(ports[1].end_port, Some(54));
        assert_eq!(ports[2].port, Some(PortRef::Name("http".into())));
        assert_eq!(
            ports[3],
            PortSpec {
                protocol: Protocol::Sctp,
                port: None,
                end_port: None
            }
        );
    }

    #[test]
    fn invalid_policies_are_rejected_with_their_location() {
        let bad = |spec: Value| {
            parse_policy(&json!({"metadata": {"name": "p"}, "spec": spec}))
                .unwrap_err()
                .0
        };
        assert!(bad(json!({"ingress": [{"from": [{}]}]})).contains("spec.ingress[0].from[0]"));
        assert!(bad(json!({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}))
            .contains("cannot be combined"));
        assert!(bad(json!({"egress": [{"ports": [{"protocol": "ICMP"}]}]})).contains("ICMP"));
        assert!(
            bad(json!({"egress": [{"ports": [{"port": 90, "endPort": 80}]}]})).contains("below")
        );
        assert!(
            bad(json!({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0/8"}}]}]}))
                .contains("invalid CIDR")
        );
    }

    #[test]
    fn missing_namespace_is_default() {
        let p = parse_policy(&json!({"metadata": {"name": "p"}, "spec": {}})).unwrap();
        assert_eq!(p.full_name(), "default/p");
    }
}
