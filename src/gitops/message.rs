//! The commit message: a subject, a per-cluster summary a reviewer can read (objects added,
//! changed and removed, with their paths), and trailers tying the commit to its topology.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::layout::{CLUSTERS_DIR, MARKER_FILE};
use super::tree::{ChangeKind, FileChange};

/// Object files listed per cluster before the list is cut short.
pub const LISTED_PER_CLUSTER: usize = 20;

/// What changed in one cluster folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterChanges {
    /// Object files (relative to the cluster folder) added, changed and removed. The
    /// `kustomization.yaml` files and the marker are not objects and are not counted.
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// The folder did not exist before.
    pub new_folder: bool,
    /// The folder is gone after this commit.
    pub folder_removed: bool,
}

/// Everything a commit changes, grouped for the message and the CLI output.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Cluster name -> its changes (only clusters that changed).
    pub clusters: BTreeMap<String, ClusterChanges>,
    /// Other owned files (READMEs) and how they changed.
    pub other: Vec<(String, String)>,
    /// Total files written or removed.
    pub files: usize,
}

impl Summary {
    /// Groups file changes by cluster. `old_clusters`/`new_clusters` say which cluster folders
    /// existed before and after.
    pub fn new(
        changes: &[FileChange],
        existed: &dyn Fn(&str) -> bool,
        exists: &dyn Fn(&str) -> bool,
    ) -> Self {
        let mut s = Summary {
            files: changes.len(),
            ..Summary::default()
        };
        for c in changes {
            let rest = c
                .path
                .strip_prefix(CLUSTERS_DIR)
                .and_then(|r| r.strip_prefix('/'));
            let Some((cluster, rel)) = rest.and_then(|r| r.split_once('/')) else {
                let kind = match c.kind {
                    ChangeKind::Added => "added",
                    ChangeKind::Changed => "changed",
                    ChangeKind::Removed => "removed",
                };
                s.other.push((c.path.clone(), kind.to_string()));
                continue;
            };
            let entry = s
                .clusters
                .entry(cluster.to_string())
                .or_insert_with(|| ClusterChanges {
                    new_folder: !existed(cluster),
                    folder_removed: !exists(cluster),
                    ..ClusterChanges::default()
                });
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if name == "kustomization.yaml" || name == MARKER_FILE {
                continue;
            }
            match c.kind {
                ChangeKind::Added => entry.added.push(rel.to_string()),
                ChangeKind::Changed => entry.changed.push(rel.to_string()),
                ChangeKind::Removed => entry.removed.push(rel.to_string()),
            }
        }
        s
    }

    /// Objects added, changed and removed over all clusters.
    pub fn totals(&self) -> (usize, usize, usize) {
        self.clusters.values().fold((0, 0, 0), |(a, c, r), x| {
            (a + x.added.len(), c + x.changed.len(), r + x.removed.len())
        })
    }
}

/// Trailer keys.
pub const TOPOLOGY_TRAILER: &str = "Segplan-Topology";
pub const SOURCE_TRAILER: &str = "Segplan-Source";

/// The full commit message.
pub fn message(
    subject: Option<&str>,
    environments: &[String],
    summary: &Summary,
    topology_hash: &str,
    source: Option<&str>,
) -> String {
    let (a, c, r) = summary.totals();
    let mut out = match subject {
        Some(s) => s.trim().to_string(),
        None => format!(
            "segplan: {}: {a} added, {c} changed, {r} removed",
            environments.join(", ")
        ),
    };
    out.push_str("\n\n");
    for (cluster, ch) in &summary.clusters {
        let state = if ch.folder_removed {
            " (folder removed)"
        } else if ch.new_folder {
            " (new folder)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{cluster}{state}: {} added, {} changed, {} removed",
            ch.added.len(),
            ch.changed.len(),
            ch.removed.len()
        );
        let all = ch
            .added
            .iter()
            .map(|p| ('+', p))
            .chain(ch.changed.iter().map(|p| ('~', p)))
            .chain(ch.removed.iter().map(|p| ('-', p)));
        let total = ch.added.len() + ch.changed.len() + ch.removed.len();
        for (mark, path) in all.take(LISTED_PER_CLUSTER) {
            let _ = writeln!(out, "  {mark} {path}");
        }
        if total > LISTED_PER_CLUSTER {
            let _ = writeln!(out, "  ... and {} more", total - LISTED_PER_CLUSTER);
        }
    }
    for (path, kind) in &summary.other {
        let _ = writeln!(out, "{path}: {kind}");
    }
    out.push('\n');
    let _ = writeln!(out, "{TOPOLOGY_TRAILER}: {topology_hash}");
    if let Some(src) = source {
        let _ = writeln!(out, "{SOURCE_TRAILER}: {src}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(path: &str, kind: ChangeKind) -> FileChange {
        FileChange {
            path: path.into(),
            kind,
            new: None,
            old: None,
        }
    }

    #[test]
    fn groups_by_cluster_and_skips_non_objects() {
        let changes = vec![
            change("clusters/a/ns1/networkpolicy-x.yaml", ChangeKind::Added),
            change("clusters/a/kustomization.yaml", ChangeKind::Changed),
            change("clusters/a/ns2/networkpolicy-y.yaml", ChangeKind::Changed),
            change("clusters/b/.segplan.toml", ChangeKind::Removed),
            change("clusters/b/ns/networkpolicy-z.yaml", ChangeKind::Removed),
            change("envs/prod/README.md", ChangeKind::Changed),
        ];
        let s = Summary::new(&changes, &|c| c != "new", &|c| c != "b");
        assert_eq!(s.clusters["a"].added, ["ns1/networkpolicy-x.yaml"]);
        assert_eq!(s.clusters["a"].changed, ["ns2/networkpolicy-y.yaml"]);
        assert!(s.clusters["b"].folder_removed && !s.clusters["a"].folder_removed);
        assert_eq!(s.totals(), (1, 1, 1));
        let msg = message(None, &["prod".into()], &s, "abc", Some("def"));
        insta::assert_snapshot!("message", msg);
        assert!(msg.ends_with("Segplan-Topology: abc\nSegplan-Source: def\n"));
    }

    #[test]
    fn long_lists_are_cut() {
        let changes: Vec<FileChange> = (0..25)
            .map(|i| change(&format!("clusters/a/ns/np-{i:02}.yaml"), ChangeKind::Added))
            .collect();
        let s = Summary::new(&changes, &|_| true, &|_| true);
        let msg = message(Some("custom subject"), &[], &s, "h", None);
        assert!(msg.starts_with("custom subject\n\na: 25 added"));
        assert!(msg.contains("  ... and 5 more\n"));
        assert!(!msg.contains("np-20.yaml"));
        assert!(!msg.contains(SOURCE_TRAILER));
    }
}
