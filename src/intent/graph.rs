//! The zone diagram of an environment, computed from the policies (not copied from the
//! topology), so the picture cannot claim a path the policies do not open, nor hide one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::analysis::{self, AnalysisError, ConnSet, Inventory};
use crate::model::{Environment, Model};

/// An edge between two nodes of the diagram with the connections it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub conns: String,
}

/// Nodes are zones, `internet`, and other clusters (`cluster:<name>`).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: BTreeSet<String>,
    pub edges: Vec<Edge>,
}

/// Builds the graph of an environment from each cluster's objects.
pub fn build(
    model: &Model,
    env: &Environment,
    clusters: &[(String, Vec<Value>)],
) -> Result<Graph, AnalysisError> {
    let mut edges: BTreeMap<(String, String), ConnSet> = BTreeMap::new();
    let mut nodes = BTreeSet::new();
    for (cluster, objects) in clusters {
        let zone_of: BTreeMap<&str, &str> = env
            .namespaces_on(cluster)
            .map(|n| (n.name.as_str(), n.zone.as_str()))
            .collect();
        nodes.extend(zone_of.values().map(|z| z.to_string()));
        let inv =
            Inventory::from_objects_with(objects, analysis::Representatives::EmptyNamespaces)?;
        let summary = analysis::summarize(&analysis::analyze(&inv));
        let mut add = |from: String, to: String, c: &ConnSet| {
            edges
                .entry((from, to))
                .or_insert_with(ConnSet::none)
                .union_with(c);
        };
        for f in &summary.flows {
            if f.src == f.dst {
                continue;
            }
            if let (Some(a), Some(b)) = (zone_of.get(f.src.as_str()), zone_of.get(f.dst.as_str())) {
                add(a.to_string(), b.to_string(), &f.conns);
            }
        }
        let external = |r: &analysis::ip::IpRange| -> String {
            for c in model
                .environments
                .values()
                .flat_map(|e| e.clusters.values())
            {
                for net in [c.pod_cidr, c.node_cidr].into_iter().flatten() {
                    if let Ok(set) = analysis::ip::IpSet::from_block(&net.to_string(), &[])
                        && set.contains_range(r)
                    {
                        return format!("cluster:{}", c.name);
                    }
                }
            }
            "internet".to_string()
        };
        for f in &summary.from_external {
            if let Some(z) = zone_of.get(f.namespace.as_str()) {
                let n = external(&f.range);
                nodes.insert(n.clone());
                add(n, z.to_string(), &f.conns);
            }
        }
        for f in &summary.to_external {
            if let Some(z) = zone_of.get(f.namespace.as_str()) {
                let n = external(&f.range);
                nodes.insert(n.clone());
                add(z.to_string(), n, &f.conns);
            }
        }
    }
    Ok(Graph {
        nodes,
        edges: edges
            .into_iter()
            .map(|((from, to), c)| Edge {
                from,
                to,
                conns: c.to_string(),
            })
            .collect(),
    })
}

fn id(node: &str) -> String {
    node.replace([':', '-', '.'], "_")
}

impl Graph {
    /// A Mermaid flowchart (renders on GitHub and GitLab).
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for n in &self.nodes {
            let shape = if n == "internet" || n.starts_with("cluster:") {
                format!("{}(({}))", id(n), n)
            } else {
                format!("{}[{}]", id(n), n)
            };
            out.push_str(&format!("  {shape}\n"));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  {} -->|\"{}\"| {}\n",
                id(&e.from),
                e.conns.replace('"', "'"),
                id(&e.to)
            ));
        }
        out
    }

    /// A Graphviz digraph.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph segplan {\n  rankdir=LR;\n");
        for n in &self.nodes {
            let shape = if n == "internet" || n.starts_with("cluster:") {
                "ellipse"
            } else {
                "box"
            };
            out.push_str(&format!("  \"{n}\" [shape={shape}];\n"));
        }
        for e in &self.edges {
            out.push_str(&format!(
                "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
                e.from,
                e.to,
                e.conns.replace('"', "'")
            ));
        }
        out.push_str("}\n");
        out
    }
}
