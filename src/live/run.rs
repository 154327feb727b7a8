//! Every cluster of a run, concurrently (bounded), each with its own timeout: one failing
//! cluster is reported and the others complete.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::LiveError;
use super::api::ClusterApi;
use super::apply::{ApplyPlan, ApplyReport, ApplySettings, ProgressFn, execute};
use super::diff::{ClusterDiff, ClusterPlan, DiffOptions, diff_cluster};
use super::kube::{KubeCluster, load_kubeconfig};

/// A cluster to work on: its plan and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    pub plan: ClusterPlan,
    /// The kubeconfig context.
    pub context: String,
    /// The API server URL the context must point at, when declared.
    pub api_server: Option<String>,
}

/// Opens a [`ClusterApi`] for a target.
pub trait Connector: Send + Sync + 'static {
    type Api: ClusterApi;
    /// Connects (reads credentials, checks the server) without sending a request yet.
    fn connect(&self, target: &Target)
    -> impl Future<Output = Result<Self::Api, LiveError>> + Send;
}

/// Connects through kube-rs with one kubeconfig for every cluster.
pub struct KubeConnector {
    kubeconfig: Result<kube::config::Kubeconfig, LiveError>,
    timeout: Duration,
}

impl KubeConnector {
    /// Reads the kubeconfig once (`explicit`, else `KUBECONFIG`, else `~/.kube/config`); a
    /// failure is reported per cluster.
    pub fn new(explicit: Option<PathBuf>, timeout: Duration) -> Self {
        Self {
            kubeconfig: load_kubeconfig(explicit.as_deref()),
            timeout,
        }
    }
}

impl Connector for KubeConnector {
    type Api = KubeCluster;
    async fn connect(&self, target: &Target) -> Result<KubeCluster, LiveError> {
        let kc = self.kubeconfig.as_ref().map_err(Clone::clone)?;
        KubeCluster::connect(
            kc,
            &target.context,
            target.api_server.as_deref(),
            self.timeout,
        )
        .await
    }
}

/// One cluster's diff, with the connection to reuse for apply.
pub struct Diffed<A> {
    pub cluster: String,
    pub environment: String,
    pub result: Result<(ClusterDiff, Arc<A>), LiveError>,
}

/// Diffs every target, at most `concurrency` at a time, each within `timeout`. Results come
/// back in the targets' order.
pub async fn diff_all<C: Connector>(
    connector: Arc<C>,
    targets: &[Target],
    concurrency: usize,
    timeout: Duration,
    options: DiffOptions,
) -> Vec<Diffed<C::Api>> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in targets.iter().enumerate() {
        let (connector, sem, t) = (Arc::clone(&connector), Arc::clone(&sem), t.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let work = async {
                let api = Arc::new(connector.connect(&t).await?);
                let diff = diff_cluster(Arc::clone(&api), &t.plan, options).await?;
                Ok((diff, api))
            };
            let result = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(LiveError::Timeout(timeout)),
            };
            (i, result)
        });
    }
    let mut out: Vec<Option<Diffed<C::Api>>> = targets.iter().map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        if let Ok((i, result)) = r {
            out[i] = Some(Diffed {
                cluster: targets[i].plan.cluster.clone(),
                environment: targets[i].plan.environment.clone(),
                result,
            });
        }
    }
    out.into_iter()
        .zip(targets)
        .map(|(d, t)| {
            d.unwrap_or_else(|| Diffed {
                cluster: t.plan.cluster.clone(),
                environment: t.plan.environment.clone(),
                result: Err(LiveError::Internal("cluster task panicked".into())),
            })
        })
        .collect()
}

/// Applies every cluster's plan, at most `concurrency` clusters at a time. `progress` makes
/// one reporter per cluster. Reports come back in input order.
pub async fn apply_all<A: ClusterApi>(
    work: Vec<(ApplyPlan, Arc<A>)>,
    settings: ApplySettings,
    concurrency: usize,
    progress: impl Fn(&ApplyPlan) -> Option<ProgressFn>,
) -> Vec<ApplyReport> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let n = work.len();
    let names: Vec<String> = work.iter().map(|(p, _)| p.cluster.clone()).collect();
    for (i, (plan, api)) in work.into_iter().enumerate() {
        let sem = Arc::clone(&sem);
        let p = progress(&plan);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, execute(api, &plan, &settings, p).await)
        });
    }
    let mut out: Vec<Option<ApplyReport>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        if let Ok((i, rep)) = r {
            out[i] = Some(rep);
        }
    }
    out.into_iter()
        .zip(names)
        .map(|(r, cluster)| {
            r.unwrap_or_else(|| ApplyReport {
                cluster,
                failed: 1,
                problems: vec![(
                    "cluster".into(),
                    super::apply::Outcome::Failed("apply task panicked".into()),
                )],
                ..Default::default()
            })
        })
        .collect()
}
