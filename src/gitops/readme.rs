//! The generated `envs/<env>/README.md`: clusters, zones, flows and a Mermaid diagram of the
//! allowed paths between zones (GitHub and GitLab render Mermaid code blocks).
//!
//! Pure: the same model gives the same bytes. Nothing in it depends on the time or the commit,
//! so a README only changes when the topology it describes changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::model::{Environment, Model, PortSpec};

use super::layout::{CLUSTERS_DIR, README_MARKER};

/// The README of one environment.
pub fn readme(model: &Model, env: &Environment) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{README_MARKER} from topology `{}`. `segplan commit` replaces this file: edit the topology instead. -->",
        model.project
    );
    let _ = writeln!(out, "# Environment `{}`\n", env.name);
    if let Some(d) = &env.description {
        let _ = writeln!(out, "{}\n", md(d));
    }
    let _ = writeln!(out, "- Kind: {}", env.kind.as_str());
    let compliance = if env.compliance.is_empty() {
        "none".to_string()
    } else {
        env.compliance.join(", ")
    };
    let _ = writeln!(out, "- Compliance: {compliance}");
    let _ = writeln!(out, "- Project: `{}`\n", model.project);

    out.push_str("## Clusters\n\n");
    out.push_str("| Cluster | Context | API server | Pod CIDR | Mesh | Namespaces | Folder |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in env.clusters.values() {
        let ns: Vec<&str> = env
            .namespaces_on(&c.name)
            .map(|n| n.name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} | {} | {} | [`{CLUSTERS_DIR}/{}/`](../../{CLUSTERS_DIR}/{}/) |",
            c.name,
            c.context,
            c.api_server
                .as_deref()
                .map(md)
                .unwrap_or_else(|| "-".into()),
            c.pod_cidr
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            match c.mesh {
                crate::model::Mesh::None => "none",
                crate::model::Mesh::Istio => "istio",
            },
            ns.len(),
            c.name,
            c.name
        );
    }

    let used = zones_used(env);
    out.push_str("\n## Zones\n\n");
    out.push_str("| Zone | Sensitivity | Internet | Namespaces | Description |\n");
    out.push_str("|---|---|---|---|---|\n");
    for z in model
        .zones
        .values()
        .filter(|z| used.contains(z.name.as_str()))
    {
        let ns: Vec<String> = env
            .namespaces
            .values()
            .filter(|n| n.zone == z.name)
            .map(|n| format!("`{}`", n.name))
            .collect();
        let mut internet = Vec::new();
        if !z.internet_ingress.is_empty() {
            internet.push(format!("in: {}", ports(&z.internet_ingress)));
        }
        if z.internet_egress {
            internet.push("out".to_string());
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            z.name,
            z.sensitivity.as_str(),
            if internet.is_empty() {
                "-".to_string()
            } else {
                internet.join("; ")
            },
            ns.join(", "),
            z.description.as_deref().map(md).unwrap_or_default()
        );
    }

    let edges = edges(model, env, &used);
    out.push_str("\n## Allowed flows\n\n");
    out.push_str("Everything not listed here is denied.\n\n");
    out.push_str("| From | To | Ports | Reason |\n|---|---|---|---|\n");
    for e in &edges {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            e.from.label(),
            e.to.label(),
            ports(&e.ports),
            md(&e.reasons.join("; "))
        );
    }
    if edges.is_empty() {
        out.push_str("| - | - | - | no flows between this environment's zones |\n");
    }

    out.push_str("\n## Allowed paths\n\n```mermaid\nflowchart LR\n");
    let mut nodes: BTreeSet<&End> = BTreeSet::new();
    for e in &edges {
        nodes.insert(&e.from);
        nodes.insert(&e.to);
    }
    for z in &used {
        if !edges
            .iter()
            .any(|e| e.from.zone() == Some(z) || e.to.zone() == Some(z))
        {
            let _ = writeln!(out, "    {}", End::Zone(z.to_string()).node());
        }
    }
    for n in nodes {
        let _ = writeln!(out, "    {}", n.node());
    }
    for e in &edges {
        let arrow = if e.from == End::Internet || e.to == End::Internet {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(
            out,
            "    {} {arrow}|\"{}\"| {}",
            e.from.id(),
            if e.ports.is_empty() {
                "any".to_string()
            } else {
                ports(&e.ports)
            },
            e.to.id()
        );
    }
    out.push_str("```\n");
    out
}

