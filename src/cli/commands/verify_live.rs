//! `segplan verify --live`: read every namespace, workload and NetworkPolicy of each live
//! cluster (whoever owns them) for the reachability analysis.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::live::ClusterApi;
use crate::live::kinds::{self, KindSpec};
use crate::model::Cluster;

const fn core(kind: &'static str, plural: &'static str) -> KindSpec {
    KindSpec {
        group: "",
        version: "v1",
        kind,
        plural,
        namespaced: true,
        crd: false,
    }
}

const fn apps(group: &'static str, kind: &'static str, plural: &'static str) -> KindSpec {
    KindSpec {
        group,
        version: "v1",
        kind,
        plural,
        namespaced: true,
        crd: false,
    }
}

/// What the analysis reads from a live cluster.
const READ: [KindSpec; 9] = [
    kinds::NAMESPACE,
    kinds::NETWORK_POLICY,
    core("Pod", "pods"),
    apps("apps", "Deployment", "deployments"),
    apps("apps", "StatefulSet", "statefulsets"),
    apps("apps", "DaemonSet", "daemonsets"),
    apps("apps", "ReplicaSet", "replicasets"),
    apps("batch", "Job", "jobs"),
    apps("batch", "CronJob", "cronjobs"),
];

/// Every object the analysis needs from one cluster, with `apiVersion` and `kind` set (list
/// items of built-in kinds carry neither). With `all_kinds`, also every other kind segplan
/// renders (admission and mesh policies; a mesh CRD that is not installed reads as empty).
pub async fn read_cluster(
    kubeconfig: Option<&Path>,
    cluster: &Cluster,
    timeout: Duration,
    all_kinds: bool,
) -> Result<Vec<Value>, String> {
    let kc = crate::live::kube::load_kubeconfig(kubeconfig).map_err(|e| e.to_string())?;
    let api = crate::live::kube::KubeCluster::connect(
        &kc,
        &cluster.context,
        cluster.api_server.as_deref(),
        timeout,
    )
    .await
    .map_err(|e| e.to_string())?;
    let read = async {
        let mut out = Vec::new();
        let extra = kinds::KINDS
            .iter()
            .filter(|k| all_kinds && !READ.contains(k));
        for kind in READ.iter().chain(extra) {
            let items = match api.list(kind, None, None).await {
                Ok(items) => items,
                Err(e) if kind.crd && e.is_not_found() => Vec::new(),
                Err(e) => return Err(format!("listing {}: {e}", kind.plural)),
            };
            for mut item in items {
                if let Some(obj) = item.as_object_mut() {
                    obj.entry("apiVersion")
                        .or_insert_with(|| Value::from(kind.api_version()));
                    obj.entry("kind").or_insert_with(|| Value::from(kind.kind));
                }
                out.push(item);
            }
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| format!("timed out after {}s", timeout.as_secs()))?
}

/// What was read from the live clusters.
pub struct LiveRead {
    /// Objects by cluster name.
    pub objects: std::collections::BTreeMap<String, Vec<Value>>,
    /// Clusters that could not be read (each already reported on stderr).
    pub failed: Vec<String>,
}

impl LiveRead {
    /// Exit 3 when any cluster could not be read; the others were still reported.
    pub fn result(&self) -> Result<(), crate::cli::CliError> {
        if self.failed.is_empty() {
            return Ok(());
        }
        Err(crate::cli::CliError::external(format!(
            "{} cluster(s) could not be read: {}",
            self.failed.len(),
            self.failed.join(", ")
        )))
    }
}

/// Reads each cluster in turn (each with its own timeout); one failing cluster is reported on
/// stderr and does not stop the others.
pub fn read_clusters<'a>(
    clusters: impl IntoIterator<Item = &'a Cluster>,
    kubeconfig: Option<&Path>,
    timeout: Duration,
    all_kinds: bool,
) -> Result<LiveRead, crate::cli::CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::cli::CliError::internal(format!("cannot start the runtime: {e}")))?;
    let mut read = LiveRead {
        objects: Default::default(),
        failed: Vec::new(),
    };
    for cluster in clusters {
        match rt.block_on(read_cluster(kubeconfig, cluster, timeout, all_kinds)) {
            Ok(objs) => {
                read.objects.insert(cluster.name.clone(), objs);
            }
            Err(e) => {
                eprintln!("error: cluster {}: {e}", cluster.name);
                read.failed.push(cluster.name.clone());
            }
        }
    }
    Ok(read)
}
