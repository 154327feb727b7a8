//! `segplan graph --env ENV [-o mermaid|dot]`: the zone diagram computed from the policies.

use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::render::RenderOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment to draw.
    #[arg(long = "env", value_name = "ENV")]
    pub env: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Mermaid)]
    pub format: Format,
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, std::slice::from_ref(&args.env))?;
    let env = &model.environments[&args.env];
    let rendered = crate::render::render(&model, &args.env, &RenderOptions::default())
        .map_err(super::render::render_error)?;
    let clusters: Vec<(String, Vec<serde_json::Value>)> = rendered
        .clusters
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.manifests.iter().map(|m| m.value().clone()).collect(),
            )
        })
        .collect();
    let graph = crate::intent::graph::build(&model, env, &clusters)
        .map_err(|e| CliError::internal(e.to_string()))?;
    output::print(&match args.format {
        Format::Mermaid => graph.mermaid(),
        Format::Dot => graph.dot(),
    })?;
    Ok(ExitCode::SUCCESS)
}
