//! `segplan render --env ENV [--cluster NAME] [--out DIR] [-o yaml|json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::render::{RenderError, RenderOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment to render (repeatable).
    #[arg(long = "env", value_name = "ENV", required_unless_present = "all_envs")]
    pub env: Vec<String>,
    /// Render every environment of the topology.
    #[arg(long, conflicts_with = "env")]
    pub all_envs: bool,
    /// Render only this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Write `DIR/<cluster>/<namespace or _cluster>/<kind>-<name>.yaml` and a kustomization.yaml
    /// per cluster instead of printing one stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Templates overriding the embedded ones, file by file.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
}

/// Maps a render error to the CLI's error kinds.
pub fn render_error(e: RenderError) -> CliError {
    match e {
        RenderError::TemplateDir { .. } => CliError::input(e.to_string()),
        RenderError::UnknownEnvironment(_) | RenderError::UnknownCluster { .. } => {
            CliError::input(e.to_string())
        }
        RenderError::UnknownTemplate { .. } => CliError::input(e.to_string())
            .hint("override templates by giving a file the name of an embedded one"),
        RenderError::Template { .. } | RenderError::Produced { .. } => {
            CliError::input(e.to_string())
                .hint("fix the template; `segplan render` checks every document it produces")
        }
    }
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let start = std::time::Instant::now();
    let model = output::load_model(s)?;
    tracing::debug!(
        "topology loaded and validated in {} ms",
        start.elapsed().as_millis()
    );
    let envs: Vec<String> = if args.all_envs {
        model.environments.keys().cloned().collect()
    } else {
        args.env.clone()
    };
    output::check_envs(&model, &envs)?;
    if args.cluster.is_some() && envs.len() != 1 {
        return Err(CliError::input("--cluster needs exactly one --env"));
    }
    let opts = RenderOptions {
        templates: args.templates.clone(),
        cluster: args.cluster.clone(),
    };
    let mut all = crate::render::Rendered {
        environment: envs.join(","),
        clusters: Vec::new(),
    };
    for env in &envs {
        let rendered = crate::render::render(&model, env, &opts).map_err(render_error)?;
        all.clusters.extend(rendered.clusters);
    }
    all.clusters.sort_by(|a, b| a.name.cmp(&b.name));
    tracing::debug!(
        "{} objects rendered and checked after {} ms",
        all.clusters
            .iter()
            .map(|c| c.manifests.len())
            .sum::<usize>(),
        start.elapsed().as_millis()
    );
    match &args.out {
        Some(dir) => {
            let report = crate::render::write_out(&all, dir).map_err(|e| {
                CliError::external(format!("cannot write to {}: {e}", dir.display()))
            })?;
            let objects: usize = all.clusters.iter().map(|c| c.manifests.len()).sum();
            eprintln!(
                "rendered {objects} objects for {} cluster(s) into {}: {} written, {} unchanged, {} removed",
                all.clusters.len(),
                dir.display(),
                report.written,
                report.unchanged,
                report.removed
            );
        }
        None => match args.format {
            Format::Yaml => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                all.write_yaml_stream(&mut out)?;
                std::io::Write::flush(&mut out)?;
            }
            Format::Json => output::print(&all.to_json())?,
        },
    }
    tracing::debug!("output written after {} ms", start.elapsed().as_millis());
    Ok(ExitCode::SUCCESS)
}
