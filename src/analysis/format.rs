//! Printing a connectivity result or a diff, in the formats of the outside judge
//! (np-guard's netpol-analyzer): `txt`, `json`, `csv`, `md` and `dot` for a result;
//! `txt`, `csv` and `md` for a diff. Pure: returns strings.

use std::collections::BTreeMap;

use super::diff::{ChangeKind, ConnectivityDiff};
use super::engine::{Connectivity, Peer};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `src => dst : conn` lines.
    Txt,
    /// A JSON array of `{src, dst, conn}`.
    Json,
    /// `src,dst,conn` with a header.
    Csv,
    /// A Markdown table.
    Md,
    /// A Graphviz digraph, workloads grouped by namespace.
    Dot,
}

/// One connection as three strings.
struct Row {
    src: String,
    dst: String,
    conn: String,
}

fn rows(c: &Connectivity) -> Vec<Row> {
    c.connections
        .iter()
        .map(|x| Row {
            src: c.peer_name(&x.src),
            dst: c.peer_name(&x.dst),
            conn: x.conns.to_string(),
        })
        .collect()
}

/// Formats a connectivity result.
pub fn connectivity(c: &Connectivity, format: Format) -> String {
    let rows = rows(c);
    match format {
        Format::Txt => rows
            .iter()
            .map(|r| format!("{} => {} : {}\n", r.src, r.dst, r.conn))
            .collect(),
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"src": r.src, "dst": r.dst, "conn": r.conn}))
                .collect();
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
        }
        Format::Csv => {
            let mut out = String::from("src,dst,conn\n");
            for r in &rows {
                out.push_str(&format!(
                    "{},{},{}\n",
                    csv_field(&r.src),
                    csv_field(&r.dst),
                    csv_field(&r.conn)
                ));
            }
            out
        }
        Format::Md => {
            let mut out = String::from("| src | dst | conn |\n|-----|-----|------|\n");
            for r in &rows {
                out.push_str(&format!("| {} | {} | {} |\n", r.src, r.dst, r.conn));
            }
            out
        }
        Format::Dot => dot(c, &rows),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn dot<'c>(c: &'c Connectivity, rows: &[Row]) -> String {
    let mut groups: BTreeMap<&'c str, Vec<String>> = BTreeMap::new();
    let mut externals: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut add_peer = |p: &Peer, groups: &mut BTreeMap<&'c str, Vec<String>>| {
        let name = c.peer_name(p);
        if !seen.insert(name.clone()) {
            return;
        }
        match p {
            Peer::Endpoint(i) => {
                let e = &c.endpoints[*i];
                let label = format!("{}[{}]", e.name, e.kind);
                groups
                    .entry(e.namespace.as_str())
                    .or_default()
                    .push(format!(
                        "\t\t{} [label={} color=\"blue\" fontcolor=\"blue\"]",
                        q(&name),
                        q(&label)
                    ));
            }
            Peer::External(_) => externals.push(format!(
                "\t{} [label={} color=\"red2\" fontcolor=\"red2\"]",
                q(&name),
                q(&name)
            )),
        }
    };
    for x in &c.connections {
        add_peer(&x.src, &mut groups);
        add_peer(&x.dst, &mut groups);
    }
    for i in 0..c.endpoints.len() {
        add_peer(&Peer::Endpoint(i), &mut groups);
    }
    let mut edges: Vec<String> = rows
        .iter()
        .map(|r| {
            let weight = if r.src <= r.dst { "0.5" } else { "1" };
            format!(
                "\t{} -> {} [label={} color=\"gold2\" fontcolor=\"darkgreen\" weight={weight}]",
                q(&r.src),
                q(&r.dst),
                q(&r.conn)
            )
        })
        .collect();
    edges.sort();
    externals.sort();
    let mut lines = vec!["digraph {".to_string()];
    for (ns, mut peers) in groups {
        peers.sort();
        lines.push(format!(
            "\tsubgraph {} {{",
            q(&format!("cluster_{ns}[namespace]"))
        ));
        lines.push("\t\tcolor=\"black\"".into());
        lines.push("\t\tfontcolor=\"black\"".into());
        lines.extend(peers);
        lines.push(format!("\t\tlabel={}", q(&format!("{ns}[namespace]"))));
        lines.push("\t}".into());
    }
    lines.extend(externals);
    lines.extend(edges);
    lines.push("}".into());
    lines.join("\n") + "\n"
}

/// Formats a diff (`ref1` is the base, `ref2` the new state). An empty diff prints nothing.
/// `Json` and `Dot` are not diff formats and fall back to `Txt`.
pub fn diff(d: &ConnectivityDiff, format: Format) -> String {
    if d.is_empty() {
        return String::new();
    }
    let mut by_kind: BTreeMap<u8, Vec<[String; 6]>> = BTreeMap::new();
    for ch in &d.changes {
        let order = match ch.kind {
            ChangeKind::Changed => 0,
            ChangeKind::Added => 1,
            ChangeKind::Removed => 2,
        };
        let info = ch.workloads_info();
        by_kind.entry(order).or_default().push([
            ch.kind.as_str().to_string(),
            ch.src.clone(),
            ch.dst.clone(),
            ch.before.to_string(),
            ch.after.to_string(),
            info,
        ]);
    }
    let line = |f: &[String; 6]| -> String {
        match format {
            Format::Csv => [&f[0], &f[1], &f[2], &f[3], &f[4], &f[5]]
                .iter()
                .map(|s| csv_field(s))
                .collect::<Vec<_>>()
                .join(","),
            Format::Md => format!(
                "| {} | {} | {} | {} | {} | {} |",
                f[0], f[1], f[2], f[3], f[4], f[5]
            ),
            _ => {
                let mut l = format!(
                    "diff-type: {}, source: {}, destination: {}, ref1: {}, ref2: {}",
                    f[0], f[1], f[2], f[3], f[4]
                );
                if !f[5].is_empty() {
                    l.push_str(&format!(", workloads-diff-info: {}", f[5]));
                }
                l
            }
        }
    };
    let mut out = match format {
        Format::Csv => {
            vec!["diff-type,source,destination,ref1,ref2,workloads-diff-info".to_string()]
        }
        Format::Md => vec![
            "| diff-type | source | destination | ref1 | ref2 | workloads-diff-info |".to_string(),
            "|-----------|--------|-------------|------|------|---------------------|".to_string(),
        ],
        _ => vec!["Connectivity diff:".to_string()],
    };
    for (_, fields) in by_kind {
        let mut lines: Vec<String> = fields.iter().map(line).collect();
        lines.sort();
        out.extend(lines);
    }
    out.join("\n") + "\n"
}
