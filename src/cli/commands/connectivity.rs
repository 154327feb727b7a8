//! `segplan connectivity --dir DIR [--base DIR] [-o txt|json|csv|md|dot]`: the reachability
//! engine on a directory of manifests. With `--base`, prints the connectivity diff from the
//! base directory to `--dir` instead (exit 1 when something changed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;

use crate::analysis::{self, Inventory, Representatives, format::Format, load};
use crate::cli::{CliError, Settings, output};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// `src => dst : conn` lines.
    Txt,
    /// A JSON array of `{src, dst, conn}`.
    Json,
    /// Comma-separated, with a header line.
    Csv,
    /// A Markdown table.
    Md,
    /// A Graphviz digraph (not for `--base`).
    Dot,
}

/// When namespaces without workloads get a representative endpoint `ns/*[Namespace]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepresentativesArg {
    /// Only when the manifests hold no workload at all (e.g. a rendered plan).
    Auto,
    /// For every namespace without a workload.
    EmptyNamespaces,
    /// Never.
    Never,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of manifests (Namespaces, Pods, workloads, NetworkPolicies; YAML or JSON).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,

    /// Compare with this directory (the old state) and print what changed.
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Txt)]
    pub output: OutputFormat,

    /// When namespaces without workloads get a representative endpoint.
    #[arg(long, value_enum, default_value_t = RepresentativesArg::Auto)]
    pub representatives: RepresentativesArg,
}

fn analyze_dir(dir: &Path, reps: Representatives) -> Result<analysis::Connectivity, CliError> {
    if !dir.is_dir() {
        return Err(CliError::input(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let loaded = load::load_dir(dir).map_err(|e| {
        let mut msg = e.to_string();
        if let Some(src) = std::error::Error::source(&e) {
            msg.push_str(&format!(": {src}"));
        }
        CliError::input(msg)
    })?;
    let inventory = Inventory::from_objects_with(&loaded.objects, reps).map_err(|e| {
        let file = loaded
            .sources
            .get(e.index())
            .map_or_else(String::new, |p| format!("{}: ", p.display()));
        CliError::input(format!("{file}{e}"))
    })?;
    tracing::info!(
        "{}: {} namespaces, {} endpoints, {} policies",
        dir.display(),
        inventory.namespaces.len(),
        inventory.endpoints.len(),
        inventory.policies.len()
    );
    Ok(analysis::analyze(&inventory))
}

pub fn run(args: Args, _s: &Settings) -> Result<ExitCode, CliError> {
    let reps = match args.representatives {
        RepresentativesArg::Auto => Representatives::Auto,
        RepresentativesArg::EmptyNamespaces => Representatives::EmptyNamespaces,
        RepresentativesArg::Never => Representatives::Never,
    };
    let format = match args.output {
        OutputFormat::Txt => Format::Txt,
        OutputFormat::Json => Format::Json,
        OutputFormat::Csv => Format::Csv,
        OutputFormat::Md => Format::Md,
        OutputFormat::Dot => Format::Dot,
    };
    let after = analyze_dir(&args.dir, reps)?;
    match &args.base {
        None => {
            output::print(&analysis::format::connectivity(&after, format))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(base) => {
            if matches!(format, Format::Json | Format::Dot) {
                return Err(CliError::input(
                    "--base prints a diff: use -o txt, csv or md",
                ));
            }
            let before = analyze_dir(base, reps)?;
            let d = analysis::compare(&before, &after);
            output::print(&analysis::format::diff(&d, format))?;
            Ok(if d.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
