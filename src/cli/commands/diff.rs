//! `segplan diff --env ENV [--cluster NAME] [-o text|json|markdown] [--exit-code]`: how each
//! live cluster differs from the rendered plan.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::commands::render::render_error;
use crate::cli::{CliError, Settings, output};
use crate::live::format::{ClusterOutcome, DiffReport};
use crate::live::hash::plan_hash;
use crate::live::run::{Diffed, KubeConnector, Target, diff_all};
use crate::live::{ClusterApi, ClusterPlan, DiffOptions};
use crate::model::Mesh;
use crate::render::RenderOptions;

/// Output format of the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary line per cluster, then unified YAML diffs per object.
    Text,
    /// The stable `segplan.diff/v1` schema (docs/live.md), with the plan hash.
    Json,
    /// For pull-request comments.
    Markdown,
}

/// How to reach the clusters; shared by `diff` and `apply`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Environment(s) to work on.
    #[arg(long = "env", value_name = "ENV", required = true)]
    pub env: Vec<String>,
    /// Only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig to read (default: `KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Seconds each cluster's diff (and each apply request) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub timeout: f64,
    /// How many clusters to work on at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub clusters: ClusterArgs,
    /// Output format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when any cluster differs from the plan (default: 0; errors always exit 3).
    #[arg(long)]
    pub exit_code: bool,
}

/// Renders the plan of the selected environments and clusters into diff targets.
pub(crate) fn targets(s: &Settings, a: &ClusterArgs) -> Result<Vec<Target>, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, &a.env)?;
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        return Err(CliError::input(
            "--timeout must be a positive number of seconds",
        ));
    }
    if a.concurrency == 0 {
        return Err(CliError::input("--concurrency must be at least 1"));
    }
    let mut out = Vec::new();
    for env in &a.env {
        let environment = model.environment(env).expect("checked");
        if let Some(c) = &a.cluster
            && !environment.clusters.contains_key(c)
            && a.env.len() > 1
        {
            continue;
        }
        let opts = RenderOptions {
            templates: None,
            cluster: a.cluster.clone(),
        };
        let rendered = crate::render::render(&model, env, &opts).map_err(render_error)?;
        for rc in &rendered.clusters {
            let cluster = &environment.clusters[&rc.name];
            let plan = ClusterPlan::from_rendered(rc, cluster.mesh == Mesh::Istio)
                .map_err(|e| CliError::internal(e.to_string()))?;
            out.push(Target {
                plan,
                context: cluster.context.clone(),
                api_server: cluster.api_server.clone(),
            });
        }
    }
    if out.is_empty() {
        return Err(CliError::input(format!(
            "no cluster `{}` in environment(s) {}",
            a.cluster.as_deref().unwrap_or_default(),
            a.env.join(", ")
        )));
    }
    Ok(out)
}

/// The tokio runtime the live commands run on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    crate::live::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("cannot start the async runtime: {e}")))
}

/// Diffs every target.
pub(crate) fn diff_targets(
    rt: &tokio::runtime::Runtime,
    a: &ClusterArgs,
    targets: &[Target],
    options: DiffOptions,
) -> Vec<Diffed<crate::live::kube::KubeCluster>> {
    let timeout = Duration::from_secs_f64(a.timeout);
    let connector = Arc::new(KubeConnector::new(a.kubeconfig.clone(), timeout));
    rt.block_on(diff_all(
        connector,
        targets,
        a.concurrency,
        timeout,
        options,
    ))
}

/// The plan hash of a diff run.
pub(crate) fn hash_of<A: ClusterApi>(targets: &[Target], diffed: &[Diffed<A>]) -> String {
    let plans: Vec<ClusterPlan> = targets.iter().map(|t| t.plan.clone()).collect();
    let diffs: Vec<&crate::live::ClusterDiff> = diffed
        .iter()
        .filter_map(|d| d.result.as_ref().ok().map(|(d, _)| d))
        .collect();
    plan_hash(&plans, &diffs)
}

/// The report over a diff run.
pub(crate) fn report<'a, A: ClusterApi>(hash: &'a str, diffed: &'a [Diffed<A>]) -> DiffReport<'a> {
    DiffReport {
        plan_hash: hash,
        clusters: diffed
            .iter()
            .map(|d| ClusterOutcome {
                cluster: &d.cluster,
                environment: &d.environment,
                result: d.result.as_ref().map(|(d, _)| d),
            })
            .collect(),
    }
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let targets = targets(s, &args.clusters)?;
    let rt = runtime()?;
    let diffed = diff_targets(&rt, &args.clusters, &targets, DiffOptions::default());
    let hash = hash_of(&targets, &diffed);
    let report = report(&hash, &diffed);
    let text = match args.format {
        Format::Text => crate::live::format::text(&report, s.color),
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&crate::live::format::json(&report))
                .map_err(|e| CliError::internal(e.to_string()))?;
            t.push('\n');
            t
        }
        Format::Markdown => crate::live::format::markdown(&report),
    };
    output::print(&text)?;
    let failed = report.clusters.iter().filter(|c| c.result.is_err()).count();
    if failed > 0 {
        return Err(CliError::external(format!(
            "{failed} of {} cluster{} could not be diffed",
            report.clusters.len(),
            if report.clusters.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(if args.exit_code && report.differs() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
