//! `segplan validate [--env ENV]`: check the topology and report every problem at once.

use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};

/// Arguments of `segplan validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only report on these environments (the whole topology is still read).
    #[arg(long = "env", value_name = "ENV")]
    pub env: Vec<String>,
}

/// Validates the topology; prints a summary (exit 0) or every diagnostic (exit 2).
pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, &args.env)?;
    let envs: Vec<&crate::model::Environment> = model
        .environments
        .values()
        .filter(|e| args.env.is_empty() || args.env.contains(&e.name))
        .collect();
    let mut text = String::new();
    for e in &envs {
        let namespaces = e.namespaces.len();
        text.push_str(&format!(
            "ok: environment `{}` ({}): {} cluster{}, {} namespace{}\n",
            e.name,
            e.kind.as_str(),
            e.clusters.len(),
            if e.clusters.len() == 1 { "" } else { "s" },
            namespaces,
            if namespaces == 1 { "" } else { "s" },
        ));
    }
    text.push_str(&format!(
        "topology `{}` is valid: {} zone{}, {} flow{}, {} environment{}\n",
        model.project,
        model.zones.len(),
        if model.zones.len() == 1 { "" } else { "s" },
        model.flows.len(),
        if model.flows.len() == 1 { "" } else { "s" },
        model.environments.len(),
        if model.environments.len() == 1 {
            ""
        } else {
            "s"
        },
    ));
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
