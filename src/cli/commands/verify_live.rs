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