/// One end of a drawn edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Internet,
    Zone(String),
    /// A zone in another environment (cross-cluster flows).
    Remote(String, String),
}

impl End {
    fn zone(&self) -> Option<&str> {
        match self {
            End::Zone(z) => Some(z),
            _ => None,
        }
    }
    fn id(&self) -> String {
        match self {
            End::Internet => "internet".to_string(),
            End::Zone(z) => format!("z_{}", ident(z)),
            End::Remote(e, z) => format!("x_{}_{}", ident(e), ident(z)),
        }
    }
    fn node(&self) -> String {
        match self {
            End::Internet => "internet((Internet))".to_string(),
            End::Zone(z) => format!("{}[\"{z}\"]", self.id()),
            End::Remote(e, z) => format!("{}[/\"{e}: {z}\"/]", self.id()),
        }
    }
    fn label(&self) -> String {
        match self {
            End::Internet => "internet".to_string(),
            End::Zone(z) => format!("`{z}`"),
            End::Remote(e, z) => format!("`{z}` in `{e}`"),
        }
    }
}

struct Edge {
    from: End,
    to: End,
    ports: Vec<PortSpec>,
    reasons: Vec<String>,
}

fn zones_used(env: &Environment) -> BTreeSet<&str> {
    env.namespaces.values().map(|n| n.zone.as_str()).collect()
}

/// Allowed paths touching this environment, one edge per (from, to) with merged ports.
fn edges(model: &Model, env: &Environment, used: &BTreeSet<&str>) -> Vec<Edge> {
    let mut map: BTreeMap<(End, End), (BTreeSet<PortSpec>, Vec<String>)> = BTreeMap::new();
    let mut add = |from: End, to: End, ports: &[PortSpec], reason: Option<&str>| {
        let entry = map.entry((from, to)).or_default();
        entry.0.extend(ports.iter().copied());
        if let Some(r) = reason
            && !entry.1.iter().any(|x| x == r)
        {
            entry.1.push(r.to_string());
        }
    };
    for z in model
        .zones
        .values()
        .filter(|z| used.contains(z.name.as_str()))
    {
        if !z.internet_ingress.is_empty() {
            add(
                End::Internet,
                End::Zone(z.name.clone()),
                &z.internet_ingress,
                Some("the zone accepts internet ingress"),
            );
        }
        if z.internet_egress {
            add(
                End::Zone(z.name.clone()),
                End::Internet,
                &[],
                Some("the zone may reach the internet"),
            );
        }
    }
    for f in &model.flows {
        if used.contains(f.from.as_str()) && used.contains(f.to.as_str()) {
            add(
                End::Zone(f.from.clone()),
                End::Zone(f.to.clone()),
                &f.ports,
                f.reason.as_deref(),
            );
        }
    }
    for f in &model.cross_cluster_flows {
        let end = |e: &crate::model::CrossEnd| {
            if e.environment == env.name {
                End::Zone(e.zone.clone())
            } else {
                End::Remote(e.environment.clone(), e.zone.clone())
            }
        };
        if f.from.environment == env.name || f.to.environment == env.name {
            add(end(&f.from), end(&f.to), &f.ports, f.reason.as_deref());
        }
    }
    map.into_iter()
        .map(|((from, to), (ports, reasons))| Edge {
            from,
            to,
            ports: ports.into_iter().collect(),
            reasons,
        })
        .collect()
}

fn ports(ports: &[PortSpec]) -> String {
    if ports.is_empty() {
        return "any".to_string();
    }
    ports
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Mermaid-safe identifier.
fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Text safe inside a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_readme() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("environments");
        let (model, _) = crate::model::load(&dir).expect("example is valid");
        let prod = model.environment("prod").unwrap();
        let text = readme(&model, prod);
        assert!(text.starts_with(README_MARKER));
        insta::assert_snapshot!("readme_prod", text);
    }

    #[test]
    fn idents_are_mermaid_safe() {
        assert_eq!(ident("pci-data.v2"), "pci_data_v2");
        assert_eq!(md("a|b\nc"), "a\\|b c");
    }
}
