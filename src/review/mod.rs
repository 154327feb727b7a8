//! `segplan review`: what a change to a GitOps repository does to connectivity.
//!
//! For two revisions of a repository written by `segplan commit` (one folder per cluster under
//! `clusters/`), every cluster's manifests are read straight from the object database,
//! analysed, and compared: each connection opened or closed, ranked widening or narrowing,
//! with the topology rule (the `segplan.io/source` annotation of the policies behind it), then
//! the object-level changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::analysis::{self, Connectivity, Inventory};

/// Why a review failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot open git repository {path}: {message}")]
    Open { path: String, message: String },
    #[error("unknown revision `{rev}`: {message}")]
    Revision { rev: String, message: String },
    #[error("{path} at {rev}: {message}")]
    Parse {
        rev: String,
        path: String,
        message: String,
    },
    #[error("cluster {cluster} at {rev}: {message}")]
    Analysis {
        rev: String,
        cluster: String,
        message: String,
    },
    #[error("git error: {0}")]
    Git(#[from] git2::Error),
}

/// One connectivity change of one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ConnChange {
    /// `widens` or `narrows` (a change that does both is listed twice).
    pub effect: &'static str,
    pub src: String,
    pub dst: String,
    /// What is opened (widens) or closed (narrows), e.g. `TCP 5432`.
    pub conns: String,
    /// Policies behind the connection (after for widening, before for narrowing).
    pub policies: Vec<String>,
    /// Their `segplan.io/source` annotations: the topology rules that caused it.
    pub sources: Vec<String>,
}

/// An object file added, changed or removed.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub status: &'static str,
    pub path: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterReview {
    pub cluster: String,
    pub connectivity: Vec<ConnChange>,
    pub objects: Vec<FileChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub from: String,
    pub to: String,
    pub clusters: Vec<ClusterReview>,
}

impl Review {
    pub fn widens(&self) -> bool {
        self.clusters
            .iter()
            .any(|c| c.connectivity.iter().any(|x| x.effect == "widens"))
    }
    pub fn is_empty(&self) -> bool {
        self.clusters
            .iter()
            .all(|c| c.connectivity.is_empty() && c.objects.is_empty())
    }
}

type Files = BTreeMap<String, Vec<u8>>;

/// Every file under `clusters/<cluster>/` at a revision, by cluster.
fn cluster_files(
    repo: &git2::Repository,
    rev: &str,
) -> Result<BTreeMap<String, Files>, ReviewError> {
    let obj = repo
        .revparse_single(rev)
        .map_err(|e| ReviewError::Revision {
            rev: rev.to_string(),
            message: e.message().to_string(),
        })?;
    let tree = obj.peel_to_tree().map_err(|e| ReviewError::Revision {
        rev: rev.to_string(),
        message: e.message().to_string(),
    })?;
    let mut out: BTreeMap<String, Files> = BTreeMap::new();
    let Some(entry) = tree.get_name("clusters") else {
        return Ok(out);
    };
    let clusters = entry.to_object(repo)?.peel_to_tree()?;
    for c in clusters.iter() {
        let Ok(name) = c.name().map(str::to_string) else {
            continue;
        };
        let Ok(sub) = c.to_object(repo).and_then(|o| o.peel_to_tree()) else {
            continue;
        };
        let mut files = Files::new();
        sub.walk(git2::TreeWalkMode::PreOrder, |dir, e| {
            if e.kind() == Some(git2::ObjectType::Blob)
                && !e.name().unwrap_or(".").starts_with('.')
                && let (Ok(n), Ok(obj)) = (e.name(), e.to_object(repo))
                && let Some(blob) = obj.as_blob()
            {
                files.insert(format!("{dir}{n}"), blob.content().to_vec());
            }
            git2::TreeWalkResult::Ok
        })?;
        out.insert(name, files);
    }
    Ok(out)
}

