//! `segplan verify --env ENV [--live] [-o text|json|markdown]`: prove that reachability matches
//! the topology's intent, from the rendered plan (or the live clusters).

use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::intent::{Finding, FindingKind};
use crate::render::RenderOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment(s) to verify (default: all).
    #[arg(long = "env", value_name = "ENV")]
    pub env: Vec<String>,
    /// Verify the live clusters (everything in them, including policies segplan does not own).
    #[arg(long)]
    pub live: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// With --live: the kubeconfig (default: `KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// With --live: how long one cluster may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, &args.env)?;
    let envs: Vec<String> = if args.env.is_empty() {
        model.environments.keys().cloned().collect()
    } else {
        args.env.clone()
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut clusters = 0;
    let live = if args.live {
        let selected = envs
            .iter()
            .flat_map(|e| model.environments[e].clusters.values());
        let timeout = std::time::Duration::from_secs(args.timeout);
        Some(super::verify_live::read_clusters(
            selected,
            args.kubeconfig.as_deref(),
            timeout,
            false,
        )?)
    } else {
        None
    };
    for env_name in &envs {
        let env = &model.environments[env_name];
        let rendered = crate::render::render(&model, env_name, &RenderOptions::default())
            .map_err(super::render::render_error)?;
        for rc in &rendered.clusters {
            let cluster = &env.clusters[&rc.name];
            let objects: Vec<serde_json::Value> = match &live {
                None => rc.manifests.iter().map(|m| m.value().clone()).collect(),
                Some(l) => match l.objects.get(&rc.name) {
                    Some(objs) => objs.clone(),
                    None => continue,
                },
            };
            clusters += 1;
            findings.extend(
                crate::intent::verify_cluster(&model, env, cluster, &objects)
                    .map_err(|e| CliError::internal(format!("cluster {}: {e}", rc.name)))?,
            );
        }
    }
    let text = match args.format {
        Format::Json => {
            let v = serde_json::json!({"clusters": clusters, "findings": findings});
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Text => {
            let mut out = String::new();
            for f in &findings {
                let kind = match f.kind {
                    FindingKind::Unexpected => "unexpected",
                    FindingKind::Missing => "missing",
                };
                out.push_str(&format!("{}: {kind}: {}\n", f.cluster, f.message));
                if !f.policies.is_empty() {
                    out.push_str(&format!("  opened by: {}\n", f.policies.join(", ")));
                }
                if let Some(o) = &f.origin {
                    out.push_str(&format!("  declared at: {o}\n"));
                }
            }
            out.push_str(&format!(
                "verified {clusters} cluster(s): {} finding(s)\n",
                findings.len()
            ));
            out
        }
        Format::Markdown => {
            let mut out = String::from("## segplan verify\n\n");
            if findings.is_empty() {
                out.push_str(&format!(
                    "All {clusters} cluster(s) allow exactly the declared flows.\n"
                ));
            } else {
                out.push_str("| cluster | finding | from | to | connections | policies | declared at |\n|---|---|---|---|---|---|---|\n");
                for f in &findings {
                    out.push_str(&format!(
                        "| {} | {:?} | {} | {} | {} | {} | {} |\n",
                        f.cluster,
                        f.kind,
                        f.src,
                        f.dst,
                        f.conns,
                        f.policies.join(", "),
                        f.origin.as_deref().unwrap_or("")
                    ));
                }
            }
            out
        }
    };
    output::print(&text)?;
    if let Some(l) = &live {
        l.result()?;
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
