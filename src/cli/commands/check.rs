//! `segplan check --env ENV [--live] [-o text|json|markdown|sarif|junit]`: compliance checks
//! on the plan. Exit 1 when an error-level finding remains.

use std::process::ExitCode;

use crate::cli::{CliError, Settings, output};
use crate::compliance::{CheckError, CheckOptions};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Sarif,
    Junit,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment(s) to check (repeat; default: all).
    #[arg(long = "env", value_name = "ENV")]
    pub env: Vec<String>,
    /// Check the live clusters (every object in them) instead of the rendered plan.
    #[arg(long)]
    pub live: bool,
    /// With --live: the kubeconfig (default: `KUBECONFIG`, then `~/.kube/config`).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// With --live: how long one cluster may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Output format on stdout.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn check_error(e: CheckError) -> CliError {
    match e {
        CheckError::Config(diags) => {
            let n = diags.len();
            let mut err = CliError::diagnostics(diags);
            err.message = format!(
                "compliance profiles or exemptions are invalid: {n} error{}",
                if n == 1 { "" } else { "s" }
            );
            err
        }
        CheckError::UnknownEnvironment(_) => CliError::input(e.to_string()),
        CheckError::Render(r) => crate::cli::commands::render::render_error(*r),
        CheckError::Reach(_) => CliError::input(e.to_string())
            .hint("a rendered NetworkPolicy could not be analysed; check the templates"),
    }
}

pub fn run(args: Args, s: &Settings) -> Result<ExitCode, CliError> {
    let model = output::load_model(s)?;
    output::check_envs(&model, &args.env)?;
    let topology_dir = repo_relative(&s.topology);
    let mut live = if args.live {
        let selected = model
            .environments
            .values()
            .filter(|e| args.env.is_empty() || args.env.contains(&e.name))
            .flat_map(|e| e.clusters.values());
        let timeout = std::time::Duration::from_secs(args.timeout);
        Some(super::verify_live::read_clusters(
            selected,
            args.kubeconfig.as_deref(),
            timeout,
            true,
        )?)
    } else {
        None
    };
    let report = crate::compliance::check(
        &model,
        &CheckOptions {
            environments: args.env.clone(),
            topology_dir,
            live: live.as_mut().map(|l| std::mem::take(&mut l.objects)),
        },
    )
    .map_err(check_error)?;
    let text = match args.format {
        Format::Text => crate::report::text(&report),
        Format::Json => crate::report::json(&report),
        Format::Markdown => crate::report::markdown(&report),
        Format::Sarif => crate::report::sarif(&report),
        Format::Junit => crate::report::junit(&report),
    };
    output::print(&text)?;
    if let Some(l) = &live {
        l.result()?;
    }
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The topology directory relative to the current directory when it lies under it (so
/// locations read `environments/prod.toml`), else as given.
fn repo_relative(dir: &std::path::Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = match (dir.is_absolute(), cwd) {
        (true, Some(cwd)) => dir
            .strip_prefix(&cwd)
            .map(|p| p.to_path_buf())
            .unwrap_or(dir.to_path_buf()),
        _ => dir.to_path_buf(),
    };
    let s = rel.display().to_string();
    let s = s.trim_start_matches("./").trim_end_matches('/').to_string();
    if s.is_empty() { ".".into() } else { s }
}