fn objects_of(rev: &str, cluster: &str, files: &Files) -> Result<Vec<Value>, ReviewError> {
    let mut objs = Vec::new();
    for (path, bytes) in files {
        if !(path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json"))
            || path.ends_with("kustomization.yaml")
        {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        let full = format!("clusters/{cluster}/{path}");
        let docs = analysis::load::parse_text(Path::new(&full), &text).map_err(|e| {
            ReviewError::Parse {
                rev: rev.to_string(),
                path: full.clone(),
                message: e.to_string(),
            }
        })?;
        objs.extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    Ok(objs)
}

fn analyze(rev: &str, cluster: &str, objs: &[Value]) -> Result<Connectivity, ReviewError> {
    let inv = Inventory::from_objects_with(objs, analysis::Representatives::EmptyNamespaces)
        .map_err(|e| ReviewError::Analysis {
            rev: rev.to_string(),
            cluster: cluster.to_string(),
            message: e.to_string(),
        })?;
    Ok(analysis::analyze(&inv))
}

/// `ns/name` -> `segplan.io/source` for every NetworkPolicy.
fn sources(objs: &[Value]) -> BTreeMap<String, String> {
    objs.iter()
        .filter(|o| o["kind"] == "NetworkPolicy")
        .filter_map(|o| {
            let ns = o.pointer("/metadata/namespace")?.as_str()?;
            let name = o.pointer("/metadata/name")?.as_str()?;
            let src = o
                .pointer("/metadata/annotations/segplan.io~1source")
                .and_then(Value::as_str)
                .unwrap_or("not from segplan");
            Some((format!("{ns}/{name}"), src.to_string()))
        })
        .collect()
}

fn policies_behind(c: &Connectivity, src: &str, dst: &str) -> BTreeSet<String> {
    c.connections
        .iter()
        .filter(|x| c.peer_name(&x.src) == src && c.peer_name(&x.dst) == dst)
        .flat_map(|x| x.egress.policies.iter().chain(&x.ingress.policies))
        .map(|&i| c.policies[i].clone())
        .collect()
}

/// Reviews the change between two revisions.
pub fn review(repo_path: &Path, from: &str, to: &str) -> Result<Review, ReviewError> {
    let repo = git2::Repository::open(repo_path).map_err(|e| ReviewError::Open {
        path: repo_path.display().to_string(),
        message: e.message().to_string(),
    })?;
    let before = cluster_files(&repo, from)?;
    let after = cluster_files(&repo, to)?;
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = Files::new();
    let mut clusters = Vec::new();
    for name in names {
        let b = before.get(name).unwrap_or(&empty);
        let a = after.get(name).unwrap_or(&empty);
        let mut objects = Vec::new();
        for (path, bytes) in a {
            match b.get(path) {
                None => objects.push(FileChange {
                    status: "added",
                    path: path.clone(),
                }),
                Some(old) if old != bytes => objects.push(FileChange {
                    status: "changed",
                    path: path.clone(),
                }),
                _ => {}
            }
        }
        for path in b.keys().filter(|p| !a.contains_key(*p)) {
            objects.push(FileChange {
                status: "removed",
                path: path.clone(),
            });
        }
        if objects.is_empty() {
            continue;
        }
        let (ob, oa) = (objects_of(from, name, b)?, objects_of(to, name, a)?);
        let (cb, ca) = (analyze(from, name, &ob)?, analyze(to, name, &oa)?);
        let (sb, sa) = (sources(&ob), sources(&oa));
        let mut connectivity = Vec::new();
        for ch in analysis::compare(&cb, &ca).changes {
            for (effect, conns, c, srcs) in [
                ("widens", ch.opened(), &ca, &sa),
                ("narrows", ch.closed(), &cb, &sb),
            ] {
                if conns.is_empty() {
                    continue;
                }
                let policies: Vec<String> =
                    policies_behind(c, &ch.src, &ch.dst).into_iter().collect();
                let mut sources: Vec<String> = policies
                    .iter()
                    .filter_map(|p| srcs.get(p).cloned())
                    .collect();
                sources.sort();
                sources.dedup();
                connectivity.push(ConnChange {
                    effect,
                    src: ch.src.clone(),
                    dst: ch.dst.clone(),
                    conns: conns.to_string(),
                    policies,
                    sources,
                });
            }
        }
        connectivity.sort_by(|x, y| {
            (x.effect != "widens", &x.src, &x.dst).cmp(&(y.effect != "widens", &y.src, &y.dst))
        });
        clusters.push(ClusterReview {
            cluster: name.clone(),
            connectivity,
            objects,
        });
    }
    Ok(Review {
        from: from.to_string(),
        to: to.to_string(),
        clusters,
    })
}

impl Review {
    /// A pull-request comment.
    pub fn markdown(&self) -> String {
        let mut out = format!("## segplan review `{}`..`{}`\n\n", self.from, self.to);
        if self.is_empty() {
            out.push_str("No segmentation change.\n");
            return out;
        }
        for c in &self.clusters {
            out.push_str(&format!("### {}\n\n", c.cluster));
            if c.connectivity.is_empty() {
                out.push_str("Connectivity unchanged.\n\n");
            } else {
                out.push_str("| | change | connections | rule |\n|---|---|---|---|\n");
                for x in &c.connectivity {
                    let (icon, verb) = if x.effect == "widens" {
                        ("⚠️ widens", "opens")
                    } else {
                        ("✅ narrows", "closes")
                    };
                    out.push_str(&format!(
                        "| {icon} | {verb} {} -> {} | {} | {} |\n",
                        x.src,
                        x.dst,
                        x.conns,
                        x.sources.join(", ")
                    ));
                }
                out.push('\n');
            }
            out.push_str("<details><summary>objects</summary>\n\n");
            for f in &c.objects {
                out.push_str(&format!("- {} `{}`\n", f.status, f.path));
            }
            out.push_str("\n</details>\n\n");
        }
        out
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.clusters {
            for x in &c.connectivity {
                let verb = if x.effect == "widens" {
                    "opens"
                } else {
                    "closes"
                };
                out.push_str(&format!(
                    "{}: {} {verb} {} -> {} on {}{}\n",
                    c.cluster,
                    x.effect,
                    x.src,
                    x.dst,
                    x.conns,
                    if x.sources.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", x.sources.join(", "))
                    }
                ));
            }
            for f in &c.objects {
                out.push_str(&format!("{}: {} {}\n", c.cluster, f.status, f.path));
            }
        }
        if out.is_empty() {
            out.push_str("no segmentation change\n");
        }
        out
    }
}
